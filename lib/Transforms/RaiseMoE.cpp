//===- RaiseMoE.cpp - Dense mixture-of-experts blocks -> tailor.moe -------===//

#include "RaiseUtils.h"

using namespace mlir;
using namespace mlir::tailor;
using namespace mlir::tailor::raise;

void mlir::tailor::raise::populateRaiseMoEPatterns(RewritePatternSet &) {}
