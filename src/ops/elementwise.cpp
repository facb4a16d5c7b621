// The elementwise op family: unary activations and math, broadcasting binary arithmetic,
// comparison and logic, Where, the variadic Min/Max/Sum/Mean, Clip, Cast and CastLike.
// Shape inference validates attributes and dtypes; the output has the broadcast shape of the
// inputs (numpy rules, -1 where a dim is unknown) and the dtype the op defines.
#include <string>

#include "ops/op_table.h"
#include "ops/shape_util.h"

namespace qrt {

namespace {

bool isFloatType(DataType t) {
  return t == DataType::kFloat || t == DataType::kDouble || t == DataType::kHalf || t == DataType::kBFloat16;
}

// Checks that the node has between lo and hi inputs and that the first `required` are present.
Status checkInputs(const InferContext& ctx, size_t lo, size_t hi, size_t required) {
  if (ctx.numInputs() < lo || ctx.numInputs() > hi)
    return ctx.error("expects ", lo == hi ? std::to_string(lo) : strCat(lo, " to ", hi), " inputs, got ",
                     ctx.numInputs());
  for (size_t i = 0; i < required; ++i)
    if (!ctx.hasInput(i)) return ctx.error("input ", i, " is required");
  return Status::Ok();
}

// All inputs in [first, first + count) have the same dtype; returns it.
Result<DataType> sameType(const InferContext& ctx, size_t first, size_t count) {
  DataType t = ctx.in_types[first];
  for (size_t i = first + 1; i < first + count; ++i)
    if (ctx.in_types[i] != t)
      return ctx.error("input ", i, " has dtype ", dataTypeName(ctx.in_types[i]), " but input ", first, " has ",
                       dataTypeName(t));
  if (t == DataType::kString) return ctx.unsupportedError("string tensors are not supported");
  return t;
}

// The numpy broadcast of the dims of inputs [first, first + count).
Result<Dims> broadcastInputs(const InferContext& ctx, size_t first, size_t count) {
  Dims out = ctx.in_dims[first];
  for (size_t i = first + 1; i < first + count; ++i) {
    std::optional<Dims> b = broadcastDims(out, ctx.in_dims[i]);
    if (!b) return ctx.error("input shapes ", dimsToString(out), " and ", dimsToString(ctx.in_dims[i]), " do not broadcast");
    out = std::move(*b);
  }
  return out;
}

// Opset < 7 spelled broadcasting with attributes; only the numpy-compatible form is accepted.
Status checkLegacyBroadcast(const InferContext& ctx) {
  if (ctx.node.hasAttr("axis") && ctx.node.attrInt("broadcast", 0) != 0)
    return ctx.unsupportedError("legacy broadcasting with an 'axis' attribute (opset < 7)");
  return Status::Ok();
}

// ---- unary ----

// One input; the output has its dtype and dims.
Status inferUnary(InferContext& ctx) {
  QRT_RETURN_IF_ERROR(checkInputs(ctx, 1, 1, 1));
  if (ctx.in_types[0] == DataType::kString) return ctx.unsupportedError("string tensors are not supported");
  ctx.setOutput(0, ctx.in_types[0], ctx.in_dims[0]);
  return Status::Ok();
}

// A unary op defined for floating-point inputs only.
Status inferFloatUnary(InferContext& ctx) {
  QRT_RETURN_IF_ERROR(inferUnary(ctx));
  if (!isFloatType(ctx.in_types[0]))
    return ctx.error("expects a floating-point input, got ", dataTypeName(ctx.in_types[0]));
  return Status::Ok();
}

Status inferGelu(InferContext& ctx) {
  std::string approximate = ctx.node.attrString("approximate", "none");
  if (approximate != "none" && approximate != "tanh")
    return ctx.error("attribute approximate must be 'none' or 'tanh', got '", approximate, "'");
  return inferFloatUnary(ctx);
}

Status inferNot(InferContext& ctx) {
  QRT_RETURN_IF_ERROR(inferUnary(ctx));
  if (ctx.in_types[0] != DataType::kBool) return ctx.error("expects a bool input, got ", dataTypeName(ctx.in_types[0]));
  return Status::Ok();
}

// IsNaN, IsInf: float in, bool out.
Status inferFloatPredicate(InferContext& ctx) {
  QRT_RETURN_IF_ERROR(inferFloatUnary(ctx));
  ctx.setOutput(0, DataType::kBool, ctx.in_dims[0]);
  return Status::Ok();
}

// Clip: bounds are float attributes before opset 11, optional scalar inputs (omitted or named "")
// from opset 11 on, of the input's dtype.
Status inferClip(InferContext& ctx) {
  if (ctx.node.opset < 11) {
    QRT_RETURN_IF_ERROR(checkInputs(ctx, 1, 1, 1));
  } else {
    QRT_RETURN_IF_ERROR(checkInputs(ctx, 1, 3, 1));
    for (size_t i = 1; i < ctx.numInputs(); ++i) {
      if (!ctx.hasInput(i)) continue;
      if (ctx.in_types[i] != ctx.in_types[0])
        return ctx.error(i == 1 ? "min" : "max", " has dtype ", dataTypeName(ctx.in_types[i]), ", input has ",
                         dataTypeName(ctx.in_types[0]));
      int64_t n = volume(ctx.in_dims[i]);
      if (n >= 0 && n != 1) return ctx.error(i == 1 ? "min" : "max", " must be a scalar, got shape ", dimsToString(ctx.in_dims[i]));
    }
  }
  ctx.setOutput(0, ctx.in_types[0], ctx.in_dims[0]);
  return Status::Ok();
}

// ---- Cast, CastLike ----

Status checkCastTarget(const InferContext& ctx, DataType to, int64_t raw) {
  if (to == DataType::kString) return ctx.unsupportedError("cast to string is not supported");
  if (dataTypeSize(to) == 0) return ctx.unsupportedError("cast to ONNX dtype ", raw, " is not supported");
  return Status::Ok();
}

Status inferCast(InferContext& ctx) {
  QRT_RETURN_IF_ERROR(checkInputs(ctx, 1, 1, 1));
  const ir::Attribute* to_attr = ctx.node.attr("to");
  if (to_attr == nullptr) return ctx.error("attribute 'to' is required");
  DataType to = static_cast<DataType>(to_attr->i);
  QRT_RETURN_IF_ERROR(checkCastTarget(ctx, to, to_attr->i));
  if (ctx.in_types[0] == DataType::kString) return ctx.unsupportedError("cast from string is not supported");
  ctx.setOutput(0, to, ctx.in_dims[0]);
  return Status::Ok();
}

Status inferCastLike(InferContext& ctx) {
  QRT_RETURN_IF_ERROR(checkInputs(ctx, 2, 2, 2));
  DataType to = ctx.in_types[1];
  QRT_RETURN_IF_ERROR(checkCastTarget(ctx, to, static_cast<int64_t>(to)));
  if (ctx.in_types[0] == DataType::kString) return ctx.unsupportedError("cast from string is not supported");
  ctx.setOutput(0, to, ctx.in_dims[0]);
  return Status::Ok();
}

// ---- binary and variadic ----

// Two inputs of one dtype, broadcast; the output has that dtype.
Status inferBinary(InferContext& ctx) {
  QRT_RETURN_IF_ERROR(checkInputs(ctx, 2, 2, 2));
  QRT_RETURN_IF_ERROR(checkLegacyBroadcast(ctx));
  QRT_ASSIGN_OR_RETURN(DataType t, sameType(ctx, 0, 2));
  QRT_ASSIGN_OR_RETURN(Dims d, broadcastInputs(ctx, 0, 2));
  ctx.setOutput(0, t, std::move(d));
  return Status::Ok();
}

Status inferMod(InferContext& ctx) {
  QRT_RETURN_IF_ERROR(inferBinary(ctx));
  if (isFloatType(ctx.in_types[0]) && ctx.node.attrInt("fmod", 0) == 0)
    return ctx.error("floating-point inputs require fmod=1");
  return Status::Ok();
}

Status inferBitShift(InferContext& ctx) {
  std::string direction = ctx.node.attrString("direction", "");
  if (direction != "LEFT" && direction != "RIGHT")
    return ctx.error("attribute direction must be 'LEFT' or 'RIGHT', got '", direction, "'");
  return inferBinary(ctx);
}

// And, Or, Xor: bool inputs.
Status inferLogical(InferContext& ctx) {
  QRT_RETURN_IF_ERROR(inferBinary(ctx));
  if (ctx.in_types[0] != DataType::kBool) return ctx.error("expects bool inputs, got ", dataTypeName(ctx.in_types[0]));
  return Status::Ok();
}

// Equal, Less, Greater, ...: bool output.
Status inferCompare(InferContext& ctx) {
  QRT_RETURN_IF_ERROR(inferBinary(ctx));
  ctx.out_types[0] = DataType::kBool;
  return Status::Ok();
}

// Pow: the exponent may have another numeric dtype; the output has the base's.
Status inferPow(InferContext& ctx) {
  QRT_RETURN_IF_ERROR(checkInputs(ctx, 2, 2, 2));
  QRT_RETURN_IF_ERROR(checkLegacyBroadcast(ctx));
  for (size_t i = 0; i < 2; ++i)
    if (ctx.in_types[i] == DataType::kBool || ctx.in_types[i] == DataType::kString)
      return ctx.error("input ", i, " must be numeric, got ", dataTypeName(ctx.in_types[i]));
  QRT_ASSIGN_OR_RETURN(Dims d, broadcastInputs(ctx, 0, 2));
  ctx.setOutput(0, ctx.in_types[0], std::move(d));
  return Status::Ok();
}

// PRelu: slope broadcasts to X (one direction only); the output has X's shape.
Status inferPRelu(InferContext& ctx) {
  QRT_RETURN_IF_ERROR(inferBinary(ctx));
  const Dims& x = ctx.in_dims[0];
  const Dims& out = ctx.out_dims[0];
  bool same = out.size() == x.size();
  for (size_t i = 0; same && i < x.size(); ++i) same = x[i] == out[i] || x[i] == -1;
  if (!same)
    return ctx.error("slope of shape ", dimsToString(ctx.in_dims[1]), " does not broadcast to X of shape ", dimsToString(x));
  ctx.out_dims[0] = x;
  return Status::Ok();
}

// Min, Max, Sum, Mean: one or more inputs of one dtype, broadcast together.
Status inferVariadic(InferContext& ctx) {
  if (ctx.numInputs() < 1) return ctx.error("expects at least one input");
  for (size_t i = 0; i < ctx.numInputs(); ++i)
    if (!ctx.hasInput(i)) return ctx.error("input ", i, " is required");
  QRT_ASSIGN_OR_RETURN(DataType t, sameType(ctx, 0, ctx.numInputs()));
  QRT_ASSIGN_OR_RETURN(Dims d, broadcastInputs(ctx, 0, ctx.numInputs()));
  ctx.setOutput(0, t, std::move(d));
  return Status::Ok();
}

// Where(condition, X, Y): a bool condition; X and Y of one dtype; all three broadcast.
Status inferWhere(InferContext& ctx) {
  QRT_RETURN_IF_ERROR(checkInputs(ctx, 3, 3, 3));
  if (ctx.in_types[0] != DataType::kBool)
    return ctx.error("condition must be bool, got ", dataTypeName(ctx.in_types[0]));
  QRT_ASSIGN_OR_RETURN(DataType t, sameType(ctx, 1, 2));
  QRT_ASSIGN_OR_RETURN(Dims d, broadcastInputs(ctx, 0, 3));
  ctx.setOutput(0, t, std::move(d));
  return Status::Ok();
}

const OpDef kOps[] = {
    // activations
    {"Relu", &inferUnary},
    {"LeakyRelu", &inferFloatUnary},
    {"Sigmoid", &inferFloatUnary},
    {"HardSigmoid", &inferFloatUnary},
    {"HardSwish", &inferFloatUnary},
    {"Tanh", &inferFloatUnary},
    {"Erf", &inferFloatUnary},
    {"Gelu", &inferGelu},
    {"Elu", &inferFloatUnary},
    {"Selu", &inferFloatUnary},
    {"Celu", &inferFloatUnary},
    {"ThresholdedRelu", &inferFloatUnary},
    {"Softplus", &inferFloatUnary},
    {"Softsign", &inferFloatUnary},
    {"Shrink", &inferFloatUnary},
    {"PRelu", &inferPRelu},
    {"Clip", &inferClip},
    // unary math
    {"Sqrt", &inferFloatUnary},
    {"Exp", &inferFloatUnary},
    {"Log", &inferFloatUnary},
    {"Reciprocal", &inferFloatUnary},
    {"Floor", &inferFloatUnary},
    {"Ceil", &inferFloatUnary},
    {"Round", &inferFloatUnary},
    {"Sin", &inferFloatUnary},
    {"Cos", &inferFloatUnary},
    {"Tan", &inferFloatUnary},
    {"Asin", &inferFloatUnary},
    {"Acos", &inferFloatUnary},
    {"Atan", &inferFloatUnary},
    {"Sinh", &inferFloatUnary},
    {"Cosh", &inferFloatUnary},
    {"Asinh", &inferFloatUnary},
    {"Acosh", &inferFloatUnary},
    {"Atanh", &inferFloatUnary},
    {"Neg", &inferUnary},
    {"Abs", &inferUnary},
    {"Sign", &inferUnary},
    {"IsNaN", &inferFloatPredicate},
    {"IsInf", &inferFloatPredicate},
    // conversion
    {"Cast", &inferCast},
    {"CastLike", &inferCastLike},
    // binary arithmetic
    {"Add", &inferBinary},
    {"Sub", &inferBinary},
    {"Mul", &inferBinary},
    {"Div", &inferBinary},
    {"Mod", &inferMod},
    {"Pow", &inferPow},
    {"BitShift", &inferBitShift},
    // variadic
    {"Min", &inferVariadic},
    {"Max", &inferVariadic},
    {"Sum", &inferVariadic},
    {"Mean", &inferVariadic},
    // comparison and logic
    {"Equal", &inferCompare},
    {"Less", &inferCompare},
    {"LessOrEqual", &inferCompare},
    {"Greater", &inferCompare},
    {"GreaterOrEqual", &inferCompare},
    {"Not", &inferNot},
    {"And", &inferLogical},
    {"Or", &inferLogical},
    {"Xor", &inferLogical},
    // selection
    {"Where", &inferWhere},
};

}  // namespace

std::span<const OpDef> elementwiseOps() { return kOps; }

}  // namespace qrt
