#include "onnx/exporter.h"

#include <onnx/onnx_pb.h>

#include <algorithm>
#include <climits>
#include <filesystem>
#include <memory>
#include <set>
#include <utility>
#include <vector>

#include "core/file_util.h"
#include "core/status_macros.h"
#include "onnx/opset_upgrade.h"
#include "onnx/tensor_proto.h"
#include "ops/op.h"
#include "qrt/engine.h"

namespace qrt {

namespace {

// The first opset whose QuantizeLinear/DequantizeLinear take per-axis (1-D) scales.
constexpr int kPerAxisQdqOpset = 13;
// A graph that names no default opset (built in memory) is written at this one.
constexpr int kFallbackOpset = 13;
// Protobuf refuses messages of 2 GB or more; initializers beyond this go to external data
// (leaving room for the graph itself).
constexpr uint64_t kInlineLimitBytes = (uint64_t{1} << 31) - (uint64_t{64} << 20);
// External tensors start at multiples of this (lets readers map them in place).
constexpr uint64_t kExternalAlignment = 64;

bool isDefaultDomain(const std::string& d) { return d.empty() || d == "ai.onnx"; }

bool isQdq(const ir::Node& n) {
  return isDefaultDomain(n.domain) && (n.op_type == "QuantizeLinear" || n.op_type == "DequantizeLinear");
}

// Per-axis Q/DQ: a 1-D scale (opset 10's scales must be scalars).
bool hasPerAxisQdq(const ir::Graph& g) {
  for (const auto& n : g.nodes())
    if (isQdq(*n) && n->hasInput(1) && n->inputs[1]->dims.size() == 1) return true;
  return false;
}

// Refuses what ONNX cannot hold: qrt-domain ops (named, a few of them) and domains with no opset.
Status checkExportable(const ir::Graph& g) {
  std::vector<std::string> internal;
  size_t count = 0;
  for (const auto& n : g.nodes()) {
    if (n->domain == kQrtDomain) {
      if (internal.size() < 3) internal.push_back(n->op_type + " '" + n->name + "'");
      ++count;
    } else if (!isDefaultDomain(n->domain) && !g.opsets.count(n->domain)) {
      return invalidArgument(n->describe(), ": its domain '", n->domain, "' has no opset in the graph");
    }
  }
  if (count == 0) return Status::Ok();
  std::string list;
  for (const std::string& s : internal) list += (list.empty() ? "" : ", ") + s;
  if (count > internal.size()) list += strCat(" and ", count - internal.size(), " more");
  return unsupported("the graph holds qrt's internal ops (", list,
                     "), which have no ONNX form; export the graph before fusion and Q/DQ folding (its QDQ form)");
}

// Which constants go to external data, and the pieces of the data file.
struct ExternalPlan {
  std::string location;  // file name, relative to the model's folder
  size_t min_bytes = 0;
  uint64_t size = 0;
  std::vector<std::pair<const void*, size_t>> pieces;
};

class ModelWriter {
 public:
  ModelWriter(const ir::Graph& g, const ExportOptions& options, int opset, ExternalPlan* external)
      : g_(g), options_(options), opset_(opset), external_(external) {}

  Result<onnx::ModelProto> write() {
    onnx::ModelProto model;
    model.set_ir_version(irVersionForOpset(opset_));
    model.set_producer_name("qrt");
    model.set_producer_version(versionString());
    if (!options_.doc_string.empty()) model.set_doc_string(options_.doc_string);
    writeOpsets(model);
    for (const auto& [k, v] : options_.metadata) {
      auto* p = model.add_metadata_props();
      p->set_key(k);
      p->set_value(v);
    }
    onnx::GraphProto* graph = model.mutable_graph();
    graph->set_name(!options_.graph_name.empty() ? options_.graph_name : g_.name.empty() ? "qrt" : g_.name);
    QRT_RETURN_IF_ERROR(writeInitializers(graph));
    for (const ir::Value* v : g_.inputs) QRT_RETURN_IF_ERROR(writeIo(v, "graph input", graph->add_input()));
    for (const ir::Value* v : g_.outputs) QRT_RETURN_IF_ERROR(writeIo(v, "graph output", graph->add_output()));
    for (const auto& n : g_.nodes()) QRT_RETURN_IF_ERROR(writeNode(*n, graph->add_node()));
    if (options_.value_info) writeValueInfo(graph);
    return model;
  }

 private:
  void writeOpsets(onnx::ModelProto& model) {
    auto* def = model.add_opset_import();
    def->set_domain("");
    def->set_version(opset_);
    for (const auto& [domain, version] : g_.opsets) {
      if (isDefaultDomain(domain)) continue;
      auto* os = model.add_opset_import();
      os->set_domain(domain);
      os->set_version(version);
    }
  }

  // Constants some node or graph output reads (folding may leave unread ones behind).
  std::vector<const ir::Value*> usedConstants() const {
    std::set<const ir::Value*> seen;
    std::vector<const ir::Value*> out;
    auto take = [&](const ir::Value* v) {
      if (v && v->isConstant() && seen.insert(v).second) out.push_back(v);
    };
    for (const auto& n : g_.nodes())
      for (const ir::Value* v : n->inputs) take(v);
    for (const ir::Value* v : g_.outputs) take(v);
    return out;
  }

  Status writeInitializers(onnx::GraphProto* graph) {
    for (const ir::Value* v : usedConstants()) {
      const HostTensor& t = *v->constant;
      onnx::TensorProto* p = graph->add_initializer();
      if (external_ && t.bytes() >= external_->min_bytes && t.bytes() > 0) {
        QRT_RETURN_IF_ERROR(writeExternal(t, v->name, p));
        continue;
      }
      QRT_RETURN_IF_ERROR(tensorToProto(t, v->name, p));
    }
    return Status::Ok();
  }

  // The proto without data, pointing at the tensor's bytes in the data file (appended, aligned).
  Status writeExternal(const HostTensor& t, const std::string& name, onnx::TensorProto* p) {
    p->set_name(name);
    p->set_data_type(static_cast<int32_t>(t.dtype()));  // qrt's DataType values are ONNX's
    for (int64_t d : t.dims()) p->add_dims(d);
    static const char kZeros[kExternalAlignment] = {};
    const uint64_t pad = (kExternalAlignment - external_->size % kExternalAlignment) % kExternalAlignment;
    if (pad) external_->pieces.emplace_back(kZeros, static_cast<size_t>(pad));
    external_->size += pad;
    p->set_data_location(onnx::TensorProto::EXTERNAL);
    auto entry = [&](const char* key, const std::string& value) {
      auto* kv = p->add_external_data();
      kv->set_key(key);
      kv->set_value(value);
    };
    entry("location", external_->location);
    entry("offset", std::to_string(external_->size));
    entry("length", std::to_string(t.bytes()));
    external_->pieces.emplace_back(t.data(), t.bytes());
    external_->size += t.bytes();
    return Status::Ok();
  }

  // Type and shape of a value. `named_dims`: a dynamic dim gets a dim_param (graph inputs and
  // outputs, so tools show something); elsewhere it stays anonymous.
  static void writeType(const ir::Value* v, bool named_dims, onnx::TypeProto* type) {
    auto* tt = type->mutable_tensor_type();
    tt->set_elem_type(static_cast<int32_t>(v->dtype));  // qrt's DataType values are ONNX's
    if (!v->has_shape) return;
    auto* shape = tt->mutable_shape();
    for (size_t i = 0; i < v->dims.size(); ++i) {
      auto* dim = shape->add_dim();
      if (v->dims[i] >= 0) dim->set_dim_value(v->dims[i]);
      else if (named_dims) dim->set_dim_param(strCat(v->name, "_dim", i));
    }
  }

  static bool writableType(DataType t) { return t != DataType::kUndefined && dataTypeSize(t) != 0; }

  Status writeIo(const ir::Value* v, const char* what, onnx::ValueInfoProto* info) {
    if (!writableType(v->dtype))
      return invalidArgument(what, " '", v->name, "' has dtype ", dataTypeName(v->dtype), ", which cannot be written");
    info->set_name(v->name);
    writeType(v, true, info->mutable_type());
    return Status::Ok();
  }

  static Result<onnx::AttributeProto> attributeProto(const std::string& name, const ir::Attribute& a,
                                                     const ir::Node& n) {
    onnx::AttributeProto p;
    p.set_name(name);
    using K = ir::Attribute::Kind;
    switch (a.kind) {
      case K::kInt: p.set_type(onnx::AttributeProto::INT); p.set_i(a.i); break;
      case K::kFloat: p.set_type(onnx::AttributeProto::FLOAT); p.set_f(a.f); break;
      case K::kString: p.set_type(onnx::AttributeProto::STRING); p.set_s(a.s); break;
      case K::kInts:
        p.set_type(onnx::AttributeProto::INTS);
        for (int64_t v : a.ints) p.add_ints(v);
        break;
      case K::kFloats:
        p.set_type(onnx::AttributeProto::FLOATS);
        for (float v : a.floats) p.add_floats(v);
        break;
      case K::kStrings:
        p.set_type(onnx::AttributeProto::STRINGS);
        for (const std::string& v : a.strings) p.add_strings(v);
        break;
      case K::kTensor: {
        p.set_type(onnx::AttributeProto::TENSOR);
        Status s = tensorToProto(a.t, "", p.mutable_t());
        if (!s.ok()) return s.withContext(n.describe() + " attribute '" + name + "'");
        break;
      }
    }
    return p;
  }

  Status writeNode(const ir::Node& n, onnx::NodeProto* p) {
    p->set_name(n.name);
    p->set_op_type(n.op_type);
    if (!isDefaultDomain(n.domain)) p->set_domain(n.domain);
    // An omitted optional input or output is written as "", as ONNX does.
    for (const ir::Value* v : n.inputs) p->add_input(v ? v->name : "");
    for (const ir::Value* v : n.outputs) p->add_output(v ? v->name : "");
    for (const auto& [name, attr] : n.attrs) {
      QRT_ASSIGN_OR_RETURN(*p->add_attribute(), attributeProto(name, attr, n));
    }
    return Status::Ok();
  }

  // Node outputs that are not graph outputs, whose dtype is known.
  void writeValueInfo(onnx::GraphProto* graph) {
    std::set<const ir::Value*> io(g_.outputs.begin(), g_.outputs.end());
    for (const auto& n : g_.nodes())
      for (const ir::Value* v : n->outputs) {
        if (!v || io.count(v) || !writableType(v->dtype)) continue;
        auto* info = graph->add_value_info();
        info->set_name(v->name);
        writeType(v, false, info->mutable_type());
      }
  }

  const ir::Graph& g_;
  const ExportOptions& options_;
  int opset_;
  ExternalPlan* external_;
};

uint64_t constantBytes(const ir::Graph& g) {
  uint64_t total = 0;
  for (const auto& v : g.values())
    if (v->isConstant()) total += v->constant->bytes();
  return total;
}

// The graph to write: `g` itself, or an upgraded copy (kept in `holder`) when some node is older
// than the opset written.
Result<const ir::Graph*> graphAtOpset(const ir::Graph& g, int opset, std::unique_ptr<ir::Graph>& holder) {
  auto it = g.opsets.find("");
  bool current = it != g.opsets.end() && it->second == opset;
  for (const auto& n : g.nodes())
    if (isDefaultDomain(n->domain) && n->opset != opset) current = false;
  if (current) return &g;
  holder = g.clone();
  QRT_RETURN_IF_ERROR(onnx_export::upgradeOpset(*holder, opset));
  return holder.get();
}

Result<onnx::ModelProto> buildModel(const ir::Graph& g, const ExportOptions& options, ExternalPlan* external,
                                    std::unique_ptr<ir::Graph>& holder) {
  QRT_RETURN_IF_ERROR(checkExportable(g));
  QRT_RETURN_IF_ERROR(ir::verify(g));
  const int opset = exportOpset(g, options);
  QRT_ASSIGN_OR_RETURN(const ir::Graph* graph, graphAtOpset(g, opset, holder));
  ModelWriter writer(*graph, options, opset, external);
  return writer.write();
}

Result<std::string> serialize(const onnx::ModelProto& model) {
  const size_t size = model.ByteSizeLong();
  if (size > static_cast<size_t>(INT_MAX))
    return unsupported("the model is ", size, " bytes, over protobuf's 2 GB limit; write it with external data");
  std::string bytes;
  if (!model.SerializeToString(&bytes)) return internalError("serializing the ONNX model failed");
  return bytes;
}

}  // namespace

int exportOpset(const ir::Graph& graph, const ExportOptions& options) {
  int opset = 0;
  if (auto it = graph.opsets.find(""); it != graph.opsets.end()) opset = it->second;
  for (const auto& n : graph.nodes())
    if (isDefaultDomain(n->domain)) opset = std::max(opset, n->opset);
  if (opset <= 0) opset = kFallbackOpset;
  for (const auto& n : graph.nodes())
    if (isDefaultDomain(n->domain)) opset = std::max(opset, onnx_export::firstOpsetOf(n->op_type));
  if (hasPerAxisQdq(graph)) opset = std::max(opset, kPerAxisQdqOpset);
  return std::max(opset, options.min_opset);
}

int irVersionForOpset(int opset) {
  if (opset <= 18) return 8;
  if (opset <= 20) return 9;
  return 10;
}

Result<std::string> exportOnnx(const ir::Graph& graph, const ExportOptions& options) {
  std::unique_ptr<ir::Graph> holder;
  QRT_ASSIGN_OR_RETURN(onnx::ModelProto model, buildModel(graph, options, nullptr, holder));
  return serialize(model);
}

Status exportOnnxFile(const ir::Graph& graph, const std::string& path, const ExportOptions& options) {
  namespace fs = std::filesystem;
  using Ext = ExportOptions::ExternalData;
  const bool external = options.external_data == Ext::kAlways ||
                        (options.external_data == Ext::kAuto && constantBytes(graph) > kInlineLimitBytes);
  ExternalPlan plan;
  plan.location = fs::path(path).filename().string() + ".data";
  plan.min_bytes = options.external_min_bytes;
  std::unique_ptr<ir::Graph> holder;
  auto model = buildModel(graph, options, external ? &plan : nullptr, holder);
  if (!model.ok()) return model.status();
  auto bytes = serialize(*model);
  if (!bytes.ok()) return bytes.status().withContext("'" + path + "'");
  if (external) {
    const std::string data_path = (fs::path(path).parent_path() / plan.location).string();
    QRT_RETURN_IF_ERROR(writeFileAtomic(data_path, plan.pieces));
  }
  return writeFileAtomic(path, bytes->data(), bytes->size());
}

}  // namespace qrt
