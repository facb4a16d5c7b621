// Element-wise ops and Concat inside the cpu backend's channels-last regions: oneDNN's binary
// (Add, Sub, Mul, Div with numpy broadcasting of the second operand), eltwise (Relu, LeakyRelu,
// Sigmoid, Tanh, HardSwish, Clip) and concat primitives, on NHWC or plain descriptors as the
// layout pass stored each argument. The layout pass (passes/cpu_layout.cpp) gives these nodes to
// the cpu backend only when they join a region, so that the reorders around them disappear (on
// PP-OCR they cost a quarter of the time); elsewhere they stay on the reference backend.
// The factories refuse nodes outside regions (no qrt_nhwc): the builder's first choice of backend
// leaves them on the reference backend, and the pass moves them here.
// Broadcasts oneDNN's binary cannot do (the first operand smaller than the output, for Sub and
// Div) run the reference kernel inside the cpu kernel, on plain copies (DnnlKernel).
#include <cmath>
#include <limits>

#include "backends/cpu/dnnl_util.h"
#include "backends/cpu/kernel_table.h"
#include "passes/channels_last.h"

namespace qrt::cpu {

namespace {

using dnnl::memory;

// dims padded with leading 1s to rank r (at least 1: oneDNN has no 0-D tensors).
memory::dims padded(const Dims& d, size_t r) {
  memory::dims out(std::max<size_t>(r, 1) - d.size(), 1);
  out.insert(out.end(), d.begin(), d.end());
  return out;
}

memory::desc argDesc(const Dims& d, size_t rank, bool nhwc) {
  return activationDesc(padded(d, rank), nhwc && d.size() == 4);
}

class BinaryKernel final : public DnnlKernel {
 public:
  BinaryKernel(std::string where, dnnl::algorithm alg, bool commutative, std::unique_ptr<Kernel> fallback,
               NhwcArgs nhwc)
      : DnnlKernel(std::move(where), std::move(fallback), std::move(nhwc)), alg_(alg), commutative_(commutative) {}

 protected:
  Status prepare(const std::vector<TensorView>& inputs, const std::vector<TensorView>& outputs) override {
    const Dims& y = outputs[0].dims;
    if (volume(y) == 0) return unsupported(where(), ": empty tensors");
    size_t a = 0, b = 1;
    auto full = [&](size_t i) { return padded(inputs[i].dims, y.size()) == padded(y, y.size()); };
    if (!full(a)) {
      if (!commutative_ || !full(b)) return unsupported(where(), ": oneDNN broadcasts the second operand only");
      std::swap(a, b);
    }
    memory::desc a_md = argDesc(inputs[a].dims, y.size(), nhwc().input(a));
    memory::desc b_md = argDesc(inputs[b].dims, y.size(), nhwc().input(b));
    memory::desc y_md = argDesc(y, y.size(), nhwc().output(0));
    dnnl::binary::primitive_desc pd;
    QRT_RETURN_IF_ERROR(dnnlTry(where(), [&] {
      pd = dnnl::binary::primitive_desc(dnnl::binary::desc(alg_, a_md, b_md, y_md), userScratchpad(), engine());
    }));
    QRT_ASSIGN_OR_RETURN(prim_, BoundPrimitive::create(pd, engine(), where()));
    QRT_RETURN_IF_ERROR(dnnlTry(where(), [&] {
      arg_a_ = prim_.bind(DNNL_ARG_SRC_0, a_md, engine());
      arg_b_ = prim_.bind(DNNL_ARG_SRC_1, b_md, engine());
      arg_y_ = prim_.bind(DNNL_ARG_DST, y_md, engine());
    }));
    a_ = a, b_ = b;
    return Status::Ok();
  }
  size_t bytes() const override { return prim_.scratchpadBytes(); }
  Status execute(const std::vector<TensorView>& inputs, const std::vector<TensorView>& outputs, void* ws) override {
    prim_.setData(arg_a_, inputs[a_].data);
    prim_.setData(arg_b_, inputs[b_].data);
    prim_.setData(arg_y_, outputs[0].data);
    prim_.setScratchpad(ws);
    return prim_.execute(stream(), where());
  }

 private:
  dnnl::algorithm alg_;
  bool commutative_;
  BoundPrimitive prim_;
  size_t a_ = 0, b_ = 1, arg_a_ = 0, arg_b_ = 0, arg_y_ = 0;
};

class UnaryKernel final : public DnnlKernel {
 public:
  UnaryKernel(std::string where, dnnl::algorithm alg, float alpha, float beta, std::unique_ptr<Kernel> fallback,
              NhwcArgs nhwc)
      : DnnlKernel(std::move(where), std::move(fallback), std::move(nhwc)), alg_(alg), alpha_(alpha), beta_(beta) {}

 protected:
  Status prepare(const std::vector<TensorView>& inputs, const std::vector<TensorView>& outputs) override {
    const Dims& x = inputs[0].dims;
    if (volume(x) == 0) return unsupported(where(), ": empty tensors");
    if (nhwc().input(0) != nhwc().output(0)) return unsupported(where(), ": input and output layouts differ");
    memory::desc md = argDesc(x, x.size(), nhwc().input(0));
    dnnl::eltwise_forward::primitive_desc pd;
    QRT_RETURN_IF_ERROR(dnnlTry(where(), [&] {
      dnnl::eltwise_forward::desc d(dnnl::prop_kind::forward_inference, alg_, md, alpha_, beta_);
      pd = dnnl::eltwise_forward::primitive_desc(d, userScratchpad(), engine());
    }));
    return prim_.create(pd, md, md, engine(), where());
  }
  size_t bytes() const override { return prim_.scratchpadBytes(); }
  Status execute(const std::vector<TensorView>& inputs, const std::vector<TensorView>& outputs, void* ws) override {
    return prim_.run(inputs[0].data, outputs[0].data, ws, stream(), where());
  }

 private:
  dnnl::algorithm alg_;
  float alpha_, beta_;
  SrcDstPrimitive prim_;
};

class ConcatKernel final : public DnnlKernel {
 public:
  ConcatKernel(std::string where, int64_t axis, std::unique_ptr<Kernel> fallback, NhwcArgs nhwc)
      : DnnlKernel(std::move(where), std::move(fallback), std::move(nhwc)), axis_(axis) {}

 protected:
  Status prepare(const std::vector<TensorView>& inputs, const std::vector<TensorView>& outputs) override {
    const Dims& y = outputs[0].dims;
    const int64_t rank = static_cast<int64_t>(y.size());
    if (rank == 0 || volume(y) == 0) return unsupported(where(), ": empty tensors");
    const int64_t axis = axis_ < 0 ? axis_ + rank : axis_;
    std::vector<memory::desc> srcs;
    used_.clear();
    for (size_t i = 0; i < inputs.size(); ++i) {
      if (inputs[i].dtype == DataType::kUndefined || volume(inputs[i].dims) == 0) continue;  // empty parts add nothing
      srcs.push_back(argDesc(inputs[i].dims, y.size(), nhwc().input(i)));
      used_.push_back(i);
    }
    if (srcs.empty()) return unsupported(where(), ": every input is empty");
    memory::desc y_md = argDesc(y, y.size(), nhwc().output(0));
    dnnl::concat::primitive_desc pd;
    QRT_RETURN_IF_ERROR(dnnlTry(where(), [&] {
      pd = dnnl::concat::primitive_desc(y_md, static_cast<int>(axis), srcs, engine(), userScratchpad());
    }));
    QRT_ASSIGN_OR_RETURN(prim_, BoundPrimitive::create(pd, engine(), where()));
    QRT_RETURN_IF_ERROR(dnnlTry(where(), [&] {
      args_.clear();
      for (size_t k = 0; k < srcs.size(); ++k)
        args_.push_back(prim_.bind(DNNL_ARG_MULTIPLE_SRC + static_cast<int>(k), srcs[k], engine()));
      arg_y_ = prim_.bind(DNNL_ARG_DST, y_md, engine());
    }));
    return Status::Ok();
  }
  size_t bytes() const override { return prim_.scratchpadBytes(); }
  Status execute(const std::vector<TensorView>& inputs, const std::vector<TensorView>& outputs, void* ws) override {
    for (size_t k = 0; k < used_.size(); ++k) prim_.setData(args_[k], inputs[used_[k]].data);
    prim_.setData(arg_y_, outputs[0].data);
    prim_.setScratchpad(ws);
    return prim_.execute(stream(), where());
  }

 private:
  int64_t axis_;
  BoundPrimitive prim_;
  std::vector<size_t> used_, args_;
  size_t arg_y_ = 0;
};

// A constant scalar input (Clip's min and max), or `def` when absent.
Result<float> scalarInput(const ir::Node& node, size_t i, float def) {
  if (!node.hasInput(i)) return def;
  const ir::Value* v = node.inputs[i];
  if (!v->isConstant() || v->constant->dtype() != DataType::kFloat || volume(v->constant->dims()) != 1)
    return unsupported(node.describe(), ": input ", i, " is not a constant FP32 scalar");
  return *static_cast<const float*>(v->constant->data());
}

Status insideRegion(const ir::Node& node) {
  if (!passes::storedNhwc(node))
    return unsupported(node.describe(), ": the cpu backend runs it inside NHWC regions only");
  return Status::Ok();
}

}  // namespace

Result<std::unique_ptr<Kernel>> createBinary(const ir::Node& node) {
  QRT_RETURN_IF_ERROR(insideRegion(node));
  using A = dnnl::algorithm;
  A alg;
  bool commutative = false;
  if (node.op_type == "Add") alg = A::binary_add, commutative = true;
  else if (node.op_type == "Mul") alg = A::binary_mul, commutative = true;
  else if (node.op_type == "Sub") alg = A::binary_sub;
  else if (node.op_type == "Div") alg = A::binary_div;
  else return unsupported(node.describe(), ": not a binary op of the cpu backend");
  if (node.inputs.size() != 2 || !node.hasInput(0) || !node.hasInput(1) || node.inputs[1]->dtype != DataType::kFloat)
    return unsupported(node.describe(), ": needs two FP32 inputs");
  QRT_ASSIGN_OR_RETURN(std::unique_ptr<Kernel> fallback, referenceKernel(node));
  return std::unique_ptr<Kernel>(
      new BinaryKernel(node.describe(), alg, commutative, std::move(fallback), nhwcArgs(node)));
}

Result<std::unique_ptr<Kernel>> createUnary(const ir::Node& node) {
  QRT_RETURN_IF_ERROR(insideRegion(node));
  using A = dnnl::algorithm;
  A alg;
  float alpha = 0.f, beta = 0.f;
  if (node.op_type == "Relu") alg = A::eltwise_relu;
  else if (node.op_type == "LeakyRelu") alg = A::eltwise_relu, alpha = node.attrFloat("alpha", 0.01f);
  else if (node.op_type == "Sigmoid") alg = A::eltwise_logistic;
  else if (node.op_type == "Tanh") alg = A::eltwise_tanh;
  else if (node.op_type == "HardSwish") alg = A::eltwise_hardswish;
  else if (node.op_type == "Clip") {
    alg = A::eltwise_clip;
    const float inf = std::numeric_limits<float>::infinity();
    if (node.opset > 0 && node.opset < 11) {
      alpha = node.attrFloat("min", -inf), beta = node.attrFloat("max", inf);
    } else {
      QRT_ASSIGN_OR_RETURN(alpha, scalarInput(node, 1, -inf));
      QRT_ASSIGN_OR_RETURN(beta, scalarInput(node, 2, inf));
    }
  } else {
    return unsupported(node.describe(), ": not an element-wise op of the cpu backend");
  }
  QRT_ASSIGN_OR_RETURN(std::unique_ptr<Kernel> fallback, referenceKernel(node));
  return std::unique_ptr<Kernel>(
      new UnaryKernel(node.describe(), alg, alpha, beta, std::move(fallback), nhwcArgs(node)));
}

Result<std::unique_ptr<Kernel>> createConcat(const ir::Node& node) {
  QRT_RETURN_IF_ERROR(insideRegion(node));
  for (const ir::Value* v : node.inputs)
    if (v && v->dtype != DataType::kFloat) return unsupported(node.describe(), ": inputs of mixed types");
  QRT_ASSIGN_OR_RETURN(std::unique_ptr<Kernel> fallback, referenceKernel(node));
  return std::unique_ptr<Kernel>(
      new ConcatKernel(node.describe(), node.attrInt("axis", 0), std::move(fallback), nhwcArgs(node)));
}

}  // namespace qrt::cpu
