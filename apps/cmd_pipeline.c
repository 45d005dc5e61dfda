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
          "Runs the hyper-representation pipeline of Schuerholt et al. (NeurIPS 2021) end\n"
          "to end on FashionMNIST: trains a zoo of small networks (`wsk zoo`), trains the\n"
          "self-supervised transformer on their weights (`wsk ssl`), fits linear probes\n"
          "of test accuracy, generalization gap, epoch, activation, initialization and\n"
          "optimizer on the hyper-representation and on the baselines s(W) and W\n"
          "(`wsk probe`), and writes DIR/report.md: the results table, the configuration,\n"
          "the CPU and the ISA tier of every kernel family, the time of every stage, and\n"
          "PNG plots (SSL loss curve, predicted vs true test accuracy) when gnuplot is\n"
          "installed. Prints the results table and the result digest, which is the same\n"
          "on every CPU, ISA tier and thread count. Every stage resumes after an\n"
          "interruption.\n"
          "\n"
          "Budgets:\n"
          "  (default)  600 MLPs x 12 epochs on 5,000 images (checkpoints every 2), a\n"
          "             2+2-block transformer trained 100 epochs: about 10 minutes on\n"
          "             2 cores\n"
          "  --smoke    8 MLPs x 2 epochs on 512 images and a tiny transformer: seconds\n"
          "             (what the test command runs, natively and under qemu-aarch64)\n"
          "  --full     paper scale: 1,000 MLPs x 25 epochs on all 60,000 images, a\n"
          "             4+4-block transformer of width 128 trained 150 epochs: hours\n"
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
  printf("\nstages: zoo %.1f s, SSL %.1f s, probes %.1f s (total %.1f s)\n", r.seconds[0],
         r.seconds[1], r.seconds[2], r.total_seconds);
  printf("report: %s\n", r.report_path);
  printf("pipeline digest: 0x%016llx\n", (unsigned long long)r.digest);
  wsk_pipeline_result_free(&r);
  return 0;
both:
  fprintf(stderr, "wsk pipeline: --smoke and --full exclude each other\n");
  return 2;
}
