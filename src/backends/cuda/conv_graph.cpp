#include "backends/cuda/conv_graph.h"

#include "core/logging.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>
#include <set>
#include <sstream>

namespace qrt::cuda {

namespace {

cudnnDataType_t cudnnType(DataType t) {
  switch (t) {
    case DataType::kHalf: return CUDNN_DATA_HALF;
    case DataType::kInt8: return CUDNN_DATA_INT8;
    case DataType::kInt32: return CUDNN_DATA_INT32;
    default: return CUDNN_DATA_FLOAT;
  }
}

// Strides of logical N C spatial... dims stored NCHW (packed) or channels-last.
std::vector<int64_t> stridesFor(const Dims& d, bool channels_last) {
  const size_t r = d.size();
  std::vector<int64_t> s(r, 1);
  if (!channels_last) {
    for (size_t i = r - 1; i > 0; --i) s[i - 1] = s[i] * d[i];
    return s;
  }
  // Order from outer to inner: N, spatial..., C.
  s[1] = 1;
  int64_t acc = d[1];
  for (size_t i = r - 1; i >= 2; --i) {
    s[i] = acc;
    acc *= d[i];
  }
  s[0] = acc;
  return s;
}

std::string join(const std::vector<int64_t>& v, char sep) {
  std::string s;
  for (size_t i = 0; i < v.size(); ++i) s += (i ? std::string(1, sep) : "") + std::to_string(v[i]);
  return s;
}

}  // namespace

Status BackendDesc::create(cudnnBackendDescriptorType_t type) {
  reset();
  return checkCudnn(cudnnBackendCreateDescriptor(type, &d_), "cudnnBackendCreateDescriptor(", static_cast<int>(type), ")");
}

Status BackendDesc::set(cudnnBackendAttributeName_t name, cudnnBackendAttributeType_t type, int64_t count, const void* v) {
  return checkCudnn(cudnnBackendSetAttribute(d_, name, type, count, v), "cudnnBackendSetAttribute(",
                    static_cast<int>(name), ")");
}

Status BackendDesc::finalize() { return checkCudnn(cudnnBackendFinalize(d_), "cudnnBackendFinalize"); }

std::string ConvProblem::signature() const {
  static const char* kActs[] = {"none", "relu", "leaky_relu", "clip", "sigmoid", "swish", "other"};
  std::ostringstream o;
  o << "conv " << dataTypeName(dtype) << ">" << dataTypeName(out_dtype) << (nhwc ? " nhwc" : " nchw")
    << (tf32 ? " tf32" : "") << " x=" << join(x, 'x') << " w=" << join(w, 'x') << " y=" << join(y, 'x')
    << " pad=" << join(pad_begin, ',') << "/" << join(pad_end, ',') << " s=" << join(strides, ',')
    << " d=" << join(dilations, ',') << " bias=" << bias << " z=" << z
    << (z && z_dtype != DataType::kUndefined ? std::string(":") + dataTypeName(z_dtype) : std::string())
    << " act=" << kActs[static_cast<int>(act)];
  if (act == Act::kLeakyRelu || act == Act::kClip) o << "(" << act_a << "," << act_b << ")";
  return o.str();
}

ConvProblem paddedProblem(const ConvProblem& p, int64_t c) {
  if (c <= 0 || c == p.x[1]) return p;
  ConvProblem q = p;
  q.x[1] = c;
  q.w[1] = c;
  return q;
}

std::vector<int64_t> padOptions(const ConvProblem& p) {
  const int64_t c = p.x[1];
  const bool group1 = p.w[1] == c;
  auto up = [&](int64_t m) { return (c + m - 1) / m * m; };
  if (p.dtype == DataType::kInt8) {
    std::vector<int64_t> v;
    if (c % 4 == 0) v.push_back(0);
    if (group1 && c % 4 != 0) v.push_back(up(4));
    if (group1 && c % 16 != 0) v.push_back(up(16));
    return v;
  }
  if (p.nhwc && group1 && p.dtype == DataType::kHalf && c % 8 != 0) return {0, up(8)};
  return {0};
}

void ChannelPad::plan(const Dims& x, int64_t to_channels, size_t elem_bytes) {
  to = to_channels;
  elem = elem_bytes;
  const int64_t c = x[1];
  int64_t pixels = x[0];
  for (size_t i = 2; i < x.size(); ++i) pixels *= x[i];
  bytes = static_cast<size_t>(pixels * to) * elem;
  copy = launch::StridedCopy{};
  copy.rank = 2;
  copy.dims[0] = pixels;
  copy.dims[1] = c;
  copy.src_strides[0] = c;
  copy.src_strides[1] = 1;
  copy.dst_strides[0] = to;
  copy.dst_strides[1] = 1;
}

void ChannelPad::run(const void* x, void* dst, cudaStream_t s) const {
  cudaMemsetAsync(dst, 0, bytes, s);
  launch::stridedCopy(x, dst, elem, copy, s);
}

std::vector<uint8_t> weightsChannelsLast(const void* w, const Dims& d, size_t elem, int64_t c_to) {
  const int64_t M = d[0], C = d[1], Cp = std::max(C, c_to);
  int64_t spatial = 1;
  for (size_t i = 2; i < d.size(); ++i) spatial *= d[i];
  std::vector<uint8_t> out(static_cast<size_t>(M * Cp * spatial) * elem, 0);
  const auto* src = static_cast<const uint8_t*>(w);
  for (int64_t m = 0; m < M; ++m)
    for (int64_t c = 0; c < C; ++c)
      for (int64_t k = 0; k < spatial; ++k)
        std::memcpy(&out[static_cast<size_t>((m * spatial + k) * Cp + c) * elem],
                    &src[static_cast<size_t>((m * C + c) * spatial + k) * elem], elem);
  return out;
}

std::string Tactic::str() const {
  std::string s = "f" + std::to_string(static_cast<int>(fusion)) + ":c" + std::to_string(pad_c) + ":e" +
                  std::to_string(engine) + ":k";
  for (size_t i = 0; i < knobs.size(); ++i)
    s += (i ? "," : "") + std::to_string(knobs[i].first) + "=" + std::to_string(knobs[i].second);
  return s;
}

bool Tactic::parse(const std::string& s, Tactic* t) {
  Tactic r;
  int f = 0;
  long long c = 0, e = 0;
  int used = 0;
  if (std::sscanf(s.c_str(), "f%d:c%lld:e%lld:k%n", &f, &c, &e, &used) != 3 || used == 0) return false;
  if (f < 0 || f > 1 || e < 0 || c < 0) return false;
  r.fusion = static_cast<Fusion>(f);
  r.pad_c = c;
  r.engine = e;
  std::string rest = s.substr(static_cast<size_t>(used));
  std::istringstream in(rest);
  std::string item;
  while (std::getline(in, item, ',')) {
    long long a = 0, b = 0;
    char extra = 0;
    if (std::sscanf(item.c_str(), "%lld=%lld%c", &a, &b, &extra) != 2) return false;
    r.knobs.emplace_back(a, b);
  }
  *t = std::move(r);
  return true;
}

Status ConvGraph::build(cudnnHandle_t handle, const ConvProblem& p, Fusion fusion, const std::string& who) {
  handle_ = handle;
  p_ = p;
  fusion_ = fusion;
  who_ = who;
  tensors_.clear();
  ops_.clear();
  pw_descs_.clear();
  const bool int8 = p.dtype == DataType::kInt8;
  const bool full = fusion == Fusion::kFull;
  int64_t next_virtual = 100;

  auto tensor = [&](int64_t uid, const Dims& dims, const std::vector<int64_t>& strides, DataType t,
                    bool is_virtual) -> Result<BackendDesc*> {
    BackendDesc d;
    QRT_RETURN_IF_ERROR(d.create(CUDNN_BACKEND_TENSOR_DESCRIPTOR));
    const cudnnDataType_t dt = cudnnType(t);
    const int64_t align = 16;
    const bool v = is_virtual;
    QRT_RETURN_IF_ERROR(d.set(CUDNN_ATTR_TENSOR_DATA_TYPE, CUDNN_TYPE_DATA_TYPE, 1, &dt));
    QRT_RETURN_IF_ERROR(d.setInts(CUDNN_ATTR_TENSOR_DIMENSIONS, std::vector<int64_t>(dims.begin(), dims.end())));
    QRT_RETURN_IF_ERROR(d.setInts(CUDNN_ATTR_TENSOR_STRIDES, strides));
    QRT_RETURN_IF_ERROR(d.setInt(CUDNN_ATTR_TENSOR_UNIQUE_ID, uid));
    QRT_RETURN_IF_ERROR(d.setInt(CUDNN_ATTR_TENSOR_BYTE_ALIGNMENT, align));
    QRT_RETURN_IF_ERROR(d.set(CUDNN_ATTR_TENSOR_IS_VIRTUAL, CUDNN_TYPE_BOOLEAN, 1, &v));
    QRT_RETURN_IF_ERROR(d.finalize());
    tensors_.push_back(std::move(d));
    return &tensors_.back();
  };
  const std::vector<int64_t> y_strides = stridesFor(p.y, p.nhwc);
  QRT_ASSIGN_OR_RETURN(BackendDesc * x, tensor(kUidX, p.x, stridesFor(p.x, p.nhwc), p.dtype, false));
  QRT_ASSIGN_OR_RETURN(BackendDesc * w, tensor(kUidW, p.w, stridesFor(p.w, p.nhwc), p.dtype, false));

  // The pointwise chain after the convolution, in qrt's order: scale (INT8), bias, residual,
  // activation. hard_swish and hard_sigmoid have no cuDNN pointwise mode: conv-only for them.
  struct Pw {
    cudnnPointwiseMode_t mode;
    int64_t b_uid;  // 0: unary
    bool channel;   // b is [1, M, 1, 1]
  };
  std::vector<Pw> chain;
  if (full) {
    if (p.act == ConvProblem::Act::kOther) return unsupported(who, ": the activation has no cuDNN pointwise mode");
    if (int8) chain.push_back({CUDNN_POINTWISE_MUL, kUidScale, true});
    if (p.bias) chain.push_back({CUDNN_POINTWISE_ADD, kUidBias, true});
    if (p.z) chain.push_back({CUDNN_POINTWISE_ADD, kUidZ, false});
    // QConv's int8 residual: scale and bias were divided by z_scale, so that z_q is added as is
    // (an int8 tensor into the fp32 chain); this brings the sum back to y / y_scale.
    if (p.z && int8 && p.z_dtype == DataType::kInt8) chain.push_back({CUDNN_POINTWISE_MUL, kUidZScale, true});
    switch (p.act) {
      case ConvProblem::Act::kNone: break;
      case ConvProblem::Act::kRelu:
      case ConvProblem::Act::kLeakyRelu:
      case ConvProblem::Act::kClip: chain.push_back({CUDNN_POINTWISE_RELU_FWD, 0, false}); break;
      case ConvProblem::Act::kSigmoid: chain.push_back({CUDNN_POINTWISE_SIGMOID_FWD, 0, false}); break;
      case ConvProblem::Act::kSwish: chain.push_back({CUDNN_POINTWISE_SWISH_FWD, 0, false}); break;
      case ConvProblem::Act::kOther: break;
    }
  }
  // Conv-only INT8 writes the int32 accumulators as float (exact below 2^24) for qrt's epilogue.
  const DataType conv_out = chain.empty() ? (int8 ? DataType::kFloat : p.out_dtype) : DataType::kFloat;
  QRT_ASSIGN_OR_RETURN(BackendDesc * conv_y,
                       tensor(chain.empty() ? kUidY : next_virtual++, p.y, y_strides, conv_out, !chain.empty()));

  QRT_RETURN_IF_ERROR(conv_desc_.create(CUDNN_BACKEND_CONVOLUTION_DESCRIPTOR));
  {
    const cudnnDataType_t comp = int8 ? CUDNN_DATA_INT32 : CUDNN_DATA_FLOAT;
    const cudnnConvolutionMode_t mode = CUDNN_CROSS_CORRELATION;
    QRT_RETURN_IF_ERROR(conv_desc_.set(CUDNN_ATTR_CONVOLUTION_COMP_TYPE, CUDNN_TYPE_DATA_TYPE, 1, &comp));
    QRT_RETURN_IF_ERROR(conv_desc_.set(CUDNN_ATTR_CONVOLUTION_CONV_MODE, CUDNN_TYPE_CONVOLUTION_MODE, 1, &mode));
    QRT_RETURN_IF_ERROR(conv_desc_.setInt(CUDNN_ATTR_CONVOLUTION_SPATIAL_DIMS, static_cast<int64_t>(p.strides.size())));
    QRT_RETURN_IF_ERROR(conv_desc_.setInts(CUDNN_ATTR_CONVOLUTION_DILATIONS, p.dilations));
    QRT_RETURN_IF_ERROR(conv_desc_.setInts(CUDNN_ATTR_CONVOLUTION_FILTER_STRIDES, p.strides));
    QRT_RETURN_IF_ERROR(conv_desc_.setInts(CUDNN_ATTR_CONVOLUTION_PRE_PADDINGS, p.pad_begin));
    QRT_RETURN_IF_ERROR(conv_desc_.setInts(CUDNN_ATTR_CONVOLUTION_POST_PADDINGS, p.pad_end));
    QRT_RETURN_IF_ERROR(conv_desc_.finalize());
  }
  {
    BackendDesc op;
    QRT_RETURN_IF_ERROR(op.create(CUDNN_BACKEND_OPERATION_CONVOLUTION_FORWARD_DESCRIPTOR));
    const float alpha = 1.f, beta = 0.f;
    QRT_RETURN_IF_ERROR(op.set(CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_ALPHA, CUDNN_TYPE_FLOAT, 1, &alpha));
    QRT_RETURN_IF_ERROR(op.set(CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_BETA, CUDNN_TYPE_FLOAT, 1, &beta));
    QRT_RETURN_IF_ERROR(op.setDesc(CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_CONV_DESC, conv_desc_));
    QRT_RETURN_IF_ERROR(op.setDesc(CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_X, *x));
    QRT_RETURN_IF_ERROR(op.setDesc(CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_W, *w));
    QRT_RETURN_IF_ERROR(op.setDesc(CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_Y, *conv_y));
    QRT_RETURN_IF_ERROR(op.finalize());
    ops_.push_back(std::move(op));
  }

  Dims channel_dims(p.y.size(), 1);
  channel_dims[1] = p.y[1];
  const std::vector<int64_t> channel_strides = stridesFor(channel_dims, false);
  BackendDesc* cur = conv_y;
  pw_descs_.reserve(chain.size());
  for (size_t i = 0; i < chain.size(); ++i) {
    const Pw& pw = chain[i];
    const bool last = i + 1 == chain.size();
    BackendDesc pd;
    QRT_RETURN_IF_ERROR(pd.create(CUDNN_BACKEND_POINTWISE_DESCRIPTOR));
    const cudnnDataType_t prec = CUDNN_DATA_FLOAT;
    QRT_RETURN_IF_ERROR(pd.set(CUDNN_ATTR_POINTWISE_MODE, CUDNN_TYPE_POINTWISE_MODE, 1, &pw.mode));
    QRT_RETURN_IF_ERROR(pd.set(CUDNN_ATTR_POINTWISE_MATH_PREC, CUDNN_TYPE_DATA_TYPE, 1, &prec));
    if (pw.mode == CUDNN_POINTWISE_RELU_FWD) {
      if (p.act == ConvProblem::Act::kLeakyRelu) {
        const float slope = p.act_a;
        QRT_RETURN_IF_ERROR(pd.set(CUDNN_ATTR_POINTWISE_RELU_LOWER_CLIP_SLOPE, CUDNN_TYPE_FLOAT, 1, &slope));
      } else if (p.act == ConvProblem::Act::kClip) {
        const float lo = std::max(p.act_a, -std::numeric_limits<float>::max());
        const float hi = std::min(p.act_b, std::numeric_limits<float>::max());
        QRT_RETURN_IF_ERROR(pd.set(CUDNN_ATTR_POINTWISE_RELU_LOWER_CLIP, CUDNN_TYPE_FLOAT, 1, &lo));
        QRT_RETURN_IF_ERROR(pd.set(CUDNN_ATTR_POINTWISE_RELU_UPPER_CLIP, CUDNN_TYPE_FLOAT, 1, &hi));
      }
    } else if (pw.mode == CUDNN_POINTWISE_SWISH_FWD) {
      const float beta = 1.f;
      QRT_RETURN_IF_ERROR(pd.set(CUDNN_ATTR_POINTWISE_SWISH_BETA, CUDNN_TYPE_FLOAT, 1, &beta));
    }
    QRT_RETURN_IF_ERROR(pd.finalize());
    pw_descs_.push_back(std::move(pd));

    BackendDesc* b = nullptr;
    if (pw.b_uid) {
      const DataType z_t = p.z_dtype != DataType::kUndefined ? p.z_dtype : p.out_dtype;
      const DataType bt = pw.b_uid == kUidZ ? z_t : (int8 ? DataType::kFloat : p.dtype);
      QRT_ASSIGN_OR_RETURN(b, tensor(pw.b_uid, pw.channel ? channel_dims : p.y,
                                     pw.channel ? channel_strides : y_strides, bt, false));
    }
    BackendDesc* out = nullptr;
    QRT_ASSIGN_OR_RETURN(out, tensor(last ? kUidY : next_virtual++, p.y, y_strides,
                                     last ? p.out_dtype : DataType::kFloat, !last));
    BackendDesc op;
    QRT_RETURN_IF_ERROR(op.create(CUDNN_BACKEND_OPERATION_POINTWISE_DESCRIPTOR));
    QRT_RETURN_IF_ERROR(op.setDesc(CUDNN_ATTR_OPERATION_POINTWISE_PW_DESCRIPTOR, pw_descs_.back()));
    QRT_RETURN_IF_ERROR(op.setDesc(CUDNN_ATTR_OPERATION_POINTWISE_XDESC, *cur));
    if (b) QRT_RETURN_IF_ERROR(op.setDesc(CUDNN_ATTR_OPERATION_POINTWISE_BDESC, *b));
    QRT_RETURN_IF_ERROR(op.setDesc(CUDNN_ATTR_OPERATION_POINTWISE_YDESC, *out));
    QRT_RETURN_IF_ERROR(op.finalize());
    ops_.push_back(std::move(op));
    cur = out;
  }

  QRT_RETURN_IF_ERROR(graph_.create(CUDNN_BACKEND_OPERATIONGRAPH_DESCRIPTOR));
  std::vector<cudnnBackendDescriptor_t> ops;
  for (const BackendDesc& o : ops_) ops.push_back(o.get());
  QRT_RETURN_IF_ERROR(graph_.set(CUDNN_ATTR_OPERATIONGRAPH_HANDLE, CUDNN_TYPE_HANDLE, 1, &handle_));
  QRT_RETURN_IF_ERROR(graph_.set(CUDNN_ATTR_OPERATIONGRAPH_OPS, CUDNN_TYPE_BACKEND_DESCRIPTOR,
                                 static_cast<int64_t>(ops.size()), ops.data()));
  Status s = graph_.finalize();
  if (!s.ok()) return Status(StatusCode::kUnsupported, who + ": cuDNN graph: " + s.message());
  return Status::Ok();
}

bool ConvGraph::numericsAcceptable(cudnnBackendDescriptor_t engine) const {
  // Engines that need the filter or bias reordered (INT8x32) compute garbage from plain KRSC data.
  cudnnBackendBehaviorNote_t behavior[CUDNN_BEHAVIOR_NOTE_TYPE_COUNT];
  int64_t n_behavior = 0;
  if (cudnnBackendGetAttribute(engine, CUDNN_ATTR_ENGINE_BEHAVIOR_NOTE, CUDNN_TYPE_BEHAVIOR_NOTE,
                               CUDNN_BEHAVIOR_NOTE_TYPE_COUNT, &n_behavior, behavior) == CUDNN_STATUS_SUCCESS)
    for (int64_t i = 0; i < n_behavior; ++i)
      if (behavior[i] == CUDNN_BEHAVIOR_NOTE_REQUIRES_FILTER_INT8x32_REORDER ||
          behavior[i] == CUDNN_BEHAVIOR_NOTE_REQUIRES_BIAS_INT8x32_REORDER)
        return false;
  cudnnBackendNumericalNote_t notes[CUDNN_NUMERICAL_NOTE_TYPE_COUNT];
  int64_t n_notes = 0;
  if (cudnnBackendGetAttribute(engine, CUDNN_ATTR_ENGINE_NUMERICAL_NOTE, CUDNN_TYPE_NUMERICAL_NOTE,
                               CUDNN_NUMERICAL_NOTE_TYPE_COUNT, &n_notes, notes) != CUDNN_STATUS_SUCCESS)
    return true;
  const bool strict = p_.dtype == DataType::kFloat && !p_.tf32;
  for (int64_t i = 0; i < n_notes; ++i) {
    // Strict FP32: no tensor cores (TF32) and no down-conversion; no reduced-precision
    // accumulation anywhere (FP16 accumulates in FP32 as the legacy path did).
    if (strict && (notes[i] == CUDNN_NUMERICAL_NOTE_TENSOR_CORE || notes[i] == CUDNN_NUMERICAL_NOTE_DOWN_CONVERT_INPUTS))
      return false;
    if (notes[i] == CUDNN_NUMERICAL_NOTE_REDUCED_PRECISION_REDUCTION) return false;
  }
  return true;
}

// Runtime-compiled engines (NVRTC at plan build) cost ~0.1-1 s each to try: only the
// heuristics' picks are tried among them.
bool ConvGraph::compiles(cudnnBackendDescriptor_t engine) const {
  cudnnBackendBehaviorNote_t behavior[CUDNN_BEHAVIOR_NOTE_TYPE_COUNT];
  int64_t n = 0;
  if (cudnnBackendGetAttribute(engine, CUDNN_ATTR_ENGINE_BEHAVIOR_NOTE, CUDNN_TYPE_BEHAVIOR_NOTE,
                               CUDNN_BEHAVIOR_NOTE_TYPE_COUNT, &n, behavior) != CUDNN_STATUS_SUCCESS)
    return true;
  for (int64_t i = 0; i < n; ++i)
    if (behavior[i] == CUDNN_BEHAVIOR_NOTE_RUNTIME_COMPILATION) return true;
  return false;
}

Status ConvGraph::tacticOf(const BackendDesc& cfg, Tactic* t, bool* acceptable) {
  *acceptable = true;
  BackendDesc engine;
  QRT_RETURN_IF_ERROR(engine.create(CUDNN_BACKEND_ENGINE_DESCRIPTOR));
  int64_t n = 0;
  cudnnBackendDescriptor_t e = engine.get();
  QRT_RETURN_IF_ERROR(checkCudnn(
      cudnnBackendGetAttribute(cfg.get(), CUDNN_ATTR_ENGINECFG_ENGINE, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &n, &e), who_,
      ": engine of a configuration"));
  QRT_RETURN_IF_ERROR(checkCudnn(
      cudnnBackendGetAttribute(e, CUDNN_ATTR_ENGINE_GLOBAL_INDEX, CUDNN_TYPE_INT64, 1, &n, &t->engine), who_,
      ": engine index"));
  *acceptable = numericsAcceptable(e);
  t->compiled = compiles(e);
  std::vector<BackendDesc> knobs(CUDNN_KNOB_TYPE_COUNTS);
  std::vector<cudnnBackendDescriptor_t> kp;
  for (BackendDesc& k : knobs) {
    QRT_RETURN_IF_ERROR(k.create(CUDNN_BACKEND_KNOB_CHOICE_DESCRIPTOR));
    kp.push_back(k.get());
  }
  int64_t n_knobs = 0;
  QRT_RETURN_IF_ERROR(checkCudnn(cudnnBackendGetAttribute(cfg.get(), CUDNN_ATTR_ENGINECFG_KNOB_CHOICES,
                                                          CUDNN_TYPE_BACKEND_DESCRIPTOR, static_cast<int64_t>(kp.size()),
                                                          &n_knobs, kp.data()),
                                 who_, ": knob choices"));
  t->knobs.clear();
  for (int64_t i = 0; i < n_knobs; ++i) {
    cudnnBackendKnobType_t type;
    int64_t value = 0, c = 0;
    QRT_RETURN_IF_ERROR(checkCudnn(
        cudnnBackendGetAttribute(kp[i], CUDNN_ATTR_KNOB_CHOICE_KNOB_TYPE, CUDNN_TYPE_KNOB_TYPE, 1, &c, &type), who_));
    QRT_RETURN_IF_ERROR(checkCudnn(
        cudnnBackendGetAttribute(kp[i], CUDNN_ATTR_KNOB_CHOICE_KNOB_VALUE, CUDNN_TYPE_INT64, 1, &c, &value), who_));
    t->knobs.emplace_back(static_cast<int64_t>(type), value);
  }
  std::sort(t->knobs.begin(), t->knobs.end());
  t->fusion = fusion_;
  return Status::Ok();
}

Status ConvGraph::candidates(std::vector<Tactic>* out, size_t max_heuristic, bool every_engine, bool skip_compiled) {
  const size_t start = out->size();
  std::set<std::string> seen;
  for (const std::string& t : [&] {
         std::vector<std::string> v;
         for (const Tactic& x : *out) v.push_back(x.str());
         return v;
       }())
    seen.insert(t);
  for (cudnnBackendHeurMode_t mode : {CUDNN_HEUR_MODE_A, CUDNN_HEUR_MODE_FALLBACK}) {
    BackendDesc heur;
    QRT_RETURN_IF_ERROR(heur.create(CUDNN_BACKEND_ENGINEHEUR_DESCRIPTOR));
    QRT_RETURN_IF_ERROR(heur.setDesc(CUDNN_ATTR_ENGINEHEUR_OPERATION_GRAPH, graph_));
    QRT_RETURN_IF_ERROR(heur.set(CUDNN_ATTR_ENGINEHEUR_MODE, CUDNN_TYPE_HEUR_MODE, 1, &mode));
    if (!heur.finalize().ok()) continue;  // no heuristic of this mode for the graph
    int64_t count = 0;
    if (cudnnBackendGetAttribute(heur.get(), CUDNN_ATTR_ENGINEHEUR_RESULTS, CUDNN_TYPE_BACKEND_DESCRIPTOR, 0, &count,
                                 nullptr) != CUDNN_STATUS_SUCCESS ||
        count <= 0)
      continue;
    std::vector<BackendDesc> cfgs(static_cast<size_t>(count));
    std::vector<cudnnBackendDescriptor_t> cp;
    for (BackendDesc& c : cfgs) {
      QRT_RETURN_IF_ERROR(c.create(CUDNN_BACKEND_ENGINECFG_DESCRIPTOR));
      cp.push_back(c.get());
    }
    int64_t got = 0;
    if (cudnnBackendGetAttribute(heur.get(), CUDNN_ATTR_ENGINEHEUR_RESULTS, CUDNN_TYPE_BACKEND_DESCRIPTOR, count, &got,
                                 cp.data()) != CUDNN_STATUS_SUCCESS)
      continue;
    for (int64_t i = 0; i < got; ++i) {
      Tactic t;
      bool ok = false;
      if (!tacticOf(cfgs[static_cast<size_t>(i)], &t, &ok).ok() || !ok) continue;
      if (out->size() - start >= max_heuristic) break;
      if (skip_compiled && t.compiled && out->size() > start) continue;
      if (seen.insert(t.str()).second) out->push_back(std::move(t));
    }
  }
  if (!every_engine) return Status::Ok();
  // Engines the heuristics did not name, with their default knobs: the timing decides (the
  // heuristics' order is not always the fastest, e.g. for conv1's 3 input channels).
  std::set<int64_t> named;
  for (size_t i = start; i < out->size(); ++i) named.insert((*out)[i].engine);
  int64_t count = 0, n = 0;
  if (cudnnBackendGetAttribute(graph_.get(), CUDNN_ATTR_OPERATIONGRAPH_ENGINE_GLOBAL_COUNT, CUDNN_TYPE_INT64, 1, &n,
                               &count) != CUDNN_STATUS_SUCCESS)
    return Status::Ok();
  for (int64_t e = 0; e < count; ++e) {
    if (named.count(e)) continue;
    BackendDesc engine;
    QRT_RETURN_IF_ERROR(engine.create(CUDNN_BACKEND_ENGINE_DESCRIPTOR));
    QRT_RETURN_IF_ERROR(engine.setDesc(CUDNN_ATTR_ENGINE_OPERATION_GRAPH, graph_));
    QRT_RETURN_IF_ERROR(engine.setInt(CUDNN_ATTR_ENGINE_GLOBAL_INDEX, e));
    if (!engine.finalize().ok() || !numericsAcceptable(engine.get()) || compiles(engine.get())) continue;
    Tactic t;
    t.fusion = fusion_;
    t.engine = e;
    if (seen.insert(t.str()).second) out->push_back(std::move(t));
  }
  return Status::Ok();
}

Status ConvGraph::plan(const Tactic& t, BackendDesc* plan, int64_t* workspace) const {
  auto refuse = [&](const Status& s) { return Status(StatusCode::kUnsupported, who_ + ": tactic " + t.str() + ": " + s.message()); };
  BackendDesc engine;
  QRT_RETURN_IF_ERROR(engine.create(CUDNN_BACKEND_ENGINE_DESCRIPTOR));
  QRT_RETURN_IF_ERROR(engine.setDesc(CUDNN_ATTR_ENGINE_OPERATION_GRAPH, graph_));
  QRT_RETURN_IF_ERROR(engine.setInt(CUDNN_ATTR_ENGINE_GLOBAL_INDEX, t.engine));
  if (Status s = engine.finalize(); !s.ok()) return refuse(s);
  std::vector<BackendDesc> knobs(t.knobs.size());
  std::vector<cudnnBackendDescriptor_t> kp;
  for (size_t i = 0; i < t.knobs.size(); ++i) {
    const auto type = static_cast<cudnnBackendKnobType_t>(t.knobs[i].first);
    QRT_RETURN_IF_ERROR(knobs[i].create(CUDNN_BACKEND_KNOB_CHOICE_DESCRIPTOR));
    QRT_RETURN_IF_ERROR(knobs[i].set(CUDNN_ATTR_KNOB_CHOICE_KNOB_TYPE, CUDNN_TYPE_KNOB_TYPE, 1, &type));
    QRT_RETURN_IF_ERROR(knobs[i].setInt(CUDNN_ATTR_KNOB_CHOICE_KNOB_VALUE, t.knobs[i].second));
    if (Status s = knobs[i].finalize(); !s.ok()) return refuse(s);
    kp.push_back(knobs[i].get());
  }
  BackendDesc cfg;
  QRT_RETURN_IF_ERROR(cfg.create(CUDNN_BACKEND_ENGINECFG_DESCRIPTOR));
  QRT_RETURN_IF_ERROR(cfg.setDesc(CUDNN_ATTR_ENGINECFG_ENGINE, engine));
  if (!kp.empty())
    QRT_RETURN_IF_ERROR(cfg.set(CUDNN_ATTR_ENGINECFG_KNOB_CHOICES, CUDNN_TYPE_BACKEND_DESCRIPTOR,
                                static_cast<int64_t>(kp.size()), kp.data()));
  if (Status s = cfg.finalize(); !s.ok()) return refuse(s);
  QRT_RETURN_IF_ERROR(plan->create(CUDNN_BACKEND_EXECUTION_PLAN_DESCRIPTOR));
  cudnnHandle_t h = handle_;
  QRT_RETURN_IF_ERROR(plan->set(CUDNN_ATTR_EXECUTION_PLAN_HANDLE, CUDNN_TYPE_HANDLE, 1, &h));
  QRT_RETURN_IF_ERROR(plan->setDesc(CUDNN_ATTR_EXECUTION_PLAN_ENGINE_CONFIG, cfg));
  if (Status s = plan->finalize(); !s.ok()) return refuse(s);
  int64_t n = 0;
  QRT_RETURN_IF_ERROR(checkCudnn(
      cudnnBackendGetAttribute(plan->get(), CUDNN_ATTR_EXECUTION_PLAN_WORKSPACE_SIZE, CUDNN_TYPE_INT64, 1, &n, workspace),
      who_, ": plan workspace"));
  return Status::Ok();
}

Status ConvPlan::build(cudnnHandle_t handle, const ConvGraph& g, const Tactic& t, const std::string& who) {
  handle_ = handle;
  who_ = who;
  pack_.reset();
  pack_ptrs_.clear();
  return g.plan(t, &plan_, &workspace_);
}

Status ConvPlan::execute(const void* x, const void* w, const void* bias, const void* z, const void* scale, void* y,
                         void* ws, const void* z_scale) {
  const void* ptrs[] = {x, w, y, bias, z, scale, z_scale, ws};
  const bool same = pack_ && pack_ptrs_.size() == 8 && std::equal(pack_ptrs_.begin(), pack_ptrs_.end(), ptrs);
  if (!same) {
    // Only the pointers the graph has tensors for: x, w, y always; bias, z, scales when given.
    uids_.clear();
    std::vector<void*> data;
    const int64_t ids[] = {kUidX, kUidW, kUidY, kUidBias, kUidZ, kUidScale, kUidZScale};
    for (int i = 0; i < 7; ++i)
      if (ptrs[i]) {
        uids_.push_back(ids[i]);
        data.push_back(const_cast<void*>(ptrs[i]));
      }
    QRT_RETURN_IF_ERROR(pack_.create(CUDNN_BACKEND_VARIANT_PACK_DESCRIPTOR));
    QRT_RETURN_IF_ERROR(pack_.setInts(CUDNN_ATTR_VARIANT_PACK_UNIQUE_IDS, uids_));
    QRT_RETURN_IF_ERROR(pack_.set(CUDNN_ATTR_VARIANT_PACK_DATA_POINTERS, CUDNN_TYPE_VOID_PTR,
                                  static_cast<int64_t>(data.size()), data.data()));
    void* wsp = ws;
    QRT_RETURN_IF_ERROR(pack_.set(CUDNN_ATTR_VARIANT_PACK_WORKSPACE, CUDNN_TYPE_VOID_PTR, 1, &wsp));
    QRT_RETURN_IF_ERROR(pack_.finalize());
    pack_ptrs_.assign(ptrs, ptrs + 8);
  }
  return checkCudnn(cudnnBackendExecute(handle_, plan_.get(), pack_.get()), who_, ": cudnnBackendExecute");
}

Status chooseConvPlan(cudnnHandle_t handle, const ConvProblem& p, const std::string& tactic_attr,
                      const std::string& who, ConvGraph* graph, ConvPlan* plan, Fusion* fusion, int64_t* pad_c) {
  *pad_c = 0;
  const std::string sig = p.signature();
  if (!tactic_attr.empty() && tactic_attr.compare(0, sig.size() + 1, sig + "|") == 0) {
    Tactic t;
    if (!Tactic::parse(tactic_attr.substr(sig.size() + 1), &t)) {
      logWarning(who, ": unreadable stored tactic '", tactic_attr, "'; using cuDNN's heuristics");
    } else {
      Status s = graph->build(handle, paddedProblem(p, t.pad_c), t.fusion, who);
      if (s.ok()) s = plan->build(handle, *graph, t, who);
      if (s.ok()) {
        *fusion = t.fusion;
        *pad_c = t.pad_c;
        return Status::Ok();
      }
      logWarning(who, ": the stored tactic does not build here (", s.message(), "); using cuDNN's heuristics");
    }
  }
  Status last = unsupported(who, ": no cuDNN graph plan");
  // Without a build-time tactic: conv + bias + clip (ReLU6) as one graph gets no precompiled
  // fused engine; the heuristics' first pick ran MobileNetV2's FP16 1x1 expansions at 5-22 ms
  // each at batch 256 on an H100 (ReLU-fused ones of the same size: < 1 ms). The convolution
  // alone + qrt's epilogue kernel (one more pass over the output) is taken first for clip; the
  // tuner (conv_tactics.cpp) times both fusion levels.
  const bool conv_first = p.act == ConvProblem::Act::kClip && p.dtype != DataType::kInt8;  // INT8 clip plans are fast
  const Fusion order[2] = {conv_first ? Fusion::kConvOnly : Fusion::kFull,
                           conv_first ? Fusion::kFull : Fusion::kConvOnly};
  for (int64_t c : padOptions(p))
    for (Fusion f : order) {
      Status s = graph->build(handle, paddedProblem(p, c), f, who);
      if (!s.ok()) {
        if (s.code() != StatusCode::kUnsupported) return s;
        last = s;
        continue;
      }
      std::vector<Tactic> cands;
      QRT_RETURN_IF_ERROR(graph->candidates(&cands));
      for (Tactic t : cands) {
        t.pad_c = c;
        s = plan->build(handle, *graph, t, who);
        if (s.ok() && plan->workspace() <= kMaxConvWorkspace) {
          *fusion = f;
          *pad_c = c;
          return Status::Ok();
        }
        if (!s.ok()) last = s;
      }
    }
  return last.code() == StatusCode::kUnsupported ? last : Status(StatusCode::kUnsupported, last.message());
}

}  // namespace qrt::cuda
