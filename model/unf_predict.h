/* model/unf_predict.h — predicting a network's test accuracy from its
 * weights with an invariant universal neural functional (Zhou, Finn,
 * Harrison 2024, §5.1 "predicting generalization"), on the zoo of the
 * hyper-representation pipeline (model/zoo.h).
 *
 * The model, on the zoo's weight space (spec "mlp" or "cnn" of model/unf.h,
 * one channel):
 *   x   each tensor divided by its RMS over the training models (a per-tensor
 *       scale, which every permutation leaves alone)
 *   h1 = relu(UNF(1 -> H)(x)),  h2 = relu(UNF(H -> H)(h1))
 *   p  = invariant pool of h2 (the mean of every tensor, n_tensors x H)
 *   y  = w4 . relu(W3 p + b3) + b4      (32 hidden units)
 * so y does not change when the hidden neurons of the input network are
 * permuted. It is fitted to the standardized test accuracy by the mean
 * squared error with Adam (lr 1e-3, minibatches of 32 models), on the
 * training split of wsk_probe_split (the same seed gives the same split as
 * the linear probes of model/probe.h); the epoch with the best Kendall tau
 * on the validation split is kept and scored once on the test split.
 *
 * Every checkpoint of zoo.csv is one row (as in the probes). The gradient of
 * a minibatch is the sum of its rows' gradients in row order, each row
 * computed on one thread, so results are bit-identical for every thread
 * count and ISA tier.
 */
#ifndef WSK_MODEL_UNF_PREDICT_H
#define WSK_MODEL_UNF_PREDICT_H

#include <stddef.h>
#include <stdint.h>

#include "wsk/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct wsk_unf_predict_config {
  const char *zoo_dir; /* zoo.csv and the checkpoints it names */
  uint64_t seed;       /* the split's seed (as the probes') and the init's */
  int hidden;          /* H, channels of the UNF layers (default 8) */
  int epochs;          /* default 20 */
  int batch;           /* default 32 */
  float lr;            /* default 1e-3 */
  int quiet;           /* no progress on stderr */
} wsk_unf_predict_config;

void wsk_unf_predict_config_default(wsk_unf_predict_config *c);

typedef struct wsk_unf_predict_result {
  char spec[48];            /* the weight-space spec used */
  size_t rows, rows_used;   /* rows of zoo.csv; with finite weights and accuracy */
  size_t split_rows[3];     /* train, validation, test rows used */
  size_t n_params;          /* parameters of the predictor */
  int best_epoch;           /* 1-based */
  double tau_val, tau_test; /* Kendall tau-b of predicted and true test accuracy */
  double r2_test;           /* R^2 on the test rows */
  double seconds;
  /* the test rows' predictions (zoo.csv order among the rows used) */
  size_t pred_count;
  double *pred_true, *pred;
} wsk_unf_predict_result;

wsk_status wsk_unf_predict_run(const wsk_unf_predict_config *c, wsk_unf_predict_result *r);
void wsk_unf_predict_result_free(wsk_unf_predict_result *r);

/* Kendall's tau-b of n pairs (a_i, b_i) (ties counted in both variables;
 * NaN when one side is constant or n < 2). O(n^2), exact integer counts. */
double wsk_kendall_tau(const double *a, const double *b, size_t n);

#ifdef __cplusplus
}
#endif
#endif /* WSK_MODEL_UNF_PREDICT_H */
