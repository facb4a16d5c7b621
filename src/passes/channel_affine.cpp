#include "passes/channel_affine.h"

#include "ops/nn_params.h"
#include "passes/rewrite_util.h"

namespace qrt::passes {

namespace {

// Input i as a float constant of `dtype` (absent: ok, *t stays null).
bool optionalConstant(const ir::Node& n, size_t i, DataType dtype, const HostTensor** t) {
  *t = nullptr;
  if (!n.hasInput(i)) return true;
  const ir::Value* v = n.inputs[i];
  if (!v->isConstant() || v->dtype != dtype) return false;
  *t = &*v->constant;
  return true;
}

// The layer's constant weights (input 1), when float.
const HostTensor* floatWeights(const ir::Node& n) {
  if (!n.hasInput(1) || !n.inputs[1]->isConstant() || !rw::isFloatType(n.inputs[1]->dtype)) return nullptr;
  return &*n.inputs[1]->constant;
}

// Gemm's C as one value per output column (n columns); nullopt when it has another shape.
std::optional<std::vector<double>> gemmColumnBias(const ir::Node& gemm, int64_t n) {
  if (!gemm.hasInput(2)) return std::vector<double>(static_cast<size_t>(n), 0.0);
  return rw::perChannelConstant(gemm.inputs[2], Dims{1, n}, 1, n);
}

// Sets input i (growing the input list with omitted inputs as needed).
void setInput(ir::Node& n, size_t i, ir::Value* v) {
  if (n.inputs.size() <= i) n.inputs.resize(i + 1, nullptr);
  n.inputs[i] = v;
}

// Replaces the layer's weights and bias input (index bias_i) by new constants; false when the
// values cannot be stored in the weights' dtype.
bool replaceWeights(ir::Graph& g, ir::Node& layer, const std::vector<double>& w, size_t bias_i,
                    const std::vector<double>& bias) {
  const ir::Value* old_w = layer.inputs[1];
  auto nw = rw::fromDoubles(w, old_w->dtype, old_w->dims);
  auto nb = rw::fromDoubles(bias, old_w->dtype, Dims{static_cast<int64_t>(bias.size())});
  if (!nw.ok() || !nb.ok()) return false;
  std::string bias_base = layer.hasInput(bias_i) ? layer.inputs[bias_i]->name : layer.name + "_bias";
  layer.inputs[1] = rw::addConstant(g, old_w->name + "_folded", std::move(*nw));
  setInput(layer, bias_i, rw::addConstant(g, bias_base + "_folded", std::move(*nb)));
  return true;
}

}  // namespace

int64_t foldableOutputChannels(const ir::Node& layer) {
  const HostTensor* w = floatWeights(layer);
  if (!w) return -1;
  const Dims& wd = w->dims();
  const HostTensor* bias = nullptr;
  if (rw::isOp(&layer, "Conv")) {
    if (wd.size() < 3 || !optionalConstant(layer, 2, w->dtype(), &bias)) return -1;
    return wd[0];
  }
  if (rw::isOp(&layer, "ConvTranspose")) {
    if (wd.size() < 3 || !optionalConstant(layer, 2, w->dtype(), &bias)) return -1;
    return wd[1] * layer.attrInt("group", 1);
  }
  if (rw::isOp(&layer, "Gemm")) {
    if (wd.size() != 2 || !optionalConstant(layer, 2, w->dtype(), &bias)) return -1;
    int64_t n = layer.attrInt("transB", 0) != 0 ? wd[0] : wd[1];
    return gemmColumnBias(layer, n) ? n : -1;
  }
  return -1;
}

bool foldOutputAffine(ir::Graph& g, ir::Node& layer, const std::vector<double>& scale,
                      const std::vector<double>& shift) {
  const int64_t m = foldableOutputChannels(layer);
  if (m < 0 || scale.size() != static_cast<size_t>(m) || shift.size() != scale.size()) return false;
  const HostTensor& wt = *layer.inputs[1]->constant;
  std::vector<double> w = rw::toDoubles(wt);
  const Dims& wd = wt.dims();
  std::vector<double> bias(static_cast<size_t>(m), 0.0);
  if (rw::isOp(&layer, "Gemm")) {
    const bool trans_b = layer.attrInt("transB", 0) != 0;
    const int64_t rows = wd[0], cols = wd[1];
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t c = 0; c < cols; ++c) w[r * cols + c] *= scale[trans_b ? r : c];
    // y = alpha * A'B' + beta * C: the new C carries beta; beta becomes 1.
    std::vector<double> c = *gemmColumnBias(layer, m);
    const double beta = layer.attrFloat("beta", 1.f);
    for (int64_t j = 0; j < m; ++j) bias[j] = beta * c[j];
    for (int64_t j = 0; j < m; ++j) bias[j] = bias[j] * scale[j] + shift[j];
    if (!replaceWeights(g, layer, w, 2, bias)) return false;
    layer.attrs["beta"] = ir::Attribute::Float(1.f);
    return true;
  }
  if (layer.hasInput(2)) bias = rw::toDoubles(*layer.inputs[2]->constant);
  const int64_t taps = volume(Dims(wd.begin() + 2, wd.end()));
  if (rw::isOp(&layer, "Conv")) {
    for (int64_t oc = 0; oc < m; ++oc)
      for (int64_t i = 0; i < wd[1] * taps; ++i) w[oc * wd[1] * taps + i] *= scale[oc];
  } else {  // ConvTranspose: W [C_in, M/group, k...]
    const int64_t group = layer.attrInt("group", 1), cin = wd[0], mg = wd[1], cg = cin / group;
    for (int64_t ic = 0; ic < cin; ++ic)
      for (int64_t j = 0; j < mg; ++j) {
        const double s = scale[(ic / cg) * mg + j];
        for (int64_t t = 0; t < taps; ++t) w[(ic * mg + j) * taps + t] *= s;
      }
  }
  for (int64_t oc = 0; oc < m; ++oc) bias[oc] = bias[oc] * scale[oc] + shift[oc];
  return replaceWeights(g, layer, w, 2, bias);
}

int64_t foldableInputChannels(const ir::Node& conv) {
  if (!rw::isOp(&conv, "Conv")) return -1;
  const HostTensor* w = floatWeights(conv);
  const HostTensor* bias = nullptr;
  if (!w || w->dims().size() < 3 || !optionalConstant(conv, 2, w->dtype(), &bias)) return -1;
  auto a = readWindowAttrs(conv);
  if (!a.ok()) return -1;
  if (a->auto_pad != "NOTSET" && a->auto_pad != "VALID") return -1;
  if (a->auto_pad == "NOTSET")
    for (int64_t p : a->pads)
      if (p != 0) return -1;
  return w->dims()[1] * a->group;
}

bool foldInputAffine(ir::Graph& g, ir::Node& conv, const std::vector<double>& scale, const std::vector<double>& shift) {
  const int64_t c = foldableInputChannels(conv);
  if (c < 0 || scale.size() != static_cast<size_t>(c) || shift.size() != scale.size()) return false;
  const HostTensor& wt = *conv.inputs[1]->constant;
  const Dims& wd = wt.dims();
  const std::vector<double> w0 = rw::toDoubles(wt);
  std::vector<double> w = w0;
  const int64_t m = wd[0], cg = wd[1], taps = volume(Dims(wd.begin() + 2, wd.end()));
  const int64_t group = c / cg, mg = m / group;
  std::vector<double> bias(static_cast<size_t>(m), 0.0);
  if (conv.hasInput(2)) bias = rw::toDoubles(*conv.inputs[2]->constant);
  for (int64_t oc = 0; oc < m; ++oc) {
    const int64_t first = (oc / mg) * cg;  // the group's first input channel
    for (int64_t j = 0; j < cg; ++j)
      for (int64_t t = 0; t < taps; ++t) {
        const int64_t i = (oc * cg + j) * taps + t;
        w[i] = w0[i] * scale[first + j];
        bias[oc] += w0[i] * shift[first + j];
      }
  }
  return replaceWeights(g, conv, w, 2, bias);
}

}  // namespace qrt::passes
