// After fuseStemInput: an INT8 engine's stem, a FusedConv on qrt's stem kernel reading the NCHW
// input itself (qrt_x_nchw), quantizes its own output where its only reader quantizes it:
//
//   FusedConv(x, w, b) -> y (fp16) -> MaxPoolQuantize(y, s, zp) -> q
//   => FusedConv(x, w, b, -, s, zp) -> y_q (int8) -> MaxPool(y_q) -> q        (ResNet)
//
//   FusedConv(x, w, b) -> y (fp16) -> QuantizeLinear(y, s, zp) -> q
//   => FusedConv(x, w, b, -, s, zp) -> q                                       (MobileNetV2)
//
// The same values: QuantizeLinear with a positive scale is monotone non-decreasing, so it commutes with
// max (passes/quantize_before_maxpool.h), and both forms quantize the same fp16 values (the stem
// kernel multiplies by 1/scale: a value within an ulp of a rounding midpoint may land one step
// from the QuantizeLinear's, which divides; stem_conv.cu). The
// stem writes a quarter of the bytes and the pool reads a quarter (ResNet-50 at batch 256:
// 411 MB of fp16 against 103 MB of int8); MobileNetV2's stem QuantizeLinear was its own kernel,
// 0.42 ms at batch 256 on an H200 (session 13), of a 5.5 ms engine. The tuner counts that
// kernel when it weighs the stem kernel against cuDNN (stem_choice.cpp).
// QRT_CUDA_STEM_QUANTIZE=off keeps the pool's and the QuantizeLinear's own kernels.
#include <set>

#include "backends/cuda/cuda_kernel.h"
#include "backends/cuda/cuda_util.h"
#include "backends/cuda/runtime.h"
#include "ops/op.h"
#include "passes/infer_shapes.h"
#include "passes/rewrite_util.h"

namespace qrt::cuda {

namespace {

// A per-tensor quantizer of the stem's output: constant positive scale, single-element zero point
// (or none), int8 / uint8 out.
bool perTensorQuantizer(const ir::Node& q) {
  if (!q.hasInput(0) || q.outputs.size() != 1 || !q.outputs[0] || q.attrInt("block_size", 0) != 0) return false;
  if (!passes::rw::positiveScaleConstant(q.hasInput(1) ? q.inputs[1] : nullptr) ||
      (q.hasInput(2) && !passes::rw::singleElementConstant(q.inputs[2])))
    return false;
  const DataType t = q.outputs[0]->dtype;
  return t == DataType::kInt8 || t == DataType::kUInt8;
}

}  // namespace

ir::Node* stemQuantizeReader(const ir::Node& n, bool reads_nchw) {
  if (n.op_type != "FusedConv" || n.domain != kQrtDomain || n.backend != "cuda" || !reads_nchw) return nullptr;
  if (n.hasInput(3) || n.hasInput(4) || n.outputs.size() != 1 || !n.outputs[0]) return nullptr;
  const ir::Value* y = n.outputs[0];
  if (y->dtype != DataType::kHalf || y->is_graph_output || y->consumers.size() != 1) return nullptr;
  ir::Node* r = y->consumers[0];
  if (r->inputs.empty() || r->inputs[0] != y || !perTensorQuantizer(*r)) return nullptr;
  if (r->op_type == "MaxPoolQuantize" && r->domain == kQrtDomain) return r;
  // A QuantizeLinear goes: it must store its int8 as the stem does (channels-last).
  if (r->op_type == "QuantizeLinear" && r->domain.empty() && channelsLast(*r) == channelsLast(n) &&
      !r->outputs[0]->is_graph_output)
    return r;
  return nullptr;
}

Status fuseStemQuantize(ir::Graph& g, int* fused) {
  *fused = 0;
  if (envIs("QRT_CUDA_STEM_QUANTIZE", "off")) return Status::Ok();
  g.rebuildUses();
  std::set<const ir::Node*> dead;
  for (const auto& up : g.nodes()) {
    ir::Node* n = up.get();
    ir::Node* r = stemQuantizeReader(*n, n->attrInt(kAttrXNchw, 0) == 1);
    if (!r) continue;
    n->inputs.resize(6, nullptr);
    n->inputs[4] = r->inputs[1];
    n->inputs[5] = r->hasInput(2) ? r->inputs[2] : nullptr;
    while (!n->inputs.empty() && !n->inputs.back()) n->inputs.pop_back();
    if (r->op_type == "QuantizeLinear") {  // the stem writes the quantizer's output itself
      n->outputs[0] = r->outputs[0];
      dead.insert(r);
    } else {
      ir::Value* y_q = passes::rw::addValueLike(g, *n->outputs[0], "_quantized", r->outputs[0]->dtype);
      n->outputs[0] = y_q;
      r->op_type = "MaxPool";  // its window and layout attributes stay
      r->domain.clear();
      r->inputs = {y_q};
    }
    ++*fused;
  }
  if (*fused == 0) return Status::Ok();
  if (!dead.empty()) g.removeNodes([&](const ir::Node& x) { return dead.count(&x) != 0; });
  g.removeUnusedValues();
  g.rebuildUses();
  return passes::inferShapes(g);
}

}  // namespace qrt::cuda
