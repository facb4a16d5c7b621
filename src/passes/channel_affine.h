// Folding a per-channel affine map (y -> y * scale[c] + shift[c]) into the constant weights and
// bias of the layer next to it. Shared by fold_batchnorm (BatchNormalization is such a map) and
// fold_mul_add_into_conv (Mul / Add / Sub / Div by per-channel constants).
//
// New weights and biases are computed in double from the stored values and rounded once to the
// weights' dtype; they are new constants (the old ones may be shared).
#pragma once

#include <vector>

#include "ir/graph.h"

namespace qrt::passes {

// The number of output channels of a Conv / ConvTranspose / Gemm whose weights (and bias, when
// present) are float constants of one dtype and whose output affine maps can be folded into
// them; -1 for any other node. For Gemm, the channels are the columns N of the [M, N] output,
// and C must be absent or a constant with one value per column (or one value).
int64_t foldableOutputChannels(const ir::Node& layer);

// Replaces the layer's weights and bias so that it computes y * scale[c] + shift[c] along its
// channel axis (1): Conv  W[c, ...] *= scale[c];  ConvTranspose  W[ic, j, ...] *= scale[group(ic) *
// M/group + j];  Gemm  B's column c *= scale[c] (C becomes beta * C * scale + shift, beta 1);
// bias' = bias * scale + shift. The layer must satisfy foldableOutputChannels(layer) ==
// scale.size() == shift.size(). Returns false (graph unchanged) on a dtype the cast cannot make.
bool foldOutputAffine(ir::Graph& g, ir::Node& layer, const std::vector<double>& scale,
                      const std::vector<double>& shift);

// The number of input channels C of a Conv whose input affine maps x -> x * scale[c] + shift[c]
// can be folded into it: constant float weights (and bias), and no padding, so every window tap
// reads a real (transformed) input element. -1 otherwise.
int64_t foldableInputChannels(const ir::Node& conv);

// Replaces the Conv's weights and bias so that conv(x) equals the old conv(x * scale + shift):
// W[m, c', ...] *= scale[c], bias[m] += sum over c', taps of W[m, c', ...] * shift[c], where
// c = group(m) * C/group + c'.
bool foldInputAffine(ir::Graph& g, ir::Node& conv, const std::vector<double>& scale, const std::vector<double>& shift);

}  // namespace qrt::passes
