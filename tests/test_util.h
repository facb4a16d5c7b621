// Shared helpers for tests.
#pragma once

#include <string>

namespace qrt::test {

// Absolute path of a file in the source tree / build tree.
inline std::string sourcePath(const std::string& rel) { return std::string(QRT_SOURCE_DIR) + "/" + rel; }
inline std::string binaryPath(const std::string& rel) { return std::string(QRT_BINARY_DIR) + "/" + rel; }
// A fresh empty temporary directory for this test.
std::string makeTempDir(const std::string& tag);

}  // namespace qrt::test
