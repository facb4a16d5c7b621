#include "passes/quantize_before_maxpool.h"

#include <limits>
#include <set>
#include <string>
#include <vector>

#include "core/status_macros.h"
#include "ops/op.h"
#include "passes/infer_shapes.h"
#include "passes/rewrite_util.h"

namespace qrt::passes {

namespace {

// The QuantizeLinear that is `pool`'s only reader, when the pair is one these passes rewrite: a
// MaxPool with one output (no Indices), not a graph output, read by a per-tensor Q (constant
// positive fp32 scale, constant zero point) to int8/uint8; else nullptr.
ir::Node* quantizeOfPool(ir::Node* pool) {
  if (!pool->hasInput(0) || pool->outputs.size() != 1 || !pool->outputs[0]) return nullptr;
  ir::Value* pooled = pool->outputs[0];
  if (pooled->is_graph_output || pooled->consumers.size() != 1) return nullptr;
  ir::Node* q = pooled->consumers[0];
  if (q->op_type != "QuantizeLinear" || !q->domain.empty() || q->inputs[0] != pooled || q->outputs.size() != 1)
    return nullptr;
  // A negative scale reverses the order (the max of the quantized values is the quantized min).
  if (!q->hasInput(1) || !rw::positiveScaleConstant(q->inputs[1]) ||
      (q->hasInput(2) && !rw::singleElementConstant(q->inputs[2])))
    return nullptr;
  const DataType qt = q->outputs[0]->dtype;
  return qt == DataType::kInt8 || qt == DataType::kUInt8 ? q : nullptr;
}

// Both directions end alike: count, drop the replaced value, re-sort (the two nodes traded places).
Status finishSwaps(ir::Graph& g, int count, int* swapped) {
  if (swapped) *swapped = count;
  if (count == 0) return Status::Ok();
  g.removeUnusedValues();
  g.rebuildUses();
  QRT_RETURN_IF_ERROR(g.topoSort());
  return inferShapes(g);
}

}  // namespace

Status quantizeBeforeMaxPool(ir::Graph& g, int* swapped) {
  int count = 0;
  g.rebuildUses();
  std::vector<ir::Node*> pools;
  for (const auto& n : g.nodes())
    if (n->op_type == "MaxPool" && n->domain.empty()) pools.push_back(n.get());
  for (ir::Node* pool : pools) {
    ir::Node* q = quantizeOfPool(pool);
    ir::Value* x = q ? pool->inputs[0] : nullptr;
    if (!q || x->dtype != DataType::kFloat) continue;
    const DataType qt = q->outputs[0]->dtype;
    // x -> Q -> x_q -> MaxPool -> (Q's old output): the pool now reads and writes int8.
    ir::Value* x_q = rw::addValueLike(g, *x, "_quantized", qt);
    ir::Value* y = q->outputs[0];
    q->inputs[0] = x;
    q->outputs[0] = x_q;
    pool->inputs[0] = x_q;
    pool->outputs[0] = y;
    ++count;
  }
  return finishSwaps(g, count, swapped);
}

Status quantizeAfterMaxPool(ir::Graph& g, const std::vector<std::string>& quantize_names, int* swapped) {
  int count = 0;
  g.rebuildUses();
  const std::set<std::string> names(quantize_names.begin(), quantize_names.end());
  std::vector<ir::Node*> quantizes;
  for (const auto& n : g.nodes())
    if (n->op_type == "QuantizeLinear" && n->domain.empty() && names.count(n->name)) quantizes.push_back(n.get());
  for (ir::Node* q : quantizes) {
    if (!q->hasInput(0) || q->outputs.size() != 1 || !q->outputs[0]) continue;
    if (!q->hasInput(1) || !rw::positiveScaleConstant(q->inputs[1]) ||
        (q->hasInput(2) && !rw::singleElementConstant(q->inputs[2])))
      continue;
    ir::Value* y = q->outputs[0];
    if (y->is_graph_output || y->consumers.size() != 1) continue;
    ir::Node* pool = y->consumers[0];
    if (pool->op_type != "MaxPool" || !pool->domain.empty() || pool->outputs.size() != 1 || !pool->outputs[0] ||
        pool->inputs[0] != y)
      continue;
    ir::Value* x = q->inputs[0];
    ir::Value* pooled = pool->outputs[0];
    // x -> MaxPool -> x_pooled -> Q -> (the pool's old output)
    ir::Value* x_pooled = rw::addValueLike(g, *pooled, "_float", x->dtype);
    pool->inputs[0] = x;
    pool->outputs[0] = x_pooled;
    q->inputs[0] = x_pooled;
    q->outputs[0] = pooled;
    ++count;
  }
  return finishSwaps(g, count, swapped);
}

Status fuseMaxPoolQuantize(ir::Graph& g, const std::function<bool(const ir::Node&)>& eligible, int* fused) {
  int count = 0;
  g.rebuildUses();
  std::set<const ir::Node*> dead;
  std::vector<ir::Node*> pools;
  for (const auto& n : g.nodes())
    if (n->op_type == "MaxPool" && n->domain.empty() && eligible(*n)) pools.push_back(n.get());
  for (ir::Node* pool : pools) {
    ir::Node* q = quantizeOfPool(pool);
    if (!q || !eligible(*q)) continue;
    ir::Value* x = pool->inputs[0];
    if (x->dtype != DataType::kFloat && x->dtype != DataType::kHalf) continue;
    std::vector<ir::Value*> inputs = {x, q->inputs[1]};
    if (q->hasInput(2)) inputs.push_back(q->inputs[2]);
    ir::Node* f = g.addNode("MaxPoolQuantize", rw::fusedName(g, pool->name, q->name), inputs, {q->outputs[0]});
    f->domain = kQrtDomain;
    f->attrs = pool->attrs;  // the window, and the layout the pool was given
    dead.insert(pool);
    dead.insert(q);
    ++count;
  }
  if (fused) *fused = count;
  if (count == 0) return Status::Ok();
  QRT_RETURN_IF_ERROR(rw::dropReplacedNodes(g, dead));
  return inferShapes(g);
}

}  // namespace qrt::passes
