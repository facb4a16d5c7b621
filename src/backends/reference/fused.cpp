// Reference kernels of qrt's fused float layers (src/ops/fused.cpp): the reference Conv or Gemm
// kernel computes conv(X, W) + B or alpha * A'B' + beta * C into the output, then one epilogue
// pass adds the residual Z and applies the activation in place. Values are rounded to the
// output dtype where the unfused chain stored them (after the layer, after the Add), so a fused
// layer equals its chain: bit for bit in fp32 and fp64; in fp16/bf16 too, except Swish, whose
// sigmoid the chain rounds before the multiply.
#include <array>

#include "backends/reference/kernel_table.h"
#include "backends/reference/nn_kernels.h"
#include "backends/reference/nn_util.h"
#include "backends/reference/ref_util.h"
#include "ops/fused_activation.h"
#include "ops/op.h"

namespace qrt::reference {

namespace {

constexpr size_t kMaxRank = 8;

// y = act(y + z) in place, z broadcast to y (absent: y = act(y)).
template <typename T>
class Epilogue {
  using C = AccT<T>;

 public:
  explicit Epilogue(FusedActivation act) : act_(act) {}

  Status reshape(const TensorView* z, const Dims& y, const std::string& where) {
    rank_ = y.size();
    has_z_ = z != nullptr;
    if (rank_ > kMaxRank) return unsupported(where, ": outputs of rank ", rank_, " (the epilogue handles <= ", kMaxRank, ")");
    numel_ = volume(y);
    inner_ = rank_ == 0 ? 1 : y.back();
    std::copy(y.begin(), y.end(), dims_.begin());
    if (has_z_) {
      if (z->dims.size() > rank_) return invalidArgument(where, ": Z ", dimsToString(z->dims), " has a higher rank than the output");
      for (size_t i = 0; i < z->dims.size(); ++i) {
        int64_t o = y[rank_ - z->dims.size() + i];
        if (z->dims[i] != 1 && z->dims[i] != o)
          return invalidArgument(where, ": Z ", dimsToString(z->dims), " does not broadcast to the output ",
                                 dimsToString(y));
      }
      std::vector<int64_t> s = broadcastStrides(z->dims, y);
      std::copy(s.begin(), s.end(), z_strides_.begin());
    }
    return Status::Ok();
  }

  bool active() const { return has_z_ || act_.kind != FusedActivation::Kind::kNone; }

  void apply(T* y, const T* z) const {
    if (!active() || numel_ == 0) return;
    const int64_t rows = numel_ / inner_;
    parallelRange(rows, std::max<int64_t>(1, 16384 / std::max<int64_t>(1, inner_)), [&](int64_t begin, int64_t end) {
      for (int64_t r = begin; r < end; ++r) {
        T* yr = y + r * inner_;
        if (z) {
          const T* zr = z + zOffset(r);
          const int64_t step = z_strides_[rank_ - 1];
          for (int64_t j = 0; j < inner_; ++j) {
            // The chain's Add stored its sum: round it to T before the activation.
            C sum = load<C>(store<T>(load<C>(yr[j]) + load<C>(zr[j * step])));
            yr[j] = store<T>(applyActivation(act_, sum));
          }
        } else {
          for (int64_t j = 0; j < inner_; ++j) yr[j] = store<T>(applyActivation(act_, load<C>(yr[j])));
        }
      }
    });
  }

 private:
  // Offset in Z of the first element of output row r (all dims but the last).
  int64_t zOffset(int64_t r) const {
    int64_t off = 0;
    for (size_t d = rank_ - 1; d-- > 0;) {
      off += (r % dims_[d]) * z_strides_[d];
      r /= dims_[d];
    }
    return off;
  }

  FusedActivation act_;
  size_t rank_ = 0;
  bool has_z_ = false;
  int64_t numel_ = 0, inner_ = 1;
  std::array<int64_t, kMaxRank> dims_{}, z_strides_{};
};

// The residual input (3), when present.
const TensorView* residual(const std::vector<TensorView>& inputs) { return present(inputs, 3) ? &inputs[3] : nullptr; }

template <typename T>
class FusedConvKernel final : public Kernel {
 public:
  FusedConvKernel(std::unique_ptr<Kernel> conv, FusedActivation act, std::string where)
      : conv_(std::move(conv)), epi_(act), where_(std::move(where)) {}

  Status reshape(const std::vector<TensorView>& inputs, const std::vector<TensorView>& outputs) override {
    QRT_RETURN_IF_ERROR(conv_->reshape(inputs, outputs));  // reads X, W, B; ignores Z
    return epi_.reshape(residual(inputs), outputs[0].dims, where_);
  }
  size_t workspaceBytes() const override { return conv_->workspaceBytes(); }

  Status run(const std::vector<TensorView>& inputs, const std::vector<TensorView>& outputs, void* ws) override {
    QRT_RETURN_IF_ERROR(conv_->run(inputs, outputs, ws));
    const TensorView* z = residual(inputs);
    epi_.apply(outputs[0].as<T>(), z ? z->as<const T>() : nullptr);
    return Status::Ok();
  }

 private:
  std::unique_ptr<Kernel> conv_;
  Epilogue<T> epi_;
  std::string where_;
};

// The Gemm kernel sees A as [rows, K] and y as [rows, N]: an A of rank > 2 is a stack of rows.
template <typename T>
class FusedGemmKernel final : public Kernel {
 public:
  FusedGemmKernel(std::unique_ptr<Kernel> gemm, FusedActivation act, std::string where)
      : gemm_(std::move(gemm)), epi_(act), where_(std::move(where)) {}

  Status reshape(const std::vector<TensorView>& inputs, const std::vector<TensorView>& outputs) override {
    const Dims& a = inputs[0].dims;
    const Dims& y = outputs[0].dims;
    in_.assign(3, TensorView{});
    in_[0] = inputs[0];
    if (a.size() > 2) in_[0].dims = {volume(Dims(a.begin(), a.end() - 1)), a.back()};
    in_[1] = inputs[1];
    if (present(inputs, 2)) in_[2] = inputs[2];
    out_.assign(1, outputs[0]);
    if (y.size() > 2) out_[0].dims = {volume(Dims(y.begin(), y.end() - 1)), y.back()};
    QRT_RETURN_IF_ERROR(gemm_->reshape(in_, out_));
    return epi_.reshape(residual(inputs), y, where_);
  }
  size_t workspaceBytes() const override { return gemm_->workspaceBytes(); }

  Status run(const std::vector<TensorView>& inputs, const std::vector<TensorView>& outputs, void* ws) override {
    for (size_t i = 0; i < 3; ++i) in_[i].data = present(inputs, i) ? inputs[i].data : nullptr;
    out_[0].data = outputs[0].data;
    QRT_RETURN_IF_ERROR(gemm_->run(in_, out_, ws));
    const TensorView* z = residual(inputs);
    epi_.apply(outputs[0].as<T>(), z ? z->as<const T>() : nullptr);
    return Status::Ok();
  }

 private:
  std::unique_ptr<Kernel> gemm_;
  Epilogue<T> epi_;
  std::string where_;
  std::vector<TensorView> in_, out_;  // the 2-D views the Gemm kernel runs on (sized in reshape)
};

// Wraps the inner float kernel in K<T> for the node's dtype.
template <template <typename> class K>
Result<std::unique_ptr<Kernel>> wrap(const ir::Node& node, Result<std::unique_ptr<Kernel>> inner) {
  if (!inner.ok()) return inner.status();
  QRT_ASSIGN_OR_RETURN(FusedActivation act, readFusedActivation(node));
  std::unique_ptr<Kernel> k = std::move(*inner);
  switch (node.inputs[0]->dtype) {
    case DataType::kFloat: return std::unique_ptr<Kernel>(new K<float>(std::move(k), act, node.describe()));
    case DataType::kDouble: return std::unique_ptr<Kernel>(new K<double>(std::move(k), act, node.describe()));
    case DataType::kHalf: return std::unique_ptr<Kernel>(new K<Half>(std::move(k), act, node.describe()));
    case DataType::kBFloat16: return std::unique_ptr<Kernel>(new K<BFloat16>(std::move(k), act, node.describe()));
    default: return unsupported(node.describe(), ": no reference kernel for dtype ", dataTypeName(node.inputs[0]->dtype));
  }
}

Result<std::unique_ptr<Kernel>> createFusedConv(const ir::Node& node) {
  // The CUDA builder's stem forms (ops/fused.cpp: a quantized output, the max pool inside) exist
  // only on its stem kernel.
  if (node.attrInt("qrt_pool", 0) != 0 || node.hasInput(4) || node.hasInput(5))
    return unsupported(node.describe(), ": the CUDA stem kernel's quantized or pooled form has no reference kernel");
  return wrap<FusedConvKernel>(node, createConv(node));
}
Result<std::unique_ptr<Kernel>> createFusedGemm(const ir::Node& node) {
  return wrap<FusedGemmKernel>(node, createGemm(node));
}

const KernelEntry kKernels[] = {
    {"FusedConv", kFloatTypes, &createFusedConv, 0, kQrtDomain},
    {"FusedGemm", kFloatTypes, &createFusedGemm, 0, kQrtDomain},
};

}  // namespace

std::span<const KernelEntry> fusedKernels() { return kKernels; }

}  // namespace qrt::reference
