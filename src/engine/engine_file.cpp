// The engine file (.qrt): a fixed header, a payload describing the graph, then the weights.
//
//   header (64 bytes): magic "QRTENGN\0", u32 format version, u32 header size, u64 payload size,
//                      u64 weights offset (64-aligned), u64 weights size, u32 CRC-32 of every
//                      byte after the header, char[16] qrt version, padding
//   payload:           metadata, opsets, values (dtype, dims, constant -> weights range),
//                      nodes (op, attributes, inputs, outputs, backend, precision), graph I/O
//   weights:           constants, each 64-byte aligned, so they are used in place after loading
//
// A file whose magic, version, size or checksum does not match is refused with the reason.
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <cerrno>

#include <cstdlib>
#include <cstring>

#include "core/file_util.h"
#include "core/status_macros.h"
#include "engine/byte_io.h"
#include "qrt/engine.h"
#include "runtime/engine_impl.h"

namespace qrt {

namespace {

constexpr char kMagic[8] = {'Q', 'R', 'T', 'E', 'N', 'G', 'N', '\0'};
constexpr uint32_t kFormatVersion = 1;
constexpr size_t kHeaderBytes = 64;
constexpr size_t kAlign = 64;

size_t alignUp(size_t n) { return (n + kAlign - 1) / kAlign * kAlign; }

uint32_t crc32Of(const uint8_t* p, size_t n) {
  uLong c = crc32(0L, Z_NULL, 0);
  while (n > 0) {
    uInt chunk = static_cast<uInt>(std::min<size_t>(n, 1u << 30));
    c = crc32(c, p, chunk);
    p += chunk;
    n -= chunk;
  }
  return static_cast<uint32_t>(c);
}

void putDims(ByteWriter& w, const Dims& d) {
  w.put<uint32_t>(static_cast<uint32_t>(d.size()));
  for (int64_t x : d) w.put<int64_t>(x);
}

Dims getDims(ByteReader& r) {
  uint32_t n = r.get<uint32_t>();
  if (n > 64) {
    r.fail();
    return {};
  }
  Dims d(n);
  for (auto& x : d) x = r.get<int64_t>();
  return d;
}

void putTensorInline(ByteWriter& w, const HostTensor& t) {
  w.put<int32_t>(static_cast<int32_t>(t.dtype()));
  putDims(w, t.dims());
  w.put<uint64_t>(t.bytes());
  w.putBytes(t.data(), t.bytes());
}

Result<HostTensor> getTensorInline(ByteReader& r) {
  auto dtype = static_cast<DataType>(r.get<int32_t>());
  Dims dims = getDims(r);
  uint64_t bytes = r.get<uint64_t>();
  const uint8_t* p = r.getBytes(bytes);
  if (!r.ok() || volume(dims) < 0 || static_cast<uint64_t>(volume(dims)) * dataTypeSize(dtype) != bytes)
    return corrupt("bad inline tensor");
  HostTensor t(dtype, dims);
  if (bytes) std::memcpy(t.data(), p, bytes);
  return t;
}

void putAttr(ByteWriter& w, const ir::Attribute& a) {
  using K = ir::Attribute::Kind;
  w.put<uint8_t>(static_cast<uint8_t>(a.kind));
  switch (a.kind) {
    case K::kInt: w.put<int64_t>(a.i); break;
    case K::kFloat: w.put<float>(a.f); break;
    case K::kString: w.putString(a.s); break;
    case K::kInts:
      w.put<uint32_t>(static_cast<uint32_t>(a.ints.size()));
      for (int64_t v : a.ints) w.put<int64_t>(v);
      break;
    case K::kFloats:
      w.put<uint32_t>(static_cast<uint32_t>(a.floats.size()));
      for (float v : a.floats) w.put<float>(v);
      break;
    case K::kStrings:
      w.put<uint32_t>(static_cast<uint32_t>(a.strings.size()));
      for (const auto& s : a.strings) w.putString(s);
      break;
    case K::kTensor: putTensorInline(w, a.t); break;
  }
}

Result<ir::Attribute> getAttr(ByteReader& r) {
  using K = ir::Attribute::Kind;
  ir::Attribute a;
  a.kind = static_cast<K>(r.get<uint8_t>());
  switch (a.kind) {
    case K::kInt: a.i = r.get<int64_t>(); break;
    case K::kFloat: a.f = r.get<float>(); break;
    case K::kString: a.s = r.getString(); break;
    case K::kInts: {
      uint32_t n = r.get<uint32_t>();
      for (uint32_t i = 0; i < n && r.ok(); ++i) a.ints.push_back(r.get<int64_t>());
      break;
    }
    case K::kFloats: {
      uint32_t n = r.get<uint32_t>();
      for (uint32_t i = 0; i < n && r.ok(); ++i) a.floats.push_back(r.get<float>());
      break;
    }
    case K::kStrings: {
      uint32_t n = r.get<uint32_t>();
      for (uint32_t i = 0; i < n && r.ok(); ++i) a.strings.push_back(r.getString());
      break;
    }
    case K::kTensor: {
      QRT_ASSIGN_OR_RETURN(a.t, getTensorInline(r));
      break;
    }
    default: return corrupt("unknown attribute kind");
  }
  if (!r.ok()) return corrupt("truncated attribute");
  return a;
}

struct Serialized {
  std::vector<uint8_t> header;
  std::vector<uint8_t> payload;
  std::vector<std::pair<const void*, size_t>> weights;  // pieces incl. padding
  std::vector<uint8_t> zeros;
  size_t weights_bytes = 0;
};

Serialized serializeImpl(const Engine::Impl& e) {
  Serialized s;
  const ir::Graph& g = *e.graph;
  ByteWriter w;
  w.put<uint32_t>(static_cast<uint32_t>(e.metadata.size()));
  for (const auto& [k, v] : e.metadata) {
    w.putString(k);
    w.putString(v);
  }
  w.putString(g.name);
  w.put<uint32_t>(static_cast<uint32_t>(g.opsets.size()));
  for (const auto& [d, v] : g.opsets) {
    w.putString(d);
    w.put<int64_t>(v);
  }
  std::map<const ir::Value*, int32_t> id;
  s.zeros.assign(kAlign, 0);
  w.put<uint32_t>(static_cast<uint32_t>(g.values().size()));
  size_t woff = 0;
  for (const auto& v : g.values()) {
    id[v.get()] = static_cast<int32_t>(id.size());
    w.putString(v->name);
    w.put<int32_t>(static_cast<int32_t>(v->dtype));
    w.put<uint8_t>(v->has_shape);
    putDims(w, v->dims);
    w.put<uint8_t>(v->isConstant());
    if (v->isConstant()) {
      const HostTensor& t = *v->constant;
      w.put<int32_t>(static_cast<int32_t>(t.dtype()));
      putDims(w, t.dims());
      w.put<uint64_t>(woff);
      w.put<uint64_t>(t.bytes());
      s.weights.emplace_back(t.data(), t.bytes());
      size_t padded = alignUp(t.bytes());
      if (padded > t.bytes()) s.weights.emplace_back(s.zeros.data(), padded - t.bytes());
      woff += padded;
    }
  }
  s.weights_bytes = woff;
  auto ref = [&](const ir::Value* v) { return v ? id.at(v) : -1; };
  w.put<uint32_t>(static_cast<uint32_t>(g.nodes().size()));
  for (const auto& n : g.nodes()) {
    w.putString(n->name);
    w.putString(n->op_type);
    w.putString(n->domain);
    w.put<int32_t>(n->opset);
    w.putString(n->backend);
    w.put<int32_t>(static_cast<int32_t>(n->precision));
    w.put<uint32_t>(static_cast<uint32_t>(n->inputs.size()));
    for (const ir::Value* v : n->inputs) w.put<int32_t>(ref(v));
    w.put<uint32_t>(static_cast<uint32_t>(n->outputs.size()));
    for (const ir::Value* v : n->outputs) w.put<int32_t>(ref(v));
    w.put<uint32_t>(static_cast<uint32_t>(n->attrs.size()));
    for (const auto& [k, a] : n->attrs) {
      w.putString(k);
      putAttr(w, a);
    }
  }
  w.put<uint32_t>(static_cast<uint32_t>(g.inputs.size()));
  for (const ir::Value* v : g.inputs) w.put<int32_t>(ref(v));
  w.put<uint32_t>(static_cast<uint32_t>(g.outputs.size()));
  for (const ir::Value* v : g.outputs) w.put<int32_t>(ref(v));
  s.payload = std::move(w.bytes());
  size_t payload_padded = alignUp(kHeaderBytes + s.payload.size()) - kHeaderBytes;
  s.payload.resize(payload_padded, 0);

  // CRC over payload + weights.
  uLong c = crc32(0L, Z_NULL, 0);
  c = crc32(c, s.payload.data(), static_cast<uInt>(s.payload.size()));
  uint32_t crc = static_cast<uint32_t>(c);
  for (const auto& [p, n] : s.weights) {
    // combine incrementally
    crc = static_cast<uint32_t>(crc32(crc, static_cast<const Bytef*>(p), static_cast<uInt>(n)));
  }
  ByteWriter h;
  h.putBytes(kMagic, 8);
  h.put<uint32_t>(kFormatVersion);
  h.put<uint32_t>(kHeaderBytes);
  h.put<uint64_t>(s.payload.size());
  h.put<uint64_t>(kHeaderBytes + s.payload.size());
  h.put<uint64_t>(s.weights_bytes);
  h.put<uint32_t>(crc);
  char ver[16] = {};
  std::strncpy(ver, versionString(), sizeof(ver) - 1);
  h.putBytes(ver, sizeof(ver));
  s.header = std::move(h.bytes());
  s.header.resize(kHeaderBytes, 0);
  return s;
}

Result<std::shared_ptr<Engine>> parseEngine(std::shared_ptr<void> storage, const uint8_t* data, size_t size,
                                            const std::string& what) {
  if (size < kHeaderBytes || std::memcmp(data, kMagic, 8) != 0) {
    if (size >= 8 && std::memcmp(data, kMagic, 8) == 0)
      return corrupt(what, " is truncated (", size, " bytes, shorter than the header)");
    return corrupt(what, " is not a qrt engine (bad magic)");
  }
  ByteReader h(data, kHeaderBytes);
  h.getBytes(8);
  uint32_t version = h.get<uint32_t>();
  uint32_t header_bytes = h.get<uint32_t>();
  uint64_t payload_bytes = h.get<uint64_t>();
  uint64_t weights_offset = h.get<uint64_t>();
  uint64_t weights_bytes = h.get<uint64_t>();
  uint32_t crc = h.get<uint32_t>();
  const char* ver = reinterpret_cast<const char*>(h.getBytes(16));
  std::string writer_version(ver, strnlen(ver, 16));
  if (version != kFormatVersion)
    return corrupt(what, " has engine format version ", version, " (written by qrt ", writer_version,
                   "); this qrt ", versionString(), " reads version ", kFormatVersion, ": rebuild the engine");
  if (header_bytes != kHeaderBytes || weights_offset != kHeaderBytes + payload_bytes || weights_offset % kAlign)
    return corrupt(what, " has an inconsistent header");
  if (weights_offset > size || weights_bytes > size - weights_offset)
    return corrupt(what, " is truncated (", size, " bytes, expected ", weights_offset + weights_bytes, ")");
  if (crc32Of(data + kHeaderBytes, size - kHeaderBytes) != crc)
    return corrupt(what, " is corrupted (checksum mismatch)");

  const uint8_t* weights = data + weights_offset;
  ByteReader r(data + kHeaderBytes, payload_bytes);
  auto impl = std::make_unique<Engine::Impl>();
  impl->storage = storage;
  auto g = std::make_unique<ir::Graph>();
  uint32_t nmeta = r.get<uint32_t>();
  for (uint32_t i = 0; i < nmeta && r.ok(); ++i) {
    std::string k = r.getString();
    impl->metadata[k] = r.getString();
  }
  g->name = r.getString();
  uint32_t nops = r.get<uint32_t>();
  for (uint32_t i = 0; i < nops && r.ok(); ++i) {
    std::string d = r.getString();
    g->opsets[d] = static_cast<int>(r.get<int64_t>());
  }
  uint32_t nvalues = r.get<uint32_t>();
  if (nvalues > payload_bytes) return corrupt(what, ": bad value count");
  std::vector<ir::Value*> values;
  for (uint32_t i = 0; i < nvalues && r.ok(); ++i) {
    ir::Value* v = g->addValue(r.getString());
    v->dtype = static_cast<DataType>(r.get<int32_t>());
    v->has_shape = r.get<uint8_t>() != 0;
    v->dims = getDims(r);
    if (r.get<uint8_t>()) {
      auto dt = static_cast<DataType>(r.get<int32_t>());
      Dims dims = getDims(r);
      uint64_t off = r.get<uint64_t>();
      uint64_t bytes = r.get<uint64_t>();
      if (!r.ok() || off > weights_bytes || bytes > weights_bytes - off || volume(dims) < 0 ||
          static_cast<uint64_t>(volume(dims)) * dataTypeSize(dt) != bytes)
        return corrupt(what, ": constant '", v->name, "' has a bad weights range");
      v->constant = HostTensor(dt, dims, storage, const_cast<uint8_t*>(weights + off));
    }
    values.push_back(v);
  }
  auto val = [&](int32_t i) -> Result<ir::Value*> {
    if (i == -1) return static_cast<ir::Value*>(nullptr);
    if (i < 0 || static_cast<size_t>(i) >= values.size()) return corrupt(what, ": bad value reference");
    return values[i];
  };
  uint32_t nnodes = r.get<uint32_t>();
  if (nnodes > payload_bytes) return corrupt(what, ": bad node count");
  for (uint32_t i = 0; i < nnodes && r.ok(); ++i) {
    std::string name = r.getString();
    std::string op = r.getString();
    ir::Node* n = g->addNode(op, name, {}, {});
    n->domain = r.getString();
    n->opset = r.get<int32_t>();
    n->backend = r.getString();
    n->precision = static_cast<Precision>(r.get<int32_t>());
    uint32_t nin = r.get<uint32_t>();
    for (uint32_t k = 0; k < nin && r.ok(); ++k) {
      QRT_ASSIGN_OR_RETURN(ir::Value * v, val(r.get<int32_t>()));
      n->inputs.push_back(v);
    }
    uint32_t nout = r.get<uint32_t>();
    for (uint32_t k = 0; k < nout && r.ok(); ++k) {
      QRT_ASSIGN_OR_RETURN(ir::Value * v, val(r.get<int32_t>()));
      n->outputs.push_back(v);
    }
    uint32_t nattr = r.get<uint32_t>();
    for (uint32_t k = 0; k < nattr && r.ok(); ++k) {
      std::string an = r.getString();
      auto a = getAttr(r);
      if (!a.ok()) return a.status().withContext(what);
      n->attrs[an] = std::move(a).value();
    }
  }
  uint32_t nin = r.get<uint32_t>();
  for (uint32_t k = 0; k < nin && r.ok(); ++k) {
    QRT_ASSIGN_OR_RETURN(ir::Value * v, val(r.get<int32_t>()));
    if (!v) return corrupt(what, ": bad graph input");
    g->inputs.push_back(v);
  }
  uint32_t nout = r.get<uint32_t>();
  for (uint32_t k = 0; k < nout && r.ok(); ++k) {
    QRT_ASSIGN_OR_RETURN(ir::Value * v, val(r.get<int32_t>()));
    if (!v) return corrupt(what, ": bad graph output");
    g->outputs.push_back(v);
  }
  if (!r.ok()) return corrupt(what, ": truncated payload");
  g->rebuildUses();
  QRT_RETURN_IF_ERROR(ir::verify(*g).withContext(what));
  impl->graph = std::move(g);
  return std::make_shared<Engine>(std::move(impl));
}

std::shared_ptr<void> alignedCopy(const void* data, size_t size, uint8_t** out) {
  void* p = std::aligned_alloc(kAlign, alignUp(std::max<size_t>(size, 1)));
  std::memcpy(p, data, size);
  *out = static_cast<uint8_t*>(p);
  return std::shared_ptr<void>(p, [](void* q) { std::free(q); });
}

}  // namespace

Result<std::vector<uint8_t>> Engine::serialize() const {
  Serialized s = serializeImpl(*impl_);
  std::vector<uint8_t> out = s.header;
  out.insert(out.end(), s.payload.begin(), s.payload.end());
  for (const auto& [p, n] : s.weights) out.insert(out.end(), static_cast<const uint8_t*>(p), static_cast<const uint8_t*>(p) + n);
  return out;
}

Status Engine::save(const std::string& path) const {
  Serialized s = serializeImpl(*impl_);
  std::vector<std::pair<const void*, size_t>> pieces = {{s.header.data(), s.header.size()},
                                                        {s.payload.data(), s.payload.size()}};
  pieces.insert(pieces.end(), s.weights.begin(), s.weights.end());
  return writeFileAtomic(path, pieces);
}

Result<std::shared_ptr<Engine>> Engine::deserialize(const void* data, size_t size) {
  uint8_t* p = nullptr;
  auto storage = alignedCopy(data, size, &p);
  return parseEngine(storage, p, size, "engine buffer");
}

Result<std::shared_ptr<Engine>> Engine::load(const std::string& path) {
  // The file is mapped, not copied: weights are used in place (they are 64-byte aligned in the
  // file and the mapping is page aligned), so loading costs one checksum pass over the pages.
  int fd = ::open(path.c_str(), O_RDONLY);
  if (fd < 0) {
    if (errno == ENOENT) return notFound("engine file '", path, "' does not exist");
    return ioError("cannot open engine '", path, "': ", std::strerror(errno));
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    return ioError("cannot read engine '", path, "' (not a regular file)");
  }
  size_t size = static_cast<size_t>(st.st_size);
  if (size == 0) {
    ::close(fd);
    return corrupt("engine '", path, "' is empty");
  }
  void* p = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
  ::close(fd);
  if (p == MAP_FAILED) return ioError("cannot map engine '", path, "': ", std::strerror(errno));
  std::shared_ptr<void> storage(p, [size](void* q) { ::munmap(q, size); });
  return parseEngine(storage, static_cast<const uint8_t*>(p), size, "engine '" + path + "'");
}

}  // namespace qrt
