// SPDX-License-Identifier: GPL-2.0-or-later
// Cost of one status pass on the dispatcher: the status document of N CPUs, its counter fields,
// status.json text and the Prometheus exposition (what the idle daemon does every
// metrics.interval). Warm: back to back. Cold: caches evicted before each pass (32 MiB written), as
// on an idle machine where the pass runs every 15 s.
#include <benchmark/benchmark.h>

#include <memory>
#include <vector>

#include "stallwatch/daemon/status_doc.h"
#include "stallwatch/metrics/exposition.h"
#include "stallwatch/metrics/publisher.h"

namespace {

using namespace stallwatch;
using namespace stallwatch::daemon;

StatusInputs inputs(int cpus) {
  StatusInputs in;
  in.version = "1.0";
  in.pid = 1234;
  in.now_mono_ns = 123'456'789'000;
  in.now_unix_ms = 1'790'000'000'000;
  in.config = "/etc/stallwatch/stallwatch.toml";
  in.heartbeat_interval_ns = 500'000'000;
  in.threshold_ns = 2'000'000'000;
  in.checks = 4000;
  in.last_check_ns = in.now_mono_ns - 300'000'000;
  for (int c = 0; c < cpus; ++c) {
    StatusCpu s;
    s.cpu = c;
    s.state = CpuState::kHealthy;
    s.monitored = true;
    s.last_ns = in.now_mono_ns - 100'000'000;
    s.seq = 8000;
    s.late_max_ns = 80'000;
    s.late_hist.assign(kLatenessBuckets, 0);
    for (int b = 10; b < 17; ++b) s.late_hist[static_cast<std::size_t>(b)] = 1000u >> (b - 10);
    in.cpus.push_back(std::move(s));
  }
  return in;
}

std::vector<char> g_evict(32 << 20);

void pass(const StatusInputs& in, metrics::MetricsPublisher& pub) {
  nlohmann::json doc = status_document(in);
  pub.add_fields(doc, std::nullopt);
  std::string text = doc.dump(1, ' ', false, nlohmann::json::error_handler_t::replace);
  std::string prom = metrics::render_metrics(doc);
  benchmark::DoNotOptimize(text.data());
  benchmark::DoNotOptimize(prom.data());
}

void BM_StatusPass(benchmark::State& state) {
  const int cpus = static_cast<int>(state.range(0));
  const bool cold = state.range(1) != 0;
  metrics::MetricsPublisher pub(cpus, "none");
  const StatusInputs in = inputs(cpus);
  for (auto _ : state) {
    if (cold) {
      state.PauseTiming();
      for (std::size_t i = 0; i < g_evict.size(); i += 64)
        g_evict[i] = static_cast<char>(g_evict[i] + 1);
      benchmark::ClobberMemory();
      state.ResumeTiming();
    }
    pass(in, pub);
  }
}
BENCHMARK(BM_StatusPass)->ArgsProduct({{2, 64}, {0, 1}})->ArgNames({"cpus", "cold"});

}  // namespace

BENCHMARK_MAIN();
