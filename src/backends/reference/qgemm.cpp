// Reference integer matrix products: MatMulInteger and QLinearMatMul (ONNX, uint8/int8 with
// zero points, numpy batching) and qrt's fused QMatMul (int8 x int8, per-tensor scales) and
// QGemm (int8 activations times constant int8 weights stored as [N, K] rows, per-column
// scales). Each output row accumulates in int32 (gemmRowInt); the op's epilogue makes the
// output elements. Rows are spread over threads.
#include <algorithm>

#include "backends/reference/qops_common.h"
#include "backends/reference/ref_util.h"

namespace qrt::reference {

Result<MatMulPlan> planMatMul(const Dims& a0, const Dims& b0, const Dims& out, const std::string& where) {
  Dims a = a0, b = b0;
  if (a.empty() || b.empty()) return invalidArgument(where, ": matmul operands must have rank >= 1");
  if (a.size() == 1) a.insert(a.begin(), 1);
  if (b.size() == 1) b.push_back(1);
  MatMulPlan p;
  p.m = a[a.size() - 2];
  p.k = a.back();
  p.n = b.back();
  if (b[b.size() - 2] != p.k)
    return invalidArgument(where, ": inner dimensions differ: ", dimsToString(a0), " x ", dimsToString(b0));
  Dims a_batch(a.begin(), a.end() - 2), b_batch(b.begin(), b.end() - 2);
  const size_t r = std::max(a_batch.size(), b_batch.size());
  Dims batch(r, 1);
  for (size_t i = 0; i < r; ++i) {
    int64_t da = i + a_batch.size() >= r ? a_batch[i + a_batch.size() - r] : 1;
    int64_t db = i + b_batch.size() >= r ? b_batch[i + b_batch.size() - r] : 1;
    if (da != db && da != 1 && db != 1)
      return invalidArgument(where, ": batch dimensions do not broadcast: ", dimsToString(a0), " x ", dimsToString(b0));
    batch[i] = da == 1 ? db : da;
  }
  p.batches = volume(batch);
  if (volume(out) != p.batches * p.m * p.n)
    return internalError(where, ": output has dims ", dimsToString(out), " for ", dimsToString(a0), " x ",
                         dimsToString(b0));
  p.a_offset.assign(static_cast<size_t>(p.batches), 0);
  p.b_offset.assign(static_cast<size_t>(p.batches), 0);
  const std::vector<int64_t> strides[2] = {broadcastStrides(a_batch, batch), broadcastStrides(b_batch, batch)};
  forEachBroadcast<2>(batch, strides, [&](int64_t i, const int64_t* off) {
    p.a_offset[static_cast<size_t>(i)] = off[0] * p.m * p.k;
    p.b_offset[static_cast<size_t>(i)] = off[1] * p.k * p.n;
  });
  return p;
}

Result<FusedActivation> readFusedActivation(const ir::Node& node) {
  FusedActivation act;
  const std::string kind = node.attrString("activation", "none");
  if (kind == "relu") {
    act.kind = FusedActivation::Kind::kRelu;
  } else if (kind == "clip") {
    act.kind = FusedActivation::Kind::kClip;
    act.lo = node.attrFloat("clip_min", 0.f);
    act.hi = node.attrFloat("clip_max", 0.f);
  } else if (kind == "hard_swish") {
    act.kind = FusedActivation::Kind::kHardSwish;
    act.affine = node.hasAttr("post_scale") || node.hasAttr("post_shift");
    act.post_scale = node.attrFloat("post_scale", 1.f);
    act.post_shift = node.attrFloat("post_shift", 0.f);
  } else if (kind != "none") {
    return invalidArgument(node.describe(), ": unknown activation '", kind, "'");
  }
  return act;
}

namespace {

// Which inputs hold A, B and their (optional, -1: none) zero points.
struct MatMulOperands {
  int a = 0, b = 1, a_zp = -1, b_zp = -1;
};

// numpy matmul of integer operands; a_zp per tensor or per row of A, b_zp per tensor or per
// column of B.
template <typename TA, typename TB, typename TY, typename Epi>
class IntMatMulKernel final : public Kernel {
 public:
  IntMatMulKernel(std::string where, MatMulOperands io, Epi epi)
      : where_(std::move(where)), io_(io), epi_(std::move(epi)) {}

  Status reshape(const std::vector<TensorView>& inputs, const std::vector<TensorView>& outputs) override {
    QRT_ASSIGN_OR_RETURN(plan_, planMatMul(inputs[static_cast<size_t>(io_.a)].dims,
                                           inputs[static_cast<size_t>(io_.b)].dims, outputs[0].dims, where_));
    QRT_RETURN_IF_ERROR(checkPerChannel(optionalInput(inputs, io_.a_zp), plan_.m, "a_zero_point", where_));
    QRT_RETURN_IF_ERROR(checkPerChannel(optionalInput(inputs, io_.b_zp), plan_.n, "b_zero_point", where_));
    lanes_ = laneCount(plan_.batches * plan_.m);
    ws_.clear();
    ws_a_zp_ = ws_.add<int32_t>(plan_.m);
    ws_b_zp_ = ws_.add<int32_t>(plan_.n);
    ws_acc_ = ws_.add<int32_t>(lanes_ * plan_.n);
    return epi_.reshape(inputs, plan_.n, plan_.m, ws_, where_);
  }

  size_t workspaceBytes() const override { return ws_.bytes(); }

  Status run(const std::vector<TensorView>& inputs, const std::vector<TensorView>& outputs, void* ws) override {
    epi_.prepare(inputs, ws_, ws);
    int32_t* a_zp = ws_.at<int32_t>(ws, ws_a_zp_);
    int32_t* b_zp = ws_.at<int32_t>(ws, ws_b_zp_);
    expandInt(optionalInput(inputs, io_.a_zp), plan_.m, a_zp);
    expandInt(optionalInput(inputs, io_.b_zp), plan_.n, b_zp);
    const TA* a = inputs[static_cast<size_t>(io_.a)].as<const TA>();
    const TB* b = inputs[static_cast<size_t>(io_.b)].as<const TB>();
    TY* y = outputs[0].as<TY>();
    const MatMulPlan& p = plan_;
    parallelLanes(p.batches * p.m, lanes_, [&](int64_t row, int64_t lane) {
      const int64_t batch = row / p.m, i = row % p.m;
      int32_t* acc = ws_.at<int32_t>(ws, ws_acc_) + lane * p.n;
      const TA* a_row = a + p.a_offset[static_cast<size_t>(batch)] + i * p.k;
      const MatrixRef<TB> b_mat{b + p.b_offset[static_cast<size_t>(batch)], p.n, 1};
      gemmRowInt(p.k, p.n, a_row, 1, a_zp[i], b_mat, b_zp, acc);
      TY* y_row = y + row * p.n;
      for (int64_t j = 0; j < p.n; ++j) y_row[j] = epi_.apply(acc[j], i, j);
    });
    return Status::Ok();
  }

 private:
  std::string where_;
  MatMulOperands io_;
  Epi epi_;
  MatMulPlan plan_;
  int64_t lanes_ = 1;
  WorkspaceLayout ws_;
  size_t ws_a_zp_ = 0, ws_b_zp_ = 0, ws_acc_ = 0;
};

template <typename TA, typename TB, typename TY, typename Epi>
std::unique_ptr<Kernel> newIntMatMul(std::string where, MatMulOperands io, Epi epi) {
  return std::make_unique<IntMatMulKernel<TA, TB, TY, Epi>>(std::move(where), io, std::move(epi));
}

// QGemm: a_q [..., K] (transA: [K, M]) times w_q^T with w_q [N, K]; inputs a_q 0, w_q 1, bias 2,
// a_scale 3, w_scale 4 (alpha folded in), y_scale 5 (optional).
template <typename TY>
class QGemmKernel final : public Kernel {
 public:
  QGemmKernel(std::string where, bool trans_a, FusedEpilogue<TY> epi)
      : where_(std::move(where)), trans_a_(trans_a), epi_(std::move(epi)) {}

  Status reshape(const std::vector<TensorView>& inputs, const std::vector<TensorView>& outputs) override {
    const Dims& a = inputs[0].dims;
    const Dims& w = inputs[1].dims;
    k_ = trans_a_ ? a[0] : a.back();
    m_ = trans_a_ ? a[1] : inputs[0].numel() / std::max<int64_t>(k_, 1);
    n_ = w[0];
    if (w[1] != k_)
      return invalidArgument(where_, ": inner dimensions differ: a_q ", dimsToString(a), ", w_q ", dimsToString(w));
    if (outputs[0].numel() != m_ * n_)
      return internalError(where_, ": output has dims ", dimsToString(outputs[0].dims), " for ", m_, " rows of ", n_);
    lanes_ = laneCount(m_);
    ws_.clear();
    ws_zero_ = ws_.add<int32_t>(n_);
    ws_acc_ = ws_.add<int32_t>(lanes_ * n_);
    return epi_.reshape(inputs, n_, m_, ws_, where_);
  }

  size_t workspaceBytes() const override { return ws_.bytes(); }

  Status run(const std::vector<TensorView>& inputs, const std::vector<TensorView>& outputs, void* ws) override {
    epi_.prepare(inputs, ws_, ws);
    int32_t* zero = ws_.at<int32_t>(ws, ws_zero_);
    std::fill(zero, zero + n_, 0);
    const int8_t* a = inputs[0].as<const int8_t>();
    const MatrixRef<int8_t> w_t{inputs[1].as<const int8_t>(), 1, k_};  // element (k, j) is w[j][k]
    TY* y = outputs[0].as<TY>();
    parallelLanes(m_, lanes_, [&](int64_t i, int64_t lane) {
      int32_t* acc = ws_.at<int32_t>(ws, ws_acc_) + lane * n_;
      // Row i of A: contiguous, or column i of the stored [K, M] when transposed.
      const int8_t* a_row = trans_a_ ? a + i : a + i * k_;
      gemmRowInt(k_, n_, a_row, trans_a_ ? m_ : 1, 0, w_t, zero, acc);
      TY* y_row = y + i * n_;
      for (int64_t j = 0; j < n_; ++j) y_row[j] = epi_.apply(acc[j], i, j);
    });
    return Status::Ok();
  }

 private:
  std::string where_;
  bool trans_a_ = false;
  FusedEpilogue<TY> epi_;
  int64_t m_ = 0, k_ = 0, n_ = 0, lanes_ = 1;
  WorkspaceLayout ws_;
  size_t ws_zero_ = 0, ws_acc_ = 0;
};

}  // namespace

Result<std::unique_ptr<Kernel>> createQGemm(const ir::Node& node) {
  QRT_ASSIGN_OR_RETURN(FusedActivation act, readFusedActivation(node));
  if (node.inputs[0]->dtype != DataType::kInt8 || node.inputs[1]->dtype != DataType::kInt8)
    return unsupported(node.describe(), ": QGemm takes int8 a_q and w_q");
  const bool trans_a = node.attrInt("transA", 0) != 0;
  if (!node.hasInput(5))
    return std::unique_ptr<Kernel>(
        std::make_unique<QGemmKernel<float>>(node.describe(), trans_a, FusedEpilogue<float>({2, 3, 4, -1}, act)));
  return std::unique_ptr<Kernel>(
      std::make_unique<QGemmKernel<int8_t>>(node.describe(), trans_a, FusedEpilogue<int8_t>({2, 3, 4, 5}, act)));
}

// QMatMul inputs: a_q 0, b_q 1, a_scale 2, b_scale 3, y_scale 4 (optional). No bias.
Result<std::unique_ptr<Kernel>> createQMatMul(const ir::Node& node) {
  QRT_ASSIGN_OR_RETURN(FusedActivation act, readFusedActivation(node));
  if (node.inputs[0]->dtype != DataType::kInt8 || node.inputs[1]->dtype != DataType::kInt8)
    return unsupported(node.describe(), ": QMatMul takes int8 a_q and b_q");
  const MatMulOperands io{0, 1, -1, -1};
  if (!node.hasInput(4))
    return newIntMatMul<int8_t, int8_t, float>(node.describe(), io, FusedEpilogue<float>({-1, 2, 3, -1}, act));
  return newIntMatMul<int8_t, int8_t, int8_t>(node.describe(), io, FusedEpilogue<int8_t>({-1, 2, 3, 4}, act));
}

// MatMulInteger inputs: A 0, B 1, a_zero_point 2, b_zero_point 3.
Result<std::unique_ptr<Kernel>> createMatMulInteger(const ir::Node& node) {
  std::unique_ptr<Kernel> k;
  Status s = dispatchInt8Pair(node.inputs[0]->dtype, node.inputs[1]->dtype, [&](auto ta, auto tb) {
    k = newIntMatMul<decltype(ta), decltype(tb), int32_t>(node.describe(), MatMulOperands{0, 1, 2, 3}, Int32Epilogue{});
  });
  if (!s.ok()) return s.withContext(node.describe());
  return k;
}

// QLinearMatMul inputs: a 0, a_scale 1, a_zero_point 2, b 3, b_scale 4, b_zero_point 5,
// y_scale 6, y_zero_point 7.
Result<std::unique_ptr<Kernel>> createQLinearMatMul(const ir::Node& node) {
  const MatMulOperands io{0, 3, 2, 5};
  std::unique_ptr<Kernel> k;
  Status inner = Status::Ok();
  Status s = dispatchInt8Pair(node.inputs[0]->dtype, node.inputs[3]->dtype, [&](auto ta, auto tb) {
    using TA = decltype(ta);
    using TB = decltype(tb);
    switch (node.outputs[0]->dtype) {
      case DataType::kUInt8:
        k = newIntMatMul<TA, TB, uint8_t>(node.describe(), io, QLinearEpilogue<uint8_t>({1, 4, 6, 7, -1}));
        break;
      case DataType::kInt8:
        k = newIntMatMul<TA, TB, int8_t>(node.describe(), io, QLinearEpilogue<int8_t>({1, 4, 6, 7, -1}));
        break;
      default:
        inner = unsupported("output dtype ", dataTypeName(node.outputs[0]->dtype), " (uint8 and int8 are supported)");
    }
  });
  if (!s.ok()) return s.withContext(node.describe());
  if (!inner.ok()) return inner.withContext(node.describe());
  return k;
}

}  // namespace qrt::reference
