// Channels-last (NHWC) storage regions, shared by the backends that store activations so (the
// CUDA backend's FP16 convolutions, the cpu backend's oneDNN convolutions). Dims stay NCHW in the
// IR; node attribute qrt_nhwc = 1 says the node's 4-D activation inputs and outputs are stored
// NHWC, and an Identity with qrt_to_nhwc = 1 (NCHW -> NHWC) or 0 (NHWC -> NCHW) changes the
// layout where a channels-last region meets a plain reader. Why attributes on an unchanged IR
// rather than new dims or a layout field on values: shape inference, memory planning (NHWC needs
// the same bytes), the engine format and every pass keep working unchanged, and only the kernels
// that read the attribute need to know (docs/cpu_backend.md, "Layouts").
#pragma once

#include <functional>

#include "ir/graph.h"
#include "qrt/status.h"

namespace qrt::passes {

inline constexpr const char kAttrNhwc[] = "qrt_nhwc";
inline constexpr const char kAttrToNhwc[] = "qrt_to_nhwc";

// A node's 4-D activations are stored channels-last.
inline bool storedNhwc(const ir::Node& node) { return node.attrInt(kAttrNhwc, 0) != 0; }

// What a backend's kernels can do. A node is channels-last when it is an anchor, or a follower
// one of whose 4-D activation inputs is channels-last (and whose activations are all 4-D). Nodes
// for which `skip` holds are left alone: never channels-last, their inputs never converted,
// their outputs not activations (the builder's host nodes, shape computations).
struct ChannelsLastRules {
  std::function<bool(const ir::Node&)> anchor;
  std::function<bool(const ir::Node&)> follower;
  std::function<bool(const ir::Node&)> skip;
};

struct ChannelsLastReport {
  int nhwc_nodes = 0;      // nodes given qrt_nhwc = 1
  int layout_changes = 0;  // Identity nodes added; the caller assigns their backend
  std::vector<ir::Node*> added;
};

// A 4-D activation: a non-constant 4-D value. A kernel of a channels-last node treats exactly
// these inputs and outputs as NHWC ([N, C, 1, 1] ones are the same bytes either way).
inline bool isActivation4d(const ir::Value* v) { return v && !v->isConstant() && v->has_shape && v->dims.size() == 4; }

// Marks the channels-last nodes and inserts the layout changes: before a plain reader of an NHWC
// value, before a channels-last reader of a plain value (graph inputs included), and after the
// producer of a graph output (callers always see NCHW). One change per (value, direction).
Status assignChannelsLast(ir::Graph& g, const ChannelsLastRules& rules, ChannelsLastReport* report);

}  // namespace qrt::passes
