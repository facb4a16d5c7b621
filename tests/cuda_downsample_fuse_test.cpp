// The CUDA builder's downsample fusion (src/backends/cuda/downsample_fuse.cpp) as a graph rewrite
// (no GPU needed): a residual block's 1x1 downsample QConv whose only reader is the residual z of a
// QConv, both on the implicit GEMM's tiled kernels, becomes that QConv's inputs 8-12 (z_q gone,
// the downsample's strides kept), and shape inference accepts the fused node; =always fuses a
// downsample on a cuDNN plan without timing. Where it does not apply (an activation on the
// downsample, a second reader of z, another scale, the residual QConv on a persistent tile, a
// cuDNN downsample that cannot be timed, the switch off) the graph is left as it was. The kernel's
// numbers, and the timed decision, are checked on a GPU by CudaQres.DownsampleInTheResidualKernel
// (cuda_qres_test.cpp).
#include <gtest/gtest.h>

#include "qrt/qrt.h"

#ifndef QRT_HAVE_CUDA

TEST(CudaDownsampleFuse, Skipped) { GTEST_SKIP() << "qrt was built without the CUDA backend (no CUDA toolkit found)"; }

#else

#include <cstdio>
#include <map>
#include <string>

#include <cuda_runtime_api.h>

#include "backends/cuda/conv_tactic_file.h"
#include "backends/cuda/own_qconv.h"
#include "backends/cuda/runtime.h"
#include "cuda_test_util.h"
#include "test_util.h"
#include "ir/graph.h"
#include "ops/op.h"
#include "passes/infer_shapes.h"
#include "passes/rewrite_util.h"

namespace qrt {
namespace {

HostTensor filled(DataType t, Dims d, double v) {
  HostTensor h(t, std::move(d));
  for (int64_t i = 0; i < h.numel(); ++i) {
    if (t == DataType::kFloat) h.as<float>()[i] = static_cast<float>(v);
    else h.as<int8_t>()[i] = static_cast<int8_t>(v);
  }
  return h;
}

struct Block {
  std::unique_ptr<ir::Graph> g = std::make_unique<ir::Graph>();
  ir::Node* ds = nullptr;
  ir::Node* conv = nullptr;
};

// x_in [2, 32, 8, 8] int8 -> QConv 1x1 stride 2 (64 channels, z_scale 0.03) -> z [2, 64, 4, 4];
// x_mid [2, 16, 4, 4] int8 -> QConv 1x1 (64 channels, residual z, ReLU) -> y int8, both with
// implicit-GEMM tactics, channels-last, as the CUDA builder leaves a ResNet block after tuning.
Block block(float ds_scale, float z_scale, bool second_reader) {
  Block b;
  ir::Graph& g = *b.g;
  auto input = [&](const char* name, Dims d) {
    ir::Value* v = g.addValue(name);
    v->dtype = DataType::kInt8;
    v->dims = std::move(d);
    v->has_shape = true;
    v->is_graph_input = true;
    g.inputs.push_back(v);
    return v;
  };
  ir::Value* x_in = input("x_in", {2, 32, 8, 8});
  ir::Value* x_mid = input("x_mid", {2, 16, 4, 4});
  auto c = [&](const char* name, HostTensor t) { return passes::rw::addConstant(g, name, std::move(t)); };
  auto qconv = [&](const char* name, std::vector<ir::Value*> in, ir::Value* out, const std::string& sig) {
    ir::Node* n = g.addNode("QConv", name, std::move(in), {out});
    n->domain = kQrtDomain;
    n->backend = "cuda";
    n->attrs[cuda::kAttrTactic] = ir::Attribute::String(sig + "|ig3");
    return n;
  };
  ir::Value* z = g.addValue("z");
  b.ds = qconv("ds",
               {x_in, c("w2", filled(DataType::kInt8, {64, 32, 1, 1}, 1)), c("b2", filled(DataType::kFloat, {64}, 0.1)),
                c("xs2", filled(DataType::kFloat, {}, 0.02)), c("ws2", filled(DataType::kFloat, {64}, 0.01)),
                c("ys2", filled(DataType::kFloat, {}, ds_scale))},
               z, "conv int8>int8 ds");
  b.ds->attrs["strides"] = ir::Attribute::Ints({2, 2});
  ir::Value* y = g.addValue("y");
  b.conv = qconv("conv3",
                 {x_mid, c("w", filled(DataType::kInt8, {64, 16, 1, 1}, 1)), c("b", filled(DataType::kFloat, {64}, 0.2)),
                  c("xs", filled(DataType::kFloat, {}, 0.05)), c("ws", filled(DataType::kFloat, {64}, 0.01)),
                  c("ys", filled(DataType::kFloat, {}, 0.04)), z, c("zs", filled(DataType::kFloat, {}, z_scale))},
                 y, "conv int8>int8 conv3");
  b.conv->attrs["activation"] = ir::Attribute::String("relu");
  y->is_graph_output = true;
  g.outputs.push_back(y);
  if (second_reader) {
    ir::Value* r = g.addValue("r");
    g.addNode("Identity", "other", {z}, {r})->backend = "cuda";
    r->is_graph_output = true;
    g.outputs.push_back(r);
  }
  g.rebuildUses();
  return b;
}

// The switch for the tests that expect the rewrite: the default (timed) where no GPU can time it, so
// that the untimed rule (both nodes on the implicit GEMM fuse) is what runs; =always on a GPU, where
// the clock could keep these small layers apart.
const char* fuseMode() {
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess || n == 0) {
    cudaGetLastError();
    return "on";
  }
  return "always";
}

TEST(CudaDownsampleFuse, DownsampleBecomesInputsOfTheResidualQConv) {
  test::ScopedEnv on("QRT_CUDA_DS_FUSE", fuseMode());
  Block b = block(0.03f, 0.03f, false);
  { Status st = passes::inferShapes(*b.g); ASSERT_TRUE(st.ok()) << st.toString(); }
  int fused = 0;
  { Status st = cuda::fuseDownsampleResidual(*b.g, &fused); ASSERT_TRUE(st.ok()) << st.toString(); }
  EXPECT_EQ(fused, 1);
  int qconvs = 0;
  for (const auto& n : b.g->nodes()) qconvs += n->op_type == "QConv";
  EXPECT_EQ(qconvs, 1) << "the downsample node is gone";
  const ir::Node& n = *b.conv;
  ASSERT_EQ(n.inputs.size(), cuda::kDsWScale + 1);
  EXPECT_EQ(n.inputs[6], nullptr);
  EXPECT_EQ(n.inputs[7]->name, "zs");
  EXPECT_EQ(n.inputs[cuda::kDsX]->name, "x_in");
  EXPECT_EQ(n.inputs[cuda::kDsW]->name, "w2");
  EXPECT_EQ(n.inputs[cuda::kDsBias]->name, "b2");
  EXPECT_EQ(n.inputs[cuda::kDsXScale]->name, "xs2");
  EXPECT_EQ(n.inputs[cuda::kDsWScale]->name, "ws2");
  EXPECT_EQ(n.attrInts(cuda::kAttrDsStrides), (std::vector<int64_t>{2, 2}));
  EXPECT_EQ(n.outputs[0]->dtype, DataType::kInt8);
  EXPECT_EQ(n.outputs[0]->dims, (Dims{2, 64, 4, 4}));
  for (const auto& v : b.g->values()) EXPECT_NE(v->name, "z") << "z is no longer a tensor";
}

TEST(CudaDownsampleFuse, WgmmaTilesFuseToo) {
  test::ScopedEnv on("QRT_CUDA_DS_FUSE", fuseMode());
  Block b = block(0.03f, 0.03f, false);
  b.ds->attrs[cuda::kAttrTactic] = ir::Attribute::String("conv int8>int8 ds|ig10");
  b.conv->attrs[cuda::kAttrTactic] = ir::Attribute::String("conv int8>int8 conv3|ig12");
  { Status st = passes::inferShapes(*b.g); ASSERT_TRUE(st.ok()) << st.toString(); }
  int fused = 0;
  { Status st = cuda::fuseDownsampleResidual(*b.g, &fused); ASSERT_TRUE(st.ok()) << st.toString(); }
  EXPECT_EQ(fused, 1);
  EXPECT_EQ(b.conv->attrString(cuda::kAttrTactic, ""), "conv int8>int8 conv3|ig12") << "the tile stays";
}

TEST(CudaDownsampleFuse, AlwaysFusesWithoutTiming) {
  test::ScopedEnv always("QRT_CUDA_DS_FUSE", "always");
  Block b = block(0.03f, 0.03f, false);
  b.ds->attrs[cuda::kAttrTactic] = ir::Attribute::String("conv int8>int8 ds|f0:c0:e2:k");  // a cuDNN plan
  { Status st = passes::inferShapes(*b.g); ASSERT_TRUE(st.ok()) << st.toString(); }
  int fused = 0;
  { Status st = cuda::fuseDownsampleResidual(*b.g, &fused); ASSERT_TRUE(st.ok()) << st.toString(); }
  EXPECT_EQ(fused, 1);
  EXPECT_TRUE(b.conv->hasInput(cuda::kDsX));
}

// With a timing cache the pair's verdict is read from it (no GPU needed, nothing timed): "apart"
// keeps a pair the untimed rule would fuse, "fused" fuses it; a key of another device is not read.
TEST(CudaDownsampleFuse, VerdictFromTheTimingCache) {
  test::ScopedEnv on("QRT_CUDA_DS_FUSE", "on");
  const std::string dir = test::makeTempDir("ds_fuse");
  ASSERT_FALSE(dir.empty());
  const std::string path = dir + "/timing.cache";
  const std::string where = " | sm_90 test GPU cudnn 9.19.0";
  auto run = [&](const char* verdict, const std::string& key_where) {
    std::map<std::string, cuda::TimingEntry> cache;
    cache["dsfuse conv int8>int8 conv3|ig3 + conv int8>int8 ds|ig3" + key_where] = cuda::TimingEntry{verdict, 12.5};
    EXPECT_TRUE(cuda::writeTimingCache(path, cache).ok());
    Block b = block(0.03f, 0.03f, false);
    EXPECT_TRUE(passes::inferShapes(*b.g).ok());
    int fused = -1;
    Status st = cuda::fuseDownsampleResidual(*b.g, &fused, path, where);
    EXPECT_TRUE(st.ok()) << st.toString();
    return fused;
  };
  EXPECT_EQ(run("apart", where), 0);
  EXPECT_EQ(run("fused", where), 1);
  // Another device's verdict: this build decides itself (no GPU here: the untimed rule fuses the two
  // implicit-GEMM nodes; with one, the clock).
  int dev = 0;
  if (cudaGetDeviceCount(&dev) != cudaSuccess || dev == 0) {
    cudaGetLastError();
    EXPECT_EQ(run("apart", " | sm_80 other GPU cudnn 9.19.0"), 1);
  }
  std::remove(path.c_str());
  std::remove(dir.c_str());
}

TEST(CudaDownsampleFuse, LeftAloneWhereItDoesNotApply) {
  test::ScopedEnv on("QRT_CUDA_DS_FUSE", "on");
  auto unchanged = [](Block& b, const char* why) {
    SCOPED_TRACE(why);
    { Status st = passes::inferShapes(*b.g); ASSERT_TRUE(st.ok()) << st.toString(); }
    int fused = -1;
    ASSERT_TRUE(cuda::fuseDownsampleResidual(*b.g, &fused).ok());
    EXPECT_EQ(fused, 0);
    ASSERT_TRUE(b.conv->hasInput(6));
    EXPECT_EQ(b.conv->inputs[6]->name, "z");
    EXPECT_FALSE(b.conv->hasInput(cuda::kDsX));
  };
  {
    Block b = block(0.03f, 0.03f, true);
    unchanged(b, "z has a second reader");
  }
  {
    Block b = block(0.03f, 0.05f, false);
    unchanged(b, "the downsample's y_scale is not the residual's z_scale");
  }
  {
    Block b = block(0.03f, 0.03f, false);
    b.ds->attrs["activation"] = ir::Attribute::String("relu");
    unchanged(b, "an activation on the downsample");
  }
  {
    Block b = block(0.03f, 0.03f, false);
    b.conv->attrs[cuda::kAttrTactic] = ir::Attribute::String("conv int8>int8 conv3|ig8");
    unchanged(b, "the residual QConv on a persistent tile");
  }
  {
    // QRT_CUDA_DS_FUSE=on times a downsample that is not the implicit GEMM's against the fused
    // kernel; without a GPU nothing is timed and nothing fuses.
    Block b = block(0.03f, 0.03f, false);
    b.ds->attrs[cuda::kAttrTactic] = ir::Attribute::String("conv int8>int8 ds|f0:c0:e2:k");
    cudaDeviceProp prop{};
    if (cudaGetDeviceProperties(&prop, 0) != cudaSuccess) {
      cudaGetLastError();
      unchanged(b, "the downsample on a cuDNN plan, no GPU to time the fusion");
    }
  }
  {
    test::ScopedEnv off("QRT_CUDA_DS_FUSE", "off");
    Block b = block(0.03f, 0.03f, false);
    unchanged(b, "QRT_CUDA_DS_FUSE=off");
  }
}

}  // namespace
}  // namespace qrt

#endif
