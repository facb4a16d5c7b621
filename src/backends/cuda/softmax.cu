// Softmax / LogSoftmax along the middle dim of [outer, len, inner]. inner == 1 (the usual last
// axis): one block per row with block-wide max and sum reductions. Otherwise one thread per
// (outer, inner) column, three passes over len.
#include "backends/cuda/device_util.cuh"
#include "backends/cuda/launch.h"

namespace qrt::cuda::launch {

namespace {

constexpr int kRowBlock = 256;

template <bool kMax>
__device__ float blockReduce(float v, float* scratch) {
  for (int off = 16; off > 0; off /= 2) {
    float o = __shfl_down_sync(0xffffffffu, v, off);
    v = kMax ? fmaxf(v, o) : v + o;
  }
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
  if (lane == 0) scratch[warp] = v;
  __syncthreads();
  if (warp == 0) {
    v = lane < blockDim.x / 32 ? scratch[lane] : (kMax ? -INFINITY : 0.f);
    for (int off = 16; off > 0; off /= 2) {
      float o = __shfl_down_sync(0xffffffffu, v, off);
      v = kMax ? fmaxf(v, o) : v + o;
    }
    if (lane == 0) scratch[0] = v;
  }
  __syncthreads();
  float r = scratch[0];
  __syncthreads();  // scratch is reused by the next reduction
  return r;
}

template <typename T>
__global__ void softmaxRows(const T* x, T* y, int64_t len, bool log) {
  __shared__ float scratch[32];
  const T* xr = x + blockIdx.x * len;
  T* yr = y + blockIdx.x * len;
  float m = -INFINITY;
  for (int64_t j = threadIdx.x; j < len; j += blockDim.x) m = fmaxf(m, ld(xr, j));
  m = blockReduce<true>(m, scratch);
  float sum = 0.f;
  for (int64_t j = threadIdx.x; j < len; j += blockDim.x) sum += expf(ld(xr, j) - m);
  sum = blockReduce<false>(sum, scratch);
  const float log_sum = logf(sum), inv = 1.f / sum;
  for (int64_t j = threadIdx.x; j < len; j += blockDim.x) {
    float v = ld(xr, j) - m;
    st(yr, j, log ? v - log_sum : expf(v) * inv);
  }
}

template <typename T>
__global__ void softmaxColumns(const T* x, T* y, int64_t outer, int64_t len, int64_t inner, bool log) {
  QRT_GRID_STRIDE(i, outer * inner) {
    const int64_t o = i / inner, in = i % inner;
    const T* xc = x + o * len * inner + in;
    T* yc = y + o * len * inner + in;
    float m = -INFINITY;
    for (int64_t j = 0; j < len; ++j) m = fmaxf(m, ld(xc, j * inner));
    float sum = 0.f;
    for (int64_t j = 0; j < len; ++j) sum += expf(ld(xc, j * inner) - m);
    const float log_sum = logf(sum), inv = 1.f / sum;
    for (int64_t j = 0; j < len; ++j) {
      float v = ld(xc, j * inner) - m;
      st(yc, j * inner, log ? v - log_sum : expf(v) * inv);
    }
  }
}

template <typename T>
void softmaxT(const void* x, void* y, int64_t outer, int64_t len, int64_t inner, bool log, cudaStream_t s) {
  if (outer * len * inner == 0) return;
  auto* px = static_cast<const T*>(x);
  auto* py = static_cast<T*>(y);
  if (inner == 1 && outer < (int64_t{1} << 31))
    softmaxRows<<<static_cast<unsigned>(outer), kRowBlock, 0, s>>>(px, py, len, log);
  else
    softmaxColumns<<<blocksFor(outer * inner), kBlock, 0, s>>>(px, py, outer, len, inner, log);
}

}  // namespace

void softmax(DataType t, bool log, const void* x, void* y, int64_t outer, int64_t len, int64_t inner, cudaStream_t s) {
  if (t == DataType::kHalf) softmaxT<__half>(x, y, outer, len, inner, log, s);
  else softmaxT<float>(x, y, outer, len, inner, log, s);
}

}  // namespace qrt::cuda::launch
