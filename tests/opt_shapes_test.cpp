// Opt shapes (BuilderConfig::setOptShape, src/builder/opt_shapes.h): the errors, the "opt_shapes"
// metadata, and that --bf16 on a dynamic-batch model times its candidates at the opt shape's dims
// (shape inference carries the batch to later layers) while the results stay those of a float64
// reference at the precision tests' bf16 tolerance, at the opt batch and at another; and the
// dims the CUDA tuners time a dynamic layer at (ScopedOptDims), which CI checks without a GPU.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>

#include "backends/cpu/isa.h"
#include "builder/opt_shapes.h"
#include "ir/graph.h"
#include "core/status_macros.h"
#include "model_builder.h"
#include "qrt/qrt.h"

namespace qrt {
namespace {

using test::OneNode;
using test::Tensor;

const LayerInfo* layerNamed(const std::vector<LayerInfo>& ls, const std::string& name) {
  for (const LayerInfo& l : ls)
    if (l.name == name) return &l;
  return nullptr;
}

// Conv(X[N,8,10,10], W1[16,8,3,3], B1) -> Conv(., W2[8,16,3,3], B2), pads 1, batch dynamic.
struct TwoConvs {
  Tensor x = test::randomTensor("X", {2, 8, 10, 10}, 11);
  Tensor w1 = test::randomTensor("W1", {16, 8, 3, 3}, 12);
  Tensor b1 = test::randomTensor("B1", {16}, 13);
  Tensor w2 = test::randomTensor("W2", {8, 16, 3, 3}, 14);
  Tensor b2 = test::randomTensor("B2", {8}, 15);
  OneNode model() const {
    OneNode m("Conv");
    m.input(x).constant(w1).constant(b1).ints("pads", {1, 1, 1, 1});
    m.then("Conv").constant(w2).constant(b2).ints("pads", {1, 1, 1, 1});
    m.dynamicBatch();
    return m;
  }
};

// One 3x3 pad-1 convolution in float64: y and the sum of |terms| (the error bound's scale).
void conv3x3(const std::vector<double>& x, const std::vector<double>& ax, int n, int c, const Tensor& w,
             const Tensor& b, int m, std::vector<double>* y, std::vector<double>* ay) {
  y->assign(static_cast<size_t>(n * m * 100), 0.0);
  ay->assign(y->size(), 0.0);
  for (int b_ = 0; b_ < n; ++b_)
    for (int o = 0; o < m; ++o)
      for (int i = 0; i < 10; ++i)
        for (int j = 0; j < 10; ++j) {
          double acc = b.values[o], aacc = std::abs(b.values[o]);
          for (int k = 0; k < c; ++k)
            for (int ki = 0; ki < 3; ++ki)
              for (int kj = 0; kj < 3; ++kj) {
                int ii = i + ki - 1, jj = j + kj - 1;
                if (ii < 0 || ii >= 10 || jj < 0 || jj >= 10) continue;
                size_t xi = static_cast<size_t>(((b_ * c + k) * 10 + ii) * 10 + jj);
                double wv = w.values[static_cast<size_t>(((o * c + k) * 3 + ki) * 3 + kj)];
                acc += x[xi] * wv;
                aacc += ax[xi] * std::abs(wv);
              }
          size_t yi = static_cast<size_t>(((b_ * m + o) * 10 + i) * 10 + j);
          (*y)[yi] = acc;
          (*ay)[yi] = aacc;
        }
}

// Runs the engine at batch `n` and compares with float64: a bf16 engine rounds X, the weights,
// the intermediate and the output (each 2^-9 relative at most, accumulated in fp32), so 2% of
// the sum of |terms| bounds the error with room.
void expectMatchesReference(const Engine& engine, const TwoConvs& c, int n) {
  Tensor x = test::randomTensor("X", {n, 8, 10, 10}, 100 + static_cast<uint32_t>(n));
  auto ctx = engine.createExecutionContext();
  ASSERT_TRUE(ctx.ok()) << ctx.status().message();
  auto io = test::bindFeeds(engine, **ctx, {x});
  ASSERT_TRUE(io.ok()) << io.status().message();
  ASSERT_TRUE((*ctx)->enqueue().ok());
  ASSERT_EQ(io->y_dims, (Dims{n, 8, 10, 10}));
  std::vector<float> y(io->y.size() / sizeof(float));
  std::memcpy(y.data(), io->y.data(), io->y.size());
  std::vector<double> xd(x.values.begin(), x.values.end()), ax(xd.size()), h, ah, r, ar;
  for (size_t i = 0; i < xd.size(); ++i) ax[i] = std::abs(xd[i]);
  conv3x3(xd, ax, n, 8, c.w1, c.b1, 16, &h, &ah);
  conv3x3(h, ah, n, 16, c.w2, c.b2, 8, &r, &ar);
  ASSERT_EQ(y.size(), r.size());
  for (size_t i = 0; i < r.size(); ++i) ASSERT_NEAR(y[i], r[i], 0.02 * ar[i] + 1e-4) << "batch " << n << " at " << i;
}

TEST(OptShapes, Errors) {
  TwoConvs c;
  auto check = [&](const std::string& name, const Dims& d, StatusCode code, const std::string& text) {
    BuilderConfig cfg;
    cfg.setOptShape(name, d);
    auto e = c.model().build(nullptr, cfg);
    ASSERT_FALSE(e.ok()) << name << " " << dimsToString(d);
    EXPECT_EQ(e.status().code(), code) << e.status().message();
    EXPECT_NE(e.status().message().find(text), std::string::npos) << e.status().message();
  };
  check("Y", {4, 8, 10, 10}, StatusCode::kNotFound, "opt shape given for 'Y', but the model's inputs are: X");
  check("X", {4, 8, 10}, StatusCode::kInvalidArgument, "has rank 3, the input has rank 4");
  check("X", {4, 9, 10, 10}, StatusCode::kInvalidArgument, "contradicts its static dim 1");
  check("X", {0, 8, 10, 10}, StatusCode::kInvalidArgument, "must be positive");
  check("X", {-1, 8, 10, 10}, StatusCode::kInvalidArgument, "must be positive");
  // An input fixed by setInputShape is static: the opt shape must agree with it.
  BuilderConfig fixed;
  fixed.setInputShape("X", {2, 8, 10, 10});
  fixed.setOptShape("X", {4, 8, 10, 10});
  auto e = c.model().build(nullptr, fixed);
  ASSERT_FALSE(e.ok());
  EXPECT_NE(e.status().message().find("contradicts its static dim 0"), std::string::npos) << e.status().message();
}

TEST(OptShapes, RecordedInMetadata) {
  TwoConvs c;
  BuilderConfig cfg;
  cfg.setOptShape("X", {6, 8, 10, 10});
  auto e = c.model().build(nullptr, cfg);
  ASSERT_TRUE(e.ok()) << e.status().message();
  EXPECT_EQ((*e)->metadata("opt_shapes"), "X:6x8x10x10");
  // The engine stays dynamic.
  ASSERT_EQ((*e)->inputs().size(), 1u);
  EXPECT_EQ((*e)->inputs()[0].dims, (Dims{-1, 8, 10, 10}));
  auto plain = c.model().build(nullptr, BuilderConfig{});
  ASSERT_TRUE(plain.ok());
  EXPECT_EQ((*plain)->metadata("opt_shapes"), "");
}

// --bf16: each layer's candidates are timed at the opt batch (both layers: the second one's input
// dims come from shape inference), or at batch 1 without an opt shape; the reason says which.
TEST(OptShapes, Bf16TimedAtOptShape) {
  TwoConvs c;
  BuilderConfig opt;
  opt.setFlag(BuilderFlag::kBF16);
  opt.setOptShape("X", {6, 8, 10, 10});
  auto e = c.model().build(nullptr, opt);
  ASSERT_TRUE(e.ok()) << e.status().message();
  BuilderConfig one;
  one.setFlag(BuilderFlag::kBF16);
  auto e1 = c.model().build(nullptr, one);
  ASSERT_TRUE(e1.ok()) << e1.status().message();
  const auto layers = (*e)->layers(), layers1 = (*e1)->layers();
  const LayerInfo *a = layerNamed(layers, "node"), *b = layerNamed(layers, "node1");
  const LayerInfo *a1 = layerNamed(layers1, "node"), *b1 = layerNamed(layers1, "node1");
  ASSERT_TRUE(a && b && a1 && b1);
  if (cpu::hasNativeBf16()) {
    for (const LayerInfo* l : {a, b, a1, b1}) {
      ASSERT_EQ(l->timings_ms.size(), 2u) << l->name << ": " << l->reason;
      EXPECT_EQ(l->timings_ms[1].first, "cpu bf16");
    }
    EXPECT_NE(a->reason.find("timed at the opt shapes (X 6x8x10x10)"), std::string::npos) << a->reason;
    EXPECT_NE(b->reason.find("timed at the opt shapes (v1 6x16x10x10)"), std::string::npos) << b->reason;
    EXPECT_NE(a1->reason.find("timed with dynamic dims as 1 (X 1x8x10x10; no opt shape"), std::string::npos)
        << a1->reason;
    EXPECT_NE(b1->reason.find("timed with dynamic dims as 1 (v1 1x16x10x10;"), std::string::npos) << b1->reason;
  } else {
    EXPECT_NE(a->reason.find("this CPU has no BF16 arithmetic"), std::string::npos) << a->reason;
    EXPECT_EQ(a->precision, "fp32");
  }
  // Whatever was chosen, the results are right at the opt batch and at others.
  for (int n : {6, 1, 3}) expectMatchesReference(**e, c, n);
  expectMatchesReference(**e1, c, 6);
}

// dimsAtOptShapes carries the opt batch through shape inference; ScopedOptDims gives a node's
// dynamic values those dims (constants untouched) and restores them.
TEST(OptShapes, ScopedOptDimsForTheTuners) {
  TwoConvs c;
  std::string bytes;
  ASSERT_TRUE(c.model().model().SerializeToString(&bytes));
  auto net = parseOnnxBuffer(bytes.data(), bytes.size(), "");
  ASSERT_TRUE(net.ok()) << net.status().message();
  ir::Graph& g = (*net)->graph();
  ir::Node* second = nullptr;
  for (const auto& n : g.nodes())
    if (n->name == "node1") second = n.get();
  ASSERT_TRUE(second);
  ASSERT_EQ(second->inputs[0]->dims, (Dims{-1, 16, 10, 10}));

  BuilderConfig none;
  auto empty = dimsAtOptShapes(g, none);
  ASSERT_TRUE(empty.ok());
  EXPECT_TRUE(empty->empty());
  EXPECT_FALSE(staticAtOptShapes(*second, *empty));

  BuilderConfig cfg;
  cfg.setOptShape("X", {6, 8, 10, 10});
  auto opt = dimsAtOptShapes(g, cfg);
  ASSERT_TRUE(opt.ok()) << opt.status().message();
  EXPECT_EQ(opt->at("v1"), (Dims{6, 16, 10, 10}));
  EXPECT_EQ(opt->at("Y"), (Dims{6, 8, 10, 10}));
  EXPECT_EQ(second->inputs[0]->dims, (Dims{-1, 16, 10, 10}));  // the graph itself is unchanged
  EXPECT_TRUE(staticAtOptShapes(*second, *opt));
  {
    ScopedOptDims scope(*second, *opt);
    EXPECT_TRUE(scope.replaced());
    EXPECT_EQ(second->inputs[0]->dims, (Dims{6, 16, 10, 10}));
    EXPECT_EQ(second->inputs[1]->dims, (Dims{8, 16, 3, 3}));
    EXPECT_EQ(second->outputs[0]->dims, (Dims{6, 8, 10, 10}));
  }
  EXPECT_EQ(second->inputs[0]->dims, (Dims{-1, 16, 10, 10}));
  EXPECT_EQ(second->outputs[0]->dims, (Dims{-1, 8, 10, 10}));
  ScopedOptDims nothing(*second, *empty);
  EXPECT_FALSE(nothing.replaced());
}

}  // namespace
}  // namespace qrt
