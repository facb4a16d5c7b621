// The CUDA INT8 family beside the GEMMs (qgemm.cpp) and the convolution (conv.cpp's QConv):
// QuantizeLinear and DequantizeLinear left over after foldQdq (the float value entering an
// INT8 layer, a layer foldQdq does not fuse such as ConvTranspose), per tensor or per axis, in
// either layout; and int8 MaxPool (a pool between Q/DQ in a QDQ model). Kernels: quantize.cu.
#include "backends/cuda/int8_launch.h"
#include "backends/cuda/kernel_table.h"
#include "backends/cuda/pool_geometry.h"
#include "ops/nn_params.h"
#include "ops/op.h"

namespace qrt::cuda {

namespace {

bool present(const std::vector<TensorView>& in, size_t i) {
  return in.size() > i && in[i].dtype != DataType::kUndefined && in[i].data != nullptr;
}

// The storage position of logical axis `axis` of a 4-D tensor stored channels-last (N, H, W, C).
size_t storedAxis(size_t axis) {
  static const size_t kNhwc[4] = {0, 3, 1, 2};
  return kNhwc[axis];
}

// Q/DQ's axis layout for x (logical dims) with `num_scales` scales: per tensor when there is one.
Result<launch::AxisIndex> axisIndex(const Dims& x, int64_t num_scales, int64_t axis_attr, bool nhwc,
                                    const std::string& who) {
  launch::AxisIndex a;
  if (num_scales == 1) return a;
  const int64_t rank = static_cast<int64_t>(x.size());
  const int64_t axis = axis_attr < 0 ? axis_attr + rank : axis_attr;
  if (axis < 0 || axis >= rank) return invalidArgument(who, ": axis ", axis_attr, " is out of range for x of shape ", dimsToString(x));
  if (x[static_cast<size_t>(axis)] != num_scales)
    return invalidArgument(who, ": scale has ", num_scales, " elements but x has ", x[static_cast<size_t>(axis)],
                           " along axis ", axis);
  Dims stored = x;
  size_t pos = static_cast<size_t>(axis);
  if (nhwc && rank == 4) {
    stored = {x[0], x[2], x[3], x[1]};
    pos = storedAxis(pos);
  }
  a.channels = num_scales;
  for (size_t d = pos + 1; d < stored.size(); ++d) a.inner *= stored[d];
  return a;
}

class QdqKernel final : public CudaKernel {
 public:
  QdqKernel(const ir::Node& n, DeviceContext* dev, bool quantize)
      : CudaKernel(n, dev), quantize_(quantize), axis_(n.attrInt("axis", 1)), nhwc_(channelsLast(n)) {}

  Status reshape(const std::vector<TensorView>& in, const std::vector<TensorView>& out) override {
    const int64_t scales = in[1].numel();
    if (present(in, 2) && in[2].numel() != scales)
      return invalidArgument(who_, ": the zero point has ", in[2].numel(), " elements and the scale ", scales);
    QRT_ASSIGN_OR_RETURN(axis_index_, axisIndex(in[0].dims, scales, axis_, nhwc_, who_));
    if (out[0].numel() != in[0].numel()) return internalError(who_, ": output size differs from the input's");
    return Status::Ok();
  }

  Status run(const std::vector<TensorView>& in, const std::vector<TensorView>& out, void*) override {
    const void* zp = present(in, 2) ? in[2].data : nullptr;
    if (quantize_)
      launch::quantizeLinear(in[0].dtype, in[0].data, in[1].as<const float>(), out[0].dtype, zp, out[0].data,
                             in[0].numel(), axis_index_, stream());
    else
      launch::dequantizeLinear(in[0].dtype, in[0].data, in[1].as<const float>(), zp, out[0].dtype, out[0].data,
                               in[0].numel(), axis_index_, stream());
    return launched();
  }

 private:
  bool quantize_;
  int64_t axis_;
  bool nhwc_;
  launch::AxisIndex axis_index_;
};

Result<std::unique_ptr<Kernel>> createQdq(const ir::Node& node, DeviceContext* dev) {
  const bool quantize = node.op_type == "QuantizeLinear";
  if (node.attrInt("block_size", 0) != 0)
    return unsupported(node.describe(), ": the CUDA backend has no blocked (block_size) quantization");
  if (!node.hasInput(1) || node.inputs[1]->dtype != DataType::kFloat)
    return unsupported(node.describe(), ": the CUDA backend takes float32 scales");
  const DataType q = quantize ? (node.outputs.empty() ? DataType::kUndefined : node.outputs[0]->dtype) : node.inputs[0]->dtype;
  if (q != DataType::kInt8 && q != DataType::kUInt8 && !(q == DataType::kInt32 && !quantize))
    return unsupported(node.describe(), ": the CUDA backend quantizes to int8 and uint8 only (got ", dataTypeName(q), ")");
  const DataType f = quantize ? node.inputs[0]->dtype : node.outputs[0]->dtype;
  if (f != DataType::kFloat && f != DataType::kHalf)
    return unsupported(node.describe(), ": the CUDA backend's Q/DQ take fp32 or fp16 (got ", dataTypeName(f), ")");
  return makeKernel<QdqKernel>(node, dev, quantize);
}

// qrt's AddQuantize (src/ops/int8_fused.cpp; made by fuse_add_quantize.cpp): a and b share
// one shape and layout, so the kernel is elementwise over storage order.
class AddQuantizeKernel final : public CudaKernel {
 public:
  AddQuantizeKernel(const ir::Node& n, DeviceContext* dev) : CudaKernel(n, dev), relu_(n.attrInt("relu", 0) != 0) {}

  Status reshape(const std::vector<TensorView>& in, const std::vector<TensorView>& out) override {
    if (in[0].dims != in[1].dims || out[0].numel() != in[0].numel())
      return internalError(who_, ": a, b and the outputs must have one shape");
    return Status::Ok();
  }

  Status run(const std::vector<TensorView>& in, const std::vector<TensorView>& out, void*) override {
    void* y = out.size() > 1 && out[1].data ? out[1].data : nullptr;
    launch::addQuantize(in[0].dtype, in[0].data, in[1].data, relu_, in[2].as<const float>(), out[0].dtype,
                        present(in, 3) ? in[3].data : nullptr, out[0].data, y, in[0].numel(), stream());
    return launched();
  }

 private:
  bool relu_;
};

Result<std::unique_ptr<Kernel>> createAddQuantize(const ir::Node& node, DeviceContext* dev) {
  const DataType t = node.inputs[0]->dtype;
  if ((t != DataType::kFloat && t != DataType::kHalf) || !node.hasInput(1) || node.inputs[1]->dtype != t)
    return unsupported(node.describe(), ": the CUDA AddQuantize takes fp32 or fp16 a and b of one type");
  return makeKernel<AddQuantizeKernel>(node, dev);
}

class MaxPoolInt8Kernel final : public CudaKernel {
 public:
  MaxPoolInt8Kernel(const ir::Node& n, DeviceContext* dev, WindowAttrs a)
      : CudaKernel(n, dev), attrs_(std::move(a)), nhwc_(channelsLast(n)) {}

  Status reshape(const std::vector<TensorView>& in, const std::vector<TensorView>&) override {
    const Dims& x = in[0].dims;
    QRT_ASSIGN_OR_RETURN(g_, poolGeometry(attrs_, x, nhwc_, who_));
    return Status::Ok();
  }

  Status run(const std::vector<TensorView>& in, const std::vector<TensorView>& out, void*) override {
    launch::maxPoolInt8(in[0].dtype, in[0].data, out[0].data, g_, stream());
    return launched();
  }

 private:
  WindowAttrs attrs_;
  bool nhwc_;
  launch::PoolGeometry g_;
};

Result<std::unique_ptr<Kernel>> createMaxPoolInt8(const ir::Node& node, DeviceContext* dev) {
  QRT_ASSIGN_OR_RETURN(WindowAttrs a, readWindowAttrs(node));
  if (node.outputs.size() > 1 && node.outputs[1])
    return unsupported(node.describe(), ": the CUDA backend does not produce MaxPool's Indices");
  return makeKernel<MaxPoolInt8Kernel>(node, dev, std::move(a));
}

// qrt's MaxPoolQuantize (src/ops/int8_fused.cpp; passes::fuseMaxPoolQuantize): the pool kernels
// with a quantizing store. The scale and zero point are constants, read once at reshape.
class MaxPoolQuantizeKernel final : public CudaKernel {
 public:
  MaxPoolQuantizeKernel(const ir::Node& n, DeviceContext* dev, WindowAttrs a)
      : CudaKernel(n, dev), attrs_(std::move(a)), nhwc_(channelsLast(n)) {}

  Status reshape(const std::vector<TensorView>& in, const std::vector<TensorView>& out) override {
    QRT_ASSIGN_OR_RETURN(g_, poolGeometry(attrs_, in[0].dims, nhwc_, who_));
    if (!in[1].data || (present(in, 2) && !in[2].data))
      return unsupported(who_, ": the CUDA MaxPoolQuantize needs a constant scale and zero point");
    scale_ = in[1].as<const float>()[0];
    zero_ = 0.f;
    if (present(in, 2))
      zero_ = in[2].dtype == DataType::kInt8 ? static_cast<float>(in[2].as<const int8_t>()[0])
                                             : static_cast<float>(in[2].as<const uint8_t>()[0]);
    if (out[0].dtype != DataType::kInt8 && out[0].dtype != DataType::kUInt8)
      return internalError(who_, ": MaxPoolQuantize writes int8 or uint8");
    return Status::Ok();
  }

  Status run(const std::vector<TensorView>& in, const std::vector<TensorView>& out, void*) override {
    launch::maxPoolQuantize(in[0].dtype, in[0].data, out[0].dtype, out[0].data, g_, scale_, zero_, stream());
    return launched();
  }

 private:
  WindowAttrs attrs_;
  bool nhwc_;
  launch::PoolGeometry g_;
  float scale_ = 1.f, zero_ = 0.f;
};

Result<std::unique_ptr<Kernel>> createMaxPoolQuantize(const ir::Node& node, DeviceContext* dev) {
  QRT_ASSIGN_OR_RETURN(WindowAttrs a, readWindowAttrs(node));
  return makeKernel<MaxPoolQuantizeKernel>(node, dev, std::move(a));
}

constexpr DTypeSet kQuantizeIn{DataType::kFloat, DataType::kHalf};
constexpr DTypeSet kDequantizeIn{DataType::kInt8, DataType::kUInt8, DataType::kInt32};
constexpr DTypeSet kInt8Like{DataType::kInt8, DataType::kUInt8};

const CudaKernelEntry kEntries[] = {
    {"QuantizeLinear", kQuantizeIn, &createQdq},
    {"DequantizeLinear", kDequantizeIn, &createQdq},
    {"MaxPool", kInt8Like, &createMaxPoolInt8},
    {"AddQuantize", DTypeSet{DataType::kFloat, DataType::kHalf}, &createAddQuantize, 0, kQrtDomain},
    {"MaxPoolQuantize", kQuantizeIn, &createMaxPoolQuantize, 0, kQrtDomain},
};

}  // namespace

std::span<const CudaKernelEntry> quantizeKernels() { return kEntries; }

}  // namespace qrt::cuda
