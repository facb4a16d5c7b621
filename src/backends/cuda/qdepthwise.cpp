// QConv's depthwise path (own_qconv.h): qrt's INT8 depthwise kernel (qdepthwise.cu) with QConv's
// epilogue for depthwise layers (group == C == M, 2-D, channels-last), as the FP16 ConvKernel
// takes depthwise.cu: where the stored tactic is "dw" (it beat cuDNN's int8 plans at build time),
// or by default for shapes without a tactic; QRT_CUDA_DEPTHWISE=off never takes it, =on always
// where it applies. The cuDNN QConv kernel runs every shape or node it does not take.
#include <vector>

#include "backends/cuda/depthwise_geometry.h"
#include "backends/cuda/own_qconv.h"
#include "backends/cuda/qdepthwise_launch.h"
#include "ops/op.h"

namespace qrt::cuda {

namespace {

class QDepthwiseKernel final : public OwnQConvKernel {
 public:
  QDepthwiseKernel(const ir::Node& n, DeviceContext* dev, WindowAttrs a, EpilogueActivation act,
                   std::unique_ptr<Kernel> cudnn)
      : OwnQConvKernel(n, dev, std::move(a), act, std::move(cudnn), "QRT_CUDA_DEPTHWISE") {}

 protected:
  bool isMine(const std::string& tactic) const override { return tactic == "dw"; }
  // Shapes without a tactic: the depthwise kernel (QRT_CUDA_CONV=graph keeps cuDNN there, as in FP16).
  bool byDefault() const override { return !envIs("QRT_CUDA_CONV", "graph"); }
  // fp16 y too: in an --int8 --fp16 engine a depthwise QConv feeding fp16 layers (PP-OCRv4's
  // detector, HardSwish after each) otherwise had only cuDNN's int8 plan, ~4x the FP16 layer's time.
  bool writesHalf() const override { return true; }
  bool appliesHardSwish() const override { return true; }
  bool appliesPostAffine() const override { return true; }

  Status runOwn(const std::vector<TensorView>& in, const std::vector<TensorView>& out, void*) override {
    launch::depthwiseConvInt8(static_cast<const int8_t*>(in[0].data), w_.as<int8_t>(), wq_.as<int32_t>(),
                              out[0].data, geom_, epi_, stream());
    return launched();
  }

  Status reshapeOwn(const std::vector<TensorView>& in, const std::vector<TensorView>& out,
                    const std::string& /*tactic*/) override {
    const Dims& x = in[0].dims;
    const Dims& w = in[1].dims;
    const Dims& y = out[0].dims;
    if (x.size() != 4 || w.size() != 4 || attrs_.group != x[1] || w[0] != x[1] || w[1] != 1)
      return unsupported(who_, ": not a 2-D depthwise convolution");
    if (has_z_) return unsupported(who_, ": the int8 depthwise kernel takes no residual");
    QRT_ASSIGN_OR_RETURN(Window win, convWindow(attrs_, x, w));
    if (win.rank != 2) return unsupported(who_, ": not a 2-D depthwise convolution");
    const launch::DepthwiseGeometry g = depthwiseGeometry(x, w, y, win, true);
    if (!launch::depthwiseFits(g)) return unsupported(who_, ": too large for the depthwise kernel's 32-bit indices");
    const int64_t c_count = w[0], taps = w[2] * w[3];
    QRT_RETURN_IF_ERROR(prepareEpilogue(in, out, c_count));

    // [C, 1, kh, kw] -> [kh * kw, C]: one 16-byte load gives a tap's weights for 16 channels.
    const auto* src = in[1].as<const int8_t>();
    const std::vector<uint8_t> t = depthwiseWeightsTapMajor(src, c_count, taps, 1);
    QRT_RETURN_IF_ERROR(w_.upload(t.data(), t.size(), who_));
    const std::vector<int32_t> q = launch::depthwiseWeightsDp4a(src, c_count, taps);
    QRT_RETURN_IF_ERROR(wq_.upload(q.data(), q.size() * 4, who_));
    geom_ = g;
    epi_.mult = mult_.as<float>();
    epi_.bias = bias_.as<float>();
    epi_.act = qact_;
    epi_.lo = act_.a;
    epi_.hi = act_.b;
    epi_.y_int8 = y_int8_;
    epi_.y_half = out[0].dtype == DataType::kHalf;
    // int8 out: the folded epilogue (qdepthwise_launch.h); with a hard swish the constants stay
    // unscaled and post_scale / y_scale, post_shift / y_scale follow the activated value.
    if (y_int8_ && qact_ == launch::QAct::kHardSwish) {
      epi_.post_mul = post_scale_ / y_scale_;  // 1 / y_scale without an affine
      epi_.post_add = post_shift_ / y_scale_;
      epi_.qlo = -128.f;
      epi_.qhi = 127.f;
    } else if (y_int8_) {
      QRT_RETURN_IF_ERROR(uploadFolded(&mult_folded_, &bias_folded_));
      epi_.mult = mult_folded_.as<float>();
      epi_.bias = bias_folded_.as<float>();
      foldedClamp(&epi_.qlo, &epi_.qhi);
    }
    return Status::Ok();
  }

 private:
  launch::DepthwiseGeometry geom_;
  launch::QDepthwiseEpilogue epi_;
  DeviceBuffer w_, wq_, mult_folded_, bias_folded_;
};

}  // namespace

Result<std::unique_ptr<Kernel>> withQDepthwise(const ir::Node& node, DeviceContext* dev, const WindowAttrs& attrs,
                                               const EpilogueActivation& act, std::unique_ptr<Kernel> cudnn) {
  // The IR's dims decide only whether the node can be depthwise at all; reshape checks the rest.
  const bool depthwise = node.hasInput(0) && node.hasInput(1) && node.inputs[0]->dims.size() == 4 &&
                         node.inputs[1]->dims.size() == 4 && node.inputs[1]->dims[1] == 1 &&
                         node.inputs[1]->dims[0] == attrs.group && attrs.group > 1;
  if (!depthwise) return cudnn;
  return makeKernel<QDepthwiseKernel>(node, dev, attrs, act, std::move(cudnn));
}

Status qdepthwiseConvCandidate(const ir::Node& node, DeviceContext* dev, const ConvTimer& time, std::string* tactic,
                               double* us) {
  if (envIs("QRT_CUDA_DEPTHWISE", "off")) return unsupported(node.describe(), ": QRT_CUDA_DEPTHWISE=off");
  QRT_ASSIGN_OR_RETURN(WindowAttrs a, readWindowAttrs(node));
  QRT_ASSIGN_OR_RETURN(EpilogueActivation act, readEpilogueActivation(node));
  QDepthwiseKernel k(node, dev, std::move(a), act, nullptr);
  QRT_RETURN_IF_ERROR(timeOwnQConv(node, dev, k, "dw", time, us));
  *tactic = "dw";
  return Status::Ok();
}

}  // namespace qrt::cuda
