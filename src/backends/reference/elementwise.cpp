// The reference backend's table of elementwise kernels: one line per op and the dtypes of its
// type-deciding input. The kernels live in unary.cpp, binary.cpp and cast.cpp.
#include "backends/reference/elementwise_kernels.h"
#include "backends/reference/kernel_table.h"

namespace qrt::reference {

namespace {

constexpr DTypeSet kBool{DataType::kBool};
constexpr DTypeSet kUnsigned{DataType::kUInt8, DataType::kUInt16, DataType::kUInt32, DataType::kUInt64};
constexpr DTypeSet kPowBase{DataType::kFloat, DataType::kDouble, DataType::kHalf, DataType::kBFloat16,
                            DataType::kInt32, DataType::kInt64};

const KernelEntry kEntries[] = {
    // activations
    {"Relu", kNumericTypes, &createRelu},
    {"LeakyRelu", kFloatTypes, &createLeakyRelu},
    {"Sigmoid", kFloatTypes, &createSigmoid},
    {"HardSigmoid", kFloatTypes, &createHardSigmoid},
    {"HardSwish", kFloatTypes, &createHardSwish},
    {"Tanh", kFloatTypes, &createTanh},
    {"Erf", kFloatTypes, &createErf},
    {"Gelu", kFloatTypes, &createGelu},
    {"Elu", kFloatTypes, &createElu},
    {"Selu", kFloatTypes, &createSelu},
    {"Celu", kFloatTypes, &createCelu},
    {"ThresholdedRelu", kFloatTypes, &createThresholdedRelu},
    {"Softplus", kFloatTypes, &createSoftplus},
    {"Softsign", kFloatTypes, &createSoftsign},
    {"Shrink", kFloatTypes, &createShrink},
    {"PRelu", kNumericTypes, &createPRelu},
    {"Clip", kNumericTypes, &createClip},
    // unary math
    {"Sqrt", kFloatTypes, &createSqrt},
    {"Exp", kFloatTypes, &createExp},
    {"Log", kFloatTypes, &createLog},
    {"Reciprocal", kFloatTypes, &createReciprocal},
    {"Floor", kFloatTypes, &createFloor},
    {"Ceil", kFloatTypes, &createCeil},
    {"Round", kFloatTypes, &createRound},
    {"Sin", kFloatTypes, &createSin},
    {"Cos", kFloatTypes, &createCos},
    {"Tan", kFloatTypes, &createTan},
    {"Asin", kFloatTypes, &createAsin},
    {"Acos", kFloatTypes, &createAcos},
    {"Atan", kFloatTypes, &createAtan},
    {"Sinh", kFloatTypes, &createSinh},
    {"Cosh", kFloatTypes, &createCosh},
    {"Asinh", kFloatTypes, &createAsinh},
    {"Acosh", kFloatTypes, &createAcosh},
    {"Atanh", kFloatTypes, &createAtanh},
    {"Neg", kNumericTypes, &createNeg},
    {"Abs", kNumericTypes, &createAbs},
    {"Sign", kNumericTypes, &createSign},
    {"IsNaN", kFloatTypes, &createIsNaN},
    {"IsInf", kFloatTypes, &createIsInf},
    // conversion
    {"Cast", kAllTypes, &createCast},
    {"CastLike", kAllTypes, &createCast},
    // binary arithmetic
    {"Add", kNumericTypes, &createAdd},
    {"Sub", kNumericTypes, &createSub},
    {"Mul", kNumericTypes, &createMul},
    {"Div", kNumericTypes, &createDiv},
    {"Mod", kNumericTypes, &createMod},
    {"Pow", kPowBase, &createPow},
    {"BitShift", kUnsigned, &createBitShift},
    // variadic
    {"Min", kNumericTypes, &createMin},
    {"Max", kNumericTypes, &createMax},
    {"Sum", kFloatTypes, &createSum},
    {"Mean", kFloatTypes, &createMean},
    // comparison and logic
    {"Equal", kAllTypes, &createEqual},
    {"Less", kNumericTypes, &createLess},
    {"LessOrEqual", kNumericTypes, &createLessOrEqual},
    {"Greater", kNumericTypes, &createGreater},
    {"GreaterOrEqual", kNumericTypes, &createGreaterOrEqual},
    {"Not", kBool, &createNot},
    {"And", kBool, &createAnd},
    {"Or", kBool, &createOr},
    {"Xor", kBool, &createXor},
    // selection: the dtype of X (input 1) picks the kernel
    {"Where", kAllTypes, &createWhere, 1},
};

}  // namespace

std::span<const KernelEntry> elementwiseKernels() { return kEntries; }

}  // namespace qrt::reference
