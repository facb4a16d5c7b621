// The quantized integer ops: attribute validation and shape inference.
//
// * ONNX's own integer ops (default domain, opset 10): ConvInteger and MatMulInteger (int32
//   accumulators of (x - x_zero_point) * (w - w_zero_point)), QLinearConv and QLinearMatMul
//   (the same, rescaled and requantized to uint8/int8 with a zero point).
// * qrt's internal fused ops (domain "qrt"), which the foldQdq pass makes out of
//   DQ -> Conv/Gemm/MatMul [-> Relu/Clip] [-> Q] (see docs/int8.md): QConv, QGemm and QMatMul.
//   Their integer operands are int8 with zero point 0; their scales are float inputs:
//     y = acc * (x_scale * w_scale[channel]) + bias[channel], then the activation, then
//     either float y, or int8 round_half_even(y / y_scale) saturated (when y_scale is given).
#include <algorithm>
#include <string>

#include "ops/nn_params.h"
#include "ops/op_table.h"
#include "ops/shape_util.h"

namespace qrt {

namespace {

bool isInt8Like(DataType t) { return t == DataType::kInt8 || t == DataType::kUInt8; }

// Volume of dims, or -1 when a dim is unknown.
int64_t countOf(const Dims& d) { return volume(d); }

// Input i must be present and int8/uint8.
Status checkInt8Like(const InferContext& ctx, size_t i, const char* name) {
  if (!ctx.hasInput(i)) return ctx.error("input ", name, " is required");
  if (!isInt8Like(ctx.in_types[i]))
    return ctx.unsupportedError("input ", name, " has dtype ", dataTypeName(ctx.in_types[i]),
                                "; only int8 and uint8 are supported");
  return Status::Ok();
}

// Input i must be present and int8 (qrt's fused ops: symmetric int8 only).
Status checkInt8(const InferContext& ctx, size_t i, const char* name) {
  if (!ctx.hasInput(i)) return ctx.error("input ", name, " is required");
  if (ctx.in_types[i] != DataType::kInt8)
    return ctx.error("input ", name, " must be int8, got ", dataTypeName(ctx.in_types[i]));
  return Status::Ok();
}

// An optional zero point (input i) of the dtype of its data (input data_i) with 1 or `count`
// elements (count -1: any). Absent is fine (zero).
Status checkZeroPoint(const InferContext& ctx, size_t i, size_t data_i, int64_t count, const char* name) {
  if (!ctx.hasInput(i)) return Status::Ok();
  if (ctx.in_types[i] != ctx.in_types[data_i])
    return ctx.error(name, " has dtype ", dataTypeName(ctx.in_types[i]), " but its data has ",
                     dataTypeName(ctx.in_types[data_i]));
  const Dims& d = ctx.in_dims[i];
  int64_t n = countOf(d);
  if (d.size() > 1 || (n >= 0 && n != 1 && (count < 0 || n != count)))
    return ctx.error(name, " of shape ", dimsToString(d), " must be a scalar",
                     count >= 0 ? strCat(" or have ", count, " elements") : std::string());
  return Status::Ok();
}

// A float32 scale (input i) with 1 or `count` elements (count -1: any 1-D length; 0: scalar only).
Status checkScale(const InferContext& ctx, size_t i, int64_t count, const char* name) {
  if (!ctx.hasInput(i)) return ctx.error("input ", name, " is required");
  if (ctx.in_types[i] != DataType::kFloat)
    return ctx.unsupportedError(name, " has dtype ", dataTypeName(ctx.in_types[i]), "; only float32 is supported");
  const Dims& d = ctx.in_dims[i];
  int64_t n = countOf(d);
  bool ok = d.size() <= 1 && (n < 0 || n == 1 || (count != 0 && (count < 0 || n == count)));
  if (!ok)
    return ctx.error(name, " of shape ", dimsToString(d), " must be a scalar",
                     count != 0 ? strCat(" or 1-D with ", count, " elements") : std::string());
  return Status::Ok();
}

// The output of a convolution of x by w ([N, M, spatial...]), geometry from the node's attributes.
Result<Dims> convOutputDims(const InferContext& ctx, size_t x_i, size_t w_i) {
  QRT_ASSIGN_OR_RETURN(WindowAttrs a, readWindowAttrs(ctx.node));
  const Dims& x = ctx.in_dims[x_i];
  const Dims& w = ctx.in_dims[w_i];
  QRT_ASSIGN_OR_RETURN(Window win, convWindow(a, x, w));
  Dims out{x[0], w[0]};
  out.insert(out.end(), win.out.begin(), win.out.end());
  return out;
}

// numpy matmul dims of a x b (1-D operands promoted and their unit dim dropped).
Result<Dims> matmulOutputDims(const InferContext& ctx, const Dims& a0, const Dims& b0) {
  Dims a = a0, b = b0;
  if (a.empty() || b.empty()) return ctx.error("matmul operands must have rank >= 1, got scalars");
  bool a_vec = a.size() == 1, b_vec = b.size() == 1;
  if (a_vec) a.insert(a.begin(), 1);
  if (b_vec) b.push_back(1);
  int64_t k = a.back(), kb = b[b.size() - 2];
  if (k >= 0 && kb >= 0 && k != kb)
    return ctx.error("inner dimensions differ: ", dimsToString(a0), " x ", dimsToString(b0));
  std::optional<Dims> batch = broadcastDims(Dims(a.begin(), a.end() - 2), Dims(b.begin(), b.end() - 2));
  if (!batch) return ctx.error("batch dimensions do not broadcast: ", dimsToString(a0), " x ", dimsToString(b0));
  Dims out = *batch;
  if (!a_vec) out.push_back(a[a.size() - 2]);
  if (!b_vec) out.push_back(b.back());
  return out;
}

// The rows dim (M) of a matmul operand a, -1 if unknown; 1 for a 1-D a.
int64_t matmulRows(const Dims& a) { return a.size() < 2 ? 1 : a[a.size() - 2]; }
int64_t matmulCols(const Dims& b) { return b.size() < 2 ? 1 : b.back(); }

// The fused activation attributes of qrt's ops.
Status checkActivation(const InferContext& ctx) {
  std::string act = ctx.node.attrString("activation", "none");
  if (act != "none" && act != "relu" && act != "clip" && act != "hard_swish")
    return ctx.error("unknown activation '", act, "' (none, relu, clip or hard_swish)");
  if (act == "clip" && ctx.node.attrFloat("clip_min", 0.f) > ctx.node.attrFloat("clip_max", 0.f))
    return ctx.error("clip_min ", ctx.node.attrFloat("clip_min", 0.f), " is above clip_max ",
                     ctx.node.attrFloat("clip_max", 0.f));
  // post_scale / post_shift: the scalar affine after a HardSwish (passes/fuse_qdq.h).
  if ((ctx.node.hasAttr("post_scale") || ctx.node.hasAttr("post_shift")) && act != "hard_swish")
    return ctx.error("post_scale and post_shift follow a hard_swish activation only (activation is '", act, "')");
  return Status::Ok();
}

// A fused op's optional float bias (input i) with `channels` elements.
Status checkBias(const InferContext& ctx, size_t i, int64_t channels) {
  if (!ctx.hasInput(i)) return Status::Ok();
  if (ctx.in_types[i] != DataType::kFloat)
    return ctx.error("bias has dtype ", dataTypeName(ctx.in_types[i]), "; expected float32");
  const Dims& b = ctx.in_dims[i];
  if (b.size() != 1 || (b[0] >= 0 && channels >= 0 && b[0] != channels))
    return ctx.error("bias of shape ", dimsToString(b), " must be 1-D with ", channels, " elements");
  return Status::Ok();
}

// int8 when the fused op requantizes (y_scale, input i, present); else fp32, or fp16 where
// output_dtype says so (the CUDA FP16 step's QConv feeding fp16 layers: the float result rounded
// once to fp16).
DataType fusedOutputType(const InferContext& ctx, size_t y_scale_i) {
  if (ctx.hasInput(y_scale_i)) return DataType::kInt8;
  return ctx.node.attrInt("output_dtype", 0) == static_cast<int64_t>(DataType::kHalf) ? DataType::kHalf
                                                                                     : DataType::kFloat;
}

// ---- ONNX integer ops ----------------------------------------------------------------------

// ConvInteger-10: x, w, x_zero_point (scalar), w_zero_point (scalar or per output channel).
Status inferConvInteger(InferContext& ctx) {
  QRT_RETURN_IF_ERROR(checkInt8Like(ctx, 0, "x"));
  QRT_RETURN_IF_ERROR(checkInt8Like(ctx, 1, "w"));
  int64_t m = ctx.in_dims[1].empty() ? -1 : ctx.in_dims[1][0];
  QRT_RETURN_IF_ERROR(checkZeroPoint(ctx, 2, 0, 1, "x_zero_point"));
  QRT_RETURN_IF_ERROR(checkZeroPoint(ctx, 3, 1, m, "w_zero_point"));
  QRT_ASSIGN_OR_RETURN(Dims out, convOutputDims(ctx, 0, 1));
  ctx.setOutput(0, DataType::kInt32, out);
  return Status::Ok();
}

// MatMulInteger-10: A, B, a_zero_point (scalar or per row of A), b_zero_point (scalar or per
// column of B).
Status inferMatMulInteger(InferContext& ctx) {
  QRT_RETURN_IF_ERROR(checkInt8Like(ctx, 0, "A"));
  QRT_RETURN_IF_ERROR(checkInt8Like(ctx, 1, "B"));
  QRT_RETURN_IF_ERROR(checkZeroPoint(ctx, 2, 0, matmulRows(ctx.in_dims[0]), "a_zero_point"));
  QRT_RETURN_IF_ERROR(checkZeroPoint(ctx, 3, 1, matmulCols(ctx.in_dims[1]), "b_zero_point"));
  QRT_ASSIGN_OR_RETURN(Dims out, matmulOutputDims(ctx, ctx.in_dims[0], ctx.in_dims[1]));
  ctx.setOutput(0, DataType::kInt32, out);
  return Status::Ok();
}

// QLinearConv-10: x, x_scale, x_zero_point, w, w_scale, w_zero_point, y_scale, y_zero_point,
// B (optional int32 bias, quantized with scale x_scale * w_scale and zero point 0). The
// output has y_zero_point's dtype.
Status inferQLinearConv(InferContext& ctx) {
  QRT_RETURN_IF_ERROR(checkInt8Like(ctx, 0, "x"));
  QRT_RETURN_IF_ERROR(checkInt8Like(ctx, 3, "w"));
  int64_t m = ctx.in_dims[3].empty() ? -1 : ctx.in_dims[3][0];
  QRT_RETURN_IF_ERROR(checkScale(ctx, 1, 0, "x_scale"));
  QRT_RETURN_IF_ERROR(checkZeroPoint(ctx, 2, 0, 1, "x_zero_point"));
  QRT_RETURN_IF_ERROR(checkScale(ctx, 4, m, "w_scale"));
  QRT_RETURN_IF_ERROR(checkZeroPoint(ctx, 5, 3, m, "w_zero_point"));
  QRT_RETURN_IF_ERROR(checkScale(ctx, 6, 0, "y_scale"));
  if (!ctx.hasInput(7)) return ctx.error("input y_zero_point is required");
  QRT_RETURN_IF_ERROR(checkInt8Like(ctx, 7, "y_zero_point"));
  QRT_RETURN_IF_ERROR(checkZeroPoint(ctx, 7, 7, 1, "y_zero_point"));
  if (ctx.hasInput(8)) {
    const Dims& b = ctx.in_dims[8];
    if (ctx.in_types[8] != DataType::kInt32) return ctx.error("B must be int32, got ", dataTypeName(ctx.in_types[8]));
    if (b.size() != 1 || (b[0] >= 0 && m >= 0 && b[0] != m))
      return ctx.error("B of shape ", dimsToString(b), " must be 1-D with ", m, " elements");
  }
  QRT_ASSIGN_OR_RETURN(Dims out, convOutputDims(ctx, 0, 3));
  ctx.setOutput(0, ctx.in_types[7], out);
  return Status::Ok();
}

// QLinearMatMul-10: a, a_scale, a_zero_point (scalar or per row), b, b_scale, b_zero_point
// (scalar or per column), y_scale, y_zero_point (scalars). The output has y_zero_point's dtype.
Status inferQLinearMatMul(InferContext& ctx) {
  QRT_RETURN_IF_ERROR(checkInt8Like(ctx, 0, "a"));
  QRT_RETURN_IF_ERROR(checkInt8Like(ctx, 3, "b"));
  int64_t rows = matmulRows(ctx.in_dims[0]), cols = matmulCols(ctx.in_dims[3]);
  QRT_RETURN_IF_ERROR(checkScale(ctx, 1, rows, "a_scale"));
  QRT_RETURN_IF_ERROR(checkZeroPoint(ctx, 2, 0, rows, "a_zero_point"));
  QRT_RETURN_IF_ERROR(checkScale(ctx, 4, cols, "b_scale"));
  QRT_RETURN_IF_ERROR(checkZeroPoint(ctx, 5, 3, cols, "b_zero_point"));
  QRT_RETURN_IF_ERROR(checkScale(ctx, 6, 0, "y_scale"));
  if (!ctx.hasInput(7)) return ctx.error("input y_zero_point is required");
  QRT_RETURN_IF_ERROR(checkInt8Like(ctx, 7, "y_zero_point"));
  QRT_RETURN_IF_ERROR(checkZeroPoint(ctx, 7, 7, 1, "y_zero_point"));
  QRT_ASSIGN_OR_RETURN(Dims out, matmulOutputDims(ctx, ctx.in_dims[0], ctx.in_dims[3]));
  ctx.setOutput(0, ctx.in_types[7], out);
  return Status::Ok();
}

// ---- qrt's fused ops -------------------------------------------------------------------------

// QConv: x_q [N, C, D...] int8, w_q [M, C/group, k...] int8, bias [M] float (optional),
// x_scale (scalar), w_scale (scalar or [M]), y_scale (optional scalar), z_q (optional int8
// residual of the output's shape, zero point 0) and z_scale (scalar, required with z_q); Conv's
// attributes plus activation / clip_min / clip_max. With z: y = act(acc * x_scale * w_scale[c]
// + bias[c] + z_scale * z_q) (passes/fuse_qconv_residual.h makes it). The CUDA backend may make z
// inside the node instead (backends/cuda/downsample_fuse.cpp): then z_q is absent and inputs 8-12
// are a 1x1 downsample QConv's x_q, w_q, bias, x_scale and w_scale (its y_scale is z_scale).
Status inferQConv(InferContext& ctx) {
  QRT_RETURN_IF_ERROR(checkInt8(ctx, 0, "x_q"));
  QRT_RETURN_IF_ERROR(checkInt8(ctx, 1, "w_q"));
  int64_t m = ctx.in_dims[1].empty() ? -1 : ctx.in_dims[1][0];
  QRT_RETURN_IF_ERROR(checkBias(ctx, 2, m));
  QRT_RETURN_IF_ERROR(checkScale(ctx, 3, 0, "x_scale"));
  QRT_RETURN_IF_ERROR(checkScale(ctx, 4, m, "w_scale"));
  if (ctx.hasInput(5)) QRT_RETURN_IF_ERROR(checkScale(ctx, 5, 0, "y_scale"));
  QRT_RETURN_IF_ERROR(checkActivation(ctx));
  QRT_ASSIGN_OR_RETURN(Dims out, convOutputDims(ctx, 0, 1));
  const bool downsample = ctx.hasInput(8);
  if (downsample) {
    if (ctx.hasInput(6) || !ctx.hasInput(7)) return ctx.error("a computed residual takes z_scale and no z_q");
    QRT_RETURN_IF_ERROR(checkInt8(ctx, 8, "ds_x_q"));
    QRT_RETURN_IF_ERROR(checkInt8(ctx, 9, "ds_w_q"));
    QRT_RETURN_IF_ERROR(checkBias(ctx, 10, m));
    QRT_RETURN_IF_ERROR(checkScale(ctx, 11, 0, "ds_x_scale"));
    QRT_RETURN_IF_ERROR(checkScale(ctx, 12, m, "ds_w_scale"));
    QRT_RETURN_IF_ERROR(checkScale(ctx, 7, 0, "z_scale"));
  } else if (ctx.hasInput(6) || ctx.hasInput(7)) {
    QRT_RETURN_IF_ERROR(checkInt8(ctx, 6, "z_q"));
    QRT_RETURN_IF_ERROR(checkScale(ctx, 7, 0, "z_scale"));
    const Dims& z = ctx.in_dims[6];
    bool same = z.size() == out.size();
    for (size_t i = 0; same && i < z.size(); ++i) same = z[i] < 0 || out[i] < 0 || z[i] == out[i];
    if (!same) return ctx.error("z_q of shape ", dimsToString(z), " must have the output's shape ", dimsToString(out));
  }
  ctx.setOutput(0, fusedOutputType(ctx, 5), out);
  return Status::Ok();
}

// QGemm: a_q int8 [..., K] (transA=1: 2-D [K, M]), w_q int8 [N, K] (already transposed to
// rows of output features), bias [N] float (optional), a_scale (scalar), w_scale (scalar or
// [N], alpha folded in), y_scale (optional scalar). Output [..., N] ([M, N] with transA).
Status inferQGemm(InferContext& ctx) {
  QRT_RETURN_IF_ERROR(checkInt8(ctx, 0, "a_q"));
  QRT_RETURN_IF_ERROR(checkInt8(ctx, 1, "w_q"));
  const Dims& a = ctx.in_dims[0];
  const Dims& w = ctx.in_dims[1];
  bool trans_a = ctx.node.attrInt("transA", 0) != 0;
  if (w.size() != 2) return ctx.error("w_q must be 2-D [N, K], got ", dimsToString(w));
  if (a.empty() || (trans_a && a.size() != 2))
    return ctx.error("a_q of shape ", dimsToString(a), trans_a ? " must be 2-D with transA" : " must have rank >= 1");
  int64_t k = trans_a ? a[0] : a.back(), n = w[0];
  if (k >= 0 && w[1] >= 0 && k != w[1])
    return ctx.error("inner dimensions differ: a_q ", dimsToString(a), (trans_a ? " (transposed)" : ""), ", w_q ",
                     dimsToString(w));
  QRT_RETURN_IF_ERROR(checkBias(ctx, 2, n));
  QRT_RETURN_IF_ERROR(checkScale(ctx, 3, 0, "a_scale"));
  QRT_RETURN_IF_ERROR(checkScale(ctx, 4, n, "w_scale"));
  if (ctx.hasInput(5)) QRT_RETURN_IF_ERROR(checkScale(ctx, 5, 0, "y_scale"));
  QRT_RETURN_IF_ERROR(checkActivation(ctx));
  Dims out = trans_a ? Dims{a[1], n} : Dims(a.begin(), a.end() - 1);
  if (!trans_a) out.push_back(n);
  ctx.setOutput(0, fusedOutputType(ctx, 5), out);
  return Status::Ok();
}

// QMatMul: a_q, b_q int8 (numpy matmul), a_scale, b_scale (scalars), y_scale (optional scalar).
Status inferQMatMul(InferContext& ctx) {
  QRT_RETURN_IF_ERROR(checkInt8(ctx, 0, "a_q"));
  QRT_RETURN_IF_ERROR(checkInt8(ctx, 1, "b_q"));
  QRT_RETURN_IF_ERROR(checkScale(ctx, 2, 0, "a_scale"));
  QRT_RETURN_IF_ERROR(checkScale(ctx, 3, 0, "b_scale"));
  if (ctx.hasInput(4)) QRT_RETURN_IF_ERROR(checkScale(ctx, 4, 0, "y_scale"));
  QRT_RETURN_IF_ERROR(checkActivation(ctx));
  QRT_ASSIGN_OR_RETURN(Dims out, matmulOutputDims(ctx, ctx.in_dims[0], ctx.in_dims[1]));
  ctx.setOutput(0, fusedOutputType(ctx, 4), out);
  return Status::Ok();
}

const OpDef kOps[] = {
    {"ConvInteger", &inferConvInteger},
    {"MatMulInteger", &inferMatMulInteger},
    {"QLinearConv", &inferQLinearConv},
    {"QLinearMatMul", &inferQLinearMatMul},
    {"QConv", &inferQConv, kQrtDomain},
    {"QGemm", &inferQGemm, kQrtDomain},
    {"QMatMul", &inferQMatMul, kQrtDomain},
};

}  // namespace

std::span<const OpDef> qrtOps() { return kOps; }

}  // namespace qrt
