/* apps/cmd_unf.c — `wsk unf`: universal neural functionals (Zhou, Finn,
 * Harrison 2024). Subcommands: terms (the automatic basis of a weight
 * space), meta-train and eval (the learned optimizer, model/unf_lo.h) and
 * predict (test accuracy of a zoo's networks from their weights,
 * model/unf_predict.h). */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "apps/args.h"
#include "apps/commands.h"
#include "model/io.h"
#include "model/probe.h"
#include "model/unf.h"
#include "model/unf_lo.h"
#include "model/unf_predict.h"
#include "wsk/status.h"

/* an int option in [lo, hi] */
static int arg_int(const char *s, int lo, int hi, int *v) {
  uint64_t x;
  if (!wsk_arg_range(s, (uint64_t)lo, (uint64_t)hi, &x)) return 0;
  *v = (int)x;
  return 1;
}

/* ---- wsk unf terms ------------------------------------------------------------------------ */

static void terms_usage(FILE *out) {
  const char *const *names = wsk_unf_spec_builtin_names();
  fprintf(out,
          "usage: wsk unf terms --spec NAME|FILE [--summary] [--json]\n"
          "\n"
          "Prints the basis of the permutation-equivariant linear maps of a weight\n"
          "space, as a UNF layer builds it: for every output tensor, the number of terms\n"
          "and of fusion groups (terms that broadcast alike, fused before the\n"
          "broadcast), then each term in einsum-like notation, one letter per block of\n"
          "axes: a letter only on the right is averaged over, a letter only on the\n"
          "left is broadcast along, a repeated letter reads (right) or writes (left) a\n"
          "diagonal.   Example:  0.weight[ab] <- 2.weight[ca]   (mean over c, row a of\n"
          "the result is column a of 2.weight, broadcast along b).\n"
          "\n"
          "Options:\n"
          "  --spec NAME|FILE  a built-in weight space (");
  for (int i = 0; names[i]; i++) fprintf(out, "%s%s", i ? ", " : "", names[i]);
  fprintf(out,
          ")\n"
          "                    or a JSON file: {\"name\": ..., \"tensors\": [{\"name\": \"w\",\n"
          "                    \"shape\": [32, 64], \"perm\": [\"h1\", \"in\"]}, ...]}\n"
          "                    (axes with the same id are permuted together)\n"
          "  --summary         counts only, no terms\n"
          "  --json            print the spec as JSON instead (for editing)\n"
          "  --help            print this help\n");
}

static int cmd_terms(int argc, char **argv) {
  const char *spec_arg = NULL;
  int summary = 0, json = 0;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
      terms_usage(stdout);
      return 0;
    } else if (strcmp(argv[i], "--spec") == 0 && i + 1 < argc) {
      spec_arg = argv[++i];
    } else if (strcmp(argv[i], "--summary") == 0) {
      summary = 1;
    } else if (strcmp(argv[i], "--json") == 0) {
      json = 1;
    } else {
      fprintf(stderr, "wsk unf terms: unknown or incomplete argument '%s'\n\n", argv[i]);
      terms_usage(stderr);
      return 2;
    }
  }
  if (!spec_arg || !*spec_arg) {
    fprintf(stderr, "wsk unf terms: --spec NAME|FILE is required\n\n");
    terms_usage(stderr);
    return 2;
  }
  wsk_unf_spec *spec = malloc(sizeof *spec);
  wsk_unf_basis basis;
  memset(&basis, 0, sizeof basis);
  wsk_strbuf b = WSK_STRBUF_INIT;
  int rc = 1;
  if (!spec) {
    fprintf(stderr, "wsk unf terms: out of memory\n");
    return 1;
  }
  if (wsk_unf_spec_load(spec_arg, spec) != WSK_OK) {
    fprintf(stderr, "wsk unf terms: %s\n", wsk_last_error());
    goto done;
  }
  if (json) {
    if (wsk_unf_spec_to_json(spec, &b) != WSK_OK) {
      fprintf(stderr, "wsk unf terms: %s\n", wsk_last_error());
      goto done;
    }
    printf("%s\n", b.s);
    rc = 0;
    goto done;
  }
  if (wsk_unf_basis_build(spec, &basis) != WSK_OK) {
    fprintf(stderr, "wsk unf terms: %s\n", wsk_last_error());
    goto done;
  }
  printf("spec %s: %d tensors, %zu values; ids", spec->name, spec->n_tensors, spec->numel);
  for (int k = 0; k < spec->n_ids; k++)
    printf(" %s(%" PRId64 ")", spec->id_name[k], spec->id_size[k]);
  printf("\n%d terms in %d fusion groups\n", basis.n_terms, basis.n_groups);
  for (int o = 0; o < spec->n_tensors; o++) {
    const wsk_unf_tensor *t = &spec->t[o];
    printf("\n%s [", t->name);
    for (int a = 0; a < t->rank; a++) printf("%s%" PRId64, a ? "][" : "", t->shape[a]);
    printf("] (");
    for (int a = 0; a < t->rank; a++) printf("%s%s", a ? ", " : "", spec->id_name[t->ids[a]]);
    printf("): %d terms, %d fusion groups\n", basis.terms_of[o],
           basis.first_group[o + 1] - basis.first_group[o]);
    if (summary) continue;
    for (int g = basis.first_group[o]; g < basis.first_group[o + 1]; g++) {
      const wsk_unf_group *G = &basis.groups[g];
      for (int i = G->first_term; i < G->first_term + G->n_terms; i++) {
        b.len = 0;
        if (b.s) b.s[0] = '\0';
        if (wsk_unf_term_string(&basis, i, &b) != WSK_OK) {
          fprintf(stderr, "wsk unf terms: %s\n", wsk_last_error());
          goto done;
        }
        printf("  %s%s\n", i == G->first_term ? "* " : "  ", b.s);
      }
    }
  }
  if (!summary) printf("\n(* starts a fusion group)\n");
  rc = fflush(stdout) == 0 ? 0 : 1;
done:
  wsk_strbuf_free(&b);
  wsk_unf_basis_free(&basis);
  free(spec);
  return rc;
}

/* ---- wsk unf predict ---------------------------------------------------------------------- */

static void predict_usage(FILE *out) {
  fprintf(out,
          "usage: wsk unf predict --zoo DIR [--seed S] [--hidden H] [--epochs E]\n"
          "                       [--batch B] [--lr LR] [--compare]\n"
          "                       [--embeddings FILE] [--quiet]\n"
          "\n"
          "Predicts each checkpoint's test accuracy from its weights with an invariant\n"
          "UNF (two equivariant layers, the invariant pool, an MLP head), trained on the\n"
          "training split of the zoo and scored by Kendall's tau on its test split. The\n"
          "split is the one of `wsk probe` for the same seed, so the figure sits next to\n"
          "the linear probes of the hyper-representation and s(W).\n"
          "\n"
          "Options:\n"
          "  --zoo DIR     the zoo written by `wsk zoo` (required)\n"
          "  --seed S      the split's and the initialization's seed (default 0)\n"
          "  --hidden H    channels of the UNF layers, 1..64 (default 8)\n"
          "  --epochs E    training epochs (default 20; the epoch with the best\n"
          "                validation tau is kept)\n"
          "  --batch B     checkpoints per step (default 32)\n"
          "  --lr LR       Adam's learning rate (default 0.001)\n"
          "  --compare     also fit the ridge probes of `wsk probe` (s(W), W and, with\n"
          "                --embeddings, the hyper-representation) on the same split\n"
          "                and print their Kendall tau on the same test checkpoints\n"
          "  --embeddings FILE  the hyper-representation for --compare (`wsk ssl`'s\n"
          "                embeddings.safetensors)\n"
          "  --quiet       no progress on stderr\n"
          "  --help        print this help\n");
}

static int cmd_predict(int argc, char **argv) {
  wsk_unf_predict_config c;
  wsk_unf_predict_config_default(&c);
  int compare = 0;
  const char *emb = NULL;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    const int nx = i + 1 < argc;
    if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
      predict_usage(stdout);
      return 0;
    } else if (strcmp(a, "--zoo") == 0 && nx) {
      c.zoo_dir = argv[++i];
    } else if (strcmp(a, "--seed") == 0 && nx) {
      if (!wsk_arg_u64(argv[++i], &c.seed)) {
        fprintf(stderr, "wsk unf predict: --seed takes a non-negative integer, not '%s'\n",
                argv[i]);
        return 2;
      }
    } else if (strcmp(a, "--hidden") == 0 && nx) {
      if (!arg_int(argv[++i], 1, 64, &c.hidden)) {
        fprintf(stderr, "wsk unf predict: --hidden takes 1..64, not '%s'\n", argv[i]);
        return 2;
      }
    } else if (strcmp(a, "--epochs") == 0 && nx) {
      if (!arg_int(argv[++i], 1, 100000, &c.epochs)) {
        fprintf(stderr, "wsk unf predict: --epochs takes 1..100000, not '%s'\n", argv[i]);
        return 2;
      }
    } else if (strcmp(a, "--batch") == 0 && nx) {
      if (!arg_int(argv[++i], 1, 4096, &c.batch)) {
        fprintf(stderr, "wsk unf predict: --batch takes 1..4096, not '%s'\n", argv[i]);
        return 2;
      }
    } else if (strcmp(a, "--lr") == 0 && nx) {
      if (!wsk_arg_positive(argv[++i], &c.lr)) {
        fprintf(stderr, "wsk unf predict: --lr takes a positive number, not '%s'\n", argv[i]);
        return 2;
      }
    } else if (strcmp(a, "--compare") == 0) {
      compare = 1;
    } else if (strcmp(a, "--embeddings") == 0 && nx) {
      emb = argv[++i];
    } else if (strcmp(a, "--quiet") == 0) {
      c.quiet = 1;
    } else {
      fprintf(stderr, "wsk unf predict: unknown or incomplete argument '%s'\n\n", a);
      predict_usage(stderr);
      return 2;
    }
  }
  if (!c.zoo_dir || !*c.zoo_dir) {
    fprintf(stderr, "wsk unf predict: --zoo DIR is required\n\n");
    predict_usage(stderr);
    return 2;
  }
  wsk_unf_predict_result r;
  if (wsk_unf_predict_run(&c, &r) != WSK_OK) {
    fprintf(stderr, "wsk unf predict: %s\n", wsk_last_error());
    return 1;
  }
  printf("UNF predictor of test accuracy on %s (spec %s, %zu parameters)\n", c.zoo_dir, r.spec,
         r.n_params);
  printf("rows: %zu used of %zu (train %zu, validation %zu, test %zu)\n", r.rows_used, r.rows,
         r.split_rows[0], r.split_rows[1], r.split_rows[2]);
  printf("best epoch %d: validation tau %.4f\n", r.best_epoch, r.tau_val);
  printf("test: Kendall tau %.4f, R^2 %.4f   (%.1f s)\n", r.tau_test, r.r2_test, r.seconds);
  int rc = 0;
  if (compare) {
    wsk_probe_options po;
    memset(&po, 0, sizeof po);
    po.zoo_dir = c.zoo_dir;
    po.embeddings = emb;
    po.seed = c.seed;
    po.quiet = c.quiet;
    po.predictions = 1;
    wsk_probe_results *pr = calloc(1, sizeof *pr);
    if (!pr || wsk_probe_run(&po, pr) != WSK_OK) {
      fprintf(stderr, "wsk unf predict: the probes: %s\n", pr ? wsk_last_error() : "out of memory");
      rc = 1;
    } else {
      printf(
          "\n| predictor | Kendall tau | R^2 |\n|---|---|---|\n| UNF (invariant) | %.4f | %.4f |\n",
          r.tau_test, r.r2_test);
      for (int f = 0; f < WSK_PROBE_NFEAT; f++)
        if (pr->pred[f])
          printf("| linear probe on %s | %.4f | %.4f |\n", wsk_probe_feat_titles[f],
                 wsk_kendall_tau(pr->pred[f], pr->pred_true, pr->pred_count), pr->cell[0][f].value);
      if (pr->pred_count != r.pred_count)
        printf(
            "(the probes scored %zu test checkpoints, the UNF %zu: rows with non-finite "
            "values differ)\n",
            pr->pred_count, r.pred_count);
    }
    if (pr) wsk_probe_results_free(pr);
    free(pr);
  }
  wsk_unf_predict_result_free(&r);
  return fflush(stdout) == 0 ? rc : 1;
}

/* ---- dispatch ------------------------------------------------------------------------------ */

typedef struct sub {
  const char *name, *help;
  int (*run)(int, char **);
  void (*usage)(FILE *);
} sub;

static const sub subs[] = {
    {"meta-train", "meta-train a learned optimizer (or tune a baseline) on a task",
     wsk_cmd_unf_meta_train, wsk_cmd_unf_meta_train_usage},
    {"eval", "train held-out task instances with every optimizer: table and loss curves",
     wsk_cmd_unf_eval, wsk_cmd_unf_eval_usage},
    {"terms", "the equivariant basis of a weight space, term by term", cmd_terms, terms_usage},
    {"predict", "predict a zoo's test accuracy with an invariant UNF (Kendall tau)", cmd_predict,
     predict_usage},
};
#define NSUBS (sizeof subs / sizeof subs[0])

void wsk_cmd_unf_usage(FILE *out) {
  fprintf(out,
          "usage: wsk unf COMMAND [options]   (wsk unf COMMAND --help for each)\n"
          "\n"
          "Universal neural functionals (Zhou, Finn, Harrison, NeurIPS 2024): layers\n"
          "equivariant to the permutation symmetries of any weight space, built\n"
          "automatically from a spec of its tensors, used as a learned optimizer\n"
          "meta-trained with persistent evolution strategies, and as an invariant\n"
          "predictor of a network's test accuracy.\n"
          "\n"
          "Commands:\n");
  for (size_t i = 0; i < NSUBS; i++) fprintf(out, "  %-11s %s\n", subs[i].name, subs[i].help);
}

int wsk_cmd_unf(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "wsk unf: a command is required\n\n");
    wsk_cmd_unf_usage(stderr);
    return 2;
  }
  if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
      strcmp(argv[1], "help") == 0) {
    wsk_cmd_unf_usage(stdout);
    return 0;
  }
  for (size_t i = 0; i < NSUBS; i++)
    if (strcmp(argv[1], subs[i].name) == 0) return subs[i].run(argc - 1, argv + 1);
  fprintf(stderr, "wsk unf: unknown command '%s'\n\n", argv[1]);
  wsk_cmd_unf_usage(stderr);
  return 2;
}
