#include "backends/lt_tactic.h"

#include <cerrno>
#include <cstdlib>
#include <limits>

#include "core/status_macros.h"

namespace qrt::cuda {

std::string LtTactic::str() const {
  std::string s = strCat("lt:a", algo, ":t", tile, ":s", stages, ":k", split_k, ":r", reduction, ":w", swizzle, ":c",
                         custom, ":i", inner, ":g", cluster);
  if (has_raw) {
    s += ":x";
    static constexpr char kHex[] = "0123456789abcdef";
    for (uint64_t w : raw)
      for (int shift = 60; shift >= 0; shift -= 4) s += kHex[(w >> shift) & 15];
  }
  return s;
}

bool LtTactic::parse(const std::string& s, LtTactic* t) {
  static constexpr char kTags[] = "atskrwcig";
  if (s.rfind("lt", 0) != 0) return false;
  int64_t v[9];
  size_t pos = 2;
  for (int i = 0; i < 9; ++i) {
    if (pos + 2 > s.size() || s[pos] != ':' || s[pos + 1] != kTags[i]) return false;
    const char* begin = s.c_str() + pos + 2;
    if (*begin != '-' && (*begin < '0' || *begin > '9')) return false;
    char* end = nullptr;
    errno = 0;
    const long long x = std::strtoll(begin, &end, 10);
    if (end == begin || errno != 0) return false;
    v[i] = x;
    pos = static_cast<size_t>(end - s.c_str());
  }
  bool has_raw = false;
  uint64_t raw[8] = {};
  if (pos != s.size()) {
    if (s.size() != pos + 2 + 128 || s.compare(pos, 2, ":x") != 0) return false;
    for (size_t i = 0; i < 128; ++i) {
      const char c = s[pos + 2 + i];
      const int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
      if (d < 0) return false;
      raw[i / 16] = raw[i / 16] << 4 | static_cast<uint64_t>(d);
    }
    has_raw = true;
  }
  auto fits = [](int64_t x, int64_t lo, int64_t hi) { return x >= lo && x <= hi; };
  constexpr int64_t i32 = std::numeric_limits<int32_t>::max(), u32 = std::numeric_limits<uint32_t>::max();
  // split-K as cuBLASLt reports it: 13.0's heuristic gives -1 for some algorithms (algo 11 on an H200).
  if (!fits(v[0], -1, i32) || !fits(v[3], -i32 - 1, i32) || !fits(v[7], 0, 65535) || !fits(v[8], 0, 65535)) return false;
  for (int i : {1, 2, 4, 5, 6})
    if (!fits(v[i], 0, u32)) return false;
  LtTactic r;
  r.algo = static_cast<int32_t>(v[0]);
  r.tile = static_cast<uint32_t>(v[1]);
  r.stages = static_cast<uint32_t>(v[2]);
  r.split_k = static_cast<int32_t>(v[3]);
  r.reduction = static_cast<uint32_t>(v[4]);
  r.swizzle = static_cast<uint32_t>(v[5]);
  r.custom = static_cast<uint32_t>(v[6]);
  r.inner = static_cast<uint16_t>(v[7]);
  r.cluster = static_cast<uint16_t>(v[8]);
  r.has_raw = has_raw;
  for (int i = 0; i < 8; ++i) r.raw[i] = raw[i];
  *t = r;
  return true;
}

}  // namespace qrt::cuda
