// The nn op family through the public API: each test builds a one-node ONNX model with the onnx
// protobuf API, writes it to a temporary file, then parses, builds and runs it, and compares the
// output with a float64 reference computed here straight from the op's definition (plain loops,
// no shared code with the kernels). Inputs are random from fixed seeds.
#include <gtest/gtest.h>
#include <onnx/onnx_pb.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "core/half.h"
#include "core/status_macros.h"
#include "qrt/qrt.h"
#include "test_util.h"

namespace qrt {
namespace {

// A named tensor with its values held as double whatever the dtype it is stored in.
struct Tensor {
  std::string name;
  Dims dims;
  std::vector<double> values;
};

Tensor randomTensor(const std::string& name, Dims dims, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<double> d(-1.0, 1.0);
  Tensor t{name, std::move(dims), {}};
  t.values.resize(static_cast<size_t>(volume(t.dims)));
  for (double& v : t.values) v = d(rng);
  return t;
}

// Values as stored in `dtype` (float64 stays exact; float32/float16 are rounded once).
std::vector<uint8_t> encode(const std::vector<double>& v, DataType dtype) {
  std::vector<uint8_t> bytes(v.size() * dataTypeSize(dtype));
  for (size_t i = 0; i < v.size(); ++i) {
    if (dtype == DataType::kDouble) {
      std::memcpy(&bytes[i * 8], &v[i], 8);
    } else if (dtype == DataType::kHalf) {
      uint16_t h = floatToHalf(static_cast<float>(v[i]));
      std::memcpy(&bytes[i * 2], &h, 2);
    } else {
      float f = static_cast<float>(v[i]);
      std::memcpy(&bytes[i * 4], &f, 4);
    }
  }
  return bytes;
}

std::vector<double> decode(const std::vector<uint8_t>& bytes, DataType dtype) {
  size_t n = bytes.size() / dataTypeSize(dtype);
  std::vector<double> v(n);
  for (size_t i = 0; i < n; ++i) {
    if (dtype == DataType::kDouble) {
      std::memcpy(&v[i], &bytes[i * 8], 8);
    } else if (dtype == DataType::kHalf) {
      uint16_t h;
      std::memcpy(&h, &bytes[i * 2], 2);
      v[i] = halfToFloat(h);
    } else {
      float f;
      std::memcpy(&f, &bytes[i * 4], 4);
      v[i] = f;
    }
  }
  return v;
}

// The reference sees the inputs as the model stores them (rounded to the dtype).
Tensor rounded(Tensor t, DataType dtype) {
  t.values = decode(encode(t.values, dtype), dtype);
  return t;
}

// Builds and runs a model with a single node whose output is "Y".
class OneNodeModel {
 public:
  OneNodeModel(const std::string& op_type, int opset, DataType dtype = DataType::kFloat) : dtype_(dtype) {
    model_.set_ir_version(8);
    auto* imp = model_.add_opset_import();
    imp->set_domain("");
    imp->set_version(opset);
    auto* g = model_.mutable_graph();
    g->set_name("nn_test");
    node_ = g->add_node();
    node_->set_op_type(op_type);
    node_->set_name("node");
    node_->add_output("Y");
    auto* out = g->add_output();
    out->set_name("Y");
    out->mutable_type()->mutable_tensor_type()->set_elem_type(static_cast<int>(dtype_));
  }

  // A graph input, fed at run time.
  OneNodeModel& input(const Tensor& t) {
    node_->add_input(t.name);
    auto* vi = model_.mutable_graph()->add_input();
    vi->set_name(t.name);
    auto* tt = vi->mutable_type()->mutable_tensor_type();
    tt->set_elem_type(static_cast<int>(dtype_));
    auto* shape = tt->mutable_shape();  // present even for scalars: rank 0 is a known shape
    for (int64_t d : t.dims) shape->add_dim()->set_dim_value(d);
    feeds_.push_back(t);
    return *this;
  }
  // A constant (weights, bias).
  OneNodeModel& initializer(const Tensor& t) {
    node_->add_input(t.name);
    auto* init = model_.mutable_graph()->add_initializer();
    init->set_name(t.name);
    init->set_data_type(static_cast<int>(dtype_));
    for (int64_t d : t.dims) init->add_dims(d);
    std::vector<uint8_t> bytes = encode(t.values, dtype_);
    init->set_raw_data(bytes.data(), bytes.size());
    return *this;
  }
  OneNodeModel& ints(const std::string& name, const std::vector<int64_t>& v) {
    auto* a = attr(name, onnx::AttributeProto::INTS);
    for (int64_t x : v) a->add_ints(x);
    return *this;
  }
  OneNodeModel& integer(const std::string& name, int64_t v) {
    attr(name, onnx::AttributeProto::INT)->set_i(v);
    return *this;
  }
  OneNodeModel& real(const std::string& name, float v) {
    attr(name, onnx::AttributeProto::FLOAT)->set_f(v);
    return *this;
  }
  OneNodeModel& string(const std::string& name, const std::string& v) {
    attr(name, onnx::AttributeProto::STRING)->set_s(v);
    return *this;
  }

  // Writes the model to a temporary file, parses it, builds it and runs it once.
  Status run(std::vector<double>* out, Dims* out_dims) {
    std::string dir = test::makeTempDir("nn");
    std::string path = dir + "/model.onnx";
    {
      std::ofstream f(path, std::ios::binary);
      if (!model_.SerializeToOstream(&f)) return ioError("cannot write ", path);
    }
    auto net = parseOnnxFile(path);
    std::filesystem::remove_all(dir);
    if (!net.ok()) return net.status();
    auto engine = buildEngine(**net, BuilderConfig{});
    if (!engine.ok()) return engine.status();
    auto ctx = (*engine)->createExecutionContext();
    if (!ctx.ok()) return ctx.status();
    std::vector<std::vector<uint8_t>> buffers;
    buffers.reserve(feeds_.size());
    for (const Tensor& t : feeds_) {
      QRT_RETURN_IF_ERROR((*ctx)->setInputShape(t.name, t.dims));
      buffers.push_back(encode(t.values, dtype_));
      QRT_RETURN_IF_ERROR((*ctx)->setTensorAddress(t.name, buffers.back().data()));
    }
    auto dims = (*ctx)->tensorShape("Y");
    if (!dims.ok()) return dims.status();
    *out_dims = *dims;
    std::vector<uint8_t> y(static_cast<size_t>(volume(*dims)) * dataTypeSize(dtype_));
    QRT_RETURN_IF_ERROR((*ctx)->setTensorAddress("Y", y.data()));
    QRT_RETURN_IF_ERROR((*ctx)->enqueue());
    *out = decode(y, dtype_);
    return Status::Ok();
  }

 private:
  onnx::AttributeProto* attr(const std::string& name, onnx::AttributeProto::AttributeType type) {
    auto* a = node_->add_attribute();
    a->set_name(name);
    a->set_type(type);
    return a;
  }

  DataType dtype_;
  onnx::ModelProto model_;
  onnx::NodeProto* node_;
  std::vector<Tensor> feeds_;
};

// ---- float64 references, written from the ONNX definitions ----

// Calls fn(index) for every index of `dims` in row-major order.
void forEachIndex(const Dims& dims, const std::function<void(const std::vector<int64_t>&)>& fn) {
  if (volume(dims) == 0) return;
  std::vector<int64_t> idx(dims.size(), 0);
  for (;;) {
    fn(idx);
    size_t d = dims.size();
    while (d > 0 && ++idx[d - 1] == dims[d - 1]) idx[--d] = 0;
    if (d == 0) return;
  }
}

int64_t offsetOf(const Dims& dims, const std::vector<int64_t>& idx) {
  int64_t off = 0;
  for (size_t i = 0; i < dims.size(); ++i) off = off * dims[i] + idx[i];
  return off;
}

struct ConvSpec {
  int64_t group = 1;
  std::vector<int64_t> strides, dilations, pads;  // pads: [begin..., end...]
  std::vector<int64_t> output_padding;            // ConvTranspose
};

// Y[n, m, o] = B[m] + sum over c in m's group and kernel taps k of
//   X[n, c, o * stride - pad_begin + k * dilation] * W[m, c - group start, k]  (taps in padding add 0).
Tensor refConv(const Tensor& x, const Tensor& w, const Tensor* b, const ConvSpec& s) {
  size_t r = x.dims.size() - 2;
  int64_t m_total = w.dims[0], cg = w.dims[1], mg = m_total / s.group;
  Dims y_dims{x.dims[0], m_total};
  for (size_t i = 0; i < r; ++i) {
    int64_t eff = (w.dims[i + 2] - 1) * s.dilations[i] + 1;
    y_dims.push_back((x.dims[i + 2] + s.pads[i] + s.pads[i + r] - eff) / s.strides[i] + 1);
  }
  Dims kernel(w.dims.begin() + 2, w.dims.end());
  Tensor y{"Y", y_dims, std::vector<double>(static_cast<size_t>(volume(y_dims)))};
  forEachIndex(y_dims, [&](const std::vector<int64_t>& o) {
    int64_t n = o[0], m = o[1], g = m / mg;
    double sum = b ? b->values[m] : 0.0;
    forEachIndex(kernel, [&](const std::vector<int64_t>& k) {
      std::vector<int64_t> xi{n, 0};
      for (size_t i = 0; i < r; ++i) {
        int64_t p = o[i + 2] * s.strides[i] - s.pads[i] + k[i] * s.dilations[i];
        if (p < 0 || p >= x.dims[i + 2]) return;
        xi.push_back(p);
      }
      for (int64_t c = 0; c < cg; ++c) {
        xi[1] = g * cg + c;
        std::vector<int64_t> wi{m, c};
        wi.insert(wi.end(), k.begin(), k.end());
        sum += x.values[offsetOf(x.dims, xi)] * w.values[offsetOf(w.dims, wi)];
      }
    });
    y.values[offsetOf(y_dims, o)] = sum;
  });
  return y;
}

// The transpose of Conv: each X[n, c, i] times W[c, m, k] lands on
// Y[n, group start + m, i * stride - pad_begin + k * dilation], when that is inside Y, whose
// extent is stride * (in - 1) + output_padding + (k - 1) * dilation + 1 - pad_begin - pad_end.
Tensor refConvTranspose(const Tensor& x, const Tensor& w, const Tensor* b, const ConvSpec& s) {
  size_t r = x.dims.size() - 2;
  int64_t c_total = x.dims[1], mg = w.dims[1], cg = c_total / s.group;
  Dims y_dims{x.dims[0], mg * s.group};
  for (size_t i = 0; i < r; ++i)
    y_dims.push_back(s.strides[i] * (x.dims[i + 2] - 1) + s.output_padding[i] + (w.dims[i + 2] - 1) * s.dilations[i] + 1 -
                     s.pads[i] - s.pads[i + r]);
  Tensor y{"Y", y_dims, std::vector<double>(static_cast<size_t>(volume(y_dims)))};
  forEachIndex(y_dims, [&](const std::vector<int64_t>& o) { y.values[offsetOf(y_dims, o)] = b ? b->values[o[1]] : 0; });
  Dims kernel(w.dims.begin() + 2, w.dims.end());
  forEachIndex(x.dims, [&](const std::vector<int64_t>& xi) {
    int64_t n = xi[0], c = xi[1], g = c / cg;
    double xv = x.values[offsetOf(x.dims, xi)];
    for (int64_t m = 0; m < mg; ++m)
      forEachIndex(kernel, [&](const std::vector<int64_t>& k) {
        std::vector<int64_t> yi{n, g * mg + m};
        for (size_t i = 0; i < r; ++i) {
          int64_t p = xi[i + 2] * s.strides[i] - s.pads[i] + k[i] * s.dilations[i];
          if (p < 0 || p >= y_dims[i + 2]) return;
          yi.push_back(p);
        }
        std::vector<int64_t> wi{c, m};
        wi.insert(wi.end(), k.begin(), k.end());
        y.values[offsetOf(y_dims, yi)] += xv * w.values[offsetOf(w.dims, wi)];
      });
  });
  return y;
}

// ---- comparison ----

void expectNear(const std::vector<double>& got, const Dims& got_dims, const Tensor& want, double tol) {
  ASSERT_EQ(got_dims, want.dims);
  ASSERT_EQ(got.size(), want.values.size());
  int bad = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    double diff = std::fabs(got[i] - want.values[i]);
    if (!(diff <= tol * (1.0 + std::fabs(want.values[i]))) && ++bad <= 5)
      ADD_FAILURE() << "element " << i << ": got " << got[i] << ", want " << want.values[i];
  }
  EXPECT_EQ(bad, 0) << "of " << got.size() << " elements";
}

#define QRT_TEST_RUN(model, out, dims)       \
  do {                                       \
    Status _s = (model).run(&(out), &(dims)); \
    ASSERT_TRUE(_s.ok()) << _s.toString();   \
  } while (0)

// Runs Conv with the given attributes over random data and checks it against refConv.
void checkConv(Dims x_dims, Dims w_dims, const ConvSpec& s, bool bias, DataType dtype, double tol, uint32_t seed) {
  Tensor x = rounded(randomTensor("X", x_dims, seed), dtype);
  Tensor w = rounded(randomTensor("W", w_dims, seed + 1), dtype);
  Tensor b = rounded(randomTensor("B", {w_dims[0]}, seed + 2), dtype);
  OneNodeModel m("Conv", 13, dtype);
  m.input(x).initializer(w);
  if (bias) m.initializer(b);
  m.integer("group", s.group).ints("strides", s.strides).ints("dilations", s.dilations).ints("pads", s.pads);
  std::vector<double> y;
  Dims y_dims;
  QRT_TEST_RUN(m, y, y_dims);
  expectNear(y, y_dims, refConv(x, w, bias ? &b : nullptr, s), tol);
}

TEST(Conv, Groups2DilationsStridesAsymmetricPads) {
  ConvSpec s{2, {2, 3}, {2, 1}, {1, 0, 2, 1}, {}};
  checkConv({2, 4, 9, 11}, {6, 2, 3, 2}, s, true, DataType::kFloat, 1e-5, 1);
}

TEST(Conv, DepthwiseWithMultiplierNoBias) {
  ConvSpec s{3, {1, 1}, {1, 1}, {1, 1, 1, 1}, {}};
  checkConv({1, 3, 7, 6}, {6, 1, 3, 3}, s, false, DataType::kFloat, 1e-5, 11);
}

TEST(Conv, PointwiseOneByOne) {
  ConvSpec s{1, {1, 1}, {1, 1}, {0, 0, 0, 0}, {}};
  checkConv({3, 5, 4, 4}, {7, 5, 1, 1}, s, true, DataType::kFloat, 1e-5, 21);
}

TEST(Conv, OneDimensional) {
  ConvSpec s{1, {2}, {3}, {2, 1}, {}};
  checkConv({2, 3, 17}, {4, 3, 3}, s, true, DataType::kFloat, 1e-5, 31);
}

TEST(Conv, ThreeDimensionalGrouped) {
  ConvSpec s{2, {1, 2, 1}, {1, 1, 2}, {0, 1, 1, 1, 0, 1}, {}};
  checkConv({1, 4, 5, 6, 7}, {4, 2, 2, 3, 2}, s, true, DataType::kFloat, 1e-5, 41);
}

TEST(Conv, Float64) {
  ConvSpec s{2, {2, 1}, {1, 2}, {1, 2, 0, 1}, {}};
  checkConv({2, 4, 8, 9}, {4, 2, 3, 3}, s, true, DataType::kDouble, 1e-12, 51);
}

TEST(Conv, Float16AccumulatesInFloat) {
  // Inputs are exact in fp16; the only rounding is the final one (rel. 2^-11) plus float sums.
  ConvSpec s{1, {1, 1}, {1, 1}, {1, 1, 1, 1}, {}};
  checkConv({1, 8, 6, 6}, {4, 8, 3, 3}, s, true, DataType::kHalf, 2e-3, 61);
}

TEST(Conv, AutoPadSameUpperMatchesExplicitPads) {
  // SAME_UPPER with stride 2 over 7: output 4, total padding (4-1)*2+3-7 = 2, split 1/1;
  // over 8: output 4, total 1, the odd one at the end.
  Tensor x = randomTensor("X", {1, 2, 7, 8}, 71);
  Tensor w = randomTensor("W", {3, 2, 3, 3}, 72);
  OneNodeModel m("Conv", 11);
  m.input(x).initializer(w).string("auto_pad", "SAME_UPPER").ints("strides", {2, 2});
  std::vector<double> y;
  Dims y_dims;
  QRT_TEST_RUN(m, y, y_dims);
  expectNear(y, y_dims, refConv(rounded(x, DataType::kFloat), rounded(w, DataType::kFloat), nullptr,
                                ConvSpec{1, {2, 2}, {1, 1}, {1, 0, 1, 1}, {}}),
             1e-5);
}

TEST(Conv, ChannelsNotDivisibleByGroupIsAnErrorNamingTheNode) {
  OneNodeModel m("Conv", 13);
  m.input(randomTensor("X", {1, 3, 5, 5}, 81)).initializer(randomTensor("W", {4, 2, 3, 3}, 82)).integer("group", 2);
  std::vector<double> y;
  Dims y_dims;
  Status s = m.run(&y, &y_dims);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("node"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("group"), std::string::npos) << s.message();
}

void checkConvTranspose(Dims x_dims, Dims w_dims, const ConvSpec& s, bool bias, uint32_t seed) {
  Tensor x = rounded(randomTensor("X", x_dims, seed), DataType::kFloat);
  Tensor w = rounded(randomTensor("W", w_dims, seed + 1), DataType::kFloat);
  Tensor b = rounded(randomTensor("B", {w_dims[1] * s.group}, seed + 2), DataType::kFloat);
  OneNodeModel m("ConvTranspose", 13);
  m.input(x).initializer(w);
  if (bias) m.initializer(b);
  m.integer("group", s.group).ints("strides", s.strides).ints("dilations", s.dilations).ints("pads", s.pads);
  m.ints("output_padding", s.output_padding);
  std::vector<double> y;
  Dims y_dims;
  QRT_TEST_RUN(m, y, y_dims);
  expectNear(y, y_dims, refConvTranspose(x, w, bias ? &b : nullptr, s), 1e-5);
}

TEST(ConvTranspose, OutputPaddingStridesDilationsGroups) {
  ConvSpec s{2, {3, 2}, {1, 2}, {1, 0, 0, 2}, {2, 1}};
  checkConvTranspose({2, 4, 4, 5}, {4, 3, 3, 2}, s, true, 91);
}

TEST(ConvTranspose, OneDimensionalOutputPaddingNoBias) {
  ConvSpec s{1, {2}, {1}, {1, 1}, {1}};
  checkConvTranspose({1, 3, 6}, {3, 2, 4}, s, false, 101);
}

TEST(ConvTranspose, OutputShapeSetsThePads) {
  // output_shape 10 over input 3, stride 3, kernel 3: the full extent is 9, so total padding is
  // -1 and the extra output row (ONNX: added at the end) only holds the bias.
  Tensor x = randomTensor("X", {1, 1, 3, 3}, 111);
  Tensor w = randomTensor("W", {1, 2, 3, 3}, 112);
  OneNodeModel m("ConvTranspose", 11);
  m.input(x).initializer(w).ints("strides", {3, 2}).ints("output_shape", {10, 8});
  std::vector<double> y;
  Dims y_dims;
  QRT_TEST_RUN(m, y, y_dims);
  // Same as output_padding 1 with no pads.
  expectNear(y, y_dims,
             refConvTranspose(rounded(x, DataType::kFloat), rounded(w, DataType::kFloat), nullptr,
                              ConvSpec{1, {3, 2}, {1, 1}, {0, 0, 0, 0}, {1, 1}}),
             1e-5);
}

// Y = alpha * A' * B' + beta * C with C broadcast to (M, N).
Tensor refGemm(const Tensor& a, const Tensor& b, const Tensor* c, bool ta, bool tb, double alpha, double beta) {
  int64_t m = ta ? a.dims[1] : a.dims[0], k = ta ? a.dims[0] : a.dims[1], n = tb ? b.dims[0] : b.dims[1];
  Tensor y{"Y", {m, n}, std::vector<double>(static_cast<size_t>(m * n))};
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < n; ++j) {
      double sum = 0;
      for (int64_t p = 0; p < k; ++p) sum += a.values[ta ? p * m + i : i * k + p] * b.values[tb ? j * k + p : p * n + j];
      double cv = 0;
      if (c) {
        Dims cd = c->dims;
        while (cd.size() < 2) cd.insert(cd.begin(), 1);
        cv = c->values[(cd[0] == 1 ? 0 : i) * cd[1] + (cd[1] == 1 ? 0 : j)];
      }
      y.values[i * n + j] = alpha * sum + beta * cv;
    }
  return y;
}

void checkGemm(int64_t m, int64_t k, int64_t n, bool ta, bool tb, float alpha, float beta, const Dims* c_dims,
               uint32_t seed) {
  Tensor a = rounded(randomTensor("A", ta ? Dims{k, m} : Dims{m, k}, seed), DataType::kFloat);
  Tensor b = rounded(randomTensor("B", tb ? Dims{n, k} : Dims{k, n}, seed + 1), DataType::kFloat);
  Tensor c = c_dims ? rounded(randomTensor("C", *c_dims, seed + 2), DataType::kFloat) : Tensor{};
  OneNodeModel model("Gemm", 13);
  model.input(a).input(b);
  if (c_dims) model.input(c);
  model.integer("transA", ta).integer("transB", tb).real("alpha", alpha).real("beta", beta);
  std::vector<double> y;
  Dims y_dims;
  QRT_TEST_RUN(model, y, y_dims);
  expectNear(y, y_dims, refGemm(a, b, c_dims ? &c : nullptr, ta, tb, alpha, beta), 1e-5);
}

TEST(Gemm, TransposesAlphaBetaAndBiasShapes) {
  const Dims full{5, 7}, row{7}, col{5, 1}, scalar{}, one{1};
  uint32_t seed = 200;
  for (bool ta : {false, true})
    for (bool tb : {false, true})
      for (const Dims* c : {&full, &row, &col, &scalar, &one}) {
        SCOPED_TRACE(testing::Message() << "transA " << ta << " transB " << tb << " C " << dimsToString(*c));
        checkGemm(5, 9, 7, ta, tb, 0.75f, -1.5f, c, seed += 3);
      }
}

TEST(Gemm, NoBias) { checkGemm(4, 33, 19, false, true, 1.f, 1.f, nullptr, 300); }

TEST(Gemm, LargeEnoughToSplitOverThreads) {
  const Dims row{40};
  checkGemm(64, 70, 40, true, false, 1.f, 1.f, &row, 310);
}

// numpy matmul with batch broadcasting and 1-D operands.
TEST(MatMul, BroadcastBatchesAndVectors) {
  struct Case {
    Dims a, b, y;
  };
  const Case cases[] = {
      {{2, 1, 3, 4}, {3, 4, 5}, {2, 3, 3, 5}},
      {{4}, {2, 4, 3}, {2, 3}},
      {{2, 3, 4}, {4}, {2, 3}},
      {{4}, {4}, {}},
  };
  uint32_t seed = 400;
  for (const Case& cs : cases) {
    Tensor a = rounded(randomTensor("A", cs.a, seed++), DataType::kFloat);
    Tensor b = rounded(randomTensor("B", cs.b, seed++), DataType::kFloat);
    // Reference: promote vectors, broadcast batch dims, then multiply.
    Dims a2 = cs.a.size() == 1 ? Dims{1, cs.a[0]} : cs.a, b2 = cs.b.size() == 1 ? Dims{cs.b[0], 1} : cs.b;
    int64_t m = a2[a2.size() - 2], k = a2.back(), n = b2.back();
    size_t r = std::max(a2.size(), b2.size()) - 2;
    Dims batch(r);
    for (size_t i = 0; i < r; ++i) {
      int64_t da = i + a2.size() - 2 >= r ? a2[i + a2.size() - 2 - r] : 1;
      int64_t db = i + b2.size() - 2 >= r ? b2[i + b2.size() - 2 - r] : 1;
      batch[i] = std::max(da, db);
    }
    Tensor want{"Y", cs.y, std::vector<double>(static_cast<size_t>(volume(cs.y)))};
    size_t out = 0;
    forEachIndex(batch, [&](const std::vector<int64_t>& bi) {
      auto matrixOffset = [&](const Dims& d) {
        int64_t off = 0;
        size_t lead = r - (d.size() - 2);
        for (size_t i = lead; i < r; ++i) off = off * d[i - lead] + (d[i - lead] == 1 ? 0 : bi[i]);
        return off;
      };
      int64_t ao = matrixOffset(a2) * m * k, bo = matrixOffset(b2) * k * n;
      for (int64_t i = 0; i < m; ++i)
        for (int64_t j = 0; j < n; ++j) {
          double sum = 0;
          for (int64_t p = 0; p < k; ++p) sum += a.values[ao + i * k + p] * b.values[bo + p * n + j];
          want.values[out++] = sum;
        }
    });
    OneNodeModel model("MatMul", 13);
    model.input(a).input(b);
    std::vector<double> y;
    Dims y_dims;
    SCOPED_TRACE(dimsToString(cs.a) + " x " + dimsToString(cs.b));
    QRT_TEST_RUN(model, y, y_dims);
    expectNear(y, y_dims, want, 1e-5);
  }
}

}  // namespace
}  // namespace qrt
