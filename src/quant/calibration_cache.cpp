#include "quant/calibration_cache.h"

#include <cstdio>
#include <cstring>
#include <string_view>
#include <unordered_set>

#include "core/file_util.h"
#include "core/status_macros.h"
#include "quant/calibration_report.h"

namespace qrt::quant {

namespace {

uint32_t floatBits(float f) {
  uint32_t b;
  std::memcpy(&b, &f, sizeof(b));
  return b;
}

float bitsToFloat(uint32_t b) {
  float f;
  std::memcpy(&f, &b, sizeof(f));
  return f;
}

bool isHexDigit(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

bool isAllDigits(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s)
    if (c < '0' || c > '9') return false;
  return true;
}

// "TRT-<digits>-<name>": the name is everything after the second '-'.
Status parseHeader(std::string_view line, const std::string& where, CalibrationCache& cache) {
  constexpr std::string_view kPrefix = "TRT-";
  const auto bad = [&](const char* why) {
    return corrupt(where, ": not a TensorRT calibration cache header (", why, "): '", line,
                   "', expected e.g. 'TRT-8601-EntropyCalibration2'");
  };
  if (line.substr(0, kPrefix.size()) != kPrefix) return bad("no 'TRT-' prefix");
  const std::string_view rest = line.substr(kPrefix.size());
  const size_t dash = rest.find('-');
  if (dash == std::string_view::npos) return bad("no '-' after the version");
  const std::string_view version = rest.substr(0, dash);
  const std::string_view algorithm = rest.substr(dash + 1);
  if (!isAllDigits(version)) return bad("the version is not a number");
  if (algorithm.empty() || algorithm.find_first_of(" \t") != std::string_view::npos)
    return bad("no algorithm name");
  cache.version = std::string(version);
  cache.algorithm = std::string(algorithm);
  return Status::Ok();
}

// A few names for a message: "a, b, c and 4 more".
std::string someNames(const std::vector<std::string>& names) {
  constexpr size_t kShown = 3;
  std::string s;
  for (size_t i = 0; i < names.size() && i < kShown; ++i) s += (i ? ", '" : "'") + names[i] + "'";
  if (names.size() > kShown) s += strCat(" and ", names.size() - kShown, " more");
  return s;
}

}  // namespace

Result<CalibrationCache> parseCalibrationCache(const std::string& text, const std::string& source_name) {
  CalibrationCache cache;
  std::unordered_set<std::string> seen;
  bool have_header = false;
  size_t line_no = 0;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t end = text.find('\n', pos);
    if (end == std::string::npos) end = text.size();
    std::string_view line(text.data() + pos, end - pos);
    pos = end + 1;
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    const std::string where = strCat(source_name, ":", line_no);
    if (!have_header) {
      QRT_RETURN_IF_ERROR(parseHeader(line, where, cache));
      have_header = true;
      continue;
    }
    if (line.empty()) continue;
    const size_t colon = line.rfind(": ");
    if (colon == std::string_view::npos)
      return corrupt(where, ": expected '<tensor>: <hex scale>', got '", line, "'");
    const std::string name(line.substr(0, colon));
    const std::string_view hex = line.substr(colon + 2);
    if (name.empty()) return corrupt(where, ": empty tensor name");
    bool hex_ok = !hex.empty() && hex.size() <= 8;
    for (char c : hex) hex_ok = hex_ok && isHexDigit(c);
    if (!hex_ok)
      return corrupt(where, ": scale '", hex, "' of tensor '", name,
                     "' is not 1 to 8 hex digits (the bits of a float32)");
    if (!seen.insert(name).second) return corrupt(where, ": tensor '", name, "' is listed twice");
    const uint32_t bits = static_cast<uint32_t>(std::stoul(std::string(hex), nullptr, 16));
    cache.scales.emplace_back(name, bitsToFloat(bits));
  }
  if (!have_header) return corrupt(source_name, ": empty file, expected a 'TRT-<version>-<algorithm>' header");
  return cache;
}

std::string formatCalibrationCache(const CalibrationCache& cache) {
  std::string out = "TRT-" + cache.version + "-" + cache.algorithm + "\n";
  for (const auto& [name, scale] : cache.scales) {
    char hex[16];
    std::snprintf(hex, sizeof(hex), "%x", static_cast<unsigned>(floatBits(scale)));
    out += name;
    out += ": ";
    out += hex;
    out += '\n';
  }
  return out;
}

Result<CalibrationCache> readCalibrationCache(const std::string& path) {
  QRT_ASSIGN_OR_RETURN(std::vector<uint8_t> bytes, readFileBytes(path));
  return parseCalibrationCache(std::string(bytes.begin(), bytes.end()), path);
}

Status writeCalibrationCache(const std::string& path, const CalibrationCache& cache) {
  if (!isAllDigits(cache.version))
    return invalidArgument(path, ": calibration cache version '", cache.version, "' is not a number");
  if (cache.algorithm.empty() || cache.algorithm.find_first_of(" \t\r\n") != std::string::npos)
    return invalidArgument(path, ": bad calibration cache algorithm name '", cache.algorithm, "'");
  for (const auto& entry : cache.scales) {
    if (entry.first.empty() || entry.first.find_first_of("\r\n") != std::string::npos)
      return invalidArgument(path, ": tensor name '", entry.first,
                             "' cannot be written to a calibration cache (empty or a line break)");
  }
  const std::string text = formatCalibrationCache(cache);
  return writeFileAtomic(path, text.data(), text.size());
}

Status checkCacheMatches(const CalibrationCache& cache, const std::string& expected_algorithm,
                         const std::vector<std::string>& tensor_names, bool allow_unknown_tensors) {
  std::vector<std::string> reasons;
  if (cache.algorithm != expected_algorithm)
    reasons.push_back(strCat("it was made by ", cache.algorithm, ", not ", expected_algorithm));

  std::unordered_set<std::string> in_cache;
  for (const auto& entry : cache.scales) in_cache.insert(entry.first);
  std::vector<std::string> missing;
  for (const auto& name : tensor_names)
    if (!in_cache.count(name)) missing.push_back(name);
  if (!missing.empty())
    reasons.push_back(strCat("it lacks ", missing.size(), " of the model's ", tensor_names.size(),
                             " tensors: ", someNames(missing)));

  if (!allow_unknown_tensors) {
    const std::unordered_set<std::string> in_model(tensor_names.begin(), tensor_names.end());
    std::vector<std::string> unknown;
    for (const auto& entry : cache.scales)
      if (!in_model.count(entry.first)) unknown.push_back(entry.first);
    if (!unknown.empty())
      reasons.push_back(strCat("it has ", unknown.size(), " tensors the model does not: ", someNames(unknown)));
  }

  if (reasons.empty()) return Status::Ok();
  std::string message = strCat("calibration cache TRT-", cache.version, "-", cache.algorithm,
                               " does not match the model: ");
  for (size_t i = 0; i < reasons.size(); ++i) message += (i ? "; " : "") + reasons[i];
  return Status(StatusCode::kInvalidArgument, message);
}

CalibrationCache cacheFromCalibration(const std::vector<TensorCalibration>& tensors,
                                      CalibrationAlgo algorithm, const std::string& version) {
  CalibrationCache cache;
  cache.version = version;
  // The percentile is in the header; every tensor of one calibration has the same options.
  CalibrationOptions options;
  options.algorithm = algorithm;
  if (!tensors.empty()) options.percentile = tensors.front().options.percentile;
  cache.algorithm = cacheHeaderName(options);
  cache.scales.reserve(tensors.size());
  for (const auto& t : tensors) cache.scales.emplace_back(t.name, t.scale);
  return cache;
}

}  // namespace qrt::quant
