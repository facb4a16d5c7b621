// Shared helpers for the CUDA backend's gtest files (cuda_*_test.cpp): the GPU skip and the
// random source. Only built with the CUDA backend (QRT_HAVE_CUDA).
#pragma once

#include <optional>
#include <random>
#include <string>

namespace qrt::test {

// Why the GPU tests cannot run here (no device, driver too old...), or nullopt.
std::optional<std::string> noGpu();

// Fresh random values for every run: one generator per test binary, seeded from random_device.
std::mt19937& rng();

}  // namespace qrt::test

// Skips the current test where no GPU can be used (CI), naming why.
#define QRT_REQUIRE_GPU()                                          \
  do {                                                             \
    if (auto why = ::qrt::test::noGpu()) GTEST_SKIP() << *why;     \
  } while (0)
