//===- SafeTensors.h - The safetensors file format --------------------------===//
//
// Reads and writes safetensors files (Hugging Face's weight format, used by
// PEFT adapters and by Tailor's checkpoints): an 8-byte little-endian header
// length N, N bytes of JSON
//   {"__metadata__": {"k": "v", ...},
//    "name": {"dtype": "F32", "shape": [2, 3], "data_offsets": [b, e]}, ...}
// then the byte buffer; offsets are relative to the buffer's start. The
// reader validates everything (header size, JSON, dtypes, shapes, offsets
// in range, sizes = product(shape) x dtype size, the buffer covered exactly
// once, no holes or overlaps) and reports the first problem as an error;
// it never trusts a size from the file. The writer writes to a temporary
// name and renames it into place.

#ifndef TAILOR_SUPPORT_SAFETENSORS_H
#define TAILOR_SUPPORT_SAFETENSORS_H

#include "llvm/ADT/ArrayRef.h"
#include "llvm/ADT/SmallVector.h"
#include "llvm/ADT/StringRef.h"
#include "llvm/Support/Error.h"
#include "llvm/Support/MemoryBuffer.h"

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace mlir::tailor::safetensors {

enum class DType { Bool, U8, I8, I16, U16, F16, BF16, I32, U32, F32, I64, U64, F64 };

/// "F32" -> DType::F32, ...; std::nullopt for names the format does not have.
std::optional<DType> parseDType(llvm::StringRef name);
llvm::StringRef dtypeName(DType dtype);
/// Bytes per element.
unsigned dtypeSize(DType dtype);

struct TensorInfo {
  std::string name;
  DType dtype;
  llvm::SmallVector<int64_t> shape;
  /// Byte range in the data buffer.
  uint64_t begin = 0, end = 0;
  int64_t numElements() const;
};

/// A validated safetensors file held in memory (memory-mapped when read
/// from disk).
class File {
public:
  static llvm::Expected<File> read(llvm::StringRef path);
  /// `name` is used in error messages.
  static llvm::Expected<File> parse(std::unique_ptr<llvm::MemoryBuffer> buffer);

  /// The tensors in the order of their data.
  llvm::ArrayRef<TensorInfo> tensors() const { return infos; }
  const TensorInfo *lookup(llvm::StringRef name) const;
  /// The tensor's bytes (little-endian elements).
  llvm::ArrayRef<char> bytes(const TensorInfo &info) const;
  const std::map<std::string, std::string> &metadata() const { return meta; }

private:
  std::unique_ptr<llvm::MemoryBuffer> buffer;
  const char *data = nullptr;
  std::vector<TensorInfo> infos;
  std::map<std::string, std::string> meta;
};

/// One tensor to write: its bytes must hold product(shape) elements.
struct TensorData {
  std::string name;
  DType dtype;
  llvm::SmallVector<int64_t> shape;
  llvm::ArrayRef<char> bytes;
};

/// Writes `tensors` (names unique, not "__metadata__") and `metadata` to
/// `path` atomically (a temporary file renamed into place).
llvm::Error write(llvm::StringRef path, llvm::ArrayRef<TensorData> tensors,
                  const std::map<std::string, std::string> &metadata = {});

/// A float tensor's values (F32, F16, BF16 or F64) as f32; an error names
/// any other dtype.
llvm::Expected<std::vector<float>> readFloats(const File &file,
                                              const TensorInfo &info);

} // namespace mlir::tailor::safetensors

#endif // TAILOR_SUPPORT_SAFETENSORS_H
