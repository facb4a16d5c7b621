#include "passes/fuse_conv_activation.h"

#include <cmath>

#include "ops/fused_activation.h"
#include "ops/op.h"
#include "passes/rewrite_util.h"

namespace qrt::passes {

namespace {

using Kind = FusedActivation::Kind;

// What the fused node absorbs after its layer.
struct Chain {
  ir::Value* out = nullptr;        // the value the fused node produces
  std::vector<ir::Node*> absorbed;
  std::string name;                // "layer + add + relu"
  ir::Value* bias = nullptr;       // MatMul's bias (a constant [N])
  ir::Value* residual = nullptr;   // Z
  FusedActivation act;

  void take(ir::Node* n) {
    absorbed.push_back(n);
    out = n->outputs[0];
    name += " + " + n->name;
  }
};

bool fromDequantize(const ir::Value* v) { return v && rw::isOp(v->producer, "DequantizeLinear"); }

// A bound stored as a float attribute must keep its value in the tensor's dtype.
bool floatHolds(double v) { return std::isinf(v) || static_cast<double>(static_cast<float>(v)) == v; }

// The activation reading v: one node (or Swish's Sigmoid and Mul), recorded into the chain.
bool takeActivation(ir::Value* v, Chain& c) {
  if (v->is_graph_output) return false;
  if (v->consumers.size() == 2) {  // Swish: Mul(v, Sigmoid(v))
    ir::Node* sig = v->consumers[0];
    ir::Node* mul = v->consumers[1];
    if (rw::isOp(mul, "Sigmoid")) std::swap(sig, mul);
    if (!rw::isOp(sig, "Sigmoid") || !rw::isOp(mul, "Mul") || mul->inputs.size() != 2) return false;
    ir::Value* s = sig->outputs.empty() ? nullptr : sig->outputs[0];
    if (!s || rw::soleReader(s) != mul || sig->inputs[0] != v) return false;
    if (!((mul->inputs[0] == v && mul->inputs[1] == s) || (mul->inputs[0] == s && mul->inputs[1] == v))) return false;
    if (mul->outputs[0]->dims != v->dims) return false;
    c.take(sig);
    c.take(mul);
    c.act.kind = Kind::kSwish;
    return true;
  }
  ir::Node* n = rw::soleReader(v);
  if (!n || n->outputs.empty() || !n->outputs[0] || n->inputs[0] != v) return false;
  FusedActivation a;
  if (rw::isOp(n, "Relu")) {
    a.kind = Kind::kRelu;
  } else if (rw::isOp(n, "LeakyRelu")) {
    a.kind = Kind::kLeakyRelu;
    a.alpha = n->attrFloat("alpha", 0.01f);
  } else if (rw::isOp(n, "HardSwish")) {
    a.kind = Kind::kHardSwish;
  } else if (rw::isOp(n, "HardSigmoid")) {
    a.kind = Kind::kHardSigmoid;
    a.alpha = n->attrFloat("alpha", 0.2f);
    a.beta = n->attrFloat("beta", 0.5f);
  } else if (rw::isOp(n, "Sigmoid")) {
    a.kind = Kind::kSigmoid;
  } else if (rw::isOp(n, "Clip")) {
    auto b = rw::clipBounds(*n);
    if (!b || std::isnan(b->first) || std::isnan(b->second) || !floatHolds(b->first) || !floatHolds(b->second))
      return false;
    a.kind = Kind::kClip;
    a.clip_min = static_cast<float>(b->first);
    a.clip_max = static_cast<float>(b->second);
  } else {
    return false;
  }
  c.take(n);
  c.act = a;
  return true;
}

// Add(v, z) or Add(z, v) reading v, whose output keeps v's dims: z becomes the residual.
bool takeResidual(ir::Value* v, Chain& c) {
  ir::Node* add = rw::soleReader(v);
  if (!rw::isOp(add, "Add") || add->inputs.size() != 2 || !add->outputs[0]) return false;
  ir::Value* z = add->inputs[0] == v ? add->inputs[1] : add->inputs[0];
  const ir::Value* y = add->outputs[0];
  if (!z || z->dtype != v->dtype || !z->has_shape || !y->has_shape || y->dims != v->dims) return false;
  if (z->dims.size() > v->dims.size()) return false;
  c.residual = z;
  c.take(add);
  return true;
}

// MatMul's Add of a constant with one value per output column: becomes FusedGemm's C ([N]).
bool takeBias(ir::Graph& g, ir::Value* v, int64_t n, Chain& c) {
  ir::Node* add = rw::soleReader(v);
  if (!rw::isOp(add, "Add") || add->inputs.size() != 2 || !add->outputs[0] || !v->has_shape) return false;
  ir::Value* b = add->inputs[0] == v ? add->inputs[1] : add->inputs[0];
  if (!b || !b->isConstant() || b->dtype != v->dtype || add->outputs[0]->dims != v->dims) return false;
  const Dims& d = b->dims;
  if (d.empty() || d.back() != n || d.size() > v->dims.size()) return false;
  for (size_t i = 0; i + 1 < d.size(); ++i)
    if (d[i] != 1) return false;
  c.bias = d.size() == 1 ? b : rw::addConstant(g, b->name + "_row", b->constant->reshaped({n}));
  c.take(add);
  return true;
}

// Rewrites `layer` in place into the fused op over the chain.
void rewrite(ir::Graph& g, ir::Node& layer, const char* op, std::vector<ir::Value*> inputs, Chain& c,
             std::set<const ir::Node*>& removed) {
  while (inputs.size() > 2 && inputs.back() == nullptr) inputs.pop_back();
  layer.op_type = op;
  layer.domain = kQrtDomain;
  layer.inputs = std::move(inputs);
  layer.outputs = {c.out};
  writeFusedActivation(layer, c.act);
  layer.name = g.uniqueName(c.name);
  for (ir::Node* n : c.absorbed) removed.insert(n);
}

bool fuseAt(ir::Graph& g, ir::Node& layer, std::set<const ir::Node*>& removed) {
  const bool conv = rw::isOp(&layer, "Conv"), gemm = rw::isOp(&layer, "Gemm"), matmul = rw::isOp(&layer, "MatMul");
  if (!(conv || gemm || matmul) || layer.outputs.size() != 1 || !layer.outputs[0]) return false;
  if (!layer.hasInput(0) || !layer.hasInput(1) || fromDequantize(layer.inputs[0]) || fromDequantize(layer.inputs[1]))
    return false;
  ir::Value* y = layer.outputs[0];
  if (!rw::isFloatType(y->dtype) || !y->has_shape) return false;
  int64_t n = -1;
  if (matmul) {  // [..., M, K] x [K, N]
    const ir::Value* a = layer.inputs[0];
    const ir::Value* b = layer.inputs[1];
    if (!a->has_shape || !b->has_shape || a->dims.size() < 2 || b->dims.size() != 2) return false;
    n = b->dims[1];
  }
  Chain c;
  c.out = y;
  c.name = layer.name;
  if (matmul && n > 0) takeBias(g, c.out, n, c);
  takeResidual(c.out, c);
  takeActivation(c.out, c);
  if (c.absorbed.empty()) return false;
  std::vector<ir::Value*> inputs = layer.inputs;
  inputs.resize(4, nullptr);
  if (matmul) inputs[2] = c.bias;
  inputs[3] = c.residual;
  rewrite(g, layer, conv ? "FusedConv" : "FusedGemm", std::move(inputs), c, removed);
  return true;
}

}  // namespace

Status fuseConvActivation(ir::Graph& graph, bool* changed) { return rw::rewriteToFixedPoint(graph, &fuseAt, changed); }

}  // namespace qrt::passes
