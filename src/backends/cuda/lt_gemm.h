// One cuBLASLt matrix product as the GEMM kernels run it (gemm.cpp: Gemm, FusedGemm, MatMul in
// FP32/TF32/FP16; qgemm.cpp: QGemm, QMatMul in INT8), with the algorithm either chosen at build
// time (gemm_tactics.h stores it in the node, kAttrTactic) or cuBLASLt's first heuristic.
#pragma once

#include <string>
#include <vector>

#include "backends/cuda/device_context.h"
#include "backends/lt_tactic.h"
#include "qrt/types.h"

namespace qrt::cuda {

// A column-major problem: D[m x n] = act(alpha op(A)[m x k] op(B)[k x n] + beta C (+ bias[m] as
// cuBLASLt's bias epilogue)), over `batch` matrices `stride_*` elements apart (0: shared). C is D
// itself unless run() gets another matrix of D's layout (c_input: a residual read in the epilogue);
// act is ReLU where `relu`, else identity.
struct LtSpec {
  cudaDataType_t ab_type = CUDA_R_32F, d_type = CUDA_R_32F, scale_type = CUDA_R_32F;
  cublasComputeType_t compute = CUBLAS_COMPUTE_32F;
  bool trans_a = false, trans_b = false;
  int64_t m = 0, n = 0, k = 0, lda = 0, ldb = 0, ldd = 0;
  int64_t batch = 1, stride_a = 0, stride_b = 0, stride_d = 0;
  bool bias = false;
  bool relu = false;     // cuBLASLt's ReLU epilogue (after the bias and beta C)
  bool c_input = false;  // beta C reads a separate C (the signature says so: algorithms differ)
  // alpha is a device vector of m floats (one per row of D: QConv's per-channel scales), beta a
  // host scalar (cuBLASLt's ALPHA_DEVICE_VECTOR_BETA_HOST pointer mode); with an int8 D the bias
  // is float.
  bool alpha_vector = false;
  uint32_t align_ab = 16, align_cd = 16;  // bytes every A/B (C/D) matrix start is a multiple of
  size_t workspace = 0;                   // bytes the kernel hands cuBLASLt

  // Everything the choice of algorithm depends on, e.g. "lt 32F f16>f16 TN m64 n256 k512 b1 ...".
  std::string signature() const;
  // Elements each operand's buffer spans (all batches).
  int64_t elementsA() const;
  int64_t elementsB() const;
  int64_t elementsD() const;
};

class LtGemm {
 public:
  LtGemm() = default;
  LtGemm(const LtGemm&) = delete;
  LtGemm& operator=(const LtGemm&) = delete;
  ~LtGemm() { destroy(); }

  // Descriptors for `spec` and its algorithm: the tactic stored in `tactic_attr` (kAttrTactic:
  // "<signature>|<tactic>") when it was chosen for this signature and rebuilds here, else
  // cuBLASLt's first heuristic (with a warning when a stored tactic for this signature no longer
  // passes cublasLtMatmulAlgoCheck). kUnsupported where cuBLASLt has no algorithm.
  Status plan(DeviceContext* dev, const LtSpec& spec, const std::string& tactic_attr, const std::string& who);

  // Up to `max` distinct algorithms of cuBLASLt's heuristic, in its order, as tactics.
  Status heuristicTactics(int max, std::vector<LtTactic>* out);
  // Makes `t` the algorithm to run: kUnsupported where it does not rebuild, fails
  // cublasLtMatmulAlgoCheck or needs more than spec.workspace bytes.
  Status use(const LtTactic& t);

  const LtSpec& spec() const { return spec_; }
  const LtTactic& tactic() const { return tactic_; }
  bool fromStoredTactic() const { return stored_; }

  // alpha/beta point to host values of spec.scale_type (alpha to the device vector where
  // spec.alpha_vector); `ws` is 256-byte aligned; c: C where it is not D (spec.c_input), of D's layout.
  Status run(const void* a, const void* b, void* d, const void* bias, const void* alpha, const void* beta, void* ws,
             const void* c = nullptr);

 private:
  void destroy();
  Status rebuild(const LtTactic& t, cublasLtMatmulAlgo_t* algo);

  DeviceContext* dev_ = nullptr;
  LtSpec spec_;
  std::string who_;
  cublasLtMatmulDesc_t desc_ = nullptr;
  cublasLtMatrixLayout_t a_ = nullptr, b_ = nullptr, d_ = nullptr;
  cublasLtMatmulAlgo_t algo_{};
  LtTactic tactic_;
  bool stored_ = false;
};

// The workspace the float GEMM and pointwise-convolution kernels give cuBLASLt.
inline constexpr size_t kLtFloatWorkspace = size_t{32} << 20;

// `p` in float type t (FP32, TF32 where the device allows it, or FP16 with fp32 accumulation) as
// this device runs it: operand types, compute type, and the alignment every matrix start keeps
// (arena buffers are 64-byte aligned; columns and batch matrices move by ld / stride).
LtSpec ltFloatSpec(LtSpec p, DataType t, const DeviceContext* dev, size_t workspace);

// The kernels whose product is one LtGemm: the build-time tuner (gemm_tactics.cpp) reshapes one
// at the node's build shapes and times the algorithms of its LtGemm. nullptr where the product
// does not run on cuBLASLt at the shapes of the last reshape (QGemm's plain int8 kernel).
class LtGemmKernel {
 public:
  virtual ~LtGemmKernel() = default;
  virtual LtGemm* ltGemm() = 0;
};

}  // namespace qrt::cuda
