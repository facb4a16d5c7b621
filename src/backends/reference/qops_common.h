// Shared pieces of the reference integer kernels (qconv.cpp, qgemm.cpp): the two integer loops
// (a convolution plane and a matrix row, int32 accumulation of (x - x_zp) * (w - w_zp)),
// parameter reading, and the epilogues that turn an int32 accumulator into an output element.
//
// Every integer op is "loop + epilogue" (an epilogue has reshape(inputs, channels, rows, ws, where),
// prepare(inputs, layout, ws) at the start of run, and apply(acc, row, channel)): ConvInteger/MatMulInteger store the accumulator;
// QLinearConv/QLinearMatMul rescale it and requantize with a zero point; qrt's fused
// QConv/QGemm/QMatMul rescale, add a float bias, apply Relu/Clip and either store float or
// requantize to int8. Scales and zero points are inputs read in run() into workspace arrays.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <type_traits>
#include <vector>

#include "backends/reference/nn_util.h"

namespace qrt::reference {

// Factories of the integer kernels, declared for the table in qops.cpp.
Result<std::unique_ptr<Kernel>> createQConv(const ir::Node& node);          // qconv.cpp
Result<std::unique_ptr<Kernel>> createConvInteger(const ir::Node& node);    // qconv.cpp
Result<std::unique_ptr<Kernel>> createQLinearConv(const ir::Node& node);    // qconv.cpp
Result<std::unique_ptr<Kernel>> createQGemm(const ir::Node& node);          // qgemm.cpp
Result<std::unique_ptr<Kernel>> createQMatMul(const ir::Node& node);        // qgemm.cpp
Result<std::unique_ptr<Kernel>> createMatMulInteger(const ir::Node& node);  // qgemm.cpp
Result<std::unique_ptr<Kernel>> createQLinearMatMul(const ir::Node& node);  // qgemm.cpp

// ---- reading parameters ----------------------------------------------------------------------

// Element i of an integer tensor (int8, uint8, int32); 0 for an absent (optional) input.
inline int32_t intAt(const TensorView& t, int64_t i) {
  if (t.data == nullptr) return 0;
  switch (t.dtype) {
    case DataType::kInt8: return t.as<const int8_t>()[i];
    case DataType::kUInt8: return t.as<const uint8_t>()[i];
    case DataType::kInt32: return t.as<const int32_t>()[i];
    default: return 0;  // shape inference admits only the types above
  }
}

// An optional input (absent: dtype kUndefined, no data) as a view with null data.
inline TensorView optionalInput(const std::vector<TensorView>& in, int i) {
  return i >= 0 && present(in, static_cast<size_t>(i)) ? in[static_cast<size_t>(i)] : TensorView{};
}

// A per-tensor (1 element) or per-channel (`count` elements) parameter: checks the count.
inline Status checkPerChannel(const TensorView& t, int64_t count, const char* name, const std::string& where) {
  if (t.dtype == DataType::kUndefined) return Status::Ok();
  int64_t n = t.numel();
  if (n != 1 && n != count)
    return invalidArgument(where, ": ", name, " has ", n, " elements; expected 1 or ", count);
  return Status::Ok();
}

// Fills dst[0..count) with the parameter: its single value repeated, or its per-channel values.
inline void expandInt(const TensorView& t, int64_t count, int32_t* dst) {
  for (int64_t c = 0; c < count; ++c) dst[c] = t.data ? intAt(t, t.numel() == 1 ? 0 : c) : 0;
}
inline void expandFloat(const TensorView& t, int64_t count, float* dst) {
  for (int64_t c = 0; c < count; ++c) dst[c] = t.data ? t.as<const float>()[t.numel() == 1 ? 0 : c] : 0.f;
}

// round_half_to_even(v) saturated to TQ (NaN -> 0), as QuantizeLinear does; `zp` is added after
// rounding. std::nearbyint rounds half to even in the default rounding mode.
template <typename TQ> inline TQ saturateRound(float v, int32_t zp) {
  if (std::isnan(v)) return static_cast<TQ>(std::clamp<int32_t>(zp, std::numeric_limits<TQ>::lowest(),
                                                                  std::numeric_limits<TQ>::max()));
  const float q = std::nearbyint(v) + static_cast<float>(zp);
  const float lo = static_cast<float>(std::numeric_limits<TQ>::lowest());
  const float hi = static_cast<float>(std::numeric_limits<TQ>::max());
  return static_cast<TQ>(std::clamp(q, lo, hi));
}

// ---- the integer loops ---------------------------------------------------------------------

// The output positions o in [0, out) whose input position o * stride + offset lies in [0, in):
// [*lo, *hi), empty when none.
inline void validRange(int64_t in, int64_t out, int64_t stride, int64_t offset, int64_t* lo, int64_t* hi) {
  *lo = offset >= 0 ? 0 : (-offset + stride - 1) / stride;
  *hi = offset > in - 1 ? 0 : std::min(out, (in - 1 - offset) / stride + 1);
  if (*hi < *lo) *hi = *lo;
}

// One output plane of a convolution (one image, one output channel):
//   acc[p] = sum over the group's input channels ic and kernel taps t whose input position lies
//            inside the input of (x[ic][in(p, t)] - x_zp) * (w[ic][t] - w_zp).
// Taps over padding add nothing (as if the padding held x_zp, which is what QLinearConv and
// ConvInteger specify). x points at the group's first channel of the image, w at the output
// channel's [cg, k0, k1, k2] weights.
template <typename TX, typename TW>
void convPlaneInt(const Geom3& g, int64_t cg, const TX* x, int32_t x_zp, const TW* w, int32_t w_zp, int32_t* acc) {
  std::fill(acc, acc + g.out_vol, 0);
  for (int64_t ic = 0; ic < cg; ++ic) {
    const TX* xc = x + ic * g.in_vol;
    for (int64_t k0 = 0; k0 < g.k[0]; ++k0)
      for (int64_t k1 = 0; k1 < g.k[1]; ++k1)
        for (int64_t k2 = 0; k2 < g.k[2]; ++k2) {
          const int32_t wv = static_cast<int32_t>(w[((ic * g.k[0] + k0) * g.k[1] + k1) * g.k[2] + k2]) - w_zp;
          if (wv == 0) continue;
          const int64_t off0 = k0 * g.d[0] - g.pb[0], off1 = k1 * g.d[1] - g.pb[1], off2 = k2 * g.d[2] - g.pb[2];
          int64_t lo0, hi0, lo1, hi1, lo2, hi2;
          validRange(g.in[0], g.out[0], g.s[0], off0, &lo0, &hi0);
          validRange(g.in[1], g.out[1], g.s[1], off1, &lo1, &hi1);
          validRange(g.in[2], g.out[2], g.s[2], off2, &lo2, &hi2);
          for (int64_t o0 = lo0; o0 < hi0; ++o0)
            for (int64_t o1 = lo1; o1 < hi1; ++o1) {
              const TX* x_row = xc + ((o0 * g.s[0] + off0) * g.in[1] + (o1 * g.s[1] + off1)) * g.in[2] + off2;
              int32_t* acc_row = acc + (o0 * g.out[1] + o1) * g.out[2];
              for (int64_t o2 = lo2; o2 < hi2; ++o2)
                acc_row[o2] += wv * (static_cast<int32_t>(x_row[o2 * g.s[2]]) - x_zp);
            }
        }
  }
}

// A read-only strided matrix: element (r, c) is p[r * rs + c * cs].
template <typename T> struct MatrixRef {
  const T* p = nullptr;
  int64_t rs = 0, cs = 0;
  T at(int64_t r, int64_t c) const { return p[r * rs + c * cs]; }
};

// One output row of a matrix product: acc[j] = sum_k (a[k] - a_zp) * (B(k, j) - b_zp[j]) for
// j in [0, n), with a the row (element k at a_row[k * a_cs]). A row-major B ([K, N], cs 1) is
// walked k-outer so the inner loop runs along its rows; a B stored as [N, K] rows (QGemm's
// weights) is walked as n dot products along contiguous rows.
template <typename TA, typename TB>
void gemmRowInt(int64_t k, int64_t n, const TA* a_row, int64_t a_cs, int32_t a_zp, MatrixRef<TB> b,
                const int32_t* b_zp, int32_t* acc) {
  if (b.cs == 1) {
    std::fill(acc, acc + n, 0);
    for (int64_t kk = 0; kk < k; ++kk) {
      const int32_t av = static_cast<int32_t>(a_row[kk * a_cs]) - a_zp;
      if (av == 0) continue;
      const TB* b_row = b.p + kk * b.rs;
      for (int64_t j = 0; j < n; ++j) acc[j] += av * (static_cast<int32_t>(b_row[j]) - b_zp[j]);
    }
    return;
  }
  for (int64_t j = 0; j < n; ++j) {
    const TB* b_col = b.p + j * b.cs;
    int32_t s = 0;
    for (int64_t kk = 0; kk < k; ++kk)
      s += (static_cast<int32_t>(a_row[kk * a_cs]) - a_zp) * (static_cast<int32_t>(b_col[kk * b.rs]) - b_zp[j]);
    acc[j] = s;
  }
}

// The batch layout of a numpy matmul [..., M, K] x [..., K, N] (1-D operands promoted): the
// offsets of the A and B matrices each output matrix reads. Computed in reshape.
struct MatMulPlan {
  int64_t m = 0, k = 0, n = 0, batches = 0;
  std::vector<int64_t> a_offset, b_offset;
};
Result<MatMulPlan> planMatMul(const Dims& a, const Dims& b, const Dims& out, const std::string& where);

// ---- epilogues -------------------------------------------------------------------------------

// The activation of qrt's fused ops, read from the node's attributes.
struct FusedActivation {
  enum class Kind { kNone, kRelu, kClip, kHardSwish } kind = Kind::kNone;
  float lo = 0.f, hi = 0.f;
  // The scalar affine after a hard swish (post_scale, post_shift; passes/fuse_qdq.h): the
  // reference Mul's and Add's float operations, each rounded, as the unfused nodes compute them.
  bool affine = false;
  float post_scale = 1.f, post_shift = 0.f;
  float apply(float v) const {
    switch (kind) {
      case Kind::kRelu: return v < 0.f ? 0.f : v;  // NaN stays NaN, as Relu's max(0, x) in the reference
      case Kind::kClip: return v < lo ? lo : (v > hi ? hi : v);
      // The reference HardSwish's float arithmetic (unary.cpp), so the fused op equals the
      // unfused Conv -> HardSwish -> QuantizeLinear bit for bit.
      case Kind::kHardSwish: {
        const float h = v * std::max(0.f, std::min(1.f, v / 6.f + 0.5f));
        if (!affine) return h;
        const volatile float scaled = h * post_scale;  // two roundings, never one fused multiply-add
        return scaled + post_shift;
      }
      default: return v;
    }
  }
};
Result<FusedActivation> readFusedActivation(const ir::Node& node);

// qrt's fused ops: y = acc * (x_scale * w_scale[ch]) + bias[ch], the activation, then TY = float
// stores y, TY = int8 stores round_half_even(y / y_scale) saturated (exactly what the
// QuantizeLinear it replaced computes from the same float). The multiplier is formed in float
// as x_scale * w_scale[ch], and acc is converted exactly (|acc| < 2^24 for depth < 1024; beyond,
// one rounding of relative size 2^-24).
template <typename TY>
class FusedEpilogue {
 public:
  struct Inputs {
    int bias = -1, x_scale = -1, w_scale = -1, y_scale = -1;
  };
  FusedEpilogue(Inputs in, FusedActivation act) : in_(in), act_(act) {}

  // Checks parameter sizes and reserves the per-channel arrays (the scales are per tensor, so
  // `rows` does not matter).
  Status reshape(const std::vector<TensorView>& inputs, int64_t channels, int64_t /*rows*/, WorkspaceLayout& ws,
                 const std::string& where) {
    channels_ = channels;
    QRT_RETURN_IF_ERROR(checkPerChannel(optionalInput(inputs, in_.x_scale), 1, "x_scale", where));
    QRT_RETURN_IF_ERROR(checkPerChannel(optionalInput(inputs, in_.w_scale), channels, "w_scale", where));
    QRT_RETURN_IF_ERROR(checkPerChannel(optionalInput(inputs, in_.y_scale), 1, "y_scale", where));
    TensorView bias = optionalInput(inputs, in_.bias);
    if (bias.dtype != DataType::kUndefined && bias.numel() != channels)
      return invalidArgument(where, ": bias has ", bias.numel(), " elements; expected ", channels);
    ws_mult_ = ws.add<float>(channels);
    ws_bias_ = ws.add<float>(channels);
    return Status::Ok();
  }

  // Reads the scales and the bias of this run (they are inputs) into the workspace.
  void prepare(const std::vector<TensorView>& inputs, const WorkspaceLayout& layout, void* ws) {
    mult_ = layout.at<float>(ws, ws_mult_);
    bias_ = layout.at<float>(ws, ws_bias_);
    const float x_scale = inputs[static_cast<size_t>(in_.x_scale)].as<const float>()[0];
    expandFloat(inputs[static_cast<size_t>(in_.w_scale)], channels_, mult_);
    for (int64_t c = 0; c < channels_; ++c) mult_[c] = x_scale * mult_[c];
    expandFloat(optionalInput(inputs, in_.bias), channels_, bias_);
    TensorView ys = optionalInput(inputs, in_.y_scale);
    y_scale_ = ys.data ? ys.as<const float>()[0] : 1.f;
  }

  TY apply(int32_t acc, int64_t /*row*/, int64_t ch) const {
    const float y = act_.apply(static_cast<float>(acc) * mult_[ch] + bias_[ch]);
    if constexpr (std::is_same_v<TY, float>) return y;
    else return saturateRound<TY>(y / y_scale_, 0);
  }

  // QConv with an int8 residual: `z` is z_scale * z_q, formed in float by the caller. The order
  // is exactly that of the graph the fused node replaces (QConv with float output, then
  // Add(., DequantizeLinear(z_q)), [Relu], QuantizeLinear): (acc * mult + bias) rounded to float,
  // plus the dequantized residual rounded to float, the sum rounded, the activation, then
  // y / y_scale rounded half to even: the fused node computes the unfused graph's bits.
  TY applyResidual(int32_t acc, int64_t ch, float z) const {
    const float conv = static_cast<float>(acc) * mult_[ch] + bias_[ch];
    const float y = act_.apply(conv + z);
    if constexpr (std::is_same_v<TY, float>) return y;
    else return saturateRound<TY>(y / y_scale_, 0);
  }

 private:
  Inputs in_;
  FusedActivation act_;
  int64_t channels_ = 0;
  size_t ws_mult_ = 0, ws_bias_ = 0;
  float* mult_ = nullptr;
  float* bias_ = nullptr;
  float y_scale_ = 1.f;
};

// ConvInteger / MatMulInteger: the accumulator itself.
class Int32Epilogue {
 public:
  Status reshape(const std::vector<TensorView>&, int64_t, int64_t, WorkspaceLayout&, const std::string&) {
    return Status::Ok();
  }
  void prepare(const std::vector<TensorView>&, const WorkspaceLayout&, void*) {}
  int32_t apply(int32_t acc, int64_t, int64_t) const { return acc; }
};

// QLinearConv / QLinearMatMul: y = saturate(round_half_even((acc + bias[ch]) * m) + y_zp) with
// m = a_scale[row] * b_scale[ch] / y_scale in float (the order ONNX Runtime uses). a_scale is
// per tensor or per row of A (QLinearMatMul); b_scale per tensor or per channel/column; bias is
// QLinearConv's optional int32 B.
template <typename TY>
class QLinearEpilogue {
 public:
  struct Inputs {
    int a_scale = -1, b_scale = -1, y_scale = -1, y_zp = -1, bias = -1;
  };
  explicit QLinearEpilogue(Inputs in) : in_(in) {}

  Status reshape(const std::vector<TensorView>& inputs, int64_t channels, int64_t rows, WorkspaceLayout& ws,
                 const std::string& where) {
    channels_ = channels;
    rows_ = rows;
    QRT_RETURN_IF_ERROR(checkPerChannel(optionalInput(inputs, in_.a_scale), rows, "the input scale", where));
    QRT_RETURN_IF_ERROR(checkPerChannel(optionalInput(inputs, in_.b_scale), channels, "the weight scale", where));
    TensorView bias = optionalInput(inputs, in_.bias);
    if (bias.dtype != DataType::kUndefined && bias.numel() != channels)
      return invalidArgument(where, ": B has ", bias.numel(), " elements; expected ", channels);
    ws_a_ = ws.add<float>(rows);
    ws_b_ = ws.add<float>(channels);
    ws_bias_ = ws.add<int32_t>(channels);
    return Status::Ok();
  }

  void prepare(const std::vector<TensorView>& inputs, const WorkspaceLayout& layout, void* ws) {
    a_ = layout.at<float>(ws, ws_a_);
    b_ = layout.at<float>(ws, ws_b_);
    bias_ = layout.at<int32_t>(ws, ws_bias_);
    expandFloat(inputs[static_cast<size_t>(in_.a_scale)], rows_, a_);
    expandFloat(inputs[static_cast<size_t>(in_.b_scale)], channels_, b_);
    expandInt(optionalInput(inputs, in_.bias), channels_, bias_);
    y_scale_ = inputs[static_cast<size_t>(in_.y_scale)].as<const float>()[0];
    y_zp_ = intAt(inputs[static_cast<size_t>(in_.y_zp)], 0);
  }

  TY apply(int32_t acc, int64_t row, int64_t ch) const {
    const float m = a_[rows_ == 1 ? 0 : row] * b_[ch] / y_scale_;
    return saturateRound<TY>(static_cast<float>(acc + bias_[ch]) * m, y_zp_);
  }

 private:
  Inputs in_;
  int64_t channels_ = 0, rows_ = 1;
  size_t ws_a_ = 0, ws_b_ = 0, ws_bias_ = 0;
  float* a_ = nullptr;
  float* b_ = nullptr;
  int32_t* bias_ = nullptr;
  float y_scale_ = 1.f;
  int32_t y_zp_ = 0;
};

// Calls fn(TX{}, TW{}) for an (int8 | uint8) x (int8 | uint8) pair of operand types.
template <typename Fn> Status dispatchInt8Pair(DataType a, DataType b, Fn&& fn) {
  auto second = [&](auto ta) -> Status {
    switch (b) {
      case DataType::kInt8: fn(ta, int8_t{}); return Status::Ok();
      case DataType::kUInt8: fn(ta, uint8_t{}); return Status::Ok();
      default: return unsupported("integer operand of dtype ", dataTypeName(b), " (int8 and uint8 are supported)");
    }
  };
  switch (a) {
    case DataType::kInt8: return second(int8_t{});
    case DataType::kUInt8: return second(uint8_t{});
    default: return unsupported("integer operand of dtype ", dataTypeName(a), " (int8 and uint8 are supported)");
  }
}

}  // namespace qrt::reference
