// Per-channel affine folding: Mul / Add / Sub / Div by per-channel constants next to a layer
// with constant weights become part of its weights and bias (PP-OCR's "learnable affine blocks"
// are such pairs: a scalar Mul and Add after most convolutions and activations).
#pragma once

#include "ir/graph.h"
#include "qrt/status.h"

namespace qrt::passes {

// Two rewrites, repeated until neither applies:
//  * after a layer: y = Conv / ConvTranspose / Gemm(...) read only by Mul(y, c), Add(y, c),
//    Sub(y, c), Sub(c, y) or Div(y, c), c a constant with one value per output channel (or one
//    value) that does not enlarge y  ->  the layer's weights and bias absorb it;
//  * before unpadded Convs: u = Mul / Add / Sub / Div(x, c) (c per input channel) read only by
//    Convs (as their X) with constant weights and no padding  ->  each Conv absorbs it and reads x.
//    Padded convolutions are left alone: their zero padding would not be transformed.
// New weights are computed in double and rounded once (see channel_affine.h). Sets *changed when
// anything was folded.
Status foldMulAddIntoConv(ir::Graph& graph, bool* changed = nullptr);

}  // namespace qrt::passes
