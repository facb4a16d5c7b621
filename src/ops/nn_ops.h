// Shape inference of the nn family, declared for the family table in nn.cpp.
#pragma once

#include "ops/op.h"

namespace qrt {

Status inferConv(InferContext& ctx);           // conv.cpp
Status inferConvTranspose(InferContext& ctx);  // conv.cpp
Status inferMaxPool(InferContext& ctx);        // pool.cpp
Status inferAveragePool(InferContext& ctx);    // pool.cpp
Status inferGlobalPool(InferContext& ctx);     // pool.cpp: GlobalAveragePool, GlobalMaxPool

}  // namespace qrt
