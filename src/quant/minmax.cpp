// Min-max calibration (TensorRT's MinMaxCalibrator): the threshold is max |x|, nothing clipped.
// qrt's range ignores non-finite values (see RangeCollector).
#include "quant/calibration_algorithms.h"

namespace qrt::quant {

float minMaxAmax(const Histogram& histogram) { return histogram.rangeMax(); }

}  // namespace qrt::quant
