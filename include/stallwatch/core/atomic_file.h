// SPDX-License-Identifier: GPL-2.0-or-later
// AtomicFile: a file the daemon rewrites again and again (status.json, the metrics textfile),
// replaced atomically for readers that open it by name: they see the old content or the new, whole.
//
// The new content goes into "<path>.tmp" and renameat2(RENAME_EXCHANGE) swaps the two names, so
// the previous version stays behind as "<path>.tmp" and is overwritten in place next time. That
// avoids what a fresh file and rename() cost on every write: a new inode, the old one's eviction
// (block free, and a discard on `-o discard` mounts) and, on ext4, a synchronous writeback of the
// new data (auto_da_alloc). On the 2-core VM that was ~60 % of the dispatcher's periodic pass.
//
// The spare is reused only when it is certainly ours and nobody holds it open:
// - its device and inode are the ones this object wrote last time, a regular file with one link,
//   owned by us (never a file planted or hard-linked there; opened with O_NOFOLLOW);
// - a write lease can be taken on it (fcntl F_SETLEASE F_WRLCK fails with EAGAIN while any other
//   process has it open), so a reader that opened the previous version just before the last swap
//   and is still reading it (a node_exporter scrape descheduled on a stalled CPU) never sees it
//   change under it. The lease is dropped before writing.
// Otherwise the spare is unlinked (a reader keeps its copy) and a new file is created with
// O_CREAT|O_EXCL|O_NOFOLLOW, mode `mode` whatever the umask. Filesystems without leases or
// RENAME_EXCHANGE get that path every time, with rename().
//
// The process must ignore SIGIO: another process opening the spare in the microseconds the lease
// is held makes the kernel send it (stallwatchd ignores it, main.cpp). Blocking file I/O: never
// call from a real-time thread. One thread per object.
#pragma once

#include <sys/types.h>

#include <string>
#include <string_view>

#include "stallwatch/core/result.h"

namespace stallwatch {

class AtomicFile {
 public:
  explicit AtomicFile(std::string path, mode_t mode = 0644);

  // Replaces the file's content with `text`. Errors name the file and the failed step
  // ("cannot create /run/stallwatch/status.json.tmp: No such file or directory"); the previous
  // content stays in place then.
  Status write(std::string_view text);

  const std::string& path() const { return path_; }
  // Whether the last successful write() overwrote the spare in place (for tests and benchmarks).
  bool reused_spare() const { return reused_; }

 private:
  struct Id {
    dev_t dev = 0;
    ino_t ino = 0;
    bool known() const { return ino != 0; }
  };
  bool write_spare(std::string_view text);  // false: take the fresh-file path
  Status write_fresh(std::string_view text);
  Status swap_in(Id written);  // by value: callers pass spare_

  std::string path_;
  std::string tmp_;
  mode_t mode_;
  Id current_;  // what this object last put at path_
  Id spare_;    // what the last swap left at tmp_ (the version before current_)
  bool exchange_ok_ = true;
  bool reused_ = false;
};

}  // namespace stallwatch
