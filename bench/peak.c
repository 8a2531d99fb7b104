// Machine ceilings for bench/run: fp32 FMA peak (24 independent AVX-512
// accumulator chains, 2 FMAs per cycle) and DRAM read bandwidth (a 512 MB
// streaming sum with AVX-512 loads and 8 accumulators), per thread count.
//   cc -O2 -mavx512f -fopenmp peak.c -o peak && ./peak [threads]
#include <immintrin.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + t.tv_nsec * 1e-9;
}

static double fmaPeak(int threads) {
  const long iters = 200000000L / 4;
  double best = 0;
  for (int rep = 0; rep < 3; ++rep) {
    double t0 = now();
#pragma omp parallel num_threads(threads)
    {
      // 24 named accumulators: compilers keep them in zmm registers (an
      // array invites them to interchange the loops through memory).
      const __m512 a = _mm512_set1_ps(0.999999f), b = _mm512_set1_ps(1e-7f);
#define DECL(i) __m512 c##i = _mm512_set1_ps((float)i);
#define STEP(i) c##i = _mm512_fmadd_ps(c##i, a, b);
#define ALL(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7) X(8) X(9) X(10) X(11) \
  X(12) X(13) X(14) X(15) X(16) X(17) X(18) X(19) X(20) X(21) X(22) X(23)
      ALL(DECL)
      for (long it = 0; it < iters; ++it) {
        ALL(STEP)
        // Opaque to the optimizer: every FMA must really run.
        __asm__ volatile("" : "+v"(c0), "+v"(c1), "+v"(c2), "+v"(c3),
                         "+v"(c4), "+v"(c5), "+v"(c6), "+v"(c7), "+v"(c8),
                         "+v"(c9), "+v"(c10), "+v"(c11));
        __asm__ volatile("" : "+v"(c12), "+v"(c13), "+v"(c14), "+v"(c15),
                         "+v"(c16), "+v"(c17), "+v"(c18), "+v"(c19),
                         "+v"(c20), "+v"(c21), "+v"(c22), "+v"(c23));
      }
#define SUM(i) s = _mm512_add_ps(s, c##i);
      __m512 s = _mm512_setzero_ps();
      ALL(SUM)
      volatile float sink = _mm512_reduce_add_ps(s);
      (void)sink;
    }
    double dt = now() - t0;
    double gflops = 2.0 * 16 * 24 * iters * threads / dt / 1e9;
    if (gflops > best)
      best = gflops;
  }
  return best;
}

static double bandwidth(int threads) {
  const size_t n = (512UL << 20) / sizeof(float);
  float *data = aligned_alloc(64, n * sizeof(float));
#pragma omp parallel for num_threads(threads)
  for (size_t i = 0; i < n; ++i)
    data[i] = 1.0f;
  double best = 0;
  for (int rep = 0; rep < 5; ++rep) {
    double t0 = now();
    float total = 0;
#pragma omp parallel num_threads(threads) reduction(+ : total)
    {
      __m512 acc[8];
      for (int i = 0; i < 8; ++i)
        acc[i] = _mm512_setzero_ps();
#pragma omp for
      for (size_t i = 0; i < n; i += 128)
        for (int j = 0; j < 8; ++j)
          acc[j] = _mm512_add_ps(acc[j], _mm512_load_ps(data + i + 16 * j));
      for (int j = 1; j < 8; ++j)
        acc[0] = _mm512_add_ps(acc[0], acc[j]);
      total += _mm512_reduce_add_ps(acc[0]);
    }
    double dt = now() - t0;
    if (total != (float)n && total < 0)
      printf("?");
    double gbs = n * sizeof(float) / dt / 1e9;
    if (gbs > best)
      best = gbs;
  }
  free(data);
  return best;
}

int main(int argc, char **argv) {
  int maxThreads = argc > 1 ? atoi(argv[1]) : 2;
  for (int t = 1; t <= maxThreads; ++t)
    printf("threads=%d fp32_peak_gflops=%.1f dram_read_gbs=%.1f\n", t,
           fmaPeak(t), bandwidth(t));
  return 0;
}
