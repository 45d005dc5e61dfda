/* model/unf.h — universal neural functionals (Zhou, Finn, Harrison 2024):
 * weight-space specs, the automatic basis of permutation-equivariant linear
 * maps between them, and the UNF layer built from that basis.
 *
 * A WEIGHT-SPACE SPEC is a list of tensors, each with a shape and one
 * permutation id per axis; axes that carry the same id are permuted together
 * (they must have the same size). A space with C channels stores every
 * tensor channels-last, x[i_0]...[i_{r-1}][c], the tensors one after another
 * in spec order (tensor t at offset t.offset * C floats). With C = 1 the
 * layout of a built-in spec is exactly the parameter array of model/net.h.
 *
 * JSON form (parsed with cJSON):
 *   { "name": "rnn",
 *     "tensors": [ { "name": "w_hh", "shape": [32, 32], "perm": ["h", "h"] },
 *                  { "name": "b_h",  "shape": [32],     "perm": ["h"] }, ... ] }
 * An id is a string or a non-negative integer (integers are names too: 3 and
 * "3" are the same id). Errors name the tensor and the axis at fault.
 *
 * THE BASIS (§3 of the paper). For every pair (output tensor o, input tensor
 * t), the axes of o followed by the axes of t are partitioned into blocks,
 * every block holding axes of one id only; every such partition is one term:
 *   - a block of input axes only is averaged over (mean),
 *   - a block with two or more input axes reads their diagonal,
 *   - a block of output axes only is broadcast along,
 *   - a block with two or more output axes writes onto their diagonal
 *     (off-diagonal elements get nothing from the term),
 *   - a block with input and output axes carries the index across.
 * Order: output tensors in spec order; for each, input tensors in spec order;
 * for each, the partitions in odometer order over the ids in order of first
 * appearance among the combined axes (the last id varying fastest), each
 * id's set partitions as restricted-growth strings in lexicographic order
 * (so the first term of a pair puts all axes of each id in one block).
 * Term notation (wsk_unf_term_string), einsum-like, one letter per block in
 * order of first appearance over the output axes then the input axes:
 *   "w2[ab] <- w1[bc]"     mean over c, index b carried, broadcast along a
 *   "w_hh[aa] <- b_h[a]"   b_h written onto the diagonal of w_hh
 * A term's output structure is its partition restricted to the output axes
 * plus, per block, whether an input axis feeds it. Terms of one output tensor
 * with the same output structure form a FUSION GROUP: their reduced inputs are
 * laid side by side and multiplied by one stacked matrix, and the sum is
 * broadcast once.
 *
 * THE LAYER maps a space of C_in channels to one of C_out channels:
 *   y_o = bias_o + sum over terms T of o:  broadcast_T( reduce_T(x_t) theta_T )
 * with theta_T a C_in x C_out matrix. Parameters, per output tensor o in spec
 * order: for each fusion group in order, its theta_T stacked in term order
 * (rows term-major, [n_terms * C_in][C_out] row-major), then bias_o [C_out].
 * Initialization (the paper's code): theta ~ N(0, 1 / (C_in * terms of o)),
 * bias 0.
 *
 * Order of operations (the same bits on every ISA tier and thread count):
 * reductions are wsk_permsum means (canonical order) — a term's reduced
 * input is computed once per call however many terms use it, and a mean
 * over axes S u T is taken as the mean over T of the (also needed) mean over
 * S where the plan has one (the largest such S); products are wsk_gemm
 * (fixed per-element chains; with C_out = 1 run as the transposed product,
 * the same chains); y_o starts at bias_o and adds each fusion group's
 * broadcast result in group order (one addition per group and element). The
 * backward is the adjoint of the exact linear map, its sums in one fixed
 * order. A spec that is an MLP (tensors
 * W_1, b_1, ..., W_L, b_L with W_i ids (h_i, h_{i-1}) and b_i id (h_i), all
 * h distinct) runs on wsk_eqpool's fused path instead: the same terms and the
 * same function, within rounding (tests/test_unf_layer.c bounds the
 * difference), with parameters mapped from this layout.
 */
#ifndef WSK_MODEL_UNF_H
#define WSK_MODEL_UNF_H

#include <stddef.h>
#include <stdint.h>

#include "model/io.h"
#include "model/rng.h"
#include "wsk/status.h"

#ifdef __cplusplus
extern "C" {
#endif

#define WSK_UNF_MAX_RANK 4 /* axes per tensor (wsk_permsum's limit) */
#define WSK_UNF_MAX_TENSORS 32
#define WSK_UNF_MAX_IDS 64
#define WSK_UNF_NAME 48 /* bytes of a name, NUL included */

typedef struct wsk_unf_tensor {
  char name[WSK_UNF_NAME];
  int rank;                        /* 1..WSK_UNF_MAX_RANK */
  int64_t shape[WSK_UNF_MAX_RANK]; /* each >= 1 */
  int ids[WSK_UNF_MAX_RANK];       /* index into wsk_unf_spec.id_name */
  size_t offset, numel;            /* in elements of one channel */
} wsk_unf_tensor;

typedef struct wsk_unf_spec {
  char name[WSK_UNF_NAME];
  int n_tensors;
  wsk_unf_tensor t[WSK_UNF_MAX_TENSORS];
  int n_ids;
  char id_name[WSK_UNF_MAX_IDS][WSK_UNF_NAME];
  int64_t id_size[WSK_UNF_MAX_IDS];
  size_t numel; /* elements of one channel, all tensors */
} wsk_unf_spec;

/* Building a spec in C: start empty, add tensors (ids by name), finish. */
void wsk_unf_spec_init(wsk_unf_spec *s, const char *name);
wsk_status wsk_unf_spec_add(wsk_unf_spec *s, const char *name, int rank, const int64_t *shape,
                            const char *const *ids);
/* Validates (at least one tensor; ranks, sizes; every id one size) and sets
 * offsets and numel. */
wsk_status wsk_unf_spec_finish(wsk_unf_spec *s);

/* Built-ins, by name:
 *   "mlp"         the zoo's MLP 64-32-10 (model/net.h), all neuron axes
 *                 permutable (ids in, h1, out)
 *   "cnn"         the zoo's CNN (2,464 parameters): channel axes share ids
 *                 layer to layer, each kernel's spatial axes their own ids,
 *                 the flattened Linear(36, 20) as [20][4][9] (ids f, c3, s)
 *   "cnn16"       the learned-optimizer CNN task (model/unf_task.h)
 *   "rnn"         an Elman RNN, input 8, hidden 32, output 10: w_ih [32][8],
 *                 w_hh [32][32] (both axes one id), b_h, w_o [10][32], b_o
 *   "transformer" two pre-norm blocks, width 16, FFN 32, input 8, output 10
 * wsk_unf_spec_load takes a built-in name or a path to a JSON file. */
wsk_status wsk_unf_spec_builtin(const char *name, wsk_unf_spec *out);
const char *const *wsk_unf_spec_builtin_names(void); /* NULL-terminated */
wsk_status wsk_unf_spec_parse_json(const char *text, size_t n, const char *source,
                                   wsk_unf_spec *out);
wsk_status wsk_unf_spec_load(const char *name_or_path, wsk_unf_spec *out);
wsk_status wsk_unf_spec_to_json(const wsk_unf_spec *s, wsk_strbuf *out);

/* Is the spec an MLP in the sense above (eqpool's fast path)? On yes, fills
 * n[0..layers] with the neuron counts. */
int wsk_unf_spec_is_mlp(const wsk_unf_spec *s, int *layers, int64_t *n);

#define WSK_UNF_MAX_AXES (2 * WSK_UNF_MAX_RANK)

typedef struct wsk_unf_term {
  int out, in; /* tensor indices */
  int n_blocks;
  int block[WSK_UNF_MAX_AXES]; /* block of output axis a (a < rank_o), then of
                                  input axis a (at rank_o + a) */
  int group;                   /* fusion group (index into basis.groups) */
} wsk_unf_term;

typedef struct wsk_unf_group {
  int out;                         /* output tensor */
  int first_term, n_terms;         /* terms [first_term, first_term + n_terms) */
  int out_block[WSK_UNF_MAX_RANK]; /* block of each output axis, renumbered 0.. */
  int n_out_blocks;
  unsigned fed; /* bit b: output block b is fed by an input axis */
} wsk_unf_group;

typedef struct wsk_unf_basis {
  wsk_unf_spec spec;
  int n_terms, n_groups;
  wsk_unf_term *terms; /* sorted by group: a group's terms are adjacent,
                          groups of one output tensor adjacent */
  wsk_unf_group *groups;
  int first_group[WSK_UNF_MAX_TENSORS + 1]; /* output tensor o: groups
                                     [first_group[o], first_group[o + 1]) */
  int terms_of[WSK_UNF_MAX_TENSORS];        /* terms per output tensor */
} wsk_unf_basis;

wsk_status wsk_unf_basis_build(const wsk_unf_spec *s, wsk_unf_basis *out);
/* Number of terms of the pair (output tensor out, input tensor in) without
 * enumerating them: the product over the pair's ids of the Bell number of the
 * id's axes (e.g. 15 for a [h][h] tensor from itself). */
wsk_status wsk_unf_pair_term_count(const wsk_unf_spec *s, int out, int in, size_t *count);
void wsk_unf_basis_free(wsk_unf_basis *b);
/* The einsum-like notation of term i (see above). */
wsk_status wsk_unf_term_string(const wsk_unf_basis *b, int i, wsk_strbuf *out);

/* A layer: C_in -> C_out channels over one basis (which it borrows). */
typedef struct wsk_unf_layer {
  const wsk_unf_basis *basis;
  int64_t c_in, c_out;
  size_t n_params;
  int fast; /* 1: runs on wsk_eqpool (an MLP spec) */
} wsk_unf_layer;

/* generic != 0 forbids the eqpool fast path (tests compare the two). */
wsk_status wsk_unf_layer_make(const wsk_unf_basis *b, int64_t c_in, int64_t c_out, int generic,
                              wsk_unf_layer *out);
/* Offset of output tensor o's first theta row and of its bias, in floats. */
wsk_status wsk_unf_layer_param_offset(const wsk_unf_layer *l, int out_tensor, size_t *theta,
                                      size_t *bias);
wsk_status wsk_unf_layer_init(const wsk_unf_layer *l, wsk_rng *rng, float *params);

/* Scratch of one caller (one per thread that runs layers of this shape). */
typedef struct wsk_unf_ws wsk_unf_ws;
wsk_status wsk_unf_ws_create(const wsk_unf_layer *l, wsk_unf_ws **out);
void wsk_unf_ws_free(wsk_unf_ws *ws);

/* y (C_out space, spec.numel * C_out floats) = layer(x (C_in space)). */
wsk_status wsk_unf_layer_forward(const wsk_unf_layer *l, const float *params, const float *x,
                                 float *y, wsk_unf_ws *ws);
/* Gradients for the upstream dy: dx (may be NULL) and dparams (may be NULL),
 * both overwritten. */
wsk_status wsk_unf_layer_backward(const wsk_unf_layer *l, const float *params, const float *x,
                                  const float *dy, float *dx, float *dparams, wsk_unf_ws *ws);

/* Invariant pool: y[n_tensors][C] = the mean of every tensor over all its
 * axes (wsk_permsum order). */
wsk_status wsk_unf_invariant_pool(const wsk_unf_spec *s, int64_t channels, const float *x,
                                  float *y);
/* Its backward: dx[...][c] = dy[t][c] / numel(t), overwritten. */
wsk_status wsk_unf_invariant_pool_backward(const wsk_unf_spec *s, int64_t channels, const float *dy,
                                           float *dx);

/* Applies one permutation per id to a space of C channels: y = x with every
 * axis of id k reindexed y[..., i, ...] = x[..., perm[k][i], ...]. perm[k]
 * has id_size[k] entries. For equivariance tests and augmentation. */
wsk_status wsk_unf_permute(const wsk_unf_spec *s, int64_t channels, const int64_t *const *perm,
                           const float *x, float *y);

#ifdef __cplusplus
}
#endif
#endif /* WSK_MODEL_UNF_H */
