#include "passes/cpu_add_quantize.h"

#include <set>
#include <vector>

#include "core/logging.h"
#include "ops/op.h"
#include "passes/channels_last.h"
#include "runtime/kernel_factory.h"

namespace qrt::passes {

namespace {

bool onCpu(const ir::Node* n, const char* op) {
  return n && n->op_type == op && n->domain.empty() && n->backend == kBackendCpu;
}

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

Status fuseCpuAddQuantize(ir::Graph& g, int* fused) {
  int count = 0;
  g.rebuildUses();
  std::set<const ir::Node*> dead;
  std::vector<ir::Node*> quantizes;
  for (const auto& n : g.nodes())
    if (onCpu(n.get(), "QuantizeLinear")) quantizes.push_back(n.get());
  for (ir::Node* q : quantizes) {
    if (!q->hasInput(0) || !scalarConstant(q->inputs[1], DataType::kFloat) || q->outputs.size() != 1) continue;
    if (q->hasInput(2) && !scalarConstant(q->inputs[2], q->outputs[0]->dtype)) continue;
    ir::Value* v = q->inputs[0];  // the value quantized: the Relu's or the Add's output
    ir::Node* relu = onCpu(v->producer, "Relu") ? v->producer : nullptr;
    ir::Node* add = relu ? relu->inputs[0]->producer : v->producer;
    if (relu && !readOnlyBy(relu->inputs[0], relu)) continue;
    if (!onCpu(add, "Add") || dead.count(add) || add->inputs.size() != 2) continue;
    const ir::Value* a = add->inputs[0];
    const ir::Value* b = add->inputs[1];
    if (!a || !b || a->dtype != DataType::kFloat || b->dtype != DataType::kFloat || !a->has_shape || !b->has_shape ||
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
    f->backend = kBackendCpu;
    f->precision = q->precision;
    auto k = createKernel(*f);  // validates now, as finalizeEngine does for every node
    if (!k.ok()) return k.status();
    dead.insert(q);
    dead.insert(add);
    if (relu) dead.insert(relu);
    ++count;
  }
  if (fused) *fused = count;
  if (count == 0) return Status::Ok();
  g.removeNodes([&](const ir::Node& n) { return dead.count(&n) != 0; });
  g.removeUnusedValues();
  g.rebuildUses();
  QRT_RETURN_IF_ERROR(g.topoSort());
  logInfo("cpu: ", count, " Add [+ Relu] + QuantizeLinear fused into AddQuantize");
  return Status::Ok();
}

}  // namespace qrt::passes
