// Raising the default-domain opset of a graph: an ONNX model has one opset per domain, but qrt's
// IR keeps one per node (a QDQ pass adds opset-13 QuantizeLinear/DequantizeLinear to an opset-11
// model, for instance). Before such a graph is written, every node older than the opset to write
// is rewritten into the form that opset defines with the same meaning:
//
//   Clip-6 -> 11          min/max attributes become scalar inputs of x's dtype
//   Pad-2 -> 11           pads/value attributes become inputs
//   Slice-1 -> 10         starts/ends/axes attributes become inputs
//   Resize-10 -> 11       roi input, coordinate_transformation_mode "asymmetric", nearest "floor"
//   Upsample-7/9 -> Resize-11 the same, scales as an input
//   Scatter-9 -> ScatterElements-11
//   BatchNormalization-7 -> 9  `spatial` (must be 1) dropped
//   Dropout-7 -> 10 -> 12 an unused mask output dropped (its dtype changed); `ratio` dropped (it
//                         only matters in training)
//   Squeeze/Unsqueeze/Split/ReduceSum -> 13  axes/split attributes become inputs
//   Softmax/LogSoftmax/Hardmax -> 13  the pre-13 "flatten to 2-D at axis" semantics become
//                         Flatten -> op(axis=1) -> Reshape unless the axis is already the last
//   Reduce{Max,Min,Mean,Prod,LogSum,LogSumExp,SumSquare,L1,L2} -> 18  axes attribute -> input
//   Split -> 18           num_outputs when the sizes are not given
// Every other version change of the ops qrt supports, from opset 7 to 21, only adds types,
// attributes with backward-compatible defaults, or negative axes, so the node is kept as it is.
#pragma once

#include <string>

#include "ir/graph.h"
#include "qrt/status.h"

namespace qrt::onnx_export {

// The first opset that defines a default-domain op (1 for the ops older than opset 8, which is
// all qrt needs: it imports opsets 7 and later). Graph passes may create an op newer than the
// model (recognize_activations makes HardSwish, opset 14, in opset-11 models); the exporter then
// writes at least this opset.
int firstOpsetOf(const std::string& op_type);

// Rewrites every default-domain node whose opset is below `target` (see above; opset 0, a node
// made in a graph without a default opset, counts as `target`), then sets every
// default-domain node's opset and graph.opsets[""] to `target`. Fails with kUnsupported, naming
// the node, for a node it cannot express at `target` (e.g. BatchNormalization-7 with spatial=0,
// or Softmax-11 of unknown rank). Leaves the graph topologically sorted with shapes inferred.
Status upgradeOpset(ir::Graph& graph, int target);

}  // namespace qrt::onnx_export
