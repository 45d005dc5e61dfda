/* dispatch/dispatch.c — tier names, the WSK_ISA / WSK_VERBOSE environment,
 * and the one function-pointer table per kernel family (wsk/dispatch.h,
 * kernels/ukernels.h).
 *
 * Each family's candidates come from its list kernels/<family>/<family>.inc,
 * best tier first and scalar last. On first use (pthread_once) every family
 * gets the first candidate whose tier
 *   (a) is compiled in (it is in the list at all),
 *   (b) the CPU and OS support (dispatch/cpu.c), and
 *   (c) is allowed by the cap: wsk_set_isa() if set, else WSK_ISA if set.
 * Caps only restrict (STYLE.md item 6): scalar < avx2 < avx512 and
 * scalar < neon; a cap allows its own tier and every lower tier of its chain.
 *
 * The chosen tables are published with atomic stores, so a kernel call reads
 * a whole table pointer, old or new. wsk_set_isa(), wsk_reset_isa() and
 * wsk__dispatch_reset_for_tests() re-select under a mutex, but they are meant
 * for tests and benchmarks: a caller that re-selects while other threads run
 * kernels may see one operation use two tiers (the bits agree by the parity
 * contract, the timings do not).
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dispatch/cpu.h"
#include "dispatch/dispatch_internal.h"
#include "dispatch/error.h"
#include "kernels/ukernels.h"

/* ---- names ---------------------------------------------------------------- */

static const char *const isa_names[WSK_ISA_COUNT] = {
    [WSK_ISA_SCALAR] = "scalar",
    [WSK_ISA_AVX2] = "avx2",
    [WSK_ISA_AVX512] = "avx512",
    [WSK_ISA_NEON] = "neon",
};

/* The order in which tiers are listed to people: best first. */
static const wsk_isa isas_best_first[WSK_ISA_COUNT] = {WSK_ISA_AVX512, WSK_ISA_AVX2,
                                                       WSK_ISA_NEON, WSK_ISA_SCALAR};

const char *wsk_isa_name(wsk_isa isa) {
  return (unsigned)isa < WSK_ISA_COUNT ? isa_names[isa] : "?";
}

static int ascii_lower(int c) { return c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c; }

static int ascii_ieq(const char *a, const char *b) {
  for (; *a && *b; a++, b++)
    if (ascii_lower((unsigned char)*a) != ascii_lower((unsigned char)*b)) return 0;
  return *a == *b;
}

/* Finds a tier by name without touching the last error. */
static int find_isa(const char *name, wsk_isa *out) {
  for (int i = 0; i < WSK_ISA_COUNT; i++) {
    if (ascii_ieq(name, isa_names[i])) {
      *out = (wsk_isa)i;
      return 1;
    }
  }
  return 0;
}

wsk_status wsk_isa_parse(const char *name, wsk_isa *out) {
  if (name == NULL) return wsk__fail(WSK_ERR_NULL, "wsk_isa_parse: name is NULL");
  if (out == NULL) return wsk__fail(WSK_ERR_NULL, "wsk_isa_parse: out is NULL");
  if (!find_isa(name, out))
    return wsk__fail(WSK_ERR_ISA, "\"%.40s\" is not a known tier (avx512, avx2, neon, scalar)",
                     name);
  return WSK_OK;
}

char *wsk__isas_str(uint32_t isas, const char *sep, char *buf, size_t len) {
  if (buf == NULL || len == 0) return buf;
  buf[0] = '\0';
  size_t n = 0;
  for (int i = 0; i < WSK_ISA_COUNT; i++) {
    wsk_isa isa = isas_best_first[i];
    if (!(isas & WSK_ISA_BIT(isa))) continue;
    int w = snprintf(buf + n, len - n, "%s%s", n ? sep : "", isa_names[isa]);
    if (w < 0 || (size_t)w >= len - n) break; /* truncated: keep what fits */
    n += (size_t)w;
  }
  return buf;
}

/* ---- the families and their candidates ------------------------------------- */

typedef struct wsk_candidate {
  wsk_isa isa;
  const void *table; /* a wsk_<family>_ukernels; its first member is its wsk_isa */
} wsk_candidate;

#define WSK_IMPL(family, isa_suffix, isa_enum) {isa_enum, &wsk_##family##_ukernels__##isa_suffix},
static const wsk_candidate permsum_candidates[] = {
#include "kernels/permsum/permsum.inc"
};
static const wsk_candidate eqpool_candidates[] = {
#include "kernels/eqpool/eqpool.inc"
};
static const wsk_candidate gemm_candidates[] = {
#include "kernels/gemm/gemm.inc"
};
static const wsk_candidate eltwise_candidates[] = {
#include "kernels/eltwise/eltwise.inc"
};
static const wsk_candidate optim_candidates[] = {
#include "kernels/optim/optim.inc"
};
static const wsk_candidate attn_candidates[] = {
#include "kernels/attn/attn.inc"
};
#undef WSK_IMPL

typedef struct wsk_family_desc {
  const char *name;
  const wsk_candidate *cand; /* best first, scalar last */
  size_t count;
} wsk_family_desc;

#define WSK_COUNTOF(a) (sizeof(a) / sizeof((a)[0]))
_Static_assert(WSK_FAMILY_COUNT == 6, "a new wsk_family needs its row in families[]");
static const wsk_family_desc families[WSK_FAMILY_COUNT] = {
    [WSK_FAMILY_PERMSUM] = {"permsum", permsum_candidates, WSK_COUNTOF(permsum_candidates)},
    [WSK_FAMILY_EQPOOL] = {"eqpool", eqpool_candidates, WSK_COUNTOF(eqpool_candidates)},
    [WSK_FAMILY_GEMM] = {"gemm", gemm_candidates, WSK_COUNTOF(gemm_candidates)},
    [WSK_FAMILY_ELTWISE] = {"eltwise", eltwise_candidates, WSK_COUNTOF(eltwise_candidates)},
    [WSK_FAMILY_OPTIM] = {"optim", optim_candidates, WSK_COUNTOF(optim_candidates)},
    [WSK_FAMILY_ATTN] = {"attn", attn_candidates, WSK_COUNTOF(attn_candidates)},
};

const char *wsk_family_name(wsk_family f) {
  return (unsigned)f < WSK_FAMILY_COUNT ? families[f].name : "?";
}

uint32_t wsk_isas_compiled(void) {
  uint32_t isas = WSK_ISA_BIT(WSK_ISA_SCALAR);
  for (int f = 0; f < WSK_FAMILY_COUNT; f++)
    for (size_t i = 0; i < families[f].count; i++) isas |= WSK_ISA_BIT(families[f].cand[i].isa);
  return isas;
}

uint32_t wsk_isas_available(void) { return wsk_isas_compiled() & wsk_isas_supported(); }

char *wsk_isas_available_str(char *buf, size_t len) {
  return wsk__isas_str(wsk_isas_available(), ", ", buf, len);
}

/* ---- state ------------------------------------------------------------------ */

#define NO_CAP (-1)

static pthread_once_t g_once = PTHREAD_ONCE_INIT;
static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;

/* Published choices, read without the lock by the kernels' entry points. */
static _Atomic(const void *) g_table[WSK_FAMILY_COUNT];
static atomic_int g_isa[WSK_FAMILY_COUNT];
static atomic_int g_env_bad;             /* WSK_ISA is set and invalid */
static atomic_int g_override = NO_CAP;   /* cap of wsk_set_isa(), or NO_CAP */

/* Written under g_lock. */
static int g_env_cap = NO_CAP;   /* cap of WSK_ISA, or NO_CAP */
static int g_verbose;            /* WSK_VERBOSE set to anything but "" or "0" */
static char g_env_error[256];    /* the message when g_env_bad */

/* Why `isa` is not available: not runnable here, or not built. */
static const char *unavailable_reason(wsk_isa isa) {
  if (!(wsk_isas_supported() & WSK_ISA_BIT(isa))) return "not supported by this CPU/OS";
  return "not compiled into this build";
}

/* Reads WSK_ISA and WSK_VERBOSE. Under g_lock. */
static void load_env(void) {
  const char *v = getenv("WSK_ISA");
  uint32_t avail = wsk_isas_available();
  char valid[64];
  wsk__isas_str(avail, ", ", valid, sizeof valid);

  int bad = 0;
  g_env_cap = NO_CAP;
  g_env_error[0] = '\0';
  if (v != NULL && v[0] != '\0') { /* WSK_ISA= (empty) means unset */
    wsk_isa isa;
    if (!find_isa(v, &isa)) {
      bad = 1;
      snprintf(g_env_error, sizeof g_env_error,
               "WSK_ISA=\"%.40s\" is not a known tier; valid on this machine: %s", v, valid);
    } else if (!(avail & WSK_ISA_BIT(isa))) {
      bad = 1;
      snprintf(g_env_error, sizeof g_env_error,
               "WSK_ISA=\"%.40s\": this CPU/build cannot run %s (%s); valid on this machine: %s",
               v, isa_names[isa], unavailable_reason(isa), valid);
    } else {
      g_env_cap = (int)isa;
    }
  }
  atomic_store_explicit(&g_env_bad, bad, memory_order_release);

  const char *verbose = getenv("WSK_VERBOSE");
  g_verbose = verbose != NULL && verbose[0] != '\0' && strcmp(verbose, "0") != 0;
}

/* Whether a cap allows a tier: its own tier and the lower ones of its chain
 * (scalar < avx2 < avx512, scalar < neon). */
static int cap_allows(int cap, wsk_isa isa) {
  if (cap == NO_CAP || isa == WSK_ISA_SCALAR || (int)isa == cap) return 1;
  return cap == WSK_ISA_AVX512 && isa == WSK_ISA_AVX2;
}

/* The cap in force and where it comes from. Under g_lock. */
static int current_cap(const char **source) {
  int ov = atomic_load_explicit(&g_override, memory_order_acquire);
  if (ov != NO_CAP) {
    *source = "wsk_set_isa";
    return ov;
  }
  *source = "WSK_ISA";
  return g_env_cap;
}

static void describe_cap(int cap, const char *source, char *buf, size_t len) {
  if (cap == NO_CAP)
    snprintf(buf, len, "none");
  else if (strcmp(source, "WSK_ISA") == 0)
    snprintf(buf, len, "WSK_ISA=%s", isa_names[cap]);
  else
    snprintf(buf, len, "wsk_set_isa(%s)", isa_names[cap]);
}

/* Chooses every family's table under the current cap. Under g_lock. */
static void select_all(void) {
  const char *source;
  int cap = current_cap(&source);
  uint32_t avail = wsk_isas_available();
  int log = g_verbose && !(cap == NO_CAP && atomic_load(&g_env_bad));
  char cap_text[48];
  describe_cap(cap, source, cap_text, sizeof cap_text);

  for (int f = 0; f < WSK_FAMILY_COUNT; f++) {
    const wsk_family_desc *fam = &families[f];
    const wsk_candidate *pick = &fam->cand[fam->count - 1]; /* scalar, the last row */
    char best_of[64] = "";
    size_t n = 0;
    int found = 0;
    for (size_t i = 0; i < fam->count; i++) {
      const wsk_candidate *c = &fam->cand[i];
      if (!(avail & WSK_ISA_BIT(c->isa))) continue;
      int w = snprintf(best_of + n, sizeof best_of - n, "%s%s", n ? " " : "", isa_names[c->isa]);
      if (w > 0 && (size_t)w < sizeof best_of - n) n += (size_t)w;
      if (!found && cap_allows(cap, c->isa)) {
        pick = c;
        found = 1;
      }
    }
    atomic_store_explicit(&g_table[f], pick->table, memory_order_release);
    atomic_store_explicit(&g_isa[f], (int)pick->isa, memory_order_release);
    if (log)
      fprintf(stderr, "wsk: %s -> %s (best of: %s; cap: %s)\n", fam->name, isa_names[pick->isa],
              best_of, cap_text);
  }
}

static void init_once(void) {
  pthread_mutex_lock(&g_lock);
  load_env();
  atomic_store_explicit(&g_override, NO_CAP, memory_order_release);
  select_all();
  pthread_mutex_unlock(&g_lock);
}

static void ensure_init(void) { pthread_once(&g_once, init_once); }

/* Records the WSK_ISA error for this thread. */
static wsk_status env_fail(void) {
  char msg[sizeof g_env_error];
  pthread_mutex_lock(&g_lock);
  memcpy(msg, g_env_error, sizeof msg);
  pthread_mutex_unlock(&g_lock);
  return wsk__fail(WSK_ERR_ISA, "%s", msg);
}

/* ---- public and internal entry points ---------------------------------------- */

wsk_status wsk__dispatch_ready(void) {
  ensure_init();
  /* An invalid WSK_ISA stops every kernel, unless wsk_set_isa() overrides it. */
  if (atomic_load_explicit(&g_env_bad, memory_order_acquire) &&
      atomic_load_explicit(&g_override, memory_order_acquire) == NO_CAP)
    return env_fail();
  return WSK_OK;
}

wsk_status wsk_dispatch_init(void) {
  ensure_init();
  if (atomic_load_explicit(&g_env_bad, memory_order_acquire)) return env_fail();
  return WSK_OK;
}

const wsk_permsum_ukernels *wsk__permsum_table(void) {
  ensure_init();
  return atomic_load_explicit(&g_table[WSK_FAMILY_PERMSUM], memory_order_acquire);
}

const wsk_eqpool_ukernels *wsk__eqpool_table(void) {
  ensure_init();
  return atomic_load_explicit(&g_table[WSK_FAMILY_EQPOOL], memory_order_acquire);
}

const wsk_gemm_ukernels *wsk__gemm_table(void) {
  ensure_init();
  return atomic_load_explicit(&g_table[WSK_FAMILY_GEMM], memory_order_acquire);
}

const wsk_eltwise_ukernels *wsk__eltwise_table(void) {
  ensure_init();
  return atomic_load_explicit(&g_table[WSK_FAMILY_ELTWISE], memory_order_acquire);
}

const wsk_optim_ukernels *wsk__optim_table(void) {
  ensure_init();
  return atomic_load_explicit(&g_table[WSK_FAMILY_OPTIM], memory_order_acquire);
}

const wsk_attn_ukernels *wsk__attn_table(void) {
  ensure_init();
  return atomic_load_explicit(&g_table[WSK_FAMILY_ATTN], memory_order_acquire);
}

wsk_status wsk_set_isa(wsk_isa isa) {
  ensure_init();
  if ((unsigned)isa >= WSK_ISA_COUNT)
    return wsk__fail(WSK_ERR_ISA, "wsk_set_isa: %d is not a tier", (int)isa);
  uint32_t avail = wsk_isas_available();
  if (!(avail & WSK_ISA_BIT(isa))) {
    char valid[64];
    return wsk__fail(WSK_ERR_ISA,
                     "wsk_set_isa(%s): this CPU/build cannot run %s (%s); valid on this machine: %s",
                     isa_names[isa], isa_names[isa], unavailable_reason(isa),
                     wsk__isas_str(avail, ", ", valid, sizeof valid));
  }
  pthread_mutex_lock(&g_lock);
  atomic_store_explicit(&g_override, (int)isa, memory_order_release);
  select_all();
  pthread_mutex_unlock(&g_lock);
  return WSK_OK;
}

wsk_status wsk_reset_isa(void) {
  ensure_init();
  pthread_mutex_lock(&g_lock);
  atomic_store_explicit(&g_override, NO_CAP, memory_order_release);
  select_all();
  pthread_mutex_unlock(&g_lock);
  return WSK_OK;
}

wsk_status wsk_family_isa(wsk_family f, wsk_isa *out) {
  if (out == NULL) return wsk__fail(WSK_ERR_NULL, "wsk_family_isa: out is NULL");
  if ((unsigned)f >= WSK_FAMILY_COUNT)
    return wsk__fail(WSK_ERR_ARG, "wsk_family_isa: %d is not a kernel family", (int)f);
  WSK_TRY(wsk__dispatch_ready());
  *out = (wsk_isa)atomic_load_explicit(&g_isa[f], memory_order_acquire);
  return WSK_OK;
}

char *wsk__cap_str(char *buf, size_t len) {
  if (buf == NULL || len == 0) return buf;
  ensure_init();
  pthread_mutex_lock(&g_lock);
  const char *source;
  int cap = current_cap(&source);
  if (cap == NO_CAP && atomic_load(&g_env_bad))
    snprintf(buf, len, "none (WSK_ISA is invalid)");
  else
    describe_cap(cap, source, buf, len);
  pthread_mutex_unlock(&g_lock);
  return buf;
}

void wsk__dispatch_reset_for_tests(void) {
  ensure_init();
  pthread_mutex_lock(&g_lock);
  load_env();
  atomic_store_explicit(&g_override, NO_CAP, memory_order_release);
  select_all();
  pthread_mutex_unlock(&g_lock);
}
