// Launchers of the CUDA backend's INT8 kernels (quantize.cu), with plain arguments so the
// kernel classes in quantize_ops.cpp / qgemm.cpp need no device code. Like launch.h: every
// launcher queues work on `stream` and returns; the caller checks cudaGetLastError.
//
// Scales, zero points and biases are device pointers (the engine's constants, or a value
// computed on the device): kernels read them there, so a run never waits for the host.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

#include "backends/cuda/launch.h"
#include "qrt/types.h"

namespace qrt::cuda::launch {

// Which per-axis parameter element i of a tensor uses: c = (i / inner) % channels, in storage
// order (a channels-last 4-D tensor quantized along axis 1 has inner 1). channels 1: per tensor.
struct AxisIndex {
  int64_t channels = 1, inner = 1;
};

// QuantizeLinear: y = saturate(round_half_even(x / scale[c]) + zero_point[c]); x fp32 or fp16,
// y (and zero_point, which may be null: 0) int8 or uint8. NaN quantizes to the zero point.
void quantizeLinear(DataType xt, const void* x, const float* scale, DataType yt, const void* zero_point, void* y,
                    int64_t n, AxisIndex axis, cudaStream_t s);

// DequantizeLinear: y = (x - zero_point[c]) * scale[c]; x int8, uint8 or int32 (zero_point
// of x's type, or null), y fp32 or fp16.
void dequantizeLinear(DataType xt, const void* x, const float* scale, const void* zero_point, DataType yt, void* y,
                      int64_t n, AxisIndex axis, cudaStream_t s);

// The epilogue of qrt's fused integer ops (QGemm, QMatMul; docs/int8.md) over an int32
// accumulator of `rows` x `cols` (row-major; the column is the output channel):
//   v = act(float(acc) * (x_scale[0] * w_scale[col or 0]) + bias[col])   (bias may be null)
//   y = v (fp32) or saturate(round_half_even(v / y_scale[0])) (int8) when y_scale is given.
// act: 0 none, 1 relu, 2 clip to [lo, hi].
struct Int8Epilogue {
  const float* x_scale = nullptr;
  const float* w_scale = nullptr;
  bool w_per_channel = false;
  const float* bias = nullptr;
  int act = 0;
  float lo = 0.f, hi = 0.f;
  const float* y_scale = nullptr;  // null: fp32 output
};
void int8Epilogue(const int32_t* acc, void* y, int64_t rows, int64_t cols, const Int8Epilogue& e, cudaStream_t s);

// A plain int8 matrix product into int32, for the shapes cuBLASLt's INT8 kernels do not take
// (a reduction depth that is not a multiple of 4, a transposed A): over `batch` matrices,
//   acc[b][i][j] = sum_k a[b * a_batch + i * a_rs + k * a_cs] * w[b * w_batch + j * k_total + k]
// with w stored as [cols, k] rows (an output channel per row). acc is [batch][rows][cols].
struct Int8MatmulShape {
  int64_t batch = 1, rows = 0, cols = 0, k = 0;
  int64_t a_batch = 0, a_rs = 0, a_cs = 1, w_batch = 0;
};
void int8Matmul(const int8_t* a, const int8_t* w, int32_t* acc, const Int8MatmulShape& p, cudaStream_t s);

// qrt's AddQuantize (src/ops/int8_fused.cpp) over n elements of one layout, a, b and y of type t
// (fp32, or fp16: v is the sum rounded to fp16 once, as the fp16 Add writes it):
//   v = a + b (relu: max(v, 0)); y[i] = v when y is not null; q[i] = QuantizeLinear(v, scale, zero_point)
// with q (and zero_point, which may be null: 0) of type qt, int8 or uint8.
void addQuantize(DataType t, const void* a, const void* b, bool relu, const float* scale, DataType qt,
                 const void* zero_point, void* q, void* y, int64_t n, cudaStream_t s);

// int8 / uint8 max pooling (the geometry of launch.h's pools, NCHW or NHWC; NHWC 2-D pools with
// C % 4 == 0 move 4, 8 or 16 channels per load).
void maxPoolInt8(DataType t, const void* x, void* y, const PoolGeometry& g, cudaStream_t s);

}  // namespace qrt::cuda::launch
