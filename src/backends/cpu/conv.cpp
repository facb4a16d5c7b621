// oneDNN Conv and ConvTranspose (deconvolution), FP32: 1-D to 3-D, groups (depthwise
// included), strides, dilations, asymmetric pads.
//
// Layouts. oneDNN's fast direct convolutions (brgconv on AVX-512) want NHWC or blocked
// activations. The builder's layout pass (passes/cpu_layout.cpp) stores the activations of 2-D
// convs NHWC (qrt_nhwc; NhwcArgs says which arguments), so the kernel lets oneDNN choose (format
// `any`) and reorders through the workspace only where oneDNN's choice differs from how an
// argument is stored. Convs outside the pass (1-D, 3-D, weights computed at run time) read plain
// NCHW and reorder in and out, except pointwise ones (1x1, stride 1, no pads), which on NCHW are
// one GEMM (docs/cpu_backend.md, "Layouts").
//
// Weights. With `any`, oneDNN picks a blocked weight layout. Constant weights are reordered into
// it once per process (packWeights) and shared by every live execution context; weights computed at
// run time are reordered into the workspace on every run.
//
// FusedConv: the activation is an eltwise post-op; the residual Z (input 3, same shape as the
// output) is copied (or reordered) into the destination first and added by a sum post-op; where
// Z is stored like the destination, the output may take Z's buffer (inplaceInput, when Z has no
// later reader), and then there is nothing to copy.
// Broadcasting residuals run on the reference kernel.
#include <cstring>
#include <optional>

#include "backends/cpu/deconv_matmul.h"
#include "backends/cpu/dnnl_util.h"
#include "backends/cpu/isa.h"
#include "backends/cpu/kernel_table.h"
#include "backends/cpu/layers.h"
#include "ops/nn_params.h"

namespace qrt::cpu {

namespace {

using dnnl::memory;

struct ConvSetup {
  WindowAttrs attrs;
  bool transpose = false;
  std::optional<HostTensor> weights;  // W when it is a constant
  Epilogue epilogue;
  NhwcArgs nhwc;                      // which activations the layout pass stored NHWC
};

bool present(const std::vector<TensorView>& v, size_t i) { return i < v.size() && v[i].dtype != DataType::kUndefined; }

// The ONNX weight tensor as oneDNN sees it: logical dims {M, C/g, k..} (conv) or {M/g.., C..}
// (deconv), with a group dim in front when group > 1, and strides that read ONNX's storage.
// Conv stores [M, C/g, k..] (oneDNN's own order); ConvTranspose stores [C, M/g, k..], so its
// oneDNN dims {G, M/g, C/g, k..} are read with the first two ONNX dims swapped.
memory::desc onnxWeightsDesc(const Dims& w, int64_t groups, bool transpose, memory::data_type dt) {
  memory::dims kernel(w.begin() + 2, w.end());
  memory::dim kvol = 1;
  for (auto k : kernel) kvol *= k;
  memory::dims dims, strides;
  if (!transpose) {
    memory::dim m = w[0], cg = w[1];
    if (groups > 1) {
      dims = {groups, m / groups, cg};
      strides = {(m / groups) * cg * kvol, cg * kvol, kvol};
    } else {
      dims = {m, cg};
      strides = {cg * kvol, kvol};
    }
  } else {
    memory::dim c = w[0], mg = w[1], cg = c / groups;
    if (groups > 1) {
      dims = {groups, mg, cg};
      strides = {cg * mg * kvol, kvol, mg * kvol};
    } else {
      dims = {mg, c};
      strides = {kvol, mg * kvol};
    }
  }
  // The kernel dims are row-major inside each (output, input) channel pair.
  std::vector<memory::dim> kernel_strides(kernel.size());
  memory::dim inner = 1;
  for (size_t i = kernel.size(); i-- > 0;) {
    kernel_strides[i] = inner;
    inner *= kernel[i];
  }
  dims.insert(dims.end(), kernel.begin(), kernel.end());
  strides.insert(strides.end(), kernel_strides.begin(), kernel_strides.end());
  return memory::desc(dims, dt, strides);
}

class ConvKernel final : public DnnlKernel {
 public:
  ConvKernel(ConvSetup s, std::unique_ptr<Kernel> fallback)
      : DnnlKernel(s.attrs.where, std::move(fallback), s.nhwc), s_(std::move(s)) {}

 protected:
  Status prepare(const std::vector<TensorView>& inputs, const std::vector<TensorView>& outputs) override {
    const Dims& x = inputs[0].dims;
    const Dims& w = inputs[1].dims;
    Window win;
    if (s_.transpose) {
      QRT_ASSIGN_OR_RETURN(win, convTransposeWindow(s_.attrs, x, w));
    } else {
      QRT_ASSIGN_OR_RETURN(win, convWindow(s_.attrs, x, w));
    }
    const Dims& y = outputs[0].dims;
    if (win.rank < 1 || win.rank > 3) return unsupported(where(), ": ", win.rank, " spatial dims");
    if (volume(x) == 0 || volume(y) == 0) return unsupported(where(), ": empty tensors");
    const int64_t groups = s_.attrs.group;
    memory::dims strides, dilates, pad_l, pad_r;
    for (size_t i = 0; i < win.rank; ++i) {
      int64_t span = (win.kernel[i] - 1) * win.dilations[i] + 1;
      strides.push_back(win.strides[i]);
      dilates.push_back(win.dilations[i] - 1);  // oneDNN counts the gaps: 0 is dense
      pad_l.push_back(win.pad_begin[i]);
      // oneDNN wants the end pad that makes its size equation exact.
      pad_r.push_back(s_.transpose ? (win.in[i] - 1) * win.strides[i] + span - win.pad_begin[i] - win.out[i]
                                   : win.pad_end[i]);
    }
    bool pointwise = !s_.transpose && volume(Dims(w.begin() + 2, w.end())) == 1;
    for (size_t i = 0; i < win.rank; ++i)
      pointwise = pointwise && win.strides[i] == 1 && win.pad_begin[i] == 0 && win.pad_end[i] == 0;

    // bf16 layers (precision chosen by the builder): bf16 src, weights and dst, f32 accumulation.
    const memory::data_type dt = dnnlType(inputs[0].dtype);
    memory::desc x_md = activationDesc(toDnnl(x), nhwc().input(0), dt);
    memory::desc y_md = activationDesc(toDnnl(y), nhwc().output(0), dnnlType(outputs[0].dtype));
    memory::desc w_onnx = onnxWeightsDesc(w, groups, s_.transpose, dnnlType(inputs[1].dtype));
    has_bias_ = present(inputs, 2);
    residual_ = s_.epilogue.residual && present(inputs, 3);
    if (residual_ && inputs[3].dims != y)
      return unsupported(where(), ": a residual ", dimsToString(inputs[3].dims), " that broadcasts to ",
                         dimsToString(y));
    memory::desc b_md = has_bias_ ? plainDesc({y[1]}, dnnlType(inputs[2].dtype)) : memory::desc();
    // A pointwise conv on plain NCHW activations is one GEMM: keep them. A deconvolution between
    // NHWC layers stays NHWC (oneDNN's choice, blocked aBcd16b, was slower with its reorders: 24.6
    // against 11.8 ms on PP-OCR det's 24->1 2x2 layer). Otherwise oneDNN picks; the reorders
    // below run only where its choice differs from the stored layout.
    auto activation = [&](const memory::desc& stored) {
      return (pointwise && !nhwc().input(0)) || (s_.transpose && nhwc().input(0)) ? stored
                                           : memory::desc(stored.dims(), stored.data_type(), memory::format_tag::any);
    };
    memory::desc w_any(w_onnx.dims(), dt, memory::format_tag::any);
    dnnl::primitive_attr attr = userScratchpad();
    QRT_RETURN_IF_ERROR(dnnlTry(where(), [&] { attr.set_post_ops(postOps(s_.epilogue, residual_)); }));
    memory::desc src_md, wei_md, dst_md;
    BoundPrimitive prim;
    if (!s_.transpose) {
      dnnl::convolution_forward::primitive_desc pd;
      QRT_RETURN_IF_ERROR(dnnlTry(where(), [&] {
        dnnl::convolution_forward::desc d(dnnl::prop_kind::forward_inference, dnnl::algorithm::convolution_direct,
                                          activation(x_md), w_any, b_md, activation(y_md), strides, dilates, pad_l,
                                          pad_r);
        pd = dnnl::convolution_forward::primitive_desc(d, attr, engine());
      }));
      src_md = pd.src_desc(), wei_md = pd.weights_desc(), dst_md = pd.dst_desc();
      QRT_ASSIGN_OR_RETURN(prim, BoundPrimitive::create(pd, engine(), where()));
    } else {
      dnnl::deconvolution_forward::primitive_desc pd;
      QRT_RETURN_IF_ERROR(dnnlTry(where(), [&] {
        dnnl::deconvolution_forward::desc d(dnnl::prop_kind::forward_inference, dnnl::algorithm::deconvolution_direct,
                                            activation(x_md), w_any, b_md, activation(y_md), strides, dilates, pad_l,
                                            pad_r);
        pd = dnnl::deconvolution_forward::primitive_desc(d, attr, engine());
      }));
      src_md = pd.src_desc(), wei_md = pd.weights_desc(), dst_md = pd.dst_desc();
      QRT_ASSIGN_OR_RETURN(prim, BoundPrimitive::create(pd, engine(), where()));
    }
    QRT_RETURN_IF_ERROR(dnnlTry(where(), [&] {
      arg_src_ = prim.bind(DNNL_ARG_SRC, src_md, engine());
      arg_wei_ = prim.bind(DNNL_ARG_WEIGHTS, wei_md, engine());
      if (has_bias_) arg_bias_ = prim.bind(DNNL_ARG_BIAS, b_md, engine());
      arg_dst_ = prim.bind(DNNL_ARG_DST, dst_md, engine());
    }));
    prim_ = std::move(prim);

    ws_.clear();
    z_in_ = Reorder{};
    QRT_RETURN_IF_ERROR(src_in_.plan(x_md, src_md, true, engine(), ws_, where()));
    QRT_RETURN_IF_ERROR(dst_out_.plan(y_md, dst_md, false, engine(), ws_, where()));
    if (residual_) {  // Z is stored like the output, unless it is a constant (always plain)
      memory::desc z_md = activationDesc(toDnnl(inputs[3].dims), nhwc().input(3), dnnlType(inputs[3].dtype));
      if (!sameLayout(z_md, dst_md)) {
        QRT_ASSIGN_OR_RETURN(z_in_, makeReorder(z_md, dst_md, engine(), where()));
      }
    }
    y_bytes_ = y_md.get_size();
    QRT_RETURN_IF_ERROR(wei_in_.plan(sameLayout(wei_md, w_onnx), s_.weights, w_onnx, wei_md, engine(), ws_, where()));
    size_t scratch = std::max({prim_.scratchpadBytes(), src_in_.scratchpadBytes(), dst_out_.scratchpadBytes(),
                               wei_in_.scratchpadBytes(), z_in_.scratchpadBytes()});
    ws_scratch_ = ws_.add(scratch);
    return Status::Ok();
  }

  size_t bytes() const override { return ws_.bytes(); }

  // The sum post-op accumulates into the destination: when Z is stored exactly as oneDNN's
  // destination and the planner lets the output take Z's buffer, Z is already there and the copy
  // in execute() is skipped (about half of ResNet-50 batch 8's gap to ONNX Runtime).
  int inplaceInput() const override {
    return !usingFallback() && residual_ && z_in_.empty() && dst_out_.empty() ? 3 : -1;
  }

  Status execute(const std::vector<TensorView>& inputs, const std::vector<TensorView>& outputs, void* ws) override {
    void* scratch = ws_.at(ws, ws_scratch_);
    const void* src = inputs[0].data;
    QRT_RETURN_IF_ERROR(src_in_.stageSource(src, ws, scratch, ws_, stream(), where()));
    const void* wei = inputs[1].data;
    QRT_RETURN_IF_ERROR(wei_in_.resolve(wei, ws, scratch, ws_, stream(), where()));
    void* dst = dst_out_.destination(outputs[0].data, ws, ws_);
    if (residual_) {  // the sum post-op adds what the destination holds
      if (!z_in_.empty()) {
        QRT_RETURN_IF_ERROR(z_in_.run(inputs[3].data, dst, scratch, stream(), where()));
      } else if (dst != inputs[3].data) {
        parallelCopy(dst, inputs[3].data, y_bytes_);
      }
    }
    prim_.setData(arg_src_, src);
    prim_.setData(arg_wei_, wei);
    if (has_bias_) prim_.setData(arg_bias_, inputs[2].data);
    prim_.setData(arg_dst_, dst);
    prim_.setScratchpad(scratch);
    QRT_RETURN_IF_ERROR(prim_.execute(stream(), where()));
    QRT_RETURN_IF_ERROR(dst_out_.unstage(dst, outputs[0].data, scratch, stream(), where()));
    return Status::Ok();
  }

 private:
  ConvSetup s_;
  BoundPrimitive prim_;
  size_t arg_src_ = 0, arg_wei_ = 0, arg_bias_ = 0, arg_dst_ = 0;
  bool has_bias_ = false, residual_ = false;
  size_t y_bytes_ = 0;
  StagedActivation src_in_, dst_out_;
  Reorder z_in_;
  WeightsInput wei_in_;
  Workspace ws_;
  size_t ws_scratch_ = 0;
};

}  // namespace

Result<std::unique_ptr<Kernel>> makeConvKernel(const ir::Node& node, bool transpose, Epilogue epilogue) {
  ConvSetup s;
  QRT_ASSIGN_OR_RETURN(s.attrs, readWindowAttrs(node));
  s.transpose = transpose;
  s.epilogue = std::move(epilogue);
  if (!node.hasInput(0) || !node.hasInput(1)) return invalidArgument(node.describe(), ": needs X and W");
  const ir::Value* w = node.inputs[1];
  if (w->has_shape && (w->dims.size() < 3 || w->dims.size() > 5))
    return unsupported(node.describe(), ": oneDNN convolutions are 1-D to 3-D");
  if (w->isConstant()) s.weights = *w->constant;
  s.nhwc = nhwcArgs(node);
  QRT_ASSIGN_OR_RETURN(std::unique_ptr<Kernel> fallback, referenceKernel(node));
  return std::unique_ptr<Kernel>(new ConvKernel(std::move(s), std::move(fallback)));
}

Result<std::unique_ptr<Kernel>> createConv(const ir::Node& node) { return makeConvKernel(node, false, {}); }
Result<std::unique_ptr<Kernel>> createConvTranspose(const ir::Node& node) {
  QRT_ASSIGN_OR_RETURN(std::unique_ptr<Kernel> upsample, makeDeconvMatmulKernel(node));  // kernel == stride, NHWC
  if (upsample) return upsample;
  return makeConvKernel(node, true, {});
}

}  // namespace qrt::cpu
