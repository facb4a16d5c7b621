// The cpu backend's channels-last regions (passes/cpu_layout.cpp): multi-layer models whose
// activations stay NHWC between oneDNN layers, built with the cpu backend and with
// QRT_BACKEND=reference (the oracle, plain NCHW everywhere), run on the same random inputs with
// every output poisoned with NaN, compared to |cpu - ref| <= 1e-5 * (|ref| + 1). A kernel that
// read an NHWC tensor as NCHW (or the reverse) would permute values and fail by far more. Each
// case also checks that the layout changes (Identity layers on the cpu backend) are where the
// regions end: graph inputs and outputs and readers without an NHWC kernel.
#include <gtest/gtest.h>
#include <onnx/onnx_pb.h>

#include <array>
#include <cmath>
#include <cstring>
#include <map>
#include <string>
#include <vector>

#include "core/status_macros.h"
#include "model_builder.h"
#include "qrt/qrt.h"

namespace qrt {
namespace {

#ifndef QRT_HAVE_DNNL
TEST(CpuLayout, NotBuilt) { GTEST_SKIP() << "qrt was built without oneDNN: no cpu backend"; }
#else

using test::BackendEnv;
using test::randomTensor;
using test::Tensor;

// A small ONNX graph built node by node: random graph inputs (fed at run time) and random
// initializers, any number of outputs.
class Net {
 public:
  explicit Net(uint32_t seed) : seed_(seed) {
    model_.set_ir_version(8);
    model_.add_opset_import()->set_version(17);
    model_.mutable_graph()->set_name("layout");
  }

  // A graph input; `dynamic_batch`: its first dim is "N" in the model (set per context).
  std::string input(const std::string& name, const Dims& dims, bool dynamic_batch = false) {
    auto* vi = model_.mutable_graph()->add_input();
    vi->set_name(name);
    auto* tt = vi->mutable_type()->mutable_tensor_type();
    tt->set_elem_type(onnx::TensorProto::FLOAT);
    for (size_t i = 0; i < dims.size(); ++i) {
      if (i == 0 && dynamic_batch) tt->mutable_shape()->add_dim()->set_dim_param("N");
      else tt->mutable_shape()->add_dim()->set_dim_value(dims[i]);
    }
    feeds_.push_back(randomTensor(name, dims, ++seed_));
    return name;
  }

  std::string constant(const Dims& dims, float scale = 1.f) {
    Tensor t = randomTensor("c" + std::to_string(++count_), dims, ++seed_);
    for (float& v : t.values) v *= scale;
    auto* init = model_.mutable_graph()->add_initializer();
    init->set_name(t.name);
    init->set_data_type(onnx::TensorProto::FLOAT);
    for (int64_t d : dims) init->add_dims(d);
    init->set_raw_data(t.values.data(), t.values.size() * sizeof(float));
    return t.name;
  }

  // A node with one output; attributes are set on the returned proto.
  onnx::NodeProto* node(const std::string& op, const std::vector<std::string>& inputs, std::string* out) {
    auto* n = model_.mutable_graph()->add_node();
    n->set_op_type(op);
    n->set_name(op + "_" + std::to_string(++count_));
    for (const std::string& i : inputs) n->add_input(i);
    *out = "t" + std::to_string(count_);
    n->add_output(*out);
    return n;
  }
  std::string op(const std::string& op, const std::vector<std::string>& inputs) {
    std::string out;
    node(op, inputs, &out);
    return out;
  }

  // Conv with weights [cout, cin/group, k, k] and a bias; weights scaled so that activations stay
  // of order 1 through a chain.
  std::string conv(const std::string& x, int64_t cin, int64_t cout, int64_t k, int64_t stride = 1, int64_t group = 1,
                   int64_t pad = -1) {
    if (pad < 0) pad = k / 2;
    float scale = 1.f / std::sqrt(static_cast<float>(cin / group * k * k));
    std::string w = constant({cout, cin / group, k, k}, scale), b = constant({cout});
    std::string out;
    auto* n = node("Conv", {x, w, b}, &out);
    ints(n, "kernel_shape", {k, k});
    ints(n, "strides", {stride, stride});
    ints(n, "pads", {pad, pad, pad, pad});
    integer(n, "group", group);
    return out;
  }
  std::string convTranspose(const std::string& x, int64_t cin, int64_t cout, int64_t k, int64_t stride) {
    std::string w = constant({cin, cout, k, k}, 1.f / std::sqrt(static_cast<float>(cin * k * k))), b = constant({cout});
    std::string out;
    auto* n = node("ConvTranspose", {x, w, b}, &out);
    ints(n, "kernel_shape", {k, k});
    ints(n, "strides", {stride, stride});
    return out;
  }
  // An initializer holding `v`.
  std::string values(const Dims& dims, const std::vector<float>& v) {
    std::string name = "v" + std::to_string(++count_);
    auto* init = model_.mutable_graph()->add_initializer();
    init->set_name(name);
    init->set_data_type(onnx::TensorProto::FLOAT);
    for (int64_t d : dims) init->add_dims(d);
    for (float f : v) init->add_float_data(f);
    return name;
  }
  std::string int64(int64_t v) {
    std::string name = "i" + std::to_string(++count_);
    auto* init = model_.mutable_graph()->add_initializer();
    init->set_name(name);
    init->set_data_type(onnx::TensorProto::INT64);
    init->add_int64_data(v);
    return name;
  }
  std::string relu(const std::string& x) { return op("Relu", {x}); }
  std::string clip6(const std::string& x) {
    std::string lo = scalar(0.f), hi = scalar(6.f);
    return op("Clip", {x, lo, hi});
  }
  std::string scalar(float v) {
    std::string name = "s" + std::to_string(++count_);
    auto* init = model_.mutable_graph()->add_initializer();
    init->set_name(name);
    init->set_data_type(onnx::TensorProto::FLOAT);
    init->add_float_data(v);
    return name;
  }
  std::string pool(const std::string& op_type, const std::string& x, int64_t k, int64_t stride, int64_t pad) {
    std::string out;
    auto* n = node(op_type, {x}, &out);
    ints(n, "kernel_shape", {k, k});
    ints(n, "strides", {stride, stride});
    ints(n, "pads", {pad, pad, pad, pad});
    return out;
  }

  void output(const std::string& name) {
    auto* o = model_.mutable_graph()->add_output();
    o->set_name(name);
    o->mutable_type()->mutable_tensor_type()->set_elem_type(onnx::TensorProto::FLOAT);
  }

  static void ints(onnx::NodeProto* n, const std::string& name, const std::vector<int64_t>& v) {
    auto* a = n->add_attribute();
    a->set_name(name);
    a->set_type(onnx::AttributeProto::INTS);
    for (int64_t x : v) a->add_ints(x);
  }
  static void integer(onnx::NodeProto* n, const std::string& name, int64_t v) {
    auto* a = n->add_attribute();
    a->set_name(name);
    a->set_type(onnx::AttributeProto::INT);
    a->set_i(v);
  }

  Result<std::shared_ptr<Engine>> build(const char* backend) const { return test::buildModel(model_, backend); }
  const std::vector<Tensor>& feeds() const { return feeds_; }

 private:
  onnx::ModelProto model_;
  std::vector<Tensor> feeds_;
  uint32_t seed_;
  int count_ = 0;
};

struct Outputs {
  std::map<std::string, std::vector<float>> values;
  std::map<std::string, Dims> dims;
};

// Runs a new context of `engine` on `feeds`, every output poisoned with NaN first.
Result<Outputs> runOnce(const Engine& engine, const std::vector<Tensor>& feeds) {
  QRT_ASSIGN_OR_RETURN(std::unique_ptr<ExecutionContext> ctx, engine.createExecutionContext());
  for (const Tensor& t : feeds) QRT_RETURN_IF_ERROR(ctx->setInputShape(t.name, t.dims));
  std::vector<std::vector<float>> in;
  in.reserve(feeds.size());
  for (const Tensor& t : feeds) {
    in.push_back(t.values);
    QRT_RETURN_IF_ERROR(ctx->setTensorAddress(t.name, in.back().data()));
  }
  Outputs out;
  for (const TensorInfo& o : engine.outputs()) {
    QRT_ASSIGN_OR_RETURN(Dims d, ctx->tensorShape(o.name));
    out.dims[o.name] = d;
    out.values[o.name].assign(static_cast<size_t>(volume(d)), std::nanf(""));
  }
  for (auto& [name, v] : out.values) QRT_RETURN_IF_ERROR(ctx->setTensorAddress(name, v.data()));
  QRT_RETURN_IF_ERROR(ctx->enqueue());
  return out;
}

struct Expected {
  int to_nhwc = -1, to_nchw = -1;  // layout changes expected (-1: not checked)
};

// Builds `net` on both backends, checks the layout changes and compares every output, for each
// set of feeds (default: the net's own).
void compare(const Net& net, const std::string& label, Expected expect,
             const std::vector<std::vector<Tensor>>& feed_sets = {}) {
  SCOPED_TRACE(label);
  auto ref_engine = net.build("reference");
  ASSERT_TRUE(ref_engine.ok()) << ref_engine.status().toString();
  auto cpu_engine = net.build(nullptr);
  ASSERT_TRUE(cpu_engine.ok()) << cpu_engine.status().toString();
  int to_nhwc = 0, to_nchw = 0, cpu_layers = 0;
  std::string changes;  // for failure messages
  for (const LayerInfo& l : (*ref_engine)->layers()) EXPECT_NE(l.backend, "cpu") << l.name;
  for (const LayerInfo& l : (*cpu_engine)->layers()) {
    if (l.backend == "cpu") ++cpu_layers;
    if (l.op != "Identity") continue;
    EXPECT_EQ(l.backend, "cpu") << l.name;
    changes += " " + l.name;
    if (l.name.find("_to_nhwc") != std::string::npos) ++to_nhwc;
    if (l.name.find("_to_nchw") != std::string::npos) ++to_nchw;
  }
  EXPECT_GT(cpu_layers, 0);
  if (expect.to_nhwc >= 0) EXPECT_EQ(to_nhwc, expect.to_nhwc) << "layout changes:" << changes;
  if (expect.to_nchw >= 0) EXPECT_EQ(to_nchw, expect.to_nchw) << "layout changes:" << changes;

  const std::vector<std::vector<Tensor>> sets =
      feed_sets.empty() ? std::vector<std::vector<Tensor>>{net.feeds()} : feed_sets;
  for (const std::vector<Tensor>& feeds : sets) {
    SCOPED_TRACE("batch " + std::to_string(feeds.at(0).dims.at(0)));
    auto ref = runOnce(**ref_engine, feeds);
    ASSERT_TRUE(ref.ok()) << ref.status().toString();
    auto cpu = runOnce(**cpu_engine, feeds);
    ASSERT_TRUE(cpu.ok()) << cpu.status().toString();
    ASSERT_EQ(cpu->values.size(), ref->values.size());
    for (const auto& [name, r] : ref->values) {
      SCOPED_TRACE("output " + name);
      ASSERT_EQ(cpu->dims[name], ref->dims[name]);
      const std::vector<float>& c = cpu->values[name];
      int bad = 0;
      size_t first = 0;
      for (size_t i = 0; i < r.size(); ++i) {
        double a = c[i], b = r[i];
        if (!(std::fabs(a - b) <= 1e-5 * (std::fabs(b) + 1)) && bad++ == 0) first = i;
      }
      EXPECT_EQ(bad, 0) << bad << " of " << r.size() << " differ; first at " << first << ": cpu " << c[first]
                        << ", reference " << r[first];
    }
  }
}

// Conv 3x3 -> Relu -> pointwise -> strided 3x3 -> 5x5: one region, changes at the input and
// the output only.
TEST(CpuLayout, ConvChain) {
  for (int64_t batch : {1, 3}) {
    Net net(1);
    std::string x = net.input("X", {batch, 8, 13, 13});
    std::string y = net.relu(net.conv(x, 8, 16, 3));
    y = net.conv(y, 16, 32, 1);
    y = net.relu(net.conv(y, 32, 24, 3, 2));
    y = net.conv(y, 24, 20, 5);
    net.output(y);
    compare(net, "batch " + std::to_string(batch), {1, 1});
  }
}

// ResNet basic and bottleneck blocks: the residual Add and Relu fuse into FusedConv, whose
// residual input (Z) is an NHWC activation too; a projection shortcut with stride 2.
TEST(CpuLayout, Residual) {
  Net net(2);
  std::string x = net.input("X", {2, 16, 14, 14});
  std::string a = net.relu(net.conv(x, 16, 16, 3));
  std::string y = net.relu(net.op("Add", {net.conv(a, 16, 16, 3), x}));
  std::string b = net.relu(net.conv(y, 16, 8, 1));
  b = net.relu(net.conv(b, 8, 8, 3, 2));
  b = net.conv(b, 8, 32, 1);
  std::string shortcut = net.conv(y, 16, 32, 1, 2, 1, 0);
  y = net.relu(net.op("Add", {b, shortcut}));
  net.output(y);
  compare(net, "residual", {1, 1});
}

// MobileNetV2 inverted residuals: pointwise expand + Clip(0, 6), depthwise 3x3 + Clip (stride 1
// and 2), pointwise project, residual Add.
TEST(CpuLayout, DepthwiseClip) {
  Net net(3);
  std::string x = net.input("X", {2, 16, 15, 15});
  std::string e = net.clip6(net.conv(x, 16, 48, 1));
  e = net.clip6(net.conv(e, 48, 48, 3, 1, 48));
  std::string y = net.op("Add", {net.conv(e, 48, 16, 1), x});
  e = net.clip6(net.conv(y, 16, 64, 1));
  e = net.clip6(net.conv(e, 64, 64, 3, 2, 64));
  y = net.conv(e, 64, 24, 1);
  net.output(y);
  compare(net, "inverted residuals", {1, 1});
}

// Pools inside a region: MaxPool (ResNet's stem), AveragePool, then GlobalAveragePool, whose
// [N, C, 1, 1] output is the same bytes in both layouts (no change before Flatten and Gemm).
TEST(CpuLayout, Pools) {
  Net net(4);
  std::string x = net.input("X", {2, 3, 32, 32});
  std::string y = net.relu(net.conv(x, 3, 16, 7, 2, 1, 3));
  y = net.pool("MaxPool", y, 3, 2, 1);
  y = net.relu(net.conv(y, 16, 24, 3));
  y = net.pool("AveragePool", y, 2, 2, 0);
  y = net.relu(net.conv(y, 24, 32, 3));
  y = net.op("GlobalAveragePool", {y});
  y = net.op("Flatten", {y});
  std::string w = net.constant({10, 32}), b = net.constant({10});
  std::string out;
  auto* g = net.node("Gemm", {y, w, b}, &out);
  Net::integer(g, "transB", 1);
  net.output(out);
  compare(net, "pools", {1, 0});
}

// Concat of two NHWC branches and a plain graph input (changed to NHWC), inside the region.
TEST(CpuLayout, Concat) {
  Net net(5);
  std::string x = net.input("X", {2, 8, 12, 12});
  std::string z = net.input("Z", {2, 4, 12, 12});
  std::string a = net.relu(net.conv(x, 8, 8, 3));
  std::string b = net.relu(net.conv(x, 8, 16, 1));
  std::string c;
  Net::integer(net.node("Concat", {a, z, b}, &c), "axis", 1);
  std::string y = net.conv(c, 28, 16, 3);
  net.output(y);
  compare(net, "concat", {2, 1});
}

// Element-wise ops between convs (PP-OCR's learnable affine after HardSwish, SE-style scaling,
// products of two activations), moved to the cpu backend inside the region: broadcasts of a
// per-channel constant, a scalar and a [1, 1, H, W] constant; Sub and Div whose first operand
// broadcasts (oneDNN broadcasts the second only: the reference kernel runs on plain copies).
TEST(CpuLayout, ElementWise) {
  Net net(6);
  std::string x = net.input("X", {2, 8, 10, 10});
  std::string a = net.op("HardSwish", {net.conv(x, 8, 16, 3)});
  a = net.op("Add", {net.op("Mul", {a, net.constant({1})}), net.constant({1})});
  std::string b = net.conv(a, 16, 16, 1);
  std::string m = net.op("Mul", {a, net.op("Sigmoid", {b})});
  m = net.op("Add", {net.constant({16, 1, 1}), m});
  m = net.op("Sub", {m, net.constant({1, 1, 10, 10})});
  m = net.op("Tanh", {net.op("Div", {m, net.values({1}, {2.f})})});
  std::string lr;
  net.node("LeakyRelu", {m}, &lr);
  std::string r = net.op("Sub", {net.constant({16, 1, 1}), lr});
  r = net.op("Div", {net.values({1}, {1.5f}), net.op("Add", {net.clip6(net.relu(r)), net.values({1}, {1.f})})});
  std::string y = net.conv(r, 16, 8, 3);
  net.output(y);
  compare(net, "element-wise", {1, 1});
}

// Nearest Resize by whole factors (PP-OCR det's FPN: asymmetric, floor) runs NHWC in the region;
// a factor of 1.5 has no NHWC kernel and is a layout boundary; Softmax over channels too.
TEST(CpuLayout, ResizeAndBoundaries) {
  Net net(7);
  std::string x = net.input("X", {2, 8, 6, 7});
  std::string a = net.relu(net.conv(x, 8, 8, 3));
  auto resize = [&](const std::string& v, std::vector<float> scales) {
    std::string out;
    auto* n = net.node("Resize", {v, "", net.values({4}, scales)}, &out);
    auto* mode = n->add_attribute();
    mode->set_name("coordinate_transformation_mode");
    mode->set_type(onnx::AttributeProto::STRING);
    mode->set_s("asymmetric");
    auto* nearest = n->add_attribute();
    nearest->set_name("nearest_mode");
    nearest->set_type(onnx::AttributeProto::STRING);
    nearest->set_s("floor");
    return out;
  };
  std::string up = resize(a, {1.f, 1.f, 2.f, 3.f});
  std::string y = net.conv(up, 8, 8, 3);
  std::string odd = resize(y, {1.f, 1.f, 1.5f, 1.5f});  // reference: a boundary
  y = net.conv(odd, 8, 8, 3);
  std::string sm;
  Net::integer(net.node("Softmax", {y}, &sm), "axis", 1);  // reference: a boundary
  y = net.conv(sm, 8, 4, 1);
  net.output(y);
  compare(net, "resize and boundaries", {3, 3});
}

// Graph outputs inside a region: the NHWC producer's value is changed back to NCHW for the
// caller while the next conv reads the NHWC value; one output is also read by a plain reader.
TEST(CpuLayout, OutputsInTheMiddle) {
  Net net(7);
  std::string x = net.input("X", {2, 8, 9, 9});
  std::string a = net.relu(net.conv(x, 8, 16, 3));
  net.output(a);
  std::string b = net.conv(a, 16, 16, 3, 2);
  net.output(b);
  std::string s = net.op("Sigmoid", {net.op("Neg", {b})});  // plain readers of an output
  net.output(s);
  std::string c = net.conv(b, 16, 8, 1);
  net.output(c);
  compare(net, "outputs", {1, 3});
}

// ConvTranspose inside a region: kernel == stride (2x2 stride 2, PP-OCR's detector head, and
// 3x3 stride 3 to one channel: the GEMM + copy kernel of deconv_matmul.cpp) and the generic
// deconvolution (3x3 stride 2).
TEST(CpuLayout, ConvTranspose) {
  for (auto [k, s, m] : std::vector<std::array<int64_t, 3>>{{2, 2, 8}, {3, 3, 1}, {3, 2, 8}}) {
    Net net(8);
    std::string x = net.input("X", {2, 16, 7, 9});
    std::string y = net.relu(net.conv(x, 16, 16, 3));
    y = net.convTranspose(y, 16, m, k, s);
    y = net.conv(y, m, 4, 3);
    net.output(y);
    compare(net, "conv transpose k" + std::to_string(k) + " s" + std::to_string(s), {1, 1});
  }
}

// A dynamic batch: one engine, contexts at batch 1, 3 and 2 (primitives and layout changes
// built per shape), a residual block and a pool in the region.
TEST(CpuLayout, DynamicBatch) {
  Net net(10);
  std::string x = net.input("X", {1, 8, 9, 9}, true);
  std::string a = net.relu(net.conv(x, 8, 8, 3));
  std::string y = net.relu(net.op("Add", {net.conv(a, 8, 8, 3), x}));
  y = net.pool("MaxPool", y, 3, 2, 1);
  y = net.conv(y, 8, 4, 1);
  net.output(y);
  std::vector<std::vector<Tensor>> feeds;
  for (int64_t batch : {1, 3, 2}) feeds.push_back({randomTensor("X", {batch, 8, 9, 9}, 100 + batch)});
  compare(net, "dynamic batch", {1, 1}, feeds);
}

// A 4-D value computed on the host at reshape (here a ramp Reshape(Cast(Range(0, numel)), Shape)
// scaled by a constant) is plain: the Add reading it stays outside the region and the conv output
// is changed to NCHW.
TEST(CpuLayout, HostValueStaysPlain) {
  Net net(11);
  std::string x = net.input("X", {2, 8, 5, 6}, true);  // a dynamic batch: Shape is not folded
  std::string a = net.conv(x, 8, 8, 3);
  std::string shape = net.op("Shape", {a});
  std::string numel;
  auto* prod = net.node("ReduceProd", {shape}, &numel);
  Net::integer(prod, "keepdims", 0);
  std::string zero = net.int64(0), one = net.int64(1);
  std::string ramp = net.op("Range", {zero, numel, one});
  std::string rampf;
  Net::integer(net.node("Cast", {ramp}, &rampf), "to", onnx::TensorProto::FLOAT);
  std::string host = net.op("Reshape", {rampf, shape});
  std::string y = net.op("Add", {a, net.op("Mul", {host, net.values({1}, {0.01f})})});
  y = net.conv(y, 8, 4, 3);
  net.output(y);
  compare(net, "host value", {2, 2});
}

// A FusedConv whose residual broadcasts runs its reference kernel inside the cpu kernel: the
// NHWC arguments are reordered to plain copies around it.
TEST(CpuLayout, FallbackInsideARegion) {
  Net net(9);
  std::string x = net.input("X", {2, 8, 6, 6});
  std::string z = net.input("Z", {2, 16, 1, 6});
  std::string a = net.relu(net.conv(x, 8, 16, 3));
  std::string y = net.relu(net.op("Add", {net.conv(a, 16, 16, 3), z}));
  y = net.conv(y, 16, 8, 3);
  net.output(y);
  compare(net, "broadcast residual", {-1, 1});
}

#endif  // QRT_HAVE_DNNL

}  // namespace
}  // namespace qrt
