/* kernels/simd/vec16-neon.h — the 16-float vector of the SIMD kernel bodies
 * (kernels/simd/<family>-body.h) on AArch64 NEON: four Q registers.
 * Every operation is one correctly rounded IEEE operation per lane (AArch64
 * Advanced SIMD is IEEE-754 with FPCR defaults: no flush-to-zero, round to
 * nearest), so a body written with these gives the same bits on every tier. */
#ifndef WSK_VEC16_NEON_H
#define WSK_VEC16_NEON_H
#if !defined(__aarch64__)
#error "vec16-neon.h is for AArch64 (Advanced SIMD)"
#endif
#include <arm_neon.h>
#include <stddef.h>

typedef struct v16 {
  float32x4_t q[4];
} v16;

/* v16 values the register file holds at once */
#define V16_REGS 8

static inline v16 v16_set1(float a) {
  const float32x4_t v = vdupq_n_f32(a);
  return (v16){{v, v, v, v}};
}
static inline v16 v16_loadu(const float *p) {
  return (v16){{vld1q_f32(p), vld1q_f32(p + 4), vld1q_f32(p + 8), vld1q_f32(p + 12)}};
}
/* lanes [0, n) from p, the others = fill; 0 < n < 16 */
static inline v16 v16_load_part(const float *p, size_t n, float fill) {
  float buf[16];
  for (size_t i = 0; i < 16; i++) buf[i] = i < n ? p[i] : fill;
  return v16_loadu(buf);
}
static inline void v16_storeu(float *p, v16 a) {
  vst1q_f32(p, a.q[0]);
  vst1q_f32(p + 4, a.q[1]);
  vst1q_f32(p + 8, a.q[2]);
  vst1q_f32(p + 12, a.q[3]);
}
static inline void v16_store_part(float *p, v16 a, size_t n) {
  float buf[16];
  v16_storeu(buf, a);
  for (size_t i = 0; i < n; i++) p[i] = buf[i];
}
static inline v16 v16_add(v16 a, v16 b) {
  return (v16){{vaddq_f32(a.q[0], b.q[0]), vaddq_f32(a.q[1], b.q[1]), vaddq_f32(a.q[2], b.q[2]),
                vaddq_f32(a.q[3], b.q[3])}};
}
static inline v16 v16_div(v16 a, v16 b) {
  return (v16){{vdivq_f32(a.q[0], b.q[0]), vdivq_f32(a.q[1], b.q[1]), vdivq_f32(a.q[2], b.q[2]),
                vdivq_f32(a.q[3], b.q[3])}};
}
/* a * b + c with one rounding (vfmaq_f32(c, a, b) = c + a * b, fused) */
static inline v16 v16_fma(v16 a, v16 b, v16 c) {
  return (v16){{vfmaq_f32(c.q[0], a.q[0], b.q[0]), vfmaq_f32(c.q[1], a.q[1], b.q[1]),
                vfmaq_f32(c.q[2], a.q[2], b.q[2]), vfmaq_f32(c.q[3], a.q[3], b.q[3])}};
}

/* The halving tree down to c lanes (c = 1, 2, 4, 8 or 16): for h = 8, 4, ..
 * while h >= c, lanes q < h += lanes q + h. Lanes [0, c) of the result hold
 * the sums; the scalar twin is the same loop over an array. */
static inline v16 v16_fold(v16 a, size_t c) {
  if (c <= 8) {
    a.q[0] = vaddq_f32(a.q[0], a.q[2]);
    a.q[1] = vaddq_f32(a.q[1], a.q[3]);
  }
  if (c <= 4) a.q[0] = vaddq_f32(a.q[0], a.q[1]);
  if (c <= 2) a.q[0] = vaddq_f32(a.q[0], vcombine_f32(vget_high_f32(a.q[0]), vget_low_f32(a.q[0])));
  if (c <= 1) a.q[0] = vaddq_f32(a.q[0], vrev64q_f32(a.q[0]));
  return a;
}

#endif
