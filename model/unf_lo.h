/* model/unf_lo.h — the learned-optimizer experiment of universal neural
 * functionals (Zhou, Finn, Harrison 2024, §5.2): meta-train the UNF learned
 * optimizer and its pointwise "Deep Set" ablation with persistent evolution
 * strategies (model/es.h), meta-tune SGD with momentum the same way, tune
 * Adam's learning rate by a grid, then train held-out task instances with
 * every optimizer and compare their final training losses.
 *
 * Files under DIR/<task>/ (task "mlp" or "cnn", model/unf_task.h):
 *   <opt>.meta.safetensors  the meta-parameters of optimizer <opt> (unf,
 *                           deepset, sgdm, adam): one tensor "meta", with the
 *                           settings as metadata (compared on a rerun)
 *   <opt>.es                the ES checkpoint while meta-training runs (a
 *                           rerun resumes from it, bit-identically)
 *   adam_grid.csv           Adam: lr, mean final loss over the tuning seeds
 *   eval.csv, eval.md       per optimizer and held-out seed: the final
 *                           training loss; the table of mean +- s.e.
 *   curves.csv              per step: the mean training loss of each optimizer
 *   loss_curves.png         with gnuplot installed
 * The FINAL TRAINING LOSS of a run is the mean training-batch loss over the
 * last 10 steps of the horizon (1,280 images at batch 128).
 * Seeds: meta-training draws its task instances from the seed (model/es.h);
 * the Adam grid uses tuning seeds (seed, stream "tune"); evaluation uses
 * held-out seeds (seed, stream "heldout") that neither touches.
 * Everything is bit-identical on every ISA tier and thread count.
 */
#ifndef WSK_MODEL_UNF_LO_H
#define WSK_MODEL_UNF_LO_H

#include <stddef.h>
#include <stdint.h>

#include "model/data.h"
#include "model/io.h"
#include "model/lopt.h"
#include "model/unf_task.h"
#include "wsk/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct wsk_lo_config {
  const char *out_dir;  /* DIR (required) */
  const char *data_dir; /* NULL: wsk_data_default_dir() */
  wsk_task_kind task;
  size_t train_images; /* training images the tasks draw from (0: all 60,000) */
  int horizon;         /* inner steps of a task instance (default 1000) */
  int64_t meta_steps;  /* ES meta-steps (default 1000) */
  int tasks;           /* parallel task instances of ES (default 16) */
  int truncation;      /* inner steps per ES unroll (default 50) */
  float sigma;         /* ES perturbation (default 0.01) */
  float meta_lr;       /* Adam's step on the meta-parameters (0, the default:
                          1e-3 for UNF and Deep Set, 3e-3 for SGDM) */
  int eval_seeds;      /* held-out instances per optimizer (default 5) */
  int tune_seeds;      /* Adam grid: instances per learning rate (default 3) */
  uint64_t seed;
  float beta_init;    /* the learned optimizers' initial beta (default 0.1: at
                         model/lopt.h's 0.001 the network's term is too small
                         for ES to find a direction in its budget) */
  int init_from_sgdm; /* 1 (default): a learned optimizer starts from the
                         meta-tuned SGDM's alpha and gamma0 when DIR/<task>/
                         sgdm.meta.safetensors exists */
  int force;          /* discard meta-parameters made with other settings */
  int progress;       /* progress on stderr */
  int plots;          /* draw loss_curves.png when gnuplot is installed */
} wsk_lo_config;

void wsk_lo_config_default(wsk_lo_config *c);

/* Learning rates of the Adam grid. */
#define WSK_LO_ADAM_GRID_N 7 /* 1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 1e-1 */
extern const float wsk_lo_adam_grid[WSK_LO_ADAM_GRID_N];

typedef struct wsk_lo_train_result {
  wsk_lopt_kind opt;
  int64_t meta_steps; /* ES steps done (0 for Adam) */
  int reused;         /* 1: the meta-parameters were already there */
  double seconds;     /* wall time of this call */
  double last_loss;   /* ES: mean antithetic loss of the last step; Adam: best grid loss */
  double flops;       /* FLOPs of the ES steps run in this call (task + optimizer) */
  char describe[256]; /* wsk_lopt_meta_describe of the result */
} wsk_lo_train_result;

/* Meta-trains (UNF, DEEPSET, SGDM: ES) or tunes (ADAM: grid) optimizer k on
 * the task and writes DIR/<task>/<k>.meta.safetensors. A rerun with the same
 * settings reuses the file (or resumes the ES checkpoint). */
wsk_status wsk_lo_meta_train(const wsk_lo_config *c, wsk_lopt_kind k, wsk_lo_train_result *r);

typedef struct wsk_lo_eval_row {
  int present;     /* the optimizer's meta-parameters were found */
  double mean, se; /* final training loss over the held-out seeds */
  double test_acc; /* mean test accuracy of the final weights */
  char describe[256];
} wsk_lo_eval_row;

typedef struct wsk_lo_eval_result {
  wsk_task_kind task;
  int seeds, horizon;
  wsk_lo_eval_row row[WSK_LOPT_COUNT];
  double *final; /* [WSK_LOPT_COUNT][seeds] final losses (NaN: absent) */
  float *curve;  /* [WSK_LOPT_COUNT][horizon] mean loss per step */
  int plot_written;
  double seconds;
} wsk_lo_eval_result;

/* Trains eval_seeds held-out instances of the task with every optimizer whose
 * meta-parameters are in DIR/<task>/ (at least one) for the horizon; writes
 * eval.csv, eval.md, curves.csv and the plot. */
wsk_status wsk_lo_eval(const wsk_lo_config *c, wsk_lo_eval_result *r);
void wsk_lo_eval_result_free(wsk_lo_eval_result *r);
/* The table: optimizer | final training loss (mean +- s.e.) | test accuracy |
 * meta-parameters. */
wsk_status wsk_lo_eval_markdown(const wsk_lo_eval_result *r, wsk_strbuf *out);

/* The task's directory, DIR/<task>. */
wsk_status wsk_lo_task_dir(const wsk_lo_config *c, char *buf, size_t n);

#ifdef __cplusplus
}
#endif
#endif /* WSK_MODEL_UNF_LO_H */
