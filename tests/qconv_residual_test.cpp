// INT8 residual blocks fused into QConv (passes/fuse_qconv_residual.h): QConv's int8 residual
// input z on the reference backend against a float64 computation, insertQdq's
// quantize_residuals placement, and the fused graph against the unfused QDQ graph (both on the
// reference backend, the builder's steps run by hand as a CUDA build orders them: insertQdq with
// residuals, foldQdq, the float fusion passes, then the residual fusion).
//
// The fused node computes exactly the float32 operations of the graph it replaces (QConv with
// float output, Add of DequantizeLinear(z), Relu, QuantizeLinear; reference/qops_common.h,
// FusedEpilogue::applyResidual), so the two engines must agree bit for bit; against float64
// the int8 outputs may differ by one step where float32 rounding moves a value across a
// rounding boundary.
#include <gtest/gtest.h>
#include <onnx/onnx_pb.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "builder/finalize.h"
#include "core/tensor.h"
#include "ir/graph.h"
#include "model_builder.h"
#include "passes/fuse_qconv_residual.h"
#include "passes/fuse_qdq.h"
#include "passes/infer_shapes.h"
#include "passes/insert_qdq.h"
#include "passes/pass_manager.h"
#include "passes/quantize_before_maxpool.h"
#include "qrt/qrt.h"
#include "runtime/context_access.h"

namespace qrt {
namespace {

using Tensors = std::map<std::string, HostTensor>;

ir::Value* constant(ir::Graph& g, const std::string& name, HostTensor t) {
  ir::Value* v = g.addValue(name);
  v->dtype = t.dtype();
  v->dims = t.dims();
  v->has_shape = true;
  v->constant = std::move(t);
  return v;
}

ir::Value* input(ir::Graph& g, const std::string& name, DataType t, const Dims& dims) {
  ir::Value* v = g.addValue(name);
  v->dtype = t;
  v->dims = dims;
  v->has_shape = true;
  g.inputs.push_back(v);
  return v;
}

HostTensor randomInt8(const Dims& dims, int lo, int hi, std::mt19937& rng) {
  HostTensor t(DataType::kInt8, dims);
  std::uniform_int_distribution<int> d(lo, hi);
  for (int64_t i = 0; i < t.numel(); ++i) t.as<int8_t>()[i] = static_cast<int8_t>(d(rng));
  return t;
}

Tensors run(const Engine& engine, const Tensors& inputs, Tensors* observed = nullptr) {
  auto ctx = engine.createExecutionContext();
  EXPECT_TRUE(ctx.ok()) << ctx.status().toString();
  if (!ctx.ok()) return {};
  if (observed)
    internal::ContextAccess::setObserver(**ctx, [observed](const ir::Value& v, const TensorView& view) {
      HostTensor t(view.dtype, view.dims);
      std::memcpy(t.data(), view.data, view.bytes());
      (*observed)[v.name] = std::move(t);
    });
  for (const auto& [name, t] : inputs) {
    EXPECT_TRUE((*ctx)->setInputShape(name, t.dims()).ok());
    EXPECT_TRUE((*ctx)->setTensorAddress(name, const_cast<void*>(t.data())).ok());
  }
  Tensors outs;
  for (const TensorInfo& o : engine.outputs()) {
    auto dims = (*ctx)->tensorShape(o.name);
    EXPECT_TRUE(dims.ok()) << dims.status().toString();
    if (!dims.ok()) return {};
    outs[o.name] = HostTensor(o.dtype, *dims);
    std::memset(outs[o.name].data(), 0x5A, outs[o.name].bytes());  // poisoned
    EXPECT_TRUE((*ctx)->setTensorAddress(o.name, outs[o.name].data()).ok());
  }
  Status s = (*ctx)->enqueue();
  EXPECT_TRUE(s.ok()) << s.toString();
  return outs;
}

// ---- QConv with z on the reference backend vs float64 -----------------------------------------

struct ZCase {
  int64_t n, c, h, w, m, k, stride;
  std::string act;  // "none" or "relu"
  bool y_int8;
};

void checkAgainstFloat64(const ZCase& p, uint32_t seed) {
  SCOPED_TRACE(testing::Message() << "C=" << p.c << " M=" << p.m << " k=" << p.k << " s=" << p.stride << " act="
                                  << p.act << (p.y_int8 ? " int8" : " fp32"));
  std::mt19937 rng(seed);
  const int64_t pad = p.k / 2;
  const int64_t oh = (p.h + 2 * pad - p.k) / p.stride + 1, ow = (p.w + 2 * pad - p.k) / p.stride + 1;
  const Dims xd{p.n, p.c, p.h, p.w}, wd{p.m, p.c, p.k, p.k}, yd{p.n, p.m, oh, ow};
  HostTensor x = randomInt8(xd, -128, 127, rng), w = randomInt8(wd, -127, 127, rng), z = randomInt8(yd, -128, 127, rng);
  std::uniform_real_distribution<float> u(0.5f, 1.5f), ub(-1.f, 1.f);
  const float xs = 0.02f, zs = 0.05f;
  std::vector<float> ws(static_cast<size_t>(p.m)), bias(static_cast<size_t>(p.m));
  for (auto& v : ws) v = 0.001f * u(rng);
  for (auto& v : bias) v = ub(rng);
  // y_scale near the output's spread so that rounding, not saturation, is what is tested.
  const float ys = 0.06f;

  auto g = std::make_unique<ir::Graph>();
  g->opsets[""] = 17;
  g->opsets["qrt"] = 1;
  ir::Value* xv = input(*g, "x", DataType::kInt8, xd);
  ir::Value* zv = input(*g, "z", DataType::kInt8, yd);
  ir::Value* y = g->addValue("y");
  y->dtype = p.y_int8 ? DataType::kInt8 : DataType::kFloat;
  y->dims = yd;
  y->has_shape = true;
  std::vector<ir::Value*> ins = {xv,
                                 constant(*g, "w", w),
                                 constant(*g, "b", HostTensor::fromFloat(bias, {p.m})),
                                 constant(*g, "xs", HostTensor::fromFloat({xs}, {})),
                                 constant(*g, "ws", HostTensor::fromFloat(ws, {p.m})),
                                 p.y_int8 ? constant(*g, "ys", HostTensor::fromFloat({ys}, {})) : nullptr,
                                 zv,
                                 constant(*g, "zs", HostTensor::fromFloat({zs}, {}))};
  ir::Node* n = g->addNode("QConv", "qconv", ins, {y});
  n->domain = "qrt";
  n->opset = 1;
  n->attrs["kernel_shape"] = ir::Attribute::Ints({p.k, p.k});
  n->attrs["strides"] = ir::Attribute::Ints({p.stride, p.stride});
  n->attrs["pads"] = ir::Attribute::Ints({pad, pad, pad, pad});
  n->attrs["activation"] = ir::Attribute::String(p.act);
  g->outputs.push_back(y);
  g->rebuildUses();
  ASSERT_TRUE(passes::inferShapes(*g).ok());
  test::BackendEnv env("reference");
  auto engine = finalizeEngine(std::move(g), {});
  ASSERT_TRUE(engine.ok()) << engine.status().toString();
  Tensors out = run(**engine, {{"x", x}, {"z", z}});
  ASSERT_EQ(out.count("y"), 1u);
  const HostTensor& got = out["y"];

  int64_t exact = 0, total = 0;
  double worst = 0;
  for (int64_t b = 0; b < p.n; ++b)
    for (int64_t m = 0; m < p.m; ++m)
      for (int64_t i = 0; i < oh; ++i)
        for (int64_t j = 0; j < ow; ++j) {
          int64_t acc = 0;
          for (int64_t c = 0; c < p.c; ++c)
            for (int64_t ki = 0; ki < p.k; ++ki)
              for (int64_t kj = 0; kj < p.k; ++kj) {
                const int64_t hi = i * p.stride - pad + ki, wi = j * p.stride - pad + kj;
                if (hi < 0 || hi >= p.h || wi < 0 || wi >= p.w) continue;
                acc += int64_t{x.as<int8_t>()[((b * p.c + c) * p.h + hi) * p.w + wi]} *
                       w.as<int8_t>()[((m * p.c + c) * p.k + ki) * p.k + kj];
              }
          const int64_t at = ((b * p.m + m) * oh + i) * ow + j;
          double v = double(acc) * double(xs) * double(ws[m]) + double(bias[m]) + double(zs) * z.as<int8_t>()[at];
          if (p.act == "relu") v = std::max(v, 0.0);
          ++total;
          if (p.y_int8) {
            const double q = std::min(127.0, std::max(-128.0, std::nearbyint(v / double(ys))));
            const double d = std::fabs(q - got.as<int8_t>()[at]);
            worst = std::max(worst, d);
            exact += d == 0;
          } else {
            // float32 rounding of a few terms of size |acc * mult|, |bias|, |z term|.
            const double tol = 1e-5 * (std::fabs(double(acc) * xs * ws[m]) + std::fabs(bias[m]) + 128 * zs);
            const double d = std::fabs(v - got.as<float>()[at]);
            EXPECT_LE(d, tol) << "at " << at;
            exact += d <= tol;
          }
        }
  if (p.y_int8) {
    EXPECT_LE(worst, 1.0);
    EXPECT_GE(exact, total * 98 / 100) << exact << " of " << total << " equal";
  } else {
    EXPECT_EQ(exact, total);
  }
}

TEST(QConvResidual, ReferenceMatchesFloat64) {
  const ZCase cases[] = {
      {2, 8, 7, 6, 5, 3, 1, "relu", true},  {1, 5, 9, 9, 7, 1, 1, "none", true},
      {2, 3, 8, 8, 4, 3, 2, "relu", true},  {1, 13, 5, 5, 16, 1, 2, "none", true},
      {1, 6, 6, 6, 3, 3, 1, "relu", false},
  };
  uint32_t seed = 7;
  for (const ZCase& c : cases) checkAgainstFloat64(c, seed++);
}

// ---- residual blocks: fused vs unfused ---------------------------------------------------------

// Three residual blocks as ONNX writes them (float model; the builder steps insert the Q/DQ):
//   A identity:   y1 = relu(c2(relu(c1(x))) + x)                  5 -> 5 channels, 3x3
//   B downsample: y2 = relu(c4(relu(c3(y1))) + ds(y1))            5 -> 12, stride 2, 1x1 ds
//   C no relu:    y3 = c5(y2) + y2                                 (MobileNetV2's form)
//   Y = c6(y3)                                                     float output
class Blocks {
 public:
  Blocks() {
    model_.set_ir_version(8);
    auto* os = model_.add_opset_import();
    os->set_domain("");
    os->set_version(13);
    auto* g = model_.mutable_graph();
    g->set_name("residual_blocks");
    auto* in = g->add_input();
    in->set_name("x");
    auto* tt = in->mutable_type()->mutable_tensor_type();
    tt->set_elem_type(onnx::TensorProto::FLOAT);
    for (int64_t d : {2, 5, 10, 10}) tt->mutable_shape()->add_dim()->set_dim_value(d);
    g->add_output()->set_name("Y");
    g->mutable_output(0)->mutable_type()->mutable_tensor_type()->set_elem_type(onnx::TensorProto::FLOAT);
    conv("c1", "x", "h1", 5, 5, 3, 1, true);
    node("Relu", {"h1"}, "h1r");
    conv("c2", "h1r", "m1", 5, 5, 3, 1, true);
    node("Add", {"m1", "x"}, "a1");
    node("Relu", {"a1"}, "y1");
    conv("c3", "y1", "h2", 5, 12, 3, 2, true);
    node("Relu", {"h2"}, "h2r");
    conv("c4", "h2r", "m2", 12, 12, 1, 1, true);
    conv("ds", "y1", "d2", 5, 12, 1, 2, false);
    node("Add", {"m2", "d2"}, "a2");
    node("Relu", {"a2"}, "y2");
    conv("c5", "y2", "m3", 12, 12, 3, 1, true);
    node("Add", {"y2", "m3"}, "y3");  // the conv on the right: Add commutes
    conv("c6", "y3", "Y", 12, 7, 1, 1, true);
  }

  std::unique_ptr<Network> parse() const {
    std::string bytes;
    EXPECT_TRUE(model_.SerializeToString(&bytes));
    auto net = parseOnnxBuffer(bytes.data(), bytes.size(), "");
    EXPECT_TRUE(net.ok()) << net.status().toString();
    return net.ok() ? std::move(net).value() : nullptr;
  }

 private:
  void node(const std::string& op, const std::vector<std::string>& ins, const std::string& out,
            const std::string& name = "") {
    auto* n = model_.mutable_graph()->add_node();
    n->set_op_type(op);
    n->set_name(name.empty() ? op + "_" + out : name);
    for (const auto& i : ins) n->add_input(i);
    n->add_output(out);
  }

  void conv(const std::string& name, const std::string& x, const std::string& y, int64_t c, int64_t m, int64_t k,
            int64_t stride, bool bias) {
    const float bound = 1.5f / std::sqrt(float(c * k * k));  // keeps the activations' spread near 1
    std::uniform_real_distribution<float> u(-bound, bound);
    auto* g = model_.mutable_graph();
    auto* w = g->add_initializer();
    w->set_name(name + "_w");
    w->set_data_type(onnx::TensorProto::FLOAT);
    for (int64_t d : {m, c, k, k}) w->add_dims(d);
    for (int64_t i = 0; i < m * c * k * k; ++i) w->add_float_data(u(rng_));
    std::vector<std::string> ins = {x, name + "_w"};
    if (bias) {
      auto* b = g->add_initializer();
      b->set_name(name + "_b");
      b->set_data_type(onnx::TensorProto::FLOAT);
      b->add_dims(m);
      for (int64_t i = 0; i < m; ++i) b->add_float_data(0.2f * u(rng_));
      ins.push_back(name + "_b");
    }
    node("Conv", ins, y, name);
    auto* n = g->mutable_node(g->node_size() - 1);
    auto ints = [&](const char* a, std::vector<int64_t> v) {
      auto* at = n->add_attribute();
      at->set_name(a);
      at->set_type(onnx::AttributeProto::INTS);
      for (int64_t e : v) at->add_ints(e);
    };
    ints("kernel_shape", {k, k});
    ints("strides", {stride, stride});
    ints("pads", {k / 2, k / 2, k / 2, k / 2});
  }

  onnx::ModelProto model_;
  std::mt19937 rng_{2024};
};

// Scales as max |x| / 127 over a float run (what calibration would give with the max method).
std::map<std::string, float> maxScales(const Network& net, const Tensors& feeds) {
  auto g = net.graph().clone();
  EXPECT_TRUE(passes::runSimplifyPasses(*g).ok());
  test::BackendEnv env("reference");
  auto engine = finalizeEngine(std::move(g), {});
  EXPECT_TRUE(engine.ok()) << engine.status().toString();
  Tensors seen;
  run(**engine, feeds, &seen);
  for (const auto& [name, t] : feeds) seen[name] = t;
  std::map<std::string, float> scales;
  for (const auto& [name, t] : seen) {
    if (t.dtype() != DataType::kFloat) continue;
    float amax = 0.f;
    for (int64_t i = 0; i < t.numel(); ++i) amax = std::max(amax, std::fabs(t.as<float>()[i]));
    if (amax > 0.f) scales[name] = amax / 127.f;
  }
  return scales;
}

struct Built {
  std::shared_ptr<Engine> engine;
  int fused = 0;              // the pass's count
  int qconv_with_z = 0;       // QConv nodes with an int8 residual in the final graph
  int adds = 0;               // Add nodes left
  passes::QdqReport qdq;
};

// The builder's INT8 steps as a CUDA build runs them, the residual fusion optional.
Built buildInt8(const Network& net, const std::map<std::string, float>& scales, bool fuse) {
  Built b;
  auto g = net.graph().clone();
  EXPECT_TRUE(passes::runSimplifyPasses(*g).ok());
  passes::QdqOptions options;
  options.quantize_residuals = true;
  Status s = passes::insertQdq(*g, scales, options, &b.qdq);
  EXPECT_TRUE(s.ok()) << s.toString();
  EXPECT_TRUE(passes::inferShapes(*g).ok());
  s = passes::foldQdq(*g);
  EXPECT_TRUE(s.ok()) << s.toString();
  EXPECT_TRUE(passes::runFusionPasses(*g).ok());
  if (fuse) {
    s = passes::fuseQConvResidual(*g, &b.fused);
    EXPECT_TRUE(s.ok()) << s.toString();
  }
  for (const auto& n : g->nodes()) {
    if (n->op_type == "QConv" && n->hasInput(6)) ++b.qconv_with_z;
    if (n->op_type == "Add") ++b.adds;
  }
  test::BackendEnv env("reference");
  auto e = finalizeEngine(std::move(g), {});
  EXPECT_TRUE(e.ok()) << e.status().toString();
  if (e.ok()) b.engine = *e;
  return b;
}

TEST(QConvResidual, FusedBlocksMatchTheUnfusedQdqGraph) {
  Blocks blocks;
  auto net = blocks.parse();
  ASSERT_TRUE(net);
  std::mt19937 rng(11);
  std::uniform_real_distribution<float> u(-1.f, 1.f);
  std::vector<float> xv(2 * 5 * 10 * 10);
  for (float& v : xv) v = u(rng);
  const Tensors feeds = {{"x", HostTensor::fromFloat(xv, {2, 5, 10, 10})}};
  const auto scales = maxScales(*net, feeds);

  Built unfused = buildInt8(*net, scales, false);
  Built fused = buildInt8(*net, scales, true);
  ASSERT_TRUE(unfused.engine && fused.engine);
  // Residual placement: block A's identity x and block B's downsample output get Q/DQ (y1, y2
  // already had pairs, which block B's and C's Adds reuse: y2 is C's residual).
  EXPECT_EQ(fused.qdq.quantized_residuals, 3) << fused.qdq.summary();
  // Every block's Add (and Relu, and output Q) is inside a QConv.
  EXPECT_EQ(fused.fused, 3);
  EXPECT_EQ(fused.qconv_with_z, 3);
  EXPECT_EQ(fused.adds, 0);
  EXPECT_EQ(unfused.adds, 3);

  // Poisoned outputs, fresh inputs (not the calibration batch).
  for (float& v : xv) v = 1.2f * u(rng);
  const Tensors in = {{"x", HostTensor::fromFloat(xv, {2, 5, 10, 10})}};
  Tensors a = run(*unfused.engine, in), b = run(*fused.engine, in);
  ASSERT_EQ(a.count("Y"), 1u);
  ASSERT_EQ(b.count("Y"), 1u);
  ASSERT_EQ(a["Y"].dims(), b["Y"].dims());
  // The fused node computes the unfused graph's float32 operations in its order: the same bits
  // (a difference would be at least one step of c6's input, i.e. far above float rounding).
  int64_t differ = 0;
  for (int64_t i = 0; i < a["Y"].numel(); ++i) {
    const float x = a["Y"].as<float>()[i], y = b["Y"].as<float>()[i];
    ASSERT_TRUE(std::isfinite(y)) << "at " << i;
    differ += x != y;
  }
  EXPECT_EQ(differ, 0) << "of " << a["Y"].numel();
}

// Without residual quantization (CPU builds) there are no DQ-fed Adds and nothing to fuse.
TEST(QConvResidual, WithoutResidualQdqNothingFuses) {
  Blocks blocks;
  auto net = blocks.parse();
  ASSERT_TRUE(net);
  std::vector<float> xv(2 * 5 * 10 * 10, 0.5f);
  const auto scales = maxScales(*net, {{"x", HostTensor::fromFloat(xv, {2, 5, 10, 10})}});
  auto g = net->graph().clone();
  ASSERT_TRUE(passes::runSimplifyPasses(*g).ok());
  passes::QdqReport report;
  ASSERT_TRUE(passes::insertQdq(*g, scales, passes::QdqOptions{}, &report).ok());
  EXPECT_EQ(report.quantized_residuals, 0);
  ASSERT_TRUE(passes::inferShapes(*g).ok());
  ASSERT_TRUE(passes::foldQdq(*g).ok());
  int fused = -1;
  ASSERT_TRUE(passes::fuseQConvResidual(*g, &fused).ok());
  EXPECT_EQ(fused, 0);
}

// torchvision's ResNets and MobileNetV2 as exported (QRT_RESNET_DIR, bench/gpu/export_resnet.py):
// every residual block folds into one QConv with z, whatever the scales (one per tensor here: the
// structure is what is checked); every downsample 1x1 gets int8 output. Skips without the models.
TEST(QConvResidual, TorchvisionResNetsFoldEveryBlock) {
  const char* dir = std::getenv("QRT_RESNET_DIR");
  if (!dir) GTEST_SKIP() << "QRT_RESNET_DIR is not set (bench/gpu/export_resnet.py writes the models)";
  // MobileNetV2's 10 residual blocks end in a 1x1 projection without activation (no Relu to fold).
  for (const auto& [name, blocks] :
       std::vector<std::pair<std::string, int>>{{"resnet18", 8}, {"resnet50", 16}, {"mobilenet_v2", 10}}) {
    SCOPED_TRACE(name);
    const std::string path = std::string(dir) + "/" + name + ".onnx";
    auto net = parseOnnxFile(path);
    if (!net.ok()) {
      std::printf("skipping %s: %s\n", path.c_str(), net.status().toString().c_str());
      continue;
    }
    auto g = (*net)->graph().clone();
    ASSERT_TRUE(passes::runSimplifyPasses(*g).ok());
    std::map<std::string, float> scales;
    for (const auto& v : g->values())
      if (v->dtype == DataType::kFloat && !v->isConstant()) scales[v->name] = 0.05f;
    passes::QdqOptions options;
    options.quantize_residuals = true;
    passes::QdqReport report;
    ASSERT_TRUE(passes::insertQdq(*g, scales, options, &report).ok());
    ASSERT_TRUE(passes::inferShapes(*g).ok());
    ASSERT_TRUE(passes::quantizeBeforeMaxPool(*g).ok());  // as the builder: the stem requantizes
    ASSERT_TRUE(passes::foldQdq(*g).ok());
    ASSERT_TRUE(passes::runFusionPasses(*g).ok());
    int fused = 0;
    ASSERT_TRUE(passes::fuseQConvResidual(*g, &fused).ok());
    EXPECT_EQ(fused, blocks);
    int adds = 0, float_out_qconv = 0, qconv = 0;
    for (const auto& n : g->nodes()) {
      adds += n->op_type == "Add";
      if (n->op_type != "QConv") continue;
      ++qconv;
      float_out_qconv += n->outputs[0]->dtype == DataType::kFloat;
    }
    EXPECT_EQ(adds, 0);
    // The convolution before the float GlobalAveragePool is the only float-out QConv (ResNets:
    // the last block's, with z; MobileNetV2: the final 1x1 + ReLU6).
    EXPECT_EQ(float_out_qconv, 1);
    std::printf("%s: %d QConv, %d with z, %s\n", name.c_str(), qconv, fused, report.summary().c_str());
  }
}

}  // namespace
}  // namespace qrt
