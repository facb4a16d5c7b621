#include "ir/layer_info.h"

#include "core/json_reader.h"

namespace qrt::ir {

namespace {
TensorInfo info(const Value* v) { return TensorInfo{v->name, v->dtype, v->dims}; }
}  // namespace

std::vector<TensorInfo> describeInputs(const Graph& g) {
  std::vector<TensorInfo> r;
  for (const Value* v : g.inputs) r.push_back(info(v));
  return r;
}

std::vector<TensorInfo> describeOutputs(const Graph& g) {
  std::vector<TensorInfo> r;
  for (const Value* v : g.outputs) r.push_back(info(v));
  return r;
}

std::vector<LayerInfo> describeLayers(const Graph& g) {
  std::vector<LayerInfo> r;
  for (const auto& n : g.nodes()) {
    LayerInfo l;
    l.name = n->name;
    l.op = n->op_type;
    for (const Value* v : n->inputs) l.inputs.push_back(v ? v->name : "");
    for (const Value* v : n->outputs) {
      l.outputs.push_back(v ? v->name : "");
      l.output_dims.push_back(v ? v->dims : Dims{});
    }
    // What the builder chose (an integer conv with float output is still an int8 layer);
    // an imported, not yet built network shows its output dtype.
    const Value* first = n->outputs.empty() ? nullptr : n->outputs[0];
    l.precision = !n->backend.empty() ? precisionName(n->precision) : first ? dataTypeName(first->dtype) : "";
    l.backend = n->backend;
    r.push_back(std::move(l));
  }
  return r;
}

std::vector<LayerInfo> describeLayers(const Graph& g, const std::map<std::string, std::string>& metadata) {
  std::vector<LayerInfo> layers = describeLayers(g);
  auto it = metadata.find("layer_tactics");
  if (it == metadata.end()) return layers;
  auto doc = parseJson(it->second);
  if (!doc.ok() || !doc->isObject()) return layers;  // written by the builder: only a bug gets here
  for (LayerInfo& l : layers) {
    const JsonValue* t = doc->find(l.name);
    if (!t) continue;
    if (const JsonValue* r = t->find("reason"); r && r->isString()) l.reason = r->asString();
    if (const JsonValue* ms = t->find("timings_ms"); ms && ms->isObject())
      for (const auto& [k, v] : ms->members()) l.timings_ms.emplace_back(k, v.asNumber());
  }
  return layers;
}

}  // namespace qrt::ir
