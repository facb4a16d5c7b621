// Symmetric INT8 quantization as qrt's Q/DQ nodes do it: zero point 0, q = clamp(round(x/s)).
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "qrt/status.h"
#include "qrt/types.h"

namespace qrt::quant {

// The scale qrt puts into a QuantizeLinear node for a threshold amax: amax / 127, except that a
// scale that is 0 (all-zero tensor or channel), subnormal or not finite becomes 1.0, as ONNX
// Runtime's quantizer does: any scale represents zeros exactly, and 1.0 keeps x / scale finite.
// (The TensorRT cache keeps TensorRT's own value, 0, for an all-zero tensor.)
float qdqScaleFromAmax(float amax);

// ONNX QuantizeLinear to int8 with zero point 0, in float32: clamp(round_half_to_even(x / scale),
// -128, 127), using std::nearbyint in the default rounding mode. NaN maps to 0 (the zero point),
// like qrt's reference QuantizeLinear kernel.
int8_t quantizeInt8(float x, float scale);
void quantizeInt8(const float* x, size_t n, float scale, int8_t* out);

// Per-output-channel weight scales: qdqScaleFromAmax(max |w|) over every element whose index
// along `axis` is c, for each c (NaN ignored). axis may be negative (counted from the end).
Result<std::vector<float>> perChannelWeightScales(const float* w, const Dims& dims, int64_t axis);

}  // namespace qrt::quant
