// The reference kernel table of the integer ops (kernels in qconv.cpp and qgemm.cpp; what they
// share in qops_common.h): ONNX's ConvInteger, MatMulInteger, QLinearConv and QLinearMatMul
// (int8/uint8 operands with zero points) and qrt's fused QConv, QGemm and QMatMul (domain
// "qrt": int8, zero point 0).
#include "backends/reference/kernel_table.h"
#include "backends/reference/qops_common.h"
#include "ops/op.h"

namespace qrt::reference {

namespace {

constexpr DTypeSet kInt8Like{DataType::kInt8, DataType::kUInt8};
constexpr DTypeSet kInt8Only{DataType::kInt8};

const KernelEntry kEntries[] = {
    {"ConvInteger", kInt8Like, &createConvInteger},
    {"MatMulInteger", kInt8Like, &createMatMulInteger},
    {"QLinearConv", kInt8Like, &createQLinearConv},
    {"QLinearMatMul", kInt8Like, &createQLinearMatMul},
    {"QConv", kInt8Only, &createQConv, 0, kQrtDomain},
    {"QGemm", kInt8Only, &createQGemm, 0, kQrtDomain},
    {"QMatMul", kInt8Only, &createQMatMul, 0, kQrtDomain},
};

}  // namespace

std::span<const KernelEntry> qopsKernels() { return kEntries; }

}  // namespace qrt::reference
