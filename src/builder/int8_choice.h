// Per-layer INT8 or FP16 in a CUDA build with both --int8 and --fp16 (TensorRT's "best" mode):
// an INT8 layer is only worth it where its integer kernel, with the quantize / dequantize kernels
// it brings along, beats the same layer in FP16. At batch 1, or on models made of many small
// layers (PP-OCRv4's detector: squeeze-excite blocks whose pooled vectors are quantized by kernels
// of their own), the FP16 form often wins.
//
// How the builder decides (buildWithInt8Choice): it builds the engine all-INT8 (every layer the
// calibration covers) and all-FP16, times both on the GPU layer by layer (CUDA events around each
// kernel), compares each INT8 layer against the FP16 layer(s) it became there and estimates the
// conversions a move would add between INT8 neighbours (chooseInt8Layers, below: a pure function
// of the two profiles and the model graph), rebuilds with the chosen layers kept out of INT8, and
// keeps the fastest end to end (CUDA-graph replays, back to back) of: all-INT8, that mixed engine,
// the mixed engine of the layers faster alone (conversions not counted) where that is another set,
// and FP16. The end-to-end times guard the model. Session 17 on an H200 (before conversions were
// counted): ResNet-50 at batch 1 had 11 layers faster alone, whose mixed engine ran 0.385 ms
// against all-INT8's 0.314 (each sat between INT8 neighbours); the detector's 27 ran 0.892 against
// 0.920. Where FP16 is fastest throughout, the engine is the FP16 one, as TensorRT's "best" may be.
//
// Why profiles of whole engines rather than TensorRT's per-layer reformat search: qrt's passes fuse
// differently in the two precisions (an INT8 conv folds its quantize, residual add and activation;
// the FP16 one its bias, activation and residual), so a layer of one engine is no layer of the
// other. Comparing the fused layers that share the model's nodes compares what really runs.
//
// Only implicit quantization chooses (calibration scales, as TensorRT's implicit INT8): a model's
// own Q/DQ nodes are the user's explicit choice and stay as written. QRT_CUDA_INT8_CHOICE=off keeps
// every layer INT8 (the engine before this step; for A/B timings).
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "ir/graph.h"
#include "qrt/builder.h"
#include "qrt/engine.h"

namespace qrt {

// One profiled layer of an engine: its (fused) name, op and time per run.
struct LayerCost {
  std::string layer;  // node name; a fused layer joins the model's node names with " + "
  std::string op;     // QConv, QGemm, FusedConv, QuantizeLinear, ...
  double ms = 0;
  std::string dtype;  // of its (first) output: "int8" where an INT8 layer requantizes
};

struct Int8ChoiceOptions {
  // A layer goes to FP16 only when that saves at least this much (noise of per-kernel events)...
  double min_gain_ms = 0.002;
  // ... and this fraction of its INT8 time.
  double min_gain_fraction = 0.05;
  // A conversion kernel the move would add (a DequantizeLinear of an INT8 neighbour's output, a
  // QuantizeLinear for an INT8 reader): the fastest standalone Q/DQ kernel of the INT8 profile
  // (this much where it has none) plus the bytes it moves (3 a value: fp16 and int8) at ~2.5 TB/s.
  double conversion_floor_ms = 0.003;
  double conversion_ms_per_value = 1.2e-9;
};

// The verdict on one INT8 layer: the model's quantizable nodes it runs (a QConv that also computes
// its block's downsample runs two), their time in each engine, and the choice.
struct Int8Verdict {
  std::vector<std::string> nodes;
  double int8_ms = 0;   // the INT8 layer, the quantize / dequantize kernels of its inputs (shared
                        // among their INT8 readers) and the separate kernels of what FP16 fuses
  double float_ms = 0;  // the FP16 layer(s) running the same nodes, and the separate kernels of
                        // what INT8 fuses
  double conversion_ms = 0;  // the Q/DQ kernels the move adds where its neighbours stay INT8
  bool keep_float = false;        // the choice, conversions counted
  bool keep_float_alone = false;  // faster in FP16 by itself, conversions not counted
};

struct Int8Choice {
  std::vector<Int8Verdict> verdicts;  // in the INT8 profile's order
  // The nodes to keep out of INT8 (passes::QdqOptions::exclude_nodes): the choice, and the layers
  // faster in FP16 alone (the builder times both: session 17's H200 runs took the second).
  std::set<std::string> keepFloat() const;
  std::set<std::string> keepFloatAlone() const;
};

// `g`: the model graph the two engines were built from (after simplification, before Q/DQ), whose
// Conv / Gemm / MatMul nodes are what INT8 quantizes. `int8` and `fp16`: the two engines' profiles.
// Layers the two profiles do not both run (an INT8 stem the CUDA builder runs in float, a layer
// whose FP16 form is missing) stay as they are.
//
// A layer moved to FP16 between INT8 neighbours needs conversions the profiles do not hold: a
// DequantizeLinear of an input an INT8 layer writes as int8, a QuantizeLinear of its output for an
// INT8 reader (TensorRT's reformat layers). The choice charges them (Int8ChoiceOptions): every
// layer faster alone moves, those whose gain does not pay for their conversions go back (weakest
// first, until nothing changes), regions of moved layers whose total gain is under the noise floor
// go back too, and a layer left INT8 that pays alone against that assignment moves
// (chooseInt8Layers' comments). Neighbours moving together need no conversion.
Int8Choice chooseInt8Layers(const ir::Graph& g, const std::vector<LayerCost>& int8,
                            const std::vector<LayerCost>& fp16, const Int8ChoiceOptions& options = {});

// Whether a build chooses per layer: CUDA, --int8 and --fp16, tactic timing on (timingRuns > 0),
// calibration scales (`implicit_int8`), and QRT_CUDA_INT8_CHOICE not "off". `why_not` says why not.
bool int8ChoiceApplies(const BuilderConfig& config, bool implicit_int8, std::string* why_not);

// Builds the engine with `build(keep_float, int8)` (the graph steps from quantization on: int8 =
// false is the FP16 engine) and chooses per layer as described above. Engines whose inputs are
// not all fixed float shapes (fixed at build, or an opt shape given) are built all-INT8 with a
// log line saying why. The engine's "int8_choice" metadata says what was chosen and measured.
using EngineBuildFn =
    std::function<Result<std::shared_ptr<Engine>>(const std::set<std::string>& keep_float, bool int8)>;
Result<std::shared_ptr<Engine>> buildWithInt8Choice(const ir::Graph& g, const BuilderConfig& config,
                                                    const EngineBuildFn& build);

}  // namespace qrt
