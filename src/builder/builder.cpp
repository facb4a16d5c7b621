// The builder: clone the network, fix build-time shapes, optimize, choose a backend and
// precision per node, and check every kernel can be created.
#include <cstdlib>
#include <set>

#include "core/logging.h"
#include "core/status_macros.h"
#include "ir/graph.h"
#include "ops/op.h"
#include "passes/cpu_add_quantize.h"
#include "passes/cpu_layout.h"
#include "passes/fuse_qdq.h"
#include "passes/infer_shapes.h"
#include "passes/insert_qdq.h"
#include "passes/pass_manager.h"
#include "passes/quantize_before_maxpool.h"
#include "qrt/builder.h"
#include "builder/finalize.h"
#include "builder/int8_choice.h"
#include "builder/int8_calibration.h"
#include "builder/opt_shapes.h"
#include "builder/precision.h"
#include "runtime/engine_impl.h"
#include "runtime/kernel_factory.h"

namespace qrt {

namespace {

Status applyInputShapes(ir::Graph& g, const BuilderConfig& config) {
  for (const auto& [name, dims] : config.inputShapes()) {
    ir::Value* v = nullptr;
    for (ir::Value* in : g.inputs)
      if (in->name == name) v = in;
    if (!v) {
      std::string names;
      for (ir::Value* in : g.inputs) names += (names.empty() ? "" : ", ") + in->name;
      return notFound("shape given for '", name, "', but the model's inputs are: ", names);
    }
    if (dims.size() != v->dims.size())
      return invalidArgument("input '", name, "' has rank ", v->dims.size(), " (", dimsToString(v->dims),
                             "), but the shape given is ", dimsToString(dims));
    for (size_t i = 0; i < dims.size(); ++i) {
      if (dims[i] <= 0) return invalidArgument("input '", name, "': shape ", dimsToString(dims), " must be positive");
      if (v->dims[i] >= 0 && v->dims[i] != dims[i])
        return invalidArgument("input '", name, "' is ", dimsToString(v->dims), " in the model; cannot set ",
                               dimsToString(dims));
    }
    v->dims = dims;
  }
  return Status::Ok();
}

// Nodes that compute shapes (Shape, and nodes fed only by shapes and constants) run on the host
// when input shapes are set, not in enqueue.
void markHostNodes(ir::Graph& g) {
  std::set<const ir::Value*> host_values;
  for (const auto& n : g.nodes()) {
    bool host = n->op_type == "Shape";
    if (!host && n->op_type != "QuantizeLinear" && n->op_type != "DequantizeLinear") {
      bool any_host = false, all_known = true;
      for (const ir::Value* in : n->inputs) {
        if (!in) continue;
        if (host_values.count(in)) any_host = true;
        else if (!in->isConstant()) all_known = false;
      }
      host = any_host && all_known;
    }
    if (host) {
      n->backend = kBackendHost;
      for (const ir::Value* o : n->outputs)
        if (o) host_values.insert(o);
    }
  }
}

Precision precisionOf(const ir::Node& n) {
  // Integer kernels (qrt's fused QConv/QGemm/QMatMul may output float, *Integer outputs int32).
  // (qrt's float fused layers, FusedConv and FusedGemm, are in the qrt domain too.)
  if (isIntegerLayer(n)) return Precision::kINT8;
  const ir::Value* o = n.outputs.empty() ? nullptr : n.outputs[0];
  if (!o) return Precision::kFP32;
  switch (o->dtype) {
    case DataType::kHalf: return Precision::kFP16;
    case DataType::kBFloat16: return Precision::kBF16;
    case DataType::kInt8:
    case DataType::kUInt8: return Precision::kINT8;
    default: return Precision::kFP32;
  }
}

// Explicit quantization, TensorRT's way: Q/DQ pairs from calibrated activation scales (when the
// build has any), then every recognised Q/DQ pattern, inserted here or the model's own, folded
// into integer kernels (QConv, QGemm, QMatMul). The Q/DQ left over run as float-simulating kernels.
Status quantizeExplicitly(ir::Graph& g, const std::map<std::string, float>& activation_scales,
                          const BuilderConfig& config, const std::set<std::string>& keep_float,
                          std::map<std::string, std::string>* metadata) {
  std::string summary;
  if (!activation_scales.empty()) {
    passes::QdqReport report;
    passes::QdqOptions options;
    // CUDA: residual branches quantized too, so the GPU's residual blocks run int8 in, int8 out
    // (passes/fuse_qconv_residual.h); the cpu backend keeps its float residual + AddQuantize.
    // QRT_CUDA_INT8_RESIDUAL=off keeps the float residual on the GPU too (before/after timings).
    const char* residual_env = std::getenv("QRT_CUDA_INT8_RESIDUAL");
    options.quantize_residuals =
        config.device() == DeviceType::kCUDA && !(residual_env && std::string(residual_env) == "off");
    // Layers a float layer precision keeps out of INT8 (--precision-constraints prefer / obey).
    options.exclude_nodes = layersKeptOutOfInt8(config);
    // And the layers the per-layer choice found faster in FP16 (builder/int8_choice.h).
    options.exclude_nodes.insert(keep_float.begin(), keep_float.end());
    QRT_RETURN_IF_ERROR(passes::insertQdq(g, activation_scales, options, &report));
    logInfo("INT8: ", report.summary());
    summary = "inserted: " + report.summary() + "; ";
    for (const std::string& why : report.skipped) logInfo("INT8: left in float: ", why);
    QRT_RETURN_IF_ERROR(passes::inferShapes(g));
  }
  if (!passes::hasQdq(g)) return Status::Ok();
  // MaxPool -> Q becomes Q -> int8 MaxPool, so that the Q folds into the layer before the pool.
  QRT_RETURN_IF_ERROR(passes::quantizeBeforeMaxPool(g));
  passes::FoldReport fold;
  passes::FoldOptions fold_options;  // passes/fuse_qdq.h
  if (config.device() == DeviceType::kCUDA) {
    // HardSwish into QConv (the requantize and int8 depthwise kernels; fuse_qdq.h); =off: a node of its own.
    const char* hs = std::getenv("QRT_CUDA_QCONV_HARDSWISH");
    fold_options.hard_swish = !(hs && std::string(hs) == "off");
    fold_options.hard_swish_gemm = false;
    // The affine after the HardSwish (fuse_qdq.h) into QConv's requantize and int8 depthwise
    // kernels; =off: the Mul and Add stay nodes of their own. PP-OCRv4's detector at batch 1 on an
    // H200 (session 14): INT8 1.222 -> 0.987 ms (FP16 1.033).
    const char* affine = std::getenv("QRT_CUDA_QCONV_AFFINE");
    fold_options.hard_swish_affine = !(affine && std::string(affine) == "off");
  }
  QRT_RETURN_IF_ERROR(passes::foldQdq(g, &fold, fold_options));
  logInfo("INT8: Q/DQ folded into ", fold.summary());
  QRT_RETURN_IF_ERROR(checkInt8LayerPrecisions(g, config));
  (*metadata)["qdq"] = summary + "folded: " + fold.summary();
  return Status::Ok();
}

// Whether host nodes may go to the cpu backend. The environment variable QRT_BACKEND=reference
// keeps every node on the reference backend (the oracle: for comparisons and bisecting);
// unset, "auto" or "cpu" prefer the cpu backend where it has a kernel.
Result<bool> cpuBackendAllowed() {
  const char* env = std::getenv("QRT_BACKEND");
  std::string v = env ? env : "";
  if (v.empty() || v == "auto" || v == kBackendCpu) return true;
  if (v == kBackendReference) return false;
  return invalidArgument("QRT_BACKEND='", v, "': expected auto, cpu or reference");
}

// The cpu backend takes a node when its kernel table has an entry for (op, dtype) and the
// entry's factory accepts the node's attributes; everything else runs on the reference backend.
std::string chooseHostBackend(ir::Node& n, bool cpu_allowed) {
  if (cpu_allowed) {
    n.backend = kBackendCpu;
    if (createKernel(n).ok()) return kBackendCpu;
  }
  return kBackendReference;
}

}  // namespace

Result<std::shared_ptr<Engine>> finalizeEngine(std::unique_ptr<ir::Graph> g, std::map<std::string, std::string> metadata) {
  markHostNodes(*g);
  QRT_ASSIGN_OR_RETURN(bool cpu_allowed, cpuBackendAllowed());
  for (const auto& n : g->nodes()) {
    if (n->backend.empty()) n->backend = chooseHostBackend(*n, cpu_allowed);
    n->precision = precisionOf(*n);
    // Creating the kernel validates attributes and dtypes now rather than at run time.
    auto k = createKernel(*n);
    if (!k.ok()) return k.status();
  }
  // Channels-last activations between the cpu backend's convolutions (passes/cpu_layout.h).
  QRT_RETURN_IF_ERROR(passes::assignCpuLayouts(*g));
  // The float tail of INT8 residual blocks on the cpu backend (passes/cpu_add_quantize.h).
  QRT_RETURN_IF_ERROR(passes::fuseCpuAddQuantize(*g));
  auto impl = std::make_unique<Engine::Impl>();
  impl->graph = std::move(g);
  impl->metadata = std::move(metadata);
  impl->metadata["qrt_version"] = versionString();
  return std::make_shared<Engine>(std::move(impl));
}

namespace {

// The build from quantization on, over a copy of the simplified graph `simplified`: Q/DQ from the
// activation scales (none: a float engine) with `keep_float` left out of INT8, fusion, the device
// or host precision choice, the engine.
Result<std::shared_ptr<Engine>> buildFrom(const ir::Graph& simplified, const std::map<std::string, float>& activation_scales,
                                          const BuilderConfig& config, const std::set<std::string>& keep_float,
                                          std::map<std::string, std::string> metadata) {
  auto g = simplified.clone();
  QRT_RETURN_IF_ERROR(quantizeExplicitly(*g, activation_scales, config, keep_float, &metadata));
  QRT_RETURN_IF_ERROR(passes::runFusionPasses(*g));
  std::string flags;
  if (config.getFlag(BuilderFlag::kFP16)) flags += "fp16,";
  if (config.getFlag(BuilderFlag::kBF16)) flags += "bf16,";
  if (config.getFlag(BuilderFlag::kINT8)) flags += "int8,";
  if (config.getFlag(BuilderFlag::kTF32)) flags += "tf32,";
  metadata["builder_flags"] = flags.empty() ? "fp32" : flags.substr(0, flags.size() - 1);
  if (!config.optShapes().empty()) metadata["opt_shapes"] = optShapesText(config.optShapes());
  // Device builds choose device kernels (and FP16 where allowed) and record the device.
  QRT_RETURN_IF_ERROR(prepareGraphForDevice(*g, config, metadata));
  // Host builds: precision per layer (flags, layer precisions, timed tactics; builder/precision.h).
  if (config.device() == DeviceType::kCPU) {
    markHostNodes(*g);
    QRT_ASSIGN_OR_RETURN(bool cpu_allowed, cpuBackendAllowed());
    QRT_RETURN_IF_ERROR(assignPrecisions(*g, config, cpu_allowed, &metadata));
  } else if (!config.layerPrecisions().empty()) {
    QRT_RETURN_IF_ERROR(checkDeviceLayerPrecisions(*g, config));
  }
  return finalizeEngine(std::move(g), std::move(metadata));
}

}  // namespace

Result<std::shared_ptr<Engine>> buildEngine(const Network& network, const BuilderConfig& config) {
  auto g = network.graph().clone();
  QRT_RETURN_IF_ERROR(applyInputShapes(*g, config));
  QRT_RETURN_IF_ERROR(checkOptShapes(*g, config));
  // Explicit quantization sits between simplification and fusion: insertQdq looks for plain
  // ONNX Conv/Gemm/MatMul (after BatchNormalization folding), foldQdq fuses their Relu/Clip into
  // integer kernels itself, and float fusion then leaves DQ-fed layers alone.
  QRT_RETURN_IF_ERROR(passes::runSimplifyPasses(*g));
  auto metadata = config.metadata();
  // Activation scales (tensor name -> Q/DQ scale) for insertQdq; INT8 calibration supplies them.
  std::map<std::string, float> activation_scales;
  if (config.getFlag(BuilderFlag::kINT8)) {
    QRT_ASSIGN_OR_RETURN(activation_scales, int8ActivationScales(*g, config, &metadata));
  }
  // CUDA with --int8 --fp16: INT8 or FP16 per layer, whichever the GPU runs faster.
  std::string why_not;
  if (int8ChoiceApplies(config, !activation_scales.empty(), &why_not)) {
    BuilderConfig float_config = config;
    float_config.clearFlag(BuilderFlag::kINT8);
    return buildWithInt8Choice(*g, config, [&](const std::set<std::string>& keep_float, bool int8) {
      return int8 ? buildFrom(*g, activation_scales, config, keep_float, metadata)
                  : buildFrom(*g, {}, float_config, {}, metadata);
    });
  }
  return buildFrom(*g, activation_scales, config, {}, std::move(metadata));
}

}  // namespace qrt
