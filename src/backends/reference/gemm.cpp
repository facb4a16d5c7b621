// Reference Gemm and MatMul: row-major matrix products, one output row at a time (i-k-j order:
// the inner loop runs along the output row and a row of B), rows spread over threads.
// Accumulation is in float for fp32/fp16/bf16, double for fp64, the integer type for integers.
#include <algorithm>
#include <type_traits>

#include "backends/reference/nn_kernels.h"
#include "backends/reference/nn_util.h"
#include "backends/reference/ref_util.h"

namespace qrt::reference {

namespace {

// out[0..n) = sum_k a_row[k] * b[k][0..n), b row-major [k, n].
template <typename A> void gemmRow(int64_t k, int64_t n, const A* a_row, const A* b, A* out) {
  std::fill(out, out + n, A(0));
  for (int64_t i = 0; i < k; ++i) axpy(n, a_row[i], b + i * n, out);
}

// A matrix as a row-major accumulator-typed array: the input itself when it already is one,
// else converted (and transposed when `transpose`) into `scratch`.
template <typename T, typename A>
const A* rowMajorAcc(const T* src, int64_t rows, int64_t cols, bool transpose, A* scratch) {
  if constexpr (std::is_same_v<T, A>) {
    if (!transpose) return src;
  }
  // src holds [cols, rows] when transposed, [rows, cols] otherwise.
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < cols; ++c) scratch[r * cols + c] = load<A>(transpose ? src[c * rows + r] : src[r * cols + c]);
  return scratch;
}

template <typename T, typename A>
A* rowAccumulator(T* y, A* scratch) {
  if constexpr (std::is_same_v<T, A>) return y;
  else return scratch;
}

struct GemmParams {
  std::string where;
  bool trans_a = false, trans_b = false;
  float alpha = 1.f, beta = 1.f;
};

// Y[M, N] = alpha * A'[M, K] * B'[K, N] + beta * C (C broadcast to [M, N]).
template <typename T>
class GemmKernel final : public Kernel {
  using A = AccT<T>;
  static constexpr bool kSameType = std::is_same_v<T, A>;

 public:
  explicit GemmKernel(const GemmParams& p) : p_(p) {}

  Status reshape(const std::vector<TensorView>& inputs, const std::vector<TensorView>& outputs) override {
    const Dims& a = inputs[0].dims;
    const Dims& b = inputs[1].dims;
    m_ = p_.trans_a ? a[1] : a[0];
    k_ = p_.trans_a ? a[0] : a[1];
    n_ = p_.trans_b ? b[0] : b[1];
    QRT_RETURN_IF_ERROR(checkOutputDims(outputs[0], {m_, n_}, p_.where));
    has_c_ = present(inputs, 2) && p_.beta != 0.f;  // beta 0 ignores C (even its NaNs)
    if (has_c_) {
      std::vector<int64_t> s = broadcastStrides(inputs[2].dims, {m_, n_});
      c_row_stride_ = s[0];
      c_col_stride_ = s[1];
    }
    lanes_ = laneCount(m_);
    ws_.clear();
    ws_a_ = ws_.add<A>(kSameType && !p_.trans_a ? 0 : m_ * k_);
    ws_b_ = ws_.add<A>(kSameType && !p_.trans_b ? 0 : k_ * n_);
    ws_row_ = ws_.add<A>(kSameType ? 0 : lanes_ * n_);
    return Status::Ok();
  }

  size_t workspaceBytes() const override { return ws_.bytes(); }

  Status run(const std::vector<TensorView>& inputs, const std::vector<TensorView>& outputs, void* ws) override {
    const A* a = rowMajorAcc<T, A>(inputs[0].as<const T>(), m_, k_, p_.trans_a, ws_.at<A>(ws, ws_a_));
    const A* b = rowMajorAcc<T, A>(inputs[1].as<const T>(), k_, n_, p_.trans_b, ws_.at<A>(ws, ws_b_));
    const T* c = has_c_ ? inputs[2].as<const T>() : nullptr;
    T* y = outputs[0].as<T>();
    const A alpha = static_cast<A>(p_.alpha), beta = static_cast<A>(p_.beta);
    parallelLanes(m_, lanes_, [&](int64_t i, int64_t lane) {
      T* y_row = y + i * n_;
      A* acc = rowAccumulator(y_row, ws_.at<A>(ws, ws_row_) + lane * n_);
      gemmRow(k_, n_, a + i * k_, b, acc);
      for (int64_t j = 0; j < n_; ++j) {
        A v = alpha * acc[j];
        if (c) v += beta * load<A>(c[i * c_row_stride_ + j * c_col_stride_]);
        y_row[j] = store<T>(v);
      }
    });
    return Status::Ok();
  }

 private:
  GemmParams p_;
  int64_t m_ = 0, k_ = 0, n_ = 0, lanes_ = 1;
  bool has_c_ = false;
  int64_t c_row_stride_ = 0, c_col_stride_ = 0;
  WorkspaceLayout ws_;
  size_t ws_a_ = 0, ws_b_ = 0, ws_row_ = 0;
};

// numpy matmul: [..., M, K] x [..., K, N] -> [broadcast(...), M, N]; a 1-D A is [1, K] and a
// 1-D B is [K, 1] (the output layout is the same with those unit dims dropped).
template <typename T>
class MatMulKernel final : public Kernel {
  using A = AccT<T>;
  static constexpr bool kSameType = std::is_same_v<T, A>;

 public:
  explicit MatMulKernel(const std::string& where) : where_(where) {}

  Status reshape(const std::vector<TensorView>& inputs, const std::vector<TensorView>& outputs) override {
    Dims a = inputs[0].dims, b = inputs[1].dims;
    if (a.size() == 1) a.insert(a.begin(), 1);
    if (b.size() == 1) b.push_back(1);
    m_ = a[a.size() - 2];
    k_ = a.back();
    n_ = b.back();
    Dims a_batch(a.begin(), a.end() - 2), b_batch(b.begin(), b.end() - 2);
    size_t r = std::max(a_batch.size(), b_batch.size());
    Dims batch(r, 1);
    for (size_t i = 0; i < r; ++i) {
      int64_t da = i + a_batch.size() >= r ? a_batch[i + a_batch.size() - r] : 1;
      int64_t db = i + b_batch.size() >= r ? b_batch[i + b_batch.size() - r] : 1;
      batch[i] = da == 1 ? db : da;
    }
    if (volume(outputs[0].dims) != volume(batch) * m_ * n_)
      return internalError(where_, ": output has dims ", dimsToString(outputs[0].dims), " for ",
                           dimsToString(inputs[0].dims), " x ", dimsToString(inputs[1].dims));
    // Offsets of the A and B matrices each output matrix reads (broadcast batch dims repeat them).
    batches_ = volume(batch);
    a_offset_.assign(batches_, 0);
    b_offset_.assign(batches_, 0);
    const std::vector<int64_t> strides[2] = {broadcastStrides(a_batch, batch), broadcastStrides(b_batch, batch)};
    forEachBroadcast<2>(batch, strides, [&](int64_t i, const int64_t* off) {
      a_offset_[i] = off[0] * m_ * k_;
      b_offset_[i] = off[1] * k_ * n_;
    });
    lanes_ = laneCount(batches_ * m_);
    ws_.clear();
    ws_a_ = ws_.add<A>(kSameType ? 0 : inputs[0].numel());
    ws_b_ = ws_.add<A>(kSameType ? 0 : inputs[1].numel());
    ws_row_ = ws_.add<A>(kSameType ? 0 : lanes_ * n_);
    return Status::Ok();
  }

  size_t workspaceBytes() const override { return ws_.bytes(); }

  Status run(const std::vector<TensorView>& inputs, const std::vector<TensorView>& outputs, void* ws) override {
    const A* a = rowMajorAcc<T, A>(inputs[0].as<const T>(), 1, inputs[0].numel(), false, ws_.at<A>(ws, ws_a_));
    const A* b = rowMajorAcc<T, A>(inputs[1].as<const T>(), 1, inputs[1].numel(), false, ws_.at<A>(ws, ws_b_));
    T* y = outputs[0].as<T>();
    parallelLanes(batches_ * m_, lanes_, [&](int64_t row, int64_t lane) {
      int64_t batch = row / m_, i = row % m_;
      T* y_row = y + row * n_;
      A* acc = rowAccumulator(y_row, ws_.at<A>(ws, ws_row_) + lane * n_);
      gemmRow(k_, n_, a + a_offset_[batch] + i * k_, b + b_offset_[batch], acc);
      if constexpr (!kSameType)
        for (int64_t j = 0; j < n_; ++j) y_row[j] = store<T>(acc[j]);
    });
    return Status::Ok();
  }

 private:
  std::string where_;
  int64_t m_ = 0, k_ = 0, n_ = 0, batches_ = 0, lanes_ = 1;
  std::vector<int64_t> a_offset_, b_offset_;
  WorkspaceLayout ws_;
  size_t ws_a_ = 0, ws_b_ = 0, ws_row_ = 0;
};

}  // namespace

Result<std::unique_ptr<Kernel>> createGemm(const ir::Node& node) {
  GemmParams p;
  p.where = node.describe();
  p.trans_a = node.attrInt("transA", 0) != 0;
  p.trans_b = node.attrInt("transB", 0) != 0;
  p.alpha = node.attrFloat("alpha", 1.f);
  p.beta = node.attrFloat("beta", 1.f);
  return newFloatKernel<GemmKernel>(node.inputs[0]->dtype, p, p.where);
}

Result<std::unique_ptr<Kernel>> createMatMul(const ir::Node& node) {
  std::string where = node.describe();
  switch (node.inputs[0]->dtype) {
    case DataType::kInt32: return std::unique_ptr<Kernel>(new MatMulKernel<int32_t>(where));
    case DataType::kInt64: return std::unique_ptr<Kernel>(new MatMulKernel<int64_t>(where));
    case DataType::kUInt32: return std::unique_ptr<Kernel>(new MatMulKernel<uint32_t>(where));
    case DataType::kUInt64: return std::unique_ptr<Kernel>(new MatMulKernel<uint64_t>(where));
    default: return newFloatKernel<MatMulKernel>(node.inputs[0]->dtype, where, where);
  }
}

}  // namespace qrt::reference
