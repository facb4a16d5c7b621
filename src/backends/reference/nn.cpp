// The reference nn family: its kernel table, and BatchNormalization (inference form). Conv and
// ConvTranspose live in conv.cpp, Gemm and MatMul in gemm.cpp, the pools in pool.cpp.
#include <cmath>
#include <type_traits>

#include "backends/reference/kernel_table.h"
#include "backends/reference/nn_kernels.h"
#include "backends/reference/nn_util.h"

namespace qrt::reference {

namespace {

struct BatchNormParams {
  std::string where;
  float epsilon = 1e-5f;
};

// Y = (X - mean) * scale / sqrt(var + epsilon) + B, with the parameters per channel (X dim 1),
// or per (C, D1, ...) element in the `spatial=0` form of opsets 7 and 8.
template <typename T>
class BatchNormKernel final : public Kernel {
  using A = AccT<T>;

 public:
  explicit BatchNormKernel(const BatchNormParams& p) : p_(p) {}

  Status reshape(const std::vector<TensorView>& inputs, const std::vector<TensorView>& outputs) override {
    const Dims& x = inputs[0].dims;
    QRT_RETURN_IF_ERROR(checkOutputDims(outputs[0], x, p_.where));
    planes_ = x[0] * x[1];
    channels_ = x[1];
    inner_ = volume(Dims(x.begin() + 2, x.end()));
    params_ = inputs[1].numel();
    for (size_t i = 2; i < 5; ++i)
      if (inputs[i].numel() != params_)
        return invalidArgument(p_.where, ": scale, B, mean and var must have the same number of values");
    if (params_ != channels_ && params_ != channels_ * inner_)
      return invalidArgument(p_.where, ": ", params_, " parameter values for X of dims ", dimsToString(x));
    ws_.clear();
    ws_mul_ = ws_.add<A>(params_);
    ws_add_ = ws_.add<A>(params_);
    return Status::Ok();
  }

  size_t workspaceBytes() const override { return ws_.bytes(); }

  Status run(const std::vector<TensorView>& inputs, const std::vector<TensorView>& outputs, void* ws) override {
    // Fold the four parameters into y = x * mul + add.
    A* mul = ws_.at<A>(ws, ws_mul_);
    A* add = ws_.at<A>(ws, ws_add_);
    for (int64_t i = 0; i < params_; ++i) {
      A scale = loadAny<A>(inputs[1], i), bias = loadAny<A>(inputs[2], i);
      A mean = loadAny<A>(inputs[3], i), var = loadAny<A>(inputs[4], i);
      mul[i] = scale / std::sqrt(var + static_cast<A>(p_.epsilon));
      add[i] = bias - mean * mul[i];
    }
    const T* x = inputs[0].as<const T>();
    T* y = outputs[0].as<T>();
    const bool per_channel = params_ == channels_;
    const int64_t inner = inner_, channels = channels_;
    parallelRange(planes_, std::max<int64_t>(1, 16384 / std::max<int64_t>(1, inner)), [&](int64_t begin, int64_t end) {
      for (int64_t plane = begin; plane < end; ++plane) {
        int64_t c = plane % channels;
        const T* xp = x + plane * inner;
        T* yp = y + plane * inner;
        for (int64_t i = 0; i < inner; ++i) {
          int64_t k = per_channel ? c : c * inner + i;
          yp[i] = store<T>(load<A>(xp[i]) * mul[k] + add[k]);
        }
      }
    });
    return Status::Ok();
  }

 private:
  BatchNormParams p_;
  int64_t planes_ = 0, channels_ = 0, inner_ = 0, params_ = 0;
  WorkspaceLayout ws_;
  size_t ws_mul_ = 0, ws_add_ = 0;
};

Result<std::unique_ptr<Kernel>> createBatchNorm(const ir::Node& node) {
  if (node.attrInt("training_mode", 0) != 0)
    return unsupported(node.describe(), ": training_mode=1 is not supported (inference only)");
  BatchNormParams p;
  p.where = node.describe();
  p.epsilon = node.attrFloat("epsilon", 1e-5f);
  return newFloatKernel<BatchNormKernel>(node.inputs[0]->dtype, p, p.where);
}

inline constexpr DTypeSet kMatMulTypes{DataType::kFloat, DataType::kDouble, DataType::kHalf,   DataType::kBFloat16,
                                       DataType::kInt32, DataType::kInt64,  DataType::kUInt32, DataType::kUInt64};
inline constexpr DTypeSet kMaxPoolTypes{DataType::kFloat, DataType::kDouble, DataType::kHalf, DataType::kBFloat16,
                                        DataType::kInt8, DataType::kUInt8};

const KernelEntry kKernels[] = {
    {"Conv", kFloatTypes, &createConv},
    {"ConvTranspose", kFloatTypes, &createConvTranspose},
    {"Gemm", kFloatTypes, &createGemm},
    {"MatMul", kMatMulTypes, &createMatMul},
    {"BatchNormalization", kFloatTypes, &createBatchNorm},
    {"MaxPool", kMaxPoolTypes, &createMaxPool},
    {"AveragePool", kFloatTypes, &createAveragePool},
    {"GlobalAveragePool", kFloatTypes, &createGlobalAveragePool},
    {"GlobalMaxPool", kFloatTypes, &createGlobalMaxPool},
};

}  // namespace

std::span<const KernelEntry> nnKernels() { return kKernels; }

}  // namespace qrt::reference
