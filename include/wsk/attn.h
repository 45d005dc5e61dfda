/* wsk/attn.h — fused multi-head scaled-dot-product attention, forward and
 * backward, without an Lq x Lk matrix in memory (tiled, online softmax).
 *
 * Tensors are fp32 and addressed through views: element (b, l, h, d) of a
 * view is data[b*sb + l*sl + h*sh + d] — the head dimension is contiguous,
 * the other three strides are free. The fused projection output of a
 * transformer, [B][L][3][H][Dh], gives Q, K and V without copies
 * (wsk_attn_qkv_views()); the output is usually [B][L][H][Dh]
 * (wsk_attn_dense_view()).
 *
 * Forward, for every batch b, head h and query i (Lq queries, Lk keys):
 *   s_j = scale * (q_i . k_j)                      for every key j
 *   o_i = sum_j softmax(s)_j v_j,   lse_i = log sum_j exp(s_j)
 * over the keys j that are not masked: key_mask[b*Lk + j] == 0 masks key j
 * for every query of batch b; `causal` masks j > i + (Lk - Lq) (the last
 * query sees every key). A query whose keys are all masked gets o_i = 0 and
 * lse_i = +Inf, so that exp(s - lse) = 0 in the backward: zero gradients,
 * never NaN.
 *
 * Backward, from dO (recomputing the probabilities from lse):
 *   P_ij = exp(s_ij - lse_i),  D_i = dO_i . o_i
 *   dS_ij = P_ij (dO_i . v_j - D_i)                (0 where masked)
 *   dV_j = sum_i P_ij dO_i,  dK_j = scale sum_i dS_ij q_i,
 *   dQ_i = scale sum_j dS_ij k_j.
 *
 * The same bits on every tier, blocking and thread count (the parity
 * contract). Every result is defined by this order of operations:
 *  - dot products over d (q.k, dO.v):  acc = +0;  for d = 0 .. Dh-1 in order:
 *    acc = fmaf(x[d], y[d], acc)   (then s = acc * scale);
 *  - keys are taken in blocks of WSK_ATTN_KEY_BLOCK (the last one shorter);
 *    per query the online softmax keeps a running maximum m (start -Inf), a
 *    running sum l (start +0) and the output accumulator o (start +0). For
 *    each block: m' = max(m, max of the block's unmasked s) + 0 (NaN scores
 *    are ignored by the max; the + 0 makes a zero maximum +0); u = m' unless
 *    m' = -Inf, then u = 0; alpha = exp(m - u); p_j = exp(s_j - u) (0 when
 *    masked); l = l * alpha, then l = l + p_j for the block's keys j in
 *    order; o = o * alpha, then o = fmaf(p_j, v_j, o) for the block's keys in
 *    order. At the end o_i = o / l and lse_i = m + log(l), or 0 and +Inf when
 *    l = 0.
 *  - D_i: 16 partial sums, lane d mod 16 accumulating fmaf(dO[d], o[d], .)
 *    over d in order, added by the same halving tree.
 *  - P_ij = exp((s_ij - lse_i)), dS_ij = P_ij * (dP_ij - D_i);
 *    dV_j = chain of fmaf(P_ij, dO_i, .) over i = 0 .. Lq-1 in order from +0;
 *    dK_j = scale * (chain of fmaf(dS_ij, q_i, .) over i in order);
 *    dQ_i = scale * (chain of fmaf(dS_ij, k_j, .) over j in order).
 * exp and log are SLEEF's deterministic finz_ functions on every tier.
 * Under the causal mask a key's v_j is multiplied by the zero weight of the
 * queries that may not see it (as an unfused P.V would): an Inf or NaN in a
 * value vector reaches those rows too. Keys masked by key_mask are left out
 * entirely, and get dK = dV = 0.
 */
#ifndef WSK_ATTN_H
#define WSK_ATTN_H

#include <stdint.h>

#include "wsk/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Keys per block of the online softmax: the block size that decides when the
 * running maximum is updated, one constant for every tier. */
#define WSK_ATTN_KEY_BLOCK 64

/* A read-only view: element (b, l, h, d) at data[b*sb + l*sl + h*sh + d]. */
typedef struct wsk_attn_cview {
  const float *data;
  int64_t sb, sl, sh;
} wsk_attn_cview;

/* A view that is written. */
typedef struct wsk_attn_view {
  float *data;
  int64_t sb, sl, sh;
} wsk_attn_view;

typedef struct wsk_attn_desc {
  int64_t batch, heads; /* B, H >= 1 */
  int64_t lq, lk;       /* queries and keys per sequence, >= 1 */
  int64_t dh;           /* head size >= 1 */
  float scale;          /* finite; usually 1 / sqrt(dh) */
  int causal;           /* mask key j for query i when j > i + lk - lq */
  /* [batch][lk], nonzero = the key may be attended; NULL = every key */
  const uint8_t *key_mask;
} wsk_attn_desc;

/* Q, K and V as views of the fused projection output qkv[B][L][3][H][Dh]. */
void wsk_attn_qkv_views(const float *qkv, int64_t l, int64_t heads, int64_t dh,
                        wsk_attn_cview *q, wsk_attn_cview *k, wsk_attn_cview *v);
/* The writable twin, for gradients dqkv[B][L][3][H][Dh]. */
void wsk_attn_qkv_grad_views(float *dqkv, int64_t l, int64_t heads, int64_t dh,
                             wsk_attn_view *dq, wsk_attn_view *dk, wsk_attn_view *dv);
/* A dense [B][L][H][Dh] tensor. */
wsk_attn_view wsk_attn_dense_view(float *x, int64_t l, int64_t heads, int64_t dh);
wsk_attn_cview wsk_attn_dense_cview(const float *x, int64_t l, int64_t heads, int64_t dh);

/* o = attention(q, k, v); lse[B][H][Lq] (may be NULL when no backward
 * follows). o must not overlap q, k, v or lse. */
wsk_status wsk_attn_forward(const wsk_attn_desc *desc, wsk_attn_cview q, wsk_attn_cview k,
                            wsk_attn_cview v, wsk_attn_view o, float *lse);

/* dq, dk, dv from do_ (and the forward's o and lse). The gradients are
 * overwritten (not accumulated); they must not overlap each other or the
 * inputs, but may be views of one fused dqkv tensor. */
wsk_status wsk_attn_backward(const wsk_attn_desc *desc, wsk_attn_cview q, wsk_attn_cview k,
                             wsk_attn_cview v, wsk_attn_cview o, const float *lse,
                             wsk_attn_cview do_, wsk_attn_view dq, wsk_attn_view dk,
                             wsk_attn_view dv);

/* Bytes of scratch memory a forward and a backward call need with the
 * current thread pool (beyond the caller's tensors). The scratch is kept by
 * the calling thread between calls (grown when a call needs more) and freed
 * when that thread ends. */
int64_t wsk_attn_workspace_bytes(const wsk_attn_desc *desc, int backward);

#ifdef __cplusplus
}
#endif
#endif /* WSK_ATTN_H */
