#include "backends/cpu/dnnl_util.h"

#include <omp.h>

#include <atomic>
#include <cstring>
#include <mutex>

#include "backends/cpu/layers.h"
#include "backends/reference/kernel_table.h"
#include "core/logging.h"
#include "core/threadpool.h"
#include "passes/channels_last.h"

namespace qrt::cpu {

Result<dnnl::engine> cpuEngine() {
  static const Result<dnnl::engine> engine = []() -> Result<dnnl::engine> {
    dnnl::engine e;
    Status s = dnnlTry("the oneDNN CPU engine", [&] { e = dnnl::engine(dnnl::engine::kind::cpu, 0); });
    if (!s.ok()) return s;
    return e;
  }();
  return engine;
}

void matchThreads() {
  int n = numThreads();
  if (omp_get_max_threads() != n) omp_set_num_threads(n);
}

dnnl::memory::dims toDnnl(const Dims& d) { return dnnl::memory::dims(d.begin(), d.end()); }

dnnl::memory::desc plainDesc(const dnnl::memory::dims& d, dnnl::memory::data_type t) {
  dnnl::memory::dims strides(d.size(), 1);
  for (size_t i = d.size(); i-- > 1;) strides[i - 1] = strides[i] * std::max<dnnl::memory::dim>(d[i], 1);
  return dnnl::memory::desc(d, t, strides);
}

dnnl::memory::desc nhwcDesc(const dnnl::memory::dims& d, dnnl::memory::data_type t) {
  // Strides of the dims in storage order N, spatial..., C.
  dnnl::memory::dims strides(d.size(), 1);
  auto dim = [&](size_t i) { return std::max<dnnl::memory::dim>(d[i], 1); };
  dnnl::memory::dim inner = dim(1);  // C is innermost
  for (size_t i = d.size(); i-- > 2;) {
    strides[i] = inner;
    inner *= dim(i);
  }
  strides[0] = inner;
  return dnnl::memory::desc(d, t, strides);
}

void parallelCopy(void* dst, const void* src, size_t bytes) {
  constexpr size_t kChunk = size_t{1} << 18;  // 256 KiB: small copies stay on the calling thread
  const int64_t chunks = static_cast<int64_t>((bytes + kChunk - 1) / kChunk);
  if (chunks <= 1) {
    std::memcpy(dst, src, bytes);
    return;
  }
  parallelFor(chunks, 1, [&](int64_t begin, int64_t end) {
    const size_t from = static_cast<size_t>(begin) * kChunk, to = std::min(bytes, static_cast<size_t>(end) * kChunk);
    std::memcpy(static_cast<unsigned char*>(dst) + from, static_cast<const unsigned char*>(src) + from, to - from);
  });
}

bool NhwcArgs::any() const {
  for (bool b : inputs)
    if (b) return true;
  for (bool b : outputs)
    if (b) return true;
  return false;
}

NhwcArgs nhwcArgs(const ir::Node& node) {
  NhwcArgs a;
  if (!passes::storedNhwc(node)) return a;
  for (const ir::Value* v : node.inputs) a.inputs.push_back(passes::isActivation4d(v));
  for (const ir::Value* v : node.outputs) a.outputs.push_back(passes::isActivation4d(v));
  return a;
}

bool sameLayout(const dnnl::memory::desc& a, const dnnl::memory::desc& b) {
  if (a == b) return true;
  const dnnl_memory_desc_t &x = a.data, &y = b.data;
  if (x.ndims != y.ndims || x.data_type != y.data_type || x.offset0 != y.offset0) return false;
  if (x.format_kind != dnnl_blocked || y.format_kind != dnnl_blocked) return false;
  if (x.format_desc.blocking.inner_nblks != 0 || y.format_desc.blocking.inner_nblks != 0) return false;
  for (int i = 0; i < x.ndims; ++i) {
    if (x.dims[i] != y.dims[i] || x.padded_dims[i] != y.padded_dims[i]) return false;
    if (x.dims[i] != 1 && x.format_desc.blocking.strides[i] != y.format_desc.blocking.strides[i]) return false;
  }
  return true;
}

dnnl::post_ops postOps(const Epilogue& e, bool sum) {
  dnnl::post_ops ops;
  if (sum) ops.append_sum(1.f);
  for (const Epilogue::Eltwise& step : e.eltwise) ops.append_eltwise(1.f, step.alg, step.alpha, step.beta);
  return ops;
}

// ---- BoundPrimitive ----

dnnl::primitive_attr userScratchpad() {
  dnnl::primitive_attr attr;
  attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
  return attr;
}

Result<BoundPrimitive> BoundPrimitive::create(const dnnl::primitive_desc_base& pd, const dnnl::engine& eng,
                                              const std::string& where) {
  BoundPrimitive b;
  QRT_RETURN_IF_ERROR(dnnlTry(where, [&] {
    b.prim_ = dnnl::primitive(pd.get());
    dnnl::memory::desc scratch = pd.scratchpad_desc();
    b.scratch_bytes_ = scratch.get_size();
    if (b.scratch_bytes_ > 0) b.scratch_index_ = b.bind(DNNL_ARG_SCRATCHPAD, scratch, eng);
  }));
  return b;
}

size_t BoundPrimitive::bind(int arg, const dnnl::memory::desc& md, const dnnl::engine& eng) {
  // DNNL_MEMORY_NONE: no buffer yet; setData points it at each run's buffer. The C handle stays
  // the same when the vector of wrappers grows, so the argument array can hold it.
  mems_.emplace_back(md, eng, static_cast<void*>(DNNL_MEMORY_NONE));
  args_.push_back({arg, mems_.back().get()});
  return mems_.size() - 1;
}

Status BoundPrimitive::execute(const dnnl::stream& s, const std::string& where) const {
  if (bad_handle_) return internalError(where, ": oneDNN refused a buffer address");
  dnnl_status_t st = dnnl_primitive_execute(prim_.get(), s.get(), static_cast<int>(args_.size()), args_.data());
  if (st != dnnl_success) return internalError(where, ": oneDNN execution failed (status ", static_cast<int>(st), ")");
  return Status::Ok();
}

Result<Reorder> makeReorder(const dnnl::memory::desc& from, const dnnl::memory::desc& to, const dnnl::engine& eng,
                            const std::string& where) {
  dnnl::reorder::primitive_desc pd;
  QRT_RETURN_IF_ERROR(
      dnnlTry(where, [&] { pd = dnnl::reorder::primitive_desc(eng, from, eng, to, userScratchpad()); }));
  Reorder r;
  QRT_ASSIGN_OR_RETURN(r.prim, BoundPrimitive::create(pd, eng, where));
  QRT_RETURN_IF_ERROR(dnnlTry(where, [&] {
    r.from = r.prim.bind(DNNL_ARG_FROM, from, eng);
    r.to = r.prim.bind(DNNL_ARG_TO, to, eng);
  }));
  return r;
}

// ---- packed weights ----

namespace {

// The source's address and layout (one constant may be read in two layouts: Gemm's B with and
// without transB) and the packed layout.
struct CacheEntry {
  const void* source;
  dnnl::memory::desc source_md, packed_md;
  std::weak_ptr<const PackedWeights> packed;
};

std::mutex g_cache_mutex;
std::vector<CacheEntry> g_cache;  // a handful of entries per model: a linear scan is enough
std::atomic<int64_t> g_pack_count{0};
std::atomic<int64_t> g_fallback_count{0};

}  // namespace

Result<std::shared_ptr<const PackedWeights>> packWeights(const HostTensor& source, const dnnl::memory::desc& source_md,
                                                         const dnnl::memory::desc& packed_md,
                                                         const std::string& where) {
  std::lock_guard<std::mutex> lock(g_cache_mutex);
  std::erase_if(g_cache, [](const CacheEntry& e) { return e.packed.expired(); });
  for (const CacheEntry& e : g_cache)
    if (e.source == source.data() && e.source_md == source_md && e.packed_md == packed_md)
      if (auto p = e.packed.lock()) return p;
  QRT_ASSIGN_OR_RETURN(dnnl::engine eng, cpuEngine());
  auto packed = std::make_shared<PackedWeights>();
  packed->source = source;
  QRT_RETURN_IF_ERROR(dnnlTry(where, [&] {
    packed->packed = dnnl::memory(packed_md, eng);
    dnnl::memory from(source_md, eng, const_cast<void*>(source.data()));
    dnnl::stream s(eng);
    matchThreads();
    dnnl::reorder(from, packed->packed).execute(s, from, packed->packed);
    s.wait();
  }));
  ++g_pack_count;
  g_cache.push_back({source.data(), source_md, packed_md, packed});
  return std::shared_ptr<const PackedWeights>(std::move(packed));
}

int64_t packCount() { return g_pack_count.load(); }

Result<MatMulDims> matmulDims(const Dims& a_in, const Dims& b_in, const Dims& out, const std::string& where) {
  Dims a = a_in, b = b_in;
  if (a.empty() || b.empty()) return unsupported(where, ": scalar operands");
  if (a.size() == 1) a.insert(a.begin(), 1);
  if (b.size() == 1) b.push_back(1);
  const size_t r = std::max(a.size(), b.size());
  if (r > DNNL_MAX_NDIMS) return unsupported(where, ": rank ", r, " is more than oneDNN's ", DNNL_MAX_NDIMS);
  a.insert(a.begin(), r - a.size(), 1);
  b.insert(b.begin(), r - b.size(), 1);
  Dims y(r);
  for (size_t i = 0; i + 2 < r; ++i) y[i] = a[i] == 1 ? b[i] : a[i];
  y[r - 2] = a[r - 2];
  y[r - 1] = b[r - 1];
  if (volume(y) != volume(out))
    return internalError(where, ": output dims ", dimsToString(out), " for ", dimsToString(a_in), " x ",
                         dimsToString(b_in));
  if (volume(a) == 0 || volume(b) == 0 || volume(y) == 0) return unsupported(where, ": empty matrices");
  return MatMulDims{std::move(a), std::move(b), std::move(y)};
}

Status WeightsInput::plan(bool as_is, const std::optional<HostTensor>& constant, const dnnl::memory::desc& given,
                          const dnnl::memory::desc& chosen, const dnnl::engine& eng, Workspace& ws,
                          const std::string& where) {
  packed_.reset();
  reorder_ = Reorder{};
  if (as_is) return Status::Ok();
  if (constant) {
    QRT_ASSIGN_OR_RETURN(packed_, packWeights(*constant, given, chosen, where));
  } else {
    QRT_ASSIGN_OR_RETURN(reorder_, makeReorder(given, chosen, eng, where));
    ws_id_ = ws.add(chosen.get_size());
  }
  return Status::Ok();
}

// ---- DnnlKernel ----

Result<std::unique_ptr<Kernel>> referenceKernel(const ir::Node& node) {
  const KernelEntry* e = reference::findKernel(node);
  if (!e) return std::unique_ptr<Kernel>();
  return e->create(node);
}

int64_t fallbackCount() { return g_fallback_count.load(); }

DnnlKernel::DnnlKernel(std::string where, std::unique_ptr<Kernel> fallback, NhwcArgs nhwc)
    : where_(std::move(where)), fallback_(std::move(fallback)), nhwc_(std::move(nhwc)) {}

Status DnnlKernel::reshape(const std::vector<TensorView>& inputs, const std::vector<TensorView>& outputs) {
  on_fallback_ = false;
  if (!engine_) {
    QRT_ASSIGN_OR_RETURN(engine_, cpuEngine());
    QRT_RETURN_IF_ERROR(dnnlTry(where_, [&] { stream_ = dnnl::stream(engine_); }));
  }
  matchThreads();  // some primitives size their work split for the thread count at creation
  Status s;
  Status thrown = dnnlTry(where_, [&] { s = prepare(inputs, outputs); });  // a descriptor oneDNN refused
  if (!thrown.ok()) s = thrown;
  if (s.ok() || s.code() != StatusCode::kUnsupported || !fallback_) return s;
  on_fallback_ = true;
  ++g_fallback_count;
  logInfo(s.message(), "; running the reference kernel");
  return reshapeFallback(inputs, outputs);
}

// The reference kernel reads and writes plain NCHW: NHWC arguments go through plain copies.
Status DnnlKernel::reshapeFallback(const std::vector<TensorView>& inputs, const std::vector<TensorView>& outputs) {
  fb_inputs_ = inputs;
  fb_outputs_ = outputs;
  fb_in_.assign(inputs.size(), Reorder{});
  fb_out_.assign(outputs.size(), Reorder{});
  fb_in_ws_.assign(inputs.size(), 0);
  fb_out_ws_.assign(outputs.size(), 0);
  fb_ws_.clear();
  size_t scratch = 0;
  auto plan = [&](const TensorView& v, bool to_plain, Reorder* r, size_t* ws) -> Status {
    const dnnl::memory::dims d = toDnnl(v.dims);
    if (d.size() != 4 || volume(v.dims) == 0) return Status::Ok();
    dnnl::memory::desc plain = plainDesc(d), nhwc = nhwcDesc(d);
    if (sameLayout(plain, nhwc)) return Status::Ok();
    QRT_ASSIGN_OR_RETURN(*r, to_plain ? makeReorder(nhwc, plain, engine_, where_)
                                      : makeReorder(plain, nhwc, engine_, where_));
    *ws = fb_ws_.add(plain.get_size());
    scratch = std::max(scratch, r->scratchpadBytes());
    return Status::Ok();
  };
  for (size_t i = 0; i < inputs.size(); ++i)
    if (nhwc_.input(i)) QRT_RETURN_IF_ERROR(plan(inputs[i], true, &fb_in_[i], &fb_in_ws_[i]));
  for (size_t i = 0; i < outputs.size(); ++i)
    if (nhwc_.output(i)) QRT_RETURN_IF_ERROR(plan(outputs[i], false, &fb_out_[i], &fb_out_ws_[i]));
  fb_ws_scratch_ = fb_ws_.add(scratch);
  QRT_RETURN_IF_ERROR(fallback_->reshape(fb_inputs_, fb_outputs_));
  fb_ws_fallback_ = fb_ws_.add(fallback_->workspaceBytes());
  return Status::Ok();
}

Status DnnlKernel::runFallback(const std::vector<TensorView>& inputs, const std::vector<TensorView>& outputs,
                               void* ws) {
  void* scratch = fb_ws_.at(ws, fb_ws_scratch_);
  for (size_t i = 0; i < inputs.size(); ++i) {
    fb_inputs_[i].data = inputs[i].data;
    if (fb_in_[i].empty()) continue;
    fb_inputs_[i].data = fb_ws_.at(ws, fb_in_ws_[i]);
    matchThreads();
    QRT_RETURN_IF_ERROR(fb_in_[i].run(inputs[i].data, fb_inputs_[i].data, scratch, stream_, where_));
  }
  for (size_t i = 0; i < outputs.size(); ++i)
    fb_outputs_[i].data = fb_out_[i].empty() ? outputs[i].data : fb_ws_.at(ws, fb_out_ws_[i]);
  QRT_RETURN_IF_ERROR(fallback_->run(fb_inputs_, fb_outputs_, fb_ws_.at(ws, fb_ws_fallback_)));
  for (size_t i = 0; i < outputs.size(); ++i) {
    if (fb_out_[i].empty()) continue;
    matchThreads();
    QRT_RETURN_IF_ERROR(fb_out_[i].run(fb_outputs_[i].data, outputs[i].data, scratch, stream_, where_));
  }
  return Status::Ok();
}

size_t DnnlKernel::workspaceBytes() const { return on_fallback_ ? fb_ws_.bytes() : bytes(); }

Status DnnlKernel::run(const std::vector<TensorView>& inputs, const std::vector<TensorView>& outputs, void* workspace) {
  if (on_fallback_) return runFallback(inputs, outputs, workspace);
  matchThreads();
  Status s;
  Status thrown = dnnlTry(where_, [&] { s = execute(inputs, outputs, workspace); });
  return thrown.ok() ? s : thrown;
}

}  // namespace qrt::cpu
