// Tests of the ONNX importer and of TensorProto decoding. Models are built in C++ with the ONNX
// protobuf API and written to temporary folders.
#include <gtest/gtest.h>
#include <onnx/onnx_pb.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "core/half.h"
#include "ir/graph.h"
#include "onnx/tensor_proto.h"
#include "ops/op_table.h"
#include "qrt/network.h"
#include "test_util.h"

namespace qrt {
namespace {

namespace fs = std::filesystem;

// ---- building models -----------------------------------------------------------------------------

onnx::ModelProto makeModel(int opset = 13) {
  onnx::ModelProto m;
  m.set_ir_version(8);
  m.set_producer_name("qrt importer_test");
  auto* os = m.add_opset_import();
  os->set_domain("");
  os->set_version(opset);
  m.mutable_graph()->set_name("g");
  return m;
}

// dims: -1 becomes a dim_param "N", -2 a dimension with neither value nor param.
void setTensorType(onnx::ValueInfoProto* vi, const std::string& name, int elem_type, const std::vector<int64_t>& dims) {
  vi->set_name(name);
  auto* tt = vi->mutable_type()->mutable_tensor_type();
  tt->set_elem_type(elem_type);
  auto* shape = tt->mutable_shape();
  for (int64_t d : dims) {
    auto* dim = shape->add_dim();
    if (d >= 0) dim->set_dim_value(d);
    else if (d == -1) dim->set_dim_param("N");
  }
}

void addInput(onnx::ModelProto& m, const std::string& name, const std::vector<int64_t>& dims,
              int elem_type = onnx::TensorProto::FLOAT) {
  setTensorType(m.mutable_graph()->add_input(), name, elem_type, dims);
}

void addOutput(onnx::ModelProto& m, const std::string& name) {
  setTensorType(m.mutable_graph()->add_output(), name, onnx::TensorProto::FLOAT, {});
  m.mutable_graph()->mutable_output()->rbegin()->mutable_type()->mutable_tensor_type()->clear_shape();
}

onnx::NodeProto* addNode(onnx::ModelProto& m, const std::string& op, const std::vector<std::string>& ins,
                         const std::vector<std::string>& outs, const std::string& name = "") {
  auto* n = m.mutable_graph()->add_node();
  n->set_op_type(op);
  n->set_name(name);
  for (const auto& i : ins) n->add_input(i);
  for (const auto& o : outs) n->add_output(o);
  return n;
}

onnx::TensorProto floatTensor(const std::string& name, const std::vector<int64_t>& dims, const std::vector<float>& v) {
  onnx::TensorProto t;
  t.set_name(name);
  t.set_data_type(onnx::TensorProto::FLOAT);
  for (int64_t d : dims) t.add_dims(d);
  for (float f : v) t.add_float_data(f);
  return t;
}

// y = x + W with W a 2x3 float initializer, x of shape [N, 3].
onnx::ModelProto addModel() {
  onnx::ModelProto m = makeModel();
  addInput(m, "x", {-1, 3});
  *m.mutable_graph()->add_initializer() = floatTensor("W", {2, 3}, {1, 2, 3, 4, 5, 6});
  addNode(m, "Add", {"x", "W"}, {"y"}, "add0");
  addOutput(m, "y");
  return m;
}

std::string writeModel(const std::string& dir, const onnx::ModelProto& m, const std::string& file = "model.onnx") {
  std::string path = dir + "/" + file;
  std::ofstream f(path, std::ios::binary);
  m.SerializeToOstream(&f);
  return path;
}

void writeBytes(const std::string& path, const std::string& bytes) {
  std::ofstream f(path, std::ios::binary);
  f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

// Whether the op table has every op a test's model uses (tests skip until the op lands).
bool haveOps(std::initializer_list<const char*> ops) {
  for (const char* op : ops)
    if (!findOp(op)) return false;
  return true;
}

class ImporterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = test::makeTempDir("importer");
    ASSERT_FALSE(dir_.empty());
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  std::string dir_;
};

// ---- files -----------------------------------------------------------------------------------------

TEST_F(ImporterTest, MissingFileIsNotFound) {
  auto r = parseOnnxFile(dir_ + "/nope.onnx");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kNotFound);
  EXPECT_NE(r.status().message().find("nope.onnx"), std::string::npos);
}

TEST_F(ImporterTest, EveryTruncationIsCorrupt) {
  std::string bytes = addModel().SerializeAsString();
  for (size_t n = 0; n < bytes.size(); ++n) {
    std::string path = dir_ + "/cut.onnx";
    writeBytes(path, bytes.substr(0, n));
    auto r = parseOnnxFile(path);
    ASSERT_FALSE(r.ok()) << "prefix of " << n << " bytes imported";
    EXPECT_EQ(r.status().code(), StatusCode::kCorrupt) << n << ": " << r.status().toString();
    EXPECT_NE(r.status().message().find("cut.onnx"), std::string::npos) << r.status().message();
  }
}

TEST_F(ImporterTest, GarbageIsCorrupt) {
  std::string path = dir_ + "/garbage.onnx";
  writeBytes(path, "this is not a protobuf \xff\xff\xff\xff");
  auto r = parseOnnxFile(path);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kCorrupt);
  EXPECT_NE(r.status().message().find("garbage.onnx"), std::string::npos);
}

// Random byte changes must give a Status (any), never a crash.
TEST_F(ImporterTest, MutatedModelsNeverCrash) {
  if (!haveOps({"Add"})) GTEST_SKIP() << "ops not in the op table yet";
  std::string bytes = addModel().SerializeAsString();
  std::mt19937 rng(1234);
  for (int iter = 0; iter < 3000; ++iter) {
    std::string b = bytes;
    int edits = 1 + static_cast<int>(rng() % 4);
    for (int e = 0; e < edits; ++e) b[rng() % b.size()] = static_cast<char>(rng() & 0xff);
    auto r = parseOnnxBuffer(b.data(), b.size(), "");
    if (r.ok()) (void)(*r)->toString();
  }
}

// ---- operators and opsets -----------------------------------------------------------------------

TEST_F(ImporterTest, UnsupportedOpNamesOpAndNode) {
  onnx::ModelProto m = makeModel(11);
  addInput(m, "boxes", {1, 4, 4});
  addInput(m, "scores", {1, 1, 4});
  addNode(m, "NonMaxSuppression", {"boxes", "scores"}, {"sel"}, "nms_3");
  addOutput(m, "sel");
  auto r = parseOnnxFile(writeModel(dir_, m));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kUnsupported);
  const std::string msg = r.status().message();
  EXPECT_NE(msg.find("unsupported operator 'NonMaxSuppression' (node 'nms_3', opset 11)"), std::string::npos) << msg;
  EXPECT_NE(msg.find("qrt supports: "), std::string::npos) << msg;
  EXPECT_EQ(msg.find('\n'), std::string::npos);
  if (findOp("Add")) {
    EXPECT_NE(msg.find("Add"), std::string::npos);
  }
}

TEST_F(ImporterTest, UnnamedNodesGetOpAndIndex) {
  onnx::ModelProto m = makeModel();
  addInput(m, "x", {2});
  addNode(m, "Relu", {"x"}, {"r"});
  addNode(m, "TopK", {"r"}, {"t"});
  addOutput(m, "t");
  auto r = parseOnnxFile(writeModel(dir_, m));
  ASSERT_FALSE(r.ok());
  if (findOp("TopK")) GTEST_SKIP() << "TopK is supported now; pick another op";
  EXPECT_NE(r.status().message().find("node 'TopK_1'"), std::string::npos) << r.status().message();
}

TEST_F(ImporterTest, UnnamedNodesAreUniqueInTheGraph) {
  if (!haveOps({"Relu"})) GTEST_SKIP() << "ops not in the op table yet";
  onnx::ModelProto m = makeModel();
  addInput(m, "x", {2});
  addNode(m, "Relu", {"x"}, {"a"}, "Relu_1");  // clashes with the generated name of node 1
  addNode(m, "Relu", {"a"}, {"b"});
  addOutput(m, "b");
  auto r = parseOnnxFile(writeModel(dir_, m));
  ASSERT_TRUE(r.ok()) << r.status().toString();
  auto layers = (*r)->layers();
  ASSERT_EQ(layers.size(), 2u);
  EXPECT_NE(layers[0].name, layers[1].name);
  EXPECT_FALSE(layers[1].name.empty());
}

TEST_F(ImporterTest, OpsetOutOfRangeIsUnsupported) {
  for (int opset : {6, 22}) {
    onnx::ModelProto m = makeModel(opset);
    addInput(m, "x", {2});
    addNode(m, "Relu", {"x"}, {"y"});
    addOutput(m, "y");
    auto r = parseOnnxFile(writeModel(dir_, m));
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().code(), StatusCode::kUnsupported);
    EXPECT_NE(r.status().message().find("opset " + std::to_string(opset)), std::string::npos) << r.status().message();
  }
}

TEST_F(ImporterTest, MissingDefaultOpsetIsCorrupt) {
  onnx::ModelProto m = makeModel();
  m.clear_opset_import();
  addInput(m, "x", {2});
  addNode(m, "Relu", {"x"}, {"y"});
  addOutput(m, "y");
  auto r = parseOnnxFile(writeModel(dir_, m));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kCorrupt);
}

TEST_F(ImporterTest, OtherDomainsAreUnsupported) {
  onnx::ModelProto m = makeModel();
  auto* os = m.add_opset_import();
  os->set_domain("com.microsoft");
  os->set_version(1);
  addInput(m, "x", {2});
  addNode(m, "Relu", {"x"}, {"y"}, "ms_relu")->set_domain("com.microsoft");
  addOutput(m, "y");
  auto r = parseOnnxFile(writeModel(dir_, m));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kUnsupported);
  EXPECT_NE(r.status().message().find("com.microsoft::Relu"), std::string::npos) << r.status().message();
  EXPECT_NE(r.status().message().find("ms_relu"), std::string::npos);
}

TEST_F(ImporterTest, SubgraphAttributeIsUnsupported) {
  if (!haveOps({"Relu"})) GTEST_SKIP() << "ops not in the op table yet";
  onnx::ModelProto m = makeModel();
  addInput(m, "x", {2});
  auto* n = addNode(m, "Relu", {"x"}, {"y"}, "r");
  auto* a = n->add_attribute();
  a->set_name("body");
  a->set_type(onnx::AttributeProto::GRAPH);
  a->mutable_g()->set_name("sub");
  addOutput(m, "y");
  auto r = parseOnnxFile(writeModel(dir_, m));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kUnsupported);
  EXPECT_NE(r.status().message().find("subgraph"), std::string::npos) << r.status().message();
}

// ---- graph structure -------------------------------------------------------------------------------

TEST_F(ImporterTest, DynamicDimsBecomeMinusOne) {
  if (!haveOps({"Relu"})) GTEST_SKIP() << "ops not in the op table yet";
  onnx::ModelProto m = makeModel();
  addInput(m, "x", {-1, 3, -2});
  addNode(m, "Relu", {"x"}, {"y"});
  addOutput(m, "y");
  auto r = parseOnnxFile(writeModel(dir_, m));
  ASSERT_TRUE(r.ok()) << r.status().toString();
  auto ins = (*r)->inputs();
  ASSERT_EQ(ins.size(), 1u);
  EXPECT_EQ(ins[0].name, "x");
  EXPECT_EQ(ins[0].dtype, DataType::kFloat);
  EXPECT_EQ(ins[0].dims, (Dims{-1, 3, -1}));
  auto outs = (*r)->outputs();
  ASSERT_EQ(outs.size(), 1u);
  EXPECT_EQ(outs[0].name, "y");
}

TEST_F(ImporterTest, InitializerInputsAreConstants) {
  if (!haveOps({"Add"})) GTEST_SKIP() << "ops not in the op table yet";
  onnx::ModelProto m = addModel();
  addInput(m, "W", {2, 3});  // also an initializer: a constant, not an input
  auto r = parseOnnxFile(writeModel(dir_, m));
  ASSERT_TRUE(r.ok()) << r.status().toString();
  auto ins = (*r)->inputs();
  ASSERT_EQ(ins.size(), 1u);
  EXPECT_EQ(ins[0].name, "x");
  const ir::Value* w = (*r)->graph().findValue("W");
  ASSERT_NE(w, nullptr);
  ASSERT_TRUE(w->isConstant());
  EXPECT_EQ(w->constant->toFloatVector(), (std::vector<float>{1, 2, 3, 4, 5, 6}));
}

TEST_F(ImporterTest, ConstantNodesBecomeConstantValues) {
  if (!haveOps({"Add"})) GTEST_SKIP() << "ops not in the op table yet";
  onnx::ModelProto m = makeModel();
  addInput(m, "x", {3});
  auto* c = addNode(m, "Constant", {}, {"c"}, "const0");
  auto* a = c->add_attribute();
  a->set_name("value");
  a->set_type(onnx::AttributeProto::TENSOR);
  *a->mutable_t() = floatTensor("", {3}, {0.5f, 1.5f, 2.5f});
  auto* ci = addNode(m, "Constant", {}, {"ci"});
  a = ci->add_attribute();
  a->set_name("value_ints");
  a->set_type(onnx::AttributeProto::INTS);
  a->add_ints(7);
  a->add_ints(-8);
  auto* cf = addNode(m, "Constant", {}, {"cf"});
  a = cf->add_attribute();
  a->set_name("value_float");
  a->set_type(onnx::AttributeProto::FLOAT);
  a->set_f(2.25f);
  addNode(m, "Add", {"x", "c"}, {"y"}, "add");
  addNode(m, "Add", {"y", "cf"}, {"z"}, "add2");
  addOutput(m, "z");
  addOutput(m, "ci");  // a constant may be a graph output directly
  auto r = parseOnnxFile(writeModel(dir_, m));
  ASSERT_TRUE(r.ok()) << r.status().toString();
  const ir::Graph& g = (*r)->graph();
  for (const auto& n : g.nodes()) EXPECT_NE(n->op_type, "Constant");
  const ir::Value* v = g.findValue("c");
  ASSERT_TRUE(v && v->isConstant());
  EXPECT_EQ(v->constant->toFloatVector(), (std::vector<float>{0.5f, 1.5f, 2.5f}));
  v = g.findValue("ci");
  ASSERT_TRUE(v && v->isConstant());
  EXPECT_EQ(v->dtype, DataType::kInt64);
  EXPECT_EQ(v->constant->toInt64Vector(), (std::vector<int64_t>{7, -8}));
  v = g.findValue("cf");
  ASSERT_TRUE(v && v->isConstant());
  EXPECT_EQ(v->dims, Dims{});
  EXPECT_EQ(v->constant->getDouble(0), 2.25);
}

TEST_F(ImporterTest, NodesOutOfOrderAreSorted) {
  if (!haveOps({"Relu"})) GTEST_SKIP() << "ops not in the op table yet";
  onnx::ModelProto m = makeModel();
  addInput(m, "x", {2});
  addNode(m, "Relu", {"a"}, {"b"}, "second");
  addNode(m, "Relu", {"x"}, {"a"}, "first");
  addOutput(m, "b");
  auto r = parseOnnxFile(writeModel(dir_, m));
  ASSERT_TRUE(r.ok()) << r.status().toString();
  auto layers = (*r)->layers();
  ASSERT_EQ(layers.size(), 2u);
  EXPECT_EQ(layers[0].name, "first");
  EXPECT_EQ(layers[1].name, "second");
}

TEST_F(ImporterTest, UndefinedInputIsCorrupt) {
  if (!haveOps({"Relu"})) GTEST_SKIP() << "ops not in the op table yet";
  onnx::ModelProto m = makeModel();
  addInput(m, "x", {2});
  addNode(m, "Relu", {"ghost"}, {"y"}, "r");
  addOutput(m, "y");
  auto r = parseOnnxFile(writeModel(dir_, m));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kCorrupt);
  EXPECT_NE(r.status().message().find("ghost"), std::string::npos);
}

TEST_F(ImporterTest, DuplicateOutputIsCorrupt) {
  if (!haveOps({"Relu"})) GTEST_SKIP() << "ops not in the op table yet";
  onnx::ModelProto m = makeModel();
  addInput(m, "x", {2});
  addNode(m, "Relu", {"x"}, {"y"}, "r1");
  addNode(m, "Relu", {"x"}, {"y"}, "r2");
  addOutput(m, "y");
  auto r = parseOnnxFile(writeModel(dir_, m));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kCorrupt);
}

TEST_F(ImporterTest, SequenceInputIsUnsupported) {
  if (!haveOps({"Identity"})) GTEST_SKIP() << "ops not in the op table yet";
  onnx::ModelProto m = makeModel();
  auto* in = m.mutable_graph()->add_input();
  in->set_name("seq");
  in->mutable_type()->mutable_sequence_type()->mutable_elem_type()->mutable_tensor_type()->set_elem_type(1);
  addNode(m, "Identity", {"seq"}, {"y"});
  addOutput(m, "y");
  auto r = parseOnnxFile(writeModel(dir_, m));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kUnsupported);
  EXPECT_NE(r.status().message().find("sequence"), std::string::npos);
}

TEST_F(ImporterTest, StringInitializerIsUnsupported) {
  if (!haveOps({"Identity"})) GTEST_SKIP() << "ops not in the op table yet";
  onnx::ModelProto m = makeModel();
  auto* t = m.mutable_graph()->add_initializer();
  t->set_name("s");
  t->set_data_type(onnx::TensorProto::STRING);
  t->add_dims(1);
  t->add_string_data("hello");
  addNode(m, "Identity", {"s"}, {"y"});
  addOutput(m, "y");
  auto r = parseOnnxFile(writeModel(dir_, m));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kUnsupported);
  EXPECT_NE(r.status().message().find("string"), std::string::npos);
}

TEST_F(ImporterTest, WrongRawDataSizeIsCorrupt) {
  if (!haveOps({"Add"})) GTEST_SKIP() << "ops not in the op table yet";
  onnx::ModelProto m = addModel();
  auto* w = m.mutable_graph()->mutable_initializer(0);
  w->clear_float_data();
  w->set_raw_data(std::string(20, '\0'));  // 2x3 floats need 24 bytes
  auto r = parseOnnxFile(writeModel(dir_, m));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kCorrupt);
  EXPECT_NE(r.status().message().find("'W'"), std::string::npos) << r.status().message();
  EXPECT_NE(r.status().message().find("model.onnx"), std::string::npos) << r.status().message();
}

TEST_F(ImporterTest, NegativeDimsAreCorrupt) {
  if (!haveOps({"Add"})) GTEST_SKIP() << "ops not in the op table yet";
  onnx::ModelProto m = addModel();
  m.mutable_graph()->mutable_initializer(0)->set_dims(0, -2);
  auto r = parseOnnxFile(writeModel(dir_, m));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kCorrupt);
  m = addModel();
  m.mutable_graph()->mutable_input(0)->mutable_type()->mutable_tensor_type()->mutable_shape()->mutable_dim(1)->set_dim_value(-3);
  r = parseOnnxFile(writeModel(dir_, m));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kCorrupt);
}

// ---- external data -----------------------------------------------------------------------------------

// Makes W external: `location`, at byte 16 of a file holding 16 junk bytes then W's floats.
onnx::ModelProto externalModel(const std::string& location) {
  onnx::ModelProto m = addModel();
  auto* w = m.mutable_graph()->mutable_initializer(0);
  w->clear_float_data();
  w->set_data_location(onnx::TensorProto::EXTERNAL);
  auto add = [&](const char* k, const std::string& v) {
    auto* e = w->add_external_data();
    e->set_key(k);
    e->set_value(v);
  };
  add("location", location);
  add("offset", "16");
  add("length", "24");
  return m;
}

void writeWeights(const std::string& path) {
  std::vector<float> w = {10, 20, 30, 40, 50, 60};
  std::string bytes(16, 'j');
  bytes.append(reinterpret_cast<const char*>(w.data()), 24);
  writeBytes(path, bytes);
}

TEST_F(ImporterTest, ExternalDataInsideTheFolderLoads) {
  if (!haveOps({"Add"})) GTEST_SKIP() << "ops not in the op table yet";
  fs::create_directories(dir_ + "/weights");
  writeWeights(dir_ + "/weights/w.bin");
  for (const char* loc : {"weights/w.bin", "weights/../weights/w.bin", "./weights/w.bin"}) {
    auto r = parseOnnxFile(writeModel(dir_, externalModel(loc)));
    ASSERT_TRUE(r.ok()) << loc << ": " << r.status().toString();
    const ir::Value* w = (*r)->graph().findValue("W");
    ASSERT_TRUE(w && w->isConstant());
    EXPECT_EQ(w->constant->toFloatVector(), (std::vector<float>{10, 20, 30, 40, 50, 60}));
  }
}

TEST_F(ImporterTest, ExternalDataOutsideTheFolderIsRefused) {
  if (!haveOps({"Add"})) GTEST_SKIP() << "ops not in the op table yet";
  fs::create_directories(dir_ + "/model");
  writeWeights(dir_ + "/x.bin");  // exists, but outside the model's folder
  fs::create_symlink(dir_ + "/x.bin", dir_ + "/model/link.bin");
  for (const char* loc : {"../x.bin", "/etc/passwd", "link.bin", "sub/../../x.bin"}) {
    auto r = parseOnnxFile(writeModel(dir_ + "/model", externalModel(loc)));
    ASSERT_FALSE(r.ok()) << loc;
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument) << loc << ": " << r.status().toString();
    EXPECT_NE(r.status().message().find(loc), std::string::npos) << r.status().message();
  }
}

TEST_F(ImporterTest, ExternalDataMissingFileIsNotFound) {
  if (!haveOps({"Add"})) GTEST_SKIP() << "ops not in the op table yet";
  auto r = parseOnnxFile(writeModel(dir_, externalModel("missing.bin")));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kNotFound);
  EXPECT_NE(r.status().message().find("missing.bin"), std::string::npos) << r.status().message();
}

TEST_F(ImporterTest, ExternalDataTooShortIsCorrupt) {
  if (!haveOps({"Add"})) GTEST_SKIP() << "ops not in the op table yet";
  writeBytes(dir_ + "/short.bin", std::string(30, 'x'));  // needs 16 + 24 bytes
  auto r = parseOnnxFile(writeModel(dir_, externalModel("short.bin")));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kCorrupt) << r.status().toString();
}

TEST_F(ImporterTest, ExternalDataFromMemoryNeedsAFolder) {
  if (!haveOps({"Add"})) GTEST_SKIP() << "ops not in the op table yet";
  writeWeights(dir_ + "/w.bin");
  std::string bytes = externalModel("w.bin").SerializeAsString();
  auto r = parseOnnxBuffer(bytes.data(), bytes.size(), "");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  r = parseOnnxBuffer(bytes.data(), bytes.size(), dir_);
  ASSERT_TRUE(r.ok()) << r.status().toString();
}

// ---- TensorProto decoding -----------------------------------------------------------------------

TEST(TensorProtoTest, Int32DataHoldsSmallTypes) {
  struct Case {
    int onnx_type;
    DataType dtype;
  };
  const Case cases[] = {{onnx::TensorProto::INT8, DataType::kInt8},     {onnx::TensorProto::UINT8, DataType::kUInt8},
                        {onnx::TensorProto::INT16, DataType::kInt16},   {onnx::TensorProto::UINT16, DataType::kUInt16},
                        {onnx::TensorProto::INT32, DataType::kInt32},   {onnx::TensorProto::BOOL, DataType::kBool}};
  for (const Case& c : cases) {
    onnx::TensorProto p;
    p.set_data_type(c.onnx_type);
    p.add_dims(3);
    for (int v : {0, 1, 100}) p.add_int32_data(v);
    auto t = tensorFromProto(p, "", "t");
    ASSERT_TRUE(t.ok()) << t.status().toString();
    EXPECT_EQ(t->dtype(), c.dtype);
    EXPECT_EQ(t->toInt64Vector(), (std::vector<int64_t>{0, 1, c.dtype == DataType::kBool ? 1 : 100}));
  }
  // fp16 / bf16 keep their bit patterns in int32_data.
  onnx::TensorProto h;
  h.set_data_type(onnx::TensorProto::FLOAT16);
  h.add_dims(2);
  h.add_int32_data(floatToHalf(1.5f));
  h.add_int32_data(floatToHalf(-2.0f));
  auto t = tensorFromProto(h, "", "h");
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(t->toFloatVector(), (std::vector<float>{1.5f, -2.0f}));
  h.set_data_type(onnx::TensorProto::BFLOAT16);
  h.set_int32_data(0, floatToBFloat16(3.0f));
  h.set_int32_data(1, floatToBFloat16(-0.5f));
  t = tensorFromProto(h, "", "b");
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(t->dtype(), DataType::kBFloat16);
  EXPECT_EQ(t->toFloatVector(), (std::vector<float>{3.0f, -0.5f}));
}

TEST(TensorProtoTest, WideTypedFields) {
  onnx::TensorProto p;
  p.set_data_type(onnx::TensorProto::INT64);
  p.add_int64_data(-5);
  auto t = tensorFromProto(p, "", "i64");  // no dims: a scalar
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(t->dims(), Dims{});
  EXPECT_EQ(t->getInt(0), -5);

  p.Clear();
  p.set_data_type(onnx::TensorProto::DOUBLE);
  p.add_dims(2);
  p.add_double_data(0.25);
  p.add_double_data(-1e300);
  t = tensorFromProto(p, "", "f64");
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(t->as<double>()[1], -1e300);

  for (int type : {onnx::TensorProto::UINT32, onnx::TensorProto::UINT64}) {
    p.Clear();
    p.set_data_type(type);
    p.add_dims(2);
    p.add_uint64_data(4000000000u);
    p.add_uint64_data(3);
    t = tensorFromProto(p, "", "u");
    ASSERT_TRUE(t.ok());
    EXPECT_EQ(t->getDouble(0), 4000000000.0);
  }
}

TEST(TensorProtoTest, BadTensorsAreRefused) {
  onnx::TensorProto p = floatTensor("w", {2, 2}, {1, 2, 3});  // 3 values for 4 elements
  auto t = tensorFromProto(p, "", "initializer 'w'");
  ASSERT_FALSE(t.ok());
  EXPECT_EQ(t.status().code(), StatusCode::kCorrupt);
  EXPECT_NE(t.status().message().find("initializer 'w'"), std::string::npos);

  p = floatTensor("w", {2, 2}, {});  // no data at all
  EXPECT_EQ(tensorFromProto(p, "", "w").status().code(), StatusCode::kCorrupt);
  p = floatTensor("w", {0, 5}, {});  // empty tensors need none
  EXPECT_TRUE(tensorFromProto(p, "", "w").ok());
  p = floatTensor("w", {int64_t{1} << 40, int64_t{1} << 40}, {1});
  EXPECT_EQ(tensorFromProto(p, "", "w").status().code(), StatusCode::kCorrupt);
  p.Clear();
  p.set_data_type(0);
  EXPECT_EQ(tensorFromProto(p, "", "w").status().code(), StatusCode::kCorrupt);
  p.set_data_type(99);
  EXPECT_EQ(tensorFromProto(p, "", "w").status().code(), StatusCode::kCorrupt);
  p.set_data_type(onnx::TensorProto::COMPLEX64);
  EXPECT_EQ(tensorFromProto(p, "", "w").status().code(), StatusCode::kUnsupported);
}

TEST(TensorProtoTest, RoundTripEveryDtype) {
  const DataType types[] = {DataType::kFloat, DataType::kUInt8,  DataType::kInt8,   DataType::kUInt16, DataType::kInt16,
                            DataType::kInt32, DataType::kInt64,  DataType::kBool,   DataType::kHalf,   DataType::kDouble,
                            DataType::kUInt32, DataType::kUInt64, DataType::kBFloat16};
  for (DataType dt : types) {
    HostTensor t(dt, {2, 3});
    auto* bytes = static_cast<uint8_t*>(t.data());
    for (size_t i = 0; i < t.bytes(); ++i) bytes[i] = static_cast<uint8_t>(dt == DataType::kBool ? i % 2 : i * 7 + 1);
    onnx::TensorProto p;
    ASSERT_TRUE(tensorToProto(t, "t", &p).ok());
    auto back = tensorFromProto(p, "", "t");
    ASSERT_TRUE(back.ok()) << dataTypeName(dt) << ": " << back.status().toString();
    EXPECT_EQ(back->dtype(), dt);
    EXPECT_EQ(back->dims(), t.dims());
    EXPECT_EQ(std::memcmp(back->data(), t.data(), t.bytes()), 0) << dataTypeName(dt);
  }
}

}  // namespace
}  // namespace qrt
