#include "passes/add_quantize_tail.h"

#include <set>
#include <vector>

#include "core/status_macros.h"
#include "ops/op.h"
#include "passes/channels_last.h"
#include "passes/rewrite_util.h"

namespace qrt::passes {

namespace {

bool isOp(const ir::Node* n, const char* op) { return n && n->op_type == op && n->domain.empty(); }

// A constant with one element of the given dtype.
bool scalarConstant(const ir::Value* v, DataType t) {
  return v && v->isConstant() && v->dtype == t && v->constant->numel() == 1;
}

// v is read by `reader` alone and is not a graph output.
bool readOnlyBy(const ir::Value* v, const ir::Node* reader) {
  if (v->is_graph_output) return false;
  for (const ir::Node* c : v->consumers)
    if (c != reader) return false;
  return true;
}

}  // namespace

Status fuseAddQuantizeTails(ir::Graph& g, const std::function<bool(const ir::Node&)>& eligible,
                            const std::function<Status(ir::Node& fused, const ir::Node& q)>& made, int* fused,
                            bool half) {
  int count = 0;
  g.rebuildUses();
  std::set<const ir::Node*> dead;
  std::vector<ir::Node*> quantizes;
  for (const auto& n : g.nodes())
    if (isOp(n.get(), "QuantizeLinear") && eligible(*n)) quantizes.push_back(n.get());
  for (ir::Node* q : quantizes) {
    if (!q->hasInput(0) || !q->hasInput(1) || q->outputs.size() != 1 || !q->outputs[0]) continue;
    if (!scalarConstant(q->inputs[1], DataType::kFloat) || q->attrInt("block_size", 0) != 0) continue;
    if (q->hasInput(2) && !scalarConstant(q->inputs[2], q->outputs[0]->dtype)) continue;
    ir::Value* v = q->inputs[0];  // the value quantized: the Relu's or the Add's output
    const DataType t = v->dtype;
    if (t != DataType::kFloat && !(half && t == DataType::kHalf)) continue;
    ir::Node* relu = isOp(v->producer, "Relu") && eligible(*v->producer) ? v->producer : nullptr;
    ir::Node* add = relu ? (relu->hasInput(0) ? relu->inputs[0]->producer : nullptr) : v->producer;
    if (relu && !readOnlyBy(relu->inputs[0], relu)) continue;
    if (!isOp(add, "Add") || !eligible(*add) || dead.count(add) || add->inputs.size() != 2) continue;
    const ir::Value* a = add->inputs[0];
    const ir::Value* b = add->inputs[1];
    if (!a || !b || a->dtype != t || b->dtype != t || !a->has_shape || !b->has_shape ||
        a->dims != b->dims || a->isConstant() || b->isConstant())
      continue;
    // Elementwise over one layout: the three nodes must store their activations alike.
    const bool nhwc = storedNhwc(*add);
    if (storedNhwc(*q) != nhwc || (relu && storedNhwc(*relu) != nhwc)) continue;

    std::vector<ir::Value*> inputs = {add->inputs[0], add->inputs[1], q->inputs[1]};
    if (q->hasInput(2)) inputs.push_back(q->inputs[2]);
    std::vector<ir::Value*> outputs = {q->outputs[0]};
    if (!readOnlyBy(v, q)) outputs.push_back(v);  // the float value, still read elsewhere (the next residual)
    ir::Node* f =
        g.addNode("AddQuantize", add->name + (relu ? " + " + relu->name : "") + " + " + q->name, inputs, outputs);
    f->domain = kQrtDomain;
    f->attrs["relu"] = ir::Attribute::Int(relu ? 1 : 0);
    if (nhwc) f->attrs[kAttrNhwc] = ir::Attribute::Int(1);
    QRT_RETURN_IF_ERROR(made(*f, *q));
    dead.insert(q);
    dead.insert(add);
    if (relu) dead.insert(relu);
    ++count;
  }
  if (fused) *fused = count;
  if (count == 0) return Status::Ok();
  return rw::dropReplacedNodes(g, dead);
}

}  // namespace qrt::passes
