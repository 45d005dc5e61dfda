/* model/features.c — the baseline features W and s(W) of the probes
 * (model/features.h). Statistics are computed in double precision, sums in
 * index order. */
#include "model/features.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dispatch/error.h"

const char *const wsk_wstats_names[WSK_WSTATS_PER_TENSOR] = {"mean", "var", "q01", "q25",
                                                             "q50",  "q75", "q99"};
static const double stat_quantiles[5] = {0.01, 0.25, 0.50, 0.75, 0.99};

double wsk_quantile_linear(const double *sorted, size_t n, double q) {
  const double h = (double)(n - 1) * q;
  double fi = floor(h);
  if (fi < 0) fi = 0;
  size_t i = (size_t)fi;
  if (i > n - 1) i = n - 1;
  const size_t i1 = i + 1 < n ? i + 1 : i;
  const double t = h - (double)i, a = sorted[i], b = sorted[i1], diff = b - a;
  return t >= 0.5 ? b - diff * (1.0 - t) : a + diff * t;
}

/* ascending, -0 before +0 (the inputs are finite) */
static int cmp_double(const void *pa, const void *pb) {
  const double a = *(const double *)pa, b = *(const double *)pb;
  if (a < b) return -1;
  if (a > b) return 1;
  return (int)(signbit(b) != 0) - (int)(signbit(a) != 0);
}

wsk_status wsk_tensor_stats(const float *x, size_t n, double out[WSK_WSTATS_PER_TENSOR]) {
  if (!x || !out) return wsk__fail(WSK_ERR_NULL, "wsk_tensor_stats: NULL argument");
  if (n == 0) return wsk__fail(WSK_ERR_SIZE, "wsk_tensor_stats: empty tensor");
  double *s = malloc(n * sizeof *s);
  if (!s) return wsk__fail(WSK_ERR_NOMEM, "wsk_tensor_stats: out of memory (%zu values)", n);
  double mean = 0;
  for (size_t i = 0; i < n; i++) {
    if (!isfinite(x[i])) {
      free(s);
      return wsk__fail(WSK_ERR_ARG, "value %zu of %zu is not finite (%g)", i, n, (double)x[i]);
    }
    s[i] = x[i];
    mean = mean + s[i];
  }
  mean = mean / (double)n;
  double var = 0;
  for (size_t i = 0; i < n; i++) {
    const double c = s[i] - mean;
    var = var + c * c;
  }
  out[0] = mean;
  out[1] = var / (double)n;
  qsort(s, n, sizeof *s, cmp_double);
  for (size_t k = 0; k < 5; k++) out[2 + k] = wsk_quantile_linear(s, n, stat_quantiles[k]);
  free(s);
  return WSK_OK;
}

size_t wsk_features_w_dim(const wsk_safetensors *st) {
  size_t d = 0;
  for (size_t k = 0; k < st->count; k++) d += wsk_safetensors_numel(st, k);
  return d;
}

size_t wsk_features_stats_dim(const wsk_safetensors *st) {
  return WSK_WSTATS_PER_TENSOR * st->count;
}

wsk_status wsk_features_w(const wsk_safetensors *st, double *out) {
  if (!st || !out) return wsk__fail(WSK_ERR_NULL, "wsk_features_w: NULL argument");
  size_t o = 0;
  for (size_t k = 0; k < st->count; k++) {
    const size_t m = wsk_safetensors_numel(st, k);
    for (size_t i = 0; i < m; i++) out[o + i] = st->data[k][i];
    o += m;
  }
  return WSK_OK;
}

wsk_status wsk_features_stats(const wsk_safetensors *st, double *out) {
  if (!st || !out) return wsk__fail(WSK_ERR_NULL, "wsk_features_stats: NULL argument");
  for (size_t k = 0; k < st->count; k++) {
    const wsk_status s = wsk_tensor_stats(st->data[k], wsk_safetensors_numel(st, k),
                                          out + WSK_WSTATS_PER_TENSOR * k);
    if (s != WSK_OK) {
      char msg[512];
      snprintf(msg, sizeof msg, "%s", wsk_last_error());
      return wsk__fail(s, "tensor '%s': %s", st->names[k], msg);
    }
  }
  return WSK_OK;
}

int wsk_features_same_layout(const wsk_safetensors *a, const wsk_safetensors *b) {
  if (a->count != b->count) return 0;
  for (size_t k = 0; k < a->count; k++) {
    if (strcmp(a->names[k], b->names[k]) != 0 || a->ranks[k] != b->ranks[k]) return 0;
    for (int r = 0; r < a->ranks[k]; r++)
      if (a->shapes[k][r] != b->shapes[k][r]) return 0;
  }
  return 1;
}
