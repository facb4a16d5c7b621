// Reference MeanVarianceNormalization: over `axes` (default [0, 2, 3]),
//   y = (x - E[x]) / (sqrt(E[x^2] - E[x]^2) + 1e-9)
// exactly as the op's ONNX function body computes it (variance from the two means, epsilon added
// to the standard deviation). Computed in float (double for fp64).
#include <algorithm>
#include <cmath>

#include "backends/reference/reduce_family.h"
#include "core/threadpool.h"
#include "ops/reduce_axes.h"

namespace qrt::reference {

namespace {

class MvnKernel final : public Kernel {
 public:
  explicit MvnKernel(const ir::Node& node) : who_(node.describe()), axes_(node.attrInts("axes", {0, 2, 3})) {}

  Status reshape(const std::vector<TensorView>& inputs, const std::vector<TensorView>&) override {
    const Dims& in = inputs[0].dims;
    QRT_ASSIGN_OR_RETURN(std::vector<bool> mask,
                         reducedAxesMask(who_, static_cast<int64_t>(in.size()), axes_, false));
    plan_ = makeReducePlan(in, mask);
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
    const ReducePlan& p = plan_;
    parallelFor(p.n_out, std::max<int64_t>(1, 4096 / std::max<int64_t>(1, p.n_red)), [&](int64_t b, int64_t e) {
      for (int64_t o = b; o < e; ++o) {
        const int64_t base = offsetOf(o, p.kept_dims, p.kept_strides);
        A sum = 0, sum_sq = 0;
        forEachReducedOffset(p, [&](int64_t off) {
          const A v = loadAs<A>(x[base + off]);
          sum += v;
          sum_sq += v * v;
        });
        const A n = static_cast<A>(p.n_red);
        const A mean = sum / n;
        // Rounding can take E[x^2] - E[x]^2 slightly below zero; that is a variance of 0, not NaN.
        const A std_dev = std::sqrt(std::max(A(0), sum_sq / n - mean * mean));
        const A denom = std_dev + static_cast<A>(1e-9);
        forEachReducedOffset(p, [&](int64_t off) { y[base + off] = storeAs<T>((loadAs<A>(x[base + off]) - mean) / denom); });
      }
    });
  }

  std::string who_;
  std::vector<int64_t> axes_;
  ReducePlan plan_;
};

}  // namespace

Result<std::unique_ptr<Kernel>> createMeanVarianceNorm(const ir::Node& node) {
  return std::unique_ptr<Kernel>(std::make_unique<MvnKernel>(node));
}

}  // namespace qrt::reference
