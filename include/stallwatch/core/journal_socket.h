// SPDX-License-Identifier: GPL-2.0-or-later
// journald's native protocol, written by hand so the daemon need not load libsystemd (and the
// 3.4 MiB of libraries it pulls in, every page of which mlockall keeps resident: on a VM that
// shadows page tables a wakeup costs more the larger the address space; docs/performance.md).
//
// One datagram per entry to /run/systemd/journal/socket: KEY=VALUE\n per field, or, for a value
// holding a newline, KEY\n + the value's length (64-bit little endian) + VALUE + \n. An entry
// larger than the socket takes goes in a sealed memfd passed with SCM_RIGHTS, as libsystemd
// does (systemd's journal-native-protocol documentation).
#pragma once

#include <sys/socket.h>
#include <sys/un.h>

#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "stallwatch/core/unique_fd.h"

namespace stallwatch {

inline constexpr const char* kJournalSocketPath = "/run/systemd/journal/socket";

// The datagram of one entry. A field without '=' or with an empty key is left out.
std::string encode_journal_entry(const std::vector<std::string_view>& fields);

class JournalSocket {
 public:
  enum class Wait { kBlock, kNever };

  explicit JournalSocket(std::string path = kJournalSocketPath);

  // True once journald has the whole entry. kBlock waits while journald's queue is full, as
  // libsystemd's sd_journal_sendv does; kNever gives up (false, errno EAGAIN) instead. A missing
  // socket is a failure (ENOENT), not silently dropped as libsystemd drops it, so the caller can
  // put the entry elsewhere. Thread-safe.
  bool send(const std::vector<std::string_view>& fields, Wait wait = Wait::kBlock);

  const std::string& path() const { return path_; }

 private:
  int fd();
  bool send_in_memfd(const std::string& entry, int flags);

  std::string path_;
  sockaddr_un addr_{};
  socklen_t addr_len_ = 0;  // 0: the path does not fit sun_path
  std::once_flag made_;
  UniqueFd fd_;
};

// The process's journal socket (journald's, made on first use).
JournalSocket& system_journal();

}  // namespace stallwatch
