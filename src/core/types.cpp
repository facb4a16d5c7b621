#include "qrt/types.h"

#include <algorithm>
#include <cctype>

namespace qrt {

size_t dataTypeSize(DataType t) {
  switch (t) {
    case DataType::kFloat: return 4;
    case DataType::kUInt8: return 1;
    case DataType::kInt8: return 1;
    case DataType::kUInt16: return 2;
    case DataType::kInt16: return 2;
    case DataType::kInt32: return 4;
    case DataType::kInt64: return 8;
    case DataType::kBool: return 1;
    case DataType::kHalf: return 2;
    case DataType::kDouble: return 8;
    case DataType::kUInt32: return 4;
    case DataType::kUInt64: return 8;
    case DataType::kBFloat16: return 2;
    case DataType::kString:
    case DataType::kUndefined: return 0;
  }
  return 0;
}

const char* dataTypeName(DataType t) {
  switch (t) {
    case DataType::kFloat: return "fp32";
    case DataType::kUInt8: return "uint8";
    case DataType::kInt8: return "int8";
    case DataType::kUInt16: return "uint16";
    case DataType::kInt16: return "int16";
    case DataType::kInt32: return "int32";
    case DataType::kInt64: return "int64";
    case DataType::kString: return "string";
    case DataType::kBool: return "bool";
    case DataType::kHalf: return "fp16";
    case DataType::kDouble: return "fp64";
    case DataType::kUInt32: return "uint32";
    case DataType::kUInt64: return "uint64";
    case DataType::kBFloat16: return "bf16";
    case DataType::kUndefined: return "undefined";
  }
  return "undefined";
}

DataType parseDataType(const std::string& name) {
  std::string n = name;
  std::transform(n.begin(), n.end(), n.begin(), [](unsigned char c) { return std::tolower(c); });
  struct Alias { const char* name; DataType t; };
  static const Alias kAliases[] = {
      {"fp32", DataType::kFloat},  {"float", DataType::kFloat},     {"float32", DataType::kFloat},
      {"fp16", DataType::kHalf},   {"float16", DataType::kHalf},    {"half", DataType::kHalf},
      {"bf16", DataType::kBFloat16}, {"bfloat16", DataType::kBFloat16},
      {"fp64", DataType::kDouble}, {"double", DataType::kDouble},   {"float64", DataType::kDouble},
      {"int8", DataType::kInt8},   {"uint8", DataType::kUInt8},     {"int16", DataType::kInt16},
      {"uint16", DataType::kUInt16}, {"int32", DataType::kInt32},   {"uint32", DataType::kUInt32},
      {"int64", DataType::kInt64}, {"uint64", DataType::kUInt64},   {"bool", DataType::kBool},
      {"string", DataType::kString},
  };
  for (const auto& a : kAliases)
    if (n == a.name) return a.t;
  return DataType::kUndefined;
}

int64_t volume(const Dims& d) {
  int64_t v = 1;
  for (int64_t x : d) {
    if (x < 0) return -1;
    v *= x;
  }
  return v;
}

std::string dimsToString(const Dims& d) {
  if (d.empty()) return "scalar";
  std::string s;
  for (size_t i = 0; i < d.size(); ++i) {
    if (i) s += "x";
    s += d[i] < 0 ? "?" : std::to_string(d[i]);
  }
  return s;
}

const char* precisionName(Precision p) {
  switch (p) {
    case Precision::kFP32: return "fp32";
    case Precision::kFP16: return "fp16";
    case Precision::kBF16: return "bf16";
    case Precision::kINT8: return "int8";
  }
  return "fp32";
}

}  // namespace qrt
