// SPDX-License-Identifier: GPL-2.0-or-later
#include "stallwatch/ctl/status_request.h"

#include <fcntl.h>
#include <unistd.h>

#include <thread>

#include "stallwatch/core/sysroot.h"
#include "stallwatch/core/unique_fd.h"
#include "stallwatch/ctl/status_view.h"

namespace stallwatch::ctl {

namespace {

std::int64_t file_stamp(const std::string& path) {
  auto text = read_file_capped(path, 1 << 20);
  if (!text) return -1;
  auto snap = parse_status(*text);
  return snap ? snap->updated_mono_ns : -1;
}

}  // namespace

RefreshResult request_status_refresh(const std::string& runtime_dir,
                                     std::chrono::milliseconds wait) {
  const std::string path = runtime_dir + "/status.json";
  // O_NONBLOCK: opening a FIFO nobody reads fails at once (ENXIO) instead of waiting.
  UniqueFd fd(::open((runtime_dir + "/status.request").c_str(), O_WRONLY | O_NONBLOCK | O_CLOEXEC));
  if (!fd.valid()) return RefreshResult::kNoListener;
  const std::int64_t before = file_stamp(path);
  const char byte = 'r';
  if (::write(fd.get(), &byte, 1) != 1) return RefreshResult::kNoListener;
  const auto end = std::chrono::steady_clock::now() + wait;
  while (std::chrono::steady_clock::now() < end) {
    const std::int64_t now = file_stamp(path);
    if (now > before) return RefreshResult::kRefreshed;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return RefreshResult::kNoAnswer;
}

}  // namespace stallwatch::ctl
