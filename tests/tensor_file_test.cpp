// Tests of .npy and .pb tensor files: round trips of every dtype, files written by NumPy itself
// (generated with Debian's /usr/bin/python3 + numpy), NumPy reading ours, corrupt files, and a
// write that runs out of space.
#include <gtest/gtest.h>
#include <onnx/onnx_pb.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "core/half.h"
#include "data/tensor_file.h"
#include "onnx/tensor_proto.h"
#include "test_util.h"

namespace qrt {
namespace {

namespace fs = std::filesystem;

const DataType kNpyTypes[] = {DataType::kHalf,  DataType::kFloat,  DataType::kDouble, DataType::kInt8,
                              DataType::kInt16, DataType::kInt32,  DataType::kInt64,  DataType::kUInt8,
                              DataType::kUInt16, DataType::kUInt32, DataType::kUInt64, DataType::kBool};

// NumPy's type code for each dtype above, as file names for the NumPy-made files.
const char* npyCode(DataType t) {
  switch (t) {
    case DataType::kHalf: return "f2";
    case DataType::kFloat: return "f4";
    case DataType::kDouble: return "f8";
    case DataType::kInt8: return "i1";
    case DataType::kInt16: return "i2";
    case DataType::kInt32: return "i4";
    case DataType::kInt64: return "i8";
    case DataType::kUInt8: return "u1";
    case DataType::kUInt16: return "u2";
    case DataType::kUInt32: return "u4";
    case DataType::kUInt64: return "u8";
    case DataType::kBool: return "b1";
    default: return "?";
  }
}

bool isUnsignedOrBool(DataType t) {
  return t == DataType::kUInt8 || t == DataType::kUInt16 || t == DataType::kUInt32 || t == DataType::kUInt64 ||
         t == DataType::kBool;
}

// The values both sides use: element i is (i % 7) - 3 (signed and float types) or i % 7
// (unsigned), or i % 7 != 0 (bool); all exact in every dtype.
double patternValue(DataType t, int64_t i) {
  int64_t v = i % 7 - (isUnsignedOrBool(t) ? 0 : 3);
  return t == DataType::kBool ? (v != 0) : static_cast<double>(v);
}

HostTensor patternTensor(DataType t, Dims dims) {
  HostTensor x(t, std::move(dims));
  std::vector<double> v(static_cast<size_t>(x.numel()));
  for (int64_t i = 0; i < x.numel(); ++i) v[i] = patternValue(t, i);
  convertElements(v.data(), DataType::kDouble, x.data(), t, x.numel());
  return x;
}

// The same pattern in Python, for the NumPy side.
const char* kPyPattern =
    "def pattern(code, shape):\n"
    "    n = int(np.prod(shape))\n"
    "    v = np.arange(n) % 7 - (0 if code[0] in 'ub' else 3)\n"
    "    return v.astype('<' + code if code[0] != 'b' else bool).reshape(shape)\n";

bool havePythonNumpy() { return std::system("/usr/bin/python3 -c 'import numpy' >/dev/null 2>&1") == 0; }

// Runs a Python script with numpy imported and `pattern` defined; `dir` is sys.argv[1].
int runPython(const std::string& dir, const std::string& body) {
  std::string script = dir + "/script.py";
  std::ofstream(script) << "import sys\nimport numpy as np\nd = sys.argv[1]\n" << kPyPattern << body;
  return std::system(("/usr/bin/python3 " + script + " " + dir).c_str());
}

void writeBytes(const std::string& path, const std::string& bytes) {
  std::ofstream f(path, std::ios::binary);
  f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

std::string readBytes(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>()};
}

// A version-1.0 .npy file with the given header dict (padded as NumPy pads it) and data.
std::string npyFile(const std::string& dict, const std::string& data, int major = 1) {
  std::string header = dict;
  size_t fixed = major == 1 ? 10 : 12;
  while ((fixed + header.size() + 1) % 64 != 0) header += ' ';
  header += '\n';
  std::string out = "\x93NUMPY";
  out += static_cast<char>(major);
  out += '\0';
  uint32_t len = static_cast<uint32_t>(header.size());
  for (size_t i = 0; i < fixed - 8; ++i) out += static_cast<char>((len >> (8 * i)) & 0xff);
  return out + header + data;
}

class TensorFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = test::makeTempDir("tensor_file");
    ASSERT_FALSE(dir_.empty());
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  std::string path(const std::string& name) const { return dir_ + "/" + name; }
  std::vector<std::string> listDir() const {
    std::vector<std::string> names;
    for (const auto& e : fs::directory_iterator(dir_)) names.push_back(e.path().filename().string());
    return names;
  }
  std::string dir_;
};

void expectSameTensor(const HostTensor& a, const HostTensor& b, const std::string& what) {
  EXPECT_EQ(a.dtype(), b.dtype()) << what;
  EXPECT_EQ(a.dims(), b.dims()) << what;
  ASSERT_EQ(a.bytes(), b.bytes()) << what;
  if (a.bytes()) {
    EXPECT_EQ(std::memcmp(a.data(), b.data(), a.bytes()), 0) << what;
  }
}

// ---- .npy round trips --------------------------------------------------------------------------

TEST_F(TensorFileTest, NpyRoundTripEveryDtype) {
  const Dims shapes[] = {{2, 3, 4}, {}, {5}, {0, 3}, {1, 1, 1, 1, 7}};
  for (DataType t : kNpyTypes) {
    for (const Dims& d : shapes) {
      HostTensor x = patternTensor(t, d);
      std::string what = std::string(dataTypeName(t)) + " " + dimsToString(d);
      ASSERT_TRUE(writeNpy(path("x.npy"), x).ok()) << what;
      auto back = readNpy(path("x.npy"));
      ASSERT_TRUE(back.ok()) << what << ": " << back.status().toString();
      expectSameTensor(*back, x, what);
      auto via_ext = readTensorFile(path("x.npy"));
      ASSERT_TRUE(via_ext.ok());
      expectSameTensor(*via_ext, x, what);
    }
  }
  EXPECT_EQ(listDir(), std::vector<std::string>{"x.npy"});  // no temporary files left over
}

TEST_F(TensorFileTest, NpyDataIs64ByteAligned) {
  ASSERT_TRUE(writeNpy(path("a.npy"), patternTensor(DataType::kFloat, {3, 5})).ok());
  std::string bytes = readBytes(path("a.npy"));
  EXPECT_EQ((bytes.size() - 3 * 5 * 4) % 64, 0u);
  EXPECT_EQ(bytes[bytes.size() - 3 * 5 * 4 - 1], '\n');
}

TEST_F(TensorFileTest, HugeRankUsesVersion2Header) {
  Dims d(25000, 1);  // a header over 64 kB
  HostTensor x = patternTensor(DataType::kInt32, d);
  ASSERT_TRUE(writeNpy(path("big.npy"), x).ok());
  EXPECT_EQ(readBytes(path("big.npy"))[6], 2);
  auto back = readNpy(path("big.npy"));
  ASSERT_TRUE(back.ok()) << back.status().toString();
  expectSameTensor(*back, x, "rank 25000");
}

TEST_F(TensorFileTest, Bf16CannotBeWrittenAsNpy) {
  Status s = writeNpy(path("b.npy"), HostTensor(DataType::kBFloat16, {2}));
  EXPECT_EQ(s.code(), StatusCode::kUnsupported);
  EXPECT_NE(s.message().find("bf16"), std::string::npos);
  EXPECT_TRUE(listDir().empty());
}

// ---- NumPy interoperability ----------------------------------------------------------------------

TEST_F(TensorFileTest, ReadsFilesWrittenByNumpy) {
  if (!havePythonNumpy()) GTEST_SKIP() << "/usr/bin/python3 with numpy not available";
  ASSERT_EQ(runPython(dir_,
                      "for c in ['f2','f4','f8','i1','i2','i4','i8','u1','u2','u4','u8','b1']:\n"
                      "    np.save(f'{d}/{c}.npy', pattern(c, (2, 3, 4)))\n"
                      "np.save(d + '/scalar.npy', np.float32(3.5))\n"
                      "np.save(d + '/empty.npy', np.zeros((0, 3), np.float32))\n"
                      "for v in (1, 2, 3):\n"
                      "    with open(f'{d}/v{v}.npy', 'wb') as f:\n"
                      "        np.lib.format.write_array(f, pattern('f4', (2, 3)), version=(v, 0))\n"
                      "np.save(d + '/strided.npy', pattern('i4', (3, 4))[:, ::2])\n"
                      "np.save(d + '/fortran1d.npy', np.asfortranarray(pattern('f4', (5,))))\n"),
            0);
  for (DataType t : kNpyTypes) {
    std::string file = path(std::string(npyCode(t)) + ".npy");
    auto r = readNpy(file);
    ASSERT_TRUE(r.ok()) << r.status().toString();
    expectSameTensor(*r, patternTensor(t, {2, 3, 4}), file);
  }
  auto s = readNpy(path("scalar.npy"));
  ASSERT_TRUE(s.ok()) << s.status().toString();
  EXPECT_EQ(s->dims(), Dims{});
  EXPECT_EQ(s->getDouble(0), 3.5);
  auto e = readNpy(path("empty.npy"));
  ASSERT_TRUE(e.ok()) << e.status().toString();
  EXPECT_EQ(e->dims(), (Dims{0, 3}));
  for (int v : {1, 2, 3}) {
    auto r = readNpy(path("v" + std::to_string(v) + ".npy"));
    ASSERT_TRUE(r.ok()) << "version " << v << ": " << r.status().toString();
    expectSameTensor(*r, patternTensor(DataType::kFloat, {2, 3}), "version " + std::to_string(v));
  }
  auto st = readNpy(path("strided.npy"));  // np.save writes the C-ordered copy
  ASSERT_TRUE(st.ok());
  EXPECT_EQ(st->toInt64Vector(), (std::vector<int64_t>{-3, -1, 1, 3, -2, 0}));
  auto f1 = readNpy(path("fortran1d.npy"));
  ASSERT_TRUE(f1.ok()) << f1.status().toString();
}

TEST_F(TensorFileTest, NumpyReadsOurFiles) {
  if (!havePythonNumpy()) GTEST_SKIP() << "/usr/bin/python3 with numpy not available";
  for (DataType t : kNpyTypes) ASSERT_TRUE(writeNpy(path(std::string(npyCode(t)) + ".npy"), patternTensor(t, {2, 3, 4})).ok());
  ASSERT_TRUE(writeNpy(path("scalar.npy"), patternTensor(DataType::kInt64, {})).ok());
  EXPECT_EQ(runPython(dir_,
                      "for c in ['f2','f4','f8','i1','i2','i4','i8','u1','u2','u4','u8','b1']:\n"
                      "    a = np.load(f'{d}/{c}.npy')\n"
                      "    want = pattern(c, (2, 3, 4))\n"
                      "    assert a.dtype == want.dtype and a.shape == want.shape and (a == want).all(), c\n"
                      "s = np.load(d + '/scalar.npy')\n"
                      "assert s.shape == () and s.dtype == np.int64 and s == -3\n"),
            0);
}

TEST_F(TensorFileTest, UnsupportedNpyVariants) {
  if (!havePythonNumpy()) GTEST_SKIP() << "/usr/bin/python3 with numpy not available";
  ASSERT_EQ(runPython(dir_,
                      "np.save(d + '/fortran.npy', np.asfortranarray(pattern('f4', (2, 3))))\n"
                      "np.save(d + '/bigendian.npy', np.arange(6, dtype='>f4'))\n"
                      "np.save(d + '/complex.npy', np.zeros(3, np.complex64))\n"
                      "np.save(d + '/structured.npy', np.zeros(3, dtype=[('a', '<f4'), ('b', '<i4')]))\n"
                      "np.save(d + '/unicode.npy', np.array(['ab', 'c']))\n"),
            0);
  for (const char* name : {"fortran.npy", "bigendian.npy", "complex.npy", "structured.npy", "unicode.npy"}) {
    auto r = readNpy(path(name));
    ASSERT_FALSE(r.ok()) << name;
    EXPECT_EQ(r.status().code(), StatusCode::kUnsupported) << name << ": " << r.status().toString();
    EXPECT_NE(r.status().message().find(name), std::string::npos) << r.status().message();
  }
}

// ---- corrupt and missing files ---------------------------------------------------------------------

TEST_F(TensorFileTest, CorruptNpyFilesAreRefused) {
  const std::string good_dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }";
  const std::string data(8, '\0');
  struct Case {
    const char* name;
    std::string bytes;
  };
  const Case cases[] = {
      {"empty.npy", ""},
      {"magic.npy", "\x93NUMPZ\x01\x00\x10\x00"},
      {"short_header.npy", npyFile(good_dict, data).substr(0, 30)},
      {"not_dict.npy", npyFile("['descr', '<f4']", data)},
      {"unterminated.npy", npyFile("{'descr': '<f4', 'fortran_order': False, 'shape': (2,", data)},
      {"negative.npy", npyFile("{'descr': '<f4', 'fortran_order': False, 'shape': (2, -1), }", data)},
      {"missing_key.npy", npyFile("{'descr': '<f4', 'shape': (2,), }", data)},
      {"extra_key.npy", npyFile("{'descr': '<f4', 'fortran_order': False, 'shape': (2,), 'x': 1, }", data)},
      {"shape_type.npy", npyFile("{'descr': '<f4', 'fortran_order': False, 'shape': 2, }", data)},
      {"order_type.npy", npyFile("{'descr': '<f4', 'fortran_order': 0, 'shape': (2,), }", data)},
      {"huge.npy", npyFile("{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999, 99999999999), }", data)},
      {"truncated_data.npy", npyFile(good_dict, data.substr(0, 7))},
      {"trailing.npy", npyFile(good_dict, data + "x")},
      {"header_len.npy", std::string("\x93NUMPY\x02\x00\xff\xff\xff\x7f", 12) + "{}"},
  };
  for (const Case& c : cases) {
    writeBytes(path(c.name), c.bytes);
    auto r = readNpy(path(c.name));
    ASSERT_FALSE(r.ok()) << c.name;
    EXPECT_EQ(r.status().code(), StatusCode::kCorrupt) << c.name << ": " << r.status().toString();
    EXPECT_NE(r.status().message().find(c.name), std::string::npos) << r.status().message();
  }
  writeBytes(path("good.npy"), npyFile(good_dict, data));
  EXPECT_TRUE(readNpy(path("good.npy")).ok());
  writeBytes(path("v9.npy"), npyFile(good_dict, data, 9));
  EXPECT_EQ(readNpy(path("v9.npy")).status().code(), StatusCode::kUnsupported);
}

TEST_F(TensorFileTest, EveryTruncationIsCorrupt) {
  ASSERT_TRUE(writeNpy(path("x.npy"), patternTensor(DataType::kInt16, {3, 3})).ok());
  std::string bytes = readBytes(path("x.npy"));
  for (size_t n = 0; n < bytes.size(); ++n) {
    writeBytes(path("cut.npy"), bytes.substr(0, n));
    auto r = readNpy(path("cut.npy"));
    ASSERT_FALSE(r.ok()) << n;
    EXPECT_EQ(r.status().code(), StatusCode::kCorrupt) << n << ": " << r.status().toString();
  }
}

TEST_F(TensorFileTest, MissingFilesAreNotFound) {
  for (const char* name : {"nope.npy", "nope.pb"}) {
    auto r = readTensorFile(path(name));
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().code(), StatusCode::kNotFound);
    EXPECT_NE(r.status().message().find(name), std::string::npos);
  }
  EXPECT_EQ(readTensorFile(path("x.txt")).status().code(), StatusCode::kInvalidArgument);
}

// ---- writing failures ------------------------------------------------------------------------------

// A write that runs out of space (here: the file size limit, which fails write() the same way a
// full disk does) reports an I/O error naming the file and leaves nothing behind. Runs in a
// child process so the limit cannot touch anything else.
TEST_F(TensorFileTest, FailedWriteLeavesNothingBehind) {
  const std::string target = path("big.npy");
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    std::signal(SIGXFSZ, SIG_IGN);
    rlimit lim{4096, 4096};
    if (setrlimit(RLIMIT_FSIZE, &lim) != 0) _exit(2);
    Status s = writeNpy(target, HostTensor(DataType::kFloat, {100000}));
    bool good = s.code() == StatusCode::kIOError && s.message().find("big.npy") != std::string::npos;
    if (!good) std::fprintf(stderr, "unexpected: %s\n", s.toString().c_str());
    _exit(good ? 0 : 1);
  }
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);
  EXPECT_TRUE(listDir().empty()) << "left behind: " << listDir().front();
}

TEST_F(TensorFileTest, WriteIntoMissingFolderFails) {
  Status s = writeNpy(path("no/such/dir/x.npy"), HostTensor(DataType::kFloat, {2}));
  EXPECT_EQ(s.code(), StatusCode::kIOError);
  EXPECT_NE(s.message().find("x.npy"), std::string::npos);
}

TEST_F(TensorFileTest, OverwritesExistingFileAtomically) {
  ASSERT_TRUE(writeNpy(path("x.npy"), patternTensor(DataType::kFloat, {4})).ok());
  ASSERT_TRUE(writeNpy(path("x.npy"), patternTensor(DataType::kInt8, {2, 2})).ok());
  auto r = readNpy(path("x.npy"));
  ASSERT_TRUE(r.ok());
  expectSameTensor(*r, patternTensor(DataType::kInt8, {2, 2}), "overwrite");
}

// ---- .pb tensor files -------------------------------------------------------------------------------

TEST_F(TensorFileTest, PbRoundTripEveryDtype) {
  std::vector<DataType> types(std::begin(kNpyTypes), std::end(kNpyTypes));
  types.push_back(DataType::kBFloat16);
  for (DataType t : types) {
    HostTensor x = patternTensor(t, {3, 2});
    onnx::TensorProto p;
    ASSERT_TRUE(tensorToProto(x, "x", &p).ok());
    writeBytes(path("x.pb"), p.SerializeAsString());
    auto r = readTensorFile(path("x.pb"));
    ASSERT_TRUE(r.ok()) << dataTypeName(t) << ": " << r.status().toString();
    expectSameTensor(*r, x, dataTypeName(t));
  }
}

TEST_F(TensorFileTest, PbExternalDataResolvesNextToTheFile) {
  std::vector<float> v = {1.5f, -2.5f};
  writeBytes(path("data.bin"), std::string(reinterpret_cast<const char*>(v.data()), 8));
  onnx::TensorProto p;
  p.set_data_type(onnx::TensorProto::FLOAT);
  p.add_dims(2);
  p.set_data_location(onnx::TensorProto::EXTERNAL);
  auto* e = p.add_external_data();
  e->set_key("location");
  e->set_value("data.bin");
  writeBytes(path("t.pb"), p.SerializeAsString());
  auto r = readTensorPb(path("t.pb"));
  ASSERT_TRUE(r.ok()) << r.status().toString();
  EXPECT_EQ(r->toFloatVector(), v);
}

TEST_F(TensorFileTest, CorruptPbIsRefused) {
  onnx::TensorProto p;
  ASSERT_TRUE(tensorToProto(patternTensor(DataType::kFloat, {4, 4}), "x", &p).ok());
  std::string bytes = p.SerializeAsString();
  writeBytes(path("cut.pb"), bytes.substr(0, bytes.size() - 5));
  auto r = readTensorPb(path("cut.pb"));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kCorrupt);
  EXPECT_NE(r.status().message().find("cut.pb"), std::string::npos) << r.status().message();
}

TEST_F(TensorFileTest, ReadsOnnxTestData) {
  const std::string file = "/usr/share/libonnx-testdata/data/node/test_abs/test_data_set_0/input_0.pb";
  if (!fs::exists(file)) GTEST_SKIP() << "libonnx-testdata not installed";
  auto r = readTensorPb(file);
  ASSERT_TRUE(r.ok()) << r.status().toString();
  EXPECT_EQ(r->dtype(), DataType::kFloat);
  EXPECT_EQ(r->dims(), (Dims{3, 4, 5}));
}

}  // namespace
}  // namespace qrt
