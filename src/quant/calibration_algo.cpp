#include "core/status_macros.h"
#include "qrt/calibrator.h"

namespace qrt {

namespace {
struct AlgoName {
  CalibrationAlgo algo;
  const char* name;
};
const AlgoName kAlgoNames[] = {
    {CalibrationAlgo::kEntropy2, "entropy2"},     {CalibrationAlgo::kEntropy, "entropy"},
    {CalibrationAlgo::kMinMax, "minmax"},         {CalibrationAlgo::kPercentile, "percentile"},
    {CalibrationAlgo::kMSE, "mse"},
};
}  // namespace

const char* calibrationAlgoName(CalibrationAlgo a) {
  for (const auto& n : kAlgoNames)
    if (n.algo == a) return n.name;
  return "entropy2";
}

Result<CalibrationAlgo> parseCalibrationAlgo(const std::string& name) {
  for (const auto& n : kAlgoNames)
    if (name == n.name) return n.algo;
  return invalidArgument("unknown calibration algorithm '", name, "' (use entropy2, entropy, minmax, percentile or mse)");
}

}  // namespace qrt
