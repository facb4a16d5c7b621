// Pad: constant / reflect / edge (and opset 19's wrap). Pads are attributes before opset 11
// ("paddings" in Pad-1), inputs from 11; opset 18 adds an optional `axes` input.
#include <algorithm>
#include <string>

#include "ops/tensor_ops.h"
#include "ops/tensor_params.h"

namespace qrt::tensor_ops {

Status inferPad(InferContext& ctx) {
  if (!ctx.hasInput(0)) return ctx.error("input is required");
  const Dims& in = ctx.in_dims[0];
  const size_t rank = in.size();
  const std::string mode = ctx.node.attrString("mode", "constant");
  if (mode != "constant" && mode != "reflect" && mode != "edge" && mode != "wrap")
    return ctx.unsupportedError("mode '", mode, "'");

  HostTensor pads, axes;
  bool known = true, has_axes = false;
  if (ctx.node.opset < 11) {
    const char* name = ctx.node.opset < 2 ? "paddings" : "pads";
    if (!ctx.node.hasAttr(name)) return ctx.error("attribute '", name, "' is required");
    std::vector<int64_t> p = ctx.node.attrInts(name);
    pads = HostTensor::fromInt64(p, {static_cast<int64_t>(p.size())});
  } else {
    QRT_RETURN_IF_ERROR(requireIndexInput(ctx, 1, "pads"));
    if (ctx.hasInput(2) && ctx.in_types[2] != ctx.in_types[0])
      return ctx.error("constant_value must have the input's dtype");
    if (ctx.hasInput(3)) {
      QRT_RETURN_IF_ERROR(requireIndexInput(ctx, 3, "axes"));
      has_axes = true;
      if (ctx.in_values[3])
        axes = *ctx.in_values[3];
      else
        known = false;
    }
    if (ctx.in_values[1])
      pads = *ctx.in_values[1];
    else
      known = false;
  }
  if (!known) {
    ctx.setOutput(0, ctx.in_types[0], unknownDims(static_cast<int64_t>(rank)));
    return Status::Ok();
  }
  TensorView pv = pads.view(), av = axes.view();
  std::vector<int64_t> be(2 * rank);
  Status st = resolvePads(rank, pv, has_axes ? &av : nullptr, be);
  if (!st.ok()) return ctx.error(st.message());
  Dims out(rank);
  for (size_t d = 0; d < rank; ++d) {
    const int64_t b = be[d], e = be[d + rank];
    if (in[d] < 0) {
      out[d] = -1;
      continue;
    }
    out[d] = in[d] + b + e;
    if (out[d] < 0) return ctx.error("pads ", b, ", ", e, " crop more than axis ", d, " of size ", in[d], " holds");
    // Reflect/edge/wrap read the (cropped) input; an empty one has nothing to repeat.
    const int64_t kept = in[d] + std::min<int64_t>(b, 0) + std::min<int64_t>(e, 0);
    if (mode != "constant" && kept <= 0 && out[d] > 0)
      return ctx.error("mode '", mode, "' cannot pad axis ", d, ", which is empty");
  }
  ctx.setOutput(0, ctx.in_types[0], std::move(out));
  return Status::Ok();
}

}  // namespace qrt::tensor_ops
