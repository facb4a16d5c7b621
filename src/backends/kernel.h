// The kernel interface every backend implements, and the entries of its explicit kernel table.
//
// Life of a kernel: create(node) parses attributes once (per execution context);
// reshape(inputs, outputs) sees concrete shapes before any run and sizes the workspace;
// run(...) computes, allocating nothing. In reshape, an input's `data` is non-null when its
// value is known on the host at that time (constants and shape computations); in run, every
// present input and output has data. Absent optional inputs have dtype kUndefined, data null.
#pragma once

#include <memory>
#include <vector>

#include "core/status_macros.h"
#include "core/tensor.h"
#include "ir/graph.h"

namespace qrt {

class Kernel {
 public:
  virtual ~Kernel() = default;
  virtual Status reshape(const std::vector<TensorView>& inputs, const std::vector<TensorView>& outputs) {
    (void)inputs;
    (void)outputs;
    return Status::Ok();
  }
  virtual size_t workspaceBytes() const { return 0; }
  // The input whose buffer output 0 may take over (computed in place), or -1. Asked after
  // reshape; the planner grants it only when nothing reads that input later (memory_plan.h), so
  // run() must work either way: compare the two addresses, never assume.
  virtual int inplaceInput() const { return -1; }
  virtual Status run(const std::vector<TensorView>& inputs, const std::vector<TensorView>& outputs,
                     void* workspace) = 0;
};

using KernelFactory = Result<std::unique_ptr<Kernel>> (*)(const ir::Node& node);

// A set of dtypes as a bit mask over DataType values.
struct DTypeSet {
  uint64_t bits = 0;
  constexpr DTypeSet() = default;
  constexpr DTypeSet(std::initializer_list<DataType> ts) {
    for (DataType t : ts) bits |= 1ull << static_cast<int>(t);
  }
  constexpr bool contains(DataType t) const { return (bits >> static_cast<int>(t)) & 1ull; }
};

// One line of a backend's kernel table: the op, the dtypes of its "type-deciding" input (input 0
// unless the kernel says otherwise), and the factory.
struct KernelEntry {
  const char* op_type;
  DTypeSet dtypes;
  KernelFactory create;
  int type_input = 0;  // which input's dtype selects the entry (Where: 1)
  const char* domain = "";  // the op's domain: "" (ONNX) or "qrt" (internal ops)
};

// Common dtype sets.
inline constexpr DTypeSet kFloatTypes{DataType::kFloat, DataType::kDouble, DataType::kHalf, DataType::kBFloat16};
inline constexpr DTypeSet kIntTypes{DataType::kInt8,  DataType::kUInt8,  DataType::kInt16, DataType::kUInt16,
                                    DataType::kInt32, DataType::kUInt32, DataType::kInt64, DataType::kUInt64};
inline constexpr DTypeSet kNumericTypes{DataType::kFloat, DataType::kDouble, DataType::kHalf,  DataType::kBFloat16,
                                        DataType::kInt8,  DataType::kUInt8,  DataType::kInt16, DataType::kUInt16,
                                        DataType::kInt32, DataType::kUInt32, DataType::kInt64, DataType::kUInt64};
inline constexpr DTypeSet kAllTypes{DataType::kFloat, DataType::kDouble, DataType::kHalf,  DataType::kBFloat16,
                                    DataType::kInt8,  DataType::kUInt8,  DataType::kInt16, DataType::kUInt16,
                                    DataType::kInt32, DataType::kUInt32, DataType::kInt64, DataType::kUInt64,
                                    DataType::kBool};

}  // namespace qrt
