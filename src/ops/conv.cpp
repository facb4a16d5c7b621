// Conv and ConvTranspose: attribute validation and shape inference (opsets 1 and 11; the two
// versions differ only in documentation). The geometry itself lives in nn_params.cpp.
#include "core/status_macros.h"
#include "ops/nn_ops.h"
#include "ops/nn_params.h"

namespace qrt {

namespace {

// X and W are required and share a dtype; an optional bias B (input 2) is 1-D with `channels`
// entries and the same dtype.
Status checkConvInputs(const InferContext& ctx, int64_t channels) {
  if (!ctx.hasInput(0) || !ctx.hasInput(1)) return ctx.error("inputs X and W are required");
  if (ctx.in_types[1] != ctx.in_types[0])
    return ctx.error("W has dtype ", dataTypeName(ctx.in_types[1]), " but X has ", dataTypeName(ctx.in_types[0]));
  if (!ctx.hasInput(2)) return Status::Ok();
  const Dims& b = ctx.in_dims[2];
  if (ctx.in_types[2] != ctx.in_types[0])
    return ctx.error("B has dtype ", dataTypeName(ctx.in_types[2]), " but X has ", dataTypeName(ctx.in_types[0]));
  if (b.size() != 1) return ctx.error("bias B must be 1-D, got ", dimsToString(b));
  if (b[0] >= 0 && channels >= 0 && b[0] != channels)
    return ctx.error("bias B has ", b[0], " entries for ", channels, " output channels");
  return Status::Ok();
}

// [N, channels, spatial...]
Dims outputDims(const Dims& x, int64_t channels, const Window& win) {
  Dims out{x[0], channels};
  out.insert(out.end(), win.out.begin(), win.out.end());
  return out;
}

}  // namespace

Status inferConv(InferContext& ctx) {
  if (!ctx.hasInput(0) || !ctx.hasInput(1)) return ctx.error("inputs X and W are required");
  int64_t m = ctx.in_dims[1].empty() ? -1 : ctx.in_dims[1][0];
  QRT_RETURN_IF_ERROR(checkConvInputs(ctx, m));
  QRT_ASSIGN_OR_RETURN(WindowAttrs a, readWindowAttrs(ctx.node));
  QRT_ASSIGN_OR_RETURN(Window win, convWindow(a, ctx.in_dims[0], ctx.in_dims[1]));
  ctx.setOutput(0, ctx.in_types[0], outputDims(ctx.in_dims[0], m, win));
  return Status::Ok();
}

Status inferConvTranspose(InferContext& ctx) {
  if (!ctx.hasInput(0) || !ctx.hasInput(1)) return ctx.error("inputs X and W are required");
  QRT_ASSIGN_OR_RETURN(WindowAttrs a, readWindowAttrs(ctx.node));
  const Dims& w = ctx.in_dims[1];
  // W is [C, M / group, k...].
  int64_t m = w.size() >= 2 && w[1] >= 0 ? w[1] * a.group : -1;
  QRT_RETURN_IF_ERROR(checkConvInputs(ctx, m));
  QRT_ASSIGN_OR_RETURN(Window win, convTransposeWindow(a, ctx.in_dims[0], w));
  ctx.setOutput(0, ctx.in_types[0], outputDims(ctx.in_dims[0], m, win));
  return Status::Ok();
}

}  // namespace qrt
