// The CUDA elementwise family: unary activations and math, broadcasting binary ops, Cast.
// Kernels in elementwise.cu; this file reads attributes, resolves broadcasting at reshape time
// and launches.
#include <cmath>
#include <limits>

#include "backends/cuda/kernel_table.h"
#include "core/half.h"
#include "ops/fused_activation.h"
#include "ops/shape_util.h"

namespace qrt::cuda {

namespace {

using launch::BinaryOp;
using launch::UnaryOp;

float scalarAt(const TensorView& v) {
  if (v.dtype == DataType::kHalf) return halfToFloat(*static_cast<const uint16_t*>(v.data));
  if (v.dtype == DataType::kDouble) return static_cast<float>(*static_cast<const double*>(v.data));
  return *static_cast<const float*>(v.data);
}

class UnaryKernel final : public CudaKernel {
 public:
  UnaryKernel(const ir::Node& n, DeviceContext* dev, UnaryOp op, float a, float b, bool clip_inputs)
      : CudaKernel(n, dev), op_(op), a_(a), b_(b), clip_inputs_(clip_inputs) {}

  Status reshape(const std::vector<TensorView>& in, const std::vector<TensorView>& out) override {
    if (!clip_inputs_) return Status::Ok();
    // Clip-11+: bounds are optional scalar inputs, needed on the host now.
    a_ = -std::numeric_limits<float>::infinity();
    b_ = std::numeric_limits<float>::infinity();
    for (size_t i = 1; i < 3 && i < in.size(); ++i) {
      if (in[i].dtype == DataType::kUndefined) continue;
      if (!in[i].data) return unsupported(who_, ": the CUDA backend needs Clip's bounds known before running");
      if (in[i].numel() != 1) return invalidArgument(who_, ": Clip bounds must be scalars");
      (i == 1 ? a_ : b_) = scalarAt(in[i]);
    }
    return Status::Ok();
  }

  Status run(const std::vector<TensorView>& in, const std::vector<TensorView>& out, void*) override {
    launch::unary(op_, in[0].dtype, in[0].data, out[0].data, out[0].numel(), a_, b_, stream());
    return launched();
  }

 private:
  UnaryOp op_;
  float a_, b_;
  bool clip_inputs_;
};

struct UnarySpec {
  const char* op;
  UnaryOp kind;
  const char* a_name;
  float a_default;
  const char* b_name;
  float b_default;
};

const UnarySpec kUnary[] = {
    {"Relu", UnaryOp::kRelu, nullptr, 0, nullptr, 0},
    {"LeakyRelu", UnaryOp::kLeakyRelu, "alpha", 0.01f, nullptr, 0},
    {"Sigmoid", UnaryOp::kSigmoid, nullptr, 0, nullptr, 0},
    {"Tanh", UnaryOp::kTanh, nullptr, 0, nullptr, 0},
    {"HardSigmoid", UnaryOp::kHardSigmoid, "alpha", 0.2f, "beta", 0.5f},
    {"HardSwish", UnaryOp::kHardSwish, nullptr, 0, nullptr, 0},
    {"Elu", UnaryOp::kElu, "alpha", 1.f, nullptr, 0},
    {"Selu", UnaryOp::kSelu, "alpha", 1.67326319217681884765625f, "gamma", 1.05070102214813232421875f},
    {"Celu", UnaryOp::kCelu, "alpha", 1.f, nullptr, 0},
    {"Softplus", UnaryOp::kSoftplus, nullptr, 0, nullptr, 0},
    {"Softsign", UnaryOp::kSoftsign, nullptr, 0, nullptr, 0},
    {"ThresholdedRelu", UnaryOp::kThresholdedRelu, "alpha", 1.f, nullptr, 0},
    {"Mish", UnaryOp::kMish, nullptr, 0, nullptr, 0},
    {"Gelu", UnaryOp::kGelu, nullptr, 0, nullptr, 0},
    {"Exp", UnaryOp::kExp, nullptr, 0, nullptr, 0},
    {"Log", UnaryOp::kLog, nullptr, 0, nullptr, 0},
    {"Sqrt", UnaryOp::kSqrt, nullptr, 0, nullptr, 0},
    {"Neg", UnaryOp::kNeg, nullptr, 0, nullptr, 0},
    {"Abs", UnaryOp::kAbs, nullptr, 0, nullptr, 0},
    {"Reciprocal", UnaryOp::kReciprocal, nullptr, 0, nullptr, 0},
    {"Erf", UnaryOp::kErf, nullptr, 0, nullptr, 0},
    {"Floor", UnaryOp::kFloor, nullptr, 0, nullptr, 0},
    {"Ceil", UnaryOp::kCeil, nullptr, 0, nullptr, 0},
    {"Round", UnaryOp::kRound, nullptr, 0, nullptr, 0},
    {"Sin", UnaryOp::kSin, nullptr, 0, nullptr, 0},
    {"Cos", UnaryOp::kCos, nullptr, 0, nullptr, 0},
    {"Clip", UnaryOp::kClip, "min", -std::numeric_limits<float>::infinity(), "max",
     std::numeric_limits<float>::infinity()},
};

Result<std::unique_ptr<Kernel>> createUnary(const ir::Node& node, DeviceContext* dev) {
  for (const UnarySpec& s : kUnary) {
    if (node.op_type != s.op) continue;
    float a = s.a_name ? node.attrFloat(s.a_name, s.a_default) : 0.f;
    float b = s.b_name ? node.attrFloat(s.b_name, s.b_default) : 0.f;
    UnaryOp kind = s.kind;
    if (kind == UnaryOp::kGelu) {
      std::string approx = node.attrString("approximate", "none");
      if (approx == "tanh") kind = UnaryOp::kGeluTanh;
      else if (approx != "none") return invalidArgument(node.describe(), ": unknown approximate '", approx, "'");
    }
    // Clip: bounds are attributes before opset 11, optional inputs from 11 on.
    bool clip_inputs = kind == UnaryOp::kClip && (node.opset >= 11 || !(node.hasAttr("min") || node.hasAttr("max")));
    return makeKernel<UnaryKernel>(node, dev, kind, a, b, clip_inputs);
  }
  return internalError(node.describe(), ": not a unary op");
}

// ---- binary ----

// Element strides of an input of dims `d`, right-aligned to `rank` output dims, 0 where it
// broadcasts. `nhwc`: a 4-D activation stored channels-last (logical NCHW dims).
void inputStrides(const Dims& d, const Dims& out, bool nhwc, int64_t* strides) {
  const size_t rank = out.size(), off = rank - d.size();
  Dims full(rank, 1);
  for (size_t i = 0; i < d.size(); ++i) full[off + i] = d[i];
  std::vector<int64_t> dense(rank, 0);
  if (nhwc && rank == 4) {
    const int64_t C = full[1], H = full[2], W = full[3];
    dense = {H * W * C, 1, W * C, C};
  } else {
    int64_t s = 1;
    for (size_t i = rank; i-- > 0;) {
      dense[i] = s;
      s *= full[i];
    }
  }
  for (size_t i = 0; i < rank; ++i) strides[i] = full[i] == 1 && out[i] != 1 ? 0 : dense[i];
}

class BinaryKernel final : public CudaKernel {
 public:
  BinaryKernel(const ir::Node& n, DeviceContext* dev, BinaryOp op) : CudaKernel(n, dev), op_(op), nhwc_(channelsLast(n)) {}

  Status reshape(const std::vector<TensorView>& in, const std::vector<TensorView>& out) override {
    const Dims& o = out[0].dims;
    if (o.size() > static_cast<size_t>(launch::kMaxRank)) return unsupported(who_, ": rank above ", launch::kMaxRank);
    if (in.size() == 1 || in[1].dtype == DataType::kUndefined) {  // Max/Min/Sum/Mean of one input
      single_ = true;
      return Status::Ok();
    }
    // Activations (not known on the host) of a channels-last node are stored NHWC.
    const bool a_nhwc = nhwc_ && !in[0].data && in[0].dims.size() == 4;
    const bool b_nhwc = nhwc_ && !in[1].data && in[1].dims.size() == 4;
    same_ = in[0].dims == o && in[1].dims == o && a_nhwc == b_nhwc;
    bc_ = broadcastPlan(in[0].dims, a_nhwc, in[1].dims, b_nhwc, o, nhwc_);
    return Status::Ok();
  }

  Status run(const std::vector<TensorView>& in, const std::vector<TensorView>& out, void*) override {
    if (single_) {
      QRT_RETURN_IF_ERROR(checkCuda(cudaMemcpyAsync(out[0].data, in[0].data, out[0].bytes(), cudaMemcpyDeviceToDevice, stream()), who_));
      return Status::Ok();
    }
    launch::binary(op_, out[0].dtype, in[0].data, in[1].data, out[0].data, out[0].numel(), bc_, same_, stream());
    return launched();
  }

 private:
  BinaryOp op_;
  bool nhwc_;
  bool single_ = false, same_ = false;
  launch::Broadcast bc_;
};

Result<std::unique_ptr<Kernel>> createBinary(const ir::Node& node, DeviceContext* dev) {
  struct Spec {
    const char* op;
    BinaryOp kind;
  };
  static const Spec kSpecs[] = {{"Add", BinaryOp::kAdd}, {"Sub", BinaryOp::kSub}, {"Mul", BinaryOp::kMul},
                                {"Div", BinaryOp::kDiv}, {"Pow", BinaryOp::kPow}, {"Max", BinaryOp::kMax},
                                {"Min", BinaryOp::kMin}, {"Sum", BinaryOp::kAdd}, {"Mean", BinaryOp::kMean},
                                {"PRelu", BinaryOp::kPRelu}};
  for (const Spec& s : kSpecs) {
    if (node.op_type != s.op) continue;
    if (node.inputs.size() > 2)
      return unsupported(node.describe(), ": the CUDA backend takes at most 2 inputs (got ", node.inputs.size(), ")");
    for (const ir::Value* v : node.inputs)
      if (v && v->dtype != node.inputs[0]->dtype)
        return unsupported(node.describe(), ": the CUDA backend needs both inputs of one type");
    return makeKernel<BinaryKernel>(node, dev, s.kind);
  }
  return internalError(node.describe(), ": not a binary op");
}

// ---- Cast ----

class CastKernel final : public CudaKernel {
 public:
  using CudaKernel::CudaKernel;
  Status run(const std::vector<TensorView>& in, const std::vector<TensorView>& out, void*) override {
    if (in[0].dtype == out[0].dtype) {
      return checkCuda(cudaMemcpyAsync(out[0].data, in[0].data, out[0].bytes(), cudaMemcpyDeviceToDevice, stream()), who_);
    }
    launch::cast(in[0].dtype, in[0].data, out[0].dtype, out[0].data, out[0].numel(), stream());
    return launched();
  }
};

constexpr DTypeSet kCastTypes{DataType::kFloat, DataType::kHalf,  DataType::kDouble, DataType::kInt8,
                              DataType::kUInt8, DataType::kInt32, DataType::kInt64,  DataType::kBool};

Result<std::unique_ptr<Kernel>> createCast(const ir::Node& node, DeviceContext* dev) {
  DataType to = node.outputs.empty() || !node.outputs[0] ? DataType::kUndefined : node.outputs[0]->dtype;
  if (!kCastTypes.contains(to))
    return unsupported(node.describe(), ": the CUDA backend cannot cast to ", dataTypeName(to));
  return makeKernel<CastKernel>(node, dev);
}

constexpr DTypeSet kF = kCudaFloat;

const CudaKernelEntry kEntries[] = {
    {"Relu", kF, &createUnary},
    {"LeakyRelu", kF, &createUnary},
    {"Sigmoid", kF, &createUnary},
    {"Tanh", kF, &createUnary},
    {"HardSigmoid", kF, &createUnary},
    {"HardSwish", kF, &createUnary},
    {"Elu", kF, &createUnary},
    {"Selu", kF, &createUnary},
    {"Celu", kF, &createUnary},
    {"Softplus", kF, &createUnary},
    {"Softsign", kF, &createUnary},
    {"ThresholdedRelu", kF, &createUnary},
    {"Mish", kF, &createUnary},
    {"Gelu", kF, &createUnary},
    {"Exp", kF, &createUnary},
    {"Log", kF, &createUnary},
    {"Sqrt", kF, &createUnary},
    {"Neg", kF, &createUnary},
    {"Abs", kF, &createUnary},
    {"Reciprocal", kF, &createUnary},
    {"Erf", kF, &createUnary},
    {"Floor", kF, &createUnary},
    {"Ceil", kF, &createUnary},
    {"Round", kF, &createUnary},
    {"Sin", kF, &createUnary},
    {"Cos", kF, &createUnary},
    {"Clip", kF, &createUnary},
    {"Add", kF, &createBinary},
    {"Sub", kF, &createBinary},
    {"Mul", kF, &createBinary},
    {"Div", kF, &createBinary},
    {"Pow", kF, &createBinary},
    {"Max", kF, &createBinary},
    {"Min", kF, &createBinary},
    {"Sum", kF, &createBinary},
    {"Mean", kF, &createBinary},
    {"PRelu", kF, &createBinary},
    {"Cast", kCastTypes, &createCast},
};

}  // namespace

std::span<const CudaKernelEntry> elementwiseKernels() { return kEntries; }

launch::Broadcast broadcastPlan(const Dims& a, bool a_nhwc, const Dims& b, bool b_nhwc, const Dims& o, bool out_nhwc) {
  launch::Broadcast bc;
  bc.rank = static_cast<int>(o.size());
  inputStrides(a, o, a_nhwc, bc.a_strides);
  inputStrides(b, o, b_nhwc, bc.b_strides);
  for (size_t i = 0; i < o.size(); ++i) bc.dims[i] = o[i];
  if (out_nhwc && o.size() == 4) {  // iterate in the output's NHWC order
    const int perm[4] = {0, 2, 3, 1};
    launch::Broadcast p = bc;
    for (int i = 0; i < 4; ++i) {
      p.dims[i] = bc.dims[perm[i]];
      p.a_strides[i] = bc.a_strides[perm[i]];
      p.b_strides[i] = bc.b_strides[perm[i]];
    }
    bc = p;
  }
  return bc;
}

Result<EpilogueActivation> readEpilogueActivation(const ir::Node& node) {
  using K = FusedActivation::Kind;
  QRT_ASSIGN_OR_RETURN(FusedActivation f, readFusedActivation(node));
  EpilogueActivation e;
  e.on = f.kind != K::kNone;
  switch (f.kind) {
    case K::kNone: break;
    case K::kRelu: e.op = UnaryOp::kRelu; break;
    case K::kLeakyRelu: e.op = UnaryOp::kLeakyRelu; e.a = f.alpha; break;
    case K::kClip: e.op = UnaryOp::kClip; e.a = f.clip_min; e.b = f.clip_max; break;
    case K::kHardSwish: e.op = UnaryOp::kHardSwish; break;
    case K::kHardSigmoid: e.op = UnaryOp::kHardSigmoid; e.a = f.alpha; e.b = f.beta; break;
    case K::kSigmoid: e.op = UnaryOp::kSigmoid; break;
    case K::kSwish: e.op = UnaryOp::kSwish; break;
  }
  return e;
}

}  // namespace qrt::cuda
