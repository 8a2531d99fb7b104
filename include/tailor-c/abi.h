/*===- tailor-c/abi.h - What a compiled model exports ----------------------===
 *
 * A model compiled by `tailor-compile` (a shared object) exports one function,
 * `tailor_model_abi`, returning the descriptor below: the model's signature
 * and a pointer to its code. The runtime (tailor-c/tailor.h) loads models
 * through it; the JIT in `tailor-run` builds the same descriptor in memory.
 *
 * Calling convention of `invoke` (MLIR's packed form): `args` holds one
 * pointer per 8-byte word of every input's memref descriptor (allocated
 * pointer, aligned pointer, offset, sizes[rank], strides[rank]), in input
 * order, then one pointer to room for the descriptors of all outputs, laid
 * out the same way one after the other. Inputs must be contiguous (identity
 * layout). Outputs are buffers the model allocated with malloc; the caller
 * frees each distinct allocated pointer once (two outputs may share one).
 *
 * KV caches updated in place (`kv_caches` = N > 0; tailor-kv-cache-in-place):
 * input 0 is int64 token ids [B, S], inputs 1..N are caches [B, H, capacity,
 * D] whose first `length` positions are valid, input N + 1 (the last) is
 * `length`, an int64 scalar; output 0 is the logits and outputs 1..N are
 * the presents, which `invoke` does not return: it writes the S new
 * positions of cache i at [length, length + S) (capacity must allow it),
 * and present i is then the first length + S positions of cache i. Only
 * output 0 is written to the outputs' room.
 *===----------------------------------------------------------------------===*/

#ifndef TAILOR_C_ABI_H
#define TAILOR_C_ABI_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define TAILOR_ABI_MAGIC 0x524c4954u /* "TILR" */
#define TAILOR_ABI_VERSION 3u

/** One input or output: ONNX dtype number, rank, sizes (-1 = dynamic). */
typedef struct tailor_abi_tensor {
  const char *name;
  int32_t dtype;
  int32_t rank;
  const int64_t *shape;
} tailor_abi_tensor;

typedef struct tailor_abi_model {
  uint32_t magic;   /**< TAILOR_ABI_MAGIC */
  uint32_t version; /**< TAILOR_ABI_VERSION */
  const char *name; /**< the entry function's name */
  const char *producer; /**< "tailor-compile 0.1.0 (cpu, -O2, znver3)" */
  int32_t num_inputs;
  int32_t num_outputs;
  const tailor_abi_tensor *inputs;
  const tailor_abi_tensor *outputs;
  void (*invoke)(void **args);
  /** Sets the thread count of the model's parallel loops (OpenMP) for the
   *  calling thread; may be null. */
  void (*set_num_threads)(int32_t threads);
  /** The instruction-set extensions the code was compiled for, comma
   *  separated in LLVM's names ("avx2,fma,avx512f"); the runtime refuses to
   *  run a model whose extensions this CPU lacks. May be null or empty (the
   *  JIT compiles for the CPU it runs on). */
  const char *cpu_features;
  /** Number of KV caches updated in place (see above); 0: none, every
   *  output is returned. */
  int32_t kv_caches;
} tailor_abi_model;

/** Called by compiled code when a run-time check fails (e.g. two dynamic
 *  sizes that must broadcast do not); defined by the runtime, which turns
 *  it into an error of the current run. Never returns. */
#if defined(__GNUC__)
__attribute__((noreturn))
#endif
void tailor_rt_fail(const char *message);
/** Exported by a model .so (its embedded runtime): failed checks go to
 *  `handler` (the loading runtime's tailor_rt_fail) when this copy of the
 *  runtime is not the one running the model. */
void tailor_rt_set_fail_handler(void (*handler)(const char *message));

/** The symbol every compiled model exports. */
const tailor_abi_model *tailor_model_abi(void);
typedef const tailor_abi_model *(*tailor_model_abi_fn)(void);

struct tailor_model;
/** A runtime model over a descriptor in memory (the JIT's): the descriptor
 *  and the code it points to must outlive the model. Defined in the runtime
 *  (tailor-c/tailor.h); returns a tailor_status. */
int tailor_model_from_abi(const tailor_abi_model *abi,
                          struct tailor_model **model);

#ifdef __cplusplus
}
#endif

#endif /* TAILOR_C_ABI_H */
