// The CUDA data-movement family: Identity/Reshape/Flatten/Squeeze/Unsqueeze/Dropout (one device
// copy), layout changes (Identity with qrt_to_nhwc), Transpose, Slice, Concat, Expand. All but
// the plain copies are launch::stridedCopy with strides worked out at reshape time.
#include <numeric>

#include "backends/cuda/kernel_table.h"
#include "ops/shape_util.h"
#include "ops/tensor_params.h"

namespace qrt::cuda {

namespace {

Dims dense(const Dims& d) {
  Dims s = stridesOf(d);
  return s;
}

Status fill(launch::StridedCopy& c, const Dims& dims, const std::vector<int64_t>& src, const std::vector<int64_t>& dst,
            const std::string& who) {
  if (dims.size() > static_cast<size_t>(launch::kMaxRank)) return unsupported(who, ": rank above ", launch::kMaxRank);
  c = launch::StridedCopy{};
  c.rank = static_cast<int>(dims.size());
  for (size_t i = 0; i < dims.size(); ++i) {
    c.dims[i] = dims[i];
    c.src_strides[i] = src[i];
    c.dst_strides[i] = dst[i];
  }
  return Status::Ok();
}

// Outputs that are the input's bytes.
class CopyKernel final : public CudaKernel {
 public:
  using CudaKernel::CudaKernel;
  // The output may take the input's bytes (the planner grants it where nothing reads the input
  // later): the copy is then skipped. ResNet-50's Flatten cost a memcpy node per inference
  // (0.008 ms of 0.32 at batch 1 on an H100).
  int inplaceInput() const override { return 0; }
  Status run(const std::vector<TensorView>& in, const std::vector<TensorView>& out, void*) override {
    if (out[0].data == in[0].data || out[0].bytes() == 0) return Status::Ok();
    return checkCuda(cudaMemcpyAsync(out[0].data, in[0].data, out[0].bytes(), cudaMemcpyDeviceToDevice, stream()), who_);
  }
};

// NCHW <-> NHWC of a 4-D tensor (logical dims NCHW either way).
class LayoutKernel final : public CudaKernel {
 public:
  LayoutKernel(const ir::Node& n, DeviceContext* dev, bool to_nhwc) : CudaKernel(n, dev), to_nhwc_(to_nhwc) {}
  Status reshape(const std::vector<TensorView>& in, const std::vector<TensorView>& out) override {
    const Dims& d = in[0].dims;
    if (d.size() != 4) return internalError(who_, ": a layout change needs a 4-D tensor, got ", dimsToString(d));
    const int64_t N = d[0], C = d[1], H = d[2], W = d[3];
    if (to_nhwc_)  // iterate (n, h, w, c): read NCHW, write dense NHWC
      return fill(copy_, {N, H, W, C}, {C * H * W, W, 1, H * W}, {H * W * C, W * C, C, 1}, who_);
    return fill(copy_, {N, C, H, W}, {H * W * C, 1, W * C, C}, {C * H * W, H * W, W, 1}, who_);
  }
  Status run(const std::vector<TensorView>& in, const std::vector<TensorView>& out, void*) override {
    launch::stridedCopy(in[0].data, out[0].data, dataTypeSize(in[0].dtype), copy_, stream());
    return launched();
  }

 private:
  bool to_nhwc_;
  launch::StridedCopy copy_;
};

Result<std::unique_ptr<Kernel>> createCopy(const ir::Node& node, DeviceContext* dev) {
  if (node.op_type == "Identity" && node.hasAttr(kAttrToNhwc))
    return makeKernel<LayoutKernel>(node, dev, node.attrInt(kAttrToNhwc, 1) != 0);
  if (node.op_type == "Dropout" && node.outputs.size() > 1 && node.outputs[1])
    return unsupported(node.describe(), ": the CUDA backend does not produce Dropout's mask");
  return makeKernel<CopyKernel>(node, dev);
}

class TransposeKernel final : public CudaKernel {
 public:
  TransposeKernel(const ir::Node& n, DeviceContext* dev) : CudaKernel(n, dev), perm_(n.attrInts("perm")) {}
  Status reshape(const std::vector<TensorView>& in, const std::vector<TensorView>& out) override {
    const Dims& d = in[0].dims;
    std::vector<int64_t> perm = perm_;
    if (perm.empty()) {  // default: reverse the axes
      perm.resize(d.size());
      std::iota(perm.rbegin(), perm.rend(), 0);
    }
    if (perm.size() != d.size()) return invalidArgument(who_, ": perm has ", perm.size(), " axes for rank ", d.size());
    Dims in_strides = dense(d);
    std::vector<int64_t> src(d.size());
    for (size_t i = 0; i < d.size(); ++i) src[i] = in_strides[perm[i]];
    return fill(copy_, out[0].dims, src, dense(out[0].dims), who_);
  }
  Status run(const std::vector<TensorView>& in, const std::vector<TensorView>& out, void*) override {
    launch::stridedCopy(in[0].data, out[0].data, dataTypeSize(in[0].dtype), copy_, stream());
    return launched();
  }

 private:
  std::vector<int64_t> perm_;
  launch::StridedCopy copy_;
};

class SliceKernel final : public CudaKernel {
 public:
  SliceKernel(const ir::Node& node, DeviceContext* dev) : CudaKernel(node, dev), from_attrs_(node.opset < 10) {
    if (!from_attrs_) return;
    auto vec = [](const std::vector<int64_t>& v) { return HostTensor::fromInt64(v, {static_cast<int64_t>(v.size())}); };
    starts_ = vec(node.attrInts("starts"));
    ends_ = vec(node.attrInts("ends"));
    has_axes_ = node.hasAttr("axes");
    if (has_axes_) axes_ = vec(node.attrInts("axes"));
  }
  Status reshape(const std::vector<TensorView>& in, const std::vector<TensorView>& out) override {
    auto present = [&](size_t i) { return i < in.size() && in[i].dtype != DataType::kUndefined; };
    SliceArgs args;
    TensorView sv = starts_.view(), ev = ends_.view(), av = axes_.view();
    if (from_attrs_) {
      args = {&sv, &ev, has_axes_ ? &av : nullptr, nullptr};
    } else {
      for (size_t i = 1; i < in.size(); ++i)
        if (present(i) && !in[i].data)
          return unsupported(who_, ": the CUDA backend needs Slice's starts/ends/axes/steps known before running");
      args = {&in[1], &in[2], present(3) ? &in[3] : nullptr, present(4) ? &in[4] : nullptr};
    }
    const Dims& d = in[0].dims;
    std::vector<SliceAxis> axes(d.size());
    Status st = resolveSlice(d, args, axes);
    if (!st.ok()) return st.withContext(who_);
    Dims in_strides = dense(d);
    std::vector<int64_t> src(d.size());
    base_ = 0;
    for (size_t i = 0; i < d.size(); ++i) {
      if (axes[i].count != out[0].dims[i]) return internalError(who_, ": slice extents disagree with the output dims");
      base_ += axes[i].start * in_strides[i];
      src[i] = axes[i].step * in_strides[i];
    }
    return fill(copy_, out[0].dims, src, dense(out[0].dims), who_);
  }
  Status run(const std::vector<TensorView>& in, const std::vector<TensorView>& out, void*) override {
    const size_t e = dataTypeSize(in[0].dtype);
    launch::stridedCopy(static_cast<const uint8_t*>(in[0].data) + base_ * e, out[0].data, e, copy_, stream());
    return launched();
  }

 private:
  bool from_attrs_;
  bool has_axes_ = false;
  HostTensor starts_, ends_, axes_;
  int64_t base_ = 0;
  launch::StridedCopy copy_;
};

// Concat: one strided copy per input into its slab of the output. For a channels-last node the
// 4-D tensors are NHWC, so the logical axis maps to its physical position.
class ConcatKernel final : public CudaKernel {
 public:
  ConcatKernel(const ir::Node& n, DeviceContext* dev) : CudaKernel(n, dev), axis_(n.attrInt("axis", 0)), nhwc_(channelsLast(n)) {}
  Status reshape(const std::vector<TensorView>& in, const std::vector<TensorView>& out) override {
    Dims o = out[0].dims;
    auto axis = normalizeAxis(axis_, static_cast<int64_t>(o.size()));
    if (!axis) return invalidArgument(who_, ": axis ", axis_, " out of range for rank ", o.size());
    int64_t ax = *axis;
    const bool physical = nhwc_ && o.size() == 4;
    if (physical) {
      const int64_t to_physical[4] = {0, 3, 1, 2};
      ax = to_physical[ax];
      o = {o[0], o[2], o[3], o[1]};
    }
    Dims out_strides = dense(o);
    copies_.clear();
    offsets_.clear();
    int64_t offset = 0;
    for (const TensorView& v : in) {
      if (v.dtype == DataType::kUndefined) continue;
      Dims d = v.dims;
      if (physical) d = {d[0], d[2], d[3], d[1]};
      launch::StridedCopy c;
      QRT_RETURN_IF_ERROR(fill(c, d, dense(d), out_strides, who_));
      copies_.push_back(c);
      offsets_.push_back(offset * out_strides[ax]);
      offset += d[ax];
    }
    return Status::Ok();
  }
  Status run(const std::vector<TensorView>& in, const std::vector<TensorView>& out, void*) override {
    const size_t e = dataTypeSize(out[0].dtype);
    size_t k = 0;
    for (const TensorView& v : in) {
      if (v.dtype == DataType::kUndefined) continue;
      launch::stridedCopy(v.data, static_cast<uint8_t*>(out[0].data) + offsets_[k] * e, e, copies_[k], stream());
      ++k;
    }
    return launched();
  }

 private:
  int64_t axis_;
  bool nhwc_;
  std::vector<launch::StridedCopy> copies_;
  std::vector<int64_t> offsets_;
};

// Expand: a copy whose source strides are 0 along broadcast dims.
class ExpandKernel final : public CudaKernel {
 public:
  using CudaKernel::CudaKernel;
  Status reshape(const std::vector<TensorView>& in, const std::vector<TensorView>& out) override {
    const Dims& o = out[0].dims;
    const Dims& d = in[0].dims;
    Dims full(o.size(), 1);
    for (size_t i = 0; i < d.size(); ++i) full[o.size() - d.size() + i] = d[i];
    Dims s = dense(full);
    for (size_t i = 0; i < o.size(); ++i)
      if (full[i] == 1 && o[i] != 1) s[i] = 0;
    return fill(copy_, o, s, dense(o), who_);
  }
  Status run(const std::vector<TensorView>& in, const std::vector<TensorView>& out, void*) override {
    launch::stridedCopy(in[0].data, out[0].data, dataTypeSize(in[0].dtype), copy_, stream());
    return launched();
  }

 private:
  launch::StridedCopy copy_;
};

Result<std::unique_ptr<Kernel>> createTranspose(const ir::Node& node, DeviceContext* dev) {
  return makeKernel<TransposeKernel>(node, dev);
}
Result<std::unique_ptr<Kernel>> createSlice(const ir::Node& node, DeviceContext* dev) {
  return makeKernel<SliceKernel>(node, dev);
}
Result<std::unique_ptr<Kernel>> createConcat(const ir::Node& node, DeviceContext* dev) {
  return makeKernel<ConcatKernel>(node, dev);
}
Result<std::unique_ptr<Kernel>> createExpand(const ir::Node& node, DeviceContext* dev) {
  return makeKernel<ExpandKernel>(node, dev);
}

const CudaKernelEntry kEntries[] = {
    {"Identity", kCudaAny, &createCopy},
    {"Reshape", kCudaAny, &createCopy},
    {"Flatten", kCudaAny, &createCopy},
    {"Squeeze", kCudaAny, &createCopy},
    {"Unsqueeze", kCudaAny, &createCopy},
    {"Dropout", kCudaAny, &createCopy},
    {"Transpose", kCudaAny, &createTranspose},
    {"Slice", kCudaAny, &createSlice},
    {"Concat", kCudaAny, &createConcat},
    {"Expand", kCudaAny, &createExpand},
};

}  // namespace

std::span<const CudaKernelEntry> movementKernels() { return kEntries; }

}  // namespace qrt::cuda
