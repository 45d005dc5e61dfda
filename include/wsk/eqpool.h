/* wsk/eqpool.h — equivariant pooling: the permutation-equivariant linear
 * layer of an MLP weight space (the "NP" layer of neural functionals, with
 * every neuron axis permutable) and the invariant pool.
 *
 * Weight space of an MLP with L layers and neurons n_0 (inputs) ... n_L:
 *   W_i [n_i][n_{i-1}][C],  b_i [n_i][C],  i = 1..L,
 * packed in one buffer as W_1, b_1, W_2, b_2, ..., W_L, b_L (channels-last).
 * The layer maps a space with C_in channels to one with C_out channels.
 *
 * Notation (all means per channel; "*" marks the averaged index):
 *   R_i[j]  = W_i[j][*]  row mean of W_i          (indexed by layer i's neuron j)
 *   K_i[k]  = W_i[*][k]  column mean of W_i       (indexed by layer i-1's neuron k)
 *   N_i[j]  = K_{i+1}[j] column mean of the next layer (i < L), indexed by j
 *   P_i[k]  = R_{i-1}[k] row mean of the previous layer (i > 1), indexed by k
 *   g       = [W_1[*][*], b_1[*], ..., W_L[*][*], b_L[*]]   (2L x C_in),
 *             where W_i[*][*] is computed as the mean over k of K_i[k]
 * Every term below is a row vector of C_in channels times its own C_in x C_out
 * matrix (g uses a 2L*C_in x C_out matrix); a term whose layer does not exist
 * has no matrix.
 *
 *   W'_i[j][k] = W_i[j][k] Wpt_i
 *              + R_i[j] Wrow_i + N_i[j] Wnext_i + b_i[j] Wb_i
 *              + K_i[k] Wcol_i + P_i[k] Wprev_i + b_{i-1}[k] Wbprev_i
 *              + g Wglob_i + Wbias_i
 *   b'_i[j]    = b_i[j] Bpt_i + R_i[j] Brow_i + N_i[j] Bnext_i
 *              + g Bglob_i + Bbias_i
 *
 * Permuting the neurons of any layer (inputs and outputs included) permutes
 * W' and b' the same way; g (wsk_eqpool_invariant) does not change.
 *
 * Order of operations (the same bits on every tier): each product "v M" is a
 * chain of fmaf over the rows of M in order; terms are chained in the order
 * written, grouped as
 *   zW = chain(g Wglob) from Wbias;   vW[k] = chain(K, P, b_{i-1}) from zW;
 *   uW[j] = chain(R, N, b_i) from 0;   W' = chain(W_i[j][k] Wpt) from uW[j] + vW[k];
 *   zB = chain(g Bglob) from Bbias;   b' = chain(b_i, R, N) from zB.
 * Means are wsk_permsum reductions (canonical order of wsk/permsum.h); R_i and
 * K_i come from one pass over W_i.
 *
 * Parameters are packed per layer i = 1..L in the order of wsk_eqpool_term,
 * each matrix row-major [rows][C_out], absent terms taking no space.
 */
#ifndef WSK_EQPOOL_H
#define WSK_EQPOOL_H

#include <stddef.h>
#include <stdint.h>

#include "wsk/status.h"

#ifdef __cplusplus
extern "C" {
#endif

#define WSK_EQPOOL_MAX_LAYERS 64

typedef struct wsk_eqpool_shape {
  int layers;         /* L >= 1 */
  const int64_t *n;   /* n[0..L], each >= 1 */
  int64_t c_in;       /* channels of the input space, >= 1 */
  int64_t c_out;      /* channels of the output space, >= 1 */
} wsk_eqpool_shape;

typedef enum wsk_eqpool_term {
  WSK_EQ_WPT = 0,   /* W_i[j][k]  -> W'_i */
  WSK_EQ_WROW,      /* R_i[j]     -> W'_i */
  WSK_EQ_WNEXT,     /* N_i[j]     -> W'_i   (i < L) */
  WSK_EQ_WB,        /* b_i[j]     -> W'_i */
  WSK_EQ_WCOL,      /* K_i[k]     -> W'_i */
  WSK_EQ_WPREV,     /* P_i[k]     -> W'_i   (i > 1) */
  WSK_EQ_WBPREV,    /* b_{i-1}[k] -> W'_i   (i > 1) */
  WSK_EQ_WGLOB,     /* g          -> W'_i   (2L*C_in rows) */
  WSK_EQ_WBIAS,     /* bias of W'_i (1 row) */
  WSK_EQ_BPT,       /* b_i[j]     -> b'_i */
  WSK_EQ_BROW,      /* R_i[j]     -> b'_i */
  WSK_EQ_BNEXT,     /* N_i[j]     -> b'_i   (i < L) */
  WSK_EQ_BGLOB,     /* g          -> b'_i   (2L*C_in rows) */
  WSK_EQ_BBIAS,     /* bias of b'_i (1 row) */
  WSK_EQ_TERM_COUNT
} wsk_eqpool_term;

/* Name of a term ("Wpt", "Wrow", ...). */
const char *wsk_eqpool_term_name(wsk_eqpool_term t);

/* Number of floats of a packed weight space with `channels` channels. */
wsk_status wsk_eqpool_space_size(const wsk_eqpool_shape *s, int64_t channels, size_t *count);

/* Offset (in floats) of W_i (which = 0) or b_i (which = 1) in a packed space. */
wsk_status wsk_eqpool_space_offset(const wsk_eqpool_shape *s, int64_t channels, int layer,
                                   int which, size_t *offset);

/* Number of floats of the packed parameters. */
wsk_status wsk_eqpool_param_count(const wsk_eqpool_shape *s, size_t *count);

/* Where term t of layer `layer` (1..L) lies in the parameters: *offset in
 * floats and *rows (its matrix is rows x C_out). *rows = 0 for an absent term. */
wsk_status wsk_eqpool_param_offset(const wsk_eqpool_shape *s, int layer, wsk_eqpool_term t,
                                   size_t *offset, size_t *rows);

/* y (C_out space) = layer(x (C_in space)). */
wsk_status wsk_eqpool_forward(const wsk_eqpool_shape *s, const float *params, const float *x,
                              float *y);

/* Backward of the layer for the upstream gradient dy (C_out space):
 * dx (C_in space) = dL/dx and dparams = dL/dparams, both overwritten.
 * Either output may be NULL to skip it (not both). */
wsk_status wsk_eqpool_backward(const wsk_eqpool_shape *s, const float *params, const float *x,
                               const float *dy, float *dx, float *dparams);

/* The invariant pool: y[2L][C] = g = [mean W_1, mean b_1, ..., mean W_L,
 * mean b_L] of a packed space with C = s->c_in channels (c_out is ignored),
 * bit for bit the g the layer uses. */
wsk_status wsk_eqpool_invariant(const wsk_eqpool_shape *s, const float *x, float *y);

#ifdef __cplusplus
}
#endif
#endif /* WSK_EQPOOL_H */
