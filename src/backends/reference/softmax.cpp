// Reference Softmax, LogSoftmax and Hardmax (1 at the first maximum of each row, 0 elsewhere).
//
// The input is viewed as [outer, n, inner] and each of the outer*inner rows of n elements (stride
// inner) is normalized. Opset 13 and later: n is the size of `axis` (default -1). Before 13 the
// input is coerced to 2-D at `axis` (default 1): n is the product of dims[axis:], inner is 1.
// Numerically stable: exp(x - max(row)); computed in float (double for fp64).
#include <algorithm>
#include <cmath>
#include <limits>

#include "backends/reference/reduce_family.h"
#include "core/threadpool.h"

namespace qrt::reference {

namespace {

enum class RowOp { kSoftmax, kLogSoftmax, kHardmax };

class SoftmaxKernel final : public Kernel {
 public:
  SoftmaxKernel(const ir::Node& node, RowOp op)
      : who_(node.describe()), op_(op), coerce_2d_(node.opset < 13), axis_(node.attrInt("axis", coerce_2d_ ? 1 : -1)) {}

  Status reshape(const std::vector<TensorView>& inputs, const std::vector<TensorView>&) override {
    const Dims& d = inputs[0].dims;
    const int64_t rank = static_cast<int64_t>(d.size());
    if (axis_ < -rank || axis_ > (coerce_2d_ ? rank : rank - 1))
      return invalidArgument(who_, ": axis ", axis_, " is out of range for rank ", rank);
    const int64_t axis = axis_ < 0 ? axis_ + rank : axis_;
    outer_ = n_ = inner_ = 1;
    for (int64_t i = 0; i < rank; ++i) {
      if (i < axis) outer_ *= d[i];
      else if (i == axis || coerce_2d_) n_ *= d[i];
      else inner_ *= d[i];
    }
    return Status::Ok();
  }

  Status run(const std::vector<TensorView>& inputs, const std::vector<TensorView>& outputs, void*) override {
    return dispatchType(inputs[0].dtype, [&](auto tag) {
      using T = decltype(tag);
      if constexpr (kIsFloat<T>) runTyped<T>(inputs[0].as<const T>(), outputs[0].as<T>());
    });
  }

 private:
  template <typename T>
  void runTyped(const T* x, T* y) const {
    using A = AccType<T>;
    const int64_t n = n_, inner = inner_;
    const RowOp op = op_;
    const int64_t grain = std::max<int64_t>(1, 4096 / std::max<int64_t>(1, n));
    parallelFor(outer_ * inner, grain, [&](int64_t b, int64_t e) {
      for (int64_t r = b; r < e; ++r) {
        const int64_t base = (r / inner) * n * inner + r % inner;
        const T* xr = x + base;
        T* yr = y + base;
        A m = -std::numeric_limits<A>::infinity();
        int64_t argmax = 0;
        for (int64_t j = 0; j < n; ++j) {
          const A v = loadAs<A>(xr[j * inner]);
          if (v > m) {
            m = v;
            argmax = j;
          }
        }
        if (op == RowOp::kHardmax) {
          for (int64_t j = 0; j < n; ++j) yr[j * inner] = storeAs<T>(A(j == argmax ? 1 : 0));
          continue;
        }
        A s = 0;
        for (int64_t j = 0; j < n; ++j) s += std::exp(loadAs<A>(xr[j * inner]) - m);
        if (op == RowOp::kLogSoftmax) {
          const A ls = std::log(s);
          for (int64_t j = 0; j < n; ++j) yr[j * inner] = storeAs<T>(loadAs<A>(xr[j * inner]) - m - ls);
        } else {
          for (int64_t j = 0; j < n; ++j) yr[j * inner] = storeAs<T>(std::exp(loadAs<A>(xr[j * inner]) - m) / s);
        }
      }
    });
  }

  std::string who_;
  RowOp op_;
  bool coerce_2d_;
  int64_t axis_;
  int64_t outer_ = 1, n_ = 1, inner_ = 1;
};

}  // namespace

Result<std::unique_ptr<Kernel>> createSoftmax(const ir::Node& node) {
  return std::unique_ptr<Kernel>(std::make_unique<SoftmaxKernel>(node, RowOp::kSoftmax));
}

Result<std::unique_ptr<Kernel>> createLogSoftmax(const ir::Node& node) {
  return std::unique_ptr<Kernel>(std::make_unique<SoftmaxKernel>(node, RowOp::kLogSoftmax));
}

Result<std::unique_ptr<Kernel>> createHardmax(const ir::Node& node) {
  return std::unique_ptr<Kernel>(std::make_unique<SoftmaxKernel>(node, RowOp::kHardmax));
}

}  // namespace qrt::reference
