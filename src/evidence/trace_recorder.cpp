// SPDX-License-Identifier: GPL-2.0-or-later
#include "stallwatch/evidence/trace_recorder.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <mutex>
#include <utility>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "stallwatch/core/thread_start.h"
#include "stallwatch/core/unique_fd.h"
#include "tracefs_shim.h"

namespace stallwatch::evidence {

namespace {

std::string errno_text(int err) { return err != 0 ? std::strerror(err) : "unknown error"; }

// Pages read per CPU in one read_new(): the whole ring and a little more, so a CPU that writes
// fast cannot keep the reader on it.
std::size_t page_cap(std::size_t buffer_kib, std::size_t page) {
  return buffer_kib * 1024 / std::max<std::size_t>(page, 1) + 8;
}

}  // namespace

std::string find_tracefs(const Sysroot& root) {
  auto mounts = root.read_file("/proc/self/mounts", 1 << 20);
  if (!mounts) return {};
  std::string debugfs;
  std::string_view text = *mounts;
  while (!text.empty()) {
    std::size_t nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text = nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);
    // "nodev /sys/kernel/tracing tracefs rw,nosuid,... 0 0"; spaces in paths are \040, which
    // the standard mount points never have.
    std::size_t a = line.find(' ');
    if (a == std::string_view::npos) continue;
    std::size_t b = line.find(' ', a + 1);
    if (b == std::string_view::npos) continue;
    std::size_t c = line.find(' ', b + 1);
    std::string_view dir = line.substr(a + 1, b - a - 1);
    std::string_view type = line.substr(b + 1, c == std::string_view::npos ? c : c - b - 1);
    if (type == "tracefs") return root.path(dir);
    if (type == "debugfs" && debugfs.empty() && root.exists(std::string(dir) + "/tracing/events"))
      debugfs = root.path(std::string(dir) + "/tracing");
  }
  return debugfs;
}

struct TraceRecorder::Shared {
  Sysroot root;
  RecorderOptions opt;

  std::mutex mu;  // everything below
  std::condition_variable cv;
  bool stop_requested = false;
  bool done = false;
  std::atomic<State> state{State::kOff};
  std::string note;
  std::string source;
  // Published when recording; read_new() and the teardown's close take io_mu too.
  std::mutex io_mu;
  std::map<int, UniqueFd> fds;
  std::unique_ptr<TraceDecoder> decoder;
  std::size_t subbuf = 4096;

  sw_tracefs* inst = nullptr;  // under mu

  void run();
  void setup();
  void teardown();
  void fail(std::string why) {
    spdlog::warn("timeline: the flight recorder is unavailable: {}", why);
    std::lock_guard lk(mu);
    note = std::move(why);
    state.store(State::kUnavailable, std::memory_order_release);
  }
};

namespace {

void* recorder_thread(void* arg) {
  auto* keep = static_cast<std::shared_ptr<TraceRecorder::Shared>*>(arg);
  std::shared_ptr<TraceRecorder::Shared> s = std::move(*keep);
  delete keep;
  s->run();
  return nullptr;
}

}  // namespace

void TraceRecorder::Shared::run() {
  setup();
  std::unique_lock lk(mu);
  cv.wait(lk, [&] { return stop_requested; });
  lk.unlock();
  teardown();
  lk.lock();
  done = true;
  cv.notify_all();
}

void TraceRecorder::Shared::setup() {
  const std::string dir = find_tracefs(root);
  if (dir.empty()) {
    fail("tracefs is not mounted (mount -t tracefs nodev /sys/kernel/tracing)");
    return;
  }
  if (!root.prefix().empty() && root.prefix() != "/") {
    fail(fmt::format("tracefs at {} is under a test root", dir));  // a fixture: no kernel there
    return;
  }
  char err[512] = "";
  int reused = 0;
  sw_tracefs* t =
      sw_tracefs_open(dir.c_str(), opt.instance.c_str(), opt.buffer_kib, &reused, err, sizeof err);
  if (t == nullptr) {
    fail(err[0] != 0 ? err : "tracefs instance: failed");
    return;
  }
  auto undo = [&](std::string why) {
    sw_tracefs_close(t, !reused);
    fail(std::move(why));
  };
  std::map<std::string, std::string> formats;
  for (const char* ev : kTraceEvents) {
    std::string sys(ev, std::strchr(ev, '/')), name(std::strchr(ev, '/') + 1);
    char* text = sw_tracefs_enable(t, sys.c_str(), name.c_str(), err, sizeof err);
    if (text == nullptr) return undo(err);
    formats[ev] = text;
    free(text);
  }
  for (const char* ev : kTraceOptionalEvents) {
    std::string sys(ev, std::strchr(ev, '/')), name(std::strchr(ev, '/') + 1);
    if (char* text = sw_tracefs_enable(t, sys.c_str(), name.c_str(), err, sizeof err)) {
      formats[ev] = text;
      free(text);
    }
  }
  auto schema = make_trace_schema(formats);
  if (!schema) return undo(schema.error().message);
  const std::size_t page = sw_tracefs_subbuf_bytes(t);
  char* idir_c = sw_tracefs_dir(t);
  std::string idir = idir_c != nullptr ? idir_c : "";
  free(idir_c);
  std::map<int, UniqueFd> opened;
  auto cpus = Sysroot().list_dir(idir + "/per_cpu");
  if (!cpus) return undo(fmt::format("{}/per_cpu: {}", idir, cpus.error().message));
  for (const auto& n : *cpus) {
    if (n.rfind("cpu", 0) != 0) continue;
    const int cpu = std::atoi(n.c_str() + 3);
    const std::string p = idir + "/per_cpu/" + n + "/trace_pipe_raw";
    const int fd = ::open(p.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) return undo(fmt::format("{}: {}", p, errno_text(errno)));
    opened.emplace(cpu, UniqueFd(fd));
  }
  if (opened.empty()) return undo(fmt::format("{}/per_cpu lists no CPU", idir));
  if (sw_tracefs_on(t) < 0) return undo(fmt::format("tracing_on: {}", errno_text(errno)));
  {
    std::lock_guard io(io_mu);
    fds = std::move(opened);
    decoder = std::make_unique<TraceDecoder>(*schema);
    subbuf = page;
  }
  std::lock_guard lk(mu);
  inst = t;
  source = fmt::format("ftrace instance {} ({})", opt.instance, dir);
  note = reused != 0 ? fmt::format("reused instances/{} left by an earlier run", opt.instance) : "";
  state.store(State::kRecording, std::memory_order_release);
  spdlog::info("timeline: recording {} CPUs in {} ({} KiB per CPU){}", fds.size(), source,
               opt.buffer_kib, note.empty() ? "" : "; " + note);
}

void TraceRecorder::Shared::teardown() {
  {
    std::lock_guard io(io_mu);
    fds.clear();
    decoder.reset();
  }
  sw_tracefs* t = nullptr;
  {
    std::lock_guard lk(mu);
    t = std::exchange(inst, nullptr);
  }
  // Tracing off, events off (text patching: waits for every CPU), the instance removed.
  sw_tracefs_close(t, 1);
}

TraceRecorder::TraceRecorder(Sysroot root, RecorderOptions options)
    : shared_(std::make_shared<Shared>()) {
  shared_->root = std::move(root);
  shared_->opt = std::move(options);
}

TraceRecorder::~TraceRecorder() { stop(std::chrono::seconds(2)); }

void TraceRecorder::start(std::size_t stack_bytes) {
  if (shared_->state.load() != State::kOff) return;
  shared_->state.store(State::kStarting);
  pthread_t t{};
  auto* arg = new std::shared_ptr<Shared>(shared_);
  if (auto s = start_background_thread(&t, &recorder_thread, arg, stack_bytes, "sw-trace"); !s) {
    delete arg;
    shared_->fail(s.error().message);
    return;
  }
  pthread_detach(t);
}

void TraceRecorder::stop(std::chrono::nanoseconds budget) {
  auto& s = *shared_;
  std::unique_lock lk(s.mu);
  if (s.state.load() == State::kOff || s.stop_requested) return;
  s.stop_requested = true;
  s.cv.notify_all();
  if (!s.cv.wait_for(lk, budget, [&] { return s.done; }))
    spdlog::warn("timeline: the trace instance's teardown is waiting on a CPU; it finishes on "
                 "its own");
}

TraceRecorder::State TraceRecorder::state() const {
  return shared_->state.load(std::memory_order_acquire);
}

std::string TraceRecorder::note() const {
  std::lock_guard lk(shared_->mu);
  return shared_->note;
}

std::string TraceRecorder::source() const {
  std::lock_guard lk(shared_->mu);
  return shared_->source;
}

TraceRecorder::ReadStats TraceRecorder::read_new(int first_cpu, std::int64_t deadline_ns,
                                                 std::int64_t keep_from_ns, NowFn now) {
  ReadStats st;
  if (state() != State::kRecording) return st;
  auto& s = *shared_;
  std::lock_guard io(s.io_mu);
  if (!s.decoder) return st;
  std::vector<int> order;
  if (s.fds.count(first_cpu)) order.push_back(first_cpu);
  for (const auto& [cpu, fd] : s.fds)
    if (cpu != first_cpu) order.push_back(cpu);
  page_.resize(s.subbuf);
  const std::size_t cap = page_cap(s.opt.buffer_kib, s.subbuf);
  for (int cpu : order) {
    if (now() >= deadline_ns) {
      st.cpus_not_read.push_back(cpu);
      continue;
    }
    auto& out = cache_[cpu];
    std::size_t cpu_bytes = 0;
    for (std::size_t n = 0; n < cap; ++n) {
      ssize_t got = ::read(s.fds.find(cpu)->second.get(), page_.data(), page_.size());
      if (got < 0 && errno == EINTR) continue;
      if (got <= 0) {
        if (got < 0 && errno != EAGAIN && st.error.empty())
          st.error = fmt::format("cpu{}/trace_pipe_raw: {}", cpu, errno_text(errno));
        break;
      }
      auto r =
          s.decoder->decode(std::string_view(page_.data(), static_cast<std::size_t>(got)), &out);
      // A page after the first one of a read that says events were missed: a gap inside.
      if (r.missed && n > 0) lost_[cpu] = true;
      ++st.pages;
      st.events += r.events;
      st.bytes += static_cast<std::size_t>(got);
      cpu_bytes += static_cast<std::size_t>(got);
    }
    wrapped_[cpu] = cpu_bytes * 10 >= s.opt.buffer_kib * 1024 * 9;
    auto keep = std::lower_bound(out.begin(), out.end(), keep_from_ns,
                                 [](const TraceEvent& e, std::int64_t t) { return e.ts < t; });
    out.erase(out.begin(), keep);
  }
  return st;
}

}  // namespace stallwatch::evidence
