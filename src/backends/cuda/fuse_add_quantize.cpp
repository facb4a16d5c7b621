// The CUDA builder step that fuses the float tail of INT8 residual blocks (see
// src/ops/int8_fused.cpp): Add(a, b) [-> Relu] -> QuantizeLinear (per tensor, constant scale and
// zero point) becomes one AddQuantize node whose second output keeps the Add/Relu value when
// anything else reads it (ResNet's next residual). Runs after the layout assignment, so both
// Add inputs are already in the Add's layout; the fused node inherits it.
#include "backends/cuda/cuda_kernel.h"
#include "backends/cuda/runtime.h"
#include "ops/op.h"

namespace qrt::cuda {

namespace {

bool scalarConstant(const ir::Value* v) { return v && v->isConstant() && v->constant->numel() == 1; }

// Whether v is read only by `reader` (and is not a graph output).
bool onlyReader(const ir::Value* v, const ir::Node* reader) {
  if (v->is_graph_output) return false;
  for (const ir::Node* c : v->consumers)
    if (c != reader) return false;
  return true;
}

}  // namespace

Status fuseAddQuantize(ir::Graph& g, int* fused) {
  *fused = 0;
  g.rebuildUses();
  const std::set<const ir::Node*> host = hostNodes(g);
  std::set<const ir::Node*> dead;
  std::vector<ir::Node*> order;
  for (const auto& n : g.nodes()) order.push_back(n.get());
  for (ir::Node* q : order) {
    if (q->op_type != "QuantizeLinear" || !q->domain.empty() || host.count(q) || dead.count(q)) continue;
    if (!q->hasInput(1) || !scalarConstant(q->inputs[1]) || q->inputs[1]->dtype != DataType::kFloat) continue;
    if (q->hasInput(2) && !scalarConstant(q->inputs[2])) continue;
    if (q->attrInt("block_size", 0) != 0 || q->outputs.size() != 1) continue;
    ir::Value* v = q->inputs[0];
    ir::Node* p = v ? v->producer : nullptr;
    if (!p || !p->domain.empty() || dead.count(p)) continue;
    ir::Node* relu = nullptr;
    ir::Node* add = p;
    if (p->op_type == "Relu") {
      relu = p;
      ir::Value* a = p->inputs[0];
      add = a->producer;
      if (!add || !onlyReader(a, relu)) continue;
    }
    if (add->op_type != "Add" || !add->domain.empty() || dead.count(add) || host.count(add)) continue;
    if (add->inputs.size() != 2 || !add->hasInput(0) || !add->hasInput(1)) continue;
    const ir::Value* a = add->inputs[0];
    const ir::Value* b = add->inputs[1];
    if (a->isConstant() || b->isConstant() || !a->has_shape || !b->has_shape || a->dims != b->dims) continue;
    if (a->dtype != DataType::kFloat || b->dtype != DataType::kFloat || v->dtype != DataType::kFloat) continue;
    const int64_t nhwc = add->attrInt(kAttrNhwc, 0);
    if (q->attrInt(kAttrNhwc, 0) != nhwc || (relu && relu->attrInt(kAttrNhwc, 0) != nhwc)) continue;

    std::vector<ir::Value*> inputs = {add->inputs[0], add->inputs[1], q->inputs[1]};
    if (q->hasInput(2)) inputs.push_back(q->inputs[2]);
    std::vector<ir::Value*> outputs = {q->outputs[0]};
    if (!onlyReader(v, q)) outputs.push_back(v);  // the Add/Relu value, still read elsewhere
    ir::Node* f = g.addNode("AddQuantize", add->name + (relu ? " + " + relu->name : "") + " + " + q->name, inputs, outputs);
    f->domain = kQrtDomain;
    f->attrs["relu"] = ir::Attribute::Int(relu ? 1 : 0);
    if (nhwc) f->attrs[kAttrNhwc] = ir::Attribute::Int(1);
    dead.insert(q);
    dead.insert(add);
    if (relu) dead.insert(relu);
    ++*fused;
  }
  if (*fused == 0) return Status::Ok();
  g.removeNodes([&](const ir::Node& n) { return dead.count(&n) != 0; });
  g.removeUnusedValues();
  g.rebuildUses();
  return g.topoSort();
}

}  // namespace qrt::cuda
