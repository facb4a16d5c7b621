// ExecutionContext: reshape (infer shapes, evaluate shape computations, plan memory) when input
// shapes change; bind; enqueue (runs kernels over prebuilt views, allocating nothing).
#include <algorithm>
#include <cstring>
#include <unordered_map>

#include "core/status_macros.h"
#include "ops/op_table.h"
#include "qrt/engine.h"
#include "runtime/engine_impl.h"
#include "runtime/kernel_factory.h"
#include "runtime/context_access.h"
#include "runtime/memory_plan.h"
#include "runtime/profiler.h"

namespace qrt {

namespace {

enum class SlotKind { kConstant, kInput, kOutput, kHost, kActivation };

struct Slot {
  const ir::Value* value = nullptr;
  SlotKind kind = SlotKind::kActivation;
  Dims dims;
  void* data = nullptr;
  HostTensor host;  // kHost values
  int first = -1, last = -1;
  // Device engines: the device copy of a constant or of a host value that a device kernel reads.
  void* device = nullptr;
  bool device_read = false;  // a device step reads it
};

struct Step {
  const ir::Node* node = nullptr;
  bool host = false;
  std::unique_ptr<Kernel> kernel;
  std::vector<int> in, out;  // slot ids, -1 for absent
  std::vector<TensorView> in_views, out_views;
};

struct OutputCopy {
  int slot;
  std::string name;
};

}  // namespace

struct ExecutionContext::Impl {
  std::shared_ptr<const Engine::Impl> engine;
  std::vector<Slot> slots;
  std::unordered_map<const ir::Value*, int> slot_of;
  std::vector<Step> steps;
  std::map<std::string, int> io_slot;          // I/O name -> slot
  std::map<std::string, Dims> input_shapes;    // set by the user
  std::map<std::string, void*> bindings;       // I/O name -> user address
  std::vector<OutputCopy> output_copies;       // outputs not written by a step
  std::vector<const ir::Value*> graph_outputs;
  bool dirty = true;
  // Small inputs read at reshape time as "shape tensors" (TensorRT's term): their values
  // may decide output shapes (Reshape's shape, Slice's starts...). A snapshot is kept; enqueue
  // re-plans when the bound data differs from it.
  std::map<int, HostTensor> shape_inputs;
  bool use_shape_inputs = false;  // set once a reshape failed without them

  Status prepareOnce();
  std::shared_ptr<void> arena;
  size_t arena_bytes = 0;
  size_t activation_bytes = 0;
  size_t workspace_offset = 0;
  internal::TensorObserver observer;
  Profiler* profiler = nullptr;     // per-layer timing when set (see qrt::Profiler)
  internal::LayerTimes layer_times;  // this run's times, reported after it
  // Engines built for a device (CUDA): memory, copies and kernels go through it. Null: host.
  std::unique_ptr<DeviceRuntime> device;
  std::vector<std::shared_ptr<void>> host_mirrors;  // device copies of host values
  std::map<int, HostTensor> shape_scratch;          // device engines: bound shape inputs, read back
  bool cuda_graph = false;                          // setCudaGraph
  uint64_t plan_generation = 0;                     // counts prepareOnce (graphs capture one plan)

  // The address a step uses for a slot in enqueue.
  void* runData(const Slot& s) const { return device && s.device ? s.device : s.data; }
  // Copies bound input bytes to the host (they are device memory for device engines).
  Status readBound(void* dst, const void* src, size_t bytes) {
    if (!device) {
      std::memcpy(dst, src, bytes);
      return Status::Ok();
    }
    return device->download(dst, src, bytes);
  }
  Status run();
  Status enqueueCaptured();

  Status init();
  Status prepare();
  Status enqueue();
  Status inferStep(Step& s);
  Status timedRun(Step& st, void* workspace);
};

Status ExecutionContext::Impl::init() {
  const ir::Graph& g = *engine->graph;
  QRT_ASSIGN_OR_RETURN(device, createDeviceRuntime(engine));
  auto add = [&](const ir::Value* v) {
    auto it = slot_of.find(v);
    if (it != slot_of.end()) return it->second;
    Slot s;
    s.value = v;
    if (v->isConstant()) {
      s.kind = SlotKind::kConstant;
      s.dims = v->constant->dims();
      s.data = const_cast<void*>(v->constant->data());
    }
    slots.push_back(std::move(s));
    slot_of[v] = static_cast<int>(slots.size()) - 1;
    return static_cast<int>(slots.size()) - 1;
  };
  for (const ir::Value* v : g.inputs) {
    int id = add(v);
    slots[id].kind = SlotKind::kInput;
    io_slot[v->name] = id;
  }
  for (const auto& n : g.nodes()) {
    Step st;
    st.node = n.get();
    st.host = n->backend == kBackendHost;
    for (const ir::Value* v : n->inputs) st.in.push_back(v ? add(v) : -1);
    for (const ir::Value* v : n->outputs) {
      int id = v ? add(v) : -1;
      if (id >= 0 && st.host) slots[id].kind = SlotKind::kHost;
      st.out.push_back(id);
    }
    if (device && !st.host) {
      QRT_ASSIGN_OR_RETURN(st.kernel, device->createKernel(*n));
      for (int id : st.in)
        if (id >= 0) slots[id].device_read = true;
    } else {
      QRT_ASSIGN_OR_RETURN(st.kernel, createKernel(*n));
    }
    st.in_views.resize(st.in.size());
    st.out_views.resize(st.out.size());
    steps.push_back(std::move(st));
  }
  layer_times.reserve(steps.size());
  for (const ir::Value* v : g.outputs) {
    int id = add(v);
    graph_outputs.push_back(v);
    if (slots[id].kind == SlotKind::kActivation) slots[id].kind = SlotKind::kOutput;
    else output_copies.push_back({id, v->name});
    if (!io_slot.count(v->name)) io_slot[v->name] = id;
    if (device) slots[id].device_read = true;  // copied to the bound output on the device
  }
  if (device) {
    for (Slot& s : slots) {
      if (s.kind != SlotKind::kConstant || !s.device_read) continue;
      QRT_ASSIGN_OR_RETURN(s.device, device->constantData(*s.value));
    }
  }
  return Status::Ok();
}

Status ExecutionContext::Impl::inferStep(Step& s) {
  const ir::Node& node = *s.node;
  const OpDef* def = findOp(node.domain, node.op_type);
  if (!def) return internalError(node.describe(), ": op vanished from the op table");
  InferContext ctx(node);
  for (int id : s.in) {
    bool present = id >= 0;
    const Slot* sl = present ? &slots[id] : nullptr;
    ctx.in_present.push_back(present);
    ctx.in_types.push_back(present ? sl->value->dtype : DataType::kUndefined);
    ctx.in_dims.push_back(present ? sl->dims : Dims{});
    const HostTensor* known = nullptr;
    if (present && sl->kind == SlotKind::kConstant) known = &*sl->value->constant;
    if (present && sl->kind == SlotKind::kHost) known = &sl->host;
    if (present && sl->kind == SlotKind::kInput) {
      auto snap = shape_inputs.find(id);
      if (snap != shape_inputs.end()) known = &snap->second;
    }
    ctx.in_values.push_back(known);
  }
  QRT_RETURN_IF_ERROR(def->infer(ctx));
  for (size_t i = 0; i < s.out.size(); ++i) {
    if (s.out[i] < 0) continue;
    Slot& o = slots[s.out[i]];
    if (i >= ctx.out_dims.size()) return internalError(node.describe(), ": no shape for output ", i);
    if (ctx.out_types[i] != o.value->dtype)
      return internalError(node.describe(), ": output '", o.value->name, "' changed type at reshape");
    if (volume(ctx.out_dims[i]) < 0)
      return unsupported(node.describe(), ": the shape of '", o.value->name,
                         "' depends on tensor data, which qrt cannot resolve before running");
    o.dims = ctx.out_dims[i];
  }
  return Status::Ok();
}

namespace {
constexpr int64_t kMaxShapeInputElements = 1024;
// Shape-deciding inputs are integers (shapes, axes, starts) or floats (Resize scales).
bool isShapeLike(DataType t) {
  return t == DataType::kInt64 || t == DataType::kInt32 || t == DataType::kFloat || t == DataType::kDouble;
}
}  // namespace

Status ExecutionContext::Impl::prepare() {
  Status s = prepareOnce();
  if (s.ok() || use_shape_inputs || s.code() != StatusCode::kUnsupported) return s;
  // Some output shape depends on input values: read small inputs as shape tensors.
  use_shape_inputs = true;
  Status again = prepareOnce();
  if (!again.ok()) use_shape_inputs = false;
  return again;
}

Status ExecutionContext::Impl::prepareOnce() {
  const ir::Graph& g = *engine->graph;
  shape_inputs.clear();
  for (const ir::Value* v : g.inputs) {
    int id = slot_of.at(v);
    Slot& s = slots[id];
    auto it = input_shapes.find(v->name);
    if (it != input_shapes.end()) s.dims = it->second;
    else if (volume(v->dims) >= 0) s.dims = v->dims;
    else
      return invalidArgument("input '", v->name, "' has dynamic dims ", dimsToString(v->dims),
                             ": set its shape with setInputShape (CLI: --shapes ", v->name, ":...)");
    auto bound = bindings.find(v->name);
    if (use_shape_inputs && isShapeLike(v->dtype) && volume(s.dims) <= kMaxShapeInputElements && bound != bindings.end() && bound->second) {
      HostTensor snap(v->dtype, s.dims);
      QRT_RETURN_IF_ERROR(readBound(snap.data(), bound->second, snap.bytes()));
      if (device) shape_scratch[id] = HostTensor(v->dtype, s.dims);
      shape_inputs[id] = std::move(snap);
    }
  }
  for (auto& s : slots) s.first = s.last = -1;
  size_t workspace = 0;
  for (size_t si = 0; si < steps.size(); ++si) {
    Step& st = steps[si];
    QRT_RETURN_IF_ERROR(inferStep(st));
    for (size_t i = 0; i < st.in.size(); ++i) {
      if (st.in[i] < 0) { st.in_views[i] = TensorView{}; continue; }
      Slot& s = slots[st.in[i]];
      s.last = static_cast<int>(si);
      void* known = s.kind == SlotKind::kConstant || s.kind == SlotKind::kHost ? s.data : nullptr;
      if (auto snap = shape_inputs.find(st.in[i]); snap != shape_inputs.end()) known = snap->second.data();
      st.in_views[i] = TensorView{s.value->dtype, s.dims, known};
    }
    for (size_t i = 0; i < st.out.size(); ++i) {
      if (st.out[i] < 0) { st.out_views[i] = TensorView{}; continue; }
      Slot& s = slots[st.out[i]];
      if (s.first < 0) s.first = static_cast<int>(si);
      s.last = std::max(s.last, static_cast<int>(si));
      if (st.host) {
        s.host = HostTensor(s.value->dtype, s.dims);
        s.data = s.host.data();
      }
      st.out_views[i] = TensorView{s.value->dtype, s.dims, st.host ? s.data : nullptr};
    }
    QRT_RETURN_IF_ERROR(st.kernel->reshape(st.in_views, st.out_views));
    if (st.host) {
      std::vector<uint8_t> ws(st.kernel->workspaceBytes() + 64);
      QRT_RETURN_IF_ERROR(st.kernel->run(st.in_views, st.out_views, ws.data()));
    } else {
      workspace = std::max(workspace, st.kernel->workspaceBytes());
    }
  }
  // Plan activations.
  std::vector<BufferUse> uses;
  std::vector<int> planned;
  for (size_t i = 0; i < slots.size(); ++i) {
    Slot& s = slots[i];
    if (s.kind != SlotKind::kActivation) continue;
    if (s.first < 0) s.first = 0;
    if (s.last < s.first) s.last = s.first;
    uses.push_back({static_cast<size_t>(volume(s.dims)) * dataTypeSize(s.value->dtype), s.first, s.last});
    planned.push_back(static_cast<int>(i));
  }
  // In-place outputs (Kernel::inplaceInput): offered when both values are planned activations and
  // the step reads that input through no other argument (a kernel must not write over its own
  // source); planMemory grants it when the sizes match and the step is the input's last reader.
  std::vector<int> use_of(slots.size(), -1);
  for (size_t k = 0; k < planned.size(); ++k) use_of[planned[k]] = static_cast<int>(k);
  for (const Step& st : steps) {
    if (st.host || st.out.empty() || st.out[0] < 0 || use_of[st.out[0]] < 0) continue;
    int k = st.kernel->inplaceInput();
    if (k < 0 || static_cast<size_t>(k) >= st.in.size() || st.in[k] < 0 || use_of[st.in[k]] < 0) continue;
    if (std::count(st.in.begin(), st.in.end(), st.in[k]) != 1) continue;
    uses[use_of[st.out[0]]].share = use_of[st.in[k]];
  }
  MemoryPlan plan = planMemory(uses);
  workspace_offset = (plan.total + 63) / 64 * 64;
  size_t need = workspace_offset + workspace + 64;
  if (need > arena_bytes) {
    arena.reset();  // before allocating the larger one: device memory is scarcer than host memory
    arena_bytes = 0;
    if (device) {
      QRT_ASSIGN_OR_RETURN(arena, device->allocate(need));
    } else {
      void* p = std::aligned_alloc(64, (need + 63) / 64 * 64);
      if (!p) return ioError("out of memory allocating ", need, " bytes of activations");
      arena = std::shared_ptr<void>(p, [](void* q) { std::free(q); });
    }
    arena_bytes = need;
  }
  // Host values (shape computations) that device kernels read get a device copy.
  host_mirrors.clear();
  for (Slot& s : slots) {
    if (!device || s.kind != SlotKind::kHost || !s.device_read) continue;
    QRT_ASSIGN_OR_RETURN(auto mirror, device->allocate(std::max<size_t>(s.host.bytes(), 1)));
    QRT_RETURN_IF_ERROR(device->upload(mirror.get(), s.host.data(), s.host.bytes()));
    s.device = mirror.get();
    host_mirrors.push_back(std::move(mirror));
  }
  activation_bytes = need;
  auto* base = static_cast<uint8_t*>(arena.get());
  for (size_t k = 0; k < planned.size(); ++k) slots[planned[k]].data = base + plan.offsets[k];
  dirty = false;
  ++plan_generation;
  return Status::Ok();
}

Status ExecutionContext::Impl::enqueue() {
  for (const auto& [id, snap] : shape_inputs) {
    auto b = bindings.find(slots[id].value->name);
    if (b == bindings.end() || !b->second) {
      dirty = true;
      continue;
    }
    const void* bound = b->second;
    if (device) {
      HostTensor& scratch = shape_scratch[id];
      QRT_RETURN_IF_ERROR(readBound(scratch.data(), b->second, scratch.bytes()));
      bound = scratch.data();
    }
    if (std::memcmp(bound, snap.data(), snap.bytes()) != 0) dirty = true;
  }
  if (dirty) QRT_RETURN_IF_ERROR(prepare());
  for (const auto& [name, id] : io_slot) {
    Slot& s = slots[id];
    if (s.kind != SlotKind::kInput && s.kind != SlotKind::kOutput) continue;
    auto it = bindings.find(name);
    if (it == bindings.end() || !it->second)
      return invalidArgument("no buffer bound for ", s.kind == SlotKind::kInput ? "input" : "output", " '", name,
                             "': call setTensorAddress");
    s.data = it->second;
  }
  for (const OutputCopy& c : output_copies) {
    auto it = bindings.find(c.name);
    if (it == bindings.end() || !it->second)
      return invalidArgument("no buffer bound for output '", c.name, "': call setTensorAddress");
  }
  return run();
}

// A device enqueue as a graph: planned first (planning synchronizes, allocates and times
// tactics, none of which a capture allows), then captured or replayed under a key made of the
// plan and the bound addresses. Shape inputs are read back from the device on every run, so
// contexts that have them run without a graph.
Status ExecutionContext::Impl::enqueueCaptured() {
  if (dirty) QRT_RETURN_IF_ERROR(prepare());
  if (!shape_inputs.empty() || observer) return enqueue();
  uint64_t key = plan_generation;
  for (const auto& [name, p] : bindings) key = key * 1000003u ^ static_cast<uint64_t>(reinterpret_cast<uintptr_t>(p));
  return device->runCaptured(key, [this] { return enqueue(); });
}

Status ExecutionContext::Impl::run() {
  void* workspace = static_cast<uint8_t*>(arena.get()) + workspace_offset;
  if (profiler) layer_times.clear();  // a failed run leaves partial times behind
  if (observer)
    for (const ir::Value* v : engine->graph->inputs) {
      const Slot& s = slots[slot_of.at(v)];
      observer(*v, TensorView{v->dtype, s.dims, s.data});
    }
  for (Step& st : steps) {
    if (st.host) continue;
    for (size_t i = 0; i < st.in.size(); ++i)
      if (st.in[i] >= 0) st.in_views[i].data = runData(slots[st.in[i]]);
    for (size_t i = 0; i < st.out.size(); ++i)
      if (st.out[i] >= 0) st.out_views[i].data = slots[st.out[i]].data;
    Status s = profiler ? timedRun(st, workspace) : st.kernel->run(st.in_views, st.out_views, workspace);
    if (!s.ok()) return s.message().find(st.node->name) == std::string::npos ? s.withContext(st.node->describe()) : s;
    if (observer)
      for (size_t i = 0; i < st.out.size(); ++i)
        if (st.out[i] >= 0) observer(*st.node->outputs[i], st.out_views[i]);
  }
  for (const OutputCopy& c : output_copies) {
    const Slot& s = slots[c.slot];
    size_t bytes = static_cast<size_t>(volume(s.dims)) * dataTypeSize(s.value->dtype);
    if (device) QRT_RETURN_IF_ERROR(device->copyAsync(bindings[c.name], runData(s), bytes));
    else std::memcpy(bindings[c.name], s.data, bytes);
  }
  if (profiler) layer_times.report(*profiler);
  return Status::Ok();
}

// On a device engine this times the kernel's launch, not its execution (the run is queued).
Status ExecutionContext::Impl::timedRun(Step& st, void* workspace) {
  auto start = internal::LayerTimes::Clock::now();
  Status s = st.kernel->run(st.in_views, st.out_views, workspace);
  layer_times.record(st.node->name.c_str(), start);
  return s;
}

ExecutionContext::ExecutionContext(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
ExecutionContext::~ExecutionContext() = default;

Status ExecutionContext::setInputShape(const std::string& name, const Dims& dims) {
  const ir::Graph& g = *impl_->engine->graph;
  for (const ir::Value* v : g.inputs) {
    if (v->name != name) continue;
    if (dims.size() != v->dims.size())
      return invalidArgument("input '", name, "' has rank ", v->dims.size(), " (", dimsToString(v->dims), "), got ",
                             dimsToString(dims));
    for (size_t i = 0; i < dims.size(); ++i) {
      if (dims[i] < 0) return invalidArgument("input '", name, "': shape ", dimsToString(dims), " has a negative dim");
      if (v->dims[i] >= 0 && v->dims[i] != dims[i])
        return invalidArgument("input '", name, "' expects ", dimsToString(v->dims), ", got ", dimsToString(dims),
                               " (dim ", i, " is fixed in this engine)");
    }
    impl_->input_shapes[name] = dims;
    impl_->dirty = true;
    return Status::Ok();
  }
  return notFound("no input named '", name, "'");
}

Result<Dims> ExecutionContext::tensorShape(const std::string& name) {
  auto it = impl_->io_slot.find(name);
  if (it == impl_->io_slot.end()) return notFound("no input or output named '", name, "'");
  if (impl_->dirty) QRT_RETURN_IF_ERROR(impl_->prepare());
  return impl_->slots[it->second].dims;
}

Status ExecutionContext::setTensorAddress(const std::string& name, void* data) {
  if (!impl_->io_slot.count(name)) return notFound("no input or output named '", name, "'");
  impl_->bindings[name] = data;
  return Status::Ok();
}

Status ExecutionContext::enqueue() { return enqueue(nullptr); }

Status ExecutionContext::enqueue(void* stream) {
  if (!impl_->device) return impl_->enqueue();
  // The device runtime brackets the run: handles bound to the stream, errors collected at the end.
  QRT_RETURN_IF_ERROR(impl_->device->begin(stream));
  Status s = impl_->cuda_graph ? impl_->enqueueCaptured() : impl_->enqueue();
  Status e = impl_->device->end(stream == nullptr);
  return s.ok() ? e : s;
}

size_t ExecutionContext::activationBytes() const { return impl_->activation_bytes; }

void ExecutionContext::setCudaGraph(bool on) { impl_->cuda_graph = on; }

void ExecutionContext::setProfiler(Profiler* profiler) {
  impl_->profiler = profiler;
  impl_->layer_times.clear();
}

Profiler* ExecutionContext::profiler() const { return impl_->profiler; }

void internal::ContextAccess::setObserver(ExecutionContext& ctx, TensorObserver observer) {
  ctx.impl_->observer = std::move(observer);
}

Result<std::unique_ptr<ExecutionContext>> Engine::createExecutionContext() const {
  auto impl = std::make_unique<ExecutionContext::Impl>();
  impl->engine = impl_;
  QRT_RETURN_IF_ERROR(impl->init());
  return std::make_unique<ExecutionContext>(std::move(impl));
}

}  // namespace qrt
