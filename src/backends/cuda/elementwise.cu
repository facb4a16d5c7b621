// Element-wise CUDA kernels: unary activations and math, broadcasting binary ops, casts, the
// convolution epilogue (bias, residual, ReLU), inference batch normalization, pattern fill.
// Plain grid-stride loops computing in fp32; fp16 data is converted on load and store.
#include <cmath>

#include "backends/cuda/device_util.cuh"
#include "backends/cuda/conv_launch.h"
#include "backends/cuda/launch.h"

namespace qrt::cuda::launch {

namespace {

__device__ __forceinline__ float softplus(float x) { return x > 20.f ? x : log1pf(expf(x)); }

__device__ float applyUnary(UnaryOp op, float x, float a, float b) {
  switch (op) {
    case UnaryOp::kRelu: return x < 0.f ? 0.f : x;
    case UnaryOp::kLeakyRelu: return x >= 0.f ? x : a * x;
    case UnaryOp::kSigmoid: return 1.f / (1.f + expf(-x));
    case UnaryOp::kTanh: return tanhf(x);
    case UnaryOp::kHardSigmoid: return fmaxf(0.f, fminf(1.f, a * x + b));
    case UnaryOp::kHardSwish: return x * fmaxf(0.f, fminf(1.f, x / 6.f + 0.5f));
    case UnaryOp::kElu: return x >= 0.f ? x : a * (expf(x) - 1.f);
    case UnaryOp::kSelu: return x > 0.f ? b * x : b * (a * expf(x) - a);
    case UnaryOp::kCelu: return fmaxf(0.f, x) + fminf(0.f, a * (expf(x / a) - 1.f));
    case UnaryOp::kSoftplus: return softplus(x);
    case UnaryOp::kSoftsign: return x / (1.f + fabsf(x));
    case UnaryOp::kThresholdedRelu: return x > a ? x : 0.f;
    case UnaryOp::kMish: return x * tanhf(softplus(x));
    case UnaryOp::kGelu: return 0.5f * x * (1.f + erff(x * 0.70710678118654752f));
    case UnaryOp::kGeluTanh: return 0.5f * x * (1.f + tanhf(0.79788456080286536f * (x + 0.044715f * x * x * x)));
    case UnaryOp::kExp: return expf(x);
    case UnaryOp::kLog: return logf(x);
    case UnaryOp::kSqrt: return sqrtf(x);
    case UnaryOp::kNeg: return -x;
    case UnaryOp::kAbs: return fabsf(x);
    case UnaryOp::kReciprocal: return 1.f / x;
    case UnaryOp::kErf: return erff(x);
    case UnaryOp::kFloor: return floorf(x);
    case UnaryOp::kCeil: return ceilf(x);
    case UnaryOp::kRound: return rintf(x);  // halves to even, as ONNX Round
    case UnaryOp::kSin: return sinf(x);
    case UnaryOp::kCos: return cosf(x);
    case UnaryOp::kClip: return fminf(fmaxf(x, a), b);
    case UnaryOp::kSwish: return x / (1.f + expf(-x));
    case UnaryOp::kIdentity: return x;
  }
  return x;
}

template <typename T>
__global__ void unaryKernel(UnaryOp op, const T* x, T* y, int64_t n, float a, float b) {
  QRT_GRID_STRIDE(i, n) st(y, i, applyUnary(op, ld(x, i), a, b));
}

__device__ __forceinline__ float applyBinary(BinaryOp op, float a, float b) {
  switch (op) {
    case BinaryOp::kAdd: return a + b;
    case BinaryOp::kSub: return a - b;
    case BinaryOp::kMul: return a * b;
    case BinaryOp::kDiv: return a / b;
    case BinaryOp::kPow: return powf(a, b);
    case BinaryOp::kMax: return fmaxf(a, b);
    case BinaryOp::kMin: return fminf(a, b);
    case BinaryOp::kMean: return (a + b) * 0.5f;
    case BinaryOp::kPRelu: return a < 0.f ? a * b : a;
  }
  return a;
}

template <typename T>
__global__ void binarySameKernel(BinaryOp op, const T* a, const T* b, T* y, int64_t n) {
  QRT_GRID_STRIDE(i, n) st(y, i, applyBinary(op, ld(a, i), ld(b, i)));
}

template <typename T>
__global__ void binaryBroadcastKernel(BinaryOp op, const T* a, const T* b, T* y, int64_t n, Broadcast bc) {
  QRT_GRID_STRIDE(i, n) {
    int64_t rest = i, ia = 0, ib = 0;
    for (int k = bc.rank - 1; k >= 0; --k) {
      int64_t d = rest % bc.dims[k];
      rest /= bc.dims[k];
      ia += d * bc.a_strides[k];
      ib += d * bc.b_strides[k];
    }
    st(y, i, applyBinary(op, ld(a, ia), ld(b, ib)));
  }
}

// Generic cast: through double, with ONNX's rules for integers and bool.
__device__ double loadAny(const void* p, DataType t, int64_t i) {
  switch (t) {
    case DataType::kFloat: return static_cast<const float*>(p)[i];
    case DataType::kHalf: return __half2float(static_cast<const __half*>(p)[i]);
    case DataType::kDouble: return static_cast<const double*>(p)[i];
    case DataType::kInt8: return static_cast<const int8_t*>(p)[i];
    case DataType::kUInt8: return static_cast<const uint8_t*>(p)[i];
    case DataType::kInt32: return static_cast<const int32_t*>(p)[i];
    case DataType::kInt64: return static_cast<double>(static_cast<const int64_t*>(p)[i]);
    case DataType::kBool: return static_cast<const uint8_t*>(p)[i] ? 1.0 : 0.0;
    default: return 0.0;
  }
}

__device__ void storeAny(void* p, DataType t, int64_t i, double v) {
  switch (t) {
    case DataType::kFloat: static_cast<float*>(p)[i] = static_cast<float>(v); break;
    case DataType::kHalf: static_cast<__half*>(p)[i] = __float2half_rn(static_cast<float>(v)); break;
    case DataType::kDouble: static_cast<double*>(p)[i] = v; break;
    case DataType::kInt8: static_cast<int8_t*>(p)[i] = static_cast<int8_t>(static_cast<int64_t>(v)); break;
    case DataType::kUInt8: static_cast<uint8_t*>(p)[i] = static_cast<uint8_t>(static_cast<int64_t>(v)); break;
    case DataType::kInt32: static_cast<int32_t*>(p)[i] = static_cast<int32_t>(static_cast<int64_t>(v)); break;
    case DataType::kInt64: static_cast<int64_t*>(p)[i] = static_cast<int64_t>(v); break;
    case DataType::kBool: static_cast<uint8_t*>(p)[i] = v != 0.0; break;
    default: break;
  }
}

__global__ void castKernel(DataType from, const void* x, DataType to, void* y, int64_t n) {
  QRT_GRID_STRIDE(i, n) storeAny(y, to, i, loadAny(x, from, i));
}

// The frequent boundary casts of FP16 engines, without the double detour.
__global__ void floatToHalfKernel(const float* x, __half* y, int64_t n) {
  QRT_GRID_STRIDE(i, n) y[i] = __float2half_rn(x[i]);
}
__global__ void halfToFloatKernel(const __half* x, float* y, int64_t n) {
  QRT_GRID_STRIDE(i, n) y[i] = __half2float(x[i]);
}

// Channel of element i. 32-bit index arithmetic where it fits (64-bit division is slow).
template <typename I>
__device__ __forceinline__ I channelOf(I i, I channels, I inner, bool channels_last) {
  return channels_last ? i % channels : (i / inner) % channels;
}

struct Act {
  bool on;
  UnaryOp op;
  float a, b;
};

template <typename T, typename I>
__global__ void biasActivationKernel(T* y, const T* bias, const T* z, I n, I channels, I inner, bool channels_last,
                                     Act act) {
  for (I i = blockIdx.x * static_cast<I>(blockDim.x) + threadIdx.x; i < n; i += static_cast<I>(blockDim.x) * gridDim.x) {
    float v = ld(y, i);
    if (bias) v += ld(bias, channelOf(i, channels, inner, channels_last));
    if (z) v += ld(z, i);
    if (act.on) v = act.op == UnaryOp::kRelu ? (v < 0.f ? 0.f : v) : applyUnary(act.op, v, act.a, act.b);
    st(y, i, v);
  }
}

template <typename T, typename P>
__global__ void batchNormKernel(const T* x, T* y, const P* scale, const P* bias, const P* mean, const P* var, float eps,
                                int64_t n, int64_t channels, int64_t inner, bool channels_last) {
  QRT_GRID_STRIDE(i, n) {
    int64_t c = channelOf(i, channels, inner, channels_last);
    float inv = rsqrtf(ld(var, c) + eps) * ld(scale, c);
    st(y, i, (ld(x, i) - ld(mean, c)) * inv + ld(bias, c));
  }
}

template <typename T>
__global__ void fillPatternKernel(T* y, int64_t n) {
  QRT_GRID_STRIDE(i, n) {
    uint32_t h = static_cast<uint32_t>(i) * 2654435761u;
    h ^= h >> 15;
    st(y, i, static_cast<float>(h & 1023u) / 1024.f - 0.5f);
  }
}

bool isHalf(DataType t) { return t == DataType::kHalf; }

}  // namespace

void unary(UnaryOp op, DataType t, const void* x, void* y, int64_t n, float a, float b, cudaStream_t s) {
  if (n == 0) return;
  if (isHalf(t))
    unaryKernel<<<blocksFor(n), kBlock, 0, s>>>(op, static_cast<const __half*>(x), static_cast<__half*>(y), n, a, b);
  else
    unaryKernel<<<blocksFor(n), kBlock, 0, s>>>(op, static_cast<const float*>(x), static_cast<float*>(y), n, a, b);
}

void binary(BinaryOp op, DataType t, const void* a, const void* b, void* y, int64_t n, const Broadcast& bc, bool same,
            cudaStream_t s) {
  if (n == 0) return;
  if (isHalf(t)) {
    auto *pa = static_cast<const __half*>(a), *pb = static_cast<const __half*>(b);
    auto* py = static_cast<__half*>(y);
    if (same) binarySameKernel<<<blocksFor(n), kBlock, 0, s>>>(op, pa, pb, py, n);
    else binaryBroadcastKernel<<<blocksFor(n), kBlock, 0, s>>>(op, pa, pb, py, n, bc);
  } else {
    auto *pa = static_cast<const float*>(a), *pb = static_cast<const float*>(b);
    auto* py = static_cast<float*>(y);
    if (same) binarySameKernel<<<blocksFor(n), kBlock, 0, s>>>(op, pa, pb, py, n);
    else binaryBroadcastKernel<<<blocksFor(n), kBlock, 0, s>>>(op, pa, pb, py, n, bc);
  }
}

void cast(DataType from, const void* x, DataType to, void* y, int64_t n, cudaStream_t s) {
  if (n == 0) return;
  if (from == DataType::kFloat && to == DataType::kHalf)
    floatToHalfKernel<<<blocksFor(n), kBlock, 0, s>>>(static_cast<const float*>(x), static_cast<__half*>(y), n);
  else if (from == DataType::kHalf && to == DataType::kFloat)
    halfToFloatKernel<<<blocksFor(n), kBlock, 0, s>>>(static_cast<const __half*>(x), static_cast<float*>(y), n);
  else
    castKernel<<<blocksFor(n), kBlock, 0, s>>>(from, x, to, y, n);
}

void biasActivation(DataType t, void* y, const void* bias, const void* z, int64_t n, int64_t channels, int64_t inner,
                    bool channels_last, bool act_on, UnaryOp op, float a, float b, cudaStream_t s) {
  if (n == 0) return;
  const Act act{act_on, op, a, b};
  const unsigned g = blocksFor(n);
  const bool small = n < (int64_t{1} << 30);  // headroom for the grid-stride step
  if (isHalf(t)) {
    auto *py = static_cast<__half*>(y);
    auto *pb = static_cast<const __half*>(bias), *pz = static_cast<const __half*>(z);
    if (small)
      biasActivationKernel<__half, uint32_t><<<g, kBlock, 0, s>>>(py, pb, pz, static_cast<uint32_t>(n), static_cast<uint32_t>(channels),
                                                                static_cast<uint32_t>(inner), channels_last, act);
    else
      biasActivationKernel<__half, int64_t><<<g, kBlock, 0, s>>>(py, pb, pz, n, channels, inner, channels_last, act);
  } else {
    auto *py = static_cast<float*>(y);
    auto *pb = static_cast<const float*>(bias), *pz = static_cast<const float*>(z);
    if (small)
      biasActivationKernel<float, uint32_t><<<g, kBlock, 0, s>>>(py, pb, pz, static_cast<uint32_t>(n), static_cast<uint32_t>(channels),
                                                               static_cast<uint32_t>(inner), channels_last, act);
    else
      biasActivationKernel<float, int64_t><<<g, kBlock, 0, s>>>(py, pb, pz, n, channels, inner, channels_last, act);
  }
}

namespace {
template <typename T>
void batchNormT(const void* x, void* y, DataType pt, const void* scale, const void* bias, const void* mean,
                const void* var, float eps, int64_t n, int64_t channels, int64_t inner, bool cl, cudaStream_t s) {
  auto* px = static_cast<const T*>(x);
  auto* py = static_cast<T*>(y);
  if (pt == DataType::kHalf)
    batchNormKernel<<<blocksFor(n), kBlock, 0, s>>>(px, py, static_cast<const __half*>(scale), static_cast<const __half*>(bias),
                                                     static_cast<const __half*>(mean), static_cast<const __half*>(var), eps, n,
                                                     channels, inner, cl);
  else
    batchNormKernel<<<blocksFor(n), kBlock, 0, s>>>(px, py, static_cast<const float*>(scale), static_cast<const float*>(bias),
                                                     static_cast<const float*>(mean), static_cast<const float*>(var), eps, n,
                                                     channels, inner, cl);
}
}  // namespace

void batchNorm(DataType t, const void* x, void* y, DataType pt, const void* scale, const void* bias, const void* mean,
               const void* var, float epsilon, int64_t n, int64_t channels, int64_t inner, bool channels_last,
               cudaStream_t s) {
  if (n == 0) return;
  if (isHalf(t)) batchNormT<__half>(x, y, pt, scale, bias, mean, var, epsilon, n, channels, inner, channels_last, s);
  else batchNormT<float>(x, y, pt, scale, bias, mean, var, epsilon, n, channels, inner, channels_last, s);
}

void fillPattern(DataType t, void* y, int64_t n, cudaStream_t s) {
  if (n == 0) return;
  if (t == DataType::kHalf) fillPatternKernel<<<blocksFor(n), kBlock, 0, s>>>(static_cast<__half*>(y), n);
  else if (t == DataType::kFloat) fillPatternKernel<<<blocksFor(n), kBlock, 0, s>>>(static_cast<float*>(y), n);
  else if (t == DataType::kInt8) fillInt8Pattern(y, n, s);  // conv_int8.cu
  else cudaMemsetAsync(y, 0, static_cast<size_t>(n) * dataTypeSize(t), s);
}

}  // namespace qrt::cuda::launch
