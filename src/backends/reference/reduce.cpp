// Reference kernels of the reduce family: the ten Reduce* ops here; Softmax, LogSoftmax and
// Hardmax in softmax.cpp, ArgMax/ArgMin in arg_max.cpp, LayerNormalization in layer_norm.cpp,
// MeanVarianceNormalization in mvn.cpp. This file holds the family's table.
//
// A reduction walks, for each output element, its reduced elements (see ReducePlan) in
// row-major order and accumulates in AccType<T> (float for fp32/fp16/bf16, double for fp64,
// 64-bit integers for integer types).
#include <algorithm>
#include <cmath>
#include <limits>

#include "backends/reference/kernel_table.h"
#include "backends/reference/reduce_family.h"
#include "core/threadpool.h"
#include "ops/reduce_axes.h"

namespace qrt::reference {

ReducePlan makeReducePlan(const Dims& in, const std::vector<bool>& reduced) {
  ReducePlan p;
  const std::vector<int64_t> strides = stridesOf(in);
  int last_kind = -1;  // kind of the previous group: 0 kept, 1 reduced
  for (size_t i = 0; i < in.size(); ++i) {
    if (in[i] == 1) continue;  // contributes nothing either way
    const int kind = reduced[i] ? 1 : 0;
    std::vector<int64_t>& dims = kind ? p.red_dims : p.kept_dims;
    std::vector<int64_t>& str = kind ? p.red_strides : p.kept_strides;
    if (kind == last_kind) {  // row-major: merging with the previous axis of the same kind is exact
      dims.back() *= in[i];
      str.back() = strides[i];
    } else {
      dims.push_back(in[i]);
      str.push_back(strides[i]);
    }
    (kind ? p.n_red : p.n_out) *= in[i];
    last_kind = kind;
  }
  return p;
}

namespace {

enum class ReduceKind { kSum, kMean, kMax, kMin, kProd, kL1, kL2, kSumSquare, kLogSum, kLogSumExp };

// Calls fn(element) for every reduced element of the output whose first input element is x.
template <typename T, typename Fn>
void forEachReduced(const ReducePlan& p, const T* x, Fn&& fn) {
  forEachReducedOffset(p, [&](int64_t off) { fn(x[off]); });
}

// log(sum(exp(x))), shifted by the maximum so large inputs do not overflow (the shift is skipped
// when the maximum is infinite or NaN: the unshifted sum then gives the right inf/nan).
template <typename T, typename F>
F logSumExp(const ReducePlan& p, const T* x) {
  F m = -std::numeric_limits<F>::infinity();
  forEachReduced(p, x, [&](T t) {
    F v = static_cast<F>(toDouble(t));
    if (v > m || v != v) m = v;
  });
  const F shift = std::isfinite(m) ? m : F(0);
  F s = 0;
  forEachReduced(p, x, [&](T t) { s += std::exp(static_cast<F>(toDouble(t)) - shift); });
  return shift + std::log(s);
}

template <typename T>
T reduceOne(ReduceKind kind, const ReducePlan& p, const T* x) {
  using A = AccType<T>;
  // Real-valued results (L2, LogSum, LogSumExp) of integer inputs are computed in double.
  using F = std::conditional_t<kIsFloat<T>, A, double>;
  A s = 0;
  switch (kind) {
    case ReduceKind::kSum:
      forEachReduced(p, x, [&](T v) { s += loadAs<A>(v); });
      return storeAs<T>(s);
    case ReduceKind::kMean:
      forEachReduced(p, x, [&](T v) { s += loadAs<A>(v); });
      if constexpr (!kIsFloat<T>) {
        if (p.n_red == 0) return T{};  // integer 0/0
      }
      return storeAs<T>(s / static_cast<A>(p.n_red));
    case ReduceKind::kSumSquare:
      forEachReduced(p, x, [&](T v) { s += loadAs<A>(v) * loadAs<A>(v); });
      return storeAs<T>(s);
    case ReduceKind::kL1:
      forEachReduced(p, x, [&](T v) {
        A a = loadAs<A>(v);
        if constexpr (std::is_unsigned_v<A>) s += a;
        else s += a < A(0) ? -a : a;
      });
      return storeAs<T>(s);
    case ReduceKind::kL2:
      forEachReduced(p, x, [&](T v) { s += loadAs<A>(v) * loadAs<A>(v); });
      return storeAs<T>(std::sqrt(static_cast<F>(s)));
    case ReduceKind::kLogSum:
      forEachReduced(p, x, [&](T v) { s += loadAs<A>(v); });
      return storeAs<T>(std::log(static_cast<F>(s)));
    case ReduceKind::kLogSumExp:
      return storeAs<T>(logSumExp<T, F>(p, x));
    case ReduceKind::kProd:
      s = 1;
      forEachReduced(p, x, [&](T v) { s *= loadAs<A>(v); });
      return storeAs<T>(s);
    case ReduceKind::kMax:
    case ReduceKind::kMin: {
      // The identity of an empty reduction: -inf/+inf for floats, the type's limits for integers.
      const bool is_max = kind == ReduceKind::kMax;
      A m;
      if constexpr (kIsFloat<T>) m = is_max ? -std::numeric_limits<A>::infinity() : std::numeric_limits<A>::infinity();
      else m = static_cast<A>(is_max ? std::numeric_limits<T>::lowest() : std::numeric_limits<T>::max());
      forEachReduced(p, x, [&](T t) {
        A v = loadAs<A>(t);
        if ((is_max ? v > m : v < m) || v != v) m = v;  // NaN propagates
      });
      return storeAs<T>(m);
    }
  }
  return T{};
}

class ReduceKernel final : public Kernel {
 public:
  ReduceKernel(const ir::Node& node, ReduceKind kind)
      : who_(node.describe()),
        kind_(kind),
        axes_attr_(node.attrInts("axes")),
        axes_from_input_(reduceAxesFromInput(node)),
        noop_(node.attrInt("noop_with_empty_axes", 0) != 0) {}

  Status reshape(const std::vector<TensorView>& inputs, const std::vector<TensorView>& outputs) override {
    std::vector<int64_t> axes = axes_attr_;
    if (axes_from_input_) {
      const TensorView& a = inputs[1];
      if (a.numel() > 0 && !a.data) return unsupported(who_, ": the reduction axes must be known before running");
      if (a.dtype != DataType::kInt64) return invalidArgument(who_, ": input 'axes' must be int64");
      axes.assign(a.as<int64_t>(), a.as<int64_t>() + a.numel());
    }
    const Dims& in = inputs[0].dims;
    QRT_ASSIGN_OR_RETURN(std::vector<bool> mask,
                         reducedAxesMask(who_, static_cast<int64_t>(in.size()), axes, noop_));
    plan_ = makeReducePlan(in, mask);
    if (plan_.n_out != outputs[0].numel())
      return internalError(who_, ": output has ", outputs[0].numel(), " elements, the reduction gives ", plan_.n_out);
    return Status::Ok();
  }

  Status run(const std::vector<TensorView>& inputs, const std::vector<TensorView>& outputs, void*) override {
    return dispatchType(inputs[0].dtype, [&](auto tag) {
      using T = decltype(tag);
      if constexpr (!std::is_same_v<T, bool>) runTyped<T>(inputs[0].as<const T>(), outputs[0].as<T>());
    });
  }

 private:
  template <typename T>
  void runTyped(const T* x, T* y) const {
    const ReducePlan& p = plan_;
    const int64_t grain = std::max<int64_t>(1, 16384 / std::max<int64_t>(1, p.n_red));
    parallelFor(p.n_out, grain, [&](int64_t b, int64_t e) {
      for (int64_t o = b; o < e; ++o) y[o] = reduceOne<T>(kind_, p, x + offsetOf(o, p.kept_dims, p.kept_strides));
    });
  }

  std::string who_;
  ReduceKind kind_;
  std::vector<int64_t> axes_attr_;
  bool axes_from_input_;
  bool noop_;
  ReducePlan plan_;
};

template <ReduceKind K>
Result<std::unique_ptr<Kernel>> createReduce(const ir::Node& node) {
  return std::unique_ptr<Kernel>(std::make_unique<ReduceKernel>(node, K));
}

const KernelEntry kReduceKernels[] = {
    {"ReduceSum", kNumericTypes, &createReduce<ReduceKind::kSum>},
    {"ReduceMean", kNumericTypes, &createReduce<ReduceKind::kMean>},
    {"ReduceMax", kNumericTypes, &createReduce<ReduceKind::kMax>},
    {"ReduceMin", kNumericTypes, &createReduce<ReduceKind::kMin>},
    {"ReduceProd", kNumericTypes, &createReduce<ReduceKind::kProd>},
    {"ReduceL1", kNumericTypes, &createReduce<ReduceKind::kL1>},
    {"ReduceL2", kNumericTypes, &createReduce<ReduceKind::kL2>},
    {"ReduceSumSquare", kNumericTypes, &createReduce<ReduceKind::kSumSquare>},
    {"ReduceLogSum", kNumericTypes, &createReduce<ReduceKind::kLogSum>},
    {"ReduceLogSumExp", kNumericTypes, &createReduce<ReduceKind::kLogSumExp>},
    {"ArgMax", kNumericTypes, &createArgMax},
    {"ArgMin", kNumericTypes, &createArgMin},
    {"Softmax", kFloatTypes, &createSoftmax},
    {"LogSoftmax", kFloatTypes, &createLogSoftmax},
    {"Hardmax", kFloatTypes, &createHardmax},
    {"LayerNormalization", kFloatTypes, &createLayerNorm},
    {"MeanVarianceNormalization", kFloatTypes, &createMeanVarianceNorm},
};

}  // namespace

std::span<const KernelEntry> reduceKernels() { return kReduceKernels; }

}  // namespace qrt::reference
