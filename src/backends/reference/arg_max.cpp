// Reference ArgMax and ArgMin: the int64 index of the largest / smallest element along `axis`
// (default 0); the first one on ties, or the last with select_last_index=1 (opset 12+).
// The input is viewed as [outer, n, inner]; keepdims only changes the output dims, not its layout.
#include <algorithm>

#include "backends/reference/reduce_family.h"
#include "core/threadpool.h"

namespace qrt::reference {

namespace {

class ArgKernel final : public Kernel {
 public:
  ArgKernel(const ir::Node& node, bool is_max)
      : who_(node.describe()),
        is_max_(is_max),
        axis_(node.attrInt("axis", 0)),
        last_(node.attrInt("select_last_index", 0) != 0) {}

  Status reshape(const std::vector<TensorView>& inputs, const std::vector<TensorView>&) override {
    const Dims& d = inputs[0].dims;
    const int64_t rank = static_cast<int64_t>(d.size());
    if (axis_ < -rank || axis_ >= rank) return invalidArgument(who_, ": axis ", axis_, " is out of range for rank ", rank);
    const int64_t axis = axis_ < 0 ? axis_ + rank : axis_;
    if (d[axis] == 0) return invalidArgument(who_, ": cannot take the index of an extreme along an empty axis");
    outer_ = n_ = inner_ = 1;
    for (int64_t i = 0; i < rank; ++i) (i < axis ? outer_ : i == axis ? n_ : inner_) *= d[i];
    return Status::Ok();
  }

  Status run(const std::vector<TensorView>& inputs, const std::vector<TensorView>& outputs, void*) override {
    return dispatchType(inputs[0].dtype, [&](auto tag) {
      using T = decltype(tag);
      if constexpr (!std::is_same_v<T, bool>) runTyped<T>(inputs[0].as<const T>(), outputs[0].as<int64_t>());
    });
  }

 private:
  template <typename T>
  void runTyped(const T* x, int64_t* y) const {
    using A = AccType<T>;
    const int64_t n = n_, inner = inner_;
    const bool is_max = is_max_, last = last_;
    parallelFor(outer_ * inner, std::max<int64_t>(1, 4096 / n), [&](int64_t b, int64_t e) {
      for (int64_t r = b; r < e; ++r) {
        const T* xr = x + (r / inner) * n * inner + r % inner;
        A best = loadAs<A>(xr[0]);
        int64_t best_j = 0;
        for (int64_t j = 1; j < n; ++j) {
          const A v = loadAs<A>(xr[j * inner]);
          const bool better = is_max ? (v > best || (last && v == best)) : (v < best || (last && v == best));
          if (better) {
            best = v;
            best_j = j;
          }
        }
        y[r] = best_j;
      }
    });
  }

  std::string who_;
  bool is_max_;
  int64_t axis_;
  bool last_;
  int64_t outer_ = 1, n_ = 1, inner_ = 1;
};

}  // namespace

Result<std::unique_ptr<Kernel>> createArgMax(const ir::Node& node) {
  return std::unique_ptr<Kernel>(std::make_unique<ArgKernel>(node, true));
}

Result<std::unique_ptr<Kernel>> createArgMin(const ir::Node& node) {
  return std::unique_ptr<Kernel>(std::make_unique<ArgKernel>(node, false));
}

}  // namespace qrt::reference
