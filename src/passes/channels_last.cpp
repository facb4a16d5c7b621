// The region logic of channels-last storage (see channels_last.h): one forward sweep in
// topological order decides which nodes run NHWC, a second inserts the layout changes.
#include "passes/channels_last.h"

#include <map>
#include <set>

#include "passes/rewrite_util.h"

namespace qrt::passes {

namespace {

// Same bytes in either layout.
bool layoutFree(const ir::Value* v) { return v->dims.size() == 4 && v->dims[2] == 1 && v->dims[3] == 1; }

ir::Value* addLike(ir::Graph& g, const ir::Value* v, const std::string& suffix) {
  return rw::addValueLike(g, *v, suffix, v->dtype);
}

}  // namespace

Status assignChannelsLast(ir::Graph& g, const ChannelsLastRules& rules, ChannelsLastReport* report) {
  *report = ChannelsLastReport{};
  g.rebuildUses();
  std::vector<ir::Node*> order;
  for (const auto& n : g.nodes()) order.push_back(n.get());
  std::set<const ir::Value*> skipped_values;  // outputs of skipped nodes: not activations
  for (ir::Node* n : order)
    if (rules.skip && rules.skip(*n))
      for (const ir::Value* o : n->outputs)
        if (o) skipped_values.insert(o);
  auto activation = [&](const ir::Value* v) { return isActivation4d(v) && !skipped_values.count(v); };

  // Which nodes run channels-last, which values are stored so.
  std::set<const ir::Node*> nhwc;
  std::set<const ir::Value*> nhwc_values;
  // A 4-D value computed by a skipped node (at reshape, on the host) is plain and never
  // converted; a kernel of a channels-last node would read it as NHWC, so its readers stay plain.
  auto readsSkipped4d = [&](const ir::Node& n) {
    for (const ir::Value* in : n.inputs)
      if (in && skipped_values.count(in) && isActivation4d(in) && !layoutFree(in)) return true;
    return false;
  };
  for (ir::Node* n : order) {
    if ((rules.skip && rules.skip(*n)) || readsSkipped4d(*n)) continue;
    bool on = rules.anchor(*n);
    if (!on && rules.follower(*n)) {
      bool any_nhwc = false, all_4d = true;
      for (const ir::Value* in : n->inputs) {
        if (!in || in->isConstant() || skipped_values.count(in)) continue;
        if (nhwc_values.count(in) && !layoutFree(in)) any_nhwc = true;
        if (!activation(in)) all_4d = false;
      }
      for (const ir::Value* o : n->outputs)
        if (o && !(o->has_shape && o->dims.size() == 4)) all_4d = false;
      on = any_nhwc && all_4d;
    }
    if (!on) continue;
    nhwc.insert(n);
    for (const ir::Value* o : n->outputs)
      if (o && o->has_shape && o->dims.size() == 4) nhwc_values.insert(o);
  }

  // Graph outputs are NCHW for the caller: the producer writes an NHWC value, converted back,
  // and the plain readers of that value read the converted one.
  std::map<std::pair<const ir::Value*, bool>, ir::Value*> changed;  // (value, to_nhwc) -> converted
  for (ir::Value* out : g.outputs) {
    if (!nhwc_values.count(out) || layoutFree(out)) continue;
    ir::Value* inner = addLike(g, out, "_nhwc");
    for (ir::Value*& o : out->producer->outputs)
      if (o == out) o = inner;
    for (ir::Node* n : order)
      for (ir::Value*& in : n->inputs)
        if (in == out) in = inner;
    ir::Node* id = g.addNode("Identity", g.uniqueName(out->name + "_to_nchw"), {inner}, {out});
    id->attrs[kAttrToNhwc] = ir::Attribute::Int(0);
    report->added.push_back(id);
    nhwc_values.erase(out);
    nhwc_values.insert(inner);
    changed[{inner, false}] = out;
  }

  // Layout changes where NHWC values meet plain readers and the reverse.
  auto convert = [&](ir::Value* v, bool to_nhwc) {
    auto key = std::make_pair(static_cast<const ir::Value*>(v), to_nhwc);
    if (auto it = changed.find(key); it != changed.end()) return it->second;
    ir::Value* c = addLike(g, v, to_nhwc ? "_nhwc" : "_nchw");
    ir::Node* id = g.addNode("Identity", g.uniqueName(v->name + (to_nhwc ? "_to_nhwc" : "_to_nchw")), {v}, {c});
    id->attrs[kAttrToNhwc] = ir::Attribute::Int(to_nhwc ? 1 : 0);
    report->added.push_back(id);
    changed[key] = c;
    return c;
  };
  for (ir::Node* n : order) {
    if (rules.skip && rules.skip(*n)) continue;
    const bool on = nhwc.count(n) != 0;
    if (on) {
      n->attrs[kAttrNhwc] = ir::Attribute::Int(1);
      ++report->nhwc_nodes;
    }
    for (ir::Value*& in : n->inputs) {
      if (!activation(in) || layoutFree(in)) continue;
      const bool stored_nhwc = nhwc_values.count(in) != 0;
      if (on && !stored_nhwc) in = convert(in, true);
      else if (!on && stored_nhwc) in = convert(in, false);
    }
  }
  report->layout_changes = static_cast<int>(report->added.size());
  g.rebuildUses();
  return g.topoSort();
}

}  // namespace qrt::passes
