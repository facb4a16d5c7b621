// Unfolds INT8 convolutions over a few input channels (a network's stem: RGB images, one-channel
// scans) back into float convolutions, the per-layer choice TensorRT's builder makes when it
// times INT8 against FP16 for such a layer. cuDNN's int8 convolution engines pad the input
// channels to a multiple of 4 and reduce over only C * kh * kw terms, too few to keep the
// tensor cores busy: ResNet-50's conv1 (3 channels, 7x7 stride 2) takes 4.97 ms as an INT8
// QConv at batch 256 on an H100 and 0.59 ms as an FP16 convolution
// (bench/results/gpu-h100-80gb-hbm3-2026-11-27.md).
//
// The rewrite, for QConv(x_q, w_q, bias, x_scale, w_scale, y_scale?) with act:
//   x_q = QuantizeLinear(x, x_scale, 0)  ->  the conv reads x itself (when that Q has another
//                                            reader it stays for it); any other x_q is
//                                            dequantized: DequantizeLinear(x_q, x_scale)
//   w_q, w_scale                         ->  one fp32 constant w_q * w_scale[m], built here
//   bias, Conv's attributes              ->  as they are
//   act                                  ->  FusedConv's activation (none, relu or clip)
//   y_scale                              ->  QuantizeLinear(y, y_scale, 0) to the int8 output
// Numerics: the weights are exactly the DequantizeLinear of the QDQ graph, the convolution is the
// QDQ graph's float simulation of the layer, and where x came through Q -> DQ it is now read
// unquantized: DQ(Q(x)) is replaced by x, a precision increase (the layer sees x to fp32
// precision rather than to within x_scale / 2). The output is requantized with the QDQ
// graph's own y_scale, so the int8 layers after it see what they were calibrated for.
#pragma once

#include <string>
#include <vector>

#include "ir/graph.h"
#include "qrt/status.h"

namespace qrt::passes {

// The most input channels an unfolded QConv may read. cuDNN's int8 engines take C in multiples
// of 4 (qrt pads 1..3 channels to 4), so up to 4 the reduction per output is at most
// 4 * kh * kw int8 terms; ResNet-50 and MobileNetV2's stems (3 channels) are the cases measured.
inline constexpr int64_t kMaxUnfoldedInputChannels = 4;

struct UnfoldReport {
  std::vector<std::string> layers;     // the unfolded layers (the float convolution keeps the QConv's name)
  std::vector<std::string> quantizes;  // the QuantizeLinear nodes added after them (int8 outputs)
};

// Rewrites every 2-D QConv (domain qrt) with a known input channel count of at most
// kMaxUnfoldedInputChannels, constant int8 weights and constant scales as described above;
// leaves the rest. Re-sorts the graph, drops what nothing reads any more and infers shapes.
Status unfoldFewChannelQConvs(ir::Graph& g, UnfoldReport* report = nullptr);

}  // namespace qrt::passes
