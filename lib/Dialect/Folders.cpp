//===- Folders.cpp - Folders and canonicalizations of ONNX-level ops ------===//

#include "tailor/Dialect/Tailor.h"

using namespace mlir;
using namespace mlir::tailor;
