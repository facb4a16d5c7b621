// Shared helpers for tests.
#pragma once

#include <cmath>
#include <limits>
#include <string>
#include <vector>

namespace qrt::test {

// Absolute path of a file in the source tree / build tree.
inline std::string sourcePath(const std::string& rel) { return std::string(QRT_SOURCE_DIR) + "/" + rel; }
inline std::string binaryPath(const std::string& rel) { return std::string(QRT_BINARY_DIR) + "/" + rel; }
// A fresh empty temporary directory for this test.
std::string makeTempDir(const std::string& tag);

// ||got - want|| / ||want|| in double; infinity for a non-finite value or a size mismatch.
inline double relativeL2(const std::vector<float>& got, const std::vector<float>& want) {
  if (got.size() != want.size()) return std::numeric_limits<double>::infinity();
  double num = 0, den = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    if (!std::isfinite(got[i])) return std::numeric_limits<double>::infinity();
    num += (double(got[i]) - want[i]) * (double(got[i]) - want[i]);
    den += double(want[i]) * want[i];
  }
  return den > 0 ? std::sqrt(num / den) : std::sqrt(num);
}

}  // namespace qrt::test
