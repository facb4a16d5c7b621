// Conversions between ONNX TensorProto and HostTensor, used by the importer (initializers,
// Constant nodes, tensor attributes), by `.pb` tensor files and by the QDQ exporter.
#pragma once

#include <cstdint>
#include <string>

#include "core/tensor.h"
#include "qrt/status.h"
#include "qrt/types.h"

namespace onnx {
class TensorProto;
}

namespace qrt {

// The qrt dtype for an ONNX TensorProto.DataType value. String, complex and float8 types are
// kUnsupported; a value that names no ONNX type at all is kCorrupt. `what` names the tensor.
Result<DataType> dataTypeFromOnnx(int32_t onnx_type, const std::string& what);

// Decodes a TensorProto, whatever its storage form: raw_data (little-endian), the typed fields
// (float_data, int32_data, int64_data, double_data, uint64_data) or external data.
// `base_dir` is the folder external data locations are resolved against ("" forbids external
// data); a location that is absolute or escapes `base_dir` is refused. `what` names the tensor
// (and its file) in messages. Never trusts the proto: sizes are checked against the dims.
Result<HostTensor> tensorFromProto(const onnx::TensorProto& proto, const std::string& base_dir,
                                   const std::string& what);

// Encodes a tensor as raw_data (little-endian) with its dims and data type, named `name`.
Status tensorToProto(const HostTensor& tensor, const std::string& name, onnx::TensorProto* proto);

}  // namespace qrt
