// The choice between qrt's own INT8 convolution kernels and cuDNN's (own_qconv.h).
#include "backends/cuda/own_qconv.h"

#include "ops/op.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <utility>

#include "backends/cuda/tactic_timer.h"

namespace qrt::cuda {

launch::QAct qconvAct(const EpilogueActivation& act) {
  if (!act.on) return launch::QAct::kNone;
  switch (act.op) {
    case launch::UnaryOp::kRelu: return launch::QAct::kRelu;
    case launch::UnaryOp::kClip: return launch::QAct::kClip;
    case launch::UnaryOp::kHardSwish: return launch::QAct::kHardSwish;
    default: return launch::QAct::kNone;
  }
}

bool qrtAppliesQAct(const EpilogueActivation& act) { return !act.on || qconvAct(act) != launch::QAct::kNone; }

OwnQConvKernel::OwnQConvKernel(const ir::Node& n, DeviceContext* dev, WindowAttrs a, EpilogueActivation act,
                               std::unique_ptr<Kernel> cudnn, const char* env)
    : CudaKernel(n, dev), attrs_(std::move(a)), act_(act), has_bias_(n.hasInput(2)), has_y_scale_(n.hasInput(5)),
      has_z_(n.hasInput(6) || n.hasInput(kDsX)), post_affine_(n.hasAttr("post_scale") || n.hasAttr("post_shift")),
      post_scale_(n.attrFloat("post_scale", 1.f)), post_shift_(n.attrFloat("post_shift", 0.f)),
      tactic_attr_(n.attrString(kAttrTactic, "")), env_(env), cudnn_(std::move(cudnn)) {}

Status OwnQConvKernel::reshape(const std::vector<TensorView>& in, const std::vector<TensorView>& out) {
  own_ = false;
  std::string tactic;  // "": the kernel's default choice
  bool take = !forced_.empty();
  if (take) {
    tactic = forced_;
  } else if (!envIs(env_, "off")) {
    const float ys = has_y_scale_ && in.size() > 5 && in[5].data ? in[5].as<const float>()[0] : 1.f;
    auto p = qconvProblem(attrs_, act_, in[0].dims, in[1].dims, out[0].dims, out[0].dtype, ys, has_z_);
    if (p.ok()) {  // else cuDNN's kernel reports it
      const std::string sig = p->signature() + "|";
      const bool stored = tactic_attr_.compare(0, sig.size(), sig) == 0;
      const std::string t = stored ? tactic_attr_.substr(sig.size()) : "";
      if (stored && isMine(t)) tactic = t;
      take = envIs(env_, "on") || (stored ? isMine(t) : byDefault());
    }
  }
  // Without a kernel behind (a node only qrt's kernels compute: downsample_fuse.cpp), the own one.
  take = take || !cudnn_;
  if (!take) return cudnn_->reshape(in, out);
  Status s = reshapeOwn(in, out, tactic);
  if (s.ok()) {
    own_ = true;
    return s;
  }
  if (!forced_.empty() || s.code() != StatusCode::kUnsupported || !cudnn_) return s;
  return cudnn_->reshape(in, out);
}

Status OwnQConvKernel::run(const std::vector<TensorView>& in, const std::vector<TensorView>& out, void* ws) {
  if (!own_) return cudnn_ ? cudnn_->run(in, out, ws) : internalError(who_, ": run before a successful reshape");
  return runOwn(in, out, ws);
}

Status OwnQConvKernel::prepareEpilogue(const std::vector<TensorView>& in, const std::vector<TensorView>& out,
                                       int64_t channels) {
  if (!in[1].data || !in[3].data || !in[4].data || (has_bias_ && !in[2].data) || (has_y_scale_ && !in[5].data))
    return unsupported(who_, ": qrt's int8 convolution kernels need constant weights, bias and scales");
  const DataType yt = out[0].dtype;
  if (yt != DataType::kInt8 && yt != DataType::kFloat && !(yt == DataType::kHalf && writesHalf()))
    return unsupported(who_, ": this int8 convolution kernel of qrt's does not write ", dataTypeName(yt));
  if (!qrtAppliesQAct(act_) || (qconvAct(act_) == launch::QAct::kHardSwish && !appliesHardSwish()))
    return unsupported(who_, ": this int8 convolution kernel of qrt's applies ReLU or clip only");
  if (post_affine_ && (!appliesPostAffine() || out[0].dtype != DataType::kInt8))
    return unsupported(who_, ": this int8 convolution kernel of qrt's applies no affine after its activation");
  const float ys = has_y_scale_ ? in[5].as<const float>()[0] : 1.f;
  if (has_y_scale_ && !(ys > 0.f)) return invalidArgument(who_, ": y_scale must be positive");
  // mult = x_scale * w_scale[c], as the reference forms it (reference/qops_common.h).
  const float xs = in[3].as<const float>()[0];
  const int64_t nw = in[4].numel();
  std::vector<float> mult(static_cast<size_t>(channels)), bias(static_cast<size_t>(channels), 0.f);
  for (int64_t c = 0; c < channels; ++c) {
    mult[c] = xs * in[4].as<const float>()[nw == 1 ? 0 : c];
    if (has_bias_) bias[c] = in[2].as<const float>()[c];
  }
  QRT_RETURN_IF_ERROR(mult_.upload(mult.data(), mult.size() * 4, who_));
  QRT_RETURN_IF_ERROR(bias_.upload(bias.data(), bias.size() * 4, who_));
  mult_host_ = std::move(mult);
  bias_host_ = std::move(bias);
  y_scale_ = ys;
  y_int8_ = out[0].dtype == DataType::kInt8;
  qact_ = qconvAct(act_);
  return Status::Ok();
}

Status OwnQConvKernel::uploadFolded(DeviceBuffer* mult, DeviceBuffer* bias) const {
  std::vector<float> m(mult_host_), b(bias_host_);
  for (size_t c = 0; c < m.size(); ++c) {
    m[c] /= y_scale_;
    b[c] /= y_scale_;
  }
  QRT_RETURN_IF_ERROR(mult->upload(m.data(), m.size() * 4, who_));
  return bias->upload(b.data(), b.size() * 4, who_);
}

void OwnQConvKernel::foldedClamp(float* qlo, float* qhi) const {
  const float lo = qact_ == launch::QAct::kRelu ? 0.f : (qact_ == launch::QAct::kClip ? act_.a / y_scale_ : -128.f);
  const float hi = qact_ == launch::QAct::kClip ? act_.b / y_scale_ : 127.f;
  *qlo = std::min(std::max(lo, -128.f), 127.f);
  *qhi = std::min(std::max(hi, -128.f), 127.f);
}

namespace {

// `k` forced to `tactic` and reshaped at the node's build shapes, with scratch device data for x
// (and z) and an output buffer: the views to run it with.
struct OwnScratch {
  std::vector<TensorView> in, out;
  DeviceBuffer x, z, y, ws, ds_x;
};
Status ownScratch(const ir::Node& node, OwnQConvKernel& k, const std::string& tactic, DeviceContext* dev,
                  OwnScratch* s) {
  k.force(tactic);
  const std::string who = node.describe();
  candidateViews(node, &s->in, &s->out);
  if (s->in.empty() || s->in[0].data) return unsupported(who, ": a constant input");
  QRT_RETURN_IF_ERROR(k.reshape(s->in, s->out));
  QRT_RETURN_IF_ERROR(s->y.reserve(s->out[0].bytes(), who));
  // The int8 inputs read at run time: x, the residual z, the computed downsample's x.
  const std::pair<size_t, DeviceBuffer*> runtime[] = {{0, &s->x}, {6, &s->z}, {kDsX, &s->ds_x}};
  for (const auto& [i, buf] : runtime) {
    if (s->in.size() <= i || s->in[i].dtype != DataType::kInt8 || s->in[i].data) continue;
    QRT_RETURN_IF_ERROR(buf->reserve(s->in[i].bytes(), who));
    launch::fillInt8Pattern(buf->get(), s->in[i].numel(), dev->stream);
    s->in[i].data = buf->get();
  }
  s->out[0].data = s->y.get();
  return s->ws.reserve(k.workspaceBytes(), who);
}

}  // namespace

Status timeOwnQConv(const ir::Node& node, DeviceContext* dev, OwnQConvKernel& k, const std::string& tactic,
                    const ConvTimer& time, double* us) {
  OwnScratch s;
  QRT_RETURN_IF_ERROR(ownScratch(node, k, tactic, dev, &s));
  return time([&] { return k.run(s.in, s.out, s.ws.get()); }, us);
}

Status checkOwnQConv(const ir::Node& node, DeviceContext* dev, OwnQConvKernel& k, const std::string& tactic) {
  const std::string who = node.describe();
  OwnScratch s;
  QRT_RETURN_IF_ERROR(ownScratch(node, k, tactic, dev, &s));
  QRT_RETURN_IF_ERROR(k.run(s.in, s.out, s.ws.get()));
  // The node's QConv kernel as an engine without a tactic runs it (cuDNN's plan for these kernels).
  QRT_ASSIGN_OR_RETURN(std::unique_ptr<Kernel> ref, createQConv(node, dev));
  std::vector<TensorView> in, out;
  candidateViews(node, &in, &out);
  QRT_RETURN_IF_ERROR(ref->reshape(in, out));
  std::vector<TensorView> rin = s.in, rout = s.out;
  DeviceBuffer y_ref, ws;
  QRT_RETURN_IF_ERROR(y_ref.reserve(rout[0].bytes(), who));
  QRT_RETURN_IF_ERROR(ws.reserve(ref->workspaceBytes() + 256, who));
  rout[0].data = y_ref.get();
  QRT_RETURN_IF_ERROR(ref->run(rin, rout, ws.get()));
  const DataType t = s.out[0].dtype;
  const size_t elem = dataTypeSize(t);
  std::vector<uint8_t> got, want;
  if (!sampleOutput(dev, s.out[0].data, s.out[0].numel(), elem, &got) ||
      !sampleOutput(dev, rout[0].data, rout[0].numel(), elem, &want) || got.size() != want.size())
    return internalError(who, ": reading the ", tactic, " candidate's output back");
  const size_t n = got.size() / elem;
  if (t == DataType::kInt8) {  // within one quantization step of cuDNN's, as of the reference
    for (size_t i = 0; i < n; ++i)
      if (std::abs(int{static_cast<int8_t>(got[i])} - int{static_cast<int8_t>(want[i])}) > 1)
        return unsupported(who, ": tactic ", tactic, " disagrees with cuDNN on scratch data by more than one step");
    return Status::Ok();
  }
  if (t != DataType::kFloat && t != DataType::kHalf) return Status::Ok();  // no own kernel writes another type
  const double err = sampledRelativeError(got, want, t == DataType::kHalf);
  if (!(err <= 1e-2))
    return unsupported(who, ": tactic ", tactic, " disagrees with cuDNN on scratch data (relative error ", err, ")");
  return Status::Ok();
}

}  // namespace qrt::cuda
