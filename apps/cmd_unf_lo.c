/* apps/cmd_unf_lo.c — `wsk unf meta-train` and `wsk unf eval`: the learned
 * optimizer experiment (model/unf_lo.h). */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "apps/args.h"
#include "apps/commands.h"
#include "model/unf_lo.h"
#include "wsk/status.h"

/* an integer option in [lo, hi] (lo >= 0) */
static int parse_i64(const char *s, int64_t lo, int64_t hi, int64_t *v) {
  uint64_t x;
  if (!wsk_arg_range(s, (uint64_t)lo, (uint64_t)hi, &x)) return 0;
  *v = (int64_t)x;
  return 1;
}

/* The options both commands share; returns 1 when argv[*i] was one of them
 * (consuming its value), 0 when it is not, -1 on a bad value (message
 * printed). */
static int common_option(const char *cmd, int argc, char **argv, int *i, wsk_lo_config *c) {
  const char *a = argv[*i];
  const int nx = *i + 1 < argc;
  int64_t v;
  if (strcmp(a, "--task") == 0 && nx) {
    if (wsk_task_parse(argv[++*i], &c->task) != WSK_OK) {
      fprintf(stderr, "wsk unf %s: %s\n", cmd, wsk_last_error());
      return -1;
    }
  } else if (strcmp(a, "--out") == 0 && nx) {
    c->out_dir = argv[++*i];
  } else if (strcmp(a, "--data") == 0 && nx) {
    c->data_dir = argv[++*i];
  } else if (strcmp(a, "--horizon") == 0 && nx) {
    if (!parse_i64(argv[++*i], 10, 10000000, &v)) {
      fprintf(stderr, "wsk unf %s: --horizon takes 10..10000000 steps, not '%s'\n", cmd, argv[*i]);
      return -1;
    }
    c->horizon = (int)v;
  } else if (strcmp(a, "--train-images") == 0 && nx) {
    if (!parse_i64(argv[++*i], 0, 60000, &v)) {
      fprintf(stderr, "wsk unf %s: --train-images takes 0..60000 (0: all), not '%s'\n", cmd,
              argv[*i]);
      return -1;
    }
    c->train_images = (size_t)v;
  } else if (strcmp(a, "--seed") == 0 && nx) {
    if (!parse_i64(argv[++*i], 0, INT64_MAX, &v)) {
      fprintf(stderr, "wsk unf %s: --seed takes a non-negative integer, not '%s'\n", cmd, argv[*i]);
      return -1;
    }
    c->seed = (uint64_t)v;
  } else if (strcmp(a, "--quiet") == 0) {
    c->progress = 0;
  } else {
    return 0;
  }
  return 1;
}

/* ---- meta-train ------------------------------------------------------------------------ */

void wsk_cmd_unf_meta_train_usage(FILE *out) {
  fprintf(out,
          "usage: wsk unf meta-train [--opt LIST] [--task mlp|cnn] [--out DIR] [--data DIR]\n"
          "                          [--horizon T] [--meta-steps N] [--tasks N]\n"
          "                          [--truncation K] [--sigma S] [--meta-lr LR]\n"
          "                          [--train-images N] [--seed S] [--beta-init B]\n"
          "                          [--no-sgdm-init]\n"
          "                          [--force] [--quiet]\n"
          "\n"
          "Meta-trains learned optimizers with persistent evolution strategies\n"
          "(antithetic pairs; every task instance trains for T steps and is then replaced\n"
          "by a fresh one; the objective is the inner training loss):\n"
          "  unf      per-parameter features (parameter, gradient, six momenta, eleven\n"
          "           time features) through three pointwise layers of 32 and a UNF layer\n"
          "           over the task's weight space; update w -= alpha (m + beta f)\n"
          "  deepset  the same with a pointwise last layer instead of the UNF layer\n"
          "  sgdm     SGD with momentum: alpha and gamma0 meta-tuned by the same ES\n"
          "  adam     Adam: its learning rate tuned on a grid (1e-4 .. 1e-1)\n"
          "Results go to DIR/<task>/<opt>.meta.safetensors; an interrupted run resumes\n"
          "from DIR/<task>/<opt>.es bit-identically, and a finished one is reused.\n"
          "\n"
          "Options:\n"
          "  --opt LIST        comma-separated optimizers, or all (default: all, in the\n"
          "                    order sgdm, adam, deepset, unf)\n"
          "  --task mlp|cnn    mlp: MLP 64-32-10 on 8x8 FashionMNIST; cnn: convs of 16 and\n"
          "                    32 channels (3x3, stride 2), global average pool, linear\n"
          "                    head, on 16x16 FashionMNIST (default mlp); batch 128\n"
          "  --out DIR         output directory (default wsk-unf)\n"
          "  --data DIR        FashionMNIST's directory (default $WSK_DATA_DIR or\n"
          "                    /usr/share/datasets/fashion-mnist)\n"
          "  --horizon T       inner steps of a task instance (default 1000)\n"
          "  --meta-steps N    ES steps (default 1000)\n"
          "  --tasks N         parallel task instances, each an antithetic pair, spread\n"
          "                    over the threads (default 16)\n"
          "  --truncation K    inner steps per ES step (default 50)\n"
          "  --sigma S         ES perturbation scale (default 0.01)\n"
          "  --meta-lr LR      Adam's learning rate on the meta-parameters (default\n"
          "                    0.001 for unf and deepset, 0.003 for sgdm)\n"
          "  --train-images N  training images the tasks draw batches from (default 0:\n"
          "                    all 60,000)\n"
          "  --seed S          seed of the task instances and the initialization (default 1)\n"
          "  --beta-init B     unf and deepset start from beta = B (default 0.1)\n"
          "  --no-sgdm-init    start unf and deepset from alpha = 0.1, gamma0 = 0.9 even\n"
          "                    when the meta-tuned SGDM is there (default: from SGDM's)\n"
          "  --force           discard results made with other settings\n"
          "  --quiet           no progress on stderr\n"
          "  --help            print this help\n"
          "Threads: WSK_NUM_THREADS (default one per core).\n");
}

static int parse_opt_list(const char *s, int want[WSK_LOPT_COUNT]) {
  for (int k = 0; k < WSK_LOPT_COUNT; k++) want[k] = 0;
  if (strcmp(s, "all") == 0) {
    for (int k = 0; k < WSK_LOPT_COUNT; k++) want[k] = 1;
    return 1;
  }
  char buf[256];
  if (strlen(s) >= sizeof buf) return 0;
  strcpy(buf, s);
  for (char *tok = strtok(buf, ","); tok; tok = strtok(NULL, ",")) {
    wsk_lopt_kind k;
    if (wsk_lopt_parse(tok, &k) != WSK_OK) return 0;
    want[k] = 1;
  }
  for (int k = 0; k < WSK_LOPT_COUNT; k++)
    if (want[k]) return 1;
  return 0;
}

int wsk_cmd_unf_meta_train(int argc, char **argv) {
  wsk_lo_config c;
  wsk_lo_config_default(&c);
  c.out_dir = "wsk-unf";
  int want[WSK_LOPT_COUNT] = {1, 1, 1, 1};
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    const int nx = i + 1 < argc;
    int64_t v;
    if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
      wsk_cmd_unf_meta_train_usage(stdout);
      return 0;
    }
    const int k = common_option("meta-train", argc, argv, &i, &c);
    if (k < 0) return 2;
    if (k > 0) continue;
    if (strcmp(a, "--opt") == 0 && nx) {
      if (!parse_opt_list(argv[++i], want)) {
        fprintf(stderr,
                "wsk unf meta-train: --opt takes a comma-separated list of unf, deepset, sgdm, "
                "adam, or all; not '%s'\n",
                argv[i]);
        return 2;
      }
    } else if (strcmp(a, "--meta-steps") == 0 && nx) {
      if (!parse_i64(argv[++i], 0, 100000000, &v)) {
        fprintf(stderr, "wsk unf meta-train: --meta-steps takes 0..1e8, not '%s'\n", argv[i]);
        return 2;
      }
      c.meta_steps = v;
    } else if (strcmp(a, "--tasks") == 0 && nx) {
      if (!parse_i64(argv[++i], 1, 4096, &v)) {
        fprintf(stderr, "wsk unf meta-train: --tasks takes 1..4096, not '%s'\n", argv[i]);
        return 2;
      }
      c.tasks = (int)v;
    } else if (strcmp(a, "--truncation") == 0 && nx) {
      if (!parse_i64(argv[++i], 1, 1000000, &v)) {
        fprintf(stderr, "wsk unf meta-train: --truncation takes 1..1000000, not '%s'\n", argv[i]);
        return 2;
      }
      c.truncation = (int)v;
    } else if (strcmp(a, "--sigma") == 0 && nx) {
      if (!wsk_arg_positive(argv[++i], &c.sigma)) {
        fprintf(stderr, "wsk unf meta-train: --sigma takes a positive number, not '%s'\n", argv[i]);
        return 2;
      }
    } else if (strcmp(a, "--meta-lr") == 0 && nx) {
      if (!wsk_arg_positive(argv[++i], &c.meta_lr)) {
        fprintf(stderr, "wsk unf meta-train: --meta-lr takes a positive number, not '%s'\n",
                argv[i]);
        return 2;
      }
    } else if (strcmp(a, "--beta-init") == 0 && nx) {
      if (!wsk_arg_positive(argv[++i], &c.beta_init)) {
        fprintf(stderr, "wsk unf meta-train: --beta-init takes a positive number, not '%s'\n",
                argv[i]);
        return 2;
      }
    } else if (strcmp(a, "--no-sgdm-init") == 0) {
      c.init_from_sgdm = 0;
    } else if (strcmp(a, "--force") == 0) {
      c.force = 1;
    } else {
      fprintf(stderr, "wsk unf meta-train: unknown or incomplete argument '%s'\n\n", a);
      wsk_cmd_unf_meta_train_usage(stderr);
      return 2;
    }
  }
  if (!c.out_dir || !*c.out_dir) {
    fprintf(stderr, "wsk unf meta-train: --out needs a directory\n");
    return 2;
  }
  if (c.truncation > c.horizon) {
    fprintf(stderr, "wsk unf meta-train: --truncation (%d) is longer than --horizon (%d)\n",
            c.truncation, c.horizon);
    return 2;
  }
  static const wsk_lopt_kind order[WSK_LOPT_COUNT] = {WSK_LOPT_SGDM, WSK_LOPT_ADAM,
                                                      WSK_LOPT_DEEPSET, WSK_LOPT_UNF};
  for (int j = 0; j < WSK_LOPT_COUNT; j++) {
    const wsk_lopt_kind k = order[j];
    if (!want[k]) continue;
    wsk_lo_train_result r;
    if (wsk_lo_meta_train(&c, k, &r) != WSK_OK) {
      fprintf(stderr, "wsk unf meta-train: %s: %s\n", wsk_lopt_name(k), wsk_last_error());
      return 1;
    }
    char dir[1024];
    wsk_lo_task_dir(&c, dir, sizeof dir);
    if (r.reused) {
      printf("%-8s reused %s/%s.meta.safetensors: %s\n", wsk_lopt_name(k), dir, wsk_lopt_name(k),
             r.describe);
    } else if (k == WSK_LOPT_ADAM) {
      printf("%-8s grid-tuned in %.1f s (best mean final loss %.4f): %s\n", wsk_lopt_name(k),
             r.seconds, r.last_loss, r.describe);
    } else {
      printf("%-8s %lld ES steps in %.1f s (%.2f GFLOP/s; last loss %.4f): %s\n", wsk_lopt_name(k),
             (long long)r.meta_steps, r.seconds, r.seconds > 0 ? r.flops / r.seconds * 1e-9 : 0.0,
             r.last_loss, r.describe);
    }
    fflush(stdout);
  }
  return fflush(stdout) == 0 ? 0 : 1;
}

/* ---- eval --------------------------------------------------------------------------------- */

void wsk_cmd_unf_eval_usage(FILE *out) {
  fprintf(out,
          "usage: wsk unf eval [--task mlp|cnn] [--out DIR] [--data DIR] [--horizon T]\n"
          "                    [--seeds N] [--train-images N] [--seed S] [--no-plots]\n"
          "                    [--quiet]\n"
          "\n"
          "Trains N held-out task instances (seeds that meta-training never used) with\n"
          "every optimizer found in DIR/<task>/ (`wsk unf meta-train`) for T steps, and\n"
          "writes the final training loss per optimizer (mean ± standard error over the\n"
          "seeds; the final loss is the mean batch loss of the last 10 steps) to\n"
          "DIR/<task>/eval.md and eval.csv, the mean loss curves to curves.csv, and\n"
          "loss_curves.png when gnuplot is installed. Prints the table.\n"
          "\n"
          "Options:\n"
          "  --task mlp|cnn    the task (default mlp)\n"
          "  --out DIR         the meta-training directory (default wsk-unf)\n"
          "  --data DIR        FashionMNIST's directory\n"
          "  --horizon T       steps per instance (default 1000)\n"
          "  --seeds N         held-out instances per optimizer (default 5)\n"
          "  --train-images N  training images (default 0: all)\n"
          "  --seed S          the seed the held-out seeds derive from (default 1)\n"
          "  --no-plots        do not call gnuplot\n"
          "  --quiet           no progress on stderr\n"
          "  --help            print this help\n");
}

int wsk_cmd_unf_eval(int argc, char **argv) {
  wsk_lo_config c;
  wsk_lo_config_default(&c);
  c.out_dir = "wsk-unf";
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    int64_t v;
    if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
      wsk_cmd_unf_eval_usage(stdout);
      return 0;
    }
    const int k = common_option("eval", argc, argv, &i, &c);
    if (k < 0) return 2;
    if (k > 0) continue;
    if (strcmp(a, "--seeds") == 0 && i + 1 < argc) {
      if (!parse_i64(argv[++i], 1, 1000, &v)) {
        fprintf(stderr, "wsk unf eval: --seeds takes 1..1000, not '%s'\n", argv[i]);
        return 2;
      }
      c.eval_seeds = (int)v;
    } else if (strcmp(a, "--no-plots") == 0) {
      c.plots = 0;
    } else {
      fprintf(stderr, "wsk unf eval: unknown or incomplete argument '%s'\n\n", a);
      wsk_cmd_unf_eval_usage(stderr);
      return 2;
    }
  }
  if (!c.out_dir || !*c.out_dir) {
    fprintf(stderr, "wsk unf eval: --out needs a directory\n");
    return 2;
  }
  wsk_lo_eval_result r;
  wsk_strbuf md = WSK_STRBUF_INIT;
  if (wsk_lo_eval(&c, &r) != WSK_OK || wsk_lo_eval_markdown(&r, &md) != WSK_OK) {
    fprintf(stderr, "wsk unf eval: %s\n", wsk_last_error());
    wsk_strbuf_free(&md);
    return 1;
  }
  char dir[1024];
  wsk_lo_task_dir(&c, dir, sizeof dir);
  printf("Learned optimizers on the %s task: %d held-out seeds x %d steps (%.1f s)\n\n%s\n",
         wsk_task_name(c.task), r.seeds, r.horizon, r.seconds, md.s);
  printf("report: %s/eval.md%s\n", dir, r.plot_written ? " (with loss_curves.png)" : "");
  wsk_strbuf_free(&md);
  wsk_lo_eval_result_free(&r);
  return fflush(stdout) == 0 ? 0 : 1;
}
