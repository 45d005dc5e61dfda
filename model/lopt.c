/* model/lopt.c — the UNF learned optimizer, its Deep Set ablation and the
 * SGD-momentum / Adam baselines (model/lopt.h; Zhou, Finn, Harrison 2024,
 * §5, with the features of Harrison et al. 2022's small per-parameter
 * optimizers: parameter, gradient, six momenta, eleven time features). */
#include "model/lopt.h"

#include <math.h>
#include <sleef.h>
#include <stdlib.h>
#include <string.h>

#include "dispatch/error.h"
#include "wsk/eltwise.h"
#include "wsk/optim.h"

/* sleef.h declares the purecfma functions only when the compiler targets FMA;
 * this file is built with baseline flags. */
float Sleef_finz_expf1_u10purecfma(float);
float Sleef_finz_logf1_u10purecfma(float);
float Sleef_finz_tanhf1_u10purecfma(float);

#define F WSK_LOPT_FEATURES
#define H WSK_LOPT_HIDDEN
#define NMOM WSK_LOPT_MOMENTA
#define NTIME WSK_LOPT_TIMES
#define NPOINT (2 + NMOM) /* per-parameter features: w, g, momenta */

static const float mom_gamma[NMOM] = {0.1f, 0.5f, 0.9f, 0.99f, 0.999f, 0.9999f};
/* 1 - gamma_k, each the float nearest the exact decimal difference */
static const float mom_omg[NMOM] = {0.9f, 0.5f, 0.1f, 0.01f, 0.001f, 0.0001f};
static const double time_scale[NTIME] = {1, 3, 10, 30, 100, 300, 1000, 3000, 1e4, 3e4, 1e5};

static const char *const kind_names[WSK_LOPT_COUNT] = {"unf", "deepset", "sgdm", "adam"};

const char *wsk_lopt_name(wsk_lopt_kind k) {
  return (unsigned)k < WSK_LOPT_COUNT ? kind_names[k] : "?";
}

wsk_status wsk_lopt_parse(const char *s, wsk_lopt_kind *out) {
  if (!s || !out) return wsk__fail(WSK_ERR_NULL, "wsk_lopt_parse: NULL argument");
  for (int k = 0; k < WSK_LOPT_COUNT; k++)
    if (strcmp(s, kind_names[k]) == 0) {
      *out = (wsk_lopt_kind)k;
      return WSK_OK;
    }
  return wsk__fail(WSK_ERR_ARG, "unknown optimizer '%s' (expected unf, deepset, sgdm or adam)", s);
}

static int learned(const wsk_lopt *o) {
  return o->kind == WSK_LOPT_UNF || o->kind == WSK_LOPT_DEEPSET;
}

/* ---- the optimizer ------------------------------------------------------------------------- */

wsk_status wsk_lopt_make(wsk_lopt_kind k, const wsk_unf_spec *spec, wsk_lopt *out) {
  if (!spec || !out) return wsk__fail(WSK_ERR_NULL, "wsk_lopt_make: NULL argument");
  if ((unsigned)k >= WSK_LOPT_COUNT)
    return wsk__fail(WSK_ERR_ARG, "wsk_lopt_make: unknown optimizer kind %d", (int)k);
  if (spec->n_tensors < 1 || spec->numel < 1)
    return wsk__fail(WSK_ERR_SIZE, "wsk_lopt_make: spec '%s' has no parameters", spec->name);
  memset(out, 0, sizeof *out);
  out->kind = k;
  out->spec = *spec;
  switch (k) {
    case WSK_LOPT_SGDM:
      out->off_log_gamma0 = 1;
      out->n_meta = 2;
      return WSK_OK;
    case WSK_LOPT_ADAM: out->n_meta = 1; return WSK_OK;
    default: break;
  }
  out->off_log_gamma0 = 2;
  size_t p = 3;
  out->off_w1 = p, p += (size_t)F * H;
  out->off_b1 = p, p += H;
  out->off_w2 = p, p += (size_t)H * H;
  out->off_b2 = p, p += H;
  out->off_w3 = p, p += (size_t)H * H;
  out->off_b3 = p, p += H;
  out->off_head = p;
  if (k == WSK_LOPT_DEEPSET) {
    out->n_head = H + 1;
  } else {
    WSK_TRY(wsk_unf_basis_build(&out->spec, &out->basis));
    out->has_basis = 1;
    const wsk_status s = wsk_unf_layer_make(&out->basis, H, 1, 0, &out->layer);
    if (s != WSK_OK) {
      wsk_unf_basis_free(&out->basis);
      out->has_basis = 0;
      return s;
    }
    out->n_head = out->layer.n_params;
  }
  out->n_meta = p + out->n_head;
  return WSK_OK;
}

void wsk_lopt_free(wsk_lopt *o) {
  if (!o) return;
  if (o->has_basis) wsk_unf_basis_free(&o->basis);
  memset(o, 0, sizeof *o);
}

/* Uniform(-1/sqrt(fan_in), 1/sqrt(fan_in)), one draw per element in order. */
static void init_uniform(wsk_rng *rng, float *w, size_t n, int fan_in) {
  const float a = 1.0f / sqrtf((float)fan_in);
  for (size_t i = 0; i < n; i++) {
    const float u = wsk_rng_range(rng, -a, a);
    w[i] = u;
  }
}

wsk_status wsk_lopt_init_meta(const wsk_lopt *o, wsk_rng *rng, float *meta) {
  if (!o || !meta) return wsk__fail(WSK_ERR_NULL, "wsk_lopt_init_meta: NULL argument");
  const float log_lr = Sleef_finz_logf1_u10purecfma(o->kind == WSK_LOPT_ADAM ? 1e-3f : 0.1f);
  const float log_omg0 = Sleef_finz_logf1_u10purecfma(0.1f); /* 1 - gamma0 = 0.1 */
  meta[WSK_LOPT_META_LOG_ALPHA] = log_lr;
  if (o->kind == WSK_LOPT_ADAM) return WSK_OK;
  meta[o->off_log_gamma0] = log_omg0;
  if (o->kind == WSK_LOPT_SGDM) return WSK_OK;
  if (!rng) return wsk__fail(WSK_ERR_NULL, "wsk_lopt_init_meta: NULL rng");
  meta[WSK_LOPT_META_LOG_BETA] = Sleef_finz_logf1_u10purecfma(0.001f);
  init_uniform(rng, meta + o->off_w1, (size_t)F * H, F);
  memset(meta + o->off_b1, 0, H * sizeof(float));
  init_uniform(rng, meta + o->off_w2, (size_t)H * H, H);
  memset(meta + o->off_b2, 0, H * sizeof(float));
  init_uniform(rng, meta + o->off_w3, (size_t)H * H, H);
  memset(meta + o->off_b3, 0, H * sizeof(float));
  if (o->kind == WSK_LOPT_DEEPSET) {
    init_uniform(rng, meta + o->off_head, H, H);
    meta[o->off_head + H] = 0.0f;
    return WSK_OK;
  }
  /* the UNF head starts as the Deep Set's head: every tensor's pointwise term
   * (each output axis fed by the same axis of the same tensor) gets the Deep
   * Set's weights v (one draw, as above), every other term and every bias 0;
   * so both learned optimizers start from the same function and the UNF's
   * equivariant terms grow only where meta-training finds them useful */
  float v[H];
  init_uniform(rng, v, H, H);
  float *head = meta + o->off_head;
  memset(head, 0, o->n_head * sizeof(float));
  const wsk_unf_basis *b = &o->basis;
  for (int t = 0; t < o->spec.n_tensors; t++) {
    size_t row, bias;
    WSK_TRY(wsk_unf_layer_param_offset(&o->layer, t, &row, &bias));
    const int rank = o->spec.t[t].rank;
    for (int g = b->first_group[t]; g < b->first_group[t + 1]; g++)
      for (int i = b->groups[g].first_term; i < b->groups[g].first_term + b->groups[g].n_terms;
           i++, row += H) {
        const wsk_unf_term *term = &b->terms[i];
        int pointwise = term->in == t && term->n_blocks == rank;
        for (int a = 0; a < rank && pointwise; a++)
          pointwise = term->block[a] == term->block[rank + a];
        if (pointwise) memcpy(head + row, v, sizeof v);
      }
  }
  return WSK_OK;
}

/* exp of a log-space meta-parameter, as every step computes it */
static float exp_meta(float v) { return Sleef_finz_expf1_u10purecfma(v); }

static double rms_of(const float *x, size_t n) {
  double s = 0;
  for (size_t i = 0; i < n; i++) s += (double)x[i] * (double)x[i];
  return n ? sqrt(s / (double)n) : 0.0;
}

wsk_status wsk_lopt_meta_describe(const wsk_lopt *o, const float *meta, wsk_strbuf *out) {
  if (!o || !meta || !out) return wsk__fail(WSK_ERR_NULL, "wsk_lopt_meta_describe: NULL argument");
  /* the values the steps use (SLEEF's exp, as in wsk_lopt_step) */
  const double a = exp_meta(meta[WSK_LOPT_META_LOG_ALPHA]);
  if (o->kind == WSK_LOPT_ADAM) return wsk_strbuf_printf(out, "lr=%.4g", a);
  const double gamma0 = 1.0f - exp_meta(meta[o->off_log_gamma0]);
  switch (o->kind) {
    case WSK_LOPT_SGDM: return wsk_strbuf_printf(out, "alpha=%.4g gamma0=%.6g", a, gamma0);
    default: break;
  }
  const double mlp = rms_of(meta + o->off_w1, o->off_head - o->off_w1);
  return wsk_strbuf_printf(out, "alpha=%.4g beta=%.4g gamma0=%.6g mlp_rms=%.4g head_rms=%.4g", a,
                           (double)exp_meta(meta[WSK_LOPT_META_LOG_BETA]), gamma0, mlp,
                           rms_of(meta + o->off_head, o->n_head));
}

/* ---- state ---------------------------------------------------------------------------------- */

struct wsk_lopt_state {
  const wsk_lopt *o;
  size_t n;
  int64_t step;
  float *m0;  /* momentum buffer (SGDM, UNF, DEEPSET) or Adam's m */
  float *v;   /* Adam's v */
  float *mom; /* the six feature momenta, [NMOM][n] */
  float *x;   /* features [n][F] */
  float *h;   /* hidden [n][H] */
  float *f;   /* network output [n] */
  wsk_unf_ws *ws;
};

static size_t arrays_of(const wsk_lopt *o) {
  switch (o->kind) {
    case WSK_LOPT_SGDM: return 1;
    case WSK_LOPT_ADAM: return 2;
    default: return 1 + NMOM;
  }
}

size_t wsk_lopt_state_floats(const wsk_lopt *o) { return o ? 2 + arrays_of(o) * o->spec.numel : 0; }

void wsk_lopt_state_free(wsk_lopt_state *s) {
  if (!s) return;
  free(s->m0);
  free(s->x);
  free(s->h);
  free(s->f);
  if (s->ws) wsk_unf_ws_free(s->ws);
  free(s);
}

wsk_status wsk_lopt_state_create(const wsk_lopt *o, wsk_lopt_state **out) {
  if (!o || !out) return wsk__fail(WSK_ERR_NULL, "wsk_lopt_state_create: NULL argument");
  *out = NULL;
  wsk_lopt_state *s = calloc(1, sizeof *s);
  if (!s) return wsk__fail(WSK_ERR_NOMEM, "wsk_lopt_state_create: out of memory");
  s->o = o;
  s->n = o->spec.numel;
  const size_t arrays = arrays_of(o);
  s->m0 = calloc(arrays * s->n, sizeof(float));
  int ok = s->m0 != NULL;
  if (o->kind == WSK_LOPT_ADAM && ok) s->v = s->m0 + s->n;
  if (learned(o) && ok) {
    s->mom = s->m0 + s->n;
    s->x = malloc(s->n * F * sizeof(float));
    s->h = malloc(s->n * H * sizeof(float));
    s->f = malloc(s->n * sizeof(float));
    ok = s->x && s->h && s->f;
  }
  if (!ok) {
    wsk_lopt_state_free(s);
    return wsk__fail(WSK_ERR_NOMEM, "wsk_lopt_state_create: out of memory for %zu parameters",
                     s->n);
  }
  if (o->kind == WSK_LOPT_UNF) {
    const wsk_status st = wsk_unf_ws_create(&o->layer, &s->ws);
    if (st != WSK_OK) {
      wsk_lopt_state_free(s);
      return st;
    }
  }
  *out = s;
  return WSK_OK;
}

void wsk_lopt_state_reset(wsk_lopt_state *s) {
  if (!s) return;
  s->step = 0;
  memset(s->m0, 0, arrays_of(s->o) * s->n * sizeof(float));
}

int64_t wsk_lopt_state_step(const wsk_lopt_state *s) { return s ? s->step : 0; }

const float *wsk_lopt_state_features(const wsk_lopt_state *s) { return s ? s->x : NULL; }

void wsk_lopt_state_save(const wsk_lopt_state *s, float *buf) {
  const uint64_t t = (uint64_t)s->step;
  buf[0] = (float)(uint32_t)(t & 0xffffffu);
  buf[1] = (float)(uint32_t)(t >> 24);
  memcpy(buf + 2, s->m0, arrays_of(s->o) * s->n * sizeof(float));
}

void wsk_lopt_state_load(wsk_lopt_state *s, const float *buf) {
  s->step = (int64_t)(((uint64_t)buf[1] << 24) | (uint64_t)buf[0]);
  memcpy(s->m0, buf + 2, arrays_of(s->o) * s->n * sizeof(float));
}

/* ---- features ------------------------------------------------------------------------------- */

/* The exact sum of squares of floats in [-1, 1]: a float v = m 2^e (m < 2^24
 * an integer) has v^2 = m^2 2^(2e) with m^2 < 2^48; as a fixed-point number
 * with its last bit worth 2^-298 (the square of the smallest subnormal) it is
 * m^2 shifted left by 2e + 298 bits, at most bit 298 for |v| <= 1. Squares
 * are first summed per biased exponent E of v (128 bins of 64-bit integers,
 * all of one bin sharing the shift 2E - 2, or 0 for subnormals; 2^16 values
 * of m^2 < 2^48 cannot overflow a bin), and the bins are then added, shifted,
 * into five 64-bit limbs. Integer addition is associative, so the sum does
 * not depend on the order of the elements. */
#define ACC_LIMBS 5
#define ACC_BINS 128
#define ACC_FLUSH 65536 /* values per bin between flushes */
typedef struct sq_acc {
  uint64_t l[ACC_LIMBS];
  uint64_t bin[ACC_BINS];
  int nan;
} sq_acc;

static inline void acc_add(sq_acc *a, float v) {
  uint32_t b;
  memcpy(&b, &v, sizeof b);
  const uint32_t e = (b >> 23) & 0xffu, frac = b & 0x7fffffu;
  if (e > 127u) { /* |v| > 1 cannot happen after clipping: NaN */
    a->nan = 1;
    return;
  }
  const uint64_t m = e ? (frac | 0x800000u) : frac;
  a->bin[e] += m * m;
}

/* Adds every bin, shifted into place, to the limbs, and empties the bins. */
static void acc_flush(sq_acc *a) {
  for (unsigned e = 0; e < ACC_BINS; e++) {
    const uint64_t v = a->bin[e];
    if (!v) continue;
    a->bin[e] = 0;
    const unsigned shift = e ? 2u * e - 2u : 0u; /* 2 (e - 150) + 298 */
    unsigned limb = shift / 64u;
    const unsigned r = shift % 64u;
    const uint64_t lo = v << r, hi = r ? v >> (64u - r) : 0;
    uint64_t old = a->l[limb];
    a->l[limb] = old + lo;
    uint64_t carry = a->l[limb] < old ? 1u : 0u;
    old = a->l[++limb];            /* shift <= 252: limb + 1 <= 4 */
    a->l[limb] = old + hi + carry; /* hi < 2^63: no overflow of hi + carry */
    carry = a->l[limb] < old ? 1u : 0u;
    for (limb++; carry && limb < ACC_LIMBS; limb++) {
      old = a->l[limb];
      a->l[limb] = old + carry;
      carry = a->l[limb] < old ? 1u : 0u;
    }
  }
}

/* The accumulator's value as a double: limbs from the top, each converted and
 * scaled by its power of two (exact), summed in that order. */
static double acc_value(sq_acc *a) {
  acc_flush(a);
  double s = 0;
  for (int i = ACC_LIMBS - 1; i >= 0; i--) s += ldexp((double)a->l[i], 64 * i - 298);
  return s;
}

/* Steps 2-3 of model/lopt.h for the parameters [off, off + cnt) of one
 * tensor, on the rows of x that wsk_lopt_features filled (columns 0..7: the
 * clipped w, g and momenta): each column divided by its RMS over the
 * tensor, then the time features. */
static void tensor_scale(wsk_lopt_state *s, size_t off, size_t cnt, const float *times) {
  sq_acc acc[NPOINT];
  memset(acc, 0, sizeof acc);
  for (size_t i = off; i < off + cnt; i++) {
    if ((i - off) % ACC_FLUSH == 0 && i > off)
      for (int j = 0; j < NPOINT; j++) acc_flush(&acc[j]);
    const float *xr = s->x + i * F;
    for (int j = 0; j < NPOINT; j++) acc_add(&acc[j], xr[j]);
  }
  float rms[NPOINT];
  for (int j = 0; j < NPOINT; j++) {
    const float r = (float)sqrt(acc_value(&acc[j]) / (double)cnt);
    rms[j] = acc[j].nan ? NAN : r + 1e-8f;
  }
  for (size_t i = off; i < off + cnt; i++) {
    float *xr = s->x + i * F;
    for (int j = 0; j < NPOINT; j++) xr[j] = xr[j] / rms[j];
    memcpy(xr + NPOINT, times, NTIME * sizeof(float));
  }
}

/* ---- the step -------------------------------------------------------------------------------- */

static wsk_status learned_step(const wsk_lopt *o, const float *meta, wsk_lopt_state *s, float *w,
                               const float *g) {
  const size_t n = s->n;
  float times[NTIME];
  for (int k = 0; k < NTIME; k++)
    times[k] = Sleef_finz_tanhf1_u10purecfma((float)((double)s->step / time_scale[k]));
  /* step 1 and the clipped features of every parameter (element-wise, so
   * one call over all tensors), then each tensor's RMS scaling */
  WSK_TRY(wsk_lopt_features((int64_t)n, w, g, NMOM, mom_gamma, mom_omg, s->mom, s->x, F));
  for (int t = 0; t < o->spec.n_tensors; t++)
    tensor_scale(s, o->spec.t[t].offset, o->spec.t[t].numel, times);

  const wsk_mlp3 net = {F,
                        H,
                        H,
                        H,
                        meta + o->off_w1,
                        meta + o->off_b1,
                        meta + o->off_w2,
                        meta + o->off_b2,
                        meta + o->off_w3,
                        meta + o->off_b3};
  WSK_TRY(wsk_mlp3_forward(&net, (int64_t)n, s->x, s->h));
  WSK_TRY(wsk_relu(s->h, (int64_t)(n * H), s->h));
  if (o->kind == WSK_LOPT_UNF) {
    WSK_TRY(wsk_unf_layer_forward(&o->layer, meta + o->off_head, s->h, s->f, s->ws));
  } else {
    /* f = b + h v: one fma chain per row, started at b */
    WSK_TRY(wsk_rowdot((int64_t)n, H, s->h, meta + o->off_head, meta[o->off_head + H], s->f));
  }

  const float alpha = exp_meta(meta[WSK_LOPT_META_LOG_ALPHA]);
  const float beta = exp_meta(meta[WSK_LOPT_META_LOG_BETA]);
  const float gamma0 = 1.0f - exp_meta(meta[o->off_log_gamma0]);
  return wsk_lopt_update((int64_t)n, w, g, s->f, s->m0, alpha, beta, gamma0);
}

wsk_status wsk_lopt_step(const wsk_lopt *o, const float *meta, wsk_lopt_state *s, float *w,
                         const float *g) {
  if (!o || !meta || !s || !w || !g) return wsk__fail(WSK_ERR_NULL, "wsk_lopt_step: NULL argument");
  if (s->o != o)
    return wsk__fail(WSK_ERR_ARG, "wsk_lopt_step: the state belongs to another optimizer");
  wsk_status st = WSK_OK;
  switch (o->kind) {
    case WSK_LOPT_SGDM: {
      const wsk_sgd_params p = {exp_meta(meta[WSK_LOPT_META_LOG_ALPHA]),
                                1.0f - exp_meta(meta[o->off_log_gamma0]), 0.0f};
      st = wsk_sgd_momentum((int64_t)s->n, w, g, s->m0, &p);
      break;
    }
    case WSK_LOPT_ADAM: {
      const wsk_adam_params p = {
          exp_meta(meta[WSK_LOPT_META_LOG_ALPHA]), 0.9f, 0.999f, 1e-8f, 0.0f, s->step + 1, 0};
      st = wsk_adam((int64_t)s->n, w, g, s->m0, s->v, &p);
      break;
    }
    default: st = learned_step(o, meta, s, w, g); break;
  }
  if (st == WSK_OK) s->step++;
  return st;
}

/* ---- cost ------------------------------------------------------------------------------------ */

/* The UNF head's work, from its basis: per term, one read-and-add of every
 * input element it reduces over (per input channel), the C_in x C_out
 * product of the reduced tensor; per fusion group, one add per output
 * element it broadcasts onto (per output channel). */
static double unf_head_flops(const wsk_lopt *o) {
  const wsk_unf_basis *b = &o->basis;
  const wsk_unf_spec *sp = &b->spec;
  const double cin = (double)o->layer.c_in, cout = (double)o->layer.c_out;
  double fl = 0;
  for (int i = 0; i < b->n_terms; i++) {
    const wsk_unf_term *T = &b->terms[i];
    const wsk_unf_tensor *to = &sp->t[T->out], *ti = &sp->t[T->in];
    int64_t bsize[WSK_UNF_MAX_AXES];
    int has_in[WSK_UNF_MAX_AXES] = {0}, has_out[WSK_UNF_MAX_AXES] = {0};
    for (int a = 0; a < to->rank; a++) {
      bsize[T->block[a]] = sp->id_size[to->ids[a]];
      has_out[T->block[a]] = 1;
    }
    for (int a = 0; a < ti->rank; a++) {
      bsize[T->block[to->rank + a]] = sp->id_size[ti->ids[a]];
      has_in[T->block[to->rank + a]] = 1;
    }
    double reads = 1, kept = 1;
    for (int k = 0; k < T->n_blocks; k++) {
      if (has_in[k]) reads *= (double)bsize[k];
      if (has_in[k] && has_out[k]) kept *= (double)bsize[k];
    }
    fl += reads * cin + 2.0 * kept * cin * cout;
  }
  for (int gi = 0; gi < b->n_groups; gi++) {
    const wsk_unf_group *G = &b->groups[gi];
    const wsk_unf_tensor *to = &sp->t[G->out];
    int64_t bsize[WSK_UNF_MAX_RANK];
    for (int a = 0; a < to->rank; a++) bsize[G->out_block[a]] = sp->id_size[to->ids[a]];
    double writes = 1;
    for (int k = 0; k < G->n_out_blocks; k++) writes *= (double)bsize[k];
    fl += writes * cout;
  }
  return fl;
}

double wsk_lopt_flops_per_step(const wsk_lopt *o) {
  if (!o) return 0;
  const double n = (double)o->spec.numel;
  switch (o->kind) {
    case WSK_LOPT_SGDM: return 4 * n;  /* two fma */
    case WSK_LOPT_ADAM: return 12 * n; /* the update's steps of wsk/optim.h */
    default: break;
  }
  /* momenta: a multiply and an fma each; features: a square-and-add and a
   * division each; the update: three fma */
  double fl = n * (NMOM * 3.0 + NPOINT * 3.0 + 6.0);
  fl += 2.0 * n * (F * H + H * H + H * H);
  fl += o->kind == WSK_LOPT_UNF ? unf_head_flops(o) : 2.0 * n * H;
  return fl;
}
