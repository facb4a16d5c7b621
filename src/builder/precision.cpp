// Per-layer precision for host builds. For each layer with floating-point values:
//  * a layer precision with kOBEY / kPREFER_PRECISION_CONSTRAINTS decides: the layer runs at it on
//    the cpu backend when that has a kernel, else on the reference backend (which computes every
//    float op of FP16/BF16 values in fp32 and rounds each result to the layer's dtype: exactly the
//    per-op rounding of a device running that precision). No kernel at all: obey fails naming the
//    layer, prefer warns and keeps fp32;
//  * otherwise the candidates are fp32 and each allowed precision the CPU computes natively (a
//    reference-backend emulation is never chosen for speed). With more than one, each is timed
//    on the layer's real shapes and the fastest kept, as TensorRT's tactic selection does.
//    Dynamic dims are timed at the opt shapes when the config has them (builder/opt_shapes.h:
//    the dims shape inference gives every value with the inputs there), else as 1.
// Layers timed in isolation: the Casts a choice adds where precisions meet are not counted (they
// are cheap next to a convolution, and the layers that meet are mostly of one kind).
#include "builder/precision.h"

#include "builder/opt_shapes.h"

#include <algorithm>
#include <chrono>
#include <optional>
#include <random>
#include <set>

#include "core/json_writer.h"
#include "core/logging.h"
#include "core/status_macros.h"
#include "core/tensor.h"
#include "ops/op.h"
#include "passes/convert_precision.h"
#include "passes/infer_shapes.h"
#include "runtime/kernel_factory.h"
#ifdef QRT_HAVE_DNNL
#include "backends/cpu/isa.h"
#endif

namespace qrt {

namespace {

DataType dtypeOf(Precision p) {
  switch (p) {
    case Precision::kFP16: return DataType::kHalf;
    case Precision::kBF16: return DataType::kBFloat16;
    default: return DataType::kFloat;
  }
}

bool nativeBf16() {
#ifdef QRT_HAVE_DNNL
  return cpu::hasNativeBf16();
#else
  return false;
#endif
}
bool nativeFp16() {
#ifdef QRT_HAVE_DNNL
  return cpu::hasNativeFp16();
#else
  return false;
#endif
}
std::string isaName() {
#ifdef QRT_HAVE_DNNL
  return cpu::isaName();
#else
  return "no oneDNN";
#endif
}

// Conversions and integer kernels keep their types; every other layer with an fp32 value that
// follows its type T can change precision.
bool hasFloatValues(const ir::Node& n) {
  static const std::set<std::string> kFixed = {"Cast",         "CastLike",      "QuantizeLinear", "DequantizeLinear",
                                               "DynamicQuantizeLinear", "ConvInteger", "MatMulInteger",
                                               "QLinearConv",  "QLinearMatMul"};
  if (kFixed.count(n.op_type) || isIntegerLayer(n)) return false;
  for (size_t i = 0; i < n.inputs.size(); ++i)
    if (n.inputs[i] && n.inputs[i]->dtype == DataType::kFloat && passes::inputFollowsT(n, i)) return true;
  for (size_t i = 0; i < n.outputs.size(); ++i)
    if (n.outputs[i] && n.outputs[i]->dtype == DataType::kFloat && passes::outputFollowsT(n, i)) return true;
  return false;
}

// Value name -> dims at the opt shapes (empty without opt shapes).
using DimsByName = std::map<std::string, Dims>;

// The dims a value is timed at: its dims at the opt shapes when known, dynamic dims left as 1.
Dims timedDims(const ir::Value& v, const DimsByName& opt) {
  Dims d = v.dims;
  auto it = v.constant ? opt.end() : opt.find(v.name);
  if (it != opt.end() && it->second.size() == d.size()) d = it->second;
  for (int64_t& x : d) x = x < 0 ? 1 : x;
  return d;
}

bool hasDynamicDims(const ir::Node& n) {
  for (const ir::Value* v : n.inputs)
    if (v && volume(v->dims) < 0) return true;
  for (const ir::Value* v : n.outputs)
    if (v && volume(v->dims) < 0) return true;
  return false;
}

// A stand-alone copy of a node at another precision, on its own values (dynamic dims at the opt
// shapes, or 1 without them), for asking a backend whether it has the kernel and for timing it.
struct Trial {
  std::vector<std::unique_ptr<ir::Value>> values;
  ir::Node node;
};

std::unique_ptr<Trial> makeTrial(const ir::Node& n, DataType t, const std::string& backend,
                                 const DimsByName& opt = DimsByName{}) {
  auto tr = std::make_unique<Trial>();
  tr->node.name = n.name;
  tr->node.op_type = n.op_type;
  tr->node.domain = n.domain;
  tr->node.opset = n.opset;
  tr->node.attrs = n.attrs;
  tr->node.backend = backend;
  auto copy = [&](const ir::Value* v, bool follows) -> ir::Value* {
    if (!v) return nullptr;
    auto c = std::make_unique<ir::Value>();
    c->name = v->name;
    c->dtype = v->dtype;
    c->dims = timedDims(*v, opt);
    c->has_shape = v->has_shape;
    c->constant = v->constant;
    if (follows && v->dtype == DataType::kFloat && t != DataType::kFloat) {
      c->dtype = t;
      if (c->constant) {
        HostTensor low(t, c->constant->dims());
        convertElements(c->constant->data(), DataType::kFloat, low.data(), t, low.numel());
        c->constant = std::move(low);
      }
    }
    tr->values.push_back(std::move(c));
    return tr->values.back().get();
  };
  for (size_t i = 0; i < n.inputs.size(); ++i) tr->node.inputs.push_back(copy(n.inputs[i], passes::inputFollowsT(n, i)));
  for (size_t i = 0; i < n.outputs.size(); ++i)
    tr->node.outputs.push_back(copy(n.outputs[i], passes::outputFollowsT(n, i)));
  return tr;
}

bool hasKernel(const Trial& tr) { return createKernel(tr.node).ok(); }

// Median milliseconds of `runs` runs (after one warm-up) on random inputs of the real shapes.
Result<double> timeTrial(const Trial& tr, int runs) {
  QRT_ASSIGN_OR_RETURN(std::unique_ptr<Kernel> k, createKernel(tr.node));
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> uniform(-1.f, 1.f);
  std::vector<HostTensor> owned;
  owned.reserve(tr.node.inputs.size() + tr.node.outputs.size());
  std::vector<TensorView> ins, shape_ins, outs;  // shape_ins: data only where known at reshape
  for (const ir::Value* v : tr.node.inputs) {
    if (!v) {
      ins.emplace_back();
      shape_ins.emplace_back();
      continue;
    }
    if (v->constant) {
      ins.push_back(v->constant->view());
      shape_ins.push_back(v->constant->view());
      continue;
    }
    if (!v->has_shape) return unsupported(tr.node.describe(), ": shape unknown at build time");
    HostTensor f(DataType::kFloat, v->dims);
    float* p = static_cast<float*>(f.data());
    for (int64_t i = 0; i < f.numel(); ++i) p[i] = uniform(rng);
    HostTensor t(v->dtype, v->dims);
    if (v->dtype == DataType::kFloat || v->dtype == DataType::kHalf || v->dtype == DataType::kBFloat16)
      convertElements(f.data(), DataType::kFloat, t.data(), v->dtype, t.numel());
    owned.push_back(std::move(t));
    ins.push_back(owned.back().view());
    shape_ins.push_back(TensorView{v->dtype, v->dims, nullptr});
  }
  for (const ir::Value* v : tr.node.outputs) {
    if (!v) {
      outs.emplace_back();
      continue;
    }
    owned.emplace_back(v->dtype, v->dims);
    outs.push_back(owned.back().view());
  }
  QRT_RETURN_IF_ERROR(k->reshape(shape_ins, outs));
  HostTensor ws(DataType::kUInt8, {static_cast<int64_t>(std::max<size_t>(k->workspaceBytes(), 1))});
  QRT_RETURN_IF_ERROR(k->run(ins, outs, ws.data()));  // warm-up: first-touch, packed weights
  // `runs` runs, or fewer once 50 ms are spent (big layers at big batches vary little).
  std::vector<double> ms;
  double spent = 0;
  for (int r = 0; r < runs && (r < 2 || spent < 50.0); ++r) {
    auto t0 = std::chrono::steady_clock::now();
    QRT_RETURN_IF_ERROR(k->run(ins, outs, ws.data()));
    ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
    spent += ms.back();
  }
  std::sort(ms.begin(), ms.end());
  return ms[ms.size() / 2];
}

std::string fmtMs(double ms) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.4g ms", ms);
  return buf;
}

struct Choice {
  Precision precision = Precision::kFP32;
  std::string backend;  // empty: finalizeEngine chooses (fp32 layers)
  std::string reason;
  std::vector<std::pair<std::string, double>> timings_ms;
  bool timed = false;    // chosen by timing (a group of them may be reverted for its Casts)
  double gain_ms = 0;    // fp32 time minus the chosen kernel's time
};

// Data movement is exact in every float type: these follow their input's precision instead of
// costing a Cast on each side (TensorRT's reformat-free layers).
bool isDataMovement(const ir::Node& n) {
  static const std::set<std::string> kOps = {"Identity", "Reshape",      "Flatten",      "Squeeze", "Unsqueeze",
                                             "Transpose", "Concat",      "Split",        "Slice",   "Gather",
                                             "Expand",    "Tile",        "DepthToSpace", "SpaceToDepth"};
  return n.domain.empty() && kOps.count(n.op_type);
}

const char* modeName(bool obey) { return obey ? "obey" : "prefer"; }

// A layer whose precision is constrained (prefer / obey) to a reduced precision p.
Result<Choice> constrained(const ir::Node& n, Precision p, bool obey, bool cpu_allowed) {
  Choice c;
  const std::string name = precisionName(p);
  const std::string head = std::string("layer precision ") + name + " (" + modeName(obey) + "): ";
  if (cpu_allowed) {
    auto tr = makeTrial(n, dtypeOf(p), kBackendCpu);
    if (hasKernel(*tr)) {
      c.precision = p;
      c.backend = kBackendCpu;
      bool native = p == Precision::kBF16 ? nativeBf16() : nativeFp16();
      c.reason = head + "cpu " + name + " kernel" +
                 (native ? "" : std::string(" (this CPU has no native ") + name + ": oneDNN emulates it)");
      return c;
    }
  }
  auto tr = makeTrial(n, dtypeOf(p), kBackendReference);
  if (hasKernel(*tr)) {
    c.precision = p;
    c.backend = kBackendReference;
    c.reason = head + "reference kernel (fp32 arithmetic, every result rounded to " + name + ")";
    return c;
  }
  std::string why = n.describe() + ": no kernel runs it in " + name;
  if (obey) return unsupported(why, " (--precision-constraints obey; use prefer to fall back to fp32)");
  logWarning("precision: ", why, ": fp32 kept (--precision-constraints prefer)");
  c.reason = head + "no " + name + " kernel: fp32 kept";
  return c;
}

// What decides a kernel's speed: op, attributes, and each input's dtype, dims and constness.
// Layers with the same signature (ResNet's repeated blocks) are timed once per build.
std::string signature(const Trial& tr) {
  const ir::Node& n = tr.node;
  std::string s = n.backend + "|" + n.domain + "|" + n.op_type;
  for (const auto& [name, a] : n.attrs) {
    s += "|" + name + "=" + std::to_string(a.i) + "," + std::to_string(a.f) + "," + a.s;
    for (int64_t v : a.ints) s += "," + std::to_string(v);
    for (float v : a.floats) s += "," + std::to_string(v);
  }
  for (const ir::Value* v : n.inputs)
    s += v ? "|" + std::string(dataTypeName(v->dtype)) + dimsToString(v->dims) + (v->constant ? "c" : "") : "|-";
  return s;
}

using TimingMemo = std::map<std::string, double>;

Result<double> timeOnce(const Trial& tr, int runs, TimingMemo* memo) {
  const std::string key = signature(tr);
  if (auto it = memo->find(key); it != memo->end()) return it->second;
  QRT_ASSIGN_OR_RETURN(double ms, timeTrial(tr, runs));
  (*memo)[key] = ms;
  return ms;
}

// How much faster than fp32 (a fraction of fp32's time) a lower precision must be to be taken.
constexpr double kMinLowPrecisionGain = 0.10;

// An unconstrained layer: fp32, or the fastest allowed precision the CPU computes natively.
Result<Choice> fastest(const ir::Node& n, const std::set<Precision>& allowed, bool cpu_allowed, int runs,
                       const DimsByName& opt, TimingMemo* memo) {
  Choice c;
  struct Candidate {
    std::string label;
    Precision p;
    std::unique_ptr<Trial> trial;
  };
  std::vector<Candidate> cands;
  std::vector<std::string> notes;
  for (Precision p : allowed) {
    if (p == Precision::kFP32) continue;
    const std::string name = precisionName(p);
    const std::string head = name + " allowed; ";
    if (!cpu_allowed) {
      notes.push_back(head + "QRT_BACKEND=reference: fp32 kernel kept");
      continue;
    }
    if (p == Precision::kFP16 && !nativeFp16()) {
      notes.push_back(head + "this CPU has no FP16 arithmetic: fp32 kernel kept");
      continue;
    }
    if (p == Precision::kBF16 && !nativeBf16()) {
      notes.push_back(head + "this CPU has no BF16 arithmetic (oneDNN ISA " + isaName() + "): fp32 kernel kept");
      continue;
    }
    auto tr = makeTrial(n, dtypeOf(p), kBackendCpu, opt);
    if (!hasKernel(*tr)) {
      notes.push_back(head + "the cpu backend has no " + name + " kernel for " + n.op_type + ": fp32 kernel kept");
      continue;
    }
    cands.push_back({"cpu " + name, p, std::move(tr)});
  }
  auto join = [](const std::vector<std::string>& xs) {
    std::string s;
    for (const auto& x : xs) s += (s.empty() ? "" : "; ") + x;
    return s;
  };
  if (cands.empty()) {
    c.reason = join(notes);
    return c;
  }
  // fp32 as finalizeEngine would place it: the cpu backend when it takes the node.
  auto fp32 = makeTrial(n, DataType::kFloat, cpu_allowed ? kBackendCpu : kBackendReference, opt);
  std::string fp32_label = "cpu fp32";
  if (!hasKernel(*fp32)) {
    fp32 = makeTrial(n, DataType::kFloat, kBackendReference, opt);
    fp32_label = "reference fp32";
  }
  if (runs <= 0) {
    c.precision = cands[0].p;
    c.backend = kBackendCpu;
    notes.push_back(std::string(precisionName(c.precision)) + " allowed; not timed: " + cands[0].label + " kernel taken");
    c.reason = join(notes);
    return c;
  }
  cands.insert(cands.begin(), Candidate{fp32_label, Precision::kFP32, std::move(fp32)});
  double best = 0;
  int best_i = -1;
  std::string timed;
  for (size_t i = 0; i < cands.size(); ++i) {
    auto ms = timeOnce(*cands[i].trial, runs, memo);
    if (!ms.ok()) {
      notes.push_back(cands[i].label + " not timed: " + ms.status().message());
      continue;
    }
    c.timings_ms.emplace_back(cands[i].label, *ms);
    timed += (timed.empty() ? "" : ", ") + cands[i].label + " " + fmtMs(*ms);
    if (best_i < 0 || *ms < best) best = *ms, best_i = static_cast<int>(i);
  }
  if (best_i < 0) {  // nothing timed: keep fp32
    c.reason = join(notes);
    return c;
  }
  // Where the timing ran, for a layer whose shapes depend on the execution context.
  if (hasDynamicDims(n)) {
    std::string at;
    for (const ir::Value* v : cands[0].trial->node.inputs)
      if (v && !v->constant) at += (at.empty() ? "" : ", ") + v->name + " " + dimsToString(v->dims);
    notes.push_back(opt.empty() ? "timed with dynamic dims as 1 (" + at + "; no opt shape: --opt-shapes sets one)"
                                : "timed at the opt shapes (" + at + ")");
  }
  // A lower precision must beat fp32 clearly: single-layer timings on a busy machine move by a
  // few percent, and a layer switched for a gain inside that noise still pays its Casts and the
  // rounding. fp32 is cands[0]; when it was timed, a narrower winner gives way to it.
  if (best_i > 0 && !c.timings_ms.empty() && c.timings_ms.front().first == cands[0].label &&
      best > c.timings_ms.front().second * (1.0 - kMinLowPrecisionGain)) {
    notes.insert(notes.begin(), "timed " + timed + ": " + cands[static_cast<size_t>(best_i)].label +
                                    " less than 10% faster: fp32 kept");
    c.timed = true;
    c.reason = join(notes);
    return c;
  }
  const Candidate& win = cands[static_cast<size_t>(best_i)];
  c.precision = win.p;
  c.backend = win.p == Precision::kFP32 ? "" : kBackendCpu;
  c.timed = true;
  c.gain_ms = c.timings_ms.front().first == cands[0].label ? c.timings_ms.front().second - best : 0;
  notes.insert(notes.begin(), "timed " + timed + ": " + win.label + " fastest");
  c.reason = join(notes);
  return c;
}

// The precision every non-constant float input of n is produced in (nullopt: mixed or fp32 /
// graph inputs, or no such input).
std::optional<Precision> inputPrecision(const ir::Node& n, const std::map<const ir::Node*, Choice>& choices) {
  std::optional<Precision> p;
  for (size_t i = 0; i < n.inputs.size(); ++i) {
    const ir::Value* v = n.inputs[i];
    if (!v || v->isConstant() || v->dtype != DataType::kFloat || !passes::inputFollowsT(n, i)) continue;
    auto it = v->producer ? choices.find(v->producer) : choices.end();
    Precision q = it == choices.end() ? Precision::kFP32 : it->second.precision;
    if (p && *p != q) return std::nullopt;
    p = q;
  }
  return p;
}

// A Cast of a value of these (timed, non-negative) dims, on the reference backend (where the
// builder's Casts run).
Result<double> castMs(const Dims& dims, DataType from, DataType to, int runs, TimingMemo* memo) {
  Trial tr;
  auto in = std::make_unique<ir::Value>(), out = std::make_unique<ir::Value>();
  in->name = "x", out->name = "y";
  in->dtype = from, out->dtype = to;
  in->dims = out->dims = dims;
  in->has_shape = out->has_shape = true;
  tr.node.name = "cast";
  tr.node.op_type = "Cast";
  tr.node.backend = kBackendReference;
  tr.node.attrs["to"] = ir::Attribute::Int(static_cast<int64_t>(to));
  tr.node.inputs = {in.get()};
  tr.node.outputs = {out.get()};
  tr.values.push_back(std::move(in));
  tr.values.push_back(std::move(out));
  return timeOnce(tr, runs, memo);
}

// Layers were timed alone; where low-precision layers meet fp32 ones a Cast runs. A connected
// group of timed low-precision layers whose summed gain does not pay for the Casts at its edges
// goes back to fp32 (small layers, whose timings are mostly noise, would otherwise alternate).
Status revertGroupsNotWorthTheirCasts(ir::Graph& g, std::map<const ir::Node*, Choice>* choices, int runs,
                                      const DimsByName& opt, TimingMemo* memo) {
  if (runs <= 0) return Status::Ok();
  g.rebuildUses();
  auto low = [&](const ir::Node* n) {
    auto it = n ? choices->find(n) : choices->end();
    return it != choices->end() && it->second.precision != Precision::kFP32 ? &it->second : nullptr;
  };
  std::map<const ir::Node*, int> group;
  int groups = 0;
  for (const auto& np : g.nodes()) {  // flood fill over values between low-precision layers
    if (!low(np.get()) || group.count(np.get())) continue;
    std::vector<const ir::Node*> stack = {np.get()};
    group[np.get()] = groups;
    while (!stack.empty()) {
      const ir::Node* n = stack.back();
      stack.pop_back();
      auto visit = [&](const ir::Node* m) {
        if (m && low(m) && low(m)->precision == low(n)->precision && !group.count(m)) {
          group[m] = groups;
          stack.push_back(m);
        }
      };
      for (const ir::Value* v : n->inputs)
        if (v) visit(v->producer);
      for (const ir::Value* v : n->outputs)
        if (v)
          for (const ir::Node* c : v->consumers) visit(c);
    }
    ++groups;
  }
  std::vector<std::vector<const ir::Node*>> members_of(static_cast<size_t>(groups));
  for (const auto& [n, id] : group) members_of[static_cast<size_t>(id)].push_back(n);
  for (int gi = 0; gi < groups; ++gi) {
    const std::vector<const ir::Node*>& members = members_of[static_cast<size_t>(gi)];
    bool all_timed = true;
    double gain = 0, casts = 0;
    std::set<const ir::Value*> edges;
    for (const ir::Node* n : members) {
      all_timed = all_timed && low(n)->timed;
      gain += low(n)->gain_ms;
      for (size_t i = 0; i < n->inputs.size(); ++i) {
        const ir::Value* v = n->inputs[i];
        if (v && !v->isConstant() && v->dtype == DataType::kFloat && passes::inputFollowsT(*n, i) &&
            !(v->producer && group.count(v->producer) && group[v->producer] == gi))
          edges.insert(v);
      }
      for (size_t i = 0; i < n->outputs.size(); ++i) {
        const ir::Value* v = n->outputs[i];
        if (!v || v->dtype != DataType::kFloat || !passes::outputFollowsT(*n, i)) continue;
        bool outside = v->is_graph_output;
        for (const ir::Node* c : v->consumers) outside = outside || !group.count(c) || group[c] != gi;
        if (outside) edges.insert(v);
      }
    }
    if (!all_timed) continue;  // constrained layers stay as asked
    const DataType t = dtypeOf(low(members[0])->precision);
    for (const ir::Value* v : edges) {
      if (!v->has_shape) continue;
      QRT_ASSIGN_OR_RETURN(double ms, castMs(timedDims(*v, opt), DataType::kFloat, t, runs, memo));
      casts += ms;
    }
    if (gain > casts) continue;
    char note[160];
    std::snprintf(note, sizeof(note), "; reverted to fp32 with its group of %zu: gain %.4g ms <= %zu Casts %.4g ms",
                  members.size(), gain, edges.size(), casts);
    for (const ir::Node* n : members) {
      Choice& c = (*choices)[n];
      c.precision = Precision::kFP32;
      c.backend.clear();
      c.reason += note;
    }
  }
  return Status::Ok();
}

}  // namespace

std::vector<std::string> layerNameParts(const std::string& name) {
  std::vector<std::string> parts;
  const std::string sep = " + ";
  for (size_t start = 0;;) {
    const size_t end = name.find(sep, start);
    parts.push_back(name.substr(start, end == std::string::npos ? std::string::npos : end - start));
    if (end == std::string::npos) return parts;
    start = end + sep.size();
  }
}

bool layerNameMatches(const std::string& layer, const std::string& name) {
  if (layer == name) return true;
  const std::vector<std::string> have = layerNameParts(layer);
  for (const std::string& part : layerNameParts(name))
    if (std::find(have.begin(), have.end(), part) == have.end()) return false;
  return true;
}

std::set<std::string> layersKeptOutOfInt8(const BuilderConfig& config) {
  std::set<std::string> names;
  if (!config.getFlag(BuilderFlag::kOBEY_PRECISION_CONSTRAINTS) && !config.getFlag(BuilderFlag::kPREFER_PRECISION_CONSTRAINTS))
    return names;
  for (const auto& [name, p] : config.layerPrecisions()) {
    if (name == "*" || p == Precision::kINT8) continue;
    // The name, and each name a fused layer's name joins ("conv1 + relu1" from an FP32 engine's
    // inspect names conv1: insertQdq sees the model's nodes).
    names.insert(name);
    for (const std::string& part : layerNameParts(name)) names.insert(part);
  }
  return names;
}

bool isIntegerLayer(const ir::Node& n) {
  return (n.domain == kQrtDomain && n.op_type.rfind("Q", 0) == 0) || n.op_type == "ConvInteger" ||
         n.op_type == "MatMulInteger";
}

Status checkLayerPrecisionNames(const ir::Graph& g, const BuilderConfig& config) {
  for (const auto& [name, p] : config.layerPrecisions()) {
    if (p == Precision::kINT8) return invalidArgument("layer precision int8 for '", name, "': INT8 comes from --int8 (calibration or Q/DQ)");
    if (name == "*") continue;
    bool found = false;
    for (const auto& n : g.nodes()) found = found || layerNameMatches(n->name, name);
    if (!found)
      return notFound("layer precision for '", name,
                      "': no such layer (names are as `qrt inspect ENGINE` lists them, or the model's node names)");
  }
  return Status::Ok();
}

Status checkInt8LayerPrecisions(const ir::Graph& g, const BuilderConfig& config) {
  const bool obey = config.getFlag(BuilderFlag::kOBEY_PRECISION_CONSTRAINTS);
  const bool prefer = !obey && config.getFlag(BuilderFlag::kPREFER_PRECISION_CONSTRAINTS);
  for (const auto& [name, p] : config.layerPrecisions()) {
    if (name == "*" || p == Precision::kINT8) continue;
    for (const auto& n : g.nodes()) {
      if (!isIntegerLayer(*n) || !layerNameMatches(n->name, name)) continue;
      const std::string head = strCat("layer precision ", precisionName(p), " for '", name, "': ", n->describe(), " runs in INT8");
      if (obey)
        return invalidArgument(head, ": the model's own Q/DQ put it there (explicit quantization); remove them for that "
                               "layer, or build without --precision-constraints obey");
      if (prefer) logWarning(head, ": the model's own Q/DQ put it there (explicit quantization); kept in INT8");
      else logWarning(head, ": --precision-constraints prefer or obey keeps it out of INT8");
    }
  }
  return Status::Ok();
}

Status checkDeviceLayerPrecisions(const ir::Graph& g, const BuilderConfig& config) {
  const bool obey = config.getFlag(BuilderFlag::kOBEY_PRECISION_CONSTRAINTS);
  const Precision device_float = config.getFlag(BuilderFlag::kFP16) ? Precision::kFP16 : Precision::kFP32;
  QRT_RETURN_IF_ERROR(checkLayerPrecisionNames(g, config));
  for (const auto& [name, p] : config.layerPrecisions()) {
    if (p == device_float) continue;
    const std::string why = strCat("layer precision ", precisionName(p), " for '", name, "': a CUDA engine runs every float layer in ",
                                   precisionName(device_float), device_float == Precision::kFP16 ? " (--fp16)" : " (no --fp16)");
    if (obey) return unsupported(why, " (--precision-constraints obey)");
    logWarning(why, "; kept ", precisionName(device_float));
  }
  return Status::Ok();
}

Result<Precision> parsePrecision(const std::string& name) {
  if (name == "fp32" || name == "float" || name == "float32") return Precision::kFP32;
  if (name == "fp16" || name == "half" || name == "float16") return Precision::kFP16;
  if (name == "bf16" || name == "bfloat16") return Precision::kBF16;
  return invalidArgument("precision '", name, "': expected fp32, fp16 or bf16");
}

Status assignPrecisions(ir::Graph& g, const BuilderConfig& config, bool cpu_allowed,
                        std::map<std::string, std::string>* metadata) {
  const bool obey = config.getFlag(BuilderFlag::kOBEY_PRECISION_CONSTRAINTS);
  const bool prefer = !obey && config.getFlag(BuilderFlag::kPREFER_PRECISION_CONSTRAINTS);
  const auto& layer_precisions = config.layerPrecisions();
  std::set<Precision> flags_allow = {Precision::kFP32};
  if (config.getFlag(BuilderFlag::kFP16)) flags_allow.insert(Precision::kFP16);
  if (config.getFlag(BuilderFlag::kBF16)) flags_allow.insert(Precision::kBF16);

  QRT_RETURN_IF_ERROR(checkLayerPrecisionNames(g, config));
  if (!layer_precisions.empty() && !obey && !prefer)
    logWarning("precision: layer precisions without --precision-constraints prefer|obey only allow those precisions; "
               "the builder still keeps the fastest kernel");
  if (flags_allow.size() == 1 && layer_precisions.empty()) return Status::Ok();

  auto t0 = std::chrono::steady_clock::now();
  g.rebuildUses();  // producers, for the layers that follow their input's precision
  std::map<const ir::Node*, Choice> choices;
  TimingMemo memo;
  QRT_ASSIGN_OR_RETURN(const DimsByName opt, dimsAtOptShapes(g, config));
  int timed = 0;
  for (const auto& np : g.nodes()) {
    const ir::Node& n = *np;
    if (n.backend == kBackendHost) continue;
    // The layer's own name first, then a name it joins as a fused layer ("conv1" of "conv1 + relu1").
    const Precision* requested = nullptr;
    auto named = layer_precisions.find(n.name);
    if (named != layer_precisions.end()) requested = &named->second;
    for (const auto& [name, lp] : layer_precisions)
      if (!requested && name != "*" && layerNameMatches(n.name, name)) requested = &lp;
    if (!hasFloatValues(n)) {
      if (requested && *requested != Precision::kFP32) {
        std::string why = n.describe() + " has no floating-point values to run in " + precisionName(*requested);
        if (obey) return invalidArgument(why, " (--precision-constraints obey)");
        logWarning("precision: ", why, ": ignored");
      }
      continue;
    }
    if (!requested) {
      auto any = layer_precisions.find("*");
      if (any != layer_precisions.end()) requested = &any->second;
    }
    Choice c;
    if (requested && (obey || prefer)) {
      if (*requested == Precision::kFP32) {
        c.reason = std::string("layer precision fp32 (") + modeName(obey) + ")";
      } else {
        QRT_ASSIGN_OR_RETURN(c, constrained(n, *requested, obey, cpu_allowed));
      }
    } else {
      std::set<Precision> allowed = flags_allow;
      if (requested) allowed.insert(*requested);
      if (allowed.size() == 1) continue;
      if (isDataMovement(n)) {
        std::optional<Precision> follow = inputPrecision(n, choices);
        if (follow && *follow != Precision::kFP32 && allowed.count(*follow)) {
          c.precision = *follow;
          auto cpu_trial = makeTrial(n, dtypeOf(*follow), kBackendCpu);
          c.backend = cpu_allowed && hasKernel(*cpu_trial) ? kBackendCpu : kBackendReference;
          c.reason = std::string("data movement: follows its input in ") + precisionName(*follow) + " (no Cast)";
          c.timed = true;
          choices[&n] = std::move(c);
          continue;
        }
      }
      QRT_ASSIGN_OR_RETURN(c, fastest(n, allowed, cpu_allowed, config.timingRuns(), opt, &memo));
      if (!c.timings_ms.empty()) ++timed;
    }
    choices[&n] = std::move(c);
  }

  QRT_RETURN_IF_ERROR(revertGroupsNotWorthTheirCasts(g, &choices, config.timingRuns(), opt, &memo));

  std::set<const ir::Node*> half, bf16;
  for (auto& [n, c] : choices) {
    if (c.precision == Precision::kFP16) half.insert(n);
    if (c.precision == Precision::kBF16) bf16.insert(n);
  }
  // Backends of the converted layers (the rest are placed by finalizeEngine).
  for (const auto& np : g.nodes()) {
    auto it = choices.find(np.get());
    if (it != choices.end() && !it->second.backend.empty()) np->backend = it->second.backend;
  }
  QRT_RETURN_IF_ERROR(passes::convertPrecision(g, half, DataType::kHalf));
  QRT_RETURN_IF_ERROR(passes::convertPrecision(g, bf16, DataType::kBFloat16));
  QRT_RETURN_IF_ERROR(passes::inferShapes(g));

  JsonWriter j(0);
  j.beginObject();
  for (const auto& np : g.nodes()) {
    auto it = choices.find(np.get());
    if (it == choices.end() || it->second.reason.empty()) continue;
    j.key(np->name).beginObject().key("reason").value(it->second.reason);
    if (!it->second.timings_ms.empty()) {
      j.key("timings_ms").beginObject();
      for (const auto& [label, ms] : it->second.timings_ms) j.key(label).value(ms);
      j.endObject();
    }
    j.endObject();
  }
  j.endObject();
  (*metadata)["layer_tactics"] = j.str();
  double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  logInfo("precision: ", half.size(), " layers fp16, ", bf16.size(), " bf16, ", choices.size() - half.size() - bf16.size(),
          " fp32 of ", choices.size(), " with a choice; ", timed, " timed (", fmtMs(ms), ")");
  return Status::Ok();
}

}  // namespace qrt
