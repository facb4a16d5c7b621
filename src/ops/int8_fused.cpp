// qrt's fused residual tail of INT8 networks, made by the CUDA backend's builder step
// (src/backends/cuda/fuse_add_quantize.cpp) and run by its kernel (quantize.cu):
//
//   AddQuantize(a, b, y_scale, y_zero_point?)  attribute relu (0/1)
//     -> q = QuantizeLinear(relu ? max(a + b, 0) : a + b, y_scale, y_zero_point)
//        [, y = relu ? max(a + b, 0) : a + b]   (second output, only when something else reads it)
//
// In ResNet-style INT8 graphs after foldQdq, a block ends with a float Add of the last
// convolution and the residual, a Relu, and the QuantizeLinear feeding the next block; the Relu
// output is also the next residual. One pass over a, b writing y and q moves 13 bytes per element
// where Add, Relu and QuantizeLinear moved 25. a and b have the same dims (no broadcast);
// y_scale is one fp32 value, y_zero_point one int8 / uint8 value (absent: uint8, as ONNX's Q).
//
//   MaxPoolQuantize(x, y_scale, y_zero_point?)  MaxPool's attributes (no Indices output)
//     -> QuantizeLinear(MaxPool(x), y_scale, y_zero_point)
//
// Made by passes::fuseMaxPoolQuantize for the CUDA backend: the INT8 stem's fp16 pool and the
// quantization of its output in one pass (x fp32 or fp16).
#include "ops/nn_ops.h"
#include "ops/op_table.h"

namespace qrt {

namespace {

// The output dtype of a quantization whose zero point is input `zp` (absent: uint8).
Result<DataType> quantizedType(InferContext& ctx, size_t scale, size_t zp) {
  if (!ctx.hasInput(scale) || ctx.in_types[scale] != DataType::kFloat || volume(ctx.in_dims[scale]) != 1)
    return ctx.error("y_scale must be one fp32 value");
  if (!ctx.hasInput(zp)) return DataType::kUInt8;
  const DataType q = ctx.in_types[zp];
  if ((q != DataType::kInt8 && q != DataType::kUInt8) || volume(ctx.in_dims[zp]) != 1)
    return ctx.error("y_zero_point must be one int8 or uint8 value");
  return q;
}

Status inferAddQuantize(InferContext& ctx) {
  if (!ctx.hasInput(0) || !ctx.hasInput(1) || !ctx.hasInput(2)) return ctx.error("needs a, b and y_scale");
  const DataType t = ctx.in_types[0];
  if ((t != DataType::kFloat && t != DataType::kHalf) || ctx.in_types[1] != t)
    return ctx.error("a and b must both be fp32 or fp16, got ", dataTypeName(t), " and ", dataTypeName(ctx.in_types[1]));
  if (ctx.in_dims[0] != ctx.in_dims[1])
    return ctx.error("a ", dimsToString(ctx.in_dims[0]), " and b ", dimsToString(ctx.in_dims[1]), " must have one shape");
  QRT_ASSIGN_OR_RETURN(DataType q, quantizedType(ctx, 2, 3));
  ctx.setOutput(0, q, ctx.in_dims[0]);
  if (ctx.numOutputs() > 1) ctx.setOutput(1, t, ctx.in_dims[0]);
  return Status::Ok();
}

Status inferMaxPoolQuantize(InferContext& ctx) {
  if (!ctx.hasInput(0)) return ctx.error("needs x");
  const DataType t = ctx.in_types[0];
  if (t != DataType::kFloat && t != DataType::kHalf) return ctx.error("x must be fp32 or fp16, got ", dataTypeName(t));
  if (ctx.numOutputs() != 1) return ctx.error("has one output (no Indices)");
  QRT_ASSIGN_OR_RETURN(DataType q, quantizedType(ctx, 1, 2));
  QRT_RETURN_IF_ERROR(inferMaxPool(ctx));  // the pool's window and output dims
  ctx.setOutput(0, q, ctx.out_dims[0]);
  return Status::Ok();
}

const OpDef kOps[] = {
    {"AddQuantize", &inferAddQuantize, kQrtDomain},
    {"MaxPoolQuantize", &inferMaxPoolQuantize, kQrtDomain},
};

}  // namespace

std::span<const OpDef> int8FusedOps() { return kOps; }

}  // namespace qrt
