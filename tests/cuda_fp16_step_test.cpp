// The CUDA backend's FP16 step (src/backends/cuda/fp16.cpp) at the edges of INT8 regions, as a
// graph rewrite (no GPU needed): in X -> Q -> DQ -> Conv -> Relu -> Q -> DQ -> Y, the DQ feeding the
// fp16 convolution writes fp16 itself (output_dtype) and the Q after the fp16 Relu reads fp16, so
// no Cast is left between them; the Q of the fp32 graph input and the DQ of the graph output stay
// fp32, and every scale stays fp32; a QConv with a float output read by an fp16 layer writes fp16.
// Shape inference afterwards keeps those types.
#include <gtest/gtest.h>

#include "qrt/qrt.h"

#ifndef QRT_HAVE_CUDA

TEST(CudaFp16Step, Skipped) { GTEST_SKIP() << "qrt was built without the CUDA backend (no CUDA toolkit found)"; }

#else

#include <onnx/onnx_pb.h>

#include <string>

#include "backends/cuda/runtime.h"
#include "core/status_macros.h"
#include "cuda_test_util.h"
#include "ir/graph.h"
#include "passes/fuse_qdq.h"
#include "passes/infer_shapes.h"
#include "passes/pass_manager.h"

namespace qrt {
namespace {

// X [1, 8, 6, 6] and the per-tensor Q/DQ parameters s, z.
test::FloatModel modelWithQdqParams() {
  test::FloatModel m;
  m.input("X", {1, 8, 6, 6});
  m.constant("s", {}, 0.05f, 0.05f);
  m.int8Constant("z", {}, 0, 0);
  return m;
}

// The model's graph (after foldQdq with `fold`) through the CUDA FP16 step, then shape inference.
Result<std::unique_ptr<ir::Graph>> throughFp16Step(const test::FloatModel& m, bool fold, int* converted) {
  std::string bytes;
  if (!m.m.SerializeToString(&bytes)) return internalError("serializing the test model");
  QRT_ASSIGN_OR_RETURN(auto net, parseOnnxBuffer(bytes.data(), bytes.size(), ""));
  auto g = net->graph().clone();
  if (fold) {
    QRT_RETURN_IF_ERROR(passes::runSimplifyPasses(*g));
    QRT_RETURN_IF_ERROR(passes::foldQdq(*g));
    QRT_RETURN_IF_ERROR(passes::runFusionPasses(*g));
  }
  QRT_RETURN_IF_ERROR(cuda::convertToHalf(*g, converted));
  QRT_RETURN_IF_ERROR(passes::inferShapes(*g));
  return g;
}

TEST(CudaFp16Step, QdqMeetFp16LayersWithoutCasts) {
  test::FloatModel m = modelWithQdqParams();
  m.constant("W", {8, 8, 3, 3}, -0.1f, 0.1f);
  m.node("QuantizeLinear", {"X", "s", "z"}, "Xq");
  m.node("DequantizeLinear", {"Xq", "s", "z"}, "Xd");
  test::attrInts(m.node("Conv", {"Xd", "W"}, "C"), "pads", {1, 1, 1, 1});
  m.node("Relu", {"C"}, "R");
  m.node("QuantizeLinear", {"R", "s", "z"}, "Rq");
  m.node("DequantizeLinear", {"Rq", "s", "z"}, "Y");
  m.output("Y");
  int converted = 0;
  auto gr = throughFp16Step(m, false, &converted);
  ASSERT_TRUE(gr.ok()) << gr.status().toString();
  auto& g = *gr;

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

// After foldQdq: a QConv with a float output read only by an fp16 layer (Sigmoid) writes fp16
// itself (output_dtype, kept by shape inference), with no Cast between them; its bias and scales
// stay fp32. Without fp16 readers (the graph output) it keeps fp32.
TEST(CudaFp16Step, FloatQConvFeedingFp16LayersWritesFp16) {
  test::FloatModel m = modelWithQdqParams();
  m.int8Constant("Wq", {8, 8, 3, 3}, -100, 100);
  m.constant("sw", {8}, 0.002f, 0.004f);
  m.int8Constant("zw", {8}, 0, 0);
  m.constant("b", {8}, -0.2f, 0.2f);
  m.node("QuantizeLinear", {"X", "s", "z"}, "Xq");
  m.node("DequantizeLinear", {"Xq", "s", "z"}, "Xd");
  test::attrInt(m.node("DequantizeLinear", {"Wq", "sw", "zw"}, "W"), "axis", 0);
  test::attrInts(m.node("Conv", {"Xd", "W", "b"}, "C"), "pads", {1, 1, 1, 1});
  m.node("Sigmoid", {"C"}, "S");
  m.node("QuantizeLinear", {"S", "s", "z"}, "Sq");
  m.node("DequantizeLinear", {"Sq", "s", "z"}, "Sd");
  test::attrInts(m.node("Conv", {"Sd", "W", "b"}, "Y"), "pads", {1, 1, 1, 1});
  m.output("Y");
  int converted = 0;
  auto gr = throughFp16Step(m, true, &converted);
  ASSERT_TRUE(gr.ok()) << gr.status().toString();
  auto& g = *gr;
  int qconvs = 0, casts = 0;
  for (const auto& n : g->nodes()) {
    casts += n->op_type == "Cast" && n->outputs[0]->consumers.size() == 1 &&
             n->outputs[0]->consumers[0]->op_type == "Sigmoid";
    if (n->op_type != "QConv") continue;
    ++qconvs;
    ASSERT_GE(n->inputs.size(), 5u);
    for (size_t i : {2, 3, 4})
      if (n->hasInput(i)) EXPECT_EQ(n->inputs[i]->dtype, DataType::kFloat) << n->name << " input " << i;
    const bool feeds_sigmoid = !n->outputs[0]->consumers.empty() && n->outputs[0]->consumers[0]->op_type == "Sigmoid";
    if (feeds_sigmoid) {
      EXPECT_EQ(n->outputs[0]->dtype, DataType::kHalf) << n->name;
      EXPECT_EQ(n->attrInt("output_dtype", 0), static_cast<int64_t>(DataType::kHalf));
    } else {
      EXPECT_TRUE(n->outputs[0]->is_graph_output);
      EXPECT_EQ(n->outputs[0]->dtype, DataType::kFloat) << n->name << " writes the graph output";
    }
  }
  EXPECT_EQ(qconvs, 2) << "both convolutions should fold into QConv";
  EXPECT_EQ(casts, 0) << "the QConv should feed the fp16 Sigmoid without a Cast";
}

}  // namespace
}  // namespace qrt

#endif  // QRT_HAVE_CUDA
