// The builder step of a --device cuda build (after the graph passes, which already fused
// convolution epilogues into qrt's FusedConv / FusedGemm): convert to FP16 when the config allows it (channels-last around the FP16 convolutions), check that every device node
// has a CUDA kernel, and record the GPU and the library versions in the engine metadata.
#include <algorithm>

#include "backends/cuda/conv_tactics.h"
#include "backends/cuda/gemm_tactics.h"
#include "backends/cuda/kernel_table.h"
#include "backends/cuda/runtime.h"
#include "builder/opt_shapes.h"
#include "core/logging.h"
#include "ops/op.h"
#include "passes/fuse_qconv_residual.h"
#include "passes/quantize_before_maxpool.h"
#include "passes/infer_shapes.h"

namespace qrt::cuda {

// The rule of the builder's markHostNodes (src/builder/builder.cpp), computed here before the
// graph steps so they leave host nodes alone: Shape, and nodes fed only by host values and
// constants (at least one host value), except Q/DQ.
std::set<const ir::Node*> hostNodes(const ir::Graph& g) {
  std::set<const ir::Node*> host;
  std::set<const ir::Value*> host_values;
  for (const auto& n : g.nodes()) {
    bool is_host = n->op_type == "Shape";
    if (!is_host && n->op_type != "QuantizeLinear" && n->op_type != "DequantizeLinear") {
      bool any_host = false, all_known = true;
      for (const ir::Value* in : n->inputs) {
        if (!in) continue;
        if (host_values.count(in)) any_host = true;
        else if (!in->isConstant()) all_known = false;
      }
      is_host = any_host && all_known;
    }
    if (is_host) {
      host.insert(n.get());
      for (const ir::Value* o : n->outputs)
        if (o) host_values.insert(o);
    }
  }
  return host;
}

Status prepareGraph(ir::Graph& g, const BuilderConfig& config, std::map<std::string, std::string>& metadata) {
  auto info = currentDevice();
  if (!info.ok()) return info.status().withContext("--device cuda");
  int half_nodes = 0, nhwc_nodes = 0, layout_changes = 0;
  // INT8 residual blocks (QConv -> Add(DQ(z)) [-> Relu] [-> Q]) as one int8-in/int8-out QConv
  // (passes/fuse_qconv_residual.h), before FP16 (which would put Casts inside the pattern) and
  // before the layout step (so that z joins the NHWC region).
  int qconv_residual = 0;
  QRT_RETURN_IF_ERROR(passes::fuseQConvResidual(g, &qconv_residual));
  if (qconv_residual > 0) logInfo("CUDA: ", qconv_residual, " residual Add [+ Relu] [+ Q] fused into QConv");
  // INT8 stems (<= 4 input channels) run as float convolutions, FP16 where allowed (int8_stems.cpp).
  passes::UnfoldReport stems;
  QRT_RETURN_IF_ERROR(unfoldInt8Stems(g, &stems));
  if (config.getFlag(BuilderFlag::kFP16)) QRT_RETURN_IF_ERROR(convertToHalf(g, &half_nodes));
  QRT_RETURN_IF_ERROR(finishInt8Stems(g, stems, metadata));
  // Channels-last around FP16 convolutions and INT8 ones (QConv, from foldQdq).
  const bool has_qconv = std::any_of(g.nodes().begin(), g.nodes().end(), [](const auto& n) {
    return n->op_type == "QConv" && n->domain == kQrtDomain;
  });
  if (config.getFlag(BuilderFlag::kFP16) || has_qconv)
    QRT_RETURN_IF_ERROR(assignChannelsLast(g, &nhwc_nodes, &layout_changes));
  // INT8 residual tails (Add -> Relu -> QuantizeLinear) as one pass over memory.
  int add_quantize = 0;
  QRT_RETURN_IF_ERROR(fuseAddQuantize(g, &add_quantize));
  if (add_quantize > 0) logInfo("CUDA: ", add_quantize, " Add [+ Relu] + QuantizeLinear fused into AddQuantize");
  // The INT8 stem's float MaxPool and its QuantizeLinear (quantizeAfterMaxPool) as one pass.
  int pool_quantize = 0;
  if (!envIs("QRT_CUDA_POOL_QUANTIZE", "off")) {
    const std::set<const ir::Node*> host = hostNodes(g);
    QRT_RETURN_IF_ERROR(passes::fuseMaxPoolQuantize(
        g, [&](const ir::Node& n) { return host.count(&n) == 0; }, &pool_quantize));
  }
  if (pool_quantize > 0) logInfo("CUDA: ", pool_quantize, " MaxPool + QuantizeLinear fused into MaxPoolQuantize");
  QRT_RETURN_IF_ERROR(passes::inferShapes(g));
  logInfo("CUDA: ", half_nodes, " nodes in FP16, ", nhwc_nodes,
          " channels-last nodes, ", layout_changes, " layout changes");

  // Every node that does not run on the host needs a CUDA kernel: no silent host fallback.
  const std::set<const ir::Node*> host = hostNodes(g);
  for (const auto& n : g.nodes()) {
    if (host.count(n.get())) {
      n->backend = "host";
      continue;
    }
    if (!findKernel(*n)) {
      DataType t = n->hasInput(0) ? n->inputs[0]->dtype : DataType::kUndefined;
      return unsupported(n->describe(), " (", dataTypeName(t),
                         "): the CUDA backend has no kernel for it; build for the CPU (--device cpu) instead");
    }
    n->backend = "cuda";
  }
  // Both tuners time dynamic layers at the opt shapes: every value's dims there, inferred once.
  std::map<std::string, Dims> opt_dims;
  if (auto at = dimsAtOptShapes(g, config); at.ok()) opt_dims = std::move(*at);
  else logWarning("CUDA tactics: ", at.status().message(), "; dynamic layers keep the heuristic's plans");
  // Build-time tactics of the convolutions, timed on this GPU (conv_tactics.h).
  QRT_RETURN_IF_ERROR(chooseConvTactics(g, config, *info, opt_dims, metadata));
  // A stem convolution on qrt's stem kernel reads the engine's NCHW input itself (stem_input.cpp).
  int stem_inputs = 0;
  QRT_RETURN_IF_ERROR(fuseStemInput(g, &stem_inputs));
  if (stem_inputs > 0) logInfo("CUDA: ", stem_inputs, " stem convolution(s) read the NCHW input directly");
  int stem_quantize = 0;
  QRT_RETURN_IF_ERROR(fuseStemQuantize(g, &stem_quantize));
  if (stem_quantize > 0) logInfo("CUDA: ", stem_quantize, " INT8 stem(s) write int8 for an int8 MaxPool");
  int stem_pools = 0;
  QRT_RETURN_IF_ERROR(fuseStemPool(g, info->sm_count, &stem_pools));
  if (stem_pools > 0) logInfo("CUDA: ", stem_pools, " stem(s) max-pool their own output");
  int downsamples = 0;
  QRT_RETURN_IF_ERROR(fuseDownsampleResidual(g, &downsamples, config.timingCachePath(), convCacheWhere(*info)));
  if (downsamples > 0) logInfo("CUDA: ", downsamples, " downsample convolution(s) computed inside their residual QConv");
  // And of the matrix products on cuBLASLt (gemm_tactics.h), in the same timing cache.
  QRT_RETURN_IF_ERROR(chooseGemmTactics(g, config, *info, opt_dims, metadata));
  metadata["device"] = "cuda";
  metadata["cuda_arch"] = archName(info->sm);
  metadata["cuda_device"] = info->name;
  metadata["cuda_runtime"] = versionName(info->runtime);
  metadata["cuda_driver"] = versionName(info->driver);
  metadata["cudnn_version"] = cudnnVersionName(info->cudnn);
  metadata["cublaslt_version"] = std::to_string(info->cublaslt);
  return Status::Ok();
}

}  // namespace qrt::cuda
