/* model/ssl_model.h — the self-supervised hyper-representation (Schürholt,
 * Kostadinov, Borth, "Self-Supervised Representation Learning on Neural
 * Network Weights for Model Characteristic Prediction", NeurIPS 2021, §3):
 * tokens of a network's weights, the transformer encoder with a compression
 * token, the latent, the decoder, the projection head, the augmentations and
 * the loss γ·NT-Xent + (1−γ)·MSE, forward and hand-written backward.
 *
 * Tokens (§3, "weight tokens"): one per neuron of the target network — its
 * incoming weights in PyTorch's order followed by its bias. The MLP 64-32-10
 * gives 32 tokens of 65 values and 10 of 33; the CNN one token per output
 * channel (8 x 26, 6 x 201, 4 x 25) and per unit of its linear layers
 * (20 x 37, 10 x 21). A model's "token vector" holds its tokens layer after
 * layer, token after token (as many values as the network has parameters);
 * values are standardized per layer with the training zoo's mean and
 * standard deviation before they enter the model.
 *
 * A batch of V views is stored layer-major: for each target layer l, the
 * tokens of every view, [V][n_l][w_l], so each layer's embedding is one GEMM.
 * View v's layer-l tokens start at batch + V * off[l] + v * n_l * w_l.
 *
 * The model (D = d_model, T = N + 1 encoder tokens for N neuron tokens):
 *   x_0[v] = [c ; E_l tok + e_l for every neuron token] + P_enc   (c: the
 *            compression token, E_l the per-layer embedding, P_enc learned
 *            position embeddings)
 *   encoder: pre-norm blocks (model/ssl_layers.h), then LN_enc
 *   z[v]   = tanh(W_z LN_enc(x_L[v])_0 + b_z)        the hyper-representation
 *   decoder: y_0[v] = reshape(W_d z + b_d, [N][D]) + P_dec, pre-norm blocks,
 *            LN_dec, and per layer the linear map U_l back to w_l values
 *   head:    p[v] = W_2 relu(W_1 z + b_1) + b_2
 *
 * Loss over V = 2B views, view v and v + B being the two views of model v
 * (SimCLR's NT-Xent, Chen et al. 2020, eq. 1, with cosine similarity):
 *   u_i = p_i / max(|p_i|, 1e-8),  s_ij = (u_i . u_j) / τ
 *   C = (1/V) Σ_i [ log Σ_{j≠i} exp(s_ij) − s_{i,i±B} ]
 *   R = (1/(V n)) Σ (ŷ − t)²   over the n values of every view's tokens,
 *       t the view's standardized weights after the permutation, before
 *       erasing and noise
 *   L = γ C + (1 − γ) R
 *
 * Determinism: all arithmetic is float in one fixed order (gemm, attention,
 * eltwise kernels; serial loops for the rest), exp and log are SLEEF's
 * finz functions, and the loss values are summed in double in a fixed order:
 * the same bits on every ISA tier and thread count.
 */
#ifndef WSK_MODEL_SSL_MODEL_H
#define WSK_MODEL_SSL_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "model/net.h"
#include "model/rng.h"
#include "model/ssl_layers.h"
#include "wsk/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- tokens ---- */

#define WSK_SSL_MAX_LAYERS 8

typedef struct wsk_ssl_tokens {
  int layers;                       /* layers of the target network */
  int n[WSK_SSL_MAX_LAYERS];        /* tokens (neurons, output channels) of layer l */
  int width[WSK_SSL_MAX_LAYERS];    /* values per token: incoming weights + 1 (bias) */
  int group[WSK_SSL_MAX_LAYERS];    /* l >= 1: weights per input neuron (a previous
                                       layer's channel covers `group` consecutive inputs) */
  size_t off[WSK_SSL_MAX_LAYERS];   /* layer l's first value in the token vector */
  int tok_off[WSK_SSL_MAX_LAYERS];  /* layer l's first token among the N neuron tokens */
  size_t w_off[WSK_SSL_MAX_LAYERS]; /* its weight tensor in the network's parameters */
  size_t b_off[WSK_SSL_MAX_LAYERS]; /* its bias */
  int ntok;                         /* N, neuron tokens */
  int max_width;
  size_t nvals; /* values per model (= the network's parameters) */
} wsk_ssl_tokens;

/* The tokens of a model/net.h network (weight/bias pairs in layer order). */
wsk_status wsk_ssl_tokens_from_net(const wsk_net *net, wsk_ssl_tokens *tk);
/* Network parameters (model/net.h layout) -> token vector, and back. */
void wsk_ssl_tokenize(const wsk_ssl_tokens *tk, const float *params, float *tokvec);
void wsk_ssl_detokenize(const wsk_ssl_tokens *tk, const float *tokvec, float *params);

/* Applies a permutation of the hidden neurons to a token vector: perm[l]
 * (l < layers - 1; n[l] entries) reorders layer l's tokens (new token i =
 * old token perm[l][i]) and the matching input blocks of layer l + 1's
 * tokens, which leaves the network's function unchanged. NULL entries are
 * the identity. in and out must not overlap. */
void wsk_ssl_permute(const wsk_ssl_tokens *tk, const uint32_t *const *perm, const float *in,
                     float *out);

/* ---- augmentations (§3, "data augmentation") ---- */

typedef struct wsk_ssl_augment {
  int permute;     /* random permutation of every hidden layer's neurons */
  float erase_p;   /* probability of erasing a block */
  float erase_min; /* block length, as a fraction of the values: uniform */
  float erase_max; /* in [erase_min, erase_max] */
  float noise_std; /* Gaussian noise (on standardized values) */
} wsk_ssl_augment;
/* permute 1, erase_p 0.5, erase 2%..33% (torchvision's RandomErasing
 * scale), noise_std 0.05 */
void wsk_ssl_augment_default(wsk_ssl_augment *a);

/* One view of a standardized token vector `clean`: target = the permuted
 * vector, input = target with the block erased and the noise added.
 * Draws, in order, one per statement: for each hidden layer l, the
 * Fisher-Yates shuffle of n[l] (wsk_rng_shuffle_u32 on the identity); u =
 * uniform, and when u < erase_p: len = lo + below(hi - lo + 1) with lo =
 * max(1, floor(erase_min n)), hi = max(lo, floor(erase_max n)), then start =
 * below(n - len + 1); then, when noise_std > 0, one normal per value in
 * order. perm_scratch: sum of n[l] u32. */
void wsk_ssl_augment_view(const wsk_ssl_tokens *tk, const wsk_ssl_augment *a, wsk_rng *rng,
                          const float *clean, float *target, float *input, uint32_t *perm_scratch);

/* ---- the model ---- */

typedef struct wsk_ssl_arch {
  int64_t dim;         /* d_model */
  int64_t heads;       /* attention heads (dim % heads == 0) */
  int64_t enc_layers;  /* encoder blocks >= 1 */
  int64_t dec_layers;  /* decoder blocks >= 1 */
  int64_t ffn;         /* FFN hidden width */
  int64_t latent;      /* z */
  int64_t proj_hidden; /* projection head widths */
  int64_t proj_out;
} wsk_ssl_arch;

typedef struct wsk_ssl_tensor {
  char name[48];
  int rank; /* 1 or 2 */
  int64_t shape[2];
  size_t offset, numel;
} wsk_ssl_tensor;

#define WSK_SSL_MAX_BLOCKS 16

typedef struct wsk_ssl_model {
  wsk_ssl_arch a;
  wsk_ssl_tokens tk;
  int64_t ntok_enc; /* T = N + 1 */
  size_t n_params;
  int n_tensors;
  wsk_ssl_tensor *tensors; /* owned */
  /* offsets (floats) of the parts, into the parameter array */
  size_t embed_w[WSK_SSL_MAX_LAYERS], embed_b[WSK_SSL_MAX_LAYERS];
  size_t comp, enc_pos, enc_block[WSK_SSL_MAX_BLOCKS], enc_ln_g, enc_ln_b;
  size_t lat_w, lat_b, proj1_w, proj1_b, proj2_w, proj2_b;
  size_t from_w, from_b, dec_pos, dec_block[WSK_SSL_MAX_BLOCKS], dec_ln_g, dec_ln_b;
  size_t unemb_w[WSK_SSL_MAX_LAYERS], unemb_b[WSK_SSL_MAX_LAYERS];
} wsk_ssl_model;

/* Lays out the parameters. WSK_ERR_ARG names a bad size (dim % heads,
 * layers outside 1..WSK_SSL_MAX_BLOCKS, widths < 1 or > 4096). */
wsk_status wsk_ssl_model_make(wsk_ssl_model *m, const wsk_ssl_arch *a, const wsk_ssl_tokens *tk);
void wsk_ssl_model_free(wsk_ssl_model *m);

/* Initializes params[n_params] as PyTorch's modules do, drawing from rng
 * tensor by tensor in storage order, element by element:
 * linear weights and biases U(-1/sqrt(in), 1/sqrt(in)) (nn.Linear);
 * attention in_proj_weight xavier-uniform U(-sqrt(6/(4D)), ...), its biases
 * and out_proj.bias 0 (nn.MultiheadAttention); layer norms 1 and 0; the
 * compression token and the position embeddings 0.02 N(0, 1). */
void wsk_ssl_model_init(const wsk_ssl_model *m, wsk_rng *rng, float *params);

/* Scratch for batches of up to max_views views (activations of the forward,
 * scratch of the backward). */
typedef struct wsk_ssl_ws wsk_ssl_ws;
wsk_status wsk_ssl_ws_create(const wsk_ssl_model *m, int max_views, wsk_ssl_ws **out);
void wsk_ssl_ws_free(wsk_ssl_ws *ws);

typedef struct wsk_ssl_loss {
  double total, contrast, recon;
} wsk_ssl_loss;

typedef struct wsk_ssl_loss_params {
  float gamma; /* weight of the contrastive term, [0, 1] */
  float tau;   /* NT-Xent temperature > 0 */
} wsk_ssl_loss_params;

/* The loss of a batch of `views` views (even, >= 2; views v and v + views/2
 * are the two views of one model) and, when grad != NULL, its gradient
 * grad[n_params] (written). input, target: the batch, layer-major (above). */
wsk_status wsk_ssl_loss_grad(const wsk_ssl_model *m, const float *params, int views,
                             const float *input, const float *target, const wsk_ssl_loss_params *lp,
                             wsk_ssl_ws *ws, wsk_ssl_loss *loss, float *grad);

/* z[n][latent] of n token vectors in batch layout (n <= the workspace's views). */
wsk_status wsk_ssl_encode(const wsk_ssl_model *m, const float *params, int n, const float *input,
                          wsk_ssl_ws *ws, float *z);

/* The embedding that the probes read (the hyper-representation), per model
 * wsk_ssl_embed_width(m) = latent + 2 * layers * D floats, built from the
 * encoder's token outputs as the paper also evaluates them (§4: the
 * compression token alone, or all tokens): z, then for every target layer l
 * the mean over l's neuron tokens of the encoder's output LN_enc(x_L), then
 * for every l the mean over l's neuron tokens of the last block's input
 * x_{L-1}. Averaging a layer's tokens instead of concatenating them (the
 * paper's "all tokens" embedding) keeps the width small and the same for
 * every neuron order of the layer's statistics. The last block runs at every
 * token here, not only at the compression token as in training.
 * emb[n][width], n <= the workspace's views. */
int64_t wsk_ssl_embed_width(const wsk_ssl_model *m);
wsk_status wsk_ssl_embed(const wsk_ssl_model *m, const float *params, int n, const float *input,
                         wsk_ssl_ws *ws, float *emb);

/* Packs view v's token vector (tokvec) into a batch of `views` views. */
void wsk_ssl_batch_put(const wsk_ssl_tokens *tk, int views, int v, const float *tokvec,
                       float *batch);

/* NT-Xent of V = 2B projections p[V][P] (views i and i + B positive):
 * *loss = C and, when dp != NULL, dp[V][P] = scale * dC/dp (written). */
wsk_status wsk_ssl_ntxent(int views, int64_t dim, const float *p, float tau, float scale,
                          double *loss, float *dp);

#ifdef __cplusplus
}
#endif
#endif /* WSK_MODEL_SSL_MODEL_H */
