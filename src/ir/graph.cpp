#include "ir/graph.h"

#include <algorithm>
#include <set>
#include <sstream>
#include <unordered_map>

#include "core/status_macros.h"

namespace qrt::ir {

int64_t Node::attrInt(const std::string& n, int64_t def) const {
  auto it = attrs.find(n);
  return it == attrs.end() ? def : it->second.i;
}
float Node::attrFloat(const std::string& n, float def) const {
  auto it = attrs.find(n);
  return it == attrs.end() ? def : it->second.f;
}
std::string Node::attrString(const std::string& n, const std::string& def) const {
  auto it = attrs.find(n);
  return it == attrs.end() ? def : it->second.s;
}
std::vector<int64_t> Node::attrInts(const std::string& n, const std::vector<int64_t>& def) const {
  auto it = attrs.find(n);
  return it == attrs.end() ? def : it->second.ints;
}
std::vector<float> Node::attrFloats(const std::string& n, const std::vector<float>& def) const {
  auto it = attrs.find(n);
  return it == attrs.end() ? def : it->second.floats;
}
const Attribute* Node::attr(const std::string& n) const {
  auto it = attrs.find(n);
  return it == attrs.end() ? nullptr : &it->second;
}
std::string Node::describe() const { return op_type + " node '" + name + "'"; }

std::string Graph::uniqueName(const std::string& base) const {
  if (!by_name_.count(base)) {
    bool node_clash = false;
    for (const auto& n : nodes_) node_clash |= n->name == base;
    if (!node_clash) return base;
  }
  for (int i = 1;; ++i) {
    std::string c = base + "_" + std::to_string(i);
    if (by_name_.count(c)) continue;
    bool clash = false;
    for (const auto& n : nodes_) clash |= n->name == c;
    if (!clash) return c;
  }
}

Value* Graph::addValue(const std::string& name) {
  std::string n = by_name_.count(name) ? uniqueName(name) : name;
  values_.push_back(std::make_unique<Value>());
  Value* v = values_.back().get();
  v->name = n;
  by_name_[n] = v;
  return v;
}

Value* Graph::findValue(const std::string& name) const {
  auto it = by_name_.find(name);
  return it == by_name_.end() ? nullptr : it->second;
}

Node* Graph::addNode(const std::string& op_type, const std::string& name, std::vector<Value*> ins,
                     std::vector<Value*> outs) {
  nodes_.push_back(std::make_unique<Node>());
  Node* n = nodes_.back().get();
  n->op_type = op_type;
  n->name = name;
  n->inputs = std::move(ins);
  n->outputs = std::move(outs);
  auto it = opsets.find("");
  n->opset = it == opsets.end() ? 0 : it->second;
  return n;
}

void Graph::replaceAllUses(Value* from, Value* to) {
  for (auto& n : nodes_)
    for (auto& in : n->inputs)
      if (in == from) in = to;
  for (auto& o : outputs)
    if (o == from) o = to;
}

void Graph::removeNodes(const std::function<bool(const Node&)>& pred) {
  nodes_.erase(std::remove_if(nodes_.begin(), nodes_.end(), [&](const std::unique_ptr<Node>& n) { return pred(*n); }),
               nodes_.end());
}

void Graph::removeUnusedValues() {
  std::set<const Value*> used(inputs.begin(), inputs.end());
  used.insert(outputs.begin(), outputs.end());
  for (const auto& n : nodes_) {
    used.insert(n->inputs.begin(), n->inputs.end());
    used.insert(n->outputs.begin(), n->outputs.end());
  }
  values_.erase(std::remove_if(values_.begin(), values_.end(),
                               [&](const std::unique_ptr<Value>& v) {
                                 if (used.count(v.get())) return false;
                                 by_name_.erase(v->name);
                                 return true;
                               }),
                values_.end());
}

void Graph::rebuildUses() {
  for (auto& v : values_) {
    v->producer = nullptr;
    v->consumers.clear();
    v->is_graph_input = false;
    v->is_graph_output = false;
  }
  for (auto& n : nodes_) {
    for (Value* o : n->outputs)
      if (o) o->producer = n.get();
    for (Value* i : n->inputs)
      if (i && (i->consumers.empty() || i->consumers.back() != n.get())) i->consumers.push_back(n.get());
  }
  for (Value* v : inputs) v->is_graph_input = true;
  for (Value* v : outputs) v->is_graph_output = true;
}

Status Graph::topoSort() {
  rebuildUses();
  std::unordered_map<const Node*, int> pending;
  std::vector<Node*> ready;
  for (auto& n : nodes_) {
    int k = 0;
    for (Value* i : n->inputs)
      if (i && i->producer) ++k;
    pending[n.get()] = k;
    if (k == 0) ready.push_back(n.get());
  }
  // Keep the original relative order where possible: process in index order.
  std::unordered_map<const Node*, size_t> index;
  for (size_t i = 0; i < nodes_.size(); ++i) index[nodes_[i].get()] = i;
  std::vector<Node*> order;
  order.reserve(nodes_.size());
  auto cmp = [&](Node* a, Node* b) { return index[a] > index[b]; };
  std::make_heap(ready.begin(), ready.end(), cmp);
  while (!ready.empty()) {
    std::pop_heap(ready.begin(), ready.end(), cmp);
    Node* n = ready.back();
    ready.pop_back();
    order.push_back(n);
    for (Value* o : n->outputs) {
      if (!o) continue;
      for (Node* c : o->consumers) {
        int uses = 0;
        for (Value* i : c->inputs) uses += (i == o);
        pending[c] -= uses;
        if (pending[c] == 0) {
          ready.push_back(c);
          std::push_heap(ready.begin(), ready.end(), cmp);
        }
      }
    }
  }
  if (order.size() != nodes_.size()) {
    for (auto& n : nodes_)
      if (pending[n.get()] > 0) return invalidArgument("graph has a cycle through ", n->describe());
  }
  std::vector<std::unique_ptr<Node>> sorted;
  sorted.reserve(nodes_.size());
  std::unordered_map<Node*, std::unique_ptr<Node>*> owner;
  for (auto& n : nodes_) owner[n.get()] = &n;
  for (Node* n : order) sorted.push_back(std::move(*owner[n]));
  nodes_ = std::move(sorted);
  return Status::Ok();
}

std::unique_ptr<Graph> Graph::clone() const {
  auto g = std::make_unique<Graph>();
  g->name = name;
  g->opsets = opsets;
  std::unordered_map<const Value*, Value*> map;
  for (const auto& v : values_) {
    Value* nv = g->addValue(v->name);
    nv->dtype = v->dtype;
    nv->dims = v->dims;
    nv->has_shape = v->has_shape;
    nv->constant = v->constant;
    map[v.get()] = nv;
  }
  auto m = [&](Value* v) -> Value* { return v ? map.at(v) : nullptr; };
  for (const auto& n : nodes_) {
    std::vector<Value*> ins, outs;
    for (Value* v : n->inputs) ins.push_back(m(v));
    for (Value* v : n->outputs) outs.push_back(m(v));
    Node* nn = g->addNode(n->op_type, n->name, ins, outs);
    nn->domain = n->domain;
    nn->opset = n->opset;
    nn->attrs = n->attrs;
    nn->backend = n->backend;
    nn->precision = n->precision;
  }
  for (Value* v : inputs) g->inputs.push_back(m(v));
  for (Value* v : outputs) g->outputs.push_back(m(v));
  g->rebuildUses();
  return g;
}

Status verify(const Graph& g) {
  std::set<std::string> names;
  for (const auto& v : g.values())
    if (!names.insert(v->name).second) return internalError("duplicate value name '", v->name, "'");
  std::set<const Value*> available;
  for (const auto& v : g.values())
    if (v->isConstant()) available.insert(v.get());
  for (Value* v : g.inputs) available.insert(v);
  std::set<std::string> node_names;
  for (const auto& n : g.nodes()) {
    for (size_t i = 0; i < n->inputs.size(); ++i) {
      Value* in = n->inputs[i];
      if (in && !available.count(in))
        return invalidArgument(n->describe(), ": input ", i, " '", in->name,
                               "' is not produced before it is used (graph not topologically sorted, or missing)");
    }
    for (Value* o : n->outputs) {
      if (!o) continue;
      if (available.count(o)) return invalidArgument(n->describe(), ": output '", o->name, "' is produced twice");
      available.insert(o);
    }
  }
  for (Value* o : g.outputs)
    if (!available.count(o)) return invalidArgument("graph output '", o->name, "' is never produced");
  return Status::Ok();
}

std::string print(const Graph& g) {
  std::ostringstream os;
  auto desc = [](const Value* v) {
    if (!v) return std::string("<none>");
    return v->name + ":" + dataTypeName(v->dtype) + "[" + (v->has_shape ? dimsToString(v->dims) : "?") + "]";
  };
  os << "graph " << g.name << "\n";
  for (Value* v : g.inputs) os << "  input  " << desc(v) << "\n";
  for (Value* v : g.outputs) os << "  output " << desc(v) << "\n";
  for (const auto& n : g.nodes()) {
    os << "  " << n->name << ": " << n->op_type << "(";
    for (size_t i = 0; i < n->inputs.size(); ++i) {
      if (i) os << ", ";
      const Value* v = n->inputs[i];
      os << (v ? (v->isConstant() ? v->name + "(const)" : v->name) : "<none>");
    }
    os << ") -> ";
    for (size_t i = 0; i < n->outputs.size(); ++i) os << (i ? ", " : "") << desc(n->outputs[i]);
    os << "\n";
  }
  return os.str();
}

}  // namespace qrt::ir
