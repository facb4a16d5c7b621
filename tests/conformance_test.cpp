// ONNX operator conformance: runs the ONNX backend test cases shipped by Debian's
// libonnx-testdata through import -> build -> run and compares with the shipped outputs.
//
// Each case is one folder: model.onnx + test_data_set_*/{input_*.pb, output_*.pb}. A case is
//   skipped  when qrt reports kUnsupported anywhere (import, build, reshape, run), with the reason;
//   failed   on any other error, a crash, or an output that differs from the expected one;
//   passed   otherwise.
// Every case runs in a forked child so a crash in one kernel cannot end the run; set
// QRT_CONFORMANCE_NOFORK=1 to run in-process (for a debugger).
//
// Environment:
//   QRT_CONFORMANCE_FILTER   regex searched in the folder name ("test_relu") or "suite/name"
//   QRT_CONFORMANCE_DATA     data root (default /usr/share/libonnx-testdata/data)
//   QRT_CONFORMANCE_VERBOSE  1: print one line per case as it finishes
//   QRT_CONFORMANCE_NOFORK   1: no child processes
// The summary goes to stdout and to conformance_summary.txt in the working folder.
#include <gtest/gtest.h>
#include <onnx/onnx_pb.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "core/status_macros.h"
#include "core/tensor.h"
#include "data/tensor_file.h"
#include "ir/graph.h"
#include "ops/op_table.h"
#include "qrt/builder.h"
#include "qrt/engine.h"
#include "qrt/network.h"

namespace qrt {
namespace {

namespace fs = std::filesystem;

// Suites under the data root with the node-test layout ("real/" holds download stubs only).
const char* const kSuites[] = {"node", "pytorch-converted", "pytorch-operator", "simple"};

enum class Verdict { kPassed, kFailed, kSkipped };

struct Outcome {
  Verdict verdict = Verdict::kFailed;
  std::string reason;  // one line; empty when passed
};

struct Case {
  std::string suite;
  std::string name;  // folder name
  fs::path dir;
  std::vector<std::string> ops;  // op types in the model (for the per-op table)

  std::string id() const { return suite == "node" ? name : suite + "/" + name; }
};

Outcome passed() { return {Verdict::kPassed, ""}; }
Outcome failed(std::string r) { return {Verdict::kFailed, std::move(r)}; }
Outcome skipped(std::string r) { return {Verdict::kSkipped, std::move(r)}; }

// kUnsupported anywhere makes the case a skip; any other error fails it.
Outcome fromStatus(const Status& s, const std::string& stage) {
  if (s.code() == StatusCode::kUnsupported) return skipped(s.message());
  return failed(stage + ": " + s.toString());
}

std::string oneLine(std::string s) {
  std::replace(s.begin(), s.end(), '\n', ' ');
  return s;
}

std::string envOr(const char* name, const std::string& def) {
  const char* v = std::getenv(name);
  return v && *v ? std::string(v) : def;
}

// The distinct op types a model uses, read straight from the protobuf (so that cases qrt cannot
// import still count in the per-op table).
std::vector<std::string> modelOps(const fs::path& model_path) {
  std::ifstream f(model_path, std::ios::binary);
  onnx::ModelProto model;
  if (!f || !model.ParseFromIstream(&f)) return {"<unreadable model>"};
  std::set<std::string> ops;
  for (const auto& n : model.graph().node()) {
    bool default_domain = n.domain().empty() || n.domain() == "ai.onnx";
    ops.insert(default_domain ? n.op_type() : n.domain() + "::" + n.op_type());
  }
  return {ops.begin(), ops.end()};
}

// Files `<prefix><N>.pb` in dir, ordered by N.
std::vector<fs::path> numberedFiles(const fs::path& dir, const std::string& prefix, const std::string& suffix) {
  std::vector<std::pair<long, fs::path>> found;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    std::string n = e.path().filename().string();
    if (n.size() <= prefix.size() + suffix.size() || n.rfind(prefix, 0) != 0 ||
        n.compare(n.size() - suffix.size(), suffix.size(), suffix) != 0)
      continue;
    std::string num = n.substr(prefix.size(), n.size() - prefix.size() - suffix.size());
    if (num.find_first_not_of("0123456789") != std::string::npos) continue;
    found.emplace_back(std::stol(num), e.path());
  }
  std::sort(found.begin(), found.end());
  std::vector<fs::path> out;
  for (auto& f : found) out.push_back(f.second);
  return out;
}

bool isFloatType(DataType t) {
  return t == DataType::kFloat || t == DataType::kDouble || t == DataType::kHalf || t == DataType::kBFloat16;
}

std::string formatIndex(int64_t flat, const Dims& dims) {
  if (dims.empty()) return "[]";
  std::vector<int64_t> idx(dims.size());
  for (size_t i = dims.size(); i-- > 0;) {
    int64_t d = std::max<int64_t>(dims[i], 1);
    idx[i] = flat % d;
    flat /= d;
  }
  std::string s = "[";
  for (size_t i = 0; i < idx.size(); ++i) s += (i ? "," : "") + std::to_string(idx[i]);
  return s + "]";
}

std::string formatNumber(double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.9g", v);
  return buf;
}

// "" when `got` matches `want`; otherwise a one-line description of the first difference.
std::string compareTensors(const std::string& name, const HostTensor& got, const HostTensor& want) {
  if (got.dtype() != want.dtype())
    return strCat("output '", name, "': dtype ", dataTypeName(got.dtype()), ", expected ", dataTypeName(want.dtype()));
  if (got.dims() != want.dims())
    return strCat("output '", name, "': shape ", dimsToString(got.dims()), ", expected ", dimsToString(want.dims()));
  const bool low = want.dtype() == DataType::kHalf || want.dtype() == DataType::kBFloat16;
  const double rtol = low ? 1e-2 : 1e-3, atol = low ? 1e-3 : 1e-7;
  int64_t bad = 0, first = -1;
  for (int64_t i = 0; i < want.numel(); ++i) {
    bool ok;
    if (isFloatType(want.dtype())) {
      double a = got.getDouble(i), b = want.getDouble(i);
      ok = (std::isnan(a) && std::isnan(b)) || a == b || std::fabs(a - b) <= atol + rtol * std::fabs(b);
    } else {
      ok = got.getInt(i) == want.getInt(i);
    }
    if (!ok && bad++ == 0) first = i;
  }
  if (bad == 0) return "";
  auto value = [&](const HostTensor& t) {
    return isFloatType(t.dtype()) ? formatNumber(t.getDouble(first)) : std::to_string(t.getInt(first));
  };
  return strCat("output '", name, "'", formatIndex(first, want.dims()), ": got ", value(got), ", expected ", value(want),
                " (", bad, " of ", want.numel(), " elements differ)");
}

// ONNX 1.12 stores bfloat16 test data as uint16 (NumPy has no bfloat16): read those bits as bf16
// where the model declares bf16.
HostTensor bf16FromBits(HostTensor t, DataType declared) {
  if (t.dtype() != DataType::kUInt16 || declared != DataType::kBFloat16) return t;
  HostTensor out(DataType::kBFloat16, t.dims());
  std::memcpy(out.data(), t.data(), t.bytes());
  return out;
}

// The name stored in a TensorProto file ("" when none or unreadable).
std::string pbTensorName(const fs::path& file) {
  std::ifstream f(file, std::ios::binary);
  onnx::TensorProto p;
  return f && p.ParseFromIstream(&f) ? p.name() : "";
}

// Which model input each input file feeds: the one its stored name gives, else the one at its
// position (as ONNX's own runner does).
std::vector<size_t> matchInputs(const std::vector<fs::path>& files, const std::vector<TensorInfo>& ins) {
  std::vector<size_t> order;
  for (size_t i = 0; i < files.size(); ++i) {
    std::string name = pbTensorName(files[i]);
    auto it = std::find_if(ins.begin(), ins.end(), [&](const TensorInfo& t) { return t.name == name; });
    order.push_back(it != ins.end() ? static_cast<size_t>(it - ins.begin()) : i);
  }
  return order;
}

// Whether concrete `dims` agree with a model's declared input dims (-1 matches anything).
bool fitsDeclared(const Dims& dims, const Dims& declared) {
  if (dims.size() != declared.size()) return false;
  for (size_t i = 0; i < dims.size(); ++i)
    if (declared[i] >= 0 && declared[i] != dims[i]) return false;
  return true;
}

// Runs one data set through a context. Inputs match the model's graph inputs (the non-initializer
// ones) by stored name or position, outputs match the graph outputs by position.
Outcome runDataSet(const Network& net, const Engine& engine, ExecutionContext& ctx, const fs::path& set_dir) {
  const std::string set = set_dir.filename().string();
  std::vector<TensorInfo> ins = net.inputs(), outs = net.outputs();
  std::vector<fs::path> in_files = numberedFiles(set_dir, "input_", ".pb");
  std::vector<fs::path> out_files = numberedFiles(set_dir, "output_", ".pb");
  if (in_files.size() != ins.size())
    return failed(strCat(set, ": ", in_files.size(), " input files for ", ins.size(), " model inputs"));
  if (out_files.size() != outs.size())
    return failed(strCat(set, ": ", out_files.size(), " output files for ", outs.size(), " model outputs"));

  std::map<std::string, DataType> engine_types;
  for (const TensorInfo& t : engine.inputs()) engine_types[t.name] = t.dtype;
  for (const TensorInfo& t : engine.outputs()) engine_types[t.name] = t.dtype;

  std::vector<size_t> order = matchInputs(in_files, ins);
  std::vector<HostTensor> inputs(ins.size());
  std::vector<bool> fed(ins.size(), false);
  for (size_t f = 0; f < in_files.size(); ++f) {
    const size_t i = order[f];
    const std::string& name = ins[i].name;
    if (fed[i]) return failed(strCat(set, ": two input files feed '", name, "'"));
    fed[i] = true;
    auto t = readTensorPb(in_files[f].string());
    if (!t.ok()) return failed(strCat(set, ": reading ", in_files[f].filename().string(), ": ", t.status().toString()));
    if (!engine_types.count(name)) return failed(strCat("the engine has no input '", name, "'"));
    *t = bf16FromBits(std::move(*t), engine_types[name]);
    if (net.graph().inputs[i]->has_shape && !fitsDeclared(t->dims(), ins[i].dims))
      return skipped(strCat("ONNX test data defect: input '", name, "' is ", dimsToString(t->dims()),
                            " but the model declares ", dimsToString(ins[i].dims)));
    if (t->dtype() != engine_types[name])
      return failed(strCat(set, ": input '", name, "' is ", dataTypeName(t->dtype()), " but the engine expects ",
                           dataTypeName(engine_types[name])));
    Status s = ctx.setInputShape(name, t->dims());
    if (!s.ok()) return fromStatus(s, strCat(set, ": setInputShape('", name, "', ", dimsToString(t->dims()), ")"));
    inputs[i] = std::move(*t);
  }
  for (size_t i = 0; i < ins.size(); ++i) {
    Status s = ctx.setTensorAddress(ins[i].name, inputs[i].data());
    if (!s.ok()) return fromStatus(s, strCat(set, ": setTensorAddress('", ins[i].name, "')"));
  }
  std::vector<HostTensor> results;
  for (const TensorInfo& o : outs) {
    if (!engine_types.count(o.name)) return failed(strCat("the engine has no output '", o.name, "'"));
    auto dims = ctx.tensorShape(o.name);
    if (!dims.ok()) return fromStatus(dims.status(), strCat(set, ": tensorShape('", o.name, "')"));
    if (volume(*dims) < 0)
      return failed(strCat(set, ": output '", o.name, "' has unresolved shape ", dimsToString(*dims)));
    results.emplace_back(engine_types[o.name], *dims);
    Status s = ctx.setTensorAddress(o.name, results.back().data());
    if (!s.ok()) return fromStatus(s, strCat(set, ": setTensorAddress('", o.name, "')"));
  }
  Status s = ctx.enqueue();
  if (!s.ok()) return fromStatus(s, set + ": enqueue");
  for (size_t i = 0; i < outs.size(); ++i) {
    auto want = readTensorPb(out_files[i].string());
    if (!want.ok()) return failed(strCat(set, ": reading ", out_files[i].filename().string(), ": ", want.status().toString()));
    std::string diff = compareTensors(outs[i].name, results[i], bf16FromBits(std::move(*want), results[i].dtype()));
    if (!diff.empty()) return failed(set + ": " + diff);
  }
  return passed();
}

Outcome runCase(const Case& c) {
  auto net = parseOnnxFile((c.dir / "model.onnx").string());
  if (!net.ok()) return fromStatus(net.status(), "import");
  auto engine = buildEngine(**net, BuilderConfig{});
  if (!engine.ok()) return fromStatus(engine.status(), "build");
  auto ctx = (*engine)->createExecutionContext();
  if (!ctx.ok()) return fromStatus(ctx.status(), "createExecutionContext");
  std::vector<fs::path> sets;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(c.dir, ec))
    if (e.is_directory() && e.path().filename().string().rfind("test_data_set_", 0) == 0) sets.push_back(e.path());
  std::sort(sets.begin(), sets.end());
  if (sets.empty()) return failed("no test_data_set_* folders");
  for (const fs::path& set : sets) {
    Outcome o = runDataSet(**net, **engine, **ctx, set);
    if (o.verdict != Verdict::kPassed) return o;
  }
  return passed();
}

Outcome runCaseGuarded(const Case& c) {
  try {
    return runCase(c);
  } catch (const std::exception& e) {
    return failed(std::string("exception: ") + e.what());
  } catch (...) {
    return failed("unknown exception");
  }
}

// Runs the case in a child process; the verdict comes back through a pipe as
// "<verdict char><reason>". A child that dies without answering failed.
Outcome runIsolated(const Case& c) {
  int fds[2];
  if (::pipe(fds) != 0) return runCaseGuarded(c);
  std::fflush(stdout);
  std::fflush(stderr);
  pid_t pid = ::fork();
  if (pid < 0) {
    ::close(fds[0]);
    ::close(fds[1]);
    return runCaseGuarded(c);
  }
  if (pid == 0) {
    ::close(fds[0]);
    Outcome o = runCaseGuarded(c);
    std::string msg = std::string(1, "PFS"[static_cast<int>(o.verdict)]) + oneLine(o.reason);
    for (size_t off = 0; off < msg.size();) {
      ssize_t w = ::write(fds[1], msg.data() + off, msg.size() - off);
      if (w <= 0) break;
      off += static_cast<size_t>(w);
    }
    ::close(fds[1]);
    std::fflush(stdout);
    std::fflush(stderr);
    ::_exit(0);  // no atexit handlers, no gtest teardown in the child
  }
  ::close(fds[1]);
  std::string msg;
  char buf[4096];
  ssize_t n;
  while ((n = ::read(fds[0], buf, sizeof buf)) != 0) {
    if (n < 0) {
      if (errno == EINTR) continue;
      break;
    }
    msg.append(buf, static_cast<size_t>(n));
  }
  ::close(fds[0]);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (WIFSIGNALED(status))
    return failed(strCat("crashed with signal ", WTERMSIG(status), " (", strsignal(WTERMSIG(status)), ")"));
  if (msg.empty()) return failed(strCat("exited with code ", WEXITSTATUS(status), " without a verdict"));
  Verdict v = msg[0] == 'P' ? Verdict::kPassed : msg[0] == 'S' ? Verdict::kSkipped : Verdict::kFailed;
  return {v, msg.substr(1)};
}

// Skip reasons grouped: quoted names (nodes, tensors) and the list of supported ops are dropped
// so cases skipped for the same reason share one line; an unsupported operator keeps its name.
std::string reasonKey(const std::string& reason) {
  static const std::regex kSupportedList("; qrt supports: .*$");
  static const std::regex kNodeOpset(" \\(node '[^']*', opset [0-9]+\\)");
  static const std::regex kOperator("operator '([^']*)'");
  static const std::regex kQuoted("'[^'\x01]*'");
  std::string k = std::regex_replace(reason, kSupportedList, "");
  k = std::regex_replace(k, kNodeOpset, "");
  k = std::regex_replace(k, kOperator, "operator \x01$1\x01");  // protect the op name
  k = std::regex_replace(k, kQuoted, "'*'");
  std::replace(k.begin(), k.end(), '\x01', '\'');
  return k;
}

struct OpCounts {
  int passed = 0, failed = 0, skipped = 0;
};

std::string summarize(const std::vector<Case>& cases, const std::vector<Outcome>& outcomes, const std::string& filter) {
  std::ostringstream os;
  int counts[3] = {0, 0, 0};
  std::map<std::string, OpCounts> per_op;
  std::map<std::string, std::vector<std::string>> skip_groups;
  std::vector<std::string> failures;
  for (size_t i = 0; i < cases.size(); ++i) {
    const Outcome& o = outcomes[i];
    ++counts[static_cast<int>(o.verdict)];
    for (const std::string& op : cases[i].ops) {
      OpCounts& oc = per_op[op];
      (o.verdict == Verdict::kPassed ? oc.passed : o.verdict == Verdict::kFailed ? oc.failed : oc.skipped)++;
    }
    if (o.verdict == Verdict::kFailed) failures.push_back(cases[i].id() + ": " + o.reason);
    if (o.verdict == Verdict::kSkipped) skip_groups[reasonKey(o.reason)].push_back(cases[i].id());
  }
  os << "qrt ONNX conformance: " << cases.size() << " cases" << (filter.empty() ? "" : " (filter '" + filter + "')")
     << "\n";
  os << "passed " << counts[0] << "  failed " << counts[1] << "  skipped " << counts[2] << "\n";

  os << "\nper op (passed / failed / skipped):\n";
  for (const auto& [op, oc] : per_op) {
    char line[160];
    std::snprintf(line, sizeof line, "  %-40s %5d %5d %5d%s\n", op.c_str(), oc.passed, oc.failed, oc.skipped,
                  oc.failed ? "  <- failures" : "");
    os << line;
  }

  os << "\nfailures (" << failures.size() << "):\n";
  for (const std::string& f : failures) os << "  " << f << "\n";

  std::vector<std::pair<std::string, std::vector<std::string>>> groups(skip_groups.begin(), skip_groups.end());
  std::stable_sort(groups.begin(), groups.end(),
                   [](const auto& a, const auto& b) { return a.second.size() > b.second.size(); });
  os << "\nskipped, by reason (" << counts[2] << " cases, " << groups.size() << " reasons):\n";
  for (const auto& [reason, names] : groups) {
    os << "  [" << names.size() << "] " << reason << "\n     ";
    for (size_t i = 0; i < names.size(); ++i) os << (i ? ", " : "") << names[i];
    os << "\n";
  }
  std::string supported;
  for (const std::string& op : supportedOps()) supported += (supported.empty() ? "" : ", ") + op;
  os << "\nqrt supports: " << (supported.empty() ? "(none)" : supported) << "\n";
  return os.str();
}

std::vector<Case> collectCases(const fs::path& root, const std::string& filter) {
  std::regex re(filter.empty() ? std::string(".") : filter);
  std::vector<Case> cases;
  for (const char* suite : kSuites) {
    std::error_code ec;
    std::vector<fs::path> dirs;
    for (const auto& e : fs::directory_iterator(root / suite, ec))
      if (e.is_directory() && fs::exists(e.path() / "model.onnx")) dirs.push_back(e.path());
    std::sort(dirs.begin(), dirs.end());
    for (const fs::path& d : dirs) {
      Case c{suite, d.filename().string(), d, {}};
      if (!filter.empty() && !std::regex_search(c.name, re) && !std::regex_search(c.id(), re)) continue;
      c.ops = modelOps(d / "model.onnx");
      cases.push_back(std::move(c));
    }
  }
  return cases;
}

TEST(Conformance, OnnxBackendNodeTests) {
  const fs::path root = envOr("QRT_CONFORMANCE_DATA", "/usr/share/libonnx-testdata/data");
  if (!fs::is_directory(root / "node")) GTEST_SKIP() << "no ONNX test data under " << root;
  const std::string filter = envOr("QRT_CONFORMANCE_FILTER", "");
  std::vector<Case> cases;
  try {
    cases = collectCases(root, filter);
  } catch (const std::regex_error& e) {
    FAIL() << "QRT_CONFORMANCE_FILTER '" << filter << "' is not a valid regex: " << e.what();
  }
  const bool fork_each = envOr("QRT_CONFORMANCE_NOFORK", "0") != "1";
  const bool verbose = envOr("QRT_CONFORMANCE_VERBOSE", "0") == "1";

  std::vector<Outcome> outcomes;
  for (const Case& c : cases) {
    outcomes.push_back(fork_each ? runIsolated(c) : runCaseGuarded(c));
    if (verbose) {
      const Outcome& o = outcomes.back();
      std::cout << (o.verdict == Verdict::kPassed ? "[ PASS ] " : o.verdict == Verdict::kFailed ? "[ FAIL ] " : "[ SKIP ] ")
                << c.id() << (o.reason.empty() ? "" : ": " + o.reason) << std::endl;
    }
  }

  std::string summary = summarize(cases, outcomes, filter);
  std::cout << summary;
  std::ofstream("conformance_summary.txt") << summary;
  int n_failed = 0;
  for (const Outcome& o : outcomes) n_failed += o.verdict == Verdict::kFailed;
  EXPECT_EQ(n_failed, 0) << "conformance failures; see the list above (also in conformance_summary.txt)";
}

}  // namespace
}  // namespace qrt
