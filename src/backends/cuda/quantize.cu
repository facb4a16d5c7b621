// The CUDA backend's INT8 kernels beside the convolution: QuantizeLinear / DequantizeLinear
// (per tensor or per axis, either layout), the requantizing epilogue of QGemm / QMatMul, a plain
// int8 matrix product for the shapes cuBLASLt does not take, and int8 max pooling.
//
// Arithmetic is the reference backend's (src/backends/reference/quantize.cpp, qops_common.h):
// x / scale in fp32 with IEEE division, round half to even (rintf), saturate. The explicit
// __fmul_rn / __fadd_rn keep nvcc from contracting the epilogue into an FMA, so the device
// rounds where the reference does.
#include <cuda_fp16.h>

#include <algorithm>

#include "backends/cuda/device_util.cuh"
#include "backends/cuda/int8_launch.h"

namespace qrt::cuda::launch {

namespace {

__device__ __forceinline__ int64_t channelOf(int64_t i, AxisIndex a) {
  return a.channels == 1 ? 0 : (i / a.inner) % a.channels;
}

template <typename X, typename Q>
__global__ void quantizeKernel(const X* x, const float* scale, const Q* zp, Q* y, int64_t n, AxisIndex a) {
  QRT_GRID_STRIDE(i, n) {
    const int64_t c = channelOf(i, a);
    y[i] = quantizeOne<Q>(ld(x, i), scale[c], zp ? static_cast<float>(zp[c]) : 0.f);
  }
}

// Per-tensor fp32 -> int8/uint8, four elements per thread (one 16-byte load, one 4-byte store)
// and 32-bit indices: the INT8 engines' QuantizeLinear nodes read whole activation tensors, so
// this runs at memory speed where the generic kernel (64-bit index math, byte stores) did not
// (ResNet-50 batch 256 on an H100: 1.04 ms per 205M-element layer1 tensor, ~0.3 ms at 3 TB/s).
template <typename Q>
__global__ void quantizeTensorX4(const float4* x, const float* scale, const Q* zp, uint32_t* y, int32_t n4) {
  const float sc = *scale;
  const float z = zp ? static_cast<float>(*zp) : 0.f;
  for (int32_t i = blockIdx.x * blockDim.x + threadIdx.x; i < n4; i += blockDim.x * gridDim.x) {
    const float4 v = x[i];
    const float in[4] = {v.x, v.y, v.z, v.w};
    uint32_t packed = 0;
#pragma unroll
    for (int k = 0; k < 4; ++k)
      packed |= static_cast<uint32_t>(static_cast<uint8_t>(quantizeOne<Q>(in[k], sc, z))) << (8 * k);
    y[i] = packed;
  }
}

// The same for fp16 input (the QuantizeLinear nodes of --int8 --fp16 engines read fp16), eight
// elements per thread (one 16-byte load, one 8-byte store). Each half is widened to fp32 exactly,
// then quantized as above: the reference's arithmetic. The generic kernel ran MobileNetV2's stem
// QuantizeLinear (102M elements) in 0.42 ms on an H200, 0.74 TB/s (session 13).
template <typename Q>
__global__ void quantizeHalfX8(const uint4* x, const float* scale, const Q* zp, uint2* y, int32_t n8) {
  const float sc = *scale;
  const float z = zp ? static_cast<float>(*zp) : 0.f;
  for (int32_t i = blockIdx.x * blockDim.x + threadIdx.x; i < n8; i += blockDim.x * gridDim.x) {
    const uint4 v = x[i];
    const unsigned words[4] = {v.x, v.y, v.z, v.w};
    uint32_t packed[2] = {0u, 0u};
#pragma unroll
    for (int k = 0; k < 4; ++k) {
      const float2 f = __half22float2(*reinterpret_cast<const __half2*>(&words[k]));
      const uint32_t lo = static_cast<uint8_t>(quantizeOne<Q>(f.x, sc, z));
      const uint32_t hi = static_cast<uint8_t>(quantizeOne<Q>(f.y, sc, z));
      packed[k / 2] |= (lo | (hi << 8)) << (16 * (k % 2));
    }
    y[i] = make_uint2(packed[0], packed[1]);
  }
}

__device__ __forceinline__ float addRelu(float a, float b, bool relu) {
  const float v = __fadd_rn(a, b);
  return relu && v < 0.f ? 0.f : v;  // NaN stays NaN, as the reference's Relu
}

// AddQuantize, four elements per thread (16-byte loads and stores of a, b, y; 4 bytes of q).
template <typename Q>
__global__ void addQuantizeX4(const float4* a, const float4* b, bool relu, const float* scale, const Q* zp,
                              uint32_t* q, float4* y, int32_t n4) {
  const float sc = *scale;
  const float z = zp ? static_cast<float>(*zp) : 0.f;
  for (int32_t i = blockIdx.x * blockDim.x + threadIdx.x; i < n4; i += blockDim.x * gridDim.x) {
    const float4 va = a[i], vb = b[i];
    const float4 v = make_float4(addRelu(va.x, vb.x, relu), addRelu(va.y, vb.y, relu), addRelu(va.z, vb.z, relu),
                                 addRelu(va.w, vb.w, relu));
    if (y) y[i] = v;
    q[i] = static_cast<uint32_t>(static_cast<uint8_t>(quantizeOne<Q>(v.x, sc, z))) |
           static_cast<uint32_t>(static_cast<uint8_t>(quantizeOne<Q>(v.y, sc, z))) << 8 |
           static_cast<uint32_t>(static_cast<uint8_t>(quantizeOne<Q>(v.z, sc, z))) << 16 |
           static_cast<uint32_t>(static_cast<uint8_t>(quantizeOne<Q>(v.w, sc, z))) << 24;
  }
}

template <typename Q>
__global__ void addQuantizeX1(const float* a, const float* b, bool relu, const float* scale, const Q* zp, Q* q,
                              float* y, int64_t n) {
  const float sc = *scale;
  const float z = zp ? static_cast<float>(*zp) : 0.f;
  QRT_GRID_STRIDE(i, n) {
    const float v = addRelu(a[i], b[i], relu);
    if (y) y[i] = v;
    q[i] = quantizeOne<Q>(v, sc, z);
  }
}

bool aligned(const void* p, uintptr_t k) { return reinterpret_cast<uintptr_t>(p) % k == 0; }

// The launch split of the element-wise quantizing kernels: where `vector` (every pointer aligned for
// it), body(nv) launches the kernel of kWidth elements a thread over the first nv * kWidth elements
// (nv < 2^30: 32-bit indices); tail(done, rest) launches the one-a-thread kernel over the rest.
template <int kWidth, typename Body, typename Tail>
void vectorThenTail(int64_t n, bool vector, Body body, Tail tail) {
  int64_t done = 0;
  if (vector && n / kWidth < (int64_t{1} << 30)) {
    const int64_t nv = n / kWidth;
    if (nv > 0) body(static_cast<int32_t>(nv));
    done = nv * kWidth;
  }
  if (done < n) tail(done, n - done);
}

template <typename Q>
void addQuantizeAs(const float* a, const float* b, bool relu, const float* scale, const void* zp, void* q, float* y,
                   int64_t n, cudaStream_t s) {
  vectorThenTail<4>(
      n, aligned(a, 16) && aligned(b, 16) && aligned(y, 16) && aligned(q, 4),
      [&](int32_t n4) {
        addQuantizeX4<Q><<<blocksFor(n4), kBlock, 0, s>>>(reinterpret_cast<const float4*>(a),
                                                          reinterpret_cast<const float4*>(b), relu, scale,
                                                          static_cast<const Q*>(zp), static_cast<uint32_t*>(q),
                                                          reinterpret_cast<float4*>(y), n4);
      },
      [&](int64_t done, int64_t rest) {
        addQuantizeX1<Q><<<blocksFor(rest), kBlock, 0, s>>>(a + done, b + done, relu, scale, static_cast<const Q*>(zp),
                                                            static_cast<Q*>(q) + done, y ? y + done : nullptr, rest);
      });
}

// AddQuantize on fp16 a, b (and y): the sum in fp32 rounded to fp16 once (as the fp16 Add kernel
// writes it), the Relu, then QuantizeLinear of that fp16 value; eight elements a thread (16-byte
// loads and stores, 8 bytes of q), one a thread for the tail.
__device__ __forceinline__ __half addReluHalf(__half a, __half b, bool relu) {
  const __half v = __float2half_rn(__half2float(a) + __half2float(b));
  return relu && __half2float(v) < 0.f ? __float2half_rn(0.f) : v;  // NaN stays NaN
}

template <typename Q>
__global__ void addQuantizeHalfX8(const uint4* a, const uint4* b, bool relu, const float* scale, const Q* zp,
                                  uint2* q, uint4* y, int32_t n8) {
  const float sc = *scale;
  const float z = zp ? static_cast<float>(*zp) : 0.f;
  for (int32_t i = blockIdx.x * blockDim.x + threadIdx.x; i < n8; i += blockDim.x * gridDim.x) {
    const uint4 va = a[i], vb = b[i];
    const __half* ha = reinterpret_cast<const __half*>(&va);
    const __half* hb = reinterpret_cast<const __half*>(&vb);
    uint4 vy;
    __half* hy = reinterpret_cast<__half*>(&vy);
    uint32_t packed[2] = {0u, 0u};
#pragma unroll
    for (int k = 0; k < 8; ++k) {
      hy[k] = addReluHalf(ha[k], hb[k], relu);
      packed[k / 4] |= static_cast<uint32_t>(static_cast<uint8_t>(quantizeOne<Q>(__half2float(hy[k]), sc, z)))
                       << (8 * (k % 4));
    }
    if (y) y[i] = vy;
    q[i] = make_uint2(packed[0], packed[1]);
  }
}

template <typename Q>
__global__ void addQuantizeHalfX1(const __half* a, const __half* b, bool relu, const float* scale, const Q* zp, Q* q,
                                  __half* y, int64_t n) {
  const float sc = *scale;
  const float z = zp ? static_cast<float>(*zp) : 0.f;
  QRT_GRID_STRIDE(i, n) {
    const __half v = addReluHalf(a[i], b[i], relu);
    if (y) y[i] = v;
    q[i] = quantizeOne<Q>(__half2float(v), sc, z);
  }
}

template <typename Q>
void addQuantizeHalfAs(const __half* a, const __half* b, bool relu, const float* scale, const void* zp, void* q,
                       __half* y, int64_t n, cudaStream_t s) {
  vectorThenTail<8>(
      n, aligned(a, 16) && aligned(b, 16) && aligned(y, 16) && aligned(q, 8),
      [&](int32_t n8) {
        addQuantizeHalfX8<Q><<<blocksFor(n8), kBlock, 0, s>>>(reinterpret_cast<const uint4*>(a),
                                                              reinterpret_cast<const uint4*>(b), relu, scale,
                                                              static_cast<const Q*>(zp), static_cast<uint2*>(q),
                                                              reinterpret_cast<uint4*>(y), n8);
      },
      [&](int64_t done, int64_t rest) {
        addQuantizeHalfX1<Q><<<blocksFor(rest), kBlock, 0, s>>>(a + done, b + done, relu, scale,
                                                                static_cast<const Q*>(zp), static_cast<Q*>(q) + done,
                                                                y ? y + done : nullptr, rest);
      });
}

template <typename X, typename Y>
__global__ void dequantizeKernel(const X* x, const float* scale, const X* zp, Y* y, int64_t n, AxisIndex a) {
  QRT_GRID_STRIDE(i, n) {
    const int64_t c = channelOf(i, a);
    const int64_t z = zp ? static_cast<int64_t>(zp[c]) : 0;
    st(y, i, __fmul_rn(static_cast<float>(static_cast<int64_t>(x[i]) - z), scale[c]));
  }
}

template <typename Q, typename X>
void quantizeAs(const void* x, const float* scale, const void* zp, void* y, int64_t n, AxisIndex a, cudaStream_t s) {
  // The rest (per-axis tensors, an unaligned or odd tail): one element per thread. A per-tensor
  // tail starts at `done`, which keeps its channel (the only one) unchanged.
  auto tail = [&](int64_t done, int64_t rest) {
    quantizeKernel<X, Q><<<blocksFor(rest), kBlock, 0, s>>>(static_cast<const X*>(x) + done, scale,
                                                            static_cast<const Q*>(zp), static_cast<Q*>(y) + done, rest,
                                                            a);
  };
  if constexpr (sizeof(X) == 4) {
    vectorThenTail<4>(
        n, a.channels == 1 && aligned(x, 16) && aligned(y, 4),
        [&](int32_t n4) {
          quantizeTensorX4<Q><<<blocksFor(n4), kBlock, 0, s>>>(static_cast<const float4*>(x), scale,
                                                               static_cast<const Q*>(zp), static_cast<uint32_t*>(y), n4);
        },
        tail);
  } else {
    vectorThenTail<8>(
        n, a.channels == 1 && aligned(x, 16) && aligned(y, 8),
        [&](int32_t n8) {
          quantizeHalfX8<Q><<<blocksFor(n8), kBlock, 0, s>>>(static_cast<const uint4*>(x), scale,
                                                             static_cast<const Q*>(zp), static_cast<uint2*>(y), n8);
        },
        tail);
  }
}

template <typename X>
void dequantizeAs(const void* x, const float* scale, const void* zp, DataType yt, void* y, int64_t n, AxisIndex a,
                  cudaStream_t s) {
  if (yt == DataType::kHalf)
    dequantizeKernel<X, __half><<<blocksFor(n), kBlock, 0, s>>>(static_cast<const X*>(x), scale,
                                                                static_cast<const X*>(zp), static_cast<__half*>(y), n, a);
  else
    dequantizeKernel<X, float><<<blocksFor(n), kBlock, 0, s>>>(static_cast<const X*>(x), scale,
                                                               static_cast<const X*>(zp), static_cast<float*>(y), n, a);
}

template <typename Y>
__global__ void epilogueKernel(const int32_t* acc, Y* y, int64_t n, int64_t cols, Int8Epilogue e) {
  const float xs = *e.x_scale;
  const float ys = e.y_scale ? *e.y_scale : 1.f;
  QRT_GRID_STRIDE(i, n) {
    const int64_t c = i % cols;
    const float mult = __fmul_rn(xs, e.w_scale[e.w_per_channel ? c : 0]);
    float v = __fmul_rn(static_cast<float>(acc[i]), mult);
    if (e.bias) v = __fadd_rn(v, e.bias[c]);
    if (e.act == 1) v = v < 0.f ? 0.f : v;
    else if (e.act == 2) v = v < e.lo ? e.lo : (v > e.hi ? e.hi : v);
    if constexpr (sizeof(Y) == 1) {
      const float q = __fdiv_rn(v, ys);
      y[i] = isnan(q) ? int8_t{0} : saturateQ<int8_t>(rintf(q));
    } else {
      y[i] = v;
    }
  }
}

// One thread per output element; adequate for the rare shapes that come here.
__global__ void int8MatmulKernel(const int8_t* a, const int8_t* w, int32_t* acc, int64_t total, Int8MatmulShape p) {
  QRT_GRID_STRIDE(i, total) {
    const int64_t j = i % p.cols;
    const int64_t r = (i / p.cols) % p.rows;
    const int64_t b = i / (p.cols * p.rows);
    const int8_t* ar = a + b * p.a_batch + r * p.a_rs;
    const int8_t* wr = w + b * p.w_batch + j * p.k;
    int32_t sum = 0;
    for (int64_t k = 0; k < p.k; ++k) sum += static_cast<int32_t>(ar[k * p.a_cs]) * static_cast<int32_t>(wr[k]);
    acc[i] = sum;
  }
}

// One element per thread, either layout, 1-3 spatial dims. I is the index type: 32-bit where
// every offset fits (64-bit division is many times slower on the GPU).
template <typename T, typename I>
__global__ void maxPoolInt8Kernel(const T* x, T* y, I total, PoolGeometry g) {
  const I C = static_cast<I>(g.c);
  const I in0 = static_cast<I>(g.in[0]), in1 = static_cast<I>(g.in[1]), in2 = static_cast<I>(g.in[2]);
  const I out0 = static_cast<I>(g.out[0]), out1 = static_cast<I>(g.out[1]), out2 = static_cast<I>(g.out[2]);
  for (I i = blockIdx.x * static_cast<I>(blockDim.x) + threadIdx.x; i < total; i += static_cast<I>(blockDim.x) * gridDim.x) {
    I n, c, o[3];
    I r = i;
    if (g.channels_last) {
      c = r % C; r /= C;
      o[2] = r % out2; r /= out2;
      o[1] = r % out1; r /= out1;
      o[0] = r % out0; n = r / out0;
    } else {
      o[2] = r % out2; r /= out2;
      o[1] = r % out1; r /= out1;
      o[0] = r % out0; r /= out0;
      c = r % C; n = r / C;
    }
    const I sp = in0 * in1 * in2;
    const I base = g.channels_last ? n * sp * C + c : (n * C + c) * sp;
    const I step = g.channels_last ? C : 1;
    int best = -1000;  // below every int8 / uint8 value; a window entirely in padding is impossible (pads < kernel)
    for (I k0 = 0; k0 < static_cast<I>(g.kernel[0]); ++k0) {
      const I i0 = o[0] * static_cast<I>(g.stride[0]) - static_cast<I>(g.pad[0]) + k0 * static_cast<I>(g.dilation[0]);
      if (i0 < 0 || i0 >= in0) continue;
      for (I k1 = 0; k1 < static_cast<I>(g.kernel[1]); ++k1) {
        const I i1 = o[1] * static_cast<I>(g.stride[1]) - static_cast<I>(g.pad[1]) + k1 * static_cast<I>(g.dilation[1]);
        if (i1 < 0 || i1 >= in1) continue;
        for (I k2 = 0; k2 < static_cast<I>(g.kernel[2]); ++k2) {
          const I i2 = o[2] * static_cast<I>(g.stride[2]) - static_cast<I>(g.pad[2]) + k2 * static_cast<I>(g.dilation[2]);
          if (i2 < 0 || i2 >= in2) continue;
          const int v = x[base + ((i0 * in1 + i1) * in2 + i2) * step];
          best = v > best ? v : best;
        }
      }
    }
    y[i] = static_cast<T>(best);
  }
}

// NHWC 2-D int8 / uint8 max pooling, W 32-bit words (4 W channels) per thread: one 16-, 8- or
// 4-byte load per window tap and a per-byte max (__vmaxs4 / __vmaxu4) on each word, so a warp
// moves as many bytes per tap as the fp16 pool (pool.cu's poolNhwc2d) instead of 1 byte per
// thread. Needs C % (4 W) == 0 and x, y aligned to 4 W bytes.
template <int W> struct Words;
template <> struct Words<4> { using T = uint4; };
template <> struct Words<2> { using T = uint2; };
template <> struct Words<1> { using T = uint32_t; };

template <int W, bool kSigned>
__global__ void maxPoolInt8Nhwc(const uint8_t* x, uint8_t* y, int32_t total, PoolGeometry g) {
  using VT = typename Words<W>::T;
  constexpr int32_t V = 4 * W;
  const int32_t C = static_cast<int32_t>(g.c), CV = C / V;
  const int32_t H = static_cast<int32_t>(g.in[1]), Wd = static_cast<int32_t>(g.in[2]);
  const int32_t OH = static_cast<int32_t>(g.out[1]), OW = static_cast<int32_t>(g.out[2]);
  const int32_t KH = static_cast<int32_t>(g.kernel[1]), KW = static_cast<int32_t>(g.kernel[2]);
  const int32_t SH = static_cast<int32_t>(g.stride[1]), SW = static_cast<int32_t>(g.stride[2]);
  const int32_t PH = static_cast<int32_t>(g.pad[1]), PW = static_cast<int32_t>(g.pad[2]);
  const int32_t DH = static_cast<int32_t>(g.dilation[1]), DW = static_cast<int32_t>(g.dilation[2]);
  for (int32_t i = blockIdx.x * blockDim.x + threadIdx.x; i < total; i += blockDim.x * gridDim.x) {
    const NhwcIndex32 at = nhwcIndex32(i, CV, OW, OH);
    const int32_t cv = at.cv, ow = at.ow, oh = at.oh, n = at.n;
    uint32_t acc[W];
#pragma unroll
    for (int k = 0; k < W; ++k) acc[k] = kSigned ? 0x80808080u : 0u;  // -128 / 0 in every byte
    const uint8_t* base = x + static_cast<int32_t>(n * H) * Wd * C + cv * V;
    for (int32_t kh = 0; kh < KH; ++kh) {
      const int32_t ih = oh * SH - PH + kh * DH;
      if (ih < 0 || ih >= H) continue;
      for (int32_t kw = 0; kw < KW; ++kw) {
        const int32_t iw = ow * SW - PW + kw * DW;
        if (iw < 0 || iw >= Wd) continue;
        VT v = *reinterpret_cast<const VT*>(base + (ih * Wd + iw) * C);
        const uint32_t* w = reinterpret_cast<const uint32_t*>(&v);
#pragma unroll
        for (int k = 0; k < W; ++k) acc[k] = kSigned ? __vmaxs4(acc[k], w[k]) : __vmaxu4(acc[k], w[k]);
      }
    }
    VT out;
#pragma unroll
    for (int k = 0; k < W; ++k) reinterpret_cast<uint32_t*>(&out)[k] = acc[k];
    *reinterpret_cast<VT*>(y + static_cast<int64_t>(i) * V) = out;
  }
}

template <bool kSigned>
bool maxPoolInt8Vectorized(const void* x, void* y, const PoolGeometry& g, cudaStream_t s) {
  const int64_t total = g.n * g.c * g.out[1] * g.out[2];
  const int64_t in_total = g.n * g.c * g.in[1] * g.in[2];
  if (!g.channels_last || g.in[0] != 1 || std::max(total, in_total) >= (int64_t{1} << 31)) return false;
  const uintptr_t align = reinterpret_cast<uintptr_t>(x) | reinterpret_cast<uintptr_t>(y);
  auto* px = static_cast<const uint8_t*>(x);
  auto* py = static_cast<uint8_t*>(y);
  if (g.c % 16 == 0 && align % 16 == 0) {
    const int64_t vecs = total / 16;
    maxPoolInt8Nhwc<4, kSigned><<<blocksFor(vecs), kBlock, 0, s>>>(px, py, static_cast<int32_t>(vecs), g);
  } else if (g.c % 8 == 0 && align % 8 == 0) {
    const int64_t vecs = total / 8;
    maxPoolInt8Nhwc<2, kSigned><<<blocksFor(vecs), kBlock, 0, s>>>(px, py, static_cast<int32_t>(vecs), g);
  } else if (g.c % 4 == 0 && align % 4 == 0) {
    const int64_t vecs = total / 4;
    maxPoolInt8Nhwc<1, kSigned><<<blocksFor(vecs), kBlock, 0, s>>>(px, py, static_cast<int32_t>(vecs), g);
  } else {
    return false;
  }
  return true;
}

}  // namespace

void quantizeLinear(DataType xt, const void* x, const float* scale, DataType yt, const void* zero_point, void* y,
                    int64_t n, AxisIndex axis, cudaStream_t s) {
  if (n == 0) return;
  const bool half = xt == DataType::kHalf;
  if (yt == DataType::kUInt8) {
    if (half) quantizeAs<uint8_t, __half>(x, scale, zero_point, y, n, axis, s);
    else quantizeAs<uint8_t, float>(x, scale, zero_point, y, n, axis, s);
  } else {
    if (half) quantizeAs<int8_t, __half>(x, scale, zero_point, y, n, axis, s);
    else quantizeAs<int8_t, float>(x, scale, zero_point, y, n, axis, s);
  }
}

void dequantizeLinear(DataType xt, const void* x, const float* scale, const void* zero_point, DataType yt, void* y,
                      int64_t n, AxisIndex axis, cudaStream_t s) {
  if (n == 0) return;
  switch (xt) {
    case DataType::kUInt8: dequantizeAs<uint8_t>(x, scale, zero_point, yt, y, n, axis, s); break;
    case DataType::kInt32: dequantizeAs<int32_t>(x, scale, zero_point, yt, y, n, axis, s); break;
    default: dequantizeAs<int8_t>(x, scale, zero_point, yt, y, n, axis, s); break;
  }
}

void int8Epilogue(const int32_t* acc, void* y, int64_t rows, int64_t cols, const Int8Epilogue& e, cudaStream_t s) {
  const int64_t n = rows * cols;
  if (n == 0) return;
  if (e.y_scale)
    epilogueKernel<int8_t><<<blocksFor(n), kBlock, 0, s>>>(acc, static_cast<int8_t*>(y), n, cols, e);
  else
    epilogueKernel<float><<<blocksFor(n), kBlock, 0, s>>>(acc, static_cast<float*>(y), n, cols, e);
}

void int8Matmul(const int8_t* a, const int8_t* w, int32_t* acc, const Int8MatmulShape& p, cudaStream_t s) {
  const int64_t n = p.batch * p.rows * p.cols;
  if (n == 0) return;
  int8MatmulKernel<<<blocksFor(n), kBlock, 0, s>>>(a, w, acc, n, p);
}

void addQuantize(DataType t, const void* a, const void* b, bool relu, const float* scale, DataType qt,
                 const void* zero_point, void* q, void* y, int64_t n, cudaStream_t s) {
  if (n == 0) return;
  if (t == DataType::kHalf) {
    if (qt == DataType::kUInt8)
      addQuantizeHalfAs<uint8_t>(static_cast<const __half*>(a), static_cast<const __half*>(b), relu, scale, zero_point,
                                 q, static_cast<__half*>(y), n, s);
    else
      addQuantizeHalfAs<int8_t>(static_cast<const __half*>(a), static_cast<const __half*>(b), relu, scale, zero_point,
                                q, static_cast<__half*>(y), n, s);
    return;
  }
  const auto* fa = static_cast<const float*>(a);
  const auto* fb = static_cast<const float*>(b);
  if (qt == DataType::kUInt8) addQuantizeAs<uint8_t>(fa, fb, relu, scale, zero_point, q, static_cast<float*>(y), n, s);
  else addQuantizeAs<int8_t>(fa, fb, relu, scale, zero_point, q, static_cast<float*>(y), n, s);
}

void maxPoolInt8(DataType t, const void* x, void* y, const PoolGeometry& g, cudaStream_t s) {
  const int64_t n = g.n * g.c * g.out[0] * g.out[1] * g.out[2];
  if (n == 0) return;
  if (t == DataType::kUInt8 ? maxPoolInt8Vectorized<false>(x, y, g, s) : maxPoolInt8Vectorized<true>(x, y, g, s)) return;
  // NCHW, 3-D windows, channel counts that are not a multiple of 4, unaligned tensors: one
  // element per thread, with signed 32-bit indices (window positions go negative at the pads)
  // where every offset fits with headroom.
  const int64_t in_total = g.n * g.c * g.in[0] * g.in[1] * g.in[2];
  const bool i32 = std::max(n, in_total) < (int64_t{1} << 30);
  if (t == DataType::kUInt8) {
    auto* px = static_cast<const uint8_t*>(x);
    auto* py = static_cast<uint8_t*>(y);
    if (i32) maxPoolInt8Kernel<uint8_t, int32_t><<<blocksFor(n), kBlock, 0, s>>>(px, py, static_cast<int32_t>(n), g);
    else maxPoolInt8Kernel<uint8_t, int64_t><<<blocksFor(n), kBlock, 0, s>>>(px, py, n, g);
  } else {
    auto* px = static_cast<const int8_t*>(x);
    auto* py = static_cast<int8_t*>(y);
    if (i32) maxPoolInt8Kernel<int8_t, int32_t><<<blocksFor(n), kBlock, 0, s>>>(px, py, static_cast<int32_t>(n), g);
    else maxPoolInt8Kernel<int8_t, int64_t><<<blocksFor(n), kBlock, 0, s>>>(px, py, n, g);
  }
}

}  // namespace qrt::cuda::launch
