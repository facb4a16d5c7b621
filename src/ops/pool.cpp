// MaxPool, AveragePool, GlobalAveragePool, GlobalMaxPool: attribute validation and shape
// inference. Opset history: MaxPool 8 adds storage_order and the Indices output, 10 ceil_mode and
// dilations, 12 int8/uint8; AveragePool 7 adds count_include_pad, 10 ceil_mode, 19 dilations.
// Reading each attribute with its default covers every version.
#include "core/status_macros.h"
#include "ops/nn_ops.h"
#include "ops/nn_params.h"

namespace qrt {

namespace {

Result<Dims> poolOutputDims(InferContext& ctx) {
  if (!ctx.hasInput(0)) return ctx.error("input X is required");
  QRT_ASSIGN_OR_RETURN(WindowAttrs a, readWindowAttrs(ctx.node));
  QRT_ASSIGN_OR_RETURN(Window win, poolWindow(a, ctx.in_dims[0]));
  Dims out{ctx.in_dims[0][0], ctx.in_dims[0][1]};
  out.insert(out.end(), win.out.begin(), win.out.end());
  return out;
}

}  // namespace

Status inferMaxPool(InferContext& ctx) {
  int64_t order = ctx.node.attrInt("storage_order", 0);
  if (order != 0 && order != 1) return ctx.error("attribute storage_order is ", order, " (must be 0 or 1)");
  QRT_ASSIGN_OR_RETURN(Dims out, poolOutputDims(ctx));
  ctx.setOutput(0, ctx.in_types[0], out);
  // Optional Indices: flat positions in X of each maximum.
  if (ctx.numOutputs() > 1 && ctx.node.outputs[1]) ctx.setOutput(1, DataType::kInt64, out);
  return Status::Ok();
}

Status inferAveragePool(InferContext& ctx) {
  QRT_ASSIGN_OR_RETURN(Dims out, poolOutputDims(ctx));
  ctx.setOutput(0, ctx.in_types[0], out);
  return Status::Ok();
}

Status inferGlobalPool(InferContext& ctx) {
  if (!ctx.hasInput(0)) return ctx.error("input X is required");
  const Dims& x = ctx.in_dims[0];
  if (x.size() < 2) return ctx.error("input X must have rank >= 2 (N, C, spatial...), got ", dimsToString(x));
  Dims out(x.size(), 1);
  out[0] = x[0];
  out[1] = x[1];
  ctx.setOutput(0, ctx.in_types[0], out);
  return Status::Ok();
}

}  // namespace qrt
