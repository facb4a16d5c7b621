// The IR: a graph of nodes over values. A value has a dtype and a shape (-1 for dynamic dims)
// and, when known at build time, a constant. Precision lives here: the dtype of each value, and
// explicit QuantizeLinear/DequantizeLinear nodes (zero point 0) for INT8.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "core/tensor.h"
#include "qrt/status.h"
#include "qrt/types.h"

namespace qrt::ir {

class Node;

struct Attribute {
  enum class Kind { kInt, kFloat, kString, kInts, kFloats, kStrings, kTensor };
  Kind kind = Kind::kInt;
  int64_t i = 0;
  float f = 0.f;
  std::string s;
  std::vector<int64_t> ints;
  std::vector<float> floats;
  std::vector<std::string> strings;
  HostTensor t;

  static Attribute Int(int64_t v) { Attribute a; a.kind = Kind::kInt; a.i = v; return a; }
  static Attribute Float(float v) { Attribute a; a.kind = Kind::kFloat; a.f = v; return a; }
  static Attribute String(std::string v) { Attribute a; a.kind = Kind::kString; a.s = std::move(v); return a; }
  static Attribute Ints(std::vector<int64_t> v) { Attribute a; a.kind = Kind::kInts; a.ints = std::move(v); return a; }
  static Attribute Floats(std::vector<float> v) { Attribute a; a.kind = Kind::kFloats; a.floats = std::move(v); return a; }
  static Attribute Strings(std::vector<std::string> v) { Attribute a; a.kind = Kind::kStrings; a.strings = std::move(v); return a; }
  static Attribute Tensor(HostTensor v) { Attribute a; a.kind = Kind::kTensor; a.t = std::move(v); return a; }
};

class Value {
 public:
  std::string name;
  DataType dtype = DataType::kUndefined;
  Dims dims;                         // -1 = dynamic
  bool has_shape = false;            // dims (and rank) are known
  std::optional<HostTensor> constant;  // initializer, Constant node output or folded value

  Node* producer = nullptr;          // maintained by Graph::rebuildUses()
  std::vector<Node*> consumers;      // maintained by Graph::rebuildUses()
  bool is_graph_input = false;
  bool is_graph_output = false;

  bool isConstant() const { return constant.has_value(); }
};

class Node {
 public:
  std::string name;
  std::string op_type;
  std::string domain;   // "" for the default ONNX domain
  int opset = 0;        // the model's opset for this node's domain
  std::vector<Value*> inputs;   // nullptr for an omitted optional input
  std::vector<Value*> outputs;  // nullptr for an omitted optional output
  std::map<std::string, Attribute> attrs;

  // Builder annotations (what was chosen for this node).
  std::string backend;  // "reference", "cpu", "cuda", "host"
  Precision precision = Precision::kFP32;

  bool hasAttr(const std::string& n) const { return attrs.count(n) != 0; }
  int64_t attrInt(const std::string& n, int64_t def) const;
  float attrFloat(const std::string& n, float def) const;
  std::string attrString(const std::string& n, const std::string& def) const;
  std::vector<int64_t> attrInts(const std::string& n, const std::vector<int64_t>& def = {}) const;
  std::vector<float> attrFloats(const std::string& n, const std::vector<float>& def = {}) const;
  const Attribute* attr(const std::string& n) const;

  // Input i exists (not omitted).
  bool hasInput(size_t i) const { return i < inputs.size() && inputs[i] != nullptr; }
  // "Conv 'conv1'" for messages.
  std::string describe() const;
};

class Graph {
 public:
  Graph() = default;
  Graph(const Graph&) = delete;
  Graph& operator=(const Graph&) = delete;

  std::string name;
  std::map<std::string, int> opsets;  // domain -> version
  std::vector<Value*> inputs;         // graph inputs (not constants)
  std::vector<Value*> outputs;

  // Nodes in topological order (after topoSort()).
  const std::vector<std::unique_ptr<Node>>& nodes() const { return nodes_; }
  const std::vector<std::unique_ptr<Value>>& values() const { return values_; }

  // Creates a value; the name must be unique (a suffix is added when it is not).
  Value* addValue(const std::string& name);
  Value* findValue(const std::string& name) const;
  Node* addNode(const std::string& op_type, const std::string& name, std::vector<Value*> inputs,
                std::vector<Value*> outputs);
  // A unique value/node name starting with `base`.
  std::string uniqueName(const std::string& base) const;

  // Redirects every use of `from` (node inputs, graph outputs) to `to`.
  void replaceAllUses(Value* from, Value* to);
  // Removes nodes marked by the predicate and values no longer referenced.
  void removeNodes(const std::function<bool(const Node&)>& pred);
  void removeUnusedValues();

  // Recomputes producer/consumers/is_graph_* fields.
  void rebuildUses();
  // Orders nodes topologically; fails on a cycle or a missing producer.
  Status topoSort();
  // Deep copy (constants share their immutable storage).
  std::unique_ptr<Graph> clone() const;

 private:
  std::vector<std::unique_ptr<Node>> nodes_;
  std::vector<std::unique_ptr<Value>> values_;
  std::map<std::string, Value*> by_name_;
};

// Checks structural invariants: names unique, every input produced/constant/graph input,
// acyclic, graph outputs produced. Returns the first problem found.
Status verify(const Graph& g);
// One line per node: "name: Op(in1, in2) -> out [dtype dims]".
std::string print(const Graph& g);

}  // namespace qrt::ir
