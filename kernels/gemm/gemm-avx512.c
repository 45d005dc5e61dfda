/* kernels/gemm/gemm-avx512.c — the gemm micro-kernel on AVX-512: an 8 x 32
 * tile (16 ZMM accumulators), the body of kernels/simd/gemm-body.h.
 * Scalar twin (the definition of every result bit): gemm-scalar.c. */
#include "kernels/simd/vec16-avx512.h"

/* r > 0 or NaN: r; else +0 */
static inline v16 gm_relu(v16 r) {
  const __mmask16 keep = _mm512_cmp_ps_mask(r, _mm512_setzero_ps(), _CMP_GT_OQ) |
                         _mm512_cmp_ps_mask(r, r, _CMP_UNORD_Q);
  return _mm512_maskz_mov_ps(keep, r);
}

#define WSK_BODY_ISA avx512
#define WSK_BODY_ISA_ENUM WSK_ISA_AVX512
#define GEMM_MR 8
#define GEMM_NV 2
#include "kernels/simd/gemm-body.h"
