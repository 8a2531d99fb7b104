//===- SafeTensorsTest.cpp - safetensors reader and writer ----------------===//

#include "tailor/Support/SafeTensors.h"

#include "llvm/Support/Endian.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Path.h"

#include <gtest/gtest.h>

using namespace mlir::tailor::safetensors;

namespace {
/// A file image: the 8-byte length, `header`, then `data`.
std::string image(const std::string &header, const std::string &data) {
  std::string out(8, '\0');
  llvm::support::endian::write64le(out.data(), header.size());
  return out + header + data;
}

llvm::Expected<File> parseImage(const std::string &bytes) {
  return File::parse(llvm::MemoryBuffer::getMemBufferCopy(bytes, "test"));
}

/// The error text of parsing `bytes` ("" if it parsed).
std::string errorOf(const std::string &bytes) {
  auto file = parseImage(bytes);
  if (file)
    return "";
  return llvm::toString(file.takeError());
}

std::string tempPath(const char *name) {
  llvm::SmallString<128> dir;
  EXPECT_FALSE(llvm::sys::fs::createUniqueDirectory("tailor-st", dir));
  llvm::sys::path::append(dir, name);
  return std::string(dir);
}
} // namespace

TEST(SafeTensors, RoundTrip) {
  std::vector<float> a = {1, 2, 3, 4, 5, 6};
  std::vector<int64_t> b = {-1, 0, 7, 1ll << 40};
  std::string path = tempPath("w.safetensors");
  TensorData ta{"layer.a", DType::F32, {2, 3},
                llvm::ArrayRef<char>(reinterpret_cast<const char *>(a.data()),
                                     a.size() * 4)};
  TensorData tb{"b", DType::I64, {4},
                llvm::ArrayRef<char>(reinterpret_cast<const char *>(b.data()),
                                     b.size() * 8)};
  ASSERT_FALSE(bool(write(path, {ta, tb}, {{"format", "pt"}})));
  auto file = File::read(path);
  ASSERT_TRUE(bool(file)) << llvm::toString(file.takeError());
  ASSERT_EQ(file->tensors().size(), 2u);
  const TensorInfo *ia = file->lookup("layer.a");
  ASSERT_NE(ia, nullptr);
  EXPECT_EQ(ia->dtype, DType::F32);
  EXPECT_EQ(ia->shape, (llvm::SmallVector<int64_t>{2, 3}));
  EXPECT_EQ(ia->numElements(), 6);
  llvm::ArrayRef<char> bytes = file->bytes(*ia);
  ASSERT_EQ(bytes.size(), 24u);
  EXPECT_EQ(std::memcmp(bytes.data(), a.data(), 24), 0);
  const TensorInfo *ib = file->lookup("b");
  ASSERT_NE(ib, nullptr);
  EXPECT_EQ(std::memcmp(file->bytes(*ib).data(), b.data(), 32), 0);
  EXPECT_EQ(file->metadata().at("format"), "pt");
  EXPECT_EQ(file->lookup("missing"), nullptr);
  // The header is padded so the data starts 8-byte aligned.
  auto raw = llvm::MemoryBuffer::getFile(path);
  ASSERT_TRUE(bool(raw));
  uint64_t n = llvm::support::endian::read64le((*raw)->getBufferStart());
  EXPECT_EQ((8 + n) % 8, 0u);
}

TEST(SafeTensors, ParsesAHandWrittenFile) {
  // Two BF16 values and a zero-sized tensor, as another writer lays it out.
  std::string header =
      R"({"x":{"dtype":"BF16","shape":[2],"data_offsets":[0,4]},)"
      R"("empty":{"dtype":"F32","shape":[0,3],"data_offsets":[4,4]}})";
  auto file = parseImage(image(header, std::string("\x80\x3f\x00\x40", 4)));
  ASSERT_TRUE(bool(file)) << llvm::toString(file.takeError());
  EXPECT_EQ(file->tensors().size(), 2u);
  EXPECT_EQ(file->lookup("x")->dtype, DType::BF16);
  EXPECT_EQ(file->lookup("empty")->numElements(), 0);
}

TEST(SafeTensors, CorruptHeadersAreErrors) {
  auto entry = [](const char *rest) {
    return std::string(R"({"t":{"dtype":"F32","shape":[2],)") + rest + "}}";
  };
  std::string eight(8, 'x');
  struct Case {
    std::string bytes;
    const char *message;
  } cases[] = {
      {std::string(5, '\0'), "less than the 8-byte header length"},
      {image("{}", "").substr(0, 9), "truncated: the header needs 2 bytes"},
      {[] {
         std::string s(8, '\0');
         llvm::support::endian::write64le(s.data(), 1ull << 40);
         return s;
       }(),
       "exceeds the format's limit"},
      {image("{not json", ""), "header is not valid JSON"},
      {image("[1,2]", ""), "header is not a JSON object"},
      {image(R"({"t":3})", ""), "tensor 't': entry is not an object"},
      {image(R"({"t":{"dtype":"F33","shape":[2],"data_offsets":[0,8]}})",
             eight),
       "unknown dtype 'F33'"},
      {image(R"({"t":{"shape":[2],"data_offsets":[0,8]}})", eight),
       "missing dtype"},
      {image(R"({"t":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}})",
             eight),
       "non-negative integers"},
      {image(entry(R"("data_offsets":[0,8],"extra":1)"), eight),
       "unknown field 'extra'"},
      {image(entry(R"("data_offsets":[8,0])"), eight), "0 <= begin <= end"},
      {image(entry(R"("data_offsets":[0])"), eight), "[begin, end]"},
      {image(entry(R"("data_offsets":[0,16])"), eight),
       "exceed the 8-byte data buffer"},
      {image(entry(R"("data_offsets":[0,4])"), eight),
       "holds 4 bytes, its shape and dtype need 8"},
      {image(entry(R"("data_offsets":[4,12])"), std::string(12, 'x')),
       "bytes [0, 4) belong to no tensor"},
      {image(entry(R"("data_offsets":[0,8])"), std::string(12, 'x')),
       "after the last tensor belong to no tensor"},
      {image(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
             R"("b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})",
             eight),
       "overlaps the previous one"},
      {image(R"({"__metadata__":{"k":1}})", ""), "is not a string"},
      {image(R"({"t":{"dtype":"U8","shape":[4294967296,4294967296,16],)"
             R"("data_offsets":[0,8]}})",
             eight),
       "need too many"},
  };
  for (const Case &c : cases) {
    std::string error = errorOf(c.bytes);
    EXPECT_NE(error.find(c.message), std::string::npos)
        << "expected '" << c.message << "', got '" << error << "'";
  }
}

TEST(SafeTensors, EveryTruncationIsAnError) {
  std::string good =
      image(R"({"t":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})",
            std::string(8, 'x'));
  ASSERT_EQ(errorOf(good), "");
  for (size_t n = 0; n < good.size(); ++n)
    EXPECT_NE(errorOf(good.substr(0, n)), "") << "prefix of " << n;
}

TEST(SafeTensors, WriteRejectsBadTensorsAndLeavesNoFile) {
  std::string path = tempPath("bad.safetensors");
  float one = 1;
  llvm::ArrayRef<char> four(reinterpret_cast<const char *>(&one), 4);
  llvm::Error dup = write(path, {TensorData{"a", DType::F32, {1}, four},
                                 TensorData{"a", DType::F32, {1}, four}});
  EXPECT_TRUE(bool(dup));
  EXPECT_NE(llvm::toString(std::move(dup)).find("reserved or repeated"),
            std::string::npos);
  llvm::Error size = write(path, {TensorData{"a", DType::F32, {2}, four}});
  EXPECT_TRUE(bool(size));
  llvm::consumeError(std::move(size));
  EXPECT_FALSE(llvm::sys::fs::exists(path));
  std::error_code ec;
  llvm::sys::fs::directory_iterator it(llvm::sys::path::parent_path(path), ec);
  EXPECT_EQ(it, llvm::sys::fs::directory_iterator()) << "a temporary was left";
}
