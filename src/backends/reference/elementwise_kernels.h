// Factories of the reference elementwise kernels, listed in the table of elementwise.cpp and
// defined in unary.cpp, binary.cpp and cast.cpp.
#pragma once

#include <memory>

#include "backends/kernel.h"

namespace qrt::reference {

using KernelResult = Result<std::unique_ptr<Kernel>>;

// unary.cpp: activations and math, one input, same dtype out.
KernelResult createRelu(const ir::Node& node);
KernelResult createLeakyRelu(const ir::Node& node);
KernelResult createSigmoid(const ir::Node& node);
KernelResult createHardSigmoid(const ir::Node& node);
KernelResult createHardSwish(const ir::Node& node);
KernelResult createTanh(const ir::Node& node);
KernelResult createErf(const ir::Node& node);
KernelResult createGelu(const ir::Node& node);
KernelResult createElu(const ir::Node& node);
KernelResult createSelu(const ir::Node& node);
KernelResult createCelu(const ir::Node& node);
KernelResult createThresholdedRelu(const ir::Node& node);
KernelResult createSoftplus(const ir::Node& node);
KernelResult createSoftsign(const ir::Node& node);
KernelResult createShrink(const ir::Node& node);
KernelResult createSqrt(const ir::Node& node);
KernelResult createExp(const ir::Node& node);
KernelResult createLog(const ir::Node& node);
KernelResult createReciprocal(const ir::Node& node);
KernelResult createFloor(const ir::Node& node);
KernelResult createCeil(const ir::Node& node);
KernelResult createRound(const ir::Node& node);
KernelResult createSin(const ir::Node& node);
KernelResult createCos(const ir::Node& node);
KernelResult createTan(const ir::Node& node);
KernelResult createAsin(const ir::Node& node);
KernelResult createAcos(const ir::Node& node);
KernelResult createAtan(const ir::Node& node);
KernelResult createSinh(const ir::Node& node);
KernelResult createCosh(const ir::Node& node);
KernelResult createAsinh(const ir::Node& node);
KernelResult createAcosh(const ir::Node& node);
KernelResult createAtanh(const ir::Node& node);
KernelResult createNeg(const ir::Node& node);
KernelResult createAbs(const ir::Node& node);
KernelResult createSign(const ir::Node& node);
KernelResult createNot(const ir::Node& node);
KernelResult createIsNaN(const ir::Node& node);
KernelResult createIsInf(const ir::Node& node);
KernelResult createClip(const ir::Node& node);

// cast.cpp: Cast and CastLike (the target is the output's inferred dtype).
KernelResult createCast(const ir::Node& node);

// binary.cpp: broadcasting binary, compare, logical, Where and variadic ops.
KernelResult createAdd(const ir::Node& node);
KernelResult createSub(const ir::Node& node);
KernelResult createMul(const ir::Node& node);
KernelResult createDiv(const ir::Node& node);
KernelResult createMod(const ir::Node& node);
KernelResult createPow(const ir::Node& node);
KernelResult createPRelu(const ir::Node& node);
KernelResult createBitShift(const ir::Node& node);
KernelResult createAnd(const ir::Node& node);
KernelResult createOr(const ir::Node& node);
KernelResult createXor(const ir::Node& node);
KernelResult createEqual(const ir::Node& node);
KernelResult createLess(const ir::Node& node);
KernelResult createLessOrEqual(const ir::Node& node);
KernelResult createGreater(const ir::Node& node);
KernelResult createGreaterOrEqual(const ir::Node& node);
KernelResult createWhere(const ir::Node& node);
KernelResult createMin(const ir::Node& node);
KernelResult createMax(const ir::Node& node);
KernelResult createSum(const ir::Node& node);
KernelResult createMean(const ir::Node& node);

}  // namespace qrt::reference
