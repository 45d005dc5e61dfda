/* model/unf_meta.h — the inner problem of learned-optimizer meta-training
 * (Zhou, Finn, Harrison 2024, §5.2): one instance of a task (model/unf_task.h)
 * trained by an optimizer (model/lopt.h) for a horizon of T steps, as a
 * wsk_es_problem for persistent evolution strategies (model/es.h).
 *
 * An inner step: draw the task's next batch, compute its loss and gradient
 * at w (wsk_task_run_loss_grad), then w = the optimizer's update. The ES
 * objective of an unroll is the mean of its training-batch losses (the loss
 * before each update). An unroll stops early at the horizon (done) or at a
 * non-finite loss (whose mean is then not finite: ES resets that instance).
 *
 * One particle's inner state is plain bytes, checkpointed as is:
 *   [i64 inner step | u32 x4 the batch stream (wsk_rng) | u64 0 |
 *    f32 w[n_params] | f32 the optimizer's persistent state
 *    (wsk_lopt_state_save)]
 * Each thread slot has its own wsk_task_run and wsk_lopt_state, into which a
 * particle is loaded for an unroll and saved back after it.
 *
 * The problem's fingerprint (refusing ES checkpoints of another problem) is
 * an FNV-1a hash of the task kind, its batch, its training set (every image,
 * hashed by 32-bit words, and every label), the optimizer kind, its spec's name and size, the
 * number of meta-parameters and the horizon.
 */
#ifndef WSK_MODEL_UNF_META_H
#define WSK_MODEL_UNF_META_H

#include <stddef.h>
#include <stdint.h>

#include "model/es.h"
#include "model/lopt.h"
#include "model/unf_task.h"
#include "wsk/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct wsk_unf_meta wsk_unf_meta;

/* task and opt are borrowed (they must outlive m); opt's spec must have
 * task->net.n_params elements. horizon >= 1 inner steps per instance;
 * threads >= 1 scratch slots (wsk_threads_count() for ES on the whole pool). */
wsk_status wsk_unf_meta_create(const wsk_task *task, const wsk_lopt *opt, int horizon, int threads,
                               wsk_unf_meta **out);
void wsk_unf_meta_free(wsk_unf_meta *m);
const wsk_es_problem *wsk_unf_meta_problem(wsk_unf_meta *m);

/* Trains a fresh task instance (seed: wsk_task_run_reset) for `steps` steps
 * with meta; writes the per-step training loss to curve[steps] (may be NULL)
 * and the final mean loss over the last 10 steps (or all, when fewer) to
 * *final (may be NULL). `steps` may exceed the horizon. Runs on the calling
 * thread with slot 0's scratch: not while an ES training of m is running.
 * A non-finite loss ends nothing: the curve records it. */
wsk_status wsk_unf_meta_run(wsk_unf_meta *m, const float *meta, uint64_t seed, int steps,
                            float *curve, double *final);

/* The trained weights of the last wsk_unf_meta_run (task->net.n_params
 * floats, slot 0's run), e.g. to evaluate them on a test set. */
const float *wsk_unf_meta_weights(const wsk_unf_meta *m);

#ifdef __cplusplus
}
#endif
#endif /* WSK_MODEL_UNF_META_H */
