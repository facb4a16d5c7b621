#include "builder/int8_choice.h"

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstdio>

#include "core/logging.h"
#include "core/status_macros.h"
#include "runtime/engine_impl.h"

#ifdef QRT_HAVE_CUDA
#include "backends/cuda/engine_timing.h"
#endif

namespace qrt {

namespace {

// The model's node names a profiled layer runs (a fused layer joins them with " + ").
std::vector<std::string> partsOf(const std::string& layer) {
  std::vector<std::string> parts;
  size_t start = 0;
  for (;;) {
    const size_t at = layer.find(" + ", start);
    parts.push_back(layer.substr(start, at == std::string::npos ? std::string::npos : at - start));
    if (at == std::string::npos) return parts;
    start = at + 3;
  }
}

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
      parts.push_back(partsOf(rows[i].layer));
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

Int8Choice chooseInt8Layers(const ir::Graph& g, const std::vector<LayerCost>& int8,
                            const std::vector<LayerCost>& fp16, const Int8ChoiceOptions& options) {
  // The nodes INT8 quantizes, and the activations they read (a quantize kernel of its own serves
  // each INT8 reader of a tensor whose producer cannot quantize it).
  std::set<std::string> quantizable;
  std::map<std::string, std::vector<std::string>> readers;  // tensor -> quantizable nodes reading it
  std::map<std::string, std::vector<std::string>> reads;    // quantizable node -> activation tensors
  for (const auto& n : g.nodes()) {
    if (n->op_type != "Conv" && n->op_type != "Gemm" && n->op_type != "MatMul") continue;
    quantizable.insert(n->name);
    for (const ir::Value* v : n->inputs) {
      if (!v || v->isConstant()) continue;
      readers[v->name].push_back(n->name);
      reads[n->name].push_back(v->name);
    }
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

  Int8Choice choice;
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
    // INT8 readers: each reader in the unit carries its share.
    for (size_t i = 0; i < int8.size(); ++i) {
      const std::string t = convertedTensor(int8[i]);
      if (t.empty()) continue;
      auto it = readers.find(t);
      if (it == readers.end() || it->second.empty()) continue;
      size_t mine = 0;
      for (const std::string& n : nodes) {
        const auto& r = reads[n];
        mine += static_cast<size_t>(std::count(r.begin(), r.end(), t));
      }
      v.int8_ms += int8[i].ms * static_cast<double>(mine) / static_cast<double>(it->second.size());
    }
    const double gain = v.int8_ms - v.float_ms;
    v.keep_float = gain > options.min_gain_ms && gain > options.min_gain_fraction * v.int8_ms;
    choice.verdicts.push_back(std::move(v));
  }
  return choice;
}

bool int8ChoiceApplies(const BuilderConfig& config, bool implicit_int8, std::string* why_not) {
  auto no = [&](const char* why) {
    *why_not = why;
    return false;
  };
  if (config.device() != DeviceType::kCUDA) return no("not a CUDA build");
  if (!config.getFlag(BuilderFlag::kINT8) || !config.getFlag(BuilderFlag::kFP16)) return no("needs --int8 and --fp16");
  if (!implicit_int8) return no("the model's own Q/DQ nodes decide");
  if (config.timingRuns() <= 0) return no("tactic timing is off");
  const char* env = std::getenv("QRT_CUDA_INT8_CHOICE");
  if (env && std::string(env) == "off") return no("QRT_CUDA_INT8_CHOICE=off");
#ifndef QRT_HAVE_CUDA
  return no("this qrt has no CUDA backend");
#else
  return true;
#endif
}

namespace {

std::string fmtMs(double ms) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3f", ms);
  return buf;
}

// The shapes the engine is timed at: its fixed input shapes, or the opt shapes given for dynamic
// ones; empty (with `why`) when an input has neither or is not float.
std::map<std::string, Dims> timingShapes(const Engine& engine, const BuilderConfig& config, std::string* why) {
  std::map<std::string, Dims> shapes;
  for (const TensorInfo& in : engine.inputs()) {
    if (in.dtype != DataType::kFloat) {
      *why = "input '" + in.name + "' is not float";
      return {};
    }
    const bool dynamic = std::any_of(in.dims.begin(), in.dims.end(), [](int64_t d) { return d < 0; });
    if (!dynamic) {
      shapes[in.name] = in.dims;
    } else if (auto it = config.optShapes().find(in.name); it != config.optShapes().end()) {
      shapes[in.name] = it->second;
    } else {
      *why = "input '" + in.name + "' has dynamic dims (fix them with --shapes, or give --opt-shapes)";
      return {};
    }
  }
  return shapes;
}

}  // namespace

Result<std::shared_ptr<Engine>> buildWithInt8Choice(const ir::Graph& g, const BuilderConfig& config,
                                                    const EngineBuildFn& build) {
  QRT_ASSIGN_OR_RETURN(std::shared_ptr<Engine> int8, build({}, true));
#ifndef QRT_HAVE_CUDA
  return int8;
#else
  auto note = [](Engine& e, const std::string& text) {
    e.impl().metadata["int8_choice"] = text;
    logInfo("INT8 per layer: ", text);
  };
  std::string why;
  const std::map<std::string, Dims> shapes = timingShapes(*int8, config, &why);
  if (shapes.empty()) {
    note(*int8, "not chosen (every layer the calibration covers is INT8): " + why);
    return int8;
  }
  const auto t0 = std::chrono::steady_clock::now();
  constexpr int kRuns = 20;
  QRT_ASSIGN_OR_RETURN(std::shared_ptr<Engine> fp16, build({}, false));
  auto t8 = cuda::timeEngine(*int8, shapes, kRuns, true);
  auto t16 = t8.ok() ? cuda::timeEngine(*fp16, shapes, kRuns, true) : t8;
  if (!t8.ok() || !t16.ok()) {
    const Status& s = !t8.ok() ? t8.status() : t16.status();
    logWarning("INT8 per layer: timing the engines failed (", s.message(), "); every layer stays INT8");
    note(*int8, "not chosen: timing failed: " + s.message());
    return int8;
  }
  auto costs = [](const cuda::EngineTimes& t) {
    std::vector<LayerCost> rows;
    for (const cuda::LayerTime& l : t.layers) rows.push_back({l.layer, l.op, l.total_ms / static_cast<double>(l.runs)});
    return rows;
  };
  const Int8Choice choice = chooseInt8Layers(g, costs(*t8), costs(*t16));
  const std::set<std::string> keep = choice.keepFloat();
  std::string detail;
  size_t kept = 0;
  for (const Int8Verdict& v : choice.verdicts) {
    if (!v.keep_float) continue;
    ++kept;
    std::string name;
    for (const std::string& n : v.nodes) name += (name.empty() ? "" : " + ") + n;
    detail += "; " + name + " " + fmtMs(v.int8_ms) + " -> " + fmtMs(v.float_ms) + " ms";
  }
  // The candidates, timed end to end back to back (so that all see the same clocks): all-INT8,
  // the mixed engine where some layer's FP16 form won, and the FP16 engine (as TensorRT's "best"
  // mode may run every layer FP16 when that is fastest).
  struct Candidate {
    std::shared_ptr<Engine> engine;
    const char* what;
    double ms = 0;
  };
  std::vector<Candidate> candidates = {{int8, "all-INT8"}};
  if (!keep.empty()) {
    QRT_ASSIGN_OR_RETURN(std::shared_ptr<Engine> mixed, build(keep, true));
    candidates.push_back({mixed, "mixed"});
  }
  candidates.push_back({fp16, "FP16"});
  for (Candidate& c : candidates) {
    auto t = cuda::timeEngine(*c.engine, shapes, 2 * kRuns, false);
    if (!t.ok()) {
      logWarning("INT8 per layer: timing the ", c.what, " engine failed (", t.status().message(),
                 "); every layer stays INT8");
      note(*int8, "not chosen: timing failed: " + t.status().message());
      return int8;
    }
    c.ms = t->median_ms;
  }
  const Candidate* best = &candidates[0];
  for (const Candidate& c : candidates)
    if (c.ms < best->ms) best = &c;
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::string measured;
  for (const Candidate& c : candidates)
    measured += std::string(measured.empty() ? "" : ", ") + c.what + " " + fmtMs(c.ms) + " ms";
  measured += " (per-layer profiles: all-INT8 " + fmtMs(t8->median_ms) + " ms, FP16 " + fmtMs(t16->median_ms) +
              " ms; choosing took " + fmtMs(secs) + " s)";
  const std::string n = std::to_string(choice.verdicts.size());
  if (best->engine == fp16) {
    // The FP16 engine answers a build that asked for INT8 too: say so in its flags.
    fp16->impl().metadata["builder_flags"] = int8->metadata("builder_flags");
    note(*fp16, n + " of " + n + " INT8 layers run FP16 (the FP16 engine, fastest end to end): " + measured + detail);
    return fp16;
  }
  if (best->engine != int8) {
    note(*best->engine, std::to_string(kept) + " of " + n + " INT8 layers run FP16, faster there: " + measured + detail);
    return best->engine;
  }
  note(*int8, keep.empty() ? "every layer INT8: all " + n + " INT8 layers faster than their FP16 form: " + measured
                           : "every layer INT8: the " + std::to_string(kept) + " of " + n +
                                 " INT8 layers faster in FP16 alone were not faster together: " + measured + detail);
  return int8;
#endif
}

}  // namespace qrt
