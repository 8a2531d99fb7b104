//===- HostTensor.h - Tensors in host memory for running models -----------===//

#ifndef TAILOR_EXECUTION_HOSTTENSOR_H
#define TAILOR_EXECUTION_HOSTTENSOR_H

#include "llvm/ADT/StringRef.h"
#include "llvm/Support/Error.h"

#include <cstdint>
#include <string>
#include <vector>

namespace mlir::tailor {

/// A dense row-major tensor in host memory. `dtype` is the ONNX
/// TensorProto data type number (1 float, 7 int64, 9 bool, ...).
struct HostTensor {
  std::string name;
  int32_t dtype = 0;
  std::vector<int64_t> shape;
  std::vector<char> data;

  int64_t numElements() const;
};

/// Bytes per element of an ONNX data type; 0 when unsupported (strings).
int64_t dtypeSize(int32_t dtype);
/// "float32", "int64", ... for messages.
std::string dtypeName(int32_t dtype);
/// "float32[2,?,4]" for messages (-1 prints as ?).
std::string describe(int32_t dtype, const std::vector<int64_t> &shape);

/// Reads an ONNX TensorProto file (the backend tests' input_N.pb).
llvm::Expected<HostTensor> readTensorProtoFile(llvm::StringRef path);
/// Reads a NumPy .npy file (little-endian, C order).
llvm::Expected<HostTensor> readNpyFile(llvm::StringRef path);

} // namespace mlir::tailor

#endif // TAILOR_EXECUTION_HOSTTENSOR_H
