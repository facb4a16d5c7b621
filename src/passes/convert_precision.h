// Reduced-precision conversion: precision lives in the IR, so running a node in FP16 or BF16
// means rewriting dtypes. Used by the builder (src/builder/precision.cpp, per-layer precisions on
// the host) and by the CUDA backend's FP16 step (src/backends/cuda/fp16.cpp).
#pragma once

#include <set>

#include "ir/graph.h"
#include "qrt/status.h"

namespace qrt::passes {

// Whether input / output i of a node carries the node's float type T, i.e. follows the node's
// precision (Resize's scales, Dropout's ratio, BatchNormalization's parameters, Cast's output and
// the scales of QuantizeLinear / DequantizeLinear keep their own type; only a float output of qrt's
// QConv follows; a converted DQ or QConv gets output_dtype).
bool inputFollowsT(const ir::Node& n, size_t i);
bool outputFollowsT(const ir::Node& n, size_t i);

// Makes every node of `nodes` compute in `dtype` (kHalf or kBFloat16): their fp32 inputs and
// outputs that follow T become `dtype` values; constants are converted once, here (a constant
// also read in fp32 keeps its fp32 copy); a Cast is inserted wherever a value crosses between a
// converted node and an fp32 reader or writer. Graph inputs and outputs keep their fp32 dtype and
// name for the caller. The graph is re-sorted and its uses rebuilt.
Status convertPrecision(ir::Graph& g, const std::set<const ir::Node*>& nodes, DataType dtype);

}  // namespace qrt::passes
