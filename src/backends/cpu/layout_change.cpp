// The layout changes of the cpu backend's channels-last regions (passes/cpu_layout.cpp): an
// Identity with qrt_to_nhwc is a oneDNN reorder between plain NCHW and NHWC (acdb) of the same
// dims. Any rank from 3 to 5 would work the same way; the pass only makes 4-D ones.
#include "backends/cpu/dnnl_util.h"
#include "backends/cpu/isa.h"
#include "backends/cpu/kernel_table.h"
#include "passes/channels_last.h"

namespace qrt::cpu {

namespace {

using dnnl::memory;

class LayoutChangeKernel final : public DnnlKernel {
 public:
  LayoutChangeKernel(std::string where, bool to_nhwc) : DnnlKernel(std::move(where), nullptr), to_nhwc_(to_nhwc) {}

 protected:
  Status prepare(const std::vector<TensorView>& inputs, const std::vector<TensorView>&) override {
    const memory::dims d = toDnnl(inputs[0].dims);
    if (d.size() != 4) return invalidArgument(where(), ": a layout change of a ", d.size(), "-D tensor");
    const memory::data_type t = dnnlType(inputs[0].dtype);  // f32, or s8/u8 in INT8 regions
    memory::desc plain = plainDesc(d, t), nhwc = nhwcDesc(d, t);
    QRT_ASSIGN_OR_RETURN(reorder_, to_nhwc_ ? makeReorder(plain, nhwc, engine(), where())
                                            : makeReorder(nhwc, plain, engine(), where()));
    return Status::Ok();
  }
  size_t bytes() const override { return reorder_.scratchpadBytes(); }
  Status execute(const std::vector<TensorView>& inputs, const std::vector<TensorView>& outputs, void* ws) override {
    return reorder_.run(inputs[0].data, outputs[0].data, ws, stream(), where());
  }

 private:
  bool to_nhwc_;
  Reorder reorder_;
};

}  // namespace

Result<std::unique_ptr<Kernel>> createLayoutChange(const ir::Node& node) {
  if (!node.hasAttr(passes::kAttrToNhwc)) return unsupported(node.describe(), ": not a layout change");
  return std::unique_ptr<Kernel>(new LayoutChangeKernel(node.describe(), node.attrInt(passes::kAttrToNhwc, 1) != 0));
}

}  // namespace qrt::cpu
