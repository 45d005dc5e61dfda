/* model/lopt.h — optimizers over a weight space: the UNF learned optimizer
 * (Zhou, Finn, Harrison 2024, §5 "learned optimizers"), its pointwise
 * "Deep Set" ablation, and the SGD-with-momentum and Adam baselines.
 *
 * The weight space is a wsk_unf_spec with one channel (C = 1): the inner
 * task's parameter array, tensor after tensor (model/unf.h). An optimizer is
 * a fixed function of META-PARAMETERS (a float vector that evolution
 * strategies meta-train, model/es.h) and of a per-run STATE (momenta, step).
 *
 * THE LEARNED OPTIMIZER (WSK_LOPT_UNF, WSK_LOPT_DEEPSET). One step t (t =
 * steps taken before this one, 0 first) from the gradient g:
 *  1. momenta, updated first with this step's g, for the six decays
 *     gamma_k in (0.1, 0.5, 0.9, 0.99, 0.999, 0.9999):
 *       m_k = fma(gamma_k, m_k, (1 - gamma_k) * g)    [1 - gamma_k a float constant]
 *  2. per parameter, the 8 features (w, g, m_0.1 ... m_0.9999), each clipped
 *     to [-1, 1] (NaN stays NaN; step 1 and the clipping are
 *     wsk_lopt_features of wsk/optim.h) and divided by that feature's RMS over the
 *     parameter's tensor:  rms = (float)sqrt(S / numel) + 1e-8f, where S, the
 *     sum of the clipped values' squares, is computed EXACTLY (integer sums
 *     per exponent folded into a 320-bit fixed-point number) and then
 *     converted to double (a fixed function of the exact sum). The exact sum
 *     does not depend on the order of the elements, so permuting a tensor
 *     permutes its features bit for bit;
 *  3. 11 time features, the same for every parameter:
 *       tanh(t / s) for s = 1, 3, 10, 30, 100, 300, 1e3, 3e3, 1e4, 3e4, 1e5
 *     (t / s in double, rounded to float; Sleef_finz_tanhf1_u10purecfma).
 *     Feature row r = [w, g, m_0.1, .., m_0.9999, time_1 .. time_1e5], F = 19;
 *  4. the network: h = relu(mlp3(x)) with wsk_mlp3_forward (19 -> 32 -> 32 ->
 *     32, ReLU after each layer; the third ReLU is wsk_relu), then
 *       UNF:     f = wsk_unf_layer_forward(32 -> 1 channel, the spec's basis),
 *       DEEPSET: f[r] = b + sum_k h[r][k] v[k], with wsk_rowdot (one fma
 *                chain started at b: acc = fma(h[r][k], v[k], acc) over
 *                k = 0..31 in order);
 *  5. the update (PyTorch's momentum buffer for m0), wsk_lopt_update:
 *       m0 = fma(gamma0, m0, g);  u = fma(beta, f, m0);  w = fma(-alpha, u, w)
 *     so w <- w - alpha (m0 + beta f).
 * alpha, beta and gamma0 are meta-learned IN LOG SPACE: the meta-vector holds
 * log alpha, log beta and log(1 - gamma0) (so alpha, beta > 0 and
 * gamma0 < 1 always); alpha = exp(meta[0]) etc. with
 * Sleef_finz_expf1_u10purecfma, gamma0 = 1 - exp(meta[2]).
 *
 * META LAYOUT (floats): [log alpha, log beta, log(1 - gamma0)], then W1 [19][32],
 * b1 [32], W2 [32][32], b2 [32], W3 [32][32], b3 [32] (wsk_mlp3 row-major),
 * then the head: UNF: the wsk_unf_layer's parameters (c_in 32, c_out 1);
 * DEEPSET: v [32] then b [1]. The offsets are in wsk_lopt.
 * Initialization: alpha = 0.1, beta = 0.001, gamma0 = 0.9; the MLP's weights
 * U(-1/sqrt(fan_in), 1/sqrt(fan_in)) (PyTorch's nn.Linear default) and its
 * biases 0, so the first update's size is set by alpha and beta alone; the
 * Deep Set head v like an MLP layer, b = 0; the UNF head as the Deep Set's
 * (the same draws): every tensor's pointwise term (each output axis fed by
 * the same axis of the same tensor) gets v, every other term and bias 0.
 * Both learned optimizers start from the same function, and the UNF's
 * equivariant terms grow only where meta-training finds them useful (with
 * wsk_unf_layer_init's paper initialization of all 32 x 32 head weights,
 * ES's noisy steps left those terms random and the UNF behind the Deep Set).
 *
 * BASELINES.
 *   SGDM: meta = [log alpha, log(1 - gamma0)]; the update is wsk_sgd_momentum
 *         (m = fma(gamma0, m, g); w = fma(-alpha, m, w)), the same bits.
 *   ADAM: meta = [log lr]; wsk_adam with betas 0.9 / 0.999, eps 1e-8, no
 *         decay, step t + 1. Not meant for ES: a caller tunes lr by a grid.
 *
 * Determinism: every operation is a fixed IEEE operation or a kernel of the
 * parity contract, so the bits depend neither on the ISA tier nor on the
 * thread count. wsk_lopt_step allocates nothing (its scratch lives in the
 * state). Its kernels run one task on the calling thread for spaces below
 * their chunk sizes (and serially inside a pool task); callers parallelize
 * over inner tasks.
 *
 * A wsk_lopt holds its basis and a layer that points at it: do not copy one
 * by value (use the one wsk_lopt_make filled).
 */
#ifndef WSK_MODEL_LOPT_H
#define WSK_MODEL_LOPT_H

#include <stddef.h>
#include <stdint.h>

#include "model/io.h"
#include "model/rng.h"
#include "model/unf.h"
#include "wsk/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum wsk_lopt_kind {
  WSK_LOPT_UNF = 0,
  WSK_LOPT_DEEPSET = 1,
  WSK_LOPT_SGDM = 2,
  WSK_LOPT_ADAM = 3,
  WSK_LOPT_COUNT = 4
} wsk_lopt_kind;

/* "unf", "deepset", "sgdm", "adam" ("?" out of range). */
const char *wsk_lopt_name(wsk_lopt_kind k);
/* The kind of one of those names; WSK_ERR_ARG naming the string otherwise. */
wsk_status wsk_lopt_parse(const char *s, wsk_lopt_kind *out);

#define WSK_LOPT_FEATURES 19 /* w, g, 6 momenta, 11 time features */
#define WSK_LOPT_HIDDEN 32
#define WSK_LOPT_MOMENTA 6
#define WSK_LOPT_TIMES 11

/* Meta-parameter indices shared by the kinds that have them. */
#define WSK_LOPT_META_LOG_ALPHA 0 /* all kinds (ADAM: log lr) */
#define WSK_LOPT_META_LOG_BETA 1  /* UNF, DEEPSET */

typedef struct wsk_lopt {
  wsk_lopt_kind kind;
  wsk_unf_spec spec;
  wsk_unf_basis basis; /* UNF only (empty otherwise) */
  wsk_unf_layer layer; /* UNF only: 32 -> 1 channel over basis */
  int has_basis;
  size_t n_meta;
  /* offsets into meta (floats) */
  size_t off_log_gamma0; /* log(1 - gamma0): index 2 (UNF, DEEPSET) or 1 (SGDM) */
  size_t off_w1, off_b1, off_w2, off_b2, off_w3, off_b3; /* UNF, DEEPSET */
  size_t off_head, n_head; /* the UNF layer's parameters, or v[32] + b */
} wsk_lopt;

wsk_status wsk_lopt_make(wsk_lopt_kind k, const wsk_unf_spec *spec, wsk_lopt *out);
void wsk_lopt_free(wsk_lopt *o);

/* The initial meta-parameters (see above); draws from rng (UNF, DEEPSET). */
wsk_status wsk_lopt_init_meta(const wsk_lopt *o, wsk_rng *rng, float *meta);
/* A one-line human summary, appended to out:
 * "alpha=0.1 beta=0.001 gamma0=0.9 mlp_rms=0.12 head_rms=0.08" (UNF, DEEPSET),
 * "alpha=0.1 gamma0=0.9" (SGDM), "lr=0.001" (ADAM). */
wsk_status wsk_lopt_meta_describe(const wsk_lopt *o, const float *meta, wsk_strbuf *out);

/* Per inner run: the optimizer's state and its scratch. */
typedef struct wsk_lopt_state wsk_lopt_state;
wsk_status wsk_lopt_state_create(const wsk_lopt *o, wsk_lopt_state **out);
void wsk_lopt_state_free(wsk_lopt_state *s);
/* Step 0, zero momenta. */
void wsk_lopt_state_reset(wsk_lopt_state *s);
int64_t wsk_lopt_state_step(const wsk_lopt_state *s); /* steps taken */
/* The persistent part as floats: [t mod 2^24, t / 2^24 (both exact integers)],
 * then the state arrays of numel floats each:
 *   UNF, DEEPSET: m0, m_0.1, m_0.5, m_0.9, m_0.99, m_0.999, m_0.9999  (2 + 7 n)
 *   SGDM: m0 (2 + n);  ADAM: m, v (2 + 2 n). */
size_t wsk_lopt_state_floats(const wsk_lopt *o);
void wsk_lopt_state_save(const wsk_lopt_state *s, float *buf);
void wsk_lopt_state_load(wsk_lopt_state *s, const float *buf);

/* One update of w (spec.numel floats) from the gradient g with meta. */
wsk_status wsk_lopt_step(const wsk_lopt *o, const float *meta, wsk_lopt_state *s, float *w,
                         const float *g);

/* Floating-point operations of one step, a multiply-add counted as 2: the
 * per-parameter MLP, the head (the UNF layer's reductions, products and
 * broadcasts, counted from its basis terms), the features and the update. */
double wsk_lopt_flops_per_step(const wsk_lopt *o);

/* For tests: the feature matrix (numel x WSK_LOPT_FEATURES, row-major) that
 * the last wsk_lopt_step of a UNF or DEEPSET state computed; NULL otherwise. */
const float *wsk_lopt_state_features(const wsk_lopt_state *s);

#ifdef __cplusplus
}
#endif
#endif /* WSK_MODEL_LOPT_H */
