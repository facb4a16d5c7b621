// Matching and rewriting helpers shared by the folding and fusion passes (fold_batchnorm,
// fold_mul_add_into_conv, recognize_activations, remove_identities, fuse_conv_activation).
//
// The passes follow one rule: a node may be absorbed into another only when every value it
// removes has exactly one reader and is not a graph output, so nothing else can observe the
// difference. Constants are never modified in place (their storage may be shared by other
// nodes or by the original network): folded weights are new constants.
#pragma once

#include <optional>
#include <set>
#include <string>
#include <vector>

#include "ir/graph.h"
#include "qrt/status.h"

namespace qrt::passes::rw {

bool isDefaultDomain(const std::string& domain);
// n is the default-domain op `op_type`.
bool isOp(const ir::Node* n, const char* op_type);
// fp32, fp64, fp16 or bf16.
bool isFloatType(DataType t);

// The only node reading v, when v is read by exactly one node, in exactly one input slot, and
// is not a graph output; else nullptr.
ir::Node* soleReader(const ir::Value* v);
// The input index through which `reader` reads v (-1 when it does not).
int inputIndexOf(const ir::Node& reader, const ir::Value* v);
// v's producer when it is the default-domain op `op_type` with v as its first output.
ir::Node* producerOf(const ir::Value* v, const char* op_type);

// All elements of a numeric constant as doubles.
std::vector<double> toDoubles(const HostTensor& t);
// A tensor of `dtype` and `dims` holding `values`, each rounded once from double.
Result<HostTensor> fromDoubles(const std::vector<double>& values, DataType dtype, const Dims& dims);
// A new value named like.name + suffix (made unique), of dtype t, with like's dims (and whether
// they are known): the passes' intermediate values.
ir::Value* addValueLike(ir::Graph& g, const ir::Value& like, const std::string& suffix, DataType t);
// A new constant value (name from `base`, made unique).
ir::Value* addConstant(ir::Graph& g, const std::string& base, HostTensor t);

// The value of a float constant with exactly one element (any rank), else nullopt.
std::optional<double> scalarConstant(const ir::Value* v);
// Whether v is a constant with exactly one element (any dtype, any rank).
bool singleElementConstant(const ir::Value* v);
// Whether v is a one-element fp32 constant, positive and finite: a QuantizeLinear scale under
// which Q is monotone non-decreasing (so it commutes with max).
bool positiveScaleConstant(const ir::Value* v);
// The values of a constant that, broadcast against a tensor of dims `target`, varies only along
// `axis` (all its other dims are 1) and does not enlarge `target`: `channels` values (one
// repeated when the constant has a single element). nullopt when v is not such a constant or
// target's rank or its channel count is unknown.
std::optional<std::vector<double>> perChannelConstant(const ir::Value* v, const Dims& target, size_t axis,
                                                     int64_t channels);

// The bounds of a default-domain Clip (attributes before opset 11, constant inputs after);
// an absent bound is -inf / +inf. nullopt when a bound is not a known constant.
std::optional<std::pair<double, double>> clipBounds(const ir::Node& clip);

// One rewrite at a node: returns true when it changed the graph, after marking in `removed`
// the nodes it made redundant (every rewrite removes at least one node, so repeating them ends).
// It may rely on producer/consumer links being current.
using RewriteFn = bool (*)(ir::Graph& g, ir::Node& n, std::set<const ir::Node*>& removed);

// Applies `fn` at every node until no node matches: one rewrite at a time, links rebuilt and
// removed nodes dropped after each; then re-sorts the graph (a rewritten node may read a value
// produced after its old position). Sets *changed when anything was rewritten.
Status rewriteToFixedPoint(ir::Graph& g, RewriteFn fn, bool* changed);

// After a fusion pass added its fused nodes: removes the nodes they replace (`dead`) and the values
// nothing reads any more, rebuilds the links and re-sorts the graph.
Status dropReplacedNodes(ir::Graph& g, const std::set<const ir::Node*>& dead);

// "a + b": the name of a node that now does the work of both (TensorRT's convention for fused
// layers, so `qrt inspect` shows what was fused), made unique in the graph.
std::string fusedName(const ir::Graph& g, const std::string& a, const std::string& b);

}  // namespace qrt::passes::rw
