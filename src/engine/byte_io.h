// Little-endian byte writer and bounds-checked reader for the engine file.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

namespace qrt {

class ByteWriter {
 public:
  template <typename T> void put(T v) {
    size_t n = buf_.size();
    buf_.resize(n + sizeof(T));
    std::memcpy(buf_.data() + n, &v, sizeof(T));
  }
  void putString(const std::string& s) {
    put<uint32_t>(static_cast<uint32_t>(s.size()));
    putBytes(s.data(), s.size());
  }
  void putBytes(const void* p, size_t n) {
    size_t o = buf_.size();
    buf_.resize(o + n);
    if (n) std::memcpy(buf_.data() + o, p, n);
  }
  std::vector<uint8_t>& bytes() { return buf_; }

 private:
  std::vector<uint8_t> buf_;
};

// Reads past the end set a sticky failure flag and return zeros; callers check ok() once.
class ByteReader {
 public:
  ByteReader(const uint8_t* p, size_t n) : p_(p), n_(n) {}
  template <typename T> T get() {
    T v{};
    if (!need(sizeof(T))) return v;
    std::memcpy(&v, p_ + pos_, sizeof(T));
    pos_ += sizeof(T);
    return v;
  }
  std::string getString() {
    uint32_t n = get<uint32_t>();
    if (!need(n)) return {};
    std::string s(reinterpret_cast<const char*>(p_ + pos_), n);
    pos_ += n;
    return s;
  }
  const uint8_t* getBytes(size_t n) {
    if (!need(n)) return nullptr;
    const uint8_t* r = p_ + pos_;
    pos_ += n;
    return r;
  }
  bool ok() const { return ok_; }
  void fail() { ok_ = false; }

 private:
  bool need(size_t k) {
    if (!ok_ || k > n_ - pos_) {
      ok_ = false;
      return false;
    }
    return true;
  }
  const uint8_t* p_;
  size_t n_;
  size_t pos_ = 0;
  bool ok_ = true;
};

}  // namespace qrt
