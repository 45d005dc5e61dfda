/* kernels/gemm/gemm-avx2.c — the gemm micro-kernel on AVX2+FMA: a 6 x 16
 * tile (12 YMM accumulators), the body of kernels/simd/gemm-body.h.
 * Scalar twin (the definition of every result bit): gemm-scalar.c. */
#include "kernels/simd/vec16-avx2.h"

/* r > 0 or NaN: r; else +0 */
static inline __m256 gm_relu8(__m256 r) {
  const __m256 keep = _mm256_or_ps(_mm256_cmp_ps(r, _mm256_setzero_ps(), _CMP_GT_OQ),
                                   _mm256_cmp_ps(r, r, _CMP_UNORD_Q));
  return _mm256_and_ps(r, keep);
}
static inline v16 gm_relu(v16 r) { return (v16){gm_relu8(r.lo), gm_relu8(r.hi)}; }

#define WSK_BODY_ISA avx2
#define WSK_BODY_ISA_ENUM WSK_ISA_AVX2
#define GEMM_MR 6
#define GEMM_NV 1
#include "kernels/simd/gemm-body.h"
