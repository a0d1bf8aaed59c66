// SPDX-License-Identifier: GPL-2.0-or-later
#include "stallwatch/daemon/thread_placement.h"

#include <dirent.h>
#include <fcntl.h>
#include <sched.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <string>

#include "stallwatch/core/unique_fd.h"

namespace stallwatch::daemon {

std::vector<int> placement_cpus(const std::vector<int>& allowed, const std::vector<bool>& avoid) {
  std::vector<int> out;
  for (int cpu : allowed)
    if (cpu < 0 || static_cast<std::size_t>(cpu) >= avoid.size() ||
        !avoid[static_cast<std::size_t>(cpu)])
      out.push_back(cpu);
  return out.empty() ? allowed : out;
}

void for_each_other_thread(const std::function<void(pid_t)>& fn) {
  const pid_t self = ::gettid();
  DIR* dir = ::opendir("/proc/self/task");
  if (dir == nullptr) return;
  while (const dirent* e = ::readdir(dir)) {
    const pid_t tid = static_cast<pid_t>(std::atoi(e->d_name));
    if (tid > 0 && tid != self) fn(tid);
  }
  ::closedir(dir);
}

bool placed_thread(std::string_view comm) {
  return comm.substr(0, 6) != "sw-hb/" && comm.substr(0, 9) != "sw-relay/" && comm != "sw-feeder" &&
         comm != "sw-escalate" && comm != "sw-mover";
}

namespace {

class CpuMask {
 public:
  explicit CpuMask(const std::vector<int>& cpus) {
    int max = 0;
    for (int c : cpus) max = std::max(max, c);
    size_ = CPU_ALLOC_SIZE(max + 1);
    set_ = CPU_ALLOC(max + 1);
    CPU_ZERO_S(size_, set_);
    for (int c : cpus)
      if (c >= 0) CPU_SET_S(static_cast<unsigned>(c), size_, set_);
  }
  ~CpuMask() { CPU_FREE(set_); }
  CpuMask(const CpuMask&) = delete;
  CpuMask& operator=(const CpuMask&) = delete;
  bool apply(pid_t tid) const { return ::sched_setaffinity(tid, size_, set_) == 0; }

 private:
  std::size_t size_ = 0;
  cpu_set_t* set_ = nullptr;
};

std::string read_comm(const std::string& dir) {
  UniqueFd fd(::open((dir + "/comm").c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) return {};
  char buf[64];
  const ssize_t n = ::read(fd.get(), buf, sizeof buf);
  if (n <= 0) return {};
  std::string s(buf, static_cast<std::size_t>(n));
  while (!s.empty() && s.back() == '\n') s.pop_back();
  return s;
}

}  // namespace

ThreadPlacement::ThreadPlacement(const PublishedState* published, int slots,
                                 std::vector<int> allowed)
    : published_(published),
      allowed_(std::move(allowed)),
      avoid_(static_cast<std::size_t>(slots), false),
      current_(allowed_) {}

void ThreadPlacement::update(bool pinned) {
  bool changed = false;
  for (std::size_t c = 0; c < avoid_.size(); ++c) {
    const bool a = published_->cpu[c].suspect.load(std::memory_order_relaxed);
    if (a != avoid_[c]) {
      avoid_[c] = a;
      changed = true;
    }
  }
  if (!changed && !pinned) return;
  std::vector<int> cpus = placement_cpus(allowed_, avoid_);
  if (cpus.empty()) return;
  const CpuMask mask(cpus);
  const pid_t self = ::gettid();
  mask.apply(self);
  if (!changed && cpus == current_) return;
  current_ = std::move(cpus);
  ++moves_;
  for_each_other_thread([&](pid_t tid) {
    if (placed_thread(read_comm("/proc/self/task/" + std::to_string(tid)))) mask.apply(tid);
  });
}

}  // namespace stallwatch::daemon
