// Convolutions through cuDNN 9's graph (backend) API: an operation graph of one
// ConvolutionFwd and the pointwise chain after it (bias add, residual add, activation; for INT8
// the per-channel requantization and the output conversion), engine configurations from cuDNN's
// heuristics, and execution plans built once per shape.
//
// A tactic names one execution plan in a form that survives the process (the engine's global
// index and its knob choices), so a choice timed at build time (conv_tactics.cpp) is stored in
// the engine as a node attribute and rebuilt at reshape without any search.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <string>
#include <vector>

#include "backends/cuda/conv_tactic_file.h"
#include "backends/cuda/cuda_kernel.h"
#include "ir/graph.h"
#include "ops/nn_params.h"

namespace qrt::cuda {

// RAII over one cudnnBackendDescriptor_t.
class BackendDesc {
 public:
  BackendDesc() = default;
  BackendDesc(const BackendDesc&) = delete;
  BackendDesc& operator=(const BackendDesc&) = delete;
  BackendDesc(BackendDesc&& o) noexcept : d_(o.d_) { o.d_ = nullptr; }
  BackendDesc& operator=(BackendDesc&& o) noexcept {
    if (this != &o) {
      reset();
      d_ = o.d_;
      o.d_ = nullptr;
    }
    return *this;
  }
  ~BackendDesc() { reset(); }
  Status create(cudnnBackendDescriptorType_t type);
  void reset() {
    if (d_) cudnnBackendDestroyDescriptor(d_);
    d_ = nullptr;
  }
  cudnnBackendDescriptor_t get() const { return d_; }
  cudnnBackendDescriptor_t* addr() { return &d_; }
  explicit operator bool() const { return d_ != nullptr; }

  Status set(cudnnBackendAttributeName_t name, cudnnBackendAttributeType_t type, int64_t count, const void* v);
  Status setInt(cudnnBackendAttributeName_t name, int64_t v) { return set(name, CUDNN_TYPE_INT64, 1, &v); }
  Status setInts(cudnnBackendAttributeName_t name, const std::vector<int64_t>& v) {
    return set(name, CUDNN_TYPE_INT64, static_cast<int64_t>(v.size()), v.data());
  }
  Status setDesc(cudnnBackendAttributeName_t name, const BackendDesc& d) {
    cudnnBackendDescriptor_t p = d.get();
    return set(name, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &p);
  }
  Status finalize();

 private:
  cudnnBackendDescriptor_t d_ = nullptr;
};

// One convolution as the graph API sees it: what a Conv/FusedConv/QConv node computes at one
// set of shapes. 1-D convolutions are 2-D with a unit height.
struct ConvProblem {
  enum class Act { kNone, kRelu, kLeakyRelu, kClip, kSigmoid, kSwish, kOther };
  DataType dtype = DataType::kFloat;  // of x, w (kInt8 for QConv)
  DataType out_dtype = DataType::kFloat;
  bool nhwc = false;  // x, y (and z) stored channels-last; w as KRSC
  bool tf32 = false;  // FP32 may use TF32 tensor cores
  Dims x, w, y;       // logical NC(D)HW / KC(D)HW, rank 4 or 5
  std::vector<int64_t> pad_begin, pad_end, strides, dilations;
  bool bias = false;  // [M] of dtype (float for QConv), per output channel
  bool z = false;     // residual of y's shape and layout, added before the activation
  // z's dtype when it is not out_dtype: kInt8 for QConv's int8 residual (passes/
  // fuse_qconv_residual.h), added as z_scale * z: the chain then runs on values divided by
  // z_scale and multiplies by z_scale / y_scale (kUidZScale) after the residual add.
  DataType z_dtype = DataType::kUndefined;
  Act act = Act::kNone;
  float act_a = 0.f, act_b = 0.f;  // leaky slope / clip bounds
  // The shape signature of the problem (the timing cache key adds the GPU and cuDNN).
  std::string signature() const;
};

// The problem with its input channels padded to `c` (zero weights there).
ConvProblem paddedProblem(const ConvProblem& p, int64_t c);
// Channel counts worth trying for a problem (0 = as is): FP16 NHWC with C % 8 != 0 and group 1
// also tries C rounded up to 8; INT8 needs C a multiple of 4 (then 16).
std::vector<int64_t> padOptions(const ConvProblem& p);

// Copies NHWC x [N, spatial..., C] into a zero-filled buffer of `to` channels (memset + one
// strided copy, queued on the run's stream).
struct ChannelPad {
  int64_t to = 0;      // 0: no padding
  size_t bytes = 0;    // of the padded buffer
  size_t elem = 0;
  launch::StridedCopy copy;
  void plan(const Dims& x_nchw, int64_t to_channels, size_t elem_bytes);
  void run(const void* x, void* dst, cudaStream_t s) const;
};

// Host copy of KCRS weights as KRSC ("OHWI", cuDNN's NHWC filter layout) with the input
// channels padded to `c_to` with zeros (c_to <= C: no padding).
std::vector<uint8_t> weightsChannelsLast(const void* w, const Dims& d, size_t elem, int64_t c_to);

// The most workspace a convolution tactic may take (its plans and the legacy algorithms alike).
inline constexpr int64_t kMaxConvWorkspace = int64_t{512} << 20;

// Tensor unique ids in the variant pack.
enum ConvUid : int64_t { kUidX = 1, kUidW = 2, kUidY = 3, kUidBias = 4, kUidZ = 5, kUidScale = 6, kUidZScale = 7 };

// The operation graph of a problem and plans built from it.
class ConvGraph {
 public:
  // Builds (and finalizes) the operation graph; kUnsupported where cuDNN refuses the pattern.
  Status build(cudnnHandle_t handle, const ConvProblem& p, Fusion fusion, const std::string& who);
  Fusion fusion() const { return fusion_; }

  // Engine configurations from the heuristics (mode A, then the fallback list; at most
  // `max_heuristic`), in order, without duplicates, filtered for the problem's numerics (strict
  // FP32: no tensor cores; no INT8x32-reordered filters); with `every_engine`, then every other
  // engine that needs no runtime compilation, with default knobs. `skip_compiled`: the heuristics'
  // runtime-compiled picks are left out too, but for the first configuration (QRT_CUDA_CONV_RTC=off).
  Status candidates(std::vector<Tactic>* out, size_t max_heuristic = 1000, bool every_engine = false,
                    bool skip_compiled = false);
  // The plan of one tactic; kUnsupported where it cannot be built for this graph.
  Status plan(const Tactic& t, BackendDesc* plan, int64_t* workspace) const;

 private:
  Status tacticOf(const BackendDesc& cfg, Tactic* t, bool* acceptable);
  bool numericsAcceptable(cudnnBackendDescriptor_t engine) const;
  bool compiles(cudnnBackendDescriptor_t engine) const;
  cudnnHandle_t handle_ = nullptr;
  ConvProblem p_;
  Fusion fusion_ = Fusion::kFull;
  std::string who_;
  std::deque<BackendDesc> tensors_;  // stable addresses while the graph is built
  std::vector<BackendDesc> ops_;
  BackendDesc conv_desc_;
  std::vector<BackendDesc> pw_descs_;
  BackendDesc graph_;
};

// A built plan with its variant pack, reused while the run's pointers stay the same (a
// variant pack is finalized with its pointers: rebuilding it allocates host memory).
class ConvPlan {
 public:
  Status build(cudnnHandle_t handle, const ConvGraph& g, const Tactic& t, const std::string& who);
  int64_t workspace() const { return workspace_; }
  // Queues the plan on the handle's stream.
  // `z_scale`: the per-channel multiplier after an int8 residual (ConvProblem::z_dtype).
  Status execute(const void* x, const void* w, const void* bias, const void* z, const void* scale, void* y, void* ws,
                 const void* z_scale = nullptr);
  bool built() const { return static_cast<bool>(plan_); }

 private:
  cudnnHandle_t handle_ = nullptr;
  std::string who_;
  BackendDesc plan_;
  int64_t workspace_ = 0;
  BackendDesc pack_;
  std::vector<const void*> pack_ptrs_;
  std::vector<int64_t> uids_;
};

// The problem of a Conv/FusedConv/QConv node at given shapes. `z_same`: the residual has y's
// shape and layout (a broadcasting residual stays in qrt's epilogue).
Result<ConvProblem> convProblem(const WindowAttrs& attrs, const EpilogueActivation& act, DataType dtype,
                                DataType out_dtype, bool nhwc, bool tf32, const Dims& x, const Dims& w, const Dims& y,
                                bool bias, bool z_same);

// The plan of a kernel at reshape: the stored tactic (`tactic_attr`, kAttrTactic's value) when
// it was chosen for these shapes, else the first plan of cuDNN's heuristics that builds, trying
// padOptions in order and the full epilogue before the convolution alone. kUnsupported where
// no plan builds (the caller may take the legacy API).
Status chooseConvPlan(cudnnHandle_t handle, const ConvProblem& p, const std::string& tactic_attr,
                      const std::string& who, ConvGraph* graph, ConvPlan* plan, Fusion* fusion, int64_t* pad_c);

// QConv's problem: int8 NHWC x and w, bias always (zeros when absent), the per-channel scale;
// with an int8 output the clip bounds are divided by y_scale (the graph folds 1/y_scale into
// the scale and the bias).
Result<ConvProblem> qconvProblem(const WindowAttrs& attrs, const EpilogueActivation& act, const Dims& x,
                                 const Dims& w, const Dims& y, DataType out_dtype, float y_scale, bool z_int8 = false);

// Times one queued unit of work (build-time tuner, conv_tactics.cpp): its GPU time in us.
using ConvTimer = std::function<Status(const std::function<Status()>& once, double* us)>;
// The views a candidate kernel is reshaped with at build time: the node's inputs at their IR
// dtypes and dims, their constant data where they are constants (null elsewhere; absent
// optional inputs stay undefined), and its output 0 (no data).
void candidateViews(const ir::Node& node, std::vector<TensorView>* in, std::vector<TensorView>* out);
// Times `k` (created for `node`) reshaped with candidateViews (its stored tactic, or what it is
// forced to) on scratch device data: `time` over its run.
Status timeOnScratch(const ir::Node& node, DeviceContext* dev, Kernel& k, const ConvTimer& time, double* us);
// The legacy API as a tactic candidate for a Conv/FusedConv node at its build shapes (constant
// weights from the IR, scratch data elsewhere): cuDNN's timed algorithm search, then `time` over
// the kernel's run; `tactic` is "legacy:a<algorithm>:f<fused>".
Status legacyConvCandidate(const ir::Node& node, DeviceContext* dev, const ConvTimer& time, std::string* tactic,
                           double* us);

// qrt's QConv (conv_int8.cpp); its line is in conv.cpp's table.
Result<std::unique_ptr<Kernel>> createQConv(const ir::Node& node, DeviceContext* dev);
// ConvTranspose (conv_transpose.cpp); its line is in conv.cpp's table.
Result<std::unique_ptr<Kernel>> createConvTranspose(const ir::Node& node, DeviceContext* dev);

// qrt's depthwise kernel (depthwise.cu) as a tactic candidate for a Conv/FusedConv node at its
// build shapes, timed like legacyConvCandidate; `tactic` is "dw". kUnsupported where the node
// is no depthwise convolution the kernel computes.
Status depthwiseConvCandidate(const ir::Node& node, DeviceContext* dev, const ConvTimer& time, std::string* tactic,
                              double* us);

// qrt's stem kernel (stem_conv.cu) likewise; `tactic` is "stem". kUnsupported where the node is
// no few-channel convolution the kernel computes.
Status stemConvCandidate(const ir::Node& node, DeviceContext* dev, const ConvTimer& time, std::string* tactic,
                         double* us);

// The cuBLASLt path of a pointwise Conv/FusedConv node (conv.cpp) likewise: up to 8 of cuBLASLt's
// heuristic algorithms timed, the fastest's `tactic` "lt:...". kUnsupported where the node is not
// a channels-last 1x1 stride-1 fp32/fp16 layer with a ReLU or no activation.
Status ltConvCandidate(const ir::Node& node, DeviceContext* dev, const ConvTimer& time, std::string* tactic,
                       double* us);

}  // namespace qrt::cuda
