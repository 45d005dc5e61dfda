/* model/pipeline.h — the hyper-representation pipeline end to end
 * (Schürholt, Kostadinov, Borth 2021): a model zoo (model/zoo.h), the
 * self-supervised transformer on its weights (model/ssl_train.h), and the
 * linear probes of the hyper-representation next to the baselines W and
 * s(W) (model/probe.h), then a report.
 *
 * Files under out_dir:
 *   zoo/          the zoo (zoo.csv, ckpt/)
 *   ssl/          the SSL model, its checkpoint, embeddings and loss curve
 *   probe.md, probe.csv   the probes
 *   report.md     the results table, the configuration, the CPU, the ISA of
 *                 every kernel family, the time of every stage and the plots
 *   unf/mlp/      the learned optimizers: meta-parameters, eval.md, curves
 *                 (model/unf_lo.h)
 *   ssl_loss.png, acc_pred.png, unf/mlp/loss_curves.png   with gnuplot
 *
 * After the hyper-representation half (zoo, SSL, probes), the universal
 * neural functionals half: SGD with momentum meta-tuned, Adam's learning
 * rate tuned, the Deep Set and UNF learned optimizers meta-trained with
 * persistent ES on the MLP task (the CNN task too at --full), all evaluated
 * on held-out seeds; then the invariant UNF predictor of test accuracy on the
 * zoo (model/unf_predict.h), reported by Kendall tau next to the linear
 * probes of the hyper-representation and s(W) on the same test split.
 * Every stage resumes: a rerun after an interruption keeps what is done.
 *
 * The result digest (FNV-1a 64 over zoo.csv, the embeddings' bits, the
 * probe table, the learned optimizers' final losses and the predictor's
 * test predictions) is the same on every CPU and ISA tier and for every thread
 * count: the test command checks it natively and under qemu-aarch64.
 */
#ifndef WSK_MODEL_PIPELINE_H
#define WSK_MODEL_PIPELINE_H

#include <stdint.h>

#include "model/probe.h"
#include "model/ssl_train.h"
#include "model/unf_lo.h"
#include "model/unf_predict.h"
#include "model/zoo.h"
#include "wsk/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum wsk_pipeline_budget {
  WSK_PIPELINE_DEFAULT = 0, /* about 18 minutes on 2 cores */
  WSK_PIPELINE_SMOKE = 1,   /* seconds: CI and emulated ARM */
  WSK_PIPELINE_FULL = 2     /* paper scale: hours */
} wsk_pipeline_budget;

typedef struct wsk_pipeline_config {
  const char *out_dir;  /* required */
  const char *data_dir; /* NULL: wsk_data_default_dir() */
  wsk_pipeline_budget budget;
  uint64_t seed; /* the zoo's, the SSL model's and the split's seed */
  int force;     /* discard earlier results made with other settings */
  int progress;  /* progress on stderr */
  int plots;     /* 1: PNG plots when gnuplot is installed */
} wsk_pipeline_config;

/* out_dir "wsk-pipeline", default budget, seed 1, progress and plots on. */
void wsk_pipeline_config_default(wsk_pipeline_config *c);

/* The stages' settings for a budget (what wsk_pipeline_run uses; the zoo's
 * and SSL's out_dir / zoo_dir point into c->out_dir, which must stay valid). */
void wsk_pipeline_stage_configs(const wsk_pipeline_config *c, char *zoo_dir, size_t zoo_len,
                                char *ssl_dir, size_t ssl_len, wsk_zoo_config *zoo,
                                wsk_ssl_config *ssl);

/* The UNF half's settings for a budget: the learned-optimizer experiment
 * (lo->out_dir points at lo_dir) and the predictor (its zoo_dir at zoo_dir,
 * which must stay valid). */
void wsk_pipeline_unf_configs(const wsk_pipeline_config *c, char *lo_dir, size_t lo_len,
                              const char *zoo_dir, wsk_lo_config *lo, wsk_unf_predict_config *pred);

#define WSK_PIPELINE_STAGES 6 /* zoo, SSL, probes, meta-training, evaluation, predictor */

typedef struct wsk_pipeline_result {
  wsk_zoo_summary zoo;
  wsk_ssl_result ssl;
  wsk_probe_results probe;
  wsk_lo_train_result lo_train[WSK_TASK_COUNT][WSK_LOPT_COUNT];
  wsk_lo_eval_result lo_eval[WSK_TASK_COUNT]; /* horizon 0: the task was not run */
  wsk_unf_predict_result predict;
  double probe_tau[WSK_PROBE_NFEAT];   /* Kendall tau of the ridge probes' test predictions */
  double seconds[WSK_PIPELINE_STAGES]; /* wall time of each stage in this run */
  double total_seconds;
  uint64_t digest;
  char report_path[1100];
  int plots_written; /* PNG files written */
} wsk_pipeline_result;

/* Runs (or resumes) the three stages and writes the report. */
wsk_status wsk_pipeline_run(const wsk_pipeline_config *c, wsk_pipeline_result *r);
void wsk_pipeline_result_free(wsk_pipeline_result *r);

#ifdef __cplusplus
}
#endif
#endif /* WSK_MODEL_PIPELINE_H */
