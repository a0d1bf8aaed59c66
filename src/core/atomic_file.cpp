// SPDX-License-Identifier: GPL-2.0-or-later
#include "stallwatch/core/atomic_file.h"

#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "stallwatch/core/unique_fd.h"

namespace stallwatch {

namespace {

// Writes all of text at offset 0; errno on failure.
int write_all(int fd, std::string_view text) {
  std::size_t done = 0;
  while (done < text.size()) {
    const ssize_t n =
        ::pwrite(fd, text.data() + done, text.size() - done, static_cast<off_t>(done));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return errno;
    if (n == 0) return EIO;
    done += static_cast<std::size_t>(n);
  }
  return 0;
}

}  // namespace

AtomicFile::AtomicFile(std::string path, mode_t mode)
    : path_(std::move(path)), tmp_(path_ + ".tmp"), mode_(mode) {}

Status AtomicFile::write(std::string_view text) {
  reused_ = false;
  if (spare_.known() && write_spare(text)) {
    if (auto st = swap_in(spare_); !st) return st;
    reused_ = true;
    return Ok{};
  }
  return write_fresh(text);
}

bool AtomicFile::write_spare(std::string_view text) {
  UniqueFd fd(::open(tmp_.c_str(), O_WRONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC));
  struct stat st {};
  if (!fd.valid() || ::fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode) || st.st_nlink != 1 ||
      st.st_uid != ::geteuid() || st.st_dev != spare_.dev || st.st_ino != spare_.ino)
    return false;
  // Nobody else has it open (else EAGAIN), and nobody can open it meanwhile but by its ".tmp"
  // name, which no reader of path_ uses.
  if (::fcntl(fd.get(), F_SETLEASE, F_WRLCK) != 0) return false;
  (void)::fcntl(fd.get(), F_SETLEASE, F_UNLCK);
  if (write_all(fd.get(), text) != 0) return false;
  if (st.st_size != static_cast<off_t>(text.size()) &&
      ::ftruncate(fd.get(), static_cast<off_t>(text.size())) != 0)
    return false;
  return ::close(fd.release()) == 0;
}

Status AtomicFile::write_fresh(std::string_view text) {
  spare_ = Id{};
  constexpr int kFlags = O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC;
  ::unlink(tmp_.c_str());  // the spare (held open, not ours) or a crash's leftover; never follows a
                           // symlink
  UniqueFd fd(::open(tmp_.c_str(), kFlags, mode_));
  if (!fd.valid()) return make_error("cannot create {}: {}", tmp_, std::strerror(errno));
  // The umask may be tighter than mode_; readers (node_exporter as user prometheus) need it.
  int err = ::fchmod(fd.get(), mode_) == 0 ? 0 : errno;
  if (err == 0) err = write_all(fd.get(), text);
  struct stat st {};
  if (err == 0 && ::fstat(fd.get(), &st) != 0) err = errno;
  if (::close(fd.release()) != 0 && err == 0) err = errno;
  if (err != 0) {
    ::unlink(tmp_.c_str());
    return make_error("cannot write {}: {}", tmp_, std::strerror(err));
  }
  return swap_in(Id{st.st_dev, st.st_ino});
}

// tmp_ holds `written`: put it at path_, and what was there at tmp_.
Status AtomicFile::swap_in(Id written) {
  if (exchange_ok_ &&
      ::renameat2(AT_FDCWD, tmp_.c_str(), AT_FDCWD, path_.c_str(), RENAME_EXCHANGE) == 0) {
    spare_ = current_;  // checked against the inode really there before it is reused
    current_ = written;
    return Ok{};
  }
  // ENOENT: no previous file (the first write). EINVAL, ENOSYS: no RENAME_EXCHANGE here.
  if (exchange_ok_ && errno != ENOENT)
    exchange_ok_ = errno != EINVAL && errno != ENOSYS && errno != EOPNOTSUPP;
  if (::rename(tmp_.c_str(), path_.c_str()) != 0) {
    const int err = errno;
    ::unlink(tmp_.c_str());
    spare_ = Id{};
    return make_error("cannot rename {} to {}: {}", tmp_, path_, std::strerror(err));
  }
  spare_ = Id{};
  current_ = written;
  return Ok{};
}

}  // namespace stallwatch
