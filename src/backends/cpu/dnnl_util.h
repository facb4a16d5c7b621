// What every oneDNN kernel of the cpu backend shares: the engine, the thread count, errors as
// Status (oneDNN's C++ API throws; nothing escapes these files), plain memory descriptors, bound
// primitives that run without allocating, the process-wide cache of packed (reordered) weights,
// and the base class that falls back to the reference kernel where oneDNN has no primitive.
#pragma once

#include <oneapi/dnnl/dnnl.hpp>

#include <exception>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "backends/kernel.h"
#include "core/status_macros.h"
#include "core/tensor.h"

namespace qrt::cpu {

// The CPU engine, created once per process.
Result<dnnl::engine> cpuEngine();

// Makes oneDNN use as many threads as qrt's pool (qrt::numThreads). Debian's libdnnl runs on
// OpenMP, whose thread count is a per-calling-thread setting: every kernel calls this before
// creating or running a primitive, on the thread that does so.
void matchThreads();

// Runs fn, turning a oneDNN exception into a Status naming `where`: "unimplemented" (no
// primitive for this case) becomes kUnsupported, anything else kInternal.
template <typename Fn>
Status dnnlTry(const std::string& where, Fn&& fn) {
  try {
    fn();
    return Status::Ok();
  } catch (const dnnl::error& e) {
    if (e.status == dnnl_unimplemented) return unsupported(where, ": oneDNN has no primitive for it (", e.what(), ")");
    return internalError(where, ": oneDNN: ", e.what());
  } catch (const std::exception& e) {
    return internalError(where, ": oneDNN: ", e.what());
  }
}

// qrt dims as oneDNN dims, and a dense row-major (plain) f32 descriptor for them.
dnnl::memory::dims toDnnl(const Dims& d);
dnnl::memory::desc plainDesc(const dnnl::memory::dims& d, dnnl::memory::data_type t = dnnl::memory::data_type::f32);

// Channels-last (NHWC; acb, acdb, acdeb) f32 descriptor for NC... dims, and the descriptor of a
// 4-D activation stored as a channels-last node's attribute says (plain otherwise).
dnnl::memory::desc nhwcDesc(const dnnl::memory::dims& d, dnnl::memory::data_type t = dnnl::memory::data_type::f32);
inline dnnl::memory::desc activationDesc(const dnnl::memory::dims& d, bool nhwc,
                                         dnnl::memory::data_type t = dnnl::memory::data_type::f32) {
  return nhwc && d.size() >= 3 ? nhwcDesc(d, t) : plainDesc(d, t);
}

// Which inputs and outputs of a node are stored NHWC: those the channels-last pass made so
// (passes/channels_last.h: 4-D non-constant values of a node with qrt_nhwc = 1).
struct NhwcArgs {
  std::vector<bool> inputs, outputs;
  bool input(size_t i) const { return i < inputs.size() && inputs[i]; }
  bool output(size_t i) const { return i < outputs.size() && outputs[i]; }
  bool any() const;
};
NhwcArgs nhwcArgs(const ir::Node& node);

// True when a and b put every element at the same byte: equal descriptors, or plain strided
// ones that differ only in the strides of unit dims (NHWC and NCHW with C = 1, say).
bool sameLayout(const dnnl::memory::desc& a, const dnnl::memory::desc& b);

// A primitive and its arguments, bound once (in reshape): run() only points the arguments at
// this run's buffers and executes through oneDNN's C API, so qrt allocates nothing per run.
class BoundPrimitive {
 public:
  BoundPrimitive() = default;
  // The primitive of pd (created with scratchpad_mode::user), with its scratchpad bound when it
  // needs one: the caller reserves scratchpadBytes() of workspace and passes it to setScratchpad.
  static Result<BoundPrimitive> create(const dnnl::primitive_desc_base& pd, const dnnl::engine& eng,
                                       const std::string& where);
  bool empty() const { return !prim_; }

  // Adds argument `arg` (DNNL_ARG_SRC...) described by md; returns its index for setData.
  size_t bind(int arg, const dnnl::memory::desc& md, const dnnl::engine& eng);
  // Points argument `index` at data (through the C API: nothing throws in run). A failure, which
  // only a bug can cause, is reported by the next execute.
  void setData(size_t index, const void* data) {
    if (dnnl_memory_set_data_handle(args_[index].memory, const_cast<void*>(data)) != dnnl_success) bad_handle_ = true;
  }
  size_t scratchpadBytes() const { return scratch_bytes_; }
  void setScratchpad(void* data) {
    if (scratch_bytes_ > 0) setData(scratch_index_, data);
  }
  Status execute(const dnnl::stream& s, const std::string& where) const;

 private:
  dnnl::primitive prim_;
  std::vector<dnnl::memory> mems_;
  std::vector<dnnl_exec_arg_t> args_;
  size_t scratch_bytes_ = 0, scratch_index_ = 0;
  bool bad_handle_ = false;
};

// MatMul's operand and output dims as oneDNN's matmul takes them (numpy semantics): a 1-D
// operand gets a unit dim, both are padded with leading 1s to one rank, batch dims broadcast.
// Unsupported for scalars, ranks above oneDNN's limit and empty matrices; an internal error
// where the output's planned dims `out` hold another number of values.
struct MatMulDims {
  Dims a, b, y;
};
Result<MatMulDims> matmulDims(const Dims& a, const Dims& b, const Dims& out, const std::string& where);

// A bound reorder from one layout to another.
struct Reorder {
  BoundPrimitive prim;
  size_t from = 0, to = 0;  // argument indices
  bool empty() const { return prim.empty(); }
  size_t scratchpadBytes() const { return prim.scratchpadBytes(); }
  Status run(const void* src, void* dst, void* scratchpad, const dnnl::stream& s, const std::string& where) {
    prim.setData(from, src);
    prim.setData(to, dst);
    prim.setScratchpad(scratchpad);
    return prim.execute(s, where);
  }
};
Result<Reorder> makeReorder(const dnnl::memory::desc& from, const dnnl::memory::desc& to, const dnnl::engine& eng,
                            const std::string& where);

// A primitive that reads one source and writes one destination (eltwise, pooling, resampling),
// bound once in prepare; its scratchpad is the kernel's whole workspace.
class SrcDstPrimitive {
 public:
  Status create(const dnnl::primitive_desc_base& pd, const dnnl::memory::desc& src, const dnnl::memory::desc& dst,
                const dnnl::engine& eng, const std::string& where) {
    QRT_ASSIGN_OR_RETURN(prim_, BoundPrimitive::create(pd, eng, where));
    return dnnlTry(where, [&] {
      arg_src_ = prim_.bind(DNNL_ARG_SRC, src, eng);
      arg_dst_ = prim_.bind(DNNL_ARG_DST, dst, eng);
    });
  }
  size_t scratchpadBytes() const { return prim_.scratchpadBytes(); }
  Status run(const void* src, void* dst, void* scratchpad, const dnnl::stream& s, const std::string& where) {
    prim_.setData(arg_src_, src);
    prim_.setData(arg_dst_, dst);
    prim_.setScratchpad(scratchpad);
    return prim_.execute(s, where);
  }

 private:
  BoundPrimitive prim_;
  size_t arg_src_ = 0, arg_dst_ = 0;
};

// Attributes every qrt primitive is created with: scratchpad in the workspace qrt plans.
dnnl::primitive_attr userScratchpad();

// Constant weights reordered into the layout a primitive chose. One copy per (constant, layout)
// per process: every kernel that reads the same constant in the same layout (every execution
// context of an engine, and engines built from one network, whose constants share storage)
// shares it. The entry holds the source tensor too, so while it lives no other tensor can have
// the source's address: the address is a safe key. The cache holds entries weakly: they go when
// the last kernel using them does.
struct PackedWeights {
  HostTensor source;
  dnnl::memory packed;
  const void* data() const { return packed.get_data_handle(); }
};
Result<std::shared_ptr<const PackedWeights>> packWeights(const HostTensor& source, const dnnl::memory::desc& source_md,
                                                         const dnnl::memory::desc& packed_md, const std::string& where);
// How many reorders packWeights ran (cache misses), for tests.
int64_t packCount();

// memcpy split over qrt's threads (large copies, such as a residual copied into a destination
// for oneDNN's sum post-op, are bandwidth-bound and faster on two cores than on one).
void parallelCopy(void* dst, const void* src, size_t bytes);

// Workspace carving: 64-byte aligned regions recorded in prepare, found again in execute.
class Workspace {
 public:
  void clear() {
    offsets_.clear();
    total_ = 0;
  }
  size_t add(size_t bytes) {
    offsets_.push_back(total_);
    total_ += (bytes + 63) / 64 * 64;
    return offsets_.size() - 1;
  }
  void* at(void* base, size_t id) const { return static_cast<unsigned char*>(base) + offsets_[id]; }
  size_t bytes() const { return total_; }

 private:
  std::vector<size_t> offsets_;
  size_t total_ = 0;
};

// A source or destination activation between the layout it is stored in and the one a primitive
// chose: used where it is when they agree, else reordered through a workspace buffer in the
// primitive's layout (before the primitive for a source, after it for a destination).
class StagedActivation {
 public:
  // Plans the reorder (and its workspace region, added to `ws`); `source`: the primitive reads it.
  Status plan(const dnnl::memory::desc& stored, const dnnl::memory::desc& chosen, bool source,
              const dnnl::engine& eng, Workspace& ws, const std::string& where) {
    reorder_ = Reorder{};
    if (sameLayout(chosen, stored)) return Status::Ok();
    if (source) {
      QRT_ASSIGN_OR_RETURN(reorder_, makeReorder(stored, chosen, eng, where));
    } else {
      QRT_ASSIGN_OR_RETURN(reorder_, makeReorder(chosen, stored, eng, where));
    }
    ws_id_ = ws.add(chosen.get_size());
    return Status::Ok();
  }
  bool empty() const { return reorder_.empty(); }
  size_t scratchpadBytes() const { return reorder_.scratchpadBytes(); }
  // A source: points `x` (the stored tensor) at the primitive's copy, reordering it first.
  Status stageSource(const void*& x, void* workspace, void* scratch, const Workspace& ws, const dnnl::stream& s,
                     const std::string& where) {
    if (reorder_.empty()) return Status::Ok();
    QRT_RETURN_IF_ERROR(reorder_.run(x, ws.at(workspace, ws_id_), scratch, s, where));
    x = ws.at(workspace, ws_id_);
    return Status::Ok();
  }
  // A destination: where the primitive writes (the output itself, or the buffer).
  void* destination(void* y, void* workspace, const Workspace& ws) const {
    return reorder_.empty() ? y : ws.at(workspace, ws_id_);
  }
  // A destination, after the primitive: reorders `dst` (from destination()) into the output y.
  Status unstage(void* dst, void* y, void* scratch, const dnnl::stream& s, const std::string& where) {
    return reorder_.empty() ? Status::Ok() : reorder_.run(dst, y, scratch, s, where);
  }

 private:
  Reorder reorder_;
  size_t ws_id_ = 0;
};

// The weights a primitive reads, in the layout it chose (`chosen`) from the ONNX layout
// (`given`): read as they are where the layouts agree (`as_is`: sameLayout, or sameWeights for
// int8), packed once where they are constant (packWeights, shared), else reordered into the
// workspace on every run. Shared by the FP32 and INT8 convolutions and matmuls.
class WeightsInput {
 public:
  // Plans the packing or the reorder (and its workspace region, added to `ws`).
  Status plan(bool as_is, const std::optional<HostTensor>& constant, const dnnl::memory::desc& given,
              const dnnl::memory::desc& chosen, const dnnl::engine& eng, Workspace& ws, const std::string& where);
  size_t scratchpadBytes() const { return reorder_.scratchpadBytes(); }
  // Points `w` (the weights input as given) at the weights in the chosen layout for this run.
  Status resolve(const void*& w, void* workspace, void* scratch, const Workspace& ws, const dnnl::stream& s,
                 const std::string& where) {
    if (packed_) {
      w = packed_->data();
    } else if (!reorder_.empty()) {
      QRT_RETURN_IF_ERROR(reorder_.run(w, ws.at(workspace, ws_id_), scratch, s, where));
      w = ws.at(workspace, ws_id_);
    }
    return Status::Ok();
  }

 private:
  std::shared_ptr<const PackedWeights> packed_;
  Reorder reorder_;  // the weights are not constant and oneDNN chose another layout
  size_t ws_id_ = 0;
};

// Base of the oneDNN kernels. A kernel whose reshape finds no oneDNN primitive for the concrete
// shapes (kUnsupported from prepare) runs the reference kernel of the same node instead, so
// preferring this backend never loses coverage. Subclasses implement prepare/bytes/execute.
class DnnlKernel : public Kernel {
 public:
  // `fallback` is the node's reference kernel (nullptr: none; then unsupported cases fail).
  // `nhwc`: the node's NHWC inputs and outputs, which the fallback (a reference kernel, plain
  // NCHW only) gets reordered to and from plain copies in the workspace.
  DnnlKernel(std::string where, std::unique_ptr<Kernel> fallback, NhwcArgs nhwc = {});

  Status reshape(const std::vector<TensorView>& inputs, const std::vector<TensorView>& outputs) final;
  size_t workspaceBytes() const final;
  Status run(const std::vector<TensorView>& inputs, const std::vector<TensorView>& outputs, void* workspace) final;

  // True after a reshape that handed this node to the reference kernel.
  bool usingFallback() const { return on_fallback_; }

 protected:
  virtual Status prepare(const std::vector<TensorView>& inputs, const std::vector<TensorView>& outputs) = 0;
  virtual size_t bytes() const = 0;
  virtual Status execute(const std::vector<TensorView>& inputs, const std::vector<TensorView>& outputs,
                         void* workspace) = 0;

  const std::string& where() const { return where_; }
  const dnnl::engine& engine() const { return engine_; }
  const dnnl::stream& stream() const { return stream_; }
  const NhwcArgs& nhwc() const { return nhwc_; }

 private:
  Status reshapeFallback(const std::vector<TensorView>& inputs, const std::vector<TensorView>& outputs);
  Status runFallback(const std::vector<TensorView>& inputs, const std::vector<TensorView>& outputs, void* workspace);

  std::string where_;
  std::unique_ptr<Kernel> fallback_;
  bool on_fallback_ = false;
  NhwcArgs nhwc_;
  // The fallback's plain views of NHWC arguments (made in reshape; run only sets the data) and
  // the reorders to and from them (empty where an argument needs none).
  std::vector<TensorView> fb_inputs_, fb_outputs_;
  std::vector<Reorder> fb_in_, fb_out_;
  std::vector<size_t> fb_in_ws_, fb_out_ws_;
  Workspace fb_ws_;
  size_t fb_ws_fallback_ = 0, fb_ws_scratch_ = 0;
  dnnl::engine engine_;
  dnnl::stream stream_;
};

// The node's reference kernel (for DnnlKernel's fallback).
Result<std::unique_ptr<Kernel>> referenceKernel(const ir::Node& node);
// How many reshapes fell back to the reference kernel, process-wide (for tests and docs).
int64_t fallbackCount();

}  // namespace qrt::cpu
