/* kernels/gemm/gemm-scalar.c — the reference micro-kernel of the gemm family
 * (contract in kernels/ukernels.h and wsk/gemm.h): plain C with fmaf, always
 * built, the test oracle of gemm-{avx2,avx512,neon}.c (which share
 * kernels/simd/gemm-body.h). */
#include <math.h>

#include "kernels/ukernels.h"

#define MR 6
#define NR 16

static void kernel__scalar(size_t kc, const float *a, size_t rsa, size_t csa, const float *bp,
                           size_t ldb, size_t mr_eff, size_t nr_eff, float *t, size_t ldt, int first,
                           int last, const wsk_gemm_epilogue *ep, float *c, size_t ldc,
                           size_t j0) {
  for (size_t i = 0; i < mr_eff; i++) {
    for (size_t j = 0; j < nr_eff; j++) {
      float acc = first ? 0.0f : t[i * ldt + j];
      for (size_t p = 0; p < kc; p++) acc = fmaf(a[i * rsa + p * csa], bp[p * ldb + j], acc);
      if (!last) {
        t[i * ldt + j] = acc;
        continue;
      }
      float r = ep->alpha * acc;
      if (ep->beta != 0.0f) r = fmaf(ep->beta, c[i * ldc + j], r);
      if (ep->bias) r = r + ep->bias[j0 + j];
      if (ep->relu && !(r > 0.0f) && r == r) r = 0.0f;
      c[i * ldc + j] = r;
    }
  }
}

const wsk_gemm_ukernels wsk_gemm_ukernels__scalar = {WSK_ISA_SCALAR, MR, NR, kernel__scalar};
