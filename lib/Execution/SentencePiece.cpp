//===- SentencePiece.cpp - Text rows through a SentencePiece model --------===//
//
// tailor-train --tokenizer sentencepiece: Debian's libsentencepiece,
// reached through libtailor_spm (SentencePieceShim.cpp), which is loaded
// here with RTLD_LOCAL | RTLD_DEEPBIND so that sentencepiece's bundled
// protobuf never meets the ONNX importer's libprotobuf.

#include "tailor/Execution/Training.h"

#include "llvm/ADT/Twine.h"

#include <dlfcn.h>

#include <memory>

using namespace mlir::tailor::train;

namespace {
struct Shim {
  void *(*load)(const char *, int64_t *, char *, size_t) = nullptr;
  int (*encode)(void *, const char *, size_t, int64_t **, size_t *, char *,
                size_t) = nullptr;
  void (*free)(void *) = nullptr;
  void (*unload)(void *) = nullptr;
};

llvm::Expected<const Shim *> shim() {
  static Shim s;
  static std::string error;
  static bool tried = false;
  if (!tried) {
    tried = true;
    void *lib = dlopen(TAILOR_SPM_SHIM, RTLD_NOW | RTLD_LOCAL | RTLD_DEEPBIND);
    if (!lib) {
      error = dlerror();
    } else {
      s.load =
          reinterpret_cast<decltype(s.load)>(dlsym(lib, "tailor_spm_load"));
      s.encode =
          reinterpret_cast<decltype(s.encode)>(dlsym(lib, "tailor_spm_encode"));
      s.free =
          reinterpret_cast<decltype(s.free)>(dlsym(lib, "tailor_spm_free"));
      s.unload =
          reinterpret_cast<decltype(s.unload)>(dlsym(lib, "tailor_spm_unload"));
      if (!s.load || !s.encode || !s.free || !s.unload)
        error = "libtailor_spm lacks its functions";
    }
  }
  if (!error.empty())
    return llvm::createStringError(llvm::inconvertibleErrorCode(),
                                   "cannot load SentencePiece (" + error + ")");
  return &s;
}
} // namespace

llvm::Expected<TextEncoder>
mlir::tailor::train::loadSentencePiece(llvm::StringRef path,
                                       int64_t &vocabSize) {
  auto s = shim();
  if (!s)
    return s.takeError();
  const Shim *api = *s;
  char error[512] = "";
  void *handle =
      api->load(std::string(path).c_str(), &vocabSize, error, sizeof(error));
  if (!handle)
    return llvm::createStringError(llvm::inconvertibleErrorCode(),
                                   path + ": not a SentencePiece model (" +
                                       error + ")");
  std::shared_ptr<void> processor(handle, api->unload);
  return TextEncoder([processor, api](llvm::StringRef text)
                         -> llvm::Expected<std::vector<int64_t>> {
    int64_t *ids = nullptr;
    size_t count = 0;
    char error[512] = "";
    if (api->encode(processor.get(), text.data(), text.size(), &ids, &count,
                    error, sizeof(error)))
      return llvm::createStringError(llvm::inconvertibleErrorCode(),
                                     llvm::Twine("SentencePiece: ") + error);
    std::vector<int64_t> out(ids, ids + count);
    api->free(ids);
    return out;
  });
}
