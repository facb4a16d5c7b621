// qrt public API: element types and shapes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace qrt {

// Element types. Values follow ONNX TensorProto.DataType so files and tools agree.
enum class DataType : int32_t {
  kUndefined = 0,
  kFloat = 1,
  kUInt8 = 2,
  kInt8 = 3,
  kUInt16 = 4,
  kInt16 = 5,
  kInt32 = 6,
  kInt64 = 7,
  kString = 8,  // not supported by any kernel; named so errors can say so
  kBool = 9,
  kHalf = 10,
  kDouble = 11,
  kUInt32 = 12,
  kUInt64 = 13,
  kBFloat16 = 16,
};

// Size of one element in bytes (0 for kUndefined / kString).
size_t dataTypeSize(DataType t);
// Lower-case short name: "fp32", "fp16", "bf16", "int8", "int64", ...
const char* dataTypeName(DataType t);
// Parses the names above and ONNX spellings ("float", "float16", "int64"). kUndefined if unknown.
DataType parseDataType(const std::string& name);

// A tensor shape. A dimension of -1 is unknown (dynamic) until the input shapes are set.
using Dims = std::vector<int64_t>;

// Number of elements, or -1 when a dimension is unknown.
int64_t volume(const Dims& d);
// "1x3x224x224" ("?" for unknown dims, "scalar" for rank 0).
std::string dimsToString(const Dims& d);

// Precision a layer runs in, as chosen by the builder (see BuilderFlag).
enum class Precision { kFP32, kFP16, kBF16, kINT8 };
const char* precisionName(Precision p);

}  // namespace qrt
