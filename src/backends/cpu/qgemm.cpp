// qrt's QGemm and QMatMul (int8 x int8 -> int8 or float, docs/int8.md) on oneDNN's int8 matmul.
//
// QGemm: a_q [..., K] (transA: [K, M], read through strides) times w_q^T, w_q stored [N, K]
// (the matmul's weights {K, N} with strides {1, K}); constant w_q is packed once into oneDNN's
// blocked layout (with its s8 compensation terms) and shared (packWeights). Per-column output
// scales (mask on dst dim 1), the float bias as a {1, N} matmul bias (in the accumulator's
// scale, qlayer.h), relu/clip as eltwise post-ops.
// QMatMul: numpy matmul of two int8 activations; 1-D operands get a unit dim, batch dims
// broadcast inside oneDNN; per-tensor scales, no bias.
// The source is read as u8 when nonNegativeInt8 proves it (qlayer.h); outputs are plain.
#include <algorithm>
#include <optional>

#include "backends/cpu/dnnl_util.h"
#include "backends/cpu/kernel_table.h"
#include "backends/cpu/qlayer.h"

namespace qrt::cpu {

namespace {

using dnnl::memory;

struct QMatSetup {
  std::string where;
  QuantEpilogue epilogue;
  std::optional<HostTensor> weights;  // QGemm's constant w_q
  bool u8_src = false, int8_out = false, trans_a = false;
};

// A bound int8 matmul; B is packed (constant), reordered into the workspace, or read as it is.
class QMatMulPlan {
 public:
  Status build(const memory::desc& src, const memory::desc& wei_plain, const memory::desc& dst, QuantAttrs q,
               const std::optional<HostTensor>& weights, const dnnl::engine& eng, const std::string& where) {
    bias_ = std::move(q.bias);
    const memory::desc wei_req =
        weights ? memory::desc(wei_plain.dims(), memory::data_type::s8, memory::format_tag::any) : wei_plain;
    const memory::desc bias_md =
        bias_.empty() ? memory::desc() : plainDesc({1, static_cast<memory::dim>(bias_.size())});
    dnnl::matmul::primitive_desc pd;
    QRT_RETURN_IF_ERROR(dnnlTry(where, [&] {
      dnnl::matmul::desc d =
          bias_.empty() ? dnnl::matmul::desc(src, wei_req, dst) : dnnl::matmul::desc(src, wei_req, bias_md, dst);
      pd = dnnl::matmul::primitive_desc(d, q.attr, eng);
    }));
    const memory::desc wei = pd.weights_desc();
    QRT_ASSIGN_OR_RETURN(prim_, BoundPrimitive::create(pd, eng, where));
    QRT_RETURN_IF_ERROR(dnnlTry(where, [&] {
      arg_src_ = prim_.bind(DNNL_ARG_SRC, src, eng);
      arg_wei_ = prim_.bind(DNNL_ARG_WEIGHTS, wei, eng);
      if (!bias_.empty()) arg_bias_ = prim_.bind(DNNL_ARG_BIAS, bias_md, eng);
      arg_dst_ = prim_.bind(DNNL_ARG_DST, dst, eng);
    }));
    if (!bias_.empty()) prim_.setData(arg_bias_, bias_.data());
    ws_.clear();
    QRT_RETURN_IF_ERROR(wei_in_.plan(sameWeights(wei, wei_plain), weights, wei_plain, wei, eng, ws_, where));
    ws_scratch_ = ws_.add(std::max(prim_.scratchpadBytes(), wei_in_.scratchpadBytes()));
    return Status::Ok();
  }

  size_t bytes() const { return ws_.bytes(); }

  Status run(const void* a, const void* b, void* y, void* workspace, const dnnl::stream& s, const std::string& where) {
    void* scratch = ws_.at(workspace, ws_scratch_);
    QRT_RETURN_IF_ERROR(wei_in_.resolve(b, workspace, scratch, ws_, s, where));
    prim_.setData(arg_src_, a);
    prim_.setData(arg_wei_, b);
    prim_.setData(arg_dst_, y);
    prim_.setScratchpad(scratch);
    return prim_.execute(s, where);
  }

 private:
  BoundPrimitive prim_;
  size_t arg_src_ = 0, arg_wei_ = 0, arg_bias_ = 0, arg_dst_ = 0;
  std::vector<float> bias_;
  WeightsInput wei_in_;
  Workspace ws_;
  size_t ws_scratch_ = 0;
};

memory::data_type srcType(const QMatSetup& s) { return s.u8_src ? memory::data_type::u8 : memory::data_type::s8; }
memory::data_type dstType(const QMatSetup& s) { return s.int8_out ? memory::data_type::s8 : memory::data_type::f32; }

// QGemm and QMatMul: one int8 matmul plan, run the same way; they differ in how prepare reads
// their operands.
class QMatKernel : public DnnlKernel {
 public:
  QMatKernel(QMatSetup s, std::unique_ptr<Kernel> fallback)
      : DnnlKernel(s.where, std::move(fallback)), s_(std::move(s)) {}

 protected:
  size_t bytes() const override { return plan_.bytes(); }

  Status execute(const std::vector<TensorView>& inputs, const std::vector<TensorView>& outputs, void* ws) override {
    return plan_.run(inputs[0].data, inputs[1].data, outputs[0].data, ws, stream(), where());
  }

  QMatSetup s_;
  QMatMulPlan plan_;
};

// QGemm inputs: a_q 0, w_q 1, bias 2, a_scale 3, w_scale 4, y_scale 5 (optional).
class QGemmKernel final : public QMatKernel {
 public:
  using QMatKernel::QMatKernel;

 protected:
  Status prepare(const std::vector<TensorView>& inputs, const std::vector<TensorView>& outputs) override {
    const Dims& a = inputs[0].dims;
    const Dims& w = inputs[1].dims;
    if (a.empty() || (s_.trans_a && a.size() != 2) || w.size() != 2)
      return unsupported(where(), ": a_q ", dimsToString(a), " and w_q ", dimsToString(w));
    const int64_t k = s_.trans_a ? a[0] : a.back();
    const int64_t m = s_.trans_a ? a[1] : volume(a) / std::max<int64_t>(k, 1);
    const int64_t n = w[0];
    if (m == 0 || n == 0 || k == 0) return unsupported(where(), ": empty matrices");
    if (w[1] != k) return invalidArgument(where(), ": inner dimensions differ: a_q ", dimsToString(a), ", w_q ", dimsToString(w));
    if (outputs[0].numel() != m * n) return internalError(where(), ": output dims ", dimsToString(outputs[0].dims));
    const memory::desc src = s_.trans_a ? memory::desc({m, k}, srcType(s_), memory::dims{1, m})
                                        : plainDesc({m, k}, srcType(s_));
    const memory::desc wei({k, n}, memory::data_type::s8, memory::dims{1, k});
    QRT_ASSIGN_OR_RETURN(QuantAttrs q, quantAttrs(s_.epilogue, inputs, n, 1, where()));
    return plan_.build(src, wei, plainDesc({m, n}, dstType(s_)), std::move(q), s_.weights, engine(), where());
  }
};

// QMatMul inputs: a_q 0, b_q 1, a_scale 2, b_scale 3, y_scale 4 (optional).
class QMatMulKernel final : public QMatKernel {
 public:
  using QMatKernel::QMatKernel;

 protected:
  Status prepare(const std::vector<TensorView>& inputs, const std::vector<TensorView>& outputs) override {
    QRT_ASSIGN_OR_RETURN(MatMulDims d, matmulDims(inputs[0].dims, inputs[1].dims, outputs[0].dims, where()));
    const Dims &a = d.a, &b = d.b, &y = d.y;
    // Per-tensor scales only: the channel dim does not matter.
    QRT_ASSIGN_OR_RETURN(QuantAttrs q, quantAttrs(s_.epilogue, inputs, 1, static_cast<int>(y.size()) - 1, where()));
    return plan_.build(plainDesc(toDnnl(a), srcType(s_)), plainDesc(toDnnl(b), memory::data_type::s8),
                       plainDesc(toDnnl(y), dstType(s_)), std::move(q), std::nullopt, engine(), where());
  }
};

Result<QMatSetup> readSetup(const ir::Node& node, int bias, int a_scale, int w_scale, int y_scale) {
  QMatSetup s;
  s.where = node.describe();
  if (!node.hasInput(0) || !node.hasInput(1)) return invalidArgument(s.where, ": needs two int8 operands");
  if (node.inputs[0]->dtype != DataType::kInt8 || node.inputs[1]->dtype != DataType::kInt8)
    return unsupported(s.where, ": takes int8 operands");
  QRT_ASSIGN_OR_RETURN(s.epilogue, readQuantEpilogue(node, bias, a_scale, w_scale, y_scale));
  if (!epilogueInputsConstant(node, s.epilogue)) return unsupported(s.where, ": needs constant scales and bias");
  s.u8_src = nonNegativeInt8(node.inputs[0]);
  s.int8_out = s.epilogue.y_scale >= 0;
  return s;
}

}  // namespace

Result<std::unique_ptr<Kernel>> createQGemm(const ir::Node& node) {
  QRT_ASSIGN_OR_RETURN(QMatSetup s, readSetup(node, 2, 3, 4, 5));
  s.trans_a = node.attrInt("transA", 0) != 0;
  if (node.inputs[1]->isConstant()) s.weights = *node.inputs[1]->constant;
  QRT_ASSIGN_OR_RETURN(std::unique_ptr<Kernel> fallback, referenceKernel(node));
  return std::unique_ptr<Kernel>(new QGemmKernel(std::move(s), std::move(fallback)));
}

Result<std::unique_ptr<Kernel>> createQMatMul(const ir::Node& node) {
  QRT_ASSIGN_OR_RETURN(QMatSetup s, readSetup(node, -1, 2, 3, 4));
  QRT_ASSIGN_OR_RETURN(std::unique_ptr<Kernel> fallback, referenceKernel(node));
  return std::unique_ptr<Kernel>(new QMatMulKernel(std::move(s), std::move(fallback)));
}

}  // namespace qrt::cpu
