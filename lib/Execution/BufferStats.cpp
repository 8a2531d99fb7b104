//===- BufferStats.cpp - Counting allocation for JIT-compiled code --------===//

#include "tailor/Execution/BufferStats.h"

#include <atomic>
#include <cstdlib>
#include <malloc.h>
#include <cstdio>

namespace {
std::atomic<int64_t> live{0}, peak{0};

void *counted(void *p) {
  if (!p)
    return p;
  static bool trace = std::getenv("TAILOR_BUFFER_TRACE");
  if (trace)
    fprintf(stderr, "alloc %zu live %lld\n", malloc_usable_size(p),
            (long long)live.load());
  int64_t now = live.fetch_add(int64_t(malloc_usable_size(p))) +
                int64_t(malloc_usable_size(p));
  int64_t seen = peak.load(std::memory_order_relaxed);
  while (now > seen && !peak.compare_exchange_weak(seen, now))
    ;
  return p;
}
} // namespace

mlir::tailor::BufferStats mlir::tailor::bufferStats() {
  return {live.load(), peak.load()};
}

void mlir::tailor::resetBufferStats() {
  live = 0;
  peak = 0;
}

extern "C" void *tailor_counting_alloc(uint64_t size) {
  return counted(std::malloc(size ? size : 1));
}

extern "C" void *tailor_counting_aligned_alloc(uint64_t alignment,
                                               uint64_t size) {
  void *p = nullptr;
  if (alignment < sizeof(void *))
    alignment = sizeof(void *);
  if (posix_memalign(&p, alignment, size ? size : 1) != 0)
    return nullptr;
  return counted(p);
}

extern "C" void tailor_counting_free(void *ptr) {
  if (!ptr)
    return;
  static bool trace = std::getenv("TAILOR_BUFFER_TRACE");
  if (trace)
    fprintf(stderr, "free %zu live %lld\n", malloc_usable_size(ptr),
            (long long)live.load());
  live.fetch_sub(int64_t(malloc_usable_size(ptr)));
  std::free(ptr);
}
