// SPDX-License-Identifier: GPL-2.0-or-later
// BoundedIo: does procfs I/O that can block in the kernel on a helper thread and gives up after a
// timeout, so one stuck call cannot hold the report worker past its budget. Reads of cmdline wait
// for the target's mmap lock, stack and syscall for its exec lock, cgroup for cgroup_mutex; a
// write of 'l' to /proc/sysrq-trigger busy-waits up to 10 s for CPUs that do not answer the NMI.
// A call that timed out keeps the helper busy; later calls fail fast ("previous call still
// blocked") until it returns. Owned by EvidenceEngine; read()/write() are called from the report
// worker thread only, the helper thread is internal and may outlive the object while stuck.
#pragma once

#include <pthread.h>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>

#include "stallwatch/core/result.h"

namespace stallwatch::evidence {

class BoundedIo {
 public:
  explicit BoundedIo(const char* thread_name = "sw-evio") : name_(thread_name) {}
  ~BoundedIo();
  BoundedIo(const BoundedIo&) = delete;
  BoundedIo& operator=(const BoundedIo&) = delete;

  // Starts the helper thread (explicit stack, SCHED_OTHER). Without start(), calls run inline
  // with no timeout.
  Status start(std::size_t stack_bytes = 128 * 1024);
  // Joins the helper, or detaches it when it is stuck in a call.
  void stop();

  Result<std::string> read(const std::string& path, std::size_t max_bytes,
                           std::chrono::nanoseconds timeout);
  // Writes data to an existing file (no O_CREAT).
  Status write(const std::string& path, std::string data, std::chrono::nanoseconds timeout);

 private:
  struct State {
    std::mutex mu;
    std::condition_variable cv;
    bool stopping = false;
    bool busy = false;  // a job is queued or in progress
    std::uint64_t job_id = 0;
    std::uint64_t done_id = 0;
    bool is_write = false;
    std::string path;
    std::string data;
    std::size_t max_bytes = 0;
    Result<std::string> result{std::string()};
  };
  static void* thread_main(void* arg);
  static Result<std::string> run_job(bool is_write, const std::string& path,
                                     const std::string& data, std::size_t max_bytes);
  Result<std::string> submit(bool is_write, const std::string& path, std::string data,
                             std::size_t max_bytes, std::chrono::nanoseconds timeout);

  const char* name_;
  std::shared_ptr<State> state_;
  pthread_t thread_{};
};

}  // namespace stallwatch::evidence
