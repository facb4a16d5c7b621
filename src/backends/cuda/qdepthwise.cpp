// QConv's depthwise path (qdepthwise.h): qrt's INT8 depthwise kernel with QConv's epilogue,
// chosen at reshape by the node's stored tactic, else by default; the cuDNN QConv kernel runs
// every shape or node the depthwise kernel does not take.
#include "backends/cuda/qdepthwise.h"

#include <cstdlib>
#include <cstring>
#include <vector>

#include "backends/cuda/depthwise_geometry.h"
#include "backends/cuda/qdepthwise_launch.h"
#include "ops/op.h"

namespace qrt::cuda {

namespace {

bool envIs(const char* name, const char* value) {
  const char* v = std::getenv(name);
  return v && std::strcmp(v, value) == 0;
}

class QDepthwiseKernel final : public CudaKernel {
 public:
  QDepthwiseKernel(const ir::Node& n, DeviceContext* dev, WindowAttrs a, EpilogueActivation act,
                   std::unique_ptr<Kernel> cudnn)
      : CudaKernel(n, dev), attrs_(std::move(a)), act_(act), has_bias_(n.hasInput(2)), has_y_scale_(n.hasInput(5)),
        has_z_(n.hasInput(6) || n.hasInput(7)), tactic_attr_(n.attrString(kAttrTactic, "")), cudnn_(std::move(cudnn)) {}

  // For the build-time tuner: the depthwise kernel or an error, never cuDNN.
  void force() { forced_ = true; }

  Status reshape(const std::vector<TensorView>& in, const std::vector<TensorView>& out) override {
    dw_ = false;
    if (!forced_ && !wanted(in, out)) return cudnn_->reshape(in, out);
    Status d = reshapeDepthwise(in, out);
    if (d.ok()) {
      dw_ = true;
      return d;
    }
    if (forced_ || d.code() != StatusCode::kUnsupported) return d;
    return cudnn_->reshape(in, out);
  }

  size_t workspaceBytes() const override { return dw_ ? 0 : cudnn_->workspaceBytes(); }

  Status run(const std::vector<TensorView>& in, const std::vector<TensorView>& out, void* ws) override {
    if (!dw_) return cudnn_->run(in, out, ws);
    launch::depthwiseConvInt8(static_cast<const int8_t*>(in[0].data), w_.as<int8_t>(), wq_.as<int32_t>(),
                              out[0].data, geom_, epi_, stream());
    return launched();
  }

 private:
  // Whether these shapes go to the depthwise kernel: the stored tactic says "dw", or there is
  // none for them (QRT_CUDA_CONV=graph keeps cuDNN there, as in FP16); QRT_CUDA_DEPTHWISE
  // overrides both.
  bool wanted(const std::vector<TensorView>& in, const std::vector<TensorView>& out) const {
    if (envIs("QRT_CUDA_DEPTHWISE", "off")) return false;
    if (envIs("QRT_CUDA_DEPTHWISE", "on")) return true;
    const float ys = has_y_scale_ && in[5].data ? in[5].as<const float>()[0] : 1.f;
    auto p = qconvProblem(attrs_, act_, in[0].dims, in[1].dims, out[0].dims, out[0].dtype, ys);
    if (!p.ok()) return false;  // cuDNN's kernel reports it
    const std::string sig = p->signature();
    const bool mine = tactic_attr_.compare(0, sig.size() + 1, sig + "|") == 0;
    if (mine) return tactic_attr_.substr(sig.size() + 1) == "dw";
    return !envIs("QRT_CUDA_CONV", "graph");
  }

  Status reshapeDepthwise(const std::vector<TensorView>& in, const std::vector<TensorView>& out) {
    const Dims& x = in[0].dims;
    const Dims& w = in[1].dims;
    const Dims& y = out[0].dims;
    if (x.size() != 4 || w.size() != 4 || attrs_.group != x[1] || w[0] != x[1] || w[1] != 1)
      return unsupported(who_, ": not a 2-D depthwise convolution");
    if (has_z_) return unsupported(who_, ": the int8 depthwise kernel takes no residual");
    if (act_.on && act_.op != launch::UnaryOp::kRelu && act_.op != launch::UnaryOp::kClip)
      return unsupported(who_, ": the int8 depthwise kernel applies ReLU or clip only");
    if (out[0].dtype != DataType::kInt8 && out[0].dtype != DataType::kFloat)
      return unsupported(who_, ": the int8 depthwise kernel writes int8 or fp32");
    if (!in[1].data || !in[3].data || !in[4].data || (has_bias_ && !in[2].data) || (has_y_scale_ && !in[5].data))
      return unsupported(who_, ": the int8 depthwise kernel needs constant weights, bias and scales");
    QRT_ASSIGN_OR_RETURN(Window win, convWindow(attrs_, x, w));
    if (win.rank != 2) return unsupported(who_, ": not a 2-D depthwise convolution");
    const launch::DepthwiseGeometry g = depthwiseGeometry(x, w, y, win, true);
    if (!launch::depthwiseFits(g)) return unsupported(who_, ": too large for the depthwise kernel's 32-bit indices");
    const float ys = has_y_scale_ ? in[5].as<const float>()[0] : 1.f;
    if (has_y_scale_ && !(ys > 0.f)) return invalidArgument(who_, ": y_scale must be positive");

    // [C, 1, kh, kw] -> [kh * kw, C]: one 16-byte load gives a tap's weights for 16 channels.
    const int64_t c_count = w[0], taps = w[2] * w[3];
    const auto* src = in[1].as<const int8_t>();
    const std::vector<uint8_t> t = depthwiseWeightsTapMajor(src, c_count, taps, 1);
    QRT_RETURN_IF_ERROR(w_.upload(t.data(), t.size(), who_));
    const std::vector<int32_t> q = launch::depthwiseWeightsDp4a(src, c_count, taps);
    QRT_RETURN_IF_ERROR(wq_.upload(q.data(), q.size() * 4, who_));
    // mult = x_scale * w_scale[c], as the reference forms it (reference/qops_common.h).
    const float xs = in[3].as<const float>()[0];
    const int64_t nw = in[4].numel();
    std::vector<float> mult(static_cast<size_t>(c_count)), bias(static_cast<size_t>(c_count), 0.f);
    for (int64_t c = 0; c < c_count; ++c) {
      mult[c] = xs * in[4].as<const float>()[nw == 1 ? 0 : c];
      if (has_bias_) bias[c] = in[2].as<const float>()[c];
    }
    QRT_RETURN_IF_ERROR(mult_.upload(mult.data(), mult.size() * 4, who_));
    QRT_RETURN_IF_ERROR(bias_.upload(bias.data(), bias.size() * 4, who_));
    geom_ = g;
    epi_.mult = mult_.as<float>();
    epi_.bias = bias_.as<float>();
    epi_.act = !act_.on ? launch::QAct::kNone
                        : (act_.op == launch::UnaryOp::kRelu ? launch::QAct::kRelu : launch::QAct::kClip);
    epi_.lo = act_.a;
    epi_.hi = act_.b;
    epi_.y_scale = ys;
    epi_.y_int8 = out[0].dtype == DataType::kInt8;
    return Status::Ok();
  }

  WindowAttrs attrs_;
  EpilogueActivation act_;
  bool has_bias_, has_y_scale_, has_z_;
  std::string tactic_attr_;
  std::unique_ptr<Kernel> cudnn_;
  bool forced_ = false, dw_ = false;
  launch::DepthwiseGeometry geom_;
  launch::QDepthwiseEpilogue epi_;
  DeviceBuffer w_, wq_, mult_, bias_;
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
  k.force();
  const std::string who = node.describe();
  std::vector<TensorView> in, out;
  candidateViews(node, &in, &out);
  if (in.empty() || in[0].data) return unsupported(who, ": a constant input");
  QRT_RETURN_IF_ERROR(k.reshape(in, out));
  // Scratch device data for x (the constants were uploaded by reshape) and the output.
  DeviceBuffer x, y;
  QRT_RETURN_IF_ERROR(x.reserve(in[0].bytes(), who));
  QRT_RETURN_IF_ERROR(y.reserve(out[0].bytes(), who));
  launch::fillInt8Pattern(x.get(), in[0].numel(), dev->stream);
  in[0].data = x.get();
  out[0].data = y.get();
  QRT_RETURN_IF_ERROR(time([&] { return k.run(in, out, nullptr); }, us));
  *tactic = "dw";
  return Status::Ok();
}

}  // namespace qrt::cuda
