// Resize, LayerNormalization, Softmax and Reduce* through the public API (ONNX model built with
// the protobuf API -> parseOnnxFile -> buildEngine -> execution context -> enqueue), compared
// with float64 references written here directly from the ONNX spec's formulas.
#include <gtest/gtest.h>
#include <onnx/onnx_pb.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "qrt/qrt.h"
#include "test_util.h"

namespace qrt {
namespace {

// ---- building and running tiny models ------------------------------------------------------------

class TinyModel {
 public:
  explicit TinyModel(int opset) {
    m_.set_ir_version(8);
    m_.set_producer_name("qrt reduce_resize_test");
    auto* os = m_.add_opset_import();
    os->set_domain("");
    os->set_version(opset);
    m_.mutable_graph()->set_name("g");
  }

  void input(const std::string& name, const Dims& dims) {
    auto* tt = typed(m_.mutable_graph()->add_input(), name);
    for (int64_t d : dims) tt->mutable_shape()->add_dim()->set_dim_value(d);
  }
  void output(const std::string& name) { typed(m_.mutable_graph()->add_output(), name); }

  void floats(const std::string& name, const Dims& dims, const std::vector<float>& v) {
    onnx::TensorProto* t = initializer(name, dims, onnx::TensorProto::FLOAT);
    for (float f : v) t->add_float_data(f);
  }
  void ints(const std::string& name, const Dims& dims, const std::vector<int64_t>& v) {
    onnx::TensorProto* t = initializer(name, dims, onnx::TensorProto::INT64);
    for (int64_t i : v) t->add_int64_data(i);
  }

  onnx::NodeProto* node(const std::string& op, const std::vector<std::string>& ins,
                        const std::vector<std::string>& outs) {
    auto* n = m_.mutable_graph()->add_node();
    n->set_op_type(op);
    n->set_name(op + "_" + std::to_string(m_.graph().node_size()));
    for (const auto& i : ins) n->add_input(i);
    for (const auto& o : outs) n->add_output(o);
    return n;
  }

  const onnx::ModelProto& proto() const { return m_; }

 private:
  onnx::TypeProto_Tensor* typed(onnx::ValueInfoProto* vi, const std::string& name) {
    vi->set_name(name);
    auto* tt = vi->mutable_type()->mutable_tensor_type();
    tt->set_elem_type(onnx::TensorProto::FLOAT);
    return tt;
  }
  onnx::TensorProto* initializer(const std::string& name, const Dims& dims, int type) {
    onnx::TensorProto* t = m_.mutable_graph()->add_initializer();
    t->set_name(name);
    t->set_data_type(type);
    for (int64_t d : dims) t->add_dims(d);
    return t;
  }

  onnx::ModelProto m_;
};

void setAttr(onnx::NodeProto* n, const std::string& name, int64_t v) {
  auto* a = n->add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto::INT);
  a->set_i(v);
}
void setAttr(onnx::NodeProto* n, const std::string& name, float v) {
  auto* a = n->add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto::FLOAT);
  a->set_f(v);
}
void setAttr(onnx::NodeProto* n, const std::string& name, const std::string& v) {
  auto* a = n->add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto::STRING);
  a->set_s(v);
}
void setAttr(onnx::NodeProto* n, const std::string& name, const std::vector<int64_t>& v) {
  auto* a = n->add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto::INTS);
  for (int64_t i : v) a->add_ints(i);
}

struct Tensor {
  Dims dims;
  std::vector<float> data;
};

// Writes the model to a temporary file, builds it, runs it on the float inputs and returns the
// named outputs.
std::map<std::string, Tensor> run(const TinyModel& model, const std::map<std::string, std::vector<float>>& inputs,
                                  const std::vector<std::string>& outputs) {
  std::map<std::string, Tensor> result;
  const std::string dir = test::makeTempDir("reduce_resize");
  const std::string path = dir + "/model.onnx";
  {
    std::ofstream f(path, std::ios::binary);
    model.proto().SerializeToOstream(&f);
  }
  auto net = parseOnnxFile(path);
  std::filesystem::remove_all(dir);
  EXPECT_TRUE(net.ok()) << net.status().toString();
  if (!net.ok()) return result;
  auto engine = buildEngine(**net, BuilderConfig{});
  EXPECT_TRUE(engine.ok()) << engine.status().toString();
  if (!engine.ok()) return result;
  auto ctx = (*engine)->createExecutionContext();
  EXPECT_TRUE(ctx.ok()) << ctx.status().toString();
  if (!ctx.ok()) return result;
  for (const auto& [name, data] : inputs)
    EXPECT_TRUE((*ctx)->setTensorAddress(name, const_cast<float*>(data.data())).ok()) << name;
  for (const std::string& name : outputs) {
    auto dims = (*ctx)->tensorShape(name);
    EXPECT_TRUE(dims.ok()) << dims.status().toString();
    if (!dims.ok()) return result;
    Tensor& t = result[name];
    t.dims = *dims;
    t.data.assign(static_cast<size_t>(volume(t.dims)), std::nanf(""));
    EXPECT_TRUE((*ctx)->setTensorAddress(name, t.data.data()).ok()) << name;
  }
  Status s = (*ctx)->enqueue();
  EXPECT_TRUE(s.ok()) << s.toString();
  return result;
}

std::vector<float> randomData(int64_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> d(-2.f, 2.f);
  std::vector<float> v(static_cast<size_t>(n));
  for (float& x : v) x = d(rng);
  return v;
}

void expectClose(const Tensor& got, const Dims& dims, const std::vector<double>& want, double tol = 1e-5) {
  ASSERT_EQ(got.dims, dims);
  ASSERT_EQ(got.data.size(), want.size());
  for (size_t i = 0; i < want.size(); ++i)
    EXPECT_NEAR(got.data[i], want[i], tol * std::max(1.0, std::fabs(want[i]))) << "element " << i;
}

// ---- Resize --------------------------------------------------------------------------------------

// x_original of output coordinate x (spec, coordinate_transformation_mode).
double sourceCoord(const std::string& mode, int64_t x, int64_t in, double scale, int64_t out) {
  if (mode == "align_corners") return out == 1 ? 0.0 : x * (in - 1.0) / (out - 1.0);
  return (x + 0.5) / scale - 0.5;  // half_pixel
}

// Weights of every input index for one output coordinate; indices outside the input are clamped
// to the edge ("edge" padding), except that exclude_outside drops them and renormalizes.
std::vector<double> axisWeights(const std::string& interp, double xo, int64_t in, double a, bool exclude_outside) {
  std::vector<double> w(static_cast<size_t>(in), 0.0);
  const int64_t i0 = static_cast<int64_t>(std::floor(xo));
  auto keys = [a](double d) {  // Keys' cubic convolution kernel
    d = std::fabs(d);
    if (d <= 1) return (a + 2) * d * d * d - (a + 3) * d * d + 1;
    if (d < 2) return a * d * d * d - 5 * a * d * d + 8 * a * d - 4 * a;
    return 0.0;
  };
  double total = 0.0;
  const int64_t lo = interp == "linear" ? 0 : -1, hi = interp == "linear" ? 1 : 2;
  for (int64_t k = lo; k <= hi; ++k) {
    const int64_t i = i0 + k;
    double wk = interp == "linear" ? 1.0 - std::fabs(xo - static_cast<double>(i)) : keys(xo - static_cast<double>(i));
    if (exclude_outside && (i < 0 || i >= in)) wk = 0.0;
    w[std::clamp<int64_t>(i, 0, in - 1)] += wk;
    total += wk;
  }
  if (exclude_outside)
    for (double& v : w) v /= total;
  return w;
}

struct ResizeCase {
  std::string interp;  // "linear" or "cubic"
  std::string coord;   // "half_pixel" or "align_corners"
  Dims in;             // N, C, H, W
  Dims out;
  std::vector<float> scales;  // empty: the case gives sizes
  float cubic_a = -0.75f;
  bool exclude_outside = false;
};

// Separable reference over H and W for an NCHW input.
std::vector<double> resizeReference(const ResizeCase& c, const std::vector<float>& x) {
  const int64_t nc = c.in[0] * c.in[1], h = c.in[2], w = c.in[3], oh = c.out[2], ow = c.out[3];
  const double sh = c.scales.empty() ? double(oh) / h : c.scales[2];
  const double sw = c.scales.empty() ? double(ow) / w : c.scales[3];
  std::vector<double> y;
  for (int64_t p = 0; p < nc; ++p)
    for (int64_t oy = 0; oy < oh; ++oy) {
      auto wy = axisWeights(c.interp, sourceCoord(c.coord, oy, h, sh, oh), h, c.cubic_a, c.exclude_outside);
      for (int64_t ox = 0; ox < ow; ++ox) {
        auto wx = axisWeights(c.interp, sourceCoord(c.coord, ox, w, sw, ow), w, c.cubic_a, c.exclude_outside);
        double acc = 0.0;
        for (int64_t i = 0; i < h; ++i)
          for (int64_t j = 0; j < w; ++j) acc += wy[i] * wx[j] * x[(p * h + i) * w + j];
        y.push_back(acc);
      }
    }
  return y;
}

void checkResize(const ResizeCase& c) {
  TinyModel m(13);
  m.input("X", c.in);
  m.output("Y");
  onnx::NodeProto* n;
  if (c.scales.empty()) {
    m.ints("sizes", {4}, c.out);
    n = m.node("Resize", {"X", "", "", "sizes"}, {"Y"});
  } else {
    m.floats("scales", {4}, c.scales);
    n = m.node("Resize", {"X", "", "scales"}, {"Y"});
  }
  setAttr(n, "mode", c.interp);
  setAttr(n, "coordinate_transformation_mode", c.coord);
  if (c.interp == "cubic") setAttr(n, "cubic_coeff_a", c.cubic_a);
  if (c.exclude_outside) setAttr(n, "exclude_outside", int64_t{1});
  const std::vector<float> x = randomData(volume(c.in), 7);
  auto out = run(m, {{"X", x}}, {"Y"});
  ASSERT_TRUE(out.count("Y"));
  expectClose(out["Y"], c.out, resizeReference(c, x));
}

TEST(Resize, LinearHalfPixelSizes) { checkResize({"linear", "half_pixel", {1, 2, 4, 5}, {1, 2, 7, 3}}); }
TEST(Resize, LinearHalfPixelScales) {
  checkResize({"linear", "half_pixel", {2, 1, 3, 4}, {2, 1, 6, 2}, {1.f, 1.f, 2.f, 0.5f}});
}
TEST(Resize, LinearAlignCorners) { checkResize({"linear", "align_corners", {1, 1, 3, 4}, {1, 1, 5, 7}}); }
TEST(Resize, LinearAlignCornersToOnePixel) { checkResize({"linear", "align_corners", {1, 1, 3, 4}, {1, 1, 1, 2}}); }
TEST(Resize, CubicHalfPixel) { checkResize({"cubic", "half_pixel", {1, 2, 4, 4}, {1, 2, 6, 3}}); }
TEST(Resize, CubicAlignCorners) { checkResize({"cubic", "align_corners", {1, 1, 4, 5}, {1, 1, 7, 9}}); }
TEST(Resize, CubicExcludeOutside) {
  ResizeCase c{"cubic", "half_pixel", {1, 1, 5, 4}, {1, 1, 3, 8}};
  c.cubic_a = -0.5f;
  c.exclude_outside = true;
  checkResize(c);
}

// ---- LayerNormalization --------------------------------------------------------------------------

struct LayerNormRef {
  std::vector<double> y, mean, inv_std;
};

// The spec: per row of X viewed as [prod(d[:axis]), prod(d[axis:])], normalize to zero mean and
// unit variance, then y = normalized * scale + bias (scale/bias broadcast along the row).
LayerNormRef layerNormReference(const std::vector<float>& x, int64_t rows, int64_t cols, const std::vector<float>& scale,
                                const std::vector<float>& bias, double eps) {
  LayerNormRef r;
  for (int64_t i = 0; i < rows; ++i) {
    double mean = 0.0, var = 0.0;
    for (int64_t j = 0; j < cols; ++j) mean += x[i * cols + j];
    mean /= cols;
    for (int64_t j = 0; j < cols; ++j) var += (x[i * cols + j] - mean) * (x[i * cols + j] - mean);
    var /= cols;
    const double inv = 1.0 / std::sqrt(var + eps);
    for (int64_t j = 0; j < cols; ++j) {
      const double s = scale[j % scale.size()];
      const double b = bias.empty() ? 0.0 : bias[j % bias.size()];
      r.y.push_back((x[i * cols + j] - mean) * inv * s + b);
    }
    r.mean.push_back(mean);
    r.inv_std.push_back(inv);
  }
  return r;
}

TEST(LayerNormalization, MiddleAxisWithStatistics) {
  const Dims xd{2, 3, 4};
  TinyModel m(17);
  m.input("X", xd);
  const std::vector<float> scale = randomData(12, 2), bias = randomData(12, 3);
  m.floats("S", {3, 4}, scale);
  m.floats("B", {3, 4}, bias);
  m.output("Y");
  m.output("Mean");
  m.output("InvStdDev");
  onnx::NodeProto* n = m.node("LayerNormalization", {"X", "S", "B"}, {"Y", "Mean", "InvStdDev"});
  setAttr(n, "axis", int64_t{1});
  setAttr(n, "epsilon", 1e-3f);
  const std::vector<float> x = randomData(24, 1);
  auto out = run(m, {{"X", x}}, {"Y", "Mean", "InvStdDev"});
  ASSERT_EQ(out.size(), 3u);
  const LayerNormRef ref = layerNormReference(x, 2, 12, scale, bias, static_cast<double>(1e-3f));
  expectClose(out["Y"], xd, ref.y);
  expectClose(out["Mean"], {2, 1, 1}, ref.mean);
  expectClose(out["InvStdDev"], {2, 1, 1}, ref.inv_std);
}

TEST(LayerNormalization, LastAxisBroadcastScaleNoBias) {
  const Dims xd{3, 2, 5};
  TinyModel m(17);
  m.input("X", xd);
  const std::vector<float> scale = randomData(5, 4);
  m.floats("S", {5}, scale);
  m.output("Y");
  m.node("LayerNormalization", {"X", "S"}, {"Y"});
  const std::vector<float> x = randomData(30, 5);
  auto out = run(m, {{"X", x}}, {"Y"});
  ASSERT_TRUE(out.count("Y"));
  expectClose(out["Y"], xd, layerNormReference(x, 6, 5, scale, {}, static_cast<double>(1e-5f)).y);
}

TEST(LayerNormalization, ScaleBroadcastOverSeveralAxes) {
  const Dims xd{2, 3, 4};
  TinyModel m(17);
  m.input("X", xd);
  const std::vector<float> scale = randomData(4, 6), bias = randomData(4, 8);
  m.floats("S", {1, 4}, scale);  // broadcast to the normalized shape [3, 4]
  m.floats("B", {4}, bias);
  m.output("Y");
  setAttr(m.node("LayerNormalization", {"X", "S", "B"}, {"Y"}), "axis", int64_t{-2});
  const std::vector<float> x = randomData(24, 9);
  auto out = run(m, {{"X", x}}, {"Y"});
  ASSERT_TRUE(out.count("Y"));
  expectClose(out["Y"], xd, layerNormReference(x, 2, 12, scale, bias, static_cast<double>(1e-5f)).y);
}

// ---- Softmax ---------------------------------------------------------------------------------------

// Softmax over [outer, n, inner] along n: exp(x) / sum(exp(x)).
std::vector<double> softmaxReference(const std::vector<float>& x, int64_t outer, int64_t n, int64_t inner, bool log) {
  std::vector<double> y(x.size());
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t i = 0; i < inner; ++i) {
      double s = 0.0;
      for (int64_t j = 0; j < n; ++j) s += std::exp(static_cast<double>(x[(o * n + j) * inner + i]));
      for (int64_t j = 0; j < n; ++j) {
        const size_t k = static_cast<size_t>((o * n + j) * inner + i);
        y[k] = log ? x[k] - std::log(s) : std::exp(static_cast<double>(x[k])) / s;
      }
    }
  return y;
}

std::map<std::string, Tensor> runSoftmax(const std::string& op, int opset, int64_t axis, const Dims& xd,
                                         const std::vector<float>& x) {
  TinyModel m(opset);
  m.input("X", xd);
  m.output("Y");
  setAttr(m.node(op, {"X"}, {"Y"}), "axis", axis);
  return run(m, {{"X", x}}, {"Y"});
}

TEST(Softmax, MiddleAxisOpset13) {
  const Dims xd{2, 3, 4};
  const std::vector<float> x = randomData(24, 11);
  auto out = runSoftmax("Softmax", 13, 1, xd, x);
  ASSERT_TRUE(out.count("Y"));
  expectClose(out["Y"], xd, softmaxReference(x, 2, 3, 4, false));
}

TEST(Softmax, Opset11CoercesTo2D) {
  // Before opset 13, axis=1 on [2, 3, 4] normalizes each of the 2 rows of 12 elements.
  const Dims xd{2, 3, 4};
  const std::vector<float> x = randomData(24, 12);
  auto out = runSoftmax("Softmax", 11, 1, xd, x);
  ASSERT_TRUE(out.count("Y"));
  expectClose(out["Y"], xd, softmaxReference(x, 2, 12, 1, false));
}

TEST(Softmax, LargeValuesAreStable) {
  const Dims xd{1, 4};
  const std::vector<float> x{10000.f, 10001.f, 10002.f, 10003.f};
  auto out = runSoftmax("Softmax", 13, -1, xd, x);
  ASSERT_TRUE(out.count("Y"));
  const std::vector<float> shifted{0.f, 1.f, 2.f, 3.f};
  expectClose(out["Y"], xd, softmaxReference(shifted, 1, 4, 1, false));
}

TEST(LogSoftmax, MiddleAxisOpset13) {
  const Dims xd{2, 3, 2, 2};
  const std::vector<float> x = randomData(24, 13);
  auto out = runSoftmax("LogSoftmax", 13, -3, xd, x);
  ASSERT_TRUE(out.count("Y"));
  expectClose(out["Y"], xd, softmaxReference(x, 2, 3, 4, true));
}

// ---- Reduce ----------------------------------------------------------------------------------------

TEST(Reduce, MeanOverNonAdjacentAxesKeepDims) {
  const Dims xd{2, 3, 4};
  TinyModel m(13);
  m.input("X", xd);
  m.output("Y");
  setAttr(m.node("ReduceMean", {"X"}, {"Y"}), "axes", std::vector<int64_t>{0, -1});
  const std::vector<float> x = randomData(24, 21);
  auto out = run(m, {{"X", x}}, {"Y"});
  ASSERT_TRUE(out.count("Y"));
  std::vector<double> want(3, 0.0);
  for (int64_t a = 0; a < 2; ++a)
    for (int64_t b = 0; b < 3; ++b)
      for (int64_t c = 0; c < 4; ++c) want[b] += x[(a * 3 + b) * 4 + c] / 8.0;
  expectClose(out["Y"], {1, 3, 1}, want);
}

TEST(Reduce, SumAxesInputNoKeepDims) {
  const Dims xd{2, 3, 4};
  TinyModel m(13);
  m.input("X", xd);
  m.ints("axes", {1}, {-2});
  m.output("Y");
  setAttr(m.node("ReduceSum", {"X", "axes"}, {"Y"}), "keepdims", int64_t{0});
  const std::vector<float> x = randomData(24, 22);
  auto out = run(m, {{"X", x}}, {"Y"});
  ASSERT_TRUE(out.count("Y"));
  std::vector<double> want(8, 0.0);
  for (int64_t a = 0; a < 2; ++a)
    for (int64_t b = 0; b < 3; ++b)
      for (int64_t c = 0; c < 4; ++c) want[a * 4 + c] += x[(a * 3 + b) * 4 + c];
  expectClose(out["Y"], {2, 4}, want);
}

TEST(Reduce, SumEmptyAxesWithNoopIsIdentity) {
  const Dims xd{2, 3};
  TinyModel m(13);
  m.input("X", xd);
  m.output("Y");
  setAttr(m.node("ReduceSum", {"X"}, {"Y"}), "noop_with_empty_axes", int64_t{1});
  const std::vector<float> x = randomData(6, 23);
  auto out = run(m, {{"X", x}}, {"Y"});
  ASSERT_TRUE(out.count("Y"));
  expectClose(out["Y"], xd, std::vector<double>(x.begin(), x.end()));
}

TEST(Reduce, MaxOverAllAxesToScalar) {
  const Dims xd{3, 5};
  TinyModel m(13);
  m.input("X", xd);
  m.output("Y");
  setAttr(m.node("ReduceMax", {"X"}, {"Y"}), "keepdims", int64_t{0});
  const std::vector<float> x = randomData(15, 24);
  auto out = run(m, {{"X", x}}, {"Y"});
  ASSERT_TRUE(out.count("Y"));
  expectClose(out["Y"], {}, {*std::max_element(x.begin(), x.end())});
}

}  // namespace
}  // namespace qrt
