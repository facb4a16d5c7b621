// Reference LayerNormalization (opset 17).
//
// X is viewed as [rows, cols] with cols = prod(X.shape[axis:]). Per row, in the stash type
// (float unless stash_type says double):
//   mean = sum(x) / cols;  var = sum((x - mean)^2) / cols;  inv_std = 1 / sqrt(var + epsilon)
//   y = (x - mean) * inv_std * scale + bias
// Scale and B broadcast to X.shape[axis:]; when they are smaller than that, reshape() builds the
// per-column offsets into them.
#include <algorithm>
#include <cmath>

#include "backends/reference/reduce_family.h"
#include "core/threadpool.h"

namespace qrt::reference {

namespace {

// Writes v into element i of a Mean/InvStdDev output (float, double or bfloat16).
void storeStat(const TensorView& t, int64_t i, double v) {
  if (!t.data) return;
  switch (t.dtype) {
    case DataType::kDouble: t.as<double>()[i] = v; break;
    case DataType::kBFloat16: t.as<BFloat16>()[i] = BFloat16(static_cast<float>(v)); break;
    default: t.as<float>()[i] = static_cast<float>(v); break;
  }
}

// Offsets into a tensor of dims `small` broadcast to `full`, for each element of `full` in
// row-major order.
std::vector<int64_t> broadcastOffsets(const Dims& small, const Dims& full) {
  const std::vector<int64_t> strides[1] = {broadcastStrides(small, full)};
  std::vector<int64_t> offsets(static_cast<size_t>(volume(full)));
  forEachBroadcast<1>(full, strides, [&](int64_t i, const int64_t* off) { offsets[i] = off[0]; });
  return offsets;
}

class LayerNormKernel final : public Kernel {
 public:
  explicit LayerNormKernel(const ir::Node& node)
      : who_(node.describe()),
        axis_(node.attrInt("axis", -1)),
        epsilon_(node.attrFloat("epsilon", 1e-5f)),
        stash_double_(node.attrInt("stash_type", 1) == static_cast<int64_t>(DataType::kDouble)) {}

  Status reshape(const std::vector<TensorView>& inputs, const std::vector<TensorView>&) override {
    const Dims& d = inputs[0].dims;
    const int64_t rank = static_cast<int64_t>(d.size());
    if (axis_ < -rank || axis_ >= rank) return invalidArgument(who_, ": axis ", axis_, " is out of range for rank ", rank);
    const int64_t axis = axis_ < 0 ? axis_ + rank : axis_;
    const Dims normalized(d.begin() + axis, d.end());
    rows_ = volume(Dims(d.begin(), d.begin() + axis));
    cols_ = volume(normalized);
    scale_offsets_.clear();
    bias_offsets_.clear();
    if (inputs[1].numel() != cols_) scale_offsets_ = broadcastOffsets(inputs[1].dims, normalized);
    has_bias_ = inputs.size() > 2 && inputs[2].dtype != DataType::kUndefined;
    if (has_bias_ && inputs[2].numel() != cols_) bias_offsets_ = broadcastOffsets(inputs[2].dims, normalized);
    return Status::Ok();
  }

  Status run(const std::vector<TensorView>& inputs, const std::vector<TensorView>& outputs, void*) override {
    return dispatchType(inputs[0].dtype, [&](auto tag) {
      using T = decltype(tag);
      if constexpr (kIsFloat<T>) {
        if (stash_double_) runTyped<T, double>(inputs, outputs);
        else runTyped<T, float>(inputs, outputs);
      }
    });
  }

 private:
  // C: the computation (stash) type.
  template <typename T, typename C>
  void runTyped(const std::vector<TensorView>& inputs, const std::vector<TensorView>& outputs) const {
    const T* x = inputs[0].as<const T>();
    const T* scale = inputs[1].as<const T>();
    const T* bias = has_bias_ ? inputs[2].as<const T>() : nullptr;
    T* y = outputs[0].as<T>();
    const TensorView no_output;
    const TensorView& mean_out = outputs.size() > 1 ? outputs[1] : no_output;
    const TensorView& inv_out = outputs.size() > 2 ? outputs[2] : no_output;
    const int64_t cols = cols_;
    const C eps = static_cast<C>(epsilon_);
    parallelFor(rows_, std::max<int64_t>(1, 4096 / std::max<int64_t>(1, cols)), [&](int64_t b, int64_t e) {
      for (int64_t r = b; r < e; ++r) {
        const T* xr = x + r * cols;
        T* yr = y + r * cols;
        C sum = 0;
        for (int64_t j = 0; j < cols; ++j) sum += static_cast<C>(toDouble(xr[j]));
        const C mean = sum / static_cast<C>(cols);
        C sq = 0;
        for (int64_t j = 0; j < cols; ++j) {
          const C dlt = static_cast<C>(toDouble(xr[j])) - mean;
          sq += dlt * dlt;
        }
        const C var = sq / static_cast<C>(cols);
        const C inv_std = C(1) / std::sqrt(var + eps);
        for (int64_t j = 0; j < cols; ++j) {
          const C w = static_cast<C>(toDouble(scale[scale_offsets_.empty() ? j : scale_offsets_[j]]));
          const C bj = bias ? static_cast<C>(toDouble(bias[bias_offsets_.empty() ? j : bias_offsets_[j]])) : C(0);
          const C normalized = (static_cast<C>(toDouble(xr[j])) - mean) * inv_std;
          yr[j] = fromDouble<T>(static_cast<double>(normalized * w + bj));
        }
        storeStat(mean_out, r, static_cast<double>(mean));
        storeStat(inv_out, r, static_cast<double>(inv_std));
      }
    });
  }

  std::string who_;
  int64_t axis_;
  float epsilon_;
  bool stash_double_;
  int64_t rows_ = 0, cols_ = 0;
  bool has_bias_ = false;
  std::vector<int64_t> scale_offsets_, bias_offsets_;  // empty when Scale/B have the full normalized shape
};

}  // namespace

Result<std::unique_ptr<Kernel>> createLayerNorm(const ir::Node& node) {
  return std::unique_ptr<Kernel>(std::make_unique<LayerNormKernel>(node));
}

}  // namespace qrt::reference
