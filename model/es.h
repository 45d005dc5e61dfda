/* model/es.h — persistent evolution strategies (Vicol, Metz, Sohl-Dickstein,
 * "Unbiased Gradient Estimation in Unrolled Computation Graphs with
 * Persistent Evolution Strategies", ICML 2021, Algorithm 2, with antithetic
 * pairs), generic over an inner problem: the meta-training of the learned
 * optimizer (model/unf_meta.h) and of its baselines.
 *
 * THE METHOD. N = `tasks` inner problems run side by side; problem i keeps
 * two PARTICLES (inner states, + and -) and xi_i, the sum of the
 * perturbations its particles received since the problem was last reset.
 * Meta-step k (k = 0, 1, ...), with theta the meta-parameters:
 *   eps_i ~ N(0, sigma^2 I), drawn from the stream (seed, k, i) (model/rng.h:
 *          wsk_rng_normal times sigma, element by element);
 *   unroll particle (i, +) with theta + eps_i and (i, -) with theta - eps_i
 *          for `truncation` inner steps (the 2N unrolls over wsk_parallel_for;
 *          each gives L+-_i, its mean inner loss);
 *   xi_i += eps_i;
 *   g = sum over i in order of xi_i (L+_i - L-_i) / (2 N sigma^2)   [double,
 *          rounded to float per element];
 *   if clip > 0 and |g|_2 > clip: g *= clip / |g|_2;
 *   theta = Adam(theta, g) (wsk_adam, step k + 1, no decay);
 *   an inner problem whose particles report done (its horizon reached), or
 *          whose loss was not finite, is reset: both particles from the seed
 *          drawn from the stream (seed, i, episode_i + 1), xi_i = 0.
 * The sum over the unrolls so far telescopes: xi_i (L+ - L-) is an unbiased
 * estimate of the gradient of the smoothed loss of the whole unrolled
 * computation, not only of the last truncation (the PES correction).
 *
 * NON-FINITE LOSSES. A particle whose mean loss is NaN or +-Inf (a diverged
 * inner run) counts as WSK_ES_BAD_LOSS for the gradient (a large finite
 * penalty: the perturbation that diverged is pushed away; the clip bounds the
 * step) and its problem is reset after the step. NaN never reaches theta.
 *
 * STAGGERING. So that the problems do not all reach their horizon (and
 * reset) at the same meta-step, a fresh run first advances problem i by
 * w_i = floor(i * horizon / N / truncation) * truncation inner steps with the
 * initial theta, unperturbed, in unrolls of `truncation` steps (losses
 * unused), then copies particle + into particle -. With horizon 0 (unknown)
 * w_i = i * truncation, and a problem that reports done during its warm-up is
 * reset with its next episode's seed and goes on.
 *
 * DETERMINISM. Every random number comes from a stream fixed by (seed, k, i)
 * or (seed, i, episode), each particle's unroll depends only on its state and
 * its meta-parameters, and every sum runs in task order, so the result is the
 * same bits for every thread count and ISA tier (provided the problem's
 * unroll is).
 *
 * CHECKPOINTS. With `checkpoint` set, the whole state (theta, Adam's m and v
 * and step, every particle's state bytes, the xi's, the episode counters) is
 * written atomically every checkpoint_every meta-steps and at the end; a call
 * that finds a checkpoint of the same problem and config resumes from it and
 * ends bit-identical to an uninterrupted run. File (little-endian):
 *   "WSK-PES\n", u32 version (1), u32 0,
 *   u64 n_meta, state_bytes, tasks, truncation, seed, fingerprint, horizon,
 *   u32 bits of sigma, lr, beta1, beta2, eps, clip, u32 0,
 *   i64 meta-steps done,
 *   f32 theta[n_meta], m[n_meta], v[n_meta],
 *   per task: u64 episode, f32 xi[n_meta], state+ [state_bytes], state- [...],
 *   u64 FNV-1a 64 of every byte before it.
 * A file that is short, long, of another magic or version, or whose checksum
 * is wrong is WSK_ERR_FORMAT naming the path; one of another problem or
 * config is WSK_ERR_ARG naming the first field that differs (delete the file
 * to start over). `steps` and checkpoint_every may change between calls.
 */
#ifndef WSK_MODEL_ES_H
#define WSK_MODEL_ES_H

#include <stddef.h>
#include <stdint.h>

#include "wsk/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The loss of a particle whose mean loss is not finite. */
#define WSK_ES_BAD_LOSS 1e4

typedef struct wsk_es_problem {
  size_t n_meta;
  size_t state_bytes; /* one particle's inner state: plain bytes (no pointers),
                         checkpointed as is */
  void *ctx;
  int threads_max;      /* scratch slots the problem has (thread index < this); a
                           pool of more threads runs the unrolls serially on slot 0 */
  int64_t horizon;      /* inner steps of one inner problem (for staggering; 0: unknown) */
  uint64_t fingerprint; /* identifies the problem in checkpoints (0: none) */
  /* New inner problem from seed into state (particle's inner time 0). */
  wsk_status (*reset)(void *ctx, int thread, uint64_t seed, void *state);
  /* Advance `steps` inner steps with meta-parameters meta; *loss = mean inner
   * training loss over them; *done = 1 once the inner horizon is reached. */
  wsk_status (*unroll)(void *ctx, int thread, const float *meta, void *state, int steps,
                       double *loss, int *done);
} wsk_es_problem;

typedef struct wsk_es_config {
  int tasks;                   /* parallel inner problems (antithetic pairs), default 16 */
  int truncation;              /* inner steps per unroll, default 50 */
  float sigma;                 /* perturbation scale, default 0.01 */
  float lr, beta1, beta2, eps; /* Adam on the meta-parameters: 3e-3, 0.9, 0.999, 1e-8 */
  float clip;                  /* meta-gradient L2-norm clip, default 1 (0: none) */
  int64_t steps;               /* meta-steps to reach (total, across resumes), default 100 */
  uint64_t seed;               /* default 0 */
  const char *checkpoint;      /* path or NULL; written atomically every
                                  checkpoint_every steps (0: only at the end) and at the end */
  int checkpoint_every;        /* default 10 */
  /* optional progress callback: called after every meta-step with (step,
   * mean antithetic loss, grad norm before clipping); step counts from 1 */
  void (*on_step)(void *arg, int64_t step, double loss, double gnorm);
  /* optional: called after every meta-step with that step's gradient
   * estimate g[n_meta] before clipping (diagnostics and tests) */
  void (*on_grad)(void *arg, int64_t step, const float *g, size_t n_meta);
  void *on_step_arg; /* the arg of both callbacks */
} wsk_es_config;

void wsk_es_config_default(wsk_es_config *c);

/* Meta-trains meta[n_meta] in place. With an existing checkpoint of the same
 * problem/config it resumes from it and ends bit-identical to an
 * uninterrupted run; a checkpoint of a different problem or config is an
 * error naming what differs (unless the caller removes it). A checkpoint
 * already at or past `steps` gives its meta-parameters without running. */
wsk_status wsk_es_train(const wsk_es_problem *p, const wsk_es_config *c, float *meta);

#ifdef __cplusplus
}
#endif
#endif /* WSK_MODEL_ES_H */
