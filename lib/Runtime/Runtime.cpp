//===- Runtime.cpp - The Tailor C runtime ---------------------------------===//
//
// Plain C++17 with no LLVM or MLIR dependency: this file is linked into
// every compiled model (.so) and into libtailor_runtime. Every entry point
// catches allocation failures and reports errors through a status plus a
// per-thread message; none aborts on bad input.

#include "tailor-c/abi.h"
#include "tailor-c/tailor.h"

#include <dlfcn.h>
#include <elf.h>
#include <malloc.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <csetjmp>
#include <cerrno>
#include <cmath>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <new>
#include <memory>
#include <numeric>
#include <random>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

// Set in a compiled model's .so (its own descriptor); null elsewhere.
extern "C" __attribute__((weak)) const tailor_abi_model *tailor_model_abi(void);

namespace {

thread_local std::string lastError;

tailor_status fail(tailor_status status, const char *format, ...)
    __attribute__((format(printf, 2, 3)));
tailor_status fail(tailor_status status, const char *format, ...) {
  char buffer[1024];
  va_list args;
  va_start(args, format);
  vsnprintf(buffer, sizeof buffer, format, args);
  va_end(args);
  lastError = buffer;
  return status;
}

/// Runs `body`, turning an allocation failure into a status.
template <typename F> tailor_status guard(F &&body) {
  try {
    return body();
  } catch (const std::bad_alloc &) {
    return fail(TAILOR_OUT_OF_MEMORY, "out of memory");
  } catch (const std::length_error &) {
    return fail(TAILOR_OUT_OF_MEMORY, "out of memory");
  }
}

std::string describe(int32_t dtype, int32_t rank, const int64_t *shape) {
  std::string s = tailor_dtype_name(dtype);
  s += "[";
  for (int32_t i = 0; i < rank; ++i) {
    if (i)
      s += ",";
    s += shape[i] < 0 ? "?" : std::to_string(shape[i]);
  }
  return s + "]";
}

/// A buffer the model allocated (an output), as its descriptor words.
struct Buffer {
  std::vector<int64_t> words; // allocated, aligned, offset, sizes, strides
  int32_t dtype = 0;
  int32_t rank() const { return int32_t((words.size() - 3) / 2); }
  void *allocated() const { return reinterpret_cast<void *>(words[0]); }
  char *data() const {
    return reinterpret_cast<char *>(words[1]) +
           words[2] * int64_t(tailor_dtype_size(dtype));
  }
  const int64_t *shape() const { return words.data() + 3; }
  int64_t numElements() const {
    int64_t n = 1;
    for (int32_t i = 0; i < rank(); ++i)
      n *= shape()[i];
    return n;
  }
};

/// Frees each distinct allocated pointer of `buffers` once, except those in
/// `keep`.
/// Allocates nothing (it runs in destructors); quadratic in the (small)
/// number of buffers.
void freeBuffers(const Buffer *buffers, size_t count,
                 const void *const *keep = nullptr, size_t keepCount = 0,
                 const Buffer *extra = nullptr) {
  auto seen = [&](const void *p, size_t upTo) {
    for (size_t j = 0; j < keepCount; ++j)
      if (keep[j] == p)
        return true;
    for (size_t j = 0; j < upTo; ++j)
      if (buffers[j].allocated() == p)
        return true;
    return false;
  };
  for (size_t i = 0; i < count; ++i) {
    void *p = buffers[i].allocated();
    if (p && !seen(p, i))
      free(p);
  }
  if (extra && extra->words.size() >= 3) {
    void *p = extra->allocated();
    if (p && !seen(p, count))
      free(p);
  }
}
void freeBuffers(const std::vector<Buffer> &buffers,
                 const std::vector<void *> &keep = {}) {
  freeBuffers(buffers.data(), buffers.size(), keep.data(), keep.size());
}

alignas(64) char emptyData[64];

/// Where a failed run-time check of the running model returns to (set
/// while the runtime calls a model on this thread), and its message.
thread_local std::jmp_buf *failJump = nullptr;
thread_local const char *failMessage = nullptr;
/// A model .so carries its own copy of this runtime; when another runtime
/// (libtailor_runtime, the Python module) loaded it and runs it, failed
/// checks are forwarded to that runtime's tailor_rt_fail.
void (*failForward)(const char *) = nullptr;

struct FreeDeleter {
  void operator()(char *p) const { free(p); }
};
/// Scratch memory of a run (contiguous copies of strided inputs).
using Scratch = std::vector<std::unique_ptr<char, FreeDeleter>>;

} // namespace

struct tailor_model {
  void *handle = nullptr; // dlopen handle; null for an in-memory descriptor
  const tailor_abi_model *abi = nullptr;
  int32_t threads = 0;
  /// The signature callers see: with in-place KV caches, the descriptor's
  /// last input (the cache length) is not among `inputs`.
  std::vector<tailor_tensor_info> inputs, outputs;
  /// KV caches updated in place (inputs/outputs 1..caches; tailor-c/abi.h).
  int32_t caches = 0;

  /// Whether `invoke` returns output `i` (the presents of in-place caches
  /// it does not).
  bool returns(size_t i) const {
    return caches == 0 || i == 0 || i > size_t(caches);
  }

  /// One call of the model: the compiled entry's inputs as descriptor words
  /// (contiguous data), the outputs it returns as buffers the caller now
  /// owns.
  tailor_status invoke(std::vector<std::vector<int64_t>> &inputWords,
                       std::vector<Buffer> &results) {
    std::vector<void *> args;
    for (auto &words : inputWords)
      for (int64_t &w : words)
        args.push_back(&w);
    size_t resultWords = 0;
    for (size_t i = 0; i < outputs.size(); ++i)
      if (returns(i))
        resultWords += 3 + 2 * size_t(outputs[i].rank);
    std::vector<int64_t> out(std::max<size_t>(resultWords, 1), 0);
    if (resultWords)
      args.push_back(out.data());
    if (threads > 0 && abi->set_num_threads)
      abi->set_num_threads(threads);
    // A failed check inside the model (tailor_rt_fail) comes back here.
    // Only the generated code's frames are skipped (no destructors); the
    // buffers it had allocated in this run are lost.
    std::jmp_buf jump;
    std::jmp_buf *outer = failJump;
    failJump = &jump;
    if (setjmp(jump) != 0) {
      failJump = outer;
      return fail(TAILOR_SHAPE_MISMATCH,
                  "the model rejected its inputs at run time: %s",
                  failMessage ? failMessage : "a check failed");
    }
    abi->invoke(args.data());
    failJump = outer;
    results.clear();
    size_t pos = 0;
    for (size_t i = 0; i < outputs.size(); ++i) {
      if (!returns(i))
        continue;
      const tailor_tensor_info &o = outputs[i];
      Buffer b;
      b.dtype = o.dtype;
      b.words.assign(out.begin() + pos, out.begin() + pos + 3 + 2 * o.rank);
      pos += 3 + 2 * size_t(o.rank);
      results.push_back(std::move(b));
    }
    return TAILOR_OK;
  }
};

struct tailor_result {
  std::vector<Buffer> buffers;
  ~tailor_result() { freeBuffers(buffers.data(), buffers.size()); }
};

extern "C" {

/// Called by compiled code when a run-time check fails (see the pass
/// tailor-assert-to-error).
void tailor_rt_fail(const char *message) {
  if (failJump) {
    failMessage = message;
    std::longjmp(*failJump, 1);
  }
  if (failForward && failForward != &tailor_rt_fail)
    failForward(message);
  std::fprintf(stderr, "%s\n", message ? message : "tailor: a check failed");
  std::abort();
}

/// Set by the runtime that loads this model (see failForward).
void tailor_rt_set_fail_handler(void (*handler)(const char *)) {
  failForward = handler;
}

const char *tailor_last_error(void) { return lastError.c_str(); }

const char *tailor_dtype_name(int32_t dtype) {
  switch (dtype) {
  case TAILOR_FLOAT32: return "float32";
  case TAILOR_UINT8: return "uint8";
  case TAILOR_INT8: return "int8";
  case TAILOR_UINT16: return "uint16";
  case TAILOR_INT16: return "int16";
  case TAILOR_INT32: return "int32";
  case TAILOR_INT64: return "int64";
  case TAILOR_BOOL: return "bool";
  case TAILOR_FLOAT16: return "float16";
  case TAILOR_FLOAT64: return "float64";
  case TAILOR_UINT32: return "uint32";
  case TAILOR_UINT64: return "uint64";
  case TAILOR_BFLOAT16: return "bfloat16";
  default: return "unknown";
  }
}

size_t tailor_dtype_size(int32_t dtype) {
  switch (dtype) {
  case TAILOR_UINT8: case TAILOR_INT8: case TAILOR_BOOL: return 1;
  case TAILOR_UINT16: case TAILOR_INT16: case TAILOR_FLOAT16:
  case TAILOR_BFLOAT16: return 2;
  case TAILOR_FLOAT32: case TAILOR_INT32: case TAILOR_UINT32: return 4;
  case TAILOR_INT64: case TAILOR_FLOAT64: case TAILOR_UINT64: return 8;
  default: return 0;
  }
}

/// A model allocates and frees its intermediate buffers on every run. With
/// glibc's defaults, large ones are mmap'ed and unmapped each time and the
/// heap top is trimmed, so every run faults its pages in again (~8% of a
/// prefill). Keep them: buffers up to 32 MiB come from the heap, and freed
/// memory stays with the process. TAILOR_KEEP_MALLOC_DEFAULTS=1 opts out.
/// Whether this CPU has the x86 extension `name` (LLVM's spelling, as in a
/// descriptor's cpu_features); true for a name the runtime cannot check.
static bool cpuHas(const std::string &name) {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_cpu_init();
  // __builtin_cpu_supports takes string literals only: one row each.
  const std::pair<const char *, bool> known[] = {
      {"avx", __builtin_cpu_supports("avx")},
      {"avx2", __builtin_cpu_supports("avx2")},
      {"fma", __builtin_cpu_supports("fma")},
      {"avx512f", __builtin_cpu_supports("avx512f")},
      {"avx512bw", __builtin_cpu_supports("avx512bw")},
      {"avx512dq", __builtin_cpu_supports("avx512dq")},
      {"avx512vl", __builtin_cpu_supports("avx512vl")},
      {"avx512vnni", __builtin_cpu_supports("avx512vnni")},
      {"avx512bf16", __builtin_cpu_supports("avx512bf16")},
      {"avx512fp16", __builtin_cpu_supports("avx512fp16")},
      {"amx-tile", __builtin_cpu_supports("amx-tile")}};
  for (const auto &[feature, present] : known)
    if (name == feature)
      return present;
#endif
  (void)name;
  return true;
}

/// The extensions in the comma-separated `features` this CPU lacks.
static std::string missingCPUFeatures(const char *features) {
  std::string missing, name;
  for (const char *c = features;; ++c) {
    if (*c && *c != ',') {
      name += *c;
      continue;
    }
    if (!name.empty() && !cpuHas(name))
      missing += (missing.empty() ? "" : ",") + name;
    name.clear();
    if (!*c)
      return missing;
  }
}

static void tuneAllocator() {
  static bool done = [] {
#if defined(__GLIBC__)
    const char *keep = std::getenv("TAILOR_KEEP_MALLOC_DEFAULTS");
    if (!keep || std::strcmp(keep, "1") != 0) {
      mallopt(M_MMAP_THRESHOLD, 32 << 20);
      mallopt(M_TRIM_THRESHOLD, 1 << 30);
    }
#endif
    return true;
  }();
  (void)done;
}

static tailor_status adopt(const tailor_abi_model *abi, void *handle,
                           const char *what, tailor_model **model) {
  tuneAllocator();
  if (!abi)
    return fail(TAILOR_INVALID_MODEL, "%s: tailor_model_abi returned null",
                what);
  if (abi->magic != TAILOR_ABI_MAGIC)
    return fail(TAILOR_INVALID_MODEL,
                "%s: not a Tailor model (bad descriptor magic 0x%08x)", what,
                abi->magic);
  if (abi->version != TAILOR_ABI_VERSION)
    return fail(TAILOR_INVALID_MODEL,
                "%s: model ABI version %u; this runtime reads version %u "
                "(recompile the model with a matching tailor-compile)",
                what, abi->version, TAILOR_ABI_VERSION);
  if (abi->cpu_features) {
    std::string missing = missingCPUFeatures(abi->cpu_features);
    if (!missing.empty())
      return fail(TAILOR_INVALID_MODEL,
                  "%s: compiled for CPU extensions this machine lacks (%s); "
                  "recompile it here (tailor-compile --target-cpu=host)",
                  what, missing.c_str());
  }
  if (!abi->invoke || abi->num_inputs < 0 || abi->num_outputs < 0 ||
      (abi->num_inputs && !abi->inputs) || (abi->num_outputs && !abi->outputs))
    return fail(TAILOR_INVALID_MODEL, "%s: malformed model descriptor", what);
  auto check = [&](const tailor_abi_tensor &t) {
    if (t.rank < 0 || t.rank > 64 || (t.rank && !t.shape) ||
        !tailor_dtype_size(t.dtype))
      return false;
    for (int32_t i = 0; i < t.rank; ++i)
      if (t.shape[i] < -1)
        return false;
    return true;
  };
  for (int32_t i = 0; i < abi->num_inputs; ++i)
    if (!check(abi->inputs[i]))
      return fail(TAILOR_INVALID_MODEL, "%s: malformed descriptor of input %d",
                  what, i);
  for (int32_t i = 0; i < abi->num_outputs; ++i)
    if (!check(abi->outputs[i]))
      return fail(TAILOR_INVALID_MODEL,
                  "%s: malformed descriptor of output %d", what, i);
  int32_t caches = abi->kv_caches;
  if (caches) {
    // ids, caches, length in; logits, presents out (tailor-c/abi.h).
    bool ok = caches > 0 && abi->num_inputs == caches + 2 &&
              abi->num_outputs == caches + 1 &&
              abi->inputs[0].dtype == TAILOR_INT64 &&
              abi->inputs[0].rank == 2 &&
              abi->inputs[caches + 1].dtype == TAILOR_INT64 &&
              abi->inputs[caches + 1].rank == 0;
    for (int32_t i = 1; ok && i <= caches; ++i) {
      const tailor_abi_tensor &in = abi->inputs[i], &out = abi->outputs[i];
      ok = in.rank == 4 && out.rank == 4 && in.dtype == out.dtype &&
           in.shape[1] >= 0 && in.shape[3] >= 0;
    }
    if (!ok)
      return fail(TAILOR_INVALID_MODEL,
                  "%s: malformed descriptor (in-place KV caches)", what);
  }
  return guard([&] {
    auto *m = new tailor_model();
    m->handle = handle;
    m->abi = abi;
    auto info = [](const tailor_abi_tensor &t) {
      return tailor_tensor_info{t.name ? t.name : "", t.dtype, t.rank,
                                t.shape};
    };
    m->caches = caches;
    for (int32_t i = 0; i < abi->num_inputs - (caches ? 1 : 0); ++i)
      m->inputs.push_back(info(abi->inputs[i]));
    for (int32_t i = 0; i < abi->num_outputs; ++i)
      m->outputs.push_back(info(abi->outputs[i]));
    *model = m;
    return TAILOR_OK;
  });
}

int tailor_model_from_abi(const tailor_abi_model *abi, tailor_model **model) {
  if (!model)
    return fail(TAILOR_INVALID_ARGUMENT, "model is null");
  *model = nullptr;
  return adopt(abi, nullptr, "in-memory model", model);
}

/// Checks that `path` is a whole ELF shared object for this machine before
/// dlopen maps it: a truncated file would map pages past its end, and the
/// first touch of one kills the process (SIGBUS) instead of failing.
static tailor_status checkElf(const char *path) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return fail(TAILOR_INVALID_MODEL, "cannot open '%s': %s", path,
                strerror(errno));
  struct stat st;
  Elf64_Ehdr eh;
  bool ok = fstat(fd, &st) == 0 &&
            pread(fd, &eh, sizeof eh, 0) == ssize_t(sizeof eh);
  uint64_t size = ok ? uint64_t(st.st_size) : 0;
  const char *why = nullptr;
  if (!ok || std::memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0)
    why = "not an ELF file";
  else if (eh.e_ident[EI_CLASS] != ELFCLASS64 || eh.e_type != ET_DYN)
    why = "not a 64-bit ELF shared object";
#if defined(__x86_64__)
  else if (eh.e_machine != EM_X86_64)
    why = "built for another architecture";
#elif defined(__aarch64__)
  else if (eh.e_machine != EM_AARCH64)
    why = "built for another architecture";
#endif
  else if (eh.e_phentsize != sizeof(Elf64_Phdr) ||
           eh.e_phoff + uint64_t(eh.e_phnum) * sizeof(Elf64_Phdr) > size)
    why = "truncated (program headers past the end of the file)";
  else if (eh.e_shoff &&
           eh.e_shoff + uint64_t(eh.e_shnum) * eh.e_shentsize > size)
    why = "truncated (section headers past the end of the file)";
  for (int i = 0; !why && i < eh.e_phnum; ++i) {
    Elf64_Phdr ph;
    if (pread(fd, &ph, sizeof ph, off_t(eh.e_phoff + i * sizeof ph)) !=
        ssize_t(sizeof ph))
      why = "unreadable program header";
    else if (ph.p_type == PT_LOAD && ph.p_offset + ph.p_filesz > size)
      why = "truncated (a segment ends past the end of the file)";
  }
  close(fd);
  if (why)
    return fail(TAILOR_INVALID_MODEL, "cannot load '%s': %s", path, why);
  return TAILOR_OK;
}

tailor_status tailor_model_load(const char *path, tailor_model **model) {
  if (!model)
    return fail(TAILOR_INVALID_ARGUMENT, "model is null");
  *model = nullptr;
  if (!path) {
    if (!&tailor_model_abi)
      return fail(TAILOR_NOT_FOUND,
                  "no model is linked into this program; pass the path of "
                  "a compiled model");
    return adopt(tailor_model_abi(), nullptr, "the linked model", model);
  }
  // A bare file name is a file here, not a library on the search path.
  std::string file = std::strchr(path, '/') ? path : std::string("./") + path;
  if (tailor_status s = checkElf(file.c_str()))
    return s;
  // RTLD_LOCAL: every model keeps its own symbols (several can be loaded).
  void *handle = dlopen(file.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!handle) {
    const char *why = dlerror();
    return fail(TAILOR_INVALID_MODEL, "cannot load '%s': %s", path,
                why ? why : "unknown error");
  }
  auto fn = reinterpret_cast<tailor_model_abi_fn>(
      dlsym(handle, "tailor_model_abi"));
  if (!fn) {
    dlclose(handle);
    return fail(TAILOR_INVALID_MODEL,
                "'%s' is not a Tailor model (it exports no tailor_model_abi)",
                path);
  }
  tailor_status status = adopt(fn(), handle, path, model);
  if (status != TAILOR_OK) {
    dlclose(handle);
    return status;
  }
  // The model's failed checks must reach this runtime, which runs it.
  using SetHandler = void (*)(void (*)(const char *));
  if (auto set = reinterpret_cast<SetHandler>(
          dlsym(handle, "tailor_rt_set_fail_handler")))
    set(&tailor_rt_fail);
  return status;
}

void tailor_model_unload(tailor_model *model) {
  if (!model)
    return;
  if (model->handle)
    dlclose(model->handle);
  delete model;
}

int32_t tailor_model_num_inputs(const tailor_model *model) {
  return model ? int32_t(model->inputs.size()) : 0;
}
int32_t tailor_model_num_outputs(const tailor_model *model) {
  return model ? int32_t(model->outputs.size()) : 0;
}

static tailor_status infoAt(const std::vector<tailor_tensor_info> &list,
                            const char *what, int32_t index,
                            tailor_tensor_info *info) {
  if (!info)
    return fail(TAILOR_INVALID_ARGUMENT, "info is null");
  if (index < 0 || size_t(index) >= list.size())
    return fail(TAILOR_OUT_OF_RANGE, "%s %d does not exist (the model has %zu)",
                what, index, list.size());
  *info = list[index];
  return TAILOR_OK;
}

tailor_status tailor_model_input_info(const tailor_model *model, int32_t index,
                                      tailor_tensor_info *info) {
  if (!model)
    return fail(TAILOR_INVALID_ARGUMENT, "model is null");
  return infoAt(model->inputs, "input", index, info);
}

tailor_status tailor_model_output_info(const tailor_model *model,
                                       int32_t index,
                                       tailor_tensor_info *info) {
  if (!model)
    return fail(TAILOR_INVALID_ARGUMENT, "model is null");
  return infoAt(model->outputs, "output", index, info);
}

tailor_status tailor_model_find_input(const tailor_model *model,
                                      const char *name, int32_t *index) {
  if (!model || !name || !index)
    return fail(TAILOR_INVALID_ARGUMENT, "null argument");
  for (size_t i = 0; i < model->inputs.size(); ++i)
    if (std::strcmp(model->inputs[i].name, name) == 0) {
      *index = int32_t(i);
      return TAILOR_OK;
    }
  return fail(TAILOR_NOT_FOUND, "the model has no input named '%s'", name);
}

const char *tailor_model_producer(const tailor_model *model) {
  return model && model->abi->producer ? model->abi->producer : "";
}

tailor_status tailor_model_set_num_threads(tailor_model *model,
                                           int32_t threads) {
  if (!model)
    return fail(TAILOR_INVALID_ARGUMENT, "model is null");
  if (threads < 0)
    return fail(TAILOR_INVALID_ARGUMENT, "thread count %d is negative",
                threads);
  model->threads = threads;
  return TAILOR_OK;
}

/// Checks `t` against the signature and appends its descriptor words (a
/// contiguous copy goes to `copies` when `t` is strided).
static tailor_status bindInput(const tailor_tensor_info &spec, int32_t index,
                               const tailor_tensor &t,
                               std::vector<int64_t> &words,
                               Scratch &copies) {
  if (t.dtype != spec.dtype)
    return fail(TAILOR_DTYPE_MISMATCH,
                "input %d ('%s') has dtype %s; the model expects %s", index,
                spec.name, tailor_dtype_name(t.dtype),
                tailor_dtype_name(spec.dtype));
  if (t.rank != spec.rank || (t.rank && !t.shape))
    return fail(TAILOR_SHAPE_MISMATCH,
                "input %d ('%s') has rank %d; the model expects %s", index,
                spec.name, t.rank,
                describe(spec.dtype, spec.rank, spec.shape).c_str());
  int64_t n = 1;
  for (int32_t i = 0; i < t.rank; ++i) {
    bool bad = t.shape[i] < 0 || (spec.shape[i] >= 0 && t.shape[i] != spec.shape[i]);
    if (bad)
      return fail(TAILOR_SHAPE_MISMATCH,
                  "input %d ('%s') is %s; the model expects %s", index,
                  spec.name, describe(t.dtype, t.rank, t.shape).c_str(),
                  describe(spec.dtype, spec.rank, spec.shape).c_str());
    if (t.shape[i] && n > INT64_MAX / t.shape[i])
      return fail(TAILOR_SHAPE_MISMATCH, "input %d ('%s') is too large", index,
                  spec.name);
    n *= t.shape[i];
  }
  if (n > 0 && !t.data)
    return fail(TAILOR_INVALID_ARGUMENT, "input %d ('%s') has no data", index,
                spec.name);
  size_t elem = tailor_dtype_size(t.dtype);
  if (uint64_t(n) > (SIZE_MAX - 63) / elem)
    return fail(TAILOR_SHAPE_MISMATCH, "input %d ('%s') is too large", index,
                spec.name);
  char *data = n ? static_cast<char *>(t.data) : emptyData;
  bool contiguous = true;
  if (t.strides && n) {
    int64_t expect = 1;
    for (int32_t i = t.rank; i-- > 0;) {
      if (t.shape[i] != 1 && t.strides[i] != expect)
        contiguous = false;
      expect *= t.shape[i];
    }
  }
  if (!contiguous) {
    // Gather the strided view into a contiguous buffer.
    size_t bytes = (size_t(n) * elem + 63) / 64 * 64;
    std::unique_ptr<char, FreeDeleter> copy(
        static_cast<char *>(aligned_alloc(64, bytes)));
    if (!copy)
      throw std::bad_alloc();
    std::vector<int64_t> idx(t.rank, 0);
    for (int64_t e = 0; e < n; ++e) {
      int64_t at = 0;
      for (int32_t i = 0; i < t.rank; ++i)
        at += idx[i] * t.strides[i];
      std::memcpy(copy.get() + e * elem, data + at * int64_t(elem), elem);
      for (int32_t i = t.rank; i-- > 0;) {
        if (++idx[i] < t.shape[i])
          break;
        idx[i] = 0;
      }
    }
    data = copy.get();
    copies.push_back(std::move(copy));
  }
  auto ptr = reinterpret_cast<int64_t>(data);
  words.assign(3 + 2 * size_t(t.rank), 0);
  words[0] = words[1] = ptr;
  int64_t stride = 1;
  for (int32_t i = t.rank; i-- > 0;) {
    words[3 + i] = t.shape[i];
    words[3 + t.rank + i] = stride;
    stride *= t.shape[i];
  }
  return TAILOR_OK;
}

/// True when [p, p+size) overlaps an input's memory (the caller's).
static bool withinInputs(const void *p,
                         const std::vector<std::vector<int64_t>> &inputWords,
                         const std::vector<tailor_tensor_info> &specs) {
  for (size_t i = 0; i < std::min(inputWords.size(), specs.size()); ++i) {
    const auto &w = inputWords[i];
    int64_t n = 1;
    int32_t rank = specs[i].rank;
    for (int32_t d = 0; d < rank; ++d)
      n *= w[3 + d];
    auto *base = reinterpret_cast<const char *>(w[1]);
    size_t bytes = size_t(n) * tailor_dtype_size(specs[i].dtype);
    if (p >= base && p < base + std::max<size_t>(bytes, 1))
      return true;
  }
  return false;
}

/// A KV cache of a model that updates its caches in place: [B, H,
/// capacity, D] (`shape` gives B, H, D), its first `length` positions
/// copied from `from` (contiguous [B, H, fromCapacity, D]; may be null when
/// `length` is 0). Throws std::bad_alloc.
static Buffer newCache(int32_t dtype, const int64_t *shape, int64_t capacity,
                       const char *from, int64_t fromCapacity,
                       int64_t length) {
  size_t elem = tailor_dtype_size(dtype);
  int64_t rows = shape[0] * shape[1], row = shape[3] * int64_t(elem);
  if (capacity < 0 || (rows && capacity > INT64_MAX / 2 / rows) ||
      (row && rows * capacity > INT64_MAX / 2 / row))
    throw std::bad_alloc();
  size_t bytes = size_t(rows * capacity * row);
  void *p = aligned_alloc(64, (std::max<size_t>(bytes, 1) + 63) / 64 * 64);
  if (!p)
    throw std::bad_alloc();
  for (int64_t r = 0; r < rows && length > 0; ++r)
    std::memcpy(static_cast<char *>(p) + r * capacity * row,
                from + r * fromCapacity * row, size_t(length * row));
  Buffer b;
  b.dtype = dtype;
  auto ptr = reinterpret_cast<int64_t>(p);
  int64_t sizes[4] = {shape[0], shape[1], capacity, shape[3]};
  b.words = {ptr, ptr, 0, sizes[0], sizes[1], sizes[2], sizes[3],
             sizes[1] * sizes[2] * sizes[3], sizes[2] * sizes[3], sizes[3], 1};
  return b;
}

/// Frees `buffers` when it goes out of scope (unless released).
struct OwnedBuffers {
  std::vector<Buffer> buffers;
  ~OwnedBuffers() { freeBuffers(buffers.data(), buffers.size()); }
};

tailor_status tailor_model_run(tailor_model *model, const tailor_tensor *inputs,
                               int32_t num_inputs, tailor_result **result) {
  if (!model || !result)
    return fail(TAILOR_INVALID_ARGUMENT, "null argument");
  *result = nullptr;
  if (num_inputs != int32_t(model->inputs.size()))
    return fail(TAILOR_INVALID_ARGUMENT, "the model takes %zu inputs, %d given",
                model->inputs.size(), num_inputs);
  if (num_inputs && !inputs)
    return fail(TAILOR_INVALID_ARGUMENT, "inputs is null");
  return guard([&] {
    std::vector<std::vector<int64_t>> words(num_inputs);
    Scratch copies;
    for (int32_t i = 0; i < num_inputs; ++i)
      if (tailor_status s =
              bindInput(model->inputs[i], i, inputs[i], words[i], copies))
        return s;
    // In-place caches: each past is copied into a cache with room for the
    // new positions, which become the present outputs.
    OwnedBuffers caches;
    int64_t length = 0;
    if (model->caches) {
      int64_t count = words[0][3 + 1];
      length = words[1][3 + 2];
      for (int32_t i = 1; i <= model->caches; ++i) {
        const int64_t *shape = words[i].data() + 3;
        if (shape[2] != length)
          return fail(TAILOR_SHAPE_MISMATCH,
                      "input %d ('%s') holds %lld positions, input 1 ('%s') "
                      "%lld: every past input must hold the same number",
                      i, model->inputs[i].name, (long long)shape[2],
                      model->inputs[1].name, (long long)length);
        if (count > INT64_MAX / 4 - length)
          throw std::bad_alloc();
        caches.buffers.push_back(newCache(
            model->inputs[i].dtype, shape, length + count,
            reinterpret_cast<const char *>(words[i][1]), length, length));
        words[i] = caches.buffers.back().words;
      }
      auto at = reinterpret_cast<int64_t>(&length);
      words.push_back({at, at, 0});
    }
    auto res = std::make_unique<tailor_result>();
    if (tailor_status s = model->invoke(words, res->buffers))
      return s;
    // An output inside an input's memory (not expected: the compiler clones
    // such results) is copied out and never freed. Every such output is
    // marked first, so that a failed copy frees none of the caller's memory.
    std::vector<size_t> aliased;
    for (size_t i = 0; i < res->buffers.size(); ++i)
      if (withinInputs(res->buffers[i].allocated(), words, model->inputs))
        aliased.push_back(i);
    for (size_t i : aliased)
      res->buffers[i].words[0] = 0; // the view stays, nothing to free
    for (size_t i : aliased) {
      Buffer &b = res->buffers[i];
      size_t bytes = size_t(b.numElements()) * tailor_dtype_size(b.dtype);
      void *copy = malloc(std::max<size_t>(bytes, 1));
      if (!copy)
        throw std::bad_alloc();
      std::memcpy(copy, b.data(), bytes);
      b.words[0] = b.words[1] = reinterpret_cast<int64_t>(copy);
      b.words[2] = 0;
    }
    if (model->caches) {
      res->buffers.reserve(res->buffers.size() + caches.buffers.size());
      res->buffers.insert(res->buffers.begin() + 1,
                          std::make_move_iterator(caches.buffers.begin()),
                          std::make_move_iterator(caches.buffers.end()));
      caches.buffers.clear(); // the result owns them now
    }
    *result = res.release();
    return TAILOR_OK;
  });
}

int32_t tailor_result_num_outputs(const tailor_result *result) {
  return result ? int32_t(result->buffers.size()) : 0;
}

tailor_status tailor_result_output(const tailor_result *result, int32_t index,
                                   tailor_tensor *view) {
  if (!result || !view)
    return fail(TAILOR_INVALID_ARGUMENT, "null argument");
  if (index < 0 || size_t(index) >= result->buffers.size())
    return fail(TAILOR_OUT_OF_RANGE, "output %d does not exist (%zu outputs)",
                index, result->buffers.size());
  const Buffer &b = result->buffers[index];
  view->dtype = b.dtype;
  view->rank = b.rank();
  view->shape = b.shape();
  view->strides = b.words.data() + 3 + b.rank();
  view->data = b.data();
  return TAILOR_OK;
}

void tailor_result_free(tailor_result *result) { delete result; }

} // extern "C"

//===----------------------------------------------------------------------===//
// Generation
//===----------------------------------------------------------------------===//

struct tailor_session {
  tailor_model *model = nullptr;
  std::vector<Buffer> past;  // the KV cache: the last run's present outputs
  Buffer logits;             // the last run's logits output
  std::vector<int64_t> tokens;
  int64_t vocab = 0;

  void release() {
    // No allocation here: it runs in the destructor.
    freeBuffers(past.data(), past.size(), nullptr, 0, &logits);
    past.clear();
    logits.words.clear();
  }
  ~tailor_session() { release(); }

  /// Makes room in the in-place caches for `count` more positions:
  /// larger caches (doubling) hold the valid positions of the old ones. On
  /// failure (it throws) the old caches stay.
  void reserveCaches(size_t count) {
    int64_t length = int64_t(tokens.size());
    int64_t capacity = past.empty() ? 0 : past[0].shape()[2];
    if (count > size_t(INT64_MAX / 4 - length))
      throw std::bad_alloc();
    if (length + int64_t(count) <= capacity)
      return;
    int64_t grown = std::max<int64_t>({length + int64_t(count), 2 * capacity,
                                       int64_t(16)});
    OwnedBuffers fresh;
    fresh.buffers.reserve(size_t(model->caches));
    for (int32_t i = 1; i <= model->caches; ++i) {
      const tailor_tensor_info &spec = model->inputs[i];
      int64_t shape[4] = {1, spec.shape[1], 0, spec.shape[3]};
      const Buffer *old = past.empty() ? nullptr : &past[i - 1];
      fresh.buffers.push_back(newCache(spec.dtype, shape, grown,
                                       old ? old->data() : nullptr, capacity,
                                       old ? length : 0));
    }
    past.reserve(fresh.buffers.size());
    freeBuffers(past.data(), past.size());
    past = std::move(fresh.buffers);
    fresh.buffers.clear();
  }

  /// Binds `count` token ids as input 0, [1, count] (contiguous: nothing
  /// is copied).
  tailor_status bindIds(const int64_t *ids, size_t count,
                        std::vector<int64_t> &words) {
    int64_t shape[2] = {1, int64_t(count)};
    tailor_tensor view{TAILOR_INT64, 2, shape, nullptr,
                       const_cast<int64_t *>(ids)};
    Scratch unused;
    return bindInput(model->inputs[0], 0, view, words, unused);
  }

  /// A step of a model with in-place caches: the new positions are written
  /// into the caches, only the logits come back.
  tailor_status stepInPlace(const int64_t *ids, size_t count) {
    reserveCaches(count);
    const auto &specs = model->inputs;
    std::vector<std::vector<int64_t>> words(specs.size() + 1);
    if (tailor_status s = bindIds(ids, count, words[0]))
      return s;
    for (size_t i = 1; i < specs.size(); ++i)
      words[i] = past[i - 1].words;
    int64_t length = int64_t(tokens.size());
    auto at = reinterpret_cast<int64_t>(&length);
    words.back() = {at, at, 0};
    tokens.reserve(tokens.size() + count);
    std::vector<Buffer> results;
    if (tailor_status s = model->invoke(words, results))
      return s;
    const int64_t *ls = results[0].shape();
    // Only the logits are returned: a buffer of the caller or the runtime
    // (ids, a cache, the length) would not be the model's to give away.
    if (withinInputs(results[0].allocated(), words, specs) ||
        results[0].allocated() == static_cast<void *>(&length)) {
      results[0].words[0] = 0; // nothing to free
      return fail(TAILOR_INVALID_MODEL,
                  "the logits output of the model aliases one of its inputs");
    }
    if (ls[0] != 1 || ls[1] != int64_t(count) || ls[2] <= 0) {
      std::string got = describe(results[0].dtype, 3, ls);
      freeBuffers(results);
      return fail(TAILOR_SHAPE_MISMATCH,
                  "the logits are %s; expected float32[1,%zu,vocab]",
                  got.c_str(), count);
    }
    if (logits.words.size() >= 3)
      free(logits.allocated());
    logits = std::move(results[0]);
    vocab = ls[2];
    tokens.insert(tokens.end(), ids, ids + count);
    return TAILOR_OK;
  }

  /// Runs the model on `count` new tokens and the cache.
  tailor_status step(const int64_t *ids, size_t count) {
    if (model->caches)
      return stepInPlace(ids, count);
    const auto &specs = model->inputs;
    std::vector<std::vector<int64_t>> words(specs.size());
    if (tailor_status s = bindIds(ids, count, words[0]))
      return s;
    Scratch copies;
    for (size_t i = 1; i < specs.size(); ++i) {
      if (!past.empty()) {
        const Buffer &b = past[i - 1];
        int64_t *shape = const_cast<int64_t *>(b.shape());
        tailor_tensor view{b.dtype, b.rank(), shape, nullptr, b.data()};
        if (tailor_status s = bindInput(specs[i], int32_t(i), view, words[i],
                                        copies))
          return fail(s, "the KV cache no longer fits the model: %s",
                      lastError.c_str());
        continue;
      }
      // An empty cache: batch 1, every other dynamic dim 0.
      std::vector<int64_t> shape;
      for (int32_t d = 0; d < specs[i].rank; ++d)
        shape.push_back(specs[i].shape[d] >= 0 ? specs[i].shape[d]
                                               : (d == 0 ? 1 : 0));
      tailor_tensor view{specs[i].dtype, specs[i].rank, shape.data(), nullptr,
                         emptyData};
      if (tailor_status s =
              bindInput(specs[i], int32_t(i), view, words[i], copies))
        return s;
    }
    std::vector<Buffer> results;
    if (tailor_status s = model->invoke(words, results))
      return s;
    // Check the results, and reserve what committing needs, before the
    // session changes: a failure leaves the previous cache in place.
    auto dropResults = [&] {
      std::vector<void *> keep;
      for (const Buffer &b : past)
        keep.push_back(b.allocated());
      if (logits.words.size() >= 3)
        keep.push_back(logits.allocated());
      freeBuffers(results, keep);
    };
    const int64_t *ls = results[0].shape();
    bool aliasesInput = false;
    for (const Buffer &b : results)
      aliasesInput |= withinInputs(b.allocated(), words, specs);
    if (ls[0] != 1 || ls[1] != int64_t(count) || ls[2] <= 0 || aliasesInput) {
      std::string got = describe(results[0].dtype, 3, ls);
      dropResults();
      if (aliasesInput)
        return fail(TAILOR_INVALID_MODEL,
                    "an output of the model aliases its token ids");
      return fail(TAILOR_SHAPE_MISMATCH,
                  "the logits are %s; expected float32[1,%zu,vocab]",
                  got.c_str(), count);
    }
    std::vector<void *> keep;
    std::vector<Buffer> old;
    try {
      tokens.reserve(tokens.size() + count);
      keep.reserve(results.size());
      old.reserve(past.size() + 1);
      past.reserve(results.size() - 1);
      for (const Buffer &b : results)
        keep.push_back(b.allocated());
      old = past;
      if (logits.words.size() >= 3)
        old.push_back(logits);
    } catch (...) {
      dropResults();
      throw;
    }
    // Commit (nothing below allocates): the old cache and logits go,
    // unless an output aliases them.
    freeBuffers(old, keep);
    logits = std::move(results[0]);
    for (size_t i = 1; i < results.size(); ++i)
      past.size() >= i ? (void)(past[i - 1] = std::move(results[i]))
                       : past.push_back(std::move(results[i]));
    vocab = ls[2];
    tokens.insert(tokens.end(), ids, ids + count);
    return TAILOR_OK;
  }

  const float *lastLogits() const {
    return reinterpret_cast<const float *>(logits.data()) +
           (logits.shape()[1] - 1) * vocab;
  }
};

struct tailor_sampler {
  tailor_sampling params;
  std::mt19937_64 rng;
  std::vector<float> scratch;
  std::vector<int64_t> order;
  std::vector<char> seen;
  std::vector<double> prob;

  /// A uniform double in [0, 1), the same on every platform.
  double uniform() { return double(rng() >> 11) * 0x1.0p-53; }
};

extern "C" {

tailor_status tailor_session_create(tailor_model *model,
                                    tailor_session **session) {
  if (!model || !session)
    return fail(TAILOR_INVALID_ARGUMENT, "null argument");
  *session = nullptr;
  const auto &in = model->inputs;
  const auto &out = model->outputs;
  if (in.size() < 2 || in[0].dtype != TAILOR_INT64 || in[0].rank != 2 ||
      out.size() != in.size() || out[0].dtype != TAILOR_FLOAT32 ||
      out[0].rank != 3)
    return fail(TAILOR_UNSUPPORTED,
                "not a causal LM with a KV cache: generation needs input 0 "
                "int64 token ids [batch, sequence] and past_* inputs 1..N, "
                "output 0 float32 logits [batch, sequence, vocab] and "
                "present_* outputs 1..N");
  for (size_t i = 1; i < in.size(); ++i)
    if (in[i].dtype != out[i].dtype || in[i].rank != out[i].rank)
      return fail(TAILOR_UNSUPPORTED,
                  "cache input %zu ('%s', %s) does not match output %zu "
                  "('%s', %s)",
                  i, in[i].name,
                  describe(in[i].dtype, in[i].rank, in[i].shape).c_str(), i,
                  out[i].name,
                  describe(out[i].dtype, out[i].rank, out[i].shape).c_str());
  return guard([&] {
    auto *s = new tailor_session();
    s->model = model;
    s->vocab = out[0].shape[2] > 0 ? out[0].shape[2] : 0;
    *session = s;
    return TAILOR_OK;
  });
}

void tailor_session_free(tailor_session *session) { delete session; }

void tailor_session_reset(tailor_session *session) {
  if (!session)
    return;
  session->release();
  session->tokens.clear();
}

int64_t tailor_session_length(const tailor_session *session) {
  return session ? int64_t(session->tokens.size()) : 0;
}

int64_t tailor_session_vocab_size(const tailor_session *session) {
  return session ? session->vocab : 0;
}

tailor_status tailor_session_prefill(tailor_session *session,
                                     const int64_t *tokens, size_t count,
                                     const float **logits) {
  if (!session || (count && !tokens))
    return fail(TAILOR_INVALID_ARGUMENT, "null argument");
  if (!count)
    return fail(TAILOR_INVALID_ARGUMENT, "no tokens to prefill");
  if (session->vocab > 0)
    for (size_t i = 0; i < count; ++i)
      if (tokens[i] < 0 || tokens[i] >= session->vocab)
        return fail(TAILOR_OUT_OF_RANGE,
                    "token %lld (position %zu) is outside the vocabulary "
                    "[0, %lld)",
                    (long long)tokens[i], i, (long long)session->vocab);
  return guard([&] {
    if (tailor_status s = session->step(tokens, count))
      return s;
    if (logits)
      *logits = session->lastLogits();
    return TAILOR_OK;
  });
}

tailor_status tailor_session_decode_step(tailor_session *session,
                                         int64_t token, const float **logits) {
  return tailor_session_prefill(session, &token, 1, logits);
}

tailor_sampling tailor_sampling_default(void) {
  return tailor_sampling{0.0f, 0, 1.0f, 1.0f, 0};
}

tailor_status tailor_sampler_create(const tailor_sampling *params,
                                    tailor_sampler **sampler) {
  if (!params || !sampler)
    return fail(TAILOR_INVALID_ARGUMENT, "null argument");
  *sampler = nullptr;
  if (!(params->temperature >= 0) || std::isinf(params->temperature))
    return fail(TAILOR_INVALID_ARGUMENT,
                "temperature %g must be finite and >= 0 (0: greedy)",
                params->temperature);
  if (params->top_k < 0)
    return fail(TAILOR_INVALID_ARGUMENT, "top_k %d must be >= 0 (0: all)",
                params->top_k);
  if (!(params->top_p > 0 && params->top_p <= 1))
    return fail(TAILOR_INVALID_ARGUMENT, "top_p %g must be in (0, 1]",
                params->top_p);
  if (!(params->repetition_penalty > 0) ||
      std::isinf(params->repetition_penalty))
    return fail(TAILOR_INVALID_ARGUMENT,
                "repetition_penalty %g must be finite and > 0 (1: none)",
                params->repetition_penalty);
  return guard([&] {
    auto *s = new tailor_sampler();
    s->params = *params;
    s->rng.seed(params->seed);
    *sampler = s;
    return TAILOR_OK;
  });
}

void tailor_sampler_free(tailor_sampler *sampler) { delete sampler; }

tailor_status tailor_sampler_sample(tailor_sampler *sampler,
                                    const float *logits, int64_t vocab,
                                    const int64_t *history, size_t count,
                                    int64_t *token) {
  if (!sampler || !logits || !token || (count && !history))
    return fail(TAILOR_INVALID_ARGUMENT, "null argument");
  if (vocab <= 0)
    return fail(TAILOR_INVALID_ARGUMENT, "vocabulary size %lld",
                (long long)vocab);
  return guard([&] {
    const tailor_sampling &p = sampler->params;
    std::vector<float> &x = sampler->scratch;
    x.assign(logits, logits + vocab);
    // NaN logits rank last (a strict weak order for the sorts below).
    for (float &v : x)
      if (std::isnan(v))
        v = -INFINITY;
    // Repetition penalty (CTRL, as Hugging Face applies it): once per
    // distinct token of the context.
    if (p.repetition_penalty != 1.0f) {
      std::vector<char> &seen = sampler->seen;
      seen.assign(size_t(vocab), 0);
      for (size_t i = 0; i < count; ++i) {
        int64_t t = history[i];
        if (t < 0 || t >= vocab || seen[t])
          continue;
        seen[t] = 1;
        float &v = x[t];
        v = v > 0 ? v / p.repetition_penalty : v * p.repetition_penalty;
      }
    }
    if (p.temperature == 0.0f) {
      *token = std::max_element(x.begin(), x.end()) - x.begin();
      return TAILOR_OK;
    }
    // Candidates by descending logit (ties: lower id first), cut to top_k.
    std::vector<int64_t> &order = sampler->order;
    order.resize(vocab);
    std::iota(order.begin(), order.end(), 0);
    int64_t keep = p.top_k > 0 ? std::min<int64_t>(p.top_k, vocab) : vocab;
    auto before = [&](int64_t a, int64_t b) {
      return x[a] > x[b] || (x[a] == x[b] && a < b);
    };
    if (keep < vocab)
      std::partial_sort(order.begin(), order.begin() + keep, order.end(),
                        before);
    else
      std::sort(order.begin(), order.end(), before);
    order.resize(keep);
    // Softmax of logit / temperature over the candidates (in double, the
    // maximum subtracted first: a tiny temperature stays finite).
    double top = x[order[0]], total = 0;
    if (std::isinf(top)) { // +inf wins outright; all -inf: nothing to weigh
      *token = order[0];
      return TAILOR_OK;
    }
    std::vector<double> &prob = sampler->prob;
    prob.assign(size_t(keep), 0.0);
    for (int64_t i = 0; i < keep; ++i)
      total += prob[i] = std::isinf(x[order[i]]) && x[order[i]] < 0
                             ? 0.0
                             : std::exp((double(x[order[i]]) - top) /
                                        double(p.temperature));
    // Nucleus: the smallest prefix whose mass reaches top_p.
    if (p.top_p < 1.0f) {
      double mass = 0;
      int64_t n = 0;
      while (n < keep) {
        mass += prob[n++] / total;
        if (mass >= p.top_p)
          break;
      }
      keep = n;
      total = std::accumulate(prob.begin(), prob.begin() + keep, 0.0);
    }
    double r = sampler->uniform() * total, acc = 0;
    *token = order[keep - 1];
    for (int64_t i = 0; i < keep; ++i) {
      acc += prob[i];
      if (r < acc) {
        *token = order[i];
        break;
      }
    }
    return TAILOR_OK;
  });
}

tailor_status tailor_generate(tailor_session *session, const int64_t *prompt,
                              size_t prompt_count, size_t max_new_tokens,
                              const tailor_sampling *params, int64_t eos_token,
                              tailor_token_callback callback, void *user_data,
                              int64_t *out, size_t *out_count) {
  if (!session || !out_count || (max_new_tokens && !out))
    return fail(TAILOR_INVALID_ARGUMENT, "null argument");
  *out_count = 0;
  tailor_sampling greedy = tailor_sampling_default();
  tailor_sampler *sampler = nullptr;
  if (tailor_status s = tailor_sampler_create(params ? params : &greedy,
                                              &sampler))
    return s;
  std::unique_ptr<tailor_sampler, void (*)(tailor_sampler *)> owner(
      sampler, tailor_sampler_free);
  const float *logits = nullptr;
  if (prompt_count) {
    if (tailor_status s =
            tailor_session_prefill(session, prompt, prompt_count, &logits))
      return s;
  } else if (session->tokens.empty()) {
    return fail(TAILOR_INVALID_ARGUMENT,
                "an empty prompt and an empty context: nothing to continue");
  } else {
    logits = session->lastLogits();
  }
  for (size_t i = 0; i < max_new_tokens; ++i) {
    int64_t next;
    if (tailor_status s = tailor_sampler_sample(
            sampler, logits, session->vocab, session->tokens.data(),
            session->tokens.size(), &next))
      return s;
    out[(*out_count)++] = next;
    if ((callback && callback(next, user_data)) || next == eos_token ||
        i + 1 == max_new_tokens)
      break;
    if (tailor_status s = tailor_session_decode_step(session, next, &logits))
      return s;
  }
  return TAILOR_OK;
}

} // extern "C"
