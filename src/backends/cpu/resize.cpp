// Nearest Resize by whole factors inside the cpu backend's channels-last regions (the FPN
// upsamplings of PP-OCR's det model: 2x, 4x, 8x, asymmetric + floor), on oneDNN's resampling
// primitive, NHWC in and out. For a whole factor f, ONNX's asymmetric/floor index floor(o / f)
// and oneDNN's nearest index floor((o + 0.5) / f) are the same. Other modes and factors stay on
// the reference backend; like eltwise.cpp, the factory takes nodes inside regions only.
#include <cmath>

#include "backends/cpu/dnnl_util.h"
#include "backends/cpu/kernel_table.h"
#include "ops/resize_params.h"
#include "passes/channels_last.h"

namespace qrt::cpu {

namespace {

using dnnl::memory;

class NearestResizeKernel final : public DnnlKernel {
 public:
  NearestResizeKernel(std::string where, std::vector<int64_t> factors, std::unique_ptr<Kernel> fallback, NhwcArgs nhwc)
      : DnnlKernel(std::move(where), std::move(fallback), std::move(nhwc)), factors_(std::move(factors)) {}

 protected:
  Status prepare(const std::vector<TensorView>& inputs, const std::vector<TensorView>& outputs) override {
    const Dims& x = inputs[0].dims;
    const Dims& y = outputs[0].dims;
    if (x.size() != factors_.size() || y.size() != x.size() || x.size() < 3 || volume(x) == 0)
      return unsupported(where(), ": not a whole-factor nearest resize of these dims");
    for (size_t i = 0; i < x.size(); ++i)
      if (y[i] != x[i] * factors_[i] || (i < 2 && factors_[i] != 1))
        return unsupported(where(), ": output ", dimsToString(y), " is not ", dimsToString(x), " times whole factors");
    memory::desc x_md = activationDesc(toDnnl(x), nhwc().input(0)), y_md = activationDesc(toDnnl(y), nhwc().output(0));
    dnnl::resampling_forward::primitive_desc pd;
    QRT_RETURN_IF_ERROR(dnnlTry(where(), [&] {
      dnnl::resampling_forward::desc d(dnnl::prop_kind::forward_inference, dnnl::algorithm::resampling_nearest, x_md,
                                       y_md);
      pd = dnnl::resampling_forward::primitive_desc(d, userScratchpad(), engine());
    }));
    return prim_.create(pd, x_md, y_md, engine(), where());
  }
  size_t bytes() const override { return prim_.scratchpadBytes(); }
  Status execute(const std::vector<TensorView>& inputs, const std::vector<TensorView>& outputs, void* ws) override {
    return prim_.run(inputs[0].data, outputs[0].data, ws, stream(), where());
  }

 private:
  std::vector<int64_t> factors_;
  SrcDstPrimitive prim_;
};

}  // namespace

Result<std::unique_ptr<Kernel>> createResize(const ir::Node& node) {
  if (!passes::storedNhwc(node))
    return unsupported(node.describe(), ": the cpu backend runs it inside NHWC regions only");
  QRT_ASSIGN_OR_RETURN(ResizeAttrs a, parseResizeAttrs(node));
  if (a.mode != ResizeMode::kNearest || a.coord != ResizeCoord::kAsymmetric || a.nearest != NearestMode::kFloor ||
      !a.axes.empty() || a.scales_input < 0 || !node.hasInput(a.scales_input))
    return unsupported(node.describe(), ": only nearest, asymmetric, floor with constant scales");
  const ir::Value* s = node.inputs[a.scales_input];
  if (a.sizes_input >= 0 && node.hasInput(a.sizes_input) && node.inputs[a.sizes_input]->has_shape &&
      volume(node.inputs[a.sizes_input]->dims) != 0)
    return unsupported(node.describe(), ": sizes given");
  if (!s->isConstant() || s->constant->dtype() != DataType::kFloat)
    return unsupported(node.describe(), ": scales are not a constant");
  const auto* scales = static_cast<const float*>(s->constant->data());
  std::vector<int64_t> factors;
  for (int64_t i = 0; i < volume(s->constant->dims()); ++i) {
    if (!(scales[i] >= 1.f) || scales[i] != std::floor(scales[i]) || scales[i] > 64.f)
      return unsupported(node.describe(), ": scale ", scales[i], " is not a whole factor");
    factors.push_back(static_cast<int64_t>(scales[i]));
  }
  QRT_ASSIGN_OR_RETURN(std::unique_ptr<Kernel> fallback, referenceKernel(node));
  return std::unique_ptr<Kernel>(new NearestResizeKernel(node.describe(), std::move(factors), std::move(fallback),
                                                         nhwcArgs(node)));
}

}  // namespace qrt::cpu
