// The builder's per-layer INT8 / FP16 choice (builder/int8_choice.h): when it applies, and the
// candidate engines built and timed on the GPU around the cost model of int8_choice.cpp.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>

#include "builder/int8_choice.h"
#include "core/logging.h"
#include "core/status_macros.h"
#include "runtime/engine_impl.h"

#ifdef QRT_HAVE_CUDA
#include "backends/cuda/engine_timing.h"
#endif

namespace qrt {

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
// ones; `why` says why not when an input has neither or is not float.
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
  if (!why.empty()) {
    note(*int8, "not chosen (every layer the calibration covers is INT8): " + why);
    return int8;
  }
  const auto t0 = std::chrono::steady_clock::now();
  constexpr int kRuns = 20;
  // The choice only ever picks among engines that built: a candidate that fails to build (or to
  // time) leaves the all-INT8 engine, with a warning naming why, rather than failing the build.
  auto fallback = [&](const char* what, const Status& s) {
    logWarning("INT8 per layer: the ", what, " failed (", s.message(), "); every layer stays INT8");
    note(*int8, std::string("not chosen: the ") + what + " failed: " + s.message());
    return int8;
  };
  auto fp16_built = build({}, false);
  if (!fp16_built.ok()) return fallback("FP16 engine's build", fp16_built.status());
  std::shared_ptr<Engine> fp16 = *fp16_built;
  auto t8 = cuda::timeEngine(*int8, shapes, kRuns, true);
  auto t16 = t8.ok() ? cuda::timeEngine(*fp16, shapes, kRuns, true) : t8;
  if (!t8.ok() || !t16.ok()) return fallback("engines' timing", !t8.ok() ? t8.status() : t16.status());
  auto costs = [](const cuda::EngineTimes& t) {
    std::vector<LayerCost> rows;
    for (const cuda::LayerTime& l : t.layers)
      rows.push_back({l.layer, l.op, l.total_ms / static_cast<double>(l.runs), l.dtype});
    return rows;
  };
  const Int8Choice choice = chooseInt8Layers(g, costs(*t8), costs(*t16));
  const std::set<std::string> keep = choice.keepFloat(), alone = choice.keepFloatAlone();
  // "; <layer> <INT8 ms> -> <FP16 ms> [+ <conversions> conversions] ms" for each layer of a set.
  auto describe = [&](const std::set<std::string>& set) {
    std::string detail;
    for (const Int8Verdict& v : choice.verdicts) {
      if (!set.count(v.nodes.front())) continue;
      std::string name;
      for (const std::string& n : v.nodes) name += (name.empty() ? "" : " + ") + n;
      detail += "; " + name + " " + fmtMs(v.int8_ms) + " -> " + fmtMs(v.float_ms) +
                (v.conversion_ms > 0 ? " + " + fmtMs(v.conversion_ms) + " conversions" : std::string()) + " ms";
    }
    return detail;
  };
  auto layersIn = [&](const std::set<std::string>& set) {
    size_t k = 0;
    for (const Int8Verdict& v : choice.verdicts) k += set.count(v.nodes.front());
    return k;
  };
  // The candidates, timed end to end back to back (so that all see the same clocks): all-INT8,
  // the mixed engine of the choice, the one of the layers faster alone (conversions not counted:
  // the conversion estimate is a model, the end-to-end times decide) where that is another set,
  // and the FP16 engine (as TensorRT's "best" mode may run every layer FP16 when that is fastest).
  struct Candidate {
    std::shared_ptr<Engine> engine;
    const char* what;
    std::set<std::string> moved;
    double ms = 0;
  };
  std::vector<Candidate> candidates = {{int8, "all-INT8", {}}};
  if (!keep.empty()) {
    auto mixed = build(keep, true);
    if (!mixed.ok()) return fallback("mixed engine's build", mixed.status());
    candidates.push_back({*mixed, "mixed", keep});
  }
  if (!alone.empty() && alone != keep) {
    auto mixed_alone = build(alone, true);
    if (!mixed_alone.ok()) return fallback("mixed engine's build", mixed_alone.status());
    candidates.push_back({*mixed_alone, "mixed without conversions", alone});
  }
  candidates.push_back({fp16, "FP16", {}});
  for (Candidate& c : candidates) {
    auto t = cuda::timeEngine(*c.engine, shapes, 2 * kRuns, false);
    if (!t.ok()) return fallback("engines' timing", t.status());
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
    note(*fp16, n + " of " + n + " INT8 layers run FP16 (the FP16 engine, fastest end to end): " + measured);
    return fp16;
  }
  if (best->engine != int8) {
    note(*best->engine, std::to_string(layersIn(best->moved)) + " of " + n + " INT8 layers run FP16 (the " +
                            best->what + " engine, fastest end to end): " + measured + describe(best->moved));
    return best->engine;
  }
  note(*int8, std::string("every layer INT8 (fastest end to end): ") + measured + describe(keep.empty() ? alone : keep));
  return int8;
#endif
}

}  // namespace qrt
