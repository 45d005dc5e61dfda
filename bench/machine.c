/* bench/machine.c — the machine the benchmarks run on (bench.h): its CPU and
 * tiers, its topology and cache sizes from hwloc, the footprint that puts a
 * case's working set in a given memory level, and thread pinning.
 *
 * One hwloc topology serves the whole process (loaded once, pthread_once).
 * When the process runs with a restricted CPU affinity (taskset, numactl),
 * the topology is restricted to it, so "all cores" means the cores the
 * process may use and pinning never leaves them. */
#include <hwloc.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench.h"

#if HWLOC_API_VERSION < 0x00020000
#error "bench/machine.c needs hwloc >= 2.0"
#endif

#define KIB ((size_t)1024)
#define MIB (KIB * KIB)

/* Used when hwloc does not know a cache (said in wsk_machine.pinning). */
static const size_t fallback_cache[3] = {32 * KIB, 1 * MIB, 16 * MIB};

const char *wsk_level_name(wsk_level l) {
  switch (l) {
    case WSK_LEVEL_L1: return "L1";
    case WSK_LEVEL_L2: return "L2";
    case WSK_LEVEL_L3: return "L3";
    case WSK_LEVEL_DRAM: return "DRAM";
    default: return "?";
  }
}

/* ---- the process's topology ----------------------------------------------- */

static struct {
  pthread_once_t once;
  int ok;           /* topology loaded */
  int restricted;   /* restricted to the process's affinity */
  int cores_before; /* cores before that restriction */
  hwloc_topology_t topo;
  int ncores;              /* entries of core_pu */
  hwloc_bitmap_t *core_pu; /* one PU of each core, in logical order */
  int can_bind;            /* set_thisthread_cpubind supported */
} g = {.once = PTHREAD_ONCE_INIT};

static void topology_load(void) {
  if (hwloc_topology_init(&g.topo) != 0) return;
  if (hwloc_topology_load(g.topo) != 0) {
    hwloc_topology_destroy(g.topo);
    return;
  }
  g.ok = 1;
  const struct hwloc_topology_support *sup = hwloc_topology_get_support(g.topo);
  g.can_bind = sup != NULL && sup->cpubind != NULL && sup->cpubind->set_thisthread_cpubind;

  /* Keep to the CPUs the process may run on (nothing pinned yet: this runs
   * from wsk_machine_describe, before any benchmark thread). */
  g.cores_before = hwloc_get_nbobjs_by_type(g.topo, HWLOC_OBJ_CORE);
  hwloc_bitmap_t allowed = hwloc_bitmap_alloc();
  if (allowed != NULL && hwloc_get_cpubind(g.topo, allowed, HWLOC_CPUBIND_PROCESS) == 0 &&
      !hwloc_bitmap_iszero(allowed) &&
      !hwloc_bitmap_isincluded(hwloc_topology_get_topology_cpuset(g.topo), allowed)) {
    if (hwloc_topology_restrict(g.topo, allowed, 0) == 0) g.restricted = 1;
  }
  hwloc_bitmap_free(allowed);

  int n = hwloc_get_nbobjs_by_type(g.topo, HWLOC_OBJ_CORE);
  hwloc_obj_type_t type = HWLOC_OBJ_CORE;
  if (n <= 0) { /* no core objects: pin to PUs */
    n = hwloc_get_nbobjs_by_type(g.topo, HWLOC_OBJ_PU);
    type = HWLOC_OBJ_PU;
  }
  if (n <= 0) return;
  g.core_pu = calloc((size_t)n, sizeof *g.core_pu);
  if (g.core_pu == NULL) return;
  for (int i = 0; i < n; i++) {
    hwloc_obj_t obj = hwloc_get_obj_by_type(g.topo, type, (unsigned)i);
    if (obj == NULL || obj->cpuset == NULL) break;
    hwloc_bitmap_t set = hwloc_bitmap_dup(obj->cpuset);
    if (set == NULL) break;
    hwloc_bitmap_singlify(set); /* one PU: the thread stays on one hardware thread */
    g.core_pu[g.ncores++] = set;
  }
}

static int topology(void) {
  pthread_once(&g.once, topology_load);
  return g.ok;
}

/* Size and count of the data or unified caches of one level; 0 if unknown. */
static size_t cache_level(hwloc_obj_type_t type, int *count) {
  *count = 0;
  size_t size = 0;
  const int depth = hwloc_get_type_depth(g.topo, type);
  const int top = hwloc_topology_get_depth(g.topo);
  for (int d = 0; d < top; d++) {
    /* one depth, or every depth of that type when hwloc has several */
    if (depth >= 0 ? d != depth : hwloc_get_depth_type(g.topo, d) != type) continue;
    const int n = hwloc_get_nbobjs_by_depth(g.topo, d);
    for (int i = 0; i < n; i++) {
      hwloc_obj_t o = hwloc_get_obj_by_depth(g.topo, d, (unsigned)i);
      if (o == NULL || o->attr == NULL || o->attr->cache.type == HWLOC_OBJ_CACHE_INSTRUCTION)
        continue;
      if (size == 0) size = (size_t)o->attr->cache.size; /* the first one's size */
      (*count)++;
    }
  }
  return size;
}

void wsk_machine_describe(wsk_machine *m) {
  memset(m, 0, sizeof *m);
  if (gethostname(m->hostname, sizeof m->hostname - 1) != 0)
    snprintf(m->hostname, sizeof m->hostname, "unknown");

  wsk_cpu_info cpu;
  if (wsk_cpu_info_get(&cpu) == WSK_OK) {
    snprintf(m->vendor, sizeof m->vendor, "%s", cpu.vendor);
    snprintf(m->cpu, sizeof m->cpu, "%s", cpu.name);
    snprintf(m->features, sizeof m->features, "%s", cpu.features);
  }
  m->isas = wsk_isas_available();

  char fallback[80] = "";
  static const char *const cache_names[3] = {"L1d", "L2", "L3"};
  if (topology()) {
    m->packages = hwloc_get_nbobjs_by_type(g.topo, HWLOC_OBJ_PACKAGE);
    m->cores = hwloc_get_nbobjs_by_type(g.topo, HWLOC_OBJ_CORE);
    m->pus = hwloc_get_nbobjs_by_type(g.topo, HWLOC_OBJ_PU);
    static const hwloc_obj_type_t types[3] = {HWLOC_OBJ_L1CACHE, HWLOC_OBJ_L2CACHE,
                                              HWLOC_OBJ_L3CACHE};
    for (int i = 0; i < 3; i++) m->cache[i] = cache_level(types[i], &m->cache_count[i]);
  }
  if (m->pus <= 0) {
    const long n = sysconf(_SC_NPROCESSORS_ONLN);
    m->pus = n > 0 ? (int)n : 1;
  }
  if (m->cores <= 0) m->cores = g.ncores > 0 ? g.ncores : m->pus;
  if (m->packages <= 0) m->packages = 1;
  for (int i = 0; i < 3; i++) {
    if (m->cache[i] != 0) continue;
    m->cache[i] = fallback_cache[i];
    m->cache_count[i] = 0;
    const size_t len = strlen(fallback);
    const size_t b = fallback_cache[i];
    snprintf(fallback + len, sizeof fallback - len, "%s%s %zu %s", len ? ", " : "", cache_names[i],
             b >= MIB ? b / MIB : b / KIB, b >= MIB ? "MiB" : "KiB");
  }

  const int smt = g.ncores > 0 && m->pus > g.ncores;
  if (!g.ok) {
    snprintf(m->pinning, sizeof m->pinning,
             "hwloc could not load the topology; threads are not pinned");
  } else if (!g.can_bind || g.ncores == 0) {
#ifdef __APPLE__
    snprintf(m->pinning, sizeof m->pinning,
             "thread binding not supported by this OS (macOS); threads are not pinned");
#else
    snprintf(m->pinning, sizeof m->pinning,
             "hwloc cannot bind threads here; threads are not pinned");
#endif
  } else {
    m->can_pin = 1;
    char restricted[48] = "";
    if (g.restricted)
      snprintf(restricted, sizeof restricted, ", %d of %d cores (CPU affinity)", g.ncores,
               g.cores_before);
    snprintf(m->pinning, sizeof m->pinning, "hwloc: thread i bound to core i mod %d (%s)%s",
             g.ncores, smt ? "first PU of the core" : "1 PU each", restricted);
  }
  if (fallback[0]) {
    const size_t len = strlen(m->pinning);
    snprintf(m->pinning + len, sizeof m->pinning - len, "; hwloc lacks cache sizes, assumed %s",
             fallback);
  }
}

int wsk_pin_thread(int index) {
  if (!topology() || !g.can_bind || g.ncores <= 0 || index < 0) return -1;
  const hwloc_bitmap_t set = g.core_pu[index % g.ncores];
  return hwloc_set_cpubind(g.topo, set, HWLOC_CPUBIND_THREAD) == 0 ? 0 : -1;
}

/* ---- footprints ------------------------------------------------------------- */

static size_t round_down_4k(size_t b) {
  b &= ~(4 * KIB - 1);
  return b < 4 * KIB ? 4 * KIB : b;
}
static size_t round_up_4k(size_t b) { return (b + 4 * KIB - 1) & ~(4 * KIB - 1); }

/* Threads of `threads` that share one cache of a level: thread i sits on core
 * i, and hwloc numbers cores so that those under one cache are consecutive,
 * so min(threads, cores per cache). 1 for a private cache. */
static size_t sharers(const wsk_machine *m, int level, int threads) {
  if (threads < 1) threads = 1;
  const int count = m->cache_count[level];
  if (count <= 0) return level == 2 ? (size_t)threads : 1; /* unknown: L1/L2 private, L3 shared */
  int per = (m->cores + count - 1) / count;
  if (per < 1) per = 1;
  return (size_t)(threads < per ? threads : per);
}

/* The rules (bytes per thread; every thread has its own working set):
 *   L1    half of one L1d, divided among the threads that share it (private: 1)
 *   L2    half of one L2, divided among its sharers (1 when private; 2-4 on
 *         cores that pair up or cluster their L2), at least twice the L1d so
 *         it misses L1
 *   L3    a quarter of this thread's share of its L3 (the L3 divided among the
 *         threads on it), but at least twice this thread's L2 share so it
 *         misses L2; where those two disagree (a small L3 per core, like
 *         Skylake-SP's 1.375 MiB beside a 1 MiB L2), halfway between the L2
 *         share and the L3 share
 *   DRAM  max(4 x L3, 64 MiB) / threads, and at least 4 x L3 / 64, so that
 *         wsk_level_rotation() buffers (at most 64) of this size span 4 x L3
 * L1..L3 round down to 4 KiB (and are at least 4 KiB), DRAM rounds up. */
size_t wsk_level_footprint(const wsk_machine *m, wsk_level l, int threads) {
  if (threads < 1) threads = 1;
  size_t c[3];
  for (int i = 0; i < 3; i++) c[i] = m->cache[i] ? m->cache[i] : fallback_cache[i];
  const size_t l1 = c[0] / sharers(m, 0, threads);
  const size_t l2 = c[1] / sharers(m, 1, threads);
  const size_t l3 = c[2] / sharers(m, 2, threads);
  switch (l) {
    case WSK_LEVEL_L1: return round_down_4k(l1 / 2);
    case WSK_LEVEL_L2: {
      size_t f = l2 / 2;
      if (f < 2 * l1) f = 2 * l1;
      return round_down_4k(f);
    }
    case WSK_LEVEL_L3: {
      size_t f = l3 / 4;
      if (f < 2 * l2) f = 2 * l2;
      if (f > l3 / 4 * 3) f = (l2 + l3) / 2;
      return round_down_4k(f);
    }
    case WSK_LEVEL_DRAM: {
      size_t f = 4 * c[2] > 64 * MIB ? 4 * c[2] : 64 * MIB;
      f /= (size_t)threads;
      if (f < (4 * c[2] + 63) / 64) f = (4 * c[2] + 63) / 64;
      if (f < 1 * MIB) f = 1 * MIB;
      return round_up_4k(f);
    }
    default: return 0;
  }
}

size_t wsk_level_rotation(const wsk_machine *m, wsk_level l, size_t bytes) {
  if (l != WSK_LEVEL_DRAM || bytes == 0) return 1;
  const size_t l3 = m->cache[2] ? m->cache[2] : fallback_cache[2];
  size_t n = (4 * l3 + bytes - 1) / bytes;
  if (n < 1) n = 1;
  if (n > 64) n = 64;
  return n;
}
