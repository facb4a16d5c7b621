// The nn op family: its table, and the shape inference of Gemm, MatMul and BatchNormalization.
// Conv/ConvTranspose live in conv.cpp and the pools in pool.cpp; their shared window geometry in
// nn_params.cpp.
#include <algorithm>

#include "core/status_macros.h"
#include "ops/nn_ops.h"
#include "ops/op_table.h"
#include "ops/shape_util.h"

namespace qrt {

namespace {

// True when a and b are equal or one of them is unknown.
bool compatible(int64_t a, int64_t b) { return a < 0 || b < 0 || a == b; }

// Gemm (opsets 6..13): Y = alpha * A' * B' + beta * C, A' = transA ? A^T : A (M x K),
// B' = transB ? B^T : B (K x N); C broadcasts unidirectionally to (M, N) and is optional from
// opset 11 (opset 6's `broadcast` attribute only allowed what later opsets always allow).
Status inferGemm(InferContext& ctx) {
  if (!ctx.hasInput(0) || !ctx.hasInput(1)) return ctx.error("inputs A and B are required");
  const Dims& a = ctx.in_dims[0];
  const Dims& b = ctx.in_dims[1];
  if (a.size() != 2 || b.size() != 2)
    return ctx.error("A and B must be 2-D, got ", dimsToString(a), " and ", dimsToString(b));
  if (ctx.in_types[1] != ctx.in_types[0])
    return ctx.error("B has dtype ", dataTypeName(ctx.in_types[1]), " but A has ", dataTypeName(ctx.in_types[0]));
  bool ta = ctx.node.attrInt("transA", 0) != 0, tb = ctx.node.attrInt("transB", 0) != 0;
  int64_t m = ta ? a[1] : a[0], k = ta ? a[0] : a[1];
  int64_t kb = tb ? b[1] : b[0], n = tb ? b[0] : b[1];
  if (!compatible(k, kb))
    return ctx.error("inner dimensions differ: A ", dimsToString(a), (ta ? " (transposed)" : ""), ", B ",
                     dimsToString(b), (tb ? " (transposed)" : ""));
  if (ctx.hasInput(2)) {
    const Dims& c = ctx.in_dims[2];
    if (ctx.in_types[2] != ctx.in_types[0])
      return ctx.error("C has dtype ", dataTypeName(ctx.in_types[2]), " but A has ", dataTypeName(ctx.in_types[0]));
    if (c.size() > 2) return ctx.error("C must have rank <= 2, got ", dimsToString(c));
    Dims target{m, n};
    for (size_t i = 0; i < c.size(); ++i) {
      int64_t t = target[2 - c.size() + i];
      if (c[i] != 1 && !compatible(c[i], t))
        return ctx.error("C ", dimsToString(c), " does not broadcast to the output ", dimsToString(target));
    }
  }
  ctx.setOutput(0, ctx.in_types[0], {m, n});
  return Status::Ok();
}

// MatMul (opsets 1, 9, 13): numpy matmul. A 1-D A is a row vector and a 1-D B a column vector,
// whose unit dim is dropped from the result; the batch dims broadcast.
Status inferMatMul(InferContext& ctx) {
  if (!ctx.hasInput(0) || !ctx.hasInput(1)) return ctx.error("inputs A and B are required");
  Dims a = ctx.in_dims[0], b = ctx.in_dims[1];
  if (a.empty() || b.empty()) return ctx.error("inputs must have rank >= 1, got scalars");
  if (ctx.in_types[1] != ctx.in_types[0])
    return ctx.error("B has dtype ", dataTypeName(ctx.in_types[1]), " but A has ", dataTypeName(ctx.in_types[0]));
  bool a_vec = a.size() == 1, b_vec = b.size() == 1;
  if (a_vec) a.insert(a.begin(), 1);
  if (b_vec) b.push_back(1);
  if (!compatible(a.back(), b[b.size() - 2]))
    return ctx.error("inner dimensions differ: ", dimsToString(ctx.in_dims[0]), " x ", dimsToString(ctx.in_dims[1]));
  std::optional<Dims> batch = broadcastDims(Dims(a.begin(), a.end() - 2), Dims(b.begin(), b.end() - 2));
  if (!batch)
    return ctx.error("batch dimensions do not broadcast: ", dimsToString(ctx.in_dims[0]), " x ",
                     dimsToString(ctx.in_dims[1]));
  Dims out = *batch;
  if (!a_vec) out.push_back(a[a.size() - 2]);
  if (!b_vec) out.push_back(b.back());
  ctx.setOutput(0, ctx.in_types[0], out);
  return Status::Ok();
}

// BatchNormalization, inference form only: Y = (X - mean) / sqrt(var + epsilon) * scale + B.
// Opset 6 has is_test, opset 7 `spatial` (0: parameters per (C, D1, ...) element), opset 14
// training_mode, opset 15 lets scale/B and mean/var have their own float types. Training (and
// the running/saved statistics outputs it produces) is not supported.
Status inferBatchNormalization(InferContext& ctx) {
  for (size_t i = 0; i < 5; ++i)
    if (!ctx.hasInput(i)) return ctx.error("inputs X, scale, B, mean and var are required");
  if (ctx.node.attrInt("training_mode", 0) != 0)
    return ctx.unsupportedError("training_mode=1 is not supported (inference only; export the model in eval mode)");
  if (ctx.node.opset < 7 && ctx.node.hasAttr("is_test") && ctx.node.attrInt("is_test", 0) == 0)
    return ctx.unsupportedError("is_test=0 (training) is not supported (inference only)");
  for (size_t i = 1; i < ctx.numOutputs(); ++i)
    if (ctx.node.outputs[i])
      return ctx.unsupportedError("output ", i, " (running or saved mean/variance) is a training output; ",
                                  "only Y is supported");
  const Dims& x = ctx.in_dims[0];
  if (x.size() < 2) return ctx.error("input X must have rank >= 2 (N, C, ...), got ", dimsToString(x));
  int64_t c = x[1];
  int64_t per_sample = volume(Dims(x.begin() + 1, x.end()));  // C * D1 * ... (spatial=0 form)
  static const char* const kNames[] = {"X", "scale", "B", "mean", "var"};
  for (size_t i = 1; i < 5; ++i) {
    int64_t v = volume(ctx.in_dims[i]);
    if (v >= 0 && c >= 0 && v != c && v != per_sample)
      return ctx.error(kNames[i], " has shape ", dimsToString(ctx.in_dims[i]), "; expected ", c,
                       " values (one per channel)");
  }
  ctx.setOutput(0, ctx.in_types[0], x);
  return Status::Ok();
}

const OpDef kOps[] = {
    {"Conv", &inferConv},
    {"ConvTranspose", &inferConvTranspose},
    {"Gemm", &inferGemm},
    {"MatMul", &inferMatMul},
    {"BatchNormalization", &inferBatchNormalization},
    {"MaxPool", &inferMaxPool},
    {"AveragePool", &inferAveragePool},
    {"GlobalAveragePool", &inferGlobalPool},
    {"GlobalMaxPool", &inferGlobalPool},
};

}  // namespace

std::span<const OpDef> nnOps() { return kOps; }

}  // namespace qrt
