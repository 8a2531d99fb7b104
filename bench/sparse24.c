/* Does 2:4 sparsity pay for decode on this CPU?  A decode step is one
 * vector-matrix product per linear, y[N] = x[K] . W[K, N], streaming every
 * weight once. This times, over a model's worth of weights (the small test
 * model's 8 layers of Q/K/V/O, gate/up/down and lm_head, about 50 MB in
 * fp32, more than the caches hold), one thread:
 *   dense   fp32 W [K][N]: per row k, y += x[k] * W[k, :] (AVX2 FMA)
 *   2:4     per column, 2 of every 4 consecutive rows kept: per group of
 *           4 rows, the two kept values [2][N] (fp32) and their row
 *           indices (a byte per column); y += v0 * x[4g + i0] +
 *           v1 * x[4g + i1], the x lookups by vpermps (0.56x the bytes)
 *   int8    per-column scaled int8 W (the weight-only int8 path's data:
 *           0.25x the bytes), for reference
 * and checks the 2:4 result against a scalar reference.
 * Prints key=value pairs (bench/run-compression puts them in the docs).
 *
 *   cc -O2 -mavx2 -mfma bench/sparse24.c -o sparse24 && ./sparse24
 */
#include <immintrin.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct {
  int k, n;
  float *dense;     /* [k][n] */
  float *v0, *v1;   /* [k/4][n] */
  uint8_t *idx;     /* [k/4][n]: i0 | i1 << 4 */
  int8_t *q;        /* [k][n] */
  float *scale;     /* [n] */
} Matrix;

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + t.tv_nsec * 1e-9;
}

static uint32_t rng = 12345;
static float frand(void) {
  rng = rng * 1664525u + 1013904223u;
  return (float)((rng >> 8) & 0xFFFF) / 32768.0f - 1.0f;
}

static void *alloc(size_t bytes) {
  void *p = NULL;
  if (posix_memalign(&p, 64, bytes ? bytes : 64))
    exit(1);
  return p;
}

static void make(Matrix *m, int k, int n) {
  m->k = k;
  m->n = n;
  m->dense = alloc(sizeof(float) * k * n);
  m->v0 = alloc(sizeof(float) * k / 4 * n);
  m->v1 = alloc(sizeof(float) * k / 4 * n);
  m->idx = alloc((size_t)k / 4 * n);
  m->q = alloc((size_t)k * n);
  m->scale = alloc(sizeof(float) * n);
  for (int i = 0; i < k * n; ++i)
    m->dense[i] = frand();
  /* 2:4 by magnitude per column; the dense copy keeps only those. */
  for (int g = 0; g < k / 4; ++g)
    for (int c = 0; c < n; ++c) {
      float a[4];
      int order[4] = {0, 1, 2, 3};
      for (int i = 0; i < 4; ++i)
        a[i] = fabsf(m->dense[(4 * g + i) * n + c]);
      for (int i = 0; i < 4; ++i)
        for (int j = i + 1; j < 4; ++j)
          if (a[order[j]] > a[order[i]]) {
            int t = order[i];
            order[i] = order[j];
            order[j] = t;
          }
      int i0 = order[0] < order[1] ? order[0] : order[1];
      int i1 = order[0] < order[1] ? order[1] : order[0];
      m->v0[g * n + c] = m->dense[(4 * g + i0) * n + c];
      m->v1[g * n + c] = m->dense[(4 * g + i1) * n + c];
      m->idx[g * n + c] = (uint8_t)(i0 | i1 << 4);
      for (int i = 0; i < 4; ++i)
        if (i != i0 && i != i1)
          m->dense[(4 * g + i) * n + c] = 0.0f;
    }
  for (int c = 0; c < n; ++c) {
    float mx = 0;
    for (int r = 0; r < k; ++r)
      mx = fmaxf(mx, fabsf(m->dense[r * n + c]));
    m->scale[c] = mx > 0 ? mx / 127.0f : 1.0f;
    for (int r = 0; r < k; ++r)
      m->q[r * n + c] = (int8_t)lrintf(m->dense[r * n + c] / m->scale[c]);
  }
}

__attribute__((target("avx2,fma"))) static void dense(const Matrix *m,
                                                      const float *x,
                                                      float *y) {
  for (int c = 0; c < m->n; c += 32) {
    __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
    for (int r = 0; r < m->k; ++r) {
      const float *w = m->dense + (size_t)r * m->n + c;
      __m256 xr = _mm256_broadcast_ss(x + r);
      a0 = _mm256_fmadd_ps(xr, _mm256_load_ps(w), a0);
      a1 = _mm256_fmadd_ps(xr, _mm256_load_ps(w + 8), a1);
      a2 = _mm256_fmadd_ps(xr, _mm256_load_ps(w + 16), a2);
      a3 = _mm256_fmadd_ps(xr, _mm256_load_ps(w + 24), a3);
    }
    _mm256_storeu_ps(y + c, a0);
    _mm256_storeu_ps(y + c + 8, a1);
    _mm256_storeu_ps(y + c + 16, a2);
    _mm256_storeu_ps(y + c + 24, a3);
  }
}

__attribute__((target("avx2,fma"))) static void sparse(const Matrix *m,
                                                       const float *x,
                                                       float *y) {
  const __m256i low = _mm256_set1_epi32(15);
  for (int c = 0; c < m->n; c += 16) {
    __m256 a0 = _mm256_setzero_ps(), a1 = a0;
    for (int g = 0; g < m->k / 4; ++g) {
      /* x[4g..4g+3] in both 128-bit halves: vpermps indexes 0..3. */
      __m128 x4 = _mm_loadu_ps(x + 4 * g);
      __m256 xs = _mm256_set_m128(x4, x4);
      size_t at = (size_t)g * m->n + c;
      for (int h = 0; h < 2; ++h) {
        __m256i ix = _mm256_cvtepu8_epi32(
            _mm_loadl_epi64((const __m128i *)(m->idx + at + 8 * h)));
        __m256 xa = _mm256_permutevar8x32_ps(xs, _mm256_and_si256(ix, low));
        __m256 xb = _mm256_permutevar8x32_ps(xs, _mm256_srli_epi32(ix, 4));
        __m256 *acc = h ? &a1 : &a0;
        *acc = _mm256_fmadd_ps(xa, _mm256_load_ps(m->v0 + at + 8 * h), *acc);
        *acc = _mm256_fmadd_ps(xb, _mm256_load_ps(m->v1 + at + 8 * h), *acc);
      }
    }
    _mm256_storeu_ps(y + c, a0);
    _mm256_storeu_ps(y + c + 8, a1);
  }
}

__attribute__((target("avx2,fma"))) static void int8(const Matrix *m,
                                                     const float *x, float *y) {
  for (int c = 0; c < m->n; c += 32) {
    __m256 a[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(),
                   _mm256_setzero_ps(), _mm256_setzero_ps()};
    for (int r = 0; r < m->k; ++r) {
      const int8_t *w = m->q + (size_t)r * m->n + c;
      __m256 xr = _mm256_broadcast_ss(x + r);
      for (int j = 0; j < 4; ++j) {
        __m256 wf = _mm256_cvtepi32_ps(
            _mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)(w + 8 * j))));
        a[j] = _mm256_fmadd_ps(xr, wf, a[j]);
      }
    }
    for (int j = 0; j < 4; ++j)
      _mm256_storeu_ps(y + c + 8 * j,
                       _mm256_mul_ps(a[j], _mm256_loadu_ps(m->scale + c + 8 * j)));
  }
}

int main(void) {
  if (!__builtin_cpu_supports("avx2") || !__builtin_cpu_supports("fma")) {
    printf("avx2=no\n");
    return 0;
  }
  /* The small model: 8 layers x (q, k, v, o, gate, up, down), lm_head. */
  enum { LAYERS = 8, PER = 7 };
  int shapes[PER][2] = {{384, 384}, {384, 128}, {384, 128}, {384, 384},
                        {384, 1024}, {384, 1024}, {1024, 384}};
  int count = LAYERS * PER + 1;
  Matrix *ms = calloc(count, sizeof(Matrix));
  for (int l = 0; l < LAYERS; ++l)
    for (int i = 0; i < PER; ++i)
      make(&ms[l * PER + i], shapes[i][0], shapes[i][1]);
  make(&ms[count - 1], 384, 256);
  float *x = alloc(sizeof(float) * 1024), *y = alloc(sizeof(float) * 1024),
        *ref = alloc(sizeof(float) * 1024);
  for (int i = 0; i < 1024; ++i)
    x[i] = frand();
  /* Check against a scalar reference of the pruned dense weights. */
  double worstSparse = 0;
  for (int i = 0; i < count; ++i) {
    const Matrix *m = &ms[i];
    for (int c = 0; c < m->n; ++c) {
      double s = 0;
      for (int r = 0; r < m->k; ++r)
        s += (double)x[r] * m->dense[r * m->n + c];
      ref[c] = (float)s;
    }
    sparse(m, x, y);
    for (int c = 0; c < m->n; ++c)
      worstSparse = fmax(worstSparse, fabs(y[c] - ref[c]) / (fabs(ref[c]) + 1));
  }
  if (worstSparse > 1e-4) {
    printf("error: the 2:4 kernel is off by %g\n", worstSparse);
    return 1;
  }
  double bytesDense = 0, bytesSparse = 0, bytesInt8 = 0;
  for (int i = 0; i < count; ++i) {
    bytesDense += 4.0 * ms[i].k * ms[i].n;
    bytesSparse += (2 * 4.0 + 1) * ms[i].k / 4 * ms[i].n;
    bytesInt8 += 1.0 * ms[i].k * ms[i].n + 4.0 * ms[i].n;
  }
  void (*kernels[3])(const Matrix *, const float *, float *) = {dense, sparse,
                                                               int8};
  const char *names[3] = {"dense", "sparse24", "int8"};
  double best[3] = {1e30, 1e30, 1e30};
  for (int rep = 0; rep < 7; ++rep)
    for (int kk = 0; kk < 3; ++kk) {
      double t0 = now();
      for (int it = 0; it < 10; ++it)
        for (int i = 0; i < count; ++i)
          kernels[kk](&ms[i], x, y);
      double t = (now() - t0) / 10;
      if (t < best[kk])
        best[kk] = t;
    }
  for (int kk = 0; kk < 3; ++kk)
    printf("%s_ms=%.3f ", names[kk], best[kk] * 1e3);
  printf("dense_mb=%.1f sparse24_mb=%.1f int8_mb=%.1f sparse24_speedup=%.2f "
         "int8_speedup=%.2f\n",
         bytesDense / 1e6, bytesSparse / 1e6, bytesInt8 / 1e6,
         best[0] / best[1], best[0] / best[2]);
  return 0;
}
