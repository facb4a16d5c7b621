// Reference kernels of Cast and CastLike: every numeric dtype and bool to every other, rounding
// once (see convertValue). The target is the node's output dtype, which shape inference set
// from Cast's `to` attribute or CastLike's second input.
#include "backends/reference/elementwise_kernels.h"
#include "backends/reference/elementwise_util.h"

namespace qrt::reference {

namespace {

template <typename From, typename To>
class CastKernel final : public Kernel {
 public:
  Status run(const std::vector<TensorView>& inputs, const std::vector<TensorView>& outputs, void*) override {
    const From* x = inputs[0].as<const From>();
    To* y = outputs[0].as<To>();
    parallelRange(outputs[0].numel(), [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) y[i] = convertValue<To>(x[i]);
    });
    return Status::Ok();
  }
};

}  // namespace

KernelResult createCast(const ir::Node& node) {
  if (node.outputs.empty() || node.outputs[0] == nullptr) return internalError(node.describe(), ": no output");
  DataType from = node.inputs[0]->dtype, to = node.outputs[0]->dtype;
  std::unique_ptr<Kernel> k;
  Status inner = Status::Ok();
  Status outer = dispatchAll(from, [&](auto from_tag) {
    inner = dispatchAll(to, [&](auto to_tag) {
      k = std::make_unique<CastKernel<decltype(from_tag), decltype(to_tag)>>();
    });
  });
  if (!outer.ok()) return outer.withContext(node.describe());
  if (!inner.ok()) return inner.withContext(node.describe());
  return k;
}

}  // namespace qrt::reference
