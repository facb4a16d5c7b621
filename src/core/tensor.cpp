#include "core/tensor.h"

#include <cmath>
#include <cstdlib>
#include <cstring>

#include "core/half.h"
#include "core/status_macros.h"

namespace qrt {

namespace {
std::shared_ptr<void> allocAligned(size_t bytes) {
  size_t n = (bytes + 63) / 64 * 64;
  if (n == 0) n = 64;
  void* p = std::aligned_alloc(64, n);
  std::memset(p, 0, n);
  return std::shared_ptr<void>(p, [](void* q) { std::free(q); });
}

template <typename T>
double loadAs(const void* p, int64_t i) { return static_cast<double>(static_cast<const T*>(p)[i]); }

double loadDouble(const void* p, DataType t, int64_t i) {
  switch (t) {
    case DataType::kFloat: return loadAs<float>(p, i);
    case DataType::kDouble: return loadAs<double>(p, i);
    case DataType::kHalf: return halfToFloat(static_cast<const uint16_t*>(p)[i]);
    case DataType::kBFloat16: return bfloat16ToFloat(static_cast<const uint16_t*>(p)[i]);
    case DataType::kInt8: return loadAs<int8_t>(p, i);
    case DataType::kUInt8: return loadAs<uint8_t>(p, i);
    case DataType::kInt16: return loadAs<int16_t>(p, i);
    case DataType::kUInt16: return loadAs<uint16_t>(p, i);
    case DataType::kInt32: return loadAs<int32_t>(p, i);
    case DataType::kUInt32: return loadAs<uint32_t>(p, i);
    case DataType::kInt64: return loadAs<int64_t>(p, i);
    case DataType::kUInt64: return loadAs<uint64_t>(p, i);
    case DataType::kBool: return static_cast<const uint8_t*>(p)[i] ? 1.0 : 0.0;
    default: return 0.0;
  }
}

template <typename T>
void storeInt(void* p, int64_t i, int64_t v) { static_cast<T*>(p)[i] = static_cast<T>(v); }

void storeIntAny(void* p, DataType t, int64_t i, int64_t v) {
  switch (t) {
    case DataType::kInt8: storeInt<int8_t>(p, i, v); break;
    case DataType::kUInt8: storeInt<uint8_t>(p, i, v); break;
    case DataType::kInt16: storeInt<int16_t>(p, i, v); break;
    case DataType::kUInt16: storeInt<uint16_t>(p, i, v); break;
    case DataType::kInt32: storeInt<int32_t>(p, i, v); break;
    case DataType::kUInt32: storeInt<uint32_t>(p, i, v); break;
    case DataType::kInt64: storeInt<int64_t>(p, i, v); break;
    case DataType::kUInt64: storeInt<uint64_t>(p, i, v); break;
    default: break;
  }
}

bool isIntegral(DataType t) {
  switch (t) {
    case DataType::kInt8: case DataType::kUInt8: case DataType::kInt16: case DataType::kUInt16:
    case DataType::kInt32: case DataType::kUInt32: case DataType::kInt64: case DataType::kUInt64:
      return true;
    default: return false;
  }
}

int64_t loadInt(const void* p, DataType t, int64_t i) {
  switch (t) {
    case DataType::kInt64: return static_cast<const int64_t*>(p)[i];
    case DataType::kUInt64: return static_cast<int64_t>(static_cast<const uint64_t*>(p)[i]);
    case DataType::kInt32: return static_cast<const int32_t*>(p)[i];
    case DataType::kUInt32: return static_cast<const uint32_t*>(p)[i];
    case DataType::kInt16: return static_cast<const int16_t*>(p)[i];
    case DataType::kUInt16: return static_cast<const uint16_t*>(p)[i];
    case DataType::kInt8: return static_cast<const int8_t*>(p)[i];
    case DataType::kUInt8: return static_cast<const uint8_t*>(p)[i];
    case DataType::kBool: return static_cast<const uint8_t*>(p)[i] ? 1 : 0;
    default: return static_cast<int64_t>(loadDouble(p, t, i));
  }
}

void storeFromDouble(void* p, DataType t, int64_t i, double v) {
  switch (t) {
    case DataType::kFloat: static_cast<float*>(p)[i] = static_cast<float>(v); break;
    case DataType::kDouble: static_cast<double*>(p)[i] = v; break;
    case DataType::kHalf: static_cast<uint16_t*>(p)[i] = floatToHalf(static_cast<float>(v)); break;
    case DataType::kBFloat16: static_cast<uint16_t*>(p)[i] = floatToBFloat16(static_cast<float>(v)); break;
    case DataType::kBool: static_cast<uint8_t*>(p)[i] = v != 0.0 ? 1 : 0; break;
    default: {
      // float -> int truncates toward zero (ONNX Cast); NaN/inf are undefined, clamp to 0.
      int64_t iv = std::isfinite(v) ? static_cast<int64_t>(std::trunc(v)) : 0;
      storeIntAny(p, t, i, iv);
    }
  }
}
}  // namespace

HostTensor::HostTensor(DataType dtype, Dims dims) : dtype_(dtype), dims_(std::move(dims)) {
  int64_t n = volume(dims_);
  owner_ = allocAligned(n > 0 ? static_cast<size_t>(n) * dataTypeSize(dtype_) : 0);
  data_ = owner_.get();
}

HostTensor::HostTensor(DataType dtype, Dims dims, std::shared_ptr<void> owner, void* data)
    : dtype_(dtype), dims_(std::move(dims)), owner_(std::move(owner)), data_(data) {}

HostTensor HostTensor::reshaped(Dims dims) const {
  HostTensor t = *this;
  t.dims_ = std::move(dims);
  return t;
}

HostTensor HostTensor::clone() const {
  HostTensor t(dtype_, dims_);
  if (bytes()) std::memcpy(t.data_, data_, bytes());
  return t;
}

double HostTensor::getDouble(int64_t i) const { return loadDouble(data_, dtype_, i); }
int64_t HostTensor::getInt(int64_t i) const { return loadInt(data_, dtype_, i); }

std::vector<int64_t> HostTensor::toInt64Vector() const {
  std::vector<int64_t> v(static_cast<size_t>(numel()));
  for (int64_t i = 0; i < numel(); ++i) v[i] = getInt(i);
  return v;
}

std::vector<float> HostTensor::toFloatVector() const {
  std::vector<float> v(static_cast<size_t>(numel()));
  for (int64_t i = 0; i < numel(); ++i) v[i] = static_cast<float>(getDouble(i));
  return v;
}

HostTensor HostTensor::fromInt64(const std::vector<int64_t>& v, Dims dims) {
  HostTensor t(DataType::kInt64, std::move(dims));
  std::memcpy(t.data_, v.data(), v.size() * 8);
  return t;
}

HostTensor HostTensor::fromFloat(const std::vector<float>& v, Dims dims) {
  HostTensor t(DataType::kFloat, std::move(dims));
  std::memcpy(t.data_, v.data(), v.size() * 4);
  return t;
}

void convertElements(const void* src, DataType st, void* dst, DataType dt, int64_t n) {
  if (st == dt) {
    std::memcpy(dst, src, static_cast<size_t>(n) * dataTypeSize(st));
    return;
  }
  if (isIntegral(st) && (isIntegral(dt) || dt == DataType::kBool)) {
    for (int64_t i = 0; i < n; ++i) {
      int64_t v = loadInt(src, st, i);
      if (dt == DataType::kBool) static_cast<uint8_t*>(dst)[i] = v != 0;
      else storeIntAny(dst, dt, i, v);
    }
    return;
  }
  for (int64_t i = 0; i < n; ++i) storeFromDouble(dst, dt, i, loadDouble(src, st, i));
}

Result<HostTensor> castTensor(const HostTensor& t, DataType to) {
  if (dataTypeSize(to) == 0 || dataTypeSize(t.dtype()) == 0)
    return unsupported("cast from ", dataTypeName(t.dtype()), " to ", dataTypeName(to));
  HostTensor out(to, t.dims());
  convertElements(t.data(), t.dtype(), out.data(), to, t.numel());
  return out;
}

std::vector<int64_t> stridesOf(const Dims& dims) {
  std::vector<int64_t> s(dims.size(), 1);
  for (int i = static_cast<int>(dims.size()) - 2; i >= 0; --i) s[i] = s[i + 1] * dims[i + 1];
  return s;
}

}  // namespace qrt
