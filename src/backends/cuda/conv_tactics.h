// Build-time tactics for the CUDA convolutions: every candidate execution plan of each
// convolution is timed on the build's shapes and the fastest stored in the node (kAttrTactic),
// so loading and reshape do no search and runs are deterministic. A timing cache file maps a
// layer's signature (op, shapes, dtypes, layouts, attributes, GPU, cuDNN) to the tactic chosen
// and its time, so a rebuild times only what it has not seen.
#pragma once

#include <map>
#include <string>

#include "backends/cuda/conv_tactic_file.h"
#include "backends/cuda/device_context.h"
#include "ir/graph.h"
#include "qrt/builder.h"

namespace qrt::cuda {

// Whether the build keeps the libraries' heuristic plans instead of timing tactics (reshape then
// takes cuDNN's first heuristic plan, cuBLASLt its first algorithm): QRT_CUDA_TACTICS=heuristic,
// or BuilderConfig::timingRuns() == 0 (the INT8 calibration engine: quant/calibrate.cpp).
bool heuristicTactics(const BuilderConfig& config);

// Times and stores the tactic of every CUDA convolution with static shapes in `g` (after
// prepareGraph chose the kernels), and of a dynamic one at the opt shapes: `opt_dims` is every
// value's dims there (dimsAtOptShapes; empty without opt shapes). Not where heuristicTactics.
Status chooseConvTactics(ir::Graph& g, const BuilderConfig& config, const DeviceInfo& info,
                         const std::map<std::string, Dims>& opt_dims, std::map<std::string, std::string>& metadata);

// The device part of the convolution entries' keys in the timing cache: " | <arch> <GPU> cudnn <version>"
// (another GPU or cuDNN never reads them).
std::string convCacheWhere(const DeviceInfo& info);

}  // namespace qrt::cuda
