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

/* ---- added for the eltwise family (kernels/simd/eltwise-body.h) ---- */
#include <sleef.h>

#define V16__MAP2(op, a, b) \
  (v16){{op(a.q[0], b.q[0]), op(a.q[1], b.q[1]), op(a.q[2], b.q[2]), op(a.q[3], b.q[3])}}
#define V16__MAP1(op, a) (v16){{op(a.q[0]), op(a.q[1]), op(a.q[2]), op(a.q[3])}}
static inline v16 v16_sub(v16 a, v16 b) { return V16__MAP2(vsubq_f32, a, b); }
static inline v16 v16_mul(v16 a, v16 b) { return V16__MAP2(vmulq_f32, a, b); }
static inline v16 v16_neg(v16 a) { return V16__MAP1(vnegq_f32, a); }
/* b > a ? b : a per lane (not vmaxq_f32, which propagates NaN and orders
 * -0 < +0) */
static inline float32x4_t v16__max4(float32x4_t a, float32x4_t b) {
  return vbslq_f32(vcgtq_f32(b, a), b, a);
}
static inline v16 v16_max(v16 a, v16 b) { return V16__MAP2(v16__max4, a, b); }
static inline v16 v16_sel_lt(v16 a, v16 b, v16 t, v16 f) {
  v16 r;
  for (int i = 0; i < 4; i++) r.q[i] = vbslq_f32(vcltq_f32(a.q[i], b.q[i]), t.q[i], f.q[i]);
  return r;
}
static inline v16 v16_sel_le(v16 a, v16 b, v16 t, v16 f) {
  v16 r;
  for (int i = 0; i < 4; i++) r.q[i] = vbslq_f32(vcleq_f32(a.q[i], b.q[i]), t.q[i], f.q[i]);
  return r;
}
/* lanes [0, n) of a, the others of b; 0 < n < 16 */
static inline v16 v16_keep(v16 a, size_t n, v16 b) {
  static const uint32_t idx[16] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15};
  const uint32x4_t nn = vdupq_n_u32((uint32_t)n);
  v16 r;
  for (int i = 0; i < 4; i++)
    r.q[i] = vbslq_f32(vcltq_u32(vld1q_u32(idx + 4 * i), nn), a.q[i], b.q[i]);
  return r;
}
static inline float v16_first(v16 a) { return vgetq_lane_f32(a.q[0], 0); }
static inline v16 v16_exp(v16 a) { return V16__MAP1(Sleef_finz_expf4_u10advsimd, a); }
static inline v16 v16_tanh(v16 a) { return V16__MAP1(Sleef_finz_tanhf4_u10advsimd, a); }
static inline v16 v16_erfc(v16 a) { return V16__MAP1(Sleef_finz_erfcf4_u15advsimd, a); }


/* ---- added for the optim family (kernels/simd/optim-body.h) ---- */
/* IEEE square root, correctly rounded (no estimate) */
static inline v16 v16_sqrt(v16 a) { return V16__MAP1(vsqrtq_f32, a); }

/* ---- added for the attn family (kernels/simd/attn-body.h) ---- */
static inline v16 v16_log(v16 a) { return V16__MAP1(Sleef_finz_logf4_u10advsimd, a); }

#endif
