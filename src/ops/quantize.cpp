// The quantize op family: QuantizeLinear and DequantizeLinear, the explicit Q/DQ pairs through
// which INT8 lives in the IR, and DynamicQuantizeLinear (uint8 with a range taken from x). Scales (and zero points) are per tensor (a scalar or one element)
// or, from opset 13, per axis (1-D, one per slice of x along `axis`, default 1).
#include <string>

#include "ops/op_table.h"
#include "ops/shape_util.h"

namespace qrt {

namespace {

bool isFloatType(DataType t) {
  return t == DataType::kFloat || t == DataType::kDouble || t == DataType::kHalf || t == DataType::kBFloat16;
}

bool isQuantizedType(DataType t) {
  return t == DataType::kInt8 || t == DataType::kUInt8 || t == DataType::kInt16 || t == DataType::kUInt16;
}

// Checks the inputs common to both ops: x, a float scale and an optional zero point whose shape
// matches the scale's, and a per-axis scale whose length matches x's dim at `axis`.
Status checkQuantParams(const InferContext& ctx) {
  if (ctx.numInputs() < 2 || ctx.numInputs() > 3) return ctx.error("expects 2 or 3 inputs, got ", ctx.numInputs());
  if (!ctx.hasInput(0) || !ctx.hasInput(1)) return ctx.error("x and scale are required");
  if (ctx.node.attrInt("block_size", 0) != 0) return ctx.unsupportedError("blocked quantization (block_size) is not supported");
  if (!isFloatType(ctx.in_types[1])) return ctx.error("scale must be floating-point, got ", dataTypeName(ctx.in_types[1]));
  const Dims& x = ctx.in_dims[0];
  const Dims& scale = ctx.in_dims[1];
  if (scale.size() > 1) return ctx.error("scale must be a scalar or 1-D, got shape ", dimsToString(scale));
  const bool per_axis = scale.size() == 1 && scale[0] != 1;
  if (per_axis) {
    if (ctx.node.opset < 13) return ctx.error("a 1-D scale (per-axis quantization) needs opset 13 or later");
    int64_t axis_attr = ctx.node.attrInt("axis", 1);
    std::optional<int64_t> axis = normalizeAxis(axis_attr, static_cast<int64_t>(x.size()));
    if (!axis || x.empty()) return ctx.error("axis ", axis_attr, " is out of range for x of shape ", dimsToString(x));
    if (x[*axis] >= 0 && scale[0] >= 0 && x[*axis] != scale[0])
      return ctx.error("scale has ", scale[0], " elements but x has ", x[*axis], " along axis ", *axis);
  }
  if (ctx.hasInput(2)) {
    int64_t ns = volume(scale), nz = volume(ctx.in_dims[2]);
    if (ns >= 0 && nz >= 0 && ns != nz)
      return ctx.error("zero point of shape ", dimsToString(ctx.in_dims[2]), " does not match scale of shape ",
                       dimsToString(scale));
  }
  return Status::Ok();
}

// y = saturate(round_half_even(x / scale) + zero_point); y has the zero point's dtype (uint8
// when it is absent).
Status inferQuantizeLinear(InferContext& ctx) {
  QRT_RETURN_IF_ERROR(checkQuantParams(ctx));
  DataType x = ctx.in_types[0];
  if (!isFloatType(x) && x != DataType::kInt32)
    return ctx.error("x must be floating-point or int32, got ", dataTypeName(x));
  DataType out = DataType::kUInt8;
  if (ctx.hasInput(2)) out = ctx.in_types[2];
  else if (int64_t dt = ctx.node.attrInt("output_dtype", 0); dt != 0) out = static_cast<DataType>(dt);
  if (!isQuantizedType(out))
    return ctx.unsupportedError("quantizing to ", dataTypeName(out), " is not supported (int8, uint8, int16, uint16 are)");
  ctx.setOutput(0, out, ctx.in_dims[0]);
  return Status::Ok();
}

// y = (x - zero_point) * scale, in the scale's dtype, or in output_dtype where that attribute is
// set (opset 23; the CUDA backend's FP16 step sets it on a DQ feeding fp16 layers, whose scale
// stays fp32).
Status inferDequantizeLinear(InferContext& ctx) {
  QRT_RETURN_IF_ERROR(checkQuantParams(ctx));
  DataType x = ctx.in_types[0];
  if (!isQuantizedType(x) && x != DataType::kInt32)
    return ctx.unsupportedError("dequantizing ", dataTypeName(x), " is not supported (int8, uint8, int16, uint16, int32 are)");
  if (ctx.hasInput(2) && ctx.in_types[2] != x)
    return ctx.error("zero point has dtype ", dataTypeName(ctx.in_types[2]), " but x has ", dataTypeName(x));
  DataType out = ctx.in_types[1];
  if (int64_t dt = ctx.node.attrInt("output_dtype", 0); dt != 0) {
    out = static_cast<DataType>(dt);
    if (!isFloatType(out)) return ctx.error("output_dtype must be a floating-point type, got ", dataTypeName(out));
  }
  ctx.setOutput(0, out, ctx.in_dims[0]);
  return Status::Ok();
}

// DynamicQuantizeLinear: uint8 y of x's shape, and the scalar scale (float) and zero point (uint8)
// it chose from x's range.
Status inferDynamicQuantizeLinear(InferContext& ctx) {
  if (ctx.numInputs() != 1 || !ctx.hasInput(0)) return ctx.error("expects 1 input, got ", ctx.numInputs());
  if (ctx.in_types[0] != DataType::kFloat) return ctx.error("x must be fp32, got ", dataTypeName(ctx.in_types[0]));
  ctx.setOutput(0, DataType::kUInt8, ctx.in_dims[0]);
  ctx.setOutput(1, DataType::kFloat, {});
  ctx.setOutput(2, DataType::kUInt8, {});
  return Status::Ok();
}

const OpDef kOps[] = {
    {"QuantizeLinear", &inferQuantizeLinear},
    {"DequantizeLinear", &inferDequantizeLinear},
    {"DynamicQuantizeLinear", &inferDynamicQuantizeLinear},
};

}  // namespace

std::span<const OpDef> quantizeOps() { return kOps; }

}  // namespace qrt
