// After fuseStemInput: an INT8 engine's stem, a FusedConv on qrt's stem kernel reading the NCHW
// input itself (qrt_x_nchw), whose only reader is its pool's MaxPoolQuantize, quantizes its own
// output and the pool runs on int8:
//
//   FusedConv(x, w, b) -> y (fp16) -> MaxPoolQuantize(y, s, zp) -> q
//   => FusedConv(x, w, b, -, s, zp) -> y_q (int8) -> MaxPool(y_q) -> q
//
// The same values: QuantizeLinear with a positive scale is monotone non-decreasing, so it commutes with
// max (passes/quantize_before_maxpool.h), and both forms quantize the same fp16 values (the stem
// kernel multiplies by 1/scale: a value within an ulp of a rounding midpoint may land one step
// from MaxPoolQuantize's, which divides; stem_conv.cu). The
// stem writes a quarter of the bytes and the pool reads a quarter (ResNet-50 at batch 256:
// 411 MB of fp16 against 103 MB of int8). QRT_CUDA_STEM_QUANTIZE=off keeps MaxPoolQuantize.
#include <set>

#include "backends/cuda/cuda_kernel.h"
#include "backends/cuda/cuda_util.h"
#include "backends/cuda/runtime.h"
#include "ops/op.h"
#include "passes/infer_shapes.h"
#include "passes/rewrite_util.h"

namespace qrt::cuda {

namespace {

// The MaxPoolQuantize that is the stem `n`'s only reader, where the rewrite applies; else null.
ir::Node* poolOfStem(const ir::Node& n) {
  if (n.op_type != "FusedConv" || n.domain != kQrtDomain || n.backend != "cuda" || n.attrInt(kAttrXNchw, 0) != 1)
    return nullptr;
  if (n.hasInput(3) || n.hasInput(4) || n.outputs.size() != 1 || !n.outputs[0]) return nullptr;
  const ir::Value* y = n.outputs[0];
  if (y->dtype != DataType::kHalf || y->is_graph_output || y->consumers.size() != 1) return nullptr;
  ir::Node* pool = y->consumers[0];
  if (pool->op_type != "MaxPoolQuantize" || pool->domain != kQrtDomain || pool->inputs[0] != y ||
      pool->outputs.size() != 1 || !passes::rw::positiveScaleConstant(pool->hasInput(1) ? pool->inputs[1] : nullptr) ||
      (pool->hasInput(2) && !passes::rw::singleElementConstant(pool->inputs[2])))
    return nullptr;
  const DataType q = pool->outputs[0]->dtype;
  return q == DataType::kInt8 || q == DataType::kUInt8 ? pool : nullptr;
}

}  // namespace

Status fuseStemQuantize(ir::Graph& g, int* fused) {
  *fused = 0;
  if (envIs("QRT_CUDA_STEM_QUANTIZE", "off")) return Status::Ok();
  g.rebuildUses();
  for (const auto& up : g.nodes()) {
    ir::Node* n = up.get();
    ir::Node* pool = poolOfStem(*n);
    if (!pool) continue;
    ir::Value* y = n->outputs[0];
    ir::Value* y_q = passes::rw::addValueLike(g, *y, "_quantized", pool->outputs[0]->dtype);
    n->inputs.resize(6, nullptr);
    n->inputs[4] = pool->inputs[1];
    n->inputs[5] = pool->hasInput(2) ? pool->inputs[2] : nullptr;
    while (!n->inputs.empty() && !n->inputs.back()) n->inputs.pop_back();
    n->outputs[0] = y_q;
    pool->op_type = "MaxPool";  // its window and layout attributes stay
    pool->domain.clear();
    pool->inputs = {y_q};
    ++*fused;
  }
  if (*fused == 0) return Status::Ok();
  g.removeUnusedValues();
  g.rebuildUses();
  return passes::inferShapes(g);
}

}  // namespace qrt::cuda
