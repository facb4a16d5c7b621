// After fuseStemInput and fuseStemQuantize: a stem FusedConv on qrt's stem kernel (reading the
// NCHW input itself, qrt_x_nchw) whose only reader is a 3x3 / stride 2 / pad 1 MaxPool (ResNet's)
// pools its own output (qrt_pool, stem_pool.cu):
//
//   FusedConv(x, w, b[, -, s, zp]) -> y -> MaxPool(y) -> p   =>   FusedConv(x, w, b[, -, s, zp]) {qrt_pool} -> p
//
// The same values: the pool takes the max of the fp16 (or int8) values the stem would have stored,
// and for an int8 stem quantizing is monotone, so pooling then quantizing gives the same bytes.
// The stem's full output (ResNet-50 at batch 256: 411 MB fp16, 103 MB int8) is neither written nor
// read back. On an H100 (session 9, ResNet-50 b256) the fp16 form took stem + pool 0.481 + 0.207 ms
// to 0.620 ms (FP16 engine 39.1k -> 39.6k img/s), the int8 form 0.513 + 0.117 -> 0.638 ms (no gain:
// the int8 pool, reading a quarter of fp16's bytes, was already cheap).
// So by default only the fp16 stem (no y scale, input 4) pools; QRT_CUDA_STEM_POOL=on takes the
// int8 stem too, =off neither. And only where the batch gives the pooled kernel a block for every SM:
// its blocks are an image's segment of pooled rows (at least 4 rows, stemPoolSegments) by 64
// channels, so ResNet's 56 pooled rows make at most 8 blocks an image. At batch 1 on an H200 the
// pooled stem took 0.053 ms of the FP16 engine's 0.544 ms of kernels (session 10) on 8 of its 132
// SMs, where the row-tile kernel splits one image into 56 row tiles and the pool runs apart (not yet
// timed against it there). =on pools at any batch (the tests' small shapes).
#include <algorithm>
#include <cstdint>
#include <vector>

#include "backends/cuda/cuda_kernel.h"
#include "backends/cuda/cuda_util.h"
#include "backends/cuda/runtime.h"
#include "backends/cuda/stem_conv_launch.h"
#include "ops/nn_params.h"
#include "ops/op.h"
#include "passes/infer_shapes.h"

namespace qrt::cuda {

namespace {

// The MaxPool that is the stem `n`'s only reader, where the rewrite applies; else null.
ir::Node* poolAfterStem(const ir::Node& n) {
  if (n.op_type != "FusedConv" || n.domain != kQrtDomain || n.backend != "cuda" || n.attrInt(kAttrXNchw, 0) != 1 ||
      n.attrInt(kAttrStemPool, 0) != 0 || n.hasInput(3) || n.outputs.size() != 1 || !n.outputs[0])
    return nullptr;
  const ir::Value* y = n.outputs[0];
  if (y->is_graph_output || y->consumers.size() != 1 || !y->has_shape || y->dims.size() != 4) return nullptr;
  ir::Node* pool = y->consumers[0];
  if (pool->op_type != "MaxPool" || !pool->domain.empty() || pool->backend != "cuda" || pool->inputs.size() != 1 ||
      pool->inputs[0] != y || pool->outputs.size() != 1 || !pool->outputs[0] || channelsLast(*pool) != channelsLast(n) ||
      pool->attrInt("storage_order", 0) != 0)
    return nullptr;
  Result<WindowAttrs> a = readWindowAttrs(*pool);
  if (!a.ok()) return nullptr;
  Result<Window> win = poolWindow(*a, y->dims);
  if (!win.ok() || win->rank != 2) return nullptr;
  for (size_t i = 0; i < 2; ++i)
    if (win->kernel[i] != 3 || win->strides[i] != 2 || win->dilations[i] != 1 || win->pad_begin[i] != 1 ||
        win->pad_end[i] != 1 || y->dims[2 + i] < 1 || win->out[i] != (y->dims[2 + i] - 1) / 2 + 1)
      return nullptr;
  return y->dims[3] <= 128 ? pool : nullptr;  // the kernel's row tile
}

}  // namespace

Status fuseStemPool(ir::Graph& g, int sm_count, int* fused) {
  *fused = 0;
  if (envIs("QRT_CUDA_STEM_POOL", "off")) return Status::Ok();
  const bool forced = envIs("QRT_CUDA_STEM_POOL", "on");
  g.rebuildUses();
  std::vector<const ir::Node*> pools;
  for (const auto& up : g.nodes()) {
    ir::Node* n = up.get();
    ir::Node* pool = poolAfterStem(*n);
    if (!pool || (n->hasInput(4) && !forced)) continue;
    // The pooled kernel's blocks at the most (every image's segments, every 64 channels); a dynamic
    // batch (n unknown here) pools.
    const Dims& p = pool->outputs[0]->dims;
    const int64_t batch = p.size() == 4 ? p[0] : 0;
    if (!forced && batch > 0 && p[2] > 0 &&
        batch * launch::stemPoolSegments(batch, static_cast<int>(p[2]), INT64_MAX) * ((p[1] + 63) / 64) < sm_count)
      continue;
    n->attrs[kAttrStemPool] = ir::Attribute::Int(1);
    n->name += " + " + pool->name;  // as the other fusions name their nodes (the per-layer profile)
    n->outputs[0] = pool->outputs[0];
    pools.push_back(pool);
    ++*fused;
  }
  if (*fused == 0) return Status::Ok();
  g.removeNodes([&](const ir::Node& n) { return std::find(pools.begin(), pools.end(), &n) != pools.end(); });
  g.removeUnusedValues();
  g.rebuildUses();
  return passes::inferShapes(g);
}

}  // namespace qrt::cuda
