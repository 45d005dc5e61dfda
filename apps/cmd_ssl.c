/* apps/cmd_ssl.c — `wsk ssl`: trains the self-supervised hyper-representation
 * on a zoo and writes the model, the embedding of every checkpoint and the
 * loss curve (model/ssl_train.h); `--bench-step` times one training step. */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "apps/args.h"
#include "apps/commands.h"
#include "model/ssl_train.h"
#include "wsk/status.h"
#include "wsk/threads.h"

void wsk_cmd_ssl_usage(FILE *out) {
  fprintf(out,
          "usage: wsk ssl --zoo DIR [--out DIR] [--epochs N] [--batch B] [--dim D]\n"
          "               [--heads H] [--layers L] [--latent Z] [--lr X] [--gamma G]\n"
          "               [--seed S] [--split-seed S] [--force] [--quiet] [--smoke]\n"
          "       wsk ssl --bench-step [--arch mlp|cnn|cnn16] [--steps N] [--batch B] [sizes]\n"
          "\n"
          "Self-supervised hyper-representation (Schürholt et al. 2021): a transformer\n"
          "encoder/decoder on the weights of a zoo's checkpoints, one token per neuron\n"
          "(its incoming weights and bias) plus a compression token, trained on two\n"
          "augmented views of every model (neuron permutation, block erasing, noise)\n"
          "with gamma * NT-Xent (tau 0.1) + (1 - gamma) * MSE reconstruction, Adam\n"
          "and a reduce-on-plateau schedule. The models are split as `wsk probe`\n"
          "splits them: training on its training models, validation on its\n"
          "validation models, none of its test models.\n"
          "\n"
          "Writes into the output directory: ssl.safetensors (the model),\n"
          "embeddings.safetensors (tensor `embeddings` [rows of zoo.csv][Z + 2 L D]:\n"
          "the latent z of every row's clean weights, then for each of its L layers\n"
          "the encoder's token outputs averaged over the layer's neurons, after the\n"
          "last block and before it (D each), in zoo.csv order: `wsk probe\n"
          "--embeddings`), ssl_loss.csv (epoch, losses, learning rate) and\n"
          "ssl_ckpt.safetensors (written every epoch; a rerun resumes from it).\n"
          "\n"
          "Options:\n"
          "  --zoo DIR         the zoo of `wsk zoo`: DIR/zoo.csv and its checkpoints\n"
          "                    (required)\n"
          "  --out DIR         output directory (default: the zoo directory)\n"
          "  --epochs N        training epochs (default 100; --smoke 2)\n"
          "  --batch B         models per step, two views each (default 32; --smoke 4)\n"
          "  --dim D           d_model (default 64; --smoke 16); the FFN is 4 D wide\n"
          "                    and the projection head D -> latent\n"
          "  --heads H         attention heads, dividing D (default 2)\n"
          "  --layers L        encoder blocks and decoder blocks, each (default 2;\n"
          "                    --smoke 1)\n"
          "  --latent Z        size of the embedding z (default 32; --smoke 8)\n"
          "  --lr X            Adam learning rate (default 1e-3)\n"
          "  --gamma G         weight of the contrastive loss in [0, 1] (default 0.5)\n"
          "  --seed S          seed of the initialization, order and augmentations\n"
          "                    (default 1)\n"
          "  --split-seed S    seed of the split by model; use the seed that `wsk\n"
          "                    probe --seed` gets (default 0, as its default)\n"
          "  --force           discard a checkpoint made with other settings\n"
          "  --quiet           no progress on stderr\n"
          "  --smoke           a tiny model for 2 epochs (seconds; CI and emulators)\n"
          "  --bench-step      time training steps of random weights, without\n"
          "                    augmentation, and print ms per step (no zoo needed);\n"
          "                    --arch picks the network (default mlp), --steps N the\n"
          "                    timed steps (default 10, after 2 warm-up steps),\n"
          "                    --dump FILE writes the first step's parameters, batch,\n"
          "                    loss and gradient (bench/ssl_torch.py --check)\n"
          "  --help            print this help\n");
}

static int parse_long(const char *s, long lo, long hi, long *v) {
  if (!*s) return 0;
  char *end;
  errno = 0;
  const long x = strtol(s, &end, 10);
  if (errno || *end || x < lo || x > hi) return 0;
  *v = x;
  return 1;
}
static int parse_float(const char *s, float *v) {
  if (!*s) return 0;
  char *end;
  errno = 0;
  const float x = strtof(s, &end);
  if (errno || *end || !isfinite(x)) return 0;
  *v = x;
  return 1;
}

int wsk_cmd_ssl(int argc, char **argv) {
  wsk_ssl_config c;
  int smoke = 0, bench = 0;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--smoke") == 0) smoke = 1;
    if (strcmp(argv[i], "--bench-step") == 0) bench = 1;
  }
  if (smoke)
    wsk_ssl_config_smoke(&c);
  else
    wsk_ssl_config_default(&c);
  long dim = -1, steps = 10;
  const char *arch_name = "mlp", *dump = NULL;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    const int has_next = i + 1 < argc;
    const char *v = has_next ? argv[i + 1] : "";
    long x = 0;
    int ok = 1;
    if (strcmp(a, "--smoke") == 0 || strcmp(a, "--bench-step") == 0) {
      continue;
    } else if (strcmp(a, "--force") == 0) {
      c.force = 1;
      continue;
    } else if (strcmp(a, "--quiet") == 0) {
      c.progress = 0;
      continue;
    } else if (!has_next) {
      fprintf(stderr, "wsk ssl: unknown or incomplete argument '%s'\n\n", a);
      wsk_cmd_ssl_usage(stderr);
      return 2;
    }
    if (strcmp(a, "--zoo") == 0) {
      c.zoo_dir = v;
    } else if (strcmp(a, "--out") == 0) {
      c.out_dir = v;
      ok = *v != 0;
    } else if (strcmp(a, "--epochs") == 0) {
      ok = parse_long(v, 1, 100000, &x);
      c.epochs = (int)x;
    } else if (strcmp(a, "--batch") == 0) {
      ok = parse_long(v, 1, 4096, &x);
      c.batch = (int)x;
    } else if (strcmp(a, "--dim") == 0) {
      ok = parse_long(v, 1, 4096, &dim);
    } else if (strcmp(a, "--heads") == 0) {
      ok = parse_long(v, 1, 4096, &x);
      c.arch.heads = x;
    } else if (strcmp(a, "--layers") == 0) {
      ok = parse_long(v, 1, 16, &x);
      c.arch.enc_layers = c.arch.dec_layers = x;
    } else if (strcmp(a, "--latent") == 0) {
      ok = parse_long(v, 1, 4096, &x);
      c.arch.latent = x;
    } else if (strcmp(a, "--lr") == 0) {
      ok = parse_float(v, &c.lr) && c.lr > 0.0f;
    } else if (strcmp(a, "--gamma") == 0) {
      ok = parse_float(v, &c.gamma) && c.gamma >= 0.0f && c.gamma <= 1.0f;
    } else if (strcmp(a, "--seed") == 0) {
      ok = wsk_arg_u64(v, &c.seed);
    } else if (strcmp(a, "--split-seed") == 0) {
      ok = wsk_arg_u64(v, &c.split_seed);
    } else if (strcmp(a, "--steps") == 0) {
      ok = parse_long(v, 1, 100000, &steps);
    } else if (strcmp(a, "--arch") == 0) {
      arch_name = v;
    } else if (strcmp(a, "--dump") == 0) {
      dump = v;
    } else {
      fprintf(stderr, "wsk ssl: unknown argument '%s'\n\n", a);
      wsk_cmd_ssl_usage(stderr);
      return 2;
    }
    if (!ok) {
      fprintf(stderr, "wsk ssl: invalid value '%s' for %s (see wsk ssl --help)\n", v, a);
      return 2;
    }
    i++;
  }
  if (dim > 0) {
    c.arch.dim = dim;
    c.arch.ffn = 4 * dim;
  }
  c.arch.proj_hidden = c.arch.dim;
  c.arch.proj_out = c.arch.latent;
  if (c.arch.dim % c.arch.heads != 0) {
    fprintf(stderr, "wsk ssl: --heads %" PRId64 " does not divide d_model %" PRId64 "\n",
            c.arch.heads, c.arch.dim);
    return 2;
  }

  if (bench) {
    wsk_arch na;
    if (wsk_arch_parse(arch_name, &na) != WSK_OK) {
      fprintf(stderr, "wsk ssl: --arch: %s\n", wsk_last_error());
      return 2;
    }
    double ms = 0, loss = 0;
    if (wsk_ssl_bench_step(&c.arch, na, c.gamma, c.tau, c.batch, 2, (int)steps, dump, &ms, &loss) !=
        WSK_OK) {
      fprintf(stderr, "wsk ssl: %s\n", wsk_last_error());
      return 1;
    }
    printf("wsk ssl training step: %s, d_model %" PRId64 ", %" PRId64 " heads, %" PRId64 "+%" PRId64
           " blocks, FFN %" PRId64 ", latent %" PRId64
           ", %d models (%d views), "
           "%d thread(s)\n",
           arch_name, c.arch.dim, c.arch.heads, c.arch.enc_layers, c.arch.dec_layers, c.arch.ffn,
           c.arch.latent, c.batch, 2 * c.batch, wsk_threads_count());
    printf("step_ms=%.3f loss=%.6f\n", ms, loss);
    return fflush(stdout) == 0 ? 0 : 1;
  }

  if (!c.zoo_dir || !*c.zoo_dir) {
    fprintf(stderr, "wsk ssl: --zoo DIR is required\n\n");
    wsk_cmd_ssl_usage(stderr);
    return 2;
  }
  wsk_ssl_result r;
  if (wsk_ssl_run(&c, &r) != WSK_OK) {
    fprintf(stderr, "wsk ssl: %s\n", wsk_last_error());
    return 1;
  }
  const char *out = c.out_dir ? c.out_dir : c.zoo_dir;
  printf(
      "SSL hyper-representation of %s: %zu rows (%zu models); trained on %zu rows, "
      "validated on %zu\n",
      c.zoo_dir, r.rows, r.models, r.train_rows, r.val_rows);
  printf("model: %zu parameters, d_model %" PRId64 ", %" PRId64 " heads, %" PRId64 "+%" PRId64
         " blocks, latent %d; gamma %g, tau %g\n",
         r.n_params, c.arch.dim, c.arch.heads, c.arch.enc_layers, c.arch.dec_layers, r.latent,
         (double)c.gamma, (double)c.tau);
  if (r.epochs_resumed > 0) printf("resumed after epoch %d of %d\n", r.epochs_resumed, c.epochs);
  if (r.epochs_done > 0) {
    const wsk_ssl_epoch_stats *h = &r.history[r.epochs_done - 1];
    printf(
        "epoch %d: train loss %.5f, val loss %.5f (contrastive %.5f, reconstruction %.5f), "
        "lr %g\n",
        h->epoch, (double)h->train_loss, (double)h->val_loss, (double)h->val_contrast,
        (double)h->val_recon, (double)h->lr);
  }
  if (r.step_ms > 0)
    printf("training: %.1f s, %.2f ms per step, %d thread(s)\n", r.seconds, r.step_ms,
           wsk_threads_count());
  if (r.skipped_steps) printf("%ld steps skipped (non-finite loss)\n", r.skipped_steps);
  printf("digest: parameters %016" PRIx64 ", embeddings %016" PRIx64 "\n", r.param_digest,
         r.embedding_digest);
  printf("wrote %s/{ssl.safetensors, embeddings.safetensors, ssl_loss.csv}\n", out);
  wsk_ssl_result_free(&r);
  return fflush(stdout) == 0 ? 0 : 1;
}
