/* tests/test_eltwise.c — the eltwise family on every implementation of
 * kernels/eltwise/eltwise.inc.
 *
 * - scalar against a double-precision oracle (libm in double, the test only),
 *   u = 2^-24, tolerances per op (|got - ref| <= tol):
 *     relu, relu backward:  exact
 *     tanh:     3u|ref|            (SLEEF 1 ulp)
 *     sigmoid:  5u|ref|            (exp 1 ulp, one add, one division)
 *     gelu:     (16 + 3t^2)u|ref|, t = x/sqrt2 (erfc 1.5 ulp, and the rounding
 *               of t amplified by erfc's condition number 2t^2 + 1, with margin)
 *     tanh bw:  3u|ref|; sigmoid bw: 4u|ref| (from the float y)
 *     gelu bw:  |dy|((16 + 3t^2)u A + (x^2 + 8)u B) + 2u|ref|, A = Phi(x),
 *               B = |x| phi(x) (the two terms may cancel: absolute bound)
 *     softmax:  (2 R + 10 + m)u ref, R = max|x - max x|, m = ceil(n/64) + 7
 *               (exp argument and result, the sum, the division)
 *     softmax bw: |y_i| (gamma_m sum|dy y| + u|dy_i - D|) + 2u|ref|
 *     layernorm, backward, dgamma, dbeta: 8(m + 8)u times the magnitude of
 *               the terms (see check_layernorm); m as for softmax
 *   plus 1e-37 absolute for results near underflow.
 * - every SIMD tier against scalar, bit for bit (memcmp), every n 1..200 and
 *   a few large ones, several rows, unaligned pointers, NaN/+-Inf/-0 inputs,
 *   in place (y == x, dx == dy);
 * - finite differences of every backward against its forward;
 * - bad input: every documented error; a cross-machine digest.
 */
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"
#include "wsk/eltwise.h"

/* recorded on x86-64; see test_digest */
#define ELTWISE_DIGEST 0x6c38a940d1999015ull

#define WSK_IMPL(family, suffix, isa) {#suffix, isa, &wsk_##family##_ukernels__##suffix},
static const tu_impl ew_impls[] = {
#include "kernels/eltwise/eltwise.inc"
};
#undef WSK_IMPL
static const size_t ew_impl_count = sizeof ew_impls / sizeof ew_impls[0];

enum {
  OP_RELU,
  OP_GELU,
  OP_TANH,
  OP_SIGMOID,
  OP_RELU_BW,
  OP_GELU_BW,
  OP_TANH_BW,
  OP_SIGMOID_BW,
  OP_SOFTMAX,
  OP_SOFTMAX_BW,
  OP_LN,
  OP_LN_BW,
  OP_COUNT
};
static const char *const op_name[OP_COUNT] = {
    "relu",         "gelu",    "tanh",       "sigmoid",   "relu_backward", "gelu_backward",
    "tanh_backward", "sigmoid_backward", "softmax", "softmax_backward", "layernorm",
    "layernorm_backward"};

static long g_cases;

/* the inputs and outputs of one call: in[0..4], out[0..2] */
typedef struct call {
  size_t rows, n;
  const float *in[5];
  float *out[3];
} call;

/* output sizes of an op */
static size_t out_size(int op, size_t rows, size_t n, int k) {
  if (k == 0) return rows * n;
  if (op == OP_LN) return rows;
  if (op == OP_LN_BW) return n;
  return 0;
}

static void run(const wsk_eltwise_ukernels *k, int op, const call *c) {
  const size_t len = c->rows * c->n;
  switch (op) {
    case OP_RELU: k->relu(len, c->in[0], c->out[0]); break;
    case OP_GELU: k->gelu(len, c->in[0], c->out[0]); break;
    case OP_TANH: k->tanh(len, c->in[0], c->out[0]); break;
    case OP_SIGMOID: k->sigmoid(len, c->in[0], c->out[0]); break;
    case OP_RELU_BW: k->relu_backward(len, c->in[0], c->in[1], c->out[0]); break;
    case OP_GELU_BW: k->gelu_backward(len, c->in[0], c->in[1], c->out[0]); break;
    case OP_TANH_BW: k->tanh_backward(len, c->in[0], c->in[1], c->out[0]); break;
    case OP_SIGMOID_BW: k->sigmoid_backward(len, c->in[0], c->in[1], c->out[0]); break;
    case OP_SOFTMAX: k->softmax(c->rows, c->n, c->in[0], c->out[0]); break;
    case OP_SOFTMAX_BW: k->softmax_backward(c->rows, c->n, c->in[0], c->in[1], c->out[0]); break;
    case OP_LN:
      k->layernorm(c->rows, c->n, 1e-5f, c->in[0], c->in[1], c->in[2], c->out[0], c->out[1],
                   c->out[2]);
      break;
    case OP_LN_BW:
      k->layernorm_backward(c->rows, c->n, c->in[0], c->in[1], c->in[2], c->in[3], c->in[4],
                            c->out[0], c->out[1], c->out[2]);
      break;
  }
}

/* the public entry point of an op */
static wsk_status run_api(int op, const call *c) {
  const int64_t len = (int64_t)(c->rows * c->n), r = (int64_t)c->rows, n = (int64_t)c->n;
  switch (op) {
    case OP_RELU: return wsk_relu(c->in[0], len, c->out[0]);
    case OP_GELU: return wsk_gelu(c->in[0], len, c->out[0]);
    case OP_TANH: return wsk_tanh(c->in[0], len, c->out[0]);
    case OP_SIGMOID: return wsk_sigmoid(c->in[0], len, c->out[0]);
    case OP_RELU_BW: return wsk_relu_backward(c->in[0], c->in[1], len, c->out[0]);
    case OP_GELU_BW: return wsk_gelu_backward(c->in[0], c->in[1], len, c->out[0]);
    case OP_TANH_BW: return wsk_tanh_backward(c->in[0], c->in[1], len, c->out[0]);
    case OP_SIGMOID_BW: return wsk_sigmoid_backward(c->in[0], c->in[1], len, c->out[0]);
    case OP_SOFTMAX: return wsk_softmax(c->in[0], r, n, c->out[0]);
    case OP_SOFTMAX_BW: return wsk_softmax_backward(c->in[0], c->in[1], r, n, c->out[0]);
    case OP_LN:
      return wsk_layernorm(c->in[0], r, n, c->in[1], c->in[2], 1e-5f, c->out[0], c->out[1],
                           c->out[2]);
    default:
      return wsk_layernorm_backward(c->in[0], c->in[1], r, n, c->in[2], c->in[3], c->in[4],
                                    c->out[0], c->out[1], c->out[2]);
  }
}

/* Bit-identical, except that a NaN matches any NaN: when an operation meets
 * two NaNs (say a NaN input and the NaN that Inf * 0 makes), the hardware
 * returns one of them by operand position, and compilers commute the
 * operands of + and *; so NaN sign and payload are outside the contract
 * (wsk/eltwise.h). Every non-NaN result must match bit for bit. */
static void assert_bits_nan(const float *a, const float *b, size_t n, const char *what) {
  for (size_t i = 0; i < n; i++) {
    if (isnan(a[i]) && isnan(b[i])) continue;
    if (memcmp(a + i, b + i, sizeof(float)) != 0) {
      tu_assert_bits(a + i, b + i, 1, what);
      print_error("(at element %zu)\n", i);
      fail();
    }
  }
}

/* ---- the inputs of a case ---- */

typedef struct data {
  tu_buf b[5];
  float *in[5];
  size_t size[5];
} data;

static const float special_vals[] = {NAN, INFINITY, -INFINITY, -0.0f, 0.0f, 1e30f, -1e30f,
                                     1e-40f, 100.0f, -100.0f};

static void sprinkle(tu_rng *rng, float *x, size_t n) {
  const size_t k = tu_int(rng, 1, 3);
  for (size_t i = 0; i < k; i++)
    x[tu_int(rng, 0, n - 1)] =
        special_vals[tu_int(rng, 0, sizeof special_vals / sizeof special_vals[0] - 1)];
}

/* Inputs of op: in[0] the main tensor (x, or y for tanh/sigmoid/softmax
 * backwards), in[1] dy (or gamma for layernorm), ... special: NaN/Inf etc. */
static void make_data(tu_rng *rng, int op, size_t rows, size_t n, int special, data *d) {
  const size_t len = rows * n;
  memset(d, 0, sizeof *d);
  size_t sizes[5] = {len, 0, 0, 0, 0};
  if (op >= OP_RELU_BW && op <= OP_SIGMOID_BW) sizes[1] = len;
  if (op == OP_SOFTMAX_BW) sizes[1] = len;
  if (op == OP_LN) sizes[1] = sizes[2] = n;
  if (op == OP_LN_BW) {
    sizes[1] = len;
    sizes[2] = n;
    sizes[3] = sizes[4] = rows;
  }
  for (int i = 0; i < 5; i++) {
    d->size[i] = sizes[i];
    if (!sizes[i]) continue;
    d->in[i] = tu_alloc(&d->b[i], sizes[i], tu_int(rng, 0, 3));
    assert_non_null(d->in[i]);
  }
  float *x = d->in[0];
  switch (op) {
    case OP_GELU:
    case OP_GELU_BW: tu_fill(rng, x, len, -6.0f, 6.0f); break;
    case OP_TANH:
    case OP_SIGMOID:
    case OP_RELU:
    case OP_RELU_BW: tu_fill(rng, x, len, -8.0f, 8.0f); break;
    case OP_TANH_BW: tu_fill(rng, x, len, -1.0f, 1.0f); break;
    case OP_SIGMOID_BW: tu_fill(rng, x, len, 0.0f, 1.0f); break;
    case OP_SOFTMAX: tu_fill(rng, x, len, -8.0f, 8.0f); break;
    case OP_SOFTMAX_BW: {
      /* a real softmax output */
      tu_fill(rng, x, len, -3.0f, 3.0f);
      wsk_eltwise_ukernels__scalar.softmax(rows, n, x, x);
      break;
    }
    default: { /* layer norm: rows with an offset, to exercise the two passes */
      for (size_t r = 0; r < rows; r++) {
        const float off = tu_uniform(rng, -4.0f, 4.0f);
        tu_fill(rng, x + r * n, n, off - 1.0f, off + 1.0f);
      }
    }
  }
  if (special) sprinkle(rng, x, len);
  if (op == OP_LN) {
    tu_fill(rng, d->in[1], n, 0.5f, 1.5f);
    tu_fill(rng, d->in[2], n, -0.5f, 0.5f);
  } else if (op == OP_LN_BW) {
    tu_fill(rng, d->in[1], len, -1.0f, 1.0f);
    tu_fill(rng, d->in[2], n, 0.5f, 1.5f);
    /* mean and rstd of a real forward */
    tu_buf bb, by;
    float *beta = tu_alloc(&bb, n, 0), *y = tu_alloc(&by, len, 0);
    memset(beta, 0, n * sizeof(float));
    wsk_eltwise_ukernels__scalar.layernorm(rows, n, 1e-5f, x, d->in[2], beta, y, d->in[3],
                                           d->in[4]);
    tu_free(&bb);
    tu_free(&by);
    if (special) sprinkle(rng, d->in[1], len);
  } else if (sizes[1]) {
    tu_fill(rng, d->in[1], sizes[1], -2.0f, 2.0f);
    if (special) sprinkle(rng, d->in[1], sizes[1]);
  }
}

static void free_data(data *d) {
  for (int i = 0; i < 5; i++)
    if (d->size[i]) tu_free(&d->b[i]);
}

typedef struct outs {
  tu_buf b[3];
  float *o[3];
  size_t size[3];
} outs;

/* outputs of op, filled with a start value (dgamma/dbeta accumulate) */
static void make_outs(tu_rng *rng, int op, size_t rows, size_t n, outs *o, uint64_t seed) {
  for (int k = 0; k < 3; k++) {
    o->size[k] = out_size(op, rows, n, k);
    o->o[k] = NULL;
    if (!o->size[k]) continue;
    o->o[k] = tu_alloc(&o->b[k], o->size[k], tu_int(rng, 0, 3));
    if (op == OP_LN_BW && k > 0) {
      tu_rng r2 = {seed + (uint64_t)k};
      tu_fill(&r2, o->o[k], o->size[k], -1.0f, 1.0f);
    }
  }
}

static void free_outs(outs *o) {
  for (int k = 0; k < 3; k++)
    if (o->size[k]) tu_free(&o->b[k]);
}

static call make_call(int op, size_t rows, size_t n, const data *d, const outs *o) {
  call c = {rows, n, {d->in[0], d->in[1], d->in[2], d->in[3], d->in[4]}, {o->o[0], o->o[1], o->o[2]}};
  (void)op;
  return c;
}

/* ---- the double oracle ---- */

static const double U = 0x1p-24;

static void expect(int op, size_t i, double got, double ref, double tol) {
  if (isnan(ref) ? isnan(got) : fabs(got - ref) <= tol + 1e-37) return;
  print_error("%s: element %zu = %.9g, oracle %.12g, tolerance %.3g\n", op_name[op], i, got, ref,
              tol);
  fail();
}

static double row_terms(size_t n) { return (double)((n + 63) / 64) + 7.0; }

static void check_activation(int op, size_t len, const float *x, const float *dy,
                             const float *got) {
  for (size_t i = 0; i < len; i++) {
    const double v = x[i], t = v / sqrt(2.0);
    double ref, tol;
    switch (op) {
      case OP_RELU: ref = v > 0 ? v : 0; tol = 0; break;
      case OP_GELU: ref = 0.5 * v * erfc(-t); tol = (16 + 3 * t * t) * U * fabs(ref); break;
      case OP_TANH: ref = tanh(v); tol = 3 * U * fabs(ref); break;
      case OP_SIGMOID: ref = 1 / (1 + exp(-v)); tol = 5 * U * fabs(ref); break;
      case OP_RELU_BW: ref = v > 0 ? dy[i] : 0; tol = 0; break;
      case OP_GELU_BW: {
        const double A = 0.5 * erfc(-t), B = fabs(v) * exp(-v * v / 2) / sqrt(2 * M_PI);
        ref = dy[i] * (A + v * exp(-v * v / 2) / sqrt(2 * M_PI));
        tol = fabs(dy[i]) * ((16 + 3 * t * t) * U * A + (v * v + 8) * U * B) + 2 * U * fabs(ref);
        break;
      }
      case OP_TANH_BW: ref = dy[i] * (1 - v * v); tol = 3 * U * fabs(ref); break;
      default: ref = dy[i] * v * (1 - v); tol = 4 * U * fabs(ref); break;
    }
    expect(op, i, got[i], ref, tol);
  }
}

static void check_softmax(size_t rows, size_t n, const float *x, const float *got) {
  const double m = row_terms(n);
  for (size_t r = 0; r < rows; r++) {
    const float *xr = x + r * n;
    double mx = -INFINITY, s = 0, range = 0;
    for (size_t i = 0; i < n; i++)
      if (xr[i] > mx) mx = xr[i];
    for (size_t i = 0; i < n; i++) {
      s += exp(xr[i] - mx);
      if (mx - xr[i] > range) range = mx - xr[i];
    }
    for (size_t i = 0; i < n; i++) {
      const double ref = exp(xr[i] - mx) / s;
      expect(OP_SOFTMAX, r * n + i, got[r * n + i], ref, (2 * range + 10 + m) * U * ref);
    }
  }
}

static void check_softmax_bw(size_t rows, size_t n, const float *y, const float *dy,
                             const float *got) {
  const double m = row_terms(n), gam = m * U / (1 - m * U);
  for (size_t r = 0; r < rows; r++) {
    const float *yr = y + r * n, *gr = dy + r * n;
    double d = 0, da = 0;
    for (size_t i = 0; i < n; i++) {
      d += (double)gr[i] * yr[i];
      da += fabs((double)gr[i] * yr[i]);
    }
    for (size_t i = 0; i < n; i++) {
      const double ref = yr[i] * (gr[i] - d);
      const double tol = fabs(yr[i]) * (gam * da + U * fabs(gr[i] - d)) + 2 * U * fabs(ref);
      expect(OP_SOFTMAX_BW, r * n + i, got[r * n + i], ref, tol);
    }
  }
}

/* Layer norm in double. Tolerance: with m = row_terms(n), every rounded
 * step errs by at most (m + 8)u relative to the magnitudes it combines:
 *   y:  8(m+8)u (|gamma_i| (1 + |h_i|) + |ref|)
 *   dx: 8(m+8)u rstd (|g_i| + mean|g| + (1 + |h_i|)(mean|g h| + mean|g|))
 * and dgamma/dbeta over R rows: 8(R+8)u sum over rows of (|dy| (1 + |h|)) + start. */
static void check_layernorm(int op, size_t rows, size_t n, const data *d, const outs *o,
                            const outs *start) {
  const double m = row_terms(n), e = 8 * (m + 8) * U;
  const float *x = d->in[0];
  double *ga = calloc(n, sizeof(double)), *be = calloc(n, sizeof(double)),
         *gtol = calloc(n, sizeof(double));
  for (size_t r = 0; r < rows; r++) {
    const float *xr = x + r * n;
    double mu = 0, var = 0;
    for (size_t i = 0; i < n; i++) mu += xr[i];
    mu /= (double)n;
    for (size_t i = 0; i < n; i++) var += (xr[i] - mu) * (xr[i] - mu);
    var /= (double)n;
    const double rs = 1 / sqrt(var + (double)1e-5f);
    if (op == OP_LN) {
      const float *gam = d->in[1], *bet = d->in[2];
      for (size_t i = 0; i < n; i++) {
        const double h = (xr[i] - mu) * rs, ref = h * gam[i] + bet[i];
        expect(op, r * n + i, o->o[0][r * n + i], ref,
               e * (fabs(gam[i]) * (1 + fabs(h)) + fabs(ref)));
      }
      expect(op, r, o->o[1][r], mu, e * (fabs(mu) + 1));
      expect(op, r, o->o[2][r], rs, e * rs);
    } else {
      const float *dy = d->in[1] + r * n, *gam = d->in[2];
      double a = 0, b = 0, aa = 0, ba = 0;
      for (size_t i = 0; i < n; i++) {
        const double h = (xr[i] - mu) * rs, g = (double)dy[i] * gam[i];
        a += g;
        b += g * h;
        aa += fabs(g);
        ba += fabs(g * h);
        ga[i] += dy[i] * h;
        be[i] += dy[i];
        gtol[i] += fabs(dy[i]) * (1 + fabs(h));
      }
      a /= (double)n;
      b /= (double)n;
      aa /= (double)n;
      ba /= (double)n;
      for (size_t i = 0; i < n; i++) {
        const double h = (xr[i] - mu) * rs, g = (double)dy[i] * gam[i];
        const double ref = rs * (g - a - h * b);
        expect(op, r * n + i, o->o[0][r * n + i], ref,
               e * rs * (fabs(g) + aa + (1 + fabs(h)) * (ba + aa)));
      }
    }
  }
  if (op == OP_LN_BW) {
    const double eg = 8 * ((double)rows + m + 8) * U;
    for (size_t i = 0; i < n; i++) {
      const double g0 = start->o[1][i], b0 = start->o[2][i];
      expect(op, i, o->o[1][i], g0 + ga[i], eg * (gtol[i] + fabs(g0)));
      expect(op, i, o->o[2][i], b0 + be[i], eg * (gtol[i] + fabs(b0)));
    }
  }
  free(ga);
  free(be);
  free(gtol);
}

/* noinline: gcc 12 for aarch64 crashes vectorizing it inlined into check_case */
__attribute__((noinline)) static void check_oracle(int op, size_t rows, size_t n, const data *d, const outs *o,
                         const outs *start) {
  if (op <= OP_SIGMOID_BW)
    check_activation(op, rows * n, d->in[0], d->in[1], o->o[0]);
  else if (op == OP_SOFTMAX)
    check_softmax(rows, n, d->in[0], o->o[0]);
  else if (op == OP_SOFTMAX_BW)
    check_softmax_bw(rows, n, d->in[0], d->in[1], o->o[0]);
  else
    check_layernorm(op, rows, n, d, o, start);
}

/* ---- one case: scalar vs oracle, tiers vs scalar (also in place), API ---- */

static void check_case(tu_rng *rng, int op, size_t rows, size_t n, int special, int oracle) {
  data d;
  make_data(rng, op, rows, n, special, &d);
  const uint64_t seed = tu_next(rng);
  outs s, s0, t;
  make_outs(rng, op, rows, n, &s, seed);
  make_outs(rng, op, rows, n, &s0, seed);
  call cs = make_call(op, rows, n, &d, &s);
  run(&wsk_eltwise_ukernels__scalar, op, &cs);
  if (oracle && !special) check_oracle(op, rows, n, &d, &s, &s0);
  char what[96];
  for (size_t k = 0; k < ew_impl_count; k++) {
    const tu_impl *im = &ew_impls[k];
    if (im->isa == WSK_ISA_SCALAR || !tu_impl_runs("eltwise", im)) continue;
    for (int inplace = 0; inplace < 3; inplace++) {
      /* 0: separate output; 1: output over in[0]; 2: output over in[1] */
      const int has1 = op >= OP_RELU_BW && op != OP_SOFTMAX && op != OP_LN;
      if (inplace == 2 && !has1) continue;
      make_outs(rng, op, rows, n, &t, seed);
      call ct = make_call(op, rows, n, &d, &t);
      tu_buf bi;
      if (inplace) {
        const float *src = d.in[inplace - 1];
        float *cp = tu_alloc(&bi, rows * n, tu_int(rng, 0, 3));
        memcpy(cp, src, rows * n * sizeof(float));
        ct.in[inplace - 1] = cp;
        ct.out[0] = cp;
      }
      run(im->table, op, &ct);
      for (int j = 0; j < 3; j++) {
        if (!s.size[j]) continue;
        snprintf(what, sizeof what, "%s %s rows %zu n %zu inplace %d out %d", im->name,
                 op_name[op], rows, n, inplace, j);
        assert_bits_nan(s.o[j], ct.out[j], s.size[j], what);
      }
      if (inplace) tu_free(&bi);
      free_outs(&t);
    }
  }
  /* the public entry point (the dispatched tier) */
  make_outs(rng, op, rows, n, &t, seed);
  call ca = make_call(op, rows, n, &d, &t);
  assert_int_equal(run_api(op, &ca), WSK_OK);
  for (int j = 0; j < 3; j++)
    if (s.size[j]) assert_bits_nan(s.o[j], t.o[j], s.size[j], op_name[op]);
  free_outs(&t);
  free_outs(&s);
  free_outs(&s0);
  free_data(&d);
  g_cases++;
}

static void test_sizes(void **state) {
  (void)state;
  tu_rng rng = {1};
  for (int op = 0; op < OP_COUNT; op++)
    for (size_t n = 1; n <= 200; n++) check_case(&rng, op, op >= OP_SOFTMAX ? 3 : 1, n, 0, 1);
}

static void test_large(void **state) {
  (void)state;
  tu_rng rng = {2};
  const size_t ns[] = {1000, 4099, 65536 + 3};
  for (int op = 0; op < OP_COUNT; op++)
    for (size_t i = 0; i < 3; i++) check_case(&rng, op, op >= OP_SOFTMAX ? 2 : 1, ns[i], 0, 1);
  check_case(&rng, OP_SOFTMAX, 300, 17, 0, 1);
  check_case(&rng, OP_LN, 300, 17, 0, 1);
  check_case(&rng, OP_LN_BW, 300, 17, 0, 1);
}

static void test_special(void **state) {
  (void)state;
  tu_rng rng = {3};
  for (int op = 0; op < OP_COUNT; op++)
    for (int rep = 0; rep < 150; rep++)
      check_case(&rng, op, op >= OP_SOFTMAX ? tu_int(&rng, 1, 3) : 1, tu_int(&rng, 1, 150), 1, 0);
}

/* Specific values through the scalar reference (tiers follow by the bit tests). */
static void test_values(void **state) {
  (void)state;
  const wsk_eltwise_ukernels *k = &wsk_eltwise_ukernels__scalar;
  const float x[6] = {NAN, INFINITY, -INFINITY, -0.0f, 0.0f, 2.0f};
  float y[6];
  k->relu(6, x, y);
  assert_true(isnan(y[0]) && y[1] == INFINITY && y[2] == 0 && !signbit(y[2]) && y[3] == 0 &&
              !signbit(y[3]) && y[5] == 2.0f);
  k->gelu(6, x, y);
  assert_true(isnan(y[0]) && y[1] == INFINITY && y[2] == 0 && y[4] == 0);
  k->sigmoid(6, x, y);
  assert_true(isnan(y[0]) && y[1] == 1.0f && y[2] == 0.0f && y[3] == 0.5f);
  k->tanh(6, x, y);
  assert_true(isnan(y[0]) && y[1] == 1.0f && y[2] == -1.0f);
  const float dy[6] = {1, 1, 1, 1, 1, 1};
  k->gelu_backward(6, x, dy, y);
  assert_true(isnan(y[0]) && y[1] == 1.0f && y[2] == 0.0f && y[4] == 0.5f);
  k->relu_backward(6, x, dy, y);
  assert_true(isnan(y[0]) && y[1] == 1.0f && y[2] == 0.0f && y[3] == 0.0f && y[5] == 1.0f);
  /* softmax: a NaN poisons its row only; a huge row stays finite */
  const float sx[6] = {1, NAN, 3, 1e30f, -1e30f, 0};
  float sy[6];
  k->softmax(2, 3, sx, sy);
  assert_true(isnan(sy[0]) && isnan(sy[2]));
  assert_true(sy[3] == 1.0f && sy[4] == 0.0f && sy[5] == 0.0f);
  /* layer norm of a constant row: y = beta (rstd = 1/sqrt(eps)) */
  const float c[4] = {3, 3, 3, 3}, g[4] = {1, 1, 1, 1}, b[4] = {1, 2, 3, 4};
  float cy[4], mu, rs;
  k->layernorm(1, 4, 1e-5f, c, g, b, cy, &mu, &rs);
  assert_true(mu == 3.0f && cy[0] == 1.0f && cy[3] == 4.0f);
}

/* ---- finite differences: L = sum w_i f(x)_i, dL/dx_j by central differences
 * of the scalar forward (in double accumulation) against the backward ---- */

static double loss(int fwd, size_t rows, size_t n, const float *x, const float *gam,
                   const float *bet, const float *w) {
  const size_t len = rows * n;
  float *y = malloc(len * sizeof(float)), mu[8], rs[8];
  const wsk_eltwise_ukernels *k = &wsk_eltwise_ukernels__scalar;
  switch (fwd) {
    case OP_RELU: k->relu(len, x, y); break;
    case OP_GELU: k->gelu(len, x, y); break;
    case OP_TANH: k->tanh(len, x, y); break;
    case OP_SIGMOID: k->sigmoid(len, x, y); break;
    case OP_SOFTMAX: k->softmax(rows, n, x, y); break;
    default: k->layernorm(rows, n, 1e-5f, x, gam, bet, y, mu, rs); break;
  }
  double l = 0;
  for (size_t i = 0; i < len; i++) l += (double)w[i] * y[i];
  free(y);
  return l;
}

static void fd_check(const char *what, double analytic, double numeric) {
  if (fabs(analytic - numeric) <= 2e-3 * (1 + fabs(numeric))) return;
  print_error("%s: backward %.8g, finite difference %.8g\n", what, analytic, numeric);
  fail();
}

static void test_finite_diff(void **state) {
  (void)state;
  tu_rng rng = {4};
  const wsk_eltwise_ukernels *k = &wsk_eltwise_ukernels__scalar;
  const size_t rows = 3, n = 37, len = rows * n;
  float x[3 * 37], w[3 * 37], y[3 * 37], dx[3 * 37], gam[37], bet[37], dg[37], db[37], mu[3],
      rs[3];
  char what[64];
  const int fwds[6] = {OP_RELU, OP_GELU, OP_TANH, OP_SIGMOID, OP_SOFTMAX, OP_LN};
  for (int f = 0; f < 6; f++) {
    const int op = fwds[f];
    tu_fill(&rng, x, len, -3.0f, 3.0f);
    tu_fill(&rng, w, len, -1.0f, 1.0f);
    tu_fill(&rng, gam, n, 0.5f, 1.5f);
    tu_fill(&rng, bet, n, -0.5f, 0.5f);
    if (op == OP_RELU)
      for (size_t i = 0; i < len; i++)
        if (fabsf(x[i]) < 0.1f) x[i] = 0.5f;
    memset(dg, 0, sizeof dg);
    memset(db, 0, sizeof db);
    switch (op) {
      case OP_RELU: k->relu_backward(len, x, w, dx); break;
      case OP_GELU: k->gelu_backward(len, x, w, dx); break;
      case OP_TANH: k->tanh(len, x, y); k->tanh_backward(len, y, w, dx); break;
      case OP_SIGMOID: k->sigmoid(len, x, y); k->sigmoid_backward(len, y, w, dx); break;
      case OP_SOFTMAX: k->softmax(rows, n, x, y); k->softmax_backward(rows, n, y, w, dx); break;
      default:
        k->layernorm(rows, n, 1e-5f, x, gam, bet, y, mu, rs);
        k->layernorm_backward(rows, n, x, w, gam, mu, rs, dx, dg, db);
    }
    for (size_t j = 0; j < len; j += 7) {
      const float h = 1e-2f, keep = x[j];
      x[j] = keep + h;
      const double lp = loss(op, rows, n, x, gam, bet, w);
      x[j] = keep - h;
      const double lm = loss(op, rows, n, x, gam, bet, w);
      x[j] = keep;
      snprintf(what, sizeof what, "%s dx[%zu]", op_name[op], j);
      fd_check(what, dx[j], (lp - lm) / (2.0 * h));
    }
    if (op == OP_LN) {
      for (size_t j = 0; j < n; j += 5) {
        for (int which = 0; which < 2; which++) {
          float *p = which ? bet : gam;
          const float h = 1e-2f, keep = p[j];
          p[j] = keep + h;
          const double lp = loss(op, rows, n, x, gam, bet, w);
          p[j] = keep - h;
          const double lm = loss(op, rows, n, x, gam, bet, w);
          p[j] = keep;
          snprintf(what, sizeof what, "layernorm %s[%zu]", which ? "dbeta" : "dgamma", j);
          fd_check(what, which ? db[j] : dg[j], (lp - lm) / (2.0 * h));
        }
      }
    }
  }
}

/* The same bits on every machine: a digest of every op through the public
 * entry points (the best tier here, NEON on aarch64). Finite inputs only:
 * a NaN the hardware makes (Inf - Inf) has another sign on x86 than on Arm. */
static void test_digest(void **state) {
  (void)state;
  tu_rng rng = {99};
  uint64_t h = TU_DIGEST_INIT;
  for (int rep = 0; rep < 4; rep++) {
    for (int op = 0; op < OP_COUNT; op++) {
      const size_t rows = op >= OP_SOFTMAX ? tu_int(&rng, 1, 5) : 1;
      const size_t n = tu_int(&rng, 1, 300);
      data d;
      make_data(&rng, op, rows, n, 0, &d);
      outs o;
      make_outs(&rng, op, rows, n, &o, 7);
      call c = make_call(op, rows, n, &d, &o);
      assert_int_equal(run_api(op, &c), WSK_OK);
      for (int j = 0; j < 3; j++)
        if (o.size[j]) h = tu_digest(h, o.o[j], o.size[j]);
      free_outs(&o);
      free_data(&d);
    }
  }
  tu_assert_digest("eltwise", h, ELTWISE_DIGEST);
}

static void test_bad_input(void **state) {
  (void)state;
  float x[64] = {0}, y[64], g[8] = {1, 1, 1, 1, 1, 1, 1, 1}, b[8] = {0}, mu[8], rs[8], dg[8],
        db[8];
  for (int i = 0; i < 64; i++) y[i] = 42.0f;
  assert_int_equal(wsk_relu(NULL, 4, y), WSK_ERR_NULL);
  assert_non_null(strstr(wsk_last_error(), "NULL"));
  assert_int_equal(wsk_gelu(x, 4, NULL), WSK_ERR_NULL);
  assert_int_equal(wsk_tanh(x, 0, y), WSK_ERR_SIZE);
  assert_int_equal(wsk_sigmoid(x, -5, y), WSK_ERR_SIZE);
  assert_int_equal(wsk_relu(x, INT64_MAX, y), WSK_ERR_OVERFLOW);
  assert_int_equal(wsk_relu(x, 8, x + 2), WSK_ERR_ARG);
  assert_non_null(strstr(wsk_last_error(), "overlap"));
  assert_int_equal(wsk_relu(x, 8, x), WSK_OK); /* in place */
  assert_int_equal(wsk_relu_backward(x, NULL, 4, y), WSK_ERR_NULL);
  assert_int_equal(wsk_gelu_backward(x, y, 0, y), WSK_ERR_SIZE);
  assert_int_equal(wsk_tanh_backward(x, y, 4, y), WSK_OK); /* dx == dy */
  assert_int_equal(wsk_sigmoid_backward(x, y, 4, y + 1), WSK_ERR_ARG);
  assert_int_equal(wsk_softmax(x, 0, 4, y), WSK_ERR_SIZE);
  assert_int_equal(wsk_softmax(x, 4, 0, y), WSK_ERR_SIZE);
  assert_non_null(strstr(wsk_last_error(), "n ="));
  assert_int_equal(wsk_softmax(x, (int64_t)1 << 40, (int64_t)1 << 40, y), WSK_ERR_OVERFLOW);
  assert_int_equal(wsk_softmax(NULL, 2, 4, y), WSK_ERR_NULL);
  assert_int_equal(wsk_softmax_backward(x, y, 2, 4, y + 3), WSK_ERR_ARG);
  assert_int_equal(wsk_layernorm(x, 2, 4, g, b, 1e-5f, y, mu, rs), WSK_OK);
  assert_int_equal(wsk_layernorm(x, 2, 4, NULL, b, 1e-5f, y, mu, rs), WSK_ERR_NULL);
  assert_int_equal(wsk_layernorm(x, 2, 4, g, b, -1.0f, y, mu, rs), WSK_ERR_ARG);
  assert_int_equal(wsk_layernorm(x, 2, 4, g, b, NAN, y, mu, rs), WSK_ERR_ARG);
  assert_non_null(strstr(wsk_last_error(), "eps"));
  assert_int_equal(wsk_layernorm(x, 2, 4, g, b, 1e-5f, y, y + 6, rs), WSK_ERR_ARG);
  assert_int_equal(wsk_layernorm(x, 2, 4, g, b, 1e-5f, y, mu, mu), WSK_ERR_ARG);
  assert_int_equal(wsk_layernorm_backward(x, y, 2, 4, g, mu, rs, y + 16, dg, db), WSK_OK);
  assert_int_equal(wsk_layernorm_backward(x, y, 2, 4, g, mu, rs, y + 16, dg, dg), WSK_ERR_ARG);
  assert_int_equal(wsk_layernorm_backward(x, y, 2, 4, g, mu, rs, y + 16, g, db), WSK_ERR_ARG);
  assert_int_equal(wsk_layernorm_backward(x, y, 2, 4, g, NULL, rs, y + 16, dg, db),
                   WSK_ERR_NULL);
  /* an error leaves the output untouched */
  for (int i = 0; i < 64; i++) y[i] = 42.0f;
  assert_int_equal(wsk_softmax(x, 2, 0, y), WSK_ERR_SIZE);
  for (int i = 0; i < 64; i++) assert_true(y[i] == 42.0f);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_sizes),       cmocka_unit_test(test_large),
      cmocka_unit_test(test_special),     cmocka_unit_test(test_values),
      cmocka_unit_test(test_finite_diff), cmocka_unit_test(test_digest),
      cmocka_unit_test(test_bad_input),
  };
  printf("eltwise implementations:");
  for (size_t t = 0; t < ew_impl_count; t++) printf(" %s", ew_impls[t].name);
  printf("\n");
  const int rc = cmocka_run_group_tests_name("eltwise", tests, NULL, NULL);
  printf("eltwise: %ld cases checked\n", g_cases);
  return rc;
}
