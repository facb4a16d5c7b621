// The CUDA nn family beside convolutions and GEMMs: pooling (max, average, global), Softmax and
// LogSoftmax, inference BatchNormalization, Resize / Upsample (nearest and linear).
#include <cmath>

#include "backends/cuda/kernel_table.h"
#include "backends/cuda/pool_geometry.h"
#include "ops/nn_params.h"
#include "ops/resize_params.h"
#include "ops/shape_util.h"

namespace qrt::cuda {

namespace {

int64_t product(const Dims& d, size_t b, size_t e) {
  int64_t p = 1;
  for (size_t i = b; i < e; ++i) p *= d[i];
  return p;
}

// ---- MaxPool / AveragePool ----

class PoolKernel final : public CudaKernel {
 public:
  PoolKernel(const ir::Node& n, DeviceContext* dev, WindowAttrs a, bool max, bool include_pad)
      : CudaKernel(n, dev), attrs_(std::move(a)), max_(max), include_pad_(include_pad), nhwc_(channelsLast(n)) {}

  Status reshape(const std::vector<TensorView>& in, const std::vector<TensorView>& out) override {
    const Dims& x = in[0].dims;
    QRT_ASSIGN_OR_RETURN(g_, poolGeometry(attrs_, x, nhwc_, who_));
    g_.count_include_pad = include_pad_;
    if (out[0].dims[0] != x[0] || out[0].dims[1] != x[1]) return internalError(who_, ": output dims disagree");
    return Status::Ok();
  }

  Status run(const std::vector<TensorView>& in, const std::vector<TensorView>& out, void*) override {
    if (max_) launch::maxPool(in[0].dtype, in[0].data, out[0].data, g_, stream());
    else launch::avgPool(in[0].dtype, in[0].data, out[0].data, g_, stream());
    return launched();
  }

 private:
  WindowAttrs attrs_;
  bool max_, include_pad_, nhwc_;
  launch::PoolGeometry g_;
};

Result<std::unique_ptr<Kernel>> createPool(const ir::Node& node, DeviceContext* dev) {
  QRT_ASSIGN_OR_RETURN(WindowAttrs a, readWindowAttrs(node));
  const bool max = node.op_type == "MaxPool";
  if (max && node.outputs.size() > 1 && node.outputs[1])
    return unsupported(node.describe(), ": the CUDA backend does not produce MaxPool's Indices");
  return makeKernel<PoolKernel>(node, dev, std::move(a), max, node.attrInt("count_include_pad", 0) != 0);
}

class GlobalPoolKernel final : public CudaKernel {
 public:
  GlobalPoolKernel(const ir::Node& n, DeviceContext* dev, bool max)
      : CudaKernel(n, dev), max_(max), nhwc_(channelsLast(n)) {}
  Status reshape(const std::vector<TensorView>& in, const std::vector<TensorView>& out) override {
    const Dims& x = in[0].dims;
    if (x.size() < 2) return invalidArgument(who_, ": input must be [N, C, ...], got ", dimsToString(x));
    plan_ = launch::globalPoolPlan(in[0].dtype, x[0], x[1], product(x, 2, x.size()), nhwc_ && x.size() == 4);
    return Status::Ok();
  }
  size_t workspaceBytes() const override { return plan_.workspaceBytes(); }
  Status run(const std::vector<TensorView>& in, const std::vector<TensorView>& out, void* workspace) override {
    launch::globalPool(in[0].dtype, max_, in[0].data, out[0].data, plan_, workspace, stream());
    return launched();
  }

 private:
  bool max_, nhwc_;
  launch::GlobalPoolPlan plan_;
};

Result<std::unique_ptr<Kernel>> createGlobalPool(const ir::Node& node, DeviceContext* dev) {
  return makeKernel<GlobalPoolKernel>(node, dev, node.op_type == "GlobalMaxPool");
}

// ---- Softmax / LogSoftmax ----

class SoftmaxKernel final : public CudaKernel {
 public:
  SoftmaxKernel(const ir::Node& n, DeviceContext* dev)
      : CudaKernel(n, dev), log_(n.op_type == "LogSoftmax"), coerce_2d_(n.opset < 13),
        axis_(n.attrInt("axis", n.opset < 13 ? 1 : -1)) {}
  Status reshape(const std::vector<TensorView>& in, const std::vector<TensorView>& out) override {
    const Dims& d = in[0].dims;
    const int64_t rank = static_cast<int64_t>(d.size());
    if (rank == 0) {
      outer_ = len_ = inner_ = 1;
      return Status::Ok();
    }
    auto axis = normalizeAxis(axis_, rank);
    if (!axis) return invalidArgument(who_, ": axis ", axis_, " out of range for rank ", rank);
    const size_t a = static_cast<size_t>(*axis);
    outer_ = product(d, 0, a);
    // Before opset 13 the input is coerced to 2-D at the axis; from 13 on, only that axis.
    len_ = coerce_2d_ ? product(d, a, d.size()) : d[a];
    inner_ = coerce_2d_ ? 1 : product(d, a + 1, d.size());
    return Status::Ok();
  }
  Status run(const std::vector<TensorView>& in, const std::vector<TensorView>& out, void*) override {
    launch::softmax(in[0].dtype, log_, in[0].data, out[0].data, outer_, len_, inner_, stream());
    return launched();
  }

 private:
  bool log_, coerce_2d_;
  int64_t axis_;
  int64_t outer_ = 0, len_ = 0, inner_ = 0;
};

Result<std::unique_ptr<Kernel>> createSoftmax(const ir::Node& node, DeviceContext* dev) {
  return makeKernel<SoftmaxKernel>(node, dev);
}

// ---- BatchNormalization (inference) ----

class BatchNormKernel final : public CudaKernel {
 public:
  BatchNormKernel(const ir::Node& n, DeviceContext* dev)
      : CudaKernel(n, dev), eps_(n.attrFloat("epsilon", 1e-5f)), nhwc_(channelsLast(n)) {}
  Status reshape(const std::vector<TensorView>& in, const std::vector<TensorView>& out) override {
    const Dims& x = in[0].dims;
    if (x.size() < 2) return invalidArgument(who_, ": input must be [N, C, ...], got ", dimsToString(x));
    for (size_t i = 1; i < 5; ++i) {
      if (in[i].numel() != x[1]) return invalidArgument(who_, ": input ", i, " must have ", x[1], " entries");
      if (in[i].dtype != in[1].dtype) return unsupported(who_, ": the CUDA backend needs the 4 parameters of one type");
    }
    if (in[1].dtype != DataType::kFloat && in[1].dtype != DataType::kHalf)
      return unsupported(who_, ": parameters of type ", dataTypeName(in[1].dtype));
    channels_ = x[1];
    inner_ = product(x, 2, x.size());
    channels_last_ = nhwc_ && x.size() == 4;
    return Status::Ok();
  }
  Status run(const std::vector<TensorView>& in, const std::vector<TensorView>& out, void*) override {
    launch::batchNorm(in[0].dtype, in[0].data, out[0].data, in[1].dtype, in[1].data, in[2].data, in[3].data, in[4].data,
                      eps_, out[0].numel(), channels_, inner_, channels_last_, stream());
    return launched();
  }

 private:
  float eps_;
  bool nhwc_;
  bool channels_last_ = false;
  int64_t channels_ = 0, inner_ = 0;
};

Result<std::unique_ptr<Kernel>> createBatchNorm(const ir::Node& node, DeviceContext* dev) {
  if (node.attrInt("training_mode", 0) != 0 || (node.outputs.size() > 1 && node.outputs[1]))
    return unsupported(node.describe(), ": the CUDA backend runs BatchNormalization in inference mode only");
  if (node.attrInt("spatial", 1) == 0)
    return unsupported(node.describe(), ": spatial=0 is not supported by the CUDA backend");
  if (node.inputs.size() < 5) return invalidArgument(node.describe(), ": needs 5 inputs");
  return makeKernel<BatchNormKernel>(node, dev);
}

// ---- Resize / Upsample ----


// A channels-last 4-D Resize (layout.cpp: it follows the convolutions around it, as PP-OCRv4's
// FPN upsamplings do, instead of a layout change on each side) walks its axes in storage order
// (N, H, W, C): the kernel's geometry and tap tables are per stored axis, so only their order changes.
class ResizeKernel final : public CudaKernel {
 public:
  ResizeKernel(const ir::Node& n, DeviceContext* dev, ResizeAttrs a)
      : CudaKernel(n, dev), attrs_(std::move(a)), nhwc_(channelsLast(n)) {}

  Status reshape(const std::vector<TensorView>& in, const std::vector<TensorView>& out) override {
    const Dims& x = in[0].dims;
    if (x.size() > static_cast<size_t>(launch::kMaxRank)) return unsupported(who_, ": rank above ", launch::kMaxRank);
    QRT_ASSIGN_OR_RETURN(std::optional<ResizeGeometry> geo,
                         resizeGeometry(who_, attrs_, x, input(in, attrs_.scales_input), input(in, attrs_.sizes_input)));
    if (!geo) return unsupported(who_, ": the CUDA backend needs 'scales'/'sizes' known before running");
    if (geo->out_dims != out[0].dims) return internalError(who_, ": output dims disagree with the geometry");
    std::vector<int32_t> idx;
    std::vector<float> w;
    g_ = launch::ResizeGeometry{};
    g_.rank = static_cast<int>(x.size());
    std::vector<size_t> axes(x.size());  // the stored axes, outermost first
    for (size_t k = 0; k < x.size(); ++k) axes[k] = k;
    if (nhwc_ && x.size() == 4) axes = {0, 2, 3, 1};
    for (size_t s = 0; s < x.size(); ++s) {
      const size_t k = axes[s];
      const int64_t in_len = x[k], out_len = geo->out_dims[k];
      g_.in[s] = in_len;
      g_.out[s] = out_len;
      g_.table_offset[s] = static_cast<int64_t>(idx.size());
      std::vector<double> coords(out_len);
      bool identity = in_len == out_len;
      for (int64_t j = 0; j < out_len; ++j) {
        coords[j] = originalCoord(attrs_, j, geo->scales[k], in_len, out_len);
        identity = identity && coords[j] == static_cast<double>(j);
      }
      const int taps = identity || attrs_.mode == ResizeMode::kNearest ? 1 : 2;
      g_.taps[s] = taps;
      auto clamp = [&](int64_t i) { return static_cast<int32_t>(std::min<int64_t>(std::max<int64_t>(i, 0), in_len - 1)); };
      for (int64_t j = 0; j < out_len; ++j) {
        if (identity) {
          idx.push_back(static_cast<int32_t>(j));
          w.push_back(1.f);
        } else if (taps == 1) {
          idx.push_back(clamp(nearestIndex(attrs_.nearest, coords[j])));
          w.push_back(1.f);
        } else {
          const double fl = std::floor(coords[j]);
          const double r = coords[j] - fl;
          idx.push_back(clamp(static_cast<int64_t>(fl)));
          idx.push_back(clamp(static_cast<int64_t>(fl) + 1));
          w.push_back(static_cast<float>(1.0 - r));
          w.push_back(static_cast<float>(r));
        }
      }
    }
    QRT_RETURN_IF_ERROR(idx_.upload(idx.data(), idx.size() * sizeof(int32_t), who_));
    return w_.upload(w.data(), w.size() * sizeof(float), who_);
  }

  Status run(const std::vector<TensorView>& in, const std::vector<TensorView>& out, void*) override {
    launch::resize(in[0].dtype, in[0].data, out[0].data, g_, idx_.as<int32_t>(), w_.as<float>(), stream());
    return launched();
  }

 private:
  static ResizeInput input(const std::vector<TensorView>& in, int i) {
    ResizeInput r;
    if (i < 0 || static_cast<size_t>(i) >= in.size() || in[i].dtype == DataType::kUndefined) return r;
    r.numel = in[i].numel();
    r.present = r.numel != 0;
    r.dtype = in[i].dtype;
    r.data = in[i].data;
    return r;
  }

  ResizeAttrs attrs_;
  bool nhwc_;
  launch::ResizeGeometry g_;
  DeviceBuffer idx_, w_;
};

Result<std::unique_ptr<Kernel>> createResize(const ir::Node& node, DeviceContext* dev) {
  QRT_ASSIGN_OR_RETURN(ResizeAttrs a, parseResizeAttrs(node));
  if (a.mode == ResizeMode::kCubic) return unsupported(node.describe(), ": the CUDA backend resizes nearest or linear, not cubic");
  if (a.coord == ResizeCoord::kTfCropAndResize)
    return unsupported(node.describe(), ": the CUDA backend does not support tf_crop_and_resize");
  return makeKernel<ResizeKernel>(node, dev, std::move(a));
}

constexpr DTypeSet kF = kCudaFloat;

const CudaKernelEntry kEntries[] = {
    {"MaxPool", kF, &createPool},
    {"AveragePool", kF, &createPool},
    {"GlobalAveragePool", kF, &createGlobalPool},
    {"GlobalMaxPool", kF, &createGlobalPool},
    {"Softmax", kF, &createSoftmax},
    {"LogSoftmax", kF, &createSoftmax},
    {"BatchNormalization", kF, &createBatchNorm},
    {"Resize", kF, &createResize},
    {"Upsample", kF, &createResize},
};

}  // namespace

std::span<const CudaKernelEntry> nnKernels() { return kEntries; }

}  // namespace qrt::cuda
