#include "passes/unfold_qconv.h"

#include <set>

#include "core/status_macros.h"
#include "ops/fused_activation.h"
#include "ops/op.h"
#include "passes/infer_shapes.h"
#include "passes/remove_dead_nodes.h"
#include "passes/rewrite_util.h"

namespace qrt::passes {

namespace {

// QConv's inputs (src/ops/qops.cpp).
enum : size_t { kX = 0, kW = 1, kBias = 2, kXScale = 3, kWScale = 4, kYScale = 5 };

bool isFloatScale(const ir::Value* v) { return v && v->isConstant() && v->dtype == DataType::kFloat; }

// The node's first output when it is one, else nullptr.
ir::Value* soleOutput(const ir::Node& n) { return n.outputs.size() == 1 ? n.outputs[0] : nullptr; }

bool unfoldable(const ir::Node& n) {
  if (n.op_type != "QConv" || n.domain != kQrtDomain || !n.hasInput(kX) || !n.hasInput(kW) || !soleOutput(n))
    return false;
  // Only foldQdq's six inputs: a QConv that also reads a residual (passes/fuse_qconv_residual.h)
  // is not a stem and stays.
  if (n.inputs.size() > kYScale + 1) return false;
  const ir::Value* x = n.inputs[kX];
  const ir::Value* w = n.inputs[kW];
  if (!x->has_shape || x->dims.size() != 4 || x->dims[1] < 1 || x->dims[1] > kMaxUnfoldedInputChannels) return false;
  if (!w->isConstant() || w->dtype != DataType::kInt8 || w->dims.size() != 4 || w->dims[0] < 1) return false;
  if (!isFloatScale(n.inputs.size() > kXScale ? n.inputs[kXScale] : nullptr) || n.inputs[kXScale]->constant->numel() != 1)
    return false;
  const ir::Value* ws = n.inputs.size() > kWScale ? n.inputs[kWScale] : nullptr;
  if (!isFloatScale(ws) || (ws->constant->numel() != 1 && ws->constant->numel() != w->dims[0])) return false;
  if (n.hasInput(kBias) && n.inputs[kBias]->dtype != DataType::kFloat) return false;
  if (n.hasInput(kYScale) && (!isFloatScale(n.inputs[kYScale]) || n.inputs[kYScale]->constant->numel() != 1))
    return false;
  // The affine after a hard swish (passes/fuse_qdq.h) has no place in a FusedConv: such a stem stays.
  if (n.hasAttr("post_scale") || n.hasAttr("post_shift")) return false;
  return readFusedActivation(n).ok();
}

float scalarOf(const ir::Value* v) { return v->constant->as<float>()[0]; }

bool allZero(const ir::Value* v) {
  for (int64_t i = 0; i < v->constant->numel(); ++i)
    if (v->constant->getInt(i) != 0) return false;
  return true;
}

// The default-domain opset new ONNX nodes take: the graph's, at least 13 (per-tensor int8 Q/DQ
// with a zero point, and Conv, mean the same from 10 on).
int defaultOpset(const ir::Graph& g) {
  auto it = g.opsets.find("");
  return it != g.opsets.end() && it->second > 13 ? it->second : 13;
}

// The float x the layer reads: the input of the QuantizeLinear that made x_q when it quantized
// with the layer's own scale and zero point 0 (so DQ(Q(x)) was the layer's input); otherwise
// x_q dequantized with x_scale, which is exactly the QDQ graph's input of the layer.
ir::Value* floatInput(ir::Graph& g, const ir::Node& qconv) {
  ir::Value* xq = qconv.inputs[kX];
  ir::Value* x_scale = qconv.inputs[kXScale];
  const ir::Node* q = xq->producer;
  if (rw::isOp(q, "QuantizeLinear") && q->hasInput(0) && q->inputs[0]->dtype == DataType::kFloat &&
      q->hasInput(1) && isFloatScale(q->inputs[1]) && q->inputs[1]->constant->numel() == 1 &&
      scalarOf(q->inputs[1]) == scalarOf(x_scale) && q->hasInput(2) && q->inputs[2]->isConstant() &&
      q->inputs[2]->dtype == DataType::kInt8 && allZero(q->inputs[2]) && soleOutput(*q) == xq)
    return q->inputs[0];
  ir::Value* x = rw::addValueLike(g, *xq, "_dequantized", DataType::kFloat);
  ir::Node* dq = g.addNode("DequantizeLinear", g.uniqueName(qconv.name + "_dequantize"), {xq, x_scale}, {x});
  dq->opset = defaultOpset(g);
  return x;
}

// w_q * w_scale[m] as an fp32 constant: the DequantizeLinear the QDQ graph had, element by
// element (one fp32 product each, as the reference kernel computes it).
ir::Value* dequantizedWeights(ir::Graph& g, const ir::Node& qconv) {
  const ir::Value* wq = qconv.inputs[kW];
  const HostTensor& q = *wq->constant;
  const HostTensor& s = *qconv.inputs[kWScale]->constant;
  HostTensor w(DataType::kFloat, q.dims());
  const int64_t m = q.dims()[0], per = q.numel() / m;
  const int8_t* qv = q.as<int8_t>();
  const float* sv = s.as<float>();
  float* wv = w.as<float>();
  for (int64_t i = 0; i < q.numel(); ++i) wv[i] = static_cast<float>(qv[i]) * sv[s.numel() == 1 ? 0 : i / per];
  return rw::addConstant(g, wq->name + "_dequantized", std::move(w));
}

void unfold(ir::Graph& g, const ir::Node& qconv, UnfoldReport& report) {
  ir::Value* x = floatInput(g, qconv);
  ir::Value* w = dequantizedWeights(g, qconv);
  std::vector<ir::Value*> inputs{x, w};
  if (qconv.hasInput(kBias)) inputs.push_back(qconv.inputs[kBias]);
  ir::Value* y = soleOutput(qconv);
  const bool requantize = qconv.hasInput(kYScale);
  ir::Value* conv_out = y;
  if (requantize) {
    conv_out = rw::addValueLike(g, *y, "_float", DataType::kFloat);
  }
  // A FusedConv even without an activation: the CUDA stem kernel's input fusion
  // (backends/cuda/stem_input.cpp) takes FusedConv only (its x may keep its own float dtype).
  // The convolution keeps the layer's name (reports, profiles and layer precisions name it so);
  // the QConv is removed before anything checks names.
  ir::Node* conv = g.addNode("FusedConv", qconv.name, std::move(inputs), {conv_out});
  conv->domain = kQrtDomain;
  conv->opset = 1;
  for (const char* a : {"kernel_shape", "strides", "pads", "dilations", "group", "auto_pad"})
    if (const ir::Attribute* attr = qconv.attr(a)) conv->attrs[a] = *attr;
  writeFusedActivation(*conv, readFusedActivation(qconv).value());  // unfoldable() read it already
  conv->precision = Precision::kFP32;
  report.layers.push_back(qconv.name);
  if (!requantize) return;
  HostTensor zero(DataType::kInt8, {});
  zero.as<int8_t>()[0] = 0;
  ir::Value* zp = rw::addConstant(g, qconv.name + "_zero_point", std::move(zero));
  ir::Node* q = g.addNode("QuantizeLinear", g.uniqueName(qconv.name + "_quantize"), {conv_out, qconv.inputs[kYScale], zp},
                          {y});
  q->opset = defaultOpset(g);
  q->precision = Precision::kINT8;
  report.quantizes.push_back(q->name);
}

}  // namespace

Status unfoldFewChannelQConvs(ir::Graph& g, UnfoldReport* report) {
  UnfoldReport local;
  UnfoldReport& r = report ? *report : local;
  g.rebuildUses();  // producers: the QuantizeLinear before each layer
  std::vector<const ir::Node*> layers;
  for (const auto& n : g.nodes())
    if (unfoldable(*n)) layers.push_back(n.get());
  if (layers.empty()) return Status::Ok();
  for (const ir::Node* n : layers) unfold(g, *n, r);
  const std::set<const ir::Node*> removed(layers.begin(), layers.end());
  g.removeNodes([&](const ir::Node& n) { return removed.count(&n) != 0; });
  QRT_RETURN_IF_ERROR(g.topoSort());
  QRT_RETURN_IF_ERROR(removeDeadNodes(g));  // a QuantizeLinear of x that nothing else reads
  return inferShapes(g).withContext("after unfolding few-channel QConvs");
}

}  // namespace qrt::passes
