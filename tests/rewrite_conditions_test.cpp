// Conditions of graph rewrites that must hold for the rewrite to be exact, each checked end to
// end (build, run) against a float64 computation of the ONNX semantics, on the reference backend
// and on the builder's own choice of backends.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "builder/finalize.h"
#include "core/status_macros.h"
#include "ops/op.h"
#include "passes/quantize_before_maxpool.h"
#include "runtime/engine_impl.h"
#include "model_builder.h"
#include "qrt/qrt.h"

namespace qrt {
namespace {

using test::OneNode;
using test::Tensor;

Result<std::vector<uint8_t>> runY(const Engine& engine, const std::vector<Tensor>& feeds) {
  QRT_ASSIGN_OR_RETURN(auto ctx, engine.createExecutionContext());
  QRT_ASSIGN_OR_RETURN(test::BoundIO io, test::bindFeeds(engine, *ctx, feeds));
  QRT_RETURN_IF_ERROR(ctx->enqueue());
  return io.y;
}

// Q(max(window)) of every window of a square 2-D MaxPool over `planes` planes of h x h values,
// in float64 as ONNX defines it (pads never win: out-of-range taps are skipped), saturated int8.
std::vector<int8_t> quantizedMaxPool(const std::vector<float>& x, int64_t planes, int64_t h, int64_t out, int64_t k,
                                     int64_t s, int64_t pad, int64_t dilation, double scale, int zero_point) {
  std::vector<int8_t> want;
  for (int64_t c = 0; c < planes; ++c)
    for (int64_t oy = 0; oy < out; ++oy)
      for (int64_t ox = 0; ox < out; ++ox) {
        double mx = -INFINITY;
        for (int64_t ky = 0; ky < k; ++ky)
          for (int64_t kx = 0; kx < k; ++kx) {
            const int64_t iy = oy * s - pad + ky * dilation, ix = ox * s - pad + kx * dilation;
            if (iy < 0 || iy >= h || ix < 0 || ix >= h) continue;
            mx = std::max<double>(mx, x[static_cast<size_t>((c * h + iy) * h + ix)]);
          }
        const double q = std::nearbyint(mx / static_cast<double>(static_cast<float>(scale))) + zero_point;
        want.push_back(static_cast<int8_t>(std::clamp(q, -128.0, 127.0)));
      }
  return want;
}

// The int8 bytes of output Y equal `want`.
void expectInt8Output(const std::vector<uint8_t>& y, const std::vector<int8_t>& want) {
  ASSERT_EQ(y.size(), want.size());
  std::vector<int8_t> got(want.size());
  std::memcpy(got.data(), y.data(), got.size());
  EXPECT_EQ(got, want);
}

// MaxPool -> QuantizeLinear with a negative scale: Q reverses the order of values, so moving it
// above the pool (passes/quantize_before_maxpool.h) would pool the quantized minimum. The result
// must be Q(max(window)), as ONNX defines it.
TEST(RewriteConditions, MaxPoolThenQuantizeWithNegativeScale) {
  const double scale = -0.0123;
  const int zero_point = 3;
  const Tensor x = test::randomTensor("X", {1, 2, 6, 6}, 77);
  OneNode m("MaxPool", 13);
  m.input(x).ints("kernel_shape", {2, 2}).ints("strides", {2, 2});
  m.then("QuantizeLinear")
      .constant(test::scalarTensor("s", DataType::kFloat, scale))
      .constant(test::scalarTensor("z", DataType::kInt8, zero_point))
      .outputType(DataType::kInt8);
  const std::vector<int8_t> want = quantizedMaxPool(x.values, 2, 6, 3, 2, 2, 0, 1, scale, zero_point);
  for (const char* backend : {"reference", static_cast<const char*>(nullptr)}) {
    SCOPED_TRACE(backend ? backend : "builder's choice");
    auto engine = m.build(backend);
    ASSERT_TRUE(engine.ok()) << engine.status().message();
    auto y = runY(**engine, m.feeds());
    ASSERT_TRUE(y.ok()) << y.status().message();
    expectInt8Output(*y, want);
  }
}

// MaxPool -> QuantizeLinear (positive scale) on all-negative values, with pads, dilations and
// ceil_mode (windows partly outside the input):
// after the swap the pool runs on int8, where a pad must still never win (ONNX MaxPool ignores
// pads; a pad read as 0 or as the zero point would exceed every quantized value here).
TEST(RewriteConditions, QuantizedMaxPoolIgnoresPadsOnNegativeValues) {
  const double scale = 0.01;
  const int zero_point = -5;
  for (const auto& [dilation, ceil_mode] : std::vector<std::pair<int64_t, int64_t>>{{1, 0}, {1, 1}, {2, 0}, {2, 1}}) {
    SCOPED_TRACE("dilation " + std::to_string(dilation) + " ceil_mode " + std::to_string(ceil_mode));
    Tensor x = test::randomTensor("X", {1, 3, 8, 8}, 78);
    for (float& v : x.values) v = -0.6f + 0.4f * v;  // in [-1, -0.2)
    const int64_t k = 3, s = 2, pad = 1, h = 8, span = (k - 1) * dilation + 1;
    const int64_t out = (h + 2 * pad - span + (ceil_mode ? s - 1 : 0)) / s + 1;
    ASSERT_LT((out - 1) * s, h + pad) << "ONNX would drop the last window: not this case";
    OneNode m("MaxPool", 13);
    m.input(x).ints("kernel_shape", {k, k}).ints("strides", {s, s}).ints("pads", {pad, pad, pad, pad});
    m.ints("dilations", {dilation, dilation}).integer("ceil_mode", ceil_mode);
    m.then("QuantizeLinear")
        .constant(test::scalarTensor("s", DataType::kFloat, scale))
        .constant(test::scalarTensor("z", DataType::kInt8, zero_point))
        .outputType(DataType::kInt8);
    const std::vector<int8_t> want = quantizedMaxPool(x.values, 3, h, out, k, s, pad, dilation, scale, zero_point);
    for (const char* backend : {"reference", static_cast<const char*>(nullptr)}) {
      SCOPED_TRACE(backend ? backend : "builder's choice");
      auto engine = m.build(backend);
      ASSERT_TRUE(engine.ok()) << engine.status().message();
      auto y = runY(**engine, m.feeds());
      ASSERT_TRUE(y.ok()) << y.status().message();
      expectInt8Output(*y, want);
      bool int8_pool = false;
      for (const LayerInfo& l : (*engine)->layers())
        if (l.op == "MaxPool") int8_pool = l.precision == "int8";
      EXPECT_TRUE(int8_pool) << "the Q was expected above the pool";
    }
  }
}

// The swap must not lose models: 1-D and 3-D MaxPool -> Q build and compute Q(max(window)).
TEST(RewriteConditions, MaxPoolThenQuantizeIn1dAnd3d) {
  const double scale = 0.02;
  for (const Dims& dims : {Dims{2, 3, 9}, Dims{1, 2, 4, 4, 4}}) {
    SCOPED_TRACE(dimsToString(dims));
    const size_t spatial = dims.size() - 2;
    const Tensor x = test::randomTensor("X", dims, 79);
    OneNode m("MaxPool", 13);
    m.input(x).ints("kernel_shape", std::vector<int64_t>(spatial, 2)).ints("strides", std::vector<int64_t>(spatial, 2));
    m.then("QuantizeLinear")
        .constant(test::scalarTensor("s", DataType::kFloat, scale))
        .constant(test::scalarTensor("z", DataType::kUInt8, 128))
        .outputType(DataType::kUInt8);
    // Output dims: each spatial dim halved (floor).
    Dims out = dims;
    for (size_t d = 2; d < dims.size(); ++d) out[d] = dims[d] / 2;
    std::vector<uint8_t> want;
    const int64_t outer = dims[0] * dims[1];
    int64_t in_inner = 1, out_inner = 1;
    for (size_t d = 2; d < dims.size(); ++d) in_inner *= dims[d], out_inner *= out[d];
    for (int64_t nc = 0; nc < outer; ++nc)
      for (int64_t o = 0; o < out_inner; ++o) {
        std::vector<int64_t> pos(spatial);
        for (int64_t r = o, d = static_cast<int64_t>(spatial) - 1; d >= 0; --d) {
          pos[d] = r % out[d + 2];
          r /= out[d + 2];
        }
        double mx = -INFINITY;
        for (int64_t w = 0; w < (int64_t{1} << spatial); ++w) {
          int64_t idx = 0;
          for (size_t d = 0; d < spatial; ++d) idx = idx * dims[d + 2] + pos[d] * 2 + ((w >> d) & 1);
          mx = std::max<double>(mx, x.values[static_cast<size_t>(nc * in_inner + idx)]);
        }
        double q = std::nearbyint(mx / static_cast<double>(static_cast<float>(scale))) + 128;
        want.push_back(static_cast<uint8_t>(std::clamp(q, 0.0, 255.0)));
      }
    for (const char* backend : {"reference", static_cast<const char*>(nullptr)}) {
      SCOPED_TRACE(backend ? backend : "builder's choice");
      auto engine = m.build(backend);
      ASSERT_TRUE(engine.ok()) << engine.status().message();
      auto y = runY(**engine, m.feeds());
      ASSERT_TRUE(y.ok()) << y.status().message();
      EXPECT_EQ(*y, want);
    }
  }
}

// quantizeAfterMaxPool (the CUDA backend's float INT8 stems) undoes the swap for named Q nodes:
// Q -> MaxPool(int8) becomes MaxPool -> Q, and the result is still Q(max(window)) exactly, with
// ResNet's stem pool (3x3 stride 2, pads 1) on values of both signs; a negative scale is left.
TEST(RewriteConditions, QuantizeAfterMaxPoolForNamedQuantizes) {
  for (const double scale : {0.0123, -0.0123}) {
    SCOPED_TRACE("scale " + std::to_string(scale));
    const int zero_point = 3;
    const Tensor x = test::randomTensor("X", {2, 4, 9, 9}, 80);
    OneNode m("QuantizeLinear", 13);
    m.input(x)
        .constant(test::scalarTensor("s", DataType::kFloat, scale))
        .constant(test::scalarTensor("z", DataType::kInt8, zero_point))
        .outputType(DataType::kInt8);
    m.then("MaxPool").ints("kernel_shape", {3, 3}).ints("strides", {2, 2}).ints("pads", {1, 1, 1, 1});
    std::string bytes;
    ASSERT_TRUE(m.model().SerializeToString(&bytes));
    auto net = parseOnnxBuffer(bytes.data(), bytes.size(), "");
    ASSERT_TRUE(net.ok()) << net.status().message();
    auto g = (*net)->graph().clone();
    std::string q_name, y_name;
    for (const auto& n : g->nodes())
      if (n->op_type == "QuantizeLinear") q_name = n->name;
    for (const ir::Value* v : g->outputs) y_name = v->name;
    int swapped = -1;
    Status st = passes::quantizeAfterMaxPool(*g, {q_name}, &swapped);
    ASSERT_TRUE(st.ok()) << st.message();
    ASSERT_EQ(swapped, scale > 0 ? 1 : 0);
    if (scale < 0) continue;
    ASSERT_EQ(g->nodes().size(), 2u);
    EXPECT_EQ(g->nodes()[0]->op_type, "MaxPool");
    EXPECT_EQ(g->nodes()[1]->op_type, "QuantizeLinear");
    EXPECT_EQ(g->nodes()[1]->outputs[0]->name, y_name) << "the graph output keeps its name";
    EXPECT_EQ(g->nodes()[0]->outputs[0]->dtype, DataType::kFloat) << "the pool runs on the float values";
    const std::vector<int8_t> want = quantizedMaxPool(x.values, 8, 9, 5, 3, 2, 1, 1, scale, zero_point);
    test::BackendEnv reference("reference");
    auto engine = finalizeEngine(std::move(g), {});
    ASSERT_TRUE(engine.ok()) << engine.status().message();
    auto y = runY(**engine, m.feeds());
    ASSERT_TRUE(y.ok()) << y.status().message();
    expectInt8Output(*y, want);
  }
}

// fuseMaxPoolQuantize (the CUDA backend's step after quantizeAfterMaxPool) makes MaxPool -> Q one
// qrt-domain MaxPoolQuantize node: the pool's attributes, the Q's output (its name, int8 type and
// the pooled dims); never for a negative scale (the pair the swaps leave) or a node the backend
// does not take. Its values are checked on the GPU (cuda_pool_test, cuda_int8_test).
TEST(RewriteConditions, FuseMaxPoolQuantize) {
  for (const double scale : {0.0123, -0.0123}) {
    for (const bool eligible : {true, false}) {
      SCOPED_TRACE("scale " + std::to_string(scale) + (eligible ? "" : ", not eligible"));
      OneNode m("MaxPool", 13);
      m.input(test::randomTensor("X", {2, 4, 9, 9}, 81))
          .ints("kernel_shape", {3, 3})
          .ints("strides", {2, 2})
          .ints("pads", {1, 1, 1, 1});
      m.then("QuantizeLinear")
          .constant(test::scalarTensor("s", DataType::kFloat, scale))
          .constant(test::scalarTensor("z", DataType::kInt8, 3))
          .outputType(DataType::kInt8);
      std::string bytes;
      ASSERT_TRUE(m.model().SerializeToString(&bytes));
      auto net = parseOnnxBuffer(bytes.data(), bytes.size(), "");
      ASSERT_TRUE(net.ok()) << net.status().message();
      auto g = (*net)->graph().clone();
      std::string y_name;
      for (const ir::Value* v : g->outputs) y_name = v->name;
      int fused = -1;
      Status st = passes::fuseMaxPoolQuantize(*g, [&](const ir::Node&) { return eligible; }, &fused);
      ASSERT_TRUE(st.ok()) << st.message();
      const bool want = eligible && scale > 0;
      ASSERT_EQ(fused, want ? 1 : 0);
      ASSERT_EQ(g->nodes().size(), want ? 1u : 2u);
      if (!want) continue;
      const ir::Node& n = *g->nodes()[0];
      EXPECT_EQ(n.op_type, "MaxPoolQuantize");
      EXPECT_EQ(n.domain, kQrtDomain);
      ASSERT_EQ(n.inputs.size(), 3u);
      EXPECT_EQ(n.outputs[0]->name, y_name) << "the graph output keeps its name";
      EXPECT_EQ(n.outputs[0]->dtype, DataType::kInt8);
      EXPECT_EQ(n.outputs[0]->dims, (Dims{2, 4, 5, 5}));
      EXPECT_EQ(n.attrInts("kernel_shape", {}), (std::vector<int64_t>{3, 3}));
      EXPECT_EQ(n.attrInts("pads", {}), (std::vector<int64_t>{1, 1, 1, 1}));
    }
  }
}

}  // namespace
}  // namespace qrt
