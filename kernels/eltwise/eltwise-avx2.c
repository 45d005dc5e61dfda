/* kernels/eltwise/eltwise-avx2.c — placeholder (being rewritten). */
#include <sleef.h>

#include "kernels/ukernels.h"

static void relu__avx2(size_t n, const float *x, float *y) {
  for (size_t i = 0; i < n; i++) y[i] = x[i] > 0.0f ? x[i] : (x[i] != x[i] ? x[i] : 0.0f);
}
static void gelu__avx2(size_t n, const float *x, float *y) {
  for (size_t i = 0; i < n; i++) {
    const float v = x[i];
    y[i] = 0.5f * v * (1.0f + Sleef_finz_erff1_u10purecfma(v * 0.70710678118654752f));
  }
}
static void tanh__avx2(size_t n, const float *x, float *y) {
  for (size_t i = 0; i < n; i++) y[i] = Sleef_finz_tanhf1_u10purecfma(x[i]);
}
static void sigmoid__avx2(size_t n, const float *x, float *y) {
  for (size_t i = 0; i < n; i++) y[i] = 1.0f / (1.0f + Sleef_finz_expf1_u10purecfma(-x[i]));
}

const wsk_eltwise_ukernels wsk_eltwise_ukernels__avx2 = {
    WSK_ISA_AVX2, relu__avx2, gelu__avx2, tanh__avx2, sigmoid__avx2,
};
