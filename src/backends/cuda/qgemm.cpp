// qrt's fused integer matrix products on the GPU (docs/int8.md): QGemm (int8 activations times
// constant int8 weights stored as [N, K] rows) and QMatMul (int8 x int8, numpy batching).
//
// The integer product runs on cuBLASLt's INT8 tensor-core kernels (int8 inputs, int32 compute
// and output) into an int32 accumulator in the workspace; qrt's epilogue kernel (quantize.cu)
// then rescales per output channel, adds the float bias, applies Relu/Clip and stores fp32 or
// requantized int8, with the reference backend's arithmetic. Keeping the rescale in our own
// kernel, rather than cuBLASLt's alpha vector, keeps the rounding identical to the reference
// (one fp32 multiply by x_scale * w_scale[c], one add, one divide by y_scale).
//
// cuBLASLt's INT8 kernels take only the "TN" form with 4-byte aligned leading dimensions. qrt's
// row-major Y[M, N] = A[M, K] . W[N, K]^T is exactly that as the column-major Y^T = W^T' . A^T'
// (both operands K-contiguous); QMatMul's B [K, N] is first transposed to [N, K] rows in the
// workspace. Shapes cuBLASLt refuses (K not a multiple of 4, QGemm's transA, no algorithm) run
// on a plain int8 kernel instead.
#include "backends/cuda/conv_tactic_file.h"
#include "backends/cuda/int8_launch.h"
#include "backends/cuda/kernel_table.h"
#include "backends/cuda/lt_gemm.h"
#include "ops/op.h"

namespace qrt::cuda {

namespace {

constexpr size_t kLtWorkspace = size_t{4} << 20;

size_t alignUp(size_t n) { return (n + 255) / 256 * 256; }
void* at(void* ws, size_t offset) {
  auto p = (reinterpret_cast<uintptr_t>(ws) + 255) / 256 * 256;  // the arena gives 64-byte alignment
  return reinterpret_cast<void*>(p + offset);
}

// acc[batch][rows][cols] = A[batch][rows][K] . W[batch][cols][K]^T, int8 -> int32, through
// cuBLASLt when it has a kernel for the shape (else `ok()` is false and the caller falls back).
class LtInt8 {
 public:
  bool ok() const { return ok_; }
  LtGemm* gemm() { return ok_ ? &gemm_ : nullptr; }

  Status plan(DeviceContext* dev, int64_t batch, int64_t rows, int64_t cols, int64_t k, int64_t a_stride,
              int64_t w_stride, const std::string& tactic_attr, const std::string& who) {
    ok_ = false;
    if (k % 4 != 0 || rows == 0 || cols == 0 || k == 0) return Status::Ok();
    uint32_t align = 4;
    for (int64_t v : {k, a_stride, w_stride})
      while (align > 1 && v % align != 0) align /= 2;
    if (align < 4) return Status::Ok();
    uint32_t align_d = 16;  // the accumulator starts 256-byte aligned; its columns and batches move by these
    for (int64_t v : {cols * 4, rows * cols * 4})
      while (align_d > 4 && v % align_d != 0) align_d /= 2;
    // Column-major: W's bytes are K x cols (ld K), used transposed; A's are K x rows (ld K).
    LtSpec p;
    p.ab_type = CUDA_R_8I;
    p.d_type = CUDA_R_32I;
    p.scale_type = CUDA_R_32I;
    p.compute = CUBLAS_COMPUTE_32I;
    p.trans_a = true;
    p.m = cols;
    p.n = rows;
    p.k = k;
    p.lda = p.ldb = k;
    p.ldd = cols;
    p.batch = batch;
    p.stride_a = w_stride;
    p.stride_b = a_stride;
    p.stride_d = rows * cols;
    p.align_ab = align;
    p.align_cd = align_d;
    p.workspace = kLtWorkspace;
    // No algorithm (or a configuration cuBLASLt rejects): the plain kernel takes it.
    ok_ = gemm_.plan(dev, p, tactic_attr, who).ok();
    return Status::Ok();
  }

  Status run(const int8_t* a, const int8_t* w, int32_t* acc, void* ws) {
    const int32_t one = 1, zero = 0;
    return gemm_.run(w, a, acc, nullptr, &one, &zero, ws);
  }

 private:
  bool ok_ = false;
  LtGemm gemm_;
};

Result<launch::Int8Epilogue> readEpilogue(const ir::Node& n) {
  launch::Int8Epilogue e;
  const std::string act = n.attrString("activation", "none");
  if (act == "relu") {
    e.act = 1;
  } else if (act == "clip") {
    e.act = 2;
    e.lo = n.attrFloat("clip_min", 0.f);
    e.hi = n.attrFloat("clip_max", 0.f);
  } else if (act != "none") {
    return invalidArgument(n.describe(), ": unknown activation '", act, "'");
  }
  return e;
}

bool present(const std::vector<TensorView>& in, int i) {
  return i >= 0 && in.size() > static_cast<size_t>(i) && in[static_cast<size_t>(i)].dtype != DataType::kUndefined;
}

// What QGemm and QMatMul share: the int8 product (cuBLASLt or the plain kernel) into the int32
// accumulator at the start of the workspace, then the epilogue.
class IntMatmulBase : public CudaKernel, public LtGemmKernel {
 public:
  struct Inputs {
    int bias = -1, x_scale = -1, w_scale = -1, y_scale = -1;
  };
  IntMatmulBase(const ir::Node& n, DeviceContext* dev, launch::Int8Epilogue e, Inputs io)
      : CudaKernel(n, dev), epi_(e), io_(io), tactic_attr_(n.attrString(kAttrTactic, "")) {}

  LtGemm* ltGemm() override { return lt_.gemm(); }

  size_t workspaceBytes() const override { return 256 + alignUp(acc_bytes_) + alignUp(extra_bytes_) + kLtWorkspace; }

 protected:
  // Checks the parameter sizes for `cols` output channels.
  Status checkParams(const std::vector<TensorView>& in, int64_t cols) {
    const int64_t ws = in[static_cast<size_t>(io_.w_scale)].numel();
    if (in[static_cast<size_t>(io_.x_scale)].numel() != 1) return invalidArgument(who_, ": the input scale must be one value");
    if (ws != 1 && ws != cols) return invalidArgument(who_, ": w_scale has ", ws, " elements; expected 1 or ", cols);
    if (present(in, io_.bias) && in[static_cast<size_t>(io_.bias)].numel() != cols)
      return invalidArgument(who_, ": bias has ", in[static_cast<size_t>(io_.bias)].numel(), " elements; expected ", cols);
    if (present(in, io_.y_scale) && in[static_cast<size_t>(io_.y_scale)].numel() != 1)
      return invalidArgument(who_, ": y_scale must be one value");
    epi_.w_per_channel = ws != 1;
    return Status::Ok();
  }

  Status finish(const std::vector<TensorView>& in, const TensorView& out, const int32_t* acc, int64_t rows,
                int64_t cols) {
    launch::Int8Epilogue e = epi_;
    e.x_scale = in[static_cast<size_t>(io_.x_scale)].as<const float>();
    e.w_scale = in[static_cast<size_t>(io_.w_scale)].as<const float>();
    e.bias = present(in, io_.bias) ? in[static_cast<size_t>(io_.bias)].as<const float>() : nullptr;
    e.y_scale = present(in, io_.y_scale) ? in[static_cast<size_t>(io_.y_scale)].as<const float>() : nullptr;
    launch::int8Epilogue(acc, out.data, rows, cols, e, stream());
    return launched();
  }

  launch::Int8Epilogue epi_;
  Inputs io_;
  std::string tactic_attr_;
  size_t acc_bytes_ = 0, extra_bytes_ = 0;
  LtInt8 lt_;
  launch::Int8MatmulShape shape_;
};

// QGemm inputs: a_q 0, w_q 1 ([N, K]), bias 2, a_scale 3, w_scale 4, y_scale 5.
class QGemmKernel final : public IntMatmulBase {
 public:
  QGemmKernel(const ir::Node& n, DeviceContext* dev, launch::Int8Epilogue e)
      : IntMatmulBase(n, dev, e, {2, 3, 4, 5}), trans_a_(n.attrInt("transA", 0) != 0) {}

  Status reshape(const std::vector<TensorView>& in, const std::vector<TensorView>& out) override {
    const Dims& a = in[0].dims;
    const Dims& w = in[1].dims;
    if (w.size() != 2 || a.empty() || (trans_a_ && a.size() != 2))
      return invalidArgument(who_, ": a_q must be 2-D (or more, without transA) and w_q 2-D");
    const int64_t k = trans_a_ ? a[0] : a.back();
    const int64_t m = trans_a_ ? a[1] : in[0].numel() / std::max<int64_t>(k, 1);
    const int64_t n = w[0];
    if (w[1] != k) return invalidArgument(who_, ": inner dimensions differ: a_q ", dimsToString(a), ", w_q ", dimsToString(w));
    if (out[0].numel() != m * n) return internalError(who_, ": output has dims ", dimsToString(out[0].dims));
    QRT_RETURN_IF_ERROR(checkParams(in, n));
    shape_ = launch::Int8MatmulShape{};
    shape_.rows = m;
    shape_.cols = n;
    shape_.k = k;
    shape_.a_rs = trans_a_ ? 1 : k;
    shape_.a_cs = trans_a_ ? m : 1;
    acc_bytes_ = static_cast<size_t>(m * n) * sizeof(int32_t);
    if (trans_a_) return lt_.plan(dev_, 1, 0, 0, 0, 0, 0, tactic_attr_, who_);  // no TT form: the plain kernel
    return lt_.plan(dev_, 1, m, n, k, m * k, n * k, tactic_attr_, who_);
  }

  Status run(const std::vector<TensorView>& in, const std::vector<TensorView>& out, void* ws) override {
    auto* acc = static_cast<int32_t*>(at(ws, 0));
    const auto* a = in[0].as<const int8_t>();
    const auto* w = in[1].as<const int8_t>();
    if (lt_.ok()) QRT_RETURN_IF_ERROR(lt_.run(a, w, acc, at(ws, alignUp(acc_bytes_))));
    else launch::int8Matmul(a, w, acc, shape_, stream());
    return finish(in, out[0], acc, shape_.rows, shape_.cols);
  }

 private:
  bool trans_a_;
};

// QMatMul inputs: a_q 0, b_q 1, a_scale 2, b_scale 3, y_scale 4. Batches broadcast when B is
// one matrix (A's batches fold into its rows) or A is one matrix or both have the same batch
// dims, as the float MatMul kernel.
class QMatMulKernel final : public IntMatmulBase {
 public:
  QMatMulKernel(const ir::Node& n, DeviceContext* dev, launch::Int8Epilogue e) : IntMatmulBase(n, dev, e, {-1, 2, 3, 4}) {}

  Status reshape(const std::vector<TensorView>& in, const std::vector<TensorView>& out) override {
    Dims a = in[0].dims, b = in[1].dims;
    if (a.empty() || b.empty()) return invalidArgument(who_, ": QMatMul operands must have rank 1 or more");
    if (a.size() == 1) a.insert(a.begin(), 1);
    if (b.size() == 1) b.push_back(1);
    const int64_t m = a[a.size() - 2], k = a.back(), n = b.back();
    if (b[b.size() - 2] != k) return invalidArgument(who_, ": inner dims differ (", k, " vs ", b[b.size() - 2], ")");
    const Dims ab(a.begin(), a.end() - 2), bb(b.begin(), b.end() - 2);
    const int64_t batch_a = volume(ab), batch_b = volume(bb);
    QRT_RETURN_IF_ERROR(checkParams(in, n));
    shape_ = launch::Int8MatmulShape{};
    shape_.cols = n;
    shape_.k = k;
    shape_.a_rs = k;
    shape_.a_cs = 1;
    if (batch_b == 1) {
      shape_.batch = 1;
      shape_.rows = batch_a * m;
    } else {
      const size_t r = std::max(ab.size(), bb.size());
      Dims fa(r, 1), fb(r, 1);
      std::copy(ab.begin(), ab.end(), fa.begin() + static_cast<std::ptrdiff_t>(r - ab.size()));
      std::copy(bb.begin(), bb.end(), fb.begin() + static_cast<std::ptrdiff_t>(r - bb.size()));
      if (batch_a != 1 && fa != fb)
        return unsupported(who_, ": the CUDA backend broadcasts QMatMul batches only when one side has a single "
                                 "matrix or both have the same batch dims");
      shape_.batch = batch_b;
      shape_.rows = m;
      shape_.a_batch = batch_a == 1 ? 0 : m * k;
    }
    shape_.w_batch = k * n;
    if (out[0].numel() != shape_.batch * shape_.rows * n) return internalError(who_, ": output has dims ", dimsToString(out[0].dims));
    // B [batch_b][K][N] -> [batch_b][N][K] rows.
    transpose_ = launch::StridedCopy{};
    transpose_.rank = 3;
    transpose_.dims[0] = batch_b;
    transpose_.dims[1] = k;
    transpose_.dims[2] = n;
    transpose_.src_strides[0] = k * n;
    transpose_.src_strides[1] = n;
    transpose_.src_strides[2] = 1;
    transpose_.dst_strides[0] = k * n;
    transpose_.dst_strides[1] = 1;
    transpose_.dst_strides[2] = k;
    acc_bytes_ = static_cast<size_t>(shape_.batch * shape_.rows * n) * sizeof(int32_t);
    extra_bytes_ = static_cast<size_t>(batch_b * k * n);
    return lt_.plan(dev_, shape_.batch, shape_.rows, n, k, shape_.a_batch, shape_.w_batch, tactic_attr_, who_);
  }

  Status run(const std::vector<TensorView>& in, const std::vector<TensorView>& out, void* ws) override {
    auto* acc = static_cast<int32_t*>(at(ws, 0));
    auto* bt = static_cast<int8_t*>(at(ws, alignUp(acc_bytes_)));
    launch::stridedCopy(in[1].data, bt, 1, transpose_, stream());
    const auto* a = in[0].as<const int8_t>();
    if (lt_.ok()) QRT_RETURN_IF_ERROR(lt_.run(a, bt, acc, at(ws, alignUp(acc_bytes_) + alignUp(extra_bytes_))));
    else launch::int8Matmul(a, bt, acc, shape_, stream());
    return finish(in, out[0], acc, shape_.batch * shape_.rows, shape_.cols);
  }

 private:
  launch::StridedCopy transpose_;
};

Result<std::unique_ptr<Kernel>> createQGemm(const ir::Node& node, DeviceContext* dev) {
  QRT_ASSIGN_OR_RETURN(launch::Int8Epilogue e, readEpilogue(node));
  if (!node.hasInput(1) || node.inputs[1]->dtype != DataType::kInt8)
    return unsupported(node.describe(), ": QGemm takes int8 a_q and w_q");
  return makeKernel<QGemmKernel>(node, dev, e);
}

Result<std::unique_ptr<Kernel>> createQMatMul(const ir::Node& node, DeviceContext* dev) {
  QRT_ASSIGN_OR_RETURN(launch::Int8Epilogue e, readEpilogue(node));
  if (!node.hasInput(1) || node.inputs[1]->dtype != DataType::kInt8)
    return unsupported(node.describe(), ": QMatMul takes int8 a_q and b_q");
  return makeKernel<QMatMulKernel>(node, dev, e);
}

constexpr DTypeSet kInt8{DataType::kInt8};

const CudaKernelEntry kEntries[] = {
    {"QGemm", kInt8, &createQGemm, 0, kQrtDomain},
    {"QMatMul", kInt8, &createQMatMul, 0, kQrtDomain},
};

}  // namespace

std::span<const CudaKernelEntry> qgemmKernels() { return kEntries; }

}  // namespace qrt::cuda
