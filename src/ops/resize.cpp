// The resize family: Resize (opsets 10..19) and the deprecated Upsample (7, 9). Attributes and the
// output geometry are in resize_params.{h,cpp}; the kernel is src/backends/reference/resize.cpp.
#include "ops/op_table.h"
#include "ops/resize_params.h"

namespace qrt {

namespace {

// Input i as resize_params sees it at inference time: present unless omitted or known empty.
ResizeInput inferInput(const InferContext& ctx, int i) {
  ResizeInput r;
  if (i < 0 || !ctx.hasInput(static_cast<size_t>(i))) return r;
  const HostTensor* v = ctx.in_values[i];
  r.numel = v ? v->numel() : volume(ctx.in_dims[i]);
  r.present = r.numel != 0;
  r.dtype = ctx.in_types[i];
  r.data = v ? v->data() : nullptr;
  return r;
}

Status inferResize(InferContext& ctx) {
  QRT_ASSIGN_OR_RETURN(ResizeAttrs attrs, parseResizeAttrs(ctx.node));
  if (!ctx.hasInput(0)) return ctx.error("missing input 'X'");
  const Dims& in = ctx.in_dims[0];
  const ResizeInput scales = inferInput(ctx, attrs.scales_input);
  const ResizeInput sizes = inferInput(ctx, attrs.sizes_input);
  if (scales.present && scales.dtype != DataType::kFloat) return ctx.error("input 'scales' must be float");
  if (sizes.present && sizes.dtype != DataType::kInt64) return ctx.error("input 'sizes' must be int64");
  QRT_ASSIGN_OR_RETURN(std::optional<ResizeGeometry> g, resizeGeometry(ctx.node.describe(), attrs, in, scales, sizes));
  // Scales/sizes known only at run time: the rank is still that of X.
  ctx.setOutput(0, ctx.in_types[0], g ? g->out_dims : Dims(in.size(), -1));
  return Status::Ok();
}

const OpDef kResizeOps[] = {
    {"Resize", &inferResize},
    {"Upsample", &inferResize},
};

}  // namespace

std::span<const OpDef> resizeOps() { return kResizeOps; }

}  // namespace qrt
