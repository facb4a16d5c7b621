// QConv's pointwise path (own_qconv.h): a 1x1 stride-1 unpadded int8 convolution with int8
// output is one int8 GEMM on cuBLASLt, with QConv's whole epilogue in cuBLASLt's:
//
//   y_q = sat(round(alpha[c] * acc + bias[c] / y_scale + beta * z_q)),  ReLU where the node has it,
//   alpha[c] = x_scale * w_scale[c] / y_scale (a device vector: ALPHA_DEVICE_VECTOR_BETA_HOST),
//   beta = z_scale / y_scale (the int8 residual z_q as the GEMM's C; without one, beta is zero).
//
// Why: on an H100 the residual 1x1 layers of ResNet-50 (conv3) were the INT8 engine's largest
// cost, and qrt's mma.sync implicit GEMM (qconv_igemm.cu) and cuDNN's int8 plans both ran them
// below the card's bandwidth. Measured (H100, ResNet-50 b256, 2026-11-28): correct, but cuBLASLt
// offers one algorithm family for this epilogue and it won only layer1.1/1.2 conv1 (93 us against
// cuDNN's 103); elsewhere it lost (layer1 conv3 415 us against the implicit GEMM's 235). The tuner
// keeps it where it wins.
//
// The column-major GEMM is the fp16 pointwise path's (conv.cpp reshapeLt): D = y as [M x P]
// (ld M, the NHWC output), op(A) = W^T of the [M][C] weights ([C x M], ld C, transposed), B = x
// as [C x P] (ld C). The folded constants can move a value across a rounding boundary (as the
// igemm and cuDNN's full fusion do): the tuner checks the chosen algorithm against cuDNN's plan,
// within one step, before keeping it (checkOwnQConv). Tactics "lt:..." (LtTactic); shapes without
// a tactic run on the kernels below; QRT_CUDA_QCONV_LT=off keeps the path out.
#include <algorithm>
#include <vector>

#include "backends/cuda/lt_gemm.h"
#include "backends/cuda/own_qconv.h"
#include "core/logging.h"
#include "ops/op.h"

namespace qrt::cuda {

namespace {

constexpr char kEnv[] = "QRT_CUDA_QCONV_LT";
constexpr size_t kWorkspace = size_t{32} << 20;
constexpr int kCandidates = 8;  // cuBLASLt heuristic algorithms timed per layer
// The forced tactic that takes cuBLASLt's first heuristic algorithm (the tuner's listing step).
constexpr char kHeuristic[] = "lt";

class QLtConvKernel final : public OwnQConvKernel {
 public:
  QLtConvKernel(const ir::Node& n, DeviceContext* dev, WindowAttrs a, EpilogueActivation act,
                std::unique_ptr<Kernel> next)
      : OwnQConvKernel(n, dev, std::move(a), act, std::move(next), kEnv) {}

  LtGemm& ltGemm() { return lt_; }

 protected:
  bool isMine(const std::string& tactic) const override { return tactic.compare(0, 2, kHeuristic) == 0; }
  bool byDefault() const override { return false; }
  size_t ownWorkspaceBytes() const override { return 256 + kWorkspace; }

  Status runOwn(const std::vector<TensorView>& in, const std::vector<TensorView>& out, void* ws) override {
    ws = reinterpret_cast<void*>((reinterpret_cast<uintptr_t>(ws) + 255) / 256 * 256);  // the arena gives 64
    return lt_.run(w_.get(), in[0].data, out[0].data, bias_folded_.get(), mult_folded_.get(), &beta_, ws,
                   has_z_ ? in[6].data : nullptr);
  }

  Status reshapeOwn(const std::vector<TensorView>& in, const std::vector<TensorView>& out,
                    const std::string& tactic) override {
    const Dims& x = in[0].dims;
    const Dims& w = in[1].dims;
    const Dims& y = out[0].dims;
    if (x.size() != 4 || w.size() != 4 || y.size() != 4 || attrs_.group != 1 || w[1] != x[1] || w[2] != 1 ||
        w[3] != 1)
      return unsupported(who_, ": not a dense 1x1 convolution (cuBLASLt path)");
    QRT_ASSIGN_OR_RETURN(Window win, convWindow(attrs_, x, w));
    if (win.rank != 2) return unsupported(who_, ": not a 2-D convolution");
    for (int i = 0; i < 2; ++i)
      if (win.strides[i] != 1 || win.dilations[i] != 1 || win.pad_begin[i] != 0 || win.pad_end[i] != 0)
        return unsupported(who_, ": not a stride-1 unpadded 1x1 convolution (cuBLASLt path)");
    if (in[0].dtype != DataType::kInt8 || in[1].dtype != DataType::kInt8 || out[0].dtype != DataType::kInt8)
      return unsupported(who_, ": the cuBLASLt path takes int8 x and weights and writes int8");
    if (in.size() > kDsX && in[kDsX].dtype != DataType::kUndefined)
      return unsupported(who_, ": a residual computed in the node (the implicit GEMM's)");
    // cuBLASLt's int8 kernels want 4-byte aligned leading dimensions (K = C, ld of D = M).
    if (x[1] % 4 != 0 || w[0] % 4 != 0) return unsupported(who_, ": channel counts not multiples of 4 (cuBLASLt path)");
    QRT_RETURN_IF_ERROR(prepareEpilogue(in, out, w[0]));
    // The activation: ReLU (a clip at 0 whose top saturates anyway is one), or none.
    bool relu = qact_ == launch::QAct::kRelu;
    if (qact_ == launch::QAct::kClip) {
      if (act_.a != 0.f || act_.b / y_scale_ < 127.5f) return unsupported(who_, ": cuBLASLt's epilogue applies ReLU only");
      relu = true;
    }
    beta_ = 0.f;
    if (has_z_) {
      if (in.size() < 8 || !in[7].data) return unsupported(who_, ": the cuBLASLt path needs a constant z_scale");
      if (in[6].dims != y || in[6].dtype != DataType::kInt8)
        return invalidArgument(who_, ": z_q must be int8 of the output's shape");
      const float zs = in[7].as<const float>()[0];
      if (!(zs > 0.f)) return invalidArgument(who_, ": z_scale must be positive");
      beta_ = zs / y_scale_;
    }
    QRT_RETURN_IF_ERROR(uploadFolded(&mult_folded_, &bias_folded_));
    QRT_RETURN_IF_ERROR(w_.upload(in[1].data, static_cast<size_t>(w[0] * w[1]), who_));  // [M][C], as stored
    LtSpec p;
    p.ab_type = p.d_type = CUDA_R_8I;
    p.scale_type = CUDA_R_32F;
    p.compute = CUBLAS_COMPUTE_32I;
    p.m = w[0];
    p.n = x[0] * x[2] * x[3];
    p.k = x[1];
    p.trans_a = true;
    p.lda = p.ldb = x[1];
    p.ldd = w[0];
    p.bias = true;
    p.relu = relu;
    p.c_input = has_z_;
    p.alpha_vector = true;
    p.align_ab = p.align_cd = 4;
    for (uint32_t a : {16u, 8u})
      if (x[1] % a == 0 && w[0] % a == 0) {
        p.align_ab = p.align_cd = a;
        break;
      }
    p.workspace = kWorkspace;
    if (tactic.empty() || tactic == kHeuristic) return lt_.plan(dev_, p, "", who_);
    LtTactic t;
    if (!LtTactic::parse(tactic, &t)) return unsupported(who_, ": unreadable cuBLASLt tactic ", tactic);
    QRT_RETURN_IF_ERROR(lt_.plan(dev_, p, "", who_));
    return lt_.use(t);
  }

 private:
  LtGemm lt_;
  DeviceBuffer w_, mult_folded_, bias_folded_;
  float beta_ = 0.f;
};

}  // namespace

Result<std::unique_ptr<Kernel>> withQLt(const ir::Node& node, DeviceContext* dev, const WindowAttrs& attrs,
                                        const EpilogueActivation& act, std::unique_ptr<Kernel> next) {
  return aroundDense<QLtConvKernel>(node, dev, attrs, act, std::move(next));
}

Status qconvLtCandidate(const ir::Node& node, DeviceContext* dev, const ConvTimer& time, std::string* tactic,
                        double* us) {
  QRT_ASSIGN_OR_RETURN(std::unique_ptr<QLtConvKernel> kp, denseCandidateKernel<QLtConvKernel>(node, dev, kEnv));
  QLtConvKernel& k = *kp;
  double first_us = 0;
  // kUnsupported here: not a layer of the path, or no cuBLASLt algorithm for it.
  QRT_RETURN_IF_ERROR(timeOwnQConv(node, dev, k, kHeuristic, time, &first_us));
  std::vector<LtTactic> cands;
  QRT_RETURN_IF_ERROR(k.ltGemm().heuristicTactics(kCandidates, &cands));
  bool found = false;
  for (const LtTactic& t : cands) {
    double t_us = 0;
    if (!timeOwnQConv(node, dev, k, t.str(), time, &t_us).ok()) {
      cudaGetLastError();
      continue;  // an algorithm that does not rebuild, fit or run
    }
    if (!found || t_us < *us) {
      found = true;
      *us = t_us;
      *tactic = t.str();
    }
  }
  if (!found) return unsupported(node.describe(), ": no cuBLASLt int8 algorithm ran");
  if (Status c = checkOwnQConv(node, dev, k, *tactic); !c.ok()) {
    if (c.code() == StatusCode::kUnsupported) logWarning(c.message(), "; not a candidate");
    return c;
  }
  return Status::Ok();
}

}  // namespace qrt::cuda
