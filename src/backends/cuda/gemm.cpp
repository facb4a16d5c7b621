// Gemm, MatMul and qrt's FusedGemm (gemm + residual Z + activation, src/ops/fused.cpp) through cuBLASLt, FP32 (TF32 only when the engine allows it) and FP16 with
// fp32 accumulation. qrt's tensors are row-major; cuBLASLt is column-major, so Y = A.B is
// computed as Y^T = B^T.A^T, which reads the same bytes with the operands swapped. Gemm's C,
// when it is a row vector of N with beta 1, is cuBLASLt's bias epilogue; other C shapes are
// broadcast into Y first and added with beta.
#include "backends/cuda/conv_tactic_file.h"
#include "backends/cuda/kernel_table.h"
#include "backends/cuda/lt_gemm.h"
#include "ops/op.h"

namespace qrt::cuda {

namespace {

// cuBLASLt wants its workspace 256-byte aligned; the arena gives 64.
void* alignWorkspace(void* ws) {
  auto p = reinterpret_cast<uintptr_t>(ws);
  return reinterpret_cast<void*>((p + 255) / 256 * 256);
}

LtSpec floatSpec(const LtSpec& p, DataType t, const DeviceContext* dev) { return ltFloatSpec(p, t, dev, kLtFloatWorkspace); }

// Row-major Y[M,N] = opA(A)[M,K] . opB(B)[K,N] as the column-major problem Y^T = opB(B)^T . opA(A)^T.
// `a_rows_k` etc.: whether the stored row-major A is [K, M] (transposed).
LtSpec rowMajorProblem(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K) {
  LtSpec p;
  p.m = N;
  p.n = M;
  p.k = K;
  p.trans_a = trans_b;  // first column-major operand: B's bytes
  p.lda = trans_b ? K : N;
  p.trans_b = trans_a;  // second: A's bytes
  p.ldb = trans_a ? M : K;
  p.ldd = N;
  return p;
}

class GemmKernel final : public CudaKernel, public LtGemmKernel {
 public:
  GemmKernel(const ir::Node& n, DeviceContext* dev, EpilogueActivation act)
      : CudaKernel(n, dev), trans_a_(n.attrInt("transA", 0) != 0), trans_b_(n.attrInt("transB", 0) != 0),
        alpha_(n.attrFloat("alpha", 1.f)), beta_(n.attrFloat("beta", 1.f)), act_(act), has_z_(n.hasInput(3)),
        tactic_attr_(n.attrString(kAttrTactic, "")) {}

  LtGemm* ltGemm() override { return &mm_; }

  Status reshape(const std::vector<TensorView>& in, const std::vector<TensorView>& out) override {
    const Dims& a = in[0].dims;
    const Dims& b = in[1].dims;
    // FusedGemm's A may have more dims without transA: they all count as rows.
    if (a.size() < 2 || (trans_a_ && a.size() != 2) || b.size() != 2)
      return invalidArgument(who_, ": A must be 2-D (or more, without transA) and B 2-D");
    const int64_t rows = volume(Dims(a.begin(), a.end() - 1));
    const int64_t M = trans_a_ ? a[1] : rows, K = trans_a_ ? a[0] : a.back(), N = trans_b_ ? b[0] : b[1];
    if (has_z_) z_plan_ = broadcastPlan(out[0].dims, false, in[3].dims, false, out[0].dims, false);
    LtSpec p = rowMajorProblem(trans_a_, trans_b_, M, N, K);
    has_c_ = in.size() > 2 && in[2].dtype != DataType::kUndefined && beta_ != 0.f;
    const Dims c = has_c_ ? in[2].dims : Dims{};
    p.bias = has_c_ && beta_ == 1.f && volume(c) == N && (c.size() == 1 || (c.size() == 2 && c[0] == 1));
    if (has_c_ && !p.bias) {  // broadcast C into Y, then Y = alpha AB + beta Y
      Dims full(2, 1);
      for (size_t i = 0; i < c.size(); ++i) full[2 - c.size() + i] = c[i];
      copy_ = launch::StridedCopy{};
      copy_.rank = 2;
      copy_.dims[0] = M;
      copy_.dims[1] = N;
      copy_.src_strides[0] = full[0] == 1 ? 0 : full[1];
      copy_.src_strides[1] = full[1] == 1 ? 0 : 1;
      copy_.dst_strides[0] = N;
      copy_.dst_strides[1] = 1;
    }
    bias_epilogue_ = p.bias;
    return mm_.plan(dev_, floatSpec(p, in[0].dtype, dev_), tactic_attr_, who_);
  }

  size_t workspaceBytes() const override { return kLtFloatWorkspace + 256; }

  Status run(const std::vector<TensorView>& in, const std::vector<TensorView>& out, void* ws) override {
    float beta = 0.f;
    if (has_c_ && !bias_epilogue_) {
      launch::stridedCopy(in[2].data, out[0].data, dataTypeSize(out[0].dtype), copy_, stream());
      QRT_RETURN_IF_ERROR(launched());
      beta = beta_;
    }
    QRT_RETURN_IF_ERROR(mm_.run(in[1].data, in[0].data, out[0].data, bias_epilogue_ ? in[2].data : nullptr, &alpha_,
                                &beta, alignWorkspace(ws)));
    // FusedGemm: y = act(y + Z).
    const int64_t n = out[0].numel();
    if (has_z_) launch::binary(launch::BinaryOp::kAdd, out[0].dtype, out[0].data, in[3].data, out[0].data, n, z_plan_, false, stream());
    if (act_.on) launch::unary(act_.op, out[0].dtype, out[0].data, out[0].data, n, act_.a, act_.b, stream());
    return launched();
  }

 private:
  bool trans_a_, trans_b_;
  float alpha_, beta_;
  EpilogueActivation act_;
  bool has_z_;
  launch::Broadcast z_plan_;
  bool has_c_ = false, bias_epilogue_ = false;
  launch::StridedCopy copy_;
  std::string tactic_attr_;
  LtGemm mm_;
};

// MatMul with numpy semantics: 1-D operands are promoted (and the added dim dropped from Y);
// batch dims broadcast when one side's batch is all ones or both are equal.
class MatMulKernel final : public CudaKernel, public LtGemmKernel {
 public:
  MatMulKernel(const ir::Node& n, DeviceContext* dev) : CudaKernel(n, dev), tactic_attr_(n.attrString(kAttrTactic, "")) {}

  LtGemm* ltGemm() override { return &mm_; }

  Status reshape(const std::vector<TensorView>& in, const std::vector<TensorView>& out) override {
    Dims a = in[0].dims, b = in[1].dims;
    if (a.empty() || b.empty()) return invalidArgument(who_, ": MatMul operands must have rank 1 or more");
    if (a.size() == 1) a.insert(a.begin(), 1);
    if (b.size() == 1) b.push_back(1);
    const int64_t M = a[a.size() - 2], K = a.back(), N = b.back();
    if (b[b.size() - 2] != K) return invalidArgument(who_, ": inner dims differ (", K, " vs ", b[b.size() - 2], ")");
    const Dims ab(a.begin(), a.end() - 2), bb(b.begin(), b.end() - 2);
    const int64_t batch_a = volume(ab), batch_b = volume(bb);
    LtSpec p;
    if (batch_b == 1) {
      // B is one matrix: A's batch folds into its rows (A is dense [batch_a * M, K]).
      p = rowMajorProblem(false, false, batch_a * M, N, K);
    } else {
      const size_t r = std::max(ab.size(), bb.size());
      Dims fa(r, 1), fb(r, 1);
      std::copy(ab.begin(), ab.end(), fa.begin() + (r - ab.size()));
      std::copy(bb.begin(), bb.end(), fb.begin() + (r - bb.size()));
      if (batch_a != 1 && fa != fb)
        return unsupported(who_, ": the CUDA backend broadcasts MatMul batches only when one side has a single matrix "
                                 "or both have the same batch dims");
      p = rowMajorProblem(false, false, M, N, K);
      p.batch = batch_b;
      p.stride_a = K * N;                   // first column-major operand: B
      p.stride_b = batch_a == 1 ? 0 : M * K;  // second: A
      p.stride_d = M * N;
    }
    return mm_.plan(dev_, floatSpec(p, in[0].dtype, dev_), tactic_attr_, who_);
  }

  size_t workspaceBytes() const override { return kLtFloatWorkspace + 256; }

  Status run(const std::vector<TensorView>& in, const std::vector<TensorView>& out, void* ws) override {
    const float one = 1.f, zero = 0.f;
    return mm_.run(in[1].data, in[0].data, out[0].data, nullptr, &one, &zero, alignWorkspace(ws));
  }

 private:
  std::string tactic_attr_;
  LtGemm mm_;
};

Result<std::unique_ptr<Kernel>> createGemm(const ir::Node& node, DeviceContext* dev) {
  for (const ir::Value* v : node.inputs)
    if (v && v->dtype != node.inputs[0]->dtype) return unsupported(node.describe(), ": the CUDA backend needs one input type");
  EpilogueActivation act;
  if (node.op_type == "FusedGemm") {
    QRT_ASSIGN_OR_RETURN(act, readEpilogueActivation(node));
  }
  return makeKernel<GemmKernel>(node, dev, act);
}

Result<std::unique_ptr<Kernel>> createMatMul(const ir::Node& node, DeviceContext* dev) {
  if (node.inputs.size() < 2 || !node.inputs[1] || node.inputs[1]->dtype != node.inputs[0]->dtype)
    return unsupported(node.describe(), ": the CUDA backend needs A and B of one type");
  return makeKernel<MatMulKernel>(node, dev);
}

const CudaKernelEntry kEntries[] = {
    {"Gemm", kCudaFloat, &createGemm},
    {"FusedGemm", kCudaFloat, &createGemm, 0, kQrtDomain},
    {"MatMul", kCudaFloat, &createMatMul},
};

}  // namespace

std::span<const CudaKernelEntry> gemmKernels() { return kEntries; }

}  // namespace qrt::cuda
