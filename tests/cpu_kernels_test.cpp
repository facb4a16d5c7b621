// The cpu backend (oneDNN) against the reference backend, the oracle: every case builds a
// one-node model twice, once with QRT_BACKEND=reference and once with the cpu backend, runs both
// on the same random inputs (outputs poisoned with NaN first) and compares. FP32 must agree to
// |cpu - ref| <= 1e-5 * (|ref| + 1): oneDNN's direct convolutions and GEMMs sum in another order
// than the reference's loops, which moves results by a few ulps of the partial sums, far inside
// that bound for the sizes here (K up to a few hundred terms of magnitude <= 1).
//
// Cases cover kernel sizes 1, 3, 5, 7; strides; dilations; symmetric and asymmetric pads;
// groups 1, 2 and depthwise; batch 1 and 3; 1-D and 3-D; Gemm's transposes, alpha, beta and C
// shapes; MatMul's batch broadcasting; the pools with ceil_mode and count_include_pad. Each case
// also checks that the builder chose the cpu backend and whether oneDNN (not the reference
// fallback inside the cpu kernel) ran it.
#include <gtest/gtest.h>
#include <onnx/onnx_pb.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "core/status_macros.h"
#include "qrt/qrt.h"

#ifdef QRT_HAVE_DNNL
#include "backends/cpu/dnnl_util.h"
#endif

namespace qrt {
namespace {

#ifndef QRT_HAVE_DNNL
TEST(CpuKernels, NotBuilt) { GTEST_SKIP() << "qrt was built without oneDNN: no cpu backend"; }
#else

struct Tensor {
  std::string name;
  Dims dims;
  std::vector<float> values;
};

Tensor randomTensor(const std::string& name, Dims dims, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> d(-1.f, 1.f);
  Tensor t{name, std::move(dims), {}};
  t.values.resize(static_cast<size_t>(volume(t.dims)));
  for (float& v : t.values) v = d(rng);
  return t;
}

// Sets QRT_BACKEND for one scope.
class BackendEnv {
 public:
  explicit BackendEnv(const char* value) {
    if (value)
      setenv("QRT_BACKEND", value, 1);
    else
      unsetenv("QRT_BACKEND");
  }
  ~BackendEnv() { unsetenv("QRT_BACKEND"); }
};

struct RunResult {
  std::vector<float> y;
  Dims dims;
  std::string op;          // the first layer of the engine (FusedConv when the chain was fused)
  std::string backend;     // what the builder chose for it
  bool fell_back = false;  // the cpu kernel ran the reference kernel inside
};

// A model of one node (output "Y"), its inputs fed at run time or stored as initializers.
class OneNode {
 public:
  OneNode(const std::string& op, int opset = 17) {
    model_.set_ir_version(8);
    auto* imp = model_.add_opset_import();
    imp->set_domain("");
    imp->set_version(opset);
    auto* g = model_.mutable_graph();
    g->set_name("cpu_kernels_test");
    node_ = g->add_node();
    node_->set_op_type(op);
    node_->set_name("node");
    node_->add_output("Y");
    auto* out = g->add_output();
    out->set_name("Y");
    out->mutable_type()->mutable_tensor_type()->set_elem_type(onnx::TensorProto::FLOAT);
  }

  OneNode& input(const Tensor& t) {
    node_->add_input(t.name);
    auto* vi = model_.mutable_graph()->add_input();
    vi->set_name(t.name);
    auto* tt = vi->mutable_type()->mutable_tensor_type();
    tt->set_elem_type(onnx::TensorProto::FLOAT);
    auto* shape = tt->mutable_shape();
    for (int64_t d : t.dims) shape->add_dim()->set_dim_value(d);
    feeds_.push_back(t);
    return *this;
  }
  OneNode& constant(const Tensor& t) {
    node_->add_input(t.name);
    auto* init = model_.mutable_graph()->add_initializer();
    init->set_name(t.name);
    init->set_data_type(onnx::TensorProto::FLOAT);
    for (int64_t d : t.dims) init->add_dims(d);
    init->set_raw_data(t.values.data(), t.values.size() * sizeof(float));
    return *this;
  }
  // Appends a node reading the current output (renamed) and producing "Y"; inputs added after
  // this call go to the new node. Builds small chains for the fusion pass (Conv -> Add -> Relu).
  OneNode& then(const std::string& op) {
    std::string v = "v" + std::to_string(++chain_);
    node_->set_output(0, v);
    node_ = model_.mutable_graph()->add_node();
    node_->set_op_type(op);
    node_->set_name("node" + std::to_string(chain_));
    node_->add_input(v);
    node_->add_output("Y");
    return *this;
  }
  // Appends Swish as ONNX spells it: Mul(v, Sigmoid(v)).
  OneNode& thenSwish() {
    then("Sigmoid");
    std::string v = node_->input(0), s = "s" + std::to_string(chain_);
    node_->set_output(0, s);
    node_ = model_.mutable_graph()->add_node();
    node_->set_op_type("Mul");
    node_->set_name("mul" + std::to_string(chain_));
    node_->add_input(v);
    node_->add_input(s);
    node_->add_output("Y");
    return *this;
  }
  OneNode& ints(const std::string& name, const std::vector<int64_t>& v) {
    auto* a = attr(name, onnx::AttributeProto::INTS);
    for (int64_t x : v) a->add_ints(x);
    return *this;
  }
  OneNode& integer(const std::string& name, int64_t v) {
    attr(name, onnx::AttributeProto::INT)->set_i(v);
    return *this;
  }
  OneNode& real(const std::string& name, float v) {
    attr(name, onnx::AttributeProto::FLOAT)->set_f(v);
    return *this;
  }
  OneNode& string(const std::string& name, const std::string& v) {
    attr(name, onnx::AttributeProto::STRING)->set_s(v);
    return *this;
  }

  // Adds another graph output (MaxPool's Indices).
  OneNode& output(const std::string& name, onnx::TensorProto::DataType type) {
    node_->add_output(name);
    auto* out = model_.mutable_graph()->add_output();
    out->set_name(name);
    out->mutable_type()->mutable_tensor_type()->set_elem_type(type);
    return *this;
  }

  // Makes the first dim of every graph input dynamic ("N"): set per execution context.
  OneNode& dynamicBatch() {
    for (auto& in : *model_.mutable_graph()->mutable_input())
      in.mutable_type()->mutable_tensor_type()->mutable_shape()->mutable_dim(0)->set_dim_param("N");
    return *this;
  }

  // Builds with QRT_BACKEND=backend (nullptr: unset).
  Result<std::shared_ptr<Engine>> build(const char* backend) const {
    std::string bytes;
    if (!model_.SerializeToString(&bytes)) return internalError("cannot serialize the model");
    auto net = parseOnnxBuffer(bytes.data(), bytes.size(), "");
    if (!net.ok()) return net.status();
    BackendEnv env(backend);
    return buildEngine(**net, BuilderConfig{});
  }

  // Runs a new execution context of `engine` once; `keep` (when set) keeps the context alive.
  Result<RunResult> run(const std::shared_ptr<Engine>& engine,
                        std::unique_ptr<ExecutionContext>* keep = nullptr) const {
    RunResult r;
    r.op = engine->layers().at(0).op;
    r.backend = engine->layers().at(0).backend;
    QRT_ASSIGN_OR_RETURN(std::unique_ptr<ExecutionContext> ctx, engine->createExecutionContext());
    int64_t fallbacks = cpu::fallbackCount();  // kernels reshape in tensorShape or enqueue
    std::vector<std::vector<float>> buffers;
    buffers.reserve(feeds_.size());
    for (const Tensor& t : feeds_) {
      QRT_RETURN_IF_ERROR(ctx->setInputShape(t.name, t.dims));
      buffers.push_back(t.values);
      QRT_RETURN_IF_ERROR(ctx->setTensorAddress(t.name, buffers.back().data()));
    }
    QRT_ASSIGN_OR_RETURN(r.dims, ctx->tensorShape("Y"));
    r.y.assign(static_cast<size_t>(volume(r.dims)), std::numeric_limits<float>::quiet_NaN());
    QRT_RETURN_IF_ERROR(ctx->setTensorAddress("Y", r.y.data()));
    QRT_RETURN_IF_ERROR(ctx->enqueue());
    r.fell_back = cpu::fallbackCount() != fallbacks;
    if (keep) *keep = std::move(ctx);
    return r;
  }

  Result<RunResult> run(const char* backend) const {
    QRT_ASSIGN_OR_RETURN(std::shared_ptr<Engine> engine, build(backend));
    return run(engine);
  }

 private:
  onnx::AttributeProto* attr(const std::string& name, onnx::AttributeProto::AttributeType type) {
    auto* a = node_->add_attribute();
    a->set_name(name);
    a->set_type(type);
    return a;
  }

  onnx::ModelProto model_;
  onnx::NodeProto* node_;
  std::vector<Tensor> feeds_;
  int chain_ = 0;
};

// Whether the cpu kernel must run on oneDNN, must hand the shape to the reference kernel inside
// it, or may do either.
enum class Expect { kOneDnn, kFallback, kEither };

// Runs the model on both backends and compares; `label` names the case in failures.
void compareBackends(const OneNode& m, const std::string& label, Expect expect = Expect::kOneDnn, double tol = 1e-5,
                     const std::string& op = "") {
  SCOPED_TRACE(label);
  auto ref = m.run("reference");
  ASSERT_TRUE(ref.ok()) << ref.status().toString();
  auto cpu = m.run(nullptr);
  ASSERT_TRUE(cpu.ok()) << cpu.status().toString();
  EXPECT_EQ(ref->backend, "reference");
  EXPECT_EQ(cpu->backend, "cpu");
  if (!op.empty()) EXPECT_EQ(cpu->op, op) << "the fusion pass did not fuse the chain";
  if (expect != Expect::kEither) EXPECT_EQ(cpu->fell_back, expect == Expect::kFallback);
  ASSERT_EQ(cpu->dims, ref->dims);
  int bad = 0;
  size_t first = 0;
  for (size_t i = 0; i < ref->y.size(); ++i) {
    double a = cpu->y[i], b = ref->y[i];
    if (!(std::fabs(a - b) <= tol * (std::fabs(b) + 1))) {
      if (bad++ == 0) first = i;
    }
  }
  EXPECT_EQ(bad, 0) << bad << " of " << ref->y.size() << " differ; first at " << first << ": cpu " << cpu->y[first]
                    << ", reference " << ref->y[first];
}

std::string str(const std::vector<int64_t>& v) { return dimsToString(v); }

// ---- Conv ----

struct ConvCase {
  int64_t n = 1, c = 4, m = 8, group = 1;
  Dims spatial{11, 9};
  std::vector<int64_t> kernel{3, 3}, strides, dilations, pads;
  bool bias = true;
  bool weights_constant = true;
  std::string auto_pad;

  std::string label() const {
    return "Conv n" + std::to_string(n) + " c" + std::to_string(c) + " m" + std::to_string(m) + " g" +
           std::to_string(group) + " x" + str(spatial) + " k" + str(kernel) + " s" + str(strides) + " d" +
           str(dilations) + " p" + str(pads) + (bias ? " bias" : "") + (weights_constant ? "" : " W-input") +
           (auto_pad.empty() ? "" : " " + auto_pad);
  }
};

OneNode convModel(const ConvCase& c, bool transpose, uint32_t seed) {
  OneNode m(transpose ? "ConvTranspose" : "Conv");
  Dims x{c.n, c.c};
  x.insert(x.end(), c.spatial.begin(), c.spatial.end());
  Dims w = transpose ? Dims{c.c, c.m / c.group} : Dims{c.m, c.c / c.group};
  w.insert(w.end(), c.kernel.begin(), c.kernel.end());
  m.input(randomTensor("X", x, seed));
  Tensor wt = randomTensor("W", w, seed + 1);
  if (c.weights_constant)
    m.constant(wt);
  else
    m.input(wt);
  if (c.bias) m.constant(randomTensor("B", {c.m}, seed + 2));
  m.integer("group", c.group);
  if (!c.strides.empty()) m.ints("strides", c.strides);
  if (!c.dilations.empty()) m.ints("dilations", c.dilations);
  if (!c.pads.empty()) m.ints("pads", c.pads);
  if (!c.auto_pad.empty()) m.string("auto_pad", c.auto_pad);
  return m;
}

TEST(CpuKernels, Conv2dMatrix) {
  uint32_t seed = 1;
  for (int64_t k : {1, 3, 5, 7})
    for (int g_kind = 0; g_kind < 3; ++g_kind)  // 1, 2, depthwise
      for (int64_t stride : {1, 2})
        for (int64_t dilation : {1, 2})
          for (int pad_kind = 0; pad_kind < 2; ++pad_kind)  // symmetric k/2, asymmetric
            for (int64_t n : {1, 3}) {
              ConvCase c;
              c.n = n;
              c.kernel = {k, k};
              c.spatial = {13 + k, 11 + k};
              if (g_kind == 1) c.group = 2;
              if (g_kind == 2) c.c = c.m = c.group = 8;
              c.strides = {stride, stride};
              c.dilations = {dilation, dilation};
              c.pads = pad_kind == 0 ? std::vector<int64_t>{k / 2, k / 2, k / 2, k / 2}
                                     : std::vector<int64_t>{0, k / 2 + 1, k - 1, 1};
              c.bias = (seed % 3) != 0;
              compareBackends(convModel(c, false, seed), c.label());
              seed += 3;
            }
}

TEST(CpuKernels, ConvVariants) {
  std::vector<ConvCase> cases;
  ConvCase c;
  // Wide channels (the blocked/NHWC path), a channel multiplier, one input channel.
  c = {};
  c.c = 32, c.m = 48, c.spatial = {14, 14}, c.pads = {1, 1, 1, 1};
  cases.push_back(c);
  c = {};
  c.c = 8, c.m = 16, c.group = 8, c.pads = {1, 1, 1, 1};  // depthwise, multiplier 2
  cases.push_back(c);
  c = {};
  c.c = 1, c.m = 16, c.n = 3, c.spatial = {28, 28}, c.pads = {1, 1, 1, 1};
  cases.push_back(c);
  // Pointwise (plain NCHW GEMM path), with and without groups; strided 1x1.
  c = {};
  c.c = 16, c.m = 24, c.kernel = {1, 1}, c.n = 3;
  cases.push_back(c);
  c = {};
  c.c = 16, c.m = 24, c.kernel = {1, 1}, c.group = 4;
  cases.push_back(c);
  c = {};
  c.c = 16, c.m = 24, c.kernel = {1, 1}, c.strides = {2, 2};
  cases.push_back(c);
  // Weights computed at run time (reordered every run), rectangular kernels, auto_pad.
  c = {};
  c.weights_constant = false, c.pads = {1, 1, 1, 1};
  cases.push_back(c);
  c = {};
  c.kernel = {1, 5}, c.pads = {0, 2, 0, 2};
  cases.push_back(c);
  c = {};
  c.kernel = {3, 3}, c.strides = {2, 2}, c.auto_pad = "SAME_UPPER";
  cases.push_back(c);
  c = {};
  c.kernel = {4, 4}, c.strides = {2, 2}, c.auto_pad = "SAME_LOWER";
  cases.push_back(c);
  c = {};
  c.kernel = {3, 3}, c.auto_pad = "VALID", c.bias = false;
  cases.push_back(c);
  // 1-D and 3-D.
  c = {};
  c.spatial = {31}, c.kernel = {5}, c.pads = {2, 1}, c.strides = {2}, c.n = 3;
  cases.push_back(c);
  c = {};
  c.spatial = {31}, c.kernel = {3}, c.dilations = {3}, c.group = 4, c.c = 4, c.m = 4;
  cases.push_back(c);
  c = {};
  c.spatial = {6, 7, 8}, c.kernel = {3, 3, 3}, c.pads = {1, 0, 1, 1, 2, 0}, c.strides = {1, 2, 1};
  cases.push_back(c);
  uint32_t seed = 1000;
  for (const ConvCase& cc : cases) {
    compareBackends(convModel(cc, false, seed), cc.label());
    seed += 3;
  }
}

// ---- ConvTranspose ----

TEST(CpuKernels, ConvTransposeMatrix) {
  uint32_t seed = 2000;
  for (int64_t k : {1, 3, 5})
    for (int g_kind = 0; g_kind < 3; ++g_kind)
      for (int64_t stride : {1, 2, 3})
        for (int64_t dilation : {1, 2})
          for (int64_t n : {1, 3}) {
            ConvCase c;
            c.n = n;
            c.kernel = {k, k};
            c.spatial = {7, 6};
            if (g_kind == 1) c.group = 2;
            if (g_kind == 2) c.c = c.m = c.group = 8;
            c.strides = {stride, stride};
            c.dilations = {dilation, dilation};
            c.pads = k > 1 ? std::vector<int64_t>{1, 0, 0, 1} : std::vector<int64_t>{};
            c.bias = (seed % 2) != 0;
            compareBackends(convModel(c, true, seed), "ConvTranspose " + c.label());
            seed += 3;
          }
}

TEST(CpuKernels, ConvTransposeVariants) {
  uint32_t seed = 3000;
  {
    ConvCase c;  // output_padding
    c.strides = {2, 2}, c.kernel = {3, 3}, c.pads = {1, 1, 1, 1};
    OneNode m = convModel(c, true, seed);
    m.ints("output_padding", {1, 0});
    compareBackends(m, "ConvTranspose output_padding");
  }
  {
    ConvCase c;  // output_shape (pads from it)
    c.strides = {2, 2}, c.kernel = {3, 3}, c.spatial = {5, 5};
    OneNode m = convModel(c, true, seed + 3);
    m.ints("output_shape", {10, 11});
    compareBackends(m, "ConvTranspose output_shape");
  }
  {
    ConvCase c;  // 1-D, 3-D, wide channels, weights at run time
    c.spatial = {17}, c.kernel = {4}, c.strides = {2}, c.pads = {1, 2};
    compareBackends(convModel(c, true, seed + 6), "ConvTranspose 1-D");
    c = {};
    c.spatial = {4, 5, 3}, c.kernel = {3, 2, 3}, c.strides = {2, 1, 2};
    compareBackends(convModel(c, true, seed + 9), "ConvTranspose 3-D");
    c = {};
    c.c = 32, c.m = 32, c.spatial = {14, 14}, c.kernel = {4, 4}, c.strides = {2, 2}, c.pads = {1, 1, 1, 1};
    compareBackends(convModel(c, true, seed + 12), "ConvTranspose wide");
    c.weights_constant = false;
    compareBackends(convModel(c, true, seed + 15), "ConvTranspose W-input");
  }
}

// ---- Gemm ----

TEST(CpuKernels, GemmMatrix) {
  const int64_t M = 7, K = 33, N = 19;
  const std::vector<Dims> c_shapes = {{}, {N}, {1, N}, {M, 1}, {M, N}, {1}, {1, 1}};
  uint32_t seed = 4000;
  for (int ta = 0; ta < 2; ++ta)
    for (int tb = 0; tb < 2; ++tb)
      for (int c_kind = -1; c_kind < static_cast<int>(c_shapes.size()); ++c_kind)
        for (auto [alpha, beta] : {std::pair{1.f, 1.f}, std::pair{0.5f, 2.f}, std::pair{1.5f, 0.f}})
          for (bool b_const : {true, false}) {
            OneNode m("Gemm", 13);
            m.input(randomTensor("A", ta ? Dims{K, M} : Dims{M, K}, seed));
            Tensor b = randomTensor("B", tb ? Dims{N, K} : Dims{K, N}, seed + 1);
            if (b_const)
              m.constant(b);
            else
              m.input(b);
            if (c_kind >= 0) m.constant(randomTensor("C", c_shapes[c_kind], seed + 2));
            m.integer("transA", ta).integer("transB", tb).real("alpha", alpha).real("beta", beta);
            compareBackends(m, "Gemm transA " + std::to_string(ta) + " transB " + std::to_string(tb) + " C " +
                                   (c_kind >= 0 ? str(c_shapes[c_kind]) : "none") + " alpha " + std::to_string(alpha) +
                                   " beta " + std::to_string(beta) + (b_const ? "" : " B-input"));
            seed += 3;
          }
}

TEST(CpuKernels, GemmShapes) {
  uint32_t seed = 5000;
  // A fully connected layer (batch 1 and 100), a tall-skinny and a K = 1 product, C as an input.
  for (auto [m, k, n] : {std::tuple{1, 512, 1000}, std::tuple{100, 32, 10}, std::tuple{300, 4, 5}, std::tuple{5, 1, 7},
                         std::tuple{64, 256, 64}}) {
    OneNode g("Gemm", 13);
    g.input(randomTensor("A", {m, k}, seed)).constant(randomTensor("B", {n, k}, seed + 1));
    g.input(randomTensor("C", {n}, seed + 2)).integer("transB", 1);
    compareBackends(g, "Gemm " + std::to_string(m) + "x" + std::to_string(k) + "x" + std::to_string(n));
    seed += 3;
  }
}

// ---- MatMul ----

TEST(CpuKernels, MatMulMatrix) {
  struct Case {
    Dims a, b;
  };
  const std::vector<Case> cases = {
      {{5, 7}, {7, 3}},
      {{1, 64}, {64, 100}},
      {{7}, {7, 3}},
      {{5, 7}, {7}},
      {{7}, {7}},
      {{2, 3, 5, 7}, {2, 3, 7, 4}},
      {{2, 1, 5, 7}, {3, 7, 4}},
      {{5, 7}, {2, 7, 4}},
      {{2, 5, 7}, {7, 4}},
      {{3, 1, 6, 8}, {1, 2, 8, 5}},
      {{4, 16, 32}, {4, 32, 16}},
      {{2, 2, 2, 2, 3, 4}, {4, 5}},
  };
  uint32_t seed = 6000;
  for (const Case& c : cases)
    for (bool b_const : {false, true}) {
      OneNode m("MatMul", 13);
      m.input(randomTensor("A", c.a, seed));
      Tensor b = randomTensor("B", c.b, seed + 1);
      if (b_const)
        m.constant(b);
      else
        m.input(b);
      compareBackends(m, "MatMul " + str(c.a) + " x " + str(c.b) + (b_const ? " B-constant" : ""));
      seed += 2;
    }
}

// ---- pools ----

struct PoolCase {
  std::string op;
  Dims x;
  std::vector<int64_t> kernel, strides, pads, dilations;
  int64_t ceil_mode = 0, count_include_pad = 0;
  std::string auto_pad;

  std::string label() const {
    return op + " x" + str(x) + " k" + str(kernel) + " s" + str(strides) + " p" + str(pads) + " d" + str(dilations) +
           (ceil_mode ? " ceil" : "") + (count_include_pad ? " count_include_pad" : "") + " " + auto_pad;
  }
};

TEST(CpuKernels, Pools) {
  std::vector<PoolCase> cases;
  for (const char* op : {"MaxPool", "AveragePool"})
    for (int64_t k : {2, 3, 5})
      for (int64_t s : {1, 2})
        for (int64_t ceil : {0, 1})
          for (int64_t include : {0, 1}) {
            if (std::string(op) == "MaxPool" && include) continue;
            PoolCase p;
            p.op = op;
            p.x = {2, 5, 12, 13};
            p.kernel = {k, k};
            p.strides = {s, s};
            p.pads = {k / 2, 0, k / 2, k - 1 - k / 2};
            p.ceil_mode = ceil;
            p.count_include_pad = include;
            cases.push_back(p);
          }
  PoolCase p;
  p = {};
  p.op = "MaxPool", p.x = {1, 3, 17, 15}, p.kernel = {3, 3}, p.dilations = {2, 2}, p.strides = {2, 1};
  cases.push_back(p);
  p = {};
  p.op = "MaxPool", p.x = {3, 4, 20}, p.kernel = {4}, p.strides = {3}, p.pads = {1, 2};
  cases.push_back(p);
  p = {};
  p.op = "AveragePool", p.x = {1, 2, 6, 7, 8}, p.kernel = {2, 3, 2}, p.strides = {2, 2, 2}, p.ceil_mode = 1;
  cases.push_back(p);
  p = {};
  p.op = "AveragePool", p.x = {1, 3, 9, 9}, p.kernel = {3, 3}, p.strides = {2, 2}, p.auto_pad = "SAME_UPPER";
  cases.push_back(p);
  p = {};
  p.op = "MaxPool", p.x = {1, 3, 9, 9}, p.kernel = {2, 2}, p.strides = {2, 2}, p.auto_pad = "SAME_LOWER";
  cases.push_back(p);
  uint32_t seed = 7000;
  for (const PoolCase& c : cases) {
    OneNode m(c.op, 12);
    m.input(randomTensor("X", c.x, seed++));
    m.ints("kernel_shape", c.kernel);
    if (!c.strides.empty()) m.ints("strides", c.strides);
    if (!c.pads.empty()) m.ints("pads", c.pads);
    if (!c.dilations.empty()) m.ints("dilations", c.dilations);
    if (c.ceil_mode) m.integer("ceil_mode", 1);
    if (c.count_include_pad) m.integer("count_include_pad", 1);
    if (!c.auto_pad.empty()) m.string("auto_pad", c.auto_pad);
    // An average counting padding over a ceil_mode window that runs past the pads has no oneDNN
    // primitive (pool.cpp): those shapes may run on the reference kernel.
    bool maybe_fallback = c.op == "AveragePool" && c.count_include_pad && c.ceil_mode;
    compareBackends(m, c.label(), maybe_fallback ? Expect::kEither : Expect::kOneDnn);
  }
}

TEST(CpuKernels, GlobalPools) {
  uint32_t seed = 8000;
  for (const char* op : {"GlobalAveragePool", "GlobalMaxPool"})
    for (const Dims& x : {Dims{1, 64, 7, 7}, Dims{3, 5, 13, 11}, Dims{2, 4, 9}, Dims{1, 3, 4, 5, 6}}) {
      OneNode m(op, 13);
      m.input(randomTensor("X", x, seed++));
      compareBackends(m, std::string(op) + " " + str(x));
    }
}

// ---- fused layers (the fuse_conv_activation pass makes them out of chains) ----

// Clip's bounds are inputs since opset 11.
OneNode& clip(OneNode& m, float lo, float hi, uint32_t id) {
  m.then("Clip");
  m.constant(Tensor{"lo" + std::to_string(id), {}, {lo}}).constant(Tensor{"hi" + std::to_string(id), {}, {hi}});
  return m;
}

TEST(CpuKernels, FusedConv) {
  uint32_t seed = 9000;
  for (int wide = 0; wide < 2; ++wide)  // 8 channels, and 32 (the NHWC path with reorders)
    for (int act = 0; act < 8; ++act)
      for (int residual = 0; residual < 2; ++residual) {
        if (act == 0 && !residual) continue;  // nothing to fuse
        ConvCase c;
        c.n = 2, c.pads = {1, 1, 1, 1};
        if (wide) c.c = 32, c.m = 32, c.spatial = {14, 14};
        OneNode m = convModel(c, false, seed);
        Dims y{c.n, c.m, c.spatial[0], c.spatial[1]};
        if (residual) m.then("Add").input(randomTensor("Z", y, seed + 5));
        const char* names[] = {"none", "Relu", "LeakyRelu", "Clip", "HardSwish", "HardSigmoid", "Sigmoid", "Swish"};
        switch (act) {
          case 1: m.then("Relu"); break;
          case 2: m.then("LeakyRelu").real("alpha", 0.1f); break;
          case 3: clip(m, -0.5f, 0.75f, seed); break;
          case 4: m.then("HardSwish"); break;
          case 5: m.then("HardSigmoid").real("alpha", 0.3f).real("beta", 0.4f); break;
          case 6: m.then("Sigmoid"); break;
          case 7: m.thenSwish(); break;
          default: break;
        }
        compareBackends(
            m, std::string("FusedConv ") + names[act] + (residual ? " + residual" : "") + (wide ? " wide" : ""),
            Expect::kOneDnn, 1e-5, "FusedConv");
        seed += 7;
      }
  // A residual that broadcasts ([M, 1, 1]) runs on the reference kernel inside the cpu kernel.
  ConvCase c;
  c.pads = {1, 1, 1, 1};
  OneNode m = convModel(c, false, seed);
  m.then("Add").input(randomTensor("Z", {c.m, 1, 1}, seed + 1)).then("Relu");
  compareBackends(m, "FusedConv broadcast residual", Expect::kFallback, 1e-5, "FusedConv");
}

TEST(CpuKernels, FusedGemm) {
  uint32_t seed = 9500;
  {  // a fully connected layer + ReLU (bias path)
    OneNode m("Gemm", 13);
    m.input(randomTensor("A", {5, 64}, seed)).constant(randomTensor("B", {32, 64}, seed + 1));
    m.constant(randomTensor("C", {32}, seed + 2)).integer("transB", 1);
    m.then("Relu");
    compareBackends(m, "FusedGemm fc relu", Expect::kOneDnn, 1e-5, "FusedGemm");
  }
  {  // alpha, beta, C [M, N], a residual and a clip (prefill path)
    OneNode m("Gemm", 13);
    m.input(randomTensor("A", {24, 7}, seed + 3)).input(randomTensor("B", {24, 9}, seed + 4));
    m.constant(randomTensor("C", {7, 9}, seed + 5)).integer("transA", 1).real("alpha", 0.5f).real("beta", 2.f);
    m.then("Add").input(randomTensor("Z", {7, 9}, seed + 6));
    clip(m, -1.f, 1.f, seed);
    compareBackends(m, "FusedGemm alpha beta residual clip", Expect::kOneDnn, 1e-5, "FusedGemm");
  }
  {  // MatMul of a 3-D A by constant weights, + bias + broadcast residual + swish
    OneNode m("MatMul", 13);
    m.input(randomTensor("A", {2, 6, 16}, seed + 7)).constant(randomTensor("B", {16, 12}, seed + 8));
    m.then("Add").constant(randomTensor("bias", {12}, seed + 9));
    m.then("Add").input(randomTensor("Z", {6, 1}, seed + 10));
    m.thenSwish();
    compareBackends(m, "FusedGemm matmul bias residual swish", Expect::kOneDnn, 1e-5, "FusedGemm");
  }
}

// ---- backend choice and weight sharing ----

TEST(CpuKernels, BackendChoice) {
  // MaxPool with its Indices output has no cpu kernel: the builder keeps it on the reference.
  OneNode m("MaxPool", 12);
  m.input(randomTensor("X", {1, 2, 6, 6}, 1)).ints("kernel_shape", {2, 2}).output("I", onnx::TensorProto::INT64);
  auto e = m.build(nullptr);
  ASSERT_TRUE(e.ok()) << e.status().toString();
  EXPECT_EQ((*e)->layers().at(0).backend, "reference");
  // A bad QRT_BACKEND is an error naming the variable.
  auto bad = convModel(ConvCase{}, false, 1).build("gpu");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("QRT_BACKEND"), std::string::npos) << bad.status().toString();
}

// Runs `ctx` on input X (output Y): the context reshapes when X's shape changed.
Result<std::vector<float>> runContext(ExecutionContext& ctx, const Tensor& x) {
  QRT_RETURN_IF_ERROR(ctx.setInputShape("X", x.dims));
  QRT_RETURN_IF_ERROR(ctx.setTensorAddress("X", const_cast<float*>(x.values.data())));
  QRT_ASSIGN_OR_RETURN(Dims dims, ctx.tensorShape("Y"));
  std::vector<float> y(static_cast<size_t>(volume(dims)), std::numeric_limits<float>::quiet_NaN());
  QRT_RETURN_IF_ERROR(ctx.setTensorAddress("Y", y.data()));
  QRT_RETURN_IF_ERROR(ctx.enqueue());
  return y;
}

// The number of elements outside |cpu - ref| <= 1e-5 (|ref| + 1) (a size mismatch: all).
size_t countDiffering(const std::vector<float>& cpu, const std::vector<float>& ref) {
  if (cpu.size() != ref.size()) return std::max(cpu.size(), ref.size());
  size_t bad = 0;
  for (size_t i = 0; i < ref.size(); ++i)
    if (!(std::fabs(cpu[i] - ref[i]) <= 1e-5 * (std::fabs(ref[i]) + 1))) ++bad;
  return bad;
}

TEST(CpuKernels, ReshapeBetweenRunsAndConcurrentContexts) {
  ConvCase c;
  c.c = 32, c.m = 32, c.spatial = {14, 14}, c.pads = {1, 1, 1, 1};
  OneNode m = convModel(c, false, 77);
  m.dynamicBatch();
  auto cpu = m.build(nullptr);
  auto ref = m.build("reference");
  ASSERT_TRUE(cpu.ok() && ref.ok()) << cpu.status().toString() << " / " << ref.status().toString();
  auto cpu_ctx = (*cpu)->createExecutionContext();
  auto ref_ctx = (*ref)->createExecutionContext();
  ASSERT_TRUE(cpu_ctx.ok() && ref_ctx.ok());
  // One context through batch 1, 3, 2, 3: its primitives are rebuilt at each reshape.
  std::vector<Tensor> inputs;
  for (int64_t n : {1, 3, 2, 3}) inputs.push_back(randomTensor("X", {n, c.c, 14, 14}, 100 + static_cast<uint32_t>(n)));
  std::vector<std::vector<float>> expected;
  for (const Tensor& x : inputs) {
    auto want = runContext(**ref_ctx, x);
    auto got = runContext(**cpu_ctx, x);
    ASSERT_TRUE(want.ok() && got.ok()) << want.status().toString() << " / " << got.status().toString();
    EXPECT_EQ(countDiffering(*got, *want), 0u) << "batch " << x.dims[0];
    expected.push_back(*want);
  }
  // Two contexts of the engine running at once on two threads (each with its own OpenMP team).
  size_t bad[2] = {0, 0};
  std::string errors[2];
  std::vector<std::thread> threads;
  for (int t = 0; t < 2; ++t)
    threads.emplace_back([&, t] {
      auto ctx = (*cpu)->createExecutionContext();
      if (!ctx.ok()) {
        errors[t] = ctx.status().toString();
        return;
      }
      for (int rep = 0; rep < 5; ++rep)
        for (size_t i = 0; i < inputs.size(); ++i) {
          auto got = runContext(**ctx, inputs[i]);
          if (!got.ok()) errors[t] = got.status().toString();
          else bad[t] += countDiffering(*got, expected[i]);
        }
    });
  for (auto& th : threads) th.join();
  for (int t = 0; t < 2; ++t) {
    EXPECT_EQ(errors[t], "") << "thread " << t;
    EXPECT_EQ(bad[t], 0u) << "thread " << t;
  }
}

TEST(CpuKernels, WeightsPackedOncePerEngine) {
  ConvCase c;
  c.c = 32, c.m = 32, c.spatial = {14, 14}, c.pads = {1, 1, 1, 1};
  OneNode m = convModel(c, false, 42);
  auto engine = m.build(nullptr);
  ASSERT_TRUE(engine.ok()) << engine.status().toString();
  // Three live execution contexts of one engine: the weights are reordered once, and the
  // outputs agree. (The cache holds packed weights weakly: they go with the last context.)
  int64_t before = cpu::packCount();
  std::vector<std::unique_ptr<ExecutionContext>> contexts(3);
  std::vector<float> first;
  for (int i = 0; i < 3; ++i) {
    auto r = m.run(*engine, &contexts[i]);
    ASSERT_TRUE(r.ok()) << r.status().toString();
    ASSERT_FALSE(r->fell_back);
    if (i == 0)
      first = r->y;
    else
      EXPECT_EQ(r->y, first);
  }
  EXPECT_EQ(cpu::packCount(), before + 1);
}

#endif  // QRT_HAVE_DNNL

}  // namespace
}  // namespace qrt
