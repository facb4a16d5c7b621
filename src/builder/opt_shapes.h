// Optimization-profile opt shapes (BuilderConfig::setOptShape, `qrt build --opt-shapes`): the
// shape a dynamic input is expected to run at, where the builder times kernels (TensorRT's
// IOptimizationProfile kOPT). The engine keeps its dynamic dims; only the timing moves.
#pragma once

#include <map>
#include <string>

#include "ir/graph.h"
#include "qrt/builder.h"

namespace qrt {

// Checks every opt shape against the graph's inputs (their dims after setInputShape): the name
// is an input, the rank matches, every dim is positive and equals the input's static dims.
Status checkOptShapes(const ir::Graph& g, const BuilderConfig& config);

// "input:100x1x28x28,mask:100x16" (trtexec's spelling), for the engine's "opt_shapes" metadata.
std::string optShapesText(const std::map<std::string, Dims>& shapes);

// Every value's dims with the graph inputs at their opt shapes, through the builder's shape
// inference on a copy of the graph (the graph itself is not changed). Empty when no opt shape is
// set. Dims that stay dynamic (data-dependent shapes) are -1 as in the graph.
Result<std::map<std::string, Dims>> dimsAtOptShapes(const ir::Graph& g, const BuilderConfig& config);

}  // namespace qrt
