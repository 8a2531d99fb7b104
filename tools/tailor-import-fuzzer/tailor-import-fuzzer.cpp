//===- tailor-import-fuzzer.cpp - libFuzzer target for the ONNX importer --===//
//
// Any byte string must import or fail with a diagnostic: never crash, hang
// or trip a sanitizer. Run: tailor-import-fuzzer CORPUS_DIR -max_total_time=60

#include "tailor/Import/OnnxImporter.h"

#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/MLIRContext.h"

#include <cstddef>
#include <cstdint>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  mlir::MLIRContext context(mlir::MLIRContext::Threading::DISABLED);
  mlir::ScopedDiagnosticHandler quiet(
      &context, [](mlir::Diagnostic &) { return mlir::success(); });
  llvm::StringRef bytes(reinterpret_cast<const char *>(data), size);
  (void)mlir::tailor::importOnnxBuffer(bytes, "fuzz", /*baseDir=*/"", &context);
  return 0;
}
