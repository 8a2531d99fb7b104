//===- SentencePieceShim.cpp - libsentencepiece behind a C API -----------===//
//
// Debian's libsentencepiece carries its own copy of protobuf-lite and
// exports its symbols; linked into a program that also uses libprotobuf
// (the ONNX importer), one library's calls land in the other's copy and
// the program crashes while loading. So Tailor never links it: this shim
// does, and loadSentencePiece() dlopens the shim with RTLD_LOCAL |
// RTLD_DEEPBIND, which keeps each copy to its own library.

#include <sentencepiece_processor.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

extern "C" {

/// A processor for the model file `path`, or null with the reason in
/// `error` (`size` bytes).
void *tailor_spm_load(const char *path, int64_t *vocab, char *error,
                      size_t size) {
  auto *sp = new sentencepiece::SentencePieceProcessor();
  auto status = sp->Load(path);
  if (!status.ok()) {
    std::snprintf(error, size, "%s", status.ToString().c_str());
    delete sp;
    return nullptr;
  }
  *vocab = sp->GetPieceSize();
  return sp;
}

/// The ids of `text` (`length` bytes) in a malloc'ed array (`*count`
/// ids); 0 on success, else the reason in `error`.
int tailor_spm_encode(void *handle, const char *text, size_t length,
                      int64_t **ids, size_t *count, char *error, size_t size) {
  auto *sp = static_cast<sentencepiece::SentencePieceProcessor *>(handle);
  std::vector<int> out;
  auto status = sp->Encode(std::string(text, length), &out);
  if (!status.ok()) {
    std::snprintf(error, size, "%s", status.ToString().c_str());
    return 1;
  }
  *count = out.size();
  *ids =
      static_cast<int64_t *>(std::malloc(sizeof(int64_t) * (out.size() + 1)));
  for (size_t i = 0; i < out.size(); ++i)
    (*ids)[i] = out[i];
  return 0;
}

void tailor_spm_free(void *p) { std::free(p); }

void tailor_spm_unload(void *handle) {
  delete static_cast<sentencepiece::SentencePieceProcessor *>(handle);
}
}
