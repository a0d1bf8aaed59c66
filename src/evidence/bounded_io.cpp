// SPDX-License-Identifier: GPL-2.0-or-later
#include "stallwatch/evidence/bounded_io.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "stallwatch/core/sysroot.h"
#include "stallwatch/core/thread_start.h"
#include "stallwatch/core/unique_fd.h"

namespace stallwatch::evidence {

BoundedIo::~BoundedIo() { stop(); }

Status BoundedIo::start(std::size_t stack_bytes) {
  if (state_) return Ok{};
  auto state = std::make_shared<State>();
  auto* arg = new std::shared_ptr<State>(state);
  Status started =
      start_background_thread(&thread_, &BoundedIo::thread_main, arg, stack_bytes, name_);
  if (!started) {
    delete arg;
    return started;
  }
  state_ = std::move(state);
  return Ok{};
}

void BoundedIo::stop() {
  if (!state_) return;
  bool stuck = false;
  {
    std::lock_guard lock(state_->mu);
    state_->stopping = true;
    stuck = state_->busy;
  }
  state_->cv.notify_all();
  // A helper blocked in the kernel cannot be interrupted; it holds its own reference to the state
  // and exits when the call returns.
  if (stuck)
    pthread_detach(thread_);
  else
    pthread_join(thread_, nullptr);
  state_.reset();
}

Result<std::string> BoundedIo::run_job(bool is_write, const std::string& path,
                                       const std::string& data, std::size_t max_bytes) {
  if (!is_write) return read_file_capped(path, max_bytes);
  UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CLOEXEC));
  if (!fd.valid()) return make_error("{}: {}", path, std::strerror(errno));
  ssize_t n;
  do {
    n = ::write(fd.get(), data.data(), data.size());
  } while (n < 0 && errno == EINTR);
  if (n < 0) return make_error("{}: {}", path, std::strerror(errno));
  return std::string();
}

void* BoundedIo::thread_main(void* arg) {
  std::shared_ptr<State> st = std::move(*static_cast<std::shared_ptr<State>*>(arg));
  delete static_cast<std::shared_ptr<State>*>(arg);
  std::unique_lock lock(st->mu);
  for (;;) {
    st->cv.wait(lock, [&] { return st->stopping || (st->busy && st->done_id != st->job_id); });
    if (st->stopping) return nullptr;
    bool is_write = st->is_write;
    std::string path = st->path;
    std::string data = std::move(st->data);
    std::size_t max_bytes = st->max_bytes;
    std::uint64_t id = st->job_id;
    lock.unlock();
    auto r = run_job(is_write, path, data, max_bytes);
    lock.lock();
    st->result = std::move(r);
    st->done_id = id;
    st->busy = false;
    st->cv.notify_all();
  }
}

Result<std::string> BoundedIo::submit(bool is_write, const std::string& path, std::string data,
                                      std::size_t max_bytes, std::chrono::nanoseconds timeout) {
  if (!state_) return run_job(is_write, path, data, max_bytes);
  State& st = *state_;
  std::unique_lock lock(st.mu);
  const auto until = std::chrono::steady_clock::now() + timeout;
  // A call that timed out before may finish any moment: wait for it within this call's timeout.
  if (!st.cv.wait_until(lock, until, [&] { return !st.busy; }))
    return make_error("previous call still blocked");
  st.is_write = is_write;
  st.path = path;
  st.data = std::move(data);
  st.max_bytes = max_bytes;
  st.busy = true;
  std::uint64_t id = ++st.job_id;
  st.cv.notify_all();
  if (!st.cv.wait_until(lock, until, [&] { return st.done_id == id; }))
    return make_error("timed out after {} ms",
                      std::chrono::duration_cast<std::chrono::milliseconds>(timeout).count());
  return std::move(st.result);
}

Result<std::string> BoundedIo::read(const std::string& path, std::size_t max_bytes,
                                    std::chrono::nanoseconds timeout) {
  return submit(false, path, std::string(), max_bytes, timeout);
}

Status BoundedIo::write(const std::string& path, std::string data,
                        std::chrono::nanoseconds timeout) {
  auto r = submit(true, path, std::move(data), 0, timeout);
  if (!r) return r.error();
  return Ok{};
}

}  // namespace stallwatch::evidence
