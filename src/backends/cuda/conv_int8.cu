// The INT8 convolution's own kernels (conv_launch.h).
#include <type_traits>

#include "backends/cuda/conv_epilogue.cuh"
#include "backends/cuda/conv_launch.h"
#include "backends/cuda/device_util.cuh"

namespace qrt::cuda::launch {

namespace {

template <typename TY>
__global__ void requantizeKernel(const float* acc, TY* y, const float* mult, const float* bias, int64_t n,
                                 int channels, QAct act, float lo, float hi, float y_scale, const int8_t* z,
                                 float z_scale, float post_scale, float post_shift) {
  QRT_GRID_STRIDE(i, n) {
    const int c = static_cast<int>(i % channels);
    // With a residual, the reference's order (no FMA contraction): conv rounded, z term rounded, sum.
    float v = z ? __fadd_rn(__fadd_rn(__fmul_rn(acc[i], mult[c]), bias[c]), __fmul_rn(z_scale, static_cast<float>(z[i])))
                : acc[i] * mult[c] + bias[c];
    if (act == QAct::kRelu) v = v < 0.f ? 0.f : v;
    else if (act == QAct::kClip) v = v < lo ? lo : (v > hi ? hi : v);
    else if (act == QAct::kHardSwish) v = __fadd_rn(__fmul_rn(hardSwish(v), post_scale), post_shift);
    if constexpr (std::is_same_v<TY, int8_t>) {
      // round half to even (__float2int_rn), saturate; NaN -> 0 as the reference's zero point.
      const float q = v / y_scale;
      int r = q != q ? 0 : __float2int_rn(fminf(fmaxf(q, -128.f), 127.f));
      y[i] = static_cast<int8_t>(r);
    } else {
      st(y, i, v);
    }
  }
}

__global__ void fillInt8Kernel(int8_t* y, int64_t n) {
  QRT_GRID_STRIDE(i, n) {
    uint32_t h = static_cast<uint32_t>(i) * 2654435761u;
    h ^= h >> 15;
    y[i] = static_cast<int8_t>(static_cast<int>(h & 127u) - 64);
  }
}

}  // namespace

void requantize(const float* acc, void* y, DataType y_type, const float* mult, const float* bias, int64_t n,
                int64_t channels, QAct act, float lo, float hi, float y_scale, cudaStream_t s, const int8_t* z,
                float z_scale, float post_scale, float post_shift) {
  if (n <= 0) return;
  const int c = static_cast<int>(channels);
  auto go = [&](auto* typed) {
    requantizeKernel<<<blocksFor(n), kBlock, 0, s>>>(acc, typed, mult, bias, n, c, act, lo, hi, y_scale, z, z_scale,
                                                     post_scale, post_shift);
  };
  if (y_type == DataType::kInt8) go(static_cast<int8_t*>(y));
  else if (y_type == DataType::kHalf) go(static_cast<__half*>(y));
  else go(static_cast<float*>(y));
}

void fillInt8Pattern(void* y, int64_t n, cudaStream_t s) {
  if (n <= 0) return;
  fillInt8Kernel<<<blocksFor(n), kBlock, 0, s>>>(static_cast<int8_t*>(y), n);
}

}  // namespace qrt::cuda::launch
