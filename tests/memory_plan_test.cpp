// In-place outputs (memory_plan.h, Kernel::inplaceInput): the planner's rule in isolation, then
// models whose FusedConv residual may or may not be overwritten by the output, built on the cpu
// backend and with QRT_BACKEND=reference (the oracle), compared to |cpu - ref| <= 1e-5 * (|ref| + 1).
// The addresses the execution context gives each value (seen through its observer) say whether the
// output took the residual's buffer; each case asserts that it did exactly when allowed.
#include <gtest/gtest.h>
#include <onnx/onnx_pb.h>

#include <cmath>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "core/status_macros.h"
#include "model_builder.h"
#include "qrt/qrt.h"
#include "runtime/context_access.h"
#include "runtime/memory_plan.h"

namespace qrt {
namespace {

bool disjoint(const MemoryPlan& p, const std::vector<BufferUse>& u, size_t i, size_t j) {
  return p.offsets[i] + u[i].bytes <= p.offsets[j] || p.offsets[j] + u[j].bytes <= p.offsets[i];
}

TEST(MemoryPlan, OutputTakesTheBufferOfItsLastReadInput) {
  // Step 0 writes A; step 1 reads A last and writes B over it; step 2 reads B.
  std::vector<BufferUse> uses = {{4096, 0, 1}, {4096, 1, 2, 0}};
  MemoryPlan p = planMemory(uses);
  EXPECT_EQ(p.offsets[0], p.offsets[1]);
  EXPECT_EQ(p.shared[1], 0);
  EXPECT_EQ(p.shared[0], -1);
  EXPECT_EQ(p.total, 4096u);
}

TEST(MemoryPlan, NoSharingWhenTheInputIsReadLater) {
  std::vector<BufferUse> uses = {{4096, 0, 2}, {4096, 1, 2, 0}};  // A is read again at step 2
  MemoryPlan p = planMemory(uses);
  EXPECT_EQ(p.shared[1], -1);
  EXPECT_TRUE(disjoint(p, uses, 0, 1));
}

TEST(MemoryPlan, NoSharingWhenSizesDiffer) {
  std::vector<BufferUse> uses = {{4096, 0, 1}, {4160, 1, 2, 0}};
  MemoryPlan p = planMemory(uses);
  EXPECT_EQ(p.shared[1], -1);
  EXPECT_TRUE(disjoint(p, uses, 0, 1));
  uses = {{4160, 0, 1}, {4096, 1, 2, 0}};  // smaller output: still separate (the rule is equal size)
  p = planMemory(uses);
  EXPECT_EQ(p.shared[1], -1);
  EXPECT_TRUE(disjoint(p, uses, 0, 1));
}

TEST(MemoryPlan, OneTakerPerBufferAndChains) {
  // B and C both offer to take A (two outputs of step 1): only the first does.
  std::vector<BufferUse> uses = {{256, 0, 1}, {256, 1, 3, 0}, {256, 1, 3, 0}};
  MemoryPlan p = planMemory(uses);
  EXPECT_EQ(p.shared[1], 0);
  EXPECT_EQ(p.shared[2], -1);
  EXPECT_EQ(p.offsets[1], p.offsets[0]);
  EXPECT_TRUE(disjoint(p, uses, 1, 2));
  // A chain A -> B -> C (ResNet's residual stream): one buffer, and D alive meanwhile elsewhere.
  uses = {{512, 0, 1}, {512, 1, 2, 0}, {512, 2, 4, 1}, {512, 0, 4}};
  p = planMemory(uses);
  EXPECT_EQ(p.offsets[0], p.offsets[1]);
  EXPECT_EQ(p.offsets[1], p.offsets[2]);
  EXPECT_TRUE(disjoint(p, uses, 0, 3));
  EXPECT_EQ(p.total, 1024u);
  // Invalid offers (itself, out of range) are ignored.
  uses = {{64, 0, 1, 0}, {64, 1, 2, 7}};
  p = planMemory(uses);
  EXPECT_EQ(p.shared[0], -1);
  EXPECT_EQ(p.shared[1], -1);
}

// Random lifetimes and offers: buffers alive at the same step never overlap unless one took the
// other's bytes (and then the taken one's last read is the taker's first write).
TEST(MemoryPlan, RandomWithOffers) {
  std::mt19937 rng(7);
  for (int trial = 0; trial < 50; ++trial) {
    std::vector<BufferUse> uses;
    for (int i = 0; i < 40; ++i) {
      int a = static_cast<int>(rng() % 30), len = static_cast<int>(rng() % 6);
      BufferUse u{static_cast<size_t>(64 * (1 + rng() % 4)), a, a + len};
      if (i > 0 && rng() % 2) u.share = static_cast<int>(rng() % i);
      uses.push_back(u);
    }
    // Make some offers grantable: same size and a last read at the taker's first write.
    for (size_t i = 0; i < uses.size(); ++i)
      if (uses[i].share >= 0 && rng() % 2) {
        BufferUse& v = uses[uses[i].share];
        if (v.first < uses[i].first) v.last = uses[i].first, v.bytes = uses[i].bytes;
      }
    MemoryPlan p = planMemory(uses);
    // Groups of buffers that share bytes.
    std::vector<size_t> group(uses.size());
    for (size_t i = 0; i < uses.size(); ++i) group[i] = p.shared[i] >= 0 ? group[p.shared[i]] : i;
    int granted = 0;
    for (size_t i = 0; i < uses.size(); ++i) {
      EXPECT_EQ(p.offsets[i] % 64, 0u);
      EXPECT_LE(p.offsets[i] + uses[i].bytes, p.total);
      if (p.shared[i] >= 0) {
        ++granted;
        const BufferUse& v = uses[p.shared[i]];
        EXPECT_EQ(v.last, uses[i].first);
        EXPECT_EQ(v.bytes, uses[i].bytes);
        EXPECT_EQ(p.offsets[i], p.offsets[p.shared[i]]);
      }
      for (size_t j = 0; j < i; ++j) {
        bool live_together = !(uses[i].last < uses[j].first || uses[j].last < uses[i].first);
        if (live_together && group[i] != group[j]) EXPECT_TRUE(disjoint(p, uses, i, j)) << trial << ": " << i << " " << j;
      }
    }
    if (trial == 0) EXPECT_GT(granted, 0);
  }
}

#ifdef QRT_HAVE_DNNL

using test::BackendEnv;
using test::randomTensor;
using test::Tensor;

// A small ONNX graph: one random FP32 graph input, random initializers.
class Net {
 public:
  explicit Net(uint32_t seed) : seed_(seed) {
    model_.set_ir_version(8);
    model_.add_opset_import()->set_version(17);
    model_.mutable_graph()->set_name("inplace");
  }
  std::string input(const std::string& name, const Dims& dims) {
    auto* tt = model_.mutable_graph()->add_input();
    tt->set_name(name);
    auto* t = tt->mutable_type()->mutable_tensor_type();
    t->set_elem_type(onnx::TensorProto::FLOAT);
    for (int64_t d : dims) t->mutable_shape()->add_dim()->set_dim_value(d);
    feeds_.push_back(randomTensor(name, dims, ++seed_));
    return name;
  }
  std::string constant(const Dims& dims, float scale) {
    Tensor t = randomTensor("c" + std::to_string(++count_), dims, ++seed_);
    for (float& v : t.values) v *= scale;
    auto* init = model_.mutable_graph()->add_initializer();
    init->set_name(t.name);
    init->set_data_type(onnx::TensorProto::FLOAT);
    for (int64_t d : dims) init->add_dims(d);
    init->set_raw_data(t.values.data(), t.values.size() * sizeof(float));
    return t.name;
  }
  std::string op(const std::string& type, const std::vector<std::string>& inputs) {
    auto* n = model_.mutable_graph()->add_node();
    n->set_op_type(type);
    n->set_name(type + "_" + std::to_string(++count_));
    for (const std::string& i : inputs) n->add_input(i);
    std::string out = "t" + std::to_string(count_);
    n->add_output(out);
    last_ = n;
    return out;
  }
  // Conv k x k, stride 1, same padding, with a bias.
  std::string conv(const std::string& x, int64_t cin, int64_t cout, int64_t k) {
    std::string w = constant({cout, cin, k, k}, 1.f / std::sqrt(static_cast<float>(cin * k * k)));
    std::string b = constant({cout}, 1.f);
    std::string y = op("Conv", {x, w, b});
    auto ints = [&](const char* name, std::vector<int64_t> v) {
      auto* a = last_->add_attribute();
      a->set_name(name);
      a->set_type(onnx::AttributeProto::INTS);
      for (int64_t i : v) a->add_ints(i);
    };
    ints("kernel_shape", {k, k});
    ints("pads", {k / 2, k / 2, k / 2, k / 2});
    return y;
  }
  std::string relu(const std::string& x) { return op("Relu", {x}); }
  void output(const std::string& name) {
    auto* o = model_.mutable_graph()->add_output();
    o->set_name(name);
    o->mutable_type()->mutable_tensor_type()->set_elem_type(onnx::TensorProto::FLOAT);
  }
  Result<std::shared_ptr<Engine>> build(const char* backend) const { return test::buildModel(model_, backend); }
  const std::vector<Tensor>& feeds() const { return feeds_; }

 private:
  onnx::ModelProto model_;
  std::vector<Tensor> feeds_;
  onnx::NodeProto* last_ = nullptr;
  uint32_t seed_;
  int count_ = 0;
};

struct Run {
  std::map<std::string, std::vector<float>> outputs;
  std::map<std::string, const void*> address;  // every value's buffer in the (second) run
  std::vector<float> input_after;              // the graph input's buffer after the runs
};

// Runs a fresh context of `engine` twice (outputs poisoned with NaN before each run).
Result<Run> runTwice(const Engine& engine, const std::vector<Tensor>& feeds) {
  QRT_ASSIGN_OR_RETURN(std::unique_ptr<ExecutionContext> ctx, engine.createExecutionContext());
  Run r;
  internal::ContextAccess::setObserver(*ctx, [&r](const ir::Value& v, const TensorView& view) {
    r.address[v.name] = view.data;
  });
  std::vector<float> in = feeds.at(0).values;
  QRT_RETURN_IF_ERROR(ctx->setTensorAddress(feeds[0].name, in.data()));
  for (int pass = 0; pass < 2; ++pass) {
    for (const TensorInfo& o : engine.outputs()) {
      QRT_ASSIGN_OR_RETURN(Dims d, ctx->tensorShape(o.name));
      r.outputs[o.name].assign(static_cast<size_t>(volume(d)), std::nanf(""));
      QRT_RETURN_IF_ERROR(ctx->setTensorAddress(o.name, r.outputs[o.name].data()));
    }
    QRT_RETURN_IF_ERROR(ctx->enqueue());
  }
  r.input_after = in;
  return r;
}

// Builds on both backends, compares every output and the graph input (which must be left as it
// was), and returns, for each cpu FusedConv layer with a residual, by the residual's name, whether
// its output took the residual's buffer (same address).
std::map<std::string, bool> compareInplace(const Net& net, int expect_residual_convs) {
  auto ref_engine = net.build("reference");
  EXPECT_TRUE(ref_engine.ok()) << ref_engine.status().toString();
  auto cpu_engine = net.build(nullptr);
  EXPECT_TRUE(cpu_engine.ok()) << cpu_engine.status().toString();
  if (!ref_engine.ok() || !cpu_engine.ok()) return {};
  auto ref = runTwice(**ref_engine, net.feeds());
  EXPECT_TRUE(ref.ok()) << ref.status().toString();
  auto cpu = runTwice(**cpu_engine, net.feeds());
  EXPECT_TRUE(cpu.ok()) << cpu.status().toString();
  if (!ref.ok() || !cpu.ok()) return {};
  EXPECT_EQ(cpu->input_after, net.feeds()[0].values) << "the graph input was written over";
  for (const auto& [name, r] : ref->outputs) {
    const std::vector<float>& c = cpu->outputs[name];
    EXPECT_EQ(c.size(), r.size()) << name;
    int bad = 0;
    for (size_t i = 0; i < r.size() && i < c.size(); ++i)
      if (!(std::fabs(c[i] - r[i]) <= 1e-5 * (std::fabs(r[i]) + 1)) && bad++ == 0)
        ADD_FAILURE() << "output " << name << "[" << i << "]: cpu " << c[i] << ", reference " << r[i];
    EXPECT_EQ(bad, 0) << name;
  }
  int residual_convs = 0;
  std::map<std::string, bool> inplace;
  for (const LayerInfo& l : (*cpu_engine)->layers()) {
    if (l.op != "FusedConv" || l.inputs.size() < 4 || l.inputs[3].empty()) continue;
    EXPECT_EQ(l.backend, "cpu") << l.name;
    ++residual_convs;
    const void* z = cpu->address.at(l.inputs[3]);
    const void* y = cpu->address.at(l.outputs[0]);
    inplace[l.inputs[3]] = z == y;
  }
  EXPECT_EQ(residual_convs, expect_residual_convs);
  return inplace;
}

// Two ResNet basic blocks between convs: each residual's last reader is its FusedConv, so both
// outputs take the residual's buffer.
TEST(InplaceResidual, BasicBlocks) {
  for (int64_t batch : {1, 2}) {
    Net net(11);
    std::string x = net.input("X", {batch, 16, 12, 12});
    std::string a = net.relu(net.conv(x, 16, 16, 3));
    std::string y_first = net.relu(net.op("Add", {net.conv(net.relu(net.conv(a, 16, 16, 3)), 16, 16, 3), a}));
    std::string y = net.relu(net.op("Add", {net.conv(net.relu(net.conv(y_first, 16, 16, 1)), 16, 16, 3), y_first}));
    net.output(net.conv(y, 16, 8, 1));
    SCOPED_TRACE(batch);
    std::map<std::string, bool> expect = {{a, true}, {y_first, true}};
    EXPECT_EQ(compareInplace(net, 2), expect);
  }
}

// The residual is also read by a node after the FusedConv: no sharing.
TEST(InplaceResidual, ResidualReadLater) {
  Net net(12);
  std::string x = net.input("X", {2, 16, 10, 10});
  std::string a = net.relu(net.conv(x, 16, 16, 3));
  std::string y = net.relu(net.op("Add", {net.conv(net.relu(net.conv(a, 16, 16, 3)), 16, 16, 3), a}));
  // Reads `a` after the FusedConv, and fuses the Add into a second FusedConv whose residual is y
  // (y's last reader: that one may share).
  std::string side = net.conv(a, 16, 16, 1);
  net.output(net.conv(net.op("Add", {y, side}), 16, 8, 1));
  std::map<std::string, bool> expect = {{a, false}, {y, true}};
  EXPECT_EQ(compareInplace(net, 2), expect);
}

// The residual is a graph output (bound by the caller, never planned): no sharing, and the output
// keeps its values.
TEST(InplaceResidual, ResidualIsGraphOutput) {
  Net net(13);
  std::string x = net.input("X", {1, 16, 10, 10});
  std::string a = net.relu(net.conv(x, 16, 16, 3));
  net.output(a);
  std::string y = net.relu(net.op("Add", {net.conv(net.relu(net.conv(a, 16, 16, 1)), 16, 16, 3), a}));
  net.output(net.conv(y, 16, 8, 1));
  // On the cpu backend the FusedConv reads a's NHWC copy (an activation; the graph output is
  // made from it by a layout change); were it `a` itself, it must not be shared. The output's
  // values are compared with the reference either way.
  std::map<std::string, bool> got = compareInplace(net, 1);
  ASSERT_EQ(got.size(), 1u);
  if (got.begin()->first == a) EXPECT_FALSE(got.begin()->second);
}

// The residual is the graph input: the caller's buffer is never written over (compareInplace
// checks it). On the cpu backend the FusedConv reads the input's NHWC copy (a layout change the
// layout pass inserts, an activation of its own, which may be shared); were it the input itself,
// it must not be.
TEST(InplaceResidual, ResidualIsGraphInput) {
  Net net(14);
  std::string x = net.input("X", {2, 16, 10, 10});
  std::string y = net.relu(net.op("Add", {net.conv(net.relu(net.conv(x, 16, 16, 3)), 16, 16, 3), x}));
  net.output(net.conv(y, 16, 8, 1));
  std::map<std::string, bool> got = compareInplace(net, 1);
  ASSERT_EQ(got.size(), 1u);
  if (got.begin()->first == x) EXPECT_FALSE(got.begin()->second);
}

// The residual is also the convolution's own source (y = conv(a) + a): writing over it would
// corrupt the input the convolution is still reading, so no sharing.
TEST(InplaceResidual, ResidualIsAlsoTheSource) {
  for (int64_t k : {1, 3}) {
    Net net(15);
    std::string x = net.input("X", {1, 16, 10, 10});
    std::string a = net.relu(net.conv(x, 16, 16, 3));
    std::string y = net.relu(net.op("Add", {net.conv(a, 16, 16, k), a}));  // FusedConv(X = a, Z = a)
    net.output(net.conv(y, 16, 8, 1));
    SCOPED_TRACE(k);
    EXPECT_EQ(compareInplace(net, 1), (std::map<std::string, bool>{{a, false}}));
  }
}

#endif  // QRT_HAVE_DNNL

}  // namespace
}  // namespace qrt
