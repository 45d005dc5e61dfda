/* kernels/eltwise/eltwise-scalar.c — placeholder (being rewritten). */
#include <sleef.h>

#include "kernels/ukernels.h"

float Sleef_finz_expf1_u10purecfma(float);
float Sleef_finz_tanhf1_u10purecfma(float);
float Sleef_finz_erff1_u10purecfma(float);

static void relu__scalar(size_t n, const float *x, float *y) {
  for (size_t i = 0; i < n; i++) y[i] = x[i] > 0.0f ? x[i] : (x[i] != x[i] ? x[i] : 0.0f);
}
static void gelu__scalar(size_t n, const float *x, float *y) {
  for (size_t i = 0; i < n; i++) {
    const float v = x[i];
    y[i] = 0.5f * v * (1.0f + Sleef_finz_erff1_u10purecfma(v * 0.70710678118654752f));
  }
}
static void tanh__scalar(size_t n, const float *x, float *y) {
  for (size_t i = 0; i < n; i++) y[i] = Sleef_finz_tanhf1_u10purecfma(x[i]);
}
static void sigmoid__scalar(size_t n, const float *x, float *y) {
  for (size_t i = 0; i < n; i++) y[i] = 1.0f / (1.0f + Sleef_finz_expf1_u10purecfma(-x[i]));
}

const wsk_eltwise_ukernels wsk_eltwise_ukernels__scalar = {
    WSK_ISA_SCALAR, relu__scalar, gelu__scalar, tanh__scalar, sigmoid__scalar,
};
