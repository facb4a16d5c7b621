// qrt's QConv (int8 x int8 -> int8 or float, docs/int8.md) on oneDNN's int8 convolution:
// 1-D to 3-D, groups (depthwise included), strides, dilations, asymmetric pads.
//
// Types. Weights are s8; the source is s8, or u8 when the producer guarantees non-negative
// values (nonNegativeInt8: a relu upstream): same bytes, and oneDNN's VNNI kernels (u8 x s8
// products) then skip the s8 source compensation. The destination is s8 or f32.
//
// Epilogue. Per-channel output scales, the bias moved into the accumulator's scale and the
// activation as an eltwise post-op (qlayer.h says how, and how close to the reference that is).
// The scales and bias are constants baked in at reshape; a QConv whose scales are computed runs
// on the reference backend.
//
// Layouts. oneDNN's int8 convolutions are NHWC (brgconv) or blocked; on plain NCHW it has only
// its reference kernel. Inside the cpu backend's channels-last regions (passes/cpu_layout.cpp:
// QConv anchors them like the FP32 convs) the activations are already NHWC (qrt_nhwc) and run
// as they are; elsewhere the kernel lets oneDNN choose (`any`) and reorders qrt's plain NCHW in
// and out through the workspace. Constant weights are reordered once into the chosen blocked
// layout (with oneDNN's compensation terms) and shared (packWeights).
#include <cstring>
#include <optional>

#include "backends/cpu/dnnl_util.h"
#include "backends/cpu/kernel_table.h"
#include "backends/cpu/qlayer.h"
#include "ops/nn_params.h"

namespace qrt::cpu {

namespace {

using dnnl::memory;

struct QConvSetup {
  WindowAttrs attrs;
  QuantEpilogue epilogue;
  std::optional<HostTensor> weights;  // w_q when constant
  bool u8_src = false;                // x_q is known non-negative: read it as u8
  bool int8_out = false;
  NhwcArgs nhwc;                      // which activations the layout pass stored NHWC
};

// The ONNX weight tensor [M, C/g, k..] as oneDNN's {(G,) M/g, C/g, k..}, s8, dense.
memory::desc qconvWeightsDesc(const Dims& w, int64_t groups) {
  memory::dims dims;
  if (groups > 1) dims = {groups, w[0] / groups, w[1]};
  else dims = {w[0], w[1]};
  dims.insert(dims.end(), w.begin() + 2, w.end());
  return plainDesc(dims, memory::data_type::s8);
}

class QConvKernel final : public DnnlKernel {
 public:
  QConvKernel(QConvSetup s, std::unique_ptr<Kernel> fallback)
      : DnnlKernel(s.attrs.where, std::move(fallback), s.nhwc), s_(std::move(s)) {}

 protected:
  Status prepare(const std::vector<TensorView>& inputs, const std::vector<TensorView>& outputs) override {
    const Dims& x = inputs[0].dims;
    const Dims& w = inputs[1].dims;
    QRT_ASSIGN_OR_RETURN(Window win, convWindow(s_.attrs, x, w));
    const Dims& y = outputs[0].dims;
    if (win.rank < 1 || win.rank > 3) return unsupported(where(), ": ", win.rank, " spatial dims");
    if (volume(x) == 0 || volume(y) == 0) return unsupported(where(), ": empty tensors");
    memory::dims strides, dilates, pad_l, pad_r;
    for (size_t i = 0; i < win.rank; ++i) {
      strides.push_back(win.strides[i]);
      dilates.push_back(win.dilations[i] - 1);  // oneDNN counts the gaps: 0 is dense
      pad_l.push_back(win.pad_begin[i]);
      pad_r.push_back(win.pad_end[i]);
    }
    QRT_ASSIGN_OR_RETURN(QuantAttrs q, quantAttrs(s_.epilogue, inputs, w[0], 1, where()));
    bias_ = std::move(q.bias);

    const memory::data_type src_t = s_.u8_src ? memory::data_type::u8 : memory::data_type::s8;
    const memory::data_type dst_t = s_.int8_out ? memory::data_type::s8 : memory::data_type::f32;
    memory::desc x_md = activationDesc(toDnnl(x), nhwc().input(0), src_t);
    memory::desc y_md = activationDesc(toDnnl(y), nhwc().output(0), dst_t);
    memory::desc w_onnx = qconvWeightsDesc(w, s_.attrs.group);
    memory::desc b_md = bias_.empty() ? memory::desc() : plainDesc({w[0]});
    memory::desc x_any(x_md.dims(), src_t, memory::format_tag::any);
    memory::desc y_any(y_md.dims(), dst_t, memory::format_tag::any);
    memory::desc w_any(w_onnx.dims(), memory::data_type::s8, memory::format_tag::any);
    dnnl::convolution_forward::primitive_desc pd;
    QRT_RETURN_IF_ERROR(dnnlTry(where(), [&] {
      dnnl::convolution_forward::desc d(dnnl::prop_kind::forward_inference, dnnl::algorithm::convolution_direct, x_any,
                                        w_any, b_md, y_any, strides, dilates, pad_l, pad_r);
      pd = dnnl::convolution_forward::primitive_desc(d, q.attr, engine());
    }));
    const memory::desc src_md = pd.src_desc(), wei_md = pd.weights_desc(), dst_md = pd.dst_desc();
    QRT_ASSIGN_OR_RETURN(prim_, BoundPrimitive::create(pd, engine(), where()));
    QRT_RETURN_IF_ERROR(dnnlTry(where(), [&] {
      arg_src_ = prim_.bind(DNNL_ARG_SRC, src_md, engine());
      arg_wei_ = prim_.bind(DNNL_ARG_WEIGHTS, wei_md, engine());
      if (!bias_.empty()) arg_bias_ = prim_.bind(DNNL_ARG_BIAS, b_md, engine());
      arg_dst_ = prim_.bind(DNNL_ARG_DST, dst_md, engine());
    }));
    if (!bias_.empty()) prim_.setData(arg_bias_, bias_.data());

    ws_.clear();
    QRT_RETURN_IF_ERROR(src_in_.plan(x_md, src_md, true, engine(), ws_, where()));
    QRT_RETURN_IF_ERROR(dst_out_.plan(y_md, dst_md, false, engine(), ws_, where()));
    QRT_RETURN_IF_ERROR(wei_in_.plan(sameWeights(wei_md, w_onnx), s_.weights, w_onnx, wei_md, engine(), ws_, where()));
    size_t scratch = std::max({prim_.scratchpadBytes(), src_in_.scratchpadBytes(), dst_out_.scratchpadBytes(),
                               wei_in_.scratchpadBytes()});
    ws_scratch_ = ws_.add(scratch);
    return Status::Ok();
  }

  size_t bytes() const override { return ws_.bytes(); }

  Status execute(const std::vector<TensorView>& inputs, const std::vector<TensorView>& outputs, void* ws) override {
    void* scratch = ws_.at(ws, ws_scratch_);
    const void* src = inputs[0].data;
    QRT_RETURN_IF_ERROR(src_in_.stageSource(src, ws, scratch, ws_, stream(), where()));
    const void* wei = inputs[1].data;
    QRT_RETURN_IF_ERROR(wei_in_.resolve(wei, ws, scratch, ws_, stream(), where()));
    void* dst = dst_out_.destination(outputs[0].data, ws, ws_);
    prim_.setData(arg_src_, src);
    prim_.setData(arg_wei_, wei);
    prim_.setData(arg_dst_, dst);
    prim_.setScratchpad(scratch);
    QRT_RETURN_IF_ERROR(prim_.execute(stream(), where()));
    QRT_RETURN_IF_ERROR(dst_out_.unstage(dst, outputs[0].data, scratch, stream(), where()));
    return Status::Ok();
  }

 private:
  QConvSetup s_;
  BoundPrimitive prim_;
  size_t arg_src_ = 0, arg_wei_ = 0, arg_bias_ = 0, arg_dst_ = 0;
  std::vector<float> bias_;  // bias' (qlayer.h), bound once: it lives as long as the primitive
  StagedActivation src_in_, dst_out_;
  WeightsInput wei_in_;
  Workspace ws_;
  size_t ws_scratch_ = 0;
};

}  // namespace

// QConv inputs: x_q 0, w_q 1, bias 2, x_scale 3, w_scale 4, y_scale 5 (optional).
Result<std::unique_ptr<Kernel>> createQConv(const ir::Node& node) {
  QConvSetup s;
  QRT_ASSIGN_OR_RETURN(s.attrs, readWindowAttrs(node));
  if (!node.hasInput(0) || !node.hasInput(1) || !node.hasInput(3) || !node.hasInput(4))
    return invalidArgument(node.describe(), ": needs x_q, w_q, x_scale and w_scale");
  if (node.inputs[0]->dtype != DataType::kInt8 || node.inputs[1]->dtype != DataType::kInt8)
    return unsupported(node.describe(), ": QConv takes int8 x_q and w_q");
  // An int8 residual (inputs 6, 7: passes/fuse_qconv_residual.h, made for the CUDA backend) is
  // not in this kernel's epilogue: such a node runs on the reference backend.
  if (node.hasInput(6) || node.hasInput(7))
    return unsupported(node.describe(), ": the cpu QConv has no int8 residual input");
  QRT_ASSIGN_OR_RETURN(s.epilogue, readQuantEpilogue(node, 2, 3, 4, 5));
  if (!epilogueInputsConstant(node, s.epilogue))
    return unsupported(node.describe(), ": the cpu QConv needs constant scales and bias");
  const ir::Value* w = node.inputs[1];
  if (w->has_shape && (w->dims.size() < 3 || w->dims.size() > 5))
    return unsupported(node.describe(), ": oneDNN convolutions are 1-D to 3-D");
  if (w->isConstant()) s.weights = *w->constant;
  s.u8_src = nonNegativeInt8(node.inputs[0]);
  s.int8_out = s.epilogue.y_scale >= 0;
  s.nhwc = nhwcArgs(node);
  QRT_ASSIGN_OR_RETURN(std::unique_ptr<Kernel> fallback, referenceKernel(node));
  return std::unique_ptr<Kernel>(new QConvKernel(std::move(s), std::move(fallback)));
}

}  // namespace qrt::cpu
