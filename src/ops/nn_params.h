// Window geometry shared by Conv, ConvTranspose and the pools: their attributes are read once
// (readWindowAttrs) and resolved against concrete or partly unknown input dims in one place, so
// the shape that inference (src/ops) promises and the loops a kernel (src/backends) runs cannot
// disagree.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "ir/graph.h"
#include "qrt/status.h"
#include "qrt/types.h"

namespace qrt {

// The shape-independent attributes of a windowed op, validated one by one.
struct WindowAttrs {
  std::string where;                    // "Conv node 'conv1'", for messages
  std::vector<int64_t> kernel_shape;    // empty: Conv/ConvTranspose take it from W
  std::vector<int64_t> strides;         // empty: all 1
  std::vector<int64_t> dilations;       // empty: all 1
  std::vector<int64_t> pads;            // empty: all 0; else [b0, b1, .., e0, e1, ..]
  std::vector<int64_t> output_padding;  // ConvTranspose; empty: all 0
  std::vector<int64_t> output_shape;    // ConvTranspose; empty: computed from pads
  std::string auto_pad = "NOTSET";      // NOTSET, SAME_UPPER, SAME_LOWER or VALID
  int64_t group = 1;                    // Conv, ConvTranspose
  bool ceil_mode = false;               // pools
};

Result<WindowAttrs> readWindowAttrs(const ir::Node& node);

// A window resolved for given input dims. Extents of -1 are unknown (dynamic). ConvTranspose
// pads may be negative: a negative end pad adds output positions no input reaches.
struct Window {
  size_t rank = 0;  // number of spatial dims
  Dims in, out;     // spatial extents of the input and the output
  std::vector<int64_t> kernel, strides, dilations, pad_begin, pad_end;
};

// Conv: x is [N, C, D1..], w is [M, C/group, k1..]. Checks the ranks and the channel counts.
Result<Window> convWindow(const WindowAttrs& a, const Dims& x, const Dims& w);
// ConvTranspose: x is [N, C, D1..], w is [C, M/group, k1..]. Pads come from output_shape or
// auto_pad when those are set, as the ONNX spec's equations say.
Result<Window> convTransposeWindow(const WindowAttrs& a, const Dims& x, const Dims& w);
// MaxPool / AveragePool: x is [N, C, D1..]; kernel_shape is required.
Result<Window> poolWindow(const WindowAttrs& a, const Dims& x);

}  // namespace qrt
