/* kernels/eltwise/eltwise-neon.c — placeholder (being rewritten). */
#include <sleef.h>

#include "kernels/ukernels.h"

static void relu__neon(size_t n, const float *x, float *y) {
  for (size_t i = 0; i < n; i++) y[i] = x[i] > 0.0f ? x[i] : (x[i] != x[i] ? x[i] : 0.0f);
}
static void gelu__neon(size_t n, const float *x, float *y) {
  for (size_t i = 0; i < n; i++) {
    const float v = x[i];
    y[i] = 0.5f * v * (1.0f + Sleef_finz_erff1_u10purecfma(v * 0.70710678118654752f));
  }
}
static void tanh__neon(size_t n, const float *x, float *y) {
  for (size_t i = 0; i < n; i++) y[i] = Sleef_finz_tanhf1_u10purecfma(x[i]);
}
static void sigmoid__neon(size_t n, const float *x, float *y) {
  for (size_t i = 0; i < n; i++) y[i] = 1.0f / (1.0f + Sleef_finz_expf1_u10purecfma(-x[i]));
}

const wsk_eltwise_ukernels wsk_eltwise_ukernels__neon = {
    WSK_ISA_NEON, relu__neon, gelu__neon, tanh__neon, sigmoid__neon,
};
