/* apps/cmd_probe.c — `wsk probe`: linear probes of a zoo's checkpoints on
 * the hyper-representation (when given), s(W) and W (model/probe.h); prints
 * the table and writes it as Markdown and CSV. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "apps/args.h"
#include "apps/commands.h"
#include "model/io.h"
#include "model/probe.h"
#include "wsk/status.h"

void wsk_cmd_probe_usage(FILE *out) {
  fprintf(out,
          "usage: wsk probe --zoo DIR [--embeddings FILE] [--seed S] [--out FILE] [--quiet]\n"
          "\n"
          "Linear probes (Schürholt et al. 2021): how well a linear map predicts each\n"
          "checkpoint's test accuracy, generalization gap and epoch (ridge regression,\n"
          "R² on the test split) and its activation, initialization and optimizer\n"
          "(linear softmax classifier, test accuracy) from three feature sets:\n"
          "  hyper-representation  the SSL encoder's embedding (--embeddings)\n"
          "  s(W)                  mean, variance and 1/25/50/75/99%% quantiles of each\n"
          "                        weight and bias tensor\n"
          "  W                     all weights, flattened in file order\n"
          "The zoo's models are split 70/15/15 into train/validation/test by model\n"
          "(all checkpoints of a model in one split, the same split for every feature\n"
          "set); the regularization is chosen on validation, the score is on test.\n"
          "\n"
          "Options:\n"
          "  --zoo DIR          the zoo written by `wsk zoo`: DIR/zoo.csv and the\n"
          "                     checkpoints its `file` column names (required)\n"
          "  --embeddings FILE  safetensors file with one tensor `embeddings` of shape\n"
          "                     [rows of zoo.csv][d], rows in zoo.csv order (written by\n"
          "                     `wsk ssl`); without it that column shows —\n"
          "  --seed S           seed of the split (default 0)\n"
          "  --out FILE         the Markdown report (default DIR/probe.md); the CSV goes\n"
          "                     next to it (FILE with .md replaced by .csv)\n"
          "  --quiet            no progress lines on stderr\n"
          "  --help             print this help\n");
}

int wsk_cmd_probe(int argc, char **argv) {
  wsk_probe_options opt;
  memset(&opt, 0, sizeof opt);
  const char *out = NULL;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    const int has_next = i + 1 < argc;
    if (strcmp(a, "--zoo") == 0 && has_next) {
      opt.zoo_dir = argv[++i];
    } else if (strcmp(a, "--embeddings") == 0 && has_next) {
      opt.embeddings = argv[++i];
    } else if (strcmp(a, "--seed") == 0 && has_next) {
      if (!wsk_arg_u64(argv[++i], &opt.seed)) {
        fprintf(stderr, "wsk probe: --seed takes a non-negative integer, not '%s'\n", argv[i]);
        return 2;
      }
    } else if (strcmp(a, "--out") == 0 && has_next) {
      out = argv[++i];
    } else if (strcmp(a, "--quiet") == 0) {
      opt.quiet = 1;
    } else {
      fprintf(stderr, "wsk probe: unknown or incomplete argument '%s'\n\n", a);
      wsk_cmd_probe_usage(stderr);
      return 2;
    }
  }
  if (!opt.zoo_dir || !*opt.zoo_dir) {
    fprintf(stderr, "wsk probe: --zoo DIR is required\n\n");
    wsk_cmd_probe_usage(stderr);
    return 2;
  }
  if (out && !*out) {
    fprintf(stderr, "wsk probe: --out needs a file name\n");
    return 2;
  }

  char *default_out = NULL;
  if (!out) {
    const size_t n = strlen(opt.zoo_dir);
    default_out = malloc(n + sizeof "/probe.md");
    if (!default_out) {
      fprintf(stderr, "wsk probe: out of memory\n");
      return 1;
    }
    snprintf(default_out, n + sizeof "/probe.md", "%s%sprobe.md", opt.zoo_dir,
             opt.zoo_dir[n - 1] == '/' ? "" : "/");
    out = default_out;
  }

  int rc = 1;
  wsk_probe_results *res = malloc(sizeof *res);
  wsk_strbuf table = WSK_STRBUF_INIT;
  char *csv = NULL;
  if (!res) {
    fprintf(stderr, "wsk probe: out of memory\n");
    goto done;
  }
  if (wsk_probe_run(&opt, res) != WSK_OK || wsk_probe_table_markdown(res, &table) != WSK_OK) {
    fprintf(stderr, "wsk probe: %s\n", wsk_last_error());
    goto done;
  }
  printf("Linear probes of %s (test split: %zu models, %zu checkpoints; seed %" PRIu64 ")\n\n%s",
         opt.zoo_dir, res->split_models[2], res->split_rows[2], opt.seed, table.s);
  if (res->rows_used < res->rows)
    printf("\n%zu of %zu rows left out (non-finite weights, embeddings or properties)\n",
           res->rows - res->rows_used, res->rows);
  if (wsk_probe_write(res, out, &csv) != WSK_OK) {
    fprintf(stderr, "wsk probe: %s\n", wsk_last_error());
    goto done;
  }
  printf("\nreport: %s\ncsv:    %s\n", out, csv);
  rc = fflush(stdout) == 0 ? 0 : 1;
done:
  wsk_strbuf_free(&table);
  free(csv);
  free(res);
  free(default_out);
  return rc;
}
