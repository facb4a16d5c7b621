// Reference kernels of the elementwise and quantize families, driven through the public API
// (one-node ONNX model -> parseOnnxBuffer -> buildEngine -> execution context) and compared with
// values computed here in double precision or written out by hand. The ONNX conformance runner is
// the broad check; these cases pin down broadcasting, tie rounding, saturation and per-axis
// parameters, where a mistake would be easy to miss.
#include <gtest/gtest.h>
#include <onnx/onnx_pb.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "core/half.h"
#include "core/threadpool.h"
#include "qrt/qrt.h"

namespace qrt {
namespace {

// ---- a one-node model ---------------------------------------------------------------------

struct IoSpec {
  std::string name;
  int elem_type;  // onnx::TensorProto::DataType
  Dims dims;      // ignored for outputs
};

class OneNodeModel {
 public:
  OneNodeModel(const std::string& op, int opset, std::vector<IoSpec> inputs, std::vector<IoSpec> outputs)
      : inputs_(std::move(inputs)), outputs_(std::move(outputs)) {
    model_.set_ir_version(8);
    auto* os = model_.add_opset_import();
    os->set_domain("");
    os->set_version(opset);
    auto* g = model_.mutable_graph();
    g->set_name("elementwise_test");
    node_ = g->add_node();
    node_->set_op_type(op);
    node_->set_name(op + "_0");
    for (const IoSpec& in : inputs_) {
      node_->add_input(in.name);
      if (in.name.empty()) continue;  // an omitted optional input
      auto* tt = g->add_input()->mutable_type()->mutable_tensor_type();
      g->mutable_input()->rbegin()->set_name(in.name);
      tt->set_elem_type(in.elem_type);
      auto* shape = tt->mutable_shape();
      for (int64_t d : in.dims) shape->add_dim()->set_dim_value(d);
    }
    for (const IoSpec& out : outputs_) {
      node_->add_output(out.name);
      auto* vi = g->add_output();
      vi->set_name(out.name);
      vi->mutable_type()->mutable_tensor_type()->set_elem_type(out.elem_type);
    }
  }

  void setFloat(const std::string& name, float v) {
    auto* a = node_->add_attribute();
    a->set_name(name);
    a->set_type(onnx::AttributeProto::FLOAT);
    a->set_f(v);
  }

  void setInt(const std::string& name, int64_t v) {
    auto* a = node_->add_attribute();
    a->set_name(name);
    a->set_type(onnx::AttributeProto::INT);
    a->set_i(v);
  }

  // Builds an engine and runs it once. `in_data` holds one buffer per present input, in order;
  // returns the raw bytes of each output.
  std::vector<std::vector<uint8_t>> run(const std::vector<const void*>& in_data) const {
    std::string bytes;
    EXPECT_TRUE(model_.SerializeToString(&bytes));
    auto net = parseOnnxBuffer(bytes.data(), bytes.size(), "");
    EXPECT_TRUE(net.ok()) << net.status().toString();
    if (!net.ok()) return {};
    auto engine = buildEngine(**net, BuilderConfig{});
    EXPECT_TRUE(engine.ok()) << engine.status().toString();
    if (!engine.ok()) return {};
    auto ctx = (*engine)->createExecutionContext();
    EXPECT_TRUE(ctx.ok()) << ctx.status().toString();
    if (!ctx.ok()) return {};
    size_t k = 0;
    for (const IoSpec& in : inputs_) {
      if (in.name.empty()) continue;
      Status s = (*ctx)->setTensorAddress(in.name, const_cast<void*>(in_data.at(k++)));
      EXPECT_TRUE(s.ok()) << s.toString();
    }
    std::vector<std::vector<uint8_t>> outs;
    std::map<std::string, DataType> types;
    for (const TensorInfo& t : (*engine)->outputs()) types[t.name] = t.dtype;
    for (const IoSpec& out : outputs_) {
      auto dims = (*ctx)->tensorShape(out.name);
      EXPECT_TRUE(dims.ok()) << dims.status().toString();
      if (!dims.ok()) return {};
      outs.emplace_back(static_cast<size_t>(volume(*dims)) * dataTypeSize(types[out.name]));
    }
    for (size_t i = 0; i < outputs_.size(); ++i) {
      Status s = (*ctx)->setTensorAddress(outputs_[i].name, outs[i].data());
      EXPECT_TRUE(s.ok()) << s.toString();
    }
    Status s = (*ctx)->enqueue();
    EXPECT_TRUE(s.ok()) << s.toString();
    return outs;
  }

 private:
  onnx::ModelProto model_;
  onnx::NodeProto* node_ = nullptr;
  std::vector<IoSpec> inputs_, outputs_;
};

template <typename T>
std::vector<T> as(const std::vector<uint8_t>& bytes) {
  std::vector<T> v(bytes.size() / sizeof(T));
  if (!v.empty()) std::memcpy(v.data(), bytes.data(), v.size() * sizeof(T));
  return v;
}

std::vector<float> randomFloats(int64_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> d(0.f, 1.f);
  std::vector<float> v(static_cast<size_t>(n));
  for (float& x : v) x = d(rng);
  return v;
}

// Offset of output index `i` (row-major over `out`) in an input of dims `in` broadcast to `out`.
int64_t broadcastOffset(int64_t i, const Dims& out, const Dims& in) {
  int64_t off = 0, stride = 1;
  for (size_t k = 0; k < in.size(); ++k) {
    size_t d_in = in.size() - 1 - k, d_out = out.size() - 1 - k;
    int64_t idx = i % out[d_out];
    i /= out[d_out];
    if (in[d_in] != 1) off += idx * stride;
    stride *= in[d_in];
  }
  return off;
}

constexpr int kFloat = onnx::TensorProto::FLOAT;
constexpr int kBool = onnx::TensorProto::BOOL;
constexpr int kInt8 = onnx::TensorProto::INT8;
constexpr int kUInt8 = onnx::TensorProto::UINT8;
constexpr int kInt32 = onnx::TensorProto::INT32;
constexpr int kInt64 = onnx::TensorProto::INT64;

// ---- broadcasting -------------------------------------------------------------------------

TEST(Elementwise, AddBroadcasts3dWith2d) {
  const Dims a_dims{2, 3, 4}, b_dims{3, 1}, out{2, 3, 4};
  OneNodeModel m("Add", 13, {{"a", kFloat, a_dims}, {"b", kFloat, b_dims}}, {{"y", kFloat, {}}});
  auto a = randomFloats(24, 1), b = randomFloats(3, 2);
  auto y = m.run({a.data(), b.data()});
  ASSERT_EQ(y.size(), 1u);
  auto got = as<float>(y[0]);
  ASSERT_EQ(got.size(), 24u);
  for (int64_t i = 0; i < 24; ++i) {
    double want = double(a[broadcastOffset(i, out, a_dims)]) + double(b[broadcastOffset(i, out, b_dims)]);
    EXPECT_NEAR(got[i], want, 1e-6) << "at " << i;
  }
}

// Large enough to be split over threads, with chunk borders inside rows of the inner dim.
TEST(Elementwise, MulBroadcastsAcrossThreads) {
  setNumThreads(4);
  const Dims a_dims{7, 33, 1001}, b_dims{33, 1}, out{7, 33, 1001};
  const int64_t n = volume(out);
  OneNodeModel m("Mul", 14, {{"a", kFloat, a_dims}, {"b", kFloat, b_dims}}, {{"y", kFloat, {}}});
  auto a = randomFloats(n, 3), b = randomFloats(33, 4);
  auto y = m.run({a.data(), b.data()});
  ASSERT_EQ(y.size(), 1u);
  auto got = as<float>(y[0]);
  ASSERT_EQ(static_cast<int64_t>(got.size()), n);
  int64_t bad = 0;
  for (int64_t i = 0; i < n; ++i) {
    double want = double(a[broadcastOffset(i, out, a_dims)]) * double(b[broadcastOffset(i, out, b_dims)]);
    bad += std::fabs(got[i] - want) > 1e-6 * (1 + std::fabs(want));
  }
  EXPECT_EQ(bad, 0);
}

TEST(Elementwise, WhereBroadcastsThreeShapes) {
  const Dims c_dims{2, 1, 4}, x_dims{3, 1}, y_dims{4}, out{2, 3, 4};
  OneNodeModel m("Where", 16, {{"c", kBool, c_dims}, {"x", kFloat, x_dims}, {"y", kFloat, y_dims}},
                 {{"z", kFloat, {}}});
  bool c[8] = {true, false, false, true, false, true, true, false};
  float x[3] = {1, 2, 3}, y[4] = {-1, -2, -3, -4};
  auto z = m.run({c, x, y});
  ASSERT_EQ(z.size(), 1u);
  auto got = as<float>(z[0]);
  ASSERT_EQ(got.size(), 24u);
  for (int64_t i = 0; i < 24; ++i) {
    float want = c[broadcastOffset(i, out, c_dims)] ? x[broadcastOffset(i, out, x_dims)] : y[broadcastOffset(i, out, y_dims)];
    EXPECT_EQ(got[i], want) << "at " << i;
  }
}

TEST(Elementwise, MaxOfThreeBroadcastInputs) {
  OneNodeModel m("Max", 13, {{"a", kInt32, {2, 1}}, {"b", kInt32, {3}}, {"c", kInt32, {}}}, {{"y", kInt32, {}}});
  int32_t a[2] = {5, -5}, b[3] = {0, 7, -9}, c[1] = {-1};
  auto y = m.run({a, b, c});
  ASSERT_EQ(y.size(), 1u);
  EXPECT_EQ(as<int32_t>(y[0]), (std::vector<int32_t>{5, 7, 5, 0, 7, -1}));
}

// ---- integer semantics --------------------------------------------------------------------

TEST(Elementwise, IntegerDivisionTruncatesTowardZero) {
  OneNodeModel m("Div", 14, {{"a", kInt32, {6}}, {"b", kInt32, {6}}}, {{"y", kInt32, {}}});
  int32_t a[6] = {-7, 7, -7, 7, INT32_MIN, 5}, b[6] = {2, -2, -2, 2, -1, 0};
  auto y = m.run({a, b});
  ASSERT_EQ(y.size(), 1u);
  // INT32_MIN / -1 wraps and x / 0 gives 0 (both undefined in C++; the kernel defines them).
  EXPECT_EQ(as<int32_t>(y[0]), (std::vector<int32_t>{-3, -3, 3, 3, INT32_MIN, 0}));
}

TEST(Elementwise, ModFollowsDivisorSignUnlessFmod) {
  int64_t a[4] = {-7, 7, -7, 7}, b[4] = {3, -3, -3, 3};
  OneNodeModel python_mod("Mod", 13, {{"a", kInt64, {4}}, {"b", kInt64, {4}}}, {{"y", kInt64, {}}});
  auto y = python_mod.run({a, b});
  ASSERT_EQ(y.size(), 1u);
  EXPECT_EQ(as<int64_t>(y[0]), (std::vector<int64_t>{2, -2, -1, 1}));
  OneNodeModel c_mod("Mod", 13, {{"a", kInt64, {4}}, {"b", kInt64, {4}}}, {{"y", kInt64, {}}});
  c_mod.setInt("fmod", 1);
  y = c_mod.run({a, b});
  ASSERT_EQ(y.size(), 1u);
  EXPECT_EQ(as<int64_t>(y[0]), (std::vector<int64_t>{-1, 1, -1, 1}));
}

TEST(Elementwise, PowWithIntegerExponentKeepsBaseType) {
  OneNodeModel m("Pow", 15, {{"x", kFloat, {4}}, {"e", kInt64, {4}}}, {{"y", kFloat, {}}});
  float x[4] = {2.f, -3.f, 1.5f, 4.f};
  int64_t e[4] = {10, 3, 2, -1};
  auto y = m.run({x, e});
  ASSERT_EQ(y.size(), 1u);
  EXPECT_EQ(as<float>(y[0]), (std::vector<float>{1024.f, -27.f, 2.25f, 0.25f}));
}

TEST(Elementwise, ClipInt8WithOnlyAMaximum) {
  OneNodeModel m("Clip", 13, {{"x", kInt8, {4}}, {"", kInt8, {}}, {"hi", kInt8, {}}}, {{"y", kInt8, {}}});
  int8_t x[4] = {-128, 0, 5, 127}, hi[1] = {4};
  auto y = m.run({x, hi});
  ASSERT_EQ(y.size(), 1u);
  EXPECT_EQ(as<int8_t>(y[0]), (std::vector<int8_t>{-128, 0, 4, 4}));
}

// Before opset 11 the bounds are attributes.
TEST(Elementwise, ClipOpset10TakesAttributes) {
  OneNodeModel m("Clip", 10, {{"x", kFloat, {4}}}, {{"y", kFloat, {}}});
  m.setFloat("min", -1.f);
  m.setFloat("max", 0.5f);
  float x[4] = {-3.f, -0.25f, 0.5f, 9.f};
  auto y = m.run({x});
  ASSERT_EQ(y.size(), 1u);
  EXPECT_EQ(as<float>(y[0]), (std::vector<float>{-1.f, -0.25f, 0.5f, 0.5f}));
}

// ---- Cast ---------------------------------------------------------------------------------

// Rounding a double to fp16 through float would round twice: 1 + 2^-11 + 2^-40 becomes the tie
// 1 + 2^-11 in float and then 1.0 (even) in fp16, but the nearest fp16 is 1 + 2^-10.
TEST(Elementwise, CastDoubleToHalfRoundsOnce) {
  OneNodeModel m("Cast", 13, {{"x", onnx::TensorProto::DOUBLE, {3}}}, {{"y", onnx::TensorProto::FLOAT16, {}}});
  m.setInt("to", onnx::TensorProto::FLOAT16);
  double x[3] = {1.0 + std::ldexp(1.0, -11) + std::ldexp(1.0, -40), 1.0 + std::ldexp(1.0, -11), 65520.0};
  auto y = m.run({x});
  ASSERT_EQ(y.size(), 1u);
  // The exact tie goes to even (1.0); 65520 is halfway to the next binade and rounds to infinity.
  EXPECT_EQ(as<uint16_t>(y[0]), (std::vector<uint16_t>{0x3C01, 0x3C00, 0x7C00}));
}

TEST(Elementwise, CastFloatToIntTruncatesAndToBoolTestsNonZero) {
  OneNodeModel to_int("Cast", 13, {{"x", kFloat, {4}}}, {{"y", kInt32, {}}});
  to_int.setInt("to", onnx::TensorProto::INT32);
  float x[4] = {-2.7f, 2.7f, -0.5f, 1e10f};
  auto y = to_int.run({x});
  ASSERT_EQ(y.size(), 1u);
  EXPECT_EQ(as<int32_t>(y[0])[0], -2);
  EXPECT_EQ(as<int32_t>(y[0])[1], 2);
  EXPECT_EQ(as<int32_t>(y[0])[2], 0);
  OneNodeModel to_bool("Cast", 13, {{"x", kFloat, {4}}}, {{"y", kBool, {}}});
  to_bool.setInt("to", onnx::TensorProto::BOOL);
  float z[4] = {0.f, -0.f, 0.1f, std::nanf("")};
  y = to_bool.run({z});
  ASSERT_EQ(y.size(), 1u);
  EXPECT_EQ(y[0], (std::vector<uint8_t>{0, 0, 1, 1}));
}

// ---- QuantizeLinear / DequantizeLinear ----------------------------------------------------

TEST(Quantize, RoundsHalfToEvenAndSaturatesInt8) {
  OneNodeModel m("QuantizeLinear", 13, {{"x", kFloat, {12}}, {"s", kFloat, {}}, {"z", kInt8, {}}}, {{"y", kInt8, {}}});
  // x / 0.5 gives the ties 0.5, 1.5, 2.5, -0.5, -1.5, -2.5 and values beyond int8's range.
  float x[12] = {0.25f, 0.75f, 1.25f, -0.25f, -0.75f, -1.25f, 63.75f, 64.25f, -64.25f, -64.5f, 1000.f, -1000.f};
  float s[1] = {0.5f};
  int8_t z[1] = {0};
  auto y = m.run({x, s, z});
  ASSERT_EQ(y.size(), 1u);
  EXPECT_EQ(as<int8_t>(y[0]), (std::vector<int8_t>{0, 2, 2, 0, -2, -2, 127, 127, -128, -128, 127, -128}));
}

TEST(Quantize, ZeroPointShiftsBeforeSaturatingUInt8) {
  OneNodeModel m("QuantizeLinear", 13, {{"x", kFloat, {6}}, {"s", kFloat, {}}, {"z", kUInt8, {}}}, {{"y", kUInt8, {}}});
  float x[6] = {-128.5f, -127.5f, 0.5f, 126.5f, 127.5f, 200.f};
  float s[1] = {1.f};
  uint8_t z[1] = {128};
  auto y = m.run({x, s, z});
  ASSERT_EQ(y.size(), 1u);
  // -128.5 -> -128 (even) + 128 = 0; -127.5 -> -128 -> 0; 0.5 -> 0 -> 128; 126.5 -> 126 -> 254;
  // 127.5 -> 128 -> 256 saturates to 255.
  EXPECT_EQ(y[0], (std::vector<uint8_t>{0, 0, 128, 254, 255, 255}));
}

TEST(Quantize, AbsentZeroPointMeansUInt8AndZero) {
  OneNodeModel m("QuantizeLinear", 13, {{"x", kFloat, {4}}, {"s", kFloat, {}}}, {{"y", kUInt8, {}}});
  float x[4] = {-1.f, 0.f, 2.5f, 3.5f};
  float s[1] = {1.f};
  auto y = m.run({x, s});
  ASSERT_EQ(y.size(), 1u);
  EXPECT_EQ(y[0], (std::vector<uint8_t>{0, 0, 2, 4}));
}

TEST(Quantize, PerAxisQuantizeOnAxis0) {
  OneNodeModel m("QuantizeLinear", 13, {{"x", kFloat, {2, 3}}, {"s", kFloat, {2}}, {"z", kInt8, {2}}},
                 {{"y", kInt8, {}}});
  m.setInt("axis", 0);
  float x[6] = {1.f, 2.f, 3.f, 1.f, 2.f, 3.f};
  float s[2] = {1.f, 0.5f};
  int8_t z[2] = {0, -10};
  auto y = m.run({x, s, z});
  ASSERT_EQ(y.size(), 1u);
  EXPECT_EQ(as<int8_t>(y[0]), (std::vector<int8_t>{1, 2, 3, -8, -6, -4}));
}

TEST(Quantize, PerAxisDequantizeMatchesDoubleReference) {
  const Dims dims{2, 3, 2};
  OneNodeModel m("DequantizeLinear", 13, {{"x", kInt8, dims}, {"s", kFloat, {3}}, {"z", kInt8, {3}}},
                 {{"y", kFloat, {}}});
  int8_t x[12] = {-128, 127, 0, 1, -1, 50, 100, -100, 7, -7, 33, -33};
  float s[3] = {0.5f, 0.125f, 3.f};
  int8_t z[3] = {0, -128, 10};
  auto y = m.run({x, s, z});
  ASSERT_EQ(y.size(), 1u);
  auto got = as<float>(y[0]);
  ASSERT_EQ(got.size(), 12u);
  for (int64_t i = 0; i < 12; ++i) {
    int64_t c = (i / 2) % 3;  // axis 1 (the default)
    double want = (double(x[i]) - double(z[c])) * double(s[c]);
    EXPECT_EQ(double(got[i]), want) << "at " << i;  // exact: small integers times a float
  }
}

TEST(Quantize, DequantizeOfQuantizeIsWithinHalfAStep) {
  OneNodeModel q("QuantizeLinear", 13, {{"x", kFloat, {1000}}, {"s", kFloat, {}}, {"z", kInt8, {}}},
                 {{"y", kInt8, {}}});
  auto x = randomFloats(1000, 7);
  float s[1] = {4.f / 127.f};
  int8_t z[1] = {0};
  auto qy = q.run({x.data(), s, z});
  ASSERT_EQ(qy.size(), 1u);
  OneNodeModel dq("DequantizeLinear", 13, {{"x", kInt8, {1000}}, {"s", kFloat, {}}, {"z", kInt8, {}}},
                  {{"y", kFloat, {}}});
  auto dy = dq.run({qy[0].data(), s, z});
  ASSERT_EQ(dy.size(), 1u);
  auto back = as<float>(dy[0]);
  for (size_t i = 0; i < x.size(); ++i) {
    if (std::fabs(x[i]) > 4.f) continue;  // saturated
    EXPECT_LE(std::fabs(back[i] - x[i]), s[0] / 2 * 1.0001f) << "at " << i;
  }
}

}  // namespace
}  // namespace qrt
