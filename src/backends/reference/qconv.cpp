// Reference integer convolutions (1-D to 3-D, groups, strides, dilations, pads; NCHW):
// ConvInteger and QLinearConv (ONNX, uint8/int8 with zero points) and qrt's fused QConv
// (int8, zero point 0, float or requantized int8 output). One kernel serves all three: each
// (image, output channel) plane accumulates in int32 (convPlaneInt), then the op's epilogue
// turns each accumulator into an output element.
#include <algorithm>

#include "backends/reference/qops_common.h"

namespace qrt::reference {

namespace {

// Which inputs hold x, w and their (optional, -1: none) zero points.
struct ConvOperands {
  int x = 0, w = 1, x_zp = -1, w_zp = -1;
  int z = -1, z_scale = -1;  // QConv's int8 residual (of y's shape) and its scale
};

template <typename TX, typename TW, typename TY, typename Epi>
class IntConvKernel final : public Kernel {
 public:
  IntConvKernel(WindowAttrs a, ConvOperands io, Epi epi) : a_(std::move(a)), io_(io), epi_(std::move(epi)) {}

  Status reshape(const std::vector<TensorView>& inputs, const std::vector<TensorView>& outputs) override {
    const Dims& x = inputs[static_cast<size_t>(io_.x)].dims;
    const Dims& w = inputs[static_cast<size_t>(io_.w)].dims;
    QRT_ASSIGN_OR_RETURN(Window win, convWindow(a_, x, w));
    QRT_ASSIGN_OR_RETURN(g_, toGeom3(win, a_.where));
    Dims y{x[0], w[0]};
    y.insert(y.end(), win.out.begin(), win.out.end());
    QRT_RETURN_IF_ERROR(checkOutputDims(outputs[0], y, a_.where));
    if (io_.z >= 0) {
      if (inputs[static_cast<size_t>(io_.z)].dims != y)
        return invalidArgument(a_.where, ": z_q of shape ", dimsToString(inputs[static_cast<size_t>(io_.z)].dims),
                               " must have the output's shape ", dimsToString(y));
      QRT_RETURN_IF_ERROR(checkPerChannel(inputs[static_cast<size_t>(io_.z_scale)], 1, "z_scale", a_.where));
    }
    n_ = x[0];
    c_ = x[1];
    m_ = w[0];
    cg_ = c_ / a_.group;
    mg_ = m_ / a_.group;
    QRT_RETURN_IF_ERROR(checkPerChannel(optionalInput(inputs, io_.x_zp), 1, "x_zero_point", a_.where));
    QRT_RETURN_IF_ERROR(checkPerChannel(optionalInput(inputs, io_.w_zp), m_, "w_zero_point", a_.where));
    lanes_ = laneCount(n_ * m_);
    ws_.clear();
    ws_w_zp_ = ws_.add<int32_t>(m_);
    ws_acc_ = ws_.add<int32_t>(lanes_ * g_.out_vol);
    return epi_.reshape(inputs, m_, 1, ws_, a_.where);
  }

  size_t workspaceBytes() const override { return ws_.bytes(); }

  Status run(const std::vector<TensorView>& inputs, const std::vector<TensorView>& outputs, void* ws) override {
    epi_.prepare(inputs, ws_, ws);
    const int32_t x_zp = intAt(optionalInput(inputs, io_.x_zp), 0);
    int32_t* w_zp = ws_.at<int32_t>(ws, ws_w_zp_);
    expandInt(optionalInput(inputs, io_.w_zp), m_, w_zp);
    const TX* x = inputs[static_cast<size_t>(io_.x)].as<const TX>();
    const TW* w = inputs[static_cast<size_t>(io_.w)].as<const TW>();
    TY* y = outputs[0].as<TY>();
    const int8_t* z = io_.z >= 0 ? inputs[static_cast<size_t>(io_.z)].as<const int8_t>() : nullptr;
    const float z_scale = io_.z >= 0 ? inputs[static_cast<size_t>(io_.z_scale)].as<const float>()[0] : 0.f;
    const int64_t plane = g_.out_vol;
    parallelLanes(n_ * m_, lanes_, [&](int64_t item, int64_t lane) {
      const int64_t n = item / m_, oc = item % m_, group = oc / mg_;
      int32_t* acc = ws_.at<int32_t>(ws, ws_acc_) + lane * plane;
      convPlaneInt(g_, cg_, x + (n * c_ + group * cg_) * g_.in_vol, x_zp, w + oc * cg_ * g_.k_vol, w_zp[oc], acc);
      TY* y_plane = y + item * plane;
      if constexpr (requires { epi_.applyResidual(int32_t{0}, int64_t{0}, 0.f); }) {
        if (z) {
          const int8_t* z_plane = z + item * plane;
          for (int64_t p = 0; p < plane; ++p)
            y_plane[p] = epi_.applyResidual(acc[p], oc, z_scale * static_cast<float>(z_plane[p]));
          return;
        }
      }
      for (int64_t p = 0; p < plane; ++p) y_plane[p] = epi_.apply(acc[p], 0, oc);
    });
    return Status::Ok();
  }

 private:
  WindowAttrs a_;
  ConvOperands io_;
  Epi epi_;
  Geom3 g_{};
  int64_t n_ = 0, c_ = 0, m_ = 0, cg_ = 0, mg_ = 0, lanes_ = 1;
  WorkspaceLayout ws_;
  size_t ws_w_zp_ = 0, ws_acc_ = 0;
};

template <typename TX, typename TW, typename TY, typename Epi>
std::unique_ptr<Kernel> newIntConv(WindowAttrs a, ConvOperands io, Epi epi) {
  return std::make_unique<IntConvKernel<TX, TW, TY, Epi>>(std::move(a), io, std::move(epi));
}

}  // namespace

// QConv inputs: x_q 0, w_q 1, bias 2, x_scale 3, w_scale 4, y_scale 5 (optional), z_q 6 and
// z_scale 7 (optional, together).
Result<std::unique_ptr<Kernel>> createQConv(const ir::Node& node) {
  QRT_ASSIGN_OR_RETURN(WindowAttrs a, readWindowAttrs(node));
  QRT_ASSIGN_OR_RETURN(FusedActivation act, readFusedActivation(node));
  ConvOperands io{0, 1, -1, -1};
  if (node.hasInput(6) != node.hasInput(7))
    return invalidArgument(node.describe(), ": QConv takes z_q and z_scale together");
  if (node.hasInput(6)) {
    if (node.inputs[6]->dtype != DataType::kInt8) return unsupported(node.describe(), ": QConv takes an int8 z_q");
    io.z = 6;
    io.z_scale = 7;
  }
  const int y_scale = node.hasInput(5) ? 5 : -1;
  if (node.inputs[0]->dtype != DataType::kInt8 || node.inputs[1]->dtype != DataType::kInt8)
    return unsupported(node.describe(), ": QConv takes int8 x_q and w_q");
  if (y_scale < 0)
    return newIntConv<int8_t, int8_t, float>(std::move(a), io, FusedEpilogue<float>({2, 3, 4, -1}, act));
  return newIntConv<int8_t, int8_t, int8_t>(std::move(a), io, FusedEpilogue<int8_t>({2, 3, 4, y_scale}, act));
}

// ConvInteger inputs: x 0, w 1, x_zero_point 2, w_zero_point 3.
Result<std::unique_ptr<Kernel>> createConvInteger(const ir::Node& node) {
  QRT_ASSIGN_OR_RETURN(WindowAttrs a, readWindowAttrs(node));
  std::unique_ptr<Kernel> k;
  Status s = dispatchInt8Pair(node.inputs[0]->dtype, node.inputs[1]->dtype, [&](auto tx, auto tw) {
    k = newIntConv<decltype(tx), decltype(tw), int32_t>(a, ConvOperands{0, 1, 2, 3}, Int32Epilogue{});
  });
  if (!s.ok()) return s.withContext(node.describe());
  return k;
}

// QLinearConv inputs: x 0, x_scale 1, x_zero_point 2, w 3, w_scale 4, w_zero_point 5, y_scale 6,
// y_zero_point 7, B 8 (optional).
Result<std::unique_ptr<Kernel>> createQLinearConv(const ir::Node& node) {
  QRT_ASSIGN_OR_RETURN(WindowAttrs a, readWindowAttrs(node));
  const ConvOperands io{0, 3, 2, 5};
  const int bias = node.hasInput(8) ? 8 : -1;
  std::unique_ptr<Kernel> k;
  Status inner = Status::Ok();
  Status s = dispatchInt8Pair(node.inputs[0]->dtype, node.inputs[3]->dtype, [&](auto tx, auto tw) {
    using TX = decltype(tx);
    using TW = decltype(tw);
    switch (node.outputs[0]->dtype) {
      case DataType::kUInt8:
        k = newIntConv<TX, TW, uint8_t>(a, io, QLinearEpilogue<uint8_t>({1, 4, 6, 7, bias}));
        break;
      case DataType::kInt8:
        k = newIntConv<TX, TW, int8_t>(a, io, QLinearEpilogue<int8_t>({1, 4, 6, 7, bias}));
        break;
      default:
        inner = unsupported("output dtype ", dataTypeName(node.outputs[0]->dtype), " (uint8 and int8 are supported)");
    }
  });
  if (!s.ok()) return s.withContext(node.describe());
  if (!inner.ok()) return inner.withContext(node.describe());
  return k;
}

}  // namespace qrt::reference
