//===- SafeTensors.cpp - The safetensors file format ------------------------===//

#include "tailor/Support/SafeTensors.h"

#include "llvm/ADT/APFloat.h"
#include "llvm/ADT/StringSet.h"
#include "llvm/Support/Endian.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/FileUtilities.h"
#include "llvm/Support/JSON.h"
#include "llvm/Support/raw_ostream.h"

#include <algorithm>
#include <cstring>

using namespace mlir::tailor::safetensors;
using llvm::createStringError;
using llvm::Error;
using llvm::Expected;
using llvm::StringRef;

namespace {
struct DTypeEntry {
  DType dtype;
  const char *name;
  unsigned size;
};
constexpr DTypeEntry kDTypes[] = {
    {DType::Bool, "BOOL", 1}, {DType::U8, "U8", 1},     {DType::I8, "I8", 1},
    {DType::I16, "I16", 2},   {DType::U16, "U16", 2},   {DType::F16, "F16", 2},
    {DType::BF16, "BF16", 2}, {DType::I32, "I32", 4},   {DType::U32, "U32", 4},
    {DType::F32, "F32", 4},   {DType::I64, "I64", 8},   {DType::U64, "U64", 8},
    {DType::F64, "F64", 8}};

/// The format's own limit on the header (100 MB): a larger size is a
/// corrupt or hostile file, never an allocation.
constexpr uint64_t kMaxHeader = 100'000'000;

const DTypeEntry &entry(DType dtype) {
  for (const DTypeEntry &e : kDTypes)
    if (e.dtype == dtype)
      return e;
  llvm_unreachable("every DType has an entry");
}

/// product(shape) * size, or std::nullopt on a negative dim or overflow.
std::optional<uint64_t> byteSize(llvm::ArrayRef<int64_t> shape,
                                 unsigned size) {
  uint64_t bytes = size;
  for (int64_t d : shape) {
    if (d < 0)
      return std::nullopt;
    if (d != 0 && bytes > UINT64_MAX / uint64_t(d))
      return std::nullopt;
    bytes *= uint64_t(d);
  }
  return bytes;
}
} // namespace

std::optional<DType> mlir::tailor::safetensors::parseDType(StringRef name) {
  for (const DTypeEntry &e : kDTypes)
    if (name == e.name)
      return e.dtype;
  return std::nullopt;
}

StringRef mlir::tailor::safetensors::dtypeName(DType dtype) {
  return entry(dtype).name;
}

unsigned mlir::tailor::safetensors::dtypeSize(DType dtype) {
  return entry(dtype).size;
}

int64_t TensorInfo::numElements() const {
  int64_t n = 1;
  for (int64_t d : shape)
    n *= d;
  return n;
}

Expected<File> File::read(StringRef path) {
  auto buffer = llvm::MemoryBuffer::getFile(path, /*IsText=*/false,
                                            /*RequiresNullTerminator=*/false);
  if (!buffer)
    return createStringError(buffer.getError(), "cannot read '%s': %s",
                             path.str().c_str(),
                             buffer.getError().message().c_str());
  return parse(std::move(*buffer));
}

Expected<File> File::parse(std::unique_ptr<llvm::MemoryBuffer> buffer) {
  std::string where = buffer->getBufferIdentifier().str();
  auto fail = [&](const llvm::Twine &message) -> Error {
    return createStringError(std::errc::invalid_argument, "%s: %s",
                             where.c_str(), message.str().c_str());
  };
  StringRef all = buffer->getBuffer();
  if (all.size() < 8)
    return fail("truncated: " + llvm::Twine(all.size()) +
                " bytes, less than the 8-byte header length");
  uint64_t headerSize =
      llvm::support::endian::read64le(all.data());
  if (headerSize > kMaxHeader)
    return fail("header length " + llvm::Twine(headerSize) +
                " exceeds the format's limit of 100 MB");
  if (headerSize > all.size() - 8)
    return fail("truncated: the header needs " + llvm::Twine(headerSize) +
                " bytes, the file has " + llvm::Twine(all.size() - 8) +
                " after the length");
  StringRef headerText = all.substr(8, headerSize);
  StringRef data = all.substr(8 + headerSize);
  Expected<llvm::json::Value> header = llvm::json::parse(headerText);
  if (!header)
    return fail("header is not valid JSON: " +
                llvm::toString(header.takeError()));
  const llvm::json::Object *object = header->getAsObject();
  if (!object)
    return fail("header is not a JSON object");

  File file;
  for (const auto &[key, value] : *object) {
    StringRef name = key;
    if (name == "__metadata__") {
      const llvm::json::Object *m = value.getAsObject();
      if (!m)
        return fail("__metadata__ is not an object");
      for (const auto &[mk, mv] : *m) {
        std::optional<StringRef> s = mv.getAsString();
        if (!s)
          return fail("__metadata__ entry '" + StringRef(mk) +
                      "' is not a string");
        file.meta[mk.str()] = s->str();
      }
      continue;
    }
    auto bad = [&](const llvm::Twine &what) {
      return fail("tensor '" + name + "': " + what);
    };
    const llvm::json::Object *t = value.getAsObject();
    if (!t)
      return bad("entry is not an object");
    for (const auto &[field, unused] : *t)
      if (StringRef(field) != "dtype" && StringRef(field) != "shape" &&
          StringRef(field) != "data_offsets")
        return bad("unknown field '" + StringRef(field) + "'");
    TensorInfo info;
    info.name = name.str();
    std::optional<StringRef> dtype = t->getString("dtype");
    if (!dtype)
      return bad("missing dtype");
    std::optional<DType> parsed = parseDType(*dtype);
    if (!parsed)
      return bad("unknown dtype '" + *dtype + "'");
    info.dtype = *parsed;
    const llvm::json::Array *shape = t->getArray("shape");
    if (!shape)
      return bad("missing shape");
    for (const llvm::json::Value &d : *shape) {
      std::optional<int64_t> v = d.getAsInteger();
      if (!v || *v < 0)
        return bad("shape entries must be non-negative integers");
      info.shape.push_back(*v);
    }
    const llvm::json::Array *offsets = t->getArray("data_offsets");
    if (!offsets || offsets->size() != 2)
      return bad("data_offsets must be [begin, end]");
    std::optional<int64_t> b = (*offsets)[0].getAsInteger(),
                           e = (*offsets)[1].getAsInteger();
    if (!b || !e || *b < 0 || *e < *b)
      return bad("data_offsets must be integers with 0 <= begin <= end");
    info.begin = uint64_t(*b);
    info.end = uint64_t(*e);
    if (info.end > data.size())
      return bad("data_offsets [" + llvm::Twine(info.begin) + ", " +
                 llvm::Twine(info.end) + "] exceed the " +
                 llvm::Twine(data.size()) + "-byte data buffer (truncated?)");
    std::optional<uint64_t> bytes = byteSize(info.shape, dtypeSize(info.dtype));
    if (!bytes || *bytes != info.end - info.begin)
      return bad("holds " + llvm::Twine(info.end - info.begin) +
                 " bytes, its shape and dtype need " +
                 (bytes ? llvm::Twine(*bytes) : llvm::Twine("too many")));
    file.infos.push_back(std::move(info));
  }
  // The buffer is covered exactly once: no holes, no overlaps.
  std::sort(file.infos.begin(), file.infos.end(),
            [](const TensorInfo &a, const TensorInfo &b) {
              return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
            });
  uint64_t at = 0;
  for (const TensorInfo &info : file.infos) {
    if (info.begin < at)
      return fail("tensor '" + info.name + "' overlaps the previous one");
    if (info.begin > at)
      return fail("bytes [" + llvm::Twine(at) + ", " +
                  llvm::Twine(info.begin) + ") belong to no tensor");
    at = info.end;
  }
  if (at != data.size())
    return fail("bytes [" + llvm::Twine(at) + ", " + llvm::Twine(data.size()) +
                ") after the last tensor belong to no tensor");
  file.data = data.data();
  file.buffer = std::move(buffer);
  return std::move(file);
}

const TensorInfo *File::lookup(StringRef name) const {
  for (const TensorInfo &info : infos)
    if (info.name == name)
      return &info;
  return nullptr;
}

llvm::ArrayRef<char> File::bytes(const TensorInfo &info) const {
  return llvm::ArrayRef<char>(data + info.begin, info.end - info.begin);
}

Error mlir::tailor::safetensors::write(
    StringRef path, llvm::ArrayRef<TensorData> tensors,
    const std::map<std::string, std::string> &metadata) {
  llvm::json::Object header;
  if (!metadata.empty()) {
    llvm::json::Object m;
    for (const auto &[k, v] : metadata)
      m[k] = v;
    header["__metadata__"] = std::move(m);
  }
  llvm::StringSet<> names;
  uint64_t at = 0;
  for (const TensorData &t : tensors) {
    if (t.name == "__metadata__" || !names.insert(t.name).second)
      return createStringError(std::errc::invalid_argument,
                               "safetensors: tensor name '%s' is reserved or "
                               "repeated",
                               t.name.c_str());
    std::optional<uint64_t> bytes = byteSize(t.shape, dtypeSize(t.dtype));
    if (!bytes || *bytes != t.bytes.size())
      return createStringError(std::errc::invalid_argument,
                               "safetensors: tensor '%s' has %zu bytes, its "
                               "shape and dtype need another size",
                               t.name.c_str(), t.bytes.size());
    llvm::json::Array shape;
    for (int64_t d : t.shape)
      shape.push_back(d);
    header[t.name] = llvm::json::Object{
        {"dtype", dtypeName(t.dtype)},
        {"shape", std::move(shape)},
        {"data_offsets", llvm::json::Array{at, at + *bytes}}};
    at += *bytes;
  }
  std::string text;
  llvm::raw_string_ostream(text) << llvm::json::Value(std::move(header));
  // Pad the header with spaces so the data starts 8-byte aligned.
  text.append((8 - text.size() % 8) % 8, ' ');

  llvm::SmallString<256> temp;
  if (std::error_code ec = llvm::sys::fs::createUniqueFile(
          path + ".tmp%%%%%%", temp))
    return createStringError(ec, "cannot write next to '%s'",
                             path.str().c_str());
  llvm::FileRemover removeTemp(temp);
  {
    std::error_code ec;
    llvm::raw_fd_ostream os(temp, ec);
    if (ec)
      return createStringError(ec, "cannot write '%s'", temp.c_str());
    char length[8];
    llvm::support::endian::write64le(length, text.size());
    os.write(length, 8);
    os << text;
    for (const TensorData &t : tensors)
      os.write(t.bytes.data(), t.bytes.size());
    os.close();
    if (os.has_error())
      return createStringError(os.error(), "cannot write '%s'", temp.c_str());
  }
  if (std::error_code ec = llvm::sys::fs::rename(temp, path))
    return createStringError(ec, "cannot rename '%s' to '%s'", temp.c_str(),
                             path.str().c_str());
  removeTemp.releaseFile();
  return Error::success();
}

llvm::Expected<std::vector<float>>
mlir::tailor::safetensors::readFloats(const File &file,
                                      const TensorInfo &info) {
  llvm::ArrayRef<char> bytes = file.bytes(info);
  const char *p = bytes.data();
  size_t n = size_t(info.numElements());
  std::vector<float> out(n);
  using namespace llvm::support::endian;
  switch (info.dtype) {
  case DType::F32:
    for (size_t i = 0; i < n; ++i) {
      uint32_t bits = read32le(p + 4 * i);
      std::memcpy(&out[i], &bits, 4);
    }
    break;
  case DType::F64:
    for (size_t i = 0; i < n; ++i) {
      uint64_t bits = read64le(p + 8 * i);
      double d;
      std::memcpy(&d, &bits, 8);
      out[i] = float(d);
    }
    break;
  case DType::BF16:
    for (size_t i = 0; i < n; ++i) {
      uint32_t bits = uint32_t(read16le(p + 2 * i)) << 16;
      std::memcpy(&out[i], &bits, 4);
    }
    break;
  case DType::F16:
    for (size_t i = 0; i < n; ++i)
      out[i] = llvm::APFloat(llvm::APFloat::IEEEhalf(),
                             llvm::APInt(16, read16le(p + 2 * i)))
                   .convertToFloat();
    break;
  default:
    return createStringError(llvm::inconvertibleErrorCode(),
                             "tensor '" + info.name + "' has dtype " +
                                 dtypeName(info.dtype).str());
  }
  return out;
}
