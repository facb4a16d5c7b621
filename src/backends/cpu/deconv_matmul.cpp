// ConvTranspose whose kernel equals its stride (no pads, dilations, groups or output padding),
// NHWC in and out: the 2x2 stride-2 upsampling of detection heads (PP-OCR's det model). oneDNN
// 2.6 runs these on its generic jit deconvolution at 7-10 GFLOP/s (blocked layouts, a
// backward-data convolution underneath). Each input pixel maps to its own kh x kw output block:
//   y[n, h*kh + i, w*kw + j, m] = sum_c x[n, h, w, c] * W[c, m, i, j] + b[m]
// so the layer is one GEMM, P [N*H*W, kh*kw*M] = X [N*H*W, C] x W' [C, kh*kw*M] (+ the bias
// repeated per (i, j)), on oneDNN's brgemm matmul, then a copy of each (n, h, w, i) row of
// kw*M values to its place in the output. A batched matmul writing the output in place through
// strides was measured slower (oneDNN runs it as thousands of small jit GEMMs: 52 ms against
// 16 ms for the deconvolution on PP-OCR's 24->24 layer at 160x160).
#include "backends/cpu/deconv_matmul.h"

#include <cstring>

#include "backends/cpu/dnnl_util.h"
#include "core/threadpool.h"
#include "ops/nn_params.h"

namespace qrt::cpu {

namespace {

using dnnl::memory;

class DeconvMatmulKernel final : public DnnlKernel {
 public:
  // `weights`: W' [C, kh*kw*M] (columns ordered i, j, m); `bias`: [kh*kw*M] or empty.
  DeconvMatmulKernel(std::string where, HostTensor weights, HostTensor bias, int64_t kh, int64_t kw,
                     std::unique_ptr<Kernel> fallback, NhwcArgs nhwc)
      : DnnlKernel(std::move(where), std::move(fallback), std::move(nhwc)),
        weights_(std::move(weights)),
        bias_(std::move(bias)),
        kh_(kh),
        kw_(kw) {}

 protected:
  Status prepare(const std::vector<TensorView>& inputs, const std::vector<TensorView>& outputs) override {
    const Dims& x = inputs[0].dims;
    const Dims& y = outputs[0].dims;
    if (x.size() != 4 || y.size() != 4 || volume(x) == 0) return unsupported(where(), ": not a 2-D upsampling");
    n_ = x[0], h_ = x[2], w_ = x[3], m_ = y[1];
    const memory::dim c = x[1], cols = kh_ * kw_ * m_;
    if (weights_.dims() != Dims{c, cols} || y[0] != n_ || y[2] != h_ * kh_ || y[3] != w_ * kw_)
      return unsupported(where(), ": output ", dimsToString(y), " is not the input upsampled by the kernel");
    const memory::dim rows = n_ * h_ * w_;
    memory::desc src = plainDesc({rows, c}), dst = plainDesc({rows, cols}), wei_plain = plainDesc({c, cols});
    memory::desc wei_any({c, cols}, memory::data_type::f32, memory::format_tag::any);
    memory::desc bias = bias_.dims().empty() ? memory::desc() : plainDesc({1, cols});
    dnnl::matmul::primitive_desc pd;
    QRT_RETURN_IF_ERROR(dnnlTry(where(), [&] {
      dnnl::matmul::desc d =
          bias.is_zero() ? dnnl::matmul::desc(src, wei_any, dst) : dnnl::matmul::desc(src, wei_any, bias, dst);
      pd = dnnl::matmul::primitive_desc(d, userScratchpad(), engine());
    }));
    QRT_ASSIGN_OR_RETURN(prim_, BoundPrimitive::create(pd, engine(), where()));
    memory::desc wei = pd.weights_desc();
    QRT_RETURN_IF_ERROR(dnnlTry(where(), [&] {
      arg_src_ = prim_.bind(DNNL_ARG_SRC, src, engine());
      arg_wei_ = prim_.bind(DNNL_ARG_WEIGHTS, wei, engine());
      if (!bias.is_zero()) arg_bias_ = prim_.bind(DNNL_ARG_BIAS, bias, engine());
      arg_dst_ = prim_.bind(DNNL_ARG_DST, dst, engine());
    }));
    packed_.reset();
    if (!sameLayout(wei, wei_plain)) {
      QRT_ASSIGN_OR_RETURN(packed_, packWeights(weights_, wei_plain, wei, where()));
    }
    ws_.clear();
    ws_p_ = ws_.add(dst.get_size());
    ws_scratch_ = ws_.add(prim_.scratchpadBytes());
    return Status::Ok();
  }

  size_t bytes() const override { return ws_.bytes(); }

  Status execute(const std::vector<TensorView>& inputs, const std::vector<TensorView>& outputs, void* ws) override {
    auto* p = static_cast<float*>(ws_.at(ws, ws_p_));
    prim_.setData(arg_src_, inputs[0].data);
    prim_.setData(arg_wei_, packed_ ? packed_->data() : weights_.data());
    if (!bias_.dims().empty()) prim_.setData(arg_bias_, bias_.data());
    prim_.setData(arg_dst_, p);
    prim_.setScratchpad(ws_.at(ws, ws_scratch_));
    QRT_RETURN_IF_ERROR(prim_.execute(stream(), where()));
    // P row (n, h, w) holds kh blocks of kw*M values; block i goes to output row h*kh + i.
    auto* y = outputs[0].as<float>();
    const int64_t run = kw_ * m_, ow = w_ * kw_, nh = n_ * h_, kh = kh_, w = w_;
    parallelFor(nh * kh, 16, [&](int64_t begin, int64_t end) {
      for (int64_t r = begin; r < end; ++r) {
        const int64_t row = r / kh, i = r % kh;  // row = n*H + h; output row (n, h*kh + i)
        float* out = y + (row * kh + i) * ow * m_;
        const float* in = p + row * w * kh * run + i * run;
        for (int64_t x = 0; x < w; ++x) std::memcpy(out + x * run, in + x * kh * run, run * sizeof(float));
      }
    });
    return Status::Ok();
  }

 private:
  HostTensor weights_, bias_;
  int64_t kh_, kw_, n_ = 0, h_ = 0, w_ = 0, m_ = 0;
  BoundPrimitive prim_;
  std::shared_ptr<const PackedWeights> packed_;
  size_t arg_src_ = 0, arg_wei_ = 0, arg_bias_ = 0, arg_dst_ = 0;
  Workspace ws_;
  size_t ws_p_ = 0, ws_scratch_ = 0;
};

bool allEqual(const std::vector<int64_t>& v, int64_t x) {
  for (int64_t e : v)
    if (e != x) return false;
  return true;
}

}  // namespace

Result<std::unique_ptr<Kernel>> makeDeconvMatmulKernel(const ir::Node& node) {
  NhwcArgs nhwc = nhwcArgs(node);
  if (!nhwc.input(0) || !nhwc.output(0) || !node.hasInput(1) || !node.inputs[1]->isConstant())
    return std::unique_ptr<Kernel>();
  const HostTensor& w = *node.inputs[1]->constant;
  if (w.dims().size() != 4 || w.dtype() != DataType::kFloat) return std::unique_ptr<Kernel>();
  QRT_ASSIGN_OR_RETURN(WindowAttrs a, readWindowAttrs(node));
  const std::vector<int64_t> kernel(w.dims().begin() + 2, w.dims().end());
  const bool fits = a.group == 1 && (a.kernel_shape.empty() || a.kernel_shape == kernel) && a.strides == kernel &&
                    allEqual(a.dilations, 1) && allEqual(a.pads, 0) && allEqual(a.output_padding, 0) &&
                    a.output_shape.empty() && (a.auto_pad == "NOTSET" || a.auto_pad == "VALID");
  if (!fits) return std::unique_ptr<Kernel>();
  // Bias, when present, must be a constant [M] (it is repeated per (i, j) once, here).
  const int64_t c = w.dims()[0], m = w.dims()[1], kh = kernel[0], kw = kernel[1], cols = kh * kw * m;
  HostTensor bias;
  if (node.hasInput(2)) {
    const ir::Value* b = node.inputs[2];
    if (!b->isConstant() || b->constant->dtype() != DataType::kFloat || b->constant->dims() != Dims{m})
      return std::unique_ptr<Kernel>();
    bias = HostTensor(DataType::kFloat, {cols});
    const float* from = static_cast<const float*>(b->constant->data());
    float* to = static_cast<float*>(bias.data());
    for (int64_t ij = 0; ij < kh * kw; ++ij) std::memcpy(to + ij * m, from, m * sizeof(float));
  }
  // W [C, M, kh, kw] -> W' [C, (i, j, m)].
  HostTensor packed(DataType::kFloat, {c, cols});
  const float* from = static_cast<const float*>(w.data());
  float* to = static_cast<float*>(packed.data());
  for (int64_t ci = 0; ci < c; ++ci)
    for (int64_t mi = 0; mi < m; ++mi)
      for (int64_t i = 0; i < kh; ++i)
        for (int64_t j = 0; j < kw; ++j)
          to[ci * cols + (i * kw + j) * m + mi] = from[((ci * m + mi) * kh + i) * kw + j];
  QRT_ASSIGN_OR_RETURN(std::unique_ptr<Kernel> fallback, referenceKernel(node));
  return std::unique_ptr<Kernel>(new DeconvMatmulKernel(node.describe(), std::move(packed), std::move(bias), kh, kw,
                                                        std::move(fallback), std::move(nhwc)));
}

}  // namespace qrt::cpu
