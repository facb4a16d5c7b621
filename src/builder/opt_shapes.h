// Optimization-profile opt shapes (BuilderConfig::setOptShape, `qrt build --opt-shapes`): the
// shape a dynamic input is expected to run at, where the builder times kernels (TensorRT's
// IOptimizationProfile kOPT). The engine keeps its dynamic dims; only the timing moves.
#pragma once

#include <map>
#include <string>
#include <utility>
#include <vector>

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

// For the life of the object, the node's values with dynamic dims take their dims at the opt
// shapes (dimsAtOptShapes); restored on destruction. The CUDA tuners time a dynamic layer this way,
// so the problem, its signature and the stored tactic are the opt shape's (a context reshaped to
// it finds the tactic; any other shape misses the signature and keeps the heuristic's plan).
// The graph is not used by anything else meanwhile: the builder is single-threaded.
class ScopedOptDims {
 public:
  ScopedOptDims(ir::Node& n, const std::map<std::string, Dims>& opt);
  ~ScopedOptDims();
  ScopedOptDims(const ScopedOptDims&) = delete;
  ScopedOptDims& operator=(const ScopedOptDims&) = delete;
  // Whether any dims were replaced (the node has dynamic dims and opt shapes reach it).
  bool replaced() const { return !saved_.empty(); }

 private:
  std::vector<std::pair<ir::Value*, Dims>> saved_;
};

// Whether every value of n has static dims, either its own or at the opt shapes.
bool staticAtOptShapes(const ir::Node& n, const std::map<std::string, Dims>& opt);

}  // namespace qrt
