/* model/unf_basis.c — the basis of permutation-equivariant linear maps
 * between weight spaces (Zhou, Finn, Harrison 2024, §3, "valid partitions"):
 * for every (output tensor, input tensor) pair, every partition of their
 * combined axes into blocks of one id each is one basis term. Terms of one
 * output tensor that broadcast the same way form fusion groups. Order and
 * notation as model/unf.h says. */
#include <stdlib.h>
#include <string.h>

#include "dispatch/error.h"
#include "model/unf.h"

/* Axes of the pair (o, t): the output axes then the input axes. */
typedef struct pair_axes {
  int n;                                      /* rank_o + rank_t */
  int id[WSK_UNF_MAX_AXES];                   /* id of each axis */
  int n_u;                                    /* distinct ids, in order of first appearance */
  int m[WSK_UNF_MAX_AXES];                    /* axes of each distinct id */
  int ax[WSK_UNF_MAX_AXES][WSK_UNF_MAX_AXES]; /* those axes, ascending */
} pair_axes;

static void pair_make(const wsk_unf_spec *s, int o, int t, pair_axes *p) {
  const wsk_unf_tensor *to = &s->t[o], *ti = &s->t[t];
  p->n = to->rank + ti->rank;
  for (int a = 0; a < to->rank; a++) p->id[a] = to->ids[a];
  for (int a = 0; a < ti->rank; a++) p->id[to->rank + a] = ti->ids[a];
  p->n_u = 0;
  int uid[WSK_UNF_MAX_AXES];
  for (int a = 0; a < p->n; a++) {
    int u = 0;
    while (u < p->n_u && uid[u] != p->id[a]) u++;
    if (u == p->n_u) uid[p->n_u] = p->id[a], p->m[p->n_u++] = 0;
    p->ax[u][p->m[u]++] = a;
  }
}

/* Bell numbers B(0..8): the set partitions of up to 8 axes. */
static const int64_t bell[WSK_UNF_MAX_AXES + 1] = {1, 1, 2, 5, 15, 52, 203, 877, 4140};

wsk_status wsk_unf_pair_term_count(const wsk_unf_spec *s, int out, int in, size_t *count) {
  if (!s || !count)
    return wsk__fail(WSK_ERR_NULL, "wsk_unf_pair_term_count: %s is NULL", !s ? "s" : "count");
  if (out < 0 || out >= s->n_tensors || in < 0 || in >= s->n_tensors)
    return wsk__fail(WSK_ERR_ARG, "wsk_unf_pair_term_count: tensors (%d, %d) of %d", out, in,
                     s->n_tensors);
  pair_axes p;
  pair_make(s, out, in, &p);
  size_t c = 1;
  for (int u = 0; u < p.n_u; u++) c *= (size_t)bell[p.m[u]];
  *count = c;
  return WSK_OK;
}

/* Next restricted-growth string of length m in lexicographic order (a[0] = 0,
 * a[i] <= 1 + max(a[0..i-1])); 0 after the last one (which it resets to all
 * zeros, the first). */
static int rgs_next(int *a, int m) {
  for (int i = m - 1; i >= 1; i--) {
    int mx = 0;
    for (int j = 0; j < i; j++) mx = a[j] > mx ? a[j] : mx;
    if (a[i] <= mx) {
      a[i]++;
      for (int j = i + 1; j < m; j++) a[j] = 0;
      return 1;
    }
  }
  for (int j = 0; j < m; j++) a[j] = 0;
  return 0;
}

/* Appends the terms of pair (o, t) to terms[*n], in odometer order over the
 * ids (the last fastest), each id's partitions in RGS order. */
static void pair_terms(const wsk_unf_spec *s, int o, int t, wsk_unf_term *terms, int *n) {
  pair_axes p;
  pair_make(s, o, t, &p);
  int rgs[WSK_UNF_MAX_AXES][WSK_UNF_MAX_AXES];
  memset(rgs, 0, sizeof rgs);
  for (;;) {
    /* label of axis a: (id u, its local block), then renumbered by first
     * appearance over the combined axes */
    int lab[WSK_UNF_MAX_AXES];
    for (int u = 0; u < p.n_u; u++)
      for (int j = 0; j < p.m[u]; j++) lab[p.ax[u][j]] = u * WSK_UNF_MAX_AXES + rgs[u][j];
    wsk_unf_term *tm = &terms[(*n)++];
    memset(tm, 0, sizeof *tm);
    tm->out = o, tm->in = t, tm->group = -1;
    int seen[WSK_UNF_MAX_AXES], ns = 0;
    for (int a = 0; a < p.n; a++) {
      int b = 0;
      while (b < ns && seen[b] != lab[a]) b++;
      if (b == ns) seen[ns++] = lab[a];
      tm->block[a] = b;
    }
    tm->n_blocks = ns;
    int u = p.n_u - 1;
    while (u >= 0 && !rgs_next(rgs[u], p.m[u])) u--;
    if (u < 0) break;
  }
}

/* Output structure of term tm: out blocks (they are blocks 0..k-1, numbered
 * over the output axes first) and the fed mask. */
static void out_structure(const wsk_unf_spec *s, const wsk_unf_term *tm, int *nb, unsigned *fed) {
  const int ro = s->t[tm->out].rank, ri = s->t[tm->in].rank;
  int k = 0;
  for (int a = 0; a < ro; a++) k = tm->block[a] + 1 > k ? tm->block[a] + 1 : k;
  unsigned f = 0;
  for (int a = 0; a < ri; a++)
    if (tm->block[ro + a] < k) f |= 1u << tm->block[ro + a];
  *nb = k;
  *fed = f;
}

static int same_structure(const wsk_unf_spec *s, const wsk_unf_term *x, const wsk_unf_term *y) {
  int nx, ny;
  unsigned fx, fy;
  out_structure(s, x, &nx, &fx);
  out_structure(s, y, &ny, &fy);
  if (nx != ny || fx != fy) return 0;
  for (int a = 0; a < s->t[x->out].rank; a++)
    if (x->block[a] != y->block[a]) return 0;
  return 1;
}

void wsk_unf_basis_free(wsk_unf_basis *b) {
  if (!b) return;
  free(b->terms);
  free(b->groups);
  b->terms = NULL;
  b->groups = NULL;
  b->n_terms = b->n_groups = 0;
}

wsk_status wsk_unf_basis_build(const wsk_unf_spec *s, wsk_unf_basis *out) {
  if (!s || !out)
    return wsk__fail(WSK_ERR_NULL, "wsk_unf_basis_build: %s is NULL", !s ? "s" : "out");
  memset(out, 0, sizeof *out);
  out->spec = *s;
  WSK_TRY(wsk_unf_spec_finish(&out->spec));
  const wsk_unf_spec *sp = &out->spec;
  size_t total = 0, most = 0;
  for (int o = 0; o < sp->n_tensors; o++) {
    size_t per = 0;
    for (int t = 0; t < sp->n_tensors; t++) {
      size_t c;
      WSK_TRY(wsk_unf_pair_term_count(sp, o, t, &c));
      per += c;
    }
    if (per > (size_t)INT32_MAX / 4)
      return wsk__fail(WSK_ERR_OVERFLOW, "spec \"%s\": tensor \"%s\" has %zu basis terms", sp->name,
                       sp->t[o].name, per);
    total += per;
    most = per > most ? per : most;
  }
  if (total > (size_t)INT32_MAX / 4)
    return wsk__fail(WSK_ERR_OVERFLOW, "spec \"%s\": %zu basis terms", sp->name, total);
  out->terms = malloc(total * sizeof *out->terms);
  out->groups = malloc(total * sizeof *out->groups);
  wsk_unf_term *list = malloc(most * sizeof *list);
  int *gof = malloc(most * sizeof *gof);
  if (!out->terms || !out->groups || !list || !gof) {
    free(list);
    free(gof);
    wsk_unf_basis_free(out);
    return wsk__fail(WSK_ERR_NOMEM, "wsk_unf_basis_build: out of memory (%zu terms)", total);
  }
  int nt = 0, ng = 0;
  for (int o = 0; o < sp->n_tensors; o++) {
    /* the term list of o, then its groups by first appearance */
    int n = 0;
    for (int t = 0; t < sp->n_tensors; t++) pair_terms(sp, o, t, list, &n);
    out->first_group[o] = ng;
    out->terms_of[o] = n;
    const int g0 = ng;
    for (int i = 0; i < n; i++) {
      int g = g0;
      while (g < ng && !same_structure(sp, &list[i], &list[out->groups[g].first_term])) g++;
      if (g == ng) {
        wsk_unf_group *G = &out->groups[ng++];
        memset(G, 0, sizeof *G);
        G->out = o;
        G->first_term = i; /* provisional: the term-list index of its first term */
        out_structure(sp, &list[i], &G->n_out_blocks, &G->fed);
        for (int a = 0; a < sp->t[o].rank; a++) G->out_block[a] = list[i].block[a];
      }
      gof[i] = g;
    }
    /* group-major order */
    int at = nt;
    for (int g = g0; g < ng; g++) {
      out->groups[g].first_term = at;
      out->groups[g].n_terms = 0;
      for (int i = 0; i < n; i++) {
        if (gof[i] != g) continue;
        out->terms[at] = list[i];
        out->terms[at].group = g;
        at++;
        out->groups[g].n_terms++;
      }
    }
    nt = at;
  }
  out->first_group[sp->n_tensors] = ng;
  out->n_terms = nt;
  out->n_groups = ng;
  free(list);
  free(gof);
  return WSK_OK;
}

wsk_status wsk_unf_term_string(const wsk_unf_basis *b, int i, wsk_strbuf *out) {
  if (!b || !out)
    return wsk__fail(WSK_ERR_NULL, "wsk_unf_term_string: %s is NULL", !b ? "b" : "out");
  if (!b->terms || i < 0 || i >= b->n_terms)
    return wsk__fail(WSK_ERR_ARG, "wsk_unf_term_string: term %d of %d", i, b->n_terms);
  const wsk_unf_term *tm = &b->terms[i];
  const wsk_unf_tensor *to = &b->spec.t[tm->out], *ti = &b->spec.t[tm->in];
  char lo[WSK_UNF_MAX_RANK + 1], li[WSK_UNF_MAX_RANK + 1];
  for (int a = 0; a < to->rank; a++) lo[a] = (char)('a' + tm->block[a]);
  lo[to->rank] = 0;
  for (int a = 0; a < ti->rank; a++) li[a] = (char)('a' + tm->block[to->rank + a]);
  li[ti->rank] = 0;
  return wsk_strbuf_printf(out, "%s[%s] <- %s[%s]", to->name, lo, ti->name, li);
}
