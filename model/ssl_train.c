/* model/ssl_train.c — loading a zoo into token vectors, the SSL training
 * loop with its checkpoints, the embeddings and the files of
 * model/ssl_train.h, and the step benchmark. */
#include "model/ssl_train.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "dispatch/error.h"
#include "model/io.h"
#include "model/probe.h"
#include "model/progress.h"
#include "model/safetensors.h"
#include "wsk/optim.h"

#define CKPT_FORMAT "wsk-ssl-ckpt-1"
#define HIST_COLS 7

uint64_t wsk_ssl_fnv1a(uint64_t h, const void *p, size_t n) {
  const unsigned char *b = p;
  for (size_t i = 0; i < n; i++) {
    h ^= b[i];
    h *= 0x100000001b3ull;
  }
  return h;
}

/* ---- configuration ----------------------------------------------------------------------------
 */

void wsk_ssl_config_default(wsk_ssl_config *c) {
  memset(c, 0, sizeof *c);
  c->arch.dim = 64;
  c->arch.heads = 2;
  c->arch.enc_layers = 2;
  c->arch.dec_layers = 2;
  c->arch.ffn = 256;
  c->arch.latent = 32;
  c->arch.proj_hidden = 64;
  c->arch.proj_out = 32;
  c->epochs = 100;
  c->batch = 32;
  c->lr = 1e-3f;
  c->weight_decay = 0.0f;
  c->gamma = 0.5f;
  c->tau = 0.1f;
  wsk_ssl_augment_default(&c->aug);
  c->plateau_factor = 0.5f;
  c->plateau_patience = 3;
  c->plateau_threshold = 1e-3f;
  c->min_lr = 1e-5f;
  c->seed = 1;
  c->split_seed = 0;
  c->progress = 1;
}

void wsk_ssl_config_smoke(wsk_ssl_config *c) {
  wsk_ssl_config_default(c);
  c->arch.dim = 16;
  c->arch.heads = 2;
  c->arch.enc_layers = 1;
  c->arch.dec_layers = 1;
  c->arch.ffn = 32;
  c->arch.latent = 8;
  c->arch.proj_hidden = 16;
  c->arch.proj_out = 8;
  c->epochs = 2;
  c->batch = 4;
}

static wsk_status check_config(const wsk_ssl_config *c) {
  if (!c->zoo_dir || !*c->zoo_dir) return wsk__fail(WSK_ERR_ARG, "ssl: no zoo directory given");
  if (c->epochs < 1 || c->epochs > 100000)
    return wsk__fail(WSK_ERR_ARG, "ssl: epochs = %d, must be in 1..100000", c->epochs);
  if (c->batch < 1 || c->batch > 4096)
    return wsk__fail(WSK_ERR_ARG, "ssl: batch = %d, must be in 1..4096", c->batch);
  if (!(c->lr > 0.0f && c->lr < INFINITY))
    return wsk__fail(WSK_ERR_ARG, "ssl: learning rate %g, must be > 0", (double)c->lr);
  if (!(c->weight_decay >= 0.0f && c->weight_decay < INFINITY))
    return wsk__fail(WSK_ERR_ARG, "ssl: weight decay %g, must be >= 0", (double)c->weight_decay);
  if (!(c->gamma >= 0.0f && c->gamma <= 1.0f))
    return wsk__fail(WSK_ERR_ARG, "ssl: gamma = %g, must be in [0, 1]", (double)c->gamma);
  if (!(c->tau > 0.0f && c->tau < INFINITY))
    return wsk__fail(WSK_ERR_ARG, "ssl: tau = %g, must be > 0", (double)c->tau);
  const wsk_ssl_augment *a = &c->aug;
  if (!(a->erase_p >= 0.0f && a->erase_p <= 1.0f) || !(a->erase_min >= 0.0f) ||
      !(a->erase_max >= a->erase_min && a->erase_max <= 1.0f) ||
      !(a->noise_std >= 0.0f && a->noise_std < INFINITY))
    return wsk__fail(
        WSK_ERR_ARG, "ssl: augmentation erase_p %g, erase %g..%g, noise %g out of range",
        (double)a->erase_p, (double)a->erase_min, (double)a->erase_max, (double)a->noise_std);
  if (!(c->plateau_factor > 0.0f && c->plateau_factor < 1.0f) || c->plateau_patience < 0 ||
      !(c->plateau_threshold >= 0.0f) || !(c->min_lr >= 0.0f))
    return wsk__fail(WSK_ERR_ARG,
                     "ssl: plateau schedule factor %g, patience %d, threshold %g, "
                     "min_lr %g out of range",
                     (double)c->plateau_factor, c->plateau_patience, (double)c->plateau_threshold,
                     (double)c->min_lr);
  return WSK_OK;
}

/* ---- the zoo ------------------------------------------------------------------------------------
 */

typedef struct ssl_zoo {
  size_t rows;
  wsk_net net;
  wsk_ssl_tokens tk;
  float *tok;      /* rows x nvals, standardized */
  uint8_t *split;  /* WSK_SPLIT_* */
  uint8_t *finite; /* all of the row's weights are finite */
  uint32_t *train, *val;
  size_t n_train, n_val, models[3];
  float mean[WSK_SSL_MAX_LAYERS], sd[WSK_SSL_MAX_LAYERS];
  uint64_t csv_digest;
} ssl_zoo;

static void zoo_free(ssl_zoo *z) {
  free(z->tok);
  free(z->split);
  free(z->finite);
  free(z->train);
  free(z->val);
  memset(z, 0, sizeof *z);
}

/* One checkpoint's tensors into params (model/net.h layout). */
static wsk_status read_checkpoint(const char *path, const wsk_net *net, float *params) {
  wsk_safetensors st;
  WSK_TRY(wsk_safetensors_read(path, &st));
  wsk_status s = WSK_OK;
  for (int t = 0; t < net->n_tensors && s == WSK_OK; t++) {
    const wsk_net_tensor *T = &net->tensors[t];
    const long k = wsk_safetensors_find(&st, T->name);
    if (k < 0) {
      s = wsk__fail(WSK_ERR_FORMAT, "%s: no tensor '%s' (a %s checkpoint needs it)", path, T->name,
                    wsk_arch_name(net->arch));
      break;
    }
    int ok = st.ranks[k] == T->rank;
    for (int d = 0; ok && d < T->rank; d++) ok = st.shapes[k][d] == T->shape[d];
    if (!ok) {
      s = wsk__fail(WSK_ERR_FORMAT, "%s: tensor '%s' has the wrong shape for a %s checkpoint", path,
                    T->name, wsk_arch_name(net->arch));
      break;
    }
    memcpy(params + T->offset, st.data[k], T->numel * sizeof(float));
  }
  wsk_safetensors_free(&st);
  return s;
}

static wsk_status load_zoo(const wsk_ssl_config *c, ssl_zoo *z) {
  memset(z, 0, sizeof *z);
  char *csv_path = wsk_path_join(c->zoo_dir, "zoo.csv");
  if (!csv_path) return wsk__fail(WSK_ERR_NOMEM, "ssl: out of memory");
  void *bytes = NULL;
  size_t nbytes = 0;
  wsk_status s = wsk_file_read(csv_path, &bytes, &nbytes);
  wsk_csv csv;
  memset(&csv, 0, sizeof csv);
  if (s == WSK_OK) {
    z->csv_digest = wsk_ssl_fnv1a(WSK_SSL_FNV_INIT, bytes, nbytes);
    s = wsk_csv_parse(bytes, nbytes, csv_path, &csv);
  }
  free(bytes);
  float *params = NULL;
  const char **ids = NULL;
  long c_id = -1, c_arch = -1, c_file = -1;
  if (s == WSK_OK) {
    c_id = wsk_csv_col(&csv, "model_id");
    c_arch = wsk_csv_col(&csv, "arch");
    c_file = wsk_csv_col(&csv, "file");
    if (c_id < 0 || c_arch < 0 || c_file < 0)
      s = wsk__fail(WSK_ERR_FORMAT, "%s: needs the columns model_id, arch and file", csv_path);
    else if (csv.nrows == 0)
      s = wsk__fail(WSK_ERR_FORMAT, "%s: no rows", csv_path);
  }
  if (s == WSK_OK) {
    wsk_arch arch;
    s = wsk_arch_parse(csv.rows[0][c_arch], &arch);
    if (s != WSK_OK) {
      char why[256];
      snprintf(why, sizeof why, "%s", wsk_last_error());
      s = wsk__fail(WSK_ERR_FORMAT, "%s row 1: %s", csv_path, why);
    }
    if (s == WSK_OK) s = wsk_net_make(&z->net, arch, WSK_NET_RELU, 0.0f);
    if (s == WSK_OK) s = wsk_ssl_tokens_from_net(&z->net, &z->tk);
  }
  if (s == WSK_OK) {
    z->rows = csv.nrows;
    const size_t n = z->tk.nvals;
    z->tok = malloc(z->rows * n * sizeof(float));
    z->split = calloc(z->rows, 1);
    z->finite = calloc(z->rows, 1);
    z->train = malloc(z->rows * sizeof(uint32_t));
    z->val = malloc(z->rows * sizeof(uint32_t));
    params = malloc(z->net.n_params * sizeof(float));
    ids = malloc(z->rows * sizeof *ids);
    if (!z->tok || !z->split || !z->finite || !z->train || !z->val || !params || !ids)
      s = wsk__fail(WSK_ERR_NOMEM, "ssl: out of memory for %zu rows of %zu weights", z->rows, n);
  }
  for (size_t r = 0; s == WSK_OK && r < z->rows; r++) {
    if (strcmp(csv.rows[r][c_arch], wsk_arch_name(z->net.arch)) != 0) {
      s = wsk__fail(WSK_ERR_FORMAT,
                    "%s row %zu: arch '%s', but the first row's is '%s' (one "
                    "architecture per zoo)",
                    csv_path, r + 1, csv.rows[r][c_arch], wsk_arch_name(z->net.arch));
      break;
    }
    ids[r] = csv.rows[r][c_id];
    char *ck = wsk_path_join(c->zoo_dir, csv.rows[r][c_file]);
    if (!ck) {
      s = wsk__fail(WSK_ERR_NOMEM, "ssl: out of memory");
      break;
    }
    s = read_checkpoint(ck, &z->net, params);
    free(ck);
    if (s != WSK_OK) break;
    float *t = z->tok + r * z->tk.nvals;
    wsk_ssl_tokenize(&z->tk, params, t);
    int fin = 1;
    for (size_t i = 0; i < z->tk.nvals; i++)
      if (!isfinite(t[i])) fin = 0;
    z->finite[r] = (uint8_t)fin;
  }
  if (s == WSK_OK) s = wsk_probe_split(ids, z->rows, c->split_seed, z->split, z->models);
  if (s == WSK_OK) {
    for (size_t r = 0; r < z->rows; r++) {
      if (!z->finite[r]) continue;
      if (z->split[r] == WSK_SPLIT_TRAIN) z->train[z->n_train++] = (uint32_t)r;
      if (z->split[r] == WSK_SPLIT_VAL) z->val[z->n_val++] = (uint32_t)r;
    }
    if (z->n_train == 0 || z->n_val == 0)
      s = wsk__fail(WSK_ERR_SIZE,
                    "%s: %zu training and %zu validation rows with finite "
                    "weights; the SSL model needs at least one of each",
                    csv_path, z->n_train, z->n_val);
  }
  if (s == WSK_OK) {
    /* per-layer statistics over the training rows (double, rows in order) */
    const wsk_ssl_tokens *tk = &z->tk;
    for (int l = 0; l < tk->layers; l++) {
      const size_t len = (size_t)tk->n[l] * (size_t)tk->width[l];
      double sum = 0.0;
      for (size_t i = 0; i < z->n_train; i++) {
        const float *t = z->tok + (size_t)z->train[i] * tk->nvals + tk->off[l];
        for (size_t k = 0; k < len; k++) sum += (double)t[k];
      }
      const double cnt = (double)len * (double)z->n_train, mu = sum / cnt;
      double ss = 0.0;
      for (size_t i = 0; i < z->n_train; i++) {
        const float *t = z->tok + (size_t)z->train[i] * tk->nvals + tk->off[l];
        for (size_t k = 0; k < len; k++) {
          const double d = (double)t[k] - mu;
          ss += d * d;
        }
      }
      const double sd = sqrt(ss / cnt);
      z->mean[l] = (float)mu;
      z->sd[l] = (sd > 1e-8 && isfinite(sd)) ? (float)sd : 1.0f;
    }
    for (size_t r = 0; r < z->rows; r++)
      for (int l = 0; l < tk->layers; l++) {
        float *t = z->tok + r * tk->nvals + tk->off[l];
        const size_t len = (size_t)tk->n[l] * (size_t)tk->width[l];
        for (size_t k = 0; k < len; k++) t[k] = (t[k] - z->mean[l]) / z->sd[l];
      }
  }
  free(params);
  free(ids);
  wsk_csv_free(&csv);
  free(csv_path);
  if (s != WSK_OK) zoo_free(z);
  return s;
}

/* ---- settings and checkpoints -------------------------------------------------------------------
 */

static wsk_status settings_string(const wsk_ssl_config *c, const ssl_zoo *z, wsk_strbuf *b) {
  const wsk_ssl_arch *a = &c->arch;
  return wsk_strbuf_printf(
      b,
      "zoo_csv=%016" PRIx64 " arch=%s rows=%zu dim=%" PRId64 " heads=%" PRId64 " enc=%" PRId64
      " dec=%" PRId64 " ffn=%" PRId64 " latent=%" PRId64 " proj=%" PRId64 "x%" PRId64
      " epochs=%d batch=%d lr=%a wd=%a gamma=%a tau=%a permute=%d erase=%a:%a:%a noise=%a"
      " plateau=%a:%d:%a:%a seed=%" PRIu64 " split_seed=%" PRIu64,
      z->csv_digest, wsk_arch_name(z->net.arch), z->rows, a->dim, a->heads, a->enc_layers,
      a->dec_layers, a->ffn, a->latent, a->proj_hidden, a->proj_out, c->epochs, c->batch,
      (double)c->lr, (double)c->weight_decay, (double)c->gamma, (double)c->tau, c->aug.permute,
      (double)c->aug.erase_p, (double)c->aug.erase_min, (double)c->aug.erase_max,
      (double)c->aug.noise_std, (double)c->plateau_factor, c->plateau_patience,
      (double)c->plateau_threshold, (double)c->min_lr, c->seed, c->split_seed);
}

/* The training state that a checkpoint holds. */
typedef struct train_state {
  float *params, *m, *v;
  wsk_rng rng;
  int epoch;    /* epochs done */
  int64_t step; /* Adam steps taken */
  float lr;
  double best;
  int bad;
  long skipped;
  wsk_ssl_epoch_stats *hist; /* capacity: epochs */
} train_state;

static wsk_status write_ckpt(const char *path, const char *settings, const wsk_ssl_model *m,
                             const train_state *t) {
  float *hist = malloc((size_t)t->epoch * HIST_COLS * sizeof(float));
  if (!hist) return wsk__fail(WSK_ERR_NOMEM, "ssl: out of memory for the checkpoint");
  for (int e = 0; e < t->epoch; e++) {
    const wsk_ssl_epoch_stats *h = &t->hist[e];
    const float row[HIST_COLS] = {h->train_loss,  h->val_loss,     h->train_contrast,
                                  h->train_recon, h->val_contrast, h->val_recon,
                                  h->lr};
    memcpy(hist + (size_t)e * HIST_COLS, row, sizeof row);
  }
  const wsk_tensor_ref tens[] = {{"params", 1, {(int64_t)m->n_params}, t->params},
                                 {"adam.m", 1, {(int64_t)m->n_params}, t->m},
                                 {"adam.v", 1, {(int64_t)m->n_params}, t->v},
                                 {"history", 2, {t->epoch, HIST_COLS}, hist}};
  char epoch[32], step[32], lr[64], best[64], bad[32], rng[64], skipped[32];
  snprintf(epoch, sizeof epoch, "%d", t->epoch);
  snprintf(step, sizeof step, "%" PRId64, t->step);
  snprintf(lr, sizeof lr, "%a", (double)t->lr);
  snprintf(best, sizeof best, "%a", t->best);
  snprintf(bad, sizeof bad, "%d", t->bad);
  snprintf(rng, sizeof rng, "%08" PRIx32 "%08" PRIx32 "%08" PRIx32 "%08" PRIx32, t->rng.s[0],
           t->rng.s[1], t->rng.s[2], t->rng.s[3]);
  snprintf(skipped, sizeof skipped, "%ld", t->skipped);
  const char *meta[] = {"format", CKPT_FORMAT, "settings", settings, "epoch", epoch, "step",
                        step,     "lr",        lr,         "best",   best,    "bad", bad,
                        "rng",    rng,         "skipped",  skipped,  NULL};
  const wsk_status s = wsk_safetensors_write(path, tens, 4, meta);
  free(hist);
  return s;
}

static int parse_meta_long(const wsk_safetensors *st, const char *key, long long *v) {
  const char *s = wsk_safetensors_meta(st, key);
  if (!s || !*s) return 0;
  char *end;
  errno = 0;
  *v = strtoll(s, &end, 10);
  return errno == 0 && *end == 0;
}
static int parse_meta_double(const wsk_safetensors *st, const char *key, double *v) {
  const char *s = wsk_safetensors_meta(st, key);
  if (!s || !*s) return 0;
  char *end;
  *v = strtod(s, &end);
  return *end == 0;
}

/* Reads a checkpoint into t. *mismatch = 1 (and WSK_OK) when its settings
 * differ from `settings`. */
static wsk_status read_ckpt(const char *path, const char *settings, const wsk_ssl_model *m,
                            int epochs, train_state *t, int *mismatch) {
  *mismatch = 0;
  wsk_safetensors st;
  WSK_TRY(wsk_safetensors_read(path, &st));
  wsk_status s = WSK_OK;
  const char *fmt = wsk_safetensors_meta(&st, "format");
  const char *set = wsk_safetensors_meta(&st, "settings");
  if (!fmt || strcmp(fmt, CKPT_FORMAT) != 0) {
    s = wsk__fail(WSK_ERR_FORMAT, "%s: not a wsk ssl checkpoint (format '%s', expected '%s')", path,
                  fmt ? fmt : "", CKPT_FORMAT);
  } else if (!set || strcmp(set, settings) != 0) {
    *mismatch = 1;
  } else {
    long long epoch, step, bad, skipped;
    double lr, best;
    const char *rng = wsk_safetensors_meta(&st, "rng");
    const long kp = wsk_safetensors_find(&st, "params"), km = wsk_safetensors_find(&st, "adam.m"),
               kv = wsk_safetensors_find(&st, "adam.v"), kh = wsk_safetensors_find(&st, "history");
    unsigned r[4];
    if (!parse_meta_long(&st, "epoch", &epoch) || !parse_meta_long(&st, "step", &step) ||
        !parse_meta_long(&st, "bad", &bad) || !parse_meta_long(&st, "skipped", &skipped) ||
        !parse_meta_double(&st, "lr", &lr) || !parse_meta_double(&st, "best", &best) || !rng ||
        strlen(rng) != 32 || sscanf(rng, "%8x%8x%8x%8x", &r[0], &r[1], &r[2], &r[3]) != 4 ||
        epoch < 1 || epoch > epochs || kp < 0 || km < 0 || kv < 0 || kh < 0 ||
        wsk_safetensors_numel(&st, (size_t)kp) != m->n_params ||
        wsk_safetensors_numel(&st, (size_t)km) != m->n_params ||
        wsk_safetensors_numel(&st, (size_t)kv) != m->n_params ||
        wsk_safetensors_numel(&st, (size_t)kh) != (size_t)epoch * HIST_COLS) {
      s = wsk__fail(WSK_ERR_FORMAT,
                    "%s: a damaged ssl checkpoint (missing or inconsistent "
                    "state); delete it to start over",
                    path);
    } else {
      memcpy(t->params, st.data[kp], m->n_params * sizeof(float));
      memcpy(t->m, st.data[km], m->n_params * sizeof(float));
      memcpy(t->v, st.data[kv], m->n_params * sizeof(float));
      for (int i = 0; i < 4; i++) t->rng.s[i] = (uint32_t)r[i];
      t->epoch = (int)epoch;
      t->step = step;
      t->lr = (float)lr;
      t->best = best;
      t->bad = (int)bad;
      t->skipped = (long)skipped;
      for (int e = 0; e < t->epoch; e++) {
        const float *h = st.data[kh] + (size_t)e * HIST_COLS;
        wsk_ssl_epoch_stats *o = &t->hist[e];
        o->epoch = e + 1;
        o->train_loss = h[0];
        o->val_loss = h[1];
        o->train_contrast = h[2];
        o->train_recon = h[3];
        o->val_contrast = h[4];
        o->val_recon = h[5];
        o->lr = h[6];
      }
    }
  }
  wsk_safetensors_free(&st);
  return s;
}

/* ---- training -----------------------------------------------------------------------------------
 */

typedef struct batch_buf {
  float *input, *target, *va, *vb; /* two batches; one view's target and input */
  uint32_t *perm;
} batch_buf;

/* Views of `nb` models rows[0..nb) into bb (model i: views i and nb + i). */
static void make_views(const ssl_zoo *z, const wsk_ssl_augment *aug, wsk_rng *rng,
                       const uint32_t *rows, int nb, batch_buf *bb) {
  const wsk_ssl_tokens *tk = &z->tk;
  for (int i = 0; i < nb; i++) {
    const float *clean = z->tok + (size_t)rows[i] * tk->nvals;
    for (int a = 0; a < 2; a++) {
      wsk_ssl_augment_view(tk, aug, rng, clean, bb->va, bb->vb, bb->perm);
      wsk_ssl_batch_put(tk, 2 * nb, a * nb + i, bb->vb, bb->input);
      wsk_ssl_batch_put(tk, 2 * nb, a * nb + i, bb->va, bb->target);
    }
  }
}

/* The validation loss: views from a fresh (seed, WSK_SSL_VAL_STREAM). */
static wsk_status validate(const wsk_ssl_config *c, const ssl_zoo *z, const wsk_ssl_model *m,
                           const float *params, wsk_ssl_ws *ws, batch_buf *bb, wsk_ssl_loss *out) {
  wsk_rng rng;
  wsk_rng_seed(&rng, c->seed, WSK_SSL_VAL_STREAM);
  const wsk_ssl_loss_params lp = {c->gamma, c->tau};
  double tot = 0, con = 0, rec = 0;
  for (size_t at = 0; at < z->n_val; at += (size_t)c->batch) {
    const int nb = (int)(z->n_val - at < (size_t)c->batch ? z->n_val - at : (size_t)c->batch);
    make_views(z, &c->aug, &rng, z->val + at, nb, bb);
    wsk_ssl_loss l;
    WSK_TRY(wsk_ssl_loss_grad(m, params, 2 * nb, bb->input, bb->target, &lp, ws, &l, NULL));
    tot += l.total * nb;
    con += l.contrast * nb;
    rec += l.recon * nb;
  }
  out->total = tot / (double)z->n_val;
  out->contrast = con / (double)z->n_val;
  out->recon = rec / (double)z->n_val;
  return WSK_OK;
}

static int all_finite(const float *x, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (!isfinite(x[i])) return 0;
  return 1;
}

static wsk_status write_outputs(const wsk_ssl_config *c, const char *out_dir, const ssl_zoo *z,
                                const wsk_ssl_model *m, const train_state *t, wsk_ssl_ws *ws,
                                batch_buf *bb, int max_views, wsk_ssl_result *res) {
  wsk_status s = WSK_OK;
  /* the model */
  wsk_tensor_ref *refs = malloc(((size_t)m->n_tensors + 2) * sizeof *refs);
  const size_t rows = z->rows, Z = (size_t)wsk_ssl_embed_width(m);
  float *emb = malloc(rows * Z * sizeof(float));
  char *p_model = wsk_path_join(out_dir, "ssl.safetensors");
  char *p_emb = wsk_path_join(out_dir, "embeddings.safetensors");
  char *p_csv = wsk_path_join(out_dir, "ssl_loss.csv");
  wsk_strbuf csv = WSK_STRBUF_INIT;
  if (!refs || !emb || !p_model || !p_emb || !p_csv) {
    s = wsk__fail(WSK_ERR_NOMEM, "ssl: out of memory for the outputs");
    goto done;
  }
  for (int i = 0; i < m->n_tensors; i++) {
    const wsk_ssl_tensor *T = &m->tensors[i];
    memset(&refs[i], 0, sizeof refs[i]);
    refs[i].name = T->name;
    refs[i].rank = T->rank;
    refs[i].shape[0] = T->shape[0];
    refs[i].shape[1] = T->shape[1];
    refs[i].data = t->params + T->offset;
  }
  const wsk_tensor_ref norm[2] = {{"norm.mean", 1, {m->tk.layers}, z->mean},
                                  {"norm.std", 1, {m->tk.layers}, z->sd}};
  refs[m->n_tensors] = norm[0];
  refs[m->n_tensors + 1] = norm[1];
  {
    wsk_strbuf set = WSK_STRBUF_INIT;
    s = settings_string(c, z, &set);
    char epochs[32];
    snprintf(epochs, sizeof epochs, "%d", t->epoch);
    const char *meta[] = {"format", "wsk-ssl-1", "net_arch", wsk_arch_name(z->net.arch),
                          "epochs", epochs,      "settings", set.s ? set.s : "",
                          NULL};
    if (s == WSK_OK) s = wsk_safetensors_write(p_model, refs, (size_t)m->n_tensors + 2, meta);
    wsk_strbuf_free(&set);
    if (s != WSK_OK) goto done;
  }
  /* the embeddings of every row's clean weights, in zoo.csv order */
  for (size_t at = 0; at < rows; at += (size_t)max_views) {
    const int n = (int)(rows - at < (size_t)max_views ? rows - at : (size_t)max_views);
    for (int i = 0; i < n; i++)
      wsk_ssl_batch_put(&m->tk, n, i, z->tok + (at + (size_t)i) * m->tk.nvals, bb->input);
    s = wsk_ssl_embed(m, t->params, n, bb->input, ws, emb + at * Z);
    if (s != WSK_OK) goto done;
  }
  {
    const wsk_tensor_ref e = {"embeddings", 2, {(int64_t)rows, (int64_t)Z}, emb};
    const char *meta[] = {"format", "wsk-ssl-embeddings-1", "source", "wsk ssl", NULL};
    s = wsk_safetensors_write(p_emb, &e, 1, meta);
    if (s != WSK_OK) goto done;
  }
  /* the loss curve */
  s = wsk_strbuf_printf(&csv,
                        "epoch,train_loss,val_loss,train_contrast,train_recon,"
                        "val_contrast,val_recon,lr\n");
  for (int e = 0; e < t->epoch && s == WSK_OK; e++) {
    const wsk_ssl_epoch_stats *h = &t->hist[e];
    s = wsk_strbuf_printf(&csv, "%d,%.9g,%.9g,%.9g,%.9g,%.9g,%.9g,%.9g\n", h->epoch,
                          (double)h->train_loss, (double)h->val_loss, (double)h->train_contrast,
                          (double)h->train_recon, (double)h->val_contrast, (double)h->val_recon,
                          (double)h->lr);
  }
  if (s == WSK_OK) s = wsk_file_write_atomic(p_csv, csv.s, csv.len);
  if (s == WSK_OK && res) {
    res->param_digest = wsk_ssl_fnv1a(WSK_SSL_FNV_INIT, t->params, m->n_params * sizeof(float));
    res->embedding_digest = wsk_ssl_fnv1a(WSK_SSL_FNV_INIT, emb, rows * Z * sizeof(float));
  }
done:
  wsk_strbuf_free(&csv);
  free(refs);
  free(emb);
  free(p_model);
  free(p_emb);
  free(p_csv);
  return s;
}

wsk_status wsk_ssl_run(const wsk_ssl_config *c, wsk_ssl_result *res) {
  if (!c) return wsk__fail(WSK_ERR_NULL, "wsk_ssl_run: NULL config");
  if (res) memset(res, 0, sizeof *res);
  WSK_TRY(check_config(c));
  const char *out_dir = c->out_dir && *c->out_dir ? c->out_dir : c->zoo_dir;
  WSK_TRY(wsk_mkdir_p(out_dir));

  ssl_zoo z;
  WSK_TRY(load_zoo(c, &z));
  wsk_ssl_model m;
  wsk_status s = wsk_ssl_model_make(&m, &c->arch, &z.tk);
  if (s != WSK_OK) {
    zoo_free(&z);
    return s;
  }
  const int max_views = 2 * c->batch;
  const size_t nbatch_vals = (size_t)max_views * z.tk.nvals;
  wsk_ssl_ws *ws = NULL;
  train_state t;
  memset(&t, 0, sizeof t);
  batch_buf bb;
  memset(&bb, 0, sizeof bb);
  float *grad = NULL;
  char *ckpt = wsk_path_join(out_dir, "ssl_ckpt.safetensors");
  wsk_strbuf settings = WSK_STRBUF_INIT;
  wsk_progress *prog = NULL;

  s = wsk_ssl_ws_create(&m, max_views, &ws);
  if (s != WSK_OK) goto done;
  t.params = malloc(m.n_params * sizeof(float));
  t.m = calloc(m.n_params, sizeof(float));
  t.v = calloc(m.n_params, sizeof(float));
  t.hist = calloc((size_t)c->epochs, sizeof *t.hist);
  grad = malloc(m.n_params * sizeof(float));
  bb.input = malloc(nbatch_vals * sizeof(float));
  bb.target = malloc(nbatch_vals * sizeof(float));
  bb.va = malloc(z.tk.nvals * sizeof(float));
  bb.vb = malloc(z.tk.nvals * sizeof(float));
  bb.perm = malloc((size_t)z.tk.ntok * sizeof(uint32_t));
  if (!t.params || !t.m || !t.v || !t.hist || !grad || !bb.input || !bb.target || !bb.va ||
      !bb.vb || !bb.perm || !ckpt) {
    s = wsk__fail(WSK_ERR_NOMEM, "ssl: out of memory for a model of %zu parameters", m.n_params);
    goto done;
  }
  s = settings_string(c, &z, &settings);
  if (s != WSK_OK) goto done;

  /* a fresh start: the initialization is the stream's first draws */
  wsk_rng_seed(&t.rng, c->seed, WSK_SSL_RNG_STREAM);
  wsk_ssl_model_init(&m, &t.rng, t.params);
  t.lr = c->lr;
  t.best = INFINITY;
  struct stat sb;
  if (stat(ckpt, &sb) == 0) {
    int mismatch = 0;
    s = read_ckpt(ckpt, settings.s, &m, c->epochs, &t, &mismatch);
    if (s != WSK_OK) goto done;
    if (mismatch) {
      if (!c->force) {
        s = wsk__fail(WSK_ERR_ARG,
                      "%s was made with other settings (or another zoo.csv); use "
                      "another output directory, delete it, or force a fresh start",
                      ckpt);
        goto done;
      }
      /* force: start over from the fresh state above */
    }
  }
  if (res) res->epochs_resumed = t.epoch;

  const wsk_ssl_loss_params lp = {c->gamma, c->tau};
  const size_t per_epoch = z.n_train >= (size_t)c->batch ? z.n_train / (size_t)c->batch : 1;
  uint32_t *order = malloc(z.n_train * sizeof(uint32_t));
  if (!order) {
    s = wsk__fail(WSK_ERR_NOMEM, "ssl: out of memory");
    goto done;
  }
  if (c->progress && t.epoch < c->epochs)
    prog = wsk_progress_begin("ssl", (size_t)(c->epochs - t.epoch) * per_epoch);
  const double t0 = wsk_now_s();
  long steps_run = 0;
  while (t.epoch < c->epochs && s == WSK_OK) {
    memcpy(order, z.train, z.n_train * sizeof(uint32_t));
    wsk_rng_shuffle_u32(&t.rng, order, z.n_train);
    const float lr_epoch = t.lr;
    double tot = 0, con = 0, rec = 0;
    size_t seen = 0;
    for (size_t b = 0; b < per_epoch && s == WSK_OK; b++) {
      const size_t at = b * (size_t)c->batch;
      const int nb = (int)(z.n_train - at < (size_t)c->batch ? z.n_train - at : (size_t)c->batch);
      make_views(&z, &c->aug, &t.rng, order + at, nb, &bb);
      wsk_ssl_loss l;
      s = wsk_ssl_loss_grad(&m, t.params, 2 * nb, bb.input, bb.target, &lp, ws, &l, grad);
      if (s != WSK_OK) break;
      if (isfinite(l.total) && all_finite(grad, m.n_params)) {
        t.step++;
        const wsk_adam_params ap = {t.lr, 0.9f, 0.999f, 1e-8f, c->weight_decay, t.step, 0};
        s = wsk_adam((int64_t)m.n_params, t.params, grad, t.m, t.v, &ap);
        tot += l.total * nb;
        con += l.contrast * nb;
        rec += l.recon * nb;
        seen += (size_t)nb;
      } else {
        t.skipped++;
      }
      steps_run++;
      if (prog) {
        char note[64];
        snprintf(note, sizeof note, "epoch %d loss %.4f", t.epoch + 1, l.total);
        wsk_progress_advance(prog, 1, note);
      }
    }
    if (s != WSK_OK) break;
    wsk_ssl_loss vl;
    s = validate(c, &z, &m, t.params, ws, &bb, &vl);
    if (s != WSK_OK) break;
    wsk_ssl_epoch_stats *h = &t.hist[t.epoch];
    h->epoch = t.epoch + 1;
    h->train_loss = seen ? (float)(tot / (double)seen) : NAN;
    h->train_contrast = seen ? (float)(con / (double)seen) : NAN;
    h->train_recon = seen ? (float)(rec / (double)seen) : NAN;
    h->val_loss = (float)vl.total;
    h->val_contrast = (float)vl.contrast;
    h->val_recon = (float)vl.recon;
    h->lr = lr_epoch;
    /* ReduceLROnPlateau (mode min, relative threshold) on the val loss */
    const double val = (double)h->val_loss;
    if (val < t.best * (1.0 - (double)c->plateau_threshold)) {
      t.best = val;
      t.bad = 0;
    } else {
      t.bad++;
    }
    if (t.bad > c->plateau_patience) {
      const float nl = t.lr * c->plateau_factor;
      t.lr = nl > c->min_lr ? nl : c->min_lr;
      t.bad = 0;
    }
    t.epoch++;
    s = write_ckpt(ckpt, settings.s, &m, &t);
  }
  const double secs = wsk_now_s() - t0;
  free(order);
  wsk_progress_end(prog);
  prog = NULL;
  if (s != WSK_OK) goto done;
  s = write_outputs(c, out_dir, &z, &m, &t, ws, &bb, max_views, res);
  if (s == WSK_OK && res) {
    res->epochs_done = t.epoch;
    res->history = malloc((size_t)t.epoch * sizeof *res->history);
    if (!res->history) {
      s = wsk__fail(WSK_ERR_NOMEM, "ssl: out of memory");
      goto done;
    }
    memcpy(res->history, t.hist, (size_t)t.epoch * sizeof *res->history);
    res->rows = z.rows;
    res->train_rows = z.n_train;
    res->val_rows = z.n_val;
    res->models = z.models[0] + z.models[1] + z.models[2];
    res->n_params = m.n_params;
    res->latent = (int)m.a.latent;
    res->skipped_steps = t.skipped;
    res->seconds = secs;
    res->step_ms = steps_run ? 1e3 * secs / (double)steps_run : 0.0;
  }
done:
  wsk_progress_end(prog);
  wsk_strbuf_free(&settings);
  free(ckpt);
  free(grad);
  free(t.params);
  free(t.m);
  free(t.v);
  free(t.hist);
  free(bb.input);
  free(bb.target);
  free(bb.va);
  free(bb.vb);
  free(bb.perm);
  wsk_ssl_ws_free(ws);
  wsk_ssl_model_free(&m);
  zoo_free(&z);
  return s;
}

void wsk_ssl_result_free(wsk_ssl_result *r) {
  if (!r) return;
  free(r->history);
  r->history = NULL;
}

/* ---- the step benchmark -----------------------------------------------------------------------
 */

/* Parameters (by name), the batch (batch.<layer>), the loss (total,
 * contrastive, reconstruction) and the gradient (grad.<name>) of one step. */
static wsk_status dump_step(const char *path, const wsk_ssl_model *m, int V, const float *p,
                            const float *x, const wsk_ssl_loss_params *lp, wsk_ssl_ws *ws,
                            float *g) {
  wsk_ssl_loss l;
  WSK_TRY(wsk_ssl_loss_grad(m, p, V, x, x, lp, ws, &l, g));
  const size_t n = 2 * (size_t)m->n_tensors + (size_t)m->tk.layers + 1;
  wsk_tensor_ref *refs = calloc(n, sizeof *refs);
  char(*names)[64] = calloc(n, sizeof *names);
  if (!refs || !names) {
    free(refs);
    free(names);
    return wsk__fail(WSK_ERR_NOMEM, "ssl: out of memory");
  }
  const float lv[3] = {(float)l.total, (float)l.contrast, (float)l.recon};
  size_t k = 0;
  for (int i = 0; i < m->n_tensors; i++) {
    const wsk_ssl_tensor *T = &m->tensors[i];
    for (int gr = 0; gr < 2; gr++, k++) {
      snprintf(names[k], sizeof names[k], "%s%s", gr ? "grad." : "", T->name);
      refs[k].name = names[k];
      refs[k].rank = T->rank;
      refs[k].shape[0] = T->shape[0];
      refs[k].shape[1] = T->shape[1];
      refs[k].data = (gr ? g : p) + T->offset;
    }
  }
  for (int l2 = 0; l2 < m->tk.layers; l2++, k++) {
    snprintf(names[k], sizeof names[k], "batch.%d", l2);
    refs[k].name = names[k];
    refs[k].rank = 1;
    refs[k].shape[0] = (int64_t)V * m->tk.n[l2] * m->tk.width[l2];
    refs[k].data = x + (size_t)V * m->tk.off[l2];
  }
  refs[k].name = "loss";
  refs[k].rank = 1;
  refs[k].shape[0] = 3;
  refs[k].data = lv;
  const wsk_status s = wsk_safetensors_write(path, refs, n, NULL);
  free(refs);
  free(names);
  return s;
}

wsk_status wsk_ssl_bench_step(const wsk_ssl_arch *arch, wsk_arch net_arch, float gamma, float tau,
                              int batch, int warmup, int steps, const char *dump, double *ms,
                              double *loss) {
  if (!arch || !ms || !loss) return wsk__fail(WSK_ERR_NULL, "wsk_ssl_bench_step: NULL argument");
  if (batch < 1 || batch > 4096 || warmup < 0 || steps < 1)
    return wsk__fail(WSK_ERR_ARG, "wsk_ssl_bench_step: batch %d (1..4096), warmup %d, steps %d",
                     batch, warmup, steps);
  wsk_net net;
  WSK_TRY(wsk_net_make(&net, net_arch, WSK_NET_RELU, 0.0f));
  wsk_ssl_tokens tk;
  WSK_TRY(wsk_ssl_tokens_from_net(&net, &tk));
  wsk_ssl_model m;
  WSK_TRY(wsk_ssl_model_make(&m, arch, &tk));
  const int V = 2 * batch;
  wsk_ssl_ws *ws = NULL;
  wsk_status s = wsk_ssl_ws_create(&m, V, &ws);
  float *p = malloc(m.n_params * sizeof(float)), *g = malloc(m.n_params * sizeof(float));
  float *am = calloc(m.n_params, sizeof(float)), *av = calloc(m.n_params, sizeof(float));
  float *x = malloc((size_t)V * tk.nvals * sizeof(float));
  if (s == WSK_OK && (!p || !g || !am || !av || !x))
    s = wsk__fail(WSK_ERR_NOMEM, "wsk_ssl_bench_step: out of memory");
  if (s == WSK_OK) {
    wsk_rng rng;
    wsk_rng_seed(&rng, 1, WSK_SSL_RNG_STREAM);
    wsk_ssl_model_init(&m, &rng, p);
    for (size_t i = 0; i < (size_t)V * tk.nvals; i++) x[i] = wsk_rng_range(&rng, -1.0f, 1.0f);
    const wsk_ssl_loss_params lp = {gamma, tau};
    if (dump) s = dump_step(dump, &m, V, p, x, &lp, ws, g);
    double t0 = 0;
    for (int i = 0; i < warmup + steps && s == WSK_OK; i++) {
      if (i == warmup) t0 = wsk_now_s();
      wsk_ssl_loss l = {0, 0, 0};
      s = wsk_ssl_loss_grad(&m, p, V, x, x, &lp, ws, &l, g);
      const wsk_adam_params ap = {1e-4f, 0.9f, 0.999f, 1e-8f, 0.0f, i + 1, 0};
      if (s == WSK_OK) s = wsk_adam((int64_t)m.n_params, p, g, am, av, &ap);
      *loss = l.total;
    }
    *ms = 1e3 * (wsk_now_s() - t0) / steps;
  }
  free(p);
  free(g);
  free(am);
  free(av);
  free(x);
  wsk_ssl_ws_free(ws);
  wsk_ssl_model_free(&m);
  return s;
}
