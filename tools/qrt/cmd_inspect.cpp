#include <algorithm>
#include <cstdio>

#include "commands.h"
#include "core/status_macros.h"
#include "core/json_writer.h"

namespace qrt::cli {

namespace {

void tensorsJson(JsonWriter& j, const char* key, const std::vector<TensorInfo>& ts) {
  j.key(key).beginArray();
  for (const auto& t : ts) {
    j.beginObject().key("name").value(t.name).key("dtype").value(dataTypeName(t.dtype));
    j.key("dims").array(t.dims).endObject();
  }
  j.endArray();
}

std::string printJson(const std::string& kind, const std::vector<TensorInfo>& ins, const std::vector<TensorInfo>& outs,
                      const std::vector<LayerInfo>& layers, const std::map<std::string, std::string>& meta) {
  JsonWriter j;
  j.beginObject().key("kind").value(kind);
  tensorsJson(j, "inputs", ins);
  tensorsJson(j, "outputs", outs);
  j.key("layers").beginArray();
  for (const auto& l : layers) {
    j.beginObject().key("name").value(l.name).key("op").value(l.op);
    j.key("inputs").array(l.inputs).key("outputs").array(l.outputs);
    j.key("output_dims").beginArray();
    for (const auto& d : l.output_dims) j.array(d);
    j.endArray();
    j.key("precision").value(l.precision).key("backend").value(l.backend);
    if (!l.reason.empty()) j.key("reason").value(l.reason);
    if (!l.timings_ms.empty()) {
      j.key("timings_ms").beginObject();
      for (const auto& [label, ms] : l.timings_ms) j.key(label).value(ms);
      j.endObject();
    }
    j.endObject();
  }
  j.endArray();
  j.key("metadata").beginObject();
  for (const auto& [k, v] : meta)
    if (k != "layer_tactics") j.key(k).value(v);  // shown per layer (reason, timings_ms)
  j.endObject().endObject();
  return j.str() + "\n";
}

void printText(const std::string& title, const std::vector<TensorInfo>& ins, const std::vector<TensorInfo>& outs,
               const std::vector<LayerInfo>& layers, const std::map<std::string, std::string>& meta) {
  std::printf("%s\n", title.c_str());
  for (const auto& [k, v] : meta)
    if (k != "preprocess" && k != "layer_tactics") std::printf("  %s: %s\n", k.c_str(), v.c_str());
  std::printf("inputs:\n");
  for (const auto& t : ins) std::printf("  %-24s %-6s %s\n", t.name.c_str(), dataTypeName(t.dtype), dimsToString(t.dims).c_str());
  std::printf("outputs:\n");
  for (const auto& t : outs) std::printf("  %-24s %-6s %s\n", t.name.c_str(), dataTypeName(t.dtype), dimsToString(t.dims).c_str());
  size_t w = 4;
  for (const auto& l : layers) w = std::max(w, l.name.size());
  w = std::min<size_t>(w, 40);
  std::map<std::string, int> per_precision;
  for (const auto& l : layers)
    if (l.backend != "host") ++per_precision[l.precision];
  std::string counts;
  for (const auto& [p, n] : per_precision) counts += (counts.empty() ? "" : ", ") + std::to_string(n) + " " + p;
  std::printf("layers (%zu; %s):\n  %-4s %-*s %-20s %-22s %-9s %-9s %s\n", layers.size(), counts.c_str(), "#",
              static_cast<int>(w), "name", "op", "output", "precision", "backend", "reason / tactic");
  for (size_t i = 0; i < layers.size(); ++i) {
    const auto& l = layers[i];
    std::string out = l.output_dims.empty() ? "" : dimsToString(l.output_dims[0]);
    std::printf("  %-4zu %-*s %-20s %-22s %-9s %-9s %s\n", i, static_cast<int>(w), l.name.c_str(), l.op.c_str(),
                out.c_str(), l.precision.c_str(), l.backend.empty() ? "-" : l.backend.c_str(), l.reason.c_str());
  }
}

}  // namespace

std::string engineJson(const Engine& e) { return printJson("engine", e.inputs(), e.outputs(), e.layers(), e.allMetadata()); }

int cmdInspect(const std::vector<std::string>& args) {
  ModelOptions model;
  ReportingOptions report;
  OptionGroup gm = model.group(), gr = report.group();
  std::vector<OptionGroup*> groups = {&gm, &gr};
  std::vector<std::string> pos;
  bool help = false;
  if (Status s = parseArgs(args, groups, &pos, &help); !s.ok()) return fail(s);
  if (help) {
    std::printf("%s", usage("qrt inspect MODEL.onnx|ENGINE.qrt [--json]", groups).c_str());
    return 0;
  }
  if (pos.size() != 1) return fail(invalidArgument("inspect takes one MODEL.onnx or ENGINE.qrt"));
  const std::string& path = pos[0];
  if (isOnnxPath(path)) {
    auto net = parseOnnxFile(path);
    if (!net.ok()) return fail(net.status());
    std::map<std::string, std::string> meta;
    if (report.json) std::printf("%s", printJson("onnx", (*net)->inputs(), (*net)->outputs(), (*net)->layers(), meta).c_str());
    else printText("model " + path + " (ONNX)", (*net)->inputs(), (*net)->outputs(), (*net)->layers(), meta);
    return 0;
  }
  auto engine = Engine::load(path);
  if (!engine.ok()) return fail(engine.status());
  const Engine& e = **engine;
  if (report.json) std::printf("%s", printJson("engine", e.inputs(), e.outputs(), e.layers(), e.allMetadata()).c_str());
  else printText("engine " + path, e.inputs(), e.outputs(), e.layers(), e.allMetadata());
  return 0;
}

}  // namespace qrt::cli
