#include "backends/cpu/qlayer.h"

#include <cmath>

#include "backends/cpu/dnnl_util.h"

namespace qrt::cpu {

Result<QuantEpilogue> readQuantEpilogue(const ir::Node& node, int bias, int x_scale, int w_scale, int y_scale) {
  QuantEpilogue e;
  e.bias = bias >= 0 && node.hasInput(static_cast<size_t>(bias)) ? bias : -1;
  e.x_scale = x_scale;
  e.w_scale = w_scale;
  e.y_scale = y_scale >= 0 && node.hasInput(static_cast<size_t>(y_scale)) ? y_scale : -1;
  const std::string act = node.attrString("activation", "none");
  if (act == "relu") {
    e.act = QuantEpilogue::Act::kRelu;
  } else if (act == "clip") {
    e.act = QuantEpilogue::Act::kClip;
    e.clip_min = node.attrFloat("clip_min", 0.f);
    e.clip_max = node.attrFloat("clip_max", 0.f);
  } else if (act == "hard_swish") {
    e.act = QuantEpilogue::Act::kHardSwish;
    e.post_scale = node.attrFloat("post_scale", 1.f);
    e.post_shift = node.attrFloat("post_shift", 0.f);
  } else if (act != "none") {
    return invalidArgument(node.describe(), ": unknown activation '", act, "'");
  }
  return e;
}

bool epilogueInputsConstant(const ir::Node& node, const QuantEpilogue& e) {
  for (int i : {e.bias, e.x_scale, e.w_scale, e.y_scale}) {
    if (i < 0) continue;
    const size_t k = static_cast<size_t>(i);
    if (!node.hasInput(k) || !node.inputs[k]->isConstant()) return false;
  }
  return true;
}

namespace {

// Input i's floats (nullptr when it is absent or has no host data), with its element count.
const float* hostFloats(const std::vector<TensorView>& in, int i, int64_t* n) {
  *n = 0;
  if (i < 0 || static_cast<size_t>(i) >= in.size() || in[static_cast<size_t>(i)].dtype != DataType::kFloat)
    return nullptr;
  const TensorView& t = in[static_cast<size_t>(i)];
  *n = t.numel();
  return static_cast<const float*>(t.data);
}

}  // namespace

Result<QuantAttrs> quantAttrs(const QuantEpilogue& e, const std::vector<TensorView>& inputs, int64_t channels,
                              int channel_dim, const std::string& where) {
  int64_t nx = 0, nw = 0, ny = 0, nb = 0;
  const float* xs = hostFloats(inputs, e.x_scale, &nx);
  const float* ws = hostFloats(inputs, e.w_scale, &nw);
  const float* ys = e.y_scale >= 0 ? hostFloats(inputs, e.y_scale, &ny) : nullptr;
  const float* b = e.bias >= 0 ? hostFloats(inputs, e.bias, &nb) : nullptr;
  if (!xs || !ws || (e.y_scale >= 0 && !ys) || (e.bias >= 0 && !b))
    return unsupported(where, ": scales and bias are not known at reshape");
  if (nx != 1 || (nw != 1 && nw != channels) || (e.y_scale >= 0 && ny != 1) || (b && nb != channels))
    return invalidArgument(where, ": scale or bias sizes do not match ", channels, " channels");
  const float y_scale = ys ? ys[0] : 1.f;
  QuantAttrs q;
  // The reference's multiplier x_scale * w_scale[c], formed in float as there.
  std::vector<float> mult(static_cast<size_t>(nw));
  for (int64_t c = 0; c < nw; ++c) mult[static_cast<size_t>(c)] = xs[0] * ws[c];
  // HardSwish is not positively homogeneous: it runs on the real value, and y_scale (with the
  // affine after it, post_scale and post_shift) comes after, as one linear post-op.
  const bool scale_after = e.act == QuantEpilogue::Act::kHardSwish &&
                           (y_scale != 1.f || e.post_scale != 1.f || e.post_shift != 0.f);
  q.scales.resize(mult.size());
  for (size_t c = 0; c < mult.size(); ++c) q.scales[c] = scale_after ? mult[c] : mult[c] / y_scale;
  if (b) {
    q.bias.resize(static_cast<size_t>(channels));
    for (int64_t c = 0; c < channels; ++c) q.bias[static_cast<size_t>(c)] = b[c] / mult[nw == 1 ? 0 : static_cast<size_t>(c)];
  }
  QRT_RETURN_IF_ERROR(dnnlTry(where, [&] {
    q.attr = userScratchpad();
    q.attr.set_output_scales(nw == 1 ? 0 : 1 << channel_dim, q.scales);
    dnnl::post_ops ops;
    if (e.act == QuantEpilogue::Act::kRelu) ops.append_eltwise(1.f, dnnl::algorithm::eltwise_relu, 0.f, 0.f);
    if (e.act == QuantEpilogue::Act::kClip)
      ops.append_eltwise(1.f, dnnl::algorithm::eltwise_clip, e.clip_min / y_scale, e.clip_max / y_scale);
    if (e.act == QuantEpilogue::Act::kHardSwish) {
      ops.append_eltwise(1.f, dnnl::algorithm::eltwise_hardswish, 0.f, 0.f);
      if (scale_after)
        ops.append_eltwise(1.f, dnnl::algorithm::eltwise_linear, e.post_scale / y_scale, e.post_shift / y_scale);
    }
    q.attr.set_post_ops(ops);
  }));
  return q;
}

bool sameWeights(const dnnl::memory::desc& chosen, const dnnl::memory::desc& given) {
  return chosen.data.extra.flags == 0 && sameLayout(chosen, given);
}

bool nonNegativeInt8(const ir::Value* v) {
  if (!v || v->dtype != DataType::kInt8 || !v->producer) return false;
  const ir::Node& p = *v->producer;
  // AddQuantize (the fused residual tail) with its relu: the quantized max(a + b, 0), its output 0.
  if (p.domain == "qrt" && p.op_type == "AddQuantize")
    return p.attrInt("relu", 0) != 0 && !p.outputs.empty() && p.outputs[0] == v;
  if (p.domain == "qrt" && (p.op_type == "QConv" || p.op_type == "QGemm" || p.op_type == "QMatMul")) {
    const std::string act = p.attrString("activation", "none");
    return act == "relu" || (act == "clip" && p.attrFloat("clip_min", 0.f) >= 0.f);
  }
  if (p.domain.empty() || p.domain == "ai.onnx") {
    if (p.op_type == "MaxPool" && p.outputs.size() >= 1 && p.outputs[0] == v && p.hasInput(0))
      return nonNegativeInt8(p.inputs[0]);
    if (p.op_type == "QuantizeLinear" && p.hasInput(0) && p.inputs[0]->producer &&
        p.inputs[0]->producer->op_type == "Relu" && p.inputs[0]->producer->domain.empty()) {
      // zero point absent would make uint8 (excluded above), so it is an int8 constant: all 0?
      if (!p.hasInput(2) || !p.inputs[2]->isConstant()) return false;
      const HostTensor& zp = *p.inputs[2]->constant;
      const int8_t* z = static_cast<const int8_t*>(zp.data());
      for (int64_t i = 0; i < zp.numel(); ++i)
        if (z[i] != 0) return false;
      return true;
    }
  }
  return false;
}

}  // namespace qrt::cpu
