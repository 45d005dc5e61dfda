/* model/train.h — training the zoo's networks (model/net.h): minibatch SGD
 * with momentum or Adam through the optim kernels (wsk/optim.h), L2 weight
 * decay, dropout, a random training subset of a given fraction, evaluation.
 *
 * Two levels:
 *  - step level, for callers with their own update rule (the learned
 *    optimizer): wsk_net_init_params + a wsk_batcher for minibatches +
 *    wsk_net_loss_grad for the loss and the gradient vector;
 *  - wsk_trainer: one network, its optimizer state and its data order; one
 *    call per step or per epoch, and evaluations.
 *
 * Randomness, all from the member's seed (model/rng.h streams):
 *   stream 0: the initialization;  stream 1: the training subset, then the
 *   order of every epoch;  stream 2: the dropout masks.
 * So a trainer's result depends only on its hyper-parameters and the data,
 * not on the ISA tier, the thread count or which thread runs it.
 */
#ifndef WSK_MODEL_TRAIN_H
#define WSK_MODEL_TRAIN_H

#include <stddef.h>
#include <stdint.h>

#include "model/data.h"
#include "model/net.h"
#include "model/rng.h"
#include "wsk/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- minibatches ---------------------------------------------------------------- */

/* Shuffled minibatches over rows of a dataset: each epoch is a new Fisher-Yates
 * shuffle (wsk_rng_shuffle_u32) of the current order, then consecutive
 * batches of `batch` rows, the last one possibly shorter (PyTorch's
 * DataLoader with shuffle=True, drop_last=False). */
typedef struct wsk_batcher {
  const wsk_dataset *data;
  uint32_t *order; /* the rows, in this epoch's order */
  size_t n, pos;
  int batch;
  int64_t epoch; /* epochs started */
  wsk_rng rng;
  float *x; /* the current batch, gathered: batch x rows*cols */
  uint8_t *y;
} wsk_batcher;

/* rows: the dataset rows to draw from (NULL: all of data), n of them (>= 1);
 * copied. rng: the order stream (copied). */
wsk_status wsk_batcher_init(wsk_batcher *b, const wsk_dataset *data, const uint32_t *rows, size_t n,
                            int batch, const wsk_rng *rng);
/* The next minibatch: *x (rows x in_size), *y, *rows; *epoch_end = 1 when it
 * is the last of its epoch (may be NULL). */
wsk_status wsk_batcher_next(wsk_batcher *b, const float **x, const uint8_t **y, int *rows,
                            int *epoch_end);
void wsk_batcher_free(wsk_batcher *b);

/* ---- hyper-parameters ---------------------------------------------------------------- */

typedef enum wsk_optimizer { WSK_OPT_SGD = 0, WSK_OPT_ADAM = 1, WSK_OPT_COUNT = 2 } wsk_optimizer;
const char *wsk_optimizer_name(wsk_optimizer o); /* "sgd", "adam" */
wsk_status wsk_optimizer_parse(const char *s, wsk_optimizer *out);

typedef struct wsk_train_hparams {
  wsk_arch arch;
  wsk_init init;
  wsk_net_act act;
  wsk_optimizer opt;
  float lr;
  float momentum;          /* SGD: mu (PyTorch's SGD, dampening 0) */
  float beta1, beta2, eps; /* Adam */
  float weight_decay;      /* L2, added to the gradient (PyTorch's weight_decay) */
  float dropout;           /* [0, 1) */
  float train_frac;        /* (0, 1]: the share of the training set this member sees */
  float max_grad_norm;     /* > 0: clip the gradient's global L2 norm to it; 0: never */
  int batch;
  uint64_t seed;
} wsk_train_hparams;

/* MLP, kaiming_uniform, relu, SGD lr 0.01 momentum 0.9, Adam betas (0.9, 0.999)
 * eps 1e-8, no decay, no dropout, the whole training set, no clipping,
 * batch 32, seed 0. */
void wsk_train_hparams_default(wsk_train_hparams *h);

/* ---- the trainer ---------------------------------------------------------------------- */

typedef struct wsk_eval {
  double loss; /* mean cross-entropy */
  double acc;  /* fraction correct */
  size_t n;
} wsk_eval;

typedef struct wsk_epoch_stats {
  double loss;     /* mean training loss over the epoch's rows (dropout on) */
  int64_t steps;   /* optimizer steps taken */
  int64_t skipped; /* steps skipped because the loss or the gradient was not finite */
  int64_t clipped; /* steps whose gradient was clipped */
} wsk_epoch_stats;

typedef struct wsk_trainer {
  wsk_train_hparams hp;
  wsk_net net;
  float *params, *grad, *m, *v; /* n_params each; m, v: optimizer state */
  int64_t step;                 /* optimizer steps taken so far */
  int64_t skipped, clipped;     /* running totals */
  wsk_rng drop_rng;
  uint32_t *subset; /* the training rows this member sees */
  size_t n_subset;
  wsk_batcher batcher;
  const wsk_dataset *train;
  wsk_net_ws *ws;      /* for training batches */
  wsk_net_ws *eval_ws; /* larger batches for evaluation */
} wsk_trainer;

/* Builds the network and initializes it, draws the training subset
 * (round(train_frac * n) rows, at least 1, the first of a shuffle of all rows)
 * and allocates everything. The dataset must match the architecture (8 x 8
 * for the MLP, 28 x 28 for the CNN) and outlive the trainer. */
wsk_status wsk_trainer_create(const wsk_train_hparams *hp, const wsk_dataset *train,
                              wsk_trainer **out);
void wsk_trainer_free(wsk_trainer *t);

/* One optimizer step on a given batch: loss and gradient (dropout on), skip
 * when either is not finite, clip, then the SGD or Adam update. *loss may be
 * NULL. */
wsk_status wsk_trainer_step(wsk_trainer *t, const float *x, const uint8_t *y, int rows,
                            float *loss);
/* One epoch over the member's subset in minibatches. stats may be NULL. */
wsk_status wsk_trainer_epoch(wsk_trainer *t, wsk_epoch_stats *stats);
/* Loss and accuracy on a dataset (all rows) or, for data == NULL, on the
 * member's own training subset; evaluation mode (no dropout). */
wsk_status wsk_trainer_eval(wsk_trainer *t, const wsk_dataset *data, wsk_eval *out);

#ifdef __cplusplus
}
#endif
#endif /* WSK_MODEL_TRAIN_H */
