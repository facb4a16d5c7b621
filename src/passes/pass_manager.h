// The graph optimizations the builder runs, in order, until nothing changes.
//
// Two stages. Simplification keeps every node an ONNX op (constant folding, dead nodes,
// identities, BatchNormalization and per-channel Mul/Add folded into weights, activation
// chains recognised); fusion then turns layers and their epilogues into qrt-domain fused ops
// (FusedConv, FusedGemm). Explicit quantization (insertQdq, foldQdq) belongs between the two:
// it looks for ONNX Conv/Gemm/MatMul and fuses their Relu/Clip into integer kernels itself.
// (Fusion leaves layers fed by DequantizeLinear alone, so a model's own Q/DQ survives it.)
//
// QRT_DISABLE_PASSES=name1,name2 (environment) skips the named passes ("all": every pass), to
// compare a graph with its unoptimized form or to bisect a pass bug. Unknown names are an error.
#pragma once

#include <string>
#include <vector>

#include "ir/graph.h"
#include "qrt/status.h"

namespace qrt::passes {

// Simplification, then fusion.
Status runDefaultPasses(ir::Graph& graph);
Status runSimplifyPasses(ir::Graph& graph);
Status runFusionPasses(ir::Graph& graph);

// The names of every pass, in the order they run.
std::vector<std::string> passNames();

}  // namespace qrt::passes
