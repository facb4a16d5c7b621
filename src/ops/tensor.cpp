// The tensor op family: the table, and the ops that move no data or make new data (Identity,
// Dropout, Shape, Size, ConstantOfShape, Range). The others live in reshape_like.cpp,
// movement.cpp, pad.cpp and index_ops.cpp; argument resolution shared with the kernels is in
// tensor_params.h.
#include <algorithm>
#include <cmath>

#include "ops/op_table.h"
#include "ops/tensor_ops.h"
#include "ops/tensor_params.h"

namespace qrt {

namespace tensor_ops {

std::optional<std::vector<int64_t>> knownInts(const InferContext& ctx, size_t i) {
  if (!ctx.hasInput(i) || ctx.in_values[i] == nullptr) return std::nullopt;
  return ctx.in_values[i]->toInt64Vector();
}

Status requireIndexInput(const InferContext& ctx, size_t i, const char* what, bool any_int, bool one_d) {
  if (!ctx.hasInput(i)) return ctx.error("input ", i, " (", what, ") is required");
  DataType t = ctx.in_types[i];
  bool ok = t == DataType::kInt64 || t == DataType::kInt32;
  if (any_int)
    ok = ok || t == DataType::kInt8 || t == DataType::kInt16 || t == DataType::kUInt8 || t == DataType::kUInt16 ||
         t == DataType::kUInt32 || t == DataType::kUInt64;
  if (!ok) return ctx.error(what, " must be an integer tensor, got ", dataTypeName(t));
  if (one_d && ctx.in_dims[i].size() > 1) return ctx.error(what, " must be 1-D, got rank ", ctx.in_dims[i].size());
  return Status::Ok();
}

Status inferIdentity(InferContext& ctx) {
  if (!ctx.hasInput(0)) return ctx.error("input is required");
  ctx.setOutput(0, ctx.in_types[0], ctx.in_dims[0]);
  return Status::Ok();
}

// Inference-only Dropout: the output is the input, the optional mask all true (all ones before
// opset 10, where the mask had the input's type). Training mode would need random numbers that
// no test could reproduce, so it is refused unless the ratio is known to be 0.
Status inferDropout(InferContext& ctx) {
  if (!ctx.hasInput(0)) return ctx.error("input is required");
  const ir::Node& n = ctx.node;
  if (n.opset < 7 && n.hasAttr("is_test") && n.attrInt("is_test", 1) == 0)
    return ctx.unsupportedError("is_test=0 (training) is not supported; qrt runs inference only");
  if (ctx.hasInput(2)) {
    if (ctx.in_types[2] != DataType::kBool) return ctx.error("training_mode must be bool");
    auto training = knownInts(ctx, 2);
    auto ratio =
        ctx.hasInput(1) && ctx.in_values[1] ? std::optional<double>(ctx.in_values[1]->getDouble(0)) : std::nullopt;
    bool ratio_zero = ctx.hasInput(1) ? (ratio && *ratio == 0.0) : false;
    if (training && !training->empty() && (*training)[0] != 0 && !ratio_zero)
      return ctx.unsupportedError("training_mode=true is not supported; qrt runs inference only");
  }
  ctx.setOutput(0, ctx.in_types[0], ctx.in_dims[0]);
  if (ctx.numOutputs() > 1) ctx.setOutput(1, n.opset < 10 ? ctx.in_types[0] : DataType::kBool, ctx.in_dims[0]);
  return Status::Ok();
}

Status inferShape(InferContext& ctx) {
  if (!ctx.hasInput(0)) return ctx.error("input is required");
  const int64_t rank = static_cast<int64_t>(ctx.in_dims[0].size());
  // Opset 15: start/end select a range of dims; negative values count from the end, then clamp.
  int64_t start = ctx.node.attrInt("start", 0), end = ctx.node.attrInt("end", rank);
  if (start < 0) start += rank;
  if (end < 0) end += rank;
  start = std::clamp<int64_t>(start, 0, rank);
  end = std::clamp<int64_t>(end, 0, rank);
  ctx.setOutput(0, DataType::kInt64, {std::max<int64_t>(0, end - start)});
  return Status::Ok();
}

Status inferSize(InferContext& ctx) {
  if (!ctx.hasInput(0)) return ctx.error("input is required");
  ctx.setOutput(0, DataType::kInt64, {});
  return Status::Ok();
}

Status inferConstantOfShape(InferContext& ctx) {
  QRT_RETURN_IF_ERROR(requireIndexInput(ctx, 0, "shape"));
  DataType type = DataType::kFloat;
  if (const ir::Attribute* a = ctx.node.attr("value")) {
    if (a->kind != ir::Attribute::Kind::kTensor || a->t.numel() != 1)
      return ctx.error("attribute 'value' must be a one-element tensor");
    type = a->t.dtype();
  }
  auto shape = knownInts(ctx, 0);
  if (!shape) {
    int64_t len = lengthOf(ctx.in_dims[0]);
    if (len < 0)
      return ctx.unsupportedError("the output rank depends on the length of the shape input, unknown before running");
    ctx.setOutput(0, type, unknownDims(len));
    return Status::Ok();
  }
  for (int64_t d : *shape)
    if (d < 0) return ctx.error("negative dimension ", d, " in the shape input");
  ctx.setOutput(0, type, Dims(shape->begin(), shape->end()));
  return Status::Ok();
}

// Number of elements of Range(start, limit, delta): max(ceil((limit - start) / delta), 0).
// Integers are computed exactly (doubles would round large int64 values).
static int64_t rangeCount(const HostTensor& start, const HostTensor& limit, const HostTensor& delta) {
  DataType t = start.dtype();
  if (t == DataType::kFloat || t == DataType::kDouble || t == DataType::kHalf || t == DataType::kBFloat16) {
    double n = std::ceil((limit.getDouble(0) - start.getDouble(0)) / delta.getDouble(0));
    return n > 0 ? static_cast<int64_t>(n) : 0;
  }
  int64_t s = start.getInt(0), l = limit.getInt(0), d = delta.getInt(0);
  int64_t span = l - s;
  if ((span > 0) != (d > 0) || span == 0) return 0;
  if (d < 0) {
    span = -span;
    d = -d;
  }
  return (span + d - 1) / d;
}

Status inferRange(InferContext& ctx) {
  for (size_t i = 0; i < 3; ++i) {
    if (!ctx.hasInput(i)) return ctx.error("Range needs inputs start, limit and delta");
    if (ctx.in_types[i] != ctx.in_types[0]) return ctx.error("start, limit and delta must have one dtype");
    if (volume(ctx.in_dims[i]) > 1) return ctx.error("input ", i, " must be a scalar");
  }
  DataType t = ctx.in_types[0];
  if (t != DataType::kFloat && t != DataType::kDouble && t != DataType::kInt16 && t != DataType::kInt32 &&
      t != DataType::kInt64)
    return ctx.unsupportedError("Range of ", dataTypeName(t));
  if (ctx.in_values[0] && ctx.in_values[1] && ctx.in_values[2]) {
    if (ctx.in_values[2]->getDouble(0) == 0) return ctx.error("delta is 0");
    ctx.setOutput(0, t, {rangeCount(*ctx.in_values[0], *ctx.in_values[1], *ctx.in_values[2])});
  } else {
    ctx.setOutput(0, t, {-1});
  }
  return Status::Ok();
}

}  // namespace tensor_ops

namespace {
using namespace tensor_ops;
const OpDef kTensorOps[] = {
    {"Identity", &inferIdentity},
    {"Dropout", &inferDropout},
    {"Shape", &inferShape},
    {"Size", &inferSize},
    {"ConstantOfShape", &inferConstantOfShape},
    {"Range", &inferRange},
    {"Flatten", &inferFlatten},
    {"Reshape", &inferReshape},
    {"Squeeze", &inferSqueeze},
    {"Unsqueeze", &inferUnsqueeze},
    {"Expand", &inferExpand},
    {"Tile", &inferTile},
    {"Transpose", &inferTranspose},
    {"Concat", &inferConcat},
    {"Split", &inferSplit},
    {"Gather", &inferGather},
    {"Slice", &inferSlice},
    {"Pad", &inferPad},
    {"DepthToSpace", &inferDepthToSpace},
    {"SpaceToDepth", &inferSpaceToDepth},
    {"GatherElements", &inferGatherElements},
    {"GatherND", &inferGatherND},
    {"ScatterElements", &inferScatterElements},
    {"Scatter", &inferScatterElements},
    {"ScatterND", &inferScatterND},
    {"OneHot", &inferOneHot},
    {"Trilu", &inferTrilu},
    {"EyeLike", &inferEyeLike},
};
}  // namespace

std::span<const OpDef> tensorOps() { return kTensorOps; }

}  // namespace qrt
