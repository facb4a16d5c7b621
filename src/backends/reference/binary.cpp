// Reference kernels of the multi-input elementwise ops with numpy broadcasting: arithmetic,
// comparison, logical, Where and the variadic Min/Max/Sum/Mean. Each op is a functor over the
// compute types (float for fp32/fp16/bf16, double for fp64, the integer type itself for ints);
// integer arithmetic wraps around instead of overflowing, and integer division by zero gives 0
// instead of trapping.
#include <cmath>
#include <cstring>

#include "backends/reference/elementwise_kernels.h"
#include "backends/reference/elementwise_util.h"

namespace qrt::reference {

namespace {

// z = op(a, b) with a, b broadcast to z's shape.
template <typename TA, typename TB, typename TO, typename Op>
class BinaryKernel final : public Kernel {
 public:
  explicit BinaryKernel(Op op) : op_(op) {}

  Status reshape(const std::vector<TensorView>& inputs, const std::vector<TensorView>& outputs) override {
    return plan_.init(outputs[0].dims, {&inputs[0].dims, &inputs[1].dims});
  }

  Status run(const std::vector<TensorView>& inputs, const std::vector<TensorView>& outputs, void*) override {
    const TA* a = inputs[0].as<const TA>();
    const TB* b = inputs[1].as<const TB>();
    TO* z = outputs[0].as<TO>();
    if (plan_.flat()) {
      parallelRange(plan_.numel(), [&](int64_t lo, int64_t hi) {
        for (int64_t i = lo; i < hi; ++i) z[i] = store<TO>(op_(load(a[i]), load(b[i])));
      });
    } else {
      parallelRange(plan_.numel(), [&](int64_t lo, int64_t hi) {
        plan_.forRange(lo, hi, [&](int64_t i, const int64_t* off) {
          z[i] = store<TO>(op_(load(a[off[0]]), load(b[off[1]])));
        });
      });
    }
    return Status::Ok();
  }

 private:
  Op op_;
  BroadcastPlan<2> plan_;
};

// Both inputs of the node's input-0 dtype (in kTypes); the output has that dtype too.
template <Types kTypes, typename Op>
KernelResult makeArithmetic(const ir::Node& node, Op op) {
  std::unique_ptr<Kernel> k;
  Status st = dispatchTypes<kTypes>(node.inputs[0]->dtype, [&](auto tag) {
    using T = decltype(tag);
    k = std::make_unique<BinaryKernel<T, T, T, Op>>(op);
  });
  if (!st.ok()) return st.withContext(node.describe());
  return k;
}

// Both inputs of the node's input-0 dtype (in kTypes); the output is bool.
template <Types kTypes, typename Op>
KernelResult makeCompare(const ir::Node& node, Op op) {
  std::unique_ptr<Kernel> k;
  Status st = dispatchTypes<kTypes>(node.inputs[0]->dtype, [&](auto tag) {
    using T = decltype(tag);
    k = std::make_unique<BinaryKernel<T, T, bool, Op>>(op);
  });
  if (!st.ok()) return st.withContext(node.describe());
  return k;
}

// ---- arithmetic ----

struct Add {
  template <typename C> C operator()(C a, C b) const {
    if constexpr (kIsInt<C>) return wrapAdd(a, b);
    else return a + b;
  }
};
struct Sub {
  template <typename C> C operator()(C a, C b) const {
    if constexpr (kIsInt<C>) return wrapSub(a, b);
    else return a - b;
  }
};
struct Mul {
  template <typename C> C operator()(C a, C b) const {
    if constexpr (kIsInt<C>) return wrapMul(a, b);
    else return a * b;
  }
};
// Integer division truncates toward zero (C semantics, as ONNX Runtime); x / 0 gives 0 and
// INT_MIN / -1 wraps, where C++ would have undefined behaviour.
struct Div {
  template <typename C> C operator()(C a, C b) const {
    if constexpr (kIsInt<C>) {
      if (b == 0) return C(0);
      if constexpr (kIsSigned<C>) {
        if (b == C(-1)) return wrapNeg(a);
      }
      return static_cast<C>(a / b);
    } else {
      return a / b;
    }
  }
};
// fmod = 0: the remainder takes the divisor's sign (Python %); fmod = 1: the dividend's (C fmod).
// Floats always use fmod (inference rejects fmod = 0 for them). x mod 0 gives 0 for ints.
struct Mod {
  bool fmod;
  template <typename C> C operator()(C a, C b) const {
    if constexpr (!kIsInt<C>) {
      return std::fmod(a, b);
    } else {
      if (b == 0) return C(0);
      if constexpr (kIsSigned<C>) {
        if (b == C(-1)) return C(0);  // INT_MIN % -1 is undefined in C++
        C r = static_cast<C>(a % b);
        if (!fmod && r != 0 && ((r < 0) != (b < 0))) r = static_cast<C>(r + b);
        return r;
      } else {
        return static_cast<C>(a % b);
      }
    }
  }
};
struct PRelu {
  template <typename C> C operator()(C x, C slope) const {
    if constexpr (kIsUnsigned<C>) return x;
    else if constexpr (kIsSigned<C>) return x < 0 ? wrapMul(x, slope) : x;
    else return x < C(0) ? slope * x : x;
  }
};
// Shifts by the type's width or more give 0 (C++ leaves them undefined).
struct BitShift {
  bool left;
  template <typename C> C operator()(C a, C b) const {
    if (static_cast<uint64_t>(b) >= sizeof(C) * 8) return C(0);
    return left ? static_cast<C>(static_cast<WrapType<C>>(a) << b) : static_cast<C>(a >> b);
  }
};

// ---- Pow: the exponent may have another dtype; the result has the base's ----

// Integer power by squaring, wrapping on overflow. A negative exponent has an integer result
// only for bases 1 and -1; other bases give 0 (the truncated reciprocal; numpy raises instead).
template <typename A, typename B>
A intPow(A base, B exp) {
  if constexpr (kIsSigned<B>) {
    if (exp < 0) {
      if (base == A(1)) return A(1);
      if constexpr (kIsSigned<A>) {
        if (base == A(-1)) return exp % 2 == 0 ? A(1) : A(-1);
      }
      return A(0);
    }
  }
  A result = 1;
  auto e = static_cast<std::make_unsigned_t<B>>(exp);
  while (e != 0) {
    if (e & 1u) result = wrapMul(result, base);
    base = wrapMul(base, base);
    e >>= 1;
  }
  return result;
}

// As numpy: float32 ** float32 computes in float; mixed with ints or fp64 it computes in double
// and rounds to the base's type; int ** float truncates the double result toward zero.
struct Pow {
  template <typename A, typename B> A operator()(A a, B b) const {
    if constexpr (kIsInt<A> && kIsInt<B>) {
      return intPow(a, b);
    } else if constexpr (kIsInt<A>) {
      return floatToInt<A>(std::pow(static_cast<double>(a), static_cast<double>(b)));
    } else if constexpr (std::is_same_v<A, float> && std::is_same_v<B, float>) {
      return std::pow(a, b);
    } else {
      return static_cast<A>(std::pow(static_cast<double>(a), static_cast<double>(b)));
    }
  }
};

// Pow's base types (opset 15): float types, int32, int64.
template <typename Fn>
Status dispatchPowBase(DataType t, Fn&& fn) {
  if (t == DataType::kInt32) {
    fn(int32_t{});
    return Status::Ok();
  }
  if (t == DataType::kInt64) {
    fn(int64_t{});
    return Status::Ok();
  }
  return dispatchFloat(t, fn);
}

// ---- comparison and logic ----

struct Equal { template <typename C> bool operator()(C a, C b) const { return a == b; } };
struct Less { template <typename C> bool operator()(C a, C b) const { return a < b; } };
struct LessOrEqual { template <typename C> bool operator()(C a, C b) const { return a <= b; } };
struct Greater { template <typename C> bool operator()(C a, C b) const { return a > b; } };
struct GreaterOrEqual { template <typename C> bool operator()(C a, C b) const { return a >= b; } };
struct And { bool operator()(bool a, bool b) const { return a && b; } };
struct Or { bool operator()(bool a, bool b) const { return a || b; } };
struct Xor { bool operator()(bool a, bool b) const { return a != b; } };

// ---- Where ----

template <typename T>
class WhereKernel final : public Kernel {
 public:
  Status reshape(const std::vector<TensorView>& inputs, const std::vector<TensorView>& outputs) override {
    return plan_.init(outputs[0].dims, {&inputs[0].dims, &inputs[1].dims, &inputs[2].dims});
  }

  Status run(const std::vector<TensorView>& inputs, const std::vector<TensorView>& outputs, void*) override {
    const bool* c = inputs[0].as<const bool>();
    const T* x = inputs[1].as<const T>();
    const T* y = inputs[2].as<const T>();
    T* z = outputs[0].as<T>();
    if (plan_.flat()) {
      parallelRange(plan_.numel(), [&](int64_t lo, int64_t hi) {
        for (int64_t i = lo; i < hi; ++i) z[i] = c[i] ? x[i] : y[i];
      });
    } else {
      parallelRange(plan_.numel(), [&](int64_t lo, int64_t hi) {
        plan_.forRange(lo, hi, [&](int64_t i, const int64_t* off) { z[i] = c[off[0]] ? x[off[1]] : y[off[2]]; });
      });
    }
    return Status::Ok();
  }

 private:
  BroadcastPlan<3> plan_;
};

// ---- variadic: Min, Max, Sum, Mean ----

// NaN propagates, as numpy's minimum/maximum.
struct Min {
  template <typename C> C operator()(C a, C b) const {
    if constexpr (!kIsInt<C>) {
      if (std::isnan(a) || std::isnan(b)) return std::isnan(a) ? a : b;
    }
    return b < a ? b : a;
  }
};
struct Max {
  template <typename C> C operator()(C a, C b) const {
    if constexpr (!kIsInt<C>) {
      if (std::isnan(a) || std::isnan(b)) return std::isnan(a) ? a : b;
    }
    return a < b ? b : a;
  }
};

// y = op(...op(op(x0, x1), x2)..., xn-1), all broadcast to y's shape, folded left to right in y
// itself (rounded to T after each step); Mean then divides by n.
template <typename T, typename Op>
class VariadicKernel final : public Kernel {
 public:
  VariadicKernel(Op op, bool mean) : op_(op), mean_(mean) {}

  Status reshape(const std::vector<TensorView>& inputs, const std::vector<TensorView>& outputs) override {
    const Dims& out = outputs[0].dims;
    QRT_RETURN_IF_ERROR(first_.init(out, {&inputs[0].dims}));
    rest_.resize(inputs.size() - 1);
    for (size_t k = 1; k < inputs.size(); ++k) QRT_RETURN_IF_ERROR(rest_[k - 1].init(out, {&out, &inputs[k].dims}));
    return Status::Ok();
  }

  Status run(const std::vector<TensorView>& inputs, const std::vector<TensorView>& outputs, void*) override {
    T* y = outputs[0].as<T>();
    const T* x0 = inputs[0].as<const T>();
    parallelRange(first_.numel(), [&](int64_t lo, int64_t hi) {
      first_.forRange(lo, hi, [&](int64_t i, const int64_t* off) { y[i] = x0[off[0]]; });
    });
    for (size_t k = 1; k < inputs.size(); ++k) {
      const T* xk = inputs[k].as<const T>();
      const BroadcastPlan<2>& plan = rest_[k - 1];
      parallelRange(plan.numel(), [&](int64_t lo, int64_t hi) {
        plan.forRange(lo, hi, [&](int64_t i, const int64_t* off) {
          y[i] = store<T>(op_(load(y[off[0]]), load(xk[off[1]])));
        });
      });
    }
    if constexpr (!kIsInt<T>) {
      if (mean_) {
        const auto n = static_cast<ComputeType<T>>(inputs.size());
        parallelRange(first_.numel(), [&](int64_t lo, int64_t hi) {
          for (int64_t i = lo; i < hi; ++i) y[i] = store<T>(load(y[i]) / n);
        });
      }
    }
    return Status::Ok();
  }

 private:
  Op op_;
  bool mean_;
  BroadcastPlan<1> first_;
  std::vector<BroadcastPlan<2>> rest_;
};

template <Types kTypes, typename Op>
KernelResult makeVariadic(const ir::Node& node, Op op, bool mean) {
  std::unique_ptr<Kernel> k;
  Status st = dispatchTypes<kTypes>(node.inputs[0]->dtype, [&](auto tag) {
    k = std::make_unique<VariadicKernel<decltype(tag), Op>>(op, mean);
  });
  if (!st.ok()) return st.withContext(node.describe());
  return k;
}

}  // namespace

KernelResult createAdd(const ir::Node& n) { return makeArithmetic<Types::kNumeric>(n, Add{}); }
KernelResult createSub(const ir::Node& n) { return makeArithmetic<Types::kNumeric>(n, Sub{}); }
KernelResult createMul(const ir::Node& n) { return makeArithmetic<Types::kNumeric>(n, Mul{}); }
KernelResult createDiv(const ir::Node& n) { return makeArithmetic<Types::kNumeric>(n, Div{}); }
KernelResult createMod(const ir::Node& n) { return makeArithmetic<Types::kNumeric>(n, Mod{n.attrInt("fmod", 0) != 0}); }
KernelResult createPRelu(const ir::Node& n) { return makeArithmetic<Types::kNumeric>(n, PRelu{}); }
KernelResult createBitShift(const ir::Node& n) {
  return makeArithmetic<Types::kUnsigned>(n, BitShift{n.attrString("direction", "") == "LEFT"});
}
KernelResult createAnd(const ir::Node& n) { return makeArithmetic<Types::kBool>(n, And{}); }
KernelResult createOr(const ir::Node& n) { return makeArithmetic<Types::kBool>(n, Or{}); }
KernelResult createXor(const ir::Node& n) { return makeArithmetic<Types::kBool>(n, Xor{}); }
KernelResult createEqual(const ir::Node& n) { return makeCompare<Types::kAll>(n, Equal{}); }
KernelResult createLess(const ir::Node& n) { return makeCompare<Types::kNumeric>(n, Less{}); }
KernelResult createLessOrEqual(const ir::Node& n) { return makeCompare<Types::kNumeric>(n, LessOrEqual{}); }
KernelResult createGreater(const ir::Node& n) { return makeCompare<Types::kNumeric>(n, Greater{}); }
KernelResult createGreaterOrEqual(const ir::Node& n) { return makeCompare<Types::kNumeric>(n, GreaterOrEqual{}); }
KernelResult createMin(const ir::Node& n) { return makeVariadic<Types::kNumeric>(n, Min{}, false); }
KernelResult createMax(const ir::Node& n) { return makeVariadic<Types::kNumeric>(n, Max{}, false); }
KernelResult createSum(const ir::Node& n) { return makeVariadic<Types::kFloat>(n, Add{}, false); }
KernelResult createMean(const ir::Node& n) { return makeVariadic<Types::kFloat>(n, Add{}, true); }

KernelResult createPow(const ir::Node& node) {
  std::unique_ptr<Kernel> k;
  Status inner = Status::Ok();
  Status outer = dispatchPowBase(node.inputs[0]->dtype, [&](auto base_tag) {
    inner = dispatchNumeric(node.inputs[1]->dtype, [&](auto exp_tag) {
      using A = decltype(base_tag);
      k = std::make_unique<BinaryKernel<A, decltype(exp_tag), A, Pow>>(Pow{});
    });
  });
  if (!outer.ok()) return outer.withContext(node.describe());
  if (!inner.ok()) return inner.withContext(node.describe());
  return k;
}

KernelResult createWhere(const ir::Node& node) {
  std::unique_ptr<Kernel> k;
  Status st = dispatchAll(node.inputs[1]->dtype, [&](auto tag) { k = std::make_unique<WhereKernel<decltype(tag)>>(); });
  if (!st.ok()) return st.withContext(node.describe());
  return k;
}

}  // namespace qrt::reference
