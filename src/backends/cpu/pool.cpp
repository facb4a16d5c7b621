// oneDNN MaxPool, AveragePool, GlobalAveragePool and GlobalMaxPool, FP32, on plain NCHW or, in
// a channels-last region of the layout pass, NHWC (pooling_v2: dilations). MaxPool's optional
// Indices output stays with the reference backend.
//
// ceil_mode is an end pad: oneDNN gets the end pad that its size equation needs for the output
// size ONNX computed. That is exact for max and for averages that exclude padding; an average
// that includes padding would also count those extra taps, so such shapes (end pad grown past
// the explicit one) run on the reference kernel.
#include <algorithm>

#include "backends/cpu/dnnl_util.h"
#include "backends/cpu/isa.h"
#include "backends/cpu/kernel_table.h"
#include "ops/nn_params.h"

namespace qrt::cpu {

namespace {

using dnnl::memory;

enum class PoolKind { kMax, kAverage, kGlobalAverage, kGlobalMax };

struct PoolSetup {
  std::string where;
  PoolKind kind = PoolKind::kMax;
  WindowAttrs attrs;               // not for global pools
  bool count_include_pad = false;  // AveragePool
  NhwcArgs nhwc;                   // NHWC inside a channels-last region (passes/cpu_layout.cpp)
};

class PoolKernel final : public DnnlKernel {
 public:
  PoolKernel(PoolSetup s, std::unique_ptr<Kernel> fallback)
      : DnnlKernel(s.where, std::move(fallback), s.nhwc), s_(std::move(s)) {}

 protected:
  Status prepare(const std::vector<TensorView>& inputs, const std::vector<TensorView>& outputs) override {
    const Dims& x = inputs[0].dims;
    const Dims& y = outputs[0].dims;
    if (x.size() < 3 || x.size() > 5) return unsupported(where(), ": oneDNN pools are 1-D to 3-D");
    if (volume(x) == 0 || volume(y) == 0) return unsupported(where(), ": empty tensors");
    memory::dims kernel, strides, dilates, pad_l, pad_r;
    if (s_.kind == PoolKind::kGlobalAverage || s_.kind == PoolKind::kGlobalMax) {
      for (size_t i = 2; i < x.size(); ++i) {
        kernel.push_back(x[i]);
        strides.push_back(1);
        dilates.push_back(0);
        pad_l.push_back(0);
        pad_r.push_back(0);
      }
    } else {
      QRT_ASSIGN_OR_RETURN(Window win, poolWindow(s_.attrs, x));
      for (size_t i = 0; i < win.rank; ++i) {
        int64_t span = (win.kernel[i] - 1) * win.dilations[i] + 1;
        int64_t needed = (win.out[i] - 1) * win.strides[i] + span - win.in[i] - win.pad_begin[i];
        if (s_.kind == PoolKind::kAverage && s_.count_include_pad && needed > win.pad_end[i])
          return unsupported(where(), ": ceil_mode window past the padding with count_include_pad");
        kernel.push_back(win.kernel[i]);
        strides.push_back(win.strides[i]);
        dilates.push_back(win.dilations[i] - 1);
        pad_l.push_back(win.pad_begin[i]);
        pad_r.push_back(std::max<int64_t>(needed, 0));  // floor mode may leave part of the pad unused
      }
    }
    dnnl::algorithm alg = dnnl::algorithm::pooling_max;
    if (s_.kind == PoolKind::kAverage || s_.kind == PoolKind::kGlobalAverage)
      alg = s_.count_include_pad ? dnnl::algorithm::pooling_avg_include_padding
                                 : dnnl::algorithm::pooling_avg_exclude_padding;
    // bf16 pools where the builder chose bf16 (f32 accumulation for averages).
    memory::desc x_md = activationDesc(toDnnl(x), nhwc().input(0), dnnlType(inputs[0].dtype));
    memory::desc y_md = activationDesc(toDnnl(y), nhwc().output(0), dnnlType(outputs[0].dtype));
    dnnl::pooling_v2_forward::primitive_desc pd;
    QRT_RETURN_IF_ERROR(dnnlTry(where(), [&] {
      dnnl::pooling_v2_forward::desc d(dnnl::prop_kind::forward_inference, alg, x_md, y_md, strides, kernel, dilates,
                                       pad_l, pad_r);
      pd = dnnl::pooling_v2_forward::primitive_desc(d, userScratchpad(), engine());
    }));
    return prim_.create(pd, x_md, y_md, engine(), where());
  }

  size_t bytes() const override { return prim_.scratchpadBytes(); }

  Status execute(const std::vector<TensorView>& inputs, const std::vector<TensorView>& outputs, void* ws) override {
    return prim_.run(inputs[0].data, outputs[0].data, ws, stream(), where());
  }

 private:
  PoolSetup s_;
  SrcDstPrimitive prim_;
};

Result<std::unique_ptr<Kernel>> create(const ir::Node& node, PoolKind kind) {
  PoolSetup s;
  s.where = node.describe();
  s.kind = kind;
  if (kind == PoolKind::kMax || kind == PoolKind::kAverage) {
    QRT_ASSIGN_OR_RETURN(s.attrs, readWindowAttrs(node));
  }
  if (kind == PoolKind::kMax && node.outputs.size() > 1 && node.outputs[1])
    return unsupported(s.where, ": MaxPool's Indices output");
  s.count_include_pad = kind == PoolKind::kAverage && node.attrInt("count_include_pad", 0) != 0;
  s.nhwc = nhwcArgs(node);
  QRT_ASSIGN_OR_RETURN(std::unique_ptr<Kernel> fallback, referenceKernel(node));
  return std::unique_ptr<Kernel>(new PoolKernel(std::move(s), std::move(fallback)));
}

}  // namespace

Result<std::unique_ptr<Kernel>> createMaxPool(const ir::Node& node) { return create(node, PoolKind::kMax); }
Result<std::unique_ptr<Kernel>> createAveragePool(const ir::Node& node) { return create(node, PoolKind::kAverage); }
Result<std::unique_ptr<Kernel>> createGlobalAveragePool(const ir::Node& node) {
  return create(node, PoolKind::kGlobalAverage);
}
Result<std::unique_ptr<Kernel>> createGlobalMaxPool(const ir::Node& node) { return create(node, PoolKind::kGlobalMax); }

}  // namespace qrt::cpu
