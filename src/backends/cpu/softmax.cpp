// Softmax and LogSoftmax on the cpu backend, fp32, plain layouts. The input is viewed as the
// reference backend views it (backends/reference/softmax.cpp): [outer, n, inner] with the rows
// of n elements normalized. Opset 13 and later: n is the size of `axis` (default -1); before 13
// the input is coerced to 2-D at `axis` (default 1), so n is the product of dims[axis:] and
// inner is 1.
// Contiguous rows (inner == 1: every opset-11 Softmax, and opset 13 over the last axis) run an
// AVX-512 loop of our own over qrt's pool (softmaxRows); CPUs without AVX-512 run oneDNN's
// softmax primitive (softmax_accurate / softmax_log) on a 2-D [outer, n] tensor, axis 1. The
// loop because oneDNN 2.6's primitive cost ~40 us a call on PP-OCR's small rows here, the loop
// 10 us (row_avx512.h). Strided rows (inner > 1) run the reference kernel inside this one
// (DnnlKernel's fallback): oneDNN took 10-50 us there, the reference 0.4-1 us. Figures in
// bench/results/cpu-ops-2026-11-27.md.
// bf16 is not registered: oneDNN 2.6's bf16 softmax was measured up to 1.3 bf16 ulps off the
// once-rounded fp32 result, where the reference's bf16 kernel rounds once.
#include <algorithm>
#include <cmath>
#include <limits>

#include "backends/cpu/dnnl_util.h"
#include "backends/cpu/isa.h"
#include "backends/cpu/kernel_table.h"
#include "backends/cpu/row_avx512.h"
#include "core/threadpool.h"

namespace qrt::cpu {

namespace {

using dnnl::memory;

// Softmax (or LogSoftmax) of `rows` contiguous rows of n values: x - max, exp, sum, then
// scale by 1/sum (or subtract log(sum)). Masked loads cover the tail of each row.
__attribute__((target("avx512f"))) void softmaxRows(const float* x, float* y, int64_t rows, int64_t n, bool log) {
  const int64_t full = n / 16 * 16;
  const __mmask16 tail = static_cast<__mmask16>((1u << (n - full)) - 1u);
  const __m512 neg_inf = _mm512_set1_ps(-std::numeric_limits<float>::infinity());
  for (int64_t r = 0; r < rows; ++r) {
    const float* xr = x + r * n;
    float* yr = y + r * n;
    __m512 vm = neg_inf;
    for (int64_t j = 0; j < full; j += 16) vm = _mm512_max_ps(vm, _mm512_loadu_ps(xr + j));
    if (tail) vm = _mm512_max_ps(vm, _mm512_mask_loadu_ps(neg_inf, tail, xr + full));
    const __m512 m = _mm512_set1_ps(_mm512_reduce_max_ps(vm));
    __m512 vs = _mm512_setzero_ps();
    for (int64_t j = 0; j < full; j += 16) {
      const __m512 e = expAvx512(_mm512_sub_ps(_mm512_loadu_ps(xr + j), m));
      if (!log) _mm512_storeu_ps(yr + j, e);
      vs = _mm512_add_ps(vs, e);
    }
    if (tail) {
      const __m512 e = expAvx512(_mm512_sub_ps(_mm512_maskz_loadu_ps(tail, xr + full), m));
      if (!log) _mm512_mask_storeu_ps(yr + full, tail, e);
      vs = _mm512_add_ps(vs, _mm512_maskz_mov_ps(tail, e));
    }
    const float s = _mm512_reduce_add_ps(vs);
    if (log) {
      const __m512 shift = _mm512_add_ps(m, _mm512_set1_ps(std::log(s)));
      for (int64_t j = 0; j < full; j += 16) _mm512_storeu_ps(yr + j, _mm512_sub_ps(_mm512_loadu_ps(xr + j), shift));
      if (tail) _mm512_mask_storeu_ps(yr + full, tail, _mm512_sub_ps(_mm512_maskz_loadu_ps(tail, xr + full), shift));
    } else {
      const __m512 inv = _mm512_set1_ps(1.f / s);
      for (int64_t j = 0; j < full; j += 16) _mm512_storeu_ps(yr + j, _mm512_mul_ps(_mm512_loadu_ps(yr + j), inv));
      if (tail) _mm512_mask_storeu_ps(yr + full, tail, _mm512_mul_ps(_mm512_maskz_loadu_ps(tail, yr + full), inv));
    }
  }
}

class SoftmaxKernel final : public DnnlKernel {
 public:
  SoftmaxKernel(const ir::Node& node, bool log, std::unique_ptr<Kernel> fallback)
      : DnnlKernel(node.describe(), std::move(fallback)),
        log_(log),
        coerce_2d_(node.opset < 13),
        axis_(node.attrInt("axis", coerce_2d_ ? 1 : -1)) {}

 protected:
  Status prepare(const std::vector<TensorView>& inputs, const std::vector<TensorView>& outputs) override {
    const Dims& d = inputs[0].dims;
    const int64_t rank = static_cast<int64_t>(d.size());
    // Out-of-range axes: the reference kernel reports them.
    if (rank == 0 || axis_ < -rank || axis_ > (coerce_2d_ ? rank : rank - 1))
      return unsupported(where(), ": axis out of range");
    const int64_t axis = axis_ < 0 ? axis_ + rank : axis_;
    int64_t outer = 1, n = 1, inner = 1;
    for (int64_t i = 0; i < rank; ++i) {
      if (i < axis) outer *= d[i];
      else if (i == axis || coerce_2d_) n *= d[i];
      else inner *= d[i];
    }
    if (outer * n * inner == 0) return unsupported(where(), ": empty tensors");
    const memory::data_type t = dnnlType(inputs[0].dtype);
    if (t != memory::data_type::f32 || dnnlType(outputs[0].dtype) != t) return unsupported(where(), ": fp32 only");
    // Strided rows: oneDNN 2.6 took 10-50 us where the reference takes 0.4-1 us on the test
    // shapes (bench/results/cpu-ops-2026-11-27.md), so the reference kernel runs them.
    if (inner > 1) return unsupported(where(), ": strided rows (the reference kernel is faster)");
    own_ = hasAvx512();
    rows_ = outer, n_ = n;
    if (own_) return Status::Ok();
    const memory::desc md = plainDesc(memory::dims{outer, n}, t);
    dnnl::softmax_v2_forward::primitive_desc pd;
    QRT_RETURN_IF_ERROR(dnnlTry(where(), [&] {
      dnnl::softmax_v2_forward::desc desc(dnnl::prop_kind::forward_inference,
                                          log_ ? dnnl::algorithm::softmax_log : dnnl::algorithm::softmax_accurate,
                                          md, md, 1);
      pd = dnnl::softmax_v2_forward::primitive_desc(desc, userScratchpad(), engine());
    }));
    return prim_.create(pd, md, md, engine(), where());
  }
  size_t bytes() const override { return own_ ? 0 : prim_.scratchpadBytes(); }
  Status execute(const std::vector<TensorView>& inputs, const std::vector<TensorView>& outputs, void* ws) override {
    if (!own_) return prim_.run(inputs[0].data, outputs[0].data, ws, stream(), where());
    const float* x = inputs[0].as<const float>();
    float* y = outputs[0].as<float>();
    const int64_t n = n_;
    const bool log = log_;
    parallelFor(rows_, std::max<int64_t>(1, 4096 / n), [&](int64_t b, int64_t e) {
      softmaxRows(x + b * n, y + b * n, e - b, n, log);
    });
    return Status::Ok();
  }

 private:
  bool log_, coerce_2d_;
  int64_t axis_;
  bool own_ = false;  // contiguous rows: softmaxRows, no primitive
  int64_t rows_ = 0, n_ = 0;
  SrcDstPrimitive prim_;
};

Result<std::unique_ptr<Kernel>> create(const ir::Node& node, bool log) {
  // Channels-last regions (passes/cpu_layout) never take Softmax; refuse rather than misread one.
  if (nhwcArgs(node).any()) return unsupported(node.describe(), ": NHWC arguments");
  QRT_ASSIGN_OR_RETURN(std::unique_ptr<Kernel> fallback, referenceKernel(node));
  return std::unique_ptr<Kernel>(new SoftmaxKernel(node, log, std::move(fallback)));
}

}  // namespace

Result<std::unique_ptr<Kernel>> createSoftmax(const ir::Node& node) { return create(node, false); }
Result<std::unique_ptr<Kernel>> createLogSoftmax(const ir::Node& node) { return create(node, true); }

}  // namespace qrt::cpu
