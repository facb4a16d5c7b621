// Internal host tensor: dtype + dims + (shared) storage. Used for constants, shape values and
// test data. Activations at run time use TensorView over arena memory instead.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "qrt/status.h"
#include "qrt/types.h"

namespace qrt {

// A non-owning view a kernel reads or writes.
struct TensorView {
  DataType dtype = DataType::kUndefined;
  Dims dims;
  void* data = nullptr;

  int64_t numel() const { return volume(dims); }
  size_t bytes() const { return static_cast<size_t>(numel()) * dataTypeSize(dtype); }
  template <typename T> T* as() const { return static_cast<T*>(data); }
};

class HostTensor {
 public:
  HostTensor() = default;
  // Allocates zeroed, 64-byte aligned storage.
  HostTensor(DataType dtype, Dims dims);
  // Wraps external storage kept alive by `owner` (e.g. an mmap'd engine file).
  HostTensor(DataType dtype, Dims dims, std::shared_ptr<void> owner, void* data);

  DataType dtype() const { return dtype_; }
  const Dims& dims() const { return dims_; }
  int64_t numel() const { return volume(dims_); }
  size_t bytes() const { return static_cast<size_t>(numel()) * dataTypeSize(dtype_); }
  bool empty() const { return data_ == nullptr && numel() != 0; }

  void* data() { return data_; }
  const void* data() const { return data_; }
  template <typename T> T* as() { return static_cast<T*>(data_); }
  template <typename T> const T* as() const { return static_cast<const T*>(data_); }

  TensorView view() const { return TensorView{dtype_, dims_, data_}; }
  // A tensor sharing this storage with other dims (same element count).
  HostTensor reshaped(Dims dims) const;
  // Deep copy.
  HostTensor clone() const;

  // Element i converted to double / int64 (any numeric dtype).
  double getDouble(int64_t i) const;
  int64_t getInt(int64_t i) const;
  // All elements as int64 (for shape-like inputs: shapes, axes, pads, starts...).
  std::vector<int64_t> toInt64Vector() const;
  std::vector<float> toFloatVector() const;

  static HostTensor fromInt64(const std::vector<int64_t>& v, Dims dims);
  static HostTensor fromFloat(const std::vector<float>& v, Dims dims);
  static HostTensor scalarInt64(int64_t v) { return fromInt64({v}, {}); }

 private:
  DataType dtype_ = DataType::kUndefined;
  Dims dims_;
  std::shared_ptr<void> owner_;
  void* data_ = nullptr;
};

// Converts elements between numeric dtypes (float/half/bf16/double/ints/bool), as ONNX Cast does
// (float->int truncates toward zero, ->bool is x != 0).
void convertElements(const void* src, DataType src_type, void* dst, DataType dst_type, int64_t n);
Result<HostTensor> castTensor(const HostTensor& t, DataType to);

// Row-major strides (in elements) for dims.
std::vector<int64_t> stridesOf(const Dims& dims);

}  // namespace qrt
