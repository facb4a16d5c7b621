// qrt: a trtexec-like command line over the qrt library.
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "commands.h"
#include "ops/op_table.h"

namespace {

void printHelp() {
  std::printf(
      "qrt %s: build and run optimized engines from ONNX models\n\n"
      "usage: qrt <command> [options]   (qrt <command> --help for its options)\n\n"
      "commands:\n"
      "  inspect MODEL.onnx|ENGINE.qrt   inputs, outputs and layers (op, shapes, precision)\n"
      "  build MODEL.onnx -o ENGINE.qrt  optimize and serialize an engine\n"
      "  run MODEL|ENGINE --input ...    run once on .npy / .pb inputs, write .npy outputs\n"
      "  eval MODEL|ENGINE --images DIR  top-1/top-5 accuracy and throughput on DIR/<class>/*.jpg|png\n"
      "  export-qdq MODEL.onnx -o Q.onnx QDQ ONNX model (TensorRT, ONNX Runtime) from --calib-cache FILE\n"
      "  bench MODEL|ENGINE [--profile]  latency percentiles and throughput on random inputs\n\n"
      "  --version                       version and compiled backends\n",
      qrt::versionString());
}

}  // namespace

int main(int argc, char** argv) {
  // oneDNN as Debian builds it runs on OpenMP, whose idle threads busy-wait by default: on shared
  // or small machines they starve qrt's own thread pool and every neighbour (measured: a 1 ms
  // convolution taking up to 48 ms on 2 busy cores). libgomp reads OMP_WAIT_POLICY when it is
  // loaded, before main, so the CLI sets it and re-executes itself once. A user's own setting wins.
  if (!std::getenv("OMP_WAIT_POLICY")) {
    setenv("OMP_WAIT_POLICY", "passive", 1);
    execv("/proc/self/exe", argv);  // returns only on failure: then carry on as we are
  }
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.empty() || args[0] == "-h" || args[0] == "--help" || args[0] == "help") {
    printHelp();
    return args.empty() ? 2 : 0;
  }
  if (args[0] == "--version" || args[0] == "version") {
    std::printf("qrt %s\nbackends:", qrt::versionString());
    for (const auto& b : qrt::compiledBackends()) std::printf(" %s", b.c_str());
    std::printf("\noperators: %zu supported\n", qrt::supportedOps().size());
    return 0;
  }
  std::string cmd = args[0];
  std::vector<std::string> rest(args.begin() + 1, args.end());
  if (cmd == "inspect") return qrt::cli::cmdInspect(rest);
  if (cmd == "build") return qrt::cli::cmdBuild(rest);
  if (cmd == "run") return qrt::cli::cmdRun(rest);
  if (cmd == "eval") return qrt::cli::cmdEval(rest);
  if (cmd == "export-qdq") return qrt::cli::cmdExportQdq(rest);
  if (cmd == "bench") return qrt::cli::cmdBench(rest);
  std::fprintf(stderr, "qrt: error: unknown command '%s' (try qrt --help)\n", cmd.c_str());
  return 2;
}
