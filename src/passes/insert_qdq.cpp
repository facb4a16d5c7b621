#include "passes/insert_qdq.h"

#include <algorithm>
#include <cmath>
#include <utility>

#include "core/status_macros.h"
#include "quant/int8.h"

namespace qrt::passes {

namespace {

// The first opset with per-axis QuantizeLinear/DequantizeLinear (and the one TensorRT needs).
constexpr int kQdqOpset = 13;

bool isDefaultDomain(const std::string& d) { return d.empty() || d == "ai.onnx"; }

bool isCandidate(const ir::Node& n) {
  return isDefaultDomain(n.domain) &&
         (n.op_type == "Conv" || n.op_type == "ConvTranspose" || n.op_type == "Gemm" || n.op_type == "MatMul");
}

// Already dequantized: the input comes from a DequantizeLinear (a QDQ model, or an earlier run).
bool fromDequantize(const ir::Value* v) {
  return v->producer && v->producer->op_type == "DequantizeLinear" && isDefaultDomain(v->producer->domain);
}

ir::Value* addConstant(ir::Graph& g, const std::string& base, HostTensor t) {
  ir::Value* v = g.addValue(g.uniqueName(base));
  v->dtype = t.dtype();
  v->dims = t.dims();
  v->has_shape = true;
  v->constant = std::move(t);
  return v;
}

// A new activation value shaped like `like`, of dtype t.
ir::Value* addValueLike(ir::Graph& g, const std::string& base, const ir::Value& like, DataType t) {
  ir::Value* v = g.addValue(g.uniqueName(base));
  v->dtype = t;
  v->dims = like.dims;
  v->has_shape = like.has_shape;
  return v;
}

enum class Decision { kQuantize, kAlreadyQuantized, kSkip };

class QdqInserter {
 public:
  QdqInserter(ir::Graph& g, const std::map<std::string, float>& scales, const QdqOptions& options, QdqReport& report)
      : g_(g), scales_(scales), options_(options), report_(report) {}

  Status run() {
    QRT_RETURN_IF_ERROR(g_.topoSort());
    std::vector<ir::Node*> layers;
    for (const auto& n : g_.nodes())
      if (isCandidate(*n)) layers.push_back(n.get());
    for (ir::Node* n : layers) {
      std::string why;
      Decision d = decide(*n, &why);
      if (d == Decision::kSkip) report_.skipped.push_back(n->describe() + ": " + why);
      if (d == Decision::kAlreadyQuantized) quantized_.insert(n);
      if (d != Decision::kQuantize) continue;
      for (size_t i = 0; i < 2; ++i) {
        ir::Value* v = n->inputs[i];
        if (fromDequantize(v)) continue;
        ir::Value* dq = nullptr;
        if (i == 1 && v->isConstant()) {
          QRT_ASSIGN_OR_RETURN(dq, dequantizedWeight(v, options_.per_channel_weights ? weightChannelAxis(*n) : -1));
        } else {
          QRT_ASSIGN_OR_RETURN(dq, dequantizedActivation(v, scales_.at(v->name)));
        }
        n->inputs[i] = dq;
      }
      ++report_.quantized_layers;
      quantized_.insert(n);
    }
    if (options_.quantize_residuals) QRT_RETURN_IF_ERROR(quantizeResiduals());
    g_.removeUnusedValues();  // float weights no other node reads
    return g_.topoSort();
  }

 private:
  // Whether the layer's inputs A/X (0) and B/W (1) can all be quantized: each must be fp32 and
  // either come from a DequantizeLinear already, be the constant weight (input 1), or have a scale.
  Decision decide(const ir::Node& n, std::string* why) const {
    if (options_.exclude_nodes.count(n.name)) {
      *why = "excluded by the build (qrt export --exclude, a float --layer-precisions with --precision-constraints "
             "prefer / obey, or the CUDA builder's per-layer choice: faster in FP16)";
      return Decision::kSkip;
    }
    if (!n.hasInput(0) || !n.hasInput(1)) {
      *why = "an input is missing";
      return Decision::kSkip;
    }
    bool all_dequantized = true;
    for (size_t i = 0; i < 2; ++i) {
      const ir::Value* v = n.inputs[i];
      if (fromDequantize(v)) continue;
      all_dequantized = false;
      if (v->dtype != DataType::kFloat) {
        *why = strCat("input '", v->name, "' is ", dataTypeName(v->dtype), ", not fp32");
        return Decision::kSkip;
      }
      if (v->isConstant()) {
        if (i == 1) continue;
        *why = strCat("its first input '", v->name, "' is a constant");
        return Decision::kSkip;
      }
      if (!scales_.count(v->name)) {
        *why = strCat("no scale for tensor '", v->name, "'");
        return Decision::kSkip;
      }
    }
    return all_dequantized ? Decision::kAlreadyQuantized : Decision::kQuantize;
  }

  // QdqOptions::quantize_residuals: the branch of a residual Add beside a quantized Conv's
  // output goes through Q/DQ (see insert_qdq.h).
  Status quantizeResiduals() {
    g_.rebuildUses();
    std::vector<ir::Node*> adds;
    for (const auto& n : g_.nodes())
      if (n->op_type == "Add" && isDefaultDomain(n->domain) && n->inputs.size() == 2 && n->hasInput(0) &&
          n->hasInput(1))
        adds.push_back(n.get());
    for (ir::Node* add : adds) {
      ir::Value* a = add->inputs[0];
      ir::Value* b = add->inputs[1];
      if (a == b || a->dtype != DataType::kFloat || b->dtype != DataType::kFloat || a->isConstant() ||
          b->isConstant() || !a->has_shape || !b->has_shape || a->dims != b->dims)
        continue;
      // The Conv side stays float (foldQdq gives it a float-out QConv, which the residual fusion
      // takes); the other input is the branch to quantize. With two such Convs (a downsample
      // block), input 0 is the Conv side.
      int conv_side = convFeedsOnly(a, add) ? 0 : (convFeedsOnly(b, add) ? 1 : -1);
      if (conv_side < 0) continue;
      ir::Value* branch = add->inputs[static_cast<size_t>(1 - conv_side)];
      if (fromDequantize(branch)) continue;
      auto it = scales_.find(branch->name);
      if (it == scales_.end()) {
        report_.skipped.push_back(add->describe() + ": residual input '" + branch->name + "' has no scale");
        continue;
      }
      QRT_ASSIGN_OR_RETURN(ir::Value * dq, dequantizedActivation(branch, it->second));
      add->inputs[static_cast<size_t>(1 - conv_side)] = dq;
      ++report_.quantized_residuals;
    }
    g_.rebuildUses();
    return Status::Ok();
  }

  // v is the output of a Conv quantized here (or already quantized), read by `reader` alone.
  bool convFeedsOnly(const ir::Value* v, const ir::Node* reader) const {
    const ir::Node* p = v->producer;
    if (!p || p->op_type != "Conv" || !isDefaultDomain(p->domain) || !quantized_.count(p)) return false;
    if (v->is_graph_output || v->consumers.size() != 1 || v->consumers[0] != reader) return false;
    return true;
  }

  // x -> Q -> DQ, made once per tensor and shared by every layer that reads x.
  Result<ir::Value*> dequantizedActivation(ir::Value* x, float scale) {
    auto it = act_dq_.find(x);
    if (it != act_dq_.end()) return it->second;
    if (!std::isfinite(scale) || scale <= 0.f)
      return invalidArgument("the activation scale of tensor '", x->name, "' is ", scale,
                             "; a scale must be finite and positive");
    ir::Value* s = addConstant(g_, x->name + "_scale", HostTensor::fromFloat({scale}, {}));
    ir::Value* zp = addConstant(g_, x->name + "_zero_point", HostTensor(DataType::kInt8, {}));
    ir::Value* q = addValueLike(g_, x->name + "_quantized", *x, DataType::kInt8);
    ir::Value* dq = addValueLike(g_, x->name + "_dequantized", *x, DataType::kFloat);
    addQdqNode("QuantizeLinear", x->name, {x, s, zp}, q, -1);
    addQdqNode("DequantizeLinear", x->name, {q, s, zp}, dq, -1);
    ++report_.activation_qdq;
    act_dq_[x] = dq;
    return dq;
  }

  // A constant fp32 weight -> int8 constant -> DQ (per channel along `axis`, or one scale when
  // axis is -1). Made once per (weight, axis).
  Result<ir::Value*> dequantizedWeight(ir::Value* w, int64_t axis) {
    auto key = std::make_pair(w, axis);
    auto it = weight_dq_.find(key);
    if (it != weight_dq_.end()) return it->second;
    const HostTensor& wt = *w->constant;
    const float* data = wt.as<float>();
    const Dims& dims = wt.dims();
    std::vector<float> scales;
    int64_t inner = wt.numel(), channels = 1;
    if (axis >= 0) {
      QRT_ASSIGN_OR_RETURN(scales, quant::perChannelWeightScales(data, dims, axis));
      channels = dims[static_cast<size_t>(axis)];
      inner = 1;
      for (size_t d = static_cast<size_t>(axis) + 1; d < dims.size(); ++d) inner *= dims[d];
    } else {
      float amax = 0.f;
      for (int64_t i = 0; i < wt.numel(); ++i) amax = std::max(amax, std::fabs(data[i]));  // NaN ignored
      scales = {quant::qdqScaleFromAmax(amax)};
    }
    HostTensor q(DataType::kInt8, dims);
    int8_t* qd = q.as<int8_t>();
    for (int64_t i = 0; i < wt.numel(); ++i) qd[i] = quant::quantizeInt8(data[i], scales[static_cast<size_t>(i / inner % channels)]);
    const Dims param_dims = axis >= 0 ? Dims{channels} : Dims{};
    ir::Value* wq = addConstant(g_, w->name + "_quantized", std::move(q));
    ir::Value* s = addConstant(g_, w->name + "_scale", HostTensor::fromFloat(scales, param_dims));
    ir::Value* zp = addConstant(g_, w->name + "_zero_point", HostTensor(DataType::kInt8, param_dims));
    ir::Value* dq = addValueLike(g_, w->name + "_dequantized", *w, DataType::kFloat);
    addQdqNode("DequantizeLinear", w->name, {wq, s, zp}, dq, axis);
    ++report_.quantized_weights;
    weight_dq_[key] = dq;
    return dq;
  }

  void addQdqNode(const std::string& op, const std::string& tensor, std::vector<ir::Value*> inputs, ir::Value* out,
                  int64_t axis) {
    ir::Node* n = g_.addNode(op, g_.uniqueName(tensor + "_" + op), std::move(inputs), {out});
    n->opset = std::max(n->opset, kQdqOpset);
    if (axis >= 0) n->attrs["axis"] = ir::Attribute::Int(axis);
  }

  ir::Graph& g_;
  const std::map<std::string, float>& scales_;
  const QdqOptions& options_;
  QdqReport& report_;
  std::map<ir::Value*, ir::Value*> act_dq_;
  std::set<const ir::Node*> quantized_;  // layers whose inputs all come through Q/DQ
  std::map<std::pair<ir::Value*, int64_t>, ir::Value*> weight_dq_;
};

}  // namespace

std::string QdqReport::summary() const {
  std::string s = strCat("quantized ", quantized_layers, " layer", quantized_layers == 1 ? "" : "s", " (",
                         activation_qdq, " activation Q/DQ pairs, ", quantized_weights, " weights)");
  if (quantized_residuals > 0) s += strCat(", ", quantized_residuals, " residual inputs");
  if (!skipped.empty()) s += strCat("; ", skipped.size(), " left in float");
  return s;
}

int64_t weightChannelAxis(const ir::Node& node) {
  if (node.op_type == "Conv") return 0;
  if (node.op_type == "ConvTranspose") return 1;
  if (node.op_type == "Gemm") return node.attrInt("transB", 0) != 0 ? 0 : 1;
  if (node.op_type == "MatMul" && node.hasInput(1) && node.inputs[1]->dims.size() == 2) return 1;
  return -1;
}

Status insertQdq(ir::Graph& graph, const std::map<std::string, float>& activation_scales, const QdqOptions& options,
                 QdqReport* report) {
  QdqReport local;
  QdqInserter inserter(graph, activation_scales, options, report ? *report : local);
  return inserter.run();
}

}  // namespace qrt::passes
