// SPDX-License-Identifier: GPL-2.0-or-later
// stallwatchctl doctor: every check on fixture trees (tests/fixtures/ctl/doctor: a captured host
// tree plus one overlay per status, see its README), the parsers, exit status and JSON.
#include "stallwatch/ctl/doctor/doctor.h"

#include <stdlib.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <set>

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "stallwatch/ctl/doctor/parse.h"
#include "temp_dir.h"

namespace stallwatch::ctl {
namespace {

const std::string kDir = std::string(STALLWATCH_FIXTURES) + "/ctl/doctor";

// host/ copied to a temporary directory, the variant copied over it, REMOVE'd paths deleted.
class Tree {
 public:
  explicit Tree(const std::string& variant) {
    dir_.copy_tree(kDir + "/host");
    if (variant.empty()) return;
    const std::string v = kDir + "/variants/" + variant;
    EXPECT_EQ(::access(v.c_str(), F_OK), 0) << variant;
    dir_.copy_tree(v);
    std::ifstream remove(path_ + "/REMOVE");
    for (std::string line; std::getline(remove, line);)
      if (!line.empty()) std::filesystem::remove_all(path_ + "/" + line);
  }
  const std::string& path() const { return path_; }

  DoctorContext context() const {
    DoctorContext ctx = load_doctor_context(Sysroot(path_), "", false);
    ctx.machine = "x86_64";  // the captured host's `uname -m`
    ctx.euid = 0;            // captured and audited as root
    return ctx;
  }

 private:
  test_support::TempDir dir_{"sw-doctor-test"};
  const std::string path_ = dir_.path();
};

struct Case {
  const char* variant;  // "" = the captured host as is
  const char* id;
  FindingStatus status;
  const char* summary;
};

void PrintTo(const Case& c, std::ostream* os) {
  *os << (*c.variant ? c.variant : "host") << ":" << c.id;
}

class DoctorCheck : public ::testing::TestWithParam<Case> {};

TEST_P(DoctorCheck, StatusAndSummary) {
  const Case& c = GetParam();
  Tree tree(c.variant);
  const Finding r = run_audit_item(tree.context(), c.id);
  EXPECT_EQ(to_string(r.status), to_string(c.status)) << r.summary;
  EXPECT_EQ(r.summary, c.summary);
  EXPECT_FALSE(r.evidence.empty());
  if (r.status == FindingStatus::kWarn || r.status == FindingStatus::kFail) {
    EXPECT_FALSE(r.fix.empty());
  }
}

using S = FindingStatus;
constexpr S kOk = S::kOk, kWarn = S::kWarn, kFail = S::kFail, kUnknown = S::kUnknown;

const Case kCases[] = {
    {"", "kernel-softlockup-detector", kOk,
     "soft-lockup detector on: reports a CPU stuck for 20s (2 x watchdog_thresh 10)"},
    {"softlockup-off", "kernel-softlockup-detector", kWarn,
     "soft-lockup detector is off (kernel.watchdog = 0): stallwatch is the only stall detector"},
    {"softlockup-cpumask", "kernel-softlockup-detector", kWarn,
     "soft-lockup detector skips CPUs 1 (kernel.watchdog_cpumask = 0)"},
    {"softlockup-absent", "kernel-softlockup-detector", kUnknown,
     "no soft-lockup detector sysctls (kernel built without CONFIG_SOFTLOCKUP_DETECTOR?)"},
    {"", "kernel-hardlockup-detector", kWarn,
     "hard-lockup detector is off (kernel.nmi_watchdog = 0): a CPU stuck with interrupts off is "
     "caught only by stallwatch or a hardware watchdog; this host has no CPU PMU for it"},
    {"hardlockup-on", "kernel-hardlockup-detector", kOk,
     "hard-lockup detector on (kernel.nmi_watchdog = 1, hardlockup_panic = 0)"},
    {"hardlockup-no-pmu", "kernel-hardlockup-detector", kWarn,
     "kernel.nmi_watchdog = 1 but the kernel disabled it at boot (\"Perf NMI watchdog permanently "
     "disabled\": no usable PMU)"},
    {"hardlockup-absent", "kernel-hardlockup-detector", kUnknown,
     "kernel.nmi_watchdog is absent (kernel built without a hard-lockup detector)"},
    {"", "stallwatch", kFail, "stallwatchd is not running (no /run/stallwatch/status.json)"},
    {"", "isolated-cpus", kOk, "no isolated or nohz_full CPUs"},
    {"isolated-unmonitored", "isolated-cpus", kWarn,
     "isolated CPUs 1 (isolcpus/nohz_full) are not monitored: a stall there is not seen by "
     "stallwatch"},
    {"isolated-monitored", "isolated-cpus", kOk,
     "isolated CPUs 1 are monitored (heartbeat.include_isolated = true)"},
    {"", "panic-policy", kWarn,
     "lockups do not panic (softlockup_panic = 0, hardlockup_panic = 0) and stallwatch does not "
     "escalate: a locked-up host stays up until something resets it"},
    {"panic-hang", "panic-policy", kFail,
     "softlockup_panic = 1 but kernel.panic = 0: such a panic hangs the host instead of rebooting "
     "it"},
    {"panic-reboot", "panic-policy", kOk,
     "lockups panic (softlockup_panic = 1, hardlockup_panic = 1) and the kernel reboots after 1s"},
    {"panic-escalation", "panic-policy", kOk,
     "lockups do not panic the kernel; stallwatch escalates instead (escalation.action = "
     "watchdog-device); a panic reboots after 1s"},
    {"panic-absent", "panic-policy", kUnknown, "kernel.panic is not readable"},
    {"", "crash-dump", kUnknown,
     "no /sys/kernel/kexec_crash_loaded: this kernel cannot load a crash kernel"},
    {"kdump-loaded", "crash-dump", kOk,
     "crash kernel loaded (crashkernel=256M): a panic leaves a dump"},
    {"kdump-reserved", "crash-dump", kWarn,
     "crashkernel=256M reserves memory but no crash kernel is loaded: a panic leaves no dump"},
    {"kdump-none", "crash-dump", kWarn,
     "no crash kernel (no crashkernel= on the kernel command line): a panic leaves no dump"},
    {"", "sysrq", kWarn,
     "no /proc/sysrq-trigger (kernel built without CONFIG_MAGIC_SYSRQ): stall reports get no "
     "backtrace of the stuck CPU"},
    {"sysrq-ok", "sysrq", kOk,
     "stallwatch can trigger sysrq-l (backtrace of all CPUs) through /proc/sysrq-trigger; "
     "kernel.sysrq = 438 forbids it from the keyboard"},
    {"sysrq-config-off", "sysrq", kWarn,
     "evidence.sysrq_backtrace = false: stall reports get no backtrace of the stuck CPU"},
    {"", "hardware-watchdog", kWarn,
     "no hardware watchdog (/sys/class/watchdog is empty): nothing resets a hung host"},
    {"watchdog-stallwatch", "hardware-watchdog", kOk,
     "watchdog0 (i6300ESB timer, timeout 5s, nowayout 0) fed by stallwatch (watchdog.device = "
     "/dev/watchdog0)"},
    {"watchdog-unfed", "hardware-watchdog", kWarn,
     "watchdog0 (i6300ESB timer, timeout 30s, nowayout 0) is not fed by anyone: it will not reset "
     "a hung host"},
    {"watchdog-systemd", "hardware-watchdog", kOk,
     "watchdog0 (i6300ESB timer, timeout 30s, nowayout 0) fed by systemd (RuntimeWatchdogSec=20s)"},
    {"watchdog-both", "hardware-watchdog", kWarn,
     "both systemd (RuntimeWatchdogSec) and stallwatch (watchdog.device) want watchdog0: only one "
     "can open it"},
    {"watchdog-systemd-unknown", "hardware-watchdog", kUnknown,
     "watchdog0 (i6300ESB timer, timeout 30s, nowayout 0): who feeds it is unknown "
     "(/etc/systemd/system.conf unreadable)"},
    {"watchdog-softdog", "hardware-watchdog", kWarn,
     "watchdog0 (Software Watchdog, timeout 60s, nowayout 0) fed by stallwatch (watchdog.device = "
     "/dev/watchdog0); softdog is a kernel timer: it cannot reset a host whose CPUs are locked"},
    {"", "protection-ladder", kWarn,
     "nothing resets a host with a stuck CPU; fires first: stallwatch report (2s) < kernel "
     "soft-lockup report (20s)"},
    {"ladder-watchdog", "protection-ladder", kOk,
     "fires first: stallwatch report (2s) < kernel soft-lockup report (20s) < stallwatch "
     "escalation: stops feeding /dev/watchdog0 (30s) < hardware watchdog reset (1m)"},
    {"ladder-after-equals-threshold", "protection-ladder", kFail,
     "escalation.after (2s) is not after checker.threshold (2s): stallwatch escalates before it "
     "reports"},
    {"ladder-kernel-first", "protection-ladder", kWarn,
     "the kernel reports a soft lockup (2s) before stallwatch (2s); fires first: stallwatch report "
     "(2s) < kernel soft-lockup report (2s)"},
    {"ladder-kernel-panics-first", "protection-ladder", kFail,
     "the kernel panics on a soft lockup at 2s before stallwatch reports at 2s: no stall report "
     "survives"},
    {"ladder-panic-before-escalation", "protection-ladder", kWarn,
     "the kernel's soft-lockup panic (20s) comes before stallwatch's escalation (30s), which never "
     "fires; fires first: stallwatch report (2s) < kernel soft-lockup report (20s) < kernel panic "
     "and reboot (21s) < stallwatch escalation: stops feeding /dev/watchdog0 (30s) < hardware "
     "watchdog reset (1m)"},
    {"", "clocksource", kOk, "clocksource tsc (available: tsc kvm-clock)"},
    {"clocksource-hpet", "clocksource", kWarn,
     "clocksource is hpet, not tsc (available: hpet acpi_pm): the TSC was found unusable and every "
     "clock read is slow"},
    {"clocksource-unstable", "clocksource", kFail,
     "a clocksource was marked unstable this boot (\"tsc: Marking TSC unstable due to TSCs "
     "unsynchronized\"); now hpet"},
    {"clocksource-absent", "clocksource", kUnknown, "no current clocksource in sysfs"},
    {"", "cpu-idle", kOk,
     "cpuidle driver haltpoll (governor haltpoll): enabled states POLL 0us, haltpoll idle 1us"},
    {"cpuidle-deep", "cpu-idle", kWarn,
     "deep C-states enabled: C6 (exit 133us) on CPUs 0-1; a wakeup can take up to 133us"},
    {"cpuidle-none", "cpu-idle", kOk,
     "no cpuidle driver: CPUs idle in the architecture's default halt"},
    {"cpuidle-absent", "cpu-idle", kUnknown,
     "no cpuidle in sysfs (kernel without CONFIG_CPU_IDLE)"},
    {"", "steal", kOk, "steal 0.1% since boot, no sampling window"},
    {"steal-boot", "steal", kFail,
     "steal 32.9% since boot, no sampling window: vCPUs wait for the hypervisor (vCPU "
     "oversubscription or host contention)"},
    {"steal-absent", "steal", kUnknown, "cannot read the steal time from /proc/stat"},
    {"", "rt-throttling", kOk,
     "RT throttling on (950000us per 1000000us); no RT thread at or above the heartbeat priority "
     "99"},
    {"rt-unthrottled", "rt-throttling", kWarn,
     "RT throttling is off (sched_rt_runtime_us = -1): a runaway RT task can own a CPU forever"},
    {"rt-tasks", "rt-throttling", kWarn,
     "1 RT thread at or above the heartbeat priority 99 (sleep[16409] SCHED_FIFO 99): a stall "
     "they cause is invisible to stallwatch"},
    {"rt-below", "rt-throttling", kOk,
     "RT throttling on (950000us per 1000000us); no RT thread at or above the heartbeat priority "
     "99"},
    {"rt-absent", "rt-throttling", kUnknown, "kernel.sched_rt_runtime_us is not readable"},
    {"", "thermal-throttling", kUnknown,
     "no thermal_throttle counters (not an Intel CPU with thermal monitoring, or a VM)"},
    {"thermal-zero", "thermal-throttling", kOk, "no thermal throttling since boot"},
    {"thermal-throttled", "thermal-throttling", kWarn,
     "CPUs 1 were thermally throttled since boot (40 core, 12 package throttle events)"},
    {"", "machine-checks", kUnknown,
     "no machine-check counters (no MCE row in /proc/interrupts, no EDAC)"},
    {"mce-zero", "machine-checks", kOk,
     "no machine check exceptions or memory errors since boot (2 polls)"},
    {"mce-exceptions", "machine-checks", kFail,
     "hardware errors since boot: 3 machine check exceptions, 0 uncorrected memory errors"},
    {"mce-corrected", "machine-checks", kWarn,
     "corrected hardware errors since boot: 0 deferred-error and 0 threshold interrupts, 2 "
     "corrected memory errors"},
    {"", "kernel-taint", kOk, "kernel not tainted"},
    {"taint-lockup", "kernel-taint", kFail,
     "kernel tainted OEL: a soft lockup already happened this boot (L); modules: "
     "evidence_spin(OE)"},
    {"taint-modules", "kernel-taint", kWarn,
     "kernel tainted PO: proprietary module was loaded (P), externally-built (\"out-of-tree\") "
     "module was loaded (O); modules: nvidia(PO)"},
    {"taint-absent", "kernel-taint", kUnknown, "kernel.tainted is not readable"},
    {"", "past-lockups", kWarn, "in the kernel log since boot: 1 RT throttling"},
    {"lockups-guest", "past-lockups", kFail,
     "stalls in the kernel log since boot: 1 soft lockup, 2 RCU stalls, 1 RT throttling"},
    {"lockups-hung-only", "past-lockups", kWarn, "in the kernel log since boot: 1 hung task"},
    {"lockups-clean", "past-lockups", kOk,
     "no lockups, RCU stalls, hung tasks or RT throttling in the kernel log since boot"},
    {"lockups-absent", "past-lockups", kUnknown,
     "cannot read the kernel log (/dev/kmsg: No such file or directory)"},
    {"", "flight-recorder", kOk,
     "flight recorder can run (tracefs at /sys/kernel/tracing, its 5 events, instances/, root): "
     "2s of history, buffers take 512 KiB of kernel memory (256 KiB x 2 possible CPUs)"},
    {"timeline-big", "flight-recorder", kOk,
     "flight recorder can run (tracefs at /sys/kernel/tracing, its 5 events, instances/, root): "
     "2s of history, buffers take 32 MiB of kernel memory (16384 KiB x 2 possible CPUs)"},
    {"timeline-off", "flight-recorder", kOk,
     "flight recorder off ([timeline] enabled = false): reports carry no timeline"},
    {"tracefs-absent", "flight-recorder", kWarn,
     "tracefs is not mounted: the flight recorder cannot run and reports carry no timeline"},
    {"tracefs-debugfs-only", "flight-recorder", kWarn,
     "tracefs is mounted only at /sys/kernel/debug/tracing: the flight recorder uses "
     "/sys/kernel/tracing (the one the packaged unit lets it write); reports carry no timeline"},
    {"tracefs-no-irq-events", "flight-recorder", kWarn,
     "this kernel has no irq/softirq_entry, irq/softirq_exit events: the flight recorder cannot "
     "run and reports carry no timeline"},
    {"tracefs-no-instances", "flight-recorder", kWarn,
     "tracefs has no instances/ directory: the flight recorder cannot make its own ftrace "
     "instance and reports carry no timeline"},
};

INSTANTIATE_TEST_SUITE_P(Fixtures, DoctorCheck, ::testing::ValuesIn(kCases));

// Every check has a case for each status it can produce in kCases above, and every id is known.
TEST(Doctor, EveryCheckHasFixtures) {
  std::set<std::string> ids;
  for (const auto& spec : audit_items()) ids.insert(spec.id);
  EXPECT_EQ(ids.size(), 18u);
  std::set<std::string> covered;
  for (const auto& c : kCases) {
    EXPECT_TRUE(ids.count(c.id)) << c.id;
    covered.insert(c.id);
  }
  covered.insert("stallwatch");  // its live cases are below (they need a clock)
  EXPECT_EQ(covered, ids);
}

TEST(Doctor, StallwatchRunningDegradedDeadStaleAndBadConfig) {
  const std::int64_t updated = 1417671189609;  // updated_mono_ns of ctl/status/running.json
  {
    Tree t("stallwatch-running");
    auto ctx = t.context();
    ctx.now_mono_ns = updated + 400'000'000;
    auto r = run_audit_item(ctx, "stallwatch");
    EXPECT_EQ(r.status, FindingStatus::kOk);
    EXPECT_EQ(r.summary, "stallwatchd 0.1.0 (pid 31779) running: 2 CPUs monitored, threshold "
                         "1.0s, status updated 400ms ago");
    ctx.now_mono_ns = updated + 180'000'000'000;
    r = run_audit_item(ctx, "stallwatch");
    EXPECT_EQ(r.status, FindingStatus::kFail);
    EXPECT_EQ(r.summary,
              "stallwatchd (pid 31779) is not updating /run/stallwatch/status.json: last "
              "update 3m00s ago (it is rewritten at least every 60 s); the daemon may be "
              "hung");
  }
  {
    Tree t("stallwatch-degraded");
    auto ctx = t.context();
    ctx.now_mono_ns = updated + 400'000'000;
    auto r = run_audit_item(ctx, "stallwatch");
    EXPECT_EQ(r.status, FindingStatus::kWarn);
    EXPECT_EQ(r.summary, "stallwatchd 0.1.0 (pid 31779) runs DEGRADED: SCHED_OTHER heartbeats, a "
                         "busy CPU can look stalled");
  }
  {
    Tree t("stallwatch-dead");
    auto ctx = t.context();
    ctx.now_mono_ns = updated + 400'000'000;
    auto r = run_audit_item(ctx, "stallwatch");
    EXPECT_EQ(r.status, FindingStatus::kFail);
    EXPECT_EQ(r.summary, "stallwatchd is not running: pid 31779 named in "
                         "/run/stallwatch/status.json is gone (last update 400ms ago)");
  }
  {
    Tree t("stallwatch-bad-config");
    auto r = run_audit_item(t.context(), "stallwatch");
    EXPECT_EQ(r.status, FindingStatus::kFail);
    EXPECT_EQ(r.summary, "configuration is invalid: " + t.path() +
                             "/etc/stallwatch/stallwatch.toml:3:13: checker.threshold: invalid "
                             "duration \"2x\": expected a number followed by a unit (ns, us, "
                             "ms, s, m, h), e.g. \"500ms\"");
  }
}

TEST(Doctor, FlightRecorderFixAndMemoryEvidence) {
  {
    Tree t("tracefs-absent");
    auto r = run_audit_item(t.context(), "flight-recorder");
    EXPECT_EQ(r.fix, "mount -t tracefs nodev /sys/kernel/tracing (systemd mounts it at boot as "
                     "sys-kernel-tracing.mount: systemctl start sys-kernel-tracing.mount), then "
                     "systemctl restart stallwatch");
    auto has = [&](const std::string& k, const std::string& v) {
      for (const auto& [source, value] : r.evidence)
        if (source == k) return value == v;
      return false;
    };
    EXPECT_TRUE(has("/proc/mounts tracefs", "not mounted"));
    EXPECT_TRUE(has("timeline.buffer_kib", "256"));
    EXPECT_TRUE(has("/sys/devices/system/cpu/possible", "0-1"));
  }
  {
    // tracefs is root's (0700): without root the events cannot be looked at.
    Tree t("");
    auto ctx = t.context();
    ctx.euid = 1000;
    auto r = run_audit_item(ctx, "flight-recorder");
    EXPECT_EQ(r.status, FindingStatus::kUnknown);
    EXPECT_TRUE(r.needs_root);
    EXPECT_EQ(r.summary,
              "tracefs is mounted; whether the flight recorder's events are there needs root (run "
              "stallwatchctl doctor as root); its buffers take 512 KiB of kernel memory (256 KiB "
              "x 2 possible CPUs)");
  }
}

TEST(Doctor, StealOverTheSamplingWindow) {
  Tree t("steal-window");
  auto ctx = t.context();
  auto after = read_file_capped(t.path() + "/stat.after", 1 << 20);
  ASSERT_TRUE(after.ok());
  ctx.stat_after = *after;
  ctx.window_ms = 300;
  auto r = run_audit_item(ctx, "steal");
  EXPECT_EQ(r.status, FindingStatus::kWarn);
  EXPECT_EQ(r.summary, "steal 0.1% since boot, 11.1% over the last 300ms: vCPUs wait for the "
                       "hypervisor (vCPU oversubscription or host contention)");
}

TEST(Doctor, ExitStatusAndJson) {
  Tree t("");
  const auto results = run_doctor(t.context());
  ASSERT_EQ(results.size(), audit_items().size());
  EXPECT_EQ(doctor_exit_status(results), 2);  // stallwatch is not running in the capture
  std::vector<Finding> okish(2);
  okish[0].status = FindingStatus::kOk;
  okish[1].status = FindingStatus::kUnknown;
  EXPECT_EQ(doctor_exit_status(okish), 0);
  okish[1].status = FindingStatus::kWarn;
  EXPECT_EQ(doctor_exit_status(okish), 1);

  auto j = nlohmann::json::parse(format_doctor_json(results));
  ASSERT_TRUE(j["checks"].is_array());
  ASSERT_EQ(j["checks"].size(), audit_items().size());
  for (std::size_t i = 0; i < results.size(); ++i) {
    const auto& c = j["checks"][i];
    EXPECT_EQ(c["id"], audit_items()[i].id);
    EXPECT_EQ(c["status"], std::string(to_string(results[i].status)));
    EXPECT_EQ(c["summary"], results[i].summary);
    EXPECT_TRUE(c["evidence"].is_object());
    EXPECT_TRUE(c["fix"].is_string());
  }
  EXPECT_EQ(j["exit_status"], 2);
  EXPECT_EQ(j["checks"][0]["evidence"]["/proc/sys/kernel/watchdog"], "1");

  const std::string text = format_doctor(results);
  EXPECT_NE(text.find("Detectors:\n"), std::string::npos);
  EXPECT_NE(text.find("Recovery:\n"), std::string::npos);
  EXPECT_NE(text.find("Known causes:\n"), std::string::npos);
  EXPECT_NE(text.find("This boot:\n"), std::string::npos);
  EXPECT_NE(text.find("Evidence:\n"), std::string::npos);
  EXPECT_EQ(j["checks"].back()["id"], "flight-recorder");
  EXPECT_EQ(j["checks"].back()["group"], "Evidence");
  EXPECT_EQ(j["checks"].back()["evidence"]["/sys/kernel/tracing/instances"], "present");
  EXPECT_NE(text.find("  [fail   ] stallwatch                  stallwatchd is not running"),
            std::string::npos);
}

TEST(DoctorParse, TaintLettersFollowTheKernelDocumentation) {
  EXPECT_EQ(taint_letters(0), "-");
  EXPECT_EQ(taint_letters((1u << 19) - 1), "PFSRMBUDAWCIOELKXTN");
  auto flags = decode_taint(std::uint64_t{1} << 14);
  ASSERT_EQ(flags.size(), 1u);
  EXPECT_EQ(flags[0].letter, 'L');
  EXPECT_STREQ(flags[0].meaning, "soft lockup occurred");
  EXPECT_EQ(decode_taint(std::uint64_t{1} << 20)[0].letter, '?');
}

TEST(DoctorParse, KernelCommandLine) {
  const std::string cl = "BOOT_IMAGE=/vmlinuz isolcpus=2-3 quiet nohz_full=\"2-3\" crashkernel=1G "
                         "isolcpus=4 -- crashkernel=9G";
  EXPECT_EQ(cmdline_param(cl, "isolcpus"), "4");
  EXPECT_EQ(cmdline_param(cl, "nohz_full"), "2-3");
  EXPECT_EQ(cmdline_param(cl, "crashkernel"), "1G");
  EXPECT_EQ(cmdline_param(cl, "quiet"), "");
  EXPECT_EQ(cmdline_param(cl, "nosoftlockup"), std::nullopt);
}

TEST(DoctorParse, SystemdWatchdogSettings) {
  auto host = read_file_capped(kDir + "/host/etc/systemd/system.conf", 1 << 20);
  ASSERT_TRUE(host.ok());
  auto w = parse_systemd_watchdog({*host});
  EXPECT_FALSE(w.set);  // Debian's file has only commented-out defaults
  EXPECT_FALSE(w.enabled);
  w = parse_systemd_watchdog(
      {*host, "[Manager]\nRuntimeWatchdogSec=1min 30s\n", "[Other]\nRuntimeWatchdogSec=off\n"});
  EXPECT_TRUE(w.enabled);
  EXPECT_EQ(w.timeout, std::chrono::seconds(90));
  w = parse_systemd_watchdog(
      {"[Manager]\nRuntimeWatchdogSec=30\n", "[Manager]\nRuntimeWatchdogSec=off\n"});
  EXPECT_TRUE(w.set);
  EXPECT_FALSE(w.enabled);
  EXPECT_EQ(parse_systemd_timespan("500ms"), Nanos(500'000'000));
  EXPECT_EQ(parse_systemd_timespan("2h"), std::chrono::hours(2));
  EXPECT_EQ(parse_systemd_timespan("5 parsecs"), std::nullopt);
}

TEST(DoctorParse, KernelLogCountsOnlyKernelRecords) {
  // A userspace write to /dev/kmsg (facility 1) that looks like a verdict is not counted.
  Tree t("lockups-hung-only");
  auto log = read_kernel_log(Sysroot(t.path()));
  ASSERT_TRUE(log.readable);
  auto h = scan_kernel_log(log.messages);
  EXPECT_EQ(h.count[0], 0);
  EXPECT_EQ(h.count[3], 1);
  EXPECT_EQ(h.last[3], "INFO: task kworker/1:2:87 blocked for more than 120 seconds.");
}

}  // namespace
}  // namespace stallwatch::ctl
