/* bench/harness.c — the case registry, the run, the roofline fractions, the
 * table and the JSON of `wsk bench` (see bench.h). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "bench.h"
#include "wsk/wsk.h"
#include "wsk/threads.h"

typedef struct case_entry {
  wsk_bench_case c;
  char name[160];
} case_entry;

static case_entry *g_cases;
static size_t g_ncases, g_capcases;
static wsk_machine g_machine;
static int g_machine_ready;

/* Tiers the run may use: those available here, capped like the kernels by
 * WSK_ISA (or wsk_set_isa): the cap's tier and every lower one. */
uint32_t wsk_bench_isas(void) {
  const uint32_t avail = wsk_isas_available();
  wsk_isa top;
  if (wsk_family_isa(WSK_FAMILY_PERMSUM, &top) != WSK_OK) return avail;
  uint32_t allowed = WSK_ISA_BIT(WSK_ISA_SCALAR) | WSK_ISA_BIT(top);
  if (top == WSK_ISA_AVX512) allowed |= WSK_ISA_BIT(WSK_ISA_AVX2);
  return avail & allowed;
}

const wsk_machine *wsk_bench_machine(void) {
  if (!g_machine_ready) {
    wsk_machine_describe(&g_machine);
    g_machine_ready = 1;
  }
  g_machine.isas = wsk_bench_isas();
  return &g_machine;
}

const char *wsk_level_of(const wsk_machine *m, double bytes) {
  for (int l = 0; l < 3; l++)
    if (bytes <= (double)m->cache[l]) return wsk_level_name((wsk_level)l);
  return wsk_level_name(WSK_LEVEL_DRAM);
}

typedef struct case_tramp {
  gb_fn fn;
  double flops, bytes;
  size_t arg_size;
} case_tramp;

static void tramp(gb_state *st, const void *blob) {
  case_tramp h;
  memcpy(&h, blob, sizeof h);
  h.fn(st, h.arg_size ? (const unsigned char *)blob + sizeof h : NULL);
  const double it = (double)gb_iterations(st);
  if (h.flops > 0) gb_counter(st, "FLOP/s", h.flops * it, GB_COUNTER_RATE);
  if (h.bytes > 0) gb_bytes_processed(st, (int64_t)(h.bytes * it));
}

int wsk_bench_add(const wsk_bench_case *c, gb_fn fn, const void *arg, size_t arg_size) {
  if (g_ncases == g_capcases) {
    size_t cap = g_capcases ? 2 * g_capcases : 256;
    case_entry *n = realloc(g_cases, cap * sizeof *n);
    if (!n) return -1;
    g_cases = n;
    g_capcases = cap;
  }
  case_entry *e = &g_cases[g_ncases];
  e->c = *c;
  if (e->c.threads < 1) e->c.threads = 1;
  snprintf(e->name, sizeof e->name, "%s/%s/%s/%s/%s", c->family, c->op, c->isa, c->shape,
           c->level);
  /* the case's function behind a trampoline that sets Google Benchmark's
   * rate counters (FLOP/s, bytes/s) from the case's counts */
  unsigned char blob[sizeof(case_tramp) + 256];
  if (arg_size > 256) return -1;
  case_tramp h = {fn, e->c.flops, e->c.bytes, arg_size};
  memcpy(blob, &h, sizeof h);
  if (arg_size) memcpy(blob + sizeof h, arg, arg_size);
  const int id = gb_register(e->name, tramp, blob, sizeof h + arg_size);
  gb_use_real_time(id);
  gb_threads(id, e->c.threads);
  return (int)g_ncases++;
}

void wsk_bench_enter(gb_state *st) { wsk_pin_thread(gb_thread_index(st)); }

float *wsk_bench_alloc(size_t floats) {
  size_t bytes = (floats * sizeof(float) + 4095) & ~(size_t)4095;
  float *p = NULL;
  if (posix_memalign((void **)&p, 4096, bytes ? bytes : 4096) != 0) return NULL;
  /* small deterministic values in [-1, 1); touching every page places it */
  uint32_t s = 0x12345678u;
  for (size_t i = 0; i < floats; i++) {
    s = s * 1664525u + 1013904223u;
    p[i] = (float)(int32_t)(s >> 8) * (1.0f / 8388608.0f) * 0.5f;
  }
  return p;
}

void wsk_bench_free(float *p) { free(p); }

#define MAX_BUFFER_THREADS 512
typedef struct slot_buf {
  float *p;
  size_t floats;
} slot_buf;
static slot_buf g_slots[MAX_BUFFER_THREADS][WSK_BENCH_SLOTS];

float *wsk_bench_buffer(gb_state *st, int slot, size_t floats) {
  const int t = gb_thread_index(st);
  if (t < 0 || t >= MAX_BUFFER_THREADS || slot < 0 || slot >= WSK_BENCH_SLOTS) return NULL;
  slot_buf *b = &g_slots[t][slot];
  if (b->p && b->floats >= floats) return b->p;
  wsk_bench_free(b->p);
  b->p = wsk_bench_alloc(floats);
  b->floats = b->p ? floats : 0;
  return b->p;
}

static void free_slots(void) {
  for (int t = 0; t < MAX_BUFFER_THREADS; t++)
    for (int s = 0; s < WSK_BENCH_SLOTS; s++) {
      wsk_bench_free(g_slots[t][s].p);
      g_slots[t][s].p = NULL;
      g_slots[t][s].floats = 0;
    }
}

/* ---- collecting the runs ---------------------------------------------------- */

typedef struct collect {
  wsk_bench_result *res; /* one per case, in registration order */
  int *have_median;
} collect;

static case_entry *find_case(const char *base, int threads, size_t *index) {
  for (size_t i = 0; i < g_ncases; i++)
    if (g_cases[i].c.threads == threads && strcmp(g_cases[i].name, base) == 0) {
      *index = i;
      return &g_cases[i];
    }
  return NULL;
}

static void on_run(const gb_run *r, void *ctx) {
  collect *col = ctx;
  size_t i;
  if (!find_case(r->base, r->threads, &i)) return;
  wsk_bench_result *out = &col->res[i];
  const int is_median = strcmp(r->aggregate, "median") == 0;
  if (r->aggregate[0] && !is_median) return; /* mean, stddev, cv */
  if (col->have_median[i] && !is_median) return;
  if (r->skipped) {
    out->skipped = 1;
    snprintf(out->skip_reason, sizeof out->skip_reason, "%s", r->skip_reason);
    return;
  }
  out->skipped = 0;
  out->time_ns = r->real_ns;
  if (is_median) col->have_median[i] = 1;
}

static int isa_index(const char *name) {
  wsk_isa isa;
  return wsk_isa_parse(name, &isa) == WSK_OK ? (int)isa : -1;
}

static int level_index(const char *name) {
  for (int l = 0; l < WSK_LEVEL_COUNT; l++)
    if (strcmp(name, wsk_level_name((wsk_level)l)) == 0) return l;
  return -1;
}

static wsk_isa best_isa(uint32_t isas) {
  static const wsk_isa order[] = {WSK_ISA_AVX512, WSK_ISA_AVX2, WSK_ISA_NEON, WSK_ISA_SCALAR};
  for (size_t i = 0; i < sizeof order / sizeof order[0]; i++)
    if (isas & WSK_ISA_BIT(order[i])) return order[i];
  return WSK_ISA_SCALAR;
}

static void finish(wsk_bench_report *rep) {
  /* rates, then the roofline from its own cases, then every fraction */
  for (size_t i = 0; i < rep->count; i++) {
    wsk_bench_result *r = &rep->results[i];
    if (r->skipped || r->time_ns <= 0) continue;
    /* Google Benchmark counts the iterations of every thread and divides the
     * wall time by them: flops / time is already the total over threads */
    r->gflops = r->c.flops / r->time_ns;
    r->gbs = r->c.bytes / r->time_ns;
    if (strcmp(r->c.family, "peer") == 0 && strcmp(r->c.op, "memcpy") == 0 &&
        r->c.threads == 1) {
      const int k = level_index(r->c.level);
      if (k >= 0 && r->gbs > rep->roof.copy_gbs[k]) rep->roof.copy_gbs[k] = r->gbs;
    }
    if (strcmp(r->c.family, "roofline") != 0) continue;
    const int multi = r->c.threads > 1;
    if (strcmp(r->c.op, "fma") == 0) {
      const int k = isa_index(r->c.isa);
      if (k >= 0) (multi ? rep->roof.fma_gflops_all : rep->roof.fma_gflops)[k] = r->gflops;
    } else if (strcmp(r->c.op, "read") == 0) {
      const int k = level_index(r->c.level);
      double *roof = multi ? rep->roof.read_gbs_all : rep->roof.read_gbs;
      if (k >= 0 && r->gbs > roof[k]) roof[k] = r->gbs; /* the fastest tier's read loop */
    }
  }
  const wsk_isa best = best_isa(rep->machine.isas);
  for (size_t i = 0; i < rep->count; i++) {
    wsk_bench_result *r = &rep->results[i];
    r->bound = "";
    if (r->skipped || r->time_ns <= 0) continue;
    const int multi = r->c.threads > 1 || r->c.pool > 1;
    int k = isa_index(r->c.isa);
    if (k < 0) k = (int)best; /* peers: the machine's best tier */
    const double peak = (multi ? rep->roof.fma_gflops_all : rep->roof.fma_gflops)[k];
    const int lv = level_index(r->c.level);
    double bw = lv >= 0 ? (multi ? rep->roof.read_gbs_all : rep->roof.read_gbs)[lv] : 0;
    if (r->c.rw && !multi && lv >= 0 && rep->roof.copy_gbs[lv] > bw)
      bw = rep->roof.copy_gbs[lv]; /* reads and writes: memcpy's rate may be higher */
    if (r->c.bytes > 0 && bw > 0 && (!r->c.fma || r->c.flops <= 0 || peak <= 0 ||
                                     r->c.flops / r->c.bytes * bw < peak)) {
      r->bound = "bandwidth";
      r->roof_pct = 100.0 * r->gbs / bw;
    } else if (r->c.flops > 0 && peak > 0) {
      r->bound = "compute";
      r->roof_pct = 100.0 * r->gflops / peak;
    }
  }
}

int wsk_bench_run(int *argc, char **argv, int quiet, wsk_bench_report *rep) {
  memset(rep, 0, sizeof *rep);
  const wsk_machine *m = wsk_bench_machine();
  rep->machine = *m;
  /* the pool first: it takes its cores from the CPUs the process may use,
   * which binding this thread to core 0 would narrow */
  if (wsk_threads_init() != WSK_OK) return -1;
  wsk_pin_thread(0);
  gb_initialize(argc, argv);
  wsk_roofline_register(m);
  wsk_bench_register_permsum(m);
  wsk_bench_register_eqpool(m);
  wsk_bench_register_peers(m);
  wsk_bench_register_gemm(m);
  wsk_bench_register_eltwise(m);
  wsk_bench_register_optim(m);
  wsk_bench_register_attn(m);
  wsk_bench_register_unf(m);
  rep->count = g_ncases;
  rep->results = calloc(g_ncases ? g_ncases : 1, sizeof *rep->results);
  int *have = calloc(g_ncases ? g_ncases : 1, sizeof *have);
  if (!rep->results || !have) {
    free(have);
    return -1;
  }
  for (size_t i = 0; i < g_ncases; i++) {
    rep->results[i].c = g_cases[i].c;
    rep->results[i].time_ns = -1; /* not selected by the filter */
  }
  time_t now = time(NULL);
  struct tm tmv;
  gmtime_r(&now, &tmv);
  strftime(rep->date, sizeof rep->date, "%Y-%m-%dT%H:%M:%SZ", &tmv);
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  collect col = {rep->results, have};
  gb_run_all(on_run, &col, quiet);
  clock_gettime(CLOCK_MONOTONIC, &t1);
  free_slots();
  rep->seconds = (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec);
  free(have);
  /* drop the cases the filter did not select */
  size_t k = 0;
  for (size_t i = 0; i < rep->count; i++)
    if (rep->results[i].skipped || rep->results[i].time_ns >= 0) rep->results[k++] = rep->results[i];
  rep->count = k;
  finish(rep);
  return 0;
}

void wsk_bench_report_free(wsk_bench_report *rep) {
  free(rep->results);
  rep->results = NULL;
  rep->count = 0;
}

/* ---- the table ------------------------------------------------------------------ */

static void fmt_time(char *buf, size_t n, double ns) {
  if (ns < 1e3)
    snprintf(buf, n, "%.0f ns", ns);
  else if (ns < 1e6)
    snprintf(buf, n, "%.2f us", ns / 1e3);
  else if (ns < 1e9)
    snprintf(buf, n, "%.2f ms", ns / 1e6);
  else
    snprintf(buf, n, "%.2f s", ns / 1e9);
}

static void fmt_bytes(char *buf, size_t n, size_t b) {
  if (b >= ((size_t)1 << 20) && b % ((size_t)1 << 20) == 0)
    snprintf(buf, n, "%zu MiB", b >> 20);
  else if (b >= 1024)
    snprintf(buf, n, "%zu KiB", b >> 10);
  else
    snprintf(buf, n, "%zu B", b);
}

void wsk_bench_print(FILE *out, const wsk_bench_report *rep) {
  const wsk_machine *m = &rep->machine;
  char c1[32], c2[32], c3[32];
  fmt_bytes(c1, sizeof c1, m->cache[0]);
  fmt_bytes(c2, sizeof c2, m->cache[1]);
  fmt_bytes(c3, sizeof c3, m->cache[2]);
  fprintf(out, "machine   %s (%s), %d cores, %d PUs; L1d %s, L2 %s, L3 %s\n", m->cpu,
          m->hostname, m->cores, m->pus, c1, c2, c3);
  fprintf(out, "pinning   %s\n", m->pinning);
  fprintf(out, "roofline  FMA peak GFLOP/s (1 core / all cores):");
  for (int k = WSK_ISA_COUNT - 1; k >= 0; k--)
    if (rep->roof.fma_gflops[k] > 0)
      fprintf(out, "  %s %.1f / %.1f", wsk_isa_name((wsk_isa)k), rep->roof.fma_gflops[k],
              rep->roof.fma_gflops_all[k]);
  fprintf(out, "\n          read GB/s (1 core / all cores):");
  for (int l = 0; l < WSK_LEVEL_COUNT; l++)
    if (rep->roof.read_gbs[l] > 0)
      fprintf(out, "  %s %.1f / %.1f", wsk_level_name((wsk_level)l), rep->roof.read_gbs[l],
              rep->roof.read_gbs_all[l]);
  fprintf(out, "\n          memcpy GB/s, read + written (1 core):");
  for (int l = 0; l < WSK_LEVEL_COUNT; l++)
    if (rep->roof.copy_gbs[l] > 0)
      fprintf(out, "  %s %.1f", wsk_level_name((wsk_level)l), rep->roof.copy_gbs[l]);
  fprintf(out, "\n\n%-8s %-10s %-7s %-18s %-5s %3s %10s %9s %9s %7s  %s\n", "family", "op", "isa",
          "shape", "level", "thr", "time", "GFLOP/s", "GB/s", "%roof", "bound");
  for (size_t i = 0; i < rep->count; i++) {
    const wsk_bench_result *r = &rep->results[i];
    if (r->skipped) {
      fprintf(out, "%-8s %-10s %-7s %-18s %-5s %3d  skipped: %s\n", r->c.family, r->c.op,
              r->c.isa, r->c.shape, r->c.level, r->c.threads, r->skip_reason);
      continue;
    }
    char t[32], gf[16] = "-", gb[16] = "-", pct[16] = "-";
    fmt_time(t, sizeof t, r->time_ns);
    if (r->c.flops > 0) snprintf(gf, sizeof gf, "%.2f", r->gflops);
    if (r->c.bytes > 0) snprintf(gb, sizeof gb, "%.2f", r->gbs);
    if (r->bound[0]) snprintf(pct, sizeof pct, "%.1f", r->roof_pct);
    fprintf(out, "%-8s %-10s %-7s %-18s %-5s %3d %10s %9s %9s %7s  %s%s%s\n", r->c.family,
            r->c.op, r->c.isa, r->c.shape, r->c.level, r->c.threads, t, gf, gb, pct, r->bound,
            r->c.note[0] ? "  " : "", r->c.note);
  }
  fprintf(out, "\n%zu results in %.1f s (time: median wall time per call; %%roof: of the "
               "bound that applies)\n",
          rep->count, rep->seconds);
}

/* ---- JSON ------------------------------------------------------------------------ */

static cJSON *isa_map(const double *v) {
  cJSON *o = cJSON_CreateObject();
  for (int k = WSK_ISA_COUNT - 1; k >= 0; k--)
    if (v[k] > 0) cJSON_AddNumberToObject(o, wsk_isa_name((wsk_isa)k), v[k]);
  return o;
}

static cJSON *level_map(const double *v) {
  cJSON *o = cJSON_CreateObject();
  for (int l = 0; l < WSK_LEVEL_COUNT; l++)
    if (v[l] > 0) cJSON_AddNumberToObject(o, wsk_level_name((wsk_level)l), v[l]);
  return o;
}

static cJSON *report_json(const wsk_bench_report *rep) {
  const wsk_machine *m = &rep->machine;
  cJSON *root = cJSON_CreateObject();
  cJSON_AddStringToObject(root, "format", "wsk-bench/1");
  cJSON_AddStringToObject(root, "wsk_version", WSK_VERSION_STRING);
  cJSON_AddStringToObject(root, "date", rep->date);
  cJSON_AddNumberToObject(root, "seconds", rep->seconds);
  cJSON *mj = cJSON_AddObjectToObject(root, "machine");
  cJSON_AddStringToObject(mj, "hostname", m->hostname);
  cJSON_AddStringToObject(mj, "vendor", m->vendor);
  cJSON_AddStringToObject(mj, "cpu", m->cpu);
  cJSON_AddStringToObject(mj, "features", m->features);
  cJSON *isas = cJSON_AddArrayToObject(mj, "isas");
  static const wsk_isa order[] = {WSK_ISA_AVX512, WSK_ISA_AVX2, WSK_ISA_NEON, WSK_ISA_SCALAR};
  for (size_t i = 0; i < 4; i++)
    if (m->isas & WSK_ISA_BIT(order[i]))
      cJSON_AddItemToArray(isas, cJSON_CreateString(wsk_isa_name(order[i])));
  cJSON_AddNumberToObject(mj, "packages", m->packages);
  cJSON_AddNumberToObject(mj, "cores", m->cores);
  cJSON_AddNumberToObject(mj, "pus", m->pus);
  static const char *const cn[3] = {"L1d", "L2", "L3"};
  cJSON *caches = cJSON_AddObjectToObject(mj, "caches");
  cJSON *counts = cJSON_AddObjectToObject(mj, "cache_counts");
  for (int i = 0; i < 3; i++) {
    cJSON_AddNumberToObject(caches, cn[i], (double)m->cache[i]);
    cJSON_AddNumberToObject(counts, cn[i], m->cache_count[i]);
  }
  cJSON_AddStringToObject(mj, "pinning", m->pinning);
  cJSON *roof = cJSON_AddObjectToObject(root, "roofline");
  cJSON_AddItemToObject(roof, "fma_gflops", isa_map(rep->roof.fma_gflops));
  cJSON_AddItemToObject(roof, "fma_gflops_all", isa_map(rep->roof.fma_gflops_all));
  cJSON_AddItemToObject(roof, "read_gbs", level_map(rep->roof.read_gbs));
  cJSON_AddItemToObject(roof, "read_gbs_all", level_map(rep->roof.read_gbs_all));
  cJSON_AddItemToObject(roof, "copy_gbs", level_map(rep->roof.copy_gbs));
  cJSON *res = cJSON_AddArrayToObject(root, "results");
  for (size_t i = 0; i < rep->count; i++) {
    const wsk_bench_result *r = &rep->results[i];
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "family", r->c.family);
    cJSON_AddStringToObject(o, "op", r->c.op);
    cJSON_AddStringToObject(o, "isa", r->c.isa);
    cJSON_AddStringToObject(o, "shape", r->c.shape);
    cJSON_AddStringToObject(o, "level", r->c.level);
    cJSON_AddNumberToObject(o, "threads", r->c.threads);
    cJSON_AddNumberToObject(o, "pool_threads", r->c.pool > 1 ? r->c.pool : 1);
    cJSON_AddBoolToObject(o, "reads_and_writes", r->c.rw);
    cJSON_AddBoolToObject(o, "skipped", r->skipped);
    cJSON_AddStringToObject(o, "skip_reason", r->skipped ? r->skip_reason : "");
    if (!r->skipped) {
      cJSON_AddNumberToObject(o, "time_ns", r->time_ns);
      cJSON_AddNumberToObject(o, "flops", r->c.flops);
      cJSON_AddNumberToObject(o, "bytes", r->c.bytes);
      cJSON_AddNumberToObject(o, "gflops", r->gflops);
      cJSON_AddNumberToObject(o, "gbs", r->gbs);
      cJSON_AddStringToObject(o, "bound", r->bound);
      if (r->c.note[0]) cJSON_AddStringToObject(o, "note", r->c.note);
      cJSON_AddNumberToObject(o, "roof_pct", r->roof_pct);
    }
    cJSON_AddItemToArray(res, o);
  }
  return root;
}

int wsk_bench_write_json(const char *path, const wsk_bench_report *rep) {
  cJSON *root = report_json(rep);
  char *text = root ? cJSON_Print(root) : NULL;
  cJSON_Delete(root);
  if (!text) return -1;
  /* atomically: a temporary file beside the target, fsync, rename */
  char tmp[4096];
  if (snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid()) >= (int)sizeof tmp) {
    free(text);
    errno = ENAMETOOLONG;
    return -1;
  }
  int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd < 0) {
    free(text);
    return -1;
  }
  const size_t len = strlen(text);
  size_t done = 0;
  int ok = 1;
  while (done < len) {
    ssize_t w = write(fd, text + done, len - done);
    if (w < 0) {
      if (errno == EINTR) continue;
      ok = 0;
      break;
    }
    done += (size_t)w;
  }
  if (ok && write(fd, "\n", 1) != 1) ok = 0;
  if (ok && fsync(fd) != 0) ok = 0;
  if (close(fd) != 0) ok = 0;
  free(text);
  if (!ok || rename(tmp, path) != 0) {
    const int e = errno;
    unlink(tmp);
    errno = e;
    return -1;
  }
  return 0;
}
