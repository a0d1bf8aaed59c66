// SPDX-License-Identifier: GPL-2.0-or-later
// evidence_bench: how long EvidenceEngine::collect() takes for one stall with 10,000 threads on
// the system (created here), excluding the sysrq wait, and whether a periodic SCHED_FIFO ticker
// (standing in for the checker) stays on time meanwhile. Goal: <= 250 ms per collection.
//   evidence_bench [--threads N] [benchmark flags]
// Run as root for SCHED_FIFO; a busy SCHED_OTHER thread pinned to the last CPU is the culprit.
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include <benchmark/benchmark.h>

#include "stallwatch/core/clock.h"
#include "stallwatch/evidence/engine.h"

namespace {

using namespace stallwatch;
using namespace stallwatch::evidence;

// --- 10,000 threads in another process (the daemon skips its own), one of them busy on the
// stalled CPU: the culprit the scan must find -------------------------------------------------
int g_cpu = 1;

void* sleeper(void* arg) {
  int fd = *static_cast<int*>(arg);
  char c;
  [[maybe_unused]] ssize_t n = ::read(fd, &c, 1);  // blocks until the parent closes the pipe
  return nullptr;
}

void* spinner(void* arg) {
  int fd = *static_cast<int*>(arg);
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(g_cpu, &set);
  pthread_setaffinity_np(pthread_self(), sizeof set, &set);
  pthread_setname_np(pthread_self(), "bench-culprit");
  // Busy until the release pipe is closed (poll, not O_NONBLOCK: the sleepers share the fd).
  for (std::uint64_t i = 0;; ++i) {
    if ((i & 0xfffff) != 0) continue;
    pollfd pfd{fd, POLLIN, 0};
    if (::poll(&pfd, 1, 0) > 0) break;
  }
  return nullptr;
}

// Forks a child with the threads; returns its pid once they all exist. Closing *release_fd ends it.
pid_t spawn_thread_farm(int threads, int* release_fd) {
  int release[2], ready[2];
  if (::pipe(release) != 0 || ::pipe(ready) != 0) return -1;
  pid_t pid = ::fork();
  if (pid == 0) {
    ::close(release[1]);
    ::close(ready[0]);
    int fd = release[0];
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, 64 * 1024);
    std::vector<pthread_t> all;
    pthread_t t;
    if (pthread_create(&t, &attr, &spinner, &fd) == 0) all.push_back(t);
    for (int i = 0; i < threads; ++i) {
      int rc = pthread_create(&t, &attr, &sleeper, &fd);
      if (rc != 0) {
        std::fprintf(stderr, "thread %d: %s\n", i, std::strerror(rc));
        break;
      }
      all.push_back(t);
    }
    [[maybe_unused]] ssize_t w = ::write(ready[1], "r", 1);
    for (auto th : all) pthread_join(th, nullptr);
    ::_exit(0);
  }
  ::close(release[0]);
  ::close(ready[1]);
  char c;
  [[maybe_unused]] ssize_t r = ::read(ready[0], &c, 1);
  ::close(ready[0]);
  *release_fd = release[1];
  return pid;
}

// --- the ticker: a 10 ms SCHED_FIFO periodic thread, like the checker --------------------------
struct Lateness {
  std::atomic<std::int64_t> max_ns{0};
  std::atomic<std::int64_t> ticks{0};
  void reset() {
    max_ns = 0;
    ticks = 0;
  }
};
Lateness g_late;
std::atomic<bool> g_ticker_stop{false};
bool g_ticker_fifo = false;

void ticker() {
  sched_param p{};
  p.sched_priority = 50;
  g_ticker_fifo = pthread_setschedparam(pthread_self(), SCHED_FIFO, &p) == 0;
  constexpr std::int64_t kPeriod = 10'000'000;
  std::int64_t next = mono_now_ns() + kPeriod;
  while (!g_ticker_stop) {
    timespec ts{static_cast<time_t>(next / 1'000'000'000), static_cast<long>(next % 1'000'000'000)};
    clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, nullptr);
    std::int64_t late = mono_now_ns() - next;
    std::int64_t cur = g_late.max_ns.load();
    while (late > cur && !g_late.max_ns.compare_exchange_weak(cur, late)) {}
    ++g_late.ticks;
    next += kPeriod;
  }
}

// --- the benchmark -----------------------------------------------------------------------------
EvidenceEngine* g_engine = nullptr;
std::vector<double> g_ms;
std::vector<double> g_cpu_ms;  // the collecting thread's CPU time: the cost without contention
std::vector<double> g_scan_ms;

std::int64_t thread_cpu_ns() { return clock_ns(CLOCK_THREAD_CPUTIME_ID); }
int g_tasks_scanned = 0;
std::size_t g_found = 0;
std::string g_culprit;

void BM_CollectOneStall(benchmark::State& state) {
  std::uint64_t episode = 0;
  for (auto _ : state) {
    StallEvent ev;
    ev.kind = EventKind::kStall;
    ev.cpu = g_cpu;
    std::int64_t now = mono_now_ns();
    ev.detected_mono_ns = now;
    ev.stall_start_mono_ns = now - 2'000'000'000;
    ev.stall_ns = 2'000'000'000;
    ev.episode = ++episode;
    std::int64_t t0 = mono_now_ns();
    std::int64_t c0 = thread_cpu_ns();
    StallReport r = g_engine->collect(ev, t0);
    g_cpu_ms.push_back(static_cast<double>(thread_cpu_ns() - c0) / 1e6);
    g_ms.push_back(static_cast<double>(mono_now_ns() - t0) / 1e6);
    for (const auto& s : g_engine->last_evidence().steps)
      if (s.name == "tasks") g_scan_ms.push_back(static_cast<double>(s.elapsed_ns) / 1e6);
    benchmark::DoNotOptimize(r);
    g_tasks_scanned = g_engine->last_evidence().tasks_scanned;
    g_found = g_engine->last_evidence().tasks.size();
    g_culprit = r.comm + " class=" + r.stall_class + " (" + r.class_reason + ")";
  }
  state.counters["tasks_scanned"] = g_tasks_scanned;
}
BENCHMARK(BM_CollectOneStall)->Unit(benchmark::kMillisecond)->Iterations(20)->UseRealTime();

}  // namespace

int main(int argc, char** argv) {
  int threads = 10'000;
  std::vector<char*> rest = {argv[0]};
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--threads") == 0 && i + 1 < argc)
      threads = std::atoi(argv[++i]);
    else
      rest.push_back(argv[i]);
  }
  int rest_argc = static_cast<int>(rest.size());
  benchmark::Initialize(&rest_argc, rest.data());
  g_cpu = std::max(0, static_cast<int>(sysconf(_SC_NPROCESSORS_ONLN)) - 1);

  int release_fd = -1;
  pid_t farm = spawn_thread_farm(threads, &release_fd);
  if (farm < 0) return 1;
  std::thread tick(ticker);
  // The stalled CPU is not available to the daemon: keep the collection (and the engine's
  // threads, which inherit this) off it, as in a real stall.
  if (g_cpu > 0) {
    cpu_set_t others;
    CPU_ZERO(&others);
    for (int c = 0; c < g_cpu; ++c) CPU_SET(c, &others);
    pthread_setaffinity_np(pthread_self(), sizeof others, &others);
  }

  EvidenceConfig cfg;
  cfg.sysrq_backtrace = false;  // the figure excludes the sysrq wait
  char dir[] = "/tmp/evidence-bench-XXXXXX";
  if (::mkdtemp(dir) == nullptr) return 1;
  EvidenceEngine engine(Sysroot(), cfg, 99, dir);
  engine.start();
  g_engine = &engine;
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));  // two baseline samples

  g_late.reset();
  std::this_thread::sleep_for(std::chrono::seconds(2));
  std::int64_t idle_max = g_late.max_ns, idle_ticks = g_late.ticks;
  g_late.reset();
  benchmark::RunSpecifiedBenchmarks();
  std::int64_t busy_max = g_late.max_ns, busy_ticks = g_late.ticks;

  engine.stop();
  g_ticker_stop = true;
  tick.join();
  ::close(release_fd);
  ::waitpid(farm, nullptr, 0);
  std::system((std::string("rm -rf ") + dir).c_str());

  if (g_ms.empty()) return 1;
  auto median = [](std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
  };
  double worst = *std::max_element(g_ms.begin(), g_ms.end());
  double med = median(g_ms);
  double loadavg[3] = {0, 0, 0};
  ::getloadavg(loadavg, 3);
  std::printf(
      "\nevidence collection, %d extra threads, %d tasks scanned, %zu runnable on CPU %d "
      "(culprit %s), load average %.1f:\n"
      "  wall: median %.1f ms, max %.1f ms over %zu runs (goal <= 250 ms): %s\n"
      "  of which the task scan: median %.1f ms; collecting thread CPU time: median %.1f ms\n",
      threads, g_tasks_scanned, g_found, g_cpu, g_culprit.c_str(), loadavg[0], med, worst,
      g_ms.size(), med <= 250 ? "OK (median)" : "OVER (median)", median(g_scan_ms),
      median(g_cpu_ms));
  std::printf("ticker (10 ms, %s) lateness: idle max %.2f ms over %lld ticks; during collection "
              "max %.2f ms over %lld ticks\n",
              g_ticker_fifo ? "SCHED_FIFO 50" : "SCHED_OTHER", static_cast<double>(idle_max) / 1e6,
              static_cast<long long>(idle_ticks), static_cast<double>(busy_max) / 1e6,
              static_cast<long long>(busy_ticks));
  benchmark::Shutdown();
  return med <= 250 ? 0 : 2;
}
