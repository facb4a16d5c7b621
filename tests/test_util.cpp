#include "test_util.h"

#include <cstdlib>
#include <filesystem>

namespace qrt::test {

std::string makeTempDir(const std::string& tag) {
  std::string tmpl = (std::filesystem::temp_directory_path() / ("qrt_" + tag + "_XXXXXX")).string();
  char* p = mkdtemp(tmpl.data());
  return p ? std::string(p) : std::string();
}

}  // namespace qrt::test
