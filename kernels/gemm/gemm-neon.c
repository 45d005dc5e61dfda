/* kernels/gemm/gemm-neon.c — the gemm micro-kernel on AArch64 NEON: a 6 x 16
 * tile (24 Q-register accumulators), the body of kernels/simd/gemm-body.h.
 * Scalar twin (the definition of every result bit): gemm-scalar.c. */
#include "kernels/simd/vec16-neon.h"

/* r > 0 or NaN: r; else +0 */
static inline float32x4_t gm_relu4(float32x4_t r) {
  const uint32x4_t keep =
      vorrq_u32(vcgtq_f32(r, vdupq_n_f32(0.0f)), vmvnq_u32(vceqq_f32(r, r)));
  return vreinterpretq_f32_u32(vandq_u32(vreinterpretq_u32_f32(r), keep));
}
static inline v16 gm_relu(v16 r) {
  return (v16){{gm_relu4(r.q[0]), gm_relu4(r.q[1]), gm_relu4(r.q[2]), gm_relu4(r.q[3])}};
}

#define WSK_BODY_ISA neon
#define WSK_BODY_ISA_ENUM WSK_ISA_NEON
#define GEMM_MR 6
#define GEMM_NV 1
#include "kernels/simd/gemm-body.h"
