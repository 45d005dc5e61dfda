/* model/ssl_layers.h — the layers of the SSL hyper-representation transformer
 * (Schürholt, Kostadinov, Borth 2021, §3: a transformer encoder/decoder on
 * the tokens of a network's weights), forward and hand-written backward:
 * linear maps, layer norm, multi-head self-attention, the feed-forward
 * network and the pre-norm transformer block
 *
 *   x_mid = x + MHA(LN1(x))          MHA(h) = Attn(h Wqkv^T + bqkv) Wo^T + bo
 *   y     = x_mid + FFN(LN2(x_mid))  FFN(h) = GELU(h W1^T + b1) W2^T + b2
 *
 * Activations are row-major [rows][features], rows = sequences x tokens.
 * Weights are stored as PyTorch stores them: a linear map is W[out][in] with
 * bias b[out]; the attention projection is nn.MultiheadAttention's
 * in_proj_weight [3D][D] (q, k, v stacked), so the projection output of a
 * token is laid out [3][H][Dh] and the whole [S][L][3][H][Dh] tensor is the
 * fused layout of wsk/attn.h.
 *
 * Gradients of parameters ACCUMULATE (+=) into the given arrays, so a caller
 * zeroes them once per step; gradients of activations are written.
 *
 * Determinism: every sum runs in one fixed order — gemm's per-element fmaf
 * chains over the rows (wsk/gemm.h), bias gradients as column sums with the
 * rows in increasing order, layer norm and attention as their kernels define
 * — so results are the same bits for every ISA tier and thread count.
 */
#ifndef WSK_MODEL_SSL_LAYERS_H
#define WSK_MODEL_SSL_LAYERS_H

#include <stddef.h>
#include <stdint.h>

#include "wsk/gemm.h"
#include "wsk/status.h"

#ifdef __cplusplus
extern "C" {
#endif

#define WSK_SSL_LN_EPS 1e-5f

/* ---- linear: y = act(x W^T + b) (+ y when accumulate) ---- */

/* x[rows][in], w[out][in], b[out] (NULL: none), y[rows][out]. With
 * accumulate != 0 the result is added to y: y = y + (x W^T) + b, computed as
 * gemm's fmaf(1, y, acc) + b (act must be NONE then). */
wsk_status wsk_ssl_linear_forward(int64_t rows, int64_t in, int64_t out, const float *x,
                                  const float *w, const float *b, float *y, wsk_activation act,
                                  int accumulate);
/* From dy[rows][out] (the gradient of the linear output, before any
 * activation): dx[rows][in] = dy W (written; NULL: not needed),
 * dw[out][in] += dy^T x, db[out] += column sums of dy (NULL: no bias). */
wsk_status wsk_ssl_linear_backward(int64_t rows, int64_t in, int64_t out, const float *x,
                                   const float *w, const float *dy, float *dx, float *dw,
                                   float *db);

/* ---- multi-head self-attention over S sequences of L tokens ---- */

typedef struct wsk_ssl_attn_shape {
  int64_t seqs, len; /* S sequences of L tokens: rows = S L */
  int64_t dim;       /* D = heads * head_dim */
  int64_t heads;
} wsk_ssl_attn_shape;

/* What the forward keeps for the backward (caller-owned, rows = S L):
 * qkv[rows][3D], o[rows][D] (attention output before Wo), lse[S][H][L]. */
typedef struct wsk_ssl_attn_cache {
  float *qkv, *o, *lse;
} wsk_ssl_attn_cache;

/* Parameters (or their gradients): wqkv[3D][D], bqkv[3D], wo[D][D], bo[D]. */
typedef struct wsk_ssl_attn_params {
  float *wqkv, *bqkv, *wo, *bo;
} wsk_ssl_attn_params;

/* y[rows][D] += MHA(h): the output projection is added onto y. */
wsk_status wsk_ssl_attn_forward(const wsk_ssl_attn_shape *s, const wsk_ssl_attn_params *p,
                                const float *h, wsk_ssl_attn_cache *c, float *y);
/* From dy (the gradient of the MHA output): dh[rows][D] (written) and the
 * parameter gradients g (accumulated). do_[rows][D] and dqkv[rows][3D] are
 * scratch. */
wsk_status wsk_ssl_attn_backward(const wsk_ssl_attn_shape *s, const wsk_ssl_attn_params *p,
                                 const float *h, const wsk_ssl_attn_cache *c, const float *dy,
                                 float *dh, const wsk_ssl_attn_params *g, float *do_, float *dqkv);

/* ---- feed-forward network ---- */

/* w1[F][D], b1[F], w2[D][F], b2[D] */
typedef struct wsk_ssl_ffn_params {
  float *w1, *b1, *w2, *b2;
} wsk_ssl_ffn_params;

/* y[rows][D] += FFN(h); keeps a1[rows][F] (pre-activation) and g1[rows][F]
 * (= GELU(a1)). */
wsk_status wsk_ssl_ffn_forward(int64_t rows, int64_t dim, int64_t ffn, const wsk_ssl_ffn_params *p,
                               const float *h, float *a1, float *g1, float *y);
/* dh[rows][D] (written) and g (accumulated) from dy; da[2 rows F] is scratch. */
wsk_status wsk_ssl_ffn_backward(int64_t rows, int64_t dim, int64_t ffn, const wsk_ssl_ffn_params *p,
                                const float *h, const float *a1, const float *g1, const float *dy,
                                float *dh, const wsk_ssl_ffn_params *g, float *da);

/* ---- layer norm (wsk_layernorm with eps WSK_SSL_LN_EPS) ---- */

/* y[rows][n] = LN(x) with gamma, beta; saves mean[rows], rstd[rows]. */
wsk_status wsk_ssl_ln_forward(int64_t rows, int64_t n, const float *x, const float *gamma,
                              const float *beta, float *y, float *mean, float *rstd);
/* dx written, dgamma and dbeta accumulated. */
wsk_status wsk_ssl_ln_backward(int64_t rows, int64_t n, const float *x, const float *dy,
                               const float *gamma, const float *mean, const float *rstd, float *dx,
                               float *dgamma, float *dbeta);

/* ---- the pre-norm transformer block ---- */

typedef struct wsk_ssl_block_shape {
  int64_t seqs, len, dim, heads, ffn;
} wsk_ssl_block_shape;

/* Parameter tensor sizes of one block, in storage order:
 * ln1.weight[D] ln1.bias[D] attn.in_proj_weight[3D][D] attn.in_proj_bias[3D]
 * attn.out_proj.weight[D][D] attn.out_proj.bias[D] ln2.weight[D] ln2.bias[D]
 * ffn.0.weight[F][D] ffn.0.bias[F] ffn.2.weight[D][F] ffn.2.bias[D]. */
#define WSK_SSL_BLOCK_TENSORS 12
extern const char *const wsk_ssl_block_tensor_names[WSK_SSL_BLOCK_TENSORS];
/* Number of floats of the block's parameters; sizes[12] and shapes (rank 1
 * or 2, [12][2]) may be NULL. */
size_t wsk_ssl_block_param_count(int64_t dim, int64_t ffn, size_t sizes[WSK_SSL_BLOCK_TENSORS],
                                 int64_t shapes[WSK_SSL_BLOCK_TENSORS][2]);

/* Pointers into one block's parameters (or gradients), stored as above. */
typedef struct wsk_ssl_block_params {
  float *ln1_g, *ln1_b;
  wsk_ssl_attn_params attn;
  float *ln2_g, *ln2_b;
  wsk_ssl_ffn_params ffn;
} wsk_ssl_block_params;
void wsk_ssl_block_params_at(float *base, int64_t dim, int64_t ffn, wsk_ssl_block_params *p);

/* Activations a block keeps for its backward, rows = S L (caller-owned;
 * wsk_ssl_block_cache_floats() floats carved by wsk_ssl_block_cache_at()). */
typedef struct wsk_ssl_block_cache {
  float *ln1, *mean1, *rstd1; /* LN1(x): [rows][D], [rows], [rows] */
  wsk_ssl_attn_cache attn;
  float *x_mid; /* [rows][D] */
  float *ln2, *mean2, *rstd2;
  float *a1, *g1; /* [rows][F] */
} wsk_ssl_block_cache;
size_t wsk_ssl_block_cache_floats(const wsk_ssl_block_shape *s);
void wsk_ssl_block_cache_at(const wsk_ssl_block_shape *s, float *base, wsk_ssl_block_cache *c);

/* Floats of scratch a block backward needs. */
size_t wsk_ssl_block_scratch_floats(const wsk_ssl_block_shape *s);

/* y[rows][D] = block(x); x and y must not overlap (x is kept for the
 * backward by the caller). */
wsk_status wsk_ssl_block_forward(const wsk_ssl_block_shape *s, const wsk_ssl_block_params *p,
                                 const float *x, wsk_ssl_block_cache *c, float *y);
/* dx[rows][D] (written) from dy; parameter gradients g accumulate; scratch
 * of wsk_ssl_block_scratch_floats() floats. dx may not alias dy. */
wsk_status wsk_ssl_block_backward(const wsk_ssl_block_shape *s, const wsk_ssl_block_params *p,
                                  const float *x, const wsk_ssl_block_cache *c, const float *dy,
                                  float *dx, const wsk_ssl_block_params *g, float *scratch);

/* The same block when only the output at the first token of every sequence
 * is needed (the encoder's last block, whose only use is the compression
 * token): LN1 and the key/value projections run on every token, the query,
 * the output projection, LN2 and the FFN on the first token only, so
 * y[S][D] = block(x)[s][0] for every sequence s — the same values as the
 * full block's rows. The cache is a full block's (its [rows] arrays then hold
 * S rows after the attention). */
wsk_status wsk_ssl_block_forward_first(const wsk_ssl_block_shape *s, const wsk_ssl_block_params *p,
                                       const float *x, wsk_ssl_block_cache *c, float *y);
/* dx[rows][D] (written) from dy[S][D]; g accumulates; the same scratch. */
wsk_status wsk_ssl_block_backward_first(const wsk_ssl_block_shape *s, const wsk_ssl_block_params *p,
                                        const float *x, const wsk_ssl_block_cache *c,
                                        const float *dy, float *dx, const wsk_ssl_block_params *g,
                                        float *scratch);

#ifdef __cplusplus
}
#endif
#endif /* WSK_MODEL_SSL_LAYERS_H */
