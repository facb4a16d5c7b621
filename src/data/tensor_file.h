// Tensor files: NumPy .npy (read and write) and ONNX TensorProto .pb (read), as used for test
// data, calibration inputs and `qrt run --input`.
#pragma once

#include <string>

#include "core/tensor.h"
#include "qrt/status.h"

namespace qrt {

// Reads a .npy file (format versions 1.0 to 3.0). Little-endian numeric and bool dtypes only
// (f2 f4 f8 i1 i2 i4 i8 u1 u2 u4 u8 b1), C order only; shape () is a scalar.
Result<HostTensor> readNpy(const std::string& path);
// Writes a .npy file (version 1.0, or 2.0 when the header needs it). The file appears
// atomically: it is written to a temporary file in the same folder and renamed; on failure
// (e.g. a full disk) nothing is left behind. bf16 has no NumPy dtype and is refused.
Status writeNpy(const std::string& path, const HostTensor& tensor);
// Reads a serialized ONNX TensorProto (external data resolves against the file's folder).
Result<HostTensor> readTensorPb(const std::string& path);
// Chooses the reader by extension: ".npy" or ".pb".
Result<HostTensor> readTensorFile(const std::string& path);

}  // namespace qrt
