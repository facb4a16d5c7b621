// Build-time tactics for the CUDA matrix products on cuBLASLt (Gemm, FusedGemm, MatMul in
// FP32/TF32/FP16; QGemm, QMatMul in INT8): up to 16 algorithms of cuBLASLt's heuristic are
// timed on scratch data at the node's build shapes and the fastest stored in the node
// (kAttrTactic: "<LtSpec signature>|<LtTactic>"), so reshape rebuilds exactly that algorithm and
// loading does no search. Shares the timing cache file of the convolutions (conv_tactic_file.h).
#pragma once

#include <map>
#include <string>

#include "backends/cuda/device_context.h"
#include "ir/graph.h"
#include "qrt/builder.h"

namespace qrt::cuda {

// Times and stores the algorithm of every cuBLASLt product with static shapes in `g` (after
// prepareGraph chose the kernels), and of a dynamic one at the opt shapes (`opt_dims` as for
// chooseConvTactics). QRT_CUDA_TACTICS=heuristic skips it (reshape then takes cuBLASLt's first
// heuristic algorithm).
Status chooseGemmTactics(ir::Graph& g, const BuilderConfig& config, const DeviceInfo& info,
                         const std::map<std::string, Dims>& opt_dims, std::map<std::string, std::string>& metadata);

}  // namespace qrt::cuda
