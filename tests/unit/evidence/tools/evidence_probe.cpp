// SPDX-License-Identifier: GPL-2.0-or-later
// evidence_probe: runs the real EvidenceEngine against the real system for one made-up stall
// event, the way the daemon would, and prints the reports. Used by the fixture-capture guest
// (tests/fixtures/evidence/capture/qemu) and by hand on a host while a hog runs:
//   evidence_probe --cpu 1 --hb-prio 50 --state-dir /tmp/sw --stall-start-ns <CLOCK_MONOTONIC ns>
//                  --collect-at-ms 2000,7000 [--sysrq-wait-ms 1500] [--budget-ms 3000] [--sysrq 0]
// The first collection is a kStall event, later ones kOngoing.
#include <time.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "stallwatch/core/clock.h"
#include "stallwatch/evidence/engine.h"

using namespace stallwatch;
using namespace stallwatch::evidence;

namespace {

void sleep_until(std::int64_t t) {
  timespec ts{static_cast<time_t>(t / 1'000'000'000), static_cast<long>(t % 1'000'000'000)};
  while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, nullptr) == EINTR) {}
}

}  // namespace

int main(int argc, char** argv) {
  int cpu = 1, hb_prio = 99;
  std::string state_dir = "/tmp/evidence-probe";
  std::int64_t start_ns = 0;
  std::vector<std::int64_t> offsets_ms = {2000};
  EvidenceConfig cfg;
  cfg.sysrq_min_interval = std::chrono::seconds(0);
  cfg.ongoing_min_interval = std::chrono::seconds(0);
  cfg.sysrq_wait = std::chrono::milliseconds(1500);
  cfg.budget = std::chrono::milliseconds(3000);
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string k = argv[i], v = argv[i + 1];
    if (k == "--cpu")
      cpu = std::atoi(v.c_str());
    else if (k == "--hb-prio")
      hb_prio = std::atoi(v.c_str());
    else if (k == "--state-dir")
      state_dir = v;
    else if (k == "--stall-start-ns")
      start_ns = std::atoll(v.c_str());
    else if (k == "--sysrq-wait-ms")
      cfg.sysrq_wait = std::chrono::milliseconds(std::atoll(v.c_str()));
    else if (k == "--budget-ms")
      cfg.budget = std::chrono::milliseconds(std::atoll(v.c_str()));
    else if (k == "--sysrq")
      cfg.sysrq_backtrace = v != "0";
    else if (k == "--collect-at-ms") {
      offsets_ms.clear();
      for (char* tok = std::strtok(argv[i + 1], ","); tok; tok = std::strtok(nullptr, ","))
        offsets_ms.push_back(std::atoll(tok));
    } else {
      std::fprintf(stderr, "unknown option %s\n", k.c_str());
      return 2;
    }
  }
  if (start_ns == 0) start_ns = mono_now_ns();
  EvidenceEngine engine(Sysroot(), cfg, hb_prio, state_dir);
  engine.start();
  std::string path;
  for (std::size_t i = 0; i < offsets_ms.size(); ++i) {
    sleep_until(start_ns + offsets_ms[i] * 1'000'000);
    StallEvent ev;
    ev.kind = i == 0 ? EventKind::kStall : EventKind::kOngoing;
    ev.cpu = cpu;
    ev.detected_mono_ns = mono_now_ns();
    ev.stall_start_mono_ns = start_ns;
    ev.stall_ns = ev.detected_mono_ns - start_ns;
    ev.threshold_ns = 2'000'000'000;
    ev.episode = 1;
    std::int64_t t0 = mono_now_ns();
    StallReport r = engine.collect(ev, t0);
    std::int64_t t1 = mono_now_ns();
    engine.store(r);
    path = r.report_path;
    std::printf("=== collect at +%lld ms: %.1f ms, class=%s\nreason: %s\nculprit: %s pid %d tid %d "
                "%s prio %d\n%s\nreport: %s\n",
                static_cast<long long>(offsets_ms[i]), static_cast<double>(t1 - t0) / 1e6,
                r.stall_class.c_str(), r.class_reason.c_str(), r.comm.c_str(), r.pid, r.tid,
                r.policy.c_str(), r.rt_priority, r.summary.c_str(), r.report_path.c_str());
    for (const auto& s : engine.last_evidence().steps)
      std::printf("  step %-16s %8.1f ms %s\n", s.name.c_str(),
                  static_cast<double>(s.elapsed_ns) / 1e6, s.ok ? "" : "FAILED");
    std::fflush(stdout);
  }
  engine.stop();
  if (!path.empty()) {
    auto text = read_file_capped(path, 4 << 20);
    if (text) std::printf("=== report file %s\n%s", path.c_str(), text->c_str());
  }
  return 0;
}
