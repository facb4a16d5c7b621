// qrt export-qdq: an ONNX model plus a TensorRT calibration cache -> a QDQ ONNX model (explicit
// quantization) that ONNX Runtime runs and TensorRT builds. See docs/qdq.md.
//
//   import -> simplification passes (the same graph the builder calibrates) -> cache scales ->
//   insertQdq (Q/DQ on Conv/ConvTranspose/Gemm/MatMul inputs, int8 per-channel weights) -> export
//
// Fusion and Q/DQ folding are not run: they make qrt-domain ops that ONNX cannot express.
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <map>
#include <set>

#include "commands.h"
#include "core/status_macros.h"
#include "ir/graph.h"
#include "onnx/exporter.h"
#include "ops/op.h"
#include "passes/infer_shapes.h"
#include "passes/insert_qdq.h"
#include "passes/pass_manager.h"
#include "quant/calibration_cache.h"
#include "runtime/engine_impl.h"

namespace qrt::cli {

namespace {

struct ExportQdqOptions {
  std::string output, cache;
  std::vector<std::string> exclude;
  bool per_tensor_weights = false, verbose = false;
  int opset = 0;
  OptionGroup group() {
    OptionGroup g{"Export options", {}};
    g.value("--output", &output, "FILE.onnx", "the QDQ model to write", "-o");
    g.value("--calib-cache", &cache, "FILE", "TensorRT calibration cache (from qrt build --int8 or TensorRT)");
    g.list("--exclude", &exclude, "NODE", "leave this layer in float (repeatable; names as --verbose shows them)");
    g.flag("--per-tensor-weights", &per_tensor_weights, "one scale per weight tensor (default: per output channel)");
    g.intValue("--opset", &opset, "N", "write at least this opset (default: the model's, at least 13)");
    g.flag("--verbose", &verbose, "list the layers left in float, and why");
    return g;
  }
};

bool isDefaultDomain(const std::string& d) { return d.empty() || d == "ai.onnx"; }

bool isQuantizableLayer(const ir::Node& n) {
  return isDefaultDomain(n.domain) &&
         (n.op_type == "Conv" || n.op_type == "ConvTranspose" || n.op_type == "Gemm" || n.op_type == "MatMul");
}

bool fromDequantize(const ir::Value* v) {
  return v && v->producer && v->producer->op_type == "DequantizeLinear" && isDefaultDomain(v->producer->domain);
}

// Fixes input dims as `qrt build --shapes` does, so that shape computations fold the same way.
Status applyShapes(ir::Graph& g, const std::map<std::string, Dims>& shapes) {
  for (const auto& [name, dims] : shapes) {
    ir::Value* v = nullptr;
    for (ir::Value* in : g.inputs)
      if (in->name == name) v = in;
    if (!v) return notFound("--shapes names '", name, "', which is not an input of the model");
    if (dims.size() != v->dims.size())
      return invalidArgument("input '", name, "' has rank ", v->dims.size(), ", but --shapes gives ", dimsToString(dims));
    for (size_t i = 0; i < dims.size(); ++i)
      if (dims[i] <= 0 || (v->dims[i] >= 0 && v->dims[i] != dims[i]))
        return invalidArgument("input '", name, "' is ", dimsToString(v->dims), " in the model; cannot set ",
                               dimsToString(dims));
    v->dims = dims;
  }
  return Status::Ok();
}

// The float graph Q/DQ go into: an ONNX model after simplification, or the graph an engine keeps
// when it holds no qrt-domain ops (it usually does: fused layers, folded Q/DQ).
Result<std::unique_ptr<ir::Graph>> loadGraph(const std::string& path, const std::map<std::string, Dims>& shapes) {
  if (isOnnxPath(path)) {
    QRT_ASSIGN_OR_RETURN(auto network, parseOnnxFile(path));
    auto g = network->graph().clone();
    QRT_RETURN_IF_ERROR(applyShapes(*g, shapes));
    QRT_RETURN_IF_ERROR(passes::runSimplifyPasses(*g));
    return g;
  }
  QRT_ASSIGN_OR_RETURN(auto engine, Engine::load(path));
  if (!shapes.empty()) return invalidArgument("--shapes applies to ONNX models; an engine's shapes were fixed when it was built");
  const ir::Graph& eg = *engine->impl().graph;
  for (const auto& n : eg.nodes())
    if (n->domain == kQrtDomain)
      return unsupported("engine '", path, "' keeps only its optimized graph, whose ", n->op_type, " '", n->name,
                         "' (and other fused layers) are qrt's own ops with no ONNX form; export-qdq needs the "
                         "ONNX model: qrt export-qdq MODEL.onnx --calib-cache FILE -o OUT.onnx");
  return eg.clone();
}

// TensorRT's cache holds amax / 127; that is the Q/DQ scale, except that a zero (all-zero tensor),
// subnormal or non-finite scale becomes 1.0 as quant::qdqScaleFromAmax decides (a Q/DQ scale
// must be positive and finite; any scale represents zeros exactly).
float qdqScaleFromCache(float cache_scale) {
  return std::isfinite(cache_scale) && std::fpclassify(cache_scale) == FP_NORMAL && cache_scale > 0.f ? cache_scale
                                                                                                      : 1.0f;
}

struct ScaleMap {
  std::map<std::string, float> scales;
  size_t unknown = 0;  // cache entries naming no tensor of the graph (TensorRT's internal ones)
};

ScaleMap scalesForGraph(const ir::Graph& g, const quant::CalibrationCache& cache) {
  ScaleMap out;
  for (const auto& [name, scale] : cache.scales) {
    if (!g.findValue(name)) {
      ++out.unknown;
      continue;
    }
    out.scales[name] = qdqScaleFromCache(scale);
  }
  return out;
}

// "quantized 7 of 8 layers": layers whose inputs A/X and B/W both come through DequantizeLinear.
std::pair<int, int> countQuantized(ir::Graph& g) {
  g.rebuildUses();
  int quantized = 0, layers = 0;
  for (const auto& n : g.nodes()) {
    if (!isQuantizableLayer(*n)) continue;
    ++layers;
    if (n->hasInput(1) && fromDequantize(n->inputs[0]) && fromDequantize(n->inputs[1])) ++quantized;
  }
  return {quantized, layers};
}

int countQdqNodes(const ir::Graph& g) {
  int k = 0;
  for (const auto& n : g.nodes())
    k += isDefaultDomain(n->domain) && (n->op_type == "QuantizeLinear" || n->op_type == "DequantizeLinear");
  return k;
}

}  // namespace

int cmdExportQdq(const std::vector<std::string>& args) {
  ModelOptions model;
  ExportQdqOptions opts;
  OptionGroup gm = model.group(), ge = opts.group();
  std::vector<OptionGroup*> groups = {&gm, &ge};
  std::vector<std::string> pos;
  bool help = false;
  if (Status s = parseArgs(args, groups, &pos, &help); !s.ok()) return fail(s);
  if (help) {
    std::printf("%s", usage("qrt export-qdq MODEL.onnx|ENGINE.qrt --calib-cache FILE -o MODEL_qdq.onnx [options]", groups)
                          .c_str());
    return 0;
  }
  if (pos.size() != 1) return fail(invalidArgument("export-qdq takes one MODEL.onnx or ENGINE.qrt (got ", pos.size(), ")"));
  if (opts.output.empty()) return fail(invalidArgument("export-qdq needs -o MODEL_qdq.onnx"));
  if (opts.cache.empty()) return fail(invalidArgument("export-qdq needs --calib-cache FILE (make one with qrt build --int8 --calib-dir DIR --calib-cache FILE)"));
  if (!isOnnxPath(opts.output)) return fail(invalidArgument("-o '", opts.output, "': the output must be a .onnx file"));

  auto shapes = parseShapes(model.shapes);
  if (!shapes.ok()) return fail(shapes.status());
  auto graph = loadGraph(pos[0], *shapes);
  if (!graph.ok()) return fail(graph.status());
  ir::Graph& g = **graph;
  auto cache = quant::readCalibrationCache(opts.cache);
  if (!cache.ok()) return fail(cache.status());
  ScaleMap scales = scalesForGraph(g, *cache);

  passes::QdqOptions qdq;
  qdq.per_channel_weights = !opts.per_tensor_weights;
  for (const std::string& name : opts.exclude) {
    bool found = false;
    for (const auto& n : g.nodes()) found |= n->name == name;
    if (!found) return fail(notFound("--exclude names '", name, "', which is not a layer of the optimized graph"));
    qdq.exclude_nodes.insert(name);
  }
  passes::QdqReport qdq_report;
  if (Status s = passes::insertQdq(g, scales.scales, qdq, &qdq_report); !s.ok()) return fail(s);
  if (Status s = passes::inferShapes(g); !s.ok()) return fail(s);

  auto [quantized, layers] = countQuantized(g);
  if (layers > 0 && quantized == 0)
    return fail(invalidArgument("no layer of '", pos[0], "' could be quantized: the cache '", opts.cache, "' has ",
                                scales.scales.size(), " of its ", cache->scales.size(),
                                " tensors in the model (was it made for this model?)"));
  std::printf("quantized %d of %d layers (%zu of %zu cache tensors used)\n", quantized, layers, scales.scales.size(),
              cache->scales.size());
  if (opts.verbose)
    for (const std::string& why : qdq_report.skipped) std::printf("  left in float: %s\n", why.c_str());

  ExportOptions eo;
  eo.min_opset = opts.opset;
  eo.doc_string = "QDQ model written by qrt export-qdq";
  eo.metadata["qrt_source_model"] = std::filesystem::path(pos[0]).filename().string();
  eo.metadata["qrt_calibration_cache"] = std::filesystem::path(opts.cache).filename().string();
  eo.metadata["qrt_calibration_algorithm"] = cache->algorithm;
  if (Status s = exportOnnxFile(g, opts.output, eo); !s.ok()) return fail(s);
  std::printf("wrote %s: opset %d, %d QuantizeLinear/DequantizeLinear nodes\n", opts.output.c_str(), exportOpset(g, eo),
              countQdqNodes(g));
  return 0;
}

}  // namespace qrt::cli
