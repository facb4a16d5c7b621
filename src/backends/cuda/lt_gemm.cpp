#include "backends/cuda/lt_gemm.h"

#include <cstring>

#include "core/logging.h"

namespace qrt::cuda {

namespace {

const char* typeName(cudaDataType_t t) {
  switch (t) {
    case CUDA_R_32F: return "f32";
    case CUDA_R_16F: return "f16";
    case CUDA_R_8I: return "i8";
    case CUDA_R_32I: return "i32";
    default: return "?";
  }
}

const char* computeName(cublasComputeType_t c) {
  switch (c) {
    case CUBLAS_COMPUTE_32F: return "32F";
    case CUBLAS_COMPUTE_32F_FAST_TF32: return "TF32";
    case CUBLAS_COMPUTE_32I: return "32I";
    default: return "?";
  }
}

// Elements a rows x cols column-major matrix with leading dimension ld spans, over `batch`.
int64_t span(int64_t cols, int64_t ld, int64_t batch, int64_t stride) {
  return ld * cols + (batch > 1 ? stride * (batch - 1) : 0);
}

template <typename T>
bool getConfig(const cublasLtMatmulAlgo_t& algo, cublasLtMatmulAlgoConfigAttributes_t attr, T* v) {
  size_t written = 0;
  return cublasLtMatmulAlgoConfigGetAttribute(&algo, attr, v, sizeof(T), &written) == CUBLAS_STATUS_SUCCESS &&
         written == sizeof(T);
}

// The stored form of `algo`; false where a field cannot be read (another cuBLASLt's layout).
bool toTactic(const cublasLtMatmulAlgo_t& algo, LtTactic* t) {
  return getConfig(algo, CUBLASLT_ALGO_CONFIG_ID, &t->algo) && getConfig(algo, CUBLASLT_ALGO_CONFIG_TILE_ID, &t->tile) &&
         getConfig(algo, CUBLASLT_ALGO_CONFIG_STAGES_ID, &t->stages) &&
         getConfig(algo, CUBLASLT_ALGO_CONFIG_SPLITK_NUM, &t->split_k) &&
         getConfig(algo, CUBLASLT_ALGO_CONFIG_REDUCTION_SCHEME, &t->reduction) &&
         getConfig(algo, CUBLASLT_ALGO_CONFIG_CTA_SWIZZLING, &t->swizzle) &&
         getConfig(algo, CUBLASLT_ALGO_CONFIG_CUSTOM_OPTION, &t->custom) &&
         getConfig(algo, CUBLASLT_ALGO_CONFIG_INNER_SHAPE_ID, &t->inner) &&
         getConfig(algo, CUBLASLT_ALGO_CONFIG_CLUSTER_SHAPE_ID, &t->cluster);
}

}  // namespace

std::string LtSpec::signature() const {
  return strCat("lt ", computeName(compute), " ", typeName(ab_type), ">", typeName(d_type), " ", trans_a ? 'T' : 'N',
                trans_b ? 'T' : 'N', " m", m, " n", n, " k", k, " b", batch, " ld", lda, ",", ldb, ",", ldd, " s",
                stride_a, ",", stride_b, ",", stride_d, bias ? " bias" : "", relu ? " relu" : "", c_input ? " c" : "", alpha_vector ? " av" : "", " al",
                align_ab, ",", align_cd);
}

int64_t LtSpec::elementsA() const { return span(trans_a ? m : k, lda, batch, stride_a); }
int64_t LtSpec::elementsB() const { return span(trans_b ? k : n, ldb, batch, stride_b); }
int64_t LtSpec::elementsD() const { return span(n, ldd, batch, stride_d); }

void LtGemm::destroy() {
  if (desc_) cublasLtMatmulDescDestroy(desc_);
  if (a_) cublasLtMatrixLayoutDestroy(a_);
  if (b_) cublasLtMatrixLayoutDestroy(b_);
  if (d_) cublasLtMatrixLayoutDestroy(d_);
  desc_ = nullptr;
  a_ = b_ = d_ = nullptr;
}

Status LtGemm::plan(DeviceContext* dev, const LtSpec& p, const std::string& tactic_attr, const std::string& who) {
  destroy();
  dev_ = dev;
  spec_ = p;
  who_ = who;
  stored_ = false;
  QRT_RETURN_IF_ERROR(checkCublas(cublasLtMatmulDescCreate(&desc_, p.compute, p.scale_type), who, ": matmul descriptor"));
  cublasOperation_t ta = p.trans_a ? CUBLAS_OP_T : CUBLAS_OP_N, tb = p.trans_b ? CUBLAS_OP_T : CUBLAS_OP_N;
  QRT_RETURN_IF_ERROR(checkCublas(cublasLtMatmulDescSetAttribute(desc_, CUBLASLT_MATMUL_DESC_TRANSA, &ta, sizeof(ta)), who));
  QRT_RETURN_IF_ERROR(checkCublas(cublasLtMatmulDescSetAttribute(desc_, CUBLASLT_MATMUL_DESC_TRANSB, &tb, sizeof(tb)), who));
  if (p.bias || p.relu) {
    const cublasLtEpilogue_t epi = p.bias ? (p.relu ? CUBLASLT_EPILOGUE_RELU_BIAS : CUBLASLT_EPILOGUE_BIAS)
                                          : CUBLASLT_EPILOGUE_RELU;
    QRT_RETURN_IF_ERROR(checkCublas(cublasLtMatmulDescSetAttribute(desc_, CUBLASLT_MATMUL_DESC_EPILOGUE, &epi, sizeof(epi)), who));
  }
  if (p.alpha_vector) {
    // BETA_HOST also without a C of its own (beta 0 then): BETA_ZERO found no int8 algorithm on
    // an H100 with cuBLASLt 13.1 where BETA_HOST did.
    const cublasLtPointerMode_t pm = CUBLASLT_POINTER_MODE_ALPHA_DEVICE_VECTOR_BETA_HOST;
    QRT_RETURN_IF_ERROR(checkCublas(cublasLtMatmulDescSetAttribute(desc_, CUBLASLT_MATMUL_DESC_POINTER_MODE, &pm, sizeof(pm)), who));
  }
  if (p.bias && p.d_type == CUDA_R_8I) {
    const cudaDataType_t bt = CUDA_R_32F;
    QRT_RETURN_IF_ERROR(checkCublas(cublasLtMatmulDescSetAttribute(desc_, CUBLASLT_MATMUL_DESC_BIAS_DATA_TYPE, &bt, sizeof(bt)), who));
  }
  // Stored shapes: op(A) is m x k, so A is stored k x m when transposed.
  QRT_RETURN_IF_ERROR(createLtLayout(&a_, p.ab_type, p.trans_a ? p.k : p.m, p.trans_a ? p.m : p.k, p.lda, p.batch,
                                     p.stride_a, who));
  QRT_RETURN_IF_ERROR(createLtLayout(&b_, p.ab_type, p.trans_b ? p.n : p.k, p.trans_b ? p.k : p.n, p.ldb, p.batch,
                                     p.stride_b, who));
  QRT_RETURN_IF_ERROR(createLtLayout(&d_, p.d_type, p.m, p.n, p.ldd, p.batch, p.stride_d, who));

  // The stored tactic, when chosen for this very problem.
  const size_t bar = tactic_attr.find('|');
  if (bar != std::string::npos && tactic_attr.compare(0, bar, p.signature()) == 0) {
    LtTactic t;
    Status s = LtTactic::parse(tactic_attr.substr(bar + 1), &t) ? use(t) : unsupported("unreadable");
    if (s.ok()) {
      stored_ = true;
      return Status::Ok();
    }
    logWarning(who, ": the stored cuBLASLt tactic ", tactic_attr.substr(bar + 1),
               " does not run here (another cuBLASLt or GPU?); taking cuBLASLt's heuristic");
  }
  cublasLtMatmulHeuristicResult_t result{};
  int found = 0;
  cublasLtMatmulPreference_t pref = nullptr;
  QRT_RETURN_IF_ERROR(checkCublas(cublasLtMatmulPreferenceCreate(&pref), who));
  uint64_t ws = p.workspace;
  cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &ws, sizeof(ws));
  cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, &p.align_ab, sizeof(p.align_ab));
  cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES, &p.align_ab, sizeof(p.align_ab));
  cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, &p.align_cd, sizeof(p.align_cd));
  cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES, &p.align_cd, sizeof(p.align_cd));
  cublasStatus_t st = cublasLtMatmulAlgoGetHeuristic(dev->lt, desc_, a_, b_, d_, d_, pref, 1, &result, &found);
  cublasLtMatmulPreferenceDestroy(pref);
  QRT_RETURN_IF_ERROR(checkCublas(st, who, ": cublasLtMatmulAlgoGetHeuristic"));
  if (found == 0) return unsupported(who, ": cuBLASLt has no algorithm for this matrix product");
  algo_ = result.algo;
  if (!toTactic(algo_, &tactic_)) tactic_ = LtTactic{};
  return Status::Ok();
}

Status LtGemm::heuristicTactics(int max, std::vector<LtTactic>* out) {
  out->clear();
  cublasLtMatmulPreference_t pref = nullptr;
  QRT_RETURN_IF_ERROR(checkCublas(cublasLtMatmulPreferenceCreate(&pref), who_));
  uint64_t ws = spec_.workspace;
  cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &ws, sizeof(ws));
  cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, &spec_.align_ab, sizeof(uint32_t));
  cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES, &spec_.align_ab, sizeof(uint32_t));
  cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, &spec_.align_cd, sizeof(uint32_t));
  cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES, &spec_.align_cd, sizeof(uint32_t));
  std::vector<cublasLtMatmulHeuristicResult_t> results(static_cast<size_t>(max));
  int found = 0;
  cublasStatus_t st =
      cublasLtMatmulAlgoGetHeuristic(dev_->lt, desc_, a_, b_, d_, d_, pref, max, results.data(), &found);
  cublasLtMatmulPreferenceDestroy(pref);
  QRT_RETURN_IF_ERROR(checkCublas(st, who_, ": cublasLtMatmulAlgoGetHeuristic"));
  for (int i = 0; i < found; ++i) {
    const cublasLtMatmulHeuristicResult_t& r = results[static_cast<size_t>(i)];
    LtTactic t;
    if (r.state != CUBLAS_STATUS_SUCCESS || !toTactic(r.algo, &t)) continue;
    cublasLtMatmulAlgo_t rebuilt{};
    if (!rebuild(t, &rebuilt).ok()) {  // not from its configuration: keep its bytes (lt_tactic.h)
      t.has_raw = true;
      std::memcpy(t.raw, &r.algo, sizeof(t.raw));
    }
    bool seen = false;
    for (const LtTactic& o : *out) seen = seen || o == t;
    if (!seen) out->push_back(t);
  }
  return Status::Ok();
}

Status LtGemm::rebuild(const LtTactic& t, cublasLtMatmulAlgo_t* algo) {
  const std::string what = ": tactic " + t.str();
  static_assert(sizeof(cublasLtMatmulAlgo_t) == sizeof(t.raw), "cublasLtMatmulAlgo_t is 8 x uint64");
  if (t.has_raw) {
    std::memcpy(algo, t.raw, sizeof(t.raw));
  } else {
    QRT_RETURN_IF_ERROR(checkCublas(cublasLtMatmulAlgoInit(dev_->lt, spec_.compute, spec_.scale_type, spec_.ab_type,
                                                           spec_.ab_type, spec_.d_type, spec_.d_type, t.algo, algo),
                                    who_, what));
    auto set = [&](cublasLtMatmulAlgoConfigAttributes_t attr, const auto& v) {
      return checkCublas(cublasLtMatmulAlgoConfigSetAttribute(algo, attr, &v, sizeof(v)), who_, what);
    };
    QRT_RETURN_IF_ERROR(set(CUBLASLT_ALGO_CONFIG_TILE_ID, t.tile));
    QRT_RETURN_IF_ERROR(set(CUBLASLT_ALGO_CONFIG_STAGES_ID, t.stages));
    QRT_RETURN_IF_ERROR(set(CUBLASLT_ALGO_CONFIG_SPLITK_NUM, t.split_k));
    QRT_RETURN_IF_ERROR(set(CUBLASLT_ALGO_CONFIG_REDUCTION_SCHEME, t.reduction));
    QRT_RETURN_IF_ERROR(set(CUBLASLT_ALGO_CONFIG_CTA_SWIZZLING, t.swizzle));
    QRT_RETURN_IF_ERROR(set(CUBLASLT_ALGO_CONFIG_CUSTOM_OPTION, t.custom));
    QRT_RETURN_IF_ERROR(set(CUBLASLT_ALGO_CONFIG_INNER_SHAPE_ID, t.inner));
    QRT_RETURN_IF_ERROR(set(CUBLASLT_ALGO_CONFIG_CLUSTER_SHAPE_ID, t.cluster));
  }
  cublasLtMatmulHeuristicResult_t check{};
  cublasStatus_t st = cublasLtMatmulAlgoCheck(dev_->lt, desc_, a_, b_, d_, d_, algo, &check);
  if (st != CUBLAS_STATUS_SUCCESS)
    return unsupported(who_, what, ": cublasLtMatmulAlgoCheck status ", static_cast<int>(st));
  if (check.workspaceSize > spec_.workspace)
    return unsupported(who_, what, " needs ", check.workspaceSize, " bytes of workspace (", spec_.workspace, " given)");
  return Status::Ok();
}

Status LtGemm::use(const LtTactic& t) {
  cublasLtMatmulAlgo_t algo{};
  Status s = rebuild(t, &algo);
  if (!s.ok()) return Status(StatusCode::kUnsupported, s.message());
  algo_ = algo;
  tactic_ = t;
  return Status::Ok();
}

Status LtGemm::run(const void* a, const void* b, void* d, const void* bias, const void* alpha, const void* beta,
                   void* ws, const void* c) {
  if (spec_.bias)
    QRT_RETURN_IF_ERROR(checkCublas(cublasLtMatmulDescSetAttribute(desc_, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &bias, sizeof(bias)), who_));
  return checkCublas(cublasLtMatmul(dev_->lt, desc_, alpha, a, a_, b, b_, beta, c ? c : d, d_, d, d_, &algo_, ws,
                                    spec_.workspace, dev_->stream),
                     who_, ": cublasLtMatmul");
}

LtSpec ltFloatSpec(LtSpec p, DataType t, const DeviceContext* dev, size_t workspace) {
  const int64_t e = static_cast<int64_t>(dataTypeSize(t));
  uint32_t align = 64;
  for (int64_t v : {p.lda * e, p.ldb * e, p.ldd * e, p.stride_a * e, p.stride_b * e, p.stride_d * e})
    while (align > 1 && v % align != 0) align /= 2;
  p.align_ab = p.align_cd = align;
  p.ab_type = p.d_type = t == DataType::kHalf ? CUDA_R_16F : CUDA_R_32F;
  p.scale_type = CUDA_R_32F;
  p.compute = t == DataType::kFloat && dev->allow_tf32 ? CUBLAS_COMPUTE_32F_FAST_TF32 : CUBLAS_COMPUTE_32F;
  p.workspace = workspace;
  return p;
}

}  // namespace qrt::cuda
