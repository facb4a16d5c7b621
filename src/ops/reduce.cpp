// The reduce family: Reduce* (ten ops sharing one inference), ArgMax/ArgMin, Softmax, LogSoftmax,
// Hardmax, LayerNormalization and MeanVarianceNormalization.
// Kernels: src/backends/reference/{reduce,arg_max,softmax,layer_norm,mvn}.cpp.
#include <algorithm>

#include "ops/op_table.h"
#include "ops/reduce_axes.h"
#include "ops/shape_util.h"

namespace qrt {

Result<std::vector<bool>> reducedAxesMask(const std::string& who, int64_t rank, const std::vector<int64_t>& axes,
                                          bool noop_with_empty_axes) {
  std::vector<bool> mask(static_cast<size_t>(rank), false);
  if (axes.empty()) {
    if (!noop_with_empty_axes) std::fill(mask.begin(), mask.end(), true);
    return mask;
  }
  for (int64_t a : axes) {
    if (a < -rank || a >= rank) return invalidArgument(who, ": axis ", a, " is out of range for rank ", rank);
    int64_t k = a < 0 ? a + rank : a;
    if (mask[k]) return invalidArgument(who, ": axis ", a, " is given twice");
    mask[k] = true;
  }
  return mask;
}

Dims reducedDims(const Dims& in, const std::vector<bool>& mask, bool keepdims) {
  Dims out;
  for (size_t i = 0; i < in.size(); ++i) {
    if (!mask[i]) out.push_back(in[i]);
    else if (keepdims) out.push_back(1);
  }
  return out;
}

namespace {

Status inferReduce(InferContext& ctx) {
  const ir::Node& node = ctx.node;
  if (!ctx.hasInput(0)) return ctx.error("missing input 'data'");
  const Dims& in = ctx.in_dims[0];
  const int64_t rank = static_cast<int64_t>(in.size());
  const bool keepdims = node.attrInt("keepdims", 1) != 0;
  std::vector<int64_t> axes = node.attrInts("axes");
  if (reduceAxesFromInput(node)) {
    if (ctx.in_types[1] != DataType::kInt64) return ctx.error("input 'axes' must be int64");
    const Dims& ad = ctx.in_dims[1];
    if (ad.size() != 1) return ctx.error("input 'axes' must be 1-D, got ", dimsToString(ad));
    if (ctx.in_values[1]) {
      axes = ctx.in_values[1]->toInt64Vector();
    } else if (ad[0] != 0) {
      // Axes known only at run time: the rank is still known from their count.
      if (keepdims) {
        ctx.setOutput(0, ctx.in_types[0], Dims(in.size(), -1));
        return Status::Ok();
      }
      if (ad[0] < 0) return ctx.unsupportedError("the number of reduced axes is unknown, so is the output rank");
      ctx.setOutput(0, ctx.in_types[0], Dims(static_cast<size_t>(std::max<int64_t>(rank - ad[0], 0)), -1));
      return Status::Ok();
    }
  }
  QRT_ASSIGN_OR_RETURN(std::vector<bool> mask,
                       reducedAxesMask(node.describe(), rank, axes, node.attrInt("noop_with_empty_axes", 0) != 0));
  ctx.setOutput(0, ctx.in_types[0], reducedDims(in, mask, keepdims));
  return Status::Ok();
}

// Softmax / LogSoftmax / Hardmax: same type and shape; the axis must exist. Before opset 13 the input is
// coerced to 2-D at `axis` (default 1); from 13 the op runs along one axis (default -1).
Status inferSoftmax(InferContext& ctx) {
  if (!ctx.hasInput(0)) return ctx.error("missing input 'input'");
  const Dims& in = ctx.in_dims[0];
  const int64_t rank = static_cast<int64_t>(in.size());
  const bool coerce_2d = ctx.node.opset < 13;
  const int64_t axis = ctx.node.attrInt("axis", coerce_2d ? 1 : -1);
  // Coercion allows axis == rank (everything in the outer factor); a single axis does not.
  const int64_t hi = coerce_2d ? rank : rank - 1;
  if (axis < -rank || axis > hi || (rank == 0 && !coerce_2d))
    return ctx.error("axis ", axis, " is out of range for rank ", rank);
  ctx.setOutput(0, ctx.in_types[0], in);
  return Status::Ok();
}

// ArgMax / ArgMin: int64 indices, `axis` (default 0) reduced to 1 or dropped (keepdims).
Status inferArg(InferContext& ctx) {
  if (!ctx.hasInput(0)) return ctx.error("missing input 'data'");
  const Dims& in = ctx.in_dims[0];
  const int64_t rank = static_cast<int64_t>(in.size());
  const int64_t axis = ctx.node.attrInt("axis", 0);
  if (axis < -rank || axis >= rank) return ctx.error("axis ", axis, " is out of range for rank ", rank);
  std::vector<bool> mask(in.size(), false);
  mask[axis < 0 ? axis + rank : axis] = true;
  ctx.setOutput(0, DataType::kInt64, reducedDims(in, mask, ctx.node.attrInt("keepdims", 1) != 0));
  return Status::Ok();
}

// MeanVarianceNormalization: same type and shape; `axes` (default [0, 2, 3]) must be valid.
Status inferMvn(InferContext& ctx) {
  if (!ctx.hasInput(0)) return ctx.error("missing input 'X'");
  const Dims& in = ctx.in_dims[0];
  QRT_RETURN_IF_ERROR(reducedAxesMask(ctx.node.describe(), static_cast<int64_t>(in.size()),
                                      ctx.node.attrInts("axes", {0, 2, 3}), false)
                          .status());
  ctx.setOutput(0, ctx.in_types[0], in);
  return Status::Ok();
}

// LayerNormalization (opset 17): Y like X; Mean and InvStdDev of the stash type with the
// normalized axes kept as 1. Scale and B must broadcast (unidirectionally) to X.shape[axis:].
Status inferLayerNorm(InferContext& ctx) {
  if (!ctx.hasInput(0) || !ctx.hasInput(1)) return ctx.error("inputs 'X' and 'Scale' are required");
  const Dims& x = ctx.in_dims[0];
  const int64_t rank = static_cast<int64_t>(x.size());
  const int64_t axis_attr = ctx.node.attrInt("axis", -1);
  if (axis_attr < -rank || axis_attr >= rank) return ctx.error("axis ", axis_attr, " is out of range for rank ", rank);
  const int64_t axis = axis_attr < 0 ? axis_attr + rank : axis_attr;
  const int64_t stash = ctx.node.attrInt("stash_type", 1);
  const DataType u = static_cast<DataType>(stash);
  if (u != DataType::kFloat && u != DataType::kDouble && u != DataType::kBFloat16)
    return ctx.unsupportedError("stash_type ", stash, " (supported: float, double, bfloat16)");
  const Dims normalized(x.begin() + axis, x.end());
  for (size_t i = 1; i < 3; ++i) {
    if (!ctx.hasInput(i)) continue;
    if (ctx.in_types[i] != ctx.in_types[0]) return ctx.error("input ", i, " must have the type of X");
    std::optional<Dims> b = broadcastDims(normalized, ctx.in_dims[i]);
    bool ok = b && b->size() == normalized.size();
    for (size_t d = 0; ok && d < normalized.size(); ++d) ok = normalized[d] < 0 || (*b)[d] == normalized[d];
    if (!ok)
      return ctx.error("input ", i, " of shape ", dimsToString(ctx.in_dims[i]), " does not broadcast to ",
                       dimsToString(normalized));
  }
  ctx.setOutput(0, ctx.in_types[0], x);
  Dims stats(x.begin(), x.begin() + axis);
  stats.resize(x.size(), 1);
  for (size_t i = 1; i < ctx.numOutputs(); ++i) ctx.setOutput(i, u, stats);
  return Status::Ok();
}

const OpDef kReduceOps[] = {
    {"ReduceMean", &inferReduce},
    {"ReduceSum", &inferReduce},
    {"ReduceMax", &inferReduce},
    {"ReduceMin", &inferReduce},
    {"ReduceProd", &inferReduce},
    {"ReduceL1", &inferReduce},
    {"ReduceL2", &inferReduce},
    {"ReduceSumSquare", &inferReduce},
    {"ReduceLogSum", &inferReduce},
    {"ReduceLogSumExp", &inferReduce},
    {"ArgMax", &inferArg},
    {"ArgMin", &inferArg},
    {"Softmax", &inferSoftmax},
    {"LogSoftmax", &inferSoftmax},
    {"Hardmax", &inferSoftmax},
    {"LayerNormalization", &inferLayerNorm},
    {"MeanVarianceNormalization", &inferMvn},
};

}  // namespace

std::span<const OpDef> reduceOps() { return kReduceOps; }

}  // namespace qrt
