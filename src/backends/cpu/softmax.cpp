// Softmax and LogSoftmax on oneDNN's softmax primitive (softmax_accurate / softmax_log), fp32,
// plain layouts only. (bf16 is not registered: oneDNN 2.6's bf16 softmax was measured up to 1.3
// bf16 ulps off the once-rounded fp32 result, where the reference's bf16 kernel rounds once.) The input is viewed as the reference backend views it
// (backends/reference/softmax.cpp): [outer, n, inner] with the rows of n elements normalized.
// Opset 13 and later: n is the size of `axis` (default -1); before 13 the input is coerced to 2-D
// at `axis` (default 1), so n is the product of dims[axis:] and inner is 1. oneDNN then gets a
// 2-D [outer, n] tensor (axis 1) or a 3-D [outer, n, inner] one (axis 1): one primitive covers
// both semantics, and it threads over rows itself (matchThreads in dnnl_util).
// Why oneDNN rather than a loop of our own: its jit kernel vectorizes exp (a plain C++ loop
// does not without -ffast-math); figures in bench/results/cpu-ops-2026-11-27.md.
#include "backends/cpu/dnnl_util.h"
#include "backends/cpu/isa.h"
#include "backends/cpu/kernel_table.h"

namespace qrt::cpu {

namespace {

using dnnl::memory;

class SoftmaxKernel final : public DnnlKernel {
 public:
  SoftmaxKernel(const ir::Node& node, bool log, std::unique_ptr<Kernel> fallback)
      : DnnlKernel(node.describe(), std::move(fallback)),
        log_(log),
        coerce_2d_(node.opset < 13),
        axis_(node.attrInt("axis", coerce_2d_ ? 1 : -1)) {}

 protected:
  Status prepare(const std::vector<TensorView>& inputs, const std::vector<TensorView>& outputs) override {
    const Dims& d = inputs[0].dims;
    const int64_t rank = static_cast<int64_t>(d.size());
    // Out-of-range axes: the reference kernel reports them.
    if (rank == 0 || axis_ < -rank || axis_ > (coerce_2d_ ? rank : rank - 1))
      return unsupported(where(), ": axis out of range");
    const int64_t axis = axis_ < 0 ? axis_ + rank : axis_;
    int64_t outer = 1, n = 1, inner = 1;
    for (int64_t i = 0; i < rank; ++i) {
      if (i < axis) outer *= d[i];
      else if (i == axis || coerce_2d_) n *= d[i];
      else inner *= d[i];
    }
    if (outer * n * inner == 0) return unsupported(where(), ": empty tensors");
    const memory::data_type t = dnnlType(inputs[0].dtype);
    if (t != memory::data_type::f32 || dnnlType(outputs[0].dtype) != t) return unsupported(where(), ": fp32 only");
    const memory::desc md = plainDesc(inner == 1 ? memory::dims{outer, n} : memory::dims{outer, n, inner}, t);
    dnnl::softmax_v2_forward::primitive_desc pd;
    QRT_RETURN_IF_ERROR(dnnlTry(where(), [&] {
      dnnl::softmax_v2_forward::desc desc(dnnl::prop_kind::forward_inference,
                                          log_ ? dnnl::algorithm::softmax_log : dnnl::algorithm::softmax_accurate,
                                          md, md, 1);
      pd = dnnl::softmax_v2_forward::primitive_desc(desc, userScratchpad(), engine());
    }));
    return prim_.create(pd, md, md, engine(), where());
  }
  size_t bytes() const override { return prim_.scratchpadBytes(); }
  Status execute(const std::vector<TensorView>& inputs, const std::vector<TensorView>& outputs, void* ws) override {
    return prim_.run(inputs[0].data, outputs[0].data, ws, stream(), where());
  }

 private:
  bool log_, coerce_2d_;
  int64_t axis_;
  SrcDstPrimitive prim_;
};

Result<std::unique_ptr<Kernel>> create(const ir::Node& node, bool log) {
  // Channels-last regions (passes/cpu_layout) never take Softmax; refuse rather than misread one.
  if (nhwcArgs(node).any()) return unsupported(node.describe(), ": NHWC arguments");
  QRT_ASSIGN_OR_RETURN(std::unique_ptr<Kernel> fallback, referenceKernel(node));
  return std::unique_ptr<Kernel>(new SoftmaxKernel(node, log, std::move(fallback)));
}

}  // namespace

Result<std::unique_ptr<Kernel>> createSoftmax(const ir::Node& node) { return create(node, false); }
Result<std::unique_ptr<Kernel>> createLogSoftmax(const ir::Node& node) { return create(node, true); }

}  // namespace qrt::cpu
