/* model/ssl_model.c — tokens, augmentations, the encoder / decoder /
 * projection head of the SSL hyper-representation, NT-Xent and the
 * reconstruction loss, forward and backward (model/ssl_model.h). */
#include "model/ssl_model.h"

#include <math.h>
#include <sleef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dispatch/error.h"
#include "wsk/eltwise.h"
#include "wsk/gemm.h"

/* sleef.h declares the purecfma functions only when the compiler targets FMA;
 * this file is built with baseline flags. */
float Sleef_finz_expf1_u10purecfma(float);
float Sleef_finz_logf1_u10purecfma(float);

/* ---- tokens -------------------------------------------------------------------------- */

wsk_status wsk_ssl_tokens_from_net(const wsk_net *net, wsk_ssl_tokens *tk) {
  if (!net || !tk) return wsk__fail(WSK_ERR_NULL, "wsk_ssl_tokens_from_net: NULL argument");
  memset(tk, 0, sizeof *tk);
  if (net->n_tensors < 2 || net->n_tensors % 2 != 0 || net->n_tensors / 2 > WSK_SSL_MAX_LAYERS)
    return wsk__fail(WSK_ERR_ARG, "ssl tokens: %d tensors, expected weight/bias pairs (at most %d)",
                     net->n_tensors, WSK_SSL_MAX_LAYERS);
  size_t off = 0;
  int tok = 0;
  for (int l = 0; l < net->n_tensors / 2; l++) {
    const wsk_net_tensor *w = &net->tensors[2 * l], *b = &net->tensors[2 * l + 1];
    if (w->is_bias || !b->is_bias || b->numel != (size_t)w->shape[0])
      return wsk__fail(WSK_ERR_ARG, "ssl tokens: tensors %s and %s are not a weight and its bias",
                       w->name, b->name);
    const int n = (int)w->shape[0];
    const size_t in = w->numel / (size_t)n;
    tk->n[l] = n;
    tk->width[l] = (int)in + 1;
    tk->off[l] = off;
    tk->tok_off[l] = tok;
    tk->w_off[l] = w->offset;
    tk->b_off[l] = b->offset;
    if (l > 0) {
      if (in % (size_t)tk->n[l - 1] != 0)
        return wsk__fail(WSK_ERR_ARG,
                         "ssl tokens: %s has %zu inputs per neuron, not a multiple "
                         "of the %d neurons before it",
                         w->name, in, tk->n[l - 1]);
      tk->group[l] = (int)(in / (size_t)tk->n[l - 1]);
    }
    if (tk->width[l] > tk->max_width) tk->max_width = tk->width[l];
    off += (size_t)n * (in + 1);
    tok += n;
    tk->layers = l + 1;
  }
  tk->ntok = tok;
  tk->nvals = off;
  return WSK_OK;
}

void wsk_ssl_tokenize(const wsk_ssl_tokens *tk, const float *params, float *tokvec) {
  for (int l = 0; l < tk->layers; l++) {
    const size_t in = (size_t)tk->width[l] - 1;
    for (int i = 0; i < tk->n[l]; i++) {
      float *t = tokvec + tk->off[l] + (size_t)i * (in + 1);
      memcpy(t, params + tk->w_off[l] + (size_t)i * in, in * sizeof(float));
      t[in] = params[tk->b_off[l] + (size_t)i];
    }
  }
}

void wsk_ssl_detokenize(const wsk_ssl_tokens *tk, const float *tokvec, float *params) {
  for (int l = 0; l < tk->layers; l++) {
    const size_t in = (size_t)tk->width[l] - 1;
    for (int i = 0; i < tk->n[l]; i++) {
      const float *t = tokvec + tk->off[l] + (size_t)i * (in + 1);
      memcpy(params + tk->w_off[l] + (size_t)i * in, t, in * sizeof(float));
      params[tk->b_off[l] + (size_t)i] = t[in];
    }
  }
}

void wsk_ssl_permute(const wsk_ssl_tokens *tk, const uint32_t *const *perm, const float *in,
                     float *out) {
  for (int l = 0; l < tk->layers; l++) {
    const int w = tk->width[l];
    const uint32_t *rows = (l < tk->layers - 1) ? perm[l] : NULL;
    const uint32_t *cols = (l > 0) ? perm[l - 1] : NULL;
    const int g = tk->group[l];
    for (int i = 0; i < tk->n[l]; i++) {
      const float *src = in + tk->off[l] + (size_t)(rows ? rows[i] : (uint32_t)i) * (size_t)w;
      float *dst = out + tk->off[l] + (size_t)i * (size_t)w;
      if (!cols) {
        memcpy(dst, src, (size_t)w * sizeof(float));
        continue;
      }
      for (int k = 0; k < tk->n[l - 1]; k++)
        memcpy(dst + (size_t)k * (size_t)g, src + (size_t)cols[k] * (size_t)g,
               (size_t)g * sizeof(float));
      dst[w - 1] = src[w - 1];
    }
  }
}

/* ---- augmentations ------------------------------------------------------------------- */

void wsk_ssl_augment_default(wsk_ssl_augment *a) {
  a->permute = 1;
  a->erase_p = 0.5f;
  a->erase_min = 0.02f;
  a->erase_max = 0.33f;
  a->noise_std = 0.05f;
}

void wsk_ssl_augment_view(const wsk_ssl_tokens *tk, const wsk_ssl_augment *a, wsk_rng *rng,
                          const float *clean, float *target, float *input, uint32_t *perm_scratch) {
  const size_t n = tk->nvals;
  if (a->permute && tk->layers > 1) {
    const uint32_t *perm[WSK_SSL_MAX_LAYERS] = {NULL};
    uint32_t *p = perm_scratch;
    for (int l = 0; l < tk->layers - 1; l++) {
      for (int i = 0; i < tk->n[l]; i++) p[i] = (uint32_t)i;
      wsk_rng_shuffle_u32(rng, p, (size_t)tk->n[l]);
      perm[l] = p;
      p += tk->n[l];
    }
    wsk_ssl_permute(tk, perm, clean, target);
  } else {
    memcpy(target, clean, n * sizeof(float));
  }
  memcpy(input, target, n * sizeof(float));
  if (a->erase_p > 0.0f) {
    const float u = wsk_rng_uniform(rng);
    if (u < a->erase_p) {
      size_t lo = (size_t)(a->erase_min * (float)n), hi = (size_t)(a->erase_max * (float)n);
      if (lo < 1) lo = 1;
      if (lo > n) lo = n;
      if (hi < lo) hi = lo;
      if (hi > n) hi = n;
      const size_t len = lo + wsk_rng_below(rng, (uint32_t)(hi - lo + 1));
      const size_t start = wsk_rng_below(rng, (uint32_t)(n - len + 1));
      memset(input + start, 0, len * sizeof(float));
    }
  }
  if (a->noise_std > 0.0f) {
    for (size_t i = 0; i < n; i++) {
      const float z = wsk_rng_normal(rng);
      const float e = a->noise_std * z;
      input[i] = input[i] + e;
    }
  }
}

/* ---- the model's parameters -------------------------------------------------------------- */

typedef struct layout {
  wsk_ssl_model *m;
  int cap;
  wsk_status st;
} layout;

static size_t add_tensor(layout *L, const char *name, int64_t s0, int64_t s1) {
  wsk_ssl_model *m = L->m;
  if (L->st != WSK_OK) return 0;
  if (m->n_tensors == L->cap) {
    const int cap = L->cap ? 2 * L->cap : 64;
    wsk_ssl_tensor *t = realloc(m->tensors, (size_t)cap * sizeof *t);
    if (!t) {
      L->st = wsk__fail(WSK_ERR_NOMEM, "ssl model: out of memory for the tensor list");
      return 0;
    }
    m->tensors = t;
    L->cap = cap;
  }
  wsk_ssl_tensor *t = &m->tensors[m->n_tensors++];
  memset(t, 0, sizeof *t);
  snprintf(t->name, sizeof t->name, "%s", name);
  t->rank = s1 ? 2 : 1;
  t->shape[0] = s0;
  t->shape[1] = s1;
  t->numel = (size_t)s0 * (size_t)(s1 ? s1 : 1);
  t->offset = m->n_params;
  m->n_params += t->numel;
  return t->offset;
}

static size_t add_block(layout *L, const char *prefix, int i, int64_t D, int64_t F) {
  size_t sizes[WSK_SSL_BLOCK_TENSORS];
  int64_t shapes[WSK_SSL_BLOCK_TENSORS][2];
  wsk_ssl_block_param_count(D, F, sizes, shapes);
  size_t first = 0;
  for (int k = 0; k < WSK_SSL_BLOCK_TENSORS; k++) {
    char name[48];
    snprintf(name, sizeof name, "%s.%d.%s", prefix, i, wsk_ssl_block_tensor_names[k]);
    const size_t off = add_tensor(L, name, shapes[k][0], shapes[k][1]);
    if (k == 0) first = off;
  }
  return first;
}

wsk_status wsk_ssl_model_make(wsk_ssl_model *m, const wsk_ssl_arch *a, const wsk_ssl_tokens *tk) {
  if (!m || !a || !tk) return wsk__fail(WSK_ERR_NULL, "wsk_ssl_model_make: NULL argument");
  memset(m, 0, sizeof *m);
  const struct {
    const char *name;
    int64_t v, lo, hi;
  } lim[] = {{"d_model", a->dim, 1, 4096},
             {"heads", a->heads, 1, 4096},
             {"encoder layers", a->enc_layers, 1, WSK_SSL_MAX_BLOCKS},
             {"decoder layers", a->dec_layers, 1, WSK_SSL_MAX_BLOCKS},
             {"FFN width", a->ffn, 1, 16384},
             {"latent dim", a->latent, 1, 4096},
             {"projection width", a->proj_hidden, 1, 4096},
             {"projection output", a->proj_out, 1, 4096}};
  for (size_t i = 0; i < sizeof lim / sizeof lim[0]; i++)
    if (lim[i].v < lim[i].lo || lim[i].v > lim[i].hi)
      return wsk__fail(WSK_ERR_ARG, "ssl model: %s = %lld, must be in %lld..%lld", lim[i].name,
                       (long long)lim[i].v, (long long)lim[i].lo, (long long)lim[i].hi);
  if (a->dim % a->heads != 0)
    return wsk__fail(WSK_ERR_ARG, "ssl model: %lld heads do not divide d_model %lld",
                     (long long)a->heads, (long long)a->dim);
  if (tk->layers < 1 || tk->ntok < 1)
    return wsk__fail(WSK_ERR_ARG, "ssl model: a network with no tokens");
  m->a = *a;
  m->tk = *tk;
  m->ntok_enc = tk->ntok + 1;
  const int64_t D = a->dim, F = a->ffn, Z = a->latent, N = tk->ntok;
  layout L = {m, 0, WSK_OK};
  char name[48];
  for (int l = 0; l < tk->layers; l++) {
    snprintf(name, sizeof name, "embed.%d.weight", l);
    m->embed_w[l] = add_tensor(&L, name, D, tk->width[l]);
    snprintf(name, sizeof name, "embed.%d.bias", l);
    m->embed_b[l] = add_tensor(&L, name, D, 0);
  }
  m->comp = add_tensor(&L, "comp_token", D, 0);
  m->enc_pos = add_tensor(&L, "enc_pos", m->ntok_enc, D);
  for (int i = 0; i < a->enc_layers; i++) m->enc_block[i] = add_block(&L, "enc", i, D, F);
  m->enc_ln_g = add_tensor(&L, "enc_ln.weight", D, 0);
  m->enc_ln_b = add_tensor(&L, "enc_ln.bias", D, 0);
  m->lat_w = add_tensor(&L, "to_latent.weight", Z, D);
  m->lat_b = add_tensor(&L, "to_latent.bias", Z, 0);
  m->proj1_w = add_tensor(&L, "proj.0.weight", a->proj_hidden, Z);
  m->proj1_b = add_tensor(&L, "proj.0.bias", a->proj_hidden, 0);
  m->proj2_w = add_tensor(&L, "proj.2.weight", a->proj_out, a->proj_hidden);
  m->proj2_b = add_tensor(&L, "proj.2.bias", a->proj_out, 0);
  m->from_w = add_tensor(&L, "from_latent.weight", N * D, Z);
  m->from_b = add_tensor(&L, "from_latent.bias", N * D, 0);
  m->dec_pos = add_tensor(&L, "dec_pos", N, D);
  for (int i = 0; i < a->dec_layers; i++) m->dec_block[i] = add_block(&L, "dec", i, D, F);
  m->dec_ln_g = add_tensor(&L, "dec_ln.weight", D, 0);
  m->dec_ln_b = add_tensor(&L, "dec_ln.bias", D, 0);
  for (int l = 0; l < tk->layers; l++) {
    snprintf(name, sizeof name, "unembed.%d.weight", l);
    m->unemb_w[l] = add_tensor(&L, name, tk->width[l], D);
    snprintf(name, sizeof name, "unembed.%d.bias", l);
    m->unemb_b[l] = add_tensor(&L, name, tk->width[l], 0);
  }
  if (L.st != WSK_OK) wsk_ssl_model_free(m);
  return L.st;
}

void wsk_ssl_model_free(wsk_ssl_model *m) {
  if (!m) return;
  free(m->tensors);
  m->tensors = NULL;
  m->n_tensors = 0;
}

static int ends_with(const char *s, const char *suffix) {
  const size_t n = strlen(s), k = strlen(suffix);
  return n >= k && strcmp(s + n - k, suffix) == 0;
}

void wsk_ssl_model_init(const wsk_ssl_model *m, wsk_rng *rng, float *params) {
  const int64_t D = m->a.dim;
  for (int t = 0; t < m->n_tensors; t++) {
    const wsk_ssl_tensor *T = &m->tensors[t];
    float *p = params + T->offset;
    const char *nm = T->name;
    if (strcmp(nm, "comp_token") == 0 || strcmp(nm, "enc_pos") == 0 || strcmp(nm, "dec_pos") == 0) {
      for (size_t i = 0; i < T->numel; i++) {
        const float z = wsk_rng_normal(rng);
        p[i] = 0.02f * z;
      }
    } else if (strstr(nm, "ln1.") || strstr(nm, "ln2.") || strncmp(nm, "enc_ln.", 7) == 0 ||
               strncmp(nm, "dec_ln.", 7) == 0) {
      const float v = ends_with(nm, ".weight") ? 1.0f : 0.0f;
      for (size_t i = 0; i < T->numel; i++) p[i] = v;
    } else if (ends_with(nm, "attn.in_proj_bias") || ends_with(nm, "attn.out_proj.bias")) {
      memset(p, 0, T->numel * sizeof(float));
    } else if (ends_with(nm, "attn.in_proj_weight")) {
      const float b = (float)sqrt(6.0 / (double)(4 * D));
      for (size_t i = 0; i < T->numel; i++) p[i] = wsk_rng_range(rng, -b, b);
    } else {
      /* nn.Linear: weight [out][in] and its bias, both U(-1/sqrt(in), 1/sqrt(in)) */
      int64_t in;
      if (T->rank == 2) {
        in = T->shape[1];
      } else {
        in = m->tensors[t - 1].shape[1]; /* a bias follows its weight */
      }
      const float b = (float)(1.0 / sqrt((double)in));
      for (size_t i = 0; i < T->numel; i++) p[i] = wsk_rng_range(rng, -b, b);
    }
  }
}

/* ---- workspace ------------------------------------------------------------------------------ */

struct wsk_ssl_ws {
  int max_views;
  float *mem;
  float *enc_x, *enc_cache, *dec_x, *dec_cache;
  size_t enc_cache_stride, dec_cache_stride; /* floats per block, at max_views */
  float *comp, *comp_ln, *comp_mean, *comp_rstd, *z, *h1, *p;
  float *dec_ln, *dec_mean, *dec_rstd, *out;
  float *tmp, *tmp2;
  float *scratch, *dxa, *dxb, *dout;
  float *dz, *dz2, *dp, *dh1, *dcomp, *dcomp_ln;
};

wsk_status wsk_ssl_ws_create(const wsk_ssl_model *m, int max_views, wsk_ssl_ws **out) {
  if (!m || !out) return wsk__fail(WSK_ERR_NULL, "wsk_ssl_ws_create: NULL argument");
  *out = NULL;
  if (max_views < 1 || max_views > 65536)
    return wsk__fail(WSK_ERR_SIZE, "wsk_ssl_ws_create: %d views (1..65536)", max_views);
  const size_t V = (size_t)max_views, D = (size_t)m->a.dim, T = (size_t)m->ntok_enc,
               N = (size_t)m->tk.ntok, Z = (size_t)m->a.latent;
  const size_t Le = (size_t)m->a.enc_layers, Ld = (size_t)m->a.dec_layers;
  const wsk_ssl_block_shape es = {(int64_t)V, (int64_t)T, m->a.dim, m->a.heads, m->a.ffn};
  const wsk_ssl_block_shape ds = {(int64_t)V, (int64_t)N, m->a.dim, m->a.heads, m->a.ffn};
  wsk_ssl_ws *w = calloc(1, sizeof *w);
  if (!w) return wsk__fail(WSK_ERR_NOMEM, "ssl workspace: out of memory");
  w->max_views = max_views;
  w->enc_cache_stride = wsk_ssl_block_cache_floats(&es);
  w->dec_cache_stride = wsk_ssl_block_cache_floats(&ds);
  const size_t wide = (D > (size_t)m->tk.max_width ? D : (size_t)m->tk.max_width);
  const size_t scr_e = wsk_ssl_block_scratch_floats(&es), scr_d = wsk_ssl_block_scratch_floats(&ds);
  const size_t rows_max = V * T;
  size_t sizes[] = {Le * V * T * D,           /* enc_x: the blocks' inputs */
                    Le * w->enc_cache_stride, /* enc caches */
                    (Ld + 1) * V * N * D,     /* dec_x */
                    Ld * w->dec_cache_stride, /* dec caches */
                    V * D,
                    V * D,
                    V,
                    V,
                    V * Z, /* comp, comp_ln, mean, rstd, z */
                    V * (size_t)m->a.proj_hidden,
                    V * (size_t)m->a.proj_out, /* h1, p */
                    V * N * D,
                    V * N,
                    V * N,
                    V * m->tk.nvals, /* dec_ln, mean, rstd, out */
                    V * N * wide,
                    V * N * wide,                  /* tmp, tmp2 */
                    scr_e > scr_d ? scr_e : scr_d, /* scratch */
                    rows_max * D,
                    rows_max * D,    /* dxa, dxb */
                    V * m->tk.nvals, /* dout */
                    V * Z,
                    V * Z,
                    V * (size_t)m->a.proj_out,
                    V * (size_t)m->a.proj_hidden,
                    V * D,
                    V * D};
  float **slots[] = {&w->enc_x,   &w->enc_cache, &w->dec_x,     &w->dec_cache, &w->comp,
                     &w->comp_ln, &w->comp_mean, &w->comp_rstd, &w->z,         &w->h1,
                     &w->p,       &w->dec_ln,    &w->dec_mean,  &w->dec_rstd,  &w->out,
                     &w->tmp,     &w->tmp2,      &w->scratch,   &w->dxa,       &w->dxb,
                     &w->dout,    &w->dz,        &w->dz2,       &w->dp,        &w->dh1,
                     &w->dcomp,   &w->dcomp_ln};
  const size_t ns = sizeof sizes / sizeof sizes[0];
  size_t total = 0;
  for (size_t i = 0; i < ns; i++) total += (sizes[i] + 15) & ~(size_t)15; /* 64-byte aligned */
  w->mem = aligned_alloc(64, total * sizeof(float) + 64);
  if (!w->mem) {
    free(w);
    return wsk__fail(WSK_ERR_NOMEM, "ssl workspace: out of memory for %zu floats (%d views)", total,
                     max_views);
  }
  memset(w->mem, 0, total * sizeof(float));
  float *p = w->mem;
  for (size_t i = 0; i < ns; i++) {
    *slots[i] = p;
    p += (sizes[i] + 15) & ~(size_t)15;
  }
  *out = w;
  return WSK_OK;
}

void wsk_ssl_ws_free(wsk_ssl_ws *ws) {
  if (!ws) return;
  free(ws->mem);
  free(ws);
}

/* ---- NT-Xent ------------------------------------------------------------------------------- */

wsk_status wsk_ssl_ntxent(int views, int64_t dim, const float *p, float tau, float scale,
                          double *loss, float *dp) {
  if (!p || !loss) return wsk__fail(WSK_ERR_NULL, "wsk_ssl_ntxent: NULL argument");
  if (views < 2 || views % 2 != 0 || dim < 1)
    return wsk__fail(WSK_ERR_SIZE, "wsk_ssl_ntxent: %d views (even, >= 2) of dimension %lld", views,
                     (long long)dim);
  if (!(tau > 0.0f && tau < INFINITY))
    return wsk__fail(WSK_ERR_ARG, "wsk_ssl_ntxent: tau = %g must be > 0", (double)tau);
  const int V = views, B = views / 2;
  const size_t P = (size_t)dim;
  float *u = malloc(((size_t)V * P + 2 * (size_t)V + 2 * (size_t)V * (size_t)V) * sizeof(float));
  if (!u) return wsk__fail(WSK_ERR_NOMEM, "wsk_ssl_ntxent: out of memory (%d views)", views);
  float *den = u + (size_t)V * P, *nrm = den + V, *s = nrm + V, *g = s + (size_t)V * (size_t)V;
  for (int i = 0; i < V; i++) {
    const float *pi = p + (size_t)i * P;
    float ss = 0.0f;
    for (size_t k = 0; k < P; k++) ss += pi[k] * pi[k];
    nrm[i] = sqrtf(ss);
    den[i] = nrm[i] > 1e-8f ? nrm[i] : 1e-8f;
    for (size_t k = 0; k < P; k++) u[(size_t)i * P + k] = pi[k] / den[i];
  }
  /* s = U U^T (gemm's fmaf chains), then / tau */
  wsk_status st = wsk_gemm(WSK_NO_TRANS, WSK_TRANS, V, V, (int64_t)P, 1.0f, u, (int64_t)P, u,
                           (int64_t)P, 0.0f, s, V, NULL, WSK_ACT_NONE);
  if (st != WSK_OK) {
    free(u);
    return st;
  }
  for (size_t i = 0; i < (size_t)V * (size_t)V; i++) s[i] = s[i] / tau;
  double total = 0.0;
  const float gs = scale / (float)V;
  for (int i = 0; i < V; i++) {
    const int pos = i < B ? i + B : i - B;
    const float *si = s + (size_t)i * V;
    float m = -INFINITY;
    for (int j = 0; j < V; j++)
      if (j != i && si[j] > m) m = si[j];
    float *gi = g + (size_t)i * V;
    float S = 0.0f;
    for (int j = 0; j < V; j++) {
      gi[j] = (j == i) ? 0.0f : Sleef_finz_expf1_u10purecfma(si[j] - m);
      S += gi[j];
    }
    const float lse = m + Sleef_finz_logf1_u10purecfma(S);
    total += (double)(lse - si[pos]);
    /* dC/ds_ij = (softmax_j - [j = pos]) / V, times scale */
    for (int j = 0; j < V; j++) {
      const float q = gi[j] / S;
      gi[j] = gs * (j == pos ? q - 1.0f : q);
    }
  }
  if (dp) {
    /* du_i = sum_j (g_ij + g_ji) u_j / tau: A = G + G^T, dU = A U (gemm) */
    float *a = s;
    for (int i = 0; i < V; i++)
      for (int j = 0; j < V; j++)
        a[(size_t)i * V + j] = g[(size_t)i * V + j] + g[(size_t)j * V + i];
    st = wsk_gemm(WSK_NO_TRANS, WSK_NO_TRANS, V, (int64_t)P, V, 1.0f, a, V, u, (int64_t)P, 0.0f, dp,
                  (int64_t)P, NULL, WSK_ACT_NONE);
    if (st != WSK_OK) {
      free(u);
      return st;
    }
    for (int i = 0; i < V; i++) {
      /* dp_i = (du_i - (du_i . u_i) u_i) / |p_i| (the normalization's Jacobian) */
      float *d = dp + (size_t)i * P;
      const float *ui = u + (size_t)i * P;
      float dot = 0.0f;
      for (size_t k = 0; k < P; k++) {
        d[k] = d[k] / tau;
        dot += d[k] * ui[k];
      }
      const int proj = nrm[i] > 1e-8f;
      for (size_t k = 0; k < P; k++) {
        const float r = proj ? d[k] - dot * ui[k] : d[k];
        d[k] = r / den[i];
      }
    }
  }
  free(u);
  *loss = total / (double)V;
  return WSK_OK;
}

/* ---- forward and backward -------------------------------------------------------------------- */

void wsk_ssl_batch_put(const wsk_ssl_tokens *tk, int views, int v, const float *tokvec,
                       float *batch) {
  for (int l = 0; l < tk->layers; l++) {
    const size_t len = (size_t)tk->n[l] * (size_t)tk->width[l];
    memcpy(batch + (size_t)views * tk->off[l] + (size_t)v * len, tokvec + tk->off[l],
           len * sizeof(float));
  }
}

static void block_cache(const wsk_ssl_model *m, wsk_ssl_ws *ws, int enc, int i, int V,
                        wsk_ssl_block_shape *s, wsk_ssl_block_cache *c) {
  s->seqs = V;
  s->len = enc ? m->ntok_enc : m->tk.ntok;
  s->dim = m->a.dim;
  s->heads = m->a.heads;
  s->ffn = m->a.ffn;
  float *base = enc ? ws->enc_cache + (size_t)i * ws->enc_cache_stride
                    : ws->dec_cache + (size_t)i * ws->dec_cache_stride;
  wsk_ssl_block_cache_at(s, base, c);
}

/* rows (v, first + i) of x[V][len][D], i < n, into out[V * n][D] */
static void gather_rows(const float *x, int V, int64_t len, int64_t first, int n, int64_t D,
                        float *out) {
  for (int v = 0; v < V; v++)
    memcpy(out + (size_t)v * (size_t)n * (size_t)D, x + ((size_t)v * len + first) * (size_t)D,
           (size_t)n * (size_t)D * sizeof(float));
}
static void scatter_rows(const float *in, int V, int64_t len, int64_t first, int n, int64_t D,
                         float *x) {
  for (int v = 0; v < V; v++)
    memcpy(x + ((size_t)v * len + first) * (size_t)D, in + (size_t)v * (size_t)n * (size_t)D,
           (size_t)n * (size_t)D * sizeof(float));
}

/* The encoder up to z[V][Z]. */
static wsk_status encode(const wsk_ssl_model *m, const float *P, int V, const float *input,
                         wsk_ssl_ws *ws) {
  const int64_t D = m->a.dim, T = m->ntok_enc, Z = m->a.latent;
  const wsk_ssl_tokens *tk = &m->tk;
  float *x0 = ws->enc_x;
  const float *pos = P + m->enc_pos, *comp = P + m->comp;
  for (int l = 0; l < tk->layers; l++) {
    const int64_t rows = (int64_t)V * tk->n[l];
    WSK_TRY(wsk_ssl_linear_forward(rows, tk->width[l], D, input + (size_t)V * tk->off[l],
                                   P + m->embed_w[l], P + m->embed_b[l], ws->tmp, WSK_ACT_NONE, 0));
    for (int v = 0; v < V; v++)
      for (int i = 0; i < tk->n[l]; i++) {
        const int64_t t = 1 + tk->tok_off[l] + i;
        const float *e = ws->tmp + ((size_t)v * (size_t)tk->n[l] + (size_t)i) * (size_t)D;
        float *x = x0 + ((size_t)v * (size_t)T + (size_t)t) * (size_t)D;
        const float *pt = pos + (size_t)t * (size_t)D;
        for (int64_t d = 0; d < D; d++) x[d] = e[d] + pt[d];
      }
  }
  for (int v = 0; v < V; v++) {
    float *x = x0 + (size_t)v * (size_t)T * (size_t)D;
    for (int64_t d = 0; d < D; d++) x[d] = comp[d] + pos[d];
  }
  /* the last block only at the compression token, whose output is all that is used */
  const size_t plane = (size_t)V * (size_t)T * (size_t)D;
  const int last = (int)m->a.enc_layers - 1;
  for (int i = 0; i <= last; i++) {
    wsk_ssl_block_shape s;
    wsk_ssl_block_cache c;
    wsk_ssl_block_params bp;
    block_cache(m, ws, 1, i, V, &s, &c);
    wsk_ssl_block_params_at((float *)P + m->enc_block[i], D, m->a.ffn, &bp);
    if (i < last)
      WSK_TRY(wsk_ssl_block_forward(&s, &bp, ws->enc_x + (size_t)i * plane, &c,
                                    ws->enc_x + (size_t)(i + 1) * plane));
    else
      WSK_TRY(wsk_ssl_block_forward_first(&s, &bp, ws->enc_x + (size_t)i * plane, &c, ws->comp));
  }
  WSK_TRY(wsk_ssl_ln_forward(V, D, ws->comp, P + m->enc_ln_g, P + m->enc_ln_b, ws->comp_ln,
                             ws->comp_mean, ws->comp_rstd));
  return wsk_ssl_linear_forward(V, D, Z, ws->comp_ln, P + m->lat_w, P + m->lat_b, ws->z,
                                WSK_ACT_TANH, 0);
}

/* The decoder from z to ws->out (batch layout). */
static wsk_status decode(const wsk_ssl_model *m, const float *P, int V, wsk_ssl_ws *ws) {
  const int64_t D = m->a.dim, N = m->tk.ntok, Z = m->a.latent;
  const wsk_ssl_tokens *tk = &m->tk;
  WSK_TRY(wsk_ssl_linear_forward(V, Z, N * D, ws->z, P + m->from_w, P + m->from_b, ws->dec_x,
                                 WSK_ACT_NONE, 0));
  const float *pos = P + m->dec_pos;
  for (int v = 0; v < V; v++) {
    float *x = ws->dec_x + (size_t)v * (size_t)N * (size_t)D;
    for (int64_t i = 0; i < N * D; i++) x[i] = x[i] + pos[i];
  }
  const size_t plane = (size_t)V * (size_t)N * (size_t)D;
  for (int i = 0; i < m->a.dec_layers; i++) {
    wsk_ssl_block_shape s;
    wsk_ssl_block_cache c;
    wsk_ssl_block_params bp;
    block_cache(m, ws, 0, i, V, &s, &c);
    wsk_ssl_block_params_at((float *)P + m->dec_block[i], D, m->a.ffn, &bp);
    WSK_TRY(wsk_ssl_block_forward(&s, &bp, ws->dec_x + (size_t)i * plane, &c,
                                  ws->dec_x + (size_t)(i + 1) * plane));
  }
  WSK_TRY(wsk_ssl_ln_forward((int64_t)V * N, D, ws->dec_x + (size_t)m->a.dec_layers * plane,
                             P + m->dec_ln_g, P + m->dec_ln_b, ws->dec_ln, ws->dec_mean,
                             ws->dec_rstd));
  for (int l = 0; l < tk->layers; l++) {
    gather_rows(ws->dec_ln, V, N, tk->tok_off[l], tk->n[l], D, ws->tmp);
    WSK_TRY(wsk_ssl_linear_forward((int64_t)V * tk->n[l], D, tk->width[l], ws->tmp,
                                   P + m->unemb_w[l], P + m->unemb_b[l],
                                   ws->out + (size_t)V * tk->off[l], WSK_ACT_NONE, 0));
  }
  return WSK_OK;
}

static wsk_status check_call(const wsk_ssl_model *m, const float *params, int views,
                             const float *input, const wsk_ssl_ws *ws, const char *fn) {
  if (!m || !params || !input || !ws) return wsk__fail(WSK_ERR_NULL, "%s: NULL argument", fn);
  if (views < 1 || views > ws->max_views)
    return wsk__fail(WSK_ERR_SIZE, "%s: %d views, the workspace holds 1..%d", fn, views,
                     ws->max_views);
  return WSK_OK;
}

wsk_status wsk_ssl_encode(const wsk_ssl_model *m, const float *params, int n, const float *input,
                          wsk_ssl_ws *ws, float *z) {
  WSK_TRY(check_call(m, params, n, input, ws, "wsk_ssl_encode"));
  if (!z) return wsk__fail(WSK_ERR_NULL, "wsk_ssl_encode: NULL z");
  WSK_TRY(encode(m, params, n, input, ws));
  memcpy(z, ws->z, (size_t)n * (size_t)m->a.latent * sizeof(float));
  return WSK_OK;
}

/* Two pooled sets per target layer (below) after z. */
int64_t wsk_ssl_embed_width(const wsk_ssl_model *m) {
  return m->a.latent + 2 * (int64_t)m->tk.layers * m->a.dim;
}

/* out[D] = the mean over target layer l's neuron tokens of the rows of
 * x[n][T][D] of view v, summed in token order. */
static void pool_layer(const wsk_ssl_model *m, const float *x, int v, int l, float *out) {
  const int64_t D = m->a.dim, T = m->ntok_enc;
  const wsk_ssl_tokens *tk = &m->tk;
  for (int64_t d = 0; d < D; d++) out[d] = 0.0f;
  for (int i = 0; i < tk->n[l]; i++) {
    const float *r =
        x + ((size_t)v * (size_t)T + 1 + (size_t)tk->tok_off[l] + (size_t)i) * (size_t)D;
    for (int64_t d = 0; d < D; d++) out[d] += r[d];
  }
  const float inv = 1.0f / (float)tk->n[l];
  for (int64_t d = 0; d < D; d++) out[d] *= inv;
}

wsk_status wsk_ssl_embed(const wsk_ssl_model *m, const float *params, int n, const float *input,
                         wsk_ssl_ws *ws, float *emb) {
  WSK_TRY(check_call(m, params, n, input, ws, "wsk_ssl_embed"));
  if (!emb) return wsk__fail(WSK_ERR_NULL, "wsk_ssl_embed: NULL emb");
  WSK_TRY(encode(m, params, n, input, ws));
  const int64_t D = m->a.dim, T = m->ntok_enc, Z = m->a.latent;
  const size_t W = (size_t)wsk_ssl_embed_width(m);
  const int L = m->tk.layers;
  /* the last encoder block at every token (training needs only the
   * compression token's row), then LN_enc on every token */
  const int last = (int)m->a.enc_layers - 1;
  const size_t plane = (size_t)n * (size_t)T * (size_t)D;
  const float *xin = ws->enc_x + (size_t)last * plane;
  wsk_ssl_block_shape s;
  wsk_ssl_block_cache c;
  wsk_ssl_block_params bp;
  block_cache(m, ws, 1, last, n, &s, &c);
  wsk_ssl_block_params_at((float *)params + m->enc_block[last], D, m->a.ffn, &bp);
  float *y = ws->dxa, *yl = ws->dxb;
  WSK_TRY(wsk_ssl_block_forward(&s, &bp, xin, &c, y));
  WSK_TRY(wsk_ssl_ln_forward((int64_t)n * T, D, y, params + m->enc_ln_g, params + m->enc_ln_b, yl,
                             ws->tmp, ws->tmp2));
  for (int v = 0; v < n; v++) {
    float *e = emb + (size_t)v * W;
    memcpy(e, ws->z + (size_t)v * (size_t)Z, (size_t)Z * sizeof(float));
    for (int l = 0; l < L; l++) pool_layer(m, yl, v, l, e + (size_t)Z + (size_t)l * (size_t)D);
    for (int l = 0; l < L; l++)
      pool_layer(m, xin, v, l, e + (size_t)Z + (size_t)(L + l) * (size_t)D);
  }
  return WSK_OK;
}

wsk_status wsk_ssl_loss_grad(const wsk_ssl_model *m, const float *params, int views,
                             const float *input, const float *target, const wsk_ssl_loss_params *lp,
                             wsk_ssl_ws *ws, wsk_ssl_loss *loss, float *grad) {
  static const char fn[] = "wsk_ssl_loss_grad";
  WSK_TRY(check_call(m, params, views, input, ws, fn));
  if (!target || !lp || !loss) return wsk__fail(WSK_ERR_NULL, "%s: NULL argument", fn);
  if (views < 2 || views % 2 != 0)
    return wsk__fail(WSK_ERR_SIZE, "%s: %d views; two per model are needed (an even number)", fn,
                     views);
  if (!(lp->gamma >= 0.0f && lp->gamma <= 1.0f) || !(lp->tau > 0.0f && lp->tau < INFINITY))
    return wsk__fail(WSK_ERR_ARG, "%s: gamma = %g must be in [0, 1] and tau = %g > 0", fn,
                     (double)lp->gamma, (double)lp->tau);
  const int V = views;
  const float *P = params;
  const int64_t D = m->a.dim, T = m->ntok_enc, N = m->tk.ntok, Z = m->a.latent;
  const int64_t H1 = m->a.proj_hidden, PO = m->a.proj_out;
  const wsk_ssl_tokens *tk = &m->tk;
  const int use_con = lp->gamma > 0.0f, use_rec = lp->gamma < 1.0f;
  const size_t nv = (size_t)V * tk->nvals;

  WSK_TRY(encode(m, P, V, input, ws));
  loss->contrast = loss->recon = 0.0;
  if (use_con) {
    WSK_TRY(wsk_ssl_linear_forward(V, Z, H1, ws->z, P + m->proj1_w, P + m->proj1_b, ws->h1,
                                   WSK_ACT_RELU, 0));
    WSK_TRY(wsk_ssl_linear_forward(V, H1, PO, ws->h1, P + m->proj2_w, P + m->proj2_b, ws->p,
                                   WSK_ACT_NONE, 0));
    WSK_TRY(
        wsk_ssl_ntxent(V, PO, ws->p, lp->tau, lp->gamma, &loss->contrast, grad ? ws->dp : NULL));
  }
  if (use_rec) {
    WSK_TRY(decode(m, P, V, ws));
    const float s = (float)(2.0 * (1.0 - (double)lp->gamma) / (double)nv);
    double sum = 0.0;
    for (size_t i = 0; i < nv; i++) {
      const float d = ws->out[i] - target[i];
      sum += (double)(d * d);
      ws->dout[i] = s * d;
    }
    loss->recon = sum / (double)nv;
  }
  loss->total = (double)lp->gamma * loss->contrast + (1.0 - (double)lp->gamma) * loss->recon;
  if (!grad) return WSK_OK;

  float *G = grad;
  memset(G, 0, m->n_params * sizeof(float));
  memset(ws->dz, 0, (size_t)V * (size_t)Z * sizeof(float));
  if (use_rec) {
    /* unembedding, per layer, into d LN_dec (dxa) */
    float *ddl = ws->dxa;
    for (int l = 0; l < tk->layers; l++) {
      const int64_t rows = (int64_t)V * tk->n[l];
      gather_rows(ws->dec_ln, V, N, tk->tok_off[l], tk->n[l], D, ws->tmp);
      WSK_TRY(wsk_ssl_linear_backward(rows, D, tk->width[l], ws->tmp, P + m->unemb_w[l],
                                      ws->dout + (size_t)V * tk->off[l], ws->tmp2,
                                      G + m->unemb_w[l], G + m->unemb_b[l]));
      scatter_rows(ws->tmp2, V, N, tk->tok_off[l], tk->n[l], D, ddl);
    }
    const size_t plane = (size_t)V * (size_t)N * (size_t)D;
    float *cur = ws->dxb, *nxt = ws->dxa;
    WSK_TRY(wsk_ssl_ln_backward((int64_t)V * N, D, ws->dec_x + (size_t)m->a.dec_layers * plane, ddl,
                                P + m->dec_ln_g, ws->dec_mean, ws->dec_rstd, cur, G + m->dec_ln_g,
                                G + m->dec_ln_b));
    for (int i = (int)m->a.dec_layers - 1; i >= 0; i--) {
      wsk_ssl_block_shape s;
      wsk_ssl_block_cache c;
      wsk_ssl_block_params bp, bg;
      block_cache(m, ws, 0, i, V, &s, &c);
      wsk_ssl_block_params_at((float *)P + m->dec_block[i], D, m->a.ffn, &bp);
      wsk_ssl_block_params_at(G + m->dec_block[i], D, m->a.ffn, &bg);
      WSK_TRY(wsk_ssl_block_backward(&s, &bp, ws->dec_x + (size_t)i * plane, &c, cur, nxt, &bg,
                                     ws->scratch));
      float *t = cur;
      cur = nxt;
      nxt = t;
    }
    float *gpos = G + m->dec_pos;
    for (int v = 0; v < V; v++) {
      const float *d = cur + (size_t)v * (size_t)N * (size_t)D;
      for (int64_t i = 0; i < N * D; i++) gpos[i] += d[i];
    }
    WSK_TRY(wsk_ssl_linear_backward(V, Z, N * D, ws->z, P + m->from_w, cur, ws->dz, G + m->from_w,
                                    G + m->from_b));
  }
  if (use_con) {
    WSK_TRY(wsk_ssl_linear_backward(V, H1, PO, ws->h1, P + m->proj2_w, ws->dp, ws->dh1,
                                    G + m->proj2_w, G + m->proj2_b));
    WSK_TRY(wsk_relu_backward(ws->h1, ws->dh1, (int64_t)V * H1, ws->dh1));
    WSK_TRY(wsk_ssl_linear_backward(V, Z, H1, ws->z, P + m->proj1_w, ws->dh1, ws->dz2,
                                    G + m->proj1_w, G + m->proj1_b));
    for (size_t i = 0; i < (size_t)V * (size_t)Z; i++) ws->dz[i] += ws->dz2[i];
  }
  /* z = tanh(W_z LN_enc(x_L)_0 + b_z) */
  WSK_TRY(wsk_tanh_backward(ws->z, ws->dz, (int64_t)V * Z, ws->dz));
  WSK_TRY(wsk_ssl_linear_backward(V, D, Z, ws->comp_ln, P + m->lat_w, ws->dz, ws->dcomp_ln,
                                  G + m->lat_w, G + m->lat_b));
  WSK_TRY(wsk_ssl_ln_backward(V, D, ws->comp, ws->dcomp_ln, P + m->enc_ln_g, ws->comp_mean,
                              ws->comp_rstd, ws->dcomp, G + m->enc_ln_g, G + m->enc_ln_b));
  const size_t plane = (size_t)V * (size_t)T * (size_t)D;
  float *cur = ws->dxa, *nxt = ws->dxb;
  for (int i = (int)m->a.enc_layers - 1; i >= 0; i--) {
    wsk_ssl_block_shape s;
    wsk_ssl_block_cache c;
    wsk_ssl_block_params bp, bg;
    block_cache(m, ws, 1, i, V, &s, &c);
    wsk_ssl_block_params_at((float *)P + m->enc_block[i], D, m->a.ffn, &bp);
    wsk_ssl_block_params_at(G + m->enc_block[i], D, m->a.ffn, &bg);
    if (i == (int)m->a.enc_layers - 1)
      WSK_TRY(wsk_ssl_block_backward_first(&s, &bp, ws->enc_x + (size_t)i * plane, &c, ws->dcomp,
                                           nxt, &bg, ws->scratch));
    else
      WSK_TRY(wsk_ssl_block_backward(&s, &bp, ws->enc_x + (size_t)i * plane, &c, cur, nxt, &bg,
                                     ws->scratch));
    float *t = cur;
    cur = nxt;
    nxt = t;
  }
  /* x_0 = [c ; E_l tok + e_l] + P_enc */
  float *gpos = G + m->enc_pos, *gcomp = G + m->comp;
  for (int v = 0; v < V; v++) {
    const float *d = cur + (size_t)v * (size_t)T * (size_t)D;
    for (int64_t i = 0; i < T * D; i++) gpos[i] += d[i];
    for (int64_t i = 0; i < D; i++) gcomp[i] += d[i];
  }
  for (int l = 0; l < tk->layers; l++) {
    gather_rows(cur, V, T, 1 + tk->tok_off[l], tk->n[l], D, ws->tmp);
    WSK_TRY(wsk_ssl_linear_backward((int64_t)V * tk->n[l], tk->width[l], D,
                                    input + (size_t)V * tk->off[l], P + m->embed_w[l], ws->tmp,
                                    NULL, G + m->embed_w[l], G + m->embed_b[l]));
  }
  return WSK_OK;
}
