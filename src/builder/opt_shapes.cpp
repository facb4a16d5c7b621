#include "builder/opt_shapes.h"

#include "core/status_macros.h"
#include "passes/infer_shapes.h"

namespace qrt {

Status checkOptShapes(const ir::Graph& g, const BuilderConfig& config) {
  for (const auto& [name, dims] : config.optShapes()) {
    const ir::Value* v = nullptr;
    for (const ir::Value* in : g.inputs)
      if (in->name == name) v = in;
    if (!v) {
      std::string names;
      for (const ir::Value* in : g.inputs) names += (names.empty() ? "" : ", ") + in->name;
      return notFound("opt shape given for '", name, "', but the model's inputs are: ", names);
    }
    if (dims.size() != v->dims.size())
      return invalidArgument("opt shape of input '", name, "': ", dimsToString(dims), " has rank ", dims.size(),
                             ", the input has rank ", v->dims.size(), " (", dimsToString(v->dims), ")");
    for (size_t i = 0; i < dims.size(); ++i) {
      if (dims[i] <= 0)
        return invalidArgument("opt shape of input '", name, "': ", dimsToString(dims), " must be positive");
      if (v->dims[i] >= 0 && v->dims[i] != dims[i])
        return invalidArgument("opt shape of input '", name, "': ", dimsToString(dims), " contradicts its static dim ",
                               i, " (the input is ", dimsToString(v->dims), ")");
    }
  }
  return Status::Ok();
}

std::string optShapesText(const std::map<std::string, Dims>& shapes) {
  std::string s;
  for (const auto& [name, dims] : shapes) {
    std::string d;
    for (int64_t x : dims) d += (d.empty() ? "" : "x") + std::to_string(x);
    s += (s.empty() ? "" : ",") + name + ":" + d;
  }
  return s;
}

Result<std::map<std::string, Dims>> dimsAtOptShapes(const ir::Graph& g, const BuilderConfig& config) {
  std::map<std::string, Dims> out;
  if (config.optShapes().empty()) return out;
  auto copy = g.clone();
  for (ir::Value* in : copy->inputs) {
    auto it = config.optShapes().find(in->name);
    if (it != config.optShapes().end()) in->dims = it->second;
  }
  QRT_RETURN_IF_ERROR(passes::inferShapes(*copy).withContext("shape inference at the opt shapes"));
  for (const auto& n : copy->nodes()) {
    for (const ir::Value* v : n->inputs)
      if (v && v->has_shape) out[v->name] = v->dims;
    for (const ir::Value* v : n->outputs)
      if (v && v->has_shape) out[v->name] = v->dims;
  }
  return out;
}

namespace {

// v's dims at the opt shapes when v is dynamic there and they are known, else nullptr.
const Dims* optDimsOf(const ir::Value& v, const std::map<std::string, Dims>& opt) {
  if (v.constant || volume(v.dims) >= 0) return nullptr;
  auto it = opt.find(v.name);
  if (it == opt.end() || it->second.size() != v.dims.size() || volume(it->second) < 0) return nullptr;
  return &it->second;
}

}  // namespace

ScopedOptDims::ScopedOptDims(ir::Node& n, const std::map<std::string, Dims>& opt) {
  if (opt.empty()) return;
  auto visit = [&](ir::Value* v) {
    if (!v) return;
    for (const auto& [seen, dims] : saved_)
      if (seen == v) return;  // a value read twice (x * x) is saved once
    if (const Dims* d = optDimsOf(*v, opt)) {
      saved_.emplace_back(v, v->dims);
      v->dims = *d;
    }
  };
  for (ir::Value* v : n.inputs) visit(v);
  for (ir::Value* v : n.outputs) visit(v);
}

ScopedOptDims::~ScopedOptDims() {
  for (auto& [v, dims] : saved_) v->dims = std::move(dims);
}

bool staticAtOptShapes(const ir::Node& n, const std::map<std::string, Dims>& opt) {
  auto known = [&](const ir::Value* v) {
    return !v || (v->has_shape && (volume(v->dims) >= 0 || optDimsOf(*v, opt)));
  };
  for (const ir::Value* v : n.inputs)
    if (!known(v)) return false;
  for (const ir::Value* v : n.outputs)
    if (!known(v)) return false;
  return true;
}

}  // namespace qrt
