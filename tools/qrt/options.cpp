#include "options.h"

#include <sstream>

#include "core/status_macros.h"

namespace qrt::cli {

void OptionGroup::flag(const std::string& name, bool* target, const std::string& help) {
  options.push_back({name, "", "", help, [target](const std::string&) { *target = true; return Status::Ok(); }});
}

void OptionGroup::value(const std::string& name, std::string* target, const std::string& metavar,
                        const std::string& help, const std::string& alias) {
  options.push_back({name, alias, metavar, help, [target](const std::string& v) {
                       *target = v;
                       return Status::Ok();
                     }});
}

void OptionGroup::intValue(const std::string& name, int* target, const std::string& metavar,
                           const std::string& help) {
  options.push_back({name, "", metavar, help, [target, name](const std::string& v) {
                       try {
                         size_t used = 0;
                         int x = std::stoi(v, &used);
                         if (used != v.size()) throw std::invalid_argument(v);
                         *target = x;
                       } catch (...) {
                         return invalidArgument(name, " expects an integer, got '", v, "'");
                       }
                       return Status::Ok();
                     }});
}

void OptionGroup::list(const std::string& name, std::vector<std::string>* target, const std::string& metavar,
                       const std::string& help) {
  options.push_back({name, "", metavar, help, [target](const std::string& v) {
                       target->push_back(v);
                       return Status::Ok();
                     }});
}

Status parseArgs(const std::vector<std::string>& args, const std::vector<OptionGroup*>& groups,
                 std::vector<std::string>* positional, bool* help) {
  for (size_t i = 0; i < args.size(); ++i) {
    std::string a = args[i];
    if (a == "-h" || a == "--help") {
      *help = true;
      continue;
    }
    if (a.size() < 2 || a[0] != '-') {
      positional->push_back(a);
      continue;
    }
    std::string inline_value;
    bool has_inline = false;
    if (auto eq = a.find('='); eq != std::string::npos && a.rfind("--", 0) == 0) {
      inline_value = a.substr(eq + 1);
      a = a.substr(0, eq);
      has_inline = true;
    }
    const Option* opt = nullptr;
    for (OptionGroup* g : groups)
      for (const Option& o : g->options)
        if (o.name == a || (!o.alias.empty() && o.alias == a)) opt = &o;
    if (!opt) return invalidArgument("unknown option '", a, "' (see --help)");
    if (opt->metavar.empty()) {
      if (has_inline) return invalidArgument("option ", a, " takes no value");
      QRT_RETURN_IF_ERROR(opt->set(""));
      continue;
    }
    if (!has_inline) {
      if (i + 1 >= args.size()) return invalidArgument("option ", a, " needs a value (", opt->metavar, ")");
      inline_value = args[++i];
    }
    QRT_RETURN_IF_ERROR(opt->set(inline_value));
  }
  return Status::Ok();
}

std::string usage(const std::string& synopsis, const std::vector<OptionGroup*>& groups) {
  std::ostringstream os;
  os << "usage: " << synopsis << "\n";
  for (const OptionGroup* g : groups) {
    os << "\n" << g->title << ":\n";
    for (const Option& o : g->options) {
      std::string left = "  " + (o.alias.empty() ? "" : o.alias + ", ") + o.name + (o.metavar.empty() ? "" : " " + o.metavar);
      os << left;
      if (left.size() < 34) os << std::string(34 - left.size(), ' ');
      else os << "\n" << std::string(34, ' ');
      os << o.help << "\n";
    }
  }
  return os.str();
}

Result<Dims> parseDims(const std::string& s) {
  Dims d;
  if (s.empty()) return invalidArgument("empty shape");
  if (s == "scalar") return d;
  std::stringstream ss(s);
  std::string part;
  while (std::getline(ss, part, 'x')) {
    try {
      size_t used = 0;
      long long v = std::stoll(part, &used);
      if (used != part.size() || v < 0) throw std::invalid_argument(part);
      d.push_back(v);
    } catch (...) {
      return invalidArgument("bad shape '", s, "': expected dims like 1x3x224x224");
    }
  }
  return d;
}

Result<std::map<std::string, Dims>> parseShapes(const std::vector<std::string>& specs) {
  std::map<std::string, Dims> out;
  for (const std::string& spec : specs) {
    std::stringstream ss(spec);
    std::string item;
    while (std::getline(ss, item, ',')) {
      auto colon = item.rfind(':');
      if (colon == std::string::npos || colon == 0)
        return invalidArgument("bad --shapes entry '", item, "': expected NAME:1x3x224x224");
      QRT_ASSIGN_OR_RETURN(Dims d, parseDims(item.substr(colon + 1)));
      out[item.substr(0, colon)] = d;
    }
  }
  return out;
}

OptionGroup ModelOptions::group() {
  OptionGroup g{"Model options", {}};
  g.list("--shapes", &shapes, "NAME:DIMS[,...]", "input shapes, e.g. input:1x3x224x224 (fixes dynamic dims)");
  return g;
}

OptionGroup BuildOptions::group() {
  OptionGroup g{"Build options", {}};
  g.value("--output", &output, "FILE", "engine file to write (.qrt)", "-o");
  g.flag("--fp16", &fp16, "allow FP16 kernels");
  g.flag("--bf16", &bf16, "allow BF16 kernels");
  g.flag("--int8", &int8, "allow INT8 kernels");
  g.value("--device", &device, "cpu|cuda", "device the engine runs on (default cpu)");
  return g;
}

OptionGroup InferenceOptions::group() {
  OptionGroup g{"Inference options", {}};
  g.list("--input", &inputs, "NAME=FILE", "input tensor from .npy or ONNX TensorProto .pb (repeatable)");
  g.value("--output-dir", &output_dir, "DIR", "write each output as DIR/<name>.npy");
  g.intValue("--threads", &threads, "N", "threads (default: all cores)");
  return g;
}

OptionGroup ReportingOptions::group() {
  OptionGroup g{"Reporting options", {}};
  g.flag("--json", &json, "print JSON instead of text");
  g.flag("--verbose", &verbose, "print more detail");
  return g;
}

}  // namespace qrt::cli
