// The base of the CUDA backend's kernels and the entries of its explicit kernel table.
//
// A CUDA kernel is created per execution context with that context's DeviceContext (stream,
// cuDNN and cuBLASLt handles); the builder creates it with dev == nullptr only to validate the
// node, so factories parse attributes and touch no device. reshape() may use the device
// (descriptors, algorithm choice, tables uploaded once per shape); run() only queues work on the
// run's stream.
#pragma once

#include <memory>
#include <string>

#include "backends/cuda/cuda_util.h"
#include "backends/cuda/device_context.h"
#include "backends/cuda/launch.h"
#include "backends/kernel.h"

namespace qrt::cuda {

// Node attributes the CUDA builder step sets (never imported from ONNX):
//   qrt_nhwc = 1        the node's 4-D activations (inputs and outputs) are stored channels-last
//                       (dims stay NCHW in the IR; only the bytes are NHWC)
//   qrt_to_nhwc = 0/1   on an Identity: a layout change NCHW -> NHWC (1) or NHWC -> NCHW (0)
inline constexpr const char kAttrNhwc[] = "qrt_nhwc";
inline constexpr const char kAttrToNhwc[] = "qrt_to_nhwc";
//   qrt_x_nchw = 1      on a channels-last FusedConv: its x is stored NCHW (stem_input.cpp)
//   qrt_x_cast = 1      on a FusedConv: x keeps its float dtype, rounded to W's as read (ops/fused.cpp)
//   qrt_pool = 1        on such a stem FusedConv: its output max-pooled 3x3 / 2 / pad 1 (stem_pool.cpp)
inline constexpr const char kAttrXNchw[] = "qrt_x_nchw";
inline constexpr const char kAttrStemPool[] = "qrt_pool";
inline constexpr const char kAttrXCast[] = "qrt_x_cast";

inline bool channelsLast(const ir::Node& node) { return node.attrInt(kAttrNhwc, 0) != 0; }

class CudaKernel : public Kernel {
 public:
  CudaKernel(const ir::Node& node, DeviceContext* dev) : who_(node.describe()), dev_(dev) {}

 protected:
  cudaStream_t stream() const { return dev_->stream; }
  // Reports a failed launch (bad configuration, a previous asynchronous fault) naming the node.
  Status launched() const { return checkCuda(cudaGetLastError(), who_); }

  std::string who_;
  DeviceContext* dev_;
};

using CudaKernelFactory = Result<std::unique_ptr<Kernel>> (*)(const ir::Node& node, DeviceContext* dev);

// One line of the CUDA kernel table: the op, the dtypes of its type-deciding input, the factory.
struct CudaKernelEntry {
  const char* op_type;
  DTypeSet dtypes;
  CudaKernelFactory create;
  int type_input = 0;
  const char* domain = "";  // "" (ONNX) or "qrt" (FusedConv, FusedGemm)
};

inline constexpr DTypeSet kCudaFloat{DataType::kFloat, DataType::kHalf};
inline constexpr DTypeSet kCudaAny{DataType::kFloat,  DataType::kHalf,  DataType::kDouble, DataType::kInt8,
                                   DataType::kUInt8,  DataType::kInt16, DataType::kUInt16, DataType::kInt32,
                                   DataType::kUInt32, DataType::kInt64, DataType::kUInt64, DataType::kBool,
                                   DataType::kBFloat16};

// The activation of qrt's fused layers (FusedConv, FusedGemm: ops/fused_activation.h) as the
// unary op the epilogue kernels apply.
struct EpilogueActivation {
  bool on = false;
  launch::UnaryOp op = launch::UnaryOp::kIdentity;
  float a = 0.f, b = 0.f;
  bool isRelu() const { return on && op == launch::UnaryOp::kRelu; }
};
Result<EpilogueActivation> readEpilogueActivation(const ir::Node& node);

// The broadcast of a and b to `out` (logical NCHW dims; `*_nhwc`: stored channels-last),
// iterating the output in its storage order.
launch::Broadcast broadcastPlan(const Dims& a, bool a_nhwc, const Dims& b, bool b_nhwc, const Dims& out, bool out_nhwc);

template <typename K, typename... Args>
Result<std::unique_ptr<Kernel>> makeKernel(Args&&... args) {
  return std::unique_ptr<Kernel>(new K(std::forward<Args>(args)...));
}

}  // namespace qrt::cuda
