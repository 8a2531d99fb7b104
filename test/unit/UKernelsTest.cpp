//===- UKernelsTest.cpp - The micro-kernels against a naive computation --===//
//
// lib/Runtime/UKernels.c through its C interface (memref descriptors), as
// the generated code calls it: the AVX2 path (the compiler's dense layouts)
// and the strided reference, both against sums computed here in double.

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <ostream>
#include <random>
#include <string>
#include <vector>

namespace {
template <typename T, int R> struct Desc {
  T *allocated, *data;
  int64_t offset, sizes[R], strides[R];
};
template <typename T, int R>
Desc<T, R> dense(std::vector<T> &v, std::initializer_list<int64_t> sizes) {
  Desc<T, R> d{v.data(), v.data(), 0, {}, {}};
  int i = 0;
  for (int64_t s : sizes)
    d.sizes[i++] = s;
  int64_t stride = 1;
  for (int j = R - 1; j >= 0; --j) {
    d.strides[j] = stride;
    stride *= d.sizes[j];
  }
  return d;
}
} // namespace

extern "C" {
void _mlir_ciface_tailor_q4_matmul(Desc<int8_t, 4> *xq, Desc<float, 2> *xs,
                                   Desc<int8_t, 4> *wp, Desc<float, 3> *ws,
                                   Desc<float, 3> *y);
void _mlir_ciface_tailor_q4z_matmul(Desc<int8_t, 4> *xq, Desc<float, 2> *xs,
                                    Desc<int8_t, 4> *wp, Desc<float, 3> *ws,
                                    Desc<int8_t, 3> *wz, Desc<float, 3> *y);
void _mlir_ciface_tailor_q8_matmul(Desc<int8_t, 3> *xq, Desc<float, 2> *xs,
                                   Desc<int8_t, 4> *wp, Desc<float, 2> *ws,
                                   Desc<float, 3> *y);
void tailor_ukernels_limit_isa(int level);
}

namespace {
struct Q4Case {
  int64_t rows, tiles, blocks, groups;
  bool zeroPoints, stridedOutput;
};

std::string describe(const Q4Case &c) {
  return "m" + std::to_string(c.rows) + "_tiles" + std::to_string(c.tiles) +
         "_k" + std::to_string(c.blocks * 8) + "_groups" +
         std::to_string(c.groups) + (c.zeroPoints ? "_zp" : "") +
         (c.stridedOutput ? "_strided" : "");
}
// For GoogleTest's messages (instead of the struct's bytes).
void PrintTo(const Q4Case &c, std::ostream *os) { *os << describe(c); }

class Q4Matmul : public testing::TestWithParam<Q4Case> {};

TEST_P(Q4Matmul, MatchesNaiveSum) {
  Q4Case c = GetParam();
  int64_t k = c.blocks * 8, n = c.tiles * 8, perGroup = k / c.groups;
  std::mt19937 rng(int(c.rows * 131 + c.tiles * 7 + c.groups));
  std::uniform_int_distribution<int> x8(-127, 127), u4(0, 15);
  std::uniform_real_distribution<float> scale(0.001f, 0.1f);
  std::vector<int8_t> xq(c.rows * k), wp(c.tiles * c.blocks * 32),
      wz(c.tiles * c.groups * 8);
  std::vector<float> xs(c.rows * c.groups), ws(c.tiles * c.groups * 8);
  std::vector<int> u(k * n); // u[row of K][column]
  for (auto &v : xq)
    v = int8_t(x8(rng));
  for (auto &v : xs)
    v = scale(rng);
  for (auto &v : ws)
    v = scale(rng);
  for (auto &v : wz)
    v = int8_t(c.zeroPoints ? u4(rng) : 8);
  for (auto &v : u)
    v = u4(rng);
  // The packing of Contraction.cpp: byte (t, kb, col, i) = rows kb*8+i
  // (low nibble) and kb*8+4+i (high) of column t*8+col.
  for (int64_t t = 0; t < c.tiles; ++t)
    for (int64_t kb = 0; kb < c.blocks; ++kb)
      for (int64_t col = 0; col < 8; ++col)
        for (int64_t i = 0; i < 4; ++i)
          wp[((t * c.blocks + kb) * 8 + col) * 4 + i] = int8_t(
              u[(kb * 8 + i) * n + t * 8 + col] |
              u[(kb * 8 + 4 + i) * n + t * 8 + col] << 4);
  // y starts non-zero: the kernel accumulates.
  int64_t ySpread = c.stridedOutput ? 2 : 1;
  std::vector<float> y(c.rows * n * ySpread, 0.5f);
  auto xqD = dense<int8_t, 4>(xq, {c.rows, c.blocks, 2, 4});
  auto xsD = dense<float, 2>(xs, {c.rows, c.groups});
  auto wpD = dense<int8_t, 4>(wp, {c.tiles, c.blocks, 8, 4});
  auto wsD = dense<float, 3>(ws, {c.tiles, c.groups, 8});
  auto wzD = dense<int8_t, 3>(wz, {c.tiles, c.groups, 8});
  auto yD = dense<float, 3>(y, {c.rows, c.tiles, 8});
  if (c.stridedOutput) // every other float: the reference path
    for (int j = 0; j < 3; ++j)
      yD.strides[j] *= 2;
  if (c.zeroPoints)
    _mlir_ciface_tailor_q4z_matmul(&xqD, &xsD, &wpD, &wsD, &wzD, &yD);
  else
    _mlir_ciface_tailor_q4_matmul(&xqD, &xsD, &wpD, &wsD, &yD);
  for (int64_t m = 0; m < c.rows; ++m)
    for (int64_t col = 0; col < n; ++col) {
      int64_t t = col / 8, cc = col % 8;
      double expected = 0.5;
      for (int64_t g = 0; g < c.groups; ++g) {
        double dot = 0;
        int z = wz[(t * c.groups + g) * 8 + cc];
        for (int64_t kk = g * perGroup; kk < (g + 1) * perGroup; ++kk)
          dot += double(xq[m * k + kk]) * (u[kk * n + col] - z);
        expected += double(xs[m * c.groups + g]) *
                    ws[(t * c.groups + g) * 8 + cc] * dot;
      }
      float got = y[(m * n + col) * ySpread];
      ASSERT_NEAR(got, expected, 1e-4 * (1 + std::fabs(expected)))
          << "row " << m << " column " << col;
    }
}

INSTANTIATE_TEST_SUITE_P(
    Shapes, Q4Matmul,
    testing::Values(Q4Case{1, 4, 16, 4, false, false},  // decode, 4-tile blocks
                    Q4Case{1, 5, 16, 1, false, false},  // + a single tile
                    Q4Case{2, 3, 8, 2, true, false},    // rows < 4
                    Q4Case{7, 3, 16, 2, false, false},  // 4-row blocks + 3
                    Q4Case{9, 5, 32, 4, true, false},   // 4x2 blocks, odd tile
                    Q4Case{6, 2, 16, 16, true, false},  // groups of 8
                    Q4Case{3, 2, 16, 2, true, true}),   // strided: reference
    [](const testing::TestParamInfo<Q4Case> &info) {
      return describe(info.param);
    });

struct Q8Case {
  int64_t rows, tiles, quads;
  bool stridedOutput;
};
std::string describe(const Q8Case &c) {
  return "m" + std::to_string(c.rows) + "_tiles" + std::to_string(c.tiles) +
         "_k" + std::to_string(c.quads * 4) +
         (c.stridedOutput ? "_strided" : "");
}
void PrintTo(const Q8Case &c, std::ostream *os) { *os << describe(c); }

class Q8Matmul : public testing::TestWithParam<Q8Case> {};

// Every path this host has: AVX-512 VNNI (level 2), AVX2 (1), the portable
// reference (0); a host without VNNI runs its best path for level 2.
TEST_P(Q8Matmul, MatchesNaiveSum) {
  Q8Case c = GetParam();
  int64_t k = c.quads * 4, n = c.tiles * 16;
  std::mt19937 rng(int(c.rows * 31 + c.tiles * 5 + c.quads));
  std::uniform_int_distribution<int> i8(-127, 127);
  std::uniform_real_distribution<float> scale(0.001f, 0.1f);
  std::vector<int8_t> xq(c.rows * k);
  std::vector<int8_t> wp(c.tiles * c.quads * 64);
  std::vector<int> w(k * n); // w[row of K][column]
  std::vector<float> xs(c.rows), ws(n);
  for (auto &v : xq)
    v = int8_t(i8(rng));
  // Extremes included: (127 + 128) * 127 and -127 * -127 must not saturate.
  xq[0] = 127;
  xq[1] = -127;
  for (auto &v : w)
    v = i8(rng);
  w[0] = 127;
  w[n] = -127;
  for (auto &v : xs)
    v = scale(rng);
  for (auto &v : ws)
    v = scale(rng);
  // The packing of Contraction.cpp: (t, q, col, i) = row 4q+i, column
  // t*16+col, stored as w + 128.
  for (int64_t t = 0; t < c.tiles; ++t)
    for (int64_t q = 0; q < c.quads; ++q)
      for (int64_t col = 0; col < 16; ++col)
        for (int64_t i = 0; i < 4; ++i)
          wp[((t * c.quads + q) * 16 + col) * 4 + i] =
              int8_t(uint8_t(w[(4 * q + i) * n + t * 16 + col] + 128));
  int64_t ySpread = c.stridedOutput ? 2 : 1;
  for (int level = 2; level >= 0; --level) {
    SCOPED_TRACE("isa level " + std::to_string(level));
    std::vector<float> y(c.rows * n * ySpread, 0.5f);
    auto xqD = dense<int8_t, 3>(xq, {c.rows, c.quads, 4});
    auto xsD = dense<float, 2>(xs, {c.rows, 1});
    auto wpD = dense<int8_t, 4>(wp, {c.tiles, c.quads, 16, 4});
    auto wsD = dense<float, 2>(ws, {c.tiles, 16});
    auto yD = dense<float, 3>(y, {c.rows, c.tiles, 16});
    if (c.stridedOutput)
      for (int j = 0; j < 3; ++j)
        yD.strides[j] *= 2;
    tailor_ukernels_limit_isa(level);
    _mlir_ciface_tailor_q8_matmul(&xqD, &xsD, &wpD, &wsD, &yD);
    tailor_ukernels_limit_isa(2);
    for (int64_t m = 0; m < c.rows; ++m)
      for (int64_t col = 0; col < n; ++col) {
        double dot = 0;
        for (int64_t kk = 0; kk < k; ++kk)
          dot += double(xq[m * k + kk]) * w[kk * n + col];
        double expected = 0.5 + double(xs[m]) * ws[col] * dot;
        float got = y[(m * n + col) * ySpread];
        ASSERT_NEAR(got, expected, 1e-4 * (1 + std::fabs(expected)))
            << "row " << m << " column " << col;
      }
  }
}

INSTANTIATE_TEST_SUITE_P(
    Shapes, Q8Matmul,
    testing::Values(Q8Case{1, 4, 32, false},  // decode, 4-tile blocks
                    Q8Case{1, 7, 17, false},  // + a 3-tile rest, odd quads
                    Q8Case{5, 3, 10, false},  // rows < 6, 3 tiles
                    Q8Case{6, 4, 64, false},  // one 6x4 block
                    Q8Case{17, 6, 6, false},  // 6-row blocks + 5, 4 + 2 tiles
                    Q8Case{13, 1, 3, false},  // one tile
                    Q8Case{3, 2, 4, true}),   // strided: reference
    [](const testing::TestParamInfo<Q8Case> &info) {
      return describe(info.param);
    });
} // namespace
