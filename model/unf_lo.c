/* model/unf_lo.c — the learned-optimizer experiment (see model/unf_lo.h). */
#include "model/unf_lo.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dispatch/error.h"
#include "model/es.h"
#include "model/io.h"
#include "model/plot.h"
#include "model/progress.h"
#include "model/rng.h"
#include "model/safetensors.h"
#include "model/unf_meta.h"
#include "wsk/threads.h"

/* SLEEF's deterministic scalar log (declared here: Debian's sleef.h lacks it) */
float Sleef_finz_logf1_u10purecfma(float);

#define STREAM_TUNE 0x74756e65ull    /* "tune" */
#define STREAM_HELDOUT 0x68656c64ull /* "held" */
#define FINAL_STEPS 10

const float wsk_lo_adam_grid[WSK_LO_ADAM_GRID_N] = {1e-4f, 3e-4f, 1e-3f, 3e-3f,
                                                    1e-2f, 3e-2f, 1e-1f};

void wsk_lo_config_default(wsk_lo_config *c) {
  memset(c, 0, sizeof *c);
  c->task = WSK_TASK_MLP;
  c->horizon = 1000;
  c->meta_steps = 1000;
  c->tasks = 16;
  c->truncation = 50;
  c->sigma = 0.01f;
  c->eval_seeds = 5;
  c->tune_seeds = 3;
  c->seed = 1;
  c->beta_init = 0.1f;
  c->init_from_sgdm = 1;
  c->progress = 1;
  c->plots = 1;
}

static wsk_status check_config(const wsk_lo_config *c) {
  if (!c) return wsk__fail(WSK_ERR_NULL, "learned optimizer: NULL configuration");
  if (!c->out_dir || !*c->out_dir)
    return wsk__fail(WSK_ERR_ARG, "learned optimizer: no output directory given");
  if ((unsigned)c->task >= WSK_TASK_COUNT)
    return wsk__fail(WSK_ERR_ARG, "learned optimizer: unknown task %d", (int)c->task);
  if (c->horizon < FINAL_STEPS || c->horizon > 10000000)
    return wsk__fail(WSK_ERR_ARG, "learned optimizer: the horizon must be %d..10000000 steps (%d)",
                     FINAL_STEPS, c->horizon);
  if (c->meta_steps < 0 || c->tasks < 1 || c->tasks > 4096 || c->truncation < 1 ||
      !(c->sigma > 0) || !(c->beta_init > 0) || c->eval_seeds < 1 || c->eval_seeds > 1000 ||
      c->tune_seeds < 1 || c->tune_seeds > 1000)
    return wsk__fail(WSK_ERR_ARG,
                     "learned optimizer: invalid settings (meta-steps %lld >= 0, tasks %d in "
                     "1..4096, truncation %d >= 1, sigma %g > 0, eval seeds %d and tune seeds %d "
                     "in 1..1000)",
                     (long long)c->meta_steps, c->tasks, c->truncation, (double)c->sigma,
                     c->eval_seeds, c->tune_seeds);
  return WSK_OK;
}

wsk_status wsk_lo_task_dir(const wsk_lo_config *c, char *buf, size_t n) {
  const size_t len = strlen(c->out_dir);
  const int w = snprintf(buf, n, "%s%s%s", c->out_dir,
                         (len && c->out_dir[len - 1] == '/') ? "" : "/", wsk_task_name(c->task));
  if (w < 0 || (size_t)w >= n)
    return wsk__fail(WSK_ERR_ARG, "learned optimizer: output path too long: %s", c->out_dir);
  return WSK_OK;
}

/* The data, the task and its weight space. */
typedef struct setup {
  wsk_dataset train;
  wsk_task task;
  wsk_unf_spec spec;
  char dir[1024];
} setup;

static wsk_status setup_open(const wsk_lo_config *c, setup *S) {
  memset(S, 0, sizeof *S);
  WSK_TRY(check_config(c));
  WSK_TRY(wsk_lo_task_dir(c, S->dir, sizeof S->dir));
  WSK_TRY(wsk_mkdir_p(S->dir));
  const int size = c->task == WSK_TASK_MLP ? 8 : 16;
  WSK_TRY(wsk_fmnist_load(c->data_dir, 1, size, c->train_images, &S->train));
  wsk_status s = wsk_task_make(c->task, &S->train, 0, &S->task);
  if (s == WSK_OK) s = wsk_unf_spec_builtin(S->task.spec, &S->spec);
  if (s != WSK_OK) wsk_dataset_free(&S->train);
  return s;
}

static void setup_close(setup *S) { wsk_dataset_free(&S->train); }

static void meta_path(const setup *S, wsk_lopt_kind k, const char *ext, char *buf, size_t n) {
  snprintf(buf, n, "%s/%s%s", S->dir, wsk_lopt_name(k), ext);
}

/* Adam's step on the meta-parameters: the configured one, else 1e-3 for the
 * learned optimizers (thousands of network weights whose ES gradients are
 * mostly noise: at model/es.h's 3e-3 Adam's unit-size steps random-walk the
 * UNF head's weights to four times their initial size in 1,000 steps, and
 * two of three meta-training seeds then diverged late in the inner runs)
 * and model/es.h's 3e-3 for SGDM's two scalars. */
static float meta_lr_of(const wsk_lo_config *c, wsk_lopt_kind k) {
  if (c->meta_lr > 0) return c->meta_lr;
  return (k == WSK_LOPT_UNF || k == WSK_LOPT_DEEPSET) ? 1e-3f : 3e-3f;
}

/* The settings a meta-parameter file was made with (compared on a rerun). */
static void settings_string(const wsk_lo_config *c, wsk_lopt_kind k, int init_sgdm, char *buf,
                            size_t n) {
  if (k == WSK_LOPT_ADAM) {
    snprintf(buf, n, "task=%s horizon=%d train_images=%zu tune_seeds=%d seed=%llu grid=7",
             wsk_task_name(c->task), c->horizon, c->train_images, c->tune_seeds,
             (unsigned long long)c->seed);
  } else {
    snprintf(buf, n,
             "task=%s horizon=%d train_images=%zu meta_steps=%lld tasks=%d truncation=%d "
             "sigma=%g meta_lr=%g beta_init=%g seed=%llu init=%s",
             wsk_task_name(c->task), c->horizon, c->train_images, (long long)c->meta_steps,
             c->tasks, c->truncation, (double)c->sigma, (double)meta_lr_of(c, k),
             (double)c->beta_init, (unsigned long long)c->seed, init_sgdm ? "sgdm" : "default");
  }
}

/* Reads DIR/<task>/<k>.meta.safetensors: meta (n floats) and, when
 * settings is not NULL, its settings string into settings[sn]. */
static wsk_status read_meta(const char *path, size_t n, float *meta, char *settings, size_t sn) {
  wsk_safetensors st = {0};
  WSK_TRY(wsk_safetensors_read(path, &st));
  wsk_status s = WSK_OK;
  const long k = wsk_safetensors_find(&st, "meta");
  if (k < 0 || wsk_safetensors_numel(&st, (size_t)k) != n) {
    s = wsk__fail(WSK_ERR_FORMAT, "%s: no tensor 'meta' of %zu values (another optimizer's file?)",
                  path, n);
  } else {
    memcpy(meta, st.data[k], n * sizeof(float));
    const char *v = wsk_safetensors_meta(&st, "settings");
    if (settings) snprintf(settings, sn, "%s", v ? v : "");
  }
  wsk_safetensors_free(&st);
  return s;
}

static wsk_status write_meta(const char *path, const wsk_lopt *o, const float *meta,
                             const char *settings) {
  wsk_strbuf d = WSK_STRBUF_INIT;
  WSK_TRY(wsk_lopt_meta_describe(o, meta, &d));
  const wsk_tensor_ref t = {"meta", 1, {(int64_t)o->n_meta}, meta};
  const char *kv[] = {"format",   "wsk-lopt-meta", "optimizer", wsk_lopt_name(o->kind),
                      "settings", settings,        "describe",  d.s ? d.s : "",
                      NULL};
  const wsk_status s = wsk_safetensors_write(path, &t, 1, kv);
  wsk_strbuf_free(&d);
  return s;
}

static int file_exists(const char *p) {
  struct stat st;
  return stat(p, &st) == 0;
}

/* ---- meta-training ---------------------------------------------------------------------- */

typedef struct es_progress {
  wsk_progress *bar;
  int64_t first, steps_run;
  double last_loss;
} es_progress;

static void on_es_step(void *arg, int64_t step, double loss, double gnorm) {
  es_progress *p = arg;
  char note[96];
  snprintf(note, sizeof note, "step %lld loss %.4f |g| %.3g", (long long)step, loss, gnorm);
  p->steps_run++;
  p->last_loss = loss;
  wsk_progress_advance(p->bar, 1, note);
}

static wsk_status adam_grid(const wsk_lo_config *c, setup *S, wsk_lopt *o, float *meta,
                            wsk_lo_train_result *r) {
  wsk_unf_meta *um = NULL;
  WSK_TRY(wsk_unf_meta_create(&S->task, o, c->horizon, 1, &um));
  wsk_rng rng;
  wsk_rng_seed(&rng, c->seed, STREAM_TUNE);
  uint64_t seeds[1000];
  for (int i = 0; i < c->tune_seeds; i++) seeds[i] = wsk_rng_u64(&rng);
  wsk_strbuf csv = WSK_STRBUF_INIT;
  wsk_strbuf_printf(&csv, "lr,mean_final_loss\n");
  char label[128];
  snprintf(label, sizeof label, "adam lr grid on %s", wsk_task_name(c->task));
  wsk_progress *bar =
      c->progress ? wsk_progress_begin(label, (size_t)WSK_LO_ADAM_GRID_N * c->tune_seeds) : NULL;
  double best = INFINITY;
  float best_log = 0;
  wsk_status s = WSK_OK;
  for (int g = 0; g < WSK_LO_ADAM_GRID_N && s == WSK_OK; g++) {
    float m[1] = {Sleef_finz_logf1_u10purecfma(wsk_lo_adam_grid[g])};
    double sum = 0;
    for (int i = 0; i < c->tune_seeds && s == WSK_OK; i++) {
      double fin;
      s = wsk_unf_meta_run(um, m, seeds[i], c->horizon, NULL, &fin);
      sum += isfinite(fin) ? fin : INFINITY;
      wsk_progress_advance(bar, 1, NULL);
    }
    const double mean = sum / c->tune_seeds;
    wsk_strbuf_printf(&csv, "%g,%.6f\n", (double)wsk_lo_adam_grid[g], mean);
    if (mean < best) {
      best = mean;
      best_log = m[0];
    }
  }
  wsk_progress_end(bar);
  if (s == WSK_OK && !isfinite(best))
    s = wsk__fail(WSK_ERR_ARG, "adam: every learning rate of the grid diverged on %s",
                  wsk_task_name(c->task));
  if (s == WSK_OK) {
    char p[1200];
    snprintf(p, sizeof p, "%s/adam_grid.csv", S->dir);
    s = wsk_file_write_atomic(p, csv.s, csv.len);
  }
  meta[0] = best_log;
  r->last_loss = best;
  wsk_strbuf_free(&csv);
  wsk_unf_meta_free(um);
  return s;
}

wsk_status wsk_lo_meta_train(const wsk_lo_config *c, wsk_lopt_kind k, wsk_lo_train_result *r) {
  if (!r) return wsk__fail(WSK_ERR_NULL, "wsk_lo_meta_train: NULL result");
  memset(r, 0, sizeof *r);
  r->opt = k;
  if ((unsigned)k >= WSK_LOPT_COUNT)
    return wsk__fail(WSK_ERR_ARG, "learned optimizer: unknown optimizer %d", (int)k);
  const double t0 = wsk_now_s();
  setup *S = calloc(1, sizeof *S);
  wsk_lopt *o = calloc(1, sizeof *o);
  if (!S || !o) {
    free(S);
    free(o);
    return wsk__fail(WSK_ERR_NOMEM, "out of memory");
  }
  float *meta = NULL;
  wsk_unf_meta *um = NULL;
  wsk_status s = setup_open(c, S);
  if (s != WSK_OK) {
    free(S);
    free(o);
    return s;
  }
  if ((s = wsk_lopt_make(k, &S->spec, o)) != WSK_OK) goto done;
  meta = calloc(o->n_meta, sizeof *meta);
  if (!meta) {
    s = wsk__fail(WSK_ERR_NOMEM, "out of memory");
    goto done;
  }
  char path[1200], ckpt[1200], sgdm_path[1200], settings[512], old[512];
  meta_path(S, k, ".meta.safetensors", path, sizeof path);
  meta_path(S, k, ".es", ckpt, sizeof ckpt);
  meta_path(S, WSK_LOPT_SGDM, ".meta.safetensors", sgdm_path, sizeof sgdm_path);
  const int learned = k == WSK_LOPT_UNF || k == WSK_LOPT_DEEPSET;
  const int init_sgdm = learned && c->init_from_sgdm && file_exists(sgdm_path);
  settings_string(c, k, init_sgdm, settings, sizeof settings);

  /* a finished result with these settings is reused */
  if (file_exists(path)) {
    s = read_meta(path, o->n_meta, meta, old, sizeof old);
    if (s == WSK_OK && strcmp(old, settings) == 0) {
      r->reused = 1;
      goto describe;
    }
    if (s == WSK_OK && !c->force) {
      s = wsk__fail(WSK_ERR_ARG,
                    "%s was made with other settings (%s; now %s): pass --force to discard it",
                    path, old, settings);
      goto done;
    }
    if (s != WSK_OK && !c->force) goto done;
    s = WSK_OK;
    unlink(path);
    unlink(ckpt);
  } else if (c->force) {
    unlink(ckpt);
  }

  wsk_rng rng;
  wsk_rng_seed(&rng, c->seed, 0x6d657461ull /* "meta" */);
  if ((s = wsk_lopt_init_meta(o, &rng, meta)) != WSK_OK) goto done;
  if (k == WSK_LOPT_ADAM) {
    if ((s = adam_grid(c, S, o, meta, r)) != WSK_OK) goto done;
  } else {
    if (learned) meta[WSK_LOPT_META_LOG_BETA] = Sleef_finz_logf1_u10purecfma(c->beta_init);
    if (init_sgdm) {
      float sg[2];
      if ((s = read_meta(sgdm_path, 2, sg, NULL, 0)) != WSK_OK) goto done;
      meta[WSK_LOPT_META_LOG_ALPHA] = sg[0];
      meta[o->off_log_gamma0] = sg[1];
    }
    const int threads = wsk_threads_count();
    if ((s = wsk_unf_meta_create(&S->task, o, c->horizon, threads, &um)) != WSK_OK) goto done;
    wsk_es_config ec;
    wsk_es_config_default(&ec);
    ec.tasks = c->tasks;
    ec.truncation = c->truncation;
    ec.sigma = c->sigma;
    ec.lr = meta_lr_of(c, k);
    ec.steps = c->meta_steps;
    ec.seed = c->seed;
    ec.checkpoint = ckpt;
    ec.checkpoint_every = 10;
    char label[128];
    snprintf(label, sizeof label, "meta-train %s on %s", wsk_lopt_name(k), wsk_task_name(c->task));
    es_progress pr = {0};
    pr.bar = c->progress ? wsk_progress_begin(label, (size_t)c->meta_steps) : NULL;
    ec.on_step = on_es_step;
    ec.on_step_arg = &pr;
    s = wsk_es_train(wsk_unf_meta_problem(um), &ec, meta);
    wsk_progress_end(pr.bar);
    if (s != WSK_OK) goto done;
    r->meta_steps = c->meta_steps;
    r->last_loss = pr.last_loss;
    r->flops = (double)pr.steps_run * 2.0 * c->tasks * c->truncation *
               (S->task.flops_per_step + wsk_lopt_flops_per_step(o));
  }
  if ((s = write_meta(path, o, meta, settings)) != WSK_OK) goto done;
  if (k != WSK_LOPT_ADAM) unlink(ckpt); /* the result file supersedes it */
describe : {
  wsk_strbuf d = WSK_STRBUF_INIT;
  if (wsk_lopt_meta_describe(o, meta, &d) == WSK_OK && d.s)
    snprintf(r->describe, sizeof r->describe, "%s", d.s);
  wsk_strbuf_free(&d);
}
done:
  r->seconds = wsk_now_s() - t0;
  wsk_unf_meta_free(um);
  free(meta);
  wsk_lopt_free(o);
  free(o);
  setup_close(S);
  free(S);
  return s;
}

/* ---- evaluation ------------------------------------------------------------------------- */

void wsk_lo_eval_result_free(wsk_lo_eval_result *r) {
  if (!r) return;
  free(r->final);
  free(r->curve);
  r->final = NULL;
  r->curve = NULL;
}

static int plot_curves(const char *dir, const wsk_lo_eval_result *r) {
  /* the y range: the curves' extent, so the late differences show */
  double lo = INFINITY, hi = 0;
  for (int k = 0; k < WSK_LOPT_COUNT; k++)
    for (int t = 0; r->row[k].present && t < r->horizon; t++) {
      const double v = r->curve[(size_t)k * r->horizon + t];
      if (isfinite(v) && v > 0) {
        lo = v < lo ? v : lo;
        hi = v > hi ? v : hi;
      }
    }
  if (!(lo < hi)) {
    lo = 0.01;
    hi = 10;
  }
  lo *= 0.9;
  hi *= 1.1;
  wsk_strbuf b = WSK_STRBUF_INIT;
  wsk_strbuf_printf(&b,
                    "set terminal pngcairo size 800,480 noenhanced\n"
                    "set output 'loss_curves.png'\n"
                    "set datafile separator ','\n"
                    "set key top right\n"
                    "set logscale y\n"
                    "set yrange [%g:%g]\n"
                    "set ytics (0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 1, 1.5, "
                    "2, 3, 5, 10)\n"
                    "set xlabel 'step'\n"
                    "set ylabel 'training loss (mean of %d held-out seeds, 20-step average)'\n"
                    "set title 'Learned optimizers on the %s task'\n"
                    "plot",
                    lo, hi, r->seeds, wsk_task_name(r->task));
  int first = 1;
  for (int k = 0; k < WSK_LOPT_COUNT; k++) {
    if (!r->row[k].present) continue;
    wsk_strbuf_printf(&b, "%s 'curves.csv' every ::1 using 1:%d with lines lw 2 title '%s'",
                      first ? "" : ", \\\n    ", k + 2, wsk_lopt_name(k));
    first = 0;
  }
  wsk_strbuf_printf(&b, "\n");
  const int ok = b.s && wsk_plot_gnuplot(dir, "loss_curves", b.s);
  wsk_strbuf_free(&b);
  return ok;
}

wsk_status wsk_lo_eval_markdown(const wsk_lo_eval_result *r, wsk_strbuf *out) {
  if (!r || !out) return wsk__fail(WSK_ERR_NULL, "wsk_lo_eval_markdown: NULL argument");
  static const char *const title[WSK_LOPT_COUNT] = {
      "UNF (learned)", "Deep Set (learned)", "SGD + momentum (meta-tuned)", "Adam (tuned lr)"};
  const int N = r->seeds, paired = r->row[WSK_LOPT_UNF].present && N > 1;
  WSK_TRY(wsk_strbuf_printf(out,
                            "| optimizer | final training loss (mean ± s.e., %d seeds) |%s "
                            "meta-parameters |\n|---|---|%s---|\n",
                            N, paired ? " minus UNF's, same seeds (mean ± s.e.) |" : "",
                            paired ? "---|" : ""));
  for (int k = 0; k < WSK_LOPT_COUNT; k++) {
    const wsk_lo_eval_row *w = &r->row[k];
    if (!w->present) {
      WSK_TRY(
          wsk_strbuf_printf(out, "| %s | — |%s not trained |\n", title[k], paired ? " — |" : ""));
      continue;
    }
    WSK_TRY(wsk_strbuf_printf(out, "| %s | %.4f ± %.4f |", title[k], w->mean, w->se));
    if (paired && k == WSK_LOPT_UNF) {
      WSK_TRY(wsk_strbuf_printf(out, " — |"));
    } else if (paired) {
      /* the paired difference: every optimizer trains the same held-out seeds */
      double m = 0, ss = 0;
      for (int i = 0; i < N; i++) m += r->final[k * N + i] - r->final[WSK_LOPT_UNF * N + i];
      m /= N;
      for (int i = 0; i < N; i++) {
        const double d = r->final[k * N + i] - r->final[WSK_LOPT_UNF * N + i] - m;
        ss += d * d;
      }
      WSK_TRY(wsk_strbuf_printf(out, " %+.4f ± %.4f |", m, sqrt(ss / (N - 1)) / sqrt((double)N)));
    }
    WSK_TRY(wsk_strbuf_printf(out, " %s |\n", w->describe));
  }
  return WSK_OK;
}

wsk_status wsk_lo_eval(const wsk_lo_config *c, wsk_lo_eval_result *r) {
  if (!r) return wsk__fail(WSK_ERR_NULL, "wsk_lo_eval: NULL result");
  memset(r, 0, sizeof *r);
  const double t0 = wsk_now_s();
  WSK_TRY(check_config(c));
  {
    /* something to evaluate, before the data are read */
    char dir[1024], p[1200];
    WSK_TRY(wsk_lo_task_dir(c, dir, sizeof dir));
    int any = 0;
    for (int k = 0; k < WSK_LOPT_COUNT; k++) {
      snprintf(p, sizeof p, "%s/%s.meta.safetensors", dir, wsk_lopt_name((wsk_lopt_kind)k));
      any |= file_exists(p);
    }
    if (!any)
      return wsk__fail(WSK_ERR_ARG,
                       "no meta-parameters in %s (run `wsk unf meta-train` with the same --out "
                       "and --task first)",
                       dir);
  }
  setup *S = calloc(1, sizeof *S);
  if (!S) return wsk__fail(WSK_ERR_NOMEM, "out of memory");
  wsk_status s = setup_open(c, S);
  if (s != WSK_OK) {
    free(S);
    return s;
  }
  const int T = c->horizon, N = c->eval_seeds;
  r->task = c->task;
  r->seeds = N;
  r->horizon = T;
  r->final = malloc((size_t)WSK_LOPT_COUNT * N * sizeof *r->final);
  r->curve = calloc((size_t)WSK_LOPT_COUNT * T, sizeof *r->curve);
  float *curve = malloc((size_t)T * sizeof *curve);
  uint64_t *seeds = malloc((size_t)N * sizeof *seeds);
  wsk_strbuf csv = WSK_STRBUF_INIT, md = WSK_STRBUF_INIT;
  if (!r->final || !r->curve || !curve || !seeds) {
    s = wsk__fail(WSK_ERR_NOMEM, "out of memory");
    goto done;
  }
  for (int i = 0; i < WSK_LOPT_COUNT * N; i++) r->final[i] = NAN;
  wsk_rng rng;
  wsk_rng_seed(&rng, c->seed, STREAM_HELDOUT);
  for (int i = 0; i < N; i++) seeds[i] = wsk_rng_u64(&rng);
  wsk_strbuf_printf(&csv, "optimizer,seed,final_loss\n");
  int found = 0;
  for (int k = 0; k < WSK_LOPT_COUNT && s == WSK_OK; k++) {
    char path[1200];
    meta_path(S, (wsk_lopt_kind)k, ".meta.safetensors", path, sizeof path);
    if (!file_exists(path)) continue;
    wsk_lopt *o = calloc(1, sizeof *o);
    float *meta = NULL;
    wsk_unf_meta *um = NULL;
    if (!o) {
      s = wsk__fail(WSK_ERR_NOMEM, "out of memory");
      break;
    }
    if ((s = wsk_lopt_make((wsk_lopt_kind)k, &S->spec, o)) == WSK_OK) {
      meta = malloc(o->n_meta * sizeof *meta);
      if (!meta) s = wsk__fail(WSK_ERR_NOMEM, "out of memory");
    }
    if (s == WSK_OK) s = read_meta(path, o->n_meta, meta, NULL, 0);
    if (s == WSK_OK) s = wsk_unf_meta_create(&S->task, o, T, 1, &um);
    char label[128];
    snprintf(label, sizeof label, "eval %s on %s", wsk_lopt_name(k), wsk_task_name(c->task));
    wsk_progress *bar = (s == WSK_OK && c->progress) ? wsk_progress_begin(label, (size_t)N) : NULL;
    double sum = 0;
    for (int i = 0; i < N && s == WSK_OK; i++) {
      double fin;
      if ((s = wsk_unf_meta_run(um, meta, seeds[i], T, curve, &fin)) != WSK_OK) break;
      r->final[k * N + i] = fin;
      sum += fin;
      for (int t = 0; t < T; t++) r->curve[(size_t)k * T + t] += curve[t] / (float)N;
      wsk_strbuf_printf(&csv, "%s,%llu,%.6f\n", wsk_lopt_name(k), (unsigned long long)seeds[i],
                        fin);
      wsk_progress_advance(bar, 1, NULL);
    }
    wsk_progress_end(bar);
    if (s == WSK_OK) {
      wsk_lo_eval_row *w = &r->row[k];
      w->present = 1;
      w->mean = sum / N;
      double ss = 0;
      for (int i = 0; i < N; i++)
        ss += (r->final[k * N + i] - w->mean) * (r->final[k * N + i] - w->mean);
      w->se = N > 1 ? sqrt(ss / (N - 1)) / sqrt((double)N) : 0;
      wsk_strbuf d = WSK_STRBUF_INIT;
      if (wsk_lopt_meta_describe(o, meta, &d) == WSK_OK && d.s)
        snprintf(w->describe, sizeof w->describe, "%s", d.s);
      wsk_strbuf_free(&d);
      found++;
    }
    wsk_unf_meta_free(um);
    free(meta);
    wsk_lopt_free(o);
    free(o);
  }
  if (s != WSK_OK) goto done;
  if (!found) {
    s = wsk__fail(WSK_ERR_ARG,
                  "no meta-parameters in %s (run `wsk unf meta-train --opt unf|deepset|sgdm|adam` "
                  "first)",
                  S->dir);
    goto done;
  }
  char p[1200];
  snprintf(p, sizeof p, "%s/eval.csv", S->dir);
  if ((s = wsk_file_write_atomic(p, csv.s, csv.len)) != WSK_OK) goto done;
  /* the curves, averaged over a trailing window of 20 steps for the plot */
  csv.len = 0;
  wsk_strbuf_printf(&csv, "step,unf,deepset,sgdm,adam\n");
  for (int t = 0; t < T; t++) {
    wsk_strbuf_printf(&csv, "%d", t + 1);
    for (int k = 0; k < WSK_LOPT_COUNT; k++) {
      if (!r->row[k].present) {
        wsk_strbuf_printf(&csv, ",");
        continue;
      }
      double a = 0;
      const int lo = t >= 19 ? t - 19 : 0;
      for (int u = lo; u <= t; u++) a += r->curve[(size_t)k * T + u];
      wsk_strbuf_printf(&csv, ",%.6f", a / (t - lo + 1));
    }
    wsk_strbuf_printf(&csv, "\n");
  }
  snprintf(p, sizeof p, "%s/curves.csv", S->dir);
  if ((s = wsk_file_write_atomic(p, csv.s, csv.len)) != WSK_OK) goto done;
  wsk_strbuf_printf(&md, "# Learned optimizers on the %s task\n\n", wsk_task_name(c->task));
  wsk_strbuf_printf(&md,
                    "Each optimizer trains %d held-out task instances for %d steps; the final "
                    "training loss is the mean training-batch loss of the last %d steps.\n\n",
                    N, T, FINAL_STEPS);
  if ((s = wsk_lo_eval_markdown(r, &md)) != WSK_OK) goto done;
  if (c->plots && wsk_plot_available()) {
    r->plot_written = plot_curves(S->dir, r);
    if (r->plot_written) wsk_strbuf_printf(&md, "\n![loss curves](loss_curves.png)\n");
  }
  snprintf(p, sizeof p, "%s/eval.md", S->dir);
  s = wsk_file_write_atomic(p, md.s, md.len);
done:
  r->seconds = wsk_now_s() - t0;
  if (s != WSK_OK) wsk_lo_eval_result_free(r);
  wsk_strbuf_free(&csv);
  wsk_strbuf_free(&md);
  free(curve);
  free(seeds);
  setup_close(S);
  free(S);
  return s;
}
