// ConvTranspose on cuDNN: the backward-data convolution of the forward convolution whose
// gradient it is (x of ConvTranspose is dy, its output is dx; W [C, M/group, k...] is the
// forward filter as is). FP32 (TF32 only when the engine allows it) and FP16, NCHW or, for
// nodes the builder marked channels-last (FP16 4-D with constant weights, layout.cpp), NHWC.
// 1-D is 2-D with a unit height; up to 3 spatial dims.
//
// cuDNN pads symmetrically and derives dx's extent from the forward convolution. Where the
// node's pads and output extent fit that (pads equal at both ends and >= 0; output_padding is
// then the extra dx rows cuDNN accepts, fewer than the stride), cuDNN writes the output
// directly. Otherwise (asymmetric or negative pads from auto_pad / output_shape) it writes the
// uncropped result (pads 0) into the workspace and a strided copy crops it, zero-filling output
// positions no input reaches. The bias is qrt's epilogue kernel.
//
// The algorithm: cuDNN's timed search (cudnnFindConvolutionBackwardDataAlgorithmEx) on scratch
// data at reshape, or its heuristic with QRT_CUDA_TACTICS=heuristic. Left for later: a GEMM
// tactic for kernel == stride without pads (PP-OCR's 2x2 stride-2 upsampling: one cuBLASLt
// GEMM [N*H*W, C] x [C, M*kh*kw] and a scatter), and build-time storage of the choice.
#include <algorithm>
#include <cstdlib>
#include <cstring>

#include "backends/cuda/conv_graph.h"
#include "core/tensor.h"
#include "ops/nn_params.h"

namespace qrt::cuda {

namespace {

size_t alignUp(size_t n) { return (n + 255) / 256 * 256; }

bool heuristicOnly() {
  const char* v = std::getenv("QRT_CUDA_TACTICS");
  return v && std::strcmp(v, "heuristic") == 0;
}

struct Descriptors {
  cudnnTensorDescriptor_t dy = nullptr, dx = nullptr;
  cudnnFilterDescriptor_t w = nullptr;
  cudnnConvolutionDescriptor_t conv = nullptr;
  Descriptors() = default;
  Descriptors(const Descriptors&) = delete;
  Descriptors& operator=(const Descriptors&) = delete;
  ~Descriptors() {
    if (dy) cudnnDestroyTensorDescriptor(dy);
    if (dx) cudnnDestroyTensorDescriptor(dx);
    if (w) cudnnDestroyFilterDescriptor(w);
    if (conv) cudnnDestroyConvolutionDescriptor(conv);
  }
  Status create(const std::string& who) {
    if (dy) return Status::Ok();
    QRT_RETURN_IF_ERROR(checkCudnn(cudnnCreateTensorDescriptor(&dy), who));
    QRT_RETURN_IF_ERROR(checkCudnn(cudnnCreateTensorDescriptor(&dx), who));
    QRT_RETURN_IF_ERROR(checkCudnn(cudnnCreateFilterDescriptor(&w), who));
    return checkCudnn(cudnnCreateConvolutionDescriptor(&conv), who);
  }
};

class ConvTransposeKernel final : public CudaKernel {
 public:
  ConvTransposeKernel(const ir::Node& n, DeviceContext* dev, WindowAttrs a)
      : CudaKernel(n, dev), attrs_(std::move(a)), nhwc_(channelsLast(n)), has_bias_(n.hasInput(2)) {}

  Status reshape(const std::vector<TensorView>& in, const std::vector<TensorView>& out) override {
    const Dims& x = in[0].dims;
    const Dims& w = in[1].dims;
    QRT_ASSIGN_OR_RETURN(Window win, convTransposeWindow(attrs_, x, w));
    if (win.rank < 1 || win.rank > 3) return unsupported(who_, ": the CUDA backend has ConvTranspose over 1 to 3 spatial dims");
    dtype_ = in[0].dtype;
    const size_t elem = dataTypeSize(dtype_);
    channels_last_ = nhwc_ && x.size() == 4;
    if (nhwc_ && !channels_last_) return internalError(who_, ": channels-last needs a 2-D ConvTranspose");
    if (channels_last_ && !in[1].data) return unsupported(who_, ": channels-last ConvTranspose needs constant weights");
    const Dims& y = out[0].dims;
    channels_ = y[1];
    inner_ = 1;
    for (size_t i = 2; i < y.size(); ++i) inner_ *= y[i];
    out_numel_ = out[0].numel();
    if (out_numel_ == 0 || in[0].numel() == 0) {
      empty_ = true;
      return Status::Ok();
    }
    empty_ = false;

    // Direct when cuDNN's symmetric pads give exactly the node's output (checked below through
    // cuDNN's own forward shape); else the uncropped result and a crop.
    const size_t r = win.rank;
    std::vector<int64_t> pad(r, 0), full(r);
    bool direct = true;
    for (size_t i = 0; i < r; ++i) {
      direct = direct && win.pad_begin[i] == win.pad_end[i] && win.pad_begin[i] >= 0;
      pad[i] = win.pad_begin[i];
    }
    std::vector<int64_t> stride = win.strides, dil = win.dilations, k(w.begin() + 2, w.end());
    std::vector<int64_t> sp_in(x.begin() + 2, x.end()), sp_out(y.begin() + 2, y.end());
    QRT_RETURN_IF_ERROR(d_.create(who_));
    Status s = direct ? describe(x, w, y, sp_in, sp_out, k, pad, stride, dil) : unsupported("crop");
    crop_ = !s.ok();
    if (crop_) {
      // The uncropped extent: every input position's window, plus the rows the output reaches
      // beyond it (fewer than the stride, so cuDNN's forward shape still matches).
      for (size_t i = 0; i < r; ++i) {
        const int64_t base = (sp_in[i] - 1) * stride[i] + dil[i] * (k[i] - 1) + 1;
        const int64_t extra = std::clamp<int64_t>(sp_out[i] + win.pad_begin[i] - base, 0, stride[i] - 1);
        full[i] = base + extra;
        pad[i] = 0;
      }
      Dims yf = y;
      for (size_t i = 0; i < r; ++i) yf[2 + i] = full[i];
      QRT_RETURN_IF_ERROR(describe(x, w, yf, sp_in, full, k, pad, stride, dil));
      full_bytes_ = static_cast<size_t>(volume(yf)) * elem;
      planCrop(yf, y, win.pad_begin);
    }
    if (channels_last_) {
      std::vector<uint8_t> krsc = weightsChannelsLast(in[1].data, w, elem, 0);
      QRT_RETURN_IF_ERROR(w_nhwc_.upload(krsc.data(), krsc.size(), who_));
    }
    return chooseAlgorithm(in[0].numel(), in[1].numel(), crop_ ? full_bytes_ / elem : static_cast<size_t>(out_numel_));
  }

  size_t workspaceBytes() const override { return 256 + alignUp(algo_bytes_) + (crop_ ? alignUp(full_bytes_) : 0); }

  Status run(const std::vector<TensorView>& in, const std::vector<TensorView>& out, void* ws) override {
    if (empty_) return Status::Ok();
    ws = reinterpret_cast<void*>((reinterpret_cast<uintptr_t>(ws) + 255) / 256 * 256);  // the arena gives 64
    const void* w = channels_last_ ? w_nhwc_.get() : in[1].data;
    void* dst = crop_ ? static_cast<uint8_t*>(ws) + alignUp(algo_bytes_) : out[0].data;
    QRT_RETURN_IF_ERROR(backward(in[0].data, w, dst, ws));
    if (crop_) {
      if (!crop_covers_)
        QRT_RETURN_IF_ERROR(checkCuda(cudaMemsetAsync(out[0].data, 0, out[0].bytes(), stream()), who_));
      if (crop_copy_.rank > 0)
        launch::stridedCopy(static_cast<const uint8_t*>(dst) + crop_src_off_,
                            static_cast<uint8_t*>(out[0].data) + crop_dst_off_, dataTypeSize(dtype_), crop_copy_,
                            stream());
    }
    if (has_bias_)
      launch::biasActivation(dtype_, out[0].data, in[2].data, nullptr, out_numel_, channels_, inner_, channels_last_,
                             false, launch::UnaryOp::kIdentity, 0.f, 0.f, stream());
    return launched();
  }

 private:
  Status describe(const Dims& x, const Dims& w, const Dims& y, std::vector<int64_t> sp_in, std::vector<int64_t> sp_out,
                  std::vector<int64_t> k, std::vector<int64_t> pad, std::vector<int64_t> stride,
                  std::vector<int64_t> dil) {
    if (sp_in.size() == 1) {  // 2-D with a unit height
      for (auto* v : {&sp_in, &sp_out, &k, &stride, &dil}) v->insert(v->begin(), 1);
      pad.insert(pad.begin(), 0);
    }
    const cudnnDataType_t dt = dtype_ == DataType::kHalf ? CUDNN_DATA_HALF : CUDNN_DATA_FLOAT;
    const cudnnTensorFormat_t fmt = channels_last_ ? CUDNN_TENSOR_NHWC : CUDNN_TENSOR_NCHW;
    auto ints = [](int64_t a, int64_t b, const std::vector<int64_t>& rest) {
      std::vector<int> v{static_cast<int>(a), static_cast<int>(b)};
      for (int64_t e : rest) v.push_back(static_cast<int>(e));
      return v;
    };
    auto to = [](const std::vector<int64_t>& v) { return std::vector<int>(v.begin(), v.end()); };
    const std::vector<int> dyd = ints(x[0], x[1], sp_in), dxd = ints(y[0], y[1], sp_out), wd = ints(w[0], w[1], k);
    const int nd = static_cast<int>(dyd.size());
    QRT_RETURN_IF_ERROR(checkCudnn(cudnnSetTensorNdDescriptorEx(d_.dy, fmt, dt, nd, dyd.data()), who_, ": input descriptor"));
    QRT_RETURN_IF_ERROR(checkCudnn(cudnnSetTensorNdDescriptorEx(d_.dx, fmt, dt, nd, dxd.data()), who_, ": output descriptor"));
    QRT_RETURN_IF_ERROR(checkCudnn(cudnnSetFilterNdDescriptor(d_.w, dt, fmt, nd, wd.data()), who_, ": filter descriptor"));
    QRT_RETURN_IF_ERROR(checkCudnn(cudnnSetConvolutionNdDescriptor(d_.conv, nd - 2, to(pad).data(), to(stride).data(),
                                                                   to(dil).data(), CUDNN_CROSS_CORRELATION,
                                                                   CUDNN_DATA_FLOAT),
                                   who_, ": convolution descriptor"));
    QRT_RETURN_IF_ERROR(checkCudnn(cudnnSetConvolutionGroupCount(d_.conv, static_cast<int>(attrs_.group)), who_));
    QRT_RETURN_IF_ERROR(checkCudnn(cudnnSetConvolutionMathType(d_.conv, mathType()), who_));
    // The forward convolution of the output must give the input's shape.
    std::vector<int> fwd(nd);
    QRT_RETURN_IF_ERROR(checkCudnn(cudnnGetConvolutionNdForwardOutputDim(d_.conv, d_.dx, d_.w, nd, fwd.data()), who_));
    if (fwd != dyd) return unsupported(who_, ": not cuDNN's backward-data shape");
    return Status::Ok();
  }

  // The crop: y[o] = full[o + pad_begin] over the overlap, in storage order.
  void planCrop(const Dims& yf, const Dims& y, const std::vector<int64_t>& pb) {
    auto phys = [&](const Dims& d) { return channels_last_ ? Dims{d[0], d[2], d[3], d[1]} : d; };
    const Dims pf = phys(yf), py = phys(y);
    const Dims sf = stridesOf(pf), sy = stridesOf(py);
    crop_copy_ = launch::StridedCopy{};
    crop_copy_.rank = static_cast<int>(py.size());
    int64_t src_off = 0, dst_off = 0;
    crop_covers_ = true;
    for (size_t a = 0; a < py.size(); ++a) {
      const size_t logical = channels_last_ ? (a == 0 ? 0 : a == py.size() - 1 ? 1 : a + 1) : a;
      int64_t lo = 0, hi = py[a], shift = 0;
      if (logical >= 2) {
        shift = pb[logical - 2];
        lo = std::max<int64_t>(0, -shift);
        hi = std::min<int64_t>(py[a], pf[a] - shift);
      }
      if (hi <= lo) {
        crop_copy_.rank = 0;  // nothing reaches the output: zeros (+ bias)
        crop_covers_ = false;
        return;
      }
      if (lo > 0 || hi < py[a]) crop_covers_ = false;
      crop_copy_.dims[a] = hi - lo;
      crop_copy_.src_strides[a] = sf[a];
      crop_copy_.dst_strides[a] = sy[a];
      src_off += (lo + shift) * sf[a];
      dst_off += lo * sy[a];
    }
    const size_t elem = dataTypeSize(dtype_);
    crop_src_off_ = static_cast<size_t>(src_off) * elem;
    crop_dst_off_ = static_cast<size_t>(dst_off) * elem;
  }

  Status backward(const void* x, const void* w, void* y, void* ws) {
    const float one = 1.f, zero = 0.f;
    return checkCudnn(cudnnConvolutionBackwardData(dev_->cudnn, &one, d_.w, w, d_.dy, x, d_.conv, algo_, ws, algo_bytes_,
                                                   &zero, d_.dx, y),
                      who_, ": cudnnConvolutionBackwardData");
  }

  bool strictFp32() const { return dtype_ == DataType::kFloat && !dev_->allow_tf32; }
  cudnnMathType_t mathType() const {
    if (dtype_ == DataType::kHalf) return CUDNN_TENSOR_OP_MATH;
    return dev_->allow_tf32 ? CUDNN_DEFAULT_MATH : CUDNN_FMA_MATH;
  }

  Status chooseAlgorithm(int64_t x_numel, int64_t w_numel, size_t y_numel) {
    constexpr int kMax = CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT;
    cudnnConvolutionBwdDataAlgoPerf_t perf[kMax];
    int returned = 0;
    const size_t elem = dataTypeSize(dtype_);
    const size_t max_ws = static_cast<size_t>(kMaxConvWorkspace);
    if (!heuristicOnly()) {
      DeviceBuffer sx, sw, sy, sws;
      QRT_RETURN_IF_ERROR(sx.reserve(static_cast<size_t>(x_numel) * elem, who_));
      QRT_RETURN_IF_ERROR(sw.reserve(static_cast<size_t>(w_numel) * elem, who_));
      QRT_RETURN_IF_ERROR(sy.reserve(y_numel * elem, who_));
      QRT_RETURN_IF_ERROR(sws.reserve(max_ws, who_));
      launch::fillPattern(dtype_, sx.get(), x_numel, stream());
      launch::fillPattern(dtype_, sw.get(), w_numel, stream());
      QRT_RETURN_IF_ERROR(launched());
      QRT_RETURN_IF_ERROR(checkCuda(cudaStreamSynchronize(stream()), who_));
      QRT_RETURN_IF_ERROR(checkCudnn(cudnnFindConvolutionBackwardDataAlgorithmEx(dev_->cudnn, d_.w, sw.get(), d_.dy,
                                                                                 sx.get(), d_.conv, d_.dx, sy.get(), kMax,
                                                                                 &returned, perf, sws.get(), max_ws),
                                     who_, ": cudnnFindConvolutionBackwardDataAlgorithmEx"));
    } else {
      QRT_RETURN_IF_ERROR(checkCudnn(cudnnGetConvolutionBackwardDataAlgorithm_v7(dev_->cudnn, d_.w, d_.dy, d_.conv, d_.dx,
                                                                                 kMax, &returned, perf),
                                     who_, ": cudnnGetConvolutionBackwardDataAlgorithm_v7"));
    }
    for (int i = 0; i < returned; ++i) {
      const auto& p = perf[i];
      if (p.status != CUDNN_STATUS_SUCCESS || p.memory > max_ws) continue;
      if (strictFp32() && p.mathType != CUDNN_FMA_MATH && p.mathType != CUDNN_DEFAULT_MATH) continue;
      algo_ = p.algo;
      algo_bytes_ = p.memory;
      return checkCudnn(cudnnSetConvolutionMathType(d_.conv, strictFp32() ? CUDNN_FMA_MATH : p.mathType), who_);
    }
    return unsupported(who_, ": cuDNN offers no backward-data algorithm for this ConvTranspose (", dataTypeName(dtype_),
                       ")");
  }

  WindowAttrs attrs_;
  bool nhwc_, has_bias_;
  bool channels_last_ = false, empty_ = false, crop_ = false, crop_covers_ = true;
  DataType dtype_ = DataType::kFloat;
  Descriptors d_;
  cudnnConvolutionBwdDataAlgo_t algo_ = CUDNN_CONVOLUTION_BWD_DATA_ALGO_1;
  size_t algo_bytes_ = 0, full_bytes_ = 0;
  launch::StridedCopy crop_copy_;
  size_t crop_src_off_ = 0, crop_dst_off_ = 0;
  DeviceBuffer w_nhwc_;
  int64_t channels_ = 0, inner_ = 0, out_numel_ = 0;
};

}  // namespace

Result<std::unique_ptr<Kernel>> createConvTranspose(const ir::Node& node, DeviceContext* dev) {
  QRT_ASSIGN_OR_RETURN(WindowAttrs a, readWindowAttrs(node));
  if (!node.hasInput(0) || !node.hasInput(1)) return invalidArgument(node.describe(), ": inputs X and W are required");
  if (node.inputs.size() > 3) return invalidArgument(node.describe(), ": ConvTranspose takes at most 3 inputs");
  for (size_t i = 1; i < node.inputs.size(); ++i)
    if (node.inputs[i] && node.inputs[i]->dtype != node.inputs[0]->dtype)
      return unsupported(node.describe(), ": the CUDA backend needs every input of one type");
  return makeKernel<ConvTransposeKernel>(node, dev, std::move(a));
}

}  // namespace qrt::cuda
