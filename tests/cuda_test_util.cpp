#include "cuda_test_util.h"

#include "backends/cuda/device_memory.h"

namespace qrt::test {

std::optional<std::string> noGpu() {
  Status s = cuda::deviceStatus();
  if (s.ok()) return std::nullopt;
  return "no usable GPU (" + s.message() + ")";
}

std::mt19937& rng() {
  static std::mt19937 r(std::random_device{}());
  return r;
}

}  // namespace qrt::test
