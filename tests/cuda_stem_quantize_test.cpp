// The CUDA builder's stem quantization (src/backends/cuda/stem_quantize.cpp) as a graph rewrite
// (no GPU needed): an INT8 engine's stem FusedConv on the stem kernel (qrt_x_nchw) whose only
// reader is MaxPoolQuantize writes int8 itself (inputs 4, 5: the pool's y_scale and zero point)
// and the pool becomes an int8 MaxPool with the same window; shape inference keeps those types.
// Where the rewrite does not apply (no qrt_x_nchw, a second reader of the stem's output, a
// non-positive scale, QRT_CUDA_STEM_QUANTIZE=off) the graph is left as it was. The kernels'
// numbers are checked on a GPU by CudaInt8Stem.PoolThenQuantizeFuse (cuda_int8_test.cpp). And the
// pool taken into the stem (stem_pool.cpp) the same way.
#include <gtest/gtest.h>

#include "qrt/qrt.h"

#ifndef QRT_HAVE_CUDA

TEST(CudaStemQuantize, Skipped) { GTEST_SKIP() << "qrt was built without the CUDA backend (no CUDA toolkit found)"; }

#else

#include <algorithm>
#include <string>

#include "backends/cuda/cuda_kernel.h"
#include "backends/cuda/runtime.h"
#include "core/half.h"
#include "cuda_test_util.h"
#include "ir/graph.h"
#include "ops/op.h"
#include "passes/infer_shapes.h"
#include "passes/rewrite_util.h"

namespace qrt {
namespace {

HostTensor scalar(DataType t, double v) {
  HostTensor s(t, {});
  if (t == DataType::kFloat) s.as<float>()[0] = static_cast<float>(v);
  else s.as<int8_t>()[0] = static_cast<int8_t>(v);
  return s;
}

struct StemGraph {
  std::unique_ptr<ir::Graph> g = std::make_unique<ir::Graph>();
  ir::Node* conv = nullptr;
  ir::Node* pool = nullptr;
};

// x [2, 3, 32, 32] fp32 NCHW -> FusedConv 7x7/2 (fp16 weights, ReLU, qrt_x_nchw, qrt_x_cast)
// -> y [2, 16, 16, 16] fp16 -> MaxPoolQuantize 3x3/2 pad 1 (scale, zero point) -> q int8, as the
// CUDA builder leaves an INT8 ResNet stem before this step.
StemGraph stemGraph(float scale, bool second_reader) {
  StemGraph s;
  ir::Graph& g = *s.g;
  ir::Value* x = g.addValue("x");
  x->dtype = DataType::kFloat;
  x->dims = {2, 3, 32, 32};
  x->has_shape = true;
  x->is_graph_input = true;
  g.inputs.push_back(x);
  HostTensor w(DataType::kHalf, {16, 3, 7, 7});
  for (int64_t i = 0; i < w.numel(); ++i) w.as<uint16_t>()[i] = floatToHalf(0.01f * static_cast<float>(i % 7 - 3));
  ir::Value* wv = passes::rw::addConstant(g, "w", std::move(w));
  ir::Value* b = passes::rw::addConstant(g, "b", HostTensor(DataType::kHalf, {16}));
  ir::Value* y = g.addValue("y");
  s.conv = g.addNode("FusedConv", "stem", {x, wv, b}, {y});
  s.conv->domain = kQrtDomain;
  s.conv->backend = "cuda";
  s.conv->attrs["kernel_shape"] = ir::Attribute::Ints({7, 7});
  s.conv->attrs["strides"] = ir::Attribute::Ints({2, 2});
  s.conv->attrs["pads"] = ir::Attribute::Ints({3, 3, 3, 3});
  s.conv->attrs["activation"] = ir::Attribute::String("relu");
  s.conv->attrs[cuda::kAttrXNchw] = ir::Attribute::Int(1);
  s.conv->attrs[cuda::kAttrXCast] = ir::Attribute::Int(1);
  ir::Value* q = g.addValue("q");
  s.pool = g.addNode("MaxPoolQuantize", "pool", {y, passes::rw::addConstant(g, "s", scalar(DataType::kFloat, scale)),
                                                 passes::rw::addConstant(g, "zp", scalar(DataType::kInt8, 3))},
                     {q});
  s.pool->domain = kQrtDomain;
  s.pool->backend = "cuda";
  s.pool->attrs["kernel_shape"] = ir::Attribute::Ints({3, 3});
  s.pool->attrs["strides"] = ir::Attribute::Ints({2, 2});
  s.pool->attrs["pads"] = ir::Attribute::Ints({1, 1, 1, 1});
  q->is_graph_output = true;
  g.outputs.push_back(q);
  if (second_reader) {
    ir::Value* r = g.addValue("r");
    g.addNode("Relu", "other", {y}, {r})->backend = "cuda";
    r->is_graph_output = true;
    g.outputs.push_back(r);
  }
  g.rebuildUses();
  return s;
}

TEST(CudaStemQuantize, StemWritesInt8ForAnInt8Pool) {
  StemGraph s = stemGraph(0.05f, false);
  { Status st = passes::inferShapes(*s.g); ASSERT_TRUE(st.ok()) << st.toString(); }
  ASSERT_EQ(s.conv->outputs[0]->dtype, DataType::kHalf);
  int fused = 0;
  ASSERT_TRUE(cuda::fuseStemQuantize(*s.g, &fused).ok());
  EXPECT_EQ(fused, 1);
  const ir::Value* yq = s.conv->outputs[0];
  EXPECT_EQ(yq->dtype, DataType::kInt8);
  EXPECT_EQ(yq->dims, (Dims{2, 16, 16, 16}));
  ASSERT_EQ(s.conv->inputs.size(), 6u);
  EXPECT_EQ(s.conv->inputs[3], nullptr);
  EXPECT_EQ(s.conv->inputs[4]->name, "s");
  EXPECT_EQ(s.conv->inputs[5]->name, "zp");
  EXPECT_EQ(s.pool->op_type, "MaxPool");
  EXPECT_TRUE(s.pool->domain.empty());
  ASSERT_EQ(s.pool->inputs.size(), 1u);
  EXPECT_EQ(s.pool->inputs[0], yq);
  EXPECT_EQ(s.pool->outputs[0]->name, "q");
  EXPECT_EQ(s.pool->outputs[0]->dtype, DataType::kInt8);
  EXPECT_EQ(s.pool->outputs[0]->dims, (Dims{2, 16, 8, 8}));
  EXPECT_EQ(s.pool->attrs.at("kernel_shape").ints, (std::vector<int64_t>{3, 3}));
  for (const auto& v : s.g->values()) EXPECT_NE(v->name, "y") << "the fp16 output is gone";
}

// MobileNetV2's stem: its only reader is a QuantizeLinear (no pool), which a depthwise QConv reads.
// The QuantizeLinear goes and the stem writes its output (int8, the quantizer's scale and zero point).
void quantizeReader(StemGraph& s, bool q_is_output = false) {
  ir::Graph& g = *s.g;
  s.pool->op_type = "QuantizeLinear";
  s.pool->domain.clear();
  s.pool->attrs.clear();
  ir::Value* q = s.pool->outputs[0];
  if (!q_is_output) {
    q->is_graph_output = false;
    g.outputs.erase(std::find(g.outputs.begin(), g.outputs.end(), q));
    ir::Value* o = g.addValue("o");
    g.addNode("Identity", "reader", {q}, {o})->backend = "cuda";
    o->is_graph_output = true;
    g.outputs.push_back(o);
  }
  g.rebuildUses();
}

TEST(CudaStemQuantize, StemWritesTheOutputOfItsQuantizeLinear) {
  StemGraph s = stemGraph(0.05f, false);
  quantizeReader(s);
  ir::Node* q = s.pool;
  { Status st = passes::inferShapes(*s.g); ASSERT_TRUE(st.ok()) << st.toString(); }
  int fused = 0;
  ASSERT_TRUE(cuda::fuseStemQuantize(*s.g, &fused).ok());
  EXPECT_EQ(fused, 1);
  for (const auto& n : s.g->nodes()) EXPECT_NE(n.get(), q) << "the QuantizeLinear is gone";
  EXPECT_EQ(s.conv->outputs[0]->name, "q");
  EXPECT_EQ(s.conv->outputs[0]->dtype, DataType::kInt8);
  EXPECT_EQ(s.conv->outputs[0]->dims, (Dims{2, 16, 16, 16}));
  ASSERT_EQ(s.conv->inputs.size(), 6u);
  EXPECT_EQ(s.conv->inputs[4]->name, "s");
  EXPECT_EQ(s.conv->inputs[5]->name, "zp");
  for (const auto& v : s.g->values()) EXPECT_NE(v->name, "y") << "the fp16 output is gone";
  // Not where the quantizer's output is the caller's, its scale per channel, or it stores another layout.
  auto unchanged = [](StemGraph& t, const char* why) {
    SCOPED_TRACE(why);
    { Status st = passes::inferShapes(*t.g); ASSERT_TRUE(st.ok()) << st.toString(); }
    int n = -1;
    ASSERT_TRUE(cuda::fuseStemQuantize(*t.g, &n).ok());
    EXPECT_EQ(n, 0);
    EXPECT_EQ(t.conv->outputs[0]->dtype, DataType::kHalf);
  };
  {
    StemGraph t = stemGraph(0.05f, false);
    quantizeReader(t, true);
    unchanged(t, "the quantized output is a graph output");
  }
  {
    StemGraph t = stemGraph(0.05f, false);
    quantizeReader(t);
    HostTensor s16(DataType::kFloat, {16});
    for (int64_t i = 0; i < 16; ++i) s16.as<float>()[i] = 0.05f;
    t.pool->inputs[1] = passes::rw::addConstant(*t.g, "s16", std::move(s16));
    t.pool->inputs[2] = passes::rw::addConstant(*t.g, "zp16", HostTensor(DataType::kInt8, {16}));
    t.pool->attrs["axis"] = ir::Attribute::Int(1);
    t.pool->opset = 13;
    t.g->rebuildUses();
    unchanged(t, "per-channel scales");
  }
  {
    StemGraph t = stemGraph(0.05f, false);
    quantizeReader(t);
    t.conv->attrs[cuda::kAttrNhwc] = ir::Attribute::Int(1);
    unchanged(t, "the stem stores NHWC, the quantizer NCHW");
  }
}

TEST(CudaStemQuantize, LeftAloneWhereItDoesNotApply) {
  auto unchanged = [](StemGraph& s, const char* why) {
    SCOPED_TRACE(why);
    { Status st = passes::inferShapes(*s.g); ASSERT_TRUE(st.ok()) << st.toString(); }
    int fused = -1;
    ASSERT_TRUE(cuda::fuseStemQuantize(*s.g, &fused).ok());
    EXPECT_EQ(fused, 0);
    EXPECT_EQ(s.conv->outputs[0]->dtype, DataType::kHalf);
    EXPECT_EQ(s.pool->op_type, "MaxPoolQuantize");
  };
  {
    StemGraph s = stemGraph(0.05f, true);
    unchanged(s, "the stem's output has a second reader");
  }
  {
    StemGraph s = stemGraph(-0.05f, false);
    unchanged(s, "a negative scale reverses the order");
  }
  {
    StemGraph s = stemGraph(0.05f, false);
    s.conv->attrs.erase(cuda::kAttrXNchw);
    unchanged(s, "not on the stem kernel's NCHW-input path");
  }
  {
    test::ScopedEnv off("QRT_CUDA_STEM_QUANTIZE", "off");
    StemGraph s = stemGraph(0.05f, false);
    unchanged(s, "QRT_CUDA_STEM_QUANTIZE=off");
  }
}

// Then the stem pools its own output (stem_pool.cpp): the MaxPool goes, the FusedConv gets qrt_pool
// and writes the pool's output, whose shape inference keeps [2, 16, 8, 8] (int8 for the quantized
// stem, fp16 for the plain one). By default only the fp16 stem pools, and only where the batch gives
// the pooled kernel a block for every SM (QRT_CUDA_STEM_POOL=on: the int8 one too, at any batch;
// =off: neither). Not where the pool is not 3x3 / 2 / pad 1. The kernel's numbers:
// CudaStem.PoolInTheStemKernel (cuda_stem_test.cpp), CudaInt8Stem.StemPoolsItsInt8Output.
TEST(CudaStemQuantize, StemPoolsItsOwnOutput) {
  // quantize: the INT8 engine's stem (fuseStemQuantize first); else the FP16 engine's, whose pool is
  // a plain MaxPool of the fp16 stem output.
  auto run = [](StemGraph& s, const char* on, int* fused, bool quantize = true) {
    test::ScopedEnv env("QRT_CUDA_STEM_POOL", on);
    if (!quantize) {
      s.pool->op_type = "MaxPool";
      s.pool->domain.clear();
      s.pool->inputs.resize(1);
    }
    { Status st = passes::inferShapes(*s.g); ASSERT_TRUE(st.ok()) << st.toString(); }
    if (quantize) {
      int quantized = 0;
      ASSERT_TRUE(cuda::fuseStemQuantize(*s.g, &quantized).ok());
      ASSERT_EQ(quantized, 1);
    }
    Status st = cuda::fuseStemPool(*s.g, 1, fused);
    ASSERT_TRUE(st.ok()) << st.toString();
  };
  {
    StemGraph s = stemGraph(0.05f, false);
    int fused = 0;
    run(s, "on", &fused);
    EXPECT_EQ(fused, 1);
    EXPECT_EQ(s.conv->attrInt(cuda::kAttrStemPool, 0), 1);
    EXPECT_EQ(s.conv->outputs[0]->name, "q");
    EXPECT_EQ(s.conv->outputs[0]->dtype, DataType::kInt8);
    EXPECT_EQ(s.conv->outputs[0]->dims, (Dims{2, 16, 8, 8}));
    for (const auto& n : s.g->nodes()) EXPECT_NE(n->op_type, "MaxPool");
  }
  for (const char* sw : {"off", static_cast<const char*>(nullptr)}) {
    StemGraph s = stemGraph(0.05f, false);
    int fused = -1;
    run(s, sw, &fused);
    EXPECT_EQ(fused, 0) << "the int8 stem, QRT_CUDA_STEM_POOL=" << (sw ? sw : "(unset)");
    EXPECT_EQ(s.conv->attrInt(cuda::kAttrStemPool, 0), 0);
  }
  for (const char* sw : {"on", static_cast<const char*>(nullptr)}) {
    StemGraph s = stemGraph(0.05f, false);
    int fused = 0;
    run(s, sw, &fused, false);
    EXPECT_EQ(fused, 1) << "the fp16 stem, QRT_CUDA_STEM_POOL=" << (sw ? sw : "(unset)");
    EXPECT_EQ(s.conv->attrInt(cuda::kAttrStemPool, 0), 1);
    EXPECT_EQ(s.conv->outputs[0]->name, "q");
    EXPECT_EQ(s.conv->outputs[0]->dtype, DataType::kHalf);
    EXPECT_EQ(s.conv->outputs[0]->dims, (Dims{2, 16, 8, 8}));
    for (const auto& n : s.g->nodes()) EXPECT_NE(n->op_type, "MaxPool");
  }
  {
    StemGraph s = stemGraph(0.05f, false);
    int fused = -1;
    run(s, "off", &fused, false);
    EXPECT_EQ(fused, 0) << "the fp16 stem, QRT_CUDA_STEM_POOL=off";
  }
  // The batch against the GPU: 2 images of 8 pooled rows are 2 segments each, 4 blocks of 16
  // channels. They fill 4 SMs, not 5: then only QRT_CUDA_STEM_POOL=on pools.
  for (const char* sw : {static_cast<const char*>(nullptr), "on"})
    for (const int sms : {4, 5}) {
      StemGraph s = stemGraph(0.05f, false);
      s.pool->op_type = "MaxPool";
      s.pool->domain.clear();
      s.pool->inputs.resize(1);
      test::ScopedEnv env("QRT_CUDA_STEM_POOL", sw);
      { Status st = passes::inferShapes(*s.g); ASSERT_TRUE(st.ok()) << st.toString(); }
      int fused = -1;
      ASSERT_TRUE(cuda::fuseStemPool(*s.g, sms, &fused).ok());
      EXPECT_EQ(fused, sms == 4 || sw ? 1 : 0) << "4 blocks, " << sms << " SMs, QRT_CUDA_STEM_POOL=" << (sw ? sw : "(unset)");
    }
  {
    StemGraph s = stemGraph(0.05f, false);
    s.pool->attrs["kernel_shape"] = ir::Attribute::Ints({2, 2});
    s.pool->attrs["pads"] = ir::Attribute::Ints({0, 0, 0, 0});
    int fused = -1;
    run(s, "on", &fused);
    EXPECT_EQ(fused, 0) << "a 2x2 pool is not the kernel's";
    EXPECT_EQ(s.pool->outputs[0]->dims, (Dims{2, 16, 8, 8}));
  }
}

}  // namespace
}  // namespace qrt

#endif
