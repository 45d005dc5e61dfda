/* model/unf_task.h — the tasks of the learned optimizer (Zhou, Finn, Harrison
 * 2024, §5: a learned optimizer built from UNF layers is meta-trained on, and
 * then trains, small image classifiers).
 *
 * A TASK is a network and a training set:
 *   "mlp"  the MLP 64 -> 32 -> 10, relu, on 8 x 8 FashionMNIST
 *          (model/net.h WSK_ARCH_MLP; weight space: the built-in spec "mlp");
 *   "cnn"  the CNN16 (convs of 16 and 32 channels, 3 x 3, stride 2, global
 *          average pool, linear head), relu, on 16 x 16 FashionMNIST
 *          (WSK_ARCH_CNN16; weight space: the built-in spec "cnn16"),
 * both trained with minibatches of 128 rows by default.
 *
 * A TASK RUN is one inner training run (one "task instance"): the parameters
 * w, the gradient g at w and the batch stream. Meta-training starts thousands
 * of them, so a run allocates all its scratch once (wsk_task_run_create) and
 * a step (wsk_task_run_loss_grad) allocates nothing. Held-out evaluation
 * uses runs reset with seeds never used in meta-training.
 *
 * STATE. The whole state of a run is (w, rng): w is net.n_params floats and
 * rng a plain struct (wsk_rng, four uint32), plus whatever optimizer state the
 * caller keeps. A caller checkpoints a run by saving w and rng and resumes it
 * by writing them back into a run of the same task; g and the scratch are
 * recomputed by the next wsk_task_run_loss_grad.
 *
 * RANDOMNESS (model/rng.h streams of the run's seed):
 *   stream 0: the initialization, wsk_net_init_params with kaiming_uniform
 *             weights and PyTorch's default biases (model/net.h);
 *   stream 1: the batch stream r->rng: each batch is task->batch rows drawn
 *             uniformly WITH replacement from the training set, one draw
 *             wsk_rng_below(&r->rng, n) per row, rows in order.
 * The batch is then gathered and run through wsk_net_loss_grad (evaluation
 * mode: the task networks have no dropout), so a run's losses and gradients
 * are the same bits on every ISA tier and thread count.
 */
#ifndef WSK_MODEL_UNF_TASK_H
#define WSK_MODEL_UNF_TASK_H

#include <stddef.h>
#include <stdint.h>

#include "model/data.h"
#include "model/net.h"
#include "model/rng.h"
#include "wsk/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum wsk_task_kind { WSK_TASK_MLP = 0, WSK_TASK_CNN = 1, WSK_TASK_COUNT = 2 } wsk_task_kind;

/* "mlp", "cnn"; "?" when out of range. */
const char *wsk_task_name(wsk_task_kind k);
/* Exact name to value; WSK_ERR_ARG naming the word and the valid ones otherwise. */
wsk_status wsk_task_parse(const char *s, wsk_task_kind *out);

#define WSK_TASK_BATCH 128 /* the default minibatch of both tasks */

typedef struct wsk_task {
  wsk_task_kind kind;
  wsk_net net;              /* MLP 64-32-10 relu / CNN16 relu, no dropout */
  const wsk_dataset *train; /* 8x8 (mlp) or 16x16 (cnn) images; borrowed */
  int batch;                /* 128 by default */
  const char *spec;         /* the wsk_unf_spec built-in of its weights: "mlp" / "cnn16" */
  double flops_per_step;    /* forward+backward FLOPs of one batch (multiply-add = 2) */
} wsk_task;

/* Describes task k on a training set (borrowed: it must outlive the task and
 * its runs). batch 0 means WSK_TASK_BATCH. WSK_ERR_ARG when the images are
 * not the task's size (8 x 8 for mlp, 16 x 16 for cnn) or a label is outside
 * 0..9; WSK_ERR_SIZE for an empty set (or one of 2^32 rows or more) or a
 * batch outside 1..65536.
 *
 * flops_per_step counts the multiply-adds of the gemms of one step, 2 FLOPs
 * each: the forward pass, the weight gradients of every layer and the input
 * gradients of every layer but the first (elementwise work, im2col, the loss
 * and the pooling are not counted). Per row of the batch:
 *   mlp:  forward 2 (64*32 + 32*10) = 4,736; step 2 * 4,736 + 2 * 320 = 10,112
 *         (1.29 MFLOP at batch 128);
 *   cnn:  forward 2 (64*9*16 + 16*144*32 + 32*10) = 166,528;
 *         step 2 * 166,528 + 2 (16*144*32 + 320) = 481,152 (61.6 MFLOP at 128). */
wsk_status wsk_task_make(wsk_task_kind k, const wsk_dataset *train, int batch, wsk_task *out);

/* One inner training run (a task instance): its parameters, gradient, data stream. */
typedef struct wsk_task_run {
  const wsk_task *task;
  float *w, *g; /* net.n_params each */
  wsk_rng rng;  /* the batch stream */
  /* scratch: net workspace, batch buffers */
  wsk_net_ws *ws;
  float *xb;   /* the gathered batch, batch x in_size */
  uint8_t *yb; /* its labels */
} wsk_task_run;

/* Allocates a run of task t (which it borrows); w and g are zero until a
 * reset. */
wsk_status wsk_task_run_create(const wsk_task *t, wsk_task_run **out);
void wsk_task_run_free(wsk_task_run *r); /* NULL is fine */

/* New instance from a seed: parameters initialized (kaiming_uniform weights,
 * PyTorch default biases, from stream 0 of seed), batch stream = stream 1;
 * g zeroed. */
wsk_status wsk_task_run_reset(wsk_task_run *r, uint64_t seed);

/* Draws the next batch (task->batch rows drawn uniformly with replacement
 * from the training set by r->rng, one draw per row) and computes the mean
 * loss and r->g at r->w. Non-finite loss is reported, not hidden (return
 * WSK_OK with the NaN in *loss). Allocates nothing. */
wsk_status wsk_task_run_loss_grad(wsk_task_run *r, float *loss);

/* Mean loss (and accuracy, may be NULL) of r->w over the first n rows of a
 * dataset (n = 0, or n at least the set's size: all), in evaluation mode,
 * batches of task->batch rows; d's images must be the task's size. Does not
 * touch r->rng or r->g. */
wsk_status wsk_task_run_eval(wsk_task_run *r, const wsk_dataset *d, size_t n, double *loss,
                             double *acc);

#ifdef __cplusplus
}
#endif
#endif /* WSK_MODEL_UNF_TASK_H */
