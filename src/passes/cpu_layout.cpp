// Which cpu-backend nodes run channels-last. The region logic is channels_last.cpp's (shared
// with the CUDA backend's FP16 layout); this file only says what the cpu kernels accept: every
// kernel named here reads the node's qrt_nhwc attribute (conv.cpp, pool.cpp), and the layout
// changes run as oneDNN reorders (layout_change.cpp).
#include "passes/cpu_layout.h"

#include <set>

#include "core/logging.h"
#include "ops/op.h"
#include "passes/channels_last.h"
#include "runtime/kernel_factory.h"

namespace qrt::passes {

namespace {

// fp32, or bf16 where the builder chose it (builder/precision.cpp): the conv and pool kernels
// take either dtype in either layout.
bool onCpuFp32(const ir::Node& n) {
  return n.backend == kBackendCpu && n.hasInput(0) &&
         (n.inputs[0]->dtype == DataType::kFloat || n.inputs[0]->dtype == DataType::kBFloat16);
}

// INT8: qrt's QConv on the cpu backend (int8 activations, constant weights; qconv.cpp reads
// qrt_nhwc): oneDNN's int8 convolutions are NHWC or blocked only.
bool qconvAnchor(const ir::Node& n) {
  return n.domain == kQrtDomain && n.op_type == "QConv" && n.backend == kBackendCpu && isActivation4d(n.inputs[0]) &&
         n.hasInput(1) && n.inputs[1]->isConstant() && !n.outputs.empty() && n.outputs[0] &&
         n.outputs[0]->has_shape && n.outputs[0]->dims.size() == 4;
}

// The cpu backend's QuantizeLinear/DequantizeLinear (per tensor, qquantize.cpp) are elementwise
// over same-shape tensors: they run in any layout, so they follow.
bool qdqFollower(const ir::Node& n) {
  return n.domain.empty() && (n.op_type == "QuantizeLinear" || n.op_type == "DequantizeLinear") &&
         n.backend == kBackendCpu && isActivation4d(n.inputs[0]);
}

// 2-D convolutions: oneDNN's brgconv kernels are NHWC (pointwise ones too: on plain NCHW a
// pointwise conv is a GEMM whose post-ops run in a slow separate pass).
bool convAnchor(const ir::Node& n) {
  if (qconvAnchor(n)) return true;
  const bool conv = (n.domain.empty() && (n.op_type == "Conv" || n.op_type == "ConvTranspose")) ||
                    (n.domain == kQrtDomain && n.op_type == "FusedConv");
  return conv && onCpuFp32(n) && isActivation4d(n.inputs[0]) && n.hasInput(1) && n.inputs[1]->isConstant() &&
         !n.outputs.empty() && n.outputs[0] && n.outputs[0]->has_shape && n.outputs[0]->dims.size() == 4;
}

// Element-wise ops, Concat and nearest Resize: the cpu backend has NHWC kernels for them
// (eltwise.cpp, resize.cpp) but runs them inside regions only; outside, they stay on the
// reference backend.
bool regionOp(const ir::Node& n) {
  static const std::set<std::string> kOps = {"Add", "Sub",  "Mul",       "Div",  "Relu",  "LeakyRelu",
                                             "Sigmoid", "Tanh", "HardSwish", "Clip", "Concat", "Resize"};
  return n.domain.empty() && kOps.count(n.op_type) != 0 && n.backend == kBackendReference && n.hasInput(0) &&
         n.inputs[0]->dtype == DataType::kFloat;
}

// Whether the cpu backend would take `n` inside a region (its factory checks the attributes).
bool cpuTakesInRegion(ir::Node& n) {
  const std::string backend = n.backend;
  n.backend = kBackendCpu;
  n.attrs[kAttrNhwc] = ir::Attribute::Int(1);
  const bool ok = createKernel(n).ok();
  n.attrs.erase(kAttrNhwc);
  n.backend = backend;
  return ok;
}

bool poolFollower(const ir::Node& n) {
  const bool pool = n.domain.empty() && (n.op_type == "MaxPool" || n.op_type == "AveragePool" ||
                                         n.op_type == "GlobalAveragePool" || n.op_type == "GlobalMaxPool");
  const bool int8_max = n.op_type == "MaxPool" && n.backend == kBackendCpu && n.hasInput(0) &&
                        (n.inputs[0]->dtype == DataType::kInt8 || n.inputs[0]->dtype == DataType::kUInt8);
  return (pool && (onCpuFp32(n) || int8_max)) || qdqFollower(n);
}

}  // namespace

Status assignCpuLayouts(ir::Graph& g) {
  bool any_cpu = false;
  for (const auto& n : g.nodes()) any_cpu = any_cpu || convAnchor(*n);
  if (!any_cpu) return Status::Ok();
  std::set<const ir::Node*> movable;  // reference nodes the cpu backend takes inside a region
  for (const auto& n : g.nodes())
    if (regionOp(*n) && cpuTakesInRegion(*n)) movable.insert(n.get());
  ChannelsLastRules rules;
  rules.anchor = convAnchor;
  rules.follower = [&](const ir::Node& n) { return poolFollower(n) || movable.count(&n) != 0; };
  rules.skip = [](const ir::Node& n) { return n.backend == kBackendHost; };
  ChannelsLastReport report;
  QRT_RETURN_IF_ERROR(assignChannelsLast(g, rules, &report));
  int moved = 0;
  for (const auto& n : g.nodes()) {
    if (!movable.count(n.get()) || !storedNhwc(*n)) continue;
    n->backend = kBackendCpu;
    ++moved;
    auto k = createKernel(*n);
    if (!k.ok()) return k.status();
  }
  for (ir::Node* id : report.added) {
    id->backend = kBackendCpu;
    id->precision = Precision::kFP32;
    auto k = createKernel(*id);
    if (!k.ok()) return k.status();
  }
  logInfo("cpu: ", report.nhwc_nodes, " channels-last nodes (", moved,
          " element-wise moved from the reference backend), ", report.layout_changes, " layout changes");
  return Status::Ok();
}

}  // namespace qrt::passes
