// Ops driven by index tensors or index arithmetic: GatherElements, GatherND, ScatterElements
// (and its older name Scatter), ScatterND, OneHot, Trilu, EyeLike.
#include <algorithm>
#include <string>

#include "ops/shape_util.h"
#include "ops/tensor_ops.h"
#include "ops/tensor_params.h"

namespace qrt::tensor_ops {

namespace {

Status checkReduction(const InferContext& ctx) {
  const std::string r = ctx.node.attrString("reduction", "none");
  if (r != "none" && r != "add" && r != "mul" && r != "max" && r != "min")
    return ctx.unsupportedError("reduction '", r, "'");
  if (r != "none" && ctx.in_types[0] == DataType::kBool) return ctx.unsupportedError("reduction '", r, "' on bool");
  return Status::Ok();
}

}  // namespace

Status inferGatherElements(InferContext& ctx) {
  if (!ctx.hasInput(0)) return ctx.error("input is required");
  QRT_RETURN_IF_ERROR(requireIndexInput(ctx, 1, "indices", false, /*one_d=*/false));
  const int64_t rank = static_cast<int64_t>(ctx.in_dims[0].size());
  if (rank == 0 || static_cast<int64_t>(ctx.in_dims[1].size()) != rank)
    return ctx.error("data and indices must have one rank (>= 1), got ", rank, " and ", ctx.in_dims[1].size());
  const int64_t a = ctx.node.attrInt("axis", 0);
  if (!normalizeAxis(a, rank)) return ctx.error("axis ", a, " out of range for rank ", rank);
  ctx.setOutput(0, ctx.in_types[0], ctx.in_dims[1]);
  return Status::Ok();
}

// GatherND: each innermost row of `indices` (k values) addresses a slice of data; with
// batch_dims = b, the first b dims of data and indices are matched, not indexed.
Status inferGatherND(InferContext& ctx) {
  if (!ctx.hasInput(0)) return ctx.error("input is required");
  if (!ctx.hasInput(1) || ctx.in_types[1] != DataType::kInt64) return ctx.error("indices must be int64");
  const Dims& data = ctx.in_dims[0];
  const Dims& idx = ctx.in_dims[1];
  const int64_t r = static_cast<int64_t>(data.size()), q = static_cast<int64_t>(idx.size());
  const int64_t b = ctx.node.attrInt("batch_dims", 0);
  if (r < 1 || q < 1) return ctx.error("data and indices must have rank >= 1");
  if (b < 0 || b >= std::min(r, q)) return ctx.error("batch_dims ", b, " must be below both ranks");
  const int64_t k = idx.back();
  if (k < 0) return ctx.unsupportedError("the output rank depends on the last dim of indices, unknown before running");
  if (k < 1 || b + k > r) return ctx.error("indices address ", k, " dims of data (rank ", r, ", batch_dims ", b, ")");
  for (int64_t i = 0; i < b; ++i)
    if (data[i] >= 0 && idx[i] >= 0 && data[i] != idx[i]) return ctx.error("batch dim ", i, " differs");
  Dims out(idx.begin(), idx.end() - 1);
  out.insert(out.end(), data.begin() + b + k, data.end());
  ctx.setOutput(0, ctx.in_types[0], std::move(out));
  return Status::Ok();
}

Status inferScatterElements(InferContext& ctx) {
  if (!ctx.hasInput(0) || !ctx.hasInput(2)) return ctx.error("data, indices and updates are required");
  QRT_RETURN_IF_ERROR(requireIndexInput(ctx, 1, "indices", false, /*one_d=*/false));
  QRT_RETURN_IF_ERROR(checkReduction(ctx));
  const int64_t rank = static_cast<int64_t>(ctx.in_dims[0].size());
  if (rank == 0 || static_cast<int64_t>(ctx.in_dims[1].size()) != rank ||
      ctx.in_dims[2].size() != ctx.in_dims[1].size())
    return ctx.error("data, indices and updates must have one rank (>= 1)");
  if (ctx.in_types[2] != ctx.in_types[0]) return ctx.error("updates must have the data's dtype");
  const int64_t a = ctx.node.attrInt("axis", 0);
  if (!normalizeAxis(a, rank)) return ctx.error("axis ", a, " out of range for rank ", rank);
  ctx.setOutput(0, ctx.in_types[0], ctx.in_dims[0]);
  return Status::Ok();
}

Status inferScatterND(InferContext& ctx) {
  if (!ctx.hasInput(0) || !ctx.hasInput(2)) return ctx.error("data, indices and updates are required");
  if (!ctx.hasInput(1) || ctx.in_types[1] != DataType::kInt64) return ctx.error("indices must be int64");
  QRT_RETURN_IF_ERROR(checkReduction(ctx));
  if (ctx.in_types[2] != ctx.in_types[0]) return ctx.error("updates must have the data's dtype");
  const Dims& idx = ctx.in_dims[1];
  if (idx.empty() || ctx.in_dims[0].empty()) return ctx.error("data and indices must have rank >= 1");
  if (idx.back() > static_cast<int64_t>(ctx.in_dims[0].size()))
    return ctx.error("indices address ", idx.back(), " dims of a rank-", ctx.in_dims[0].size(), " tensor");
  ctx.setOutput(0, ctx.in_types[0], ctx.in_dims[0]);
  return Status::Ok();
}

// OneHot: output = indices' dims with `depth` inserted at `axis`; dtype of `values` ([off, on]).
Status inferOneHot(InferContext& ctx) {
  for (size_t i = 0; i < 3; ++i)
    if (!ctx.hasInput(i)) return ctx.error("indices, depth and values are required");
  if (volume(ctx.in_dims[1]) > 1) return ctx.error("depth must hold one value");
  if (volume(ctx.in_dims[2]) >= 0 && volume(ctx.in_dims[2]) != 2) return ctx.error("values must hold two elements");
  if (dataTypeSize(ctx.in_types[0]) == 0 || ctx.in_types[0] == DataType::kBool)
    return ctx.error("indices must be numeric");
  const Dims& in = ctx.in_dims[0];
  const int64_t rank = static_cast<int64_t>(in.size()) + 1;
  const int64_t a = ctx.node.attrInt("axis", -1);
  auto axis = normalizeAxis(a, rank);
  if (!axis) return ctx.error("axis ", a, " out of range for output rank ", rank);
  int64_t depth = -1;
  if (ctx.in_values[1]) {
    depth = static_cast<int64_t>(ctx.in_values[1]->getDouble(0));
    if (depth < 1) return ctx.error("depth ", depth, " must be positive");
  }
  Dims out(in.begin(), in.begin() + *axis);
  out.push_back(depth);
  out.insert(out.end(), in.begin() + *axis, in.end());
  ctx.setOutput(0, ctx.in_types[2], std::move(out));
  return Status::Ok();
}

Status inferTrilu(InferContext& ctx) {
  if (!ctx.hasInput(0)) return ctx.error("input is required");
  if (ctx.in_dims[0].size() < 2) return ctx.error("input must have rank >= 2");
  if (ctx.hasInput(1)) QRT_RETURN_IF_ERROR(requireIndexInput(ctx, 1, "k"));
  ctx.setOutput(0, ctx.in_types[0], ctx.in_dims[0]);
  return Status::Ok();
}

Status inferEyeLike(InferContext& ctx) {
  if (!ctx.hasInput(0)) return ctx.error("input is required");
  if (ctx.in_dims[0].size() != 2) return ctx.error("input must be 2-D");
  DataType t = ctx.in_types[0];
  if (ctx.node.hasAttr("dtype")) t = static_cast<DataType>(ctx.node.attrInt("dtype", 1));
  if (dataTypeSize(t) == 0) return ctx.unsupportedError("dtype ", dataTypeName(t));
  ctx.setOutput(0, t, ctx.in_dims[0]);
  return Status::Ok();
}

}  // namespace qrt::tensor_ops
