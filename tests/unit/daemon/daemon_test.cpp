// SPDX-License-Identifier: GPL-2.0-or-later
// The composition root, started for real: a Daemon on a fixture sysroot (a copy of
// tests/fixtures/core/host-2cpu, whose online file the test rewrites as the kernel would on
// hotplug), with a fake Notifier that records what systemd would be told, a recording EventSink
// and injected clocks. The heartbeats are real threads pinned to CPUs 0 and 1 (SCHED_FIFO as
// root, degraded otherwise); the test waits for what they do on a condition variable with a
// generous timeout, never for a fixed time.
#include "stallwatch/daemon/daemon.h"

#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <mutex>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <spdlog/sinks/ringbuffer_sink.h>
#include <spdlog/spdlog.h>
#include <nlohmann/json.hpp>

#include "stallwatch/core/unique_fd.h"
#include "stallwatch/daemon/supervisor.h"
#include "temp_dir.h"

namespace stallwatch::daemon {
namespace {

namespace fs = std::filesystem;
using std::chrono::milliseconds;
using std::chrono::seconds;

constexpr auto kGenerous = seconds(10);  // a wait that only a broken daemon runs out of

// What systemd would be told. watchdog_ping() is called by the real-time check: it only counts.
class FakeNotifier final : public Notifier {
 public:
  std::uint64_t watchdog_usec() const override { return 200'000; }  // ping every 100 ms
  void ready() override { record("READY=1"); }
  void reloading() override { record("RELOADING=1"); }
  void stopping() override { record("STOPPING=1"); }
  void status(const std::string& text) override { record("STATUS=" + text); }
  bool watchdog_ping() noexcept override {
    pings_.fetch_add(1, std::memory_order_relaxed);
    return true;
  }
  std::uint64_t pings_dropped() const override { return 7; }  // shows in status.json

  std::uint64_t pings() const { return pings_.load(std::memory_order_relaxed); }
  int count(const std::string& message) {
    std::lock_guard lock(mu_);
    int n = 0;
    for (const auto& m : messages_) n += m == message;
    return n;
  }
  std::string last_status() {
    std::lock_guard lock(mu_);
    for (auto it = messages_.rbegin(); it != messages_.rend(); ++it)
      if (it->rfind("STATUS=", 0) == 0) return *it;
    return {};
  }
  // Waits until pred() holds, woken by every message (pings are counted, not signalled: the
  // wait re-checks at least every 20 ms). False after `timeout`.
  bool wait_for(const std::function<bool()>& pred, std::chrono::nanoseconds timeout = kGenerous) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    std::unique_lock lock(mu_);
    while (true) {
      lock.unlock();
      if (pred()) return true;
      lock.lock();
      if (std::chrono::steady_clock::now() >= deadline) return false;
      cv_.wait_for(lock, milliseconds(20));
    }
  }

 private:
  void record(std::string message) {
    {
      std::lock_guard lock(mu_);
      messages_.push_back(std::move(message));
    }
    cv_.notify_all();
  }
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::string> messages_;
  std::atomic<std::uint64_t> pings_{0};
};

// The events the report worker fans out, kept for the test.
struct SinkRecord {
  std::mutex mu;
  std::vector<StallEvent> events;
  int stalls() {
    std::lock_guard lock(mu);
    int n = 0;
    for (const auto& e : events) n += e.kind == EventKind::kStall;
    return n;
  }
};

class RecordingSink final : public EventSink {
 public:
  explicit RecordingSink(std::shared_ptr<SinkRecord> record) : record_(std::move(record)) {}
  void fire(const StallEvent& event, const StallReport*) override {
    std::lock_guard lock(record_->mu);
    record_->events.push_back(event);
  }

 private:
  std::shared_ptr<SinkRecord> record_;
};

// Injected clocks: the real monotonic and boot time, counted; a fixed wall clock, so status.json
// shows whose clock the Daemon read.
std::atomic<int> g_mono_reads{0};
std::int64_t counted_mono_ns() {
  g_mono_reads.fetch_add(1, std::memory_order_relaxed);
  return mono_now_ns();
}
constexpr std::int64_t kFixedUnixMs = 1'800'000'000'123;
std::int64_t fixed_real_ns() { return kFixedUnixMs * 1'000'000; }

bool may_run_on(int cpu) {
  cpu_set_t set;
  CPU_ZERO(&set);
  return ::sched_getaffinity(0, sizeof set, &set) == 0 && CPU_ISSET(cpu, &set);
}

// Threads of this process whose name starts with prefix (sw-hb/1, sw-dispatch, ...).
int threads_named(const std::string& prefix) {
  int n = 0;
  for (const auto& task : fs::directory_iterator("/proc/self/task")) {
    std::ifstream comm(task.path() / "comm");
    std::string name;
    std::getline(comm, name);
    n += name.rfind(prefix, 0) == 0;
  }
  return n;
}

class DaemonTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!may_run_on(0) || !may_run_on(1))
      GTEST_SKIP() << "the fixture has CPUs 0-1 and its heartbeats are pinned there; this "
                      "process may not run on both";
    fs::copy(std::string(STALLWATCH_FIXTURES) + "/core/host-2cpu", dir_.path(),
             fs::copy_options::recursive);
    fs::create_directories(dir_.path() + "/run");
    fs::create_directories(dir_.path() + "/state");
    fs::permissions(dir_.path() + "/run", fs::perms(0700));
    fs::permissions(dir_.path() + "/state", fs::perms(0700));
    // The log lines an operator reads, captured beside stderr.
    log_ = std::make_shared<spdlog::sinks::ringbuffer_sink_mt>(256);
    previous_logger_ = spdlog::default_logger();
    auto logger = std::make_shared<spdlog::logger>("daemon-test", log_);
    logger->set_level(spdlog::level::info);
    spdlog::set_default_logger(logger);
  }
  void TearDown() override {
    daemon_.reset();
    if (previous_logger_) spdlog::set_default_logger(previous_logger_);
  }

  Config config() const {
    Config c;
    c.source = dir_.path() + "/stallwatch.toml";
    c.heartbeat.interval = milliseconds(50);
    c.heartbeat.priority = 10;
    c.heartbeat.allow_degraded = true;  // unprivileged runs: SCHED_OTHER heartbeats
    c.checker.interval = milliseconds(200);
    c.evidence.enabled = false;  // no /proc readers: the sink gets the bare events
    c.metrics.textfile = "";     // nothing written outside the fixture
    c.daemon.runtime_dir = dir_.path() + "/run";
    c.daemon.state_dir = dir_.path() + "/state";
    return c;
  }

  void start(Config c) {
    DaemonOptions options;
    options.root = Sysroot(dir_.path());
    options.kernel_uevents = false;
    options.clocks.mono = counted_mono_ns;
    options.clocks.real = fixed_real_ns;
    daemon_ = std::make_unique<Daemon>(std::move(c), std::move(options), notifier_);
    daemon_->add_sink(std::make_unique<RecordingSink>(events_));
    auto st = daemon_->start();
    ASSERT_TRUE(st.ok()) << st.error().message;
  }

  void set_online(const std::string& cpulist) {
    std::ofstream(dir_.path() + "/sys/devices/system/cpu/online") << cpulist << "\n";
  }

  nlohmann::json status_json() const {
    std::ifstream in(dir_.path() + "/run/status.json");
    std::stringstream text;
    text << in.rdbuf();
    return nlohmann::json::parse(text.str(), nullptr, false);
  }

  bool logged(const std::string& needle) const {
    for (const auto& line : log_->last_formatted())
      if (line.find(needle) != std::string::npos) return true;
    return false;
  }

  std::uint64_t stamps(int cpu) const {
    return daemon_->heartbeats()->slots()[cpu].seq.load(std::memory_order_relaxed);
  }

  test_support::TempDir dir_;
  FakeNotifier notifier_;
  std::shared_ptr<SinkRecord> events_ = std::make_shared<SinkRecord>();
  std::shared_ptr<spdlog::sinks::ringbuffer_sink_mt> log_;
  std::shared_ptr<spdlog::logger> previous_logger_;
  std::unique_ptr<Daemon> daemon_;
};

TEST_F(DaemonTest, ReadyOnceEveryHeartbeatStamped) {
  start(config());
  ASSERT_TRUE(notifier_.wait_for([&] { return notifier_.count("READY=1") == 1; }));
  // READY=1 waits for every monitored heartbeat's first stamp.
  EXPECT_GT(stamps(0), 0u);
  EXPECT_GT(stamps(1), 0u);
  EXPECT_EQ(daemon_->monitored(), (CpuList{0, 1}));
  // The checks run on the heartbeats and ping systemd's watchdog (every 100 ms here).
  ASSERT_TRUE(notifier_.wait_for([&] { return notifier_.pings() >= 2; }));
  // status.json: both CPUs, the notifier's dropped pings (no cast to the systemd one), the
  // injected wall clock.
  ASSERT_TRUE(notifier_.wait_for([&] {
    nlohmann::json doc = status_json();
    return doc.is_object() && doc["cpus"].size() == 2 && doc["cpus"][0]["state"] == "healthy" &&
           doc["cpus"][1]["state"] == "healthy";
  }));
  nlohmann::json doc = status_json();
  EXPECT_EQ(doc["watchdog_pings_dropped"], 7);
  EXPECT_EQ(doc["updated_unix_ms"], kFixedUnixMs);
  EXPECT_EQ(doc["threshold_ms"], 2000);
  EXPECT_GT(g_mono_reads.load(), 0) << "the Daemon reads the injected monotonic clock";
  EXPECT_TRUE(logged("monitoring CPUs 0-1 (offline now: none")) << "start is logged";
  EXPECT_TRUE(logged("(hotplug: polled every second)")) << "no uevents on a fixture tree";
}

TEST_F(DaemonTest, ReloadAppliedChangesTheThreshold) {
  start(config());
  ASSERT_TRUE(notifier_.wait_for([&] { return notifier_.count("READY=1") == 1; }));
  Config next = config();
  next.checker.threshold = seconds(3);
  daemon_->reload(next);
  EXPECT_EQ(notifier_.count("READY=1"), 2) << "a reload is answered with READY=1";
  EXPECT_EQ(daemon_->config().checker.threshold, seconds(3));
  EXPECT_TRUE(logged("configuration reloaded from " + next.source + ": threshold 2s -> 3s"));
  // The status pass the reload asked for shows it.
  ASSERT_TRUE(notifier_.wait_for([&] {
    return notifier_.last_status().find("threshold 3s") != std::string::npos;
  })) << notifier_.last_status();
  // Until the pass has written the file it may not exist: not a document yet, so not 3000.
  ASSERT_TRUE(notifier_.wait_for([&] {
    const nlohmann::json j = status_json();
    return j.is_object() && j.value("threshold_ms", 0) == 3000;
  }));
}

TEST_F(DaemonTest, ReloadRejectedKeepsTheRunningConfiguration) {
  start(config());
  ASSERT_TRUE(notifier_.wait_for([&] { return notifier_.count("READY=1") == 1; }));
  Config next = config();
  next.checker.threshold = seconds(3);
  next.heartbeat.cpus = "0-7";  // the fixture has two CPUs: this cannot apply
  daemon_->reload(next);
  EXPECT_EQ(notifier_.count("READY=1"), 2) << "a rejected reload ends the reload too";
  EXPECT_EQ(daemon_->config().checker.threshold, seconds(2));
  EXPECT_EQ(daemon_->config().heartbeat.cpus, "all");
  EXPECT_EQ(daemon_->monitored(), (CpuList{0, 1}));
  EXPECT_TRUE(logged("reload of " + next.source +
                     " rejected: heartbeat.cpus names CPUs this machine does not have: 2-7 "
                     "(possible: 0-1); keeping the running configuration"));
}

TEST_F(DaemonTest, ACpuGoingOfflineStopsItsHeartbeatAndComingBackStartsIt) {
  start(config());
  ASSERT_TRUE(notifier_.wait_for([&] { return notifier_.count("READY=1") == 1; }));
  const HeartbeatManager& heartbeats = *daemon_->heartbeats();

  set_online("0");
  daemon_->sync_cpus();
  EXPECT_FALSE(daemon_->hotplug()->watched(1));
  EXPECT_TRUE(daemon_->hotplug()->watched(0));
  EXPECT_EQ(daemon_->hotplug()->sentinel(), -1) << "CPU 1 is offline: no check-only heartbeat";
  EXPECT_TRUE(logged("CPU 1 is offline: heartbeat stopped, not monitored while away"));
  ASSERT_TRUE(notifier_.wait_for([&] { return heartbeats.exited(1); }))
      << "the heartbeat exits within one interval";
  ASSERT_TRUE(notifier_.wait_for([&] {
    return notifier_.last_status().find("monitoring 1 CPUs") != std::string::npos;
  })) << notifier_.last_status();

  set_online("0-1");
  // The supervisor syncs again on the next uevent or poll (sooner while a heartbeat is exiting).
  ASSERT_TRUE(notifier_.wait_for([&] {
    daemon_->sync_cpus();
    return daemon_->hotplug()->watched(1);
  }));
  EXPECT_TRUE(logged("CPU 1 is online: heartbeat started"));
  const std::uint64_t seq = stamps(1);
  ASSERT_TRUE(notifier_.wait_for([&] { return stamps(1) > seq; })) << "the new heartbeat stamps";
  ASSERT_TRUE(notifier_.wait_for([&] {
    return notifier_.last_status().find("monitoring 2 CPUs") != std::string::npos;
  })) << notifier_.last_status();
  EXPECT_EQ(events_->stalls(), 0) << "an offline CPU is not stalled";
}

TEST_F(DaemonTest, StopEndsEveryThreadWithinItsBudget) {
  start(config());
  ASSERT_TRUE(notifier_.wait_for([&] { return notifier_.count("READY=1") == 1; }));
  EXPECT_EQ(threads_named("sw-hb/"), 2);
  EXPECT_EQ(threads_named("sw-dispatch"), 1);
  const auto t0 = std::chrono::steady_clock::now();
  daemon_->stop();
  const auto took = std::chrono::steady_clock::now() - t0;
  // kStopBudgetNs (1.5 s) is the documented bound; the margin is for a loaded test machine.
  static_assert(Daemon::kStopBudgetNs <= 1'500'000'000);
  EXPECT_LT(took, seconds(2));
  EXPECT_EQ(threads_named("sw-hb/"), 0);
  EXPECT_EQ(threads_named("sw-relay/"), 0);
  EXPECT_EQ(threads_named("sw-dispatch"), 0);
  EXPECT_EQ(threads_named("sw-report"), 0);
  daemon_->sync_cpus();  // after stop: a no-op
  daemon_->stop();       // idempotent
  EXPECT_EQ(threads_named("sw-hb/"), 0);
}

// The Supervisor reads signalfd_siginfo records from its fd: a pipe stands in for the signalfd.
TEST_F(DaemonTest, SupervisorReloadsOnSighupAndStopsOnSigterm) {
  start(config());
  ASSERT_TRUE(notifier_.wait_for([&] { return notifier_.count("READY=1") == 1; }));
  int fds[2];
  ASSERT_EQ(::pipe2(fds, O_CLOEXEC), 0);
  UniqueFd read_end(fds[0]);
  UniqueFd write_end(fds[1]);
  for (int signo : {SIGHUP, SIGTERM}) {
    signalfd_siginfo si{};
    si.ssi_signo = static_cast<std::uint32_t>(signo);
    si.ssi_pid = 4242;
    ASSERT_EQ(::write(write_end.get(), &si, sizeof si), static_cast<ssize_t>(sizeof si));
  }
  Config next = config();
  next.checker.threshold = seconds(3);
  int loads = 0;
  Supervisor supervisor(*daemon_, notifier_, std::move(read_end), next.source, [&] {
    ++loads;
    return Result<Config>(next);
  });
  supervisor.run();  // returns after SIGTERM, the daemon stopped
  EXPECT_EQ(loads, 1);
  EXPECT_EQ(notifier_.count("RELOADING=1"), 1);
  EXPECT_EQ(notifier_.count("READY=1"), 2);
  EXPECT_EQ(notifier_.count("STOPPING=1"), 1);
  EXPECT_EQ(daemon_->config().checker.threshold, seconds(3));
  EXPECT_TRUE(logged("SIGHUP from pid 4242: reloading " + next.source));
  EXPECT_TRUE(logged("Terminated received: stopping"));
  EXPECT_EQ(threads_named("sw-hb/"), 0);
}

TEST_F(DaemonTest, StartFailsThroughOneExitWithTheErrorClass) {
  Config c = config();
  c.heartbeat.cpus = "5";
  DaemonOptions options;
  options.root = Sysroot(dir_.path());
  options.kernel_uevents = false;
  Daemon daemon(c, std::move(options), notifier_);
  auto st = daemon.start();
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().message,
            c.source + ": heartbeat.cpus names CPUs this machine does not have: 5 (possible: 0-1)");
  EXPECT_EQ(daemon.start_error(), StartError::kConfig);
  daemon.stop();  // nothing left to stop
  EXPECT_EQ(threads_named("sw-"), 0);
}

}  // namespace
}  // namespace stallwatch::daemon
