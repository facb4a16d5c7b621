#include "passes/remove_dead_nodes.h"

#include <set>

namespace qrt::passes {

Status removeDeadNodes(ir::Graph& graph, bool* changed) {
  graph.rebuildUses();
  std::set<const ir::Value*> live(graph.outputs.begin(), graph.outputs.end());
  std::set<const ir::Node*> keep;
  const auto& nodes = graph.nodes();
  for (auto it = nodes.rbegin(); it != nodes.rend(); ++it) {
    const ir::Node& n = **it;
    bool used = false;
    for (const ir::Value* o : n.outputs) used |= o && live.count(o);
    if (!used) continue;
    keep.insert(&n);
    for (const ir::Value* in : n.inputs)
      if (in) live.insert(in);
  }
  size_t before = nodes.size();
  graph.removeNodes([&](const ir::Node& n) { return !keep.count(&n); });
  graph.removeUnusedValues();
  graph.rebuildUses();
  if (changed) *changed = graph.nodes().size() != before;
  return Status::Ok();
}

}  // namespace qrt::passes
