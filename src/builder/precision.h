// Precision choice per layer for host (CPU) builds, TensorRT's way: the builder flags allow
// FP16 / BF16, layer precisions (BuilderConfig::setLayerPrecision) constrain single layers, and
// where more than one kernel is allowed for a layer the builder times each on the layer's real
// shapes and keeps the fastest. The choice becomes dtypes in the IR (passes::convertPrecision);
// the reasons and timings go into the "layer_tactics" metadata, which Engine::layers() and
// `qrt inspect` show. See docs/precision.md.
#pragma once

#include <map>
#include <string>

#include "ir/graph.h"
#include "qrt/builder.h"

namespace qrt {

// Runs after the graph passes and before finalizeEngine on a host build. `cpu_allowed` is false
// under QRT_BACKEND=reference (then only the reference backend's kernels are candidates).
Status assignPrecisions(ir::Graph& g, const BuilderConfig& config, bool cpu_allowed,
                        std::map<std::string, std::string>* metadata);

// "fp32", "fp16", "bf16" (as --layer-precisions spells them) -> Precision.
Result<Precision> parsePrecision(const std::string& name);

}  // namespace qrt
