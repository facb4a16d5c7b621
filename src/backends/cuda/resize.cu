// Resize (nearest / linear), all axes at once: each output element sums, over the product of
// its axes' taps, weight products times input elements. The per-axis tap tables are built on
// the host at reshape time (resize.cpp) and live on the device.
#include "backends/cuda/device_util.cuh"
#include "backends/cuda/launch.h"

namespace qrt::cuda::launch {

namespace {

template <typename T>
__global__ void resizeKernel(const T* x, T* y, int64_t total, ResizeGeometry g, const int32_t* idx, const float* w) {
  QRT_GRID_STRIDE(i, total) {
    int64_t pos[kMaxRank];
    int64_t rest = i;
    for (int k = g.rank - 1; k >= 0; --k) {
      pos[k] = rest % g.out[k];
      rest /= g.out[k];
    }
    // Odometer over the taps of every axis.
    int tap[kMaxRank] = {};
    float acc = 0.f;
    while (true) {
      int64_t off = 0;
      float weight = 1.f;
      for (int k = 0; k < g.rank; ++k) {
        const int64_t e = g.table_offset[k] + pos[k] * g.taps[k] + tap[k];
        off = off * g.in[k] + idx[e];
        weight *= w[e];
      }
      if (weight != 0.f) acc += weight * ld(x, off);
      int k = g.rank - 1;
      while (k >= 0 && ++tap[k] == g.taps[k]) tap[k--] = 0;
      if (k < 0) break;
    }
    st(y, i, acc);
  }
}

}  // namespace

void resize(DataType t, const void* x, void* y, const ResizeGeometry& g, const int32_t* idx, const float* w,
            cudaStream_t s) {
  int64_t total = 1;
  for (int k = 0; k < g.rank; ++k) total *= g.out[k];
  if (total == 0) return;
  if (t == DataType::kHalf)
    resizeKernel<<<blocksFor(total), kBlock, 0, s>>>(static_cast<const __half*>(x), static_cast<__half*>(y), total, g, idx, w);
  else
    resizeKernel<<<blocksFor(total), kBlock, 0, s>>>(static_cast<const float*>(x), static_cast<float*>(y), total, g, idx, w);
}

}  // namespace qrt::cuda::launch
