//===- HostTensor.cpp - Host tensors, TensorProto and .npy files ----------===//

#include "tailor/Execution/HostTensor.h"

#include "llvm/Support/MemoryBuffer.h"

#include "onnx/onnx_pb.h"

#include <cstring>

using namespace mlir::tailor;
using llvm::createStringError;

int64_t HostTensor::numElements() const {
  int64_t n = 1;
  for (int64_t d : shape)
    n *= d;
  return n;
}

int64_t mlir::tailor::dtypeSize(int32_t dtype) {
  switch (dtype) {
  case onnx::TensorProto::FLOAT:
  case onnx::TensorProto::INT32:
  case onnx::TensorProto::UINT32:
    return 4;
  case onnx::TensorProto::DOUBLE:
  case onnx::TensorProto::INT64:
  case onnx::TensorProto::UINT64:
  case onnx::TensorProto::COMPLEX64:
    return 8;
  case onnx::TensorProto::FLOAT16:
  case onnx::TensorProto::BFLOAT16:
  case onnx::TensorProto::INT16:
  case onnx::TensorProto::UINT16:
    return 2;
  case onnx::TensorProto::INT8:
  case onnx::TensorProto::UINT8:
  case onnx::TensorProto::BOOL:
    return 1;
  case onnx::TensorProto::COMPLEX128:
    return 16;
  default:
    return 0;
  }
}

std::string mlir::tailor::dtypeName(int32_t dtype) {
  switch (dtype) {
  case onnx::TensorProto::FLOAT:
    return "float32";
  case onnx::TensorProto::DOUBLE:
    return "float64";
  case onnx::TensorProto::FLOAT16:
    return "float16";
  case onnx::TensorProto::BFLOAT16:
    return "bfloat16";
  case onnx::TensorProto::INT8:
    return "int8";
  case onnx::TensorProto::INT16:
    return "int16";
  case onnx::TensorProto::INT32:
    return "int32";
  case onnx::TensorProto::INT64:
    return "int64";
  case onnx::TensorProto::UINT8:
    return "uint8";
  case onnx::TensorProto::UINT16:
    return "uint16";
  case onnx::TensorProto::UINT32:
    return "uint32";
  case onnx::TensorProto::UINT64:
    return "uint64";
  case onnx::TensorProto::BOOL:
    return "bool";
  case onnx::TensorProto::STRING:
    return "string";
  default:
    return "dtype" + std::to_string(dtype);
  }
}

std::string mlir::tailor::describe(int32_t dtype,
                                   const std::vector<int64_t> &shape) {
  std::string s = dtypeName(dtype) + "[";
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i)
      s += ",";
    s += shape[i] < 0 ? "?" : std::to_string(shape[i]);
  }
  return s + "]";
}

static llvm::Expected<HostTensor> fromProto(const onnx::TensorProto &proto,
                                            llvm::StringRef path) {
  HostTensor t;
  t.name = proto.name();
  t.dtype = proto.data_type();
  int64_t size = dtypeSize(t.dtype);
  if (!size)
    return createStringError("%s: unsupported data type %s", path.str().c_str(),
                             dtypeName(t.dtype).c_str());
  int64_t n = 1;
  for (int64_t d : proto.dims()) {
    if (d < 0 || (d && n > (int64_t(1) << 40) / d))
      return createStringError("%s: invalid dimension %lld", path.str().c_str(),
                               (long long)d);
    t.shape.push_back(d);
    n *= d;
  }
  t.data.resize(n * size);
  if (proto.has_raw_data()) {
    if ((int64_t)proto.raw_data().size() != n * size)
      return createStringError("%s: %zu bytes of data, %s needs %lld",
                               path.str().c_str(), proto.raw_data().size(),
                               describe(t.dtype, t.shape).c_str(),
                               (long long)(n * size));
    if (n)
      memcpy(t.data.data(), proto.raw_data().data(), n * size);
    return t;
  }
  auto fill = [&](const auto &field, auto convert) -> llvm::Error {
    if ((int64_t)field.size() != n)
      return createStringError(
          "%s: %d values, %s needs %lld", path.str().c_str(), field.size(),
          describe(t.dtype, t.shape).c_str(), (long long)n);
    for (int64_t i = 0; i < n; ++i)
      convert(field.Get(i), t.data.data() + i * size);
    return llvm::Error::success();
  };
  auto decode = [&]() -> llvm::Error {
    switch (t.dtype) {
    case onnx::TensorProto::FLOAT:
    case onnx::TensorProto::COMPLEX64:
      return fill(proto.float_data(),
                  [](float v, char *p) { memcpy(p, &v, 4); });
    case onnx::TensorProto::DOUBLE:
      return fill(proto.double_data(),
                  [](double v, char *p) { memcpy(p, &v, 8); });
    case onnx::TensorProto::INT64:
      return fill(proto.int64_data(),
                  [](int64_t v, char *p) { memcpy(p, &v, 8); });
    case onnx::TensorProto::UINT32:
    case onnx::TensorProto::UINT64:
      return fill(proto.uint64_data(),
                  [&](uint64_t v, char *p) { memcpy(p, &v, size); });
    default:
      return fill(proto.int32_data(),
                  [&](int32_t v, char *p) { memcpy(p, &v, size); });
    }
  };
  if (llvm::Error err = decode())
    return std::move(err);
  return t;
}

llvm::Expected<HostTensor>
mlir::tailor::readTensorProtoFile(llvm::StringRef path) {
  auto buffer = llvm::MemoryBuffer::getFile(path);
  if (!buffer)
    return createStringError(buffer.getError(), "cannot read '%s'",
                             path.str().c_str());
  onnx::TensorProto proto;
  try {
    if (!proto.ParseFromArray((*buffer)->getBufferStart(),
                              (int)(*buffer)->getBufferSize()))
      return createStringError("'%s' is not an ONNX TensorProto",
                               path.str().c_str());
  } catch (const std::exception &e) {
    return createStringError("'%s': %s", path.str().c_str(), e.what());
  }
  return fromProto(proto, path);
}

llvm::Expected<HostTensor> mlir::tailor::readNpyFile(llvm::StringRef path) {
  auto buffer = llvm::MemoryBuffer::getFile(path);
  if (!buffer)
    return createStringError(buffer.getError(), "cannot read '%s'",
                             path.str().c_str());
  llvm::StringRef bytes = (*buffer)->getBuffer();
  auto bad = [&](const char *why) {
    return createStringError("'%s' is not a valid .npy file: %s",
                             path.str().c_str(), why);
  };
  if (bytes.size() < 10 || !bytes.starts_with("\x93NUMPY"))
    return bad("no NUMPY magic");
  unsigned major = (unsigned char)bytes[6];
  size_t headerLen, start;
  if (major == 1) {
    headerLen = (unsigned char)bytes[8] | ((unsigned char)bytes[9] << 8);
    start = 10;
  } else {
    if (bytes.size() < 12)
      return bad("truncated header");
    headerLen = 0;
    for (int i = 0; i < 4; ++i)
      headerLen |= (size_t)(unsigned char)bytes[8 + i] << (8 * i);
    start = 12;
  }
  if (start + headerLen > bytes.size())
    return bad("truncated header");
  llvm::StringRef header = bytes.substr(start, headerLen);
  auto field = [&](llvm::StringRef key) -> llvm::StringRef {
    size_t k = header.find(key);
    if (k == llvm::StringRef::npos)
      return {};
    return header.substr(k + key.size()).ltrim(" :");
  };
  llvm::StringRef descr = field("'descr'");
  if (!descr.consume_front("'"))
    return bad("no descr");
  descr = descr.take_until([](char c) { return c == '\''; });
  static const std::pair<const char *, int32_t> kTypes[] = {
      {"<f4", onnx::TensorProto::FLOAT},   {"<f8", onnx::TensorProto::DOUBLE},
      {"<f2", onnx::TensorProto::FLOAT16}, {"<i8", onnx::TensorProto::INT64},
      {"<i4", onnx::TensorProto::INT32},   {"<i2", onnx::TensorProto::INT16},
      {"|i1", onnx::TensorProto::INT8},    {"|u1", onnx::TensorProto::UINT8},
      {"<u2", onnx::TensorProto::UINT16},  {"<u4", onnx::TensorProto::UINT32},
      {"<u8", onnx::TensorProto::UINT64},  {"|b1", onnx::TensorProto::BOOL}};
  HostTensor t;
  for (auto [name, dtype] : kTypes)
    if (descr == name)
      t.dtype = dtype;
  if (!t.dtype)
    return bad(("unsupported dtype " + descr.str()).c_str());
  if (field("'fortran_order'").starts_with("True"))
    return bad("Fortran order is not supported");
  llvm::StringRef shape = field("'shape'");
  if (!shape.consume_front("("))
    return bad("no shape");
  shape = shape.take_until([](char c) { return c == ')'; });
  llvm::SmallVector<llvm::StringRef> parts;
  shape.split(parts, ',', -1, /*KeepEmpty=*/false);
  for (llvm::StringRef p : parts) {
    int64_t d;
    if (p.trim().getAsInteger(10, d) || d < 0)
      return bad("bad shape");
    t.shape.push_back(d);
  }
  size_t dataStart = start + headerLen;
  int64_t want = t.numElements() * dtypeSize(t.dtype);
  if ((int64_t)(bytes.size() - dataStart) != want)
    return bad("data size does not match the shape");
  t.data.assign(bytes.begin() + dataStart, bytes.end());
  return t;
}
