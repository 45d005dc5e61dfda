/* model/net.c — the MLP, CNN and CNN16 of model/net.h: layers on top of
 * wsk_gemm and the eltwise kernels, the cross-entropy loss and torch.nn.init.
 *
 * Layout of activations: batch-major, channels-last inside an image
 * ([b][h][w][c]). A convolution is im2col (one row per output pixel, columns
 * in the order (kh, kw, ci), contiguous runs of the input; the weights are
 * reordered to match before the gemm and their gradients back to PyTorch's
 * (ci, kh, kw) after it) followed by the same linear layer as a fully
 * connected one: Z[M][out] = X[M][in] . W^T + bias, so one function
 * serves both, forward and backward:
 *   dW = dZ^T . X     (gemm, the reduction over the M rows in order)
 *   db = column sums of dZ, rows in order
 *   dX = dZ . W       (gemm); col2im adds the columns back to the pixels.
 * The CNN16's strided, zero-padded convolutions use the same scheme: im2col
 * writes zeros where a window reaches past the image, col2im drops them.
 */
#include "model/net.h"

#include <math.h>
#include <sleef.h>
#include <stdlib.h>
#include <string.h>

#include "dispatch/error.h"
#include "wsk/eltwise.h"
#include "wsk/gemm.h"

/* sleef.h declares the purecfma functions only when the compiler targets FMA;
 * this file is built with baseline flags. */
float Sleef_finz_expf1_u10purecfma(float);
float Sleef_finz_logf1_u10purecfma(float);

/* ---- names ---------------------------------------------------------------------- */

static const char *const arch_names[] = {"mlp", "cnn", "cnn16"};
static const char *const act_names[] = {"relu", "tanh", "gelu", "sigmoid"};
static const char *const init_names[] = {"uniform",        "normal",         "kaiming_uniform",
                                         "kaiming_normal", "xavier_uniform", "xavier_normal"};

const char *wsk_arch_name(wsk_arch a) {
  return ((unsigned)a < WSK_ARCH_COUNT) ? arch_names[a] : "?";
}
const char *wsk_net_act_name(wsk_net_act a) {
  return ((unsigned)a < WSK_NET_ACT_COUNT) ? act_names[a] : "?";
}
const char *wsk_init_name(wsk_init i) {
  return ((unsigned)i < WSK_INIT_COUNT) ? init_names[i] : "?";
}

static wsk_status parse_name(const char *what, const char *s, const char *const *names, int n,
                             int *out) {
  if (!s) return wsk__fail(WSK_ERR_NULL, "%s: NULL name", what);
  for (int i = 0; i < n; i++)
    if (strcmp(s, names[i]) == 0) {
      *out = i;
      return WSK_OK;
    }
  char list[160] = "";
  for (int i = 0; i < n; i++) {
    strncat(list, names[i], sizeof list - strlen(list) - 1);
    if (i + 1 < n) strncat(list, ", ", sizeof list - strlen(list) - 1);
  }
  return wsk__fail(WSK_ERR_ARG, "unknown %s '%s' (valid: %s)", what, s, list);
}

wsk_status wsk_arch_parse(const char *s, wsk_arch *out) {
  int v = 0;
  WSK_TRY(parse_name("architecture", s, arch_names, WSK_ARCH_COUNT, &v));
  *out = (wsk_arch)v;
  return WSK_OK;
}
wsk_status wsk_net_act_parse(const char *s, wsk_net_act *out) {
  int v = 0;
  WSK_TRY(parse_name("activation", s, act_names, WSK_NET_ACT_COUNT, &v));
  *out = (wsk_net_act)v;
  return WSK_OK;
}
wsk_status wsk_init_parse(const char *s, wsk_init *out) {
  int v = 0;
  WSK_TRY(parse_name("initialization", s, init_names, WSK_INIT_COUNT, &v));
  *out = (wsk_init)v;
  return WSK_OK;
}

/* ---- the architectures ----------------------------------------------------------- */

/* CNN geometry: 28 -> conv5 24 -> pool 12 -> conv5 8 -> pool 4 -> conv2 3. */
enum {
  C1_IN = 1,
  C1_OUT = 8,
  C1_K = 5,
  C1_H = 28,
  C1_O = 24,
  P1_O = 12,
  C2_IN = 8,
  C2_OUT = 6,
  C2_K = 5,
  C2_O = 8,
  P2_O = 4,
  C3_IN = 6,
  C3_OUT = 4,
  C3_K = 2,
  C3_O = 3,
  FLAT = C3_OUT * C3_O * C3_O, /* 36 */
  F1_OUT = 20,
  MLP_IN = 64,
  MLP_HID = 32
};

/* CNN16 geometry: 16 -> conv3/2 (pad 1) 8 -> conv3/2 (pad 1) 4 -> mean over
 * the 4 x 4 positions -> 32 -> linear 10. */
enum {
  G_K = 3, /* kernel */
  G_S = 2, /* stride */
  G_P = 1, /* zero padding */
  G1_IN = 1,
  G1_OUT = 16,
  G1_H = 16,
  G1_O = 8,
  G2_IN = 16,
  G2_OUT = 32,
  G2_O = 4,
  GAP_N = G2_O * G2_O, /* 16 positions averaged per channel */
  GAP = G2_OUT         /* 32 pooled features */
};

static void add_tensor(wsk_net *net, const char *name, int rank, const int64_t *shape,
                       int is_bias) {
  wsk_net_tensor *t = &net->tensors[net->n_tensors++];
  t->name = name;
  t->rank = rank;
  size_t numel = 1;
  for (int i = 0; i < 4; i++) t->shape[i] = i < rank ? shape[i] : 0;
  for (int i = 0; i < rank; i++) numel *= (size_t)shape[i];
  t->numel = numel;
  t->offset = net->n_params;
  t->is_bias = is_bias;
  if (is_bias) {
    /* the layer's fan_in is the previous tensor's (its weight) */
    t->fan_in = net->tensors[net->n_tensors - 2].fan_in;
    t->fan_out = net->tensors[net->n_tensors - 2].fan_out;
  } else {
    const int64_t rf = rank == 4 ? shape[2] * shape[3] : 1; /* receptive field */
    t->fan_in = (int)(shape[1] * rf);
    t->fan_out = (int)(shape[0] * rf);
  }
  net->n_params += numel;
}

wsk_status wsk_net_make(wsk_net *net, wsk_arch arch, wsk_net_act act, float dropout) {
  if (!net) return wsk__fail(WSK_ERR_NULL, "wsk_net_make: net is NULL");
  if ((unsigned)arch >= WSK_ARCH_COUNT)
    return wsk__fail(WSK_ERR_ARG, "wsk_net_make: unknown architecture %d", (int)arch);
  if ((unsigned)act >= WSK_NET_ACT_COUNT)
    return wsk__fail(WSK_ERR_ARG, "wsk_net_make: unknown activation %d", (int)act);
  if (!(dropout >= 0.0f && dropout < 1.0f))
    return wsk__fail(WSK_ERR_ARG, "wsk_net_make: dropout %g outside [0, 1)", (double)dropout);
  memset(net, 0, sizeof *net);
  net->arch = arch;
  net->act = act;
  net->dropout = dropout;
  if (arch == WSK_ARCH_MLP) {
    net->in_rows = net->in_cols = 8;
    add_tensor(net, "0.weight", 2, (const int64_t[]){MLP_HID, MLP_IN}, 0);
    add_tensor(net, "0.bias", 1, (const int64_t[]){MLP_HID}, 1);
    add_tensor(net, "2.weight", 2, (const int64_t[]){WSK_NET_CLASSES, MLP_HID}, 0);
    add_tensor(net, "2.bias", 1, (const int64_t[]){WSK_NET_CLASSES}, 1);
  } else if (arch == WSK_ARCH_CNN16) {
    net->in_rows = net->in_cols = G1_H;
    add_tensor(net, "0.weight", 4, (const int64_t[]){G1_OUT, G1_IN, G_K, G_K}, 0);
    add_tensor(net, "0.bias", 1, (const int64_t[]){G1_OUT}, 1);
    add_tensor(net, "2.weight", 4, (const int64_t[]){G2_OUT, G2_IN, G_K, G_K}, 0);
    add_tensor(net, "2.bias", 1, (const int64_t[]){G2_OUT}, 1);
    add_tensor(net, "5.weight", 2, (const int64_t[]){WSK_NET_CLASSES, GAP}, 0);
    add_tensor(net, "5.bias", 1, (const int64_t[]){WSK_NET_CLASSES}, 1);
  } else {
    net->in_rows = net->in_cols = C1_H;
    add_tensor(net, "0.weight", 4, (const int64_t[]){C1_OUT, C1_IN, C1_K, C1_K}, 0);
    add_tensor(net, "0.bias", 1, (const int64_t[]){C1_OUT}, 1);
    add_tensor(net, "3.weight", 4, (const int64_t[]){C2_OUT, C2_IN, C2_K, C2_K}, 0);
    add_tensor(net, "3.bias", 1, (const int64_t[]){C2_OUT}, 1);
    add_tensor(net, "6.weight", 4, (const int64_t[]){C3_OUT, C3_IN, C3_K, C3_K}, 0);
    add_tensor(net, "6.bias", 1, (const int64_t[]){C3_OUT}, 1);
    add_tensor(net, "9.weight", 2, (const int64_t[]){F1_OUT, FLAT}, 0);
    add_tensor(net, "9.bias", 1, (const int64_t[]){F1_OUT}, 1);
    add_tensor(net, "11.weight", 2, (const int64_t[]){WSK_NET_CLASSES, F1_OUT}, 0);
    add_tensor(net, "11.bias", 1, (const int64_t[]){WSK_NET_CLASSES}, 1);
  }
  net->in_size = net->in_rows * net->in_cols;
  return WSK_OK;
}

/* ---- initialization ---------------------------------------------------------------- */

wsk_status wsk_net_init_params(const wsk_net *net, wsk_init init, wsk_rng *rng, float *params) {
  if (!net || !rng || !params) return wsk__fail(WSK_ERR_NULL, "wsk_net_init_params: NULL argument");
  if ((unsigned)init >= WSK_INIT_COUNT)
    return wsk__fail(WSK_ERR_ARG, "wsk_net_init_params: unknown initialization %d", (int)init);
  for (int ti = 0; ti < net->n_tensors; ti++) {
    const wsk_net_tensor *t = &net->tensors[ti];
    float *p = params + t->offset;
    int normal = 0;
    double lo = 0.0, hi = 1.0, sd = 1.0;
    if (t->is_bias) {
      hi = 1.0 / sqrt((double)t->fan_in);
      lo = -hi;
    } else {
      const double fi = t->fan_in, fo = t->fan_out, gain = sqrt(2.0);
      switch (init) {
        case WSK_INIT_UNIFORM:
          lo = 0.0;
          hi = 1.0;
          break;
        case WSK_INIT_NORMAL:
          normal = 1;
          sd = 1.0;
          break;
        case WSK_INIT_KAIMING_UNIFORM:
          hi = sqrt(3.0) * (gain / sqrt(fi)); /* PyTorch: bound = sqrt(3) * std */
          lo = -hi;
          break;
        case WSK_INIT_KAIMING_NORMAL:
          normal = 1;
          sd = gain / sqrt(fi);
          break;
        case WSK_INIT_XAVIER_UNIFORM:
          hi = sqrt(3.0) * sqrt(2.0 / (fi + fo));
          lo = -hi;
          break;
        case WSK_INIT_XAVIER_NORMAL:
          normal = 1;
          sd = sqrt(2.0 / (fi + fo));
          break;
        default: break;
      }
    }
    const float flo = (float)lo, fhi = (float)hi, fsd = (float)sd;
    for (size_t i = 0; i < t->numel; i++) {
      if (normal) {
        const float z = wsk_rng_normal(rng);
        p[i] = fsd * z;
      } else {
        p[i] = wsk_rng_range(rng, flo, fhi);
      }
    }
  }
  return WSK_OK;
}

/* ---- workspace ------------------------------------------------------------------- */

struct wsk_net_ws {
  wsk_arch arch;
  int max_batch;
  float *arena;
  int32_t *arg1, *arg2; /* CNN max-pool argmax (index into the pool's input) */
  float *xb;            /* gathered inputs for wsk_net_evaluate */
  uint8_t *yb;
  float *logits, *glogits, *rowloss;
  float *mask; /* dropout multipliers of the hidden layer */
  /* MLP */
  float *z1, *a1, *d1, *gd1;
  /* CNN forward */
  float *cols1, *cz1, *ca1, *cp1, *cols2, *cz2, *ca2, *cp2, *cols3, *cz3, *ca3, *flat, *z4, *a4,
      *d4;
  /* CNN backward */
  float *gd4, *gflat, *ga3, *gcols3, *gp2, *ga2, *gcols2, *gp1, *ga1;
  /* the conv weights in im2col order [o][kh][kw][ci] and their gradients */
  float *wc1, *wc2, *wc3, *gwc1, *gwc2, *gwc3;
  /* CNN16 (with cols1, cz1, ca1, cols2, cz2, ca2, ga1, ga2, gcols2 and the
   * conv weights above, whose gradients gwc1, gwc2 it keeps transposed,
   * [kh][kw][ci][o]): the pooled features, after dropout, their gradient */
  float *gap, *gapd, *ggap;
};

void wsk_net_ws_free(wsk_net_ws *ws) {
  if (!ws) return;
  free(ws->arena);
  free(ws->arg1);
  free(ws->arg2);
  free(ws->yb);
  free(ws);
}

wsk_status wsk_net_ws_create(const wsk_net *net, int max_batch, wsk_net_ws **out) {
  if (!net || !out) return wsk__fail(WSK_ERR_NULL, "wsk_net_ws_create: NULL argument");
  *out = NULL;
  if (max_batch < 1 || max_batch > (1 << 16))
    return wsk__fail(WSK_ERR_SIZE, "wsk_net_ws_create: batch %d outside 1..65536", max_batch);
  wsk_net_ws *ws = calloc(1, sizeof *ws);
  if (!ws) return wsk__fail(WSK_ERR_NOMEM, "wsk_net_ws_create: out of memory");
  ws->arch = net->arch;
  ws->max_batch = max_batch;
  const size_t B = (size_t)max_batch;
  /* two passes: the first sizes the arena, the second hands out pointers */
  size_t total = 0;
  for (int pass = 0; pass < 2; pass++) {
    size_t off = 0;
#define TAKE(field, count)                       \
  do {                                           \
    if (pass) ws->field = ws->arena + off;       \
    off += ((size_t)(count) + 15) & ~(size_t)15; \
  } while (0)
    TAKE(xb, B * (size_t)net->in_size);
    TAKE(logits, B * WSK_NET_CLASSES);
    TAKE(glogits, B * WSK_NET_CLASSES);
    TAKE(rowloss, B);
    if (net->arch == WSK_ARCH_MLP) {
      TAKE(mask, B * MLP_HID);
      TAKE(z1, B * MLP_HID);
      TAKE(a1, B * MLP_HID);
      TAKE(d1, B * MLP_HID);
      TAKE(gd1, B * MLP_HID);
    } else if (net->arch == WSK_ARCH_CNN16) {
      TAKE(mask, B * GAP);
      TAKE(cols1, B * G1_O * G1_O * G1_IN * G_K * G_K);
      TAKE(cz1, B * G1_O * G1_O * G1_OUT);
      TAKE(ca1, B * G1_O * G1_O * G1_OUT);
      TAKE(cols2, B * G2_O * G2_O * G2_IN * G_K * G_K);
      TAKE(cz2, B * G2_O * G2_O * G2_OUT);
      TAKE(ca2, B * G2_O * G2_O * G2_OUT);
      TAKE(gap, B * GAP);
      TAKE(gapd, B * GAP);
      TAKE(ggap, B * GAP);
      TAKE(ga2, B * G2_O * G2_O * G2_OUT);
      TAKE(gcols2, B * G2_O * G2_O * G2_IN * G_K * G_K);
      TAKE(ga1, B * G1_O * G1_O * G1_OUT);
      TAKE(wc1, G1_OUT * G1_IN * G_K * G_K);
      TAKE(wc2, G2_OUT * G2_IN * G_K * G_K);
      TAKE(gwc1, G1_OUT * G1_IN * G_K * G_K);
      TAKE(gwc2, G2_OUT * G2_IN * G_K * G_K);
    } else {
      TAKE(mask, B * F1_OUT);
      TAKE(cols1, B * C1_O * C1_O * C1_K * C1_K);
      TAKE(cz1, B * C1_O * C1_O * C1_OUT);
      TAKE(ca1, B * C1_O * C1_O * C1_OUT);
      TAKE(cp1, B * P1_O * P1_O * C1_OUT);
      TAKE(cols2, B * C2_O * C2_O * C2_IN * C2_K * C2_K);
      TAKE(cz2, B * C2_O * C2_O * C2_OUT);
      TAKE(ca2, B * C2_O * C2_O * C2_OUT);
      TAKE(cp2, B * P2_O * P2_O * C2_OUT);
      TAKE(cols3, B * C3_O * C3_O * C3_IN * C3_K * C3_K);
      TAKE(cz3, B * FLAT);
      TAKE(ca3, B * FLAT);
      TAKE(flat, B * FLAT);
      TAKE(z4, B * F1_OUT);
      TAKE(a4, B * F1_OUT);
      TAKE(d4, B * F1_OUT);
      TAKE(gd4, B * F1_OUT);
      TAKE(gflat, B * FLAT);
      TAKE(ga3, B * FLAT);
      TAKE(gcols3, B * C3_O * C3_O * C3_IN * C3_K * C3_K);
      TAKE(gp2, B * P2_O * P2_O * C2_OUT);
      TAKE(ga2, B * C2_O * C2_O * C2_OUT);
      TAKE(gcols2, B * C2_O * C2_O * C2_IN * C2_K * C2_K);
      TAKE(gp1, B * P1_O * P1_O * C1_OUT);
      TAKE(ga1, B * C1_O * C1_O * C1_OUT);
      TAKE(wc1, C1_OUT * C1_IN * C1_K * C1_K);
      TAKE(wc2, C2_OUT * C2_IN * C2_K * C2_K);
      TAKE(wc3, C3_OUT * C3_IN * C3_K * C3_K);
      TAKE(gwc1, C1_OUT * C1_IN * C1_K * C1_K);
      TAKE(gwc2, C2_OUT * C2_IN * C2_K * C2_K);
      TAKE(gwc3, C3_OUT * C3_IN * C3_K * C3_K);
    }
#undef TAKE
    if (pass == 0) {
      total = off;
      ws->arena = calloc(total, sizeof(float));
      if (!ws->arena) break;
    }
  }
  ws->yb = malloc(B);
  if (net->arch == WSK_ARCH_CNN) {
    ws->arg1 = malloc(B * P1_O * P1_O * C1_OUT * sizeof(int32_t));
    ws->arg2 = malloc(B * P2_O * P2_O * C2_OUT * sizeof(int32_t));
  }
  if (!ws->arena || !ws->yb || (net->arch == WSK_ARCH_CNN && (!ws->arg1 || !ws->arg2))) {
    wsk_net_ws_free(ws);
    return wsk__fail(WSK_ERR_NOMEM, "wsk_net_ws_create: out of memory (%zu floats)", total);
  }
  *out = ws;
  return WSK_OK;
}

/* ---- layers ----------------------------------------------------------------------- */

/* a = act(X[M][in] . W^T + bias), W [out][in]. The pre-activation z is kept
 * (for GELU's backward) unless the activation is fused into the gemm. */
static wsk_status linear_fwd(int64_t M, int64_t in, int64_t out, const float *x, const float *w,
                             const float *bias, int act /* -1: none */, float *z, float *a) {
  if (act < 0)
    return wsk_gemm(WSK_NO_TRANS, WSK_TRANS, M, out, in, 1.0f, x, in, w, in, 0.0f, a, out, bias,
                    WSK_ACT_NONE);
  if (act == WSK_NET_RELU || act == WSK_NET_TANH)
    return wsk_gemm(WSK_NO_TRANS, WSK_TRANS, M, out, in, 1.0f, x, in, w, in, 0.0f, a, out, bias,
                    act == WSK_NET_RELU ? WSK_ACT_RELU : WSK_ACT_TANH);
  WSK_TRY(wsk_gemm(WSK_NO_TRANS, WSK_TRANS, M, out, in, 1.0f, x, in, w, in, 0.0f, z, out, bias,
                   WSK_ACT_NONE));
  return act == WSK_NET_GELU ? wsk_gelu(z, M * out, a) : wsk_sigmoid(z, M * out, a);
}

/* From ga = dL/da (overwritten with dL/dz): gw, gb and, when gx is not NULL,
 * gx = dL/dx. relu's backward reads the output a (0 < a exactly when 0 < z).
 * gw_t != 0 writes the weight gradient transposed, [in][out] = X^T . dZ: the
 * same bits (gemm's chain per element is fmaf(x, dz, acc) over the M rows in
 * order either way), but the packed panel of dZ stays on wsk_gemm's stack
 * where one of X (in wide) would not (the CNN16's conv 2 weight gradient:
 * in = 144 over M = 16 B rows), so a step allocates nothing. */
static wsk_status linear_bwd(int64_t M, int64_t in, int64_t out, const float *x, const float *w,
                             int act, const float *z, const float *a, float *ga, float *gw,
                             int gw_t, float *gb, float *gx) {
  const int64_t n = M * out;
  switch (act) {
    case WSK_NET_RELU: WSK_TRY(wsk_relu_backward(a, ga, n, ga)); break;
    case WSK_NET_TANH: WSK_TRY(wsk_tanh_backward(a, ga, n, ga)); break;
    case WSK_NET_GELU: WSK_TRY(wsk_gelu_backward(z, ga, n, ga)); break;
    case WSK_NET_SIGMOID: WSK_TRY(wsk_sigmoid_backward(a, ga, n, ga)); break;
    default: break;
  }
  if (gw_t)
    WSK_TRY(wsk_gemm(WSK_TRANS, WSK_NO_TRANS, in, out, M, 1.0f, x, in, ga, out, 0.0f, gw, out, NULL,
                     WSK_ACT_NONE));
  else
    WSK_TRY(wsk_gemm(WSK_TRANS, WSK_NO_TRANS, out, in, M, 1.0f, ga, out, x, in, 0.0f, gw, in, NULL,
                     WSK_ACT_NONE));
  for (int64_t j = 0; j < out; j++) gb[j] = 0.0f;
  for (int64_t m = 0; m < M; m++) {
    const float *g = ga + m * out;
    for (int64_t j = 0; j < out; j++) gb[j] = gb[j] + g[j];
  }
  if (gx)
    WSK_TRY(wsk_gemm(WSK_NO_TRANS, WSK_NO_TRANS, M, in, out, 1.0f, ga, out, w, in, 0.0f, gx, in,
                     NULL, WSK_ACT_NONE));
  return WSK_OK;
}

/* im2col of x[B][h][w][c] for a k x k valid convolution, stride 1, columns
 * in the order (kh, kw, ci), so each kh is one contiguous run of k * c floats:
 * cols[(b, i, j)][(kh, kw, ci)] = x[b][i + kh][j + kw][ci]. */
static void im2col(int B, int h, int w, int c, int k, const float *x, float *cols) {
  const int oh = h - k + 1, ow = w - k + 1, K = c * k * k, run = k * c;
  for (int b = 0; b < B; b++)
    for (int i = 0; i < oh; i++)
      for (int j = 0; j < ow; j++) {
        float *row = cols + ((size_t)(b * oh + i) * ow + j) * K;
        for (int kh = 0; kh < k; kh++)
          memcpy(row + kh * run, x + ((size_t)(b * h + i + kh) * w + j) * c,
                 (size_t)run * sizeof(float));
      }
}

/* The adjoint: gx = sum of the columns back onto their pixels (gx zeroed first,
 * rows and columns in order). */
static void col2im(int B, int h, int w, int c, int k, const float *cols, float *gx) {
  const int oh = h - k + 1, ow = w - k + 1, K = c * k * k, run = k * c;
  memset(gx, 0, (size_t)B * h * w * c * sizeof(float));
  for (int b = 0; b < B; b++)
    for (int i = 0; i < oh; i++)
      for (int j = 0; j < ow; j++) {
        const float *row = cols + ((size_t)(b * oh + i) * ow + j) * K;
        for (int kh = 0; kh < k; kh++) {
          float *g = gx + ((size_t)(b * h + i + kh) * w + j) * c;
          const float *r = row + kh * run;
          for (int t = 0; t < run; t++) g[t] = g[t] + r[t];
        }
      }
}

/* im2col of x[B][h][w][c] for a k x k convolution with stride s and zero
 * padding p (output (h + 2p - k) / s + 1 per side), columns in the order
 * (kh, kw, ci): cols[(b, i, j)][(kh, kw, ci)] = x[b][s i + kh - p][s j + kw - p][ci],
 * or 0 where that pixel lies outside the image. */
static void im2col_strided(int B, int h, int w, int c, int k, int s, int p, const float *x,
                           float *cols) {
  const int oh = (h + 2 * p - k) / s + 1, ow = (w + 2 * p - k) / s + 1, K = c * k * k;
  for (int b = 0; b < B; b++)
    for (int i = 0; i < oh; i++)
      for (int j = 0; j < ow; j++) {
        float *row = cols + ((size_t)(b * oh + i) * ow + j) * K;
        for (int kh = 0; kh < k; kh++) {
          const int yy = s * i + kh - p;
          for (int kw = 0; kw < k; kw++) {
            const int xx = s * j + kw - p;
            float *dst = row + (kh * k + kw) * c;
            if (yy < 0 || yy >= h || xx < 0 || xx >= w)
              memset(dst, 0, (size_t)c * sizeof(float));
            else
              memcpy(dst, x + ((size_t)(b * h + yy) * w + xx) * c, (size_t)c * sizeof(float));
          }
        }
      }
}

/* Its adjoint: gx zeroed, then every column in range added back onto its
 * pixel (rows in order, then (kh, kw) in order); padding columns are dropped. */
static void col2im_strided(int B, int h, int w, int c, int k, int s, int p, const float *cols,
                           float *gx) {
  const int oh = (h + 2 * p - k) / s + 1, ow = (w + 2 * p - k) / s + 1, K = c * k * k;
  memset(gx, 0, (size_t)B * h * w * c * sizeof(float));
  for (int b = 0; b < B; b++)
    for (int i = 0; i < oh; i++)
      for (int j = 0; j < ow; j++) {
        const float *row = cols + ((size_t)(b * oh + i) * ow + j) * K;
        for (int kh = 0; kh < k; kh++) {
          const int yy = s * i + kh - p;
          if (yy < 0 || yy >= h) continue;
          for (int kw = 0; kw < k; kw++) {
            const int xx = s * j + kw - p;
            if (xx < 0 || xx >= w) continue;
            float *g = gx + ((size_t)(b * h + yy) * w + xx) * c;
            const float *r = row + (kh * k + kw) * c;
            for (int t = 0; t < c; t++) g[t] = g[t] + r[t];
          }
        }
      }
}

/* Global average pool of x[B][n][c] (n positions) into y[B][c]: per channel
 * the sum over the positions in order, then times 1 / n. */
static void avgpool_fwd(int B, int n, int c, const float *x, float *y) {
  const float inv = 1.0f / (float)n;
  for (int b = 0; b < B; b++) {
    float *yb = y + (size_t)b * c;
    const float *xb = x + (size_t)b * n * c;
    for (int ci = 0; ci < c; ci++) yb[ci] = xb[ci];
    for (int q = 1; q < n; q++)
      for (int ci = 0; ci < c; ci++) yb[ci] = yb[ci] + xb[(size_t)q * c + ci];
    for (int ci = 0; ci < c; ci++) yb[ci] = yb[ci] * inv;
  }
}

/* Its adjoint: gx[b][q][c] = gy[b][c] / n (every position). */
static void avgpool_bwd(int B, int n, int c, const float *gy, float *gx) {
  const float inv = 1.0f / (float)n;
  for (int b = 0; b < B; b++)
    for (int q = 0; q < n; q++)
      for (int ci = 0; ci < c; ci++)
        gx[((size_t)b * n + q) * c + ci] = gy[(size_t)b * c + ci] * inv;
}

/* PyTorch's conv weight [o][ci][kh][kw] to the im2col order [o][kh][kw][ci]
 * (to_torch = 0), or back (to_torch = 1). */
static void conv_weight_order(int o, int c, int k, const float *src, float *dst, int to_torch) {
  for (int q = 0; q < o; q++)
    for (int ci = 0; ci < c; ci++)
      for (int kh = 0; kh < k; kh++)
        for (int kw = 0; kw < k; kw++) {
          const size_t t = (((size_t)q * c + ci) * k + kh) * k + kw;
          const size_t m = (((size_t)q * k + kh) * k + kw) * c + ci;
          if (to_torch)
            dst[t] = src[m];
          else
            dst[m] = src[t];
        }
}

/* A conv weight gradient in the transposed im2col order [kh][kw][ci][o] to
 * PyTorch's [o][ci][kh][kw]. */
static void conv_grad_from_t(int o, int c, int k, const float *src, float *dst) {
  for (int q = 0; q < o; q++)
    for (int ci = 0; ci < c; ci++)
      for (int kh = 0; kh < k; kh++)
        for (int kw = 0; kw < k; kw++)
          dst[(((size_t)q * c + ci) * k + kh) * k + kw] =
              src[(((size_t)kh * k + kw) * c + ci) * o + q];
}

/* 2 x 2 max-pool, stride 2, of x[B][h][w][c]; arg = the index into x of each
 * output's first maximum (a NaN wins). */
static void maxpool_fwd(int B, int h, int w, int c, const float *x, float *y, int32_t *arg) {
  const int oh = h / 2, ow = w / 2;
  const int32_t q[4] = {0, c, w * c, w * c + c}; /* window offsets */
  for (int b = 0; b < B; b++)
    for (int i = 0; i < oh; i++)
      for (int j = 0; j < ow; j++) {
        const int32_t base = ((b * h + 2 * i) * w + 2 * j) * c;
        const size_t o = ((size_t)(b * oh + i) * ow + j) * c;
        float *yo = y + o;
        int32_t *ao = arg + o;
        for (int ci = 0; ci < c; ci++) {
          yo[ci] = x[base + ci];
          ao[ci] = base + ci;
        }
        /* branch-free, so the channels vectorize: a later element wins when it
         * is larger or NaN, unless a NaN already won */
        for (int t = 1; t < 4; t++)
          for (int ci = 0; ci < c; ci++) {
            const float v = x[base + q[t] + ci];
            const int take = (v > yo[ci] || v != v) && yo[ci] == yo[ci];
            yo[ci] = take ? v : yo[ci];
            ao[ci] = take ? base + q[t] + ci : ao[ci];
          }
      }
}

static void maxpool_bwd(size_t n_in, size_t n_out, const float *gy, const int32_t *arg, float *gx) {
  memset(gx, 0, n_in * sizeof(float));
  for (size_t o = 0; o < n_out; o++) gx[arg[o]] = gx[arg[o]] + gy[o];
}

/* dropout of a[B][n] into d, mask = 0 or 1 / (1 - p) (draw order: model/net.h) */
static void dropout_fwd(int B, int n, float p, wsk_rng *rng, const float *a, float *mask,
                        float *d) {
  const float scale = 1.0f / (1.0f - p);
  for (size_t i = 0; i < (size_t)B * n; i++) {
    const float u = wsk_rng_uniform(rng);
    mask[i] = (u >= p) ? scale : 0.0f;
    d[i] = a[i] * mask[i];
  }
}

/* ---- loss ------------------------------------------------------------------------- */

/* Per-row cross-entropy (model/net.h), the correct count and, when g is not
 * NULL, dL/dz of the batch mean. */
static wsk_status cross_entropy(int B, const float *z, const uint8_t *y, float *rowloss, float *g,
                                int *correct) {
  int ok = 0;
  const float invb = 1.0f / (float)B;
  for (int b = 0; b < B; b++) {
    const float *zb = z + (size_t)b * WSK_NET_CLASSES;
    if (y[b] >= WSK_NET_CLASSES)
      return wsk__fail(WSK_ERR_ARG, "cross-entropy: label %d of row %d outside 0..9", y[b], b);
    float m = zb[0];
    int am = 0;
    for (int j = 1; j < WSK_NET_CLASSES; j++)
      if (zb[j] > m) {
        m = zb[j];
        am = j;
      }
    float e[WSK_NET_CLASSES];
    float s = 0.0f;
    for (int j = 0; j < WSK_NET_CLASSES; j++) {
      e[j] = Sleef_finz_expf1_u10purecfma(zb[j] - m);
      s = s + e[j];
    }
    const float lse = m + Sleef_finz_logf1_u10purecfma(s);
    rowloss[b] = lse - zb[y[b]];
    if (am == y[b] && rowloss[b] == rowloss[b]) ok++;
    if (g) {
      float *gb = g + (size_t)b * WSK_NET_CLASSES;
      for (int j = 0; j < WSK_NET_CLASSES; j++) {
        const float p = e[j] / s;
        const float d = (j == y[b]) ? p - 1.0f : p;
        gb[j] = d * invb;
      }
    }
  }
  if (correct) *correct = ok;
  return WSK_OK;
}

/* ---- forward and backward ------------------------------------------------------------ */

static const float *P(const wsk_net *net, const float *params, int t) {
  return params + net->tensors[t].offset;
}

static wsk_status check_call(const wsk_net *net, const float *params, const float *x, int batch,
                             const wsk_net_ws *ws, const char *fn) {
  if (!net || !params || !x || !ws) return wsk__fail(WSK_ERR_NULL, "%s: NULL argument", fn);
  if (ws->arch != net->arch)
    return wsk__fail(WSK_ERR_ARG, "%s: workspace made for the %s, net is the %s", fn,
                     wsk_arch_name(ws->arch), wsk_arch_name(net->arch));
  if (batch < 1 || batch > ws->max_batch)
    return wsk__fail(WSK_ERR_SIZE, "%s: batch %d outside 1..%d (the workspace's)", fn, batch,
                     ws->max_batch);
  return WSK_OK;
}

/* Forward pass, keeping what the backward needs in ws; logits in ws->logits. */
static wsk_status forward(const wsk_net *net, const float *params, const float *x, int B,
                          wsk_rng *rng, wsk_net_ws *ws) {
  const int act = (int)net->act;
  const int drop = rng != NULL && net->dropout > 0.0f;
  if (net->arch == WSK_ARCH_MLP) {
    WSK_TRY(linear_fwd(B, MLP_IN, MLP_HID, x, P(net, params, 0), P(net, params, 1), act, ws->z1,
                       ws->a1));
    const float *h = ws->a1;
    if (drop) {
      dropout_fwd(B, MLP_HID, net->dropout, rng, ws->a1, ws->mask, ws->d1);
      h = ws->d1;
    }
    return linear_fwd(B, MLP_HID, WSK_NET_CLASSES, h, P(net, params, 2), P(net, params, 3), -1,
                      NULL, ws->logits);
  }
  if (net->arch == WSK_ARCH_CNN16) {
    conv_weight_order(G1_OUT, G1_IN, G_K, P(net, params, 0), ws->wc1, 0);
    conv_weight_order(G2_OUT, G2_IN, G_K, P(net, params, 2), ws->wc2, 0);
    /* conv 1: [b][16][16][1] -> [b][8][8][16] */
    im2col_strided(B, G1_H, G1_H, G1_IN, G_K, G_S, G_P, x, ws->cols1);
    WSK_TRY(linear_fwd((int64_t)B * G1_O * G1_O, G1_IN * G_K * G_K, G1_OUT, ws->cols1, ws->wc1,
                       P(net, params, 1), act, ws->cz1, ws->ca1));
    /* conv 2: -> [b][4][4][32] */
    im2col_strided(B, G1_O, G1_O, G2_IN, G_K, G_S, G_P, ws->ca1, ws->cols2);
    WSK_TRY(linear_fwd((int64_t)B * G2_O * G2_O, G2_IN * G_K * G_K, G2_OUT, ws->cols2, ws->wc2,
                       P(net, params, 3), act, ws->cz2, ws->ca2));
    avgpool_fwd(B, GAP_N, GAP, ws->ca2, ws->gap);
    const float *h = ws->gap;
    if (drop) {
      dropout_fwd(B, GAP, net->dropout, rng, ws->gap, ws->mask, ws->gapd);
      h = ws->gapd;
    }
    return linear_fwd(B, GAP, WSK_NET_CLASSES, h, P(net, params, 4), P(net, params, 5), -1, NULL,
                      ws->logits);
  }
  conv_weight_order(C1_OUT, C1_IN, C1_K, P(net, params, 0), ws->wc1, 0);
  conv_weight_order(C2_OUT, C2_IN, C2_K, P(net, params, 2), ws->wc2, 0);
  conv_weight_order(C3_OUT, C3_IN, C3_K, P(net, params, 4), ws->wc3, 0);
  /* conv 1 (the input is [b][28][28][1]: channels-last is the row-major image) */
  im2col(B, C1_H, C1_H, C1_IN, C1_K, x, ws->cols1);
  WSK_TRY(linear_fwd((int64_t)B * C1_O * C1_O, C1_IN * C1_K * C1_K, C1_OUT, ws->cols1, ws->wc1,
                     P(net, params, 1), act, ws->cz1, ws->ca1));
  maxpool_fwd(B, C1_O, C1_O, C1_OUT, ws->ca1, ws->cp1, ws->arg1);
  /* conv 2 */
  im2col(B, P1_O, P1_O, C2_IN, C2_K, ws->cp1, ws->cols2);
  WSK_TRY(linear_fwd((int64_t)B * C2_O * C2_O, C2_IN * C2_K * C2_K, C2_OUT, ws->cols2, ws->wc2,
                     P(net, params, 3), act, ws->cz2, ws->ca2));
  maxpool_fwd(B, C2_O, C2_O, C2_OUT, ws->ca2, ws->cp2, ws->arg2);
  /* conv 3 */
  im2col(B, P2_O, P2_O, C3_IN, C3_K, ws->cp2, ws->cols3);
  WSK_TRY(linear_fwd((int64_t)B * C3_O * C3_O, C3_IN * C3_K * C3_K, C3_OUT, ws->cols3, ws->wc3,
                     P(net, params, 5), act, ws->cz3, ws->ca3));
  /* flatten [b][h][w][c] -> PyTorch's [b][c][h][w] */
  for (int b = 0; b < B; b++)
    for (int hw = 0; hw < C3_O * C3_O; hw++)
      for (int c = 0; c < C3_OUT; c++)
        ws->flat[(size_t)b * FLAT + c * C3_O * C3_O + hw] =
            ws->ca3[(size_t)b * FLAT + hw * C3_OUT + c];
  WSK_TRY(linear_fwd(B, FLAT, F1_OUT, ws->flat, P(net, params, 6), P(net, params, 7), act, ws->z4,
                     ws->a4));
  const float *h = ws->a4;
  if (drop) {
    dropout_fwd(B, F1_OUT, net->dropout, rng, ws->a4, ws->mask, ws->d4);
    h = ws->d4;
  }
  return linear_fwd(B, F1_OUT, WSK_NET_CLASSES, h, P(net, params, 8), P(net, params, 9), -1, NULL,
                    ws->logits);
}

static float *G(const wsk_net *net, float *grad, int t) { return grad + net->tensors[t].offset; }

/* Backward from ws->glogits after forward(); grad written whole. */
static wsk_status backward(const wsk_net *net, const float *params, const float *x, int B, int drop,
                           wsk_net_ws *ws, float *grad) {
  const int act = (int)net->act;
  if (net->arch == WSK_ARCH_MLP) {
    const float *h = drop ? ws->d1 : ws->a1;
    WSK_TRY(linear_bwd(B, MLP_HID, WSK_NET_CLASSES, h, P(net, params, 2), -1, NULL, NULL,
                       ws->glogits, G(net, grad, 2), 0, G(net, grad, 3), ws->gd1));
    if (drop)
      for (size_t i = 0; i < (size_t)B * MLP_HID; i++) ws->gd1[i] = ws->gd1[i] * ws->mask[i];
    return linear_bwd(B, MLP_IN, MLP_HID, x, P(net, params, 0), act, ws->z1, ws->a1, ws->gd1,
                      G(net, grad, 0), 0, G(net, grad, 1), NULL);
  }
  if (net->arch == WSK_ARCH_CNN16) {
    const float *h = drop ? ws->gapd : ws->gap;
    WSK_TRY(linear_bwd(B, GAP, WSK_NET_CLASSES, h, P(net, params, 4), -1, NULL, NULL, ws->glogits,
                       G(net, grad, 4), 0, G(net, grad, 5), ws->ggap));
    if (drop)
      for (size_t i = 0; i < (size_t)B * GAP; i++) ws->ggap[i] = ws->ggap[i] * ws->mask[i];
    avgpool_bwd(B, GAP_N, GAP, ws->ggap, ws->ga2);
    WSK_TRY(linear_bwd((int64_t)B * G2_O * G2_O, G2_IN * G_K * G_K, G2_OUT, ws->cols2, ws->wc2, act,
                       ws->cz2, ws->ca2, ws->ga2, ws->gwc2, 1, G(net, grad, 3), ws->gcols2));
    conv_grad_from_t(G2_OUT, G2_IN, G_K, ws->gwc2, G(net, grad, 2));
    col2im_strided(B, G1_O, G1_O, G2_IN, G_K, G_S, G_P, ws->gcols2, ws->ga1);
    WSK_TRY(linear_bwd((int64_t)B * G1_O * G1_O, G1_IN * G_K * G_K, G1_OUT, ws->cols1, ws->wc1, act,
                       ws->cz1, ws->ca1, ws->ga1, ws->gwc1, 1, G(net, grad, 1), NULL));
    conv_grad_from_t(G1_OUT, G1_IN, G_K, ws->gwc1, G(net, grad, 0));
    return WSK_OK;
  }
  const float *h = drop ? ws->d4 : ws->a4;
  WSK_TRY(linear_bwd(B, F1_OUT, WSK_NET_CLASSES, h, P(net, params, 8), -1, NULL, NULL, ws->glogits,
                     G(net, grad, 8), 0, G(net, grad, 9), ws->gd4));
  if (drop)
    for (size_t i = 0; i < (size_t)B * F1_OUT; i++) ws->gd4[i] = ws->gd4[i] * ws->mask[i];
  WSK_TRY(linear_bwd(B, FLAT, F1_OUT, ws->flat, P(net, params, 6), act, ws->z4, ws->a4, ws->gd4,
                     G(net, grad, 6), 0, G(net, grad, 7), ws->gflat));
  for (int b = 0; b < B; b++)
    for (int hw = 0; hw < C3_O * C3_O; hw++)
      for (int c = 0; c < C3_OUT; c++)
        ws->ga3[(size_t)b * FLAT + hw * C3_OUT + c] =
            ws->gflat[(size_t)b * FLAT + c * C3_O * C3_O + hw];
  WSK_TRY(linear_bwd((int64_t)B * C3_O * C3_O, C3_IN * C3_K * C3_K, C3_OUT, ws->cols3, ws->wc3, act,
                     ws->cz3, ws->ca3, ws->ga3, ws->gwc3, 0, G(net, grad, 5), ws->gcols3));
  conv_weight_order(C3_OUT, C3_IN, C3_K, ws->gwc3, G(net, grad, 4), 1);
  col2im(B, P2_O, P2_O, C3_IN, C3_K, ws->gcols3, ws->gp2);
  maxpool_bwd((size_t)B * C2_O * C2_O * C2_OUT, (size_t)B * P2_O * P2_O * C2_OUT, ws->gp2, ws->arg2,
              ws->ga2);
  WSK_TRY(linear_bwd((int64_t)B * C2_O * C2_O, C2_IN * C2_K * C2_K, C2_OUT, ws->cols2, ws->wc2, act,
                     ws->cz2, ws->ca2, ws->ga2, ws->gwc2, 0, G(net, grad, 3), ws->gcols2));
  conv_weight_order(C2_OUT, C2_IN, C2_K, ws->gwc2, G(net, grad, 2), 1);
  col2im(B, P1_O, P1_O, C2_IN, C2_K, ws->gcols2, ws->gp1);
  maxpool_bwd((size_t)B * C1_O * C1_O * C1_OUT, (size_t)B * P1_O * P1_O * C1_OUT, ws->gp1, ws->arg1,
              ws->ga1);
  WSK_TRY(linear_bwd((int64_t)B * C1_O * C1_O, C1_IN * C1_K * C1_K, C1_OUT, ws->cols1, ws->wc1, act,
                     ws->cz1, ws->ca1, ws->ga1, ws->gwc1, 0, G(net, grad, 1), NULL));
  conv_weight_order(C1_OUT, C1_IN, C1_K, ws->gwc1, G(net, grad, 0), 1);
  return WSK_OK;
}

wsk_status wsk_net_forward(const wsk_net *net, const float *params, const float *x, int batch,
                           wsk_rng *dropout, wsk_net_ws *ws, float *logits) {
  WSK_TRY(check_call(net, params, x, batch, ws, "wsk_net_forward"));
  if (!logits) return wsk__fail(WSK_ERR_NULL, "wsk_net_forward: logits is NULL");
  WSK_TRY(forward(net, params, x, batch, dropout, ws));
  memcpy(logits, ws->logits, (size_t)batch * WSK_NET_CLASSES * sizeof(float));
  return WSK_OK;
}

wsk_status wsk_net_loss_grad(const wsk_net *net, const float *params, const float *x,
                             const uint8_t *y, int batch, wsk_rng *dropout, wsk_net_ws *ws,
                             float *loss, int *correct, float *grad) {
  WSK_TRY(check_call(net, params, x, batch, ws, "wsk_net_loss_grad"));
  if (!y || !loss) return wsk__fail(WSK_ERR_NULL, "wsk_net_loss_grad: y or loss is NULL");
  WSK_TRY(forward(net, params, x, batch, dropout, ws));
  WSK_TRY(cross_entropy(batch, ws->logits, y, ws->rowloss, grad ? ws->glogits : NULL, correct));
  double s = 0.0;
  for (int b = 0; b < batch; b++) s += ws->rowloss[b];
  *loss = (float)(s / batch);
  if (grad) {
    const int drop = dropout != NULL && net->dropout > 0.0f;
    WSK_TRY(backward(net, params, x, batch, drop, ws, grad));
  }
  return WSK_OK;
}

wsk_status wsk_net_evaluate(const wsk_net *net, const float *params, const float *x,
                            const uint8_t *y, const uint32_t *idx, size_t n, wsk_net_ws *ws,
                            double *loss_sum, size_t *correct) {
  if (!y || !loss_sum || !correct)
    return wsk__fail(WSK_ERR_NULL, "wsk_net_evaluate: NULL argument");
  WSK_TRY(check_call(net, params, x, 1, ws, "wsk_net_evaluate"));
  double s = 0.0;
  size_t ok = 0;
  const size_t in = (size_t)net->in_size;
  for (size_t i0 = 0; i0 < n; i0 += (size_t)ws->max_batch) {
    const int B = (int)((n - i0 < (size_t)ws->max_batch) ? n - i0 : (size_t)ws->max_batch);
    const float *xb = x + i0 * in;
    const uint8_t *yb = y + i0;
    if (idx) {
      for (int b = 0; b < B; b++) {
        memcpy(ws->xb + (size_t)b * in, x + (size_t)idx[i0 + b] * in, in * sizeof(float));
        ws->yb[b] = y[idx[i0 + b]];
      }
      xb = ws->xb;
      yb = ws->yb;
    }
    WSK_TRY(forward(net, params, xb, B, NULL, ws));
    int c = 0;
    WSK_TRY(cross_entropy(B, ws->logits, yb, ws->rowloss, NULL, &c));
    for (int b = 0; b < B; b++) s += ws->rowloss[b];
    ok += (size_t)c;
  }
  *loss_sum = s;
  *correct = ok;
  return WSK_OK;
}
