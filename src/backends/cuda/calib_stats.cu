// Calibration kernels: max |x| and the histogram of |x| (see calib_stats.h for the contract).
#include "backends/cuda/calib_launch.h"
#include "backends/cuda/device_util.cuh"

namespace qrt::cuda::launch {

namespace {

constexpr unsigned kFull = 0xffffffffu;
constexpr uint32_t kAbsMask = 0x7fffffffu;
constexpr uint32_t kInfBits = 0x7f800000u;  // |x| bits at or above: inf or NaN
constexpr int kMaxBins = 4096;

// Blocks for a grid-stride loop: enough to fill the GPU, few enough that each block's shared
// histogram is flushed to global memory rarely.
unsigned calibBlocks(int64_t n) { return static_cast<unsigned>(std::min<int64_t>(blocksFor(n), 1024)); }

__global__ void absMaxKernel(const float* x, int64_t n, uint32_t* max_bits) {
  uint32_t m = 0;
  QRT_GRID_STRIDE(i, n) {
    const uint32_t b = __float_as_uint(x[i]) & kAbsMask;
    if (b < kInfBits && b > m) m = b;
  }
  // Warp maximum, then one atomic per warp.
  m = __reduce_max_sync(kFull, m);
  if ((threadIdx.x & 31) == 0 && m > 0) atomicMax(max_bits, m);
}

// One shared-memory histogram per block, flushed with one atomic per non-empty bin. Exact zeros
// (half of a ReLU output) all hit bin 0: a warp counts them with one ballot and one atomic
// instead of 32 colliding ones. Every lane of a warp runs the same number of iterations (the
// loop bound is rounded up to whole warps) so that the ballot sees the full warp.
__global__ void histogramKernel(const float* x, int64_t n, float bins_per_unit, int bins,
                                unsigned long long* counts) {
  __shared__ unsigned int local[kMaxBins + 1];
  for (int b = threadIdx.x; b <= bins; b += blockDim.x) local[b] = 0;
  __syncthreads();
  const float last = static_cast<float>(bins - 1);
  const int64_t stride = static_cast<int64_t>(blockDim.x) * gridDim.x;
  const int64_t rounded = (n + 31) / 32 * 32;
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < rounded; i += stride) {
    int bin = -1;
    if (i < n) {
      // The CPU's formula (quant::Histogram::add): a = |x|; pos = min(a * bins_per_unit, last),
      // one float32 multiply rounded to nearest (no contraction: __fmul_rn), truncated to int.
      const float a = fabsf(x[i]);
      const bool finite = __float_as_uint(a) < kInfBits;
      const float pos = fminf(__fmul_rn(a, bins_per_unit), last);
      bin = finite ? static_cast<int>(pos) : bins;
    }
    const unsigned zeros = __ballot_sync(kFull, bin == 0);
    if ((threadIdx.x & 31) == 0 && zeros) atomicAdd(&local[0], static_cast<unsigned>(__popc(zeros)));
    if (bin > 0) atomicAdd(&local[bin], 1u);
  }
  __syncthreads();
  for (int b = threadIdx.x; b <= bins; b += blockDim.x)
    if (local[b]) atomicAdd(&counts[b], static_cast<unsigned long long>(local[b]));
}

}  // namespace

void calibAbsMax(const float* x, int64_t n, uint32_t* max_bits, cudaStream_t s) {
  if (n <= 0) return;
  absMaxKernel<<<calibBlocks(n), kBlock, 0, s>>>(x, n, max_bits);
}

void calibHistogram(const float* x, int64_t n, float bins_per_unit, int bins, unsigned long long* counts,
                    cudaStream_t s) {
  if (n <= 0 || bins < 1 || bins > kMaxBins) return;
  histogramKernel<<<calibBlocks(n), kBlock, 0, s>>>(x, n, bins_per_unit, bins, counts);
}

}  // namespace qrt::cuda::launch
