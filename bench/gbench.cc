// bench/gbench.cc — the C shim over Google Benchmark declared in gbench.h.
#include "gbench.h"

#include <benchmark/benchmark.h>

#include <cstring>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

struct gb_state {
  benchmark::State *s;
};

namespace {

std::vector<benchmark::internal::Benchmark *> &registry() {
  static std::vector<benchmark::internal::Benchmark *> r;
  return r;
}

// Google Benchmark 1.7 reports a skip as error_occurred/error_message, 1.8
// as skipped/skip_message; pick whichever this version has.
template <typename R>
auto skip_info(const R &r, int) -> decltype(r.error_occurred, std::make_pair(true, std::string())) {
  return {r.error_occurred, r.error_message};
}
template <typename R>
auto skip_info(const R &r, long) -> decltype(r.skip_message, std::make_pair(true, std::string())) {
  return {static_cast<bool>(r.skipped), r.skip_message};
}

class Collector : public benchmark::ConsoleReporter {
 public:
  Collector(gb_run_fn cb, void *ctx, bool quiet) : cb_(cb), ctx_(ctx), quiet_(quiet) {}
  bool ReportContext(const Context &c) override {
    return quiet_ ? true : benchmark::ConsoleReporter::ReportContext(c);
  }
  void ReportRuns(const std::vector<Run> &runs) override {
    for (const Run &r : runs) {
      const std::string name = r.benchmark_name();
      const std::string base = r.run_name.function_name;
      std::vector<std::string> names;
      std::vector<const char *> cnames;
      std::vector<double> values;
      for (const auto &kv : r.counters) {
        names.push_back(kv.first);
        values.push_back(kv.second.value); // already finished (rates divided by time)
      }
      for (const auto &n : names) cnames.push_back(n.c_str());
      const auto skip = skip_info(r, 0);
      gb_run out;
      out.name = name.c_str();
      out.base = base.c_str();
      out.aggregate = r.aggregate_name.c_str();
      out.threads = static_cast<int>(r.threads);
      out.iterations = static_cast<int64_t>(r.iterations);
      const double mult = benchmark::GetTimeUnitMultiplier(r.time_unit);
      out.real_ns = r.GetAdjustedRealTime() / mult * 1e9;
      out.cpu_ns = r.GetAdjustedCPUTime() / mult * 1e9;
      out.skipped = skip.first;
      out.skip_reason = skip.second.c_str();
      out.ncounters = names.size();
      out.counter_names = cnames.data();
      out.counter_values = values.data();
      if (cb_) cb_(&out, ctx_);
    }
    if (!quiet_) benchmark::ConsoleReporter::ReportRuns(runs);
  }
  void Finalize() override {
    if (!quiet_) benchmark::ConsoleReporter::Finalize();
  }

 private:
  gb_run_fn cb_;
  void *ctx_;
  bool quiet_;
};

}  // namespace

extern "C" {

int gb_initialize(int *argc, char **argv) {
  benchmark::Initialize(argc, argv);
  return *argc;
}

int gb_register(const char *name, gb_fn fn, const void *arg, size_t arg_size) {
  std::vector<unsigned char> copy(static_cast<const unsigned char *>(arg),
                                  static_cast<const unsigned char *>(arg) + arg_size);
  auto *b = benchmark::RegisterBenchmark(name, [fn, copy](benchmark::State &s) {
    gb_state st{&s};
    fn(&st, copy.empty() ? nullptr : copy.data());
  });
  registry().push_back(b);
  return static_cast<int>(registry().size() - 1);
}

void gb_threads(int id, int threads) { registry().at(static_cast<size_t>(id))->Threads(threads); }
void gb_use_real_time(int id) { registry().at(static_cast<size_t>(id))->UseRealTime(); }

int gb_keep_running(gb_state *st) { return st->s->KeepRunning() ? 1 : 0; }
void gb_pause(gb_state *st) { st->s->PauseTiming(); }
void gb_resume(gb_state *st) { st->s->ResumeTiming(); }
void gb_skip(gb_state *st, const char *reason) { st->s->SkipWithError(reason); }
int gb_thread_index(const gb_state *st) { return static_cast<int>(st->s->thread_index()); }
int gb_thread_count(const gb_state *st) { return static_cast<int>(st->s->threads()); }
int64_t gb_iterations(const gb_state *st) { return static_cast<int64_t>(st->s->iterations()); }

void gb_counter(gb_state *st, const char *name, double value, unsigned flags) {
  int f = benchmark::Counter::kDefaults;
  if (flags & GB_COUNTER_RATE) f |= benchmark::Counter::kIsRate;
  if (flags & GB_COUNTER_ITERATION) f |= benchmark::Counter::kAvgIterations;
  if (!(flags & GB_COUNTER_THREAD_SUM)) f |= benchmark::Counter::kAvgThreads;
  st->s->counters[name] = benchmark::Counter(value, static_cast<benchmark::Counter::Flags>(f));
}

void gb_bytes_processed(gb_state *st, int64_t bytes) { st->s->SetBytesProcessed(bytes); }
void gb_set_label(gb_state *st, const char *label) { st->s->SetLabel(label); }

size_t gb_run_all(gb_run_fn cb, void *ctx, int quiet) {
  Collector c(cb, ctx, quiet != 0);
  return benchmark::RunSpecifiedBenchmarks(&c);
}

void gb_do_not_optimize(const void *p) { benchmark::DoNotOptimize(p); }
void gb_clobber_memory(void) { benchmark::ClobberMemory(); }

}  // extern "C"
