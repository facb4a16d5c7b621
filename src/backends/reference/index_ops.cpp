// Reference kernels driven by index tensors or index arithmetic: GatherElements, GatherND,
// ScatterElements (= Scatter), ScatterND, OneHot, Trilu, EyeLike.
//
// Indices are checked against their axis before use: an index out of range is an error value,
// never a wild read or write. Scatters apply updates in index order, so with reduction "none"
// the last of several updates to one element wins, as the ONNX reference does.
#include <algorithm>
#include <cstring>
#include <string>

#include "backends/reference/ref_util.h"
#include "backends/reference/strided_copy.h"
#include "backends/reference/tensor_kernels.h"
#include "ops/shape_util.h"
#include "ops/tensor_params.h"

namespace qrt::reference::tensor_kernels {

namespace {

bool present(const std::vector<TensorView>& v, size_t i) { return i < v.size() && v[i].dtype != DataType::kUndefined; }

// An index normalized into [0, dim), or an error naming the node.
Status normalizeIndex(const std::string& name, int64_t* v, int64_t dim) {
  if (*v < -dim || *v >= dim) return invalidArgument(name, ": index ", *v, " out of range for an axis of size ", dim);
  if (*v < 0) *v += dim;
  return Status::Ok();
}

// Visits the positions of `dims` in row-major order as fn(p, off), where p is the flat position
// and off the offset of the same position in a tensor with `strides`, leaving out `axis` (the
// caller adds the index along it). `pos` is scratch of dims.size() entries. Stops at an error.
template <typename Fn>
Status forEachPosition(const Dims& dims, const std::vector<int64_t>& strides, size_t axis, std::vector<int64_t>& pos,
                       Fn&& fn) {
  const int64_t n = volume(dims);
  std::fill(pos.begin(), pos.end(), 0);
  int64_t off = 0;
  for (int64_t p = 0; p < n; ++p) {
    QRT_RETURN_IF_ERROR(fn(p, off));
    for (size_t d = dims.size(); d-- > 0;) {
      const int64_t s = d == axis ? 0 : strides[d];
      off += s;
      if (++pos[d] < dims[d]) break;
      off -= s * dims[d];
      pos[d] = 0;
    }
  }
  return Status::Ok();
}

enum class Reduction { kNone, kAdd, kMul, kMax, kMin };

Reduction parseReduction(const std::string& r) {
  if (r == "add") return Reduction::kAdd;
  if (r == "mul") return Reduction::kMul;
  if (r == "max") return Reduction::kMax;
  if (r == "min") return Reduction::kMin;
  return Reduction::kNone;
}

// `old` combined with `update` as the scatter's reduction says. Integers stay exact; fp16/bf16
// compute in float, float in double (then round once).
template <typename T>
T combine(Reduction r, T old, T update) {
  if constexpr (std::is_same_v<T, bool>) {
    return update;
  } else if constexpr (std::is_integral_v<T>) {
    switch (r) {
      case Reduction::kAdd: return static_cast<T>(old + update);
      case Reduction::kMul: return static_cast<T>(old * update);
      case Reduction::kMax: return std::max(old, update);
      case Reduction::kMin: return std::min(old, update);
      case Reduction::kNone: return update;
    }
    return update;
  } else {
    const double a = toDouble(old), b = toDouble(update);
    switch (r) {
      case Reduction::kAdd: return fromDouble<T>(a + b);
      case Reduction::kMul: return fromDouble<T>(a * b);
      case Reduction::kMax: return fromDouble<T>(std::max(a, b));
      case Reduction::kMin: return fromDouble<T>(std::min(a, b));
      case Reduction::kNone: return update;
    }
    return update;
  }
}

// GatherElements: out[p] = data[p with its `axis` coordinate replaced by indices[p]].
class GatherElementsKernel : public Kernel {
 public:
  explicit GatherElementsKernel(const ir::Node& node) : name_(node.describe()), axis_attr_(node.attrInt("axis", 0)) {}
  Status reshape(const std::vector<TensorView>& in, const std::vector<TensorView>&) override {
    const Dims& data = in[0].dims;
    const Dims& idx = in[1].dims;
    axis_ = static_cast<size_t>(*normalizeAxis(axis_attr_, static_cast<int64_t>(data.size())));
    for (size_t d = 0; d < data.size(); ++d)
      if (d != axis_ && idx[d] > data[d])
        return invalidArgument(name_, ": indices ", dimsToString(idx), " exceed data ", dimsToString(data), " on axis ",
                               d);
    strides_ = stridesOf(data);
    pos_.resize(data.size());
    return Status::Ok();
  }
  Status run(const std::vector<TensorView>& in, const std::vector<TensorView>& out, void*) override {
    const size_t esize = dataTypeSize(in[0].dtype);
    const int64_t dim = in[0].dims[axis_], stride = strides_[axis_];
    const char* src = in[0].as<const char>();
    char* dst = out[0].as<char>();
    return forEachPosition(in[1].dims, strides_, axis_, pos_, [&](int64_t p, int64_t off) {
      int64_t v = intAt(in[1], p);
      QRT_RETURN_IF_ERROR(normalizeIndex(name_, &v, dim));
      std::memcpy(dst + p * esize, src + (off + v * stride) * esize, esize);
      return Status::Ok();
    });
  }

 private:
  std::string name_;
  int64_t axis_attr_;
  size_t axis_ = 0;
  std::vector<int64_t> strides_, pos_;
};

// ScatterElements: out = data, then out[p with axis coordinate indices[p]] (op)= updates[p].
class ScatterElementsKernel : public Kernel {
 public:
  explicit ScatterElementsKernel(const ir::Node& node)
      : name_(node.describe()),
        axis_attr_(node.attrInt("axis", 0)),
        reduction_(parseReduction(node.attrString("reduction", "none"))) {}
  Status reshape(const std::vector<TensorView>& in, const std::vector<TensorView>&) override {
    const Dims& data = in[0].dims;
    const Dims& idx = in[1].dims;
    if (in[2].dims != idx)
      return invalidArgument(name_, ": updates ", dimsToString(in[2].dims), " differ from indices ", dimsToString(idx));
    axis_ = static_cast<size_t>(*normalizeAxis(axis_attr_, static_cast<int64_t>(data.size())));
    for (size_t d = 0; d < data.size(); ++d)
      if (d != axis_ && idx[d] > data[d])
        return invalidArgument(name_, ": indices ", dimsToString(idx), " exceed data ", dimsToString(data), " on axis ",
                               d);
    strides_ = stridesOf(data);
    pos_.resize(data.size());
    return Status::Ok();
  }
  Status run(const std::vector<TensorView>& in, const std::vector<TensorView>& out, void*) override {
    if (out[0].data != in[0].data) std::memcpy(out[0].data, in[0].data, out[0].bytes());
    const int64_t dim = in[0].dims[axis_], stride = strides_[axis_];
    Status result;
    QRT_RETURN_IF_ERROR(dispatchType(in[0].dtype, [&](auto tag) {
      using T = decltype(tag);
      T* dst = out[0].as<T>();
      const T* upd = in[2].as<const T>();
      result = forEachPosition(in[1].dims, strides_, axis_, pos_, [&](int64_t p, int64_t off) {
        int64_t v = intAt(in[1], p);
        QRT_RETURN_IF_ERROR(normalizeIndex(name_, &v, dim));
        T& o = dst[off + v * stride];
        o = combine(reduction_, o, upd[p]);
        return Status::Ok();
      });
    }));
    return result;
  }

 private:
  std::string name_;
  int64_t axis_attr_;
  Reduction reduction_;
  size_t axis_ = 0;
  std::vector<int64_t> strides_, pos_;
};

// Where the k-tuple at `tuple` of an ND index tensor points in data (in elements), checking
// each index against its dim. `first_axis` is the data axis the tuple's first value indexes.
Status tupleOffset(const std::string& name, const TensorView& idx, int64_t tuple, int64_t k, const Dims& data,
                   const std::vector<int64_t>& strides, size_t first_axis, int64_t* off) {
  *off = 0;
  for (int64_t j = 0; j < k; ++j) {
    int64_t v = intAt(idx, tuple * k + j);
    QRT_RETURN_IF_ERROR(normalizeIndex(name, &v, data[first_axis + j]));
    *off += v * strides[first_axis + j];
  }
  return Status::Ok();
}

// GatherND: with b batch dims, each batch's k-tuples each copy one slice of data[b + k:].
class GatherNDKernel : public Kernel {
 public:
  explicit GatherNDKernel(const ir::Node& node) : name_(node.describe()), b_(node.attrInt("batch_dims", 0)) {}
  Status reshape(const std::vector<TensorView>& in, const std::vector<TensorView>&) override {
    const Dims& data = in[0].dims;
    const Dims& idx = in[1].dims;
    k_ = idx.back();
    const size_t b = static_cast<size_t>(b_);
    batches_ = 1;
    for (size_t i = 0; i < b; ++i) {
      if (data[i] != idx[i]) return invalidArgument(name_, ": batch dim ", i, " differs between data and indices");
      batches_ *= data[i];
    }
    tuples_ = 1;
    for (size_t i = b; i + 1 < idx.size(); ++i) tuples_ *= idx[i];
    slice_ = 1;
    for (size_t i = b + static_cast<size_t>(k_); i < data.size(); ++i) slice_ *= data[i];
    batch_stride_ = 1;
    for (size_t i = b; i < data.size(); ++i) batch_stride_ *= data[i];
    strides_ = stridesOf(data);
    return Status::Ok();
  }
  Status run(const std::vector<TensorView>& in, const std::vector<TensorView>& out, void*) override {
    const size_t esize = dataTypeSize(in[0].dtype);
    const char* src = in[0].as<const char>();
    char* dst = out[0].as<char>();
    for (int64_t bt = 0; bt < batches_; ++bt)
      for (int64_t t = 0; t < tuples_; ++t) {
        const int64_t tuple = bt * tuples_ + t;
        int64_t off;
        QRT_RETURN_IF_ERROR(tupleOffset(name_, in[1], tuple, k_, in[0].dims, strides_, static_cast<size_t>(b_), &off));
        std::memcpy(dst + tuple * slice_ * esize, src + (bt * batch_stride_ + off) * esize, slice_ * esize);
      }
    return Status::Ok();
  }

 private:
  std::string name_;
  int64_t b_;
  int64_t k_ = 0, batches_ = 0, tuples_ = 0, slice_ = 0, batch_stride_ = 0;
  std::vector<int64_t> strides_;
};

// ScatterND: out = data, then each k-tuple's slice of out (op)= the matching slice of updates.
class ScatterNDKernel : public Kernel {
 public:
  explicit ScatterNDKernel(const ir::Node& node)
      : name_(node.describe()), reduction_(parseReduction(node.attrString("reduction", "none"))) {}
  Status reshape(const std::vector<TensorView>& in, const std::vector<TensorView>&) override {
    const Dims& data = in[0].dims;
    const Dims& idx = in[1].dims;
    k_ = idx.back();
    Dims want(idx.begin(), idx.end() - 1);
    want.insert(want.end(), data.begin() + k_, data.end());
    if (in[2].dims != want)
      return invalidArgument(name_, ": updates ", dimsToString(in[2].dims), " should be ", dimsToString(want));
    tuples_ = volume(Dims(idx.begin(), idx.end() - 1));
    slice_ = volume(Dims(data.begin() + k_, data.end()));
    strides_ = stridesOf(data);
    return Status::Ok();
  }
  Status run(const std::vector<TensorView>& in, const std::vector<TensorView>& out, void*) override {
    if (out[0].data != in[0].data) std::memcpy(out[0].data, in[0].data, out[0].bytes());
    Status result;
    QRT_RETURN_IF_ERROR(dispatchType(in[0].dtype, [&](auto tag) {
      using T = decltype(tag);
      T* dst = out[0].as<T>();
      const T* upd = in[2].as<const T>();
      for (int64_t t = 0; t < tuples_; ++t) {
        int64_t off;
        result = tupleOffset(name_, in[1], t, k_, in[0].dims, strides_, 0, &off);
        if (!result.ok()) return;
        for (int64_t e = 0; e < slice_; ++e) dst[off + e] = combine(reduction_, dst[off + e], upd[t * slice_ + e]);
      }
    }));
    return result;
  }

 private:
  std::string name_;
  Reduction reduction_;
  int64_t k_ = 0, tuples_ = 0, slice_ = 0;
  std::vector<int64_t> strides_;
};

// OneHot: out = values[0] everywhere, values[1] where the inserted axis equals the index
// (negative indices count from depth; others out of range leave the row all "off").
class OneHotKernel : public Kernel {
 public:
  explicit OneHotKernel(const ir::Node& node) : axis_attr_(node.attrInt("axis", -1)) {}
  Status reshape(const std::vector<TensorView>& in, const std::vector<TensorView>& out) override {
    const Dims& od = out[0].dims;
    const int64_t axis = *normalizeAxis(axis_attr_, static_cast<int64_t>(od.size()));
    depth_ = od[axis];
    outer_ = volume(Dims(od.begin(), od.begin() + axis));
    inner_ = volume(Dims(od.begin() + axis + 1, od.end()));
    return Status::Ok();
  }
  Status run(const std::vector<TensorView>& in, const std::vector<TensorView>& out, void*) override {
    const size_t esize = dataTypeSize(out[0].dtype);
    const char* values = in[2].as<const char>();
    char* dst = out[0].as<char>();
    fillElements(dst, out[0].numel(), values, esize);
    const size_t isize = dataTypeSize(in[0].dtype);
    for (int64_t o = 0; o < outer_; ++o)
      for (int64_t i = 0; i < inner_; ++i) {
        // Any numeric dtype: converted to int64 as Cast would (floats truncate).
        int64_t v;
        convertElements(in[0].as<const char>() + (o * inner_ + i) * isize, in[0].dtype, &v, DataType::kInt64, 1);
        if (v < 0) v += depth_;
        if (v < 0 || v >= depth_) continue;
        std::memcpy(dst + ((o * depth_ + v) * inner_ + i) * esize, values + esize, esize);
      }
    return Status::Ok();
  }

 private:
  int64_t axis_attr_;
  int64_t depth_ = 0, outer_ = 0, inner_ = 0;
};

// Trilu: keeps the upper (j - i >= k) or lower (j - i <= k) triangle of each matrix, zeroing
// the rest (all-zero bytes are 0 in every dtype).
class TriluKernel : public Kernel {
 public:
  explicit TriluKernel(const ir::Node& node) : upper_(node.attrInt("upper", 1) != 0) {}
  Status run(const std::vector<TensorView>& in, const std::vector<TensorView>& out, void*) override {
    const Dims& d = in[0].dims;
    const int64_t rows = d[d.size() - 2], cols = d.back();
    const int64_t mats = rows * cols == 0 ? 0 : in[0].numel() / (rows * cols);
    const int64_t k = present(in, 1) ? intAt(in[1], 0) : 0;
    const size_t esize = dataTypeSize(in[0].dtype);
    const char* src = in[0].as<const char>();
    char* dst = out[0].as<char>();
    for (int64_t m = 0; m < mats; ++m)
      for (int64_t i = 0; i < rows; ++i) {
        const int64_t row = (m * rows + i) * cols;
        // Columns [begin, end) are kept.
        const int64_t begin = upper_ ? std::clamp<int64_t>(i + k, 0, cols) : 0;
        const int64_t end = upper_ ? cols : std::clamp<int64_t>(i + k + 1, 0, cols);
        std::memset(dst + row * esize, 0, cols * esize);
        if (end > begin) std::memcpy(dst + (row + begin) * esize, src + (row + begin) * esize, (end - begin) * esize);
      }
    return Status::Ok();
  }

 private:
  bool upper_;
};

// EyeLike: zeros with ones on the k-th diagonal, in the output's dtype (input data unused).
class EyeLikeKernel : public Kernel {
 public:
  explicit EyeLikeKernel(const ir::Node& node) : k_(node.attrInt("k", 0)) {}
  Status run(const std::vector<TensorView>&, const std::vector<TensorView>& out, void*) override {
    const int64_t rows = out[0].dims[0], cols = out[0].dims[1];
    const size_t esize = dataTypeSize(out[0].dtype);
    alignas(8) unsigned char one[8] = {};
    const float f = 1.f;
    convertElements(&f, DataType::kFloat, one, out[0].dtype, 1);
    char* dst = out[0].as<char>();
    std::memset(dst, 0, out[0].bytes());
    for (int64_t i = 0; i < rows; ++i) {
      const int64_t j = i + k_;
      if (j >= 0 && j < cols) std::memcpy(dst + (i * cols + j) * esize, one, esize);
    }
    return Status::Ok();
  }

 private:
  int64_t k_;
};

}  // namespace

KernelResult createGatherElements(const ir::Node& node) {
  return std::unique_ptr<Kernel>(new GatherElementsKernel(node));
}
KernelResult createGatherND(const ir::Node& node) { return std::unique_ptr<Kernel>(new GatherNDKernel(node)); }
KernelResult createScatterElements(const ir::Node& node) {
  return std::unique_ptr<Kernel>(new ScatterElementsKernel(node));
}
KernelResult createScatterND(const ir::Node& node) { return std::unique_ptr<Kernel>(new ScatterNDKernel(node)); }
KernelResult createOneHot(const ir::Node& node) { return std::unique_ptr<Kernel>(new OneHotKernel(node)); }
KernelResult createTrilu(const ir::Node& node) { return std::unique_ptr<Kernel>(new TriluKernel(node)); }
KernelResult createEyeLike(const ir::Node& node) { return std::unique_ptr<Kernel>(new EyeLikeKernel(node)); }

}  // namespace qrt::reference::tensor_kernels
