// The CUDA backend's FP16 step (src/backends/cuda/fp16.cpp) at the edges of INT8 regions, as a
// graph rewrite (no GPU needed): in X -> Q -> DQ -> Conv -> Relu -> Q -> DQ -> Y, the DQ feeding the
// fp16 convolution writes fp16 itself (output_dtype) and the Q after the fp16 Relu reads fp16, so
// no Cast is left between them; the Q of the fp32 graph input and the DQ of the graph output stay
// fp32, and every scale stays fp32. Shape inference afterwards keeps those types.
#include <gtest/gtest.h>

#include "qrt/qrt.h"

#ifndef QRT_HAVE_CUDA

TEST(CudaFp16Step, Skipped) { GTEST_SKIP() << "qrt was built without the CUDA backend (no CUDA toolkit found)"; }

#else

#include <onnx/onnx_pb.h>

#include <string>

#include "backends/cuda/runtime.h"
#include "cuda_test_util.h"
#include "ir/graph.h"
#include "passes/infer_shapes.h"

namespace qrt {
namespace {

TEST(CudaFp16Step, QdqMeetFp16LayersWithoutCasts) {
  test::FloatModel m;
  m.input("X", {1, 8, 6, 6});
  m.constant("s", {}, 0.05f, 0.05f);
  m.int8Constant("z", {}, 0, 0);
  m.constant("W", {8, 8, 3, 3}, -0.1f, 0.1f);
  m.node("QuantizeLinear", {"X", "s", "z"}, "Xq");
  m.node("DequantizeLinear", {"Xq", "s", "z"}, "Xd");
  test::attrInts(m.node("Conv", {"Xd", "W"}, "C"), "pads", {1, 1, 1, 1});
  m.node("Relu", {"C"}, "R");
  m.node("QuantizeLinear", {"R", "s", "z"}, "Rq");
  m.node("DequantizeLinear", {"Rq", "s", "z"}, "Y");
  m.output("Y");
  std::string bytes;
  ASSERT_TRUE(m.m.SerializeToString(&bytes));
  auto net = parseOnnxBuffer(bytes.data(), bytes.size(), "");
  ASSERT_TRUE(net.ok()) << net.status().toString();
  auto g = (*net)->graph().clone();
  int converted = 0;
  Status st = cuda::convertToHalf(*g, &converted);
  ASSERT_TRUE(st.ok()) << st.toString();
  st = passes::inferShapes(*g);
  ASSERT_TRUE(st.ok()) << st.toString();

  int casts = 0;
  for (const auto& n : g->nodes()) {
    casts += n->op_type == "Cast";
    if (n->op_type == "Conv") {
      EXPECT_EQ(n->inputs[0]->dtype, DataType::kHalf);
      ASSERT_NE(n->inputs[0]->producer, nullptr);
      EXPECT_EQ(n->inputs[0]->producer->op_type, "DequantizeLinear") << "the DQ feeds the fp16 Conv directly";
      EXPECT_EQ(n->inputs[0]->producer->attrInt("output_dtype", 0), static_cast<int64_t>(DataType::kHalf));
    }
    if (n->op_type == "QuantizeLinear" || n->op_type == "DequantizeLinear")
      EXPECT_EQ(n->inputs[1]->dtype, DataType::kFloat) << n->name << ": the scale stays fp32";
    if (n->op_type == "QuantizeLinear") {
      const bool after_relu = n->inputs[0]->producer && n->inputs[0]->producer->op_type == "Relu";
      const bool from_input = n->inputs[0]->is_graph_input;
      EXPECT_TRUE(after_relu || from_input) << n->name << " reads " << n->inputs[0]->name;
      EXPECT_EQ(n->inputs[0]->dtype, after_relu ? DataType::kHalf : DataType::kFloat) << n->name;
    }
  }
  EXPECT_EQ(casts, 0) << "Q/DQ should meet the fp16 layers without Casts";
  ASSERT_EQ(g->outputs.size(), 1u);
  EXPECT_EQ(g->outputs[0]->dtype, DataType::kFloat) << "the graph output stays fp32";
  EXPECT_GE(converted, 4);  // Conv, Relu, one Q, one DQ
}

}  // namespace
}  // namespace qrt

#endif  // QRT_HAVE_CUDA
