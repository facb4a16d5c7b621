// The ONNX importer: ModelProto -> ir::Graph, wrapped in a qrt::Network.
//
// The importer trusts nothing in the file: every name is looked up, every size checked, and any
// problem becomes a Status naming the file, node or tensor. Steps:
//   1. opsets: the default domain must be within [kMinOpset, kMaxOpset];
//   2. every node's op must be in the op table (checked first, so an unsupported op is the
//      reason reported, not some later detail);
//   3. initializers and Constant nodes become constant Values (no node);
//   4. graph inputs that are not initializers become graph inputs with their declared types;
//   5. nodes are added, then sorted, verified and shape-inferred.
// value_info is optional information and is ignored: shape inference recomputes it.
#include <onnx/onnx_pb.h>

#include <climits>
#include <filesystem>
#include <set>

#include "core/file_util.h"
#include "core/status_macros.h"
#include "ir/graph.h"
#include "onnx/tensor_proto.h"
#include "ops/op_table.h"
#include "passes/infer_shapes.h"
#include "qrt/network.h"

namespace qrt {

namespace {

constexpr int kMinOpset = 7;
constexpr int kMaxOpset = 21;

bool isDefaultDomain(const std::string& d) { return d.empty() || d == "ai.onnx"; }

std::string supportedOpList() {
  std::string s;
  for (const std::string& op : supportedOps()) s += (s.empty() ? "" : ", ") + op;
  return s.empty() ? "(none)" : s;
}

// Reads the opset of each imported domain into graph.opsets ("" for the default domain) and
// refuses a default-domain opset qrt does not know. A model that imports no default opset is
// checked after its ops (it may use only other domains, which is unsupported, not corrupt).
Status importOpsets(const onnx::ModelProto& model, ir::Graph& graph) {
  for (const auto& os : model.opset_import()) {
    std::string domain = isDefaultDomain(os.domain()) ? "" : os.domain();
    int64_t v = os.version();
    if (v < 0 || v > INT_MAX) return corrupt("opset version ", v, " for domain '", os.domain(), "' is invalid");
    graph.opsets[domain] = static_cast<int>(v);
  }
  auto it = graph.opsets.find("");
  if (it != graph.opsets.end() && (it->second < kMinOpset || it->second > kMaxOpset))
    return unsupported("model uses opset ", it->second, " of the default ONNX domain; qrt supports opsets ",
                       kMinOpset, " to ", kMaxOpset);
  return Status::Ok();
}

// A name for node `index` (ONNX allows empty and repeated node names; qrt's must be unique).
std::string nodeName(const onnx::NodeProto& n, size_t index, std::set<std::string>& taken) {
  std::string base = n.name().empty() ? n.op_type() + "_" + std::to_string(index) : n.name();
  std::string name = base;
  for (int k = 1; taken.count(name); ++k) name = base + "_" + std::to_string(k);
  taken.insert(name);
  return name;
}

// Fails on the first node whose op qrt cannot run, naming the op, the node and what is supported.
Status checkOpsSupported(const onnx::GraphProto& g, int opset) {
  std::set<std::string> taken;
  for (int i = 0; i < g.node_size(); ++i) {
    const onnx::NodeProto& n = g.node(i);
    std::string name = nodeName(n, static_cast<size_t>(i), taken);
    if (!isDefaultDomain(n.domain()))
      return unsupported("unsupported operator '", n.domain(), "::", n.op_type(), "' (node '", name,
                         "'): qrt supports only the default ONNX domain");
    if (n.op_type() == "Constant") continue;
    if (!findOp(n.op_type()))
      return unsupported("unsupported operator '", n.op_type(), "' (node '", name, "', opset ", opset,
                         "); qrt supports: ", supportedOpList());
  }
  return Status::Ok();
}

// Sets dtype and dims of `v` from an ONNX TypeProto (tensors only).
Status applyType(const onnx::TypeProto& type, const std::string& what, ir::Value* v) {
  if (type.value_case() == onnx::TypeProto::VALUE_NOT_SET) return corrupt(what, " has no type");
  if (!type.has_tensor_type()) {
    const char* kind = type.has_sequence_type() ? "a sequence"
                       : type.has_map_type()    ? "a map"
                       : type.has_optional_type() ? "an optional"
                       : type.has_sparse_tensor_type() ? "a sparse tensor"
                                                         : "not a tensor";
    return unsupported(what, " is ", kind, "; qrt supports only tensors");
  }
  const auto& tt = type.tensor_type();
  QRT_ASSIGN_OR_RETURN(v->dtype, dataTypeFromOnnx(tt.elem_type(), what));
  v->has_shape = tt.has_shape();
  v->dims.clear();
  if (!tt.has_shape()) return Status::Ok();
  for (const auto& d : tt.shape().dim()) {
    if (d.has_dim_value()) {
      if (d.dim_value() < 0) return corrupt(what, " has negative dimension ", d.dim_value());
      v->dims.push_back(d.dim_value());
    } else {
      v->dims.push_back(-1);  // dim_param or nothing: decided when the input shape is set
    }
  }
  return Status::Ok();
}

// Adds a constant Value holding `t` under `name`, refusing a name already defined.
Result<ir::Value*> addConstant(ir::Graph& graph, const std::string& name, HostTensor t, const std::string& what) {
  if (name.empty()) return corrupt(what, " has an empty name");
  if (graph.findValue(name)) return corrupt(what, ": the name '", name, "' is defined twice");
  ir::Value* v = graph.addValue(name);
  v->dtype = t.dtype();
  v->dims = t.dims();
  v->has_shape = true;
  v->constant = std::move(t);
  return v;
}

// The kind an attribute has; old models may leave `type` unset and fill one field.
onnx::AttributeProto::AttributeType attributeKind(const onnx::AttributeProto& a) {
  if (a.type() != onnx::AttributeProto::UNDEFINED) return a.type();
  if (a.has_f()) return onnx::AttributeProto::FLOAT;
  if (a.has_i()) return onnx::AttributeProto::INT;
  if (a.has_s()) return onnx::AttributeProto::STRING;
  if (a.has_t()) return onnx::AttributeProto::TENSOR;
  if (a.has_g()) return onnx::AttributeProto::GRAPH;
  if (a.floats_size()) return onnx::AttributeProto::FLOATS;
  if (a.strings_size()) return onnx::AttributeProto::STRINGS;
  if (a.graphs_size()) return onnx::AttributeProto::GRAPHS;
  return onnx::AttributeProto::INTS;  // including an empty list of unknown kind
}

Result<ir::Attribute> convertAttribute(const onnx::AttributeProto& a, const std::string& where,
                                       const std::string& base_dir) {
  std::string what = where + " attribute '" + a.name() + "'";
  if (!a.ref_attr_name().empty()) return unsupported(what, ": references to function attributes are not supported");
  switch (attributeKind(a)) {
    case onnx::AttributeProto::INT: return ir::Attribute::Int(a.i());
    case onnx::AttributeProto::FLOAT: return ir::Attribute::Float(a.f());
    case onnx::AttributeProto::STRING: return ir::Attribute::String(a.s());
    case onnx::AttributeProto::INTS: return ir::Attribute::Ints({a.ints().begin(), a.ints().end()});
    case onnx::AttributeProto::FLOATS: return ir::Attribute::Floats({a.floats().begin(), a.floats().end()});
    case onnx::AttributeProto::STRINGS: return ir::Attribute::Strings({a.strings().begin(), a.strings().end()});
    case onnx::AttributeProto::TENSOR: {
      QRT_ASSIGN_OR_RETURN(HostTensor t, tensorFromProto(a.t(), base_dir, what));
      return ir::Attribute::Tensor(std::move(t));
    }
    case onnx::AttributeProto::GRAPH:
    case onnx::AttributeProto::GRAPHS: return unsupported(what, ": subgraph attributes are not supported");
    case onnx::AttributeProto::SPARSE_TENSOR:
    case onnx::AttributeProto::SPARSE_TENSORS: return unsupported(what, ": sparse tensors are not supported");
    case onnx::AttributeProto::TENSORS: return unsupported(what, ": tensor-list attributes are not supported");
    case onnx::AttributeProto::TYPE_PROTO:
    case onnx::AttributeProto::TYPE_PROTOS: return unsupported(what, ": type attributes are not supported");
    default: return corrupt(what, ": unknown attribute type ", static_cast<int>(a.type()));
  }
}

// The tensor a Constant node produces, from whichever of its value attributes is set.
Result<HostTensor> constantValue(const onnx::NodeProto& n, const std::string& where, const std::string& base_dir) {
  if (n.attribute_size() != 1) return corrupt(where, ": a Constant needs exactly one value attribute, has ", n.attribute_size());
  const onnx::AttributeProto& a = n.attribute(0);
  const std::string& key = a.name();
  if (key == "value") {
    if (!a.has_t()) return corrupt(where, ": attribute 'value' holds no tensor");
    return tensorFromProto(a.t(), base_dir, where + " value");
  }
  if (key == "value_float") return HostTensor::fromFloat({a.f()}, {});
  if (key == "value_floats") {
    std::vector<float> v(a.floats().begin(), a.floats().end());
    return HostTensor::fromFloat(v, {static_cast<int64_t>(v.size())});
  }
  if (key == "value_int") return HostTensor::scalarInt64(a.i());
  if (key == "value_ints") {
    std::vector<int64_t> v(a.ints().begin(), a.ints().end());
    return HostTensor::fromInt64(v, {static_cast<int64_t>(v.size())});
  }
  if (key == "value_string" || key == "value_strings") return unsupported(where, ": string tensors are not supported");
  if (key == "sparse_value") return unsupported(where, ": sparse tensors are not supported");
  return corrupt(where, ": unknown attribute '", key, "'");
}

// Initializers and the graph inputs that are not initializers.
Status importInputs(const onnx::GraphProto& g, const std::string& base_dir, ir::Graph& graph) {
  for (const auto& init : g.initializer()) {
    std::string what = "initializer '" + init.name() + "'";
    QRT_ASSIGN_OR_RETURN(HostTensor t, tensorFromProto(init, base_dir, what));
    QRT_ASSIGN_OR_RETURN(ir::Value * v, addConstant(graph, init.name(), std::move(t), what));
    (void)v;
  }
  if (g.sparse_initializer_size()) return unsupported("sparse initializers are not supported");
  for (const auto& in : g.input()) {
    std::string what = "graph input '" + in.name() + "'";
    if (in.name().empty()) return corrupt("a graph input has an empty name");
    if (ir::Value* existing = graph.findValue(in.name())) {
      // An input that is also an initializer is a constant (its default is the only value we use).
      if (existing->isConstant()) continue;
      return corrupt(what, " is declared twice");
    }
    ir::Value* v = graph.addValue(in.name());
    QRT_RETURN_IF_ERROR(applyType(in.type(), what, v));
    graph.inputs.push_back(v);
  }
  return Status::Ok();
}

// Adds the nodes (Constant nodes become constant Values). Outputs are created before inputs
// are wired so that a model whose nodes are out of order still imports (topoSort fixes it).
Status importNodes(const onnx::GraphProto& g, const std::string& base_dir, ir::Graph& graph) {
  std::set<std::string> taken;
  std::vector<ir::Node*> nodes(static_cast<size_t>(g.node_size()), nullptr);
  for (int i = 0; i < g.node_size(); ++i) {
    const onnx::NodeProto& n = g.node(i);
    std::string name = nodeName(n, static_cast<size_t>(i), taken);
    std::string where = n.op_type() + " node '" + name + "'";
    if (n.op_type() == "Constant") {
      if (n.output_size() != 1) return corrupt(where, ": a Constant has exactly one output, has ", n.output_size());
      QRT_ASSIGN_OR_RETURN(HostTensor t, constantValue(n, where, base_dir));
      QRT_ASSIGN_OR_RETURN(ir::Value * v, addConstant(graph, n.output(0), std::move(t), where + " output"));
      (void)v;
      continue;
    }
    std::vector<ir::Value*> outs;
    for (const std::string& o : n.output()) {
      if (o.empty()) {
        outs.push_back(nullptr);  // an omitted optional output
        continue;
      }
      if (graph.findValue(o)) return corrupt(where, ": output '", o, "' is already defined elsewhere");
      outs.push_back(graph.addValue(o));
    }
    ir::Node* node = graph.addNode(n.op_type(), name, {}, std::move(outs));
    for (const auto& a : n.attribute()) {
      if (a.name().empty()) return corrupt(where, ": an attribute has an empty name");
      QRT_ASSIGN_OR_RETURN(ir::Attribute attr, convertAttribute(a, where, base_dir));
      node->attrs[a.name()] = std::move(attr);
    }
    nodes[static_cast<size_t>(i)] = node;
  }
  for (int i = 0; i < g.node_size(); ++i) {
    ir::Node* node = nodes[static_cast<size_t>(i)];
    if (!node) continue;
    for (const std::string& in : g.node(i).input()) {
      if (in.empty()) {
        node->inputs.push_back(nullptr);  // an omitted optional input
        continue;
      }
      ir::Value* v = graph.findValue(in);
      if (!v) return corrupt(node->describe(), ": input '", in, "' is not defined in the graph");
      node->inputs.push_back(v);
    }
    // Trailing omitted inputs carry no information; dropping them keeps hasInput() simple.
    while (!node->inputs.empty() && node->inputs.back() == nullptr) node->inputs.pop_back();
  }
  return Status::Ok();
}

Status importOutputs(const onnx::GraphProto& g, ir::Graph& graph) {
  for (const auto& out : g.output()) {
    std::string what = "graph output '" + out.name() + "'";
    ir::Value* v = graph.findValue(out.name());
    if (!v) return corrupt(what, " is not produced by any node");
    if (out.has_type() && !out.type().has_tensor_type()) {
      ir::Value scratch;
      QRT_RETURN_IF_ERROR(applyType(out.type(), what, &scratch));
    }
    graph.outputs.push_back(v);
  }
  if (graph.outputs.empty()) return corrupt("the graph has no outputs");
  return Status::Ok();
}

Result<std::unique_ptr<Network>> importModel(const onnx::ModelProto& model, const std::string& base_dir) {
  if (!model.has_graph()) return corrupt("the model has no graph");
  const onnx::GraphProto& g = model.graph();
  auto graph = std::make_unique<ir::Graph>();
  graph->name = g.name();
  QRT_RETURN_IF_ERROR(importOpsets(model, *graph));
  auto default_opset = graph->opsets.find("");
  QRT_RETURN_IF_ERROR(checkOpsSupported(g, default_opset == graph->opsets.end() ? 0 : default_opset->second));
  if (default_opset == graph->opsets.end()) return corrupt("the model imports no opset for the default ONNX domain");
  QRT_RETURN_IF_ERROR(importInputs(g, base_dir, *graph));
  QRT_RETURN_IF_ERROR(importNodes(g, base_dir, *graph));
  QRT_RETURN_IF_ERROR(importOutputs(g, *graph));
  QRT_RETURN_IF_ERROR(graph->topoSort());
  QRT_RETURN_IF_ERROR(ir::verify(*graph));
  QRT_RETURN_IF_ERROR(passes::inferShapes(*graph));
  QRT_RETURN_IF_ERROR(ir::verify(*graph));
  return std::make_unique<Network>(std::move(graph));
}

// Unsupported-feature messages stay as they are (callers group them); every other failure is
// prefixed with where the model came from.
Status withSource(const Status& s, const std::string& source) {
  if (s.ok() || s.code() == StatusCode::kUnsupported) return s;
  return s.withContext(source);
}

Result<std::unique_ptr<Network>> parseModelBytes(const void* data, size_t size, const std::string& base_dir,
                                                 const std::string& source) {
  if (size > static_cast<size_t>(INT_MAX))
    return unsupported(source, ": models over 2 GB must keep their weights in external data files");
  onnx::ModelProto model;
  if (!model.ParseFromArray(data, static_cast<int>(size)))
    return corrupt(source, ": not a valid ONNX model (truncated or corrupt protobuf)");
  auto net = importModel(model, base_dir);
  if (!net.ok()) return withSource(net.status(), source);
  return net;
}

}  // namespace

Result<std::unique_ptr<Network>> parseOnnxFile(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) return notFound("ONNX model '", path, "' not found");
  if (std::filesystem::is_directory(path, ec)) return invalidArgument("ONNX model '", path, "' is a directory");
  QRT_ASSIGN_OR_RETURN(std::vector<uint8_t> bytes, readFileBytes(path));
  std::string base_dir = std::filesystem::path(path).parent_path().string();
  if (base_dir.empty()) base_dir = ".";
  return parseModelBytes(bytes.data(), bytes.size(), base_dir, "'" + path + "'");
}

Result<std::unique_ptr<Network>> parseOnnxBuffer(const void* data, size_t size, const std::string& base_dir) {
  if (!data && size) return invalidArgument("parseOnnxBuffer: null data");
  return parseModelBytes(data, size, base_dir, "ONNX model in memory");
}

}  // namespace qrt
