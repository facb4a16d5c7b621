// Channels-last (NHWC) storage around FP16 and INT8 convolutions: cuDNN's fast FP16 kernels on
// Hopper read and write NHWC (see DESIGN.md, "GPU facts measured"), its INT8 ones only NHWC.
// Dims stay NCHW in the IR; the qrt_nhwc attribute says a node's 4-D activations are stored
// NHWC. Every 2-D FP16 Conv and INT8 QConv with constant weights is channels-last; a node that
// can work in either layout (elementwise ops, pools, batch norm, concat, Q/DQ) follows when one
// of its 4-D activation inputs is channels-last. An
// Identity with qrt_to_nhwc changes the layout where the two meet. A [N, C, 1, 1] tensor is the
// same bytes in both layouts and needs no change.
#include "backends/cuda/cuda_kernel.h"
#include "backends/cuda/runtime.h"
#include "ops/op.h"

namespace qrt::cuda {

namespace {

bool isActivation4d(const ir::Value* v, const std::set<const ir::Value*>& host_values) {
  return v && !v->isConstant() && !host_values.count(v) && v->has_shape && v->dims.size() == 4;
}

// Same bytes in either layout.
bool layoutFree(const ir::Value* v) { return v->dims.size() == 4 && v->dims[2] == 1 && v->dims[3] == 1; }

bool layoutAgnostic(const std::string& op) {
  static const std::set<std::string> kOps = {
      "Relu", "LeakyRelu", "Sigmoid", "Tanh", "HardSigmoid", "HardSwish", "Elu", "Selu", "Celu", "Softplus",
      "Softsign", "ThresholdedRelu", "Mish", "Gelu", "Exp", "Log", "Sqrt", "Neg", "Abs", "Reciprocal", "Erf",
      "Floor", "Ceil", "Round", "Sin", "Cos", "Clip", "Add", "Sub", "Mul", "Div", "Pow", "Max", "Min", "Sum",
      "Mean", "PRelu", "Cast", "MaxPool", "AveragePool", "GlobalAveragePool", "GlobalMaxPool",
      "BatchNormalization", "Concat", "QuantizeLinear", "DequantizeLinear"};
  return kOps.count(op) != 0;
}

// FP16 convolutions, and INT8 ones (qrt's QConv: cuDNN's int8 convolutions are NHWC only, so
// the int8 activations between QConvs are channels-last, as TensorRT keeps them).
bool channelsLastConv(const ir::Node& n) {
  const bool conv = (n.op_type == "Conv" && n.domain.empty()) || (n.op_type == "FusedConv" && n.domain == kQrtDomain);
  const bool qconv = n.op_type == "QConv" && n.domain == kQrtDomain && n.inputs[0]->dtype == DataType::kInt8;
  return ((conv && n.inputs[0]->dtype == DataType::kHalf) || qconv) && n.inputs[0]->dims.size() == 4 &&
         n.hasInput(1) && n.inputs[1]->isConstant();
}

}  // namespace

Status assignChannelsLast(ir::Graph& g, int* nhwc_nodes, int* layout_changes) {
  *nhwc_nodes = *layout_changes = 0;
  g.rebuildUses();
  const std::set<const ir::Node*> host = hostNodes(g);
  std::set<const ir::Value*> host_values;
  for (const ir::Node* n : host)
    for (const ir::Value* o : n->outputs)
      if (o) host_values.insert(o);

  // Forward in topological order: which nodes run channels-last, which values are stored so.
  std::set<const ir::Node*> nhwc;
  std::set<const ir::Value*> nhwc_values;
  std::vector<ir::Node*> order;
  for (const auto& n : g.nodes()) order.push_back(n.get());
  for (ir::Node* n : order) {
    if (host.count(n) || (!n->domain.empty() && n->domain != kQrtDomain)) continue;
    bool on = channelsLastConv(*n);
    if (!on && layoutAgnostic(n->op_type)) {
      bool any_nhwc = false, all_4d = true;
      for (const ir::Value* in : n->inputs) {
        if (in && nhwc_values.count(in) && !layoutFree(in)) any_nhwc = true;
        if (in && !in->isConstant() && !host_values.count(in) && !isActivation4d(in, host_values)) all_4d = false;
      }
      for (const ir::Value* o : n->outputs)
        if (o && !(o->has_shape && o->dims.size() == 4)) all_4d = false;
      on = any_nhwc && all_4d;
    }
    if (!on) continue;
    nhwc.insert(n);
    for (const ir::Value* o : n->outputs)
      if (o && o->dims.size() == 4) nhwc_values.insert(o);
  }

  // Layout changes where NHWC values meet NCHW readers and the reverse.
  std::map<std::pair<const ir::Value*, bool>, ir::Value*> changed;  // (value, to_nhwc) -> converted
  auto convert = [&](ir::Value* v, bool to_nhwc) {
    auto key = std::make_pair(static_cast<const ir::Value*>(v), to_nhwc);
    if (auto it = changed.find(key); it != changed.end()) return it->second;
    ir::Value* c = g.addValue(g.uniqueName(v->name + (to_nhwc ? "_nhwc" : "_nchw")));
    c->dtype = v->dtype;
    c->dims = v->dims;
    c->has_shape = v->has_shape;
    ir::Node* id = g.addNode("Identity", g.uniqueName(v->name + (to_nhwc ? "_to_nhwc" : "_to_nchw")), {v}, {c});
    id->attrs[kAttrToNhwc] = ir::Attribute::Int(to_nhwc ? 1 : 0);
    ++*layout_changes;
    changed[key] = c;
    return c;
  };
  for (ir::Node* n : order) {
    const bool on = nhwc.count(n) != 0;
    if (on) {
      n->attrs[kAttrNhwc] = ir::Attribute::Int(1);
      ++*nhwc_nodes;
    }
    for (ir::Value*& in : n->inputs) {
      if (!isActivation4d(in, host_values) || layoutFree(in)) continue;
      const bool stored_nhwc = nhwc_values.count(in) != 0;
      if (on && !stored_nhwc) in = convert(in, true);
      else if (!on && stored_nhwc) in = convert(in, false);
    }
  }
  // Graph outputs are NCHW for the caller: the producer writes an NHWC value, converted back.
  for (ir::Value*& out : g.outputs) {
    if (!nhwc_values.count(out) || layoutFree(out)) continue;
    ir::Node* prod = out->producer;
    ir::Value* inner = g.addValue(g.uniqueName(out->name + "_nhwc"));
    inner->dtype = out->dtype;
    inner->dims = out->dims;
    inner->has_shape = out->has_shape;
    for (ir::Value*& o : prod->outputs)
      if (o == out) o = inner;
    for (const auto& n : g.nodes())
      for (ir::Value*& in : n->inputs)
        if (in == out) in = inner;
    ir::Node* id = g.addNode("Identity", g.uniqueName(out->name + "_to_nchw"), {inner}, {out});
    id->attrs[kAttrToNhwc] = ir::Attribute::Int(0);
    ++*layout_changes;
  }
  g.rebuildUses();
  return g.topoSort();
}

}  // namespace qrt::cuda
