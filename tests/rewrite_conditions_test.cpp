// Conditions of graph rewrites that must hold for the rewrite to be exact, each checked end to
// end (build, run) against a float64 computation of the ONNX semantics, on the reference backend
// and on the builder's own choice of backends.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>

#include "core/status_macros.h"
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
  std::vector<int8_t> want;
  for (int c = 0; c < 2; ++c)
    for (int oy = 0; oy < 3; ++oy)
      for (int ox = 0; ox < 3; ++ox) {
        double mx = -INFINITY;
        for (int ky = 0; ky < 2; ++ky)
          for (int kx = 0; kx < 2; ++kx) mx = std::max<double>(mx, x.values[(c * 6 + oy * 2 + ky) * 6 + ox * 2 + kx]);
        double q = std::nearbyint(mx / static_cast<double>(static_cast<float>(scale))) + zero_point;
        want.push_back(static_cast<int8_t>(std::clamp(q, -128.0, 127.0)));
      }
  for (const char* backend : {"reference", static_cast<const char*>(nullptr)}) {
    SCOPED_TRACE(backend ? backend : "builder's choice");
    auto engine = m.build(backend);
    ASSERT_TRUE(engine.ok()) << engine.status().message();
    auto y = runY(**engine, m.feeds());
    ASSERT_TRUE(y.ok()) << y.status().message();
    ASSERT_EQ(y->size(), want.size());
    std::vector<int8_t> got(want.size());
    std::memcpy(got.data(), y->data(), got.size());
    EXPECT_EQ(got, want);
  }
}

}  // namespace
}  // namespace qrt
