// Ops that only change the shape (Flatten, Reshape, Squeeze, Unsqueeze), repeat data along
// broadcast axes (Expand, Tile), or move blocks between channels and space (DepthToSpace,
// SpaceToDepth).
#include <algorithm>
#include <string>

#include "ops/shape_util.h"
#include "ops/tensor_ops.h"
#include "ops/tensor_params.h"

namespace qrt::tensor_ops {

namespace {

// Product of dims[b, e): 0 if any is 0 (even next to unknowns), -1 if any other is unknown.
int64_t product(const Dims& dims, size_t b, size_t e) {
  int64_t p = 1;
  bool unknown = false;
  for (size_t i = b; i < e; ++i) {
    if (dims[i] == 0) return 0;
    if (dims[i] < 0)
      unknown = true;
    else
      p *= dims[i];
  }
  return unknown ? -1 : p;
}

// Axes of Squeeze/Unsqueeze: the `axes` input from opset 13, the attribute before. nullopt when
// the input is present but its value is unknown; an empty vector when there are none.
std::optional<std::vector<int64_t>> squeezeAxes(const InferContext& ctx, bool* given) {
  if (ctx.node.opset >= 13 || ctx.hasInput(1)) {
    *given = ctx.hasInput(1);
    if (!*given) return std::vector<int64_t>{};
    return knownInts(ctx, 1);
  }
  *given = ctx.node.hasAttr("axes");
  return ctx.node.attrInts("axes");
}

}  // namespace

Status inferFlatten(InferContext& ctx) {
  if (!ctx.hasInput(0)) return ctx.error("input is required");
  const Dims& in = ctx.in_dims[0];
  const int64_t rank = static_cast<int64_t>(in.size());
  int64_t axis = ctx.node.attrInt("axis", 1);
  if (axis < -rank || axis > rank) return ctx.error("axis ", axis, " out of range for rank ", rank);
  if (axis < 0) axis += rank;
  ctx.setOutput(0, ctx.in_types[0], {product(in, 0, axis), product(in, axis, in.size())});
  return Status::Ok();
}

// Reshape's target shape: 0 copies the input dim at the same index (unless allowzero=1, where
// 0 is a real 0), -1 is inferred from the element count.
Status inferReshape(InferContext& ctx) {
  if (!ctx.hasInput(0)) return ctx.error("input is required");
  const Dims& in = ctx.in_dims[0];
  std::optional<std::vector<int64_t>> shape;
  if (ctx.hasInput(1)) {
    if (ctx.in_types[1] != DataType::kInt64) return ctx.error("shape must be int64");
    shape = knownInts(ctx, 1);
    if (!shape) {
      int64_t len = lengthOf(ctx.in_dims[1]);
      if (len < 0)
        return ctx.unsupportedError("the output rank depends on the length of the shape input, unknown before running");
      ctx.setOutput(0, ctx.in_types[0], unknownDims(len));
      return Status::Ok();
    }
  } else if (ctx.node.hasAttr("shape")) {  // Reshape-1
    shape = ctx.node.attrInts("shape");
  } else {
    return ctx.error("the shape input is required");
  }
  const bool allowzero = ctx.node.attrInt("allowzero", 0) != 0;
  Dims out(shape->begin(), shape->end());
  std::vector<bool> copied(out.size(), false);
  int64_t infer_at = -1;
  for (size_t i = 0; i < out.size(); ++i) {
    int64_t s = out[i];
    if (s == -1) {
      if (infer_at >= 0) return ctx.error("shape has more than one -1");
      infer_at = static_cast<int64_t>(i);
    } else if (s == 0 && !allowzero) {
      if (i >= in.size()) return ctx.error("shape[", i, "] = 0 copies a dim the input (rank ", in.size(), ") lacks");
      out[i] = in[i];
      copied[i] = true;
    } else if (s < 0) {
      return ctx.error("invalid dim ", s, " in shape");
    }
  }
  if (allowzero && infer_at >= 0)
    for (int64_t s : *shape)
      if (s == 0) return ctx.error("with allowzero=1, shape cannot hold both 0 and -1");

  // Dims copied through 0 appear on both sides, so they cancel: an unknown batch dim does not
  // stop [N, 3, 4] -> [0, -1] from giving [N, 12].
  Dims in_rest, out_rest;
  for (size_t i = 0; i < in.size(); ++i)
    if (!(i < copied.size() && copied[i])) in_rest.push_back(in[i]);
  for (size_t i = 0; i < out.size(); ++i)
    if (!copied[i] && static_cast<int64_t>(i) != infer_at) out_rest.push_back(out[i]);
  const int64_t in_vol = product(in_rest, 0, in_rest.size());
  const int64_t out_vol = product(out_rest, 0, out_rest.size());
  if (infer_at >= 0) {
    if (in_vol < 0 || out_vol < 0) {
      out[infer_at] = -1;
    } else if (out_vol == 0) {
      if (in_vol != 0) return ctx.error("cannot reshape ", dimsToString(in), " to ", dimsToString(*shape));
      return ctx.error("cannot infer the -1 dim of ", dimsToString(*shape), ": the other dims hold 0 elements");
    } else {
      if (in_vol % out_vol != 0) return ctx.error("cannot reshape ", dimsToString(in), " to ", dimsToString(*shape));
      out[infer_at] = in_vol / out_vol;
    }
  } else if (in_vol >= 0 && out_vol >= 0 && in_vol != out_vol) {
    return ctx.error("cannot reshape ", dimsToString(in), " to ", dimsToString(*shape));
  }
  ctx.setOutput(0, ctx.in_types[0], std::move(out));
  return Status::Ok();
}

Status inferSqueeze(InferContext& ctx) {
  if (!ctx.hasInput(0)) return ctx.error("input is required");
  const Dims& in = ctx.in_dims[0];
  const int64_t rank = static_cast<int64_t>(in.size());
  bool given = false;
  auto axes = squeezeAxes(ctx, &given);
  if (!axes) {
    int64_t len = lengthOf(ctx.in_dims[1]);
    if (len < 0) return ctx.unsupportedError("the output rank depends on the axes input, unknown before running");
    ctx.setOutput(0, ctx.in_types[0], unknownDims(rank - len));
    return Status::Ok();
  }
  std::vector<bool> drop(in.size(), false);
  if (!given || axes->empty()) {  // no axes (or an empty list, as ONNX Runtime reads it): drop every 1
    for (size_t i = 0; i < in.size(); ++i) {
      if (in[i] < 0)
        return ctx.unsupportedError("without axes the output rank depends on input dims unknown before running: ",
                                    dimsToString(in));
      drop[i] = in[i] == 1;
    }
  }
  for (int64_t a : *axes) {
    auto axis = normalizeAxis(a, rank);
    if (!axis || rank == 0) return ctx.error("axis ", a, " out of range for rank ", rank);
    if (drop[*axis]) return ctx.error("axis ", a, " is repeated");
    if (in[*axis] != 1 && in[*axis] != -1) return ctx.error("cannot squeeze axis ", a, " of size ", in[*axis]);
    drop[*axis] = true;
  }
  Dims out;
  for (size_t i = 0; i < in.size(); ++i)
    if (!drop[i]) out.push_back(in[i]);
  ctx.setOutput(0, ctx.in_types[0], std::move(out));
  return Status::Ok();
}

Status inferUnsqueeze(InferContext& ctx) {
  if (!ctx.hasInput(0)) return ctx.error("input is required");
  const Dims& in = ctx.in_dims[0];
  bool given = false;
  auto axes = squeezeAxes(ctx, &given);
  if (!axes) {
    int64_t len = lengthOf(ctx.in_dims[1]);
    if (len < 0) return ctx.unsupportedError("the output rank depends on the axes input, unknown before running");
    ctx.setOutput(0, ctx.in_types[0], unknownDims(static_cast<int64_t>(in.size()) + len));
    return Status::Ok();
  }
  if (!given) return ctx.error("axes are required");
  const int64_t out_rank = static_cast<int64_t>(in.size() + axes->size());
  std::vector<bool> inserted(static_cast<size_t>(out_rank), false);
  for (int64_t a : *axes) {
    auto axis = normalizeAxis(a, out_rank);
    if (!axis) return ctx.error("axis ", a, " out of range for output rank ", out_rank);
    if (inserted[*axis]) return ctx.error("axis ", a, " is repeated");
    inserted[*axis] = true;
  }
  Dims out;
  size_t next = 0;
  for (int64_t i = 0; i < out_rank; ++i) out.push_back(inserted[i] ? 1 : in[next++]);
  ctx.setOutput(0, ctx.in_types[0], std::move(out));
  return Status::Ok();
}

// Expand broadcasts both ways: the output is broadcast(input dims, shape).
Status inferExpand(InferContext& ctx) {
  if (!ctx.hasInput(0)) return ctx.error("input is required");
  QRT_RETURN_IF_ERROR(requireIndexInput(ctx, 1, "shape"));
  const Dims& in = ctx.in_dims[0];
  auto shape = knownInts(ctx, 1);
  if (!shape) {
    int64_t len = lengthOf(ctx.in_dims[1]);
    if (len < 0)
      return ctx.unsupportedError("the output rank depends on the length of the shape input, unknown before running");
    // Each output dim is the input's where that is > 1 (the shape may only say 1 or the same).
    Dims out = unknownDims(std::max<int64_t>(len, static_cast<int64_t>(in.size())));
    for (size_t i = 0; i < in.size(); ++i)
      if (in[i] > 1) out[out.size() - in.size() + i] = in[i];
    ctx.setOutput(0, ctx.in_types[0], std::move(out));
    return Status::Ok();
  }
  Dims target(shape->begin(), shape->end());
  for (int64_t d : target)
    if (d < 0) return ctx.error("negative dim in shape ", dimsToString(target));
  auto out = broadcastDims(in, target);
  if (!out) return ctx.error("cannot expand ", dimsToString(in), " to ", dimsToString(target));
  ctx.setOutput(0, ctx.in_types[0], std::move(*out));
  return Status::Ok();
}

Status inferTile(InferContext& ctx) {
  if (!ctx.hasInput(0)) return ctx.error("input is required");
  QRT_RETURN_IF_ERROR(requireIndexInput(ctx, 1, "repeats"));
  const Dims& in = ctx.in_dims[0];
  auto repeats = knownInts(ctx, 1);
  if (!repeats) {
    ctx.setOutput(0, ctx.in_types[0], unknownDims(static_cast<int64_t>(in.size())));
    return Status::Ok();
  }
  if (repeats->size() != in.size())
    return ctx.error("repeats has ", repeats->size(), " elements for an input of rank ", in.size());
  Dims out(in.size());
  for (size_t i = 0; i < in.size(); ++i) {
    if ((*repeats)[i] < 0) return ctx.error("negative repeat ", (*repeats)[i]);
    out[i] = in[i] < 0 ? ((*repeats)[i] == 0 ? 0 : -1) : in[i] * (*repeats)[i];
  }
  ctx.setOutput(0, ctx.in_types[0], std::move(out));
  return Status::Ok();
}

namespace {

// DepthToSpace / SpaceToDepth: NCHW input, a blocksize >= 1.
Result<int64_t> blocksize(const InferContext& ctx) {
  if (!ctx.hasInput(0)) return ctx.error("input is required");
  if (ctx.in_dims[0].size() != 4) return ctx.error("input must be 4-D (NCHW), got rank ", ctx.in_dims[0].size());
  const int64_t b = ctx.node.attrInt("blocksize", 0);
  if (b < 1) return ctx.error("attribute 'blocksize' must be >= 1");
  return b;
}

int64_t mulDim(int64_t d, int64_t f) { return d < 0 ? -1 : d * f; }

}  // namespace

Status inferDepthToSpace(InferContext& ctx) {
  QRT_ASSIGN_OR_RETURN(int64_t b, blocksize(ctx));
  const std::string mode = ctx.node.attrString("mode", "DCR");
  if (mode != "DCR" && mode != "CRD") return ctx.error("mode '", mode, "' (expected DCR or CRD)");
  const Dims& in = ctx.in_dims[0];
  if (in[1] >= 0 && in[1] % (b * b) != 0)
    return ctx.error("channels ", in[1], " not divisible by blocksize^2 = ", b * b);
  ctx.setOutput(0, ctx.in_types[0], {in[0], in[1] < 0 ? -1 : in[1] / (b * b), mulDim(in[2], b), mulDim(in[3], b)});
  return Status::Ok();
}

Status inferSpaceToDepth(InferContext& ctx) {
  QRT_ASSIGN_OR_RETURN(int64_t b, blocksize(ctx));
  const Dims& in = ctx.in_dims[0];
  for (int d = 2; d < 4; ++d)
    if (in[d] >= 0 && in[d] % b != 0)
      return ctx.error("dim ", d, " of size ", in[d], " not divisible by blocksize ", b);
  ctx.setOutput(0, ctx.in_types[0],
                {in[0], mulDim(in[1], b * b), in[2] < 0 ? -1 : in[2] / b, in[3] < 0 ? -1 : in[3] / b});
  return Status::Ok();
}

}  // namespace qrt::tensor_ops
