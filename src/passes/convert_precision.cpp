// Plans per fp32 value before changing anything, then rewrites: a value produced by a converted
// node is written in the low dtype (its fp32 name is cast from it when fp32 readers or a graph
// output need it); an fp32 value read by converted nodes is cast once, and the cast shared.
#include "passes/convert_precision.h"

#include "core/status_macros.h"
#include "core/tensor.h"
#include "ops/op.h"
#include "passes/rewrite_util.h"

namespace qrt::passes {

namespace {

HostTensor convertTensor(const HostTensor& t, DataType to) {
  HostTensor h(to, t.dims());
  convertElements(t.data(), t.dtype(), h.data(), to, t.numel());
  return h;
}

void addCast(ir::Graph& g, ir::Value* from, ir::Value* to) {
  ir::Node* c = g.addNode("Cast", g.uniqueName(to->name + "_cast"), {from}, {to});
  c->attrs["to"] = ir::Attribute::Int(static_cast<int64_t>(to->dtype));
}

struct Use {
  ir::Node* node;
  size_t input;
};

}  // namespace

bool inputFollowsT(const ir::Node& n, size_t i) {
  // BatchNormalization's scale, B (T1) and mean, var (T2) have their own types (opset 15): they
  // stay fp32, which every BN kernel reads with a fp16/bf16 X. In fp16 a running variance can
  // overflow: PP-OCRv4's detector has one of 9.8e7 (folded into its Conv in a plain build, a layer
  // when the Conv's output is read elsewhere), which became inf and the layer's output its bias.
  if (n.op_type == "BatchNormalization") return i == 0;
  if (n.op_type == "Resize" || n.op_type == "Upsample" || n.op_type == "Dropout" || n.op_type == "Cast") return i == 0;
  // Q/DQ in a reduced precision change their float activation only: Q's x (its scale stays
  // fp32, as the kernels read it), DQ's output (set by output_dtype, opset 23).
  if (n.op_type == "QuantizeLinear") return i == 0;
  if (n.op_type == "DequantizeLinear") return false;
  // qrt's QConv: int8 x and w, fp32 bias and scales; only a float output follows (output_dtype).
  if (n.op_type == "QConv" && n.domain == kQrtDomain) return false;
  return true;
}

bool outputFollowsT(const ir::Node& n, size_t i) { return n.op_type != "Cast" && (n.op_type != "Dropout" || i == 0); }

Status convertPrecision(ir::Graph& g, const std::set<const ir::Node*>& nodes, DataType dtype) {
  if (dtype != DataType::kHalf && dtype != DataType::kBFloat16)
    return invalidArgument("convertPrecision: ", dataTypeName(dtype), " is not a reduced float precision");
  if (nodes.empty()) return Status::Ok();
  const std::string suffix = std::string("_") + dataTypeName(dtype);
  g.rebuildUses();
  struct Plan {
    ir::Value* v = nullptr;
    int producer_output = -1;  // output index of v on its producer, when that one is converted
    std::vector<Use> low_uses, float_uses;
  };
  std::vector<Plan> plans;
  for (const auto& vp : g.values()) {
    ir::Value* v = vp.get();
    if (v->dtype != DataType::kFloat) continue;
    Plan p;
    p.v = v;
    if (ir::Node* prod = v->producer; prod && nodes.count(prod))
      for (size_t i = 0; i < prod->outputs.size(); ++i)
        if (prod->outputs[i] == v && outputFollowsT(*prod, i)) p.producer_output = static_cast<int>(i);
    for (ir::Node* c : v->consumers)
      for (size_t i = 0; i < c->inputs.size(); ++i) {
        if (c->inputs[i] != v) continue;
        (nodes.count(c) && inputFollowsT(*c, i) ? p.low_uses : p.float_uses).push_back({c, i});
      }
    if (p.producer_output >= 0 || !p.low_uses.empty()) plans.push_back(std::move(p));
  }

  for (Plan& p : plans) {
    ir::Value* v = p.v;
    if (v->isConstant()) {
      if (p.low_uses.empty()) continue;
      if (p.float_uses.empty() && !v->is_graph_output) {  // convert in place
        v->constant = convertTensor(*v->constant, dtype);
        v->dtype = dtype;
        continue;
      }
      ir::Value* h = rw::addValueLike(g, *v, suffix, dtype);
      h->constant = convertTensor(*v->constant, dtype);
      for (const Use& u : p.low_uses) u.node->inputs[u.input] = h;
      continue;
    }
    if (p.producer_output >= 0) {
      // The producer writes the low dtype into a new value; v (its name, fp32) is cast from it.
      ir::Value* h = rw::addValueLike(g, *v, suffix, dtype);
      v->producer->outputs[p.producer_output] = h;
      // Ops whose float output type is an attribute (not their inputs'): DQ, qrt's QConv.
      const ir::Node& prod = *v->producer;
      if (prod.op_type == "DequantizeLinear" || (prod.op_type == "QConv" && prod.domain == kQrtDomain))
        v->producer->attrs["output_dtype"] = ir::Attribute::Int(static_cast<int64_t>(dtype));
      for (const Use& u : p.low_uses) u.node->inputs[u.input] = h;
      if (!p.float_uses.empty() || v->is_graph_output) addCast(g, h, v);
      continue;
    }
    // An fp32 value (graph input, fp32 node) read by converted nodes.
    ir::Value* h = rw::addValueLike(g, *v, suffix, dtype);
    addCast(g, v, h);
    for (const Use& u : p.low_uses) u.node->inputs[u.input] = h;
  }
  g.rebuildUses();
  QRT_RETURN_IF_ERROR(g.topoSort());
  g.removeUnusedValues();
  g.rebuildUses();
  return Status::Ok();
}

}  // namespace qrt::passes
