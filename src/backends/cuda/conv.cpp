// Conv and qrt's FusedConv (conv + bias + residual Z + activation, src/ops/fused.cpp) on cuDNN:
// FP32 (TF32 only when the engine allows it) and FP16, NCHW or, for nodes the builder marked
// channels-last, NHWC.
//
// Graph path (conv_graph.h, the default): cuDNN 9's graph API runs the convolution with its
// epilogue (bias, residual, ReLU/leaky/clip/sigmoid/swish) in one execution plan. The plan is
// the tactic stored in the node at build time (conv_tactics.cpp: every candidate timed on the
// real shapes) when the shapes match it; otherwise the first plan of cuDNN's heuristics that
// builds (deterministic, no timing). A graph with the whole epilogue is tried before the
// convolution alone + qrt's epilogue kernel (hard_swish/hard_sigmoid and broadcasting
// residuals always take the latter).
//
// Depthwise (group == C == M, 2-D): qrt's own kernel (depthwise.cu, the epilogue fused) where
// the stored tactic is "dw" (it beat cuDNN's plans at build time), or by default for a
// channels-last depthwise layer without a tactic for its shapes (cuDNN's FP16 NHWC depthwise
// plans are slow). QRT_CUDA_DEPTHWISE=off never takes it, =on always where it applies (tests,
// comparisons).
//
// Stem (2-D, C <= 4 input channels, group 1, dilation 1, fp16 weights, fp16 channels-last
// output): qrt's implicit-GEMM kernel on the tensor cores (stem_conv.cu) where the stored tactic
// is "stem", or by default for such a layer without a tactic and with many output pixels
// (launch::kStemDefaultPixels: at batch 1 cuDNN's plan is faster); always where the node reads its
// input NCHW (qrt_x_nchw, stem_input.cpp: no other path reads that). QRT_CUDA_STEM=off never
// takes it by choice, =on always where it applies.
//
// Pointwise on cuBLASLt (2-D, 1x1, stride 1, unpadded, group 1, channels-last, fp32/fp16, ReLU or
// no activation): y[P, M] = x[P, C] . W[M, C]^T as one GEMM whose epilogue adds the bias and the
// residual (C = z, beta 1) and applies ReLU, where the stored tactic is "lt:..." (a cuBLASLt
// algorithm that beat cuDNN's plans at build time and agreed with cuDNN's heuristic plan on scratch
// data: ltConvCandidate). cuDNN's fused plan for
// ResNet-50's layer1 conv3 + residual reads and writes at 66% of an H100's bandwidth.
// QRT_CUDA_CONV_LT=off never takes it, =on makes it win the timing where it applies (tests).
//
// Legacy path, where no graph plan builds, where its timed choice beat every plan at build time
// (the stored tactic "legacy:a<algorithm>:f<fused>"), or with QRT_CUDA_CONV=legacy: the descriptors of
// cudnnConvolutionForward / cudnnConvolutionBiasActivationForward. Its tactics: when the shapes
// are set, cuDNN's algorithms are timed on scratch buffers filled with a pseudo-random pattern
// (cudnnFindConvolutionForwardAlgorithmEx), then the fused call is timed against convolution +
// epilogue and the faster is kept. QRT_CUDA_TACTICS=heuristic (or a build-time tactic
// "legacy") takes cuDNN's heuristic choice instead (no timing: deterministic, faster reshape).
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>

#include "backends/cuda/conv_graph.h"
#include "backends/cuda/depthwise_geometry.h"
#include "backends/cuda/depthwise_launch.h"
#include "backends/cuda/kernel_table.h"
#include "backends/cuda/lt_gemm.h"
#include "backends/cuda/stem_conv_launch.h"
#include "backends/cuda/tactic_timer.h"
#include "core/half.h"
#include "core/logging.h"
#include "ops/nn_params.h"
#include "ops/op.h"

namespace qrt::cuda {

namespace {

constexpr size_t kMaxWorkspace = static_cast<size_t>(kMaxConvWorkspace);

bool heuristicTactics() {
  const char* v = std::getenv("QRT_CUDA_TACTICS");
  return v && std::strcmp(v, "heuristic") == 0;
}

// QRT_CUDA_CONV=legacy forces the legacy API, =graph forbids it (tests, comparisons).
bool legacyForced() {
  const char* v = std::getenv("QRT_CUDA_CONV");
  return v && std::strcmp(v, "legacy") == 0;
}
bool graphOnly() {
  const char* v = std::getenv("QRT_CUDA_CONV");
  return v && std::strcmp(v, "graph") == 0;
}
bool depthwiseOff() {
  const char* v = std::getenv("QRT_CUDA_DEPTHWISE");
  return v && std::strcmp(v, "off") == 0;
}
bool depthwiseForced() {
  const char* v = std::getenv("QRT_CUDA_DEPTHWISE");
  return v && std::strcmp(v, "on") == 0;
}

bool stemOff() {
  const char* v = std::getenv("QRT_CUDA_STEM");
  return v && std::strcmp(v, "off") == 0;
}
bool stemForced() {
  const char* v = std::getenv("QRT_CUDA_STEM");
  return v && std::strcmp(v, "on") == 0;
}

bool ltOff() {
  const char* v = std::getenv("QRT_CUDA_CONV_LT");
  return v && std::strcmp(v, "off") == 0;
}

size_t alignUp(size_t n) { return (n + 255) / 256 * 256; }


// RAII over the cuDNN descriptors of one convolution.
struct ConvDescriptors {
  cudnnTensorDescriptor_t x = nullptr, y = nullptr, bias = nullptr;
  cudnnFilterDescriptor_t w = nullptr;
  cudnnConvolutionDescriptor_t conv = nullptr;
  cudnnActivationDescriptor_t act = nullptr;
  ConvDescriptors() = default;
  ConvDescriptors(const ConvDescriptors&) = delete;
  ConvDescriptors& operator=(const ConvDescriptors&) = delete;
  ~ConvDescriptors() {
    if (x) cudnnDestroyTensorDescriptor(x);
    if (y) cudnnDestroyTensorDescriptor(y);
    if (bias) cudnnDestroyTensorDescriptor(bias);
    if (w) cudnnDestroyFilterDescriptor(w);
    if (conv) cudnnDestroyConvolutionDescriptor(conv);
    if (act) cudnnDestroyActivationDescriptor(act);
  }
  Status create(const std::string& who) {
    if (x) return Status::Ok();
    QRT_RETURN_IF_ERROR(checkCudnn(cudnnCreateTensorDescriptor(&x), who));
    QRT_RETURN_IF_ERROR(checkCudnn(cudnnCreateTensorDescriptor(&y), who));
    QRT_RETURN_IF_ERROR(checkCudnn(cudnnCreateTensorDescriptor(&bias), who));
    QRT_RETURN_IF_ERROR(checkCudnn(cudnnCreateFilterDescriptor(&w), who));
    QRT_RETURN_IF_ERROR(checkCudnn(cudnnCreateConvolutionDescriptor(&conv), who));
    return checkCudnn(cudnnCreateActivationDescriptor(&act), who);
  }
};

std::vector<int> toInt(const std::vector<int64_t>& v) { return std::vector<int>(v.begin(), v.end()); }

class ConvKernel final : public CudaKernel {
 public:
  ConvKernel(const ir::Node& n, DeviceContext* dev, WindowAttrs a, EpilogueActivation act)
      : CudaKernel(n, dev), attrs_(std::move(a)), act_(act), nhwc_(channelsLast(n)), has_bias_(n.hasInput(2)),
        has_residual_(n.hasInput(3)), tactic_attr_(n.attrString(kAttrTactic, "")),
        x_nchw_(n.attrInt(kAttrXNchw, 0) != 0), pool_(n.attrInt(kAttrStemPool, 0) != 0) {}

  Status reshape(const std::vector<TensorView>& in, const std::vector<TensorView>& out) override {
    const Dims& x = in[0].dims;
    const Dims& w = in[1].dims;
    QRT_ASSIGN_OR_RETURN(Window win, convWindow(attrs_, x, w));
    if (win.rank < 1 || win.rank > 3) return unsupported(who_, ": the CUDA backend convolves 1 to 3 spatial dims");
    dtype_ = in[0].dtype;
    channels_last_ = nhwc_ && x.size() == 4;
    stem_ = false;
    dw_ = false;
    lt_mode_ = false;
    if (x_nchw_) return reshapeStem(in, out, win);  // only the stem kernel reads x as it is stored
    if (out[0].dtype == DataType::kInt8 || out[0].dtype == DataType::kUInt8)
      return unsupported(who_, ": a quantized output is the stem kernel's only (reading the NCHW input)");
    if (nhwc_ && !channels_last_) return internalError(who_, ": channels-last needs a 2-D convolution");
    if (channels_last_ && !in[1].data) return unsupported(who_, ": channels-last convolution needs constant weights");
    channels_ = w[0];
    inner_ = 1;
    for (size_t i = 2; i < out[0].dims.size(); ++i) inner_ *= out[0].dims[i];
    out_numel_ = out[0].numel();
    // A residual of the output's shape and layout is read by the epilogue directly; any other
    // broadcasts through one more kernel. (A constant residual is stored NCHW.)
    z_same_ = true;
    if (has_residual_) {
      const bool z_nhwc = channels_last_ && !in[3].data && in[3].dims.size() == 4;
      z_same_ = in[3].dims == out[0].dims && z_nhwc == channels_last_;
      if (!z_same_) z_plan_ = broadcastPlan(out[0].dims, channels_last_, in[3].dims, z_nhwc, out[0].dims, channels_last_);
    }
    graph_mode_ = false;
    pre_pad_ = false;
    // Graph path first (see the file comment); the legacy path where no plan builds or where
    // the stored tactic says so ("legacy:a<algorithm>:f<fused>" when it won the timing).
    QRT_ASSIGN_OR_RETURN(ConvProblem p, convProblem(attrs_, act_, dtype_, out[0].dtype, channels_last_,
                                                     dev_->allow_tf32, x, w, out[0].dims, has_bias_,
                                                     has_residual_ && z_same_));
    const std::string sig = p.signature();
    const bool mine = tactic_attr_.compare(0, sig.size() + 1, sig + "|") == 0;
    const std::string tail = mine ? tactic_attr_.substr(sig.size() + 1) : "";
    if (force_lt_ || (tail.rfind("lt:", 0) == 0 && !force_find_ && !force_dw_ && !force_stem_)) {
      Status s = reshapeLt(in, out, win, tail);
      if (s.ok() || force_lt_) return s;
      logWarning(s.message(), "; cuDNN's heuristic plan instead of the stored tactic");
    }
    const bool legacy_tactic = (tail.rfind("legacy", 0) == 0 && !graphOnly()) || force_find_;
    fixed_algo_ = -1;
    int algo = 0, fused = 0;
    char extra = 0;
    if (!force_find_ && std::sscanf(tail.c_str(), "legacy:a%d:f%d%c", &algo, &fused, &extra) == 2) {
      fixed_algo_ = algo;
      fixed_fused_ = fused != 0;
    }
    if (!legacyForced() && !force_find_ && !force_dw_ &&
        (force_stem_ || tail == "stem" || stemForced() ||
         (!mine && channels_last_ && !graphOnly() && !stemOff() &&
          out[0].dims.size() == 4 && out[0].dims[0] * out[0].dims[2] * out[0].dims[3] >= launch::kStemDefaultPixels))) {
      Status st = reshapeStem(in, out, win);
      if (st.ok()) return st;
      if (force_stem_) return st;
    }
    if (!legacyForced() && !force_find_ && !force_stem_ && (force_dw_ || tail == "dw" || depthwiseForced() ||
                                            (!mine && channels_last_ && !graphOnly()))) {
      Status d = reshapeDepthwise(in, out, win);
      if (d.ok()) {
        dw_ = true;
        return Status::Ok();
      }
      if (force_dw_) return d;
    }
    if (!legacyForced() && !legacy_tactic) {
      Status g = chooseGraphPlan(p);
      if (g.ok()) {
        graph_mode_ = true;
        pad_ = ChannelPad{};
        if (pad_c_ > 0) pad_.plan(x, pad_c_, dataTypeSize(dtype_));
        return uploadWeights(in[1], pad_c_);
      }
      if (g.code() != StatusCode::kUnsupported || graphOnly()) return g;
    }
    QRT_RETURN_IF_ERROR(uploadWeights(in[1], 0));
    return reshapeLegacy(in, out, win, legacy_tactic && !force_find_);
  }

  // For the build-time tuner: the legacy path with its timed algorithm search, and the choice
  // it made as a storable tactic.
  void forceLegacySearch() { force_find_ = true; }
  void forceDepthwise() { force_dw_ = true; }
  void forceStem() { force_stem_ = true; }
  // The cuBLASLt path with algorithm t (t.algo < 0: cuBLASLt's heuristic pick); ltGemm() then
  // lists the heuristic's algorithms (ltConvCandidate).
  void forceLt(const LtTactic& t) { force_lt_ = t; }
  LtGemm& ltGemm() { return lt_; }
  std::string legacyTactic() const {
    return "legacy:a" + std::to_string(static_cast<int>(algo_)) + ":f" + (fused_ ? "1" : "0");
  }
  bool graphMode() const { return graph_mode_; }

  size_t workspaceBytes() const override {
    if (dw_ || stem_) return 0;
    if (lt_mode_) return 256 + lt_.spec().workspace;
    if (graph_mode_) return 256 + alignUp(static_cast<size_t>(plan_.workspace())) + (pad_.to ? alignUp(pad_.bytes) : 0);
    return 256 + alignUp(algo_bytes_) + (pre_pad_ ? alignUp(padded_bytes_) : 0);
  }

  Status run(const std::vector<TensorView>& in, const std::vector<TensorView>& out, void* ws) override {
    if (dw_) {
      launch::depthwiseConv(dtype_, in[0].data, channels_last_ ? w_nhwc_.get() : in[1].data,
                            has_bias_ ? in[2].data : nullptr, has_residual_ ? in[3].data : nullptr, out[0].data, dw_geom_,
                            act_.on, act_.op, act_.a, act_.b, stream());
      return launched();
    }
    if (stem_) {
      if (reinterpret_cast<uintptr_t>(out[0].data) % 16 != 0)
        return internalError(who_, ": the stem kernel needs a 16-byte aligned output");
      launch::stemConv(in[0].data, w_stem_.get(), has_bias_ ? in[2].data : nullptr, out[0].data, stem_geom_, act_.on,
                       act_.op, act_.a, act_.b, stream());
      return launched();
    }
    ws = reinterpret_cast<void*>((reinterpret_cast<uintptr_t>(ws) + 255) / 256 * 256);  // the arena gives 64
    if (lt_mode_) {
      const float one = 1.f, zero = 0.f;
      return lt_.run(w_nhwc_.get(), in[0].data, out[0].data, has_bias_ ? in[2].data : nullptr, &one,
                     has_residual_ ? &one : &zero, ws, has_residual_ ? in[3].data : nullptr);
    }
    if (graph_mode_) return runGraph(in, out, ws);
    return runLegacy(in, out, ws);
  }

 private:
  // qrt's stem kernel; kUnsupported where the node is outside what it computes.
  Status reshapeStem(const std::vector<TensorView>& in, const std::vector<TensorView>& out, const Window& win) {
    const Dims& x = in[0].dims;
    const Dims& w = in[1].dims;
    const Dims& y = out[0].dims;
    if (win.rank != 2 || x.size() != 4 || attrs_.group != 1 || win.dilations[0] != 1 || win.dilations[1] != 1)
      return unsupported(who_, ": not a 2-D ungrouped undilated convolution (stem kernel)");
    const bool quantized = out[0].dtype == DataType::kInt8 || out[0].dtype == DataType::kUInt8;
    if (!channels_last_ || (out[0].dtype != DataType::kHalf && !quantized) || in[1].dtype != DataType::kHalf ||
        !in[1].data)
      return unsupported(who_, ": the stem kernel takes constant fp16 weights and writes fp16 (or int8) channels-last");
    if (!x_nchw_ && dtype_ != DataType::kHalf) return unsupported(who_, ": the stem kernel reads fp16 NHWC");
    if (x_nchw_ && dtype_ != DataType::kHalf && dtype_ != DataType::kFloat)
      return unsupported(who_, ": the stem kernel reads fp32 or fp16 NCHW");
    if (has_residual_ || (act_.on && !launch::stemActivationSupported(act_.op)))
      return unsupported(who_, ": epilogue outside the stem kernel");
    launch::StemGeometry g;
    using In = launch::StemGeometry::Input;
    g.input = !x_nchw_ ? In::kNhwcHalf : dtype_ == DataType::kFloat ? In::kNchwFloat : In::kNchwHalf;
    // With the pool (stem_pool.cpp) y is the pooled tensor; the convolution's output is the window's.
    const Dims conv_y = pool_ ? Dims{y[0], y[1], win.out[0], win.out[1]} : y;
    static_cast<launch::Conv2dShape&>(g) = conv2dShape(x, w, conv_y, win);
    if (pool_) {
      g.pool = true;
      g.pool_h = static_cast<int>(y[2]);
      g.pool_w = static_cast<int>(y[3]);
    }
    g.k_pad = launch::stemKPad(g.kh, g.kw, g.c);
    if (quantized) {  // y_scale and y_zero_point (stem_quantize.cpp), constants
      if (in.size() < 5 || !in[4].data || (in.size() > 5 && in[5].dtype != DataType::kUndefined && !in[5].data))
        return unsupported(who_, ": the stem kernel quantizes by a constant y_scale and zero point");
      const float s = in[4].as<const float>()[0];
      if (!(s > 0.f) || !std::isfinite(s)) return invalidArgument(who_, ": y_scale must be positive and finite");
      const bool has_zp = in.size() > 5 && in[5].data;
      const bool int8 = out[0].dtype == DataType::kInt8;
      launch::setStemQuant(&g, int8, s,
                           !has_zp ? 0.f
                           : int8  ? static_cast<float>(in[5].as<const int8_t>()[0])
                                   : static_cast<float>(in[5].as<const uint8_t>()[0]));
    }
    if (x[1] > 4 || w[1] != x[1] || !launch::stemConvSupported(g))
      return unsupported(who_, ": outside the stem kernel (C <= 4, M a multiple of 8, kh*kw*C <= ", launch::kStemMaxK,
                         ", 32-bit indices)");
    if (pool_ && !launch::stemPoolSupported(g))
      return unsupported(who_, ": the stem kernel pools 3x3 / 2 / pad 1 outputs of up to 128 columns");
    if (stemOff() && !x_nchw_) return unsupported(who_, ": QRT_CUDA_STEM=off");
    QRT_RETURN_IF_ERROR(checkCuda(launch::stemConvPrepare(&g), who_, ": stem kernel setup"));
    const std::vector<uint16_t> packed = launch::stemPackWeights(static_cast<const uint16_t*>(in[1].data), g);
    QRT_RETURN_IF_ERROR(w_stem_.upload(packed.data(), packed.size() * 2, who_));
    stem_geom_ = g;
    stem_ = true;
    return Status::Ok();
  }

  // The cuBLASLt path (see the file comment); kUnsupported where the node is outside it. The
  // column-major GEMM: D = y as [M x P] (ld M), op(A) = W^T of the [M][C] weights ([C x M], ld C,
  // transposed), B = x as [C x P] (ld C); bias[M] broadcast along the pixels, C = z.
  Status reshapeLt(const std::vector<TensorView>& in, const std::vector<TensorView>& out, const Window& win,
                   const std::string& tail) {
    const Dims& x = in[0].dims;
    const Dims& w = in[1].dims;
    if (ltOff()) return unsupported(who_, ": QRT_CUDA_CONV_LT=off");
    if (!channels_last_ || win.rank != 2 || attrs_.group != 1 || w.size() != 4 || w[2] != 1 || w[3] != 1)
      return unsupported(who_, ": not a channels-last 1x1 convolution (cuBLASLt path)");
    for (int i = 0; i < 2; ++i)
      if (win.strides[i] != 1 || win.dilations[i] != 1 || win.pad_begin[i] != 0 || win.pad_end[i] != 0)
        return unsupported(who_, ": not a stride-1 unpadded 1x1 convolution (cuBLASLt path)");
    if ((dtype_ != DataType::kHalf && dtype_ != DataType::kFloat) || out[0].dtype != dtype_ || !in[1].data)
      return unsupported(who_, ": the cuBLASLt path takes fp32 or fp16 with constant weights");
    if (act_.on && !act_.isRelu()) return unsupported(who_, ": cuBLASLt's epilogue applies ReLU only");
    if (has_residual_ && !z_same_) return unsupported(who_, ": a broadcast residual (cuBLASLt path)");
    if (has_bias_ && in[2].dtype != dtype_) return unsupported(who_, ": a bias of another type (cuBLASLt path)");
    LtSpec p;
    p.m = w[0];
    p.n = x[0] * x[2] * x[3];
    p.k = x[1];
    p.trans_a = true;
    p.lda = x[1];
    p.ldb = x[1];
    p.ldd = w[0];
    p.bias = has_bias_;
    p.relu = act_.on;
    p.c_input = has_residual_;
    p = ltFloatSpec(p, dtype_, dev_, kLtFloatWorkspace);
    QRT_RETURN_IF_ERROR(uploadWeights(in[1], 0));  // [M][1][1][C]
    if (force_lt_) {
      QRT_RETURN_IF_ERROR(lt_.plan(dev_, p, "", who_));
      if (force_lt_->algo >= 0) QRT_RETURN_IF_ERROR(lt_.use(*force_lt_));
    } else {
      QRT_RETURN_IF_ERROR(lt_.plan(dev_, p, p.signature() + "|" + tail, who_));
    }
    lt_mode_ = true;
    return Status::Ok();
  }

  // qrt's depthwise kernel; kUnsupported where the node is outside what it computes.
  Status reshapeDepthwise(const std::vector<TensorView>& in, const std::vector<TensorView>& out, const Window& win) {
    const Dims& x = in[0].dims;
    const Dims& w = in[1].dims;
    const Dims& y = out[0].dims;
    if (depthwiseOff()) return unsupported(who_, ": QRT_CUDA_DEPTHWISE=off");
    if (win.rank != 2 || x.size() != 4 || attrs_.group != x[1] || w[0] != x[1] || w[1] != 1)
      return unsupported(who_, ": not a 2-D depthwise convolution");
    if (out[0].dtype != dtype_ || (dtype_ != DataType::kFloat && dtype_ != DataType::kHalf))
      return unsupported(who_, ": the depthwise kernel takes fp32 or fp16");
    if ((has_residual_ && !z_same_) || (act_.on && !launch::depthwiseActivationSupported(act_.op)))
      return unsupported(who_, ": epilogue outside the depthwise kernel");
    const launch::DepthwiseGeometry g = depthwiseGeometry(x, w, y, win, channels_last_);
    if (!launch::depthwiseFits(g)) return unsupported(who_, ": too large for the depthwise kernel's 32-bit indices");
    dw_geom_ = g;
    if (channels_last_) {
      // [C, 1, kh, kw] -> [kh * kw, C]: one 16-byte load gives a tap's weights for 8 channels.
      const std::vector<uint8_t> t = depthwiseWeightsTapMajor(in[1].data, w[0], w[2] * w[3], dataTypeSize(dtype_));
      QRT_RETURN_IF_ERROR(w_nhwc_.upload(t.data(), t.size(), who_));
    }
    return Status::Ok();
  }

  // Weights of channels-last convolutions are re-laid out once here (they are constants).
  Status uploadWeights(const TensorView& w, int64_t pad_c) {
    if (!channels_last_) return Status::Ok();
    std::vector<uint8_t> khwc = weightsChannelsLast(w.data, w.dims, dataTypeSize(dtype_), pad_c);
    return w_nhwc_.upload(khwc.data(), khwc.size(), who_);
  }

  Status chooseGraphPlan(const ConvProblem& p) {
    return chooseConvPlan(dev_->cudnn, p, tactic_attr_, who_, &graph_, &plan_, &fusion_, &pad_c_);
  }

  Status runGraph(const std::vector<TensorView>& in, const std::vector<TensorView>& out, void* ws) {
    const void* w = channels_last_ ? w_nhwc_.get() : in[1].data;
    const void* bias = has_bias_ ? in[2].data : nullptr;
    const void* z = has_residual_ ? in[3].data : nullptr;
    const void* x = in[0].data;
    if (pad_.to) {
      void* padded = static_cast<uint8_t*>(ws) + alignUp(static_cast<size_t>(plan_.workspace()));
      pad_.run(x, padded, stream());
      x = padded;
    }
    if (fusion_ == Fusion::kFull) {
      QRT_RETURN_IF_ERROR(plan_.execute(x, w, bias, z_same_ ? z : nullptr, nullptr, out[0].data, ws));
      return launched();
    }
    QRT_RETURN_IF_ERROR(plan_.execute(x, w, nullptr, nullptr, nullptr, out[0].data, ws));
    epilogue(bias, z, out[0].data);
    return launched();
  }

  Status reshapeLegacy(const std::vector<TensorView>& in, const std::vector<TensorView>& out, const Window& win,
                       bool heuristic) {
    QRT_RETURN_IF_ERROR(d_.create(who_));
    const Dims& x = in[0].dims;
    const Dims& w = in[1].dims;
    heuristic_ = heuristic || heuristicTactics();
    const cudnnDataType_t dt = dtype_ == DataType::kHalf ? CUDNN_DATA_HALF : CUDNN_DATA_FLOAT;
    const cudnnTensorFormat_t fmt = channels_last_ ? CUDNN_TENSOR_NHWC : CUDNN_TENSOR_NCHW;

    // Spatial geometry; 1-D becomes 2-D with a unit height. Asymmetric pads: the input is
    // copied into a zero-padded buffer first (cuDNN pads symmetrically only).
    std::vector<int64_t> sp(x.begin() + 2, x.end()), k(w.begin() + 2, w.end()), pad = win.pad_begin,
                         stride = win.strides, dil = win.dilations, o(out[0].dims.begin() + 2, out[0].dims.end());
    pre_pad_ = false;
    for (size_t i = 0; i < win.rank; ++i) pre_pad_ = pre_pad_ || win.pad_begin[i] != win.pad_end[i];
    Dims x_phys_in, x_phys_padded;  // physical dims (NHWC order when channels-last)
    if (pre_pad_) {
      Dims padded = x;
      for (size_t i = 0; i < win.rank; ++i) padded[2 + i] += win.pad_begin[i] + win.pad_end[i];
      QRT_RETURN_IF_ERROR(planPrePad(x, padded, win.pad_begin));
      for (size_t i = 0; i < win.rank; ++i) {
        sp[i] = padded[2 + i];
        pad[i] = 0;
      }
    }
    if (win.rank == 1) {
      sp.insert(sp.begin(), 1);
      k.insert(k.begin(), 1);
      pad.insert(pad.begin(), 0);
      stride.insert(stride.begin(), 1);
      dil.insert(dil.begin(), 1);
      o.insert(o.begin(), 1);
    }
    const int64_t N = x[0], C = x[1], M = w[0];
    std::vector<int> xd{static_cast<int>(N), static_cast<int>(C)}, wd{static_cast<int>(M), static_cast<int>(w[1])},
        yd{static_cast<int>(N), static_cast<int>(M)};
    for (int64_t v : sp) xd.push_back(static_cast<int>(v));
    for (int64_t v : k) wd.push_back(static_cast<int>(v));
    for (int64_t v : o) yd.push_back(static_cast<int>(v));
    const int nd = static_cast<int>(xd.size());
    QRT_RETURN_IF_ERROR(checkCudnn(cudnnSetTensorNdDescriptorEx(d_.x, fmt, dt, nd, xd.data()), who_, ": input descriptor"));
    QRT_RETURN_IF_ERROR(checkCudnn(cudnnSetTensorNdDescriptorEx(d_.y, fmt, dt, nd, yd.data()), who_, ": output descriptor"));
    std::vector<int> bd(nd, 1);
    bd[1] = static_cast<int>(M);
    QRT_RETURN_IF_ERROR(checkCudnn(cudnnSetTensorNdDescriptorEx(d_.bias, fmt, dt, nd, bd.data()), who_, ": bias descriptor"));
    QRT_RETURN_IF_ERROR(checkCudnn(cudnnSetFilterNdDescriptor(d_.w, dt, fmt, nd, wd.data()), who_, ": filter descriptor"));
    QRT_RETURN_IF_ERROR(checkCudnn(cudnnSetConvolutionNdDescriptor(d_.conv, nd - 2, toInt(pad).data(), toInt(stride).data(),
                                                                   toInt(dil).data(), CUDNN_CROSS_CORRELATION,
                                                                   CUDNN_DATA_FLOAT),
                                   who_, ": convolution descriptor"));
    QRT_RETURN_IF_ERROR(checkCudnn(cudnnSetConvolutionGroupCount(d_.conv, static_cast<int>(attrs_.group)), who_));
    QRT_RETURN_IF_ERROR(checkCudnn(cudnnSetActivationDescriptor(d_.act, act_.isRelu() ? CUDNN_ACTIVATION_RELU
                                                                                     : CUDNN_ACTIVATION_IDENTITY,
                                                                CUDNN_NOT_PROPAGATE_NAN, 0.0),
                                   who_));
    QRT_RETURN_IF_ERROR(checkCudnn(cudnnSetConvolutionMathType(d_.conv, mathType()), who_));
    // cuDNN's output shape must be qrt's.
    std::vector<int> cd(nd);
    QRT_RETURN_IF_ERROR(checkCudnn(cudnnGetConvolutionNdForwardOutputDim(d_.conv, d_.x, d_.w, nd, cd.data()), who_));
    if (cd != yd) return internalError(who_, ": cuDNN computes another output shape than ", dimsToString(out[0].dims));

    return chooseTactic(in, out);
  }

  Status runLegacy(const std::vector<TensorView>& in, const std::vector<TensorView>& out, void* ws) {
    const void* x = in[0].data;
    void* algo_ws = ws;
    if (pre_pad_) {
      void* padded = static_cast<uint8_t*>(ws) + alignUp(algo_bytes_);
      QRT_RETURN_IF_ERROR(checkCuda(cudaMemsetAsync(padded, 0, padded_bytes_, stream()), who_));
      launch::stridedCopy(x, static_cast<uint8_t*>(padded) + pad_offset_, dataTypeSize(dtype_), pad_copy_, stream());
      x = padded;
    }
    const void* w = channels_last_ ? w_nhwc_.get() : in[1].data;
    const void* bias = has_bias_ ? in[2].data : nullptr;
    const void* z = has_residual_ ? in[3].data : nullptr;
    QRT_RETURN_IF_ERROR(launchConv(x, w, bias, z, out[0].data, algo_ws, fused_));
    return launched();
  }

  bool strictFp32() const { return dtype_ == DataType::kFloat && !dev_->allow_tf32; }

  cudnnMathType_t mathType() const {
    if (dtype_ == DataType::kHalf) return CUDNN_TENSOR_OP_MATH;
    return dev_->allow_tf32 ? CUDNN_DEFAULT_MATH : CUDNN_FMA_MATH;
  }

  Status planPrePad(const Dims& x, const Dims& padded, const std::vector<int64_t>& pad_begin) {
    // Physical order: NCHW as is; NHWC moves C last.
    auto phys = [&](const Dims& d) { return channels_last_ ? Dims{d[0], d[2], d[3], d[1]} : d; };
    const Dims px = phys(x), pp = phys(padded);
    const Dims src = stridesOf(px), dst = stridesOf(pp);
    pad_copy_ = launch::StridedCopy{};
    pad_copy_.rank = static_cast<int>(px.size());
    if (pad_copy_.rank > launch::kMaxRank) return unsupported(who_, ": rank too high");
    for (size_t i = 0; i < px.size(); ++i) {
      pad_copy_.dims[i] = px[i];
      pad_copy_.src_strides[i] = src[i];
      pad_copy_.dst_strides[i] = dst[i];
    }
    int64_t off = 0;
    for (size_t i = 0; i < pad_begin.size(); ++i) {
      const size_t axis = channels_last_ ? 1 + i : 2 + i;
      off += pad_begin[i] * dst[axis];
    }
    pad_offset_ = static_cast<size_t>(off) * dataTypeSize(x.empty() ? DataType::kFloat : dtype_);
    padded_bytes_ = static_cast<size_t>(volume(padded)) * dataTypeSize(dtype_);
    return Status::Ok();
  }

  // The fused call: y = act(conv(x) + z + bias). Without a residual, z is y scaled by 0.
  Status launchConv(const void* x, const void* w, const void* bias, const void* z, void* y, void* ws, bool fused) {
    using launch::UnaryOp;
    const float one = 1.f, zero = 0.f;
    if (fused) {
      const float alpha2 = z ? 1.f : 0.f;
      return checkCudnn(cudnnConvolutionBiasActivationForward(dev_->cudnn, &one, d_.x, x, d_.w, w, d_.conv, algo_, ws,
                                                              algo_bytes_, &alpha2, d_.y, z ? z : y, d_.bias,
                                                              bias ? bias : zero_bias_.get(), d_.act, d_.y, y),
                        who_, ": cudnnConvolutionBiasActivationForward");
    }
    QRT_RETURN_IF_ERROR(checkCudnn(cudnnConvolutionForward(dev_->cudnn, &one, d_.x, x, d_.w, w, d_.conv, algo_, ws,
                                                           algo_bytes_, &zero, d_.y, y),
                                   who_, ": cudnnConvolutionForward"));
    epilogue(bias, z, y);
    return Status::Ok();
  }

  // qrt's epilogue after a convolution that wrote y: y = act(y + bias + z).
  void epilogue(const void* bias, const void* z, void* y) {
    using launch::UnaryOp;
    if (z && !z_same_) {  // y = act((y + bias) + broadcast z)
      if (bias)
        launch::biasActivation(dtype_, y, bias, nullptr, out_numel_, channels_, inner_, channels_last_, false,
                               UnaryOp::kIdentity, 0.f, 0.f, stream());
      launch::binary(launch::BinaryOp::kAdd, dtype_, y, z, y, out_numel_, z_plan_, false, stream());
      if (act_.on) launch::unary(act_.op, dtype_, y, y, out_numel_, act_.a, act_.b, stream());
      return;
    }
    if (bias || z || act_.on)
      launch::biasActivation(dtype_, y, bias, z, out_numel_, channels_, inner_, channels_last_, act_.on, act_.op, act_.a,
                             act_.b, stream());
  }

  bool acceptable(const cudnnConvolutionFwdAlgoPerf_t& p) const {
    if (p.status != CUDNN_STATUS_SUCCESS || p.memory > kMaxWorkspace) return false;
    // Strict FP32: no tensor-core (TF32) algorithms. The descriptor already asks for FMA math;
    // cuDNN reports either that or its default for the algorithms it returns.
    if (strictFp32() && p.mathType != CUDNN_FMA_MATH && p.mathType != CUDNN_DEFAULT_MATH) return false;
    return true;
  }

  // Chooses the algorithm (and fused or not); see the file comment.
  Status chooseTactic(const std::vector<TensorView>& in, const std::vector<TensorView>& out) {
    const size_t elem = dataTypeSize(dtype_);
    size_t x_bytes = 1;
    {
      int nd = 0, dims[8], strides[8];
      cudnnDataType_t t;
      QRT_RETURN_IF_ERROR(checkCudnn(cudnnGetTensorNdDescriptor(d_.x, 8, &t, &nd, dims, strides), who_));
      for (int i = 0; i < nd; ++i) x_bytes *= static_cast<size_t>(dims[i]);
      x_bytes *= elem;
    }
    const size_t w_bytes = static_cast<size_t>(in[1].numel()) * elem, y_bytes = out[0].bytes();
    const int64_t M = channels_;
    std::vector<uint8_t> zeros(static_cast<size_t>(M) * elem, 0);
    QRT_RETURN_IF_ERROR(zero_bias_.upload(zeros.data(), zeros.size(), who_));
    const bool fusable = (has_bias_ || has_residual_ || act_.on) && z_same_ && (!act_.on || act_.isRelu());
    if (fixed_algo_ >= 0) {  // the build's timed choice: no search
      algo_ = static_cast<cudnnConvolutionFwdAlgo_t>(fixed_algo_);
      QRT_RETURN_IF_ERROR(checkCudnn(cudnnSetConvolutionMathType(d_.conv, mathType()), who_));
      Status ws = checkCudnn(cudnnGetConvolutionForwardWorkspaceSize(dev_->cudnn, d_.x, d_.w, d_.conv, d_.y, algo_,
                                                                     &algo_bytes_),
                             who_, ": stored legacy algorithm ", fixed_algo_);
      if (ws.ok() && algo_bytes_ <= kMaxWorkspace) {
        fused_ = fixed_fused_ && fusable && (act_.on || algo_ == CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_PRECOMP_GEMM);
        return Status::Ok();
      }
      logWarning(ws.ok() ? who_ + ": the stored legacy algorithm needs too much workspace" : ws.message(),
                 "; using cuDNN's heuristic");
      heuristic_ = true;
    }

    constexpr int kMaxAlgos = CUDNN_CONVOLUTION_FWD_ALGO_COUNT;
    cudnnConvolutionFwdAlgoPerf_t perf[kMaxAlgos];
    int returned = 0;
    DeviceBuffer sx, sw, sy, sz, sws;
    const bool timed = !heuristic_;
    if (timed) {
      QRT_RETURN_IF_ERROR(sx.reserve(x_bytes, who_));
      QRT_RETURN_IF_ERROR(sw.reserve(w_bytes, who_));
      QRT_RETURN_IF_ERROR(sy.reserve(y_bytes, who_));
      QRT_RETURN_IF_ERROR(sws.reserve(kMaxWorkspace, who_));
      launch::fillPattern(dtype_, sx.get(), static_cast<int64_t>(x_bytes / elem), stream());
      launch::fillPattern(dtype_, sw.get(), static_cast<int64_t>(w_bytes / elem), stream());
      QRT_RETURN_IF_ERROR(launched());
      QRT_RETURN_IF_ERROR(checkCuda(cudaStreamSynchronize(stream()), who_));
      QRT_RETURN_IF_ERROR(checkCudnn(cudnnFindConvolutionForwardAlgorithmEx(dev_->cudnn, d_.x, sx.get(), d_.w, sw.get(), d_.conv,
                                                                            d_.y, sy.get(), kMaxAlgos, &returned, perf,
                                                                            sws.get(), kMaxWorkspace),
                                     who_, ": cudnnFindConvolutionForwardAlgorithmEx"));
    } else {
      QRT_RETURN_IF_ERROR(checkCudnn(cudnnGetConvolutionForwardAlgorithm_v7(dev_->cudnn, d_.x, d_.w, d_.conv, d_.y,
                                                                            kMaxAlgos, &returned, perf),
                                     who_, ": cudnnGetConvolutionForwardAlgorithm_v7"));
    }
    const cudnnConvolutionFwdAlgoPerf_t* best = nullptr;
    for (int i = 0; i < returned && !best; ++i)
      if (acceptable(perf[i])) best = &perf[i];
    if (!best)
      return unsupported(who_, ": cuDNN offers no algorithm for this convolution (", dataTypeName(dtype_),
                         dtype_ == DataType::kFloat && !dev_->allow_tf32 ? ", without TF32" : "", ")");
    algo_ = best->algo;
    algo_bytes_ = best->memory;
    unfused_ms_ = best->time;
    QRT_RETURN_IF_ERROR(checkCudnn(cudnnSetConvolutionMathType(d_.conv, strictFp32() ? CUDNN_FMA_MATH : best->mathType), who_));

    // Fused or not: the fused call exists only for ReLU, or identity with IMPLICIT_PRECOMP_GEMM,
    // and a residual of the output's shape.
    fused_ = false;
    const bool epilogue = has_bias_ || has_residual_ || act_.on;
    if (!epilogue || !z_same_ || (act_.on && !act_.isRelu())) return Status::Ok();
    if (!act_.on && algo_ != CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_PRECOMP_GEMM) return Status::Ok();
    if (!timed) {
      fused_ = true;  // cuDNN's fused kernels save a pass over the output
      return Status::Ok();
    }
    // Time both on the scratch buffers (the residual and the bias read pattern data too).
    if (has_residual_) {
      QRT_RETURN_IF_ERROR(sz.reserve(y_bytes, who_));
      launch::fillPattern(dtype_, sz.get(), static_cast<int64_t>(y_bytes / elem), stream());
    }
    const void* bias = zero_bias_.get();
    const void* z = has_residual_ ? sz.get() : nullptr;
    auto time = [&](bool fused, float* ms) -> Status {
      Status first = launchConv(sx.get(), sw.get(), bias, z, sy.get(), sws.get(), fused);
      if (!first.ok()) return first;
      cudaEvent_t a, b;
      QRT_RETURN_IF_ERROR(checkCuda(cudaEventCreate(&a), who_));
      QRT_RETURN_IF_ERROR(checkCuda(cudaEventCreate(&b), who_));
      cudaEventRecord(a, stream());
      constexpr int kRuns = 3;
      Status s;
      for (int r = 0; r < kRuns && s.ok(); ++r) s = launchConv(sx.get(), sw.get(), bias, z, sy.get(), sws.get(), fused);
      cudaEventRecord(b, stream());
      cudaError_t e = cudaEventSynchronize(b);
      cudaEventElapsedTime(ms, a, b);
      cudaEventDestroy(a);
      cudaEventDestroy(b);
      *ms /= kRuns;
      QRT_RETURN_IF_ERROR(s);
      QRT_RETURN_IF_ERROR(launched());
      return checkCuda(e, who_, ": timing");
    };
    float fused_ms = 0.f, unfused_ms = 0.f;
    Status fs = time(true, &fused_ms);
    if (!fs.ok()) {
      cudaGetLastError();  // a refused fused configuration is not an error: keep the epilogue
      return Status::Ok();
    }
    QRT_RETURN_IF_ERROR(time(false, &unfused_ms));
    fused_ = fused_ms <= unfused_ms;
    return Status::Ok();
  }

  WindowAttrs attrs_;
  EpilogueActivation act_;
  bool z_same_ = true;
  launch::Broadcast z_plan_;
  bool nhwc_, has_bias_, has_residual_;
  std::string tactic_attr_;
  bool graph_mode_ = false, heuristic_ = false, force_find_ = false, force_dw_ = false, dw_ = false;
  launch::DepthwiseGeometry dw_geom_;
  bool x_nchw_ = false, pool_ = false, force_stem_ = false, stem_ = false;
  std::optional<LtTactic> force_lt_;
  LtGemm lt_;
  bool lt_mode_ = false;
  launch::StemGeometry stem_geom_;
  DeviceBuffer w_stem_;
  int fixed_algo_ = -1;
  bool fixed_fused_ = false;
  ConvGraph graph_;
  ConvPlan plan_;
  Fusion fusion_ = Fusion::kFull;
  int64_t pad_c_ = 0;
  ChannelPad pad_;
  bool channels_last_ = false;
  DataType dtype_ = DataType::kFloat;
  ConvDescriptors d_;
  cudnnConvolutionFwdAlgo_t algo_ = CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_GEMM;
  size_t algo_bytes_ = 0;
  float unfused_ms_ = 0.f;
  bool fused_ = false;
  DeviceBuffer w_nhwc_, zero_bias_;
  int64_t channels_ = 0, inner_ = 0, out_numel_ = 0;
  bool pre_pad_ = false;
  launch::StridedCopy pad_copy_;
  size_t pad_offset_ = 0, padded_bytes_ = 0;
};

Result<std::unique_ptr<Kernel>> createConv(const ir::Node& node, DeviceContext* dev) {
  QRT_ASSIGN_OR_RETURN(WindowAttrs a, readWindowAttrs(node));
  if (!node.hasInput(0) || !node.hasInput(1)) return invalidArgument(node.describe(), ": inputs X and W are required");
  // X may keep its own float type where the stem kernel rounds it as it reads (qrt_x_cast).
  const bool x_cast = node.attrInt(kAttrXCast, 0) != 0;
  // Inputs 4 and 5 (y_scale, y_zero_point) quantize a stem's output (stem_quantize.cpp).
  for (size_t i = x_cast ? 2 : 1; i < std::min<size_t>(node.inputs.size(), 4); ++i)
    if (node.inputs[i] && node.inputs[i]->dtype != node.inputs[x_cast ? 1 : 0]->dtype)
      return unsupported(node.describe(), ": the CUDA backend needs every input of one type");
  EpilogueActivation act;
  if (node.op_type == "FusedConv") {
    QRT_ASSIGN_OR_RETURN(act, readEpilogueActivation(node));
  } else if (node.inputs.size() > 3) {
    return invalidArgument(node.describe(), ": Conv takes at most 3 inputs");
  }
  return makeKernel<ConvKernel>(node, dev, std::move(a), act);
}

const CudaKernelEntry kEntries[] = {
    {"Conv", kCudaFloat, &createConv},
    {"FusedConv", kCudaFloat, &createConv, 0, kQrtDomain},
    {"QConv", DTypeSet{DataType::kInt8}, &createQConv, 0, kQrtDomain},  // conv_int8.cpp
    {"ConvTranspose", kCudaFloat, &createConvTranspose},                  // conv_transpose.cpp
};

}  // namespace

namespace {

// Device scratch data for every input a kernel reads at run time and for the output: copies of
// the build-time views (whose constants stay host data for reshape) pointing at `bufs`.
Status scratchViews(const std::vector<TensorView>& in, const std::vector<TensorView>& out, DeviceContext* dev,
                    const std::string& who, std::vector<DeviceBuffer>* bufs, std::vector<TensorView>* rin,
                    std::vector<TensorView>* rout) {
  *rin = in;
  *rout = out;
  bufs->clear();
  bufs->resize(in.size() + 1);
  for (size_t i = 0; i <= in.size(); ++i) {
    TensorView& t = i < in.size() ? (*rin)[i] : (*rout)[0];
    if (t.dtype == DataType::kUndefined) continue;
    QRT_RETURN_IF_ERROR((*bufs)[i].reserve(t.bytes(), who));
    launch::fillPattern(t.dtype, (*bufs)[i].get(), t.numel(), dev->stream);
    t.data = (*bufs)[i].get();
  }
  return Status::Ok();
}

// The kernel of a Conv/FusedConv node on its build shapes, on the legacy API (its timed search)
// or qrt's depthwise kernel, timed by `time` on scratch data.
enum class Candidate { kLegacy, kDepthwise, kStem };

Status timeCandidate(const ir::Node& node, DeviceContext* dev, const ConvTimer& time, Candidate kind,
                     std::string* tactic, double* us) {
  QRT_ASSIGN_OR_RETURN(std::unique_ptr<Kernel> k, createConv(node, dev));
  auto* conv = static_cast<ConvKernel*>(k.get());
  if (kind == Candidate::kDepthwise) conv->forceDepthwise();
  else if (kind == Candidate::kStem) conv->forceStem();
  else conv->forceLegacySearch();
  QRT_RETURN_IF_ERROR(timeOnScratch(node, dev, *k, time, us));
  *tactic = kind == Candidate::kDepthwise ? "dw" : kind == Candidate::kStem ? "stem" : conv->legacyTactic();
  return Status::Ok();
}

constexpr int kLtConvCandidates = 8;  // cuBLASLt heuristic algorithms timed per pointwise layer

}  // namespace

Status timeOnScratch(const ir::Node& node, DeviceContext* dev, Kernel& k, const ConvTimer& time, double* us) {
  const std::string who = node.describe();
  std::vector<TensorView> in, out, rin, rout;
  candidateViews(node, &in, &out);
  QRT_RETURN_IF_ERROR(k.reshape(in, out));
  std::vector<DeviceBuffer> bufs;
  QRT_RETURN_IF_ERROR(scratchViews(in, out, dev, who, &bufs, &rin, &rout));
  DeviceBuffer ws;
  QRT_RETURN_IF_ERROR(ws.reserve(k.workspaceBytes(), who));
  return time([&] { return k.run(rin, rout, ws.get()); }, us);
}

void candidateViews(const ir::Node& node, std::vector<TensorView>* in, std::vector<TensorView>* out) {
  in->assign(node.inputs.size(), TensorView{});
  out->assign(1, TensorView{});
  for (size_t i = 0; i < node.inputs.size(); ++i) {
    const ir::Value* v = node.inputs[i];
    if (!v) continue;
    (*in)[i].dtype = v->dtype;
    (*in)[i].dims = v->dims;
    (*in)[i].data = v->isConstant() ? const_cast<void*>(static_cast<const void*>(v->constant->data())) : nullptr;
  }
  (*out)[0].dtype = node.outputs[0]->dtype;
  (*out)[0].dims = node.outputs[0]->dims;
}

Status legacyConvCandidate(const ir::Node& node, DeviceContext* dev, const ConvTimer& time, std::string* tactic,
                           double* us) {
  return timeCandidate(node, dev, time, Candidate::kLegacy, tactic, us);
}

Status depthwiseConvCandidate(const ir::Node& node, DeviceContext* dev, const ConvTimer& time, std::string* tactic,
                              double* us) {
  return timeCandidate(node, dev, time, Candidate::kDepthwise, tactic, us);
}

Status stemConvCandidate(const ir::Node& node, DeviceContext* dev, const ConvTimer& time, std::string* tactic,
                         double* us) {
  return timeCandidate(node, dev, time, Candidate::kStem, tactic, us);
}

Status ltConvCandidate(const ir::Node& node, DeviceContext* dev, const ConvTimer& time, std::string* tactic,
                       double* us) {
  QRT_ASSIGN_OR_RETURN(std::unique_ptr<Kernel> k, createConv(node, dev));
  auto* conv = static_cast<ConvKernel*>(k.get());
  conv->forceLt(LtTactic{});  // cuBLASLt's heuristic: the list of algorithms to time
  const std::string who = node.describe();
  std::vector<TensorView> in, out, rin, rout;
  candidateViews(node, &in, &out);
  QRT_RETURN_IF_ERROR(k->reshape(in, out));  // kUnsupported: not a pointwise layer of the path
  std::vector<LtTactic> cands;
  QRT_RETURN_IF_ERROR(conv->ltGemm().heuristicTactics(kLtConvCandidates, &cands));
  std::vector<DeviceBuffer> bufs;
  QRT_RETURN_IF_ERROR(scratchViews(in, out, dev, who, &bufs, &rin, &rout));
  DeviceBuffer ws;
  QRT_RETURN_IF_ERROR(ws.reserve(k->workspaceBytes(), who));
  bool found = false;
  for (const LtTactic& t : cands) {
    conv->forceLt(t);
    if (!k->reshape(in, out).ok()) continue;  // an algorithm that does not rebuild or fit
    double t_us = 0;
    if (!time([&] { return k->run(rin, rout, ws.get()); }, &t_us).ok()) {
      cudaGetLastError();
      continue;
    }
    if (!found || t_us < *us) {
      found = true;
      *us = t_us;
      *tactic = t.str();
    }
  }
  if (!found) return unsupported(who, ": no cuBLASLt algorithm ran");
  // The fastest must compute what cuDNN's heuristic plan computes on the same scratch data (as
  // the tuner checks every cuDNN plan): the path relies on cuBLASLt applying ReLU after beta C.
  LtTactic best;
  if (!LtTactic::parse(*tactic, &best)) return internalError(who, ": unreadable cuBLASLt tactic ", *tactic);
  conv->forceLt(best);
  QRT_RETURN_IF_ERROR(k->reshape(in, out));
  QRT_RETURN_IF_ERROR(k->run(rin, rout, ws.get()));
  QRT_ASSIGN_OR_RETURN(std::unique_ptr<Kernel> ref, createConv(node, dev));  // no tactic yet: the heuristic's plan
  QRT_RETURN_IF_ERROR(ref->reshape(in, out));
  std::vector<TensorView> rref = rout;
  DeviceBuffer y_ref, ws_ref;
  QRT_RETURN_IF_ERROR(y_ref.reserve(rout[0].bytes(), who));
  QRT_RETURN_IF_ERROR(ws_ref.reserve(ref->workspaceBytes(), who));
  rref[0].data = y_ref.get();
  QRT_RETURN_IF_ERROR(ref->run(rin, rref, ws_ref.get()));
  const size_t elem = dataTypeSize(rout[0].dtype);
  std::vector<uint8_t> got, want;
  if (!sampleOutput(dev, rout[0].data, rout[0].numel(), elem, &got) ||
      !sampleOutput(dev, rref[0].data, rref[0].numel(), elem, &want) || got.size() != want.size())
    return internalError(who, ": reading the cuBLASLt candidate's output back");
  const double err = sampledRelativeError(got, want, elem == 2);
  const double tol = rout[0].dtype == DataType::kFloat && !dev->allow_tf32 ? 1e-4 : 1e-2;
  if (!(err <= tol)) {
    logWarning(who, ": the cuBLASLt path disagrees with cuDNN on scratch data (relative error ", err,
               "); not a candidate");
    return unsupported(who, ": the cuBLASLt path disagrees with cuDNN");
  }
  return Status::Ok();
}

Result<ConvProblem> convProblem(const WindowAttrs& attrs, const EpilogueActivation& act, DataType dtype,
                                DataType out_dtype, bool nhwc, bool tf32, const Dims& x, const Dims& w, const Dims& y,
                                bool bias, bool z_same) {
  QRT_ASSIGN_OR_RETURN(Window win, convWindow(attrs, x, w));
  ConvProblem p;
  p.dtype = dtype;
  p.out_dtype = out_dtype;
  p.nhwc = nhwc;
  p.tf32 = tf32 && dtype == DataType::kFloat;
  p.x = x;
  p.w = w;
  p.y = y;
  p.pad_begin = win.pad_begin;
  p.pad_end = win.pad_end;
  p.strides = win.strides;
  p.dilations = win.dilations;
  if (win.rank == 1) {  // 2-D with a unit height
    p.x.insert(p.x.begin() + 2, 1);
    p.w.insert(p.w.begin() + 2, 1);
    p.y.insert(p.y.begin() + 2, 1);
    p.pad_begin.insert(p.pad_begin.begin(), 0);
    p.pad_end.insert(p.pad_end.begin(), 0);
    p.strides.insert(p.strides.begin(), 1);
    p.dilations.insert(p.dilations.begin(), 1);
  }
  p.bias = bias;
  p.z = z_same;
  using launch::UnaryOp;
  if (act.on) {
    switch (act.op) {
      case UnaryOp::kRelu: p.act = ConvProblem::Act::kRelu; break;
      case UnaryOp::kLeakyRelu: p.act = ConvProblem::Act::kLeakyRelu; break;
      case UnaryOp::kClip: p.act = ConvProblem::Act::kClip; break;
      case UnaryOp::kSigmoid: p.act = ConvProblem::Act::kSigmoid; break;
      case UnaryOp::kSwish: p.act = ConvProblem::Act::kSwish; break;
      default: p.act = ConvProblem::Act::kOther; break;
    }
    p.act_a = act.a;
    p.act_b = act.b;
  }
  return p;
}

std::span<const CudaKernelEntry> convKernels() { return kEntries; }

}  // namespace qrt::cuda
