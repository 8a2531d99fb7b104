//===- CompileFile.h - One call from a model file to an artifact ----------===//
//
// For embedders that want no MLIR or LLVM types in their own code (the
// Python bindings): a model file in, a shared object (or object, LLVM IR,
// MLIR) out, errors as text. Plain C++17.

#ifndef TAILOR_COMPILER_COMPILEFILE_H
#define TAILOR_COMPILER_COMPILEFILE_H

#include <string>

namespace tailor {

struct CompileRequest {
  std::string input;  ///< .onnx, .onnxtxt or .mlir (tailor dialect)
  std::string output; ///< the artifact to write
  std::string emit = "so"; ///< so | obj | llvm | mlir
  std::string header; ///< also write a C header here (optional)
  std::string headerPrefix = "model";
  std::string target = "cpu";
  std::string cpu = "host";
  unsigned optLevel = 2;
  bool raise = true;
  std::string producer = "tailor (library)";
};

/// Compiles `request.input` into `request.output`. Returns "" on success,
/// else the error: the compiler's diagnostics, with locations.
std::string compileFile(const CompileRequest &request);

} // namespace tailor

#endif // TAILOR_COMPILER_COMPILEFILE_H
