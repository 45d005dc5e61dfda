/* apps/cmd_bench_compare.c — `wsk bench-compare`: merge the JSON of several
 * `wsk bench` runs (format "wsk-bench/1") into one Markdown report and, when
 * gnuplot is installed, one roofline plot per machine.
 *
 *   wsk bench-compare [-o FILE.md] [--plot-dir DIR] [--no-plots]
 *                     [--label NAME]... a.json [b.json ...]
 *
 * The report has four parts: the machines side by side (CPU, topology, tiers,
 * the measured roofline), every result keyed by (family, op, shape, level,
 * threads, ISA) with one column group per machine, per machine the gain of
 * each instruction-set tier over the others, and the list of plots.
 *
 * Only cJSON and POSIX are used (no bench/ code), so the command exists in
 * every build of `wsk`, including the cross builds without the benchmarks.
 * Every JSON field except "format" is optional: a missing one shows as "—".
 *
 * Exit status: 0 success (also when gnuplot is missing: the table is
 * complete), 1 an input could not be read or parsed, an output could not be
 * written or gnuplot failed, 2 usage error.
 */
#ifndef _DEFAULT_SOURCE
#define _DEFAULT_SOURCE /* mkstemp, mkdtemp, fsync, fchmod (set by CMake too) */
#endif

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "apps/commands.h"

#define BC_FORMAT "wsk-bench/1"
#define BC_NAME "wsk bench-compare"
#define DASH "\xe2\x80\x94"  /* — */
#define TIMES "\xc3\x97"     /* × */
#define MICRO "\xc2\xb5"     /* µ */

void wsk_cmd_bench_compare_usage(FILE *out) {
  fprintf(out,
          "usage: wsk bench-compare [-o FILE.md] [--plot-dir DIR] [--no-plots]\n"
          "                         [--label NAME]... RUN.json [RUN.json ...]\n"
          "\n"
          "Merges the JSON files written by `wsk bench` (format \"" BC_FORMAT "\"), one\n"
          "per machine, into one Markdown report:\n"
          "  1. the machines side by side: CPU, cores/PUs, caches, instruction-set\n"
          "     tiers, the FMA peak of every tier and the read bandwidth of every\n"
          "     memory level (1 core / all cores), and how threads were pinned;\n"
          "  2. every result, one row per (family, op, shape, level, threads, ISA)\n"
          "     in the order first seen; per machine: time per iteration, GFLOP/s\n"
          "     (or GB/s when the bound is bandwidth or the kernel does no FLOPs;\n"
          "     the cell says which) and %% of the roofline that applies. A case\n"
          "     skipped on a machine reads \"skipped (reason)\", one a machine did\n"
          "     not run reads \"" DASH "\". Numbers have 3 significant digits;\n"
          "  3. per machine, the tier gains: for each (family, op, shape, level,\n"
          "     threads) the time of scalar, avx2, avx512 and neon divided by the\n"
          "     best tier's time (1.00" TIMES " = best; for equal work), so the gain of\n"
          "     one tier over another on that CPU is one line;\n"
          "  4. the roofline plots, when written.\n"
          "\n"
          "Plots (needs gnuplot on PATH, e.g. apt-get install gnuplot-nox): one PNG\n"
          "per machine, DIR/roofline-<label>.png, log-log: x = arithmetic intensity\n"
          "(FLOP/byte), y = GFLOP/s; a horizontal ceiling per tier's FMA peak and a\n"
          "diagonal per memory level's read bandwidth (solid: 1 core, dashed: all\n"
          "cores, cut at the best peak); a point per measured result with FLOPs and\n"
          "bytes, coloured by family, shaped by tier (filled: 1 thread, open: more).\n"
          "Results without FLOPs (copies, reads) are left out, and the legend says\n"
          "how many. All plots share their axes, so machines compare at a glance.\n"
          "Without gnuplot a note goes to stderr and the command still succeeds.\n"
          "\n"
          "Options:\n"
          "  -o, --output FILE  write the report to FILE (atomically: a temporary\n"
          "                     file, fsync, rename) instead of stdout\n"
          "  --plot-dir DIR     write the plots into DIR (created if missing).\n"
          "                     Default: the directory of -o FILE; when the report\n"
          "                     goes to stdout, no plots unless --plot-dir is given\n"
          "  --no-plots         write no plots, even with -o\n"
          "  --label NAME       the column name of the next input, in order (repeat\n"
          "                     it; default: the machine's hostname, else the file\n"
          "                     name). Equal names get the file name appended. Plot\n"
          "                     file names use the name with every character outside\n"
          "                     [A-Za-z0-9._-] replaced by '_'\n"
          "  -h, --help         print this help\n"
          "\n"
          "Exit status: 0 success (also without gnuplot), 1 an input is unreadable,\n"
          "not JSON or not " BC_FORMAT " (the message names the file), or an output or\n"
          "plot failed, 2 usage error (no input, unknown option).\n");
}

/* ---- growable string buffer ------------------------------------------------ */

typedef struct sbuf {
  char *p;
  size_t n, cap;
  int oom;
} sbuf;

static void sb_reserve(sbuf *b, size_t extra) {
  if (b->oom) return;
  if (b->n + extra + 1 <= b->cap) return;
  size_t cap = b->cap ? b->cap : 256;
  while (cap < b->n + extra + 1) cap *= 2;
  char *p = realloc(b->p, cap);
  if (p == NULL) {
    b->oom = 1;
    return;
  }
  b->p = p;
  b->cap = cap;
}

static void sb_putn(sbuf *b, const char *s, size_t len) {
  sb_reserve(b, len);
  if (b->oom) return;
  memcpy(b->p + b->n, s, len);
  b->n += len;
  b->p[b->n] = '\0';
}

static void sb_puts(sbuf *b, const char *s) { sb_putn(b, s, strlen(s)); }

static void sb_printf(sbuf *b, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  char small[256];
  int len = vsnprintf(small, sizeof small, fmt, ap);
  va_end(ap);
  if (len < 0) {
    b->oom = 1;
    return;
  }
  if ((size_t)len < sizeof small) {
    sb_putn(b, small, (size_t)len);
    return;
  }
  sb_reserve(b, (size_t)len);
  if (b->oom) return;
  va_start(ap, fmt);
  vsnprintf(b->p + b->n, (size_t)len + 1, fmt, ap);
  va_end(ap);
  b->n += (size_t)len;
}

static void sb_free(sbuf *b) {
  free(b->p);
  b->p = NULL;
  b->n = b->cap = 0;
}

static char *xstrdup(const char *s) {
  size_t n = strlen(s) + 1;
  char *p = malloc(n);
  if (p) memcpy(p, s, n);
  return p;
}

/* Markdown text: escapes what would change the meaning in a table cell or a
 * line of text; line breaks and tabs become spaces. */
static void sb_md(sbuf *b, const char *s) {
  for (; *s; s++) {
    unsigned char c = (unsigned char)*s;
    if (c == '\n' || c == '\r' || c == '\t') {
      sb_putn(b, " ", 1);
    } else if (c < 0x20 || c == 0x7f) {
      continue;
    } else if (strchr("\\|*_`<>[]", c)) {
      char e[2] = {'\\', (char)c};
      sb_putn(b, e, 2);
    } else {
      sb_putn(b, s, 1);
    }
  }
}

/* A gnuplot double-quoted string. */
static void sb_gp(sbuf *b, const char *s) {
  sb_putn(b, "\"", 1);
  for (; *s; s++) {
    unsigned char c = (unsigned char)*s;
    if (c < 0x20 || c == 0x7f) {
      sb_putn(b, " ", 1);
    } else if (c == '"' || c == '\\') {
      char e[2] = {'\\', (char)c};
      sb_putn(b, e, 2);
    } else {
      sb_putn(b, s, 1);
    }
  }
  sb_putn(b, "\"", 1);
}

/* ---- numbers ----------------------------------------------------------------- */

/* v rounded to 3 significant digits, printed without an exponent for the
 * usual magnitudes: 0.0123, 1.23, 12.3, 123, 12300. */
static const char *fmt3(double v, char *buf, size_t n) {
  if (isnan(v)) {
    snprintf(buf, n, "n/a");
    return buf;
  }
  if (isinf(v)) {
    snprintf(buf, n, v > 0 ? "inf" : "-inf");
    return buf;
  }
  if (v == 0) {
    snprintf(buf, n, "0");
    return buf;
  }
  double a = fabs(v);
  if (a < 1e-3 || a >= 1e12) {
    snprintf(buf, n, "%.3g", v);
    return buf;
  }
  int e = (int)floor(log10(a));
  double scale = pow(10.0, e - 2);
  double r = round(a / scale) * scale;
  if (r >= pow(10.0, e + 1)) e++;
  int decimals = e >= 2 ? 0 : 2 - e;
  snprintf(buf, n, "%.*f", decimals, v < 0 ? -r : r);
  return buf;
}

/* A count: an integer as such (2, 16), anything else like fmt3. */
static const char *fmt_count(double v, char *buf, size_t n) {
  if (isfinite(v) && v == floor(v) && fabs(v) < 1e15) {
    snprintf(buf, n, "%.0f", v);
    return buf;
  }
  return fmt3(v, buf, n);
}

/* A time in ns with its unit: 456 ns, 1.23 µs, 12.3 ms, 1.50 s. */
static const char *fmt_time(double ns, char *buf, size_t n) {
  char num[48];
  if (isnan(ns) || ns < 0) {
    snprintf(buf, n, "n/a");
    return buf;
  }
  /* Round first, so 999.7 ns reads 1.00 µs. */
  double r = ns;
  if (ns > 0) {
    int e = (int)floor(log10(ns));
    double scale = pow(10.0, e - 2);
    r = round(ns / scale) * scale;
  }
  if (r < 1e3) snprintf(buf, n, "%s ns", fmt3(r, num, sizeof num));
  else if (r < 1e6) snprintf(buf, n, "%s " MICRO "s", fmt3(r / 1e3, num, sizeof num));
  else if (r < 1e9) snprintf(buf, n, "%s ms", fmt3(r / 1e6, num, sizeof num));
  else snprintf(buf, n, "%s s", fmt3(r / 1e9, num, sizeof num));
  return buf;
}

/* Bytes as 32 KiB, 1 MiB, 1.5 MiB. */
static const char *fmt_bytes(double v, char *buf, size_t n) {
  char num[48];
  static const char *units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  int u = 0;
  while (v >= 1024 && u < 4) {
    v /= 1024;
    u++;
  }
  snprintf(buf, n, "%s %s", fmt_count(v, num, sizeof num), units[u]);
  return buf;
}

/* ---- JSON access (every field optional) ---------------------------------------- */

static const char *jstr(const cJSON *o, const char *key) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
  return cJSON_IsString(v) && v->valuestring ? v->valuestring : "";
}

static double jnum(const cJSON *o, const char *key) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
  return cJSON_IsNumber(v) ? v->valuedouble : NAN;
}

static const cJSON *jobj(const cJSON *o, const char *key) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
  return cJSON_IsObject(v) ? v : NULL;
}

/* A positive finite number, else NAN ("not measured"). */
static double jpos(const cJSON *o, const char *key) {
  double v = jnum(o, key);
  return isfinite(v) && v > 0 ? v : NAN;
}

/* ---- the model ---------------------------------------------------------------------- */

enum { K_FAMILY, K_OP, K_SHAPE, K_LEVEL, K_THREADS, K_ISA, K_COUNT };
static const char *const key_names[K_COUNT] = {"family", "op", "shape", "level", "threads", "ISA"};

typedef struct bc_result {
  const char *key[K_COUNT]; /* into the cJSON tree, or threads_buf, or "" */
  char threads_buf[32];
  double threads;           /* NAN when missing */
  double time_ns, flops, bytes, gflops, gbs, roof_pct; /* NAN when missing */
  const char *bound;
  const char *skip_reason;
  int skipped;
} bc_result;

typedef struct bc_machine {
  const char *path;
  const char *base;   /* file name without directories */
  char *label;        /* the column name */
  char *plotname;     /* sanitized, unique: roofline-<plotname>.png */
  char *plot_written; /* the path of the plot written, or NULL */
  cJSON *root;
  const cJSON *mach;  /* "machine" object, or NULL */
  const cJSON *roof;  /* "roofline" object, or NULL */
  bc_result *res;
  size_t nres;
  long *by_key;       /* per global key: index into res, or -1 */
} bc_machine;

typedef struct bc_key {
  const char *f[K_COUNT];
} bc_key;

typedef struct bc_keys {
  bc_key *k;
  size_t n, cap;
  long *slots; /* open addressing, -1 empty */
  size_t nslots;
} bc_keys;

static uint64_t key_hash(const char *const f[K_COUNT]) {
  uint64_t h = 1469598103934665603ull;
  for (int i = 0; i < K_COUNT; i++) {
    for (const unsigned char *s = (const unsigned char *)f[i]; *s; s++) {
      h ^= *s;
      h *= 1099511628211ull;
    }
    h ^= 0x1f;
    h *= 1099511628211ull;
  }
  return h;
}

static int key_eq(const char *const a[K_COUNT], const char *const b[K_COUNT]) {
  for (int i = 0; i < K_COUNT; i++)
    if (strcmp(a[i], b[i]) != 0) return 0;
  return 1;
}

/* Index of key f, or -1. */
static long keys_find(const bc_keys *ks, const char *const f[K_COUNT]) {
  if (ks->nslots == 0) return -1;
  size_t i = (size_t)(key_hash(f) & (ks->nslots - 1));
  while (ks->slots[i] >= 0) {
    if (key_eq(ks->k[ks->slots[i]].f, f)) return ks->slots[i];
    i = (i + 1) & (ks->nslots - 1);
  }
  return -1;
}

/* Index of key f, added if new; -1 when out of memory. */
static long keys_add(bc_keys *ks, const char *const f[K_COUNT]) {
  long found = keys_find(ks, f);
  if (found >= 0) return found;
  if (ks->n == ks->cap) {
    size_t cap = ks->cap ? ks->cap * 2 : 64;
    bc_key *k = realloc(ks->k, cap * sizeof *k);
    if (k == NULL) return -1;
    ks->k = k;
    ks->cap = cap;
  }
  if (2 * (ks->n + 1) > ks->nslots) {
    size_t ns = ks->nslots ? ks->nslots * 2 : 128;
    while (2 * (ks->n + 1) > ns) ns *= 2;
    long *slots = malloc(ns * sizeof *slots);
    if (slots == NULL) return -1;
    for (size_t i = 0; i < ns; i++) slots[i] = -1;
    for (size_t j = 0; j < ks->n; j++) {
      size_t i = (size_t)(key_hash(ks->k[j].f) & (ns - 1));
      while (slots[i] >= 0) i = (i + 1) & (ns - 1);
      slots[i] = (long)j;
    }
    free(ks->slots);
    ks->slots = slots;
    ks->nslots = ns;
  }
  long idx = (long)ks->n++;
  for (int i = 0; i < K_COUNT; i++) ks->k[idx].f[i] = f[i];
  size_t i = (size_t)(key_hash(f) & (ks->nslots - 1));
  while (ks->slots[i] >= 0) i = (i + 1) & (ks->nslots - 1);
  ks->slots[i] = idx;
  return idx;
}

static void keys_free(bc_keys *ks) {
  free(ks->k);
  free(ks->slots);
  memset(ks, 0, sizeof *ks);
}

/* The instruction-set tiers, best first (for the machine table), and the
 * order of the tier-gain columns. */
static const char *const tiers_best_first[] = {"avx512", "avx2", "neon", "scalar"};
static const char *const gain_tiers[] = {"scalar", "avx2", "avx512", "neon"};
#define N_TIERS 4
static const char *const levels_order[] = {"L1", "L2", "L3", "DRAM"};
#define N_LEVELS 4

static int tier_index(const char *isa) {
  for (int t = 0; t < N_TIERS; t++)
    if (strcmp(isa, gain_tiers[t]) == 0) return t;
  return -1;
}

/* ---- reading the inputs ---------------------------------------------------------- */

static char *read_whole_file(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (f == NULL) return NULL;
  size_t cap = 1 << 16, n = 0;
  char *buf = malloc(cap);
  if (buf == NULL) {
    fclose(f);
    errno = ENOMEM;
    return NULL;
  }
  for (;;) {
    if (n + 1 >= cap) {
      char *nb = realloc(buf, cap * 2);
      if (nb == NULL) {
        free(buf);
        fclose(f);
        errno = ENOMEM;
        return NULL;
      }
      buf = nb;
      cap *= 2;
    }
    size_t got = fread(buf + n, 1, cap - n - 1, f);
    n += got;
    if (got == 0) break;
  }
  if (ferror(f)) {
    int e = errno ? errno : EIO;
    free(buf);
    fclose(f);
    errno = e;
    return NULL;
  }
  fclose(f);
  buf[n] = '\0';
  *len = n;
  return buf;
}

static const char *base_name(const char *path) {
  const char *s = strrchr(path, '/');
  return s && s[1] ? s + 1 : path;
}

/* Loads one input into m; prints the error (naming the file) and returns 1 on
 * failure. */
static int load_machine(bc_machine *m, const char *path) {
  m->path = path;
  m->base = base_name(path);
  size_t len = 0;
  errno = 0;
  char *text = read_whole_file(path, &len);
  if (text == NULL) {
    fprintf(stderr, BC_NAME ": cannot read '%s': %s\n", path, strerror(errno ? errno : EIO));
    return 1;
  }
  m->root = cJSON_ParseWithLength(text, len);
  if (m->root == NULL) {
    const char *at = cJSON_GetErrorPtr();
    if (at != NULL && at >= text && at <= text + len) {
      long line = 1, col = 1;
      for (const char *p = text; p < at; p++) {
        if (*p == '\n') {
          line++;
          col = 1;
        } else {
          col++;
        }
      }
      fprintf(stderr, BC_NAME ": '%s' is not valid JSON (error near line %ld, column %ld)\n",
              path, line, col);
    } else {
      fprintf(stderr, BC_NAME ": '%s' is not valid JSON\n", path);
    }
    free(text);
    return 1;
  }
  free(text);
  if (!cJSON_IsObject(m->root)) {
    fprintf(stderr, BC_NAME ": '%s' is not a wsk bench file (not a JSON object; expected "
            "format \"" BC_FORMAT "\")\n", path);
    return 1;
  }
  const cJSON *fmt = cJSON_GetObjectItemCaseSensitive(m->root, "format");
  if (!cJSON_IsString(fmt) || fmt->valuestring == NULL) {
    fprintf(stderr, BC_NAME ": '%s' is not a wsk bench file (no \"format\"; expected \""
            BC_FORMAT "\")\n", path);
    return 1;
  }
  if (strcmp(fmt->valuestring, BC_FORMAT) != 0) {
    fprintf(stderr, BC_NAME ": '%s' has format \"%s\"; this wsk reads \"" BC_FORMAT "\"\n",
            path, fmt->valuestring);
    return 1;
  }
  m->mach = jobj(m->root, "machine");
  m->roof = jobj(m->root, "roofline");

  const cJSON *results = cJSON_GetObjectItemCaseSensitive(m->root, "results");
  if (results != NULL && !cJSON_IsArray(results) && !cJSON_IsNull(results)) {
    fprintf(stderr, BC_NAME ": '%s': \"results\" is not an array\n", path);
    return 1;
  }
  int count = cJSON_IsArray(results) ? cJSON_GetArraySize(results) : 0;
  if (count > 0) {
    m->res = calloc((size_t)count, sizeof *m->res);
    if (m->res == NULL) {
      fprintf(stderr, BC_NAME ": out of memory reading '%s'\n", path);
      return 1;
    }
  }
  int index = 0, ignored = 0;
  const cJSON *r;
  cJSON_ArrayForEach(r, results) {
    index++;
    if (!cJSON_IsObject(r)) {
      ignored++;
      continue;
    }
    bc_result *x = &m->res[m->nres++];
    x->key[K_FAMILY] = jstr(r, "family");
    x->key[K_OP] = jstr(r, "op");
    x->key[K_SHAPE] = jstr(r, "shape");
    x->key[K_LEVEL] = jstr(r, "level");
    x->key[K_ISA] = jstr(r, "isa");
    x->threads = jnum(r, "threads");
    if (isfinite(x->threads))
      snprintf(x->threads_buf, sizeof x->threads_buf, "%.15g", x->threads);
    x->key[K_THREADS] = x->threads_buf;
    x->time_ns = jnum(r, "time_ns");
    x->flops = jnum(r, "flops");
    x->bytes = jnum(r, "bytes");
    x->gflops = jnum(r, "gflops");
    x->gbs = jnum(r, "gbs");
    x->roof_pct = jnum(r, "roof_pct");
    x->bound = jstr(r, "bound");
    x->skip_reason = jstr(r, "skip_reason");
    x->skipped = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(r, "skipped"));
  }
  if (ignored)
    fprintf(stderr, BC_NAME ": '%s': %d of %d results are not JSON objects; ignored\n", path,
            ignored, index);
  return 0;
}

/* ---- labels -------------------------------------------------------------------------- */

static int set_label(bc_machine *m, const char *text) {
  char *l = xstrdup(text);
  if (l == NULL) return 1;
  free(m->label);
  m->label = l;
  return 0;
}

/* Column names: --label, else hostname, else the file name; equal names get
 * " (file name)" appended, and " #i" if that is still not enough. */
static int make_labels(bc_machine *ms, int n, char **labels, int nlabels) {
  for (int i = 0; i < n; i++) {
    const char *host = ms[i].mach ? jstr(ms[i].mach, "hostname") : "";
    const char *l = i < nlabels && labels[i][0] ? labels[i] : host[0] ? host : ms[i].base;
    if (set_label(&ms[i], l)) return 1;
  }
  for (int pass = 0; pass < 2; pass++) {
    char *dup = calloc((size_t)n, 1);
    if (dup == NULL) return 1;
    for (int i = 0; i < n; i++)
      for (int j = 0; j < n; j++)
        if (i != j && strcmp(ms[i].label, ms[j].label) == 0) dup[i] = 1;
    for (int i = 0; i < n; i++) {
      if (!dup[i]) continue;
      sbuf b = {0};
      if (pass == 0) sb_printf(&b, "%s (%s)", ms[i].label, ms[i].base);
      else sb_printf(&b, "%s #%d", ms[i].label, i + 1);
      if (b.oom) {
        free(dup);
        sb_free(&b);
        return 1;
      }
      free(ms[i].label);
      ms[i].label = b.p;
    }
    free(dup);
  }
  return 0;
}

/* File-name-safe, unique (case-insensitively) versions of the labels. */
static int make_plotnames(bc_machine *ms, int n) {
  for (int i = 0; i < n; i++) {
    const char *l = ms[i].label;
    size_t len = strlen(l);
    if (len > 64) len = 64;
    char *p = malloc(len + 16);
    if (p == NULL) return 1;
    size_t k = 0;
    for (size_t j = 0; j < len; j++) {
      unsigned char c = (unsigned char)l[j];
      int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
               c == '.' || c == '-' || c == '_';
      char o = ok ? (char)c : '_';
      if (o == '_' && k > 0 && p[k - 1] == '_') continue; /* collapse runs */
      if (k == 0 && (o == '.' || o == '-' || o == '_')) continue; /* no hidden/option names */
      p[k++] = o;
    }
    while (k > 0 && (p[k - 1] == '_' || p[k - 1] == '.')) k--;
    if (k == 0) {
      strcpy(p, "machine");
      k = strlen(p);
    }
    p[k] = '\0';
    for (int j = 0; j < i; j++) {
      if (strcasecmp(p, ms[j].plotname) == 0) {
        snprintf(p + k, 16, "-%d", i + 1);
        break;
      }
    }
    ms[i].plotname = p;
  }
  return 0;
}

/* ---- writing files -------------------------------------------------------------------- */

/* Writes data to path atomically: a temporary file in the same directory,
 * fsync, rename; then fsync of the directory (best effort). */
static int write_atomic(const char *path, const char *data, size_t len) {
  size_t plen = strlen(path);
  char *tmp = malloc(plen + 16);
  if (tmp == NULL) {
    fprintf(stderr, BC_NAME ": out of memory\n");
    return 1;
  }
  snprintf(tmp, plen + 16, "%s.tmp.XXXXXX", path);
  int fd = mkstemp(tmp);
  if (fd < 0) {
    fprintf(stderr, BC_NAME ": cannot create '%s': %s\n", tmp, strerror(errno));
    free(tmp);
    return 1;
  }
  mode_t mask = umask(0);
  umask(mask);
  (void)fchmod(fd, 0666 & ~mask);
  const char *what = "write";
  size_t off = 0;
  while (off < len) {
    ssize_t w = write(fd, data + off, len - off);
    if (w < 0) {
      if (errno == EINTR) continue;
      goto fail;
    }
    off += (size_t)w;
  }
  what = "fsync";
  if (fsync(fd) != 0) goto fail;
  what = "close";
  if (close(fd) != 0) {
    fd = -1;
    goto fail;
  }
  fd = -1;
  what = "rename";
  if (rename(tmp, path) != 0) goto fail;
  free(tmp);
  {
    char *dir = xstrdup(path);
    if (dir) {
      char *slash = strrchr(dir, '/');
      if (slash == dir) slash[1] = '\0';
      else if (slash) *slash = '\0';
      else strcpy(dir, ".");
      int dfd = open(dir, O_RDONLY);
      if (dfd >= 0) {
        (void)fsync(dfd);
        close(dfd);
      }
      free(dir);
    }
  }
  return 0;
fail: {
  int e = errno;
  if (fd >= 0) close(fd);
  unlink(tmp);
  fprintf(stderr, BC_NAME ": cannot write '%s' (%s): %s\n", path, what, strerror(e));
  free(tmp);
  return 1;
}
}

/* mkdir -p */
static int make_dirs(const char *dir) {
  char *p = xstrdup(dir);
  if (p == NULL) return -1;
  for (char *s = p + 1;; s++) {
    if (*s == '/' || *s == '\0') {
      char c = *s;
      *s = '\0';
      if (mkdir(p, 0777) != 0 && errno != EEXIST) {
        free(p);
        return -1;
      }
      *s = c;
      if (c == '\0') break;
    }
  }
  free(p);
  struct stat st;
  if (stat(dir, &st) != 0) return -1;
  if (!S_ISDIR(st.st_mode)) {
    errno = ENOTDIR;
    return -1;
  }
  return 0;
}

/* ---- the machine table --------------------------------------------------------------- */

typedef struct namelist {
  const char **v;
  int n, cap;
} namelist;

static int names_add(namelist *l, const char *s) {
  for (int i = 0; i < l->n; i++)
    if (strcmp(l->v[i], s) == 0) return 0;
  if (l->n == l->cap) {
    int cap = l->cap ? l->cap * 2 : 8;
    const char **v = realloc(l->v, (size_t)cap * sizeof *v);
    if (v == NULL) return 1;
    l->v = v;
    l->cap = cap;
  }
  l->v[l->n++] = s;
  return 0;
}

/* Names of the children of roofline.<a> and roofline.<b> over all machines,
 * the known ones first in the given order. */
static int collect_names(const bc_machine *ms, int n, const char *a, const char *b,
                         const char *const *known, int nknown, namelist *out) {
  namelist seen = {0};
  int err = 0;
  for (int i = 0; i < n && !err; i++) {
    const char *keys[2] = {a, b};
    for (int k = 0; k < 2 && !err; k++) {
      const cJSON *o = ms[i].roof ? jobj(ms[i].roof, keys[k]) : NULL;
      const cJSON *c;
      cJSON_ArrayForEach(c, o) {
        if (c->string && cJSON_IsNumber(c)) err |= names_add(&seen, c->string);
      }
    }
  }
  for (int k = 0; k < nknown && !err; k++)
    for (int i = 0; i < seen.n; i++)
      if (strcmp(seen.v[i], known[k]) == 0) err |= names_add(out, known[k]);
  for (int i = 0; i < seen.n && !err; i++) err |= names_add(out, seen.v[i]);
  free(seen.v);
  return err;
}

static void cell_pair(sbuf *b, double one, double all) {
  char x[48], y[48];
  if (isnan(one) && isnan(all)) {
    sb_puts(b, DASH);
    return;
  }
  sb_printf(b, "%s / %s", isnan(one) ? DASH : fmt3(one, x, sizeof x),
            isnan(all) ? DASH : fmt3(all, y, sizeof y));
}

static double roof_value(const bc_machine *m, const char *group, const char *name) {
  const cJSON *o = m->roof ? jobj(m->roof, group) : NULL;
  return o ? jpos(o, name) : NAN;
}

static int machine_table(sbuf *b, const bc_machine *ms, int n) {
  char tb[64];
  sb_puts(b, "## Machines\n\n|  |");
  for (int i = 0; i < n; i++) {
    sb_puts(b, " ");
    sb_md(b, ms[i].label);
    sb_puts(b, " |");
  }
  sb_puts(b, "\n|---|");
  for (int i = 0; i < n; i++) sb_puts(b, "---|");
  sb_puts(b, "\n");

#define ROW_BEGIN(title) sb_puts(b, "| " title " |")
#define CELL_END() sb_puts(b, " |")
  ROW_BEGIN("file");
  for (int i = 0; i < n; i++) {
    sb_puts(b, " ");
    sb_md(b, ms[i].base);
    CELL_END();
  }
  sb_puts(b, "\n");

  ROW_BEGIN("wsk, date, run time");
  for (int i = 0; i < n; i++) {
    const char *ver = jstr(ms[i].root, "wsk_version"), *date = jstr(ms[i].root, "date");
    double secs = jnum(ms[i].root, "seconds");
    sb_puts(b, " ");
    sb_md(b, ver[0] ? ver : DASH);
    sb_puts(b, ", ");
    sb_md(b, date[0] ? date : DASH);
    sb_printf(b, ", %s", isfinite(secs) ? fmt3(secs, tb, sizeof tb) : DASH);
    if (isfinite(secs)) sb_puts(b, " s");
    CELL_END();
  }
  sb_puts(b, "\n");

  ROW_BEGIN("CPU");
  for (int i = 0; i < n; i++) {
    const char *cpu = ms[i].mach ? jstr(ms[i].mach, "cpu") : "";
    const char *vendor = ms[i].mach ? jstr(ms[i].mach, "vendor") : "";
    sb_puts(b, " ");
    sb_md(b, cpu[0] ? cpu : DASH);
    if (vendor[0]) {
      sb_puts(b, " (");
      sb_md(b, vendor);
      sb_puts(b, ")");
    }
    CELL_END();
  }
  sb_puts(b, "\n");

  ROW_BEGIN("cores / PUs (packages)");
  for (int i = 0; i < n; i++) {
    const cJSON *m = ms[i].mach;
    double c = m ? jnum(m, "cores") : NAN, p = m ? jnum(m, "pus") : NAN,
           k = m ? jnum(m, "packages") : NAN;
    char x[48], y[48], z[48];
    sb_printf(b, " %s / %s (%s)", isfinite(c) ? fmt_count(c, x, sizeof x) : DASH,
              isfinite(p) ? fmt_count(p, y, sizeof y) : DASH,
              isfinite(k) ? fmt_count(k, z, sizeof z) : DASH);
    CELL_END();
  }
  sb_puts(b, "\n");

  ROW_BEGIN("caches (size " TIMES " count)");
  for (int i = 0; i < n; i++) {
    const cJSON *caches = ms[i].mach ? jobj(ms[i].mach, "caches") : NULL;
    const cJSON *counts = ms[i].mach ? jobj(ms[i].mach, "cache_counts") : NULL;
    const cJSON *c;
    int any = 0;
    sb_puts(b, " ");
    cJSON_ArrayForEach(c, caches) {
      if (!cJSON_IsNumber(c) || c->string == NULL) continue;
      double cnt = counts ? jnum(counts, c->string) : NAN;
      sb_puts(b, any ? ", " : "");
      sb_md(b, c->string);
      sb_printf(b, " %s", c->valuedouble > 0 ? fmt_bytes(c->valuedouble, tb, sizeof tb) : "?");
      char cb[48];
      if (isfinite(cnt)) sb_printf(b, " " TIMES "%s", fmt_count(cnt, cb, sizeof cb));
      any = 1;
    }
    if (!any) sb_puts(b, DASH);
    CELL_END();
  }
  sb_puts(b, "\n");

  ROW_BEGIN("tiers");
  for (int i = 0; i < n; i++) {
    const cJSON *isas = ms[i].mach ? cJSON_GetObjectItemCaseSensitive(ms[i].mach, "isas") : NULL;
    if (!cJSON_IsArray(isas)) isas = NULL;
    const cJSON *c;
    int any = 0;
    sb_puts(b, " ");
    cJSON_ArrayForEach(c, isas) {
      if (!cJSON_IsString(c)) continue;
      sb_puts(b, any ? " " : "");
      sb_md(b, c->valuestring);
      any = 1;
    }
    if (!any) sb_puts(b, DASH);
    CELL_END();
  }
  sb_puts(b, "\n");

  namelist tiers = {0}, levels = {0};
  int err = collect_names(ms, n, "fma_gflops", "fma_gflops_all", tiers_best_first, N_TIERS, &tiers);
  err |= collect_names(ms, n, "read_gbs", "read_gbs_all", levels_order, N_LEVELS, &levels);
  for (int t = 0; t < tiers.n && !err; t++) {
    sb_puts(b, "| FMA peak ");
    sb_md(b, tiers.v[t]);
    sb_puts(b, ", GFLOP/s (1 core / all) |");
    for (int i = 0; i < n; i++) {
      sb_puts(b, " ");
      cell_pair(b, roof_value(&ms[i], "fma_gflops", tiers.v[t]),
                roof_value(&ms[i], "fma_gflops_all", tiers.v[t]));
      CELL_END();
    }
    sb_puts(b, "\n");
  }
  for (int l = 0; l < levels.n && !err; l++) {
    sb_puts(b, "| read ");
    sb_md(b, levels.v[l]);
    sb_puts(b, ", GB/s (1 core / all) |");
    for (int i = 0; i < n; i++) {
      sb_puts(b, " ");
      cell_pair(b, roof_value(&ms[i], "read_gbs", levels.v[l]),
                roof_value(&ms[i], "read_gbs_all", levels.v[l]));
      CELL_END();
    }
    sb_puts(b, "\n");
  }
  free(tiers.v);
  free(levels.v);

  ROW_BEGIN("pinning");
  for (int i = 0; i < n; i++) {
    const char *p = ms[i].mach ? jstr(ms[i].mach, "pinning") : "";
    sb_puts(b, " ");
    sb_md(b, p[0] ? p : DASH);
    CELL_END();
  }
  sb_puts(b, "\n\n");
#undef ROW_BEGIN
#undef CELL_END
  return err;
}

/* ---- the results table ------------------------------------------------------------------- */

static int use_gbs(const bc_result *r) {
  return strcmp(r->bound, "bandwidth") == 0 || !(r->flops > 0);
}

static void result_cells(sbuf *b, const bc_result *r) {
  char t[64], v[64];
  if (r == NULL) {
    sb_puts(b, " " DASH " | " DASH " | " DASH " |");
    return;
  }
  if (r->skipped) {
    sb_puts(b, " skipped");
    if (r->skip_reason[0]) {
      sb_puts(b, " (");
      sb_md(b, r->skip_reason);
      sb_puts(b, ")");
    }
    sb_puts(b, " |  |  |");
    return;
  }
  sb_printf(b, " %s |", fmt_time(r->time_ns, t, sizeof t));
  int gb = use_gbs(r);
  double val = gb ? r->gbs : r->gflops;
  if (isnan(val)) { /* the other one, if that is all there is */
    gb = !gb;
    val = gb ? r->gbs : r->gflops;
  }
  if (isnan(val)) sb_puts(b, " " DASH " |");
  else sb_printf(b, " %s %s |", fmt3(val, v, sizeof v), gb ? "GB/s" : "GFLOP/s");
  if (isnan(r->roof_pct) || (r->roof_pct == 0 && r->bound[0] == '\0')) sb_puts(b, " " DASH " |");
  else sb_printf(b, " %s%% |", fmt3(r->roof_pct, v, sizeof v));
}

static void results_table(sbuf *b, const bc_machine *ms, int n, const bc_keys *ks) {
  sb_puts(b, "## Results\n\n"
             "Time per iteration; GFLOP/s, or GB/s where the bound is bandwidth or the\n"
             "kernel does no FLOPs (both totals over the threads); % of the roofline\n"
             "bound that applies. " DASH " : not run on that machine.\n\n|");
  for (int k = 0; k < K_COUNT; k++) sb_printf(b, " %s |", key_names[k]);
  for (int i = 0; i < n; i++) {
    static const char *const cols[] = {"time", "GFLOP/s or GB/s", "% roof"};
    for (int c = 0; c < 3; c++) {
      sb_puts(b, " ");
      sb_md(b, ms[i].label);
      sb_printf(b, ": %s |", cols[c]);
    }
  }
  sb_puts(b, "\n|");
  for (int k = 0; k < K_COUNT; k++) sb_puts(b, k == K_THREADS ? "---:|" : "---|");
  for (int i = 0; i < n; i++) sb_puts(b, "---:|---:|---:|");
  sb_puts(b, "\n");
  for (size_t k = 0; k < ks->n; k++) {
    sb_puts(b, "|");
    for (int f = 0; f < K_COUNT; f++) {
      sb_puts(b, " ");
      sb_md(b, ks->k[k].f[f][0] ? ks->k[k].f[f] : DASH);
      sb_puts(b, " |");
    }
    for (int i = 0; i < n; i++) {
      long r = ms[i].by_key[k];
      result_cells(b, r >= 0 ? &ms[i].res[r] : NULL);
    }
    sb_puts(b, "\n");
  }
  if (ks->n == 0) sb_puts(b, "\n(no results in any input)\n");
  sb_puts(b, "\n");
}

/* ---- tier gains ------------------------------------------------------------------------------ */

typedef struct gain_group {
  size_t first; /* a result of the group (its key fields) */
  long idx[N_TIERS];
  int entries;
} gain_group;

static int same_group(const bc_result *a, const bc_result *b) {
  for (int k = 0; k < K_COUNT; k++)
    if (k != K_ISA && strcmp(a->key[k], b->key[k]) != 0) return 0;
  return 1;
}

static int measured(const bc_result *r) {
  return !r->skipped && isfinite(r->time_ns) && r->time_ns > 0;
}

static int gains_table(sbuf *b, const bc_machine *m) {
  gain_group *g = NULL;
  size_t ng = 0;
  if (m->nres) {
    g = calloc(m->nres, sizeof *g);
    if (g == NULL) return 1;
  }
  /* Groups in first-seen order (quadratic in the worst case, but only over
   * results with a tier ISA; a run has a few hundred). */
  for (size_t r = 0; r < m->nres; r++) {
    int t = tier_index(m->res[r].key[K_ISA]);
    if (t < 0) continue;
    size_t j;
    for (j = 0; j < ng; j++)
      if (same_group(&m->res[g[j].first], &m->res[r])) break;
    if (j == ng) {
      g[ng].first = r;
      for (int u = 0; u < N_TIERS; u++) g[ng].idx[u] = -1;
      ng++;
    }
    if (g[j].idx[t] < 0) {
      g[j].idx[t] = (long)r;
      g[j].entries++;
    }
  }
  int used[N_TIERS] = {0}, rows = 0;
  for (size_t j = 0; j < ng; j++) {
    if (g[j].entries < 2) continue;
    rows++;
    for (int t = 0; t < N_TIERS; t++)
      if (g[j].idx[t] >= 0) used[t] = 1;
  }
  sb_puts(b, "### ");
  sb_md(b, m->label);
  sb_puts(b, "\n\n");
  if (rows == 0) {
    sb_puts(b, "No case ran on two or more tiers here.\n\n");
    free(g);
    return 0;
  }
  sb_puts(b, "| family | op | shape | level | threads |");
  for (int t = 0; t < N_TIERS; t++)
    if (used[t]) sb_printf(b, " %s |", gain_tiers[t]);
  sb_puts(b, " best | speed-up of best over scalar |\n|---|---|---|---|---:|");
  for (int t = 0; t < N_TIERS; t++)
    if (used[t]) sb_puts(b, "---:|");
  sb_puts(b, "---|---:|\n");
  for (size_t j = 0; j < ng; j++) {
    if (g[j].entries < 2) continue;
    const bc_result *first = &m->res[g[j].first];
    /* Work per iteration: FLOPs if every measured tier has them, else bytes,
     * else the times alone. Cell = best rate / this tier's rate. */
    int all_flops = 1, all_bytes = 1;
    for (int t = 0; t < N_TIERS; t++) {
      long r = g[j].idx[t];
      if (r < 0 || !measured(&m->res[r])) continue;
      if (!(m->res[r].flops > 0)) all_flops = 0;
      if (!(m->res[r].bytes > 0)) all_bytes = 0;
    }
    double rate[N_TIERS], best = 0;
    int best_t = -1;
    for (int t = 0; t < N_TIERS; t++) {
      long r = g[j].idx[t];
      rate[t] = NAN;
      if (r < 0 || !measured(&m->res[r])) continue;
      const bc_result *x = &m->res[r];
      double work = all_flops ? x->flops : all_bytes ? x->bytes : 1.0;
      rate[t] = work / x->time_ns;
      if (rate[t] > best) {
        best = rate[t];
        best_t = t;
      }
    }
    sb_puts(b, "|");
    for (int k = 0; k < K_COUNT; k++) {
      if (k == K_ISA) continue;
      sb_puts(b, " ");
      sb_md(b, first->key[k][0] ? first->key[k] : DASH);
      sb_puts(b, " |");
    }
    char v[48];
    for (int t = 0; t < N_TIERS; t++) {
      if (!used[t]) continue;
      long r = g[j].idx[t];
      if (r < 0) sb_puts(b, " " DASH " |");
      else if (m->res[r].skipped) sb_puts(b, " skipped |");
      else if (isnan(rate[t])) sb_puts(b, " n/a |");
      else sb_printf(b, " %s" TIMES " |", fmt3(best / rate[t], v, sizeof v));
    }
    if (best_t < 0) {
      sb_puts(b, " " DASH " | " DASH " |\n");
    } else {
      sb_printf(b, " %s |", gain_tiers[best_t]);
      if (isnan(rate[0])) sb_puts(b, " " DASH " |\n");
      else sb_printf(b, " %s" TIMES " |\n", fmt3(best / rate[0], v, sizeof v));
    }
  }
  sb_puts(b, "\n");
  free(g);
  return 0;
}

/* ---- roofline plots --------------------------------------------------------------------------- */

/* 1 if a program named `name` is an executable file in a PATH directory. */
static int on_path(const char *name) {
  const char *path = getenv("PATH");
  if (path == NULL || path[0] == '\0') path = "/usr/local/bin:/usr/bin:/bin";
  size_t nlen = strlen(name);
  const char *s = path;
  for (;;) {
    const char *e = strchr(s, ':');
    size_t dlen = e ? (size_t)(e - s) : strlen(s);
    char *full = malloc(dlen + nlen + 3);
    if (full == NULL) return 0;
    if (dlen == 0) snprintf(full, dlen + nlen + 3, "./%s", name);
    else snprintf(full, dlen + nlen + 3, "%.*s/%s", (int)dlen, s, name);
    struct stat st;
    int ok = stat(full, &st) == 0 && S_ISREG(st.st_mode) && access(full, X_OK) == 0;
    free(full);
    if (ok) return 1;
    if (e == NULL) return 0;
    s = e + 1;
  }
}

typedef struct plot_range {
  double xlo, xhi, ylo, yhi;
} plot_range;

/* One plottable point of a result, or 0. */
static int plot_point(const bc_result *r, double *ai, double *gf) {
  if (r->skipped || !(r->bytes > 0) || !(r->flops > 0) || !isfinite(r->bytes) ||
      !isfinite(r->flops) || !(r->gflops > 0) || !isfinite(r->gflops))
    return 0;
  *ai = r->flops / r->bytes;
  *gf = r->gflops;
  return 1;
}

static double best_peak(const bc_machine *m, const char *group) {
  double best = 0;
  const cJSON *o = m->roof ? jobj(m->roof, group) : NULL;
  const cJSON *c;
  cJSON_ArrayForEach(c, o) {
    if (cJSON_IsNumber(c) && isfinite(c->valuedouble) && c->valuedouble > best)
      best = c->valuedouble;
  }
  return best;
}

/* One set of axes for every plot: all points, peaks and ridge points. */
static plot_range common_range(const bc_machine *ms, int n) {
  double xmin = INFINITY, xmax = 0, ymin = INFINITY, ymax = 0;
  for (int i = 0; i < n; i++) {
    const bc_machine *m = &ms[i];
    for (size_t r = 0; r < m->nres; r++) {
      double ai, gf;
      if (!plot_point(&m->res[r], &ai, &gf)) continue;
      xmin = fmin(xmin, ai);
      xmax = fmax(xmax, ai);
      ymin = fmin(ymin, gf);
      ymax = fmax(ymax, gf);
    }
    static const char *const peaks[2] = {"fma_gflops", "fma_gflops_all"};
    static const char *const bws[2] = {"read_gbs", "read_gbs_all"};
    for (int k = 0; k < 2; k++) {
      double p = best_peak(m, peaks[k]);
      if (p > 0) ymax = fmax(ymax, p);
      const cJSON *o = m->roof ? jobj(m->roof, bws[k]) : NULL;
      const cJSON *c;
      cJSON_ArrayForEach(c, o) {
        if (!cJSON_IsNumber(c) || !(c->valuedouble > 0) || !isfinite(c->valuedouble)) continue;
        if (p > 0) xmax = fmax(xmax, p / c->valuedouble); /* ridge point */
      }
    }
  }
  plot_range pr;
  if (!(xmin < INFINITY)) xmin = 1.0 / 16;
  if (!(xmax > 0)) xmax = 16;
  xmin = fmin(xmin, 1.0 / 16);
  xmax = fmax(xmax, 16);
  pr.xlo = pow(10.0, floor(log10(xmin / 1.5)));
  pr.xhi = pow(10.0, ceil(log10(xmax * 1.5)));
  if (!(ymax > 0)) ymax = 100;
  pr.yhi = pow(10.0, ceil(log10(ymax * 1.8)));
  /* The bottom: the lowest point, but no more than 5 decades under the top,
   * so that the diagonals start low enough to read. */
  double lo = ymin < INFINITY ? ymin / 1.5 : pr.yhi / 1e4;
  lo = fmin(lo, pr.yhi / 1e3);
  lo = fmax(lo, pr.yhi / 1e5);
  pr.ylo = pow(10.0, floor(log10(lo)));
  return pr;
}

typedef struct plot_label {
  char text[96];
  double x, py; /* py: pixel row from the bottom of the plot area */
  const char *color;
} plot_label;

static int cmp_label(const void *a, const void *b) {
  double d = ((const plot_label *)b)->py - ((const plot_label *)a)->py;
  return d > 0 ? 1 : d < 0 ? -1 : 0;
}

static const char *tier_color(const char *t) {
  if (strcmp(t, "avx512") == 0) return "#d62728";
  if (strcmp(t, "avx2") == 0) return "#ff7f0e";
  if (strcmp(t, "neon") == 0) return "#8c564b";
  if (strcmp(t, "scalar") == 0) return "#7f7f7f";
  return "#bcbd22";
}

static const char *level_color(const char *l) {
  if (strcmp(l, "L1") == 0) return "#1f77b4";
  if (strcmp(l, "L2") == 0) return "#17becf";
  if (strcmp(l, "L3") == 0) return "#2ca02c";
  if (strcmp(l, "DRAM") == 0) return "#9467bd";
  return "#e377c2";
}

static const char *const family_colors[] = {"#1b9e77", "#d95f02", "#7570b3", "#e7298a",
                                            "#66a61e", "#e6ab02", "#a6761d", "#000000"};
#define N_FAMILY_COLORS 8

/* Point types (pngcairo/png): filled, open per tier; other ISAs (peers) last. */
static const int tier_pt_filled[N_TIERS + 1] = {7, 9, 5, 13, 15};
static const int tier_pt_open[N_TIERS + 1] = {6, 8, 4, 12, 14};

#define PLOT_W 1400
#define PLOT_H 860
/* The plot area, fixed in screen fractions so that the labels can follow
 * the diagonals: left, right, bottom, top. The key goes to the right. */
#define PLOT_L 0.065
#define PLOT_R 0.655
#define PLOT_B 0.075
#define PLOT_T 0.93

/* Writes the script and data of machine m's plot into dir. Returns 0, 1 on
 * error, or -1 when there is nothing to plot. */
static int write_plot_files(const bc_machine *m, const plot_range *pr, const char *dir) {
  sbuf gp = {0}, dat = {0};
  namelist fams = {0}, isas = {0};
  plot_label labels[64];
  double placed[64]; /* bandwidths whose diagonal is labelled */
  int nlab = 0, nplaced = 0, block = 0, rc = 1;
  /* pixels per decade on each axis; a slope-1 line rises at `angle` */
  double ppd = PLOT_H * (PLOT_T - PLOT_B) / log10(pr->yhi / pr->ylo);
  double ppdx = PLOT_W * (PLOT_R - PLOT_L) / log10(pr->xhi / pr->xlo);
  double angle = atan2(ppd, ppdx) * 180.0 / 3.14159265358979323846;

  sb_puts(&gp, "# gnuplot script written by wsk bench-compare\n"
               "set encoding utf8\n"
               "if (strstrt(GPVAL_TERMINALS, \"pngcairo\") > 0) {\n");
  sb_printf(&gp, "  set terminal pngcairo size %d,%d font \"sans,10\"\n} else {\n", PLOT_W, PLOT_H);
  sb_printf(&gp, "  set terminal png size %d,%d\n}\n", PLOT_W, PLOT_H);
  sb_puts(&gp, "set termoption noenhanced\nset output \"roofline.png\"\n");
  {
    sbuf title = {0};
    const char *cpu = m->mach ? jstr(m->mach, "cpu") : "";
    double cores = m->mach ? jnum(m->mach, "cores") : NAN;
    sb_printf(&title, "wsk roofline: %s", m->label);
    if (cpu[0]) sb_printf(&title, " - %s", cpu);
    if (isfinite(cores)) sb_printf(&title, " (%.0f cores)", cores);
    sb_puts(&gp, "set title ");
    sb_gp(&gp, title.oom ? m->label : title.p);
    sb_puts(&gp, " font \",13\"\n");
    sb_free(&title);
  }
  sb_printf(&gp,
            "set logscale xy 10\n"
            "set xrange [%.9g:%.9g]\nset yrange [%.9g:%.9g]\n"
            "set format x \"%%g\"\nset format y \"%%g\"\n"
            "set xlabel \"arithmetic intensity (FLOP/byte)\"\n"
            "set ylabel \"GFLOP/s (total over threads)\"\n"
            "set grid xtics ytics mxtics mytics lc rgb \"#e0e0e0\" lw 1 dt 1, lc rgb \"#f0f0f0\"\n"
            "set key outside right top Left reverse samplen 2.5 spacing 1.15 font \",9\" box lc rgb \"#bbbbbb\"\n"
            "set border lw 1.2\n"
            "set lmargin at screen %.4f\nset rmargin at screen %.4f\n"
            "set bmargin at screen %.4f\nset tmargin at screen %.4f\n",
            pr->xlo, pr->xhi, pr->ylo, pr->yhi, PLOT_L, PLOT_R, PLOT_B, PLOT_T);

  sbuf plot = {0};
  const char *sep = "plot ";
  double best1 = best_peak(m, "fma_gflops"), bestall = best_peak(m, "fma_gflops_all");
  char v[48];

  /* Ceilings: peaks (horizontal), then bandwidths (diagonal), 1 core solid,
   * all cores dashed (the best tier only, to keep the plot readable). */
  for (int all = 0; all < 2; all++) {
    const char *group = all ? "fma_gflops_all" : "fma_gflops";
    double best = all ? bestall : best1;
    const cJSON *o = m->roof ? jobj(m->roof, group) : NULL;
    /* known tiers in best-first order, then any other */
    for (int pass = 0; pass < 2; pass++) {
      const cJSON *c;
      cJSON_ArrayForEach(c, o) {
        if (!cJSON_IsNumber(c) || c->string == NULL || !(c->valuedouble > 0) ||
            !isfinite(c->valuedouble))
          continue;
        int known = -1;
        for (int t = 0; t < N_TIERS; t++)
          if (strcmp(c->string, tiers_best_first[t]) == 0) known = t;
        if ((pass == 0) != (known >= 0)) continue;
        if (all && c->valuedouble < best) continue;
        double p = c->valuedouble;
        sb_printf(&dat, "# block %d: peak %s%s\n%.9g %.9g\n%.9g %.9g\n\n\n", block, c->string,
                  all ? " all cores" : "", pr->xlo, p, pr->xhi, p);
        sbuf t = {0};
        sb_printf(&t, "%s peak, %s: %s GFLOP/s", c->string, all ? "all cores" : "1 core",
                  fmt3(p, v, sizeof v));
        sb_printf(&plot, "%s\"roofline.dat\" index %d using 1:2 with lines lw %s dt %d lc rgb \"%s\" title ",
                  sep, block++, all ? "1.5" : "2.5", all ? 2 : 1, tier_color(c->string));
        sb_gp(&plot, t.oom ? c->string : t.p);
        sep = ", \\\n     ";
        sb_free(&t);
        if (!all && nlab < 64) {
          plot_label *l = &labels[nlab++];
          snprintf(l->text, sizeof l->text, "%s %s GFLOP/s", c->string, fmt3(p, v, sizeof v));
          l->x = pr->xlo * 1.15;
          l->py = log10(p / pr->ylo) * ppd + 9;
          l->color = tier_color(c->string);
        }
      }
    }
  }
  for (int all = 0; all < 2; all++) {
    const char *group = all ? "read_gbs_all" : "read_gbs";
    double best = all ? bestall : best1;
    const cJSON *o = m->roof ? jobj(m->roof, group) : NULL;
    for (int pass = 0; pass < 2; pass++) {
      const cJSON *c;
      cJSON_ArrayForEach(c, o) {
        if (!cJSON_IsNumber(c) || c->string == NULL || !(c->valuedouble > 0) ||
            !isfinite(c->valuedouble))
          continue;
        int known = -1;
        for (int l = 0; l < N_LEVELS; l++)
          if (strcmp(c->string, levels_order[l]) == 0) known = l;
        if ((pass == 0) != (known >= 0)) continue;
        double bw = c->valuedouble;
        double x0 = pr->xlo, x1 = pr->xhi;
        if (best > 0) x1 = fmin(x1, best / bw); /* cut at the best peak */
        if (x1 <= x0) continue;
        sb_printf(&dat, "# block %d: read %s%s\n%.9g %.9g\n%.9g %.9g\n\n\n", block, c->string,
                  all ? " all cores" : "", x0, bw * x0, x1, bw * x1);
        sbuf t = {0};
        sb_printf(&t, "%s read, %s: %s GB/s", c->string, all ? "all cores" : "1 core",
                  fmt3(bw, v, sizeof v));
        sb_printf(&plot, "%s\"roofline.dat\" index %d using 1:2 with lines lw %s dt %d lc rgb \"%s\" title ",
                  sep, block++, all ? "1.5" : "2.5", all ? 2 : 1, level_color(c->string));
        sb_gp(&plot, t.oom ? c->string : t.p);
        sep = ", \\\n     ";
        sb_free(&t);
        if (!all) {
          /* along the line, a third of the way back from where it ends,
           * rotated with it, just above it */
          double xl = x1 / 3;
          /* lines of nearly equal bandwidth: the later label further down */
          for (int j = 0; j < nplaced; j++)
            if (fmax(placed[j], bw) / fmin(placed[j], bw) < 1.4) xl /= 3.5;
          if (nplaced < 64) placed[nplaced++] = bw;
          if (bw * xl < pr->ylo * 2) xl = pr->ylo * 2 / bw;
          if (xl < x0 * 1.5) xl = x0 * 1.5;
          if (xl < x1) {
            sb_puts(&gp, "set label ");
            sbuf t2 = {0};
            sb_printf(&t2, "%s %s GB/s", c->string, fmt3(bw, v, sizeof v));
            sb_gp(&gp, t2.oom ? c->string : t2.p);
            sb_free(&t2);
            sb_printf(&gp, " at %.9g,%.9g center rotate by %.2f offset character 0,0.7 front "
                      "textcolor rgb \"%s\" font \",9\"\n", xl, bw * xl, angle,
                      level_color(c->string));
          }
        }
      }
    }
  }

  /* Points: one block per (family, ISA, 1 thread or more). */
  int no_flops = 0, points = 0;
  for (size_t r = 0; r < m->nres; r++) {
    const bc_result *x = &m->res[r];
    double ai, gf;
    if (!x->skipped && x->bytes > 0 && !(x->flops > 0)) no_flops++;
    if (!plot_point(x, &ai, &gf)) continue;
    if (names_add(&fams, x->key[K_FAMILY]) || names_add(&isas, x->key[K_ISA])) goto out;
  }
  for (int f = 0; f < fams.n; f++) {
    for (int s = 0; s < isas.n; s++) {
      for (int multi = 0; multi < 2; multi++) {
        int count = 0;
        for (size_t r = 0; r < m->nres; r++) {
          const bc_result *x = &m->res[r];
          double ai, gf;
          if (!plot_point(x, &ai, &gf) || strcmp(x->key[K_FAMILY], fams.v[f]) != 0 ||
              strcmp(x->key[K_ISA], isas.v[s]) != 0 || ((x->threads > 1) != multi))
            continue;
          if (count++ == 0) sb_printf(&dat, "# block %d: %s %s %s\n", block, fams.v[f], isas.v[s],
                                      multi ? "threads > 1" : "1 thread");
          sb_printf(&dat, "%.9g %.9g\n", ai, gf);
        }
        if (count == 0) continue;
        sb_puts(&dat, "\n\n");
        int t = tier_index(isas.v[s]);
        if (t < 0) t = N_TIERS;
        sb_printf(&plot, "%s\"roofline.dat\" index %d using 1:2 with points pt %d ps 1.6 lw 1.5 lc rgb \"%s\" notitle",
                  sep, block++, multi ? tier_pt_open[t] : tier_pt_filled[t],
                  family_colors[f % N_FAMILY_COLORS]);
        sep = ", \\\n     ";
        points += count;
      }
    }
  }
  if (block == 0) {
    rc = -1;
    goto out;
  }
  /* The legend for the points: colours = families, shapes = tiers. */
  for (int f = 0; f < fams.n; f++) {
    sb_printf(&plot, "%skeyentry with points pt 7 ps 1.6 lc rgb \"%s\" title ", sep,
              family_colors[f % N_FAMILY_COLORS]);
    sbuf t = {0};
    sb_printf(&t, "family %s", fams.v[f]);
    sb_gp(&plot, t.oom ? fams.v[f] : t.p);
    sb_free(&t);
  }
  for (int s = 0; s < isas.n; s++) {
    int t = tier_index(isas.v[s]);
    if (t < 0) t = N_TIERS;
    sb_printf(&plot, "%skeyentry with points pt %d ps 1.6 lc rgb \"#444444\" title ", sep,
              tier_pt_filled[t]);
    sbuf tt = {0};
    sb_printf(&tt, "ISA %s", isas.v[s]);
    sb_gp(&plot, tt.oom ? isas.v[s] : tt.p);
    sb_free(&tt);
  }
  if (points > 0)
    sb_printf(&plot, "%skeyentry with points pt 6 ps 1.6 lc rgb \"#444444\" "
                     "title \"open marker: more than 1 thread\"", sep);
  if (no_flops > 0)
    sb_printf(&plot, "%skeyentry with lines lc rgb \"#ffffff\" title \"not plotted: %d result%s "
                     "without FLOPs (bandwidth only)\"", sep, no_flops, no_flops == 1 ? "" : "s");
  if (points == 0)
    sb_printf(&plot, "%skeyentry with lines lc rgb \"#ffffff\" title \"no result with FLOPs and bytes\"",
              sep);

  /* Labels on the 1-core ceilings, at the left edge, pushed apart. */
  qsort(labels, (size_t)nlab, sizeof labels[0], cmp_label);
  for (int i = 1; i < nlab; i++)
    if (labels[i].py > labels[i - 1].py - 15) labels[i].py = labels[i - 1].py - 15;
  for (int i = 0; i < nlab; i++) {
    sb_puts(&gp, "set label ");
    sb_gp(&gp, labels[i].text);
    sb_printf(&gp, " at %.9g,%.9g left front textcolor rgb \"%s\" font \",9\"\n", labels[i].x,
              pr->ylo * pow(10.0, labels[i].py / ppd), labels[i].color);
  }
  sb_puts(&gp, plot.p ? plot.p : "");
  sb_puts(&gp, "\nset output\n");
  if (gp.oom || dat.oom || plot.oom) {
    fprintf(stderr, BC_NAME ": out of memory\n");
    goto out;
  }
  {
    size_t dl = strlen(dir);
    char *p = malloc(dl + 32);
    if (p == NULL) goto out;
    snprintf(p, dl + 32, "%s/roofline.gp", dir);
    int e = write_atomic(p, gp.p, gp.n);
    snprintf(p, dl + 32, "%s/roofline.dat", dir);
    if (!e) e = write_atomic(p, dat.p ? dat.p : "", dat.n);
    free(p);
    if (e) goto out;
  }
  rc = 0;
out:
  sb_free(&plot);
  sb_free(&gp);
  sb_free(&dat);
  free(fams.v);
  free(isas.v);
  return rc;
}

/* Runs `gnuplot roofline.gp` in dir (its stdout to our stderr, stdin from
 * /dev/null); returns its exit status, or -1. */
static int run_gnuplot(const char *dir) {
  fflush(stdout);
  fflush(stderr);
  pid_t pid = fork();
  if (pid < 0) return -1;
  if (pid == 0) {
    int fd = open("/dev/null", O_RDONLY);
    if (fd >= 0) {
      dup2(fd, 0);
      close(fd);
    }
    dup2(2, 1);
    if (chdir(dir) != 0) _exit(126);
    char *args[] = {"gnuplot", "roofline.gp", NULL};
    execvp("gnuplot", args);
    _exit(127);
  }
  int status = 0;
  while (waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) return -1;
  }
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  return 128 + (WIFSIGNALED(status) ? WTERMSIG(status) : 0);
}

static void remove_plot_tmp(const char *dir) {
  static const char *const files[] = {"roofline.gp", "roofline.dat", "roofline.png"};
  size_t dl = strlen(dir);
  char *p = malloc(dl + 32);
  if (p == NULL) return;
  for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
    snprintf(p, dl + 32, "%s/%s", dir, files[i]);
    unlink(p);
  }
  free(p);
  rmdir(dir);
}

/* Plots every machine into plot_dir; returns 0 or 1 (a plot failed). */
static int write_plots(bc_machine *ms, int n, const char *plot_dir) {
  if (make_dirs(plot_dir) != 0) {
    fprintf(stderr, BC_NAME ": cannot create the plot directory '%s': %s\n", plot_dir,
            strerror(errno));
    return 1;
  }
  const char *tmpbase = getenv("TMPDIR");
  if (tmpbase == NULL || tmpbase[0] == '\0') tmpbase = "/tmp";
  plot_range pr = common_range(ms, n);
  int rc = 0;
  for (int i = 0; i < n; i++) {
    bc_machine *m = &ms[i];
    size_t tl = strlen(tmpbase);
    char *dir = malloc(tl + 32);
    if (dir == NULL) return 1;
    snprintf(dir, tl + 32, "%s/wsk-plot.XXXXXX", tmpbase);
    if (mkdtemp(dir) == NULL) {
      fprintf(stderr, BC_NAME ": cannot create a temporary directory in '%s': %s\n", tmpbase,
              strerror(errno));
      free(dir);
      return 1;
    }
    int w = write_plot_files(m, &pr, dir);
    if (w < 0) {
      fprintf(stderr, BC_NAME ": %s: no roofline and no result with FLOPs and bytes: no plot\n",
              m->label);
      remove_plot_tmp(dir);
      free(dir);
      continue;
    }
    if (w > 0) {
      remove_plot_tmp(dir);
      free(dir);
      rc = 1;
      continue;
    }
    int st = run_gnuplot(dir);
    size_t dl = strlen(dir);
    char *png = malloc(dl + 32);
    size_t len = 0;
    char *data = NULL;
    if (png) {
      snprintf(png, dl + 32, "%s/roofline.png", dir);
      if (st == 0) data = read_whole_file(png, &len);
    }
    if (st != 0 || data == NULL || len == 0) {
      if (st == 127)
        fprintf(stderr, BC_NAME ": could not run gnuplot for %s\n", m->label);
      else
        fprintf(stderr, BC_NAME ": gnuplot failed for %s (exit status %d); its script and "
                "data are kept in %s\n", m->label, st, dir);
      if (st == 127) remove_plot_tmp(dir);
      free(data);
      free(png);
      free(dir);
      rc = 1;
      continue;
    }
    size_t pl = strlen(plot_dir) + strlen(m->plotname) + 32;
    char *dest = malloc(pl);
    if (dest == NULL) {
      free(data);
      free(png);
      remove_plot_tmp(dir);
      free(dir);
      return 1;
    }
    snprintf(dest, pl, "%s%sroofline-%s.png", plot_dir,
             plot_dir[strlen(plot_dir) - 1] == '/' ? "" : "/", m->plotname);
    if (write_atomic(dest, data, len) == 0) {
      m->plot_written = dest;
      fprintf(stderr, BC_NAME ": wrote %s\n", dest);
    } else {
      free(dest);
      rc = 1;
    }
    free(data);
    free(png);
    remove_plot_tmp(dir);
    free(dir);
  }
  return rc;
}

/* ---- the command ---------------------------------------------------------------------------- */

/* Prints "wsk bench-compare: <a><b>" and the usage on stderr; returns 2. */
static int usage_error(const char *a, const char *b) {
  fprintf(stderr, BC_NAME ": %s%s\n\n", a, b);
  wsk_cmd_bench_compare_usage(stderr);
  return 2;
}

/* The option's value: "--opt=V", "-oV", or the next argument. */
static const char *opt_value(int argc, char **argv, int *i, const char *longname,
                             const char *shortname, int *matched) {
  const char *a = argv[*i];
  size_t ll = strlen(longname);
  *matched = 0;
  if (strncmp(a, longname, ll) == 0 && (a[ll] == '\0' || a[ll] == '=')) {
    *matched = 1;
    if (a[ll] == '=') return a + ll + 1;
  } else if (shortname && strncmp(a, shortname, 2) == 0) {
    *matched = 1;
    if (a[2] != '\0') return a + 2;
  } else {
    return NULL;
  }
  if (*i + 1 >= argc) return NULL;
  return argv[++*i];
}

int wsk_cmd_bench_compare(int argc, char **argv) {
  const char *out_path = NULL, *plot_dir = NULL;
  int no_plots = 0, nfiles = 0, nlabels = 0, only_files = 0;
  char **files = calloc((size_t)(argc > 0 ? argc : 1), sizeof *files);
  char **labels = calloc((size_t)(argc > 0 ? argc : 1), sizeof *labels);
  bc_machine *ms = NULL;
  bc_keys ks = {0};
  sbuf md = {0};
  char *default_plot_dir = NULL;
  int rc = 1;
  if (files == NULL || labels == NULL) {
    fprintf(stderr, BC_NAME ": out of memory\n");
    goto done;
  }

  for (int i = 1; i < argc; i++) {
    const char *a = argv[i], *v;
    int matched;
    if (only_files || a[0] != '-' || strcmp(a, "-") == 0) {
      files[nfiles++] = argv[i];
      continue;
    }
    if (strcmp(a, "--") == 0) {
      only_files = 1;
      continue;
    }
    if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
      wsk_cmd_bench_compare_usage(stdout);
      rc = 0;
      goto done;
    }
    if (strcmp(a, "--no-plots") == 0) {
      no_plots = 1;
      continue;
    }
    v = opt_value(argc, argv, &i, "--output", "-o", &matched);
    if (matched) {
      if (v == NULL || v[0] == '\0') {
        rc = usage_error(a, " needs a file name");
        goto done;
      }
      out_path = v;
      continue;
    }
    v = opt_value(argc, argv, &i, "--plot-dir", NULL, &matched);
    if (matched) {
      if (v == NULL || v[0] == '\0') {
        rc = usage_error(a, " needs a directory");
        goto done;
      }
      plot_dir = v;
      continue;
    }
    v = opt_value(argc, argv, &i, "--label", NULL, &matched);
    if (matched) {
      if (v == NULL) {
        rc = usage_error(a, " needs a name");
        goto done;
      }
      labels[nlabels++] = (char *)v;
      continue;
    }
    rc = usage_error("unknown option ", a);
    goto done;
  }
  if (nfiles == 0) {
    rc = usage_error("no input: give one or more JSON files written by `wsk bench`", "");
    goto done;
  }
  if (nlabels > nfiles) {
    fprintf(stderr, BC_NAME ": %d --label for %d input%s\n\n", nlabels, nfiles,
            nfiles == 1 ? "" : "s");
    wsk_cmd_bench_compare_usage(stderr);
    rc = 2;
    goto done;
  }

  ms = calloc((size_t)nfiles, sizeof *ms);
  if (ms == NULL) {
    fprintf(stderr, BC_NAME ": out of memory\n");
    goto done;
  }
  for (int i = 0; i < nfiles; i++)
    if (load_machine(&ms[i], files[i]) != 0) goto done;
  if (make_labels(ms, nfiles, labels, nlabels) || make_plotnames(ms, nfiles)) {
    fprintf(stderr, BC_NAME ": out of memory\n");
    goto done;
  }

  /* The keys, in the order first seen; per machine, key -> its result. */
  for (int i = 0; i < nfiles; i++)
    for (size_t r = 0; r < ms[i].nres; r++)
      if (keys_add(&ks, ms[i].res[r].key) < 0) {
        fprintf(stderr, BC_NAME ": out of memory\n");
        goto done;
      }
  for (int i = 0; i < nfiles; i++) {
    ms[i].by_key = malloc((ks.n ? ks.n : 1) * sizeof *ms[i].by_key);
    if (ms[i].by_key == NULL) {
      fprintf(stderr, BC_NAME ": out of memory\n");
      goto done;
    }
    for (size_t k = 0; k < ks.n; k++) ms[i].by_key[k] = -1;
    size_t dups = 0;
    for (size_t r = 0; r < ms[i].nres; r++) {
      long k = keys_find(&ks, ms[i].res[r].key);
      if (ms[i].by_key[k] < 0) ms[i].by_key[k] = (long)r;
      else dups++;
    }
    if (dups)
      fprintf(stderr, BC_NAME ": '%s': %zu repeated result%s (same family, op, shape, level, "
              "threads, ISA); the first of each is shown\n", ms[i].path, dups, dups == 1 ? "" : "s");
  }

  /* Plots first, so that the report can list them. */
  int plots_requested = !no_plots && (plot_dir != NULL || out_path != NULL);
  int plot_rc = 0, gnuplot_missing = 0;
  if (plots_requested && plot_dir == NULL) {
    default_plot_dir = xstrdup(out_path);
    if (default_plot_dir == NULL) goto done;
    char *slash = strrchr(default_plot_dir, '/');
    if (slash == default_plot_dir) slash[1] = '\0';
    else if (slash) *slash = '\0';
    else strcpy(default_plot_dir, ".");
    plot_dir = default_plot_dir;
  }
  if (plots_requested) {
    if (!on_path("gnuplot")) {
      gnuplot_missing = 1;
      fprintf(stderr, "gnuplot not found: no plots written (install gnuplot-nox); the table is "
                      "complete\n");
    } else {
      plot_rc = write_plots(ms, nfiles, plot_dir);
    }
  }

  /* The report. */
  sb_puts(&md, "# wsk bench comparison\n\n");
  for (int i = 0; i < nfiles; i++) {
    const char *cpu = ms[i].mach ? jstr(ms[i].mach, "cpu") : "";
    sb_puts(&md, "- **");
    sb_md(&md, ms[i].label);
    sb_puts(&md, "**: ");
    sb_md(&md, ms[i].path);
    if (cpu[0]) {
      sb_puts(&md, ", ");
      sb_md(&md, cpu);
    }
    sb_printf(&md, ", %zu result%s\n", ms[i].nres, ms[i].nres == 1 ? "" : "s");
  }
  sb_puts(&md, "\n");
  if (machine_table(&md, ms, nfiles)) {
    fprintf(stderr, BC_NAME ": out of memory\n");
    goto done;
  }
  results_table(&md, ms, nfiles, &ks);
  sb_puts(&md, "## Tier gains\n\n"
               "Per machine, for each case run on two or more of scalar, avx2, avx512,\n"
               "neon: the tier's time divided by the best tier's time, for equal work\n"
               "(1.00" TIMES " = the best; 4.00" TIMES " = four times slower). The gain of tier A\n"
               "over tier B is B's cell divided by A's.\n\n");
  for (int i = 0; i < nfiles; i++) {
    if (gains_table(&md, &ms[i])) {
      fprintf(stderr, BC_NAME ": out of memory\n");
      goto done;
    }
  }
  sb_puts(&md, "## Roofline plots\n\n");
  if (!plots_requested) {
    sb_puts(&md, "None written (give --plot-dir DIR, or -o FILE, to write them).\n");
  } else if (gnuplot_missing) {
    sb_puts(&md, "None written: gnuplot was not found (install gnuplot-nox).\n");
  } else {
    /* Links relative to the report when the plots sit next to it. */
    int any = 0;
    for (int i = 0; i < nfiles; i++) {
      if (ms[i].plot_written == NULL) continue;
      const char *link = ms[i].plot_written;
      if (default_plot_dir != NULL) link = base_name(link);
      sb_puts(&md, "![roofline of ");
      sb_md(&md, ms[i].label);
      sb_puts(&md, "](");
      int plain = strpbrk(link, " ()<>") == NULL;
      sb_puts(&md, plain ? "" : "<");
      sb_puts(&md, link);
      sb_puts(&md, plain ? ")\n\n" : ">)\n\n");
      any = 1;
    }
    if (!any) sb_puts(&md, "None written (see the messages of the run).\n");
  }
  if (md.oom) {
    fprintf(stderr, BC_NAME ": out of memory\n");
    goto done;
  }

  if (out_path) {
    if (write_atomic(out_path, md.p, md.n) != 0) goto done;
    fprintf(stderr, BC_NAME ": wrote %s (%d machine%s, %zu cases)\n", out_path, nfiles,
            nfiles == 1 ? "" : "s", ks.n);
  } else {
    if (fwrite(md.p, 1, md.n, stdout) != md.n || fflush(stdout) != 0) {
      fprintf(stderr, BC_NAME ": cannot write to stdout: %s\n", strerror(errno));
      goto done;
    }
  }
  rc = plot_rc ? 1 : 0;

done:
  if (ms) {
    for (int i = 0; i < nfiles; i++) {
      cJSON_Delete(ms[i].root);
      free(ms[i].res);
      free(ms[i].by_key);
      free(ms[i].label);
      free(ms[i].plotname);
      free(ms[i].plot_written);
    }
    free(ms);
  }
  keys_free(&ks);
  sb_free(&md);
  free(default_plot_dir);
  free(files);
  free(labels);
  return rc;
}
