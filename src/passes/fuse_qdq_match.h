// Matching and building helpers shared by the Q/DQ folding rewrites (fuse_qdq.cpp: driver and
// Conv; fuse_qdq_gemm.cpp: Gemm and MatMul).
#pragma once

#include <optional>
#include <set>
#include <string>
#include <vector>

#include "ir/graph.h"
#include "passes/fuse_qdq.h"

namespace qrt::passes::qdq {

// A DequantizeLinear the fused ops can read through: int8 data, a constant fp32 scale (finite,
// positive) and a zero point that is absent or a constant of zeros.
struct DqOperand {
  ir::Node* node = nullptr;    // the DequantizeLinear
  ir::Value* data = nullptr;   // its int8 input
  ir::Value* scale = nullptr;  // its constant scale (1 element, or one per slice along axis)
  int64_t count = 1;           // number of scales
  int64_t axis = -1;           // the (normalized) axis of a per-axis scale; -1 per tensor
  bool perTensor() const { return count == 1; }
};

// v's producer as a DqOperand when it qualifies and v is fp32.
std::optional<DqOperand> matchDequantize(const ir::Value* v);

// What follows a matched layer's float output y: an optional Relu, Clip (constant bounds) or,
// with `hard_swish`, HardSwish, then (with `affine`, after a HardSwish, and only where the
// QuantizeLinear follows) a Mul and / or an Add by fp32 scalar constants, in that order, then an
// optional QuantizeLinear to int8 with zero point 0 and a constant scalar scale. Each step is
// taken only when the value before it has that node as its only reader and is not a graph output.
struct FusedTail {
  ir::Value* out = nullptr;          // the value the fused node produces
  std::vector<ir::Node*> absorbed;   // the Relu/Clip and QuantizeLinear it replaces
  std::string activation = "none";   // "none", "relu", "clip" or "hard_swish"
  float clip_min = 0.f, clip_max = 0.f;
  float post_scale = 1.f, post_shift = 0.f;  // the affine after the activation (with `affine`)
  bool has_affine = false;
  ir::Value* y_scale = nullptr;      // the QuantizeLinear's scale, when it requantizes
};
FusedTail matchTail(ir::Value* y, bool hard_swish = false, bool affine = false);

// State shared by the rewrites of one foldQdq run.
struct FoldState {
  ir::Graph& graph;
  FoldReport& report;
  const FoldOptions& options;
  std::set<const ir::Node*> removed;  // replaced nodes, removed at the end
};

// Adds the fused node `op` (domain "qrt") named after `original`, producing tail.out, with the
// tail's activation attributes; marks `original` and the tail's nodes as removed.
ir::Node* addFusedNode(FoldState& s, const std::string& op, const ir::Node& original, std::vector<ir::Value*> inputs,
                       const FusedTail& tail);

// A new constant value named after `base`.
ir::Value* addConstant(ir::Graph& g, const std::string& base, HostTensor t);

// The rewrites; each returns true when it replaced the node.
bool rewriteConv(FoldState& s, ir::Node& conv);      // fuse_qdq.cpp
bool rewriteGemm(FoldState& s, ir::Node& gemm);      // fuse_qdq_gemm.cpp
bool rewriteMatMul(FoldState& s, ir::Node& matmul);  // fuse_qdq_gemm.cpp

}  // namespace qrt::passes::qdq
