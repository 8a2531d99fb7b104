/*===- Support.c - Functions the generated code calls ----------------------===
 *
 * Linked into every compiled model so that it needs nothing from LLVM or
 * MLIR at run time. memrefCopy has the signature and semantics of MLIR's
 * C runner utilities (a copy between two strided memrefs of one shape).
 *===----------------------------------------------------------------------===*/

#include <stdint.h>
#include <string.h>

typedef struct {
  int64_t rank;
  void *descriptor;
} tailor_unranked_memref;

/* Descriptor words: allocated, aligned, offset, sizes[rank], strides[rank]. */
void memrefCopy(int64_t elemSize, tailor_unranked_memref *src,
                tailor_unranked_memref *dst) {
  int64_t rank = src->rank;
  const int64_t *s = (const int64_t *)src->descriptor;
  const int64_t *d = (const int64_t *)dst->descriptor;
  const char *from = (const char *)(intptr_t)s[1] + s[2] * elemSize;
  char *to = (char *)(intptr_t)d[1] + d[2] * elemSize;
  const int64_t *sizes = s + 3, *srcStrides = s + 3 + rank,
                *dstStrides = d + 3 + rank;
  if (rank == 0) {
    memcpy(to, from, (size_t)elemSize);
    return;
  }
  for (int64_t i = 0; i < rank; ++i)
    if (sizes[i] == 0)
      return;
  /* The innermost run of contiguous elements both sides share. */
  int64_t inner = 1, dims = rank;
  while (dims > 0 && srcStrides[dims - 1] == inner &&
         dstStrides[dims - 1] == inner) {
    inner *= sizes[dims - 1];
    --dims;
  }
  int64_t index[64] = {0};
  if (dims > 64)
    return;
  for (;;) {
    int64_t a = 0, b = 0;
    for (int64_t i = 0; i < dims; ++i) {
      a += index[i] * srcStrides[i];
      b += index[i] * dstStrides[i];
    }
    memmove(to + b * elemSize, from + a * elemSize, (size_t)(inner * elemSize));
    int64_t i = dims;
    while (i-- > 0) {
      if (++index[i] < sizes[i])
        break;
      index[i] = 0;
    }
    if (i < 0)
      return;
  }
}
