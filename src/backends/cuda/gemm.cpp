// Gemm, MatMul and qrt's FusedGemm (gemm + residual Z + activation, src/ops/fused.cpp) through cuBLASLt, FP32 (TF32 only when the engine allows it) and FP16 with
// fp32 accumulation. qrt's tensors are row-major; cuBLASLt is column-major, so Y = A.B is
// computed as Y^T = B^T.A^T, which reads the same bytes with the operands swapped. Gemm's C,
// when it is a row vector of N with beta 1, is cuBLASLt's bias epilogue; other C shapes are
// broadcast into Y first and added with beta.
#include "backends/cuda/kernel_table.h"
#include "ops/op.h"

namespace qrt::cuda {

namespace {

constexpr size_t kLtWorkspace = size_t{32} << 20;

// cuBLASLt wants its workspace 256-byte aligned; the arena gives 64.
void* alignWorkspace(void* ws) {
  auto p = reinterpret_cast<uintptr_t>(ws);
  return reinterpret_cast<void*>((p + 255) / 256 * 256);
}

cudaDataType_t cudaType(DataType t) { return t == DataType::kHalf ? CUDA_R_16F : CUDA_R_32F; }

// One column-major cuBLASLt problem: D[m x n] = alpha * op(A)[m x k] op(B)[k x n] (+ beta C)
// (+ bias[m]), over `batch` matrices with the given strides (0: shared).
struct LtProblem {
  bool trans_a = false, trans_b = false;
  int64_t m = 0, n = 0, k = 0, lda = 0, ldb = 0, ldd = 0;
  int64_t batch = 1, stride_a = 0, stride_b = 0, stride_d = 0;
  bool bias = false;
};

class LtMatmul {
 public:
  LtMatmul() = default;
  LtMatmul(const LtMatmul&) = delete;
  LtMatmul& operator=(const LtMatmul&) = delete;
  ~LtMatmul() { destroy(); }

  Status plan(DeviceContext* dev, DataType t, const LtProblem& p, const std::string& who) {
    destroy();
    // The alignment cuBLASLt may assume: every matrix of every batch starts at a multiple of it
    // (arena buffers are 64-byte aligned; columns and batch matrices move by ld / stride).
    const int64_t e = static_cast<int64_t>(dataTypeSize(t));
    uint32_t align = 64;
    for (int64_t v : {p.lda * e, p.ldb * e, p.ldd * e, p.stride_a * e, p.stride_b * e, p.stride_d * e})
      while (align > 1 && v % align != 0) align /= 2;
    p_ = p;
    who_ = who;
    const cudaDataType_t ct = cudaType(t);
    cublasComputeType_t compute = CUBLAS_COMPUTE_32F;
    if (t == DataType::kFloat && dev->allow_tf32) compute = CUBLAS_COMPUTE_32F_FAST_TF32;
    QRT_RETURN_IF_ERROR(checkCublas(cublasLtMatmulDescCreate(&desc_, compute, CUDA_R_32F), who, ": matmul descriptor"));
    cublasOperation_t ta = p.trans_a ? CUBLAS_OP_T : CUBLAS_OP_N, tb = p.trans_b ? CUBLAS_OP_T : CUBLAS_OP_N;
    QRT_RETURN_IF_ERROR(checkCublas(cublasLtMatmulDescSetAttribute(desc_, CUBLASLT_MATMUL_DESC_TRANSA, &ta, sizeof(ta)), who));
    QRT_RETURN_IF_ERROR(checkCublas(cublasLtMatmulDescSetAttribute(desc_, CUBLASLT_MATMUL_DESC_TRANSB, &tb, sizeof(tb)), who));
    if (p.bias) {
      cublasLtEpilogue_t epi = CUBLASLT_EPILOGUE_BIAS;
      QRT_RETURN_IF_ERROR(checkCublas(cublasLtMatmulDescSetAttribute(desc_, CUBLASLT_MATMUL_DESC_EPILOGUE, &epi, sizeof(epi)), who));
    }
    // Stored shapes: op(A) is m x k, so A is stored k x m when transposed.
    auto layout = [&](cublasLtMatrixLayout_t* l, int64_t rows, int64_t cols, int64_t ld, int64_t stride) {
      return createLtLayout(l, ct, rows, cols, ld, p.batch, stride, who);
    };
    QRT_RETURN_IF_ERROR(layout(&a_, p.trans_a ? p.k : p.m, p.trans_a ? p.m : p.k, p.lda, p.stride_a));
    QRT_RETURN_IF_ERROR(layout(&b_, p.trans_b ? p.n : p.k, p.trans_b ? p.k : p.n, p.ldb, p.stride_b));
    QRT_RETURN_IF_ERROR(layout(&d_, p.m, p.n, p.ldd, p.stride_d));

    cublasLtMatmulPreference_t pref = nullptr;
    QRT_RETURN_IF_ERROR(checkCublas(cublasLtMatmulPreferenceCreate(&pref), who));
    uint64_t ws = kLtWorkspace;
    cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &ws, sizeof(ws));
    cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, &align, sizeof(align));
    cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES, &align, sizeof(align));
    cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, &align, sizeof(align));
    cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES, &align, sizeof(align));
    cublasLtMatmulHeuristicResult_t result{};
    int found = 0;
    cublasStatus_t st = cublasLtMatmulAlgoGetHeuristic(dev->lt, desc_, a_, b_, d_, d_, pref, 1, &result, &found);
    cublasLtMatmulPreferenceDestroy(pref);
    QRT_RETURN_IF_ERROR(checkCublas(st, who, ": cublasLtMatmulAlgoGetHeuristic"));
    if (found == 0) return unsupported(who, ": cuBLASLt has no algorithm for this matrix product");
    algo_ = result.algo;
    return Status::Ok();
  }

  Status run(DeviceContext* dev, const void* a, const void* b, void* d, const void* bias, float alpha, float beta,
             void* ws) {
    if (p_.bias)
      QRT_RETURN_IF_ERROR(checkCublas(cublasLtMatmulDescSetAttribute(desc_, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &bias, sizeof(bias)), who_));
    return checkCublas(cublasLtMatmul(dev->lt, desc_, &alpha, a, a_, b, b_, &beta, d, d_, d, d_, &algo_,
                                      alignWorkspace(ws), kLtWorkspace, dev->stream),
                       who_, ": cublasLtMatmul");
  }

 private:
  void destroy() {
    if (desc_) cublasLtMatmulDescDestroy(desc_);
    if (a_) cublasLtMatrixLayoutDestroy(a_);
    if (b_) cublasLtMatrixLayoutDestroy(b_);
    if (d_) cublasLtMatrixLayoutDestroy(d_);
    desc_ = nullptr;
    a_ = b_ = d_ = nullptr;
  }
  LtProblem p_;
  std::string who_;
  cublasLtMatmulDesc_t desc_ = nullptr;
  cublasLtMatrixLayout_t a_ = nullptr, b_ = nullptr, d_ = nullptr;
  cublasLtMatmulAlgo_t algo_{};
};

// Row-major Y[M,N] = opA(A)[M,K] . opB(B)[K,N] as the column-major problem Y^T = opB(B)^T . opA(A)^T.
// `a_rows_k` etc.: whether the stored row-major A is [K, M] (transposed).
LtProblem rowMajorProblem(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K) {
  LtProblem p;
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

class GemmKernel final : public CudaKernel {
 public:
  GemmKernel(const ir::Node& n, DeviceContext* dev, EpilogueActivation act)
      : CudaKernel(n, dev), trans_a_(n.attrInt("transA", 0) != 0), trans_b_(n.attrInt("transB", 0) != 0),
        alpha_(n.attrFloat("alpha", 1.f)), beta_(n.attrFloat("beta", 1.f)), act_(act), has_z_(n.hasInput(3)) {}

  Status reshape(const std::vector<TensorView>& in, const std::vector<TensorView>& out) override {
    const Dims& a = in[0].dims;
    const Dims& b = in[1].dims;
    // FusedGemm's A may have more dims without transA: they all count as rows.
    if (a.size() < 2 || (trans_a_ && a.size() != 2) || b.size() != 2)
      return invalidArgument(who_, ": A must be 2-D (or more, without transA) and B 2-D");
    const int64_t rows = volume(Dims(a.begin(), a.end() - 1));
    const int64_t M = trans_a_ ? a[1] : rows, K = trans_a_ ? a[0] : a.back(), N = trans_b_ ? b[0] : b[1];
    if (has_z_) z_plan_ = broadcastPlan(out[0].dims, false, in[3].dims, false, out[0].dims, false);
    LtProblem p = rowMajorProblem(trans_a_, trans_b_, M, N, K);
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
    return mm_.plan(dev_, in[0].dtype, p, who_);
  }

  size_t workspaceBytes() const override { return kLtWorkspace + 256; }

  Status run(const std::vector<TensorView>& in, const std::vector<TensorView>& out, void* ws) override {
    float beta = 0.f;
    if (has_c_ && !bias_epilogue_) {
      launch::stridedCopy(in[2].data, out[0].data, dataTypeSize(out[0].dtype), copy_, stream());
      QRT_RETURN_IF_ERROR(launched());
      beta = beta_;
    }
    QRT_RETURN_IF_ERROR(
        mm_.run(dev_, in[1].data, in[0].data, out[0].data, bias_epilogue_ ? in[2].data : nullptr, alpha_, beta, ws));
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
  LtMatmul mm_;
};

// MatMul with numpy semantics: 1-D operands are promoted (and the added dim dropped from Y);
// batch dims broadcast when one side's batch is all ones or both are equal.
class MatMulKernel final : public CudaKernel {
 public:
  using CudaKernel::CudaKernel;

  Status reshape(const std::vector<TensorView>& in, const std::vector<TensorView>& out) override {
    Dims a = in[0].dims, b = in[1].dims;
    if (a.empty() || b.empty()) return invalidArgument(who_, ": MatMul operands must have rank 1 or more");
    if (a.size() == 1) a.insert(a.begin(), 1);
    if (b.size() == 1) b.push_back(1);
    const int64_t M = a[a.size() - 2], K = a.back(), N = b.back();
    if (b[b.size() - 2] != K) return invalidArgument(who_, ": inner dims differ (", K, " vs ", b[b.size() - 2], ")");
    const Dims ab(a.begin(), a.end() - 2), bb(b.begin(), b.end() - 2);
    const int64_t batch_a = volume(ab), batch_b = volume(bb);
    LtProblem p;
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
    return mm_.plan(dev_, in[0].dtype, p, who_);
  }

  size_t workspaceBytes() const override { return kLtWorkspace + 256; }

  Status run(const std::vector<TensorView>& in, const std::vector<TensorView>& out, void* ws) override {
    return mm_.run(dev_, in[1].data, in[0].data, out[0].data, nullptr, 1.f, 0.f, ws);
  }

 private:
  LtMatmul mm_;
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
