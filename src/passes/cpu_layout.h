// Channels-last (NHWC) activations between the cpu backend's oneDNN layers (docs/cpu_backend.md,
// "Layouts"). Runs in the builder after each node got its backend.
#pragma once

#include "ir/graph.h"
#include "qrt/status.h"

namespace qrt::passes {

// FP32 2-D convolutions on the cpu backend (Conv, FusedConv, ConvTranspose with constant
// weights) run NHWC; the cpu backend's pools follow them. Layout changes (Identity with
// qrt_to_nhwc, a oneDNN reorder on the cpu backend) go at the region's edges: graph inputs and
// outputs and the readers that have no NHWC kernel. A graph with no cpu node is left as it is.
Status assignCpuLayouts(ir::Graph& g);

}  // namespace qrt::passes
