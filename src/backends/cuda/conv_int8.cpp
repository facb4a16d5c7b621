// qrt's QConv (src/ops/qops.cpp) on cuDNN's graph API: int8 NHWC x and int8 KRSC weights
// (input channels padded with zeros to what cuDNN's int8 engines take: a multiple of 4, else 16),
// int32 accumulation, then y = act(acc * x_scale * w_scale[c] + bias[c]) and either float y (fp32,
// or fp16 where the CUDA FP16 step gave the QConv an fp16 output) or round_half_even(y / y_scale)
// saturated to int8.
//
// Full fusion: the graph's pointwise chain multiplies by the per-channel scale (1/y_scale folded
// in), adds the bias (also divided by y_scale), applies ReLU/clip (bounds divided by y_scale)
// and cuDNN converts to int8. Where no engine takes that chain, the convolution alone writes
// the accumulators as float into the workspace and qrt's requantize kernel (conv_int8.cu)
// applies the reference's epilogue exactly. Both are within one quantization step of the
// reference (the folded scale can move a value across a rounding boundary).
//
// With an int8 residual z (inputs 6 = z_q of y's shape, 7 = z_scale; passes/
// fuse_qconv_residual.h): y = act(acc * mult[c] + bias[c] + z_scale * z_q), TensorRT's
// int8-in/int8-out residual convolution. The full graph runs on values divided by z_scale
// (scale mult/z_scale, bias bias/z_scale), adds z_q as int8, multiplies by z_scale/y_scale and
// applies the activation (bounds / y_scale): one linear chain, so cuDNN's runtime fusion sees
// the FusedConv residual pattern with an int8 tensor. The conv-only form gives z to the
// requantize kernel, which adds it in the reference's order.
//
// Scales, bias and weights must be constants (they are, after foldQdq); the layout pass makes
// every 2-D QConv channels-last (qrt_nhwc = 1), z included.
#include <cstring>

#include "backends/cuda/conv_graph.h"
#include "backends/cuda/conv_launch.h"
#include "backends/cuda/kernel_table.h"
#include "backends/cuda/own_qconv.h"
#include "ops/op.h"

namespace qrt::cuda {

namespace {

size_t alignUp(size_t n) { return (n + 255) / 256 * 256; }

class QConvKernel final : public CudaKernel {
 public:
  QConvKernel(const ir::Node& n, DeviceContext* dev, WindowAttrs a, EpilogueActivation act)
      : CudaKernel(n, dev), attrs_(std::move(a)), act_(act), has_bias_(n.hasInput(2)), has_y_scale_(n.hasInput(5)),
        has_z_(n.hasInput(6)), tactic_attr_(n.attrString(kAttrTactic, "")),
        post_scale_(n.attrFloat("post_scale", 1.f)), post_shift_(n.attrFloat("post_shift", 0.f)) {}

  Status reshape(const std::vector<TensorView>& in, const std::vector<TensorView>& out) override {
    const Dims& x = in[0].dims;
    const Dims& w = in[1].dims;
    if (x.size() != 4) return unsupported(who_, ": the CUDA QConv is 2-D only");
    if (!in[1].data || !in[3].data || !in[4].data || (has_bias_ && !in[2].data) || (has_y_scale_ && !in[5].data))
      return unsupported(who_, ": the CUDA QConv needs constant weights, bias and scales");
    z_scale_ = 0.f;
    if (has_z_) {
      if (in.size() < 8 || !in[7].data) return unsupported(who_, ": the CUDA QConv needs a constant z_scale");
      if (in[6].dims != out[0].dims || in[6].dtype != DataType::kInt8)
        return invalidArgument(who_, ": z_q must be int8 of the output's shape");
      z_scale_ = in[7].as<const float>()[0];
      if (!(z_scale_ > 0.f)) return invalidArgument(who_, ": z_scale must be positive");
    }
    const int64_t M = w[0];
    const float xs = in[3].as<const float>()[0];
    const float ys = has_y_scale_ ? in[5].as<const float>()[0] : 1.f;
    if (has_y_scale_ && !(ys > 0.f)) return invalidArgument(who_, ": y_scale must be positive");
    y_type_ = out[0].dtype;
    y_int8_ = y_type_ == DataType::kInt8;
    if (!y_int8_ && y_type_ != DataType::kFloat && y_type_ != DataType::kHalf)
      return unsupported(who_, ": the CUDA QConv writes int8, fp32 or fp16");
    y_scale_ = ys;
    std::vector<float> mult(static_cast<size_t>(M)), bias(static_cast<size_t>(M), 0.f);
    const int64_t nw = in[4].numel();
    for (int64_t c = 0; c < M; ++c) {
      mult[c] = xs * in[4].as<const float>()[nw == 1 ? 0 : c];
      if (has_bias_) bias[c] = in[2].as<const float>()[c];
    }
    QRT_RETURN_IF_ERROR(mult_.upload(mult.data(), mult.size() * 4, who_));
    QRT_RETURN_IF_ERROR(bias_.upload(bias.data(), bias.size() * 4, who_));
    // The graph's folded constants: y / y_scale = act'(acc * mult/ys + bias/ys); with z,
    // y / y_scale = act'((acc * mult/zs + bias/zs + z) * zs/ys).
    const float fold = has_z_ ? z_scale_ : (y_int8_ ? ys : 1.f);
    if (fold != 1.f) {
      for (int64_t c = 0; c < M; ++c) {
        mult[c] /= fold;
        bias[c] /= fold;
      }
    }
    QRT_RETURN_IF_ERROR(mult_folded_.upload(mult.data(), mult.size() * 4, who_));
    QRT_RETURN_IF_ERROR(bias_folded_.upload(bias.data(), bias.size() * 4, who_));
    if (has_z_) {
      const std::vector<float> k(static_cast<size_t>(M), z_scale_ / (y_int8_ ? ys : 1.f));
      QRT_RETURN_IF_ERROR(z_mult_.upload(k.data(), k.size() * 4, who_));
    }
    qact_ = qconvAct(act_);

    QRT_ASSIGN_OR_RETURN(ConvProblem p, qconvProblem(attrs_, act_, x, w, out[0].dims, out[0].dtype, ys, has_z_));
    Status s = chooseConvPlan(dev_->cudnn, p, tactic_attr_, who_, &graph_, &plan_, &fusion_, &pad_c_);
    if (!s.ok()) return s.withContext("INT8 convolution on cuDNN");
    pad_ = ChannelPad{};
    if (pad_c_ > 0) pad_.plan(x, pad_c_, 1);
    std::vector<uint8_t> krsc = weightsChannelsLast(in[1].data, w, 1, pad_c_);
    QRT_RETURN_IF_ERROR(w_.upload(krsc.data(), krsc.size(), who_));
    numel_ = out[0].numel();
    channels_ = M;
    return Status::Ok();
  }

  size_t workspaceBytes() const override {
    size_t b = 256 + alignUp(static_cast<size_t>(plan_.workspace()));
    if (pad_.to) b += alignUp(pad_.bytes);
    if (fusion_ == Fusion::kConvOnly) b += alignUp(static_cast<size_t>(numel_) * 4);
    return b;
  }

  Status run(const std::vector<TensorView>& in, const std::vector<TensorView>& out, void* ws) override {
    auto* base = reinterpret_cast<uint8_t*>((reinterpret_cast<uintptr_t>(ws) + 255) / 256 * 256);
    uint8_t* next = base + alignUp(static_cast<size_t>(plan_.workspace()));
    const void* x = in[0].data;
    if (pad_.to) {
      pad_.run(x, next, stream());
      x = next;
      next += alignUp(pad_.bytes);
    }
    if (fusion_ == Fusion::kFull) {
      QRT_RETURN_IF_ERROR(plan_.execute(x, w_.get(), bias_folded_.get(), has_z_ ? in[6].data : nullptr,
                                        mult_folded_.get(), out[0].data, base, has_z_ ? z_mult_.get() : nullptr));
      return launched();
    }
    float* acc = reinterpret_cast<float*>(next);
    QRT_RETURN_IF_ERROR(plan_.execute(x, w_.get(), nullptr, nullptr, nullptr, acc, base));
    launch::requantize(acc, out[0].data, y_type_, mult_.as<float>(), bias_.as<float>(), numel_, channels_, qact_, act_.a,
                       act_.b, y_scale_, stream(), has_z_ ? in[6].as<const int8_t>() : nullptr, z_scale_, post_scale_,
                       post_shift_);
    return launched();
  }

 private:
  WindowAttrs attrs_;
  EpilogueActivation act_;
  bool has_bias_, has_y_scale_, has_z_;
  float z_scale_ = 0.f;
  std::string tactic_attr_;
  bool y_int8_ = true;
  DataType y_type_ = DataType::kInt8;
  float y_scale_ = 1.f;
  // The affine after a hard swish (passes/fuse_qdq.h), applied by the requantize kernel.
  float post_scale_ = 1.f, post_shift_ = 0.f;
  launch::QAct qact_ = launch::QAct::kNone;
  DeviceBuffer w_, mult_, bias_, mult_folded_, bias_folded_, z_mult_;
  ConvGraph graph_;
  ConvPlan plan_;
  Fusion fusion_ = Fusion::kFull;
  int64_t pad_c_ = 0;
  ChannelPad pad_;
  int64_t numel_ = 0, channels_ = 0;
};

}  // namespace

Result<ConvProblem> qconvProblem(const WindowAttrs& attrs, const EpilogueActivation& act, const Dims& x,
                                 const Dims& w, const Dims& y, DataType out_dtype, float y_scale, bool z_int8) {
  QRT_ASSIGN_OR_RETURN(ConvProblem p,
                       convProblem(attrs, act, DataType::kInt8, out_dtype, true, false, x, w, y, true, false));
  if (z_int8) {
    p.z = true;
    p.z_dtype = DataType::kInt8;
  }
  if (out_dtype == DataType::kInt8 && p.act == ConvProblem::Act::kClip) {
    p.act_a /= y_scale;
    p.act_b /= y_scale;
  }
  return p;
}

Result<std::unique_ptr<Kernel>> createQConv(const ir::Node& node, DeviceContext* dev) {
  QRT_ASSIGN_OR_RETURN(WindowAttrs a, readWindowAttrs(node));
  QRT_ASSIGN_OR_RETURN(EpilogueActivation act, readEpilogueActivation(node));
  if (!qrtAppliesQAct(act))
    return unsupported(node.describe(), ": the CUDA QConv applies ReLU, clip or hard swish only");
  if ((node.hasAttr("post_scale") || node.hasAttr("post_shift")) && qconvAct(act) != launch::QAct::kHardSwish)
    return unsupported(node.describe(), ": the CUDA QConv applies post_scale / post_shift after a hard swish only");
  if (!channelsLast(node) || !node.hasInput(0) || node.inputs[0]->dims.size() != 4)
    return unsupported(node.describe(), ": the CUDA QConv runs 2-D channels-last convolutions only");
  if (node.hasInput(1) && node.inputs[1]->dtype != DataType::kInt8)
    return unsupported(node.describe(), ": the CUDA QConv takes int8 weights");
  if (node.hasInput(6) && (node.inputs[6]->dtype != DataType::kInt8 || !node.hasInput(7)))
    return unsupported(node.describe(), ": the CUDA QConv takes an int8 residual with its scale");
  // A residual computed in the node (downsample_fuse.cpp): qrt's implicit GEMM alone computes it.
  if (node.hasInput(kDsX)) {
    if (a.group != 1) return unsupported(node.describe(), ": a computed residual needs a dense convolution");
    return withQIgemm(node, dev, a, act, nullptr);
  }
  QRT_ASSIGN_OR_RETURN(std::unique_ptr<Kernel> k, makeKernel<QConvKernel>(node, dev, a, act));
  if (a.group == 1) {  // dense layers: qconv_igemm.cpp, and pointwise ones on cuBLASLt: qconv_lt.cpp
    QRT_ASSIGN_OR_RETURN(std::unique_ptr<Kernel> dense, withQIgemm(node, dev, a, act, std::move(k)));
    return withQLt(node, dev, a, act, std::move(dense));
  }
  if (node.hasInput(6)) return k;  // qrt's depthwise kernel has no residual input
  return withQDepthwise(node, dev, a, act, std::move(k));  // depthwise layers: qdepthwise.cpp
}

}  // namespace qrt::cuda
