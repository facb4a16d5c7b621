// The per-layer INT8 / FP16 cost model (chooseInt8Layers); the builder's use of it, building and
// timing the candidate engines, is int8_choice_build.cpp.
#include "builder/int8_choice.h"

#include <algorithm>

#include "builder/precision.h"

namespace qrt {

namespace {

bool endsWith(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// The tensor a standalone activation quantize / dequantize layer converts (insertQdq names them
// "<tensor>_QuantizeLinear" / "<tensor>_DequantizeLinear"), or "" for any other layer.
std::string convertedTensor(const LayerCost& row) {
  if (row.op != "QuantizeLinear" && row.op != "DequantizeLinear") return {};
  const std::string suffix = "_" + row.op;
  return endsWith(row.layer, suffix) ? row.layer.substr(0, row.layer.size() - suffix.size()) : std::string();
}

bool isIntegerOp(const std::string& op) {
  return (!op.empty() && op[0] == 'Q' && op != "QuantizeLinear") || op == "ConvInteger" || op == "MatMulInteger";
}

// One engine's profile, indexed by the model's node names.
struct Profile {
  const std::vector<LayerCost>& rows;
  std::vector<std::vector<std::string>> parts;
  std::map<std::string, std::vector<size_t>> rows_of;  // node name -> the rows that run it

  explicit Profile(const std::vector<LayerCost>& r) : rows(r) {
    for (size_t i = 0; i < rows.size(); ++i) {
      parts.push_back(layerNameParts(rows[i].layer));
      for (const std::string& p : parts.back()) rows_of[p].push_back(i);
    }
  }
  std::set<size_t> rowsRunning(const std::vector<std::string>& nodes) const {
    std::set<size_t> r;
    for (const std::string& n : nodes)
      if (auto it = rows_of.find(n); it != rows_of.end()) r.insert(it->second.begin(), it->second.end());
    return r;
  }
};

struct UnionFind {
  std::map<std::string, std::string> parent;
  std::string find(const std::string& x) {
    auto it = parent.find(x);
    if (it == parent.end()) return parent[x] = x;
    if (it->second == x) return x;
    return it->second = find(it->second);
  }
  void join(const std::string& a, const std::string& b) { parent[find(a)] = find(b); }
};

}  // namespace

std::set<std::string> Int8Choice::keepFloat() const {
  std::set<std::string> r;
  for (const Int8Verdict& v : verdicts)
    if (v.keep_float) r.insert(v.nodes.begin(), v.nodes.end());
  return r;
}

std::set<std::string> Int8Choice::keepFloatAlone() const {
  std::set<std::string> r;
  for (const Int8Verdict& v : verdicts)
    if (v.keep_float_alone) r.insert(v.nodes.begin(), v.nodes.end());
  return r;
}

Int8Choice chooseInt8Layers(const ir::Graph& g, const std::vector<LayerCost>& int8,
                            const std::vector<LayerCost>& fp16, const Int8ChoiceOptions& options) {
  // The graph's wiring by name (producers and readers of each value, the nodes by name) and the
  // nodes INT8 quantizes.
  std::set<std::string> quantizable;
  std::map<std::string, std::string> producer;
  std::map<std::string, std::vector<std::string>> consumers;  // one entry a reading input
  std::map<std::string, const ir::Node*> node_named;
  for (const auto& n : g.nodes()) {
    node_named[n->name] = n.get();
    if (n->op_type == "Conv" || n->op_type == "Gemm" || n->op_type == "MatMul") quantizable.insert(n->name);
    for (const ir::Value* v : n->outputs)
      if (v) producer[v->name] = n->name;
    for (const ir::Value* v : n->inputs)
      if (v && !v->isConstant()) consumers[v->name].push_back(n->name);
  }
  const Profile p8(int8), p16(fp16);
  auto hasQuantizable = [&](const std::vector<std::string>& parts) {
    return std::any_of(parts.begin(), parts.end(), [&](const std::string& p) { return quantizable.count(p) > 0; });
  };
  // Units of choice: quantizable nodes that share a layer in either engine go together (a QConv
  // that also computes its block's downsample; FP16 fusing two convolutions would tie them too).
  UnionFind units;
  for (const Profile* p : {&p8, &p16})
    for (const auto& parts : p->parts) {
      std::string first;
      for (const std::string& part : parts) {
        if (!quantizable.count(part)) continue;
        if (first.empty()) first = part;
        else units.join(part, first);
      }
    }
  std::map<std::string, std::vector<std::string>> unit_nodes;
  std::vector<std::string> order;  // units in the INT8 profile's order
  for (size_t i = 0; i < int8.size(); ++i)
    for (const std::string& part : p8.parts[i]) {
      if (!quantizable.count(part)) continue;
      const std::string root = units.find(part);
      auto& nodes = unit_nodes[root];
      if (nodes.empty()) order.push_back(root);
      if (std::find(nodes.begin(), nodes.end(), part) == nodes.end()) nodes.push_back(part);
    }

  // Which INT8 layer runs each node (a quantizable one, or a Relu / Add it fused): its unit, and
  // whether that layer writes int8. Integer layers with no verdict never move (kFixed).
  const std::string kFixed = "\x01fixed";
  std::map<std::string, std::string> int8_owner;
  std::map<std::string, bool> writes_int8;  // node -> its INT8 layer's output is int8
  for (size_t i = 0; i < int8.size(); ++i) {
    if (!isIntegerOp(int8[i].op)) continue;
    std::string root;
    for (const std::string& part : p8.parts[i])
      if (quantizable.count(part)) root = units.find(part);
    for (const std::string& part : p8.parts[i]) {
      if (!node_named.count(part)) continue;
      int8_owner[part] = root.empty() ? kFixed : root;
      writes_int8[part] = int8[i].dtype == "int8";
    }
  }
  std::set<std::string> existing;  // standalone Q/DQ layers of the INT8 engine, by name
  double floor_ms = -1;
  for (size_t i = 0; i < int8.size(); ++i) {
    if (convertedTensor(int8[i]).empty()) continue;
    existing.insert(int8[i].layer);
    floor_ms = floor_ms < 0 ? int8[i].ms : std::min(floor_ms, int8[i].ms);
  }
  if (floor_ms < 0) floor_ms = options.conversion_floor_ms;
  auto conversionMs = [&](const std::string& tensor) {
    const ir::Value* v = g.findValue(tensor);
    double values = 0;
    if (v && v->has_shape && std::all_of(v->dims.begin(), v->dims.end(), [](int64_t d) { return d >= 0; }))
      values = static_cast<double>(volume(v->dims));
    return floor_ms + values * options.conversion_ms_per_value;
  };

  Int8Choice choice;
  struct Unit {
    std::string root;
    std::set<std::string> inputs, outputs;  // values crossing the boundary of the unit's nodes
  };
  std::vector<Unit> unit_of_verdict;
  for (const std::string& root : order) {
    const std::vector<std::string>& nodes = unit_nodes[root];
    const std::set<size_t> r8 = p8.rowsRunning(nodes), r16 = p16.rowsRunning(nodes);
    // Both engines must run every node of the unit, and the INT8 one on integer kernels.
    bool comparable = !r16.empty();
    for (const std::string& n : nodes) comparable = comparable && p16.rows_of.count(n) > 0;
    for (size_t i : r8) comparable = comparable && isIntegerOp(int8[i].op);
    if (!comparable) continue;
    std::set<std::string> names8, names16;
    for (size_t i : r8) names8.insert(p8.parts[i].begin(), p8.parts[i].end());
    for (size_t i : r16) names16.insert(p16.parts[i].begin(), p16.parts[i].end());
    // What one engine fuses into the unit's layers and the other runs as layers of their own
    // (which run no other quantizable node) counts on the other side.
    auto sideTime = [&](const Profile& p, const std::set<size_t>& own, const std::set<std::string>& other_names) {
      double ms = 0;
      for (size_t i : own) ms += p.rows[i].ms;
      for (size_t i = 0; i < p.rows.size(); ++i) {
        if (own.count(i) || hasQuantizable(p.parts[i])) continue;
        if (std::any_of(p.parts[i].begin(), p.parts[i].end(),
                        [&](const std::string& part) { return other_names.count(part) > 0; }))
          ms += p.rows[i].ms;
      }
      return ms;
    };
    Int8Verdict v;
    v.nodes = nodes;
    v.int8_ms = sideTime(p8, r8, names16);
    v.float_ms = sideTime(p16, r16, names8);
    // The standalone quantize / dequantize kernels of the tensors the unit reads exist for their
    // INT8 (quantizable) readers: each reading input in the unit carries its share.
    for (size_t i = 0; i < int8.size(); ++i) {
      const std::string t = convertedTensor(int8[i]);
      auto it = t.empty() ? consumers.end() : consumers.find(t);
      if (it == consumers.end()) continue;
      const auto all = std::count_if(it->second.begin(), it->second.end(),
                                     [&](const std::string& c) { return quantizable.count(c) > 0; });
      const auto mine = std::count_if(it->second.begin(), it->second.end(), [&](const std::string& c) {
        return std::find(nodes.begin(), nodes.end(), c) != nodes.end();
      });
      if (all > 0) v.int8_ms += int8[i].ms * static_cast<double>(mine) / static_cast<double>(all);
    }
    // The model nodes the unit runs in either form, and the values crossing their boundary.
    Unit u{root, {}, {}};
    std::set<std::string> inside;
    for (const std::string& n : names8)
      if (node_named.count(n)) inside.insert(n);
    for (const std::string& n : names16)
      if (node_named.count(n)) inside.insert(n);
    for (const std::string& n : inside) {
      for (const ir::Value* in : node_named[n]->inputs)
        if (in && !in->isConstant() && !inside.count(producer.count(in->name) ? producer[in->name] : ""))
          u.inputs.insert(in->name);
      for (const ir::Value* out : node_named[n]->outputs) {
        if (!out) continue;
        const auto& readers_of = consumers[out->name];
        if (std::any_of(readers_of.begin(), readers_of.end(), [&](const std::string& c) { return !inside.count(c); }))
          u.outputs.insert(out->name);
      }
    }
    // Nodes the INT8 engine runs inside the unit's integer layer without naming them (a residual
    // Add and its Relu fused into a QConv: only the FP16 layer's name lists them) belong to it.
    bool unit_writes_int8 = false;
    for (size_t i : r8) unit_writes_int8 = unit_writes_int8 || int8[i].dtype == "int8";
    for (const std::string& n : inside)
      if (!p8.rows_of.count(n) && !int8_owner.count(n)) {
        int8_owner[n] = root;
        writes_int8[n] = unit_writes_int8;
      }
    choice.verdicts.push_back(std::move(v));
    unit_of_verdict.push_back(std::move(u));
  }

  // The decision, in four steps.
  //  1. Every unit faster alone in FP16 (any gain) moves.
  //  2. Weakest first, again until nothing changes, a moved unit whose gain does not pay for the
  //     conversions its INT8 neighbours then need goes back to INT8 (only ever back: it ends).
  //  3. Moved units that touch (a tensor between them) form a region, whose conversions are only
  //     those at its edge; a region whose total gain is under the noise floor (min_gain_ms, and
  //     min_gain_fraction of its INT8 time) goes back to INT8. Regions do not touch one another,
  //     so dropping one changes no other's conversions.
  // Step 1 takes gains of any size so that a pair moves together where one of them gains little
  // (a squeeze-excite block's two 1x1 convolutions); step 3 puts the noise floor on the region.
  auto worth = [&](const Int8Verdict& v, double conversion_ms) {
    const double gain = v.int8_ms - v.float_ms - conversion_ms;
    return gain > options.min_gain_ms && gain > options.min_gain_fraction * v.int8_ms;
  };
  std::set<std::string> moved;
  std::vector<double> raw(choice.verdicts.size());
  for (size_t i = 0; i < choice.verdicts.size(); ++i) {
    Int8Verdict& v = choice.verdicts[i];
    raw[i] = v.int8_ms - v.float_ms;
    v.keep_float_alone = worth(v, 0);
    v.keep_float = raw[i] > 0;
    if (v.keep_float) moved.insert(unit_of_verdict[i].root);
  }
  auto stays = [&](const std::string& owner) { return owner == kFixed || !moved.count(owner); };
  // The conversions unit u needs against the current assignment; `touching` gets the moved units
  // it shares a tensor with.
  auto conversions = [&](const Unit& u, std::set<std::string>* touching) {
    double ms = 0;
    for (const std::string& x : u.inputs) {
      auto p = producer.find(x);
      if (p == producer.end()) continue;  // a graph input: float
      auto o = int8_owner.find(p->second);
      if (o == int8_owner.end() || o->second == u.root) continue;
      if (!stays(o->second)) {
        if (touching) touching->insert(o->second);
        continue;
      }
      if (writes_int8[p->second] && !existing.count(x + "_DequantizeLinear")) ms += conversionMs(x);
    }
    for (const std::string& y : u.outputs) {
      bool charged = existing.count(y + "_QuantizeLinear") > 0;
      for (const std::string& c : consumers[y]) {
        auto o = int8_owner.find(c);
        if (o == int8_owner.end() || o->second == u.root) continue;
        if (!stays(o->second)) {
          if (touching) touching->insert(o->second);
        } else if (!charged) {
          ms += conversionMs(y);
          charged = true;
        }
      }
    }
    return ms;
  };
  std::vector<size_t> weakest_first(choice.verdicts.size());
  for (size_t i = 0; i < weakest_first.size(); ++i) weakest_first[i] = i;
  std::stable_sort(weakest_first.begin(), weakest_first.end(), [&](size_t a, size_t b) { return raw[a] < raw[b]; });
  for (bool changed = true; changed;) {
    changed = false;
    for (size_t i : weakest_first) {
      Int8Verdict& v = choice.verdicts[i];
      if (!v.keep_float || raw[i] - conversions(unit_of_verdict[i], nullptr) > 0) continue;
      v.keep_float = false;
      moved.erase(unit_of_verdict[i].root);
      changed = true;
    }
  }
  UnionFind regions;
  std::vector<double> edge_ms(choice.verdicts.size());  // a moved unit's conversions: at its region's edge
  for (size_t i = 0; i < choice.verdicts.size(); ++i) {
    if (!choice.verdicts[i].keep_float) continue;
    std::set<std::string> touching;
    edge_ms[i] = conversions(unit_of_verdict[i], &touching);
    regions.find(unit_of_verdict[i].root);
    for (const std::string& t : touching) regions.join(t, unit_of_verdict[i].root);
  }
  std::map<std::string, double> region_gain, region_int8;
  for (size_t i = 0; i < choice.verdicts.size(); ++i) {
    if (!choice.verdicts[i].keep_float) continue;
    const std::string r = regions.find(unit_of_verdict[i].root);
    region_gain[r] += raw[i] - edge_ms[i];
    region_int8[r] += choice.verdicts[i].int8_ms;
  }
  for (size_t i = 0; i < choice.verdicts.size(); ++i) {
    if (!choice.verdicts[i].keep_float) continue;
    const std::string r = regions.find(unit_of_verdict[i].root);
    if (region_gain[r] > options.min_gain_ms && region_gain[r] > options.min_gain_fraction * region_int8[r]) continue;
    choice.verdicts[i].keep_float = false;
  }
  moved.clear();
  for (size_t i = 0; i < choice.verdicts.size(); ++i)
    if (choice.verdicts[i].keep_float) moved.insert(unit_of_verdict[i].root);
  //  4. A unit left INT8 that now pays alone, conversions against the assignment counted and over
  //     the noise floor, moves (strongest first, until nothing changes; only ever forward). Step 3
  //     may have dropped it with a region whose other members' conversions sank the total.
  for (bool changed = true; changed;) {
    changed = false;
    for (auto it = weakest_first.rbegin(); it != weakest_first.rend(); ++it) {
      Int8Verdict& v = choice.verdicts[*it];
      if (v.keep_float || !worth(v, conversions(unit_of_verdict[*it], nullptr))) continue;
      v.keep_float = true;
      moved.insert(unit_of_verdict[*it].root);
      changed = true;
    }
  }
  for (size_t i = 0; i < choice.verdicts.size(); ++i)
    choice.verdicts[i].conversion_ms = conversions(unit_of_verdict[i], nullptr);
  return choice;
}

}  // namespace qrt
