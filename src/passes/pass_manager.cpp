#include "passes/pass_manager.h"

#include <cstdlib>
#include <set>

#include "core/logging.h"
#include "core/status_macros.h"
#include "passes/fold_batchnorm.h"
#include "passes/fold_constants.h"
#include "passes/fold_mul_add_into_conv.h"
#include "passes/fuse_conv_activation.h"
#include "passes/infer_shapes.h"
#include "passes/recognize_activations.h"
#include "passes/recognize_layernorm.h"
#include "passes/remove_dead_nodes.h"
#include "passes/remove_identities.h"

namespace qrt::passes {

namespace {
using PassFn = Status (*)(ir::Graph&, bool*);
enum class Stage { kSimplify, kFuse };
struct Pass {
  const char* name;
  PassFn run;
  Stage stage;
};
// The explicit list of passes, in order.
const Pass kPasses[] = {
    {"fold_constants", &foldConstants, Stage::kSimplify},
    {"remove_dead_nodes", &removeDeadNodes, Stage::kSimplify},
    {"remove_identities", &removeIdentities, Stage::kSimplify},
    // Before the affine folds: a chain's final "/ 6" is also a Mul the next conv could absorb.
    {"recognize_activations", &recognizeActivations, Stage::kSimplify},
    {"recognize_layernorm", &recognizeLayerNorm, Stage::kSimplify},
    {"fold_batchnorm", &foldBatchNorm, Stage::kSimplify},
    {"fold_mul_add_into_conv", &foldMulAddIntoConv, Stage::kSimplify},
    {"fuse_conv_activation", &fuseConvActivation, Stage::kFuse},
};
constexpr int kMaxRounds = 8;
constexpr const char kDisableVar[] = "QRT_DISABLE_PASSES";

// The passes QRT_DISABLE_PASSES names (read at every run, so a process can change it).
Result<std::set<std::string>> disabledPasses() {
  std::set<std::string> names;
  const char* env = std::getenv(kDisableVar);
  if (!env) return names;
  std::string list = env;
  size_t start = 0;
  while (start <= list.size()) {
    size_t end = list.find(',', start);
    if (end == std::string::npos) end = list.size();
    std::string name = list.substr(start, end - start);
    name.erase(0, name.find_first_not_of(" \t"));
    name.erase(name.find_last_not_of(" \t") + 1);
    start = end + 1;
    if (name.empty()) continue;
    if (name == "all") {
      for (const Pass& p : kPasses) names.insert(p.name);
      continue;
    }
    bool known = false;
    for (const Pass& p : kPasses) known |= name == p.name;
    if (!known) {
      std::string all;
      for (const Pass& p : kPasses) all += std::string(all.empty() ? "" : ", ") + p.name;
      return invalidArgument(kDisableVar, ": unknown pass '", name, "' (passes: ", all, ", or all)");
    }
    names.insert(name);
  }
  return names;
}

Status runStage(ir::Graph& graph, Stage stage) {
  QRT_ASSIGN_OR_RETURN(std::set<std::string> disabled, disabledPasses());
  QRT_RETURN_IF_ERROR(inferShapes(graph));
  for (int round = 0; round < kMaxRounds; ++round) {
    bool any = false;
    for (const Pass& p : kPasses) {
      if (p.stage != stage || disabled.count(p.name)) continue;
      bool changed = false;
      Status st = p.run(graph, &changed);
      if (!st.ok()) return st.withContext(std::string("pass ") + p.name);
      any |= changed;
    }
    if (!any) break;
  }
  QRT_RETURN_IF_ERROR(inferShapes(graph));
  return ir::verify(graph);
}
}  // namespace

Status runSimplifyPasses(ir::Graph& graph) { return runStage(graph, Stage::kSimplify); }

Status runFusionPasses(ir::Graph& graph) { return runStage(graph, Stage::kFuse); }

Status runDefaultPasses(ir::Graph& graph) {
  const size_t before = graph.nodes().size();
  QRT_RETURN_IF_ERROR(runSimplifyPasses(graph));
  QRT_RETURN_IF_ERROR(runFusionPasses(graph));
  logInfo("graph passes: ", before, " nodes -> ", graph.nodes().size());
  return Status::Ok();
}

std::vector<std::string> passNames() {
  std::vector<std::string> names;
  for (const Pass& p : kPasses) names.emplace_back(p.name);
  return names;
}

}  // namespace qrt::passes
