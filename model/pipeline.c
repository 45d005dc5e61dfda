/* model/pipeline.c — zoo -> SSL -> probes -> report (model/pipeline.h). */
#include "model/pipeline.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "dispatch/error.h"
#include "model/io.h"
#include "model/plot.h"
#include "wsk/dispatch.h"
#include "wsk/threads.h"

void wsk_pipeline_config_default(wsk_pipeline_config *c) {
  memset(c, 0, sizeof *c);
  c->out_dir = "wsk-pipeline";
  c->budget = WSK_PIPELINE_DEFAULT;
  c->seed = 1;
  c->progress = 1;
  c->plots = 1;
}

static const char *budget_name(wsk_pipeline_budget b) {
  return b == WSK_PIPELINE_SMOKE ? "smoke" : b == WSK_PIPELINE_FULL ? "full" : "default";
}

void wsk_pipeline_stage_configs(const wsk_pipeline_config *c, char *zoo_dir, size_t zoo_len,
                                char *ssl_dir, size_t ssl_len, wsk_zoo_config *zoo,
                                wsk_ssl_config *ssl) {
  snprintf(zoo_dir, zoo_len, "%s/zoo", c->out_dir);
  snprintf(ssl_dir, ssl_len, "%s/ssl", c->out_dir);
  if (c->budget == WSK_PIPELINE_SMOKE) {
    wsk_zoo_config_smoke(zoo);
    wsk_ssl_config_smoke(ssl);
  } else {
    wsk_zoo_config_default(zoo);
    wsk_ssl_config_default(ssl);
  }
  if (c->budget == WSK_PIPELINE_FULL) {
    /* paper scale: a zoo of 1,000 models over 25 epochs on every training
     * image, a wider and deeper transformer trained longer */
    zoo->members = 1000;
    zoo->epochs = 25;
    zoo->save_every = 5;
    zoo->train_limit = 0;
    ssl->arch.dim = 128;
    ssl->arch.heads = 4;
    ssl->arch.enc_layers = 4;
    ssl->arch.dec_layers = 4;
    ssl->arch.ffn = 512;
    ssl->arch.latent = 64;
    ssl->arch.proj_hidden = 128;
    ssl->arch.proj_out = 64;
    ssl->epochs = 150;
  }
  zoo->out_dir = zoo_dir;
  zoo->data_dir = c->data_dir;
  zoo->seed = c->seed;
  zoo->force = c->force;
  zoo->progress = c->progress;
  ssl->zoo_dir = zoo_dir;
  ssl->out_dir = ssl_dir;
  ssl->seed = c->seed;
  ssl->split_seed = c->seed;
  ssl->force = c->force;
  ssl->progress = c->progress;
}

void wsk_pipeline_unf_configs(const wsk_pipeline_config *c, char *lo_dir, size_t lo_len,
                              const char *zoo_dir, wsk_lo_config *lo,
                              wsk_unf_predict_config *pred) {
  snprintf(lo_dir, lo_len, "%s/unf", c->out_dir);
  wsk_lo_config_default(lo);
  wsk_unf_predict_config_default(pred);
  if (c->budget == WSK_PIPELINE_SMOKE) {
    lo->horizon = 40;
    lo->meta_steps = 2;
    lo->tasks = 2;
    lo->truncation = 10;
    lo->eval_seeds = 2;
    lo->tune_seeds = 1;
    lo->train_images = 512;
    pred->hidden = 4;
    pred->epochs = 2;
  } else if (c->budget == WSK_PIPELINE_FULL) {
    lo->horizon = 2000;
    lo->meta_steps = 2000;
    pred->hidden = 16;
    pred->epochs = 50;
  }
  lo->out_dir = lo_dir;
  lo->data_dir = c->data_dir;
  lo->seed = c->seed;
  lo->force = c->force;
  lo->progress = c->progress;
  lo->plots = c->plots;
  pred->zoo_dir = zoo_dir;
  pred->seed = c->seed;
  pred->quiet = !c->progress;
}

/* The SSL loss curve: ssl/ssl_loss.csv. */
static int plot_loss(const char *dir) {
  static const char script[] =
      "set terminal pngcairo size 800,480 noenhanced\n"
      "set output 'ssl_loss.png'\n"
      "set datafile separator ','\n"
      "set key top right\n"
      "set xlabel 'epoch'\n"
      "set ylabel 'loss'\n"
      "set title 'SSL hyper-representation: loss per epoch'\n"
      "plot 'ssl/ssl_loss.csv' every ::1 using 1:2 with linespoints title 'train', \\\n"
      "     'ssl/ssl_loss.csv' every ::1 using 1:3 with linespoints title 'validation'\n";
  return wsk_plot_gnuplot(dir, "ssl_loss", script);
}

/* Predicted against true test accuracy on the probes' test models. */
static int plot_pred(const char *dir, const wsk_probe_results *p) {
  if (!p->pred_count) return 0;
  wsk_strbuf b = {0};
  for (size_t i = 0; i < p->pred_count; i++)
    wsk_strbuf_printf(&b, "%.6f,%.6f,%.6f,%.6f\n", p->pred_true[i], p->pred[WSK_PROBE_HYPER][i],
                      p->pred[WSK_PROBE_STATS][i], p->pred[WSK_PROBE_W][i]);
  char csv[1200];
  snprintf(csv, sizeof csv, "%s/acc_pred.csv", dir);
  const wsk_status s = b.s ? wsk_file_write_atomic(csv, b.s, b.len) : WSK_ERR_NOMEM;
  wsk_strbuf_free(&b);
  if (s != WSK_OK) return 0;
  static const char script[] =
      "set terminal pngcairo size 640,640 noenhanced\n"
      "set output 'acc_pred.png'\n"
      "set datafile separator ','\n"
      "set key top left\n"
      "set xlabel 'true test accuracy'\n"
      "set ylabel 'predicted test accuracy'\n"
      "set title 'Probes of test accuracy on the test models'\n"
      "set size square\n"
      "plot x with lines lc 'gray' title 'y = x', \\\n"
      "     'acc_pred.csv' using 1:2 with points pt 7 ps 0.6 title 'hyper-representation', \\\n"
      "     'acc_pred.csv' using 1:3 with points pt 6 ps 0.6 title 's(W)'\n";
  return wsk_plot_gnuplot(dir, "acc_pred", script);
}

/* The UNF half of the report. */
static wsk_status unf_section(wsk_strbuf *b, const wsk_lo_config *lo,
                              const wsk_unf_predict_config *pc, const wsk_pipeline_result *r) {
  wsk_strbuf_printf(b,
                    "\n## Universal neural functionals\n\n"
                    "Learned optimizers (Zhou, Finn, Harrison, NeurIPS 2024): the UNF learned "
                    "optimizer and its pointwise Deep Set ablation meta-trained by persistent "
                    "ES (%d task instances x 2 antithetic, truncations of %d steps, sigma %g, "
                    "%lld meta-steps), SGD with momentum meta-tuned by the same ES, Adam's "
                    "learning rate tuned on a grid; then %d held-out instances per optimizer "
                    "trained for %d steps.\n",
                    lo->tasks, lo->truncation, (double)lo->sigma, (long long)lo->meta_steps,
                    lo->eval_seeds, lo->horizon);
  for (int k = 0; k < WSK_TASK_COUNT; k++) {
    const wsk_lo_eval_result *e = &r->lo_eval[k];
    if (!e->horizon) continue;
    wsk_strbuf_printf(b, "\n### %s task\n\n", wsk_task_name((wsk_task_kind)k));
    WSK_TRY(wsk_lo_eval_markdown(e, b));
    wsk_strbuf_printf(b, "\nMeta-training:");
    for (int o = 0; o < WSK_LOPT_COUNT; o++) {
      const wsk_lo_train_result *t = &r->lo_train[k][o];
      if (t->reused) {
        wsk_strbuf_printf(b, " %s reused;", wsk_lopt_name((wsk_lopt_kind)o));
      } else if (o == WSK_LOPT_ADAM) {
        wsk_strbuf_printf(b, " %s grid %.1f s;", wsk_lopt_name((wsk_lopt_kind)o), t->seconds);
      } else {
        wsk_strbuf_printf(b, " %s %.1f s (%.1f GFLOP/s);", wsk_lopt_name((wsk_lopt_kind)o),
                          t->seconds, t->seconds > 0 ? t->flops / t->seconds * 1e-9 : 0.0);
      }
    }
    wsk_strbuf_printf(b, " details, curves and the plot in unf/%s/eval.md.\n",
                      wsk_task_name((wsk_task_kind)k));
    if (e->plot_written)
      wsk_strbuf_printf(b, "\n![loss curves](unf/%s/loss_curves.png)\n",
                        wsk_task_name((wsk_task_kind)k));
  }
  const wsk_unf_predict_result *p = &r->predict;
  wsk_strbuf_printf(b,
                    "\n### Predicting test accuracy\n\n"
                    "An invariant UNF (two equivariant layers of %d channels on the zoo's weight "
                    "space `%s`, the invariant pool, an MLP head; %zu parameters) trained %d "
                    "epochs on the probes' training split (best epoch on validation: %d), "
                    "against the ridge probes, on the same %zu test checkpoints:\n\n"
                    "| predictor | Kendall tau | R^2 |\n|---|---|---|\n"
                    "| UNF (invariant) | %.3f | %.3f |\n",
                    pc->hidden, p->spec, p->n_params, pc->epochs, p->best_epoch, p->pred_count,
                    p->tau_test, p->r2_test);
  for (int f = 0; f < WSK_PROBE_NFEAT; f++)
    if (r->probe.pred[f])
      wsk_strbuf_printf(b, "| linear probe on %s | %.3f | %.3f |\n", wsk_probe_feat_titles[f],
                        r->probe_tau[f], r->probe.cell[0][f].value);
  return WSK_OK;
}

static wsk_status write_report(const wsk_pipeline_config *c, const wsk_zoo_config *zc,
                               const wsk_ssl_config *sc, const wsk_lo_config *lo,
                               const wsk_unf_predict_config *pc, wsk_pipeline_result *r) {
  wsk_strbuf b = {0};
  wsk_cpu_info cpu;
  if (wsk_cpu_info_get(&cpu) != WSK_OK) snprintf(cpu.name, sizeof cpu.name, "unknown");
  wsk_strbuf_printf(&b, "# Hyper-representations and universal neural functionals: results\n\n");
  wsk_strbuf_printf(&b,
                    "Zoo -> self-supervised transformer on the weights -> linear probes "
                    "(Schürholt, Kostadinov, Borth, NeurIPS 2021), budget `%s`, seed %llu.\n\n",
                    budget_name(c->budget), (unsigned long long)c->seed);
  wsk_strbuf_printf(&b, "## Results\n\n");
  wsk_strbuf_printf(&b,
                    "Test split (%zu models, every checkpoint of a model in one split): R^2 "
                    "for the continuous properties, accuracy for the categorical ones.\n\n",
                    r->probe.split_models[2]);
  WSK_TRY(wsk_probe_table_markdown(&r->probe, &b));
  wsk_strbuf_printf(&b, "\nResult digest: `0x%016llx` (the same on every CPU and ISA tier).\n",
                    (unsigned long long)r->digest);
  if (r->plots_written) {
    wsk_strbuf_printf(&b, "\n![SSL loss](ssl_loss.png)\n");
    if (r->plots_written > 1)
      wsk_strbuf_printf(&b, "\n![predicted vs true test accuracy](acc_pred.png)\n");
  }
  WSK_TRY(unf_section(&b, lo, pc, r));
  wsk_strbuf_printf(&b, "\n## Time\n\n| stage | seconds |\n|---|---|\n");
  static const char *const stage[WSK_PIPELINE_STAGES] = {"zoo",
                                                         "SSL",
                                                         "probes",
                                                         "learned optimizers: meta-training",
                                                         "learned optimizers: evaluation",
                                                         "UNF predictor"};
  for (int i = 0; i < WSK_PIPELINE_STAGES; i++)
    wsk_strbuf_printf(&b, "| %s | %.1f |\n", stage[i], r->seconds[i]);
  wsk_strbuf_printf(&b, "| total | %.1f |\n", r->total_seconds);
  wsk_strbuf_printf(&b,
                    "\nStages that an earlier run had finished are reused (zoo members kept: "
                    "%d of %d; SSL epochs resumed: %d of %d).\n",
                    r->zoo.members_kept, r->zoo.members_kept + r->zoo.members_trained,
                    r->ssl.epochs_resumed, r->ssl.epochs_done);
  wsk_strbuf_printf(&b, "\n## Machine\n\n- CPU: %s (%s)\n- threads: %d\n- kernel tiers:", cpu.name,
                    cpu.vendor, wsk_threads_count());
  for (int f = 0; f < WSK_FAMILY_COUNT; f++) {
    wsk_isa isa;
    if (wsk_family_isa((wsk_family)f, &isa) == WSK_OK)
      wsk_strbuf_printf(&b, " %s %s%s", wsk_family_name((wsk_family)f), wsk_isa_name(isa),
                        f + 1 < WSK_FAMILY_COUNT ? "," : "");
  }
  wsk_strbuf_printf(&b, "\n\n## Configuration\n\n");
  char ntrain[32], ntest[32];
  snprintf(ntrain, sizeof ntrain, zc->train_limit ? "the first %zu" : "all", zc->train_limit);
  snprintf(ntest, sizeof ntest, zc->test_limit ? "the first %zu" : "all", zc->test_limit);
  wsk_strbuf_printf(&b,
                    "- zoo: %s, %d members, %d epochs (checkpoints every %d and at 0), batch "
                    "%d, %s training images, %s test images; %zu checkpoints; test "
                    "accuracy at the last epoch %.3f / %.3f / %.3f (min / mean / max)\n",
                    zc->arch == WSK_ARCH_CNN ? "CNN" : "MLP 64-32-10 on 8x8 FashionMNIST",
                    zc->members, zc->epochs, zc->save_every, zc->batch, ntrain, ntest, r->zoo.rows,
                    r->zoo.test_acc_min, r->zoo.test_acc_mean, r->zoo.test_acc_max);
  wsk_strbuf_printf(
      &b,
      "- SSL: d_model %lld, %lld heads, %lld + %lld blocks, FFN %lld, latent %lld "
      "(the probes read z and the encoder's token outputs averaged per target "
      "layer, after and before the last block), "
      "projection %lld -> %lld; %zu parameters; %d epochs, batch %d models x 2 "
      "views, lr %g (plateau x%g after %d epochs), gamma %g, tau %g; %zu train / "
      "%zu validation rows; %.1f ms per step\n",
      (long long)sc->arch.dim, (long long)sc->arch.heads, (long long)sc->arch.enc_layers,
      (long long)sc->arch.dec_layers, (long long)sc->arch.ffn, (long long)sc->arch.latent,
      (long long)sc->arch.proj_hidden, (long long)sc->arch.proj_out, r->ssl.n_params, sc->epochs,
      sc->batch, (double)sc->lr, (double)sc->plateau_factor, sc->plateau_patience,
      (double)sc->gamma, (double)sc->tau, r->ssl.train_rows, r->ssl.val_rows, r->ssl.step_ms);
  wsk_strbuf_printf(&b,
                    "- probes: ridge regression (lambda on the validation split) for test "
                    "accuracy, gap and epoch; a linear softmax classifier for activation, "
                    "initialization and optimizer; splits by model 70/15/15 (%zu / %zu / %zu "
                    "models); details in probe.md\n",
                    r->probe.split_models[0], r->probe.split_models[1], r->probe.split_models[2]);
  if (!b.s) return wsk__fail(WSK_ERR_NOMEM, "wsk pipeline: out of memory for the report");
  snprintf(r->report_path, sizeof r->report_path, "%s/report.md", c->out_dir);
  const wsk_status s = wsk_file_write_atomic(r->report_path, b.s, b.len);
  wsk_strbuf_free(&b);
  return s;
}

wsk_status wsk_pipeline_run(const wsk_pipeline_config *c, wsk_pipeline_result *r) {
  if (!c || !r) return wsk__fail(WSK_ERR_NULL, "wsk_pipeline_run: config or result is NULL");
  memset(r, 0, sizeof *r);
  if (!c->out_dir || !c->out_dir[0])
    return wsk__fail(WSK_ERR_ARG, "wsk pipeline: the output directory is empty");
  if (strlen(c->out_dir) > 900)
    return wsk__fail(WSK_ERR_ARG, "wsk pipeline: the output directory's name is too long");
  WSK_TRY(wsk_mkdir_p(c->out_dir));
  char zoo_dir[1024], ssl_dir[1024];
  wsk_zoo_config zc;
  wsk_ssl_config sc;
  wsk_pipeline_stage_configs(c, zoo_dir, sizeof zoo_dir, ssl_dir, sizeof ssl_dir, &zc, &sc);
  const double t0 = wsk_now_s();

  if (c->progress) fprintf(stderr, "wsk pipeline: 1/3 zoo -> %s\n", zoo_dir);
  double t = wsk_now_s();
  WSK_TRY(wsk_zoo_run(&zc, NULL, NULL, &r->zoo));
  r->seconds[0] = wsk_now_s() - t;

  if (c->progress) fprintf(stderr, "wsk pipeline: 2/3 SSL hyper-representation -> %s\n", ssl_dir);
  t = wsk_now_s();
  WSK_TRY(wsk_ssl_run(&sc, &r->ssl));
  r->seconds[1] = wsk_now_s() - t;

  if (c->progress) fprintf(stderr, "wsk pipeline: 3/3 probes\n");
  t = wsk_now_s();
  char emb[1100], md[1100];
  snprintf(emb, sizeof emb, "%s/embeddings.safetensors", ssl_dir);
  snprintf(md, sizeof md, "%s/probe.md", c->out_dir);
  wsk_probe_options po;
  memset(&po, 0, sizeof po);
  po.zoo_dir = zoo_dir;
  po.embeddings = emb;
  po.seed = c->seed;
  po.quiet = !c->progress;
  po.predictions = 1;
  WSK_TRY(wsk_probe_run(&po, &r->probe));
  char *csv_path = NULL;
  WSK_TRY(wsk_probe_write(&r->probe, md, &csv_path));
  r->seconds[2] = wsk_now_s() - t;
  for (int f = 0; f < WSK_PROBE_NFEAT; f++)
    r->probe_tau[f] = r->probe.pred[f] ? wsk_kendall_tau(r->probe.pred[f], r->probe.pred_true,
                                                         r->probe.pred_count)
                                       : NAN;

  /* the UNF half */
  char lo_dir[1024];
  wsk_lo_config lo;
  wsk_unf_predict_config pc;
  wsk_pipeline_unf_configs(c, lo_dir, sizeof lo_dir, zoo_dir, &lo, &pc);
  const int ntasks = c->budget == WSK_PIPELINE_FULL ? WSK_TASK_COUNT : 1;
  static const wsk_lopt_kind order[WSK_LOPT_COUNT] = {WSK_LOPT_SGDM, WSK_LOPT_ADAM,
                                                      WSK_LOPT_DEEPSET, WSK_LOPT_UNF};
  if (c->progress)
    fprintf(stderr, "wsk pipeline: 4/6 learned optimizers: meta-training -> %s\n", lo_dir);
  t = wsk_now_s();
  for (int k = 0; k < ntasks; k++) {
    lo.task = (wsk_task_kind)k;
    for (int j = 0; j < WSK_LOPT_COUNT; j++)
      WSK_TRY(wsk_lo_meta_train(&lo, order[j], &r->lo_train[k][order[j]]));
  }
  r->seconds[3] = wsk_now_s() - t;
  if (c->progress) fprintf(stderr, "wsk pipeline: 5/6 learned optimizers: held-out evaluation\n");
  t = wsk_now_s();
  for (int k = 0; k < ntasks; k++) {
    lo.task = (wsk_task_kind)k;
    WSK_TRY(wsk_lo_eval(&lo, &r->lo_eval[k]));
  }
  r->seconds[4] = wsk_now_s() - t;
  if (c->progress) fprintf(stderr, "wsk pipeline: 6/6 UNF predictor of test accuracy\n");
  t = wsk_now_s();
  WSK_TRY(wsk_unf_predict_run(&pc, &r->predict));
  r->seconds[5] = wsk_now_s() - t;
  r->total_seconds = wsk_now_s() - t0;

  /* the digest: zoo.csv, the embeddings' bits, the probe table (CSV), the
   * learned optimizers' final losses, the predictor's test predictions */
  void *data = NULL;
  size_t n = 0;
  char path[1100];
  uint64_t h = WSK_SSL_FNV_INIT;
  snprintf(path, sizeof path, "%s/zoo.csv", zoo_dir);
  wsk_status s = wsk_file_read(path, &data, &n);
  if (s == WSK_OK) h = wsk_ssl_fnv1a(h, data, n);
  free(data);
  data = NULL;
  h = wsk_ssl_fnv1a(h, &r->ssl.embedding_digest, sizeof r->ssl.embedding_digest);
  if (s == WSK_OK) s = wsk_file_read(csv_path, &data, &n);
  if (s == WSK_OK) h = wsk_ssl_fnv1a(h, data, n);
  free(data);
  free(csv_path);
  WSK_TRY(s);
  for (int k = 0; k < ntasks; k++)
    h = wsk_ssl_fnv1a(h, r->lo_eval[k].final,
                      sizeof(double) * WSK_LOPT_COUNT * (size_t)r->lo_eval[k].seeds);
  h = wsk_ssl_fnv1a(h, r->predict.pred, sizeof(double) * r->predict.pred_count);
  r->digest = h;

  if (c->plots && wsk_plot_available()) {
    r->plots_written += plot_loss(c->out_dir);
    if (r->plots_written) r->plots_written += plot_pred(c->out_dir, &r->probe);
  }
  return write_report(c, &zc, &sc, &lo, &pc, r);
}

void wsk_pipeline_result_free(wsk_pipeline_result *r) {
  if (!r) return;
  for (int k = 0; k < WSK_TASK_COUNT; k++) wsk_lo_eval_result_free(&r->lo_eval[k]);
  wsk_unf_predict_result_free(&r->predict);
  wsk_ssl_result_free(&r->ssl);
  wsk_probe_results_free(&r->probe);
}
