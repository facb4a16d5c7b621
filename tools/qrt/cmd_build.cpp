#include <chrono>
#include <cstdio>

#include "commands.h"
#include "core/status_macros.h"

namespace qrt::cli {

int cmdBuild(const std::vector<std::string>& args) {
  ModelOptions model;
  BuildOptions build;
  ReportingOptions report;
  OptionGroup gm = model.group(), gb = build.group(), gr = report.group();
  std::vector<OptionGroup*> groups = {&gm, &gb, &gr};
  std::vector<std::string> pos;
  bool help = false;
  if (Status s = parseArgs(args, groups, &pos, &help); !s.ok()) return fail(s);
  if (help) {
    std::printf("%s", usage("qrt build MODEL.onnx -o ENGINE.qrt [options]", groups).c_str());
    return 0;
  }
  if (pos.size() != 1) return fail(invalidArgument("build takes one MODEL.onnx (got ", pos.size(), ")"));
  if (build.output.empty()) return fail(invalidArgument("build needs -o ENGINE.qrt"));
  auto config = makeBuilderConfig(model, build);
  if (!config.ok()) return fail(config.status());
  auto t0 = std::chrono::steady_clock::now();
  auto network = parseOnnxFile(pos[0]);
  if (!network.ok()) return fail(network.status());
  auto engine = buildEngine(**network, *config);
  if (!engine.ok()) return fail(engine.status());
  if (Status s = (*engine)->save(build.output); !s.ok()) return fail(s);
  double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  size_t layers = (*engine)->layers().size();
  std::printf("built %s: %zu layers, %s, in %.1f ms\n", build.output.c_str(), layers,
              (*engine)->metadata("builder_flags").c_str(), ms);
  return 0;
}

}  // namespace qrt::cli
