// The INT8 step of the builder for networks without Q/DQ of their own (implicit quantization, in
// TensorRT's terms): calibrate the optimized FP32 graph, or take the scales from a matching cache,
// and turn them into the activation scales that insertQdq writes into the graph as Q/DQ.
#pragma once

#include <map>
#include <string>

#include "ir/graph.h"
#include "qrt/builder.h"
#include "qrt/status.h"

namespace qrt {

// For a kINT8 build: the Q/DQ scale of every calibrated tensor (name -> scale), empty when the
// graph already holds Q/DQ (explicit quantization: the model's own scales are used, nothing is
// calibrated). Logs what happened (calibrated, cache used, cache rejected and why) and records it
// in metadata["calibration"] (JSON). Fails when calibration is needed and the config has no
// calibrator.
Result<std::map<std::string, float>> int8ActivationScales(const ir::Graph& graph, const BuilderConfig& config,
                                                          std::map<std::string, std::string>* metadata);

// The Q/DQ scale for a calibration-cache scale (amax / 127): the same float when it is usable; an
// all-zero tensor's 0 (and a subnormal or non-finite scale) becomes 1.0, as quant::qdqScaleFromAmax
// decides, since a QuantizeLinear scale must be positive and finite.
float qdqScaleFromCacheScale(float cache_scale);

}  // namespace qrt
