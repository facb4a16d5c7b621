// Reference kernels of QuantizeLinear and DequantizeLinear. These define what INT8 means in qrt,
// so they follow ONNX exactly: x / scale is computed in float32 (double for int32 x), rounded
// half to even with std::nearbyint (default rounding mode), offset by the zero point and
// saturated to the output type. Scales and zero points are read at run time (they are inputs).
#include <algorithm>
#include <cmath>
#include <limits>

#include "backends/reference/elementwise_util.h"
#include "backends/reference/kernel_table.h"

namespace qrt::reference {

namespace {

// x viewed as [outer, channels, inner]: element (o, c, i) uses scale[c] and zero_point[c].
// Per-tensor parameters are the case channels == 1.
struct AxisLayout {
  int64_t outer = 1, channels = 1, inner = 1;
};

Result<AxisLayout> axisLayout(const Dims& x, int64_t num_scales, int64_t axis_attr) {
  AxisLayout l;
  if (num_scales == 1) {
    l.inner = volume(x);
    return l;
  }
  int64_t rank = static_cast<int64_t>(x.size());
  int64_t axis = axis_attr < 0 ? axis_attr + rank : axis_attr;
  if (axis < 0 || axis >= rank) return invalidArgument("axis ", axis_attr, " is out of range for x of shape ", dimsToString(x));
  if (x[axis] != num_scales)
    return invalidArgument("scale has ", num_scales, " elements but x has ", x[axis], " along axis ", axis);
  for (int64_t d = 0; d < axis; ++d) l.outer *= x[d];
  l.channels = x[axis];
  for (int64_t d = axis + 1; d < rank; ++d) l.inner *= x[d];
  return l;
}

float scaleAt(const TensorView& s, int64_t i) {
  switch (s.dtype) {
    case DataType::kFloat: return s.as<const float>()[i];
    case DataType::kDouble: return static_cast<float>(s.as<const double>()[i]);
    case DataType::kHalf: return static_cast<float>(s.as<const Half>()[i]);
    case DataType::kBFloat16: return static_cast<float>(s.as<const BFloat16>()[i]);
    default: return 1.0f;  // inference admits float scales only
  }
}

// The zero point of channel i; 0 when the optional input is absent.
int64_t zeroPointAt(const std::vector<TensorView>& inputs, int64_t i) {
  if (inputs.size() < 3 || inputs[2].data == nullptr) return 0;
  const TensorView& z = inputs[2];
  switch (z.dtype) {
    case DataType::kInt8: return z.as<const int8_t>()[i];
    case DataType::kUInt8: return z.as<const uint8_t>()[i];
    case DataType::kInt16: return z.as<const int16_t>()[i];
    case DataType::kUInt16: return z.as<const uint16_t>()[i];
    case DataType::kInt32: return z.as<const int32_t>()[i];
    default: return 0;
  }
}

// round_half_even(v) + zp, saturated to TQ. NaN maps to the zero point (ONNX leaves it open).
template <typename TQ, typename C>
TQ quantizeValue(C v, int64_t zp) {
  constexpr C lo = static_cast<C>(std::numeric_limits<TQ>::lowest());
  constexpr C hi = static_cast<C>(std::numeric_limits<TQ>::max());
  if (std::isnan(v)) return static_cast<TQ>(zp);
  C q = std::nearbyint(v) + static_cast<C>(zp);  // exact while |q| < 2^24; beyond, it saturates
  return static_cast<TQ>(std::clamp(q, lo, hi));
}

template <typename TX, typename TQ>
class QuantizeKernel final : public Kernel {
 public:
  explicit QuantizeKernel(int64_t axis) : axis_(axis) {}

  Status reshape(const std::vector<TensorView>& inputs, const std::vector<TensorView>&) override {
    QRT_ASSIGN_OR_RETURN(layout_, axisLayout(inputs[0].dims, inputs[1].numel(), axis_));
    return Status::Ok();
  }

  Status run(const std::vector<TensorView>& inputs, const std::vector<TensorView>& outputs, void*) override {
    // Float inputs divide in float32, as ONNX's reference does; int32 inputs in double, since
    // float cannot hold every int32.
    using C = std::conditional_t<std::is_same_v<TX, int32_t>, double, float>;
    const TX* x = inputs[0].as<const TX>();
    TQ* y = outputs[0].as<TQ>();
    const AxisLayout l = layout_;
    parallelRange(l.outer * l.channels, [&](int64_t b, int64_t e) {
      for (int64_t row = b; row < e; ++row) {
        int64_t c = row % l.channels;
        const C scale = static_cast<C>(scaleAt(inputs[1], c));
        const int64_t zp = zeroPointAt(inputs, c);
        const TX* xr = x + row * l.inner;
        TQ* yr = y + row * l.inner;
        for (int64_t i = 0; i < l.inner; ++i) yr[i] = quantizeValue<TQ>(static_cast<C>(load(xr[i])) / scale, zp);
      }
    }, std::max<int64_t>(1, kElementGrain / std::max<int64_t>(1, l.inner)));
    return Status::Ok();
  }

 private:
  int64_t axis_;
  AxisLayout layout_;
};

template <typename TX, typename TY>
class DequantizeKernel final : public Kernel {
 public:
  explicit DequantizeKernel(int64_t axis) : axis_(axis) {}

  Status reshape(const std::vector<TensorView>& inputs, const std::vector<TensorView>&) override {
    QRT_ASSIGN_OR_RETURN(layout_, axisLayout(inputs[0].dims, inputs[1].numel(), axis_));
    return Status::Ok();
  }

  Status run(const std::vector<TensorView>& inputs, const std::vector<TensorView>& outputs, void*) override {
    const TX* x = inputs[0].as<const TX>();
    TY* y = outputs[0].as<TY>();
    const AxisLayout l = layout_;
    parallelRange(l.outer * l.channels, [&](int64_t b, int64_t e) {
      for (int64_t row = b; row < e; ++row) {
        int64_t c = row % l.channels;
        const float scale = scaleAt(inputs[1], c);
        const int64_t zp = zeroPointAt(inputs, c);
        const TX* xr = x + row * l.inner;
        TY* yr = y + row * l.inner;
        // The difference is exact in int64; one float multiply, one rounding to TY.
        for (int64_t i = 0; i < l.inner; ++i)
          yr[i] = store<TY>(static_cast<float>(static_cast<int64_t>(xr[i]) - zp) * scale);
      }
    }, std::max<int64_t>(1, kElementGrain / std::max<int64_t>(1, l.inner)));
    return Status::Ok();
  }

 private:
  int64_t axis_;
  AxisLayout layout_;
};

// DynamicQuantizeLinear: the range [min(0, min x), max(0, max x)] maps onto uint8 [0, 255];
// y_scale = range / 255, y_zero_point = round(saturate(0 - min / y_scale)), then y quantizes x
// as QuantizeLinear does. An all-zero x has no range: y_scale is then 1 (as ONNX Runtime does)
// rather than the 0 that would divide by zero.
class DynamicQuantizeKernel final : public Kernel {
 public:
  Status run(const std::vector<TensorView>& inputs, const std::vector<TensorView>& outputs, void*) override {
    const float* x = inputs[0].as<const float>();
    const int64_t n = inputs[0].numel();
    float lo = 0.0f, hi = 0.0f;
    for (int64_t i = 0; i < n; ++i) {
      lo = std::min(lo, x[i]);
      hi = std::max(hi, x[i]);
    }
    const float scale = hi == lo ? 1.0f : (hi - lo) / 255.0f;
    const float zp_float = std::nearbyint(std::clamp(0.0f - lo / scale, 0.0f, 255.0f));
    const int64_t zp = static_cast<int64_t>(zp_float);
    uint8_t* y = outputs[0].as<uint8_t>();
    parallelRange(n, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) y[i] = quantizeValue<uint8_t>(x[i] / scale, zp);
    });
    if (outputs.size() > 1 && outputs[1].data) *outputs[1].as<float>() = scale;
    if (outputs.size() > 2 && outputs[2].data) *outputs[2].as<uint8_t>() = static_cast<uint8_t>(zp);
    return Status::Ok();
  }
};

template <typename Fn>
Status dispatchQuantized(DataType t, Fn&& fn) {
  switch (t) {
    case DataType::kInt8: fn(int8_t{}); return Status::Ok();
    case DataType::kUInt8: fn(uint8_t{}); return Status::Ok();
    case DataType::kInt16: fn(int16_t{}); return Status::Ok();
    case DataType::kUInt16: fn(uint16_t{}); return Status::Ok();
    default: return unsupported("dtype ", dataTypeName(t), " is not a quantized type");
  }
}

// Float-typed x (scales in their own dtype), or int32.
template <typename Fn>
Status dispatchQuantizeInput(DataType t, Fn&& fn) {
  switch (t) {
    case DataType::kFloat: fn(float{}); return Status::Ok();
    case DataType::kHalf: fn(Half{}); return Status::Ok();
    case DataType::kBFloat16: fn(BFloat16{}); return Status::Ok();
    case DataType::kInt32: fn(int32_t{}); return Status::Ok();
    default: return unsupported("QuantizeLinear of ", dataTypeName(t), " is not supported");
  }
}

Result<std::unique_ptr<Kernel>> createQuantizeLinear(const ir::Node& node) {
  const int64_t axis = node.attrInt("axis", 1);
  std::unique_ptr<Kernel> k;
  Status inner = Status::Ok();
  Status outer = dispatchQuantizeInput(node.inputs[0]->dtype, [&](auto x_tag) {
    inner = dispatchQuantized(node.outputs[0]->dtype, [&](auto q_tag) {
      k = std::make_unique<QuantizeKernel<decltype(x_tag), decltype(q_tag)>>(axis);
    });
  });
  if (!outer.ok()) return outer.withContext(node.describe());
  if (!inner.ok()) return inner.withContext(node.describe());
  return k;
}

Result<std::unique_ptr<Kernel>> createDequantizeLinear(const ir::Node& node) {
  const int64_t axis = node.attrInt("axis", 1);
  std::unique_ptr<Kernel> k;
  Status inner = Status::Ok();
  Status outer = dispatchInt(node.inputs[0]->dtype, [&](auto x_tag) {
    inner = dispatchFloat(node.outputs[0]->dtype, [&](auto y_tag) {
      k = std::make_unique<DequantizeKernel<decltype(x_tag), decltype(y_tag)>>(axis);
    });
  });
  if (!outer.ok()) return outer.withContext(node.describe());
  if (!inner.ok()) return inner.withContext(node.describe());
  return k;
}

Result<std::unique_ptr<Kernel>> createDynamicQuantizeLinear(const ir::Node&) {
  return std::unique_ptr<Kernel>(std::make_unique<DynamicQuantizeKernel>());
}

const KernelEntry kEntries[] = {
    {"QuantizeLinear", DTypeSet{DataType::kFloat, DataType::kHalf, DataType::kBFloat16, DataType::kInt32},
     &createQuantizeLinear},
    {"DequantizeLinear",
     DTypeSet{DataType::kInt8, DataType::kUInt8, DataType::kInt16, DataType::kUInt16, DataType::kInt32},
     &createDequantizeLinear},
    {"DynamicQuantizeLinear", DTypeSet{DataType::kFloat}, &createDynamicQuantizeLinear},
};

}  // namespace

std::span<const KernelEntry> quantizeKernels() { return kEntries; }

}  // namespace qrt::reference
