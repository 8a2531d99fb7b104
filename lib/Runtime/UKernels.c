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
 *   xq [M, K/4, 4]     i8  activations quantized per row, in [-127, 127]
 *   xs [M, 1]          f32 their scales
 *   wp [T, K/4, 16, 4] i8  weights in tiles of 16 columns, stored as the
 *                          unsigned byte u = w + 128: (t, q, c, i) is row
 *                          4q+i of column t*16+c
 *   ws [T, 16]         f32 weight scales per column
 *   y  [M, T, 16]      f32 accumulated: y += xs * ws * sum xq * (u - 128)
 * With AVX-512 VNNI, vpdpbusd multiplies u (unsigned) by xq (signed) and
 * sums 4 products per i32 lane, 64 per instruction (4x an FMA's 16); the
 * kernel subtracts 128 * sum(xq) per row at the end. Every sum is exact in
 * i32 up to K = 2^31 / (255 * 127) = 66313. Without VNNI (AVX2), u and xq
 * are widened to i16 and multiplied in pairs with vpmaddwd (16 products
 * per instruction, twice an FMA's 8).
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

/* 2: AVX-512 VNNI where the CPU has it, 1: AVX2 at most, 0: the portable
 * reference only (tests: every path on one machine). */
static int isaLimit = 2;

void tailor_ukernels_limit_isa(int level) { isaLimit = level; }

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
  if (dense && isaLimit >= 1 && __builtin_cpu_supports("avx2") &&
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
  int64_t rows, tiles, quads; /* M, T, K/4 */
  const int8_t *xq;
  int64_t xqRow;
  const float *xs;
  int64_t xsRow;
  const uint8_t *wp;
  int64_t wpTile;
  const float *ws;
  int64_t wsTile;
  float *y;
  int64_t yRow, yTile;
  const int32_t *xsum; /* per row: sum of xq over K */
} q8_problem;

static void q8Reference(const tailor_memref_i8_3d *xq,
                        const tailor_memref_f32_2d *xs,
                        const tailor_memref_i8_4d *wp,
                        const tailor_memref_f32_2d *ws,
                        tailor_memref_f32_3d *y) {
  int64_t rows = xq->sizes[0], quads = xq->sizes[1], tiles = wp->sizes[0];
  for (int64_t m = 0; m < rows; ++m)
    for (int64_t t = 0; t < tiles; ++t)
      for (int64_t c = 0; c < 16; ++c) {
        float *out = y->data + y->offset + m * y->strides[0] +
                     t * y->strides[1] + c * y->strides[2];
        int32_t dot = 0;
        for (int64_t q = 0; q < quads; ++q)
          for (int64_t i = 0; i < 4; ++i)
            dot += (int32_t)xq->data[xq->offset + m * xq->strides[0] +
                                     q * xq->strides[1] + i * xq->strides[2]] *
                   ((int32_t)(uint8_t)wp->data[wp->offset + t * wp->strides[0] +
                                               q * wp->strides[1] +
                                               c * wp->strides[2] +
                                               i * wp->strides[3]] -
                    128);
        float sx = xs->data[xs->offset + m * xs->strides[0]];
        float sw =
            ws->data[ws->offset + t * ws->strides[0] + c * ws->strides[1]];
        *out += sx * sw * (float)dot;
      }
}

#ifdef TAILOR_UKERNEL_X86
/* AVX-512 VNNI: RB rows x TB tiles of 16 columns, RB * TB zmm accumulators
 * over all of K. vpdpbusd multiplies the stored bytes u = w + 128 (its
 * unsigned operand) by a broadcast quad of activations (signed) and adds
 * each 4-product sum to an i32 lane: 64 products per instruction, 4x an
 * FMA's 16; the epilogue takes 128 * sum(x) off. */
__attribute__((target("avx512f,avx512vnni"), always_inline)) static inline void
q8BlockVnni(const q8_problem *p, int64_t m, int64_t t, const int RB,
            const int TB) {
  __m512i acc[6][4];
  for (int r = 0; r < RB; ++r)
    for (int j = 0; j < TB; ++j)
      acc[r][j] = _mm512_setzero_si512();
  const uint8_t *w = p->wp + t * p->wpTile;
  const int8_t *x = p->xq + m * p->xqRow;
  for (int64_t q = 0; q < p->quads; ++q) {
    __m512i wv[4];
    for (int j = 0; j < TB; ++j)
      wv[j] = _mm512_loadu_si512((const void *)(w + j * p->wpTile + q * 64));
    for (int r = 0; r < RB; ++r) {
      int32_t quad;
      __builtin_memcpy(&quad, x + r * p->xqRow + q * 4, 4);
      __m512i xb = _mm512_set1_epi32(quad);
      for (int j = 0; j < TB; ++j)
        acc[r][j] = _mm512_dpbusd_epi32(acc[r][j], wv[j], xb);
    }
  }
  for (int r = 0; r < RB; ++r) {
    __m512 sx = _mm512_set1_ps(p->xs[(m + r) * p->xsRow]);
    __m512i offset = _mm512_set1_epi32(128 * p->xsum[m + r]);
    for (int j = 0; j < TB; ++j) {
      float *out = p->y + (m + r) * p->yRow + (t + j) * p->yTile;
      __m512 scale =
          _mm512_mul_ps(sx, _mm512_loadu_ps(p->ws + (t + j) * p->wsTile));
      __m512 dot = _mm512_cvtepi32_ps(_mm512_sub_epi32(acc[r][j], offset));
      _mm512_storeu_ps(out, _mm512_fmadd_ps(dot, scale, _mm512_loadu_ps(out)));
    }
  }
}

/* One row (decode) over 4 tiles, two quads per step into two sets of
 * accumulators: 8 independent chains hide vpdpbusd's latency. */
__attribute__((target("avx512f,avx512vnni"))) static void
q8DecodeVnni(const q8_problem *p, int64_t t) {
  __m512i a0[4], a1[4];
  for (int j = 0; j < 4; ++j)
    a0[j] = a1[j] = _mm512_setzero_si512();
  const uint8_t *w = p->wp + t * p->wpTile;
  int64_t q = 0;
  for (; q + 2 <= p->quads; q += 2) {
    int32_t quads[2];
    __builtin_memcpy(quads, p->xq + q * 4, 8);
    __m512i x0 = _mm512_set1_epi32(quads[0]), x1 = _mm512_set1_epi32(quads[1]);
    for (int j = 0; j < 4; ++j) {
      const uint8_t *wj = w + j * p->wpTile + q * 64;
      a0[j] = _mm512_dpbusd_epi32(a0[j], _mm512_loadu_si512(wj), x0);
      a1[j] = _mm512_dpbusd_epi32(a1[j], _mm512_loadu_si512(wj + 64), x1);
    }
  }
  if (q < p->quads) {
    int32_t quad;
    __builtin_memcpy(&quad, p->xq + q * 4, 4);
    __m512i x0 = _mm512_set1_epi32(quad);
    for (int j = 0; j < 4; ++j)
      a0[j] = _mm512_dpbusd_epi32(
          a0[j], _mm512_loadu_si512(w + j * p->wpTile + q * 64), x0);
  }
  __m512 sx = _mm512_set1_ps(p->xs[0]);
  __m512i offset = _mm512_set1_epi32(128 * p->xsum[0]);
  for (int j = 0; j < 4; ++j) {
    float *out = p->y + (t + j) * p->yTile;
    __m512 scale =
        _mm512_mul_ps(sx, _mm512_loadu_ps(p->ws + (t + j) * p->wsTile));
    __m512 dot = _mm512_cvtepi32_ps(
        _mm512_sub_epi32(_mm512_add_epi32(a0[j], a1[j]), offset));
    _mm512_storeu_ps(out, _mm512_fmadd_ps(dot, scale, _mm512_loadu_ps(out)));
  }
}

#define TAILOR_Q8_VNNI(RB, TB)                                                 \
  __attribute__((target("avx512f,avx512vnni"))) static void                    \
      q8Vnni##RB##x##TB(const q8_problem *p, int64_t m, int64_t t) {           \
    q8BlockVnni(p, m, t, RB, TB);                                              \
  }
#define TAILOR_Q8_VNNI_ROWS(TB)                                                \
  TAILOR_Q8_VNNI(1, TB) TAILOR_Q8_VNNI(2, TB) TAILOR_Q8_VNNI(3, TB)            \
  TAILOR_Q8_VNNI(4, TB) TAILOR_Q8_VNNI(5, TB) TAILOR_Q8_VNNI(6, TB)
TAILOR_Q8_VNNI_ROWS(1)
TAILOR_Q8_VNNI_ROWS(2)
TAILOR_Q8_VNNI_ROWS(3)
TAILOR_Q8_VNNI_ROWS(4)

typedef void (*q8_block_fn)(const q8_problem *, int64_t, int64_t);

/* Blocks of 6 rows x 4 tiles (24 accumulators, 4 weight vectors, 1
 * broadcast of the 32 zmm registers), the 4-tile weight panel staying in
 * cache across the row blocks; a decode step takes q8DecodeVnni. */
static void q8Vnni(const q8_problem *p) {
#define TAILOR_Q8_VNNI_TILES(RB) {0, q8Vnni##RB##x1, q8Vnni##RB##x2, q8Vnni##RB##x3, q8Vnni##RB##x4}
  static const q8_block_fn blocks[7][5] = {
      {0, 0, 0, 0, 0},          TAILOR_Q8_VNNI_TILES(1),
      TAILOR_Q8_VNNI_TILES(2),  TAILOR_Q8_VNNI_TILES(3),
      TAILOR_Q8_VNNI_TILES(4),  TAILOR_Q8_VNNI_TILES(5),
      TAILOR_Q8_VNNI_TILES(6)};
#undef TAILOR_Q8_VNNI_TILES
  int64_t t = 0;
  if (p->rows == 1)
    for (; t + 4 <= p->tiles; t += 4)
      q8DecodeVnni(p, t);
  for (; t < p->tiles; t += 4) {
    int64_t tb = p->tiles - t < 4 ? p->tiles - t : 4;
    int64_t m = 0;
    for (; m + 6 <= p->rows; m += 6)
      blocks[6][tb](p, m, t);
    if (m < p->rows)
      blocks[p->rows - m][tb](p, m, t);
  }
}

/* AVX2: no byte product is exact for u8 x s8 (vpmaddubsw saturates pair
 * sums), so the weights are zero-extended to i16 (16 bytes: 4 columns x 4
 * rows) and multiplied with vpmaddwd by the quad of activations widened to
 * i16 (x16: the rows copied once per call), 16 products per instruction.
 * A unit is half a tile (8 columns, two accumulators: each lane holds a
 * pair of a column's 4 products); RB rows x HB halves. */
__attribute__((target("avx2,fma"), always_inline)) static inline void
q8BlockAvx2(const q8_problem *p, const int16_t *x16, int64_t m, int64_t h,
            const int RB, const int HB) {
  __m256i acc[6][4][2];
  for (int r = 0; r < RB; ++r)
    for (int j = 0; j < HB; ++j)
      acc[r][j][0] = acc[r][j][1] = _mm256_setzero_si256();
  int64_t k = p->quads * 4;
  for (int64_t q = 0; q < p->quads; ++q) {
    __m256i wv[4][2];
    for (int j = 0; j < HB; ++j) {
      const uint8_t *w =
          p->wp + ((h + j) >> 1) * p->wpTile + q * 64 + ((h + j) & 1) * 32;
      wv[j][0] = _mm256_cvtepu8_epi16(_mm_loadu_si128((const __m128i *)w));
      wv[j][1] =
          _mm256_cvtepu8_epi16(_mm_loadu_si128((const __m128i *)(w + 16)));
    }
    for (int r = 0; r < RB; ++r) {
      int64_t quad;
      __builtin_memcpy(&quad, x16 + (m + r) * k + q * 4, 8);
      __m256i xb = _mm256_set1_epi64x(quad);
      for (int j = 0; j < HB; ++j) {
        acc[r][j][0] =
            _mm256_add_epi32(acc[r][j][0], _mm256_madd_epi16(wv[j][0], xb));
        acc[r][j][1] =
            _mm256_add_epi32(acc[r][j][1], _mm256_madd_epi16(wv[j][1], xb));
      }
    }
  }
  for (int r = 0; r < RB; ++r) {
    __m256 sx = _mm256_set1_ps(p->xs[(m + r) * p->xsRow]);
    __m256i offset = _mm256_set1_epi32(128 * p->xsum[m + r]);
    for (int j = 0; j < HB; ++j) {
      /* [c0 c1 c4 c5 | c2 c3 c6 c7] -> columns in order. */
      __m256i sums = _mm256_permute4x64_epi64(
          _mm256_hadd_epi32(acc[r][j][0], acc[r][j][1]), 0xD8);
      int64_t tile = (h + j) >> 1, half = (h + j) & 1;
      float *out = p->y + (m + r) * p->yRow + tile * p->yTile + half * 8;
      __m256 scale = _mm256_mul_ps(
          sx, _mm256_loadu_ps(p->ws + tile * p->wsTile + half * 8));
      __m256 dot = _mm256_cvtepi32_ps(_mm256_sub_epi32(sums, offset));
      _mm256_storeu_ps(out, _mm256_fmadd_ps(dot, scale, _mm256_loadu_ps(out)));
    }
  }
}

#define TAILOR_Q8_AVX2(RB, HB)                                                 \
  __attribute__((target("avx2,fma"))) static void q8Avx2##RB##x##HB(           \
      const q8_problem *p, const int16_t *x16, int64_t m, int64_t h) {         \
    q8BlockAvx2(p, x16, m, h, RB, HB);                                         \
  }
TAILOR_Q8_AVX2(1, 4)
TAILOR_Q8_AVX2(1, 1)
TAILOR_Q8_AVX2(2, 1)
TAILOR_Q8_AVX2(3, 1)
TAILOR_Q8_AVX2(4, 1)
TAILOR_Q8_AVX2(5, 1)
TAILOR_Q8_AVX2(6, 1)

/* Per row: the sum of its activations (the epilogue's 128 * sum), by
 * vpdpbusd with unsigned ones: 64 bytes per instruction. */
__attribute__((target("avx512f,avx512vnni"))) static void
q8RowSumsVnni(const int8_t *x, int64_t stride, int64_t rows, int64_t k,
              int32_t *xsum) {
  const __m512i ones = _mm512_set1_epi8(1);
  for (int64_t m = 0; m < rows; ++m) {
    const int8_t *row = x + m * stride;
    __m512i acc = _mm512_setzero_si512();
    int64_t i = 0;
    for (; i + 64 <= k; i += 64)
      acc = _mm512_dpbusd_epi32(acc, ones,
                                _mm512_loadu_si512((const void *)(row + i)));
    int32_t s = _mm512_reduce_add_epi32(acc);
    for (; i < k; ++i)
      s += row[i];
    xsum[m] = s;
  }
}

/* AVX2: the rows widened to i16 (x16 [rows, k]) and their sums. */
__attribute__((target("avx2"))) static void
q8RowsAvx2(const int8_t *x, int64_t stride, int64_t rows, int64_t k,
           int32_t *xsum, int16_t *x16) {
  const __m256i ones = _mm256_set1_epi16(1);
  for (int64_t m = 0; m < rows; ++m) {
    const int8_t *row = x + m * stride;
    int16_t *out = x16 + m * k;
    __m256i acc = _mm256_setzero_si256();
    int64_t i = 0;
    for (; i + 16 <= k; i += 16) {
      __m256i v =
          _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(row + i)));
      _mm256_storeu_si256((__m256i *)(out + i), v);
      acc = _mm256_add_epi32(acc, _mm256_madd_epi16(v, ones));
    }
    int32_t lanes[8], s = 0;
    _mm256_storeu_si256((__m256i *)lanes, acc);
    for (int j = 0; j < 8; ++j)
      s += lanes[j];
    for (; i < k; ++i) {
      out[i] = row[i];
      s += row[i];
    }
    xsum[m] = s;
  }
}

typedef void (*q8_avx2_fn)(const q8_problem *, const int16_t *, int64_t,
                           int64_t);

/* A decode step takes 4 halves (2 tiles) at a time; more rows take blocks
 * of 6 rows x 1 half (12 accumulators, 2 weight vectors, 1 broadcast: the
 * 16 ymm registers), the half's weight panel staying in L1 across the row
 * blocks. */
static void q8Avx2(const q8_problem *p, const int16_t *x16) {
  static const q8_avx2_fn oneHalf[7] = {0,           q8Avx21x1, q8Avx22x1,
                                        q8Avx23x1,   q8Avx24x1, q8Avx25x1,
                                        q8Avx26x1};
  int64_t h = 0, halves = 2 * p->tiles;
  if (p->rows == 1)
    for (; h + 4 <= halves; h += 4)
      q8Avx21x4(p, x16, 0, h);
  for (; h < halves; ++h) {
    int64_t m = 0;
    for (; m + 6 <= p->rows; m += 6)
      oneHalf[6](p, x16, m, h);
    if (m < p->rows)
      oneHalf[p->rows - m](p, x16, m, h);
  }
}
#endif

void _mlir_ciface_tailor_q8_matmul(tailor_memref_i8_3d *xq,
                                   tailor_memref_f32_2d *xs,
                                   tailor_memref_i8_4d *wp,
                                   tailor_memref_f32_2d *ws,
                                   tailor_memref_f32_3d *y) {
  int64_t rows = xq->sizes[0], quads = xq->sizes[1], tiles = wp->sizes[0];
  if (rows == 0 || tiles == 0)
    return;
#ifdef TAILOR_UKERNEL_X86
  int dense = xq->strides[2] == 1 && xq->strides[1] == 4 &&
              wp->strides[3] == 1 && wp->strides[2] == 4 &&
              wp->strides[1] == 64 && ws->strides[1] == 1 && y->strides[2] == 1;
  int vnni = isaLimit >= 2 && __builtin_cpu_supports("avx512f") &&
             __builtin_cpu_supports("avx512vnni");
  int avx2 = isaLimit >= 1 && __builtin_cpu_supports("avx2") &&
             __builtin_cpu_supports("fma");
  if (dense && (vnni || avx2)) {
    int64_t k = quads * 4;
    /* Per row: the sum of its activations (the epilogue's 128 * sum), and
     * for AVX2 the row widened to i16. */
    int32_t local[64];
    int32_t *xsum =
        rows <= 64 ? local : (int32_t *)malloc(sizeof(int32_t) * rows);
    int16_t *x16 = vnni ? 0 : (int16_t *)malloc(sizeof(int16_t) * rows * k);
    int ready = xsum && (vnni || x16);
    if (ready) {
      const int8_t *x = xq->data + xq->offset;
      if (vnni)
        q8RowSumsVnni(x, xq->strides[0], rows, k, xsum);
      else
        q8RowsAvx2(x, xq->strides[0], rows, k, xsum, x16);
      q8_problem p = {rows,
                      tiles,
                      quads,
                      x,
                      xq->strides[0],
                      xs->data + xs->offset,
                      xs->strides[0],
                      (const uint8_t *)(wp->data + wp->offset),
                      wp->strides[0],
                      ws->data + ws->offset,
                      ws->strides[0],
                      y->data + y->offset,
                      y->strides[0],
                      y->strides[1],
                      xsum};
      if (vnni)
        q8Vnni(&p);
      else
        q8Avx2(&p, x16);
    }
    if (xsum != local)
      free(xsum);
    free(x16);
    if (ready)
      return;
  }
#endif
  q8Reference(xq, xs, wp, ws, y);
}
