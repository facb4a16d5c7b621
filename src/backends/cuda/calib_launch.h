// Launchers of the calibration kernels (calib_stats.cu), with plain arguments; each queues its
// work on `s` and returns at once.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

namespace qrt::cuda::launch {

// *max_bits = max(*max_bits, bits of max |x| over the finite values of x[0, n)). Non-negative
// floats order as their bit patterns, so an unsigned max is the float max.
void calibAbsMax(const float* x, int64_t n, uint32_t* max_bits, cudaStream_t s);

// counts[bin(x)] += 1 for each of x[0, n): bin = (int)min(|x| * bins_per_unit, bins - 1) in float32,
// counts[bins] for non-finite values. counts has bins + 1 entries; bins <= 4096.
void calibHistogram(const float* x, int64_t n, float bins_per_unit, int bins, unsigned long long* counts,
                    cudaStream_t s);

}  // namespace qrt::cuda::launch
