/* dispatch/info.c — wsk_info_print(), what `wsk info` prints: the CPU and the
 * features wsk checks, the tiers compiled / supported / available, the cap in
 * force, the hwloc topology (packages, cores, PUs, data and unified caches),
 * and the tier chosen for every kernel family.
 *
 * Output: section titles at column 0, then "  key" padded to a fixed width
 * and the value, so that the values line up:
 *
 *   CPU
 *     vendor      AuthenticAMD
 *     ...
 *   Kernels
 *     permsum     avx512
 */
#include <hwloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dispatch/dispatch_internal.h"
#include "dispatch/error.h"
#include "wsk/wsk.h"

#define KEY_WIDTH 12

static void row(FILE *out, const char *key, const char *value) {
  fprintf(out, "  %-*s%s\n", KEY_WIDTH, key, value);
}

/* "48 KiB", "1 MiB", "1.2 MiB", "32 MiB" (tenths truncated). */
static void format_bytes(unsigned long long bytes, char *buf, size_t len) {
  static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  unsigned u = 0;
  while (u < 4 && bytes >= (1ULL << (10 * (u + 1)))) u++;
  unsigned long long whole = bytes >> (10 * u);
  unsigned long long rest = bytes - (whole << (10 * u));
  unsigned long long tenths = (rest * 10) >> (10 * u);
  if (tenths)
    snprintf(buf, len, "%llu.%llu %s", whole, tenths, units[u]);
  else
    snprintf(buf, len, "%llu %s", whole, units[u]);
}

#if HWLOC_API_VERSION >= 0x00020000
/* "<size> x <count>" of the first cache object of a type, or "-". */
static void cache_row(FILE *out, hwloc_topology_t topo, hwloc_obj_type_t type, const char *key) {
  int n = hwloc_get_nbobjs_by_type(topo, type);
  hwloc_obj_t first = n > 0 ? hwloc_get_obj_by_type(topo, type, 0) : NULL;
  if (first == NULL || first->attr == NULL) {
    row(out, key, "-");
    return;
  }
  char size[48], text[80];
  format_bytes((unsigned long long)first->attr->cache.size, size, sizeof size);
  snprintf(text, sizeof text, "%s x %d", size, n);
  row(out, key, text);
}
#endif

static void print_topology(FILE *out) {
#if HWLOC_API_VERSION >= 0x00020000
  unsigned v = hwloc_get_api_version();
  fprintf(out, "Topology (hwloc API %u.%u)\n", v >> 16, (v >> 8) & 0xff);
  hwloc_topology_t topo;
  if (hwloc_topology_init(&topo) != 0) {
    row(out, "error", "hwloc_topology_init failed; topology unknown");
    return;
  }
  if (hwloc_topology_load(topo) != 0) {
    row(out, "error", "hwloc_topology_load failed; topology unknown");
    hwloc_topology_destroy(topo);
    return;
  }
  char text[32];
  snprintf(text, sizeof text, "%d", hwloc_get_nbobjs_by_type(topo, HWLOC_OBJ_PACKAGE));
  row(out, "packages", text);
  snprintf(text, sizeof text, "%d", hwloc_get_nbobjs_by_type(topo, HWLOC_OBJ_CORE));
  row(out, "cores", text);
  snprintf(text, sizeof text, "%d", hwloc_get_nbobjs_by_type(topo, HWLOC_OBJ_PU));
  row(out, "PUs", text);
  cache_row(out, topo, HWLOC_OBJ_L1CACHE, "L1d");
  cache_row(out, topo, HWLOC_OBJ_L2CACHE, "L2");
  cache_row(out, topo, HWLOC_OBJ_L3CACHE, "L3");
  hwloc_topology_destroy(topo);
#else
  fprintf(out, "Topology\n");
  row(out, "error", "wsk needs hwloc >= 2.0; topology unknown");
#endif
}

wsk_status wsk_info_print(FILE *out) {
  if (out == NULL) return wsk__fail(WSK_ERR_NULL, "wsk_info_print: out is NULL");
  char buf[256];

  fprintf(out, "wsk %s\n", WSK_VERSION_STRING);

  wsk_cpu_info cpu;
  WSK_TRY(wsk_cpu_info_get(&cpu));
  fprintf(out, "CPU\n");
  row(out, "vendor", cpu.vendor);
  row(out, "name", cpu.name);
  row(out, "features", cpu.features[0] ? cpu.features : "(none that wsk uses)");

  fprintf(out, "Tiers (best first)\n");
  row(out, "compiled", wsk__isas_str(wsk_isas_compiled(), " ", buf, sizeof buf));
  row(out, "supported", wsk__isas_str(wsk_isas_supported(), " ", buf, sizeof buf));
  row(out, "available", wsk__isas_str(wsk_isas_available(), " ", buf, sizeof buf));
  row(out, "cap", wsk__cap_str(buf, sizeof buf));

  print_topology(out);

  fprintf(out, "Threads\n");
  if (wsk_threads_init() == WSK_OK) {
    const char *env = getenv("WSK_NUM_THREADS");
    snprintf(buf, sizeof buf, "%d (%s)", wsk_threads_count(),
             env && env[0] ? "WSK_NUM_THREADS" : "default: one per physical core");
    row(out, "pool", buf);
    row(out, "pinning", wsk_threads_pinning());
  } else {
    row(out, "pool", wsk_last_error());
  }

  fprintf(out, "Kernels\n");
  for (int f = 0; f < WSK_FAMILY_COUNT; f++) {
    wsk_isa isa;
    wsk_status s = wsk_family_isa((wsk_family)f, &isa);
    if (s == WSK_OK)
      snprintf(buf, sizeof buf, "-> %s", wsk_isa_name(isa));
    else
      snprintf(buf, sizeof buf, "-> (none: %s)", wsk_status_name(s));
    row(out, wsk_family_name((wsk_family)f), buf);
  }
  return ferror(out) ? wsk__fail(WSK_ERR_IO, "wsk_info_print: write error") : WSK_OK;
}
