// LayerNormalization (ONNX opset 17, and the form passes/recognize_layernorm makes of the
// ReduceMean/Sub/Pow/Sqrt/Div chains) on oneDNN's layer_normalization primitive, fp32.
// As in the reference (backends/reference/layer_norm.cpp) X is viewed as [rows, cols] with
// cols = prod(X.shape[axis:]), normalized per row with the variance over cols, then scaled and
// shifted per column. oneDNN normalizes over the last dim of a 2-D [rows, cols] tensor with
// per-column scale and shift, which is exactly that. With AVX-512 an own loop over qrt's pool
// (three passes a row: mean, variance, normalize) replaces the primitive: on PP-OCRv4 rec's
// [40, 120] rows oneDNN took 40-48 us a call, 5x the reference (row_avx512.h); the loop takes
// 1.5 us. The primitive stays for CPUs without AVX-512.
// Covered: Scale and B with cols elements or one (the recognized form without gamma has a
// scalar 1; one-element operands are spread over cols in the workspace on each run, a few
// hundred floats). Refused at creation (the reference backend runs them): stash_type double,
// the optional Mean / InvStdDev outputs (oneDNN gives the variance, and no model we run reads
// them). Other broadcast Scale/B shapes run the reference kernel inside this one (DnnlKernel).
#include <algorithm>
#include <cmath>

#include "backends/cpu/dnnl_util.h"
#include "backends/cpu/kernel_table.h"
#include "backends/cpu/row_avx512.h"
#include "core/threadpool.h"

namespace qrt::cpu {

namespace {

using dnnl::memory;

// Normalizes `rows` contiguous rows of `cols` values as the reference does (float statistics,
// variance about the mean, inv_std = 1 / sqrt(var + eps)), then scales and shifts per column
// (bias may be null).
__attribute__((target("avx512f"))) void layerNormRows(const float* x, float* y, int64_t rows, int64_t cols,
                                                      const float* scale, const float* bias, float eps) {
  const int64_t full = cols / 16 * 16;
  const __mmask16 tail = static_cast<__mmask16>((1u << (cols - full)) - 1u);
  for (int64_t r = 0; r < rows; ++r) {
    const float* xr = x + r * cols;
    float* yr = y + r * cols;
    __m512 acc = _mm512_setzero_ps();
    for (int64_t j = 0; j < full; j += 16) acc = _mm512_add_ps(acc, _mm512_loadu_ps(xr + j));
    if (tail) acc = _mm512_add_ps(acc, _mm512_maskz_loadu_ps(tail, xr + full));
    const float mean = _mm512_reduce_add_ps(acc) / static_cast<float>(cols);
    const __m512 m = _mm512_set1_ps(mean);
    acc = _mm512_setzero_ps();
    for (int64_t j = 0; j < full; j += 16) {
      const __m512 d = _mm512_sub_ps(_mm512_loadu_ps(xr + j), m);
      acc = _mm512_fmadd_ps(d, d, acc);
    }
    if (tail) {
      const __m512 d = _mm512_maskz_sub_ps(tail, _mm512_maskz_loadu_ps(tail, xr + full), m);
      acc = _mm512_fmadd_ps(d, d, acc);
    }
    const float var = _mm512_reduce_add_ps(acc) / static_cast<float>(cols);
    const __m512 inv = _mm512_set1_ps(1.f / std::sqrt(var + eps));
    for (int64_t j = 0; j < full; j += 16) {
      const __m512 nrm = _mm512_mul_ps(_mm512_sub_ps(_mm512_loadu_ps(xr + j), m), inv);
      const __m512 b = bias ? _mm512_loadu_ps(bias + j) : _mm512_setzero_ps();
      _mm512_storeu_ps(yr + j, _mm512_fmadd_ps(nrm, _mm512_loadu_ps(scale + j), b));
    }
    if (tail) {
      const __m512 nrm = _mm512_mul_ps(_mm512_sub_ps(_mm512_maskz_loadu_ps(tail, xr + full), m), inv);
      const __m512 b = bias ? _mm512_maskz_loadu_ps(tail, bias + full) : _mm512_setzero_ps();
      _mm512_mask_storeu_ps(yr + full, tail, _mm512_fmadd_ps(nrm, _mm512_maskz_loadu_ps(tail, scale + full), b));
    }
  }
}

class LayerNormKernel final : public DnnlKernel {
 public:
  LayerNormKernel(const ir::Node& node, std::unique_ptr<Kernel> fallback)
      : DnnlKernel(node.describe(), std::move(fallback)),
        axis_(node.attrInt("axis", -1)),
        epsilon_(node.attrFloat("epsilon", 1e-5f)) {}

 protected:
  Status prepare(const std::vector<TensorView>& inputs, const std::vector<TensorView>& outputs) override {
    const Dims& d = inputs[0].dims;
    const int64_t rank = static_cast<int64_t>(d.size());
    if (rank == 0 || axis_ < -rank || axis_ >= rank) return unsupported(where(), ": axis out of range");
    const int64_t axis = axis_ < 0 ? axis_ + rank : axis_;
    rows_ = volume(Dims(d.begin(), d.begin() + axis));
    cols_ = volume(Dims(d.begin() + axis, d.end()));
    if (rows_ * cols_ == 0) return unsupported(where(), ": empty tensors");
    for (const TensorView& t : {inputs[0], inputs[1], outputs[0]})
      if (t.dtype != DataType::kFloat) return unsupported(where(), ": fp32 only");
    has_bias_ = inputs.size() > 2 && inputs[2].dtype != DataType::kUndefined;
    if (has_bias_ && inputs[2].dtype != DataType::kFloat) return unsupported(where(), ": fp32 only");
    auto operandOk = [&](const TensorView& t) { return t.numel() == cols_ || t.numel() == 1; };
    if (!operandOk(inputs[1]) || (has_bias_ && !operandOk(inputs[2])))
      return unsupported(where(), ": Scale/B broadcast over part of the normalized dims");
    spread_scale_ = inputs[1].numel() != cols_;
    spread_bias_ = has_bias_ && inputs[2].numel() != cols_;
    own_ = hasAvx512();
    if (own_) {
      ws_.clear();
      ws_scale_ = ws_.add(spread_scale_ ? static_cast<size_t>(cols_) * sizeof(float) : 0);
      ws_bias_ = ws_.add(spread_bias_ ? static_cast<size_t>(cols_) * sizeof(float) : 0);
      return Status::Ok();
    }

    const memory::desc x_md = plainDesc({rows_, cols_});
    const memory::desc stat_md = plainDesc({rows_});
    const memory::desc c_md = plainDesc({cols_});
    auto flags = dnnl::normalization_flags::use_scale;
    if (has_bias_) flags = flags | dnnl::normalization_flags::use_shift;
    dnnl::layer_normalization_forward::primitive_desc pd;
    QRT_RETURN_IF_ERROR(dnnlTry(where(), [&] {
      dnnl::layer_normalization_forward::desc desc(dnnl::prop_kind::forward_inference, x_md, stat_md, epsilon_, flags);
      pd = dnnl::layer_normalization_forward::primitive_desc(desc, userScratchpad(), engine());
    }));
    QRT_ASSIGN_OR_RETURN(prim_, BoundPrimitive::create(pd, engine(), where()));
    QRT_RETURN_IF_ERROR(dnnlTry(where(), [&] {
      arg_x_ = prim_.bind(DNNL_ARG_SRC, x_md, engine());
      arg_y_ = prim_.bind(DNNL_ARG_DST, x_md, engine());
      arg_scale_ = prim_.bind(DNNL_ARG_SCALE, c_md, engine());
      if (has_bias_) arg_bias_ = prim_.bind(DNNL_ARG_SHIFT, c_md, engine());
      // Inference computes the statistics itself; binding places for them costs nothing and
      // keeps implementations that write them anyway inside qrt's workspace.
      arg_mean_ = prim_.bind(DNNL_ARG_MEAN, stat_md, engine());
      arg_var_ = prim_.bind(DNNL_ARG_VARIANCE, stat_md, engine());
    }));
    ws_.clear();
    ws_scratch_ = ws_.add(prim_.scratchpadBytes());
    ws_mean_ = ws_.add(static_cast<size_t>(rows_) * sizeof(float));
    ws_var_ = ws_.add(static_cast<size_t>(rows_) * sizeof(float));
    ws_scale_ = ws_.add(spread_scale_ ? static_cast<size_t>(cols_) * sizeof(float) : 0);
    ws_bias_ = ws_.add(spread_bias_ ? static_cast<size_t>(cols_) * sizeof(float) : 0);
    return Status::Ok();
  }
  size_t bytes() const override { return ws_.bytes(); }
  Status execute(const std::vector<TensorView>& inputs, const std::vector<TensorView>& outputs, void* ws) override {
    const void* scale = inputs[1].data;
    if (spread_scale_) {
      float* s = static_cast<float*>(ws_.at(ws, ws_scale_));
      std::fill(s, s + cols_, *inputs[1].as<const float>());
      scale = s;
    }
    if (own_) {
      const float* x = inputs[0].as<const float>();
      float* y = outputs[0].as<float>();
      const float* sc = static_cast<const float*>(scale);
      const float* bias = nullptr;
      if (has_bias_) {
        bias = inputs[2].as<const float>();
        if (spread_bias_) {
          float* b = static_cast<float*>(ws_.at(ws, ws_bias_));
          std::fill(b, b + cols_, *bias);
          bias = b;
        }
      }
      const int64_t cols = cols_;
      const float eps = epsilon_;
      parallelFor(rows_, std::max<int64_t>(1, 4096 / cols), [&](int64_t b, int64_t e) {
        layerNormRows(x + b * cols, y + b * cols, e - b, cols, sc, bias, eps);
      });
      return Status::Ok();
    }
    prim_.setData(arg_x_, inputs[0].data);
    prim_.setData(arg_y_, outputs[0].data);
    prim_.setData(arg_scale_, scale);
    if (has_bias_) {
      const void* bias = inputs[2].data;
      if (spread_bias_) {
        float* b = static_cast<float*>(ws_.at(ws, ws_bias_));
        std::fill(b, b + cols_, *inputs[2].as<const float>());
        bias = b;
      }
      prim_.setData(arg_bias_, bias);
    }
    prim_.setData(arg_mean_, ws_.at(ws, ws_mean_));
    prim_.setData(arg_var_, ws_.at(ws, ws_var_));
    prim_.setScratchpad(ws_.at(ws, ws_scratch_));
    return prim_.execute(stream(), where());
  }

 private:
  int64_t axis_;
  float epsilon_;
  int64_t rows_ = 0, cols_ = 0;
  bool has_bias_ = false, spread_scale_ = false, spread_bias_ = false;
  bool own_ = false;  // layerNormRows, no primitive
  BoundPrimitive prim_;
  size_t arg_x_ = 0, arg_y_ = 0, arg_scale_ = 0, arg_bias_ = 0, arg_mean_ = 0, arg_var_ = 0;
  Workspace ws_;
  size_t ws_scratch_ = 0, ws_mean_ = 0, ws_var_ = 0, ws_scale_ = 0, ws_bias_ = 0;
};

}  // namespace

Result<std::unique_ptr<Kernel>> createLayerNorm(const ir::Node& node) {
  if (nhwcArgs(node).any()) return unsupported(node.describe(), ": NHWC arguments");
  if (node.attrInt("stash_type", 1) != static_cast<int64_t>(DataType::kFloat))
    return unsupported(node.describe(), ": stash_type other than float");
  for (size_t i = 1; i < node.outputs.size(); ++i)
    if (node.outputs[i] != nullptr) return unsupported(node.describe(), ": Mean/InvStdDev outputs");
  QRT_ASSIGN_OR_RETURN(std::unique_ptr<Kernel> fallback, referenceKernel(node));
  return std::unique_ptr<Kernel>(new LayerNormKernel(node, std::move(fallback)));
}

}  // namespace qrt::cpu
