/* bench/peak-neon.c — the roofline kernels of the NEON tier (bench/peak.h):
 * 24 chains of vfmaq_f32 (4 lanes; the widest ARM cores have 4 FMA pipes of
 * 4-cycle latency, 16 chains in flight) and a read loop of 8 Q-register
 * accumulators. Scalar twin: peak-scalar.c. */
#include <arm_neon.h>

#include "peak.h"

static volatile float sink;

/* fmla writes its addend, so the chains accumulate: c = c + a * m (one
 * rounding). A chain of the x86 form c = c * m + a would cost a register move
 * per FMA here. c grows by about 2^-20 per step and stops growing once that
 * falls under half an ulp: finite and normal for any reps. */
#define FMA4(w, x, y, z)  \
  w = vfmaq_f32(w, a, m); \
  x = vfmaq_f32(x, a, m); \
  y = vfmaq_f32(y, a, m); \
  z = vfmaq_f32(z, a, m)

#define INIT4(w, x, y, z, base)              \
  float32x4_t w = vdupq_n_f32(base);         \
  float32x4_t x = vdupq_n_f32(base + 0.01f); \
  float32x4_t y = vdupq_n_f32(base + 0.02f); \
  float32x4_t z = vdupq_n_f32(base + 0.03f)

double wsk_peak_fma__neon(int64_t reps) {
  if (reps <= 0) return 0.0;
  const float32x4_t m = vdupq_n_f32(WSK_PEAK_MUL), a = vdupq_n_f32(WSK_PEAK_ADD);
  INIT4(c0, c1, c2, c3, 0.50f);
  INIT4(c4, c5, c6, c7, 0.54f);
  INIT4(c8, c9, c10, c11, 0.58f);
  INIT4(c12, c13, c14, c15, 0.62f);
  INIT4(c16, c17, c18, c19, 0.66f);
  INIT4(c20, c21, c22, c23, 0.70f);
  for (int64_t r = 0; r < reps; r++) {
    for (int s = 0; s < WSK_PEAK_STEPS; s++) {
      FMA4(c0, c1, c2, c3);
      FMA4(c4, c5, c6, c7);
      FMA4(c8, c9, c10, c11);
      FMA4(c12, c13, c14, c15);
      FMA4(c16, c17, c18, c19);
      FMA4(c20, c21, c22, c23);
    }
  }
  const float32x4_t t0 = vaddq_f32(vaddq_f32(vaddq_f32(c0, c1), vaddq_f32(c2, c3)),
                                   vaddq_f32(vaddq_f32(c4, c5), vaddq_f32(c6, c7)));
  const float32x4_t t1 = vaddq_f32(vaddq_f32(vaddq_f32(c8, c9), vaddq_f32(c10, c11)),
                                   vaddq_f32(vaddq_f32(c12, c13), vaddq_f32(c14, c15)));
  const float32x4_t t2 = vaddq_f32(vaddq_f32(vaddq_f32(c16, c17), vaddq_f32(c18, c19)),
                                   vaddq_f32(vaddq_f32(c20, c21), vaddq_f32(c22, c23)));
  sink = vgetq_lane_f32(vaddq_f32(vaddq_f32(t0, t1), t2), 0);
  return (double)reps * WSK_PEAK_FLOPS_PER_REP(WSK_PEAK_CHAINS_NEON, WSK_PEAK_LANES_NEON);
}

double wsk_read_sum__neon(const float *buf, size_t floats) {
  float32x4_t s0 = vdupq_n_f32(0.0f), s1 = s0, s2 = s0, s3 = s0, s4 = s0, s5 = s0, s6 = s0, s7 = s0;
  for (size_t i = 0; i < floats; i += 32) {
    s0 = vaddq_f32(s0, vld1q_f32(buf + i + 0));
    s1 = vaddq_f32(s1, vld1q_f32(buf + i + 4));
    s2 = vaddq_f32(s2, vld1q_f32(buf + i + 8));
    s3 = vaddq_f32(s3, vld1q_f32(buf + i + 12));
    s4 = vaddq_f32(s4, vld1q_f32(buf + i + 16));
    s5 = vaddq_f32(s5, vld1q_f32(buf + i + 20));
    s6 = vaddq_f32(s6, vld1q_f32(buf + i + 24));
    s7 = vaddq_f32(s7, vld1q_f32(buf + i + 28));
  }
  const float32x4_t t = vaddq_f32(vaddq_f32(vaddq_f32(s0, s1), vaddq_f32(s2, s3)),
                                  vaddq_f32(vaddq_f32(s4, s5), vaddq_f32(s6, s7)));
  return (double)vaddvq_f32(t);
}
