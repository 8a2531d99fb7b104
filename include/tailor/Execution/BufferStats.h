//===- BufferStats.h - Bytes of the buffers JIT-compiled code holds -------===//
//
// Code compiled with TargetOptions::countBuffers allocates and frees its
// buffers (memref.alloc / memref.dealloc: activations, gradients,
// temporaries, results; not the weights, which are globals) through
// counting functions: the bytes it holds now and the most it held since the
// last reset. Process-wide; a caller measuring one run resets before it.
// TAILOR_BUFFER_TRACE=1 in the environment prints every allocation and
// free with the bytes live before it (stderr): where a peak comes from.

#ifndef TAILOR_EXECUTION_BUFFERSTATS_H
#define TAILOR_EXECUTION_BUFFERSTATS_H

#include <cstdint>

namespace mlir::tailor {

struct BufferStats {
  /// Bytes allocated since the reset and not freed (results the runtime
  /// frees itself stay counted).
  int64_t live = 0;
  /// The most `live` was since the reset.
  int64_t peak = 0;
};
BufferStats bufferStats();
/// Zeroes both counters.
void resetBufferStats();

} // namespace mlir::tailor

extern "C" {
/// The allocation functions MLIR's finalize-memref-to-llvm calls with
/// use-generic-functions (the JIT binds them; see TargetOptions).
void *tailor_counting_alloc(uint64_t size);
void *tailor_counting_aligned_alloc(uint64_t alignment, uint64_t size);
void tailor_counting_free(void *ptr);
}

#endif // TAILOR_EXECUTION_BUFFERSTATS_H
