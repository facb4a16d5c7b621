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
// positions no input reaches. Where cuDNN has no NHWC algorithm for a channels-last node, it
// runs NCHW between two layout copies (the output copy doubles as the crop). The bias is qrt's
// epilogue kernel.
//
// The algorithm: cuDNN's timed search (cudnnFindConvolutionBackwardDataAlgorithmEx) on scratch
// data at reshape (the fastest algorithm whose output there matches the heuristic's pick), or its
// heuristic with QRT_CUDA_TACTICS=heuristic. Left for later: a GEMM
// tactic for kernel == stride without pads (PP-OCR's 2x2 stride-2 upsampling: one cuBLASLt
// GEMM [N*H*W, C] x [C, M*kh*kw] and a scatter), and build-time storage of the choice.
#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>

#include "backends/cuda/conv_graph.h"
#include "backends/cuda/tactic_timer.h"
#include "core/logging.h"
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
    channels_last_ = nhwc_ && x.size() == 4;
    if (nhwc_ && !channels_last_) return internalError(who_, ": channels-last needs a 2-D ConvTranspose");
    if (channels_last_ && !in[1].data) return unsupported(who_, ": channels-last ConvTranspose needs constant weights");
    const Dims& y = out[0].dims;
    channels_ = y[1];
    inner_ = 1;
    for (size_t i = 2; i < y.size(); ++i) inner_ *= y[i];
    out_numel_ = out[0].numel();
    empty_ = out_numel_ == 0 || in[0].numel() == 0;
    if (empty_) return Status::Ok();
    QRT_RETURN_IF_ERROR(d_.create(who_));

    // cuDNN in the node's layout; where it has no NHWC algorithm for the shape (odd or grouped
    // channel counts), NCHW between two layout copies.
    Status s = plan(in, out, win, channels_last_);
    via_nchw_ = false;
    if (!s.ok() && channels_last_) {
      if (!plan(in, out, win, false).ok()) return s;
      via_nchw_ = true;
    } else {
      QRT_RETURN_IF_ERROR(s);
    }
    const size_t elem = dataTypeSize(dtype_);
    res_bytes_ = static_cast<size_t>(volume(res_dims_)) * elem;
    copy_out_ = crop_ || via_nchw_;
    if (copy_out_) out_copy_ = planCopy(res_dims_, cudnn_nhwc_, y, channels_last_, crop_ ? win.pad_begin : std::vector<int64_t>(win.rank, 0));
    if (via_nchw_) x_copy_ = planCopy(x, true, x, false, std::vector<int64_t>(win.rank, 0));
    x_bytes_ = via_nchw_ ? in[0].bytes() : 0;
    if (cudnn_nhwc_) {
      std::vector<uint8_t> krsc = weightsChannelsLast(in[1].data, w, elem, 0);
      QRT_RETURN_IF_ERROR(w_nhwc_.upload(krsc.data(), krsc.size(), who_));
    }
    return Status::Ok();
  }

  size_t workspaceBytes() const override {
    return 256 + alignUp(algo_bytes_) + (copy_out_ ? alignUp(res_bytes_) : 0) + alignUp(x_bytes_);
  }

  Status run(const std::vector<TensorView>& in, const std::vector<TensorView>& out, void* ws) override {
    if (empty_) return Status::Ok();
    ws = reinterpret_cast<void*>((reinterpret_cast<uintptr_t>(ws) + 255) / 256 * 256);  // the arena gives 64
    uint8_t* res = static_cast<uint8_t*>(ws) + alignUp(algo_bytes_);
    uint8_t* xn = res + (copy_out_ ? alignUp(res_bytes_) : 0);
    const size_t elem = dataTypeSize(dtype_);
    const void* x = in[0].data;
    if (via_nchw_) {
      launch::stridedCopy(x, xn, elem, x_copy_.copy, stream());
      x = xn;
    }
    const void* w = cudnn_nhwc_ ? w_nhwc_.get() : in[1].data;
    QRT_RETURN_IF_ERROR(backward(x, w, copy_out_ ? static_cast<void*>(res) : out[0].data, ws));
    if (copy_out_) {
      if (!out_copy_.covers)
        QRT_RETURN_IF_ERROR(checkCuda(cudaMemsetAsync(out[0].data, 0, out[0].bytes(), stream()), who_));
      if (out_copy_.any)
        launch::stridedCopy(res + out_copy_.src_off, static_cast<uint8_t*>(out[0].data) + out_copy_.dst_off, elem,
                            out_copy_.copy, stream());
    }
    if (has_bias_)
      launch::biasActivation(dtype_, out[0].data, in[2].data, nullptr, out_numel_, channels_, inner_, channels_last_,
                             false, launch::UnaryOp::kIdentity, 0.f, 0.f, stream());
    return launched();
  }

 private:
  // Descriptors and algorithm with cuDNN's tensors in NHWC (`nhwc`) or NCHW: directly into the
  // output where cuDNN's symmetric pads give exactly the node's output (checked through cuDNN's
  // own forward shape), else the uncropped result (res_dims_) for a crop.
  Status plan(const std::vector<TensorView>& in, const std::vector<TensorView>& out, const Window& win, bool nhwc) {
    cudnn_nhwc_ = nhwc;
    const Dims& x = in[0].dims;
    const Dims& w = in[1].dims;
    const Dims& y = out[0].dims;
    const size_t r = win.rank;
    std::vector<int64_t> pad(r, 0);
    bool direct = true;
    for (size_t i = 0; i < r; ++i) {
      direct = direct && win.pad_begin[i] == win.pad_end[i] && win.pad_begin[i] >= 0;
      pad[i] = win.pad_begin[i];
    }
    const std::vector<int64_t>& stride = win.strides;
    const std::vector<int64_t>& dil = win.dilations;
    const std::vector<int64_t> k(w.begin() + 2, w.end()), sp_in(x.begin() + 2, x.end()), sp_out(y.begin() + 2, y.end());
    Status s = direct ? describe(x, w, y, sp_in, sp_out, k, pad, stride, dil) : unsupported("crop");
    crop_ = !s.ok();
    res_dims_ = y;
    if (crop_) {
      // The uncropped extent: every input position's window, plus the positions the output
      // reaches beyond it (fewer than the stride, so cuDNN's forward shape still matches).
      std::vector<int64_t> full(r);
      for (size_t i = 0; i < r; ++i) {
        const int64_t base = (sp_in[i] - 1) * stride[i] + dil[i] * (k[i] - 1) + 1;
        const int64_t extra = std::clamp<int64_t>(sp_out[i] + win.pad_begin[i] - base, 0, stride[i] - 1);
        full[i] = base + extra;
        res_dims_[2 + i] = full[i];
      }
      QRT_RETURN_IF_ERROR(describe(x, w, res_dims_, sp_in, full, k, std::vector<int64_t>(r, 0), stride, dil));
    }
    return chooseAlgorithm(in[0].numel(), in[1].numel(), static_cast<size_t>(volume(res_dims_)));
  }

  Status describe(const Dims& x, const Dims& w, const Dims& y, std::vector<int64_t> sp_in, std::vector<int64_t> sp_out,
                  std::vector<int64_t> k, std::vector<int64_t> pad, std::vector<int64_t> stride,
                  std::vector<int64_t> dil) {
    if (sp_in.size() == 1) {  // 2-D with a unit height
      for (auto* v : {&sp_in, &sp_out, &k, &stride, &dil}) v->insert(v->begin(), 1);
      pad.insert(pad.begin(), 0);
    }
    const cudnnDataType_t dt = dtype_ == DataType::kHalf ? CUDNN_DATA_HALF : CUDNN_DATA_FLOAT;
    const cudnnTensorFormat_t fmt = cudnn_nhwc_ ? CUDNN_TENSOR_NHWC : CUDNN_TENSOR_NCHW;
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

  // A copy of `src` into `dst` (same N and C; each stored NHWC or NCHW) with dst[o] =
  // src[o + shift] along each spatial axis, over the positions both have.
  struct LayoutCopy {
    launch::StridedCopy copy;
    size_t src_off = 0, dst_off = 0;
    bool covers = true;  // every dst element written
    bool any = true;     // some
  };
  LayoutCopy planCopy(const Dims& src, bool src_nhwc, const Dims& dst, bool dst_nhwc,
                      const std::vector<int64_t>& shift) const {
    // Strides per logical axis (N, C, spatial...).
    auto logical = [](const Dims& d, bool nhwc) {
      std::vector<int64_t> st = stridesOf(d);
      if (nhwc && d.size() == 4) st = {d[1] * d[2] * d[3], 1, d[3] * d[1], d[1]};
      return st;
    };
    const std::vector<int64_t> ss = logical(src, src_nhwc), ds = logical(dst, dst_nhwc);
    std::vector<size_t> order(dst.size());
    for (size_t a = 0; a < order.size(); ++a) order[a] = a;
    if (dst_nhwc && dst.size() == 4) order = {0, 2, 3, 1};  // the destination's storage order
    LayoutCopy c;
    c.copy.rank = static_cast<int>(order.size());
    int64_t so = 0, dof = 0;
    for (size_t j = 0; j < order.size(); ++j) {
      const size_t a = order[j];
      const int64_t sh = a >= 2 ? shift[a - 2] : 0;
      const int64_t lo = std::max<int64_t>(0, -sh), hi = std::min<int64_t>(dst[a], src[a] - sh);
      if (hi <= lo) {
        c.any = c.covers = false;
        return c;
      }
      if (lo > 0 || hi < dst[a]) c.covers = false;
      c.copy.dims[j] = hi - lo;
      c.copy.src_strides[j] = ss[a];
      c.copy.dst_strides[j] = ds[a];
      so += (lo + sh) * ss[a];
      dof += lo * ds[a];
    }
    const size_t elem = dataTypeSize(dtype_);
    c.src_off = static_cast<size_t>(so) * elem;
    c.dst_off = static_cast<size_t>(dof) * elem;
    return c;
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

  bool acceptable(const cudnnConvolutionBwdDataAlgoPerf_t& p) const {
    if (p.status != CUDNN_STATUS_SUCCESS || p.memory > static_cast<size_t>(kMaxConvWorkspace)) return false;
    return !strictFp32() || p.mathType == CUDNN_FMA_MATH || p.mathType == CUDNN_DEFAULT_MATH;
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
      // The timed ranking is checked against the heuristic's pick on the same scratch data: the
      // fastest algorithm that agrees wins (a tuned PP-OCRv4 detector came out wrong on an H100
      // while the heuristic choices were right; see bench/gpu/NOTES.md).
      cudnnConvolutionBwdDataAlgoPerf_t heur[kMax];
      int n_heur = 0;
      QRT_RETURN_IF_ERROR(checkCudnn(cudnnGetConvolutionBackwardDataAlgorithm_v7(dev_->cudnn, d_.w, d_.dy, d_.conv, d_.dx,
                                                                                 kMax, &n_heur, heur),
                                     who_, ": cudnnGetConvolutionBackwardDataAlgorithm_v7"));
      const cudnnConvolutionBwdDataAlgoPerf_t* ref = nullptr;
      for (int i = 0; i < n_heur && !ref; ++i)
        if (acceptable(heur[i])) ref = &heur[i];
      if (ref) {
        // Sampled (sampleOutput): reshape time stays bounded.
        auto output = [&](const cudnnConvolutionBwdDataAlgoPerf_t& a, std::vector<uint8_t>* out) {
          QRT_RETURN_IF_ERROR(checkCudnn(cudnnSetConvolutionMathType(d_.conv, strictFp32() ? CUDNN_FMA_MATH : a.mathType), who_));
          QRT_RETURN_IF_ERROR(checkCuda(cudaMemsetAsync(sy.get(), 0xFF, y_numel * elem, stream()), who_));  // NaN
          const float one = 1.f, zero = 0.f;
          QRT_RETURN_IF_ERROR(checkCudnn(cudnnConvolutionBackwardData(dev_->cudnn, &one, d_.w, sw.get(), d_.dy, sx.get(), d_.conv,
                                                                      a.algo, sws.get(), max_ws, &zero, d_.dx, sy.get()),
                                         who_, ": cudnnConvolutionBackwardData"));
          if (!sampleOutput(dev_, sy.get(), static_cast<int64_t>(y_numel), elem, out))
            return internalError(who_, ": reading a backward-data algorithm's output back");
          return Status::Ok();
        };
        const bool half = dtype_ == DataType::kHalf;
        std::vector<uint8_t> want, got;
        QRT_RETURN_IF_ERROR(output(*ref, &want));
        const double tol = strictFp32() ? 1e-4 : 1e-2;
        int kept = 0;
        for (int i = 0; i < returned; ++i) {
          if (!acceptable(perf[i]) || perf[i].algo == ref->algo) {
            perf[kept++] = perf[i];
            continue;
          }
          if (output(perf[i], &got).ok() && sampledRelativeError(got, want, half) <= tol) {
            perf[kept++] = perf[i];
          } else {
            cudaGetLastError();
            logWarning(who_, ": backward-data algorithm ", static_cast<int>(perf[i].algo),
                       " disagrees with the heuristic's algorithm ", static_cast<int>(ref->algo), "; not used");
          }
        }
        if (kept == 0) perf[kept++] = *ref;
        returned = kept;
      }
    } else {
      QRT_RETURN_IF_ERROR(checkCudnn(cudnnGetConvolutionBackwardDataAlgorithm_v7(dev_->cudnn, d_.w, d_.dy, d_.conv, d_.dx,
                                                                                 kMax, &returned, perf),
                                     who_, ": cudnnGetConvolutionBackwardDataAlgorithm_v7"));
    }
    for (int i = 0; i < returned; ++i) {
      const auto& p = perf[i];
      if (!acceptable(p)) continue;
      algo_ = p.algo;
      algo_bytes_ = p.memory;
      return checkCudnn(cudnnSetConvolutionMathType(d_.conv, strictFp32() ? CUDNN_FMA_MATH : p.mathType), who_);
    }
    return unsupported(who_, ": cuDNN offers no backward-data algorithm for this ConvTranspose (", dataTypeName(dtype_),
                       ")");
  }

  WindowAttrs attrs_;
  bool nhwc_, has_bias_;
  bool channels_last_ = false, cudnn_nhwc_ = false, via_nchw_ = false, empty_ = false, crop_ = false, copy_out_ = false;
  DataType dtype_ = DataType::kFloat;
  Descriptors d_;
  cudnnConvolutionBwdDataAlgo_t algo_ = CUDNN_CONVOLUTION_BWD_DATA_ALGO_1;
  size_t algo_bytes_ = 0, res_bytes_ = 0, x_bytes_ = 0;
  Dims res_dims_;  // what cuDNN writes: the output, or its uncropped extent
  LayoutCopy out_copy_, x_copy_;
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
