// Pooling kernels: max / average over windows of up to 3 spatial dims (one thread per output
// element), and global average / max (one warp per row in NCHW; one thread per channel in NHWC,
// so that neighbouring threads read neighbouring channels).
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

template <typename T, bool kMax, typename I>
__global__ void poolKernel(const T* x, T* y, I total, PoolGeometry g) {
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
    st(y, static_cast<int64_t>(i), acc);
  }
}

// NHWC 2-D pooling, V channels per thread with one 16-byte load per tap (C % V == 0): the
// channels-last layout makes a window tap V neighbouring channels of one pixel.
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

template <typename T, int V, bool kMax>
__global__ void poolNhwc2d(const T* x, T* y, int32_t total, PoolGeometry g) {
  using VT = Vec<T, V>;
  const int32_t C = static_cast<int32_t>(g.c), CV = C / V;
  const int32_t H = static_cast<int32_t>(g.in[1]), W = static_cast<int32_t>(g.in[2]);
  const int32_t OH = static_cast<int32_t>(g.out[1]), OW = static_cast<int32_t>(g.out[2]);
  const int32_t KH = static_cast<int32_t>(g.kernel[1]), KW = static_cast<int32_t>(g.kernel[2]);
  for (int32_t i = blockIdx.x * blockDim.x + threadIdx.x; i < total; i += blockDim.x * gridDim.x) {
    const int32_t cv = i % CV;
    int32_t r = i / CV;
    const int32_t ow = r % OW;
    r /= OW;
    const int32_t oh = r % OH, n = r / OH;
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
    VT out;
    for (int k = 0; k < V; ++k) out.set(k, kMax ? acc[k] : (div > 0.f ? acc[k] / div : 0.f));
    *reinterpret_cast<decltype(out.raw)*>(y + static_cast<int64_t>(i) * V) = out.raw;
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
  for (int64_t j = lane; j < spatial; j += 32) acc = kMax ? fmaxf(acc, ld(row, j)) : acc + ld(row, j);
  for (int off = 16; off > 0; off /= 2) {
    float o = __shfl_down_sync(0xffffffffu, acc, off);
    acc = kMax ? fmaxf(acc, o) : acc + o;
  }
  if (lane == 0) st(y, warp, kMax ? acc : acc / static_cast<float>(spatial));
}

// NHWC: one thread per (n, c), reading rows of channels.
template <typename T, bool kMax>
__global__ void globalPoolChannelsLast(const T* x, T* y, int64_t n, int64_t c, int64_t spatial) {
  QRT_GRID_STRIDE(i, n * c) {
    const int64_t b = i / c, ch = i % c;
    const T* p = x + b * spatial * c + ch;
    float acc = kMax ? lowest<T>() : 0.f;
    for (int64_t j = 0; j < spatial; ++j) acc = kMax ? fmaxf(acc, ld(p, j * c)) : acc + ld(p, j * c);
    st(y, i, kMax ? acc : acc / static_cast<float>(spatial));
  }
}

template <typename T, bool kMax>
void poolT(const void* x, void* y, const PoolGeometry& g, cudaStream_t s) {
  const int64_t total = g.n * g.c * g.out[0] * g.out[1] * g.out[2];
  const int64_t in_total = g.n * g.c * g.in[0] * g.in[1] * g.in[2];
  if (total == 0) return;
  auto* px = static_cast<const T*>(x);
  auto* py = static_cast<T*>(y);
  constexpr int V = sizeof(T) == 2 ? 8 : 4;
  const bool aligned = reinterpret_cast<uintptr_t>(x) % 16 == 0 && reinterpret_cast<uintptr_t>(y) % 16 == 0;
  if (g.channels_last && g.in[0] == 1 && g.c % V == 0 && aligned && std::max(total, in_total) < (int64_t{1} << 30)) {
    const int64_t vecs = total / V;
    poolNhwc2d<T, V, kMax><<<blocksFor(vecs), kBlock, 0, s>>>(px, py, static_cast<int32_t>(vecs), g);
    return;
  }
  // Signed 32-bit indices (window positions go negative at the pads) with headroom.
  if (std::max(total, in_total) < (int64_t{1} << 30))
    poolKernel<T, kMax, int32_t><<<blocksFor(total), kBlock, 0, s>>>(px, py, static_cast<int32_t>(total), g);
  else
    poolKernel<T, kMax, int64_t><<<blocksFor(total), kBlock, 0, s>>>(px, py, total, g);
}

template <typename T, bool kMax>
void globalT(const void* x, void* y, int64_t n, int64_t c, int64_t spatial, bool cl, cudaStream_t s) {
  if (n * c == 0) return;
  if (cl) {
    globalPoolChannelsLast<T, kMax><<<blocksFor(n * c), kBlock, 0, s>>>(static_cast<const T*>(x), static_cast<T*>(y), n, c, spatial);
  } else {
    int64_t threads = n * c * 32;
    unsigned blocks = static_cast<unsigned>((threads + kBlock - 1) / kBlock);
    globalPoolRows<T, kMax><<<blocks, kBlock, 0, s>>>(static_cast<const T*>(x), static_cast<T*>(y), n * c, spatial);
  }
}

}  // namespace

void maxPool(DataType t, const void* x, void* y, const PoolGeometry& g, cudaStream_t s) {
  if (t == DataType::kHalf) poolT<__half, true>(x, y, g, s);
  else poolT<float, true>(x, y, g, s);
}

void avgPool(DataType t, const void* x, void* y, const PoolGeometry& g, cudaStream_t s) {
  if (t == DataType::kHalf) poolT<__half, false>(x, y, g, s);
  else poolT<float, false>(x, y, g, s);
}

void globalPool(DataType t, bool max, const void* x, void* y, int64_t n, int64_t c, int64_t spatial,
                bool channels_last, cudaStream_t s) {
  if (t == DataType::kHalf) {
    if (max) globalT<__half, true>(x, y, n, c, spatial, channels_last, s);
    else globalT<__half, false>(x, y, n, c, spatial, channels_last, s);
  } else {
    if (max) globalT<float, true>(x, y, n, c, spatial, channels_last, s);
    else globalT<float, false>(x, y, n, c, spatial, channels_last, s);
  }
}

}  // namespace qrt::cuda::launch
