/* kernels/optim/optim-ukernels.h — the function table of the optim family
 * (internal; included by kernels/ukernels.h). Every entry computes exactly
 * what include/wsk/optim.h defines, on validated arguments (n >= 1, widths
 * 1..64, no overlaps) and with the per-call constants the entry point
 * derived (kernels/optim/optim.c). */
#ifndef WSK_KERNELS_OPTIM_UKERNELS_H
#define WSK_KERNELS_OPTIM_UKERNELS_H

#include <stddef.h>

#include "wsk/dispatch.h"
#include "wsk/optim.h"

/* SGD: if (use_wd) g = fma(wd, w, g); m = fma(mu, m, g); w = fma(neg_lr, m, w) */
typedef struct wsk_optim_sgd_k {
  float neg_lr, mu, wd;
  int use_wd;
} wsk_optim_sgd_k;

/* Adam, the steps of wsk/optim.h with its derived constants:
 * l2: gi = fma(wd, wi, gi); decay: wi = wi * d; then the moments and
 * w = fma(neg_a, m / (sqrt(v * c2) + eps), wi). */
typedef struct wsk_optim_adam_k {
  float b1, omb1, b2, omb2, c2, eps, neg_a, wd, d;
  int l2, decay;
} wsk_optim_adam_k;

/* The learned update: m = fma(gamma0, m0, g); u = fma(beta, f, m);
 * w = fma(neg_alpha, u, w) (neg_alpha = -alpha, exact) */
typedef struct wsk_optim_lopt_k {
  float neg_alpha, beta, gamma0;
} wsk_optim_lopt_k;

/* The largest MLP width (F, H1, H2, O), row dot length, and the most
 * momenta of the features. */
enum { WSK_MLP_MAXW = 64, WSK_LOPT_MAXMOM = 8 };

typedef struct wsk_optim_ukernels {
  wsk_isa isa;
  void (*sgd)(size_t n, float *w, const float *g, float *m, const wsk_optim_sgd_k *k);
  void (*adam)(size_t n, float *w, const float *g, float *m, float *v, const wsk_optim_adam_k *k);
  /* rows r < n of wsk/optim.h's MLP: y[r*o ..] from x[r*f ..] */
  void (*mlp)(const wsk_mlp3 *net, size_t n, const float *x, float *y);
  /* wsk/optim.h's features of elements i < n, momentum k of element i at
   * mom[k*ldm + i] (ldm >= n: a chunk of a longer [nmom][ldm] array) */
  void (*lopt_features)(size_t n, const float *w, const float *g, size_t nmom, const float *gamma,
                        const float *omg, float *mom, size_t ldm, float *x, size_t ldx);
  void (*lopt_update)(size_t n, float *w, const float *g, const float *f, float *m0,
                      const wsk_optim_lopt_k *k);
  /* y[r] for rows r < n of x (n x k, k 1..64) */
  void (*rowdot)(size_t n, size_t k, const float *x, const float *v, float b, float *y);
} wsk_optim_ukernels;

/* The entry points on a given tier's table (the public functions pass the
 * dispatched one; tests and benchmarks name a tier). Arguments already
 * checked; large n goes over the thread pool. */
wsk_status wsk__sgd_with(const wsk_optim_ukernels *t, size_t n, float *w, const float *g, float *m,
                         const wsk_sgd_params *p);
wsk_status wsk__adam_with(const wsk_optim_ukernels *t, size_t n, float *w, const float *g, float *m,
                          float *v, const wsk_adam_params *p);
wsk_status wsk__mlp3_with(const wsk_optim_ukernels *t, const wsk_mlp3 *net, size_t n,
                          const float *x, float *y);
wsk_status wsk__lopt_features_with(const wsk_optim_ukernels *t, size_t n, const float *w,
                                   const float *g, size_t nmom, const float *gamma,
                                   const float *omg, float *mom, float *x, size_t ldx);
wsk_status wsk__lopt_update_with(const wsk_optim_ukernels *t, size_t n, float *w, const float *g,
                                 const float *f, float *m0, float alpha, float beta, float gamma0);
wsk_status wsk__rowdot_with(const wsk_optim_ukernels *t, size_t n, size_t k, const float *x,
                            const float *v, float b, float *y);
/* Adam's per-call constants (wsk/optim.h) */
void wsk__adam_constants(const wsk_adam_params *p, wsk_optim_adam_k *k);

#endif
