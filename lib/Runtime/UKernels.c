/*===- UKernels.c - Micro-kernels the generated code calls ---------------===
 *
 * Library calls for the products whose inner loop needs instructions the
 * vectorizer does not pick on its own (as IREE's ukernels): the generated
 * code owns the data layout, the threads and everything around the call;
 * a kernel computes one tile of columns for all rows. Each has a portable
 * strided version (any host, any layout: the reference) and an AVX2 one
 * chosen at run time for the layouts the compiler produces.
 *
 * tailor_q4_matmul / tailor_q4z_matmul: int4 weights x int8 activations,
 * the `linalg.generic {library_call = "tailor_q4_matmul"}` the CPU lowering
 * emits for an int4 linear (see Contraction.cpp):
 *   xq [M, K/8, 2, 4] i8   activations quantized per row and group
 *   xs [M, groups]    f32  their scales
 *   wp [T, K/8, 8, 4] i8   weights packed in tiles of 8 columns: byte
 *                          (t, kb, c, i) holds column t*8+c, rows kb*8+i
 *                          (low nibble) and kb*8+4+i (high), as u = q + 8
 *   ws [T, groups, 8] f32  weight scales per group and column
 *   wz [T, groups, 8] i8   (q4z only) zero points in u's range; else 8
 *   y  [M, T, 8]      f32  accumulated: y += xs * ws * sum xq * (u - z)
 * The AVX2 kernel multiplies bytes (vpmaddubsw: u in [0, 15] unsigned,
 * xq signed, pair sums far from i16 saturation), widens to i32 once per
 * 8 rows of K, and applies both scales once per group: integer sums are
 * exact, so it differs from the reference only by float rounding.
 *
 * tailor_q8_matmul: int8 weights x int8 activations (W8A8, one scale per
 * row of activations and per column of weights):
 *   xq [M, K/2, 2]    i16  activations quantized per row, in [-127, 127]
 *   xs [M, 1]         f32  their scales
 *   wp [T, K/2, 8, 2] i8   weights in tiles of 8 columns: (t, p, c, i) is
 *                          row 2p+i of column t*8+c
 *   ws [T, 8]         f32  weight scales per column
 *   y  [M, T, 8]      f32  accumulated: y += xs * ws * sum xq * w
 * The AVX2 kernel sign-extends the weights to i16 and multiplies pairs
 * with vpmaddwd (16 products per instruction, twice an FMA's 8), summing
 * in i32 over all of K (exact up to K = 2^31 / 127^2 = 133143).
 *===----------------------------------------------------------------------===*/

#include <stdint.h>
#include <stdlib.h>

#if defined(__x86_64__) || defined(_M_X64)
#include <immintrin.h>
#define TAILOR_UKERNEL_X86 1
#endif

/* MLIR's memref descriptors (C interface): allocated, aligned, offset,
 * sizes, strides. */
typedef struct {
  int8_t *allocated, *data;
  int64_t offset, sizes[4], strides[4];
} tailor_memref_i8_4d;
typedef struct {
  int8_t *allocated, *data;
  int64_t offset, sizes[3], strides[3];
} tailor_memref_i8_3d;
typedef struct {
  int16_t *allocated, *data;
  int64_t offset, sizes[3], strides[3];
} tailor_memref_i16_3d;
typedef struct {
  float *allocated, *data;
  int64_t offset, sizes[2], strides[2];
} tailor_memref_f32_2d;
typedef struct {
  float *allocated, *data;
  int64_t offset, sizes[3], strides[3];
} tailor_memref_f32_3d;

typedef struct {
  int64_t rows, tiles, blocks, groups; /* M, T, K/8, groups */
  const int8_t *xq;
  int64_t xqRow;
  const float *xs;
  int64_t xsRow;
  const int8_t *wp;
  int64_t wpTile;
  const float *ws;
  int64_t wsTile;
  const int8_t *wz; /* null: zero point 8 */
  int64_t wzTile;
  float *y;
  int64_t yRow, yTile;
} q4_problem;

/* The reference: any strides, any host. */
static void q4Reference(const tailor_memref_i8_4d *xq,
                        const tailor_memref_f32_2d *xs,
                        const tailor_memref_i8_4d *wp,
                        const tailor_memref_f32_3d *ws,
                        const tailor_memref_i8_3d *wz,
                        tailor_memref_f32_3d *y) {
  int64_t rows = xq->sizes[0], blocks = xq->sizes[1], tiles = wp->sizes[0];
  int64_t groups = xs->sizes[1], perGroup = blocks / groups;
  for (int64_t m = 0; m < rows; ++m)
    for (int64_t t = 0; t < tiles; ++t)
      for (int64_t c = 0; c < 8; ++c) {
        float *out = y->data + y->offset + m * y->strides[0] +
                     t * y->strides[1] + c * y->strides[2];
        float sum = *out;
        for (int64_t g = 0; g < groups; ++g) {
          int32_t dot = 0;
          int32_t z = 8;
          if (wz)
            z = (uint8_t)wz->data[wz->offset + t * wz->strides[0] +
                                  g * wz->strides[1] + c * wz->strides[2]];
          for (int64_t kb = g * perGroup; kb < (g + 1) * perGroup; ++kb)
            for (int64_t h = 0; h < 2; ++h)
              for (int64_t i = 0; i < 4; ++i) {
                uint8_t byte =
                    (uint8_t)wp->data[wp->offset + t * wp->strides[0] +
                                      kb * wp->strides[1] +
                                      c * wp->strides[2] + i * wp->strides[3]];
                int32_t u = h ? byte >> 4 : byte & 15;
                int32_t x = xq->data[xq->offset + m * xq->strides[0] +
                                     kb * xq->strides[1] +
                                     h * xq->strides[2] + i * xq->strides[3]];
                dot += x * (u - z);
              }
          float sx = xs->data[xs->offset + m * xs->strides[0] +
                              g * xs->strides[1]];
          float sw = ws->data[ws->offset + t * ws->strides[0] +
                              g * ws->strides[1] + c * ws->strides[2]];
          sum += sx * sw * (float)dot;
        }
        *out = sum;
      }
}

#ifdef TAILOR_UKERNEL_X86
/* RB rows x TB tiles of 8 columns: TB x RB i32 accumulators per group, the
 * unpacked weights shared by the rows, the activations by the tiles. */
__attribute__((target("avx2,fma"), always_inline)) static inline void
q4Block(const q4_problem *p, const int32_t *xsum, int64_t m, int64_t t,
        const int RB, const int TB) {
  const __m256i low = _mm256_set1_epi8(0x0F);
  const __m256i ones = _mm256_set1_epi16(1);
  int64_t perGroup = p->blocks / p->groups;
  __m256 out[4][4];
  for (int r = 0; r < RB; ++r)
    for (int j = 0; j < TB; ++j)
      out[r][j] = _mm256_loadu_ps(p->y + (m + r) * p->yRow + (t + j) * p->yTile);
  for (int64_t g = 0; g < p->groups; ++g) {
    __m256i acc[4][4];
    for (int r = 0; r < RB; ++r)
      for (int j = 0; j < TB; ++j)
        acc[r][j] = _mm256_setzero_si256();
    for (int64_t kb = g * perGroup; kb < (g + 1) * perGroup; ++kb) {
      __m256i wl[4], wh[4];
      for (int j = 0; j < TB; ++j) {
        __m256i w = _mm256_loadu_si256(
            (const __m256i *)(p->wp + (t + j) * p->wpTile + kb * 32));
        wl[j] = _mm256_and_si256(w, low);
        wh[j] = _mm256_and_si256(_mm256_srli_epi16(w, 4), low);
      }
      for (int r = 0; r < RB; ++r) {
        const int8_t *x = p->xq + (m + r) * p->xqRow + kb * 8;
        int32_t lo4, hi4;
        __builtin_memcpy(&lo4, x, 4);
        __builtin_memcpy(&hi4, x + 4, 4);
        __m256i xl = _mm256_set1_epi32(lo4), xh = _mm256_set1_epi32(hi4);
        for (int j = 0; j < TB; ++j) {
          __m256i s16 = _mm256_add_epi16(_mm256_maddubs_epi16(wl[j], xl),
                                         _mm256_maddubs_epi16(wh[j], xh));
          acc[r][j] = _mm256_add_epi32(acc[r][j], _mm256_madd_epi16(s16, ones));
        }
      }
    }
    for (int r = 0; r < RB; ++r) {
      __m256i sx = _mm256_set1_epi32(xsum[(m + r) * p->groups + g]);
      __m256 scale = _mm256_set1_ps(p->xs[(m + r) * p->xsRow + g]);
      for (int j = 0; j < TB; ++j) {
        __m256i z = _mm256_set1_epi32(8);
        if (p->wz)
          z = _mm256_cvtepu8_epi32(_mm_loadl_epi64(
              (const __m128i *)(p->wz + (t + j) * p->wzTile + g * 8)));
        __m256i dot = _mm256_sub_epi32(acc[r][j], _mm256_mullo_epi32(z, sx));
        __m256 sw = _mm256_loadu_ps(p->ws + (t + j) * p->wsTile + g * 8);
        out[r][j] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(dot),
                                    _mm256_mul_ps(sw, scale), out[r][j]);
      }
    }
  }
  for (int r = 0; r < RB; ++r)
    for (int j = 0; j < TB; ++j)
      _mm256_storeu_ps(p->y + (m + r) * p->yRow + (t + j) * p->yTile, out[r][j]);
}

#define TAILOR_Q4_BLOCK(RB, TB)                                                \
  __attribute__((target("avx2,fma"))) static void q4Block##RB##x##TB(          \
      const q4_problem *p, const int32_t *xsum, int64_t m, int64_t t) {        \
    q4Block(p, xsum, m, t, RB, TB);                                            \
  }
TAILOR_Q4_BLOCK(1, 1)
TAILOR_Q4_BLOCK(1, 4)
TAILOR_Q4_BLOCK(2, 1)
TAILOR_Q4_BLOCK(3, 1)
TAILOR_Q4_BLOCK(4, 1)
TAILOR_Q4_BLOCK(4, 2)

/* Sum of each row's quantized activations per group (groups are multiples
 * of 8 bytes): 32 bytes at a time through vpmaddubsw with ones. */
__attribute__((target("avx2"))) static void q4GroupSums(const q4_problem *p,
                                                        int32_t *xsum) {
  int64_t perGroup = (p->blocks / p->groups) * 8;
  const __m256i ones8 = _mm256_set1_epi8(1), ones16 = _mm256_set1_epi16(1);
  for (int64_t m = 0; m < p->rows; ++m)
    for (int64_t g = 0; g < p->groups; ++g) {
      const int8_t *x = p->xq + m * p->xqRow + g * perGroup;
      __m256i acc = _mm256_setzero_si256();
      int64_t k = 0;
      for (; k + 32 <= perGroup; k += 32)
        acc = _mm256_add_epi32(
            acc, _mm256_madd_epi16(
                     _mm256_maddubs_epi16(
                         ones8, _mm256_loadu_si256((const __m256i *)(x + k))),
                     ones16));
      int32_t lanes[8], s = 0;
      _mm256_storeu_si256((__m256i *)lanes, acc);
      for (int i = 0; i < 8; ++i)
        s += lanes[i];
      for (; k < perGroup; ++k)
        s += x[k];
      xsum[m * p->groups + g] = s;
    }
}

/* A decode step (one row) takes 4 tiles at a time; more rows take row
 * blocks of 4 over 2 tiles, so that each unpacked weight serves 4 rows. */
static void q4Avx2(const q4_problem *p, const int32_t *xsum) {
  int64_t t = 0;
  if (p->rows < 4) {
    for (; t + 4 <= p->tiles; t += 4)
      for (int64_t m = 0; m < p->rows; ++m)
        q4Block1x4(p, xsum, m, t);
    for (; t < p->tiles; ++t)
      for (int64_t m = 0; m < p->rows; ++m)
        q4Block1x1(p, xsum, m, t);
    return;
  }
  for (; t < p->tiles; t += 2) {
    int64_t m = 0;
    if (t + 2 <= p->tiles)
      for (; m + 4 <= p->rows; m += 4)
        q4Block4x2(p, xsum, m, t);
    for (int64_t j = t; j < t + 2 && j < p->tiles; ++j) {
      int64_t r = m;
      for (; r + 4 <= p->rows; r += 4)
        q4Block4x1(p, xsum, r, j);
      switch (p->rows - r) {
      case 3:
        q4Block3x1(p, xsum, r, j);
        break;
      case 2:
        q4Block2x1(p, xsum, r, j);
        break;
      case 1:
        q4Block1x1(p, xsum, r, j);
        break;
      default:
        break;
      }
    }
  }
}
#endif

static void q4Matmul(const tailor_memref_i8_4d *xq,
                     const tailor_memref_f32_2d *xs,
                     const tailor_memref_i8_4d *wp,
                     const tailor_memref_f32_3d *ws,
                     const tailor_memref_i8_3d *wz, tailor_memref_f32_3d *y) {
  int64_t rows = xq->sizes[0], blocks = xq->sizes[1], tiles = wp->sizes[0];
  int64_t groups = xs->sizes[1];
  if (rows == 0 || tiles == 0 || groups == 0)
    return;
#ifdef TAILOR_UKERNEL_X86
  /* The layouts the compiler produces: rows of each operand contiguous. */
  int dense = blocks % groups == 0 && xq->strides[3] == 1 &&
              xq->strides[2] == 4 && xq->strides[1] == 8 &&
              wp->strides[3] == 1 && wp->strides[2] == 4 &&
              wp->strides[1] == 32 && ws->strides[2] == 1 &&
              ws->strides[1] == 8 && xs->strides[1] == 1 &&
              y->strides[2] == 1 &&
              (!wz || (wz->strides[2] == 1 && wz->strides[1] == 8));
  if (dense && __builtin_cpu_supports("avx2") &&
      __builtin_cpu_supports("fma")) {
    q4_problem p = {rows,
                    tiles,
                    blocks,
                    groups,
                    xq->data + xq->offset,
                    xq->strides[0],
                    xs->data + xs->offset,
                    xs->strides[0],
                    wp->data + wp->offset,
                    wp->strides[0],
                    ws->data + ws->offset,
                    ws->strides[0],
                    wz ? wz->data + wz->offset : 0,
                    wz ? wz->strides[0] : 0,
                    y->data + y->offset,
                    y->strides[0],
                    y->strides[1]};
    /* Sum of each row's quantized activations per group: the zero point's
     * share of the dot product. */
    int32_t local[256];
    int32_t *xsum = rows * groups <= 256
                        ? local
                        : (int32_t *)malloc(sizeof(int32_t) * rows * groups);
    if (xsum) {
      q4GroupSums(&p, xsum);
      q4Avx2(&p, xsum);
      if (xsum != local)
        free(xsum);
      return;
    }
  }
#endif
  q4Reference(xq, xs, wp, ws, wz, y);
}

void _mlir_ciface_tailor_q4_matmul(tailor_memref_i8_4d *xq,
                                   tailor_memref_f32_2d *xs,
                                   tailor_memref_i8_4d *wp,
                                   tailor_memref_f32_3d *ws,
                                   tailor_memref_f32_3d *y) {
  q4Matmul(xq, xs, wp, ws, 0, y);
}

void _mlir_ciface_tailor_q4z_matmul(tailor_memref_i8_4d *xq,
                                    tailor_memref_f32_2d *xs,
                                    tailor_memref_i8_4d *wp,
                                    tailor_memref_f32_3d *ws,
                                    tailor_memref_i8_3d *wz,
                                    tailor_memref_f32_3d *y) {
  q4Matmul(xq, xs, wp, ws, wz, y);
}

/*===- W8A8
 * ----------------------------------------------------------------===*/

typedef struct {
  int64_t rows, tiles, pairs; /* M, T, K/2 */
  const int16_t *xq;
  int64_t xqRow;
  const float *xs;
  int64_t xsRow;
  const int8_t *wp;
  int64_t wpTile;
  const float *ws;
  int64_t wsTile;
  float *y;
  int64_t yRow, yTile;
} q8_problem;

static void q8Reference(const tailor_memref_i16_3d *xq,
                        const tailor_memref_f32_2d *xs,
                        const tailor_memref_i8_4d *wp,
                        const tailor_memref_f32_2d *ws,
                        tailor_memref_f32_3d *y) {
  int64_t rows = xq->sizes[0], pairs = xq->sizes[1], tiles = wp->sizes[0];
  for (int64_t m = 0; m < rows; ++m)
    for (int64_t t = 0; t < tiles; ++t)
      for (int64_t c = 0; c < 8; ++c) {
        float *out = y->data + y->offset + m * y->strides[0] +
                     t * y->strides[1] + c * y->strides[2];
        int32_t dot = 0;
        for (int64_t p = 0; p < pairs; ++p)
          for (int64_t i = 0; i < 2; ++i)
            dot += (int32_t)xq->data[xq->offset + m * xq->strides[0] +
                                     p * xq->strides[1] + i * xq->strides[2]] *
                   (int32_t)wp->data[wp->offset + t * wp->strides[0] +
                                     p * wp->strides[1] + c * wp->strides[2] +
                                     i * wp->strides[3]];
        float sx = xs->data[xs->offset + m * xs->strides[0]];
        float sw =
            ws->data[ws->offset + t * ws->strides[0] + c * ws->strides[1]];
        *out += sx * sw * (float)dot;
      }
}

#ifdef TAILOR_UKERNEL_X86
/* RB rows x TB tiles of 8 columns, RB * TB i32 accumulators over all of K:
 * each sign-extended weight vector serves RB rows, each broadcast pair of
 * activations TB tiles. */
__attribute__((target("avx2,fma"), always_inline)) static inline void
q8Block(const q8_problem *p, int64_t m, int64_t t, const int RB, const int TB) {
  __m256i acc[6][4];
  for (int r = 0; r < RB; ++r)
    for (int j = 0; j < TB; ++j)
      acc[r][j] = _mm256_setzero_si256();
  const int8_t *w = p->wp + t * p->wpTile;
  for (int64_t k = 0; k < p->pairs; ++k) {
    __m256i wv[4];
    for (int j = 0; j < TB; ++j)
      wv[j] = _mm256_cvtepi8_epi16(
          _mm_loadu_si128((const __m128i *)(w + j * p->wpTile + k * 16)));
    for (int r = 0; r < RB; ++r) {
      int32_t pair;
      __builtin_memcpy(&pair, p->xq + (m + r) * p->xqRow + k * 2, 4);
      __m256i x = _mm256_set1_epi32(pair);
      for (int j = 0; j < TB; ++j)
        acc[r][j] = _mm256_add_epi32(acc[r][j], _mm256_madd_epi16(wv[j], x));
    }
  }
  for (int r = 0; r < RB; ++r) {
    __m256 sx = _mm256_set1_ps(p->xs[(m + r) * p->xsRow]);
    for (int j = 0; j < TB; ++j) {
      float *out = p->y + (m + r) * p->yRow + (t + j) * p->yTile;
      __m256 scale =
          _mm256_mul_ps(sx, _mm256_loadu_ps(p->ws + (t + j) * p->wsTile));
      _mm256_storeu_ps(out, _mm256_fmadd_ps(_mm256_cvtepi32_ps(acc[r][j]),
                                            scale, _mm256_loadu_ps(out)));
    }
  }
}

#define TAILOR_Q8_BLOCK(RB, TB)                                                \
  __attribute__((target("avx2,fma"))) static void q8Block##RB##x##TB(          \
      const q8_problem *p, int64_t m, int64_t t) {                             \
    q8Block(p, m, t, RB, TB);                                                  \
  }
TAILOR_Q8_BLOCK(1, 4)
TAILOR_Q8_BLOCK(1, 1)
TAILOR_Q8_BLOCK(2, 1)
TAILOR_Q8_BLOCK(3, 1)
TAILOR_Q8_BLOCK(4, 1)
TAILOR_Q8_BLOCK(5, 1)
TAILOR_Q8_BLOCK(6, 1)
TAILOR_Q8_BLOCK(1, 2)
TAILOR_Q8_BLOCK(2, 2)
TAILOR_Q8_BLOCK(3, 2)
TAILOR_Q8_BLOCK(4, 2)
TAILOR_Q8_BLOCK(5, 2)
TAILOR_Q8_BLOCK(6, 2)

typedef void (*q8_block_fn)(const q8_problem *, int64_t, int64_t);

/* A decode step (one row) takes 4 tiles at a time; more rows take blocks of
 * 6 rows x 2 tiles (12 accumulators, 2 weight vectors, 1 broadcast: the 16
 * ymm registers), the weight panel staying in L1 across the row blocks. */
static void q8Avx2(const q8_problem *p) {
  static const q8_block_fn oneTile[7] = {0,          q8Block1x1, q8Block2x1,
                                         q8Block3x1, q8Block4x1, q8Block5x1,
                                         q8Block6x1};
  static const q8_block_fn twoTiles[7] = {0,          q8Block1x2, q8Block2x2,
                                          q8Block3x2, q8Block4x2, q8Block5x2,
                                          q8Block6x2};
  int64_t t = 0;
  if (p->rows == 1)
    for (; t + 4 <= p->tiles; t += 4)
      q8Block1x4(p, 0, t);
  for (; t < p->tiles; t += 2) {
    const q8_block_fn *blocks = t + 2 <= p->tiles ? twoTiles : oneTile;
    int64_t m = 0;
    for (; m + 6 <= p->rows; m += 6)
      blocks[6](p, m, t);
    if (m < p->rows)
      blocks[p->rows - m](p, m, t);
  }
}
#endif

void _mlir_ciface_tailor_q8_matmul(tailor_memref_i16_3d *xq,
                                   tailor_memref_f32_2d *xs,
                                   tailor_memref_i8_4d *wp,
                                   tailor_memref_f32_2d *ws,
                                   tailor_memref_f32_3d *y) {
  int64_t rows = xq->sizes[0], pairs = xq->sizes[1], tiles = wp->sizes[0];
  if (rows == 0 || tiles == 0)
    return;
#ifdef TAILOR_UKERNEL_X86
  int dense = xq->strides[2] == 1 && xq->strides[1] == 2 &&
              wp->strides[3] == 1 && wp->strides[2] == 2 &&
              wp->strides[1] == 16 && ws->strides[1] == 1 && y->strides[2] == 1;
  if (dense && __builtin_cpu_supports("avx2") &&
      __builtin_cpu_supports("fma")) {
    q8_problem p = {rows,           tiles,
                    pairs,          xq->data + xq->offset,
                    xq->strides[0], xs->data + xs->offset,
                    xs->strides[0], wp->data + wp->offset,
                    wp->strides[0], ws->data + ws->offset,
                    ws->strides[0], y->data + y->offset,
                    y->strides[0],  y->strides[1]};
    q8Avx2(&p);
    return;
  }
#endif
  q8Reference(xq, xs, wp, ws, y);
}
