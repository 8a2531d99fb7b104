// Machine ceilings for bench/run: fp32 FMA peak (independent accumulator
// chains, 2 FMAs per cycle) and DRAM read bandwidth (a 512 MB streaming sum
// with vector loads and 8 accumulators), per thread count. The widest vector
// ISA the CPU reports is used: AVX-512 (24 zmm chains) or AVX2 + FMA
// (12 ymm chains: 16 registers), chosen at run time.
//   cc -O2 -fopenmp peak.c -o peak && ./peak [threads]
// `./peak --int8` instead prints one thread's rates of multiply-accumulates
// (MACs, i.e. products summed) for the AVX2 instruction mixes an int8 GEMM
// can use, next to the fp32 FMA rate (bench/run-compression's W8A8 ceiling):
//   vpmaddwd + vpaddd                 i16 x i16 pairs: exact for int8 x int8
//   vpmaddubsw + vpmaddwd + vpaddd    u8 x s8 pairs summed in i16: exact only
//                                     while a pair stays below 2^15 (not for
//                                     full-range int8 x int8: 2*127*255)
//   vpsignb + the above               s8 x s8 made u8 x s8 (the sign moved
//                                     onto the other operand)
// and, where the CPU has AVX-512 VNNI, the mix tailor_q8_matmul uses there
// next to the AVX-512 FMA rate:
//   vpdpbusd zmm                      u8 x s8 quads summed into i32 lanes:
//                                     exact (the kernel stores w + 128)
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

static const long kIters = 200000000L / 4;

// Named accumulators: compilers keep them in registers (an array invites
// them to interchange the loops through memory). The empty asm makes every
// FMA observable.
#define A12(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7) X(8) X(9) X(10) X(11)
#define B12(X) X(12) X(13) X(14) X(15) X(16) X(17) X(18) X(19) X(20) X(21) \
  X(22) X(23)
#define KEEP(i) __asm__ volatile("" : "+v"(c##i));

__attribute__((target("avx512f"))) static float fmaChains512(void) {
  const __m512 a = _mm512_set1_ps(0.999999f), b = _mm512_set1_ps(1e-7f);
#define DECL(i) __m512 c##i = _mm512_set1_ps((float)i);
#define STEP(i) c##i = _mm512_fmadd_ps(c##i, a, b);
#define SUM(i) s = _mm512_add_ps(s, c##i);
  A12(DECL) B12(DECL)
  for (long it = 0; it < kIters; ++it) {
    A12(STEP) B12(STEP)
    A12(KEEP) B12(KEEP)
  }
  __m512 s = _mm512_setzero_ps();
  A12(SUM) B12(SUM)
  return _mm512_reduce_add_ps(s);
#undef DECL
#undef STEP
#undef SUM
}

__attribute__((target("avx2,fma"))) static float fmaChains256(void) {
  const __m256 a = _mm256_set1_ps(0.999999f), b = _mm256_set1_ps(1e-7f);
#define DECL(i) __m256 c##i = _mm256_set1_ps((float)i);
#define STEP(i) c##i = _mm256_fmadd_ps(c##i, a, b);
#define SUM(i) s = _mm256_add_ps(s, c##i);
  A12(DECL)
  for (long it = 0; it < kIters; ++it) {
    A12(STEP)
    A12(KEEP)
  }
  __m256 s = _mm256_setzero_ps();
  A12(SUM)
  float lanes[8];
  _mm256_storeu_ps(lanes, s);
  return lanes[0] + lanes[7];
#undef DECL
#undef STEP
#undef SUM
}

// int8 product mixes as a GEMM kernel issues them: 12 accumulators, the
// products' operands independent of them (ymm14, ymm15: a weight vector and
// a broadcast activation), in assembly so that the compiler can neither
// fold the identical products nor spill.
#define I8_MADD(i)                                                             \
  "vpmaddwd %%ymm14, %%ymm15, %%ymm12\n\t"                                     \
  "vpaddd %%ymm12, %%ymm" #i ", %%ymm" #i "\n\t"
#define I8_UBS(i)                                                              \
  "vpmaddubsw %%ymm14, %%ymm15, %%ymm12\n\t"                                   \
  "vpmaddwd %%ymm12, %%ymm13, %%ymm12\n\t"                                     \
  "vpaddd %%ymm12, %%ymm" #i ", %%ymm" #i "\n\t"
#define I8_SIGN(i)                                                             \
  "vpsignb %%ymm14, %%ymm15, %%ymm12\n\t"                                      \
  "vpmaddubsw %%ymm14, %%ymm12, %%ymm12\n\t"                                   \
  "vpmaddwd %%ymm12, %%ymm13, %%ymm12\n\t"                                     \
  "vpaddd %%ymm12, %%ymm" #i ", %%ymm" #i "\n\t"
#define I8_X12(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7) X(8) X(9) X(10) X(11)
#define I8_CLOBBERS                                                            \
  "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8",      \
      "xmm9", "xmm10", "xmm11", "xmm12", "xmm13", "xmm14", "xmm15"

__attribute__((target("avx2"))) static double int8Mix(int mix) {
  __asm__ volatile("vpxor %%ymm0, %%ymm0, %%ymm0\n\t"
                   "vpcmpeqw %%ymm13, %%ymm13, %%ymm13\n\t"
                   "vpsrlw $15, %%ymm13, %%ymm13\n\t" // i16 ones
                   "vpcmpeqw %%ymm14, %%ymm14, %%ymm14\n\t"
                   "vpsrlw $9, %%ymm14, %%ymm14\n\t"
                   "vmovdqa %%ymm14, %%ymm15" ::
                       : I8_CLOBBERS);
  double t0 = now();
  for (long it = 0; it < kIters; ++it) {
    if (mix == 0)
      __asm__ volatile(I8_X12(I8_MADD)::: I8_CLOBBERS);
    else if (mix == 1)
      __asm__ volatile(I8_X12(I8_UBS)::: I8_CLOBBERS);
    else
      __asm__ volatile(I8_X12(I8_SIGN)::: I8_CLOBBERS);
  }
  double dt = now() - t0;
  __asm__ volatile("vzeroupper" ::: I8_CLOBBERS);
  // MACs per group: 16 (i16 pairs) or 32 (byte pairs), 12 groups.
  return 12.0 * (mix == 0 ? 16 : 32) * kIters / dt / 1e9;
}

// vpdpbusd on zmm: 24 accumulators, operands zmm30 / zmm31.
#define VNNI_STEP(i) "vpdpbusd %%zmm30, %%zmm31, %%zmm" #i "\n\t"
#define VNNI_X24(X)                                                            \
  X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7) X(8) X(9) X(10) X(11) X(12) X(13)    \
      X(14) X(15) X(16) X(17) X(18) X(19) X(20) X(21) X(22) X(23)
__attribute__((target("avx512f,avx512vnni"))) static double vnniMix(void) {
  __asm__ volatile("vpternlogd $0xff, %%zmm30, %%zmm30, %%zmm30\n\t"
                   "vpabsb %%zmm30, %%zmm31" ::
                       : "xmm30", "xmm31");
  double t0 = now();
  for (long it = 0; it < kIters; ++it)
    __asm__ volatile(VNNI_X24(VNNI_STEP)::: "memory");
  double dt = now() - t0;
  __asm__ volatile("vzeroupper" ::: "memory");
  return 24.0 * 64 * kIters / dt / 1e9;
}

static int wide;  // AVX-512 available

static double fmaPeak(int threads) {
  // FLOPs per iteration of one thread: chains x lanes x 2.
  const double perIter = wide ? 24.0 * 16 * 2 : 12.0 * 8 * 2;
  double best = 0;
  for (int rep = 0; rep < 3; ++rep) {
    double t0 = now();
#pragma omp parallel num_threads(threads)
    {
      volatile float sink = wide ? fmaChains512() : fmaChains256();
      (void)sink;
    }
    double gflops = perIter * kIters * threads / (now() - t0) / 1e9;
    if (gflops > best)
      best = gflops;
  }
  return best;
}

__attribute__((target("avx512f"))) static float sum512(const float *data,
                                                        size_t n) {
  __m512 acc[8];
  for (int i = 0; i < 8; ++i)
    acc[i] = _mm512_setzero_ps();
#pragma omp for
  for (size_t i = 0; i < n; i += 128)
    for (int j = 0; j < 8; ++j)
      acc[j] = _mm512_add_ps(acc[j], _mm512_load_ps(data + i + 16 * j));
  for (int j = 1; j < 8; ++j)
    acc[0] = _mm512_add_ps(acc[0], acc[j]);
  return _mm512_reduce_add_ps(acc[0]);
}

__attribute__((target("avx2"))) static float sum256(const float *data,
                                                     size_t n) {
  __m256 acc[8];
  for (int i = 0; i < 8; ++i)
    acc[i] = _mm256_setzero_ps();
#pragma omp for
  for (size_t i = 0; i < n; i += 64)
    for (int j = 0; j < 8; ++j)
      acc[j] = _mm256_add_ps(acc[j], _mm256_load_ps(data + i + 8 * j));
  for (int j = 1; j < 8; ++j)
    acc[0] = _mm256_add_ps(acc[0], acc[j]);
  float lanes[8], total = 0;
  _mm256_storeu_ps(lanes, acc[0]);
  for (int j = 0; j < 8; ++j)
    total += lanes[j];
  return total;
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
    total += wide ? sum512(data, n) : sum256(data, n);
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
  __builtin_cpu_init();
  wide = __builtin_cpu_supports("avx512f");
  if (argc > 1 && argv[1][0] == '-') {
    double best[3] = {0, 0, 0};
    for (int rep = 0; rep < 3; ++rep)
      for (int mix = 0; mix < 3; ++mix) {
        double r = int8Mix(mix);
        if (r > best[mix])
          best[mix] = r;
      }
    int saved = wide;
    wide = 0; // the AVX2 FMA rate, as the AVX2 int8 mixes
    double fma = fmaPeak(1) / 2;
    wide = saved;
    printf("fp32_fma_gmacs=%.1f int8_vpmaddwd_gmacs=%.1f "
           "u8s8_vpmaddubsw_gmacs=%.1f int8_vpsignb_vpmaddubsw_gmacs=%.1f "
           "vnni=%s",
           fma, best[0], best[1], best[2],
           __builtin_cpu_supports("avxvnni") ||
                   __builtin_cpu_supports("avx512vnni")
               ? "yes"
               : "no");
    if (wide && __builtin_cpu_supports("avx512vnni")) {
      double vnni = 0;
      for (int rep = 0; rep < 3; ++rep) {
        double r = vnniMix();
        if (r > vnni)
          vnni = r;
      }
      printf(" fp32_fma512_gmacs=%.1f int8_vpdpbusd512_gmacs=%.1f",
             fmaPeak(1) / 2, vnni);
    }
    printf("\n");
    return 0;
  }
  for (int t = 1; t <= maxThreads; ++t)
    printf("threads=%d fp32_peak_gflops=%.1f dram_read_gbs=%.1f isa=%s\n", t,
           fmaPeak(t), bandwidth(t), wide ? "avx512" : "avx2");
  return 0;
}
