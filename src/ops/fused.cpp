// qrt's fused float layers (domain "qrt"), made by the fuse_conv_activation pass, never imported:
//
// FusedConv(X, W, B?, Z?)  y = act(conv(X, W) + B + Z)
//   Conv's attributes (auto_pad, dilations, group, kernel_shape, pads, strides) and the
//   activation attributes of fused_activation.h. Z (a residual) has the dtype of X and
//   broadcasts unidirectionally to y (the pass only fuses an Add that keeps y's shape).
//   qrt_x_cast = 1 (set by the CUDA builder, stem_input.cpp): X is any float type, rounded to
//   W's dtype as it is read, as a Cast before the node would; y and B have W's dtype.
// FusedConv(X, W, B?, Z?, y_scale, y_zero_point?)  y = QuantizeLinear(act(...), y_scale, y_zero_point)
//   (set by the CUDA builder for its stem kernel, stem_quantize.cpp): the float result, in W's
//   dtype, quantized per tensor; y is int8 / uint8 as the zero point (absent: uint8).
//   qrt_pool = 1 (set by the CUDA builder for its stem kernel, stem_pool.cpp): y is then
//   MaxPool(kernel 3x3, strides 2, pads 1) of that result, [N, M, (H' - 1) / 2 + 1, (W' - 1) / 2 + 1].
// FusedGemm(A, B, C?, Z?)  y = act(alpha * A' B' + beta * C + Z)
//   Gemm's attributes (transA, transB, alpha, beta) and the activation attributes. A may have
//   any rank >= 2 without transA ([..., K] x [K, N] -> [..., N], as MatMul with a 2-D B);
//   B is 2-D; C broadcasts to [rows of A, N] (rank <= 2); Z broadcasts to y.
// Each is exactly its unfused chain: the reference kernels round where the chain stored values.
#include "ops/fused_activation.h"
#include "ops/nn_ops.h"
#include "ops/op_table.h"

namespace qrt {

namespace {

bool compatible(int64_t a, int64_t b) { return a < 0 || b < 0 || a == b; }

// Optional input i (Z) of X's dtype broadcasting unidirectionally to `out`.
Status checkResidual(const InferContext& ctx, size_t i, const Dims& out) {
  if (!ctx.hasInput(i)) return Status::Ok();
  const Dims& z = ctx.in_dims[i];
  if (ctx.in_types[i] != ctx.in_types[0])
    return ctx.error("Z has dtype ", dataTypeName(ctx.in_types[i]), " but the input has ",
                     dataTypeName(ctx.in_types[0]));
  bool ok = z.size() <= out.size();
  for (size_t j = 0; ok && j < z.size(); ++j) {
    int64_t o = out[out.size() - z.size() + j];
    ok = z[j] == 1 || compatible(z[j], o);
  }
  if (!ok) return ctx.error("Z ", dimsToString(z), " does not broadcast to the output ", dimsToString(out));
  return Status::Ok();
}

Status inferFusedConv(InferContext& ctx) {
  if (ctx.node.attrInt("qrt_x_cast", 0) != 0 && ctx.hasInput(0) && ctx.hasInput(1)) {
    const DataType x = ctx.in_types[0];
    if (x != DataType::kFloat && x != DataType::kHalf && x != DataType::kBFloat16)
      return ctx.error("qrt_x_cast needs a float X, got ", dataTypeName(x));
    if (ctx.hasInput(3)) return ctx.error("qrt_x_cast takes no residual Z");
    ctx.in_types[0] = ctx.in_types[1];  // X as the convolution sees it
    Status s = inferConv(ctx);
    ctx.in_types[0] = x;
    QRT_RETURN_IF_ERROR(s);
    return readFusedActivation(ctx.node).status();
  }
  QRT_RETURN_IF_ERROR(inferConv(ctx));  // X, W, B and the window (inputs 3 on are not Conv's)
  QRT_RETURN_IF_ERROR(checkResidual(ctx, 3, ctx.out_dims[0]));
  return readFusedActivation(ctx.node).status();
}

// The quantized output of FusedConv (inputs 4, 5), on the float output inference gave.
Status quantizeFusedOutput(InferContext& ctx) {
  if (!ctx.hasInput(4)) return ctx.hasInput(5) ? ctx.error("y_zero_point without y_scale") : Status::Ok();
  if (ctx.in_types[4] != DataType::kFloat || volume(ctx.in_dims[4]) != 1) return ctx.error("y_scale must be one fp32 value");
  DataType q = DataType::kUInt8;
  if (ctx.hasInput(5)) {
    q = ctx.in_types[5];
    if ((q != DataType::kInt8 && q != DataType::kUInt8) || volume(ctx.in_dims[5]) != 1)
      return ctx.error("y_zero_point must be one int8 or uint8 value");
  }
  ctx.setOutput(0, q, ctx.out_dims[0]);
  return Status::Ok();
}

Status inferFusedConvMaybeQuantized(InferContext& ctx) {
  QRT_RETURN_IF_ERROR(inferFusedConv(ctx));
  QRT_RETURN_IF_ERROR(quantizeFusedOutput(ctx));
  if (ctx.node.attrInt("qrt_pool", 0) == 0) return Status::Ok();
  Dims y = ctx.out_dims[0];
  if (y.size() != 4) return ctx.error("qrt_pool needs a 2-D convolution");
  for (size_t i = 2; i < 4; ++i)
    if (y[i] >= 0) y[i] = (y[i] - 1) / 2 + 1;  // 3x3, stride 2, pad 1
  ctx.setOutput(0, ctx.out_types[0], y);
  return Status::Ok();
}

Status inferFusedGemm(InferContext& ctx) {
  if (!ctx.hasInput(0) || !ctx.hasInput(1)) return ctx.error("inputs A and B are required");
  const Dims& a = ctx.in_dims[0];
  const Dims& b = ctx.in_dims[1];
  const bool ta = ctx.node.attrInt("transA", 0) != 0, tb = ctx.node.attrInt("transB", 0) != 0;
  if (a.size() < 2 || (ta && a.size() != 2) || b.size() != 2)
    return ctx.error("A must have rank >= 2 (2 with transA) and B rank 2, got ", dimsToString(a), " and ",
                     dimsToString(b));
  if (ctx.in_types[1] != ctx.in_types[0])
    return ctx.error("B has dtype ", dataTypeName(ctx.in_types[1]), " but A has ", dataTypeName(ctx.in_types[0]));
  const int64_t k = ta ? a[0] : a.back(), kb = tb ? b[1] : b[0], n = tb ? b[0] : b[1];
  if (!compatible(k, kb))
    return ctx.error("inner dimensions differ: A ", dimsToString(a), (ta ? " (transposed)" : ""), ", B ",
                     dimsToString(b), (tb ? " (transposed)" : ""));
  Dims out = ta ? Dims{a[1], n} : Dims(a.begin(), a.end() - 1);
  if (!ta) out.push_back(n);
  if (ctx.hasInput(2)) {
    const Dims& c = ctx.in_dims[2];
    if (ctx.in_types[2] != ctx.in_types[0])
      return ctx.error("C has dtype ", dataTypeName(ctx.in_types[2]), " but A has ", dataTypeName(ctx.in_types[0]));
    // The rows are all of A's leading dims together.
    const int64_t rows = volume(Dims(out.begin(), out.end() - 1));
    const Dims target{rows, n};
    bool ok = c.size() <= 2;
    for (size_t i = 0; ok && i < c.size(); ++i) ok = c[i] == 1 || compatible(c[i], target[2 - c.size() + i]);
    if (!ok) return ctx.error("C ", dimsToString(c), " does not broadcast to [rows, N] = ", dimsToString(target));
  }
  QRT_RETURN_IF_ERROR(checkResidual(ctx, 3, out));
  QRT_RETURN_IF_ERROR(readFusedActivation(ctx.node).status());
  ctx.setOutput(0, ctx.in_types[0], out);
  return Status::Ok();
}

const OpDef kOps[] = {
    {"FusedConv", &inferFusedConvMaybeQuantized, kQrtDomain},
    {"FusedGemm", &inferFusedGemm, kQrtDomain},
};

}  // namespace

std::span<const OpDef> fusedOps() { return kOps; }

}  // namespace qrt
