#include "data/tensor_file.h"

#include <onnx/onnx_pb.h>

#include <algorithm>
#include <bit>
#include <cctype>
#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <memory>
#include <utility>
#include <vector>

#include "core/file_util.h"
#include "core/status_macros.h"
#include "onnx/tensor_proto.h"

namespace qrt {

static_assert(std::endian::native == std::endian::little, "qrt assumes a little-endian host");

namespace fs = std::filesystem;

namespace {

constexpr char kNpyMagic[] = "\x93NUMPY";
constexpr size_t kNpyMagicLen = 6;
// NumPy refuses headers over 10 kB unless asked to; anything near this limit is not a real file.
constexpr uint32_t kMaxNpyHeader = 1u << 20;
constexpr uint64_t kMaxTensorBytes = uint64_t{1} << 40;

using File = std::unique_ptr<FILE, int (*)(FILE*)>;

Result<File> openForRead(const std::string& path) {
  std::error_code ec;
  if (!fs::exists(path, ec)) return notFound("tensor file '", path, "' not found");
  if (fs::is_directory(path, ec)) return invalidArgument("tensor file '", path, "' is a directory");
  File f(std::fopen(path.c_str(), "rb"), &std::fclose);
  if (!f) return ioError("cannot open tensor file '", path, "': ", std::strerror(errno));
  return f;
}

// ---- A parser for the Python literal that is a .npy header ------------------------------------
// {'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }

struct PyValue {
  enum class Kind { kString, kInt, kBool, kNone, kTuple, kList, kDict } kind = Kind::kNone;
  std::string s;
  int64_t i = 0;
  bool b = false;
  std::vector<PyValue> items;                          // tuple / list / dict values
  std::vector<std::string> keys;                       // dict keys (strings only)
};

class PyParser {
 public:
  explicit PyParser(const std::string& text) : t_(text) {}

  bool parse(PyValue& out) {
    if (!value(out, 0)) return false;
    skipSpace();
    return pos_ == t_.size();
  }

 private:
  void skipSpace() {
    while (pos_ < t_.size() && std::isspace(static_cast<unsigned char>(t_[pos_]))) ++pos_;
  }
  bool eat(char c) {
    skipSpace();
    if (pos_ < t_.size() && t_[pos_] == c) {
      ++pos_;
      return true;
    }
    return false;
  }
  bool word(const char* w) {
    size_t n = std::strlen(w);
    if (t_.compare(pos_, n, w) != 0) return false;
    pos_ += n;
    return true;
  }
  bool string(std::string& out) {
    char q = t_[pos_++];
    while (pos_ < t_.size() && t_[pos_] != q) {
      if (t_[pos_] == '\\' && pos_ + 1 < t_.size()) ++pos_;
      out += t_[pos_++];
    }
    return pos_ < t_.size() && t_[pos_++] == q;
  }
  bool integer(int64_t& out) {
    bool neg = t_[pos_] == '-';
    if (neg) ++pos_;
    size_t start = pos_;
    uint64_t v = 0;
    while (pos_ < t_.size() && std::isdigit(static_cast<unsigned char>(t_[pos_]))) {
      if (v > (uint64_t{1} << 62)) return false;  // far beyond any real shape
      v = v * 10 + static_cast<uint64_t>(t_[pos_++] - '0');
    }
    if (pos_ < t_.size() && (t_[pos_] == 'L' || t_[pos_] == 'l')) ++pos_;  // Python 2 longs
    out = neg ? -static_cast<int64_t>(v) : static_cast<int64_t>(v);
    return pos_ > start;
  }
  // Items up to `close`, separated by commas, a trailing comma allowed.
  bool sequence(char close, PyValue& out, int depth, bool dict) {
    while (!eat(close)) {
      if (dict) {
        skipSpace();
        if (pos_ >= t_.size() || (t_[pos_] != '\'' && t_[pos_] != '"')) return false;
        std::string key;
        if (!string(key) || !eat(':')) return false;
        out.keys.push_back(std::move(key));
      }
      PyValue item;
      if (!value(item, depth + 1)) return false;
      out.items.push_back(std::move(item));
      if (!eat(',')) return eat(close);
    }
    return true;
  }
  bool value(PyValue& out, int depth) {
    if (depth > 16) return false;
    skipSpace();
    if (pos_ >= t_.size()) return false;
    char c = t_[pos_];
    if (c == '\'' || c == '"') {
      out.kind = PyValue::Kind::kString;
      return string(out.s);
    }
    if (c == '-' || std::isdigit(static_cast<unsigned char>(c))) {
      out.kind = PyValue::Kind::kInt;
      return integer(out.i);
    }
    if (word("True")) { out.kind = PyValue::Kind::kBool; out.b = true; return true; }
    if (word("False")) { out.kind = PyValue::Kind::kBool; out.b = false; return true; }
    if (word("None")) { out.kind = PyValue::Kind::kNone; return true; }
    ++pos_;
    if (c == '(') { out.kind = PyValue::Kind::kTuple; return sequence(')', out, depth, false); }
    if (c == '[') { out.kind = PyValue::Kind::kList; return sequence(']', out, depth, false); }
    if (c == '{') { out.kind = PyValue::Kind::kDict; return sequence('}', out, depth, true); }
    return false;
  }

  const std::string& t_;
  size_t pos_ = 0;
};

// ---- dtypes ------------------------------------------------------------------------------------

struct NpyType {
  const char* code;  // kind + size, without the byte-order character
  DataType dtype;
};
constexpr NpyType kNpyTypes[] = {
    {"f2", DataType::kHalf},  {"f4", DataType::kFloat},  {"f8", DataType::kDouble}, {"i1", DataType::kInt8},
    {"i2", DataType::kInt16}, {"i4", DataType::kInt32},  {"i8", DataType::kInt64},  {"u1", DataType::kUInt8},
    {"u2", DataType::kUInt16}, {"u4", DataType::kUInt32}, {"u8", DataType::kUInt64}, {"b1", DataType::kBool},
};

Result<DataType> npyDataType(const std::string& descr, const std::string& path) {
  if (descr.size() < 2) return corrupt("'", path, "': bad .npy dtype '", descr, "'");
  char order = descr[0];
  std::string code = descr.substr(1);
  if (code == "?") code = "b1";
  for (const NpyType& t : kNpyTypes) {
    if (code != t.code) continue;
    // '>' only matters for multi-byte types; '=' is native order, little-endian here.
    if (order == '>' && dataTypeSize(t.dtype) > 1)
      return unsupported("'", path, "': big-endian .npy dtype '", descr, "' is not supported");
    if (order != '<' && order != '>' && order != '|' && order != '=')
      return corrupt("'", path, "': bad byte order in .npy dtype '", descr, "'");
    return t.dtype;
  }
  return unsupported("'", path, "': .npy dtype '", descr,
                     "' is not supported (use f2 f4 f8 i1 i2 i4 i8 u1 u2 u4 u8 b1)");
}

const char* npyDescr(DataType t) {
  switch (t) {
    case DataType::kHalf: return "<f2";
    case DataType::kFloat: return "<f4";
    case DataType::kDouble: return "<f8";
    case DataType::kInt8: return "|i1";
    case DataType::kInt16: return "<i2";
    case DataType::kInt32: return "<i4";
    case DataType::kInt64: return "<i8";
    case DataType::kUInt8: return "|u1";
    case DataType::kUInt16: return "<u2";
    case DataType::kUInt32: return "<u4";
    case DataType::kUInt64: return "<u8";
    case DataType::kBool: return "|b1";
    default: return nullptr;
  }
}

// ---- reading -------------------------------------------------------------------------------------

struct NpyHeader {
  DataType dtype = DataType::kUndefined;
  Dims dims;
};

Result<NpyHeader> parseNpyHeader(const std::string& text, const std::string& path) {
  PyValue dict;
  if (!PyParser(text).parse(dict) || dict.kind != PyValue::Kind::kDict)
    return corrupt("'", path, "': .npy header is not a Python dict literal");
  const PyValue *descr = nullptr, *fortran = nullptr, *shape = nullptr;
  for (size_t i = 0; i < dict.keys.size(); ++i) {
    const std::string& k = dict.keys[i];
    if (k == "descr") descr = &dict.items[i];
    else if (k == "fortran_order") fortran = &dict.items[i];
    else if (k == "shape") shape = &dict.items[i];
    else return corrupt("'", path, "': unexpected key '", k, "' in .npy header");
  }
  if (!descr || !fortran || !shape) return corrupt("'", path, "': .npy header lacks descr, fortran_order or shape");
  if (descr->kind != PyValue::Kind::kString)
    return unsupported("'", path, "': structured .npy dtypes are not supported");
  if (fortran->kind != PyValue::Kind::kBool) return corrupt("'", path, "': fortran_order is not True or False");
  if (shape->kind != PyValue::Kind::kTuple) return corrupt("'", path, "': .npy shape is not a tuple");
  NpyHeader h;
  QRT_ASSIGN_OR_RETURN(h.dtype, npyDataType(descr->s, path));
  uint64_t n = 1;
  for (const PyValue& d : shape->items) {
    if (d.kind != PyValue::Kind::kInt || d.i < 0) return corrupt("'", path, "': bad dimension in .npy shape");
    if (d.i != 0 && n > kMaxTensorBytes / static_cast<uint64_t>(d.i))
      return corrupt("'", path, "': .npy shape is implausibly large");
    n *= static_cast<uint64_t>(d.i);
    h.dims.push_back(d.i);
  }
  if (n > kMaxTensorBytes / dataTypeSize(h.dtype)) return corrupt("'", path, "': .npy shape is implausibly large");
  // Fortran order is the same memory layout as C order for rank <= 1.
  if (fortran->b && h.dims.size() > 1)
    return unsupported("'", path, "': Fortran-ordered .npy arrays are not supported (save a C-ordered array)");
  return h;
}

uint32_t readLE(const unsigned char* p, int bytes) {
  uint32_t v = 0;
  for (int i = bytes - 1; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

// ---- writing -------------------------------------------------------------------------------------

std::string npyHeaderText(DataType dtype, const Dims& dims) {
  std::string shape = "(";
  for (size_t i = 0; i < dims.size(); ++i) shape += (i ? ", " : "") + std::to_string(dims[i]);
  if (dims.size() == 1) shape += ",";
  shape += ")";
  return std::string("{'descr': '") + npyDescr(dtype) + "', 'fortran_order': False, 'shape': " + shape + ", }";
}

// The whole preamble (magic, version, length, padded header) so the data starts 64-aligned.
std::string npyPreamble(DataType dtype, const Dims& dims) {
  std::string text = npyHeaderText(dtype, dims);
  bool v2 = false;
  size_t fixed = kNpyMagicLen + 2 + 2;
  size_t total = (fixed + text.size() + 1 + 63) / 64 * 64;
  if (total - fixed > 65535) {
    v2 = true;
    fixed = kNpyMagicLen + 2 + 4;
    total = (fixed + text.size() + 1 + 63) / 64 * 64;
  }
  text.append(total - fixed - text.size() - 1, ' ');
  text += '\n';
  std::string out(kNpyMagic, kNpyMagicLen);
  out += static_cast<char>(v2 ? 2 : 1);
  out += '\0';
  uint32_t len = static_cast<uint32_t>(text.size());
  for (int i = 0; i < (v2 ? 4 : 2); ++i) out += static_cast<char>((len >> (8 * i)) & 0xff);
  return out + text;
}

}  // namespace

Result<HostTensor> readNpy(const std::string& path) {
  QRT_ASSIGN_OR_RETURN(File f, openForRead(path));
  unsigned char pre[kNpyMagicLen + 2 + 4];
  if (std::fread(pre, 1, kNpyMagicLen + 4, f.get()) != kNpyMagicLen + 4 || std::memcmp(pre, kNpyMagic, kNpyMagicLen) != 0)
    return corrupt("'", path, "' is not a .npy file (bad magic)");
  int major = pre[kNpyMagicLen];
  if (major < 1 || major > 3)
    return unsupported("'", path, "': .npy format version ", major, ".", int{pre[kNpyMagicLen + 1]}, " is not supported");
  uint32_t header_len = 0;
  if (major == 1) {
    header_len = readLE(pre + kNpyMagicLen + 2, 2);
  } else {
    if (std::fread(pre + kNpyMagicLen + 4, 1, 2, f.get()) != 2) return corrupt("'", path, "': truncated .npy header");
    header_len = readLE(pre + kNpyMagicLen + 2, 4);
  }
  if (header_len > kMaxNpyHeader) return corrupt("'", path, "': .npy header length ", header_len, " is implausible");
  std::string text(header_len, '\0');
  if (std::fread(text.data(), 1, header_len, f.get()) != header_len) return corrupt("'", path, "': truncated .npy header");
  QRT_ASSIGN_OR_RETURN(NpyHeader h, parseNpyHeader(text, path));

  HostTensor t(h.dtype, h.dims);
  size_t got = t.bytes() ? std::fread(t.data(), 1, t.bytes(), f.get()) : 0;
  if (got != t.bytes())
    return corrupt("'", path, "': truncated .npy data (", got, " of ", t.bytes(), " bytes for ", dimsToString(h.dims),
                   " ", dataTypeName(h.dtype), ")");
  if (std::fgetc(f.get()) != EOF) return corrupt("'", path, "': unexpected bytes after the .npy data");
  if (std::ferror(f.get())) return ioError("cannot read '", path, "'");
  if (h.dtype == DataType::kBool) {
    uint8_t* b = t.as<uint8_t>();
    for (int64_t i = 0; i < t.numel(); ++i) b[i] = b[i] != 0;
  }
  return t;
}

Status writeNpy(const std::string& path, const HostTensor& tensor) {
  if (!npyDescr(tensor.dtype()))
    return unsupported("cannot write '", path, "': .npy has no ", dataTypeName(tensor.dtype()), " dtype");
  if (tensor.numel() < 0)
    return invalidArgument("cannot write '", path, "': dims ", dimsToString(tensor.dims()), " are not concrete");
  std::string preamble = npyPreamble(tensor.dtype(), tensor.dims());
  return writeFileAtomic(path, {{preamble.data(), preamble.size()}, {tensor.data(), tensor.bytes()}});
}

Result<HostTensor> readTensorPb(const std::string& path) {
  QRT_ASSIGN_OR_RETURN(File f, openForRead(path));
  std::string bytes;
  char buf[1 << 16];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, f.get())) > 0) bytes.append(buf, n);
  if (std::ferror(f.get())) return ioError("cannot read '", path, "'");
  onnx::TensorProto proto;
  if (bytes.size() > static_cast<size_t>(INT32_MAX) || !proto.ParseFromArray(bytes.data(), static_cast<int>(bytes.size())))
    return corrupt("'", path, "' is not a valid ONNX TensorProto file (truncated or corrupt)");
  fs::path dir = fs::path(path).parent_path();
  return tensorFromProto(proto, dir.empty() ? "." : dir.string(), "tensor file '" + path + "'");
}

Result<HostTensor> readTensorFile(const std::string& path) {
  std::string ext = fs::path(path).extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return std::tolower(c); });
  if (ext == ".npy") return readNpy(path);
  if (ext == ".pb") return readTensorPb(path);
  return invalidArgument("'", path, "': unknown tensor file type '", ext, "' (expected .npy or .pb)");
}

}  // namespace qrt
