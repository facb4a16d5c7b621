#include "passes/pass_manager.h"

#include "core/status_macros.h"
#include "passes/fold_constants.h"
#include "passes/infer_shapes.h"
#include "passes/remove_dead_nodes.h"

namespace qrt::passes {

namespace {
using PassFn = Status (*)(ir::Graph&, bool*);
struct Pass {
  const char* name;
  PassFn run;
};
// The explicit list of passes, in order.
const Pass kPasses[] = {
    {"fold_constants", &foldConstants},
    {"remove_dead_nodes", &removeDeadNodes},
};
constexpr int kMaxRounds = 8;
}  // namespace

Status runDefaultPasses(ir::Graph& graph) {
  QRT_RETURN_IF_ERROR(inferShapes(graph));
  for (int round = 0; round < kMaxRounds; ++round) {
    bool any = false;
    for (const Pass& p : kPasses) {
      bool changed = false;
      QRT_RETURN_IF_ERROR(p.run(graph, &changed));
      any |= changed;
    }
    if (!any) break;
  }
  QRT_RETURN_IF_ERROR(inferShapes(graph));
  return ir::verify(graph);
}

}  // namespace qrt::passes
