/* model/features.h — the baseline features of the probes (Schürholt et al.
 * 2021, §4 "Baselines"), computed from one checkpoint:
 *
 *   W     all weights of the checkpoint flattened in file order (each tensor
 *         row-major, tensors in the order the file stores them);
 *   s(W)  per layer, weights and biases separately — that is per tensor, in
 *         file order — seven statistics: mean, variance (population, 1/n) and
 *         the 1, 25, 50, 75 and 99 % quantiles.
 *
 * Quantiles use linear interpolation between order statistics, numpy's
 * default (method "linear", Hyndman & Fan's definition 7): for n sorted
 * values x_0 <= ... <= x_{n-1} and q in [0, 1], h = (n - 1) q,
 * i = floor(h), t = h - i, and
 *   Q(q) = x_i + (x_{i+1} - x_i) t           when t <  0.5,
 *   Q(q) = x_{i+1} - (x_{i+1} - x_i)(1 - t)  when t >= 0.5
 * (numpy's _lerp, which is exact at both ends), with x_{i+1} = x_i at i = n-1.
 * The sort orders -0 before +0, so ties of zeros give the same bits
 * whatever qsort does.
 */
#ifndef WSK_MODEL_FEATURES_H
#define WSK_MODEL_FEATURES_H

#include <stddef.h>

#include "model/safetensors.h"
#include "wsk/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* statistics per tensor in s(W), in this order */
#define WSK_WSTATS_PER_TENSOR 7
extern const char *const wsk_wstats_names[WSK_WSTATS_PER_TENSOR]; /* "mean", "var", "q01", ... */

/* Q(q) of n >= 1 values sorted ascending (definition above); q in [0, 1]. */
double wsk_quantile_linear(const double *sorted, size_t n, double q);

/* The seven statistics of n >= 1 values x, in the order of wsk_wstats_names.
 * Non-finite values are WSK_ERR_ARG. */
wsk_status wsk_tensor_stats(const float *x, size_t n, double out[WSK_WSTATS_PER_TENSOR]);

/* Number of features of W (total floats) and of s(W) (7 per tensor). */
size_t wsk_features_w_dim(const wsk_safetensors *st);
size_t wsk_features_stats_dim(const wsk_safetensors *st);

/* W of a checkpoint into out[wsk_features_w_dim(st)]. */
wsk_status wsk_features_w(const wsk_safetensors *st, double *out);
/* s(W) of a checkpoint into out[wsk_features_stats_dim(st)]: tensor k's
 * statistics at out[7k .. 7k+6]. A tensor with a non-finite value is
 * WSK_ERR_ARG naming the tensor. */
wsk_status wsk_features_stats(const wsk_safetensors *st, double *out);

/* 1 when a and b hold the same tensors (names, ranks, shapes) in the same
 * order, so that their features line up. */
int wsk_features_same_layout(const wsk_safetensors *a, const wsk_safetensors *b);

#ifdef __cplusplus
}
#endif
#endif /* WSK_MODEL_FEATURES_H */
