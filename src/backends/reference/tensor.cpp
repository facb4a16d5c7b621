// Reference kernels of the tensor family: the table, the kernels that copy the input's bytes
// unchanged (Identity, Reshape, Flatten, Squeeze, Unsqueeze, Dropout) and the ones that make new
// data (Shape, Size, ConstantOfShape, Range). Shape values are computed on the host at reshape time by
// these same kernels, so they must handle rank-0 and rank-1 int64 tensors and must not read
// Shape's or Size's input data (only its dims exist then).
#include <algorithm>
#include <cstring>

#include "backends/reference/kernel_table.h"
#include "backends/reference/ref_util.h"
#include "backends/reference/strided_copy.h"
#include "backends/reference/tensor_kernels.h"

namespace qrt::reference {

namespace tensor_kernels {

namespace {

// The output holds the input's elements in the same order (only the dims differ).
class CopyKernel : public Kernel {
 public:
  explicit CopyKernel(std::string name) : name_(std::move(name)) {}
  Status reshape(const std::vector<TensorView>& in, const std::vector<TensorView>& out) override {
    if (in[0].numel() != out[0].numel())
      return internalError(name_, ": output ", dimsToString(out[0].dims), " does not hold the input ",
                           dimsToString(in[0].dims));
    return Status::Ok();
  }
  Status run(const std::vector<TensorView>& in, const std::vector<TensorView>& out, void*) override {
    if (out[0].data != in[0].data && out[0].bytes() > 0) std::memcpy(out[0].data, in[0].data, out[0].bytes());
    return Status::Ok();
  }

 protected:
  std::string name_;
};

// Inference Dropout: a copy, plus an all-true (all-one before opset 10) mask when requested.
class DropoutKernel : public CopyKernel {
 public:
  using CopyKernel::CopyKernel;
  Status reshape(const std::vector<TensorView>& in, const std::vector<TensorView>& out) override {
    QRT_RETURN_IF_ERROR(CopyKernel::reshape(in, out));
    if (out.size() > 1 && out[1].dtype != DataType::kUndefined) {
      float one = 1.f;
      convertElements(&one, DataType::kFloat, one_, out[1].dtype, 1);
    }
    return checkTraining(in);
  }
  Status run(const std::vector<TensorView>& in, const std::vector<TensorView>& out, void* ws) override {
    QRT_RETURN_IF_ERROR(checkTraining(in));
    QRT_RETURN_IF_ERROR(CopyKernel::run(in, out, ws));
    if (out.size() > 1 && out[1].data) fillElements(out[1].data, out[1].numel(), one_, dataTypeSize(out[1].dtype));
    return Status::Ok();
  }

 private:
  // training_mode=true with a non-zero ratio would drop random elements: refused.
  Status checkTraining(const std::vector<TensorView>& in) const {
    if (in.size() < 3 || in[2].data == nullptr || !*in[2].as<bool>()) return Status::Ok();
    double ratio = 0.5;  // the spec's default
    if (in[1].data) convertElements(in[1].data, in[1].dtype, &ratio, DataType::kDouble, 1);
    if (ratio == 0.0) return Status::Ok();
    return unsupported(name_, ": training_mode=true is not supported; qrt runs inference only");
  }
  alignas(8) unsigned char one_[8] = {};
};

class ShapeKernel : public Kernel {
 public:
  explicit ShapeKernel(const ir::Node& node)
      : has_start_(node.hasAttr("start")),
        has_end_(node.hasAttr("end")),
        start_attr_(node.attrInt("start", 0)),
        end_attr_(node.attrInt("end", 0)) {}
  Status reshape(const std::vector<TensorView>& in, const std::vector<TensorView>& out) override {
    const int64_t rank = static_cast<int64_t>(in[0].dims.size());
    int64_t start = has_start_ ? start_attr_ : 0, end = has_end_ ? end_attr_ : rank;
    if (start < 0) start += rank;
    if (end < 0) end += rank;
    start_ = std::clamp<int64_t>(start, 0, rank);
    count_ = std::max<int64_t>(0, std::clamp<int64_t>(end, 0, rank) - start_);
    if (out[0].numel() != count_)
      return internalError("Shape: output has ", out[0].numel(), " elements, expected ", count_);
    return Status::Ok();
  }
  Status run(const std::vector<TensorView>& in, const std::vector<TensorView>& out, void*) override {
    for (int64_t i = 0; i < count_; ++i) out[0].as<int64_t>()[i] = in[0].dims[start_ + i];
    return Status::Ok();
  }

 private:
  bool has_start_, has_end_;
  int64_t start_attr_, end_attr_;
  int64_t start_ = 0, count_ = 0;
};

// Size: the element count of the input, from its dims alone.
class SizeKernel : public Kernel {
 public:
  Status run(const std::vector<TensorView>& in, const std::vector<TensorView>& out, void*) override {
    *out[0].as<int64_t>() = in[0].numel();
    return Status::Ok();
  }
};

class ConstantOfShapeKernel : public Kernel {
 public:
  explicit ConstantOfShapeKernel(const ir::Node& node) {
    if (const ir::Attribute* a = node.attr("value"); a && a->t.numel() == 1) {
      esize_ = dataTypeSize(a->t.dtype());
      std::memcpy(value_, a->t.data(), std::min(esize_, sizeof(value_)));
    }
  }
  Status run(const std::vector<TensorView>&, const std::vector<TensorView>& out, void*) override {
    fillElements(out[0].data, out[0].numel(), value_, esize_);
    return Status::Ok();
  }

 private:
  size_t esize_ = 4;  // default: float 0
  alignas(8) unsigned char value_[8] = {};
};

// Range: out[i] = start + i * delta, computed in the element type as numpy's arange does; the
// count (the output's size) was inferred from the same values.
class RangeKernel : public Kernel {
 public:
  Status run(const std::vector<TensorView>& in, const std::vector<TensorView>& out, void*) override {
    const int64_t n = out[0].numel();
    return dispatchType(out[0].dtype, [&](auto tag) {
      using T = decltype(tag);
      if constexpr (std::is_same_v<T, Half> || std::is_same_v<T, BFloat16> || std::is_same_v<T, bool>) {
        return;  // not in the table
      } else {
        const T start = *in[0].as<T>(), delta = *in[2].as<T>();
        T* o = out[0].as<T>();
        for (int64_t i = 0; i < n; ++i) o[i] = static_cast<T>(start + static_cast<T>(i) * delta);
      }
    });
  }
};

}  // namespace

KernelResult createCopy(const ir::Node& node) { return std::unique_ptr<Kernel>(new CopyKernel(node.describe())); }
KernelResult createDropout(const ir::Node& node) { return std::unique_ptr<Kernel>(new DropoutKernel(node.describe())); }
KernelResult createShape(const ir::Node& node) { return std::unique_ptr<Kernel>(new ShapeKernel(node)); }
KernelResult createSize(const ir::Node&) { return std::unique_ptr<Kernel>(new SizeKernel()); }
KernelResult createConstantOfShape(const ir::Node& node) {
  const ir::Attribute* a = node.attr("value");
  if (a && (a->kind != ir::Attribute::Kind::kTensor || a->t.numel() != 1 || dataTypeSize(a->t.dtype()) == 0 ||
            dataTypeSize(a->t.dtype()) > 8))
    return invalidArgument(node.describe(), ": attribute 'value' must be a one-element numeric tensor");
  return std::unique_ptr<Kernel>(new ConstantOfShapeKernel(node));
}
KernelResult createRange(const ir::Node&) { return std::unique_ptr<Kernel>(new RangeKernel()); }

}  // namespace tensor_kernels

namespace {
using namespace tensor_kernels;
constexpr DTypeSet kRangeTypes{DataType::kFloat, DataType::kDouble, DataType::kInt16, DataType::kInt32,
                               DataType::kInt64};
const KernelEntry kTensorKernels[] = {
    {"Identity", kAllTypes, &createCopy},
    {"Reshape", kAllTypes, &createCopy},
    {"Flatten", kAllTypes, &createCopy},
    {"Squeeze", kAllTypes, &createCopy},
    {"Unsqueeze", kAllTypes, &createCopy},
    {"Dropout", kAllTypes, &createDropout},
    {"Shape", kAllTypes, &createShape},
    {"Size", kAllTypes, &createSize},
    {"ConstantOfShape", {DataType::kInt64}, &createConstantOfShape},
    {"Range", kRangeTypes, &createRange},
    {"Transpose", kAllTypes, &createTranspose},
    {"Expand", kAllTypes, &createExpand},
    {"Tile", kAllTypes, &createTile},
    {"Concat", kAllTypes, &createConcat},
    {"Split", kAllTypes, &createSplit},
    {"Gather", kAllTypes, &createGather},
    {"Slice", kAllTypes, &createSlice},
    {"Pad", kAllTypes, &createPad},
    {"DepthToSpace", kAllTypes, &createDepthToSpace},
    {"SpaceToDepth", kAllTypes, &createSpaceToDepth},
    {"GatherElements", kAllTypes, &createGatherElements},
    {"GatherND", kAllTypes, &createGatherND},
    {"ScatterElements", kAllTypes, &createScatterElements},
    {"Scatter", kAllTypes, &createScatterElements},
    {"ScatterND", kAllTypes, &createScatterND},
    {"OneHot", kNumericTypes, &createOneHot},
    {"Trilu", kAllTypes, &createTrilu},
    {"EyeLike", kAllTypes, &createEyeLike},
};
}  // namespace

std::span<const KernelEntry> tensorKernels() { return kTensorKernels; }

}  // namespace qrt::reference
