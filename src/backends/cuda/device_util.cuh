// Device-side helpers shared by the .cu files: fp32/fp16 loads and stores, grid sizes.
#pragma once

#include <cuda_fp16.h>

#include <algorithm>
#include <cstdint>

namespace qrt::cuda::launch {

constexpr int kBlock = 256;

// Blocks for a grid-stride loop over n elements (capped: each thread then loops).
inline unsigned blocksFor(int64_t n, int block = kBlock) {
  int64_t b = (n + block - 1) / block;
  return static_cast<unsigned>(std::max<int64_t>(1, std::min<int64_t>(b, int64_t{1} << 20)));
}

template <typename T> __device__ __forceinline__ float ld(const T* p, int64_t i);
template <> __device__ __forceinline__ float ld<float>(const float* p, int64_t i) { return p[i]; }
template <> __device__ __forceinline__ float ld<__half>(const __half* p, int64_t i) { return __half2float(p[i]); }

template <typename T> __device__ __forceinline__ void st(T* p, int64_t i, float v);
template <> __device__ __forceinline__ void st<float>(float* p, int64_t i, float v) { p[i] = v; }
template <> __device__ __forceinline__ void st<__half>(__half* p, int64_t i, float v) { p[i] = __float2half_rn(v); }

// The low bytes of four words, in order, as one word: the int8 epilogues' packing of four values
// rounded by the magic number (the float's low byte is the int8's two's complement byte).
__device__ __forceinline__ uint32_t packBytes(uint32_t b0, uint32_t b1, uint32_t b2, uint32_t b3) {
  return __byte_perm(__byte_perm(b0, b1, 0x0040u), __byte_perm(b2, b3, 0x0040u), 0x5410u);
}

// Lowest value of the type, as float (max-pool start).
template <typename T> __device__ __forceinline__ float lowest();
template <> __device__ __forceinline__ float lowest<float>() { return -3.402823466e38f; }
template <> __device__ __forceinline__ float lowest<__half>() { return -65504.f; }

// Where flat index i of a channels-last output [n, oh, ow, C] lands when each thread takes a
// vector of V channels (cv = C / V vectors a pixel): the pixel (n, oy, ox) and its first channel
// c. 32-bit arithmetic (64-bit division is slow on the GPU): the callers bound the sizes.
struct NhwcVecIndex {
  unsigned c, n;
  int ox, oy;
};
template <int V>
__device__ __forceinline__ NhwcVecIndex nhwcVecIndex(unsigned i, unsigned cv, int ow, int oh) {
  NhwcVecIndex at;
  at.c = (i % cv) * V;
  unsigned p = i / cv;
  at.ox = static_cast<int>(p % ow);
  p /= ow;
  at.oy = static_cast<int>(p % oh);
  at.n = p / oh;
  return at;
}

// The pool kernels' split, in signed 32-bit: flat index i of a channels-last output
// [n, oh, ow, cvs] (cvs vectors of channels a pixel) -> its vector cv and pixel (n, oh, ow).
struct NhwcIndex32 {
  int32_t cv, ow, oh, n;
};
__device__ __forceinline__ NhwcIndex32 nhwcIndex32(int32_t i, int32_t cvs, int32_t ow, int32_t oh) {
  NhwcIndex32 at;
  at.cv = i % cvs;
  int32_t r = i / cvs;
  at.ow = r % ow;
  r /= ow;
  at.oh = r % oh;
  at.n = r / oh;
  return at;
}

// QuantizeLinear of one value (per-tensor scale, zero point z): round_half_even(v / scale) + z,
// saturated; NaN -> z (the reference's order: a division, not a multiplication by 1/scale).
template <typename Q> __device__ __forceinline__ Q saturateQ(float q);
template <> __device__ __forceinline__ int8_t saturateQ<int8_t>(float q) {
  return static_cast<int8_t>(fminf(fmaxf(q, -128.f), 127.f));
}
template <> __device__ __forceinline__ uint8_t saturateQ<uint8_t>(float q) {
  return static_cast<uint8_t>(fminf(fmaxf(q, 0.f), 255.f));
}
template <typename Q>
__device__ __forceinline__ Q quantizeOne(float v, float scale, float z) {
  const float q = __fdiv_rn(v, scale);
  return isnan(q) ? static_cast<Q>(z) : saturateQ<Q>(rintf(q) + z);
}

#define QRT_GRID_STRIDE(i, n) \
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < (n); \
       i += static_cast<int64_t>(blockDim.x) * gridDim.x)

}  // namespace qrt::cuda::launch
