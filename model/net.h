/* model/net.h — the zoo's small image classifiers (Schürholt et al. 2021,
 * "hyper-representations", the model zoos of §4), forward and backward over a
 * batch, softmax cross-entropy, and the initializations of torch.nn.init.
 *
 * Three architectures. Parameters live in ONE contiguous float array, tensor
 * after tensor in layer order (weight, then bias), named and shaped as the
 * equivalent PyTorch nn.Sequential names them (weights [out][in] and
 * [out][in][kh][kw]), so a checkpoint loads into that Sequential as is:
 *
 *   MLP, 8 x 8 input (64 = row-major pixels), 2,410 parameters:
 *     0 Linear(64, 32), 1 act, [dropout], 2 Linear(32, 10)
 *     0.weight [32][64], 0.bias [32], 2.weight [10][32], 2.bias [10]
 *   CNN, 28 x 28 input, 2,464 parameters (the paper's CNN):
 *     0 Conv2d(1, 8, 5), 1 act, 2 MaxPool2d(2), 3 Conv2d(8, 6, 5), 4 act,
 *     5 MaxPool2d(2), 6 Conv2d(6, 4, 2), 7 act, 8 Flatten, 9 Linear(36, 20),
 *     10 act, [dropout], 11 Linear(20, 10)
 *     0.weight [8][1][5][5] ... 11.bias [10]
 *   (28 -> conv 24 -> pool 12 -> conv 8 -> pool 4 -> conv 3; 4 x 3 x 3 = 36.)
 *   CNN16, 16 x 16 input, 5,130 parameters (the learned optimizer's CNN task,
 *   model/unf_task.h):
 *     0 Conv2d(1, 16, 3, stride 2, padding 1), 1 act,
 *     2 Conv2d(16, 32, 3, stride 2, padding 1), 3 act,
 *     4 global average pool (AdaptiveAvgPool2d(1) + Flatten), 5 Linear(32, 10)
 *     0.weight [16][1][3][3], 0.bias [16], 2.weight [32][16][3][3],
 *     2.bias [32], 5.weight [10][32], 5.bias [10]
 *   (16 -> conv 8 -> conv 4; the mean over the 4 x 4 positions gives 32.)
 *   Stride 2 keeps one training step at about 60 MFLOP for a batch of 128
 *   (481,152 FLOPs a row, forward and backward), so meta-training the learned
 *   optimizer, which takes thousands of such steps, stays affordable on a CPU.
 *   Zero padding; the pool sums the 16 positions of a channel in row-major
 *   order, then multiplies by 1/16 (exact); its backward spreads g / 16.
 * Dropout is functional (no module index), on the hidden activations of the
 * last hidden layer (MLP: 32 units, CNN: 20, CNN16: the 32 pooled features),
 * inverted scaling: with
 * probability p a unit is zeroed, else multiplied by 1 / (1 - p).
 * Mask draws: for each row b of the batch in order, for each unit j in order,
 * u = wsk_rng_uniform(rng); kept iff u >= p.
 *
 * Activations act: relu, tanh, gelu (exact, erfc form), sigmoid, as defined
 * in wsk/eltwise.h, after every layer but the last. Linear layers run through
 * wsk_gemm (relu and tanh fused into its epilogue), convolutions as im2col +
 * wsk_gemm on channels-last activations [b][h][w][c] (the flatten before
 * layer 9 reorders to PyTorch's [c][h][w]); max-pool picks the first maximum
 * of each 2 x 2 window (a NaN wins). Bits do not depend on the ISA tier, the
 * thread count or the batch split of an evaluation (gemm's per-element chains).
 *
 * Loss (mean over the batch of the softmax cross-entropy), per row b with
 * logits z and label y: M = max_j z_j; S = sum_{j=0..9 in order} exp(z_j - M);
 * loss_b = (M + log S) - z_y;  dL/dz_j = (exp(z_j - M) / S - [j == y]) / B.
 * exp and log are SLEEF's deterministic scalar finz functions.
 */
#ifndef WSK_MODEL_NET_H
#define WSK_MODEL_NET_H

#include <stddef.h>
#include <stdint.h>

#include "model/rng.h"
#include "wsk/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum wsk_arch {
  WSK_ARCH_MLP = 0,
  WSK_ARCH_CNN = 1,
  WSK_ARCH_CNN16 = 2,
  WSK_ARCH_COUNT = 3
} wsk_arch;

typedef enum wsk_net_act {
  WSK_NET_RELU = 0,
  WSK_NET_TANH = 1,
  WSK_NET_GELU = 2,
  WSK_NET_SIGMOID = 3,
  WSK_NET_ACT_COUNT = 4
} wsk_net_act;

/* torch.nn.init, with fan_in = in * kh * kw and fan_out = out * kh * kw:
 *   uniform          U(0, 1)                      (uniform_ with its defaults)
 *   normal           N(0, 1)                      (normal_ with its defaults)
 *   kaiming_uniform  U(-b, b), b = sqrt(2) * sqrt(3 / fan_in)   (a = 0, fan_in,
 *   kaiming_normal   N(0, s^2), s = sqrt(2) / sqrt(fan_in)       leaky_relu gain)
 *   xavier_uniform   U(-b, b), b = sqrt(6 / (fan_in + fan_out))    (gain 1)
 *   xavier_normal    N(0, s^2), s = sqrt(2 / (fan_in + fan_out))
 * Biases keep PyTorch's default of nn.Linear / nn.Conv2d whatever the weight
 * init: U(-1/sqrt(fan_in), 1/sqrt(fan_in)). Bounds and deviations are
 * computed in double and rounded to float; a uniform draw is
 * lo + (hi - lo) * u (wsk_rng_range), a normal one s * wsk_rng_normal. Draws go
 * tensor by tensor, element by element in memory order. */
typedef enum wsk_init {
  WSK_INIT_UNIFORM = 0,
  WSK_INIT_NORMAL = 1,
  WSK_INIT_KAIMING_UNIFORM = 2,
  WSK_INIT_KAIMING_NORMAL = 3,
  WSK_INIT_XAVIER_UNIFORM = 4,
  WSK_INIT_XAVIER_NORMAL = 5,
  WSK_INIT_COUNT = 6
} wsk_init;

/* Lower-case names ("mlp", "cnn", "cnn16", "relu", "kaiming_uniform"); "?" when
 * out of range. */
const char *wsk_arch_name(wsk_arch a);
const char *wsk_net_act_name(wsk_net_act a);
const char *wsk_init_name(wsk_init i);
/* Exact (case-sensitive) name to value; WSK_ERR_ARG naming the word and the
 * valid ones otherwise. */
wsk_status wsk_arch_parse(const char *s, wsk_arch *out);
wsk_status wsk_net_act_parse(const char *s, wsk_net_act *out);
wsk_status wsk_init_parse(const char *s, wsk_init *out);

#define WSK_NET_MAX_TENSORS 10
#define WSK_NET_CLASSES 10
#define WSK_MLP_PARAMS 2410
#define WSK_CNN_PARAMS 2464
#define WSK_CNN16_PARAMS 5130

typedef struct wsk_net_tensor {
  const char *name; /* "0.weight" */
  int rank;         /* 1, 2 or 4 */
  int64_t shape[4];
  size_t offset, numel; /* in floats, into the parameter array */
  int fan_in, fan_out;
  int is_bias;
} wsk_net_tensor;

typedef struct wsk_net {
  wsk_arch arch;
  wsk_net_act act;
  float dropout;                 /* p in [0, 1) */
  int in_rows, in_cols, in_size; /* 8 x 8 = 64, 28 x 28 = 784 or 16 x 16 = 256 */
  size_t n_params;
  int n_tensors;
  wsk_net_tensor tensors[WSK_NET_MAX_TENSORS];
} wsk_net;

/* Describes the network. WSK_ERR_ARG for an unknown arch or act, or a dropout
 * outside [0, 1). */
wsk_status wsk_net_make(wsk_net *net, wsk_arch arch, wsk_net_act act, float dropout);

/* Fills params[net->n_params] as `init` says (weights) and PyTorch's default
 * (biases), drawing from rng. */
wsk_status wsk_net_init_params(const wsk_net *net, wsk_init init, wsk_rng *rng, float *params);

/* Scratch for batches of up to max_batch rows (activations, im2col buffers,
 * saved masks); one per thread that runs the network. */
typedef struct wsk_net_ws wsk_net_ws;
wsk_status wsk_net_ws_create(const wsk_net *net, int max_batch, wsk_net_ws **out);
void wsk_net_ws_free(wsk_net_ws *ws);

/* logits[batch][10] of x[batch][in_size]. Dropout is applied when `dropout`
 * (the mask rng) is not NULL and net->dropout > 0; else evaluation mode. */
wsk_status wsk_net_forward(const wsk_net *net, const float *params, const float *x, int batch,
                           wsk_rng *dropout, wsk_net_ws *ws, float *logits);

/* Forward and backward of the mean cross-entropy of one batch (labels 0..9):
 * *loss = the mean loss, *correct (may be NULL) = rows whose first maximal
 * logit is the label, grad[n_params] (may be NULL: forward only) = dL/dparams,
 * laid out as the parameters (written, not accumulated). */
wsk_status wsk_net_loss_grad(const wsk_net *net, const float *params, const float *x,
                             const uint8_t *y, int batch, wsk_rng *dropout, wsk_net_ws *ws,
                             float *loss, int *correct, float *grad);

/* Sum of the per-row losses (double, rows in order) and number of correct rows
 * of n images (rows idx[0..n) of x/y, or the first n when idx is NULL), in
 * evaluation mode, batches of the workspace's size. */
wsk_status wsk_net_evaluate(const wsk_net *net, const float *params, const float *x,
                            const uint8_t *y, const uint32_t *idx, size_t n, wsk_net_ws *ws,
                            double *loss_sum, size_t *correct);

#ifdef __cplusplus
}
#endif
#endif /* WSK_MODEL_NET_H */
