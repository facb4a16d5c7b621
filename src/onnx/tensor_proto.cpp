#include "onnx/tensor_proto.h"

#include <onnx/onnx_pb.h>

#include <bit>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <limits>
#include <memory>

#include "core/status_macros.h"

namespace qrt {

// raw_data and external data are little-endian; we copy them as they are.
static_assert(std::endian::native == std::endian::little, "qrt assumes a little-endian host");

namespace fs = std::filesystem;

namespace {

// The largest tensor we agree to allocate from a file (bytes). Larger claims are corrupt files,
// not real models (ONNX protobufs are limited to 2 GB; external data rarely exceeds a few GB).
constexpr uint64_t kMaxTensorBytes = uint64_t{1} << 40;

// Element count of `proto`'s dims, refusing negative dims and overflow.
Result<int64_t> elementCount(const onnx::TensorProto& proto, size_t elem_size, const std::string& what) {
  uint64_t n = 1;
  for (int i = 0; i < proto.dims_size(); ++i) {
    int64_t d = proto.dims(i);
    if (d < 0) return corrupt(what, ": negative dimension ", d, " at axis ", i);
    if (d != 0 && n > kMaxTensorBytes / static_cast<uint64_t>(d))
      return corrupt(what, ": dimensions are implausibly large");
    n *= static_cast<uint64_t>(d);
  }
  if (n > kMaxTensorBytes / elem_size) return corrupt(what, ": dimensions are implausibly large");
  return static_cast<int64_t>(n);
}

Dims dimsOf(const onnx::TensorProto& proto) { return Dims(proto.dims().begin(), proto.dims().end()); }

Result<uint64_t> parseUnsigned(const std::string& text, const std::string& key, const std::string& what) {
  uint64_t v = 0;
  const char* end = text.data() + text.size();
  auto [p, ec] = std::from_chars(text.data(), end, v);
  if (ec != std::errc() || p != end || text.empty())
    return corrupt(what, ": external data ", key, " '", text, "' is not a non-negative integer");
  return v;
}

// Resolves an external data location inside `base_dir`, refusing anything that could read
// files outside it (absolute paths, "..", symlinks leading out).
Result<fs::path> resolveExternalPath(const std::string& base_dir, const std::string& location,
                                     const std::string& what) {
  if (base_dir.empty())
    return invalidArgument(what, ": uses external data '", location,
                           "' but the model has no folder to resolve it against (loaded from memory)");
  if (location.empty()) return corrupt(what, ": external data has an empty location");
  fs::path loc(location);
  if (loc.is_absolute() || loc.has_root_name() || loc.has_root_directory())
    return invalidArgument(what, ": external data location '", location,
                           "' is an absolute path; only paths inside the model's folder are allowed");
  std::error_code ec;
  fs::path base = fs::weakly_canonical(fs::absolute(fs::path(base_dir), ec), ec);
  if (ec) return ioError(what, ": cannot resolve the model folder '", base_dir, "': ", ec.message());
  fs::path target = fs::weakly_canonical(base / loc, ec);
  if (ec) return ioError(what, ": cannot resolve external data location '", location, "': ", ec.message());
  // `target` must be `base` followed by at least one more component.
  auto bi = base.begin(), ti = target.begin();
  for (; bi != base.end(); ++bi, ++ti)
    if (ti == target.end() || *bi != *ti) break;
  if (bi != base.end() || ti == target.end())
    return invalidArgument(what, ": external data location '", location, "' escapes the model's folder '",
                           base_dir, "'");
  return target;
}

// Reads `proto`'s external data into `out` (allocated here, once the file is known to hold it).
Status readExternal(const onnx::TensorProto& proto, const std::string& base_dir, const std::string& what,
                    DataType dtype, HostTensor& out) {
  std::string location, offset_text, length_text;
  for (const auto& kv : proto.external_data()) {
    if (kv.key() == "location") location = kv.value();
    else if (kv.key() == "offset") offset_text = kv.value();
    else if (kv.key() == "length") length_text = kv.value();
  }
  uint64_t offset = 0;
  if (!offset_text.empty()) { QRT_ASSIGN_OR_RETURN(offset, parseUnsigned(offset_text, "offset", what)); }
  uint64_t bytes = dataTypeSize(dtype);
  for (int64_t d : proto.dims()) bytes *= static_cast<uint64_t>(d);  // dims already validated
  if (!length_text.empty()) {
    QRT_ASSIGN_OR_RETURN(uint64_t length, parseUnsigned(length_text, "length", what));
    if (length != bytes)
      return corrupt(what, ": external data length ", length, " does not match its dims (", bytes, " bytes)");
  }
  QRT_ASSIGN_OR_RETURN(fs::path path, resolveExternalPath(base_dir, location, what));
  std::error_code ec;
  if (!fs::is_regular_file(path, ec))
    return notFound(what, ": external data file '", path.string(), "' not found");
  uint64_t file_size = fs::file_size(path, ec);
  if (ec) return ioError(what, ": cannot stat external data file '", path.string(), "': ", ec.message());
  if (offset > file_size || bytes > file_size - offset)
    return corrupt(what, ": external data file '", path.string(), "' is too short (", file_size,
                   " bytes; need ", bytes, " at offset ", offset, ")");
  out = HostTensor(dtype, dimsOf(proto));
  std::unique_ptr<FILE, int (*)(FILE*)> f(std::fopen(path.c_str(), "rb"), &std::fclose);
  if (!f) return ioError(what, ": cannot open external data file '", path.string(), "': ", std::strerror(errno));
  if (offset > static_cast<uint64_t>(std::numeric_limits<off_t>::max()) ||
      fseeko(f.get(), static_cast<off_t>(offset), SEEK_SET) != 0 ||
      std::fread(out.data(), 1, bytes, f.get()) != bytes)
    return ioError(what, ": cannot read external data file '", path.string(), "'");
  return Status::Ok();
}

// The typed field that holds `dtype`'s elements (as the ONNX spec assigns them), and its size.
struct TypedField {
  const char* name;
  int size;
};
TypedField typedField(const onnx::TensorProto& p, DataType dtype) {
  switch (dtype) {
    case DataType::kFloat: return {"float_data", p.float_data_size()};
    case DataType::kDouble: return {"double_data", p.double_data_size()};
    case DataType::kInt64: return {"int64_data", p.int64_data_size()};
    case DataType::kUInt32:
    case DataType::kUInt64: return {"uint64_data", p.uint64_data_size()};
    default: return {"int32_data", p.int32_data_size()};  // the 8, 16 and 32-bit types
  }
}

// Copies a typed repeated field (whose size was checked) into `out`, converting each element.
template <typename Dst, typename Field, typename Conv>
void copyField(const Field& field, HostTensor& out, Conv conv) {
  Dst* dst = out.as<Dst>();
  for (int i = 0; i < field.size(); ++i) dst[i] = conv(field.Get(i));
}

void readTypedFields(const onnx::TensorProto& p, HostTensor& out) {
  auto same = [](auto v) { return v; };
  switch (out.dtype()) {
    case DataType::kFloat: return copyField<float>(p.float_data(), out, same);
    case DataType::kDouble: return copyField<double>(p.double_data(), out, same);
    case DataType::kInt64: return copyField<int64_t>(p.int64_data(), out, same);
    case DataType::kInt32: return copyField<int32_t>(p.int32_data(), out, same);
    case DataType::kInt16: return copyField<int16_t>(p.int32_data(), out, [](int32_t v) { return static_cast<int16_t>(v); });
    case DataType::kInt8: return copyField<int8_t>(p.int32_data(), out, [](int32_t v) { return static_cast<int8_t>(v); });
    case DataType::kUInt8: return copyField<uint8_t>(p.int32_data(), out, [](int32_t v) { return static_cast<uint8_t>(v); });
    case DataType::kBool: return copyField<uint8_t>(p.int32_data(), out, [](int32_t v) { return static_cast<uint8_t>(v != 0); });
    // fp16 / bf16 / uint16 keep their 16-bit patterns in the low half of each int32.
    case DataType::kUInt16:
    case DataType::kHalf:
    case DataType::kBFloat16:
      return copyField<uint16_t>(p.int32_data(), out, [](int32_t v) { return static_cast<uint16_t>(v); });
    case DataType::kUInt32:
      return copyField<uint32_t>(p.uint64_data(), out, [](uint64_t v) { return static_cast<uint32_t>(v); });
    case DataType::kUInt64: return copyField<uint64_t>(p.uint64_data(), out, same);
    default: return;  // dataTypeFromOnnx admits no other type
  }
}

bool hasTypedData(const onnx::TensorProto& p) {
  return p.float_data_size() || p.double_data_size() || p.int32_data_size() || p.int64_data_size() ||
         p.uint64_data_size() || p.string_data_size();
}

}  // namespace

Result<DataType> dataTypeFromOnnx(int32_t t, const std::string& what) {
  switch (t) {
    case onnx::TensorProto::FLOAT: return DataType::kFloat;
    case onnx::TensorProto::UINT8: return DataType::kUInt8;
    case onnx::TensorProto::INT8: return DataType::kInt8;
    case onnx::TensorProto::UINT16: return DataType::kUInt16;
    case onnx::TensorProto::INT16: return DataType::kInt16;
    case onnx::TensorProto::INT32: return DataType::kInt32;
    case onnx::TensorProto::INT64: return DataType::kInt64;
    case onnx::TensorProto::BOOL: return DataType::kBool;
    case onnx::TensorProto::FLOAT16: return DataType::kHalf;
    case onnx::TensorProto::DOUBLE: return DataType::kDouble;
    case onnx::TensorProto::UINT32: return DataType::kUInt32;
    case onnx::TensorProto::UINT64: return DataType::kUInt64;
    case onnx::TensorProto::BFLOAT16: return DataType::kBFloat16;
    case onnx::TensorProto::STRING: return unsupported(what, ": string tensors are not supported");
    case onnx::TensorProto::COMPLEX64:
    case onnx::TensorProto::COMPLEX128: return unsupported(what, ": complex tensors are not supported");
    case onnx::TensorProto::UNDEFINED: return corrupt(what, ": data type is undefined");
    default:
      // 17..23 are the float8 / 4-bit types of newer ONNX versions.
      if (t >= 17 && t <= 23) return unsupported(what, ": ONNX data type ", t, " (float8 / int4) is not supported");
      return corrupt(what, ": unknown ONNX data type ", t);
  }
}

Result<HostTensor> tensorFromProto(const onnx::TensorProto& proto, const std::string& base_dir,
                                   const std::string& what) {
  if (proto.has_segment()) return unsupported(what, ": segmented tensors are not supported");
  QRT_ASSIGN_OR_RETURN(DataType dtype, dataTypeFromOnnx(proto.data_type(), what));
  QRT_ASSIGN_OR_RETURN(int64_t n, elementCount(proto, dataTypeSize(dtype), what));
  const uint64_t bytes = static_cast<uint64_t>(n) * dataTypeSize(dtype);
  // Each form checks its size before the tensor is allocated: a corrupt file may claim any dims.
  HostTensor out;
  if (proto.data_location() == onnx::TensorProto::EXTERNAL) {
    QRT_RETURN_IF_ERROR(readExternal(proto, base_dir, what, dtype, out));
  } else if (proto.has_raw_data()) {
    if (proto.raw_data().size() != bytes)
      return corrupt(what, ": raw_data has ", proto.raw_data().size(), " bytes but ", dimsToString(dimsOf(proto)),
                     " ", dataTypeName(dtype), " needs ", bytes);
    out = HostTensor(dtype, dimsOf(proto));
    if (bytes) std::memcpy(out.data(), proto.raw_data().data(), bytes);
  } else if (hasTypedData(proto)) {
    TypedField field = typedField(proto, dtype);
    if (field.size != n)
      return corrupt(what, ": ", field.name, " holds ", field.size, " elements but ", dimsToString(dimsOf(proto)),
                     " needs ", n);
    out = HostTensor(dtype, dimsOf(proto));
    readTypedFields(proto, out);
  } else if (n != 0) {
    return corrupt(what, ": tensor of ", n, " elements carries no data");
  } else {
    out = HostTensor(dtype, dimsOf(proto));
  }
  // A bool stored as raw bytes may hold values other than 0/1; normalize so kernels can trust it.
  if (dtype == DataType::kBool) {
    uint8_t* b = out.as<uint8_t>();
    for (int64_t i = 0; i < n; ++i) b[i] = b[i] != 0;
  }
  return out;
}

Status tensorToProto(const HostTensor& tensor, const std::string& name, onnx::TensorProto* proto) {
  if (dataTypeSize(tensor.dtype()) == 0)
    return unsupported("tensor '", name, "': cannot write data type ", dataTypeName(tensor.dtype()));
  if (tensor.numel() < 0) return invalidArgument("tensor '", name, "': dims ", dimsToString(tensor.dims()), " are not concrete");
  proto->Clear();
  proto->set_name(name);
  proto->set_data_type(static_cast<int32_t>(tensor.dtype()));  // qrt's DataType values are ONNX's
  for (int64_t d : tensor.dims()) proto->add_dims(d);
  proto->set_raw_data(static_cast<const char*>(tensor.data()), tensor.bytes());
  return Status::Ok();
}

}  // namespace qrt
