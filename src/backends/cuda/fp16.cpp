// FP16 for the CUDA backend (BuilderFlag::kFP16): precision lives in the IR, so this rewrites
// dtypes. Every device node whose op has an fp16 CUDA kernel runs in fp16: its float values
// become fp16 (constants are converted once, here), and a Cast is inserted wherever a value
// crosses between fp16 and fp32 nodes. Graph inputs and outputs stay fp32 for the caller (the
// engine casts at its boundaries). Host nodes (shape computations) and the float inputs that
// must stay float (Resize scales/roi, Cast's output, Dropout's ratio) are left alone.
#include <map>

#include "backends/cuda/kernel_table.h"
#include "backends/cuda/runtime.h"
#include "core/half.h"

namespace qrt::cuda {

namespace {

bool hasHalfKernel(const ir::Node& n) {
  const std::string domain = n.domain == "ai.onnx" ? "" : n.domain;
  for (auto family : {elementwiseKernels, movementKernels, nnKernels, convKernels, gemmKernels})
    for (const CudaKernelEntry& e : family())
      if (n.op_type == e.op_type && domain == e.domain && e.dtypes.contains(DataType::kHalf)) return true;
  return false;
}

// Whether input i of a node carries the node's float type T (else it keeps its own type).
bool inputFollowsT(const ir::Node& n, size_t i) {
  if (n.op_type == "Resize" || n.op_type == "Upsample" || n.op_type == "Dropout" || n.op_type == "Cast") return i == 0;
  return true;
}
bool outputFollowsT(const ir::Node& n, size_t i) { return n.op_type != "Cast" && (n.op_type != "Dropout" || i == 0); }

HostTensor toHalf(const HostTensor& t) {
  HostTensor h(DataType::kHalf, t.dims());
  convertElements(t.data(), t.dtype(), h.data(), DataType::kHalf, t.numel());
  return h;
}

ir::Value* newValue(ir::Graph& g, const ir::Value& like, const std::string& suffix, DataType t) {
  ir::Value* v = g.addValue(g.uniqueName(like.name + suffix));
  v->dtype = t;
  v->dims = like.dims;
  v->has_shape = like.has_shape;
  return v;
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

Status convertToHalf(ir::Graph& g, int* converted_nodes) {
  g.rebuildUses();
  const std::set<const ir::Node*> host = hostNodes(g);
  std::set<const ir::Node*> half;
  for (const auto& n : g.nodes())
    if (!host.count(n.get()) && hasHalfKernel(*n)) half.insert(n.get());

  // Plan per float value before changing anything.
  struct Plan {
    ir::Value* v = nullptr;
    int producer_output = -1;  // output index of v on its producer, when that runs in fp16
    std::vector<Use> half_uses, float_uses;
  };
  std::vector<Plan> plans;
  for (const auto& vp : g.values()) {
    ir::Value* v = vp.get();
    if (v->dtype != DataType::kFloat) continue;
    Plan p;
    p.v = v;
    if (ir::Node* prod = v->producer; prod && half.count(prod))
      for (size_t i = 0; i < prod->outputs.size(); ++i)
        if (prod->outputs[i] == v && outputFollowsT(*prod, i)) p.producer_output = static_cast<int>(i);
    for (ir::Node* c : v->consumers)
      for (size_t i = 0; i < c->inputs.size(); ++i) {
        if (c->inputs[i] != v) continue;
        (half.count(c) && inputFollowsT(*c, i) ? p.half_uses : p.float_uses).push_back({c, i});
      }
    if (p.producer_output >= 0 || !p.half_uses.empty()) plans.push_back(std::move(p));
  }

  for (Plan& p : plans) {
    ir::Value* v = p.v;
    if (v->isConstant()) {
      if (p.half_uses.empty()) continue;
      if (p.float_uses.empty() && !v->is_graph_output) {  // convert in place
        v->constant = toHalf(*v->constant);
        v->dtype = DataType::kHalf;
        continue;
      }
      ir::Value* h = newValue(g, *v, "_fp16", DataType::kHalf);
      h->constant = toHalf(*v->constant);
      for (const Use& u : p.half_uses) u.node->inputs[u.input] = h;
      continue;
    }
    if (p.producer_output >= 0) {
      // The producer writes fp16 into a new value; v (its name, fp32) is cast from it if needed.
      ir::Value* h = newValue(g, *v, "_fp16", DataType::kHalf);
      v->producer->outputs[p.producer_output] = h;
      for (const Use& u : p.half_uses) u.node->inputs[u.input] = h;
      if (!p.float_uses.empty() || v->is_graph_output) addCast(g, h, v);
      continue;
    }
    // An fp32 value (graph input, fp32 node) read by fp16 nodes.
    ir::Value* h = newValue(g, *v, "_fp16", DataType::kHalf);
    addCast(g, v, h);
    for (const Use& u : p.half_uses) u.node->inputs[u.input] = h;
  }
  *converted_nodes = static_cast<int>(half.size());
  g.rebuildUses();
  QRT_RETURN_IF_ERROR(g.topoSort());
  g.removeUnusedValues();
  g.rebuildUses();
  return Status::Ok();
}

}  // namespace qrt::cuda
