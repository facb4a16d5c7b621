// QuantizeLinear (float -> int8/uint8) and DequantizeLinear (int8/uint8 -> float) with a
// per-tensor scale and zero point on the cpu backend, as own AVX-512 loops (scalar elsewhere).
// In a folded INT8 network these are what is left of the Q/DQ nodes: the Q of each tensor
// entering an integer layer from a float op (ResNet: QConv -> Add -> Relu -> Q -> QConv); on
// the reference backend they cost a quarter of a ResNet-50 INT8 run (docs/cpu_backend.md, INT8).
//
// Both are bit-exact with the reference kernels: the same float operations in the same order
// (x / scale with a true division, round half to even, + zero point, saturate; NaN quantizes to
// the zero point; (x - zero point) * scale). They are elementwise over same-shape tensors, so
// they run in any layout (inside the cpu backend's channels-last regions too). Per-axis
// parameters and other dtypes run on the reference backend.
// AddQuantize (qrt's fused residual tail, made on the cpu backend by passes/cpu_add_quantize.cpp)
// is Add [-> Relu] -> QuantizeLinear in one pass, computed exactly as those three kernels do.
#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "backends/cpu/dnnl_util.h"
#include "backends/cpu/kernel_table.h"
#include "core/threadpool.h"

namespace qrt::cpu {

namespace {

bool hasAvx512() {
  static const bool yes = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw");
  return yes;
}

// Splits [0, n) over qrt's pool in chunks of at least 32K elements (a few microseconds each).
template <typename Fn> void parallelChunks(int64_t n, Fn&& fn) {
  constexpr int64_t kGrain = 32768;
  if (n <= kGrain) {
    fn(0, n);
    return;
  }
  parallelFor(n, kGrain, [&](int64_t b, int64_t e) { fn(b, e); });
}

// ---- QuantizeLinear ----

template <typename TQ> TQ quantizeOne(float x, float scale, float zp) {
  const float v = x / scale;
  if (std::isnan(v)) return static_cast<TQ>(zp);
  const float q = std::nearbyint(v) + zp;
  return static_cast<TQ>(std::clamp(q, static_cast<float>(std::numeric_limits<TQ>::lowest()),
                                    static_cast<float>(std::numeric_limits<TQ>::max())));
}

template <typename TQ>
__attribute__((target("avx512f,avx512bw"))) void quantizeAvx512(const float* x, TQ* y, int64_t n, float scale,
                                                                 float zp) {
  const __m512 s = _mm512_set1_ps(scale), z = _mm512_set1_ps(zp);
  const __m512 lo = _mm512_set1_ps(static_cast<float>(std::numeric_limits<TQ>::lowest()));
  const __m512 hi = _mm512_set1_ps(static_cast<float>(std::numeric_limits<TQ>::max()));
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    __m512 v = _mm512_div_ps(_mm512_loadu_ps(x + i), s);
    const __mmask16 ordered = _mm512_cmp_ps_mask(v, v, _CMP_ORD_Q);
    v = _mm512_maskz_mov_ps(ordered, v);  // NaN -> 0, which becomes the zero point
    v = _mm512_add_ps(_mm512_roundscale_ps(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC), z);
    v = _mm512_min_ps(_mm512_max_ps(v, lo), hi);
    const __m512i q = _mm512_cvtps_epi32(v);  // exact: v is an integer in range
    if constexpr (std::is_same_v<TQ, int8_t>)
      _mm_storeu_si128(reinterpret_cast<__m128i*>(y + i), _mm512_cvtsepi32_epi8(q));
    else
      _mm_storeu_si128(reinterpret_cast<__m128i*>(y + i), _mm512_cvtusepi32_epi8(q));
  }
  for (; i < n; ++i) y[i] = quantizeOne<TQ>(x[i], scale, zp);
}

template <typename TQ> void quantize(const float* x, TQ* y, int64_t n, float scale, float zp) {
  parallelChunks(n, [&](int64_t b, int64_t e) {
    if (hasAvx512()) {
      quantizeAvx512<TQ>(x + b, y + b, e - b, scale, zp);
    } else {
      for (int64_t i = b; i < e; ++i) y[i] = quantizeOne<TQ>(x[i], scale, zp);
    }
  });
}

// ---- DequantizeLinear ----

template <typename TQ>
__attribute__((target("avx512f,avx512bw"))) void dequantizeAvx512(const TQ* x, float* y, int64_t n, float scale,
                                                                   int32_t zp) {
  const __m512 s = _mm512_set1_ps(scale);
  const __m512i z = _mm512_set1_epi32(zp);
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    const __m128i b = _mm_loadu_si128(reinterpret_cast<const __m128i*>(x + i));
    const __m512i w = std::is_same_v<TQ, int8_t> ? _mm512_cvtepi8_epi32(b) : _mm512_cvtepu8_epi32(b);
    _mm512_storeu_ps(y + i, _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_sub_epi32(w, z)), s));
  }
  for (; i < n; ++i) y[i] = static_cast<float>(static_cast<int32_t>(x[i]) - zp) * scale;
}

template <typename TQ> void dequantize(const TQ* x, float* y, int64_t n, float scale, int32_t zp) {
  parallelChunks(n, [&](int64_t b, int64_t e) {
    if (hasAvx512()) {
      dequantizeAvx512<TQ>(x + b, y + b, e - b, scale, zp);
    } else {
      for (int64_t i = b; i < e; ++i) y[i] = static_cast<float>(static_cast<int32_t>(x[i]) - zp) * scale;
    }
  });
}

// ---- AddQuantize: q = Q(relu?(a + b)), y = relu?(a + b) ----

// The reference chain's operations in its order: a + b, then x < 0 ? 0 : x, then Q.
template <typename TQ>
__attribute__((target("avx512f,avx512bw"))) void addQuantizeAvx512(const float* a, const float* b, float* y, TQ* q,
                                                                    int64_t n, bool relu, float scale, float zp) {
  const __m512 s = _mm512_set1_ps(scale), z = _mm512_set1_ps(zp), zero = _mm512_setzero_ps();
  const __m512 lo = _mm512_set1_ps(static_cast<float>(std::numeric_limits<TQ>::lowest()));
  const __m512 hi = _mm512_set1_ps(static_cast<float>(std::numeric_limits<TQ>::max()));
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    __m512 x = _mm512_add_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i));
    if (relu) x = _mm512_mask_mov_ps(x, _mm512_cmp_ps_mask(x, zero, _CMP_LT_OQ), zero);
    if (y) _mm512_storeu_ps(y + i, x);
    __m512 v = _mm512_div_ps(x, s);
    v = _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(v, v, _CMP_ORD_Q), v);
    v = _mm512_add_ps(_mm512_roundscale_ps(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC), z);
    const __m512i r = _mm512_cvtps_epi32(_mm512_min_ps(_mm512_max_ps(v, lo), hi));
    if constexpr (std::is_same_v<TQ, int8_t>)
      _mm_storeu_si128(reinterpret_cast<__m128i*>(q + i), _mm512_cvtsepi32_epi8(r));
    else
      _mm_storeu_si128(reinterpret_cast<__m128i*>(q + i), _mm512_cvtusepi32_epi8(r));
  }
  for (; i < n; ++i) {
    float x = a[i] + b[i];
    if (relu) x = x < 0.f ? 0.f : x;
    if (y) y[i] = x;
    q[i] = quantizeOne<TQ>(x, scale, zp);
  }
}

template <typename TQ>
void addQuantize(const float* a, const float* b, float* y, TQ* q, int64_t n, bool relu, float scale, float zp) {
  parallelChunks(n, [&](int64_t lo, int64_t hi) {
    float* yc = y ? y + lo : nullptr;
    if (hasAvx512()) {
      addQuantizeAvx512<TQ>(a + lo, b + lo, yc, q + lo, hi - lo, relu, scale, zp);
    } else {
      for (int64_t i = lo; i < hi; ++i) {
        float x = a[i] + b[i];
        if (relu) x = x < 0.f ? 0.f : x;
        if (yc) yc[i - lo] = x;
        q[i] = quantizeOne<TQ>(x, scale, zp);
      }
    }
  });
}

// ---- kernels ----

// An elementwise kernel that hands shapes it does not take to the node's reference kernel.
class GlueKernel : public Kernel {
 public:
  GlueKernel(std::string where, std::unique_ptr<Kernel> fallback)
      : where_(std::move(where)), fallback_(std::move(fallback)) {}

  Status reshape(const std::vector<TensorView>& inputs, const std::vector<TensorView>& outputs) final {
    on_fallback_ = !takes(inputs, outputs);
    if (!on_fallback_) return Status::Ok();
    if (!fallback_) return unsupported(where_, ": shapes the cpu kernel does not take");
    return fallback_->reshape(inputs, outputs);
  }
  size_t workspaceBytes() const final { return on_fallback_ ? fallback_->workspaceBytes() : 0; }
  Status run(const std::vector<TensorView>& inputs, const std::vector<TensorView>& outputs, void* ws) final {
    if (on_fallback_) return fallback_->run(inputs, outputs, ws);
    compute(inputs, outputs);
    return Status::Ok();
  }

 protected:
  virtual bool takes(const std::vector<TensorView>& inputs, const std::vector<TensorView>& outputs) const = 0;
  virtual void compute(const std::vector<TensorView>& inputs, const std::vector<TensorView>& outputs) = 0;

 private:
  std::string where_;
  std::unique_ptr<Kernel> fallback_;
  bool on_fallback_ = false;
};

bool present(const std::vector<TensorView>& v, size_t i) { return i < v.size() && v[i].dtype != DataType::kUndefined; }

// QuantizeLinear / DequantizeLinear with a per-tensor scale (float) and zero point.
class QdqKernel final : public GlueKernel {
 public:
  QdqKernel(std::string where, bool quantize, std::unique_ptr<Kernel> fallback)
      : GlueKernel(std::move(where), std::move(fallback)), quantize_(quantize) {}

 protected:
  bool takes(const std::vector<TensorView>& in, const std::vector<TensorView>& out) const override {
    if (in.size() < 2 || in[1].dtype != DataType::kFloat || in[1].numel() != 1) return false;
    if (present(in, 2) && in[2].numel() != 1) return false;
    const DataType q = quantize_ ? out[0].dtype : in[0].dtype;
    const DataType f = quantize_ ? in[0].dtype : out[0].dtype;
    return (q == DataType::kInt8 || q == DataType::kUInt8) && f == DataType::kFloat && in[0].dims == out[0].dims;
  }

  void compute(const std::vector<TensorView>& in, const std::vector<TensorView>& out) override {
    const float scale = in[1].as<const float>()[0];
    const TensorView& q = quantize_ ? out[0] : in[0];
    int32_t zp = 0;
    if (present(in, 2) && in[2].data)
      zp = in[2].dtype == DataType::kInt8 ? in[2].as<const int8_t>()[0] : in[2].as<const uint8_t>()[0];
    const int64_t n = in[0].numel();
    if (quantize_) {
      const float* x = in[0].as<const float>();
      if (q.dtype == DataType::kInt8) quantize(x, out[0].as<int8_t>(), n, scale, static_cast<float>(zp));
      else quantize(x, out[0].as<uint8_t>(), n, scale, static_cast<float>(zp));
    } else {
      float* y = out[0].as<float>();
      if (q.dtype == DataType::kInt8) dequantize(in[0].as<const int8_t>(), y, n, scale, zp);
      else dequantize(in[0].as<const uint8_t>(), y, n, scale, zp);
    }
  }

 private:
  bool quantize_;
};

// qrt's AddQuantize (src/ops/int8_fused.cpp): inputs a, b, y_scale, y_zero_point?; outputs q and,
// when present, the float value. The builder step that makes it on the cpu backend
// (passes/cpu_add_quantize.cpp) guarantees same-shape float operands and scalar parameters.
class AddQuantizeKernel final : public Kernel {
 public:
  AddQuantizeKernel(std::string where, bool relu) : where_(std::move(where)), relu_(relu) {}

  Status reshape(const std::vector<TensorView>& in, const std::vector<TensorView>& out) override {
    if (in.size() < 3 || in[0].dtype != DataType::kFloat || in[1].dtype != DataType::kFloat ||
        in[0].dims != in[1].dims || in[2].dtype != DataType::kFloat || in[2].numel() != 1 ||
        (present(in, 3) && in[3].numel() != 1) || out[0].dims != in[0].dims ||
        (out[0].dtype != DataType::kInt8 && out[0].dtype != DataType::kUInt8))
      return unsupported(where_, ": takes two same-shape float tensors and a per-tensor int8/uint8 quantization");
    return Status::Ok();
  }

  Status run(const std::vector<TensorView>& in, const std::vector<TensorView>& out, void*) override {
    const float scale = in[2].as<const float>()[0];
    int32_t zp = 0;
    if (present(in, 3) && in[3].data)
      zp = in[3].dtype == DataType::kInt8 ? in[3].as<const int8_t>()[0] : in[3].as<const uint8_t>()[0];
    float* y = out.size() > 1 && out[1].data ? out[1].as<float>() : nullptr;
    const float* a = in[0].as<const float>();
    const float* b = in[1].as<const float>();
    const int64_t n = in[0].numel();
    if (out[0].dtype == DataType::kInt8)
      addQuantize(a, b, y, out[0].as<int8_t>(), n, relu_, scale, static_cast<float>(zp));
    else
      addQuantize(a, b, y, out[0].as<uint8_t>(), n, relu_, scale, static_cast<float>(zp));
    return Status::Ok();
  }

 private:
  std::string where_;
  bool relu_;
};

// The node's Q/DQ parameters are per tensor (scale of one element) as far as the graph says.
bool perTensor(const ir::Node& node) {
  for (size_t i : {size_t{1}, size_t{2}}) {
    if (!node.hasInput(i)) continue;
    const ir::Value* v = node.inputs[i];
    if (v->has_shape && volume(v->dims) != 1) return false;
  }
  return true;
}

Result<std::unique_ptr<Kernel>> makeQdq(const ir::Node& node, bool quantize) {
  if (!node.hasInput(0) || !node.hasInput(1) || node.outputs.empty() || !node.outputs[0])
    return invalidArgument(node.describe(), ": needs x and a scale");
  const DataType q = quantize ? node.outputs[0]->dtype : node.inputs[0]->dtype;
  if (q != DataType::kInt8 && q != DataType::kUInt8)
    return unsupported(node.describe(), ": the cpu kernel quantizes to int8 and uint8 only");
  if (node.inputs[1]->dtype != DataType::kFloat || !perTensor(node))
    return unsupported(node.describe(), ": the cpu kernel takes a per-tensor float scale");
  QRT_ASSIGN_OR_RETURN(std::unique_ptr<Kernel> fallback, referenceKernel(node));
  return std::unique_ptr<Kernel>(new QdqKernel(node.describe(), quantize, std::move(fallback)));
}

}  // namespace

Result<std::unique_ptr<Kernel>> createAddQuantize(const ir::Node& node) {
  if (node.inputs.size() < 3 || !node.hasInput(0) || !node.hasInput(1) || !node.hasInput(2) || node.outputs.empty())
    return invalidArgument(node.describe(), ": needs a, b and y_scale");
  return std::unique_ptr<Kernel>(new AddQuantizeKernel(node.describe(), node.attrInt("relu", 0) != 0));
}

Result<std::unique_ptr<Kernel>> createQuantizeLinear(const ir::Node& node) { return makeQdq(node, true); }
Result<std::unique_ptr<Kernel>> createDequantizeLinear(const ir::Node& node) { return makeQdq(node, false); }

}  // namespace qrt::cpu
