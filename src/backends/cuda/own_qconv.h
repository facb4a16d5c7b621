// QConv on one of qrt's own INT8 kernels beside cuDNN's (qdepthwise.cpp: depthwise layers;
// qconv_igemm.cpp: dense layers), as the FP16 ConvKernel takes depthwise.cu. The own kernel runs
// where the node's stored tactic for these shapes names it (it beat cuDNN's int8 plans at build
// time), or where there is no tactic for them and the kernel is the default; the environment
// variable of the kernel (`env`: "on" always, "off" never) overrides both. Everything else runs
// on `cudnn` (the cuDNN QConv kernel of the node).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "backends/cuda/conv_graph.h"
#include "backends/cuda/conv_launch.h"
#include "backends/cuda/cuda_kernel.h"
#include "backends/cuda/cuda_util.h"
#include "backends/cuda/device_memory.h"
#include "ops/nn_params.h"

namespace qrt::cuda {

// A QConv that computes its residual's downsample convolution (downsample_fuse.cpp) has these
// inputs after z_scale (7), z_q (6) being absent: the downsample's x, its [M, C2, 1, 1] weights,
// bias (optional), x_scale, w_scale; its strides in the attribute kAttrDsStrides.
inline constexpr size_t kDsX = 8, kDsW = 9, kDsBias = 10, kDsXScale = 11, kDsWScale = 12;
inline constexpr const char kAttrDsStrides[] = "qrt_ds_strides";

// QConv's activation as the int8 epilogues take it; kNone also for an activation they do not
// apply (the callers refuse those: qrtAppliesQAct).
launch::QAct qconvAct(const EpilogueActivation& act);
// Whether qrt's int8 epilogues apply QConv's activation: none, ReLU, clip, hard swish.
bool qrtAppliesQAct(const EpilogueActivation& act);

class OwnQConvKernel : public CudaKernel {
 public:
  OwnQConvKernel(const ir::Node& n, DeviceContext* dev, WindowAttrs a, EpilogueActivation act,
                 std::unique_ptr<Kernel> cudnn, const char* env);

  // For the build-time tuner: the own kernel with this tactic (as stored after the signature) or
  // an error, never cuDNN.
  void force(const std::string& tactic) { forced_ = tactic; }

  Status reshape(const std::vector<TensorView>& in, const std::vector<TensorView>& out) override;
  size_t workspaceBytes() const override { return own_ || !cudnn_ ? ownWorkspaceBytes() : cudnn_->workspaceBytes(); }
  Status run(const std::vector<TensorView>& in, const std::vector<TensorView>& out, void* ws) override;

 protected:
  // Sets the own kernel up for these shapes with `tactic` ("": its default choice); kUnsupported
  // where it does not compute them (cuDNN then runs them unless forced).
  virtual Status reshapeOwn(const std::vector<TensorView>& in, const std::vector<TensorView>& out,
                            const std::string& tactic) = 0;
  virtual Status runOwn(const std::vector<TensorView>& in, const std::vector<TensorView>& out, void* ws) = 0;
  // The workspace the own kernel takes at the shapes of the last reshape.
  virtual size_t ownWorkspaceBytes() const { return 0; }
  // Whether a stored tactic (the part after "signature|") is this kernel's.
  virtual bool isMine(const std::string& tactic) const = 0;
  // Whether the kernel runs shapes the node has no tactic for.
  virtual bool byDefault() const = 0;
  // Whether the kernel writes fp16 as well as int8 and fp32 (a QConv feeding fp16 layers).
  virtual bool writesHalf() const { return false; }
  // Whether the kernel applies a hard swish (its epilogue works on unscaled values; the others
  // fold y_scale into their constants first).
  virtual bool appliesHardSwish() const { return false; }
  // Whether it applies the scalar affine after a hard swish (post_scale, post_shift).
  virtual bool appliesPostAffine() const { return false; }

  // The common checks and QConv's per-channel epilogue constants, for the own kernels: constant
  // weights, bias and scales; mult_[c] = x_scale * w_scale[c] (as the reference forms it) and
  // bias_ uploaded (and kept on the host in mult_host_, bias_host_); y_scale_, qact_ and y_int8_ set.
  Status prepareEpilogue(const std::vector<TensorView>& in, const std::vector<TensorView>& out, int64_t channels);
  // After prepareEpilogue: mult_host_ and bias_host_ divided by y_scale_ (the int8 epilogues'
  // folded constants), uploaded into `mult` and `bias`.
  Status uploadFolded(DeviceBuffer* mult, DeviceBuffer* bias) const;
  // The folded int8 epilogues' one clamp, on y_scale-divided values: the activation (ReLU, clip)
  // and the saturation together (clamping before rounding equals rounding then saturating: the
  // bounds -128 and 127 are integers).
  void foldedClamp(float* qlo, float* qhi) const;

  WindowAttrs attrs_;
  EpilogueActivation act_;
  bool has_bias_, has_y_scale_, has_z_;
  DeviceBuffer mult_, bias_;
  std::vector<float> mult_host_, bias_host_;
  float y_scale_ = 1.f;
  launch::QAct qact_ = launch::QAct::kNone;
  bool y_int8_ = true;
  bool post_affine_ = false;                 // the node has post_scale / post_shift
  float post_scale_ = 1.f, post_shift_ = 0.f;

 private:
  std::string tactic_attr_;
  const char* env_;
  std::unique_ptr<Kernel> cudnn_;
  std::string forced_;
  bool own_ = false;
};

// The own kernel K (constructed as OwnQConvKernel) around `next` for a dense (group 1) node; `next`
// itself for a grouped one.
template <class K>
Result<std::unique_ptr<Kernel>> aroundDense(const ir::Node& node, DeviceContext* dev, const WindowAttrs& attrs,
                                            const EpilogueActivation& act, std::unique_ptr<Kernel> next) {
  if (attrs.group != 1) return next;
  return makeKernel<K>(node, dev, attrs, act, std::move(next));
}

// The dense own kernel K alone, for the tuner: kUnsupported where `env` is "off" or the node is grouped.
template <class K>
Result<std::unique_ptr<K>> denseCandidateKernel(const ir::Node& node, DeviceContext* dev, const char* env) {
  if (envIs(env, "off")) return unsupported(node.describe(), ": ", env, "=off");
  QRT_ASSIGN_OR_RETURN(WindowAttrs a, readWindowAttrs(node));
  if (a.group != 1) return unsupported(node.describe(), ": a grouped convolution");
  QRT_ASSIGN_OR_RETURN(EpilogueActivation act, readEpilogueActivation(node));
  return std::make_unique<K>(node, dev, std::move(a), act, nullptr);
}

// Times `k` (forced to `tactic`) for the tuner at the node's build shapes: scratch device data for
// x (and z), the constants as reshape uploads them. kUnsupported where it does not apply.
Status timeOwnQConv(const ir::Node& node, DeviceContext* dev, OwnQConvKernel& k, const std::string& tactic,
                    const ConvTimer& time, double* us);

// Runs `k` forced to `tactic` and the node's QConv kernel without a tactic (cuDNN's plan) on the
// same scratch data: kUnsupported where an int8 output differs from cuDNN's by more than one
// quantization step (each is within one of the reference) or a float output by more than 1e-2
// relative, so that the tuner keeps no own kernel that computes something else.
Status checkOwnQConv(const ir::Node& node, DeviceContext* dev, OwnQConvKernel& k, const std::string& tactic);

// createQConv's steps (conv_int8.cpp): `cudnn` (the node's cuDNN QConv kernel) as it is where the
// node is none the own kernel computes, else an OwnQConvKernel around it.
// - Depthwise layers (group == C == M, 2-D, channels-last, no residual; qdepthwise.cpp): tactic
//   "dw", and the default for shapes without a tactic. QRT_CUDA_DEPTHWISE.
// - Dense layers (group 1, 2-D, channels-last, C and M multiples of 16, with or without the int8
//   residual z; qconv_igemm.cpp): tactics "ig0".."ig6" (the tile shape); cuDNN runs shapes
//   without a tactic. QRT_CUDA_IGEMM.
Result<std::unique_ptr<Kernel>> withQDepthwise(const ir::Node& node, DeviceContext* dev, const WindowAttrs& attrs,
                                               const EpilogueActivation& act, std::unique_ptr<Kernel> cudnn);
// - Pointwise layers (1x1, stride 1, unpadded, int8 output; qconv_lt.cpp): one cuBLASLt int8 GEMM
//   with QConv's epilogue in cuBLASLt's, tactics "lt:..." (LtTactic), around the dense path's
//   kernel. QRT_CUDA_QCONV_LT.
Result<std::unique_ptr<Kernel>> withQLt(const ir::Node& node, DeviceContext* dev, const WindowAttrs& attrs,
                                        const EpilogueActivation& act, std::unique_ptr<Kernel> next);
Result<std::unique_ptr<Kernel>> withQIgemm(const ir::Node& node, DeviceContext* dev, const WindowAttrs& attrs,
                                           const EpilogueActivation& act, std::unique_ptr<Kernel> cudnn);

// The own kernels as tactic candidates for a QConv node at its build shapes (constant weights and
// scales from the IR, scratch data elsewhere), timed by `time`; the implicit GEMM times every tile
// shape and reports the fastest. kUnsupported where the kernel does not compute the node.
Status qdepthwiseConvCandidate(const ir::Node& node, DeviceContext* dev, const ConvTimer& time, std::string* tactic,
                               double* us);
Status qconvIgemmCandidate(const ir::Node& node, DeviceContext* dev, const ConvTimer& time, std::string* tactic,
                           double* us);
Status qconvLtCandidate(const ir::Node& node, DeviceContext* dev, const ConvTimer& time, std::string* tactic,
                        double* us);

}  // namespace qrt::cuda
