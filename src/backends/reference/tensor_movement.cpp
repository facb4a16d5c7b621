// Reference kernels that move elements between positions: Transpose, Expand, Tile, Concat,
// Split, Slice, DepthToSpace, SpaceToDepth (all StridedCopy plans, made in reshape) and Gather.
#include <array>
#include <cstring>
#include <numeric>

#include "backends/reference/ref_util.h"
#include "backends/reference/strided_copy.h"
#include "backends/reference/tensor_kernels.h"
#include "core/threadpool.h"
#include "ops/shape_util.h"
#include "ops/tensor_params.h"

namespace qrt::reference::tensor_kernels {

namespace {

bool present(const std::vector<TensorView>& v, size_t i) { return i < v.size() && v[i].dtype != DataType::kUndefined; }

// Normalizes an attribute axis against a rank, naming the node on failure.
Result<int64_t> axisFor(const std::string& name, int64_t axis, size_t rank) {
  auto a = normalizeAxis(axis, static_cast<int64_t>(rank));
  if (!a || rank == 0) return invalidArgument(name, ": axis ", axis, " out of range for rank ", rank);
  return *a;
}

class TransposeKernel : public Kernel {
 public:
  explicit TransposeKernel(const ir::Node& node) : name_(node.describe()), perm_(node.attrInts("perm")) {}
  Status reshape(const std::vector<TensorView>& in, const std::vector<TensorView>& out) override {
    const size_t rank = in[0].dims.size();
    std::vector<int64_t> perm = perm_;
    if (perm.empty()) {
      perm.resize(rank);
      std::iota(perm.rbegin(), perm.rend(), 0);
    }
    if (perm.size() != rank) return invalidArgument(name_, ": perm has ", perm.size(), " entries for rank ", rank);
    std::vector<int64_t> in_strides = stridesOf(in[0].dims), src(rank);
    for (size_t d = 0; d < rank; ++d) src[d] = in_strides[perm[d]];
    return copy_.plan(dataTypeSize(in[0].dtype), out[0].dims, src, 0, stridesOf(out[0].dims), 0);
  }
  Status run(const std::vector<TensorView>& in, const std::vector<TensorView>& out, void*) override {
    copy_.run(out[0].data, in[0].data);
    return Status::Ok();
  }

 private:
  std::string name_;
  std::vector<int64_t> perm_;
  StridedCopy copy_;
};

// Expand: the input read with stride 0 along broadcast axes.
class ExpandKernel : public Kernel {
 public:
  Status reshape(const std::vector<TensorView>& in, const std::vector<TensorView>& out) override {
    return copy_.plan(dataTypeSize(in[0].dtype), out[0].dims, broadcastStrides(in[0].dims, out[0].dims), 0,
                      stridesOf(out[0].dims), 0);
  }
  Status run(const std::vector<TensorView>& in, const std::vector<TensorView>& out, void*) override {
    copy_.run(out[0].data, in[0].data);
    return Status::Ok();
  }

 private:
  StridedCopy copy_;
};

// Tile: output axis d of size repeats_d * in_d is, in row-major order, the pair of axes
// (repeats_d, in_d); the input is read with stride 0 along the repeat axes.
class TileKernel : public Kernel {
 public:
  Status reshape(const std::vector<TensorView>& in, const std::vector<TensorView>& out) override {
    const Dims& id = in[0].dims;
    const std::vector<int64_t> in_strides = stridesOf(id);
    Dims dims;
    std::vector<int64_t> src;
    for (size_t d = 0; d < id.size(); ++d) {
      dims.push_back(id[d] == 0 ? 0 : out[0].dims[d] / id[d]);
      dims.push_back(id[d]);
      src.push_back(0);
      src.push_back(in_strides[d]);
    }
    return copy_.plan(dataTypeSize(in[0].dtype), dims, src, 0, stridesOf(dims), 0);
  }
  Status run(const std::vector<TensorView>& in, const std::vector<TensorView>& out, void*) override {
    copy_.run(out[0].data, in[0].data);
    return Status::Ok();
  }

 private:
  StridedCopy copy_;
};

// Concat: input k is copied into the output box starting at the sum of the earlier extents.
class ConcatKernel : public Kernel {
 public:
  explicit ConcatKernel(const ir::Node& node) : name_(node.describe()), axis_(node.attrInt("axis", 1)) {}
  Status reshape(const std::vector<TensorView>& in, const std::vector<TensorView>& out) override {
    QRT_ASSIGN_OR_RETURN(int64_t axis, axisFor(name_, axis_, out[0].dims.size()));
    const std::vector<int64_t> out_strides = stridesOf(out[0].dims);
    copies_.resize(in.size());
    int64_t offset = 0;
    for (size_t k = 0; k < in.size(); ++k) {
      QRT_RETURN_IF_ERROR(copies_[k].plan(dataTypeSize(in[k].dtype), in[k].dims, stridesOf(in[k].dims), 0, out_strides,
                                          offset * out_strides[axis]));
      offset += in[k].dims[axis];
    }
    if (offset != out[0].dims[axis]) return internalError(name_, ": inputs do not fill the output");
    return Status::Ok();
  }
  Status run(const std::vector<TensorView>& in, const std::vector<TensorView>& out, void*) override {
    for (size_t k = 0; k < in.size(); ++k) copies_[k].run(out[0].data, in[k].data);
    return Status::Ok();
  }

 private:
  std::string name_;
  int64_t axis_;
  std::vector<StridedCopy> copies_;
};

// Split: output k is the input box starting at the sum of the earlier outputs' extents.
class SplitKernel : public Kernel {
 public:
  explicit SplitKernel(const ir::Node& node) : name_(node.describe()), axis_(node.attrInt("axis", 0)) {}
  Status reshape(const std::vector<TensorView>& in, const std::vector<TensorView>& out) override {
    QRT_ASSIGN_OR_RETURN(int64_t axis, axisFor(name_, axis_, in[0].dims.size()));
    const std::vector<int64_t> in_strides = stridesOf(in[0].dims);
    copies_.resize(out.size());
    int64_t offset = 0;
    for (size_t k = 0; k < out.size(); ++k) {
      if (!present(out, k)) continue;
      QRT_RETURN_IF_ERROR(copies_[k].plan(dataTypeSize(in[0].dtype), out[k].dims, in_strides, offset * in_strides[axis],
                                          stridesOf(out[k].dims), 0));
      offset += out[k].dims[axis];
    }
    if (offset > in[0].dims[axis]) return internalError(name_, ": outputs exceed the input");
    return Status::Ok();
  }
  Status run(const std::vector<TensorView>& in, const std::vector<TensorView>& out, void*) override {
    for (size_t k = 0; k < out.size(); ++k)
      if (out[k].data) copies_[k].run(out[k].data, in[0].data);
    return Status::Ok();
  }

 private:
  std::string name_;
  int64_t axis_;
  std::vector<StridedCopy> copies_;
};

// Gather: for every outer index and every index value, one contiguous block of the inner dims.
class GatherKernel : public Kernel {
 public:
  explicit GatherKernel(const ir::Node& node) : name_(node.describe()), axis_(node.attrInt("axis", 0)) {}
  Status reshape(const std::vector<TensorView>& in, const std::vector<TensorView>&) override {
    const Dims& d = in[0].dims;
    QRT_ASSIGN_OR_RETURN(int64_t axis, axisFor(name_, axis_, d.size()));
    outer_ = std::accumulate(d.begin(), d.begin() + axis, int64_t{1}, std::multiplies<>());
    inner_ = std::accumulate(d.begin() + axis + 1, d.end(), int64_t{1}, std::multiplies<>());
    axis_dim_ = d[axis];
    esize_ = dataTypeSize(in[0].dtype);
    return Status::Ok();
  }
  Status run(const std::vector<TensorView>& in, const std::vector<TensorView>& out, void*) override {
    const TensorView& idx = in[1];
    const int64_t n = idx.numel();
    for (int64_t j = 0; j < n; ++j) {
      int64_t v = intAt(idx, j);
      if (v < -axis_dim_ || v >= axis_dim_)
        return invalidArgument(name_, ": index ", v, " out of range for an axis of size ", axis_dim_);
    }
    const size_t block = static_cast<size_t>(inner_) * esize_;
    const char* src = in[0].as<const char>();
    char* dst = out[0].as<char>();
    const int64_t grain = std::max<int64_t>(1, (int64_t{1} << 16) / std::max<int64_t>(static_cast<int64_t>(block), 1));
    parallelFor(outer_ * n, grain, [&](int64_t begin, int64_t end) {
      for (int64_t r = begin; r < end; ++r) {
        const int64_t o = r / n;
        int64_t v = intAt(idx, r % n);
        if (v < 0) v += axis_dim_;
        std::memcpy(dst + r * block, src + (o * axis_dim_ + v) * block, block);
      }
    });
    return Status::Ok();
  }

 private:
  std::string name_;
  int64_t axis_;
  int64_t outer_ = 0, inner_ = 0, axis_dim_ = 0;
  size_t esize_ = 0;
};

// Slice: the input read from sum(start_d * stride_d) with strides stride_d * step_d. The
// arguments are resolved in reshape when their values are known then, else in every run (into
// buffers sized in reshape).
class SliceKernel : public Kernel {
 public:
  explicit SliceKernel(const ir::Node& node) : name_(node.describe()), from_attrs_(node.opset < 10) {
    if (!from_attrs_) return;
    auto vec = [](const std::vector<int64_t>& v) { return HostTensor::fromInt64(v, {static_cast<int64_t>(v.size())}); };
    starts_ = vec(node.attrInts("starts"));
    ends_ = vec(node.attrInts("ends"));
    has_axes_ = node.hasAttr("axes");
    if (has_axes_) axes_ = vec(node.attrInts("axes"));
    starts_view_ = starts_.view();
    ends_view_ = ends_.view();
    axes_view_ = axes_.view();
  }
  Status reshape(const std::vector<TensorView>& in, const std::vector<TensorView>& out) override {
    const size_t rank = in[0].dims.size();
    in_strides_ = stridesOf(in[0].dims);
    out_strides_ = stridesOf(out[0].dims);
    resolved_.resize(rank);
    src_strides_.resize(rank);
    copy_.reserve(rank);
    planned_ = false;
    bool known = from_attrs_;
    if (!from_attrs_) {
      known = true;
      for (size_t i = 1; i < in.size(); ++i)
        if (present(in, i) && in[i].data == nullptr) known = false;
    }
    if (known) {
      QRT_RETURN_IF_ERROR(plan(in, out));
      planned_ = true;
    }
    return Status::Ok();
  }
  Status run(const std::vector<TensorView>& in, const std::vector<TensorView>& out, void*) override {
    if (!planned_) QRT_RETURN_IF_ERROR(plan(in, out));
    copy_.run(out[0].data, in[0].data);
    return Status::Ok();
  }

 private:
  // Allocates nothing: every buffer was sized in reshape().
  Status plan(const std::vector<TensorView>& in, const std::vector<TensorView>& out) {
    SliceArgs args;
    if (from_attrs_) {
      args = {&starts_view_, &ends_view_, has_axes_ ? &axes_view_ : nullptr, nullptr};
    } else {
      args = {&in[1], &in[2], present(in, 3) ? &in[3] : nullptr, present(in, 4) ? &in[4] : nullptr};
    }
    Status st = resolveSlice(in[0].dims, args, resolved_);
    if (!st.ok()) return st.withContext(name_);
    int64_t base = 0;
    for (size_t d = 0; d < resolved_.size(); ++d) {
      if (resolved_[d].count != out[0].dims[d])
        return internalError(name_, ": slice extents disagree with the output dims");
      base += resolved_[d].start * in_strides_[d];
      src_strides_[d] = resolved_[d].step * in_strides_[d];
    }
    return copy_.plan(dataTypeSize(in[0].dtype), out[0].dims, src_strides_, base, out_strides_, 0);
  }

  std::string name_;
  bool from_attrs_;
  bool has_axes_ = false;
  HostTensor starts_, ends_, axes_;
  TensorView starts_view_, ends_view_, axes_view_;
  std::vector<int64_t> in_strides_, out_strides_, src_strides_;
  std::vector<SliceAxis> resolved_;
  StridedCopy copy_;
  bool planned_ = false;
};

// DepthToSpace / SpaceToDepth: a transpose of a 6-D view of the NCHW input whose result, read
// row-major, is the NCHW output.
class SpaceDepthKernel : public Kernel {
 public:
  enum class Kind { kDepthToSpaceDCR, kDepthToSpaceCRD, kSpaceToDepth };
  SpaceDepthKernel(Kind kind, int64_t blocksize) : kind_(kind), b_(blocksize) {}
  Status reshape(const std::vector<TensorView>& in, const std::vector<TensorView>& out) override {
    const Dims& d = in[0].dims;
    const int64_t n = d[0], c = d[1], h = d[2], w = d[3], b = b_;
    Dims view;
    std::array<int64_t, 6> perm;
    switch (kind_) {
      case Kind::kDepthToSpaceDCR:  // [N, b, b, C', H, W] -> [N, C', H, b, W, b]
        view = {n, b, b, c / (b * b), h, w};
        perm = {0, 3, 4, 1, 5, 2};
        break;
      case Kind::kDepthToSpaceCRD:  // [N, C', b, b, H, W] -> [N, C', H, b, W, b]
        view = {n, c / (b * b), b, b, h, w};
        perm = {0, 1, 4, 2, 5, 3};
        break;
      case Kind::kSpaceToDepth:  // [N, C, H', b, W', b] -> [N, b, b, C, H', W']
        view = {n, c, h / b, b, w / b, b};
        perm = {0, 3, 5, 1, 2, 4};
        break;
    }
    const std::vector<int64_t> view_strides = stridesOf(view);
    Dims dims(6);
    std::vector<int64_t> src(6);
    for (size_t i = 0; i < 6; ++i) {
      dims[i] = view[perm[i]];
      src[i] = view_strides[perm[i]];
    }
    if (volume(dims) != out[0].numel()) return internalError("DepthToSpace/SpaceToDepth: output size mismatch");
    return copy_.plan(dataTypeSize(in[0].dtype), dims, src, 0, stridesOf(dims), 0);
  }
  Status run(const std::vector<TensorView>& in, const std::vector<TensorView>& out, void*) override {
    copy_.run(out[0].data, in[0].data);
    return Status::Ok();
  }

 private:
  Kind kind_;
  int64_t b_;
  StridedCopy copy_;
};

}  // namespace

KernelResult createDepthToSpace(const ir::Node& node) {
  const bool crd = node.attrString("mode", "DCR") == "CRD";
  return std::unique_ptr<Kernel>(
      new SpaceDepthKernel(crd ? SpaceDepthKernel::Kind::kDepthToSpaceCRD : SpaceDepthKernel::Kind::kDepthToSpaceDCR,
                           node.attrInt("blocksize", 1)));
}
KernelResult createSpaceToDepth(const ir::Node& node) {
  return std::unique_ptr<Kernel>(
      new SpaceDepthKernel(SpaceDepthKernel::Kind::kSpaceToDepth, node.attrInt("blocksize", 1)));
}
KernelResult createTranspose(const ir::Node& node) { return std::unique_ptr<Kernel>(new TransposeKernel(node)); }
KernelResult createExpand(const ir::Node&) { return std::unique_ptr<Kernel>(new ExpandKernel()); }
KernelResult createTile(const ir::Node&) { return std::unique_ptr<Kernel>(new TileKernel()); }
KernelResult createConcat(const ir::Node& node) { return std::unique_ptr<Kernel>(new ConcatKernel(node)); }
KernelResult createSplit(const ir::Node& node) { return std::unique_ptr<Kernel>(new SplitKernel(node)); }
KernelResult createGather(const ir::Node& node) { return std::unique_ptr<Kernel>(new GatherKernel(node)); }
KernelResult createSlice(const ir::Node& node) { return std::unique_ptr<Kernel>(new SliceKernel(node)); }

}  // namespace qrt::reference::tensor_kernels
