// Pooling kernels: max / average over windows of up to 3 spatial dims (one thread per output
// element; NHWC 2-D pools a 16-byte channel vector per thread), and global average / max
// (globalPoolPlan picks among three reductions from the shape; see "global pooling" below).
#include "backends/cuda/device_util.cuh"
#include "backends/cuda/launch.h"

namespace qrt::cuda::launch {

namespace {

// Decomposes an output index into (n, c, o0, o1, o2) and gives the input offset of (n, c, 0, 0, 0)
// and the element stride of each spatial dim, for either layout. I is the index type: 32-bit
// where every offset fits (64-bit division is many times slower on the GPU).
template <typename I>
struct PoolIndex {
  I base = 0;
  I o[3] = {0, 0, 0};
  I sp_stride[3] = {0, 0, 0};
};

template <typename I>
__device__ PoolIndex<I> poolIndex(I i, const PoolGeometry& g) {
  PoolIndex<I> p;
  const I C = static_cast<I>(g.c);
  const I in0 = static_cast<I>(g.in[0]), in1 = static_cast<I>(g.in[1]), in2 = static_cast<I>(g.in[2]);
  const I out0 = static_cast<I>(g.out[0]), out1 = static_cast<I>(g.out[1]), out2 = static_cast<I>(g.out[2]);
  const I in_spatial = in0 * in1 * in2;
  I n, c;
  if (g.channels_last) {  // [n, o0, o1, o2, c]
    c = i % C;
    I r = i / C;
    p.o[2] = r % out2; r /= out2;
    p.o[1] = r % out1; r /= out1;
    p.o[0] = r % out0; n = r / out0;
    p.base = n * in_spatial * C + c;
    p.sp_stride[2] = C;
    p.sp_stride[1] = in2 * C;
    p.sp_stride[0] = in1 * in2 * C;
  } else {  // [n, c, o0, o1, o2]
    I r = i;
    p.o[2] = r % out2; r /= out2;
    p.o[1] = r % out1; r /= out1;
    p.o[0] = r % out0; r /= out0;
    c = r % C; n = r / C;
    p.base = (n * C + c) * in_spatial;
    p.sp_stride[2] = 1;
    p.sp_stride[1] = in2;
    p.sp_stride[0] = in1 * in2;
  }
  return p;
}

template <typename T, int V> struct Vec;
template <> struct Vec<__half, 8> {
  uint4 raw;
  __device__ float get(int k) const { return __half2float(reinterpret_cast<const __half*>(&raw)[k]); }
  __device__ void set(int k, float v) { reinterpret_cast<__half*>(&raw)[k] = __float2half_rn(v); }
};
template <> struct Vec<float, 4> {
  float4 raw;
  __device__ float get(int k) const { return reinterpret_cast<const float*>(&raw)[k]; }
  __device__ void set(int k, float v) { reinterpret_cast<float*>(&raw)[k] = v; }
};

// Where a pool's results go (the kernels below take one as `sink`): the input's own type (the
// pools), or quantized per tensor to int8 / uint8 (MaxPoolQuantize: src/ops/int8_fused.cpp).
template <typename T>
struct SameOut {
  T* y;
  __device__ void put(int64_t i, float v) const { st(y, i, v); }
  template <int V>
  __device__ void putVec(int64_t i, const float (&v)[V]) const {  // V elements from i, one 16-byte store
    Vec<T, V> o;
#pragma unroll
    for (int k = 0; k < V; ++k) o.set(k, v[k]);
    *reinterpret_cast<decltype(o.raw)*>(y + i) = o.raw;
  }
};
template <typename Q>
struct QuantOut {
  Q* y;
  float scale, zero;
  __device__ void put(int64_t i, float v) const { y[i] = quantizeOne<Q>(v, scale, zero); }
  template <int V>
  __device__ void putVec(int64_t i, const float (&v)[V]) const {  // V bytes from i: one 8- or 4-byte store
    uint32_t w[V / 4] = {};
#pragma unroll
    for (int k = 0; k < V; ++k)
      w[k / 4] |= static_cast<uint32_t>(static_cast<uint8_t>(quantizeOne<Q>(v[k], scale, zero))) << (8 * (k % 4));
    if constexpr (V == 8) *reinterpret_cast<uint2*>(y + i) = make_uint2(w[0], w[1]);
    else *reinterpret_cast<uint32_t*>(y + i) = w[0];
  }
};

template <typename T, bool kMax, typename I, typename Out>
__global__ void poolKernel(const T* x, Out sink, I total, PoolGeometry g) {
  for (I i = blockIdx.x * static_cast<I>(blockDim.x) + threadIdx.x; i < total; i += static_cast<I>(blockDim.x) * gridDim.x) {
    PoolIndex<I> p = poolIndex(i, g);
    float acc = kMax ? lowest<T>() : 0.f;
    int count = 0;
    for (int k0 = 0; k0 < static_cast<int>(g.kernel[0]); ++k0) {
      I i0 = p.o[0] * static_cast<I>(g.stride[0]) - static_cast<I>(g.pad[0]) + k0 * static_cast<I>(g.dilation[0]);
      if (i0 < 0 || i0 >= static_cast<I>(g.in[0])) continue;
      for (int k1 = 0; k1 < static_cast<int>(g.kernel[1]); ++k1) {
        I i1 = p.o[1] * static_cast<I>(g.stride[1]) - static_cast<I>(g.pad[1]) + k1 * static_cast<I>(g.dilation[1]);
        if (i1 < 0 || i1 >= static_cast<I>(g.in[1])) continue;
        for (int k2 = 0; k2 < static_cast<int>(g.kernel[2]); ++k2) {
          I i2 = p.o[2] * static_cast<I>(g.stride[2]) - static_cast<I>(g.pad[2]) + k2 * static_cast<I>(g.dilation[2]);
          if (i2 < 0 || i2 >= static_cast<I>(g.in[2])) continue;
          float v = ld(x, static_cast<int64_t>(p.base + i0 * p.sp_stride[0] + i1 * p.sp_stride[1] + i2 * p.sp_stride[2]));
          if (kMax) acc = fmaxf(acc, v);
          else acc += v;
          ++count;
        }
      }
    }
    if (!kMax) {
      int64_t div = count;
      if (g.count_include_pad) {
        // Every window position inside the padded input counts (ONNX: pads count, the ceil_mode
        // overhang past the pads does not).
        div = 1;
        for (int d = 0; d < 3; ++d) {
          int64_t start = static_cast<int64_t>(p.o[d]) * g.stride[d] - g.pad[d];
          int64_t end = start + (g.kernel[d] - 1) * g.dilation[d] + 1;
          int64_t hi = g.in[d] + g.pad_end[d];  // the padded extent
          int64_t lo = -g.pad[d];
          int64_t cnt = 0;
          for (int64_t q = start; q < end; q += g.dilation[d])
            if (q >= lo && q < hi) ++cnt;
          div *= cnt;
        }
      }
      acc = div > 0 ? acc / static_cast<float>(div) : 0.f;
    }
    sink.put(static_cast<int64_t>(i), acc);
  }
}

// NHWC 2-D pooling, V channels per thread with one 16-byte load per tap (C % V == 0): the
// channels-last layout makes a window tap V neighbouring channels of one pixel.
template <typename T, int V, bool kMax, typename Out>
__global__ void poolNhwc2d(const T* x, Out sink, int32_t total, PoolGeometry g) {
  using VT = Vec<T, V>;
  const int32_t C = static_cast<int32_t>(g.c), CV = C / V;
  const int32_t H = static_cast<int32_t>(g.in[1]), W = static_cast<int32_t>(g.in[2]);
  const int32_t OH = static_cast<int32_t>(g.out[1]), OW = static_cast<int32_t>(g.out[2]);
  const int32_t KH = static_cast<int32_t>(g.kernel[1]), KW = static_cast<int32_t>(g.kernel[2]);
  for (int32_t i = blockIdx.x * blockDim.x + threadIdx.x; i < total; i += blockDim.x * gridDim.x) {
    const NhwcIndex32 at = nhwcIndex32(i, CV, OW, OH);
    const int32_t cv = at.cv, ow = at.ow, oh = at.oh, n = at.n;
    float acc[V];
    for (int k = 0; k < V; ++k) acc[k] = kMax ? lowest<T>() : 0.f;
    int count = 0;
    for (int32_t kh = 0; kh < KH; ++kh) {
      const int32_t ih = oh * static_cast<int32_t>(g.stride[1]) - static_cast<int32_t>(g.pad[1]) + kh * static_cast<int32_t>(g.dilation[1]);
      if (ih < 0 || ih >= H) continue;
      for (int32_t kw = 0; kw < KW; ++kw) {
        const int32_t iw = ow * static_cast<int32_t>(g.stride[2]) - static_cast<int32_t>(g.pad[2]) + kw * static_cast<int32_t>(g.dilation[2]);
        if (iw < 0 || iw >= W) continue;
        VT v;
        v.raw = *reinterpret_cast<const decltype(v.raw)*>(x + ((static_cast<int64_t>(n) * H + ih) * W + iw) * C + cv * V);
        for (int k = 0; k < V; ++k) acc[k] = kMax ? fmaxf(acc[k], v.get(k)) : acc[k] + v.get(k);
        ++count;
      }
    }
    float div = 1.f;
    if (!kMax) {
      int cnt = count;
      if (g.count_include_pad) {  // window taps inside the padded extent (as poolKernel)
        int hs = 0, ws = 0;
        for (int32_t kh = 0; kh < KH; ++kh) {
          int32_t ih = oh * static_cast<int32_t>(g.stride[1]) - static_cast<int32_t>(g.pad[1]) + kh * static_cast<int32_t>(g.dilation[1]);
          hs += ih >= -g.pad[1] && ih < H + g.pad_end[1];
        }
        for (int32_t kw = 0; kw < KW; ++kw) {
          int32_t iw = ow * static_cast<int32_t>(g.stride[2]) - static_cast<int32_t>(g.pad[2]) + kw * static_cast<int32_t>(g.dilation[2]);
          ws += iw >= -g.pad[2] && iw < W + g.pad_end[2];
        }
        cnt = hs * ws;
      }
      div = cnt > 0 ? static_cast<float>(cnt) : 0.f;
    }
    float res[V];
    for (int k = 0; k < V; ++k) res[k] = kMax ? acc[k] : (div > 0.f ? acc[k] / div : 0.f);
    sink.template putVec<V>(static_cast<int64_t>(i) * V, res);
  }
}

// ---- global pooling ----
// Three kernels, picked by globalPoolPlan from the shape:
//  - globalPoolRows: NCHW with many short rows, one warp per (n, c) row;
//  - globalPoolRowSplit: NCHW with few long rows (a [1, 8, 320, 320] SE-block input): `splits`
//    blocks per row, each reducing a contiguous chunk;
//  - globalPoolNhwc: NHWC, a block per (n, tile of channel vectors, split of the plane) whose
//    threads read whole pixels' channel vectors (16-byte loads) and reduce over pixels.
// With splits > 1 each block writes one fp32 partial to the workspace and globalPoolFinish
// combines a row's partials in split order. Every sum runs in a fixed order (no atomics), so
// results are bit-identical from run to run.

template <bool kMax>
__device__ __forceinline__ float combine(float a, float b) {
  return kMax ? fmaxf(a, b) : a + b;
}

// V consecutive elements from p as floats: one 16-byte load for V of 8 halves or 4 floats.
template <typename T, int V>
__device__ __forceinline__ void loadVec(const T* p, float (&v)[V]) {
  if constexpr (V == 1) {
    v[0] = ld(p, 0);
  } else {
    static_assert(V * sizeof(T) == 16, "vector loads are 16 bytes");
    const uint4 r = *reinterpret_cast<const uint4*>(p);
#pragma unroll
    for (int k = 0; k < V; ++k) {
      if constexpr (sizeof(T) == 2) v[k] = __half2float(reinterpret_cast<const __half*>(&r)[k]);
      else v[k] = reinterpret_cast<const float*>(&r)[k];
    }
  }
}

// NCHW: one warp per (n, c) row.
template <typename T, bool kMax>
__global__ void globalPoolRows(const T* x, T* y, int64_t rows, int64_t spatial) {
  const int64_t warp = (blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x) / 32;
  const int lane = threadIdx.x % 32;
  if (warp >= rows) return;
  const T* row = x + warp * spatial;
  float acc = kMax ? lowest<T>() : 0.f;
  for (int64_t j = lane; j < spatial; j += 32) acc = combine<kMax>(acc, ld(row, j));
  for (int off = 16; off > 0; off /= 2) acc = combine<kMax>(acc, __shfl_down_sync(0xffffffffu, acc, off));
  if (lane == 0) st(y, warp, kMax ? acc : acc / static_cast<float>(spatial));
}

// NCHW, few long rows: block (split, row) reduces row elements [split * chunk, + chunk) with
// kBlock threads (four independent accumulators each, for loads in flight), then a warp-shuffle
// and shared-memory tree. splits == 1 writes y, otherwise ws[row * splits + split].
template <typename T, bool kMax>
__global__ void __launch_bounds__(kBlock) globalPoolRowSplit(const T* x, T* y, float* ws, int32_t spatial,
                                                             int32_t chunk, float inv) {
  const int32_t row = blockIdx.y, split = blockIdx.x, splits = gridDim.x;
  const T* p = x + static_cast<int64_t>(row) * spatial;
  const int32_t begin = split * chunk, end = min(spatial, begin + chunk);
  const float init = kMax ? lowest<T>() : 0.f;
  float a0 = init, a1 = init, a2 = init, a3 = init;
  int32_t j = begin + static_cast<int32_t>(threadIdx.x);
  for (; j + 3 * kBlock < end; j += 4 * kBlock) {
    a0 = combine<kMax>(a0, ld(p, j));
    a1 = combine<kMax>(a1, ld(p, j + kBlock));
    a2 = combine<kMax>(a2, ld(p, j + 2 * kBlock));
    a3 = combine<kMax>(a3, ld(p, j + 3 * kBlock));
  }
  for (; j < end; j += kBlock) a0 = combine<kMax>(a0, ld(p, j));
  float acc = combine<kMax>(combine<kMax>(a0, a1), combine<kMax>(a2, a3));
  for (int off = 16; off > 0; off /= 2) acc = combine<kMax>(acc, __shfl_down_sync(0xffffffffu, acc, off));
  __shared__ float warp_sums[kBlock / 32];
  if (threadIdx.x % 32 == 0) warp_sums[threadIdx.x / 32] = acc;
  __syncthreads();
  if (threadIdx.x == 0) {
    float r = warp_sums[0];
    for (int w = 1; w < kBlock / 32; ++w) r = combine<kMax>(r, warp_sums[w]);
    if (splits == 1) st(y, row, kMax ? r : r * inv);
    else ws[static_cast<int64_t>(row) * splits + split] = r;
  }
}

// NHWC [n][spatial][c]: block (tile, split, n) with blockDim (tc, ts): threadIdx.x picks one of
// tc channel vectors (V channels) of the tile, threadIdx.y one of ts pixels read side by side.
// Each thread accumulates its vector over pixels split * chunk + y, + ts, ...; a shared-memory
// tree over y then gives the tile's result: y[n][c] (splits == 1) or ws[(n * splits + split) * c + ch].
template <typename T, int V, bool kMax>
__global__ void __launch_bounds__(kBlock) globalPoolNhwc(const T* x, T* y, float* ws, int32_t c, int32_t spatial,
                                                         int32_t chunk, float inv) {
  __shared__ float part[kBlock * V];
  const int32_t tc = blockDim.x, ts = blockDim.y;
  const int32_t split = blockIdx.y, splits = gridDim.y, n = blockIdx.z;
  const int32_t cv = blockIdx.x * tc + threadIdx.x;  // this thread's channel vector
  const bool active = cv * V < c;
  const int32_t begin = split * chunk, end = min(spatial, begin + chunk);
  float acc[V];
#pragma unroll
  for (int k = 0; k < V; ++k) acc[k] = kMax ? lowest<T>() : 0.f;
  if (active) {
    const T* p = x + static_cast<int64_t>(n) * spatial * c + cv * V;
#pragma unroll 4
    for (int32_t s = begin + static_cast<int32_t>(threadIdx.y); s < end; s += ts) {
      float v[V];
      loadVec<T, V>(p + static_cast<int64_t>(s) * c, v);
#pragma unroll
      for (int k = 0; k < V; ++k) acc[k] = combine<kMax>(acc[k], v[k]);
    }
  }
  float* mine = part + (threadIdx.y * tc + threadIdx.x) * V;
#pragma unroll
  for (int k = 0; k < V; ++k) mine[k] = acc[k];
  __syncthreads();
  // Fold rows [half, live) onto [0, live - half) until one is left: a fixed order for any ts.
  for (int32_t live = ts; live > 1;) {
    const int32_t half = (live + 1) / 2;
    if (static_cast<int32_t>(threadIdx.y) < live - half) {
      const float* other = part + ((threadIdx.y + half) * tc + threadIdx.x) * V;
#pragma unroll
      for (int k = 0; k < V; ++k) mine[k] = combine<kMax>(mine[k], other[k]);
    }
    live = half;
    __syncthreads();
  }
  if (threadIdx.y != 0 || !active) return;
#pragma unroll
  for (int k = 0; k < V; ++k) {
    const int32_t ch = cv * V + k;
    if (splits == 1) st(y, static_cast<int64_t>(n) * c + ch, kMax ? mine[k] : mine[k] * inv);
    else ws[(static_cast<int64_t>(n) * splits + split) * c + ch] = mine[k];
  }
}

// The second pass over partials ws[(o * splits + s) * inner + i]: a warp per output
// y[o * inner + i] combines them (lane l takes splits l, l + 32, ...; then a shuffle tree), a
// fixed order for a given plan.
template <typename T, bool kMax>
__global__ void globalPoolFinish(const float* ws, T* y, int64_t outer, int64_t inner, int32_t splits, float inv) {
  const int64_t i = (blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x) / 32;
  const int lane = threadIdx.x % 32;
  if (i >= outer * inner) return;
  const float* p = ws + (i / inner) * splits * inner + i % inner;
  float r = kMax ? -3.402823466e38f : 0.f;
  for (int32_t sp = lane; sp < splits; sp += 32) r = combine<kMax>(r, p[sp * inner]);
  for (int off = 16; off > 0; off /= 2) r = combine<kMax>(r, __shfl_down_sync(0xffffffffu, r, off));
  if (lane == 0) st(y, i, kMax ? r : r * inv);
}

// NHWC beyond 32-bit indices (rare): one thread per (n, c), reading rows of channels.
template <typename T, bool kMax>
__global__ void globalPoolChannelsLast(const T* x, T* y, int64_t n, int64_t c, int64_t spatial) {
  QRT_GRID_STRIDE(i, n * c) {
    const int64_t b = i / c, ch = i % c;
    const T* p = x + b * spatial * c + ch;
    float acc = kMax ? lowest<T>() : 0.f;
    for (int64_t j = 0; j < spatial; ++j) acc = combine<kMax>(acc, ld(p, j * c));
    st(y, i, kMax ? acc : acc / static_cast<float>(spatial));
  }
}

// `y_align`: the bytes the vector path's stores need y aligned to (16 for T outputs, V for int8).
template <typename T, bool kMax, typename Out>
void poolT(const void* x, Out sink, const void* y, int y_align, const PoolGeometry& g, cudaStream_t s) {
  const int64_t total = g.n * g.c * g.out[0] * g.out[1] * g.out[2];
  const int64_t in_total = g.n * g.c * g.in[0] * g.in[1] * g.in[2];
  if (total == 0) return;
  auto* px = static_cast<const T*>(x);
  constexpr int V = sizeof(T) == 2 ? 8 : 4;
  const bool aligned = reinterpret_cast<uintptr_t>(x) % 16 == 0 && reinterpret_cast<uintptr_t>(y) % y_align == 0;
  if (g.channels_last && g.in[0] == 1 && g.c % V == 0 && aligned && std::max(total, in_total) < (int64_t{1} << 30)) {
    const int64_t vecs = total / V;
    poolNhwc2d<T, V, kMax><<<blocksFor(vecs), kBlock, 0, s>>>(px, sink, static_cast<int32_t>(vecs), g);
    return;
  }
  // Signed 32-bit indices (window positions go negative at the pads) with headroom.
  if (std::max(total, in_total) < (int64_t{1} << 30))
    poolKernel<T, kMax, int32_t><<<blocksFor(total), kBlock, 0, s>>>(px, sink, static_cast<int32_t>(total), g);
  else
    poolKernel<T, kMax, int64_t><<<blocksFor(total), kBlock, 0, s>>>(px, sink, total, g);
}

template <typename T, bool kMax>
void poolSame(const void* x, void* y, const PoolGeometry& g, cudaStream_t s) {
  poolT<T, kMax>(x, SameOut<T>{static_cast<T*>(y)}, y, 16, g, s);
}

template <typename T>
void maxPoolQuantizeT(const void* x, DataType yt, void* y, const PoolGeometry& g, float scale, float zero,
                      cudaStream_t s) {
  constexpr int V = sizeof(T) == 2 ? 8 : 4;
  if (yt == DataType::kInt8)
    poolT<T, true>(x, QuantOut<int8_t>{static_cast<int8_t*>(y), scale, zero}, y, V, g, s);
  else
    poolT<T, true>(x, QuantOut<uint8_t>{static_cast<uint8_t*>(y), scale, zero}, y, V, g, s);
}

template <typename T, int V, bool kMax>
void globalNhwc(const T* x, T* y, float* ws, const GlobalPoolPlan& p, float inv, cudaStream_t s) {
  const int64_t cvs = p.c / V;
  const int tc = static_cast<int>(std::min<int64_t>(cvs, 32));
  const int ts = kBlock / tc;
  const dim3 grid(static_cast<unsigned>((cvs + tc - 1) / tc), static_cast<unsigned>(p.splits), static_cast<unsigned>(p.n));
  globalPoolNhwc<T, V, kMax><<<grid, dim3(tc, ts), 0, s>>>(x, y, ws, static_cast<int32_t>(p.c),
                                                           static_cast<int32_t>(p.spatial), static_cast<int32_t>(p.chunk), inv);
}

template <typename T, bool kMax>
void globalT(const void* xv, void* yv, const GlobalPoolPlan& p, void* workspace, cudaStream_t s) {
  const T* x = static_cast<const T*>(xv);
  T* y = static_cast<T*>(yv);
  float* ws = static_cast<float*>(workspace);
  const float inv = 1.f / static_cast<float>(p.spatial);
  const int64_t rows = p.n * p.c;
  switch (p.kind) {
    case GlobalPoolPlan::kRows: {
      const int64_t threads = rows * 32;
      globalPoolRows<T, kMax><<<static_cast<unsigned>((threads + kBlock - 1) / kBlock), kBlock, 0, s>>>(x, y, rows, p.spatial);
      return;
    }
    case GlobalPoolPlan::kRowSplit:
      globalPoolRowSplit<T, kMax><<<dim3(static_cast<unsigned>(p.splits), static_cast<unsigned>(rows)), kBlock, 0, s>>>(
          x, y, ws, static_cast<int32_t>(p.spatial), static_cast<int32_t>(p.chunk), inv);
      break;
    case GlobalPoolPlan::kNhwcThreads:
      globalPoolChannelsLast<T, kMax><<<blocksFor(rows), kBlock, 0, s>>>(x, y, p.n, p.c, p.spatial);
      return;
    case GlobalPoolPlan::kNhwc: {
      constexpr int V = 16 / sizeof(T);
      // The vector width was planned from C; a misaligned base (a tensor at an odd offset) reads
      // one channel per thread instead, with the same splits.
      const bool aligned = reinterpret_cast<uintptr_t>(x) % 16 == 0;
      if (p.vector && aligned) globalNhwc<T, V, kMax>(x, y, ws, p, inv, s);
      else globalNhwc<T, 1, kMax>(x, y, ws, p, inv, s);
      break;
    }
  }
  if (p.splits > 1) {
    const int64_t outer = p.kind == GlobalPoolPlan::kNhwc ? p.n : rows, inner = p.kind == GlobalPoolPlan::kNhwc ? p.c : 1;
    globalPoolFinish<T, kMax><<<blocksFor(rows * 32), kBlock, 0, s>>>(ws, y, outer, inner, static_cast<int32_t>(p.splits), inv);
  }
}

}  // namespace

void maxPool(DataType t, const void* x, void* y, const PoolGeometry& g, cudaStream_t s) {
  if (t == DataType::kHalf) poolSame<__half, true>(x, y, g, s);
  else poolSame<float, true>(x, y, g, s);
}

void avgPool(DataType t, const void* x, void* y, const PoolGeometry& g, cudaStream_t s) {
  if (t == DataType::kHalf) poolSame<__half, false>(x, y, g, s);
  else poolSame<float, false>(x, y, g, s);
}

void maxPoolQuantize(DataType xt, const void* x, DataType yt, void* y, const PoolGeometry& g, float scale, float zero,
                     cudaStream_t s) {
  if (xt == DataType::kHalf) maxPoolQuantizeT<__half>(x, yt, y, g, scale, zero, s);
  else maxPoolQuantizeT<float>(x, yt, y, g, scale, zero, s);
}

GlobalPoolPlan globalPoolPlan(DataType t, int64_t n, int64_t c, int64_t spatial, bool channels_last) {
  // About eight resident blocks of kBlock threads on each of an H100's 132 SMs: enough to keep
  // the memory system busy; beyond it, splitting a plane further only adds partials.
  constexpr int64_t kTargetBlocks = 1024;
  constexpr int64_t kMinPerThread = 4;  // plane elements (NCHW) or pixels (NHWC) per thread at least
  constexpr int64_t kMostSplits = 128;  // the second pass reads them with one warp per output
  GlobalPoolPlan p;
  p.n = n;
  p.c = c;
  p.spatial = spatial;
  if (n * c == 0 || spatial == 0) return p;
  const bool fits32 = n * c * spatial < (int64_t{1} << 31) && n < 65536;
  if (channels_last && fits32) {
    const int64_t v = 16 / static_cast<int64_t>(dataTypeSize(t));
    p.kind = GlobalPoolPlan::kNhwc;
    p.vector = c % v == 0;
    const int64_t cvs = p.vector ? c / v : c;
    const int64_t tc = std::min<int64_t>(cvs, 32), ts = kBlock / tc;
    const int64_t base = n * ((cvs + tc - 1) / tc);
    const int64_t most = std::max<int64_t>(1, spatial / (ts * kMinPerThread));
    p.splits = std::clamp<int64_t>((kTargetBlocks + base - 1) / base, 1, std::min(most, kMostSplits));
  } else if (channels_last) {
    p.kind = GlobalPoolPlan::kNhwcThreads;
    return p;
  } else if (n * c >= 8192 || spatial <= 8192 || !fits32) {
    // Up to 8192 positions a warp per row is as fast (H200: 6 us for [1, 96, 80, 80], where the
    // split's second launch costs ~3 us more); many rows fill the GPU anyway.
    p.kind = GlobalPoolPlan::kRows;
    return p;
  } else {
    p.kind = GlobalPoolPlan::kRowSplit;
    const int64_t most = std::max<int64_t>(1, spatial / (kBlock * kMinPerThread));
    p.splits = std::clamp<int64_t>((kTargetBlocks + n * c - 1) / (n * c), 1, std::min(most, kMostSplits));
  }
  p.chunk = (spatial + p.splits - 1) / p.splits;
  p.splits = (spatial + p.chunk - 1) / p.chunk;  // no empty split
  return p;
}

void globalPool(DataType t, bool max, const void* x, void* y, const GlobalPoolPlan& p, void* workspace,
                cudaStream_t s) {
  if (p.n * p.c == 0) return;
  if (t == DataType::kHalf) {
    if (max) globalT<__half, true>(x, y, p, workspace, s);
    else globalT<__half, false>(x, y, p, workspace, s);
  } else {
    if (max) globalT<float, true>(x, y, p, workspace, s);
    else globalT<float, false>(x, y, p, workspace, s);
  }
}

}  // namespace qrt::cuda::launch
