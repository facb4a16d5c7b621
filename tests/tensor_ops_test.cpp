// Tensor-family ops through the public API (ONNX model -> parse -> build -> run), checked against
// expectations computed here by plain loops that follow the ONNX/numpy definitions directly:
// Slice clamping with negative steps, Reshape's 0 and -1, Pad's reflect/edge/constant (with
// crops), Gather with negative indices, and a Shape -> Gather -> Concat -> Reshape chain that the
// runtime resolves on the host.
#include <gtest/gtest.h>
#include <onnx/onnx_pb.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <limits>
#include <string>
#include <vector>

#include "core/status_macros.h"
#include "core/tensor.h"
#include "qrt/builder.h"
#include "qrt/engine.h"
#include "qrt/network.h"
#include "test_util.h"

namespace qrt {
namespace {

constexpr int64_t kMax = std::numeric_limits<int64_t>::max();
constexpr int64_t kMin = std::numeric_limits<int64_t>::min();

// ---- a tiny model builder over the ONNX protobuf API -----------------------------------------

class Model {
 public:
  explicit Model(int opset) {
    m_.set_ir_version(8);
    m_.set_producer_name("qrt tensor_ops_test");
    auto* os = m_.add_opset_import();
    os->set_domain("");
    os->set_version(opset);
    m_.mutable_graph()->set_name("g");
  }

  // A graph input; a dim of -1 is dynamic (a dim_param).
  void input(const std::string& name, const Dims& dims, int elem = onnx::TensorProto::FLOAT) {
    auto* vi = m_.mutable_graph()->add_input();
    vi->set_name(name);
    auto* tt = vi->mutable_type()->mutable_tensor_type();
    tt->set_elem_type(elem);
    auto* shape = tt->mutable_shape();
    for (int64_t d : dims) {
      if (d >= 0)
        shape->add_dim()->set_dim_value(d);
      else
        shape->add_dim()->set_dim_param("N");
    }
  }
  void output(const std::string& name, int elem = onnx::TensorProto::FLOAT) {
    auto* vi = m_.mutable_graph()->add_output();
    vi->set_name(name);
    vi->mutable_type()->mutable_tensor_type()->set_elem_type(elem);
  }
  void initInt64(const std::string& name, const std::vector<int64_t>& v, const Dims& dims) {
    onnx::TensorProto* t = newInit(name, onnx::TensorProto::INT64, dims);
    for (int64_t x : v) t->add_int64_data(x);
  }
  void initInt32(const std::string& name, const std::vector<int32_t>& v, const Dims& dims) {
    onnx::TensorProto* t = newInit(name, onnx::TensorProto::INT32, dims);
    for (int32_t x : v) t->add_int32_data(x);
  }
  void initFloat(const std::string& name, const std::vector<float>& v, const Dims& dims) {
    onnx::TensorProto* t = newInit(name, onnx::TensorProto::FLOAT, dims);
    for (float x : v) t->add_float_data(x);
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
  static void attr(onnx::NodeProto* n, const std::string& name, int64_t v) {
    auto* a = n->add_attribute();
    a->set_name(name);
    a->set_type(onnx::AttributeProto::INT);
    a->set_i(v);
  }
  static void attr(onnx::NodeProto* n, const std::string& name, const std::vector<int64_t>& v) {
    auto* a = n->add_attribute();
    a->set_name(name);
    a->set_type(onnx::AttributeProto::INTS);
    for (int64_t x : v) a->add_ints(x);
  }
  static void attr(onnx::NodeProto* n, const std::string& name, const std::string& v) {
    auto* a = n->add_attribute();
    a->set_name(name);
    a->set_type(onnx::AttributeProto::STRING);
    a->set_s(v);
  }
  static void attr(onnx::NodeProto* n, const std::string& name, float v) {
    auto* a = n->add_attribute();
    a->set_name(name);
    a->set_type(onnx::AttributeProto::FLOAT);
    a->set_f(v);
  }

  // Writes the model to a temporary file and builds an engine from it.
  Result<std::shared_ptr<Engine>> build() const {
    std::string dir = test::makeTempDir("tensor_ops");
    if (dir.empty()) return ioError("cannot make a temporary directory");
    std::string path = dir + "/model.onnx";
    {
      std::ofstream f(path, std::ios::binary);
      if (!m_.SerializeToOstream(&f)) return ioError("cannot write ", path);
    }
    auto net = parseOnnxFile(path);
    if (!net.ok()) return net.status();
    return buildEngine(**net, BuilderConfig{});
  }

 private:
  onnx::TensorProto* newInit(const std::string& name, int type, const Dims& dims) {
    onnx::TensorProto* t = m_.mutable_graph()->add_initializer();
    t->set_name(name);
    t->set_data_type(type);
    for (int64_t d : dims) t->add_dims(d);
    return t;
  }
  onnx::ModelProto m_;
};

// Runs a context over named inputs; returns the outputs in the engine's output order.
Result<std::vector<HostTensor>> runContext(ExecutionContext& ctx, const Engine& engine,
                                           const std::vector<std::pair<std::string, HostTensor>>& inputs) {
  for (const auto& [name, t] : inputs) {
    Status s = ctx.setInputShape(name, t.dims());
    if (!s.ok()) return s;
    s = ctx.setTensorAddress(name, const_cast<void*>(t.data()));
    if (!s.ok()) return s;
  }
  std::vector<HostTensor> outs;
  for (const TensorInfo& o : engine.outputs()) {
    auto dims = ctx.tensorShape(o.name);
    if (!dims.ok()) return dims.status();
    outs.emplace_back(o.dtype, *dims);
    Status s = ctx.setTensorAddress(o.name, outs.back().data());
    if (!s.ok()) return s;
  }
  Status s = ctx.enqueue();
  if (!s.ok()) return s;
  return outs;
}

Result<std::vector<HostTensor>> runModel(const Model& m,
                                         const std::vector<std::pair<std::string, HostTensor>>& inputs) {
  auto engine = m.build();
  if (!engine.ok()) return engine.status();
  auto ctx = (*engine)->createExecutionContext();
  if (!ctx.ok()) return ctx.status();
  return runContext(**ctx, **engine, inputs);
}

// A float tensor whose elements are 0, 1, 2, ... (so every value names its source index).
HostTensor iota(const Dims& dims) {
  std::vector<float> v(static_cast<size_t>(volume(dims)));
  for (size_t i = 0; i < v.size(); ++i) v[i] = static_cast<float>(i);
  return HostTensor::fromFloat(v, dims);
}

std::vector<float> values(const HostTensor& t) { return t.toFloatVector(); }

// ---- Slice ------------------------------------------------------------------------------------

// The input indices a slice visits along one axis, following numpy (CPython's slice.indices),
// which the ONNX spec describes: negative bounds count from the end, then clamp to [0, dim]
// for positive steps and to [-1, dim - 1] for negative ones; then step from start while short of end.
std::vector<int64_t> sliceIndices(int64_t dim, int64_t start, int64_t end, int64_t step) {
  const int64_t lower = step > 0 ? 0 : -1, upper = step > 0 ? dim : dim - 1;
  auto fix = [&](int64_t v) {
    if (v < 0) {
      v += dim;
      if (v < lower) v = lower;
    } else if (v > upper) {
      v = upper;
    }
    return v;
  };
  start = fix(start);
  end = fix(end);
  std::vector<int64_t> idx;
  for (int64_t i = start; step > 0 ? i < end : i > end; i += step) idx.push_back(i);
  return idx;
}

struct SliceCase {
  std::vector<int64_t> starts, ends, axes, steps;
};

// Slices iota(4 x 10) through a model and compares with the plain-loop expectation.
void checkSlice(const SliceCase& c) {
  const Dims in_dims{4, 10};
  Model m(13);
  m.input("x", in_dims);
  const int64_t n = static_cast<int64_t>(c.starts.size());
  m.initInt64("starts", c.starts, {n});
  m.initInt64("ends", c.ends, {n});
  m.initInt64("axes", c.axes, {n});
  m.initInt64("steps", c.steps, {n});
  m.node("Slice", {"x", "starts", "ends", "axes", "steps"}, {"y"});
  m.output("y");

  std::vector<std::vector<int64_t>> per_axis(2);
  for (int64_t d = 0; d < 2; ++d)
    for (int64_t i = 0; i < in_dims[d]; ++i) per_axis[d].push_back(i);
  for (int64_t k = 0; k < n; ++k) {
    int64_t axis = c.axes[k] < 0 ? c.axes[k] + 2 : c.axes[k];
    per_axis[axis] = sliceIndices(in_dims[axis], c.starts[k], c.ends[k], c.steps[k]);
  }
  std::vector<float> want;
  for (int64_t r : per_axis[0])
    for (int64_t col : per_axis[1]) want.push_back(static_cast<float>(r * in_dims[1] + col));

  auto out = runModel(m, {{"x", iota(in_dims)}});
  ASSERT_TRUE(out.ok()) << out.status().toString();
  const HostTensor& y = (*out)[0];
  EXPECT_EQ(y.dims(), (Dims{static_cast<int64_t>(per_axis[0].size()), static_cast<int64_t>(per_axis[1].size())}));
  EXPECT_EQ(values(y), want);
}

TEST(TensorOps, SliceClampsWithNegativeSteps) {
  const SliceCase cases[] = {
      {{9}, {kMin}, {1}, {-1}},     // whole axis reversed via the INT64_MIN sentinel
      {{kMax}, {kMin}, {1}, {-2}},  // INT64_MAX start clamps to the last element
      {{20}, {-20}, {-1}, {-3}},    // both bounds out of range
      {{-1}, {-11}, {1}, {-1}},     // end of -11 on a 10-axis is "before the first"
      {{-1}, {-10}, {1}, {-1}},     // ... while -10 is the first element, excluded
      {{5}, {5}, {1}, {-1}},        // empty
      {{0}, {10}, {1}, {-1}},       // empty: start below end with a negative step
      {{8}, {1}, {1}, {-3}},
      {{-100}, {100}, {1}, {3}},                    // positive step, both clamped
      {{-3}, {kMax}, {-1}, {1}},                    // negative axis, INT64_MAX end
      {{3}, {-2}, {1}, {-1}},                       // empty: 3 .. 8 downwards
      {{3, kMax}, {kMin, -100}, {0, 1}, {-2, -4}},  // both axes reversed
      {{kMin, 2}, {kMax, 7}, {0, -1}, {1, 2}},
  };
  for (const SliceCase& c : cases) {
    SCOPED_TRACE(::testing::Message() << "starts " << c.starts[0] << " ends " << c.ends[0] << " step " << c.steps[0]);
    checkSlice(c);
  }
}

// Slice-1..9: starts/ends/axes are attributes and there are no steps.
TEST(TensorOps, SliceFromAttributesClamps) {
  Model m(9);
  m.input("x", {4, 10});
  auto* n = m.node("Slice", {"x"}, {"y"});
  Model::attr(n, "starts", std::vector<int64_t>{-100, 7});
  Model::attr(n, "ends", std::vector<int64_t>{-1, 1000});
  Model::attr(n, "axes", std::vector<int64_t>{0, 1});
  m.output("y");
  std::vector<float> want;
  for (int64_t r : sliceIndices(4, -100, -1, 1))
    for (int64_t c : sliceIndices(10, 7, 1000, 1)) want.push_back(static_cast<float>(r * 10 + c));
  auto out = runModel(m, {{"x", iota({4, 10})}});
  ASSERT_TRUE(out.ok()) << out.status().toString();
  EXPECT_EQ((*out)[0].dims(), (Dims{3, 3}));
  EXPECT_EQ(values((*out)[0]), want);
}

// ---- Reshape ----------------------------------------------------------------------------------

// The dims Reshape must produce: 0 copies the input dim (unless allowzero), -1 takes the rest.
Dims expectedReshape(const Dims& in, const std::vector<int64_t>& shape, bool allowzero) {
  int64_t total = 1;
  for (int64_t d : in) total *= d;
  Dims out;
  int64_t known = 1, infer_at = -1;
  for (size_t i = 0; i < shape.size(); ++i) {
    int64_t d = shape[i];
    if (d == 0 && !allowzero) d = in[i];
    if (d == -1)
      infer_at = static_cast<int64_t>(i);
    else
      known *= d;
    out.push_back(d);
  }
  if (infer_at >= 0) out[infer_at] = total / known;
  return out;
}

TEST(TensorOps, ReshapeZeroAndMinusOne) {
  struct Case {
    Dims in;
    std::vector<int64_t> shape;
    bool allowzero;
  };
  const Case cases[] = {
      {{2, 3, 4}, {0, -1}, false},    {{2, 3, 4}, {-1, 0}, false},    {{2, 3, 4}, {0, 0, -1}, false},
      {{2, 3, 4}, {4, 0, -1}, false}, {{2, 3, 4}, {-1}, false},       {{2, 3, 4}, {0, 4, 1, 3}, false},
      {{0, 3, 4}, {3, 4, 0}, true},   {{2, 3, 4}, {1, -1, 0}, false},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(::testing::Message() << "in " << dimsToString(c.in) << " shape " << ::testing::PrintToString(c.shape));
    Model m(14);
    m.input("x", c.in);
    m.initInt64("shape", c.shape, {static_cast<int64_t>(c.shape.size())});
    auto* n = m.node("Reshape", {"x", "shape"}, {"y"});
    if (c.allowzero) Model::attr(n, "allowzero", int64_t{1});
    m.output("y");
    auto out = runModel(m, {{"x", iota(c.in)}});
    ASSERT_TRUE(out.ok()) << out.status().toString();
    EXPECT_EQ((*out)[0].dims(), expectedReshape(c.in, c.shape, c.allowzero));
    EXPECT_EQ(values((*out)[0]), values(iota(c.in)));  // reshape keeps the element order
  }
}

// A dynamic batch copied through 0 cancels out, so the -1 is known at build time.
TEST(TensorOps, ReshapeDynamicBatch) {
  Model m(13);
  m.input("x", {-1, 3, 4});
  m.initInt64("shape", {0, -1}, {2});
  m.node("Reshape", {"x", "shape"}, {"y"});
  m.output("y");
  auto engine = m.build();
  ASSERT_TRUE(engine.ok()) << engine.status().toString();
  EXPECT_EQ((*engine)->outputs()[0].dims, (Dims{-1, 12}));
  auto ctx = (*engine)->createExecutionContext();
  ASSERT_TRUE(ctx.ok());
  for (int64_t batch : {1, 5, 2}) {
    auto out = runContext(**ctx, **engine, {{"x", iota({batch, 3, 4})}});
    ASSERT_TRUE(out.ok()) << out.status().toString();
    EXPECT_EQ((*out)[0].dims(), (Dims{batch, 12}));
    EXPECT_EQ(values((*out)[0]), values(iota({batch, 3, 4})));
  }
}

TEST(TensorOps, ReshapeRejectsBadShapes) {
  for (const std::vector<int64_t>& shape : std::vector<std::vector<int64_t>>{{5, -1}, {-1, -1}, {7, 0, 0, 0}}) {
    Model m(13);
    m.input("x", {2, 3, 4});
    m.initInt64("shape", shape, {static_cast<int64_t>(shape.size())});
    m.node("Reshape", {"x", "shape"}, {"y"});
    m.output("y");
    EXPECT_FALSE(m.build().ok()) << ::testing::PrintToString(shape);
  }
}

// ---- Pad --------------------------------------------------------------------------------------

// The source index of output index o along an axis of n elements padded by `before`, for numpy's
// "reflect" (mirror without repeating the edge) and "edge"; -1 for "constant" outside the input.
int64_t padSource(const std::string& mode, int64_t o, int64_t before, int64_t n) {
  int64_t j = o - before;
  if (j >= 0 && j < n) return j;
  if (mode == "edge") return j < 0 ? 0 : n - 1;
  if (mode == "reflect") {
    while (j < 0 || j >= n) j = j < 0 ? -j : 2 * (n - 1) - j;
    return j;
  }
  return -1;
}

// Pads iota(in) (rank 2) with pads [b0, b1, e0, e1] and compares with loops over padSource.
void checkPad2d(int opset, const std::string& mode, const Dims& in, const std::vector<int64_t>& pads, float value) {
  SCOPED_TRACE(::testing::Message() << "opset " << opset << " mode " << mode << " pads "
                                    << ::testing::PrintToString(pads));
  Model m(opset);
  m.input("x", in);
  onnx::NodeProto* n;
  if (opset < 11) {
    n = m.node("Pad", {"x"}, {"y"});
    Model::attr(n, "pads", pads);
    Model::attr(n, "value", value);
  } else {
    m.initInt64("pads", pads, {4});
    m.initFloat("value", {value}, {});
    n = m.node("Pad", {"x", "pads", "value"}, {"y"});
  }
  Model::attr(n, "mode", mode);
  m.output("y");

  // Negative pads crop first: pad the kept part [lo, hi) of each axis.
  Dims out{in[0] + pads[0] + pads[2], in[1] + pads[1] + pads[3]};
  int64_t lo[2], kept[2];
  for (int d = 0; d < 2; ++d) {
    lo[d] = pads[d] < 0 ? -pads[d] : 0;
    kept[d] = in[d] - lo[d] - (pads[d + 2] < 0 ? -pads[d + 2] : 0);
  }
  std::vector<float> want;
  for (int64_t r = 0; r < out[0]; ++r)
    for (int64_t c = 0; c < out[1]; ++c) {
      int64_t sr = padSource(mode, r, std::max<int64_t>(pads[0], 0), kept[0]);
      int64_t sc = padSource(mode, c, std::max<int64_t>(pads[1], 0), kept[1]);
      want.push_back(sr < 0 || sc < 0 ? value : static_cast<float>((sr + lo[0]) * in[1] + sc + lo[1]));
    }

  auto res = runModel(m, {{"x", iota(in)}});
  ASSERT_TRUE(res.ok()) << res.status().toString();
  EXPECT_EQ((*res)[0].dims(), out);
  EXPECT_EQ(values((*res)[0]), want);
}

TEST(TensorOps, PadReflectAndEdge) {
  for (int opset : {10, 13}) {
    for (const char* mode : {"reflect", "edge"}) {
      checkPad2d(opset, mode, {3, 4}, {1, 2, 2, 3}, 0.f);
      checkPad2d(opset, mode, {3, 4}, {0, 3, 0, 0}, 0.f);
      checkPad2d(opset, mode, {1, 5}, {0, 4, 0, 4}, 0.f);  // widest reflect an axis of 5 allows
    }
    // Reflect and edge read from what negative pads leave.
    checkPad2d(opset, "reflect", {4, 5}, {-1, 2, 1, -1}, 0.f);
    checkPad2d(opset, "edge", {4, 5}, {-1, 2, 1, -1}, 0.f);
  }
}

TEST(TensorOps, PadConstantWithCrops) {
  for (int opset : {10, 11, 13}) {
    checkPad2d(opset, "constant", {3, 4}, {1, 2, 2, 3}, 7.5f);
    checkPad2d(opset, "constant", {3, 4}, {-1, 2, 1, -3}, -2.f);
    checkPad2d(opset, "constant", {3, 4}, {0, 0, 0, 0}, 1.f);
  }
}

// Opset 18: pads over the axes named by the `axes` input only (negative axes count from the end).
TEST(TensorOps, PadAxesInputOpset18) {
  Model m(18);
  m.input("x", {3, 4});
  m.initInt64("pads", {1, 2}, {2});
  m.initInt64("axes", {-1}, {1});
  auto* n = m.node("Pad", {"x", "pads", "", "axes"}, {"y"});
  Model::attr(n, "mode", std::string("edge"));
  m.output("y");
  std::vector<float> want;
  for (int64_t r = 0; r < 3; ++r)
    for (int64_t c = 0; c < 7; ++c) want.push_back(static_cast<float>(r * 4 + padSource("edge", c, 1, 4)));
  auto out = runModel(m, {{"x", iota({3, 4})}});
  ASSERT_TRUE(out.ok()) << out.status().toString();
  EXPECT_EQ((*out)[0].dims(), (Dims{3, 7}));
  EXPECT_EQ(values((*out)[0]), want);
}

// ---- Split ------------------------------------------------------------------------------------

// Opset 18's num_outputs splits unevenly: ceil(7 / 3) = 3 per part, the last gets the rest.
TEST(TensorOps, SplitNumOutputsUneven) {
  Model m(18);
  m.input("x", {2, 7});
  auto* n = m.node("Split", {"x"}, {"a", "b", "c"});
  Model::attr(n, "axis", int64_t{-1});
  Model::attr(n, "num_outputs", int64_t{3});
  for (const char* o : {"a", "b", "c"}) m.output(o);
  auto out = runModel(m, {{"x", iota({2, 7})}});
  ASSERT_TRUE(out.ok()) << out.status().toString();
  const int64_t begin[] = {0, 3, 6}, size[] = {3, 3, 1};
  for (int k = 0; k < 3; ++k) {
    std::vector<float> want;
    for (int64_t r = 0; r < 2; ++r)
      for (int64_t c = begin[k]; c < begin[k] + size[k]; ++c) want.push_back(static_cast<float>(r * 7 + c));
    EXPECT_EQ((*out)[k].dims(), (Dims{2, size[k]}));
    EXPECT_EQ(values((*out)[k]), want);
  }
}

// ---- Gather -----------------------------------------------------------------------------------

TEST(TensorOps, GatherNegativeIndicesInt64) {
  const Dims data_dims{5, 4};
  for (int64_t axis : {0, 1, -1, -2}) {
    SCOPED_TRACE(::testing::Message() << "axis " << axis);
    const int64_t a = axis < 0 ? axis + 2 : axis;
    const std::vector<int64_t> in_range{-1, 0, 2, -data_dims[a]};  // -dim is the first element
    Model m(13);
    m.input("x", data_dims);
    m.initInt64("idx", in_range, {static_cast<int64_t>(in_range.size()) / 2, 2});
    auto* n = m.node("Gather", {"x", "idx"}, {"y"});
    Model::attr(n, "axis", axis);
    m.output("y");

    // out[i, j, k] = data[idx[j,k], :] (axis 0) or data[:, idx[j,k]] (axis 1).
    std::vector<float> want;
    Dims out_dims;
    const int64_t rows = static_cast<int64_t>(in_range.size()) / 2;
    if (a == 0) {
      out_dims = {rows, 2, data_dims[1]};
      for (int64_t i : in_range)
        for (int64_t c = 0; c < data_dims[1]; ++c)
          want.push_back(static_cast<float>((i < 0 ? i + data_dims[0] : i) * data_dims[1] + c));
    } else {
      out_dims = {data_dims[0], rows, 2};
      for (int64_t r = 0; r < data_dims[0]; ++r)
        for (int64_t i : in_range)
          want.push_back(static_cast<float>(r * data_dims[1] + (i < 0 ? i + data_dims[1] : i)));
    }
    auto out = runModel(m, {{"x", iota(data_dims)}});
    ASSERT_TRUE(out.ok()) << out.status().toString();
    EXPECT_EQ((*out)[0].dims(), out_dims);
    EXPECT_EQ(values((*out)[0]), want);
  }
}

TEST(TensorOps, GatherInt32IndicesFromInput) {
  Model m(13);
  m.input("x", {3, 4, 2});
  m.input("idx", {3}, onnx::TensorProto::INT32);
  auto* n = m.node("Gather", {"x", "idx"}, {"y"});
  Model::attr(n, "axis", int64_t{1});
  m.output("y");
  HostTensor idx(DataType::kInt32, {3});
  const int32_t iv[3] = {-1, -4, 2};
  std::memcpy(idx.data(), iv, sizeof iv);
  std::vector<float> want;
  for (int64_t a = 0; a < 3; ++a)
    for (int32_t i : iv)
      for (int64_t c = 0; c < 2; ++c) want.push_back(static_cast<float>(a * 8 + (i < 0 ? i + 4 : i) * 2 + c));
  auto out = runModel(m, {{"x", iota({3, 4, 2})}, {"idx", idx}});
  ASSERT_TRUE(out.ok()) << out.status().toString();
  EXPECT_EQ((*out)[0].dims(), (Dims{3, 3, 2}));
  EXPECT_EQ(values((*out)[0]), want);

  // An index outside [-4, 4) is an error at run time, not a wild read.
  const int32_t bad[3] = {0, 4, 1};
  std::memcpy(idx.data(), bad, sizeof bad);
  EXPECT_FALSE(runModel(m, {{"x", iota({3, 4, 2})}, {"idx", idx}}).ok());
}

// ---- shape computations on the host -----------------------------------------------------------

// y = Reshape(x, Concat(Unsqueeze(Gather(Shape(x), 0)), [-1])): the batch is read from x's shape
// at reshape time, through a rank-0 Gather on int64.
TEST(TensorOps, ShapeChainResolvedOnHost) {
  Model m(13);
  m.input("x", {-1, 3, 4});
  m.initInt64("zero", {0}, {});
  m.initInt64("axes0", {0}, {1});
  m.initInt64("minus1", {-1}, {1});
  m.node("Shape", {"x"}, {"s"});
  m.node("Gather", {"s", "zero"}, {"n"});
  m.node("Unsqueeze", {"n", "axes0"}, {"n1"});
  Model::attr(m.node("Concat", {"n1", "minus1"}, {"target"}), "axis", int64_t{0});
  m.node("Reshape", {"x", "target"}, {"y"});
  m.node("Shape", {"y"}, {"ys"});
  m.output("y");
  m.output("ys", onnx::TensorProto::INT64);
  auto engine = m.build();
  ASSERT_TRUE(engine.ok()) << engine.status().toString();
  auto ctx = (*engine)->createExecutionContext();
  ASSERT_TRUE(ctx.ok());
  for (int64_t batch : {2, 7}) {
    auto out = runContext(**ctx, **engine, {{"x", iota({batch, 3, 4})}});
    ASSERT_TRUE(out.ok()) << out.status().toString();
    EXPECT_EQ((*out)[0].dims(), (Dims{batch, 12}));
    EXPECT_EQ(values((*out)[0]), values(iota({batch, 3, 4})));
    EXPECT_EQ((*out)[1].toInt64Vector(), (std::vector<int64_t>{batch, 12}));
  }
}

}  // namespace
}  // namespace qrt
