// foldQdq's Gemm and MatMul rewrites.
//
// A Gemm, or a MatMul whose B is a constant 2-D weight, becomes QGemm: the weight is stored
// once, at build time, as int8 rows [N, K] (one row per output feature: the layout the integer
// loop reads contiguously), its scales as one fp32 per output feature with Gemm's alpha folded
// in, and Gemm's beta * C as a float bias [N]. A MatMul of two dequantized activations (per
// tensor) becomes QMatMul.
#include <algorithm>

#include "passes/fuse_qdq_match.h"

namespace qrt::passes::qdq {

namespace {

// The int8 weight as [N, K] rows: w itself when it is stored that way, else its transpose.
ir::Value* weightRows(ir::Graph& g, ir::Value* w, bool stored_nk) {
  if (stored_nk) return w;
  const HostTensor& t = *w->constant;
  const int64_t k = t.dims()[0], n = t.dims()[1];
  HostTensor rows(DataType::kInt8, {n, k});
  const int8_t* src = t.as<int8_t>();
  int8_t* dst = rows.as<int8_t>();
  for (int64_t i = 0; i < k; ++i)
    for (int64_t j = 0; j < n; ++j) dst[j * k + i] = src[i * n + j];
  return addConstant(g, w->name + "_rows", std::move(rows));
}

// alpha * scale, one per output feature (a per-tensor scale repeated).
ir::Value* featureScales(ir::Graph& g, const DqOperand& w, int64_t n, float alpha) {
  const HostTensor& s = *w.scale->constant;
  std::vector<float> v(static_cast<size_t>(n));
  for (int64_t j = 0; j < n; ++j) v[static_cast<size_t>(j)] = alpha * s.as<float>()[w.perTensor() ? 0 : j];
  return addConstant(g, w.scale->name + "_per_feature", HostTensor::fromFloat(v, {n}));
}

// beta * C as a bias [N], when C is a constant fp32 that broadcasts along rows only ([], [1],
// [N], [1, N]); nullopt when it does not; nullptr when there is no C (or beta is 0).
std::optional<ir::Value*> gemmBias(ir::Graph& g, const ir::Node& gemm, int64_t n) {
  const float beta = gemm.attrFloat("beta", 1.f);
  if (!gemm.hasInput(2) || beta == 0.f) return nullptr;
  const ir::Value* c = gemm.inputs[2];
  if (!c->isConstant() || c->dtype != DataType::kFloat) return std::nullopt;
  const Dims& d = c->dims;
  const int64_t count = c->constant->numel();
  const bool per_feature = (d.size() == 1 && d[0] == n) || (d.size() == 2 && d[0] == 1 && d[1] == n);
  if (count != 1 && !per_feature) return std::nullopt;
  std::vector<float> bias(static_cast<size_t>(n));
  for (int64_t j = 0; j < n; ++j) bias[static_cast<size_t>(j)] = beta * c->constant->as<float>()[count == 1 ? 0 : j];
  return addConstant(g, c->name + "_bias", HostTensor::fromFloat(bias, {n}));
}

// Both operands must give fp32 output from matched DQs; the layer's output is fp32.
bool floatOutput(const ir::Node& n) {
  return n.outputs.size() == 1 && n.outputs[0] && n.outputs[0]->dtype == DataType::kFloat;
}

}  // namespace

// DQ(a_q) -> Gemm(DQ(w_q const), C?) [-> act] [-> Q]  =>  QGemm(a_q, w_rows, bias, a_scale,
// alpha * w_scale, y_scale?) with transA kept. B's scales: per tensor or per output feature.
bool rewriteGemm(FoldState& s, ir::Node& gemm) {
  if (!floatOutput(gemm) || !gemm.hasInput(1)) return false;
  std::optional<DqOperand> a = matchDequantize(gemm.inputs[0]);
  std::optional<DqOperand> w = matchDequantize(gemm.inputs[1]);
  if (!a || !w || !a->perTensor() || a->data->dims.size() != 2) return false;
  if (!w->data->isConstant() || w->data->dims.size() != 2) return false;
  const bool trans_b = gemm.attrInt("transB", 0) != 0;
  const int64_t n = w->data->dims[trans_b ? 0 : 1];
  if (!w->perTensor() && w->axis != (trans_b ? 0 : 1)) return false;
  std::optional<ir::Value*> bias = gemmBias(s.graph, gemm, n);
  if (!bias) return false;
  FusedTail tail = matchTail(gemm.outputs[0], s.options.hard_swish_gemm);
  ir::Value* rows = weightRows(s.graph, w->data, trans_b);
  ir::Value* scales = featureScales(s.graph, *w, n, gemm.attrFloat("alpha", 1.f));
  ir::Node* q = addFusedNode(s, "QGemm", gemm, {a->data, rows, *bias, a->scale, scales, tail.y_scale}, tail);
  q->attrs["transA"] = ir::Attribute::Int(gemm.attrInt("transA", 0) != 0 ? 1 : 0);
  ++s.report.qgemm;
  return true;
}

// DQ(a_q) -> MatMul(DQ(b_q)) [-> act] [-> Q]: QGemm when b_q is a constant 2-D weight [K, N]
// (per tensor or per column), else QMatMul when both are per tensor.
bool rewriteMatMul(FoldState& s, ir::Node& matmul) {
  if (!floatOutput(matmul) || !matmul.hasInput(1)) return false;
  std::optional<DqOperand> a = matchDequantize(matmul.inputs[0]);
  std::optional<DqOperand> b = matchDequantize(matmul.inputs[1]);
  if (!a || !b || !a->perTensor() || a->data->dims.empty()) return false;
  const Dims& bd = b->data->dims;
  if (b->data->isConstant() && bd.size() == 2 && (b->perTensor() || b->axis == 1)) {
    FusedTail tail = matchTail(matmul.outputs[0], s.options.hard_swish_gemm);
    ir::Value* rows = weightRows(s.graph, b->data, false);
    ir::Value* scales = featureScales(s.graph, *b, bd[1], 1.f);
    addFusedNode(s, "QGemm", matmul, {a->data, rows, nullptr, a->scale, scales, tail.y_scale}, tail);
    ++s.report.qgemm;
    return true;
  }
  if (!b->perTensor() || bd.empty()) return false;
  FusedTail tail = matchTail(matmul.outputs[0], s.options.hard_swish_gemm);
  addFusedNode(s, "QMatMul", matmul, {a->data, b->data, a->scale, b->scale, tail.y_scale}, tail);
  ++s.report.qmatmul;
  return true;
}

}  // namespace qrt::passes::qdq
