// oneDNN Gemm and MatMul, FP32, on the matmul primitive.
//
// Gemm: Y = alpha * A' B' + beta * C. Transposes are strides (no copies). alpha is the output
// scale. C goes in as the matmul bias when alpha = beta = 1 and C is a row (the usual fully
// connected layer); otherwise beta * C is written into Y before the product and a sum post-op
// adds it. FusedGemm: the residual Z joins that prefill; the activation is an eltwise post-op.
// MatMul: numpy semantics; 1-D operands get a unit dim, batch dims broadcast inside oneDNN.
// Constant B (weights) is packed once into oneDNN's chosen layout and shared (packWeights).
#include <algorithm>
#include <cstring>
#include <optional>

#include "backends/cpu/dnnl_util.h"
#include "backends/cpu/isa.h"
#include "backends/cpu/kernel_table.h"
#include "backends/cpu/layers.h"

namespace qrt::cpu {

namespace {

using dnnl::memory;

// Builds and binds a matmul; `weights` (when set) is the constant B to pack.
struct MatMulPlan {
  BoundPrimitive prim;
  size_t arg_src = 0, arg_wei = 0, arg_bias = 0, arg_dst = 0;
  bool has_bias = false;
  WeightsInput wei_in;  // B packed (constant), reordered at run, or read as it is
  Workspace ws;
  size_t ws_scratch = 0;

  Status build(const memory::desc& src, const memory::desc& wei_onnx, const memory::desc& bias, const memory::desc& dst,
               const dnnl::primitive_attr& attr, const std::optional<HostTensor>& weights, const dnnl::engine& eng,
               const std::string& where) {
    memory::desc wei_req =
        weights ? memory::desc(wei_onnx.dims(), wei_onnx.data_type(), memory::format_tag::any) : wei_onnx;
    dnnl::matmul::primitive_desc pd;
    QRT_RETURN_IF_ERROR(dnnlTry(where, [&] {
      dnnl::matmul::desc d =
          bias.is_zero() ? dnnl::matmul::desc(src, wei_req, dst) : dnnl::matmul::desc(src, wei_req, bias, dst);
      pd = dnnl::matmul::primitive_desc(d, attr, eng);
    }));
    memory::desc wei = pd.weights_desc();
    QRT_ASSIGN_OR_RETURN(prim, BoundPrimitive::create(pd, eng, where));
    has_bias = !bias.is_zero();
    QRT_RETURN_IF_ERROR(dnnlTry(where, [&] {
      arg_src = prim.bind(DNNL_ARG_SRC, src, eng);
      arg_wei = prim.bind(DNNL_ARG_WEIGHTS, wei, eng);
      if (has_bias) arg_bias = prim.bind(DNNL_ARG_BIAS, bias, eng);
      arg_dst = prim.bind(DNNL_ARG_DST, dst, eng);
    }));
    ws.clear();
    QRT_RETURN_IF_ERROR(wei_in.plan(sameLayout(wei, wei_onnx), weights, wei_onnx, wei, eng, ws, where));
    ws_scratch = ws.add(std::max(prim.scratchpadBytes(), wei_in.scratchpadBytes()));
    return Status::Ok();
  }

  Status run(const void* a, const void* b, const void* bias, void* y, void* workspace, const dnnl::stream& s,
             const std::string& where) {
    void* scratch = ws.at(workspace, ws_scratch);
    QRT_RETURN_IF_ERROR(wei_in.resolve(b, workspace, scratch, ws, s, where));
    prim.setData(arg_src, a);
    prim.setData(arg_wei, b);
    if (has_bias) prim.setData(arg_bias, bias);
    prim.setData(arg_dst, y);
    prim.setScratchpad(scratch);
    return prim.execute(s, where);
  }
};

std::optional<HostTensor> constantOf(const ir::Node& node, size_t i) {
  if (node.hasInput(i) && node.inputs[i]->isConstant()) return *node.inputs[i]->constant;
  return std::nullopt;
}

// A row-major [rows, cols] matrix, or its transpose stored as [cols, rows].
memory::desc matrixDesc(memory::dim rows, memory::dim cols, bool transposed, memory::data_type dt) {
  if (!transposed) return plainDesc({rows, cols}, dt);
  return memory::desc({rows, cols}, dt, memory::dims{1, rows});
}

struct GemmSetup {
  std::string where;
  bool trans_a = false, trans_b = false;
  float alpha = 1.f, beta = 1.f;
  std::optional<HostTensor> b;  // B when constant
  Epilogue epilogue;
};

bool present(const std::vector<TensorView>& v, size_t i) { return i < v.size() && v[i].dtype != DataType::kUndefined; }

class GemmKernel final : public DnnlKernel {
 public:
  GemmKernel(GemmSetup s, std::unique_ptr<Kernel> fallback)
      : DnnlKernel(s.where, std::move(fallback)), s_(std::move(s)) {}

 protected:
  Status prepare(const std::vector<TensorView>& inputs, const std::vector<TensorView>& outputs) override {
    const Dims& a = inputs[0].dims;
    const Dims& b = inputs[1].dims;
    if (a.size() < 2 || (s_.trans_a && a.size() != 2) || b.size() != 2)
      return unsupported(where(), ": A ", dimsToString(a), " and B ", dimsToString(b));
    // FusedGemm's A may have more dims: its rows are all the leading dims together.
    const int64_t k = s_.trans_a ? a[0] : a.back();
    m_ = s_.trans_a ? a[1] : volume(a) / std::max<int64_t>(k, 1);
    n_ = s_.trans_b ? b[0] : b[1];
    if (m_ == 0 || n_ == 0 || k == 0) return unsupported(where(), ": empty matrices");
    const Dims& y = outputs[0].dims;
    if (volume(y) != m_ * n_) return internalError(where(), ": output dims ", dimsToString(y));
    // bf16 layers (precision chosen by the builder): bf16 A, B and Y, f32 accumulation.
    const memory::data_type dt = dnnlType(inputs[0].dtype);
    memory::desc src = matrixDesc(m_, k, s_.trans_a, dt), wei = matrixDesc(k, n_, s_.trans_b, dnnlType(inputs[1].dtype));
    memory::desc dst = plainDesc({m_, n_}, dnnlType(outputs[0].dtype));
    // C as the bias when it is a row ([N] or [1, N]): oneDNN 2.6's fast matmul (brg) takes only
    // that bias shape; with any other it picks its slow reference implementation. Otherwise
    // beta * C (and the residual Z) are written into Y before the product, which a sum post-op
    // adds to: that keeps brg.
    bool has_c = present(inputs, 2) && s_.beta != 0.f;
    c_in_prefill_ = false;
    bool bias = false;
    if (has_c) {
      const Dims& c = inputs[2].dims;
      if (c.size() > 2) return unsupported(where(), ": C of rank ", c.size());
      c_rows_ = c.size() == 2 ? c[0] : 1;
      c_cols_ = c.empty() ? 1 : c.back();
      bias = c_rows_ == 1 && c_cols_ == n_ && s_.alpha == 1.f && s_.beta == 1.f;
      c_in_prefill_ = !bias;
    }
    residual_ = s_.epilogue.residual && present(inputs, 3);
    if (residual_) QRT_RETURN_IF_ERROR(planResidual(inputs[3].dims, y));
    prefill_ = c_in_prefill_ || residual_;
    if (prefill_ && dt != memory::data_type::f32)  // the prefill loop is fp32 only
      return unsupported(where(), ": C or Z prefilled in ", dataTypeName(inputs[0].dtype));
    dnnl::primitive_attr attr = userScratchpad();
    QRT_RETURN_IF_ERROR(dnnlTry(where(), [&] {
      if (s_.alpha != 1.f) attr.set_output_scales(0, {s_.alpha});
      attr.set_post_ops(postOps(s_.epilogue, prefill_));
    }));
    bias_ = bias;
    return plan_.build(src, wei, bias ? plainDesc({1, n_}, dnnlType(inputs[2].dtype)) : memory::desc(), dst, attr, s_.b,
                       engine(), where());
  }

  size_t bytes() const override { return plan_.ws.bytes(); }

  Status execute(const std::vector<TensorView>& inputs, const std::vector<TensorView>& outputs, void* ws) override {
    float* y = outputs[0].as<float>();
    if (prefill_)
      prefill(c_in_prefill_ ? inputs[2].as<const float>() : nullptr, residual_ ? inputs[3].as<const float>() : nullptr,
              y);
    return plan_.run(inputs[0].data, inputs[1].data, bias_ ? inputs[2].data : nullptr, y, ws, stream(), where());
  }

 private:
  // Offsets of Z's rows for each row of Y ([rows, N] view), and the step along a row (0 when Z
  // repeats along N). Z broadcasts to Y's own dims.
  Status planResidual(const Dims& z, const Dims& y) {
    const size_t r = y.size();
    if (r == 0 || z.size() > r) return unsupported(where(), ": Z ", dimsToString(z), " for Y ", dimsToString(y));
    const size_t lead = r - z.size();  // Z's missing leading dims
    std::vector<int64_t> zs(r, 0);     // Z's strides along Y's dims, 0 where Z repeats
    int64_t stride = 1;
    for (size_t i = r; i-- > lead;) {
      const int64_t d = z[i - lead];
      if (d != 1 && d != y[i]) return unsupported(where(), ": Z ", dimsToString(z), " does not broadcast");
      zs[i] = d == 1 ? 0 : stride;
      stride *= d;
    }
    z_col_stride_ = zs[r - 1];
    z_row_offset_.assign(static_cast<size_t>(m_), 0);
    std::vector<int64_t> idx(r, 0);  // the current row's index in Y's leading dims
    for (int64_t row = 0; row < m_; ++row) {
      int64_t off = 0;
      for (size_t i = 0; i + 1 < r; ++i) off += idx[i] * zs[i];
      z_row_offset_[static_cast<size_t>(row)] = off;
      for (size_t d = r - 1; d-- > 0;) {
        if (++idx[d] < y[d]) break;
        idx[d] = 0;
      }
    }
    return Status::Ok();
  }

  // y = beta * C + Z, each broadcast to [M, N] (either may be absent).
  void prefill(const float* c, const float* z, float* y) const {
    const float beta = s_.beta;
    for (int64_t i = 0; i < m_; ++i) {
      float* y_row = y + i * n_;
      const float* c_row = c ? c + (c_rows_ == 1 ? 0 : i) * c_cols_ : nullptr;
      const int64_t c_step = c_cols_ == 1 ? 0 : 1;
      const float* z_row = z ? z + z_row_offset_[static_cast<size_t>(i)] : nullptr;
      for (int64_t j = 0; j < n_; ++j) {
        float v = c_row ? beta * c_row[j * c_step] : 0.f;
        if (z_row) v += z_row[j * z_col_stride_];
        y_row[j] = v;
      }
    }
  }

  GemmSetup s_;
  MatMulPlan plan_;
  bool bias_ = false, c_in_prefill_ = false, residual_ = false, prefill_ = false;
  int64_t m_ = 0, n_ = 0, c_rows_ = 1, c_cols_ = 1, z_col_stride_ = 0;
  std::vector<int64_t> z_row_offset_;
};

class MatMulKernel final : public DnnlKernel {
 public:
  MatMulKernel(std::string where, std::optional<HostTensor> b, std::unique_ptr<Kernel> fallback)
      : DnnlKernel(std::move(where), std::move(fallback)), b_(std::move(b)) {}

 protected:
  Status prepare(const std::vector<TensorView>& inputs, const std::vector<TensorView>& outputs) override {
    QRT_ASSIGN_OR_RETURN(MatMulDims d, matmulDims(inputs[0].dims, inputs[1].dims, outputs[0].dims, where()));
    const Dims &a = d.a, &b = d.b, &y = d.y;
    dnnl::primitive_attr attr = userScratchpad();
    return plan_.build(plainDesc(toDnnl(a), dnnlType(inputs[0].dtype)), plainDesc(toDnnl(b), dnnlType(inputs[1].dtype)),
                       memory::desc(), plainDesc(toDnnl(y), dnnlType(outputs[0].dtype)), attr, b_, engine(), where());
  }

  size_t bytes() const override { return plan_.ws.bytes(); }

  Status execute(const std::vector<TensorView>& inputs, const std::vector<TensorView>& outputs, void* ws) override {
    return plan_.run(inputs[0].data, inputs[1].data, nullptr, outputs[0].data, ws, stream(), where());
  }

 private:
  std::optional<HostTensor> b_;
  MatMulPlan plan_;
};

}  // namespace

Result<std::unique_ptr<Kernel>> makeGemmKernel(const ir::Node& node, Epilogue epilogue) {
  GemmSetup s;
  s.where = node.describe();
  s.trans_a = node.attrInt("transA", 0) != 0;
  s.trans_b = node.attrInt("transB", 0) != 0;
  s.alpha = node.attrFloat("alpha", 1.f);
  s.beta = node.attrFloat("beta", 1.f);
  s.epilogue = std::move(epilogue);
  if (!node.hasInput(0) || !node.hasInput(1)) return invalidArgument(s.where, ": needs A and B");
  if (node.hasInput(2) && node.inputs[2]->has_shape && node.inputs[2]->dims.size() > 2)
    return unsupported(s.where, ": C of rank ", node.inputs[2]->dims.size());
  s.b = constantOf(node, 1);
  QRT_ASSIGN_OR_RETURN(std::unique_ptr<Kernel> fallback, referenceKernel(node));
  return std::unique_ptr<Kernel>(new GemmKernel(std::move(s), std::move(fallback)));
}

Result<std::unique_ptr<Kernel>> createGemm(const ir::Node& node) { return makeGemmKernel(node, {}); }

Result<std::unique_ptr<Kernel>> createMatMul(const ir::Node& node) {
  QRT_ASSIGN_OR_RETURN(std::unique_ptr<Kernel> fallback, referenceKernel(node));
  return std::unique_ptr<Kernel>(new MatMulKernel(node.describe(), constantOf(node, 1), std::move(fallback)));
}

}  // namespace qrt::cpu
