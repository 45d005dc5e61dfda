/* apps/cmd_pipeline.c — `wsk pipeline`: zoo -> SSL -> probes -> report
 * (model/pipeline.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "apps/commands.h"
#include "model/io.h"
#include "model/pipeline.h"
#include "wsk/wsk.h"

void wsk_cmd_pipeline_usage(FILE *out) {
  fprintf(out,
          "usage: wsk pipeline [--out DIR] [--data DIR] [--smoke | --full] [--seed S]\n"
          "                    [--force] [--no-plots] [--quiet]\n"
          "\n"
          "Runs both halves of wsk end to end on FashionMNIST and writes DIR/report.md.\n"
          "Hyper-representations (Schuerholt et al., NeurIPS 2021): trains a zoo of small\n"
          "networks (`wsk zoo`), the self-supervised transformer on their weights (`wsk\n"
          "ssl`), and linear probes of test accuracy, generalization gap, epoch,\n"
          "activation, initialization and optimizer on the hyper-representation and on\n"
          "the baselines s(W) and W (`wsk probe`). Universal neural functionals (Zhou et\n"
          "al., NeurIPS 2024): meta-tunes SGD with momentum, tunes Adam, meta-trains the\n"
          "Deep Set and UNF learned optimizers on the MLP task (`wsk unf meta-train`),\n"
          "evaluates all four on held-out seeds (`wsk unf eval`), and predicts the zoo's\n"
          "test accuracy with an invariant UNF (`wsk unf predict`, Kendall tau next to\n"
          "the probes). The report holds the tables, the configuration, the CPU and the\n"
          "ISA tier of every kernel family, the time of every stage, and PNG plots when\n"
          "gnuplot is installed. Prints the tables and the result digest, which is the\n"
          "same on every CPU, ISA tier and thread count. Every stage resumes after an\n"
          "interruption.\n"
          "\n"
          "Budgets:\n"
          "  (default)  600 MLPs x 12 epochs on 5,000 images (checkpoints every 2), a\n"
          "             2+2-block transformer trained 100 epochs; learned optimizers\n"
          "             meta-trained 1,000 ES steps (16 instances, horizon 1000); about\n"
          "             18 minutes on 2 cores\n"
          "  --smoke    8 MLPs x 2 epochs on 512 images, a tiny transformer, 2 ES steps:\n"
          "             seconds (what the test command runs, natively and under\n"
          "             qemu-aarch64)\n"
          "  --full     paper scale: 1,000 MLPs x 25 epochs on all 60,000 images, a\n"
          "             4+4-block transformer of width 128 trained 150 epochs, 2,000 ES\n"
          "             steps with horizon 2000 on the MLP and the CNN task: hours\n"
          "\n"
          "Options:\n"
          "  --out DIR    output directory (default wsk-pipeline)\n"
          "  --data DIR   FashionMNIST's directory (default $WSK_DATA_DIR or\n"
          "               /usr/share/datasets/fashion-mnist, Debian dataset-fashion-mnist)\n"
          "  --seed S     the zoo's, the transformer's and the split's seed (default 1)\n"
          "  --force      discard results in DIR made with other settings\n"
          "  --no-plots   do not call gnuplot\n"
          "  --quiet      no progress on stderr\n"
          "  --help       print this help\n");
}

static int parse_u64(const char *s, uint64_t *out) {
  char *end;
  errno = 0;
  const unsigned long long v = strtoull(s, &end, 10);
  if (errno || end == s || *end || s[0] == '-') return 0;
  *out = v;
  return 1;
}

int wsk_cmd_pipeline(int argc, char **argv) {
  wsk_pipeline_config c;
  wsk_pipeline_config_default(&c);
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    const int has_next = i + 1 < argc;
    if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
      wsk_cmd_pipeline_usage(stdout);
      return 0;
    } else if (strcmp(a, "--out") == 0 && has_next) {
      c.out_dir = argv[++i];
    } else if (strcmp(a, "--data") == 0 && has_next) {
      c.data_dir = argv[++i];
    } else if (strcmp(a, "--seed") == 0 && has_next) {
      if (!parse_u64(argv[++i], &c.seed)) {
        fprintf(stderr, "wsk pipeline: --seed wants a non-negative integer, not '%s'\n", argv[i]);
        return 2;
      }
    } else if (strcmp(a, "--smoke") == 0) {
      if (c.budget == WSK_PIPELINE_FULL) goto both;
      c.budget = WSK_PIPELINE_SMOKE;
    } else if (strcmp(a, "--full") == 0) {
      if (c.budget == WSK_PIPELINE_SMOKE) goto both;
      c.budget = WSK_PIPELINE_FULL;
    } else if (strcmp(a, "--force") == 0) {
      c.force = 1;
    } else if (strcmp(a, "--no-plots") == 0) {
      c.plots = 0;
    } else if (strcmp(a, "--quiet") == 0) {
      c.progress = 0;
    } else {
      fprintf(stderr, "wsk pipeline: unknown or incomplete argument '%s'\n\n", a);
      wsk_cmd_pipeline_usage(stderr);
      return 2;
    }
  }
  wsk_pipeline_result r;
  const wsk_status s = wsk_pipeline_run(&c, &r);
  if (s != WSK_OK) {
    fprintf(stderr, "wsk pipeline: %s\n", wsk_last_error());
    wsk_pipeline_result_free(&r);
    return 1;
  }
  wsk_strbuf table = {0};
  if (wsk_probe_table_markdown(&r.probe, &table) == WSK_OK && table.s) fputs(table.s, stdout);
  wsk_strbuf_free(&table);
  for (int k = 0; k < WSK_TASK_COUNT; k++) {
    if (!r.lo_eval[k].horizon) continue;
    wsk_strbuf lo = {0};
    if (wsk_lo_eval_markdown(&r.lo_eval[k], &lo) == WSK_OK && lo.s)
      printf("\nLearned optimizers, %s task (%d held-out seeds x %d steps):\n%s",
             wsk_task_name((wsk_task_kind)k), r.lo_eval[k].seeds, r.lo_eval[k].horizon, lo.s);
    wsk_strbuf_free(&lo);
  }
  printf(
      "\nTest accuracy, Kendall tau on %zu test checkpoints: UNF predictor %.3f; linear "
      "probes: hyper-representation %.3f, s(W) %.3f, W %.3f\n",
      r.predict.pred_count, r.predict.tau_test, r.probe_tau[WSK_PROBE_HYPER],
      r.probe_tau[WSK_PROBE_STATS], r.probe_tau[WSK_PROBE_W]);
  printf(
      "\nstages: zoo %.1f s, SSL %.1f s, probes %.1f s, meta-training %.1f s, evaluation "
      "%.1f s, predictor %.1f s (total %.1f s)\n",
      r.seconds[0], r.seconds[1], r.seconds[2], r.seconds[3], r.seconds[4], r.seconds[5],
      r.total_seconds);
  printf("report: %s\n", r.report_path);
  printf("pipeline digest: 0x%016llx\n", (unsigned long long)r.digest);
  wsk_pipeline_result_free(&r);
  return 0;
both:
  fprintf(stderr, "wsk pipeline: --smoke and --full exclude each other\n");
  return 2;
}
