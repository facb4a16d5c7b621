// INT8 stems in float on the GPU (passes/unfold_qconv.h says why and how): the builder steps
// around convertToHalf, so that with --fp16 the unfolded convolution is FP16 and channels-last
// like any FP16 convolution, and the engine's layer info says why that layer is not INT8.
//
// QRT_CUDA_INT8_STEM=int8 keeps these layers INT8 (QConv), for comparisons; unset or "float"
// unfolds them. (Layer precisions, which would be the API for it, do not take int8 and are not
// taken by CUDA builds yet.)
#include <cstdlib>

#include "backends/cuda/runtime.h"
#include "core/json_reader.h"
#include "core/json_writer.h"
#include "core/logging.h"
#include "core/status_macros.h"
#include "passes/quantize_before_maxpool.h"
#include "passes/remove_dead_nodes.h"

namespace qrt::cuda {

namespace {

ir::Node* nodeNamed(const ir::Graph& g, const std::string& name) {
  for (const auto& n : g.nodes())
    if (n->name == name) return n.get();
  return nullptr;
}

}  // namespace

Status unfoldInt8Stems(ir::Graph& g, passes::UnfoldReport* report) {
  const char* env = std::getenv("QRT_CUDA_INT8_STEM");
  const std::string mode = env ? env : "";
  if (mode == "int8") return Status::Ok();
  if (!mode.empty() && mode != "float")
    return invalidArgument("QRT_CUDA_INT8_STEM='", mode, "': expected float (the default) or int8");
  QRT_RETURN_IF_ERROR(passes::unfoldFewChannelQConvs(g, report));
  for (const std::string& name : report->layers)
    logInfo("CUDA: INT8 layer '", name, "' (<= ", passes::kMaxUnfoldedInputChannels,
            " input channels) runs as a float convolution");
  return Status::Ok();
}

Status finishInt8Stems(ir::Graph& g, const passes::UnfoldReport& report, std::map<std::string, std::string>& metadata) {
  if (report.layers.empty()) return Status::Ok();
  // convertToHalf left fp16 conv -> Cast -> QuantizeLinear: the CUDA QuantizeLinear reads fp16
  // itself (the Cast to fp32 is exact, so the int8 result is the same) and the unfolded layer's
  // output is the largest activation of the network (ResNet-50 at batch 256: 411 MB in fp16),
  // so the Cast's write and read of twice that are dropped.
  g.rebuildUses();
  bool rewired = false;
  for (const std::string& qname : report.quantizes) {
    ir::Node* q = nodeNamed(g, qname);
    if (!q || !q->hasInput(0)) continue;
    ir::Node* cast = q->inputs[0]->producer;
    if (!cast || cast->op_type != "Cast" || !cast->domain.empty() || !cast->hasInput(0) ||
        cast->inputs[0]->dtype != DataType::kHalf || q->inputs[0]->dtype != DataType::kFloat)
      continue;
    q->inputs[0] = cast->inputs[0];
    rewired = true;
  }
  if (rewired) {
    QRT_RETURN_IF_ERROR(passes::removeDeadNodes(g));  // the Casts nothing else reads
    g.rebuildUses();
  }
  // The builder's quantizeBeforeMaxPool put the stem's Q before its MaxPool (right for an int8
  // stem: the conv wrote int8). With the stem in float, pool first and quantize the pooled
  // quarter: ResNet-50 at batch 256 on an H200 quantized 205M fp16 elements in 0.83 ms.
  int pooled_first = 0;
  QRT_RETURN_IF_ERROR(passes::quantizeAfterMaxPool(g, report.quantizes, &pooled_first));
  if (pooled_first > 0) logInfo("CUDA: ", pooled_first, " INT8 stem(s) max-pool in float before quantizing");

  // The reason per layer, in the metadata Engine::layers() and `qrt inspect` read (host builds
  // write it in assignPrecisions; a CUDA build has no other entries yet, but keep any).
  std::map<std::string, std::string> reasons;
  if (auto it = metadata.find("layer_tactics"); it != metadata.end()) {
    QRT_ASSIGN_OR_RETURN(JsonValue doc, parseJson(it->second));
    if (doc.isObject())
      for (const auto& [name, v] : doc.members())
        if (const JsonValue* r = v.find("reason"); r && r->isString()) reasons[name] = r->asString();
  }
  for (const std::string& name : report.layers) {
    const ir::Node* n = nodeNamed(g, name);
    const bool half = n && n->hasInput(0) && n->inputs[0]->dtype == DataType::kHalf;
    reasons[name] = strCat("INT8 layer run in ", half ? "fp16" : "fp32", ": cuDNN's int8 convolutions are slow for <= ",
                           passes::kMaxUnfoldedInputChannels,
                           " input channels (ResNet-50 conv1 at batch 256 on an H100: 4.97 ms int8, 0.59 ms fp16); "
                           "reads x unquantized; QRT_CUDA_INT8_STEM=int8 keeps int8");
  }
  JsonWriter j(0);
  j.beginObject();
  for (const auto& [name, reason] : reasons) j.key(name).beginObject().key("reason").value(reason).endObject();
  j.endObject();
  metadata["layer_tactics"] = j.str();
  return Status::Ok();
}

}  // namespace qrt::cuda
