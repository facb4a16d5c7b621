// Channels-last (NHWC) storage around FP16 and INT8 convolutions: cuDNN's fast FP16 kernels on
// Hopper read and write NHWC (see DESIGN.md, "GPU facts measured"), its INT8 ones only NHWC.
// Dims stay NCHW in the IR; the qrt_nhwc attribute says a node's 4-D activations are stored
// NHWC. Every 2-D FP16 Conv and INT8 QConv with constant weights is channels-last; a node that
// can work in either layout (elementwise ops, pools, batch norm, concat, Q/DQ, Resize) follows when
// one of its 4-D activation inputs is channels-last. An
// Identity with qrt_to_nhwc changes the layout where the two meet. A [N, C, 1, 1] tensor is the
// same bytes in both layouts and needs no change.
#include "backends/cuda/cuda_kernel.h"
#include "backends/cuda/cuda_util.h"
#include "backends/cuda/runtime.h"
#include "ops/op.h"
#include "passes/channels_last.h"

namespace qrt::cuda {

namespace {

bool layoutAgnostic(const std::string& op) {
  static const std::set<std::string> kOps = {
      "Relu", "LeakyRelu", "Sigmoid", "Tanh", "HardSigmoid", "HardSwish", "Elu", "Selu", "Celu", "Softplus",
      "Softsign", "ThresholdedRelu", "Mish", "Gelu", "Exp", "Log", "Sqrt", "Neg", "Abs", "Reciprocal", "Erf",
      "Floor", "Ceil", "Round", "Sin", "Cos", "Clip", "Add", "Sub", "Mul", "Div", "Pow", "Max", "Min", "Sum",
      "Mean", "PRelu", "Cast", "MaxPool", "AveragePool", "GlobalAveragePool", "GlobalMaxPool",
      "BatchNormalization", "Concat", "QuantizeLinear", "DequantizeLinear"};
  // Resize and Upsample follow too (channels-last kernel since session 14; QRT_CUDA_RESIZE_NHWC=off keeps
  // them NCHW). Measured (H200, session 15, PP-OCRv4 detector at batch 1, whose FPN upsamples between
  // channels-last convolutions): FP16 1.016 -> 0.959 ms, INT8 0.987 -> 0.972 ms (fewer layout Identities).
  if (op == "Resize" || op == "Upsample") return !envIs("QRT_CUDA_RESIZE_NHWC", "off");
  return kOps.count(op) != 0;
}

// FP16 convolutions, and INT8 ones (qrt's QConv: cuDNN's int8 convolutions are NHWC only, so
// the int8 activations between QConvs are channels-last, as TensorRT keeps them).
bool channelsLastConv(const ir::Node& n) {
  // ConvTranspose too: cuDNN's FP16 backward-data kernels are NHWC as well, and an upsampling
  // deconvolution between NHWC convolutions would otherwise cost two layout changes.
  const bool conv = (n.op_type == "Conv" && n.domain.empty()) || (n.op_type == "FusedConv" && n.domain == kQrtDomain) ||
                    (n.op_type == "ConvTranspose" && n.domain.empty());
  const bool qconv = n.op_type == "QConv" && n.domain == kQrtDomain && n.inputs[0]->dtype == DataType::kInt8;
  return ((conv && n.inputs[0]->dtype == DataType::kHalf) || qconv) && n.inputs[0]->dims.size() == 4 &&
         n.hasInput(1) && n.inputs[1]->isConstant();
}

}  // namespace

// The region logic is shared with the cpu backend (passes/channels_last.cpp); this file says
// which nodes the CUDA kernels run channels-last.
Status assignChannelsLast(ir::Graph& g, int* nhwc_nodes, int* layout_changes) {
  const std::set<const ir::Node*> host = hostNodes(g);
  passes::ChannelsLastRules rules;
  rules.anchor = channelsLastConv;
  rules.follower = [](const ir::Node& n) {
    return (n.domain.empty() || n.domain == kQrtDomain) && layoutAgnostic(n.op_type);
  };
  rules.skip = [&](const ir::Node& n) { return host.count(&n) != 0; };
  passes::ChannelsLastReport report;
  QRT_RETURN_IF_ERROR(passes::assignChannelsLast(g, rules, &report));
  *nhwc_nodes = report.nhwc_nodes;
  *layout_changes = report.layout_changes;
  return Status::Ok();
}

}  // namespace qrt::cuda
