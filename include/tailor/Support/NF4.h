//===- NF4.h - 4-bit NormalFloat (QLoRA) ------------------------*- C++ -*-===//
//
// The NF4 data type of QLoRA (arXiv 2305.14314) as bitsandbytes defines it:
// 16 values, the quantiles of a standard normal scaled to [-1, 1] with an
// exact zero (get_4bit_type("nf4")), and its block quantization: per block
// the absolute maximum, each element the index of the nearest value to
// w * (1 / absmax) (clamped to [-1, 1]; ties to the lower index, as
// torch.argmin).

#ifndef TAILOR_SUPPORT_NF4_H
#define TAILOR_SUPPORT_NF4_H

#include <cmath>
#include <cstdint>

namespace mlir::tailor::nf4 {

inline constexpr float kValues[16] = {
    -1.0f,
    -0.6961928009986877f,
    -0.5250730514526367f,
    -0.39491748809814453f,
    -0.28444138169288635f,
    -0.18477343022823334f,
    -0.09105003625154495f,
    0.0f,
    0.07958029955625534f,
    0.16093020141124725f,
    0.24611230194568634f,
    0.33791524171829224f,
    0.44070982933044434f,
    0.5626170039176941f,
    0.7229568362236023f,
    1.0f};

/// The code of `w` in a block whose absolute maximum is `absmax`.
inline uint8_t encode(float w, float absmax) {
  if (!(absmax > 0))
    return 7; // an all-zero block: 0
  float x = w * (1.0f / absmax);
  x = x < -1.0f ? -1.0f : (x > 1.0f ? 1.0f : x);
  uint8_t best = 0;
  float bestDistance = std::fabs(x - kValues[0]);
  for (uint8_t i = 1; i < 16; ++i) {
    float d = std::fabs(x - kValues[i]);
    if (d < bestDistance) {
      best = i;
      bestDistance = d;
    }
  }
  return best;
}

} // namespace mlir::tailor::nf4

#endif // TAILOR_SUPPORT_NF4_H
