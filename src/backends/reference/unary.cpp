// Reference kernels of the one-input elementwise ops: activations, math functions, Not, IsNaN,
// IsInf and Clip. Each op is a small functor over the compute type (float for fp32/fp16/bf16,
// double for fp64, the integer type itself for ints); one kernel template applies it.
#include <cmath>
#include <limits>
#include <numbers>

#include "backends/reference/elementwise_kernels.h"
#include "backends/reference/elementwise_util.h"

namespace qrt::reference {

namespace {

// y[i] = op(x[i]), computed in the input's compute type and stored as TOut.
template <typename TIn, typename TOut, typename Op>
class UnaryKernel final : public Kernel {
 public:
  explicit UnaryKernel(Op op) : op_(op) {}

  Status run(const std::vector<TensorView>& inputs, const std::vector<TensorView>& outputs, void*) override {
    const TIn* x = inputs[0].as<const TIn>();
    TOut* y = outputs[0].as<TOut>();
    parallelRange(outputs[0].numel(), [&](int64_t b, int64_t e) {
      int64_t i = b;
      for (; i + kChunk <= e; i += kChunk) chunk(x + i, y + i);
      for (; i < e; ++i) y[i] = store<TOut>(op_(load(x[i])));
    });
    return Status::Ok();
  }

 private:
  // GCC's -O2 vectorizes (and so makes branch-free) only loops of a known trip count over
  // unaliased pointers: the same operation per element, without a mispredicted branch per value
  // of random sign (Relu was 13% of a ResNet-50 calibration as a scalar loop with a branch). x and
  // y are either disjoint or the same buffer, where an element-by-element map stays correct.
  static constexpr int64_t kChunk = 1024;
  void chunk(const TIn* __restrict x, TOut* __restrict y) const {
    for (int64_t k = 0; k < kChunk; ++k) y[k] = store<TOut>(op_(load(x[k])));
  }

  Op op_;
};

// A same-dtype unary kernel for the input's dtype, which must be in kTypes.
template <Types kTypes, typename Op>
KernelResult makeUnary(const ir::Node& node, Op op) {
  std::unique_ptr<Kernel> k;
  Status st = dispatchTypes<kTypes>(node.inputs[0]->dtype, [&](auto tag) {
    using T = decltype(tag);
    k = std::make_unique<UnaryKernel<T, T, Op>>(op);
  });
  if (!st.ok()) return st.withContext(node.describe());
  return k;
}

// A float-input, bool-output predicate kernel (IsNaN, IsInf).
template <typename Op>
KernelResult makePredicate(const ir::Node& node, Op op) {
  std::unique_ptr<Kernel> k;
  Status st = dispatchFloat(node.inputs[0]->dtype, [&](auto tag) {
    using T = decltype(tag);
    k = std::make_unique<UnaryKernel<T, bool, Op>>(op);
  });
  if (!st.ok()) return st.withContext(node.describe());
  return k;
}

// ---- activations (float compute types only unless noted) ----

struct Relu {  // also ints (opset 14); NaN passes through as numpy's maximum does
  template <typename C> C operator()(C x) const {
    if constexpr (kIsUnsigned<C>) return x;
    else return x < C(0) ? C(0) : x;
  }
};
struct LeakyRelu {
  float alpha;
  template <typename C> C operator()(C x) const { return x < C(0) ? static_cast<C>(alpha) * x : x; }
};
struct Sigmoid {
  template <typename C> C operator()(C x) const { return C(1) / (C(1) + std::exp(-x)); }
};
struct HardSigmoid {
  float alpha, beta;
  template <typename C> C operator()(C x) const {
    return std::max(C(0), std::min(C(1), static_cast<C>(alpha) * x + static_cast<C>(beta)));
  }
};
struct HardSwish {  // x * HardSigmoid(x) with alpha = 1/6, beta = 0.5
  template <typename C> C operator()(C x) const {
    return x * std::max(C(0), std::min(C(1), x / C(6) + C(0.5)));
  }
};
struct Tanh {
  template <typename C> C operator()(C x) const { return std::tanh(x); }
};
struct Erf {
  template <typename C> C operator()(C x) const { return std::erf(x); }
};
struct Gelu {
  bool tanh_approx;
  template <typename C> C operator()(C x) const {
    if (tanh_approx) {
      const C k = static_cast<C>(std::sqrt(2.0 / std::numbers::pi));
      return C(0.5) * x * (C(1) + std::tanh(k * (x + C(0.044715) * x * x * x)));
    }
    return C(0.5) * x * (C(1) + std::erf(x * static_cast<C>(std::numbers::sqrt2 / 2)));
  }
};
struct Elu {
  float alpha;
  template <typename C> C operator()(C x) const { return x > C(0) ? x : static_cast<C>(alpha) * std::expm1(x); }
};
struct Selu {
  float alpha, gamma;
  template <typename C> C operator()(C x) const {
    return static_cast<C>(gamma) * (x > C(0) ? x : static_cast<C>(alpha) * std::expm1(x));
  }
};
struct Celu {
  float alpha;
  template <typename C> C operator()(C x) const {
    C a = static_cast<C>(alpha);
    return std::max(C(0), x) + std::min(C(0), a * std::expm1(x / a));
  }
};
struct ThresholdedRelu {
  float alpha;
  template <typename C> C operator()(C x) const { return x > static_cast<C>(alpha) ? x : C(0); }
};
struct Softplus {  // log(1 + exp(x)) without overflow for large x
  template <typename C> C operator()(C x) const {
    return x > C(0) ? x + std::log1p(std::exp(-x)) : std::log1p(std::exp(x));
  }
};
struct Softsign {
  template <typename C> C operator()(C x) const { return x / (C(1) + std::fabs(x)); }
};
struct Shrink {
  float lambd, bias;
  template <typename C> C operator()(C x) const {
    C l = static_cast<C>(lambd), b = static_cast<C>(bias);
    return x < -l ? x + b : x > l ? x - b : C(0);
  }
};

// ---- math ----

struct Sqrt { template <typename C> C operator()(C x) const { return std::sqrt(x); } };
struct Exp { template <typename C> C operator()(C x) const { return std::exp(x); } };
struct Log { template <typename C> C operator()(C x) const { return std::log(x); } };
struct Reciprocal { template <typename C> C operator()(C x) const { return C(1) / x; } };
struct Floor { template <typename C> C operator()(C x) const { return std::floor(x); } };
struct Ceil { template <typename C> C operator()(C x) const { return std::ceil(x); } };
// Halves round to even (the default rounding mode), as ONNX Round specifies.
struct Round { template <typename C> C operator()(C x) const { return std::nearbyint(x); } };
struct Sin { template <typename C> C operator()(C x) const { return std::sin(x); } };
struct Cos { template <typename C> C operator()(C x) const { return std::cos(x); } };
struct Tan { template <typename C> C operator()(C x) const { return std::tan(x); } };
struct Asin { template <typename C> C operator()(C x) const { return std::asin(x); } };
struct Acos { template <typename C> C operator()(C x) const { return std::acos(x); } };
struct Atan { template <typename C> C operator()(C x) const { return std::atan(x); } };
struct Sinh { template <typename C> C operator()(C x) const { return std::sinh(x); } };
struct Cosh { template <typename C> C operator()(C x) const { return std::cosh(x); } };
struct Asinh { template <typename C> C operator()(C x) const { return std::asinh(x); } };
struct Acosh { template <typename C> C operator()(C x) const { return std::acosh(x); } };
struct Atanh { template <typename C> C operator()(C x) const { return std::atanh(x); } };

// ---- numeric (floats and ints; integer overflow wraps) ----

struct Neg {
  template <typename C> C operator()(C x) const {
    if constexpr (kIsInt<C>) return wrapNeg(x);
    else return -x;
  }
};
struct Abs {
  template <typename C> C operator()(C x) const {
    if constexpr (kIsUnsigned<C>) return x;
    else if constexpr (kIsSigned<C>) return x < 0 ? wrapNeg(x) : x;
    else return std::fabs(x);
  }
};
struct Sign {
  template <typename C> C operator()(C x) const {
    if constexpr (kIsUnsigned<C>) {
      return x > 0 ? C(1) : C(0);
    } else {
      if constexpr (!kIsInt<C>) {
        if (std::isnan(x)) return x;
      }
      return static_cast<C>((C(0) < x) - (x < C(0)));
    }
  }
};

// ---- logical and predicates ----

struct Not { bool operator()(bool x) const { return !x; } };
struct IsNaN {
  template <typename C> bool operator()(C x) const { return std::isnan(x); }
};
struct IsInf {
  bool negative, positive;
  template <typename C> bool operator()(C x) const {
    return std::isinf(x) && (x > C(0) ? positive : negative);
  }
};

// ---- Clip ----

// Clip: bounds come from attributes (opset < 11) or from optional scalar inputs 1 and 2, read at
// run time since they may be computed. An absent bound does not clip.
template <typename T>
class ClipKernel final : public Kernel {
 public:
  using C = ComputeType<T>;
  ClipKernel(bool bounds_from_inputs, C lo, C hi) : from_inputs_(bounds_from_inputs), lo_(lo), hi_(hi) {}

  Status run(const std::vector<TensorView>& inputs, const std::vector<TensorView>& outputs, void*) override {
    C lo = lo_, hi = hi_;
    if (from_inputs_) {
      if (inputs.size() > 1 && inputs[1].data && inputs[1].numel() > 0) lo = load(inputs[1].as<const T>()[0]);
      if (inputs.size() > 2 && inputs[2].data && inputs[2].numel() > 0) hi = load(inputs[2].as<const T>()[0]);
    }
    const T* x = inputs[0].as<const T>();
    T* y = outputs[0].as<T>();
    // min(max(x, lo), hi): with lo > hi every element becomes hi, as numpy.clip; NaN stays NaN.
    parallelRange(outputs[0].numel(), [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) {
        C v = load(x[i]);
        if (v < lo) v = lo;
        if (v > hi) v = hi;
        y[i] = store<T>(v);
      }
    });
    return Status::Ok();
  }

 private:
  bool from_inputs_;
  C lo_, hi_;
};

template <typename C>
C noLowerBound() {
  if constexpr (std::numeric_limits<C>::has_infinity) return -std::numeric_limits<C>::infinity();
  else return std::numeric_limits<C>::lowest();
}
template <typename C>
C noUpperBound() {
  if constexpr (std::numeric_limits<C>::has_infinity) return std::numeric_limits<C>::infinity();
  else return std::numeric_limits<C>::max();
}

}  // namespace

KernelResult createRelu(const ir::Node& n) { return makeUnary<Types::kNumeric>(n, Relu{}); }
KernelResult createLeakyRelu(const ir::Node& n) { return makeUnary<Types::kFloat>(n, LeakyRelu{n.attrFloat("alpha", 0.01f)}); }
KernelResult createSigmoid(const ir::Node& n) { return makeUnary<Types::kFloat>(n, Sigmoid{}); }
KernelResult createHardSigmoid(const ir::Node& n) {
  return makeUnary<Types::kFloat>(n, HardSigmoid{n.attrFloat("alpha", 0.2f), n.attrFloat("beta", 0.5f)});
}
KernelResult createHardSwish(const ir::Node& n) { return makeUnary<Types::kFloat>(n, HardSwish{}); }
KernelResult createTanh(const ir::Node& n) { return makeUnary<Types::kFloat>(n, Tanh{}); }
KernelResult createErf(const ir::Node& n) { return makeUnary<Types::kFloat>(n, Erf{}); }
KernelResult createGelu(const ir::Node& n) {
  return makeUnary<Types::kFloat>(n, Gelu{n.attrString("approximate", "none") == "tanh"});
}
KernelResult createElu(const ir::Node& n) { return makeUnary<Types::kFloat>(n, Elu{n.attrFloat("alpha", 1.0f)}); }
KernelResult createSelu(const ir::Node& n) {
  return makeUnary<Types::kFloat>(
      n, Selu{n.attrFloat("alpha", 1.67326319217681884765625f), n.attrFloat("gamma", 1.05070102214813232421875f)});
}
KernelResult createCelu(const ir::Node& n) { return makeUnary<Types::kFloat>(n, Celu{n.attrFloat("alpha", 1.0f)}); }
KernelResult createThresholdedRelu(const ir::Node& n) {
  return makeUnary<Types::kFloat>(n, ThresholdedRelu{n.attrFloat("alpha", 1.0f)});
}
KernelResult createSoftplus(const ir::Node& n) { return makeUnary<Types::kFloat>(n, Softplus{}); }
KernelResult createSoftsign(const ir::Node& n) { return makeUnary<Types::kFloat>(n, Softsign{}); }
KernelResult createShrink(const ir::Node& n) {
  return makeUnary<Types::kFloat>(n, Shrink{n.attrFloat("lambd", 0.5f), n.attrFloat("bias", 0.0f)});
}
KernelResult createSqrt(const ir::Node& n) { return makeUnary<Types::kFloat>(n, Sqrt{}); }
KernelResult createExp(const ir::Node& n) { return makeUnary<Types::kFloat>(n, Exp{}); }
KernelResult createLog(const ir::Node& n) { return makeUnary<Types::kFloat>(n, Log{}); }
KernelResult createReciprocal(const ir::Node& n) { return makeUnary<Types::kFloat>(n, Reciprocal{}); }
KernelResult createFloor(const ir::Node& n) { return makeUnary<Types::kFloat>(n, Floor{}); }
KernelResult createCeil(const ir::Node& n) { return makeUnary<Types::kFloat>(n, Ceil{}); }
KernelResult createRound(const ir::Node& n) { return makeUnary<Types::kFloat>(n, Round{}); }
KernelResult createSin(const ir::Node& n) { return makeUnary<Types::kFloat>(n, Sin{}); }
KernelResult createCos(const ir::Node& n) { return makeUnary<Types::kFloat>(n, Cos{}); }
KernelResult createTan(const ir::Node& n) { return makeUnary<Types::kFloat>(n, Tan{}); }
KernelResult createAsin(const ir::Node& n) { return makeUnary<Types::kFloat>(n, Asin{}); }
KernelResult createAcos(const ir::Node& n) { return makeUnary<Types::kFloat>(n, Acos{}); }
KernelResult createAtan(const ir::Node& n) { return makeUnary<Types::kFloat>(n, Atan{}); }
KernelResult createSinh(const ir::Node& n) { return makeUnary<Types::kFloat>(n, Sinh{}); }
KernelResult createCosh(const ir::Node& n) { return makeUnary<Types::kFloat>(n, Cosh{}); }
KernelResult createAsinh(const ir::Node& n) { return makeUnary<Types::kFloat>(n, Asinh{}); }
KernelResult createAcosh(const ir::Node& n) { return makeUnary<Types::kFloat>(n, Acosh{}); }
KernelResult createAtanh(const ir::Node& n) { return makeUnary<Types::kFloat>(n, Atanh{}); }
KernelResult createNeg(const ir::Node& n) { return makeUnary<Types::kNumeric>(n, Neg{}); }
KernelResult createAbs(const ir::Node& n) { return makeUnary<Types::kNumeric>(n, Abs{}); }
KernelResult createSign(const ir::Node& n) { return makeUnary<Types::kNumeric>(n, Sign{}); }
KernelResult createNot(const ir::Node& n) { return makeUnary<Types::kBool>(n, Not{}); }
KernelResult createIsNaN(const ir::Node& n) { return makePredicate(n, IsNaN{}); }
KernelResult createIsInf(const ir::Node& n) {
  return makePredicate(n, IsInf{n.attrInt("detect_negative", 1) != 0, n.attrInt("detect_positive", 1) != 0});
}

KernelResult createClip(const ir::Node& node) {
  // Before opset 11 the bounds are float attributes; from 11 on, optional inputs.
  const bool from_inputs = node.opset >= 11 || !(node.hasAttr("min") || node.hasAttr("max"));
  std::unique_ptr<Kernel> k;
  Status st = dispatchNumeric(node.inputs[0]->dtype, [&](auto tag) {
    using T = decltype(tag);
    using C = ComputeType<T>;
    C lo = noLowerBound<C>(), hi = noUpperBound<C>();
    if (!from_inputs) {
      if (const ir::Attribute* a = node.attr("min")) lo = static_cast<C>(a->f);
      if (const ir::Attribute* a = node.attr("max")) hi = static_cast<C>(a->f);
    }
    k = std::make_unique<ClipKernel<T>>(from_inputs, lo, hi);
  });
  if (!st.ok()) return st.withContext(node.describe());
  return k;
}

}  // namespace qrt::reference
