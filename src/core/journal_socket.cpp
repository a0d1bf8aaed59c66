// SPDX-License-Identifier: GPL-2.0-or-later
#include "stallwatch/core/journal_socket.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstring>

namespace stallwatch {

std::string encode_journal_entry(const std::vector<std::string_view>& fields) {
  std::string out;
  std::size_t size = 0;
  for (auto f : fields) size += f.size() + 10;
  out.reserve(size);
  for (auto f : fields) {
    const auto eq = f.find('=');
    if (eq == std::string_view::npos || eq == 0) continue;
    const std::string_view key = f.substr(0, eq);
    const std::string_view value = f.substr(eq + 1);
    if (key.find('\n') != std::string_view::npos) continue;
    if (value.find('\n') == std::string_view::npos) {
      out += f;
    } else {
      out += key;
      out += '\n';
      const std::uint64_t n = value.size();
      for (int i = 0; i < 8; ++i) out += static_cast<char>((n >> (8 * i)) & 0xff);
      out += value;
    }
    out += '\n';
  }
  return out;
}

JournalSocket::JournalSocket(std::string path) : path_(std::move(path)) {
  addr_.sun_family = AF_UNIX;
  if (path_.size() >= sizeof addr_.sun_path) return;
  std::memcpy(addr_.sun_path, path_.data(), path_.size());
  addr_len_ = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + path_.size() + 1);
}

int JournalSocket::fd() {
  std::call_once(made_, [this] {
    fd_.reset(::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    if (!fd_.valid()) return;
    // As libsystemd: an 8 MiB send buffer, so an entry of a few hundred KiB (a stall report's
    // stacks) fits one datagram and journald's queue holds many; forced where we may (root).
    int size = 8 << 20;
    if (::setsockopt(fd_.get(), SOL_SOCKET, SO_SNDBUFFORCE, &size, sizeof size) != 0)
      ::setsockopt(fd_.get(), SOL_SOCKET, SO_SNDBUF, &size, sizeof size);
  });
  return fd_.get();
}

bool JournalSocket::send(const std::vector<std::string_view>& fields, Wait wait) {
  if (addr_len_ == 0) {
    errno = ENAMETOOLONG;
    return false;
  }
  const int sock = fd();
  if (sock < 0) return false;
  const std::string entry = encode_journal_entry(fields);
  const int flags = MSG_NOSIGNAL | (wait == Wait::kNever ? MSG_DONTWAIT : 0);
  for (;;) {
    const ssize_t n = ::sendto(sock, entry.data(), entry.size(), flags,
                               reinterpret_cast<const sockaddr*>(&addr_), addr_len_);
    if (n == static_cast<ssize_t>(entry.size())) return true;
    if (n >= 0) return false;  // a datagram is never sent in part; be safe anyway
    if (errno == EINTR) continue;
    if (errno == EMSGSIZE || errno == ENOBUFS) return send_in_memfd(entry, flags);
    return false;
  }
}

bool JournalSocket::send_in_memfd(const std::string& entry, int flags) {
  UniqueFd mem(::memfd_create("journal-data", MFD_CLOEXEC | MFD_ALLOW_SEALING));
  if (!mem.valid()) return false;
  for (std::size_t done = 0; done < entry.size();) {
    const ssize_t n = ::write(mem.get(), entry.data() + done, entry.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    done += static_cast<std::size_t>(n);
  }
  // journald takes only a sealed memfd: nothing may change it after it is sent.
  if (::fcntl(mem.get(), F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL) !=
      0)
    return false;
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
  msghdr msg{};
  msg.msg_name = &addr_;
  msg.msg_namelen = addr_len_;
  msg.msg_control = control;
  msg.msg_controllen = sizeof control;
  cmsghdr* c = CMSG_FIRSTHDR(&msg);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN(sizeof(int));
  const int passed = mem.get();
  std::memcpy(CMSG_DATA(c), &passed, sizeof passed);
  for (;;) {
    if (::sendmsg(fd(), &msg, flags) >= 0) return true;
    if (errno != EINTR) return false;
  }
}

JournalSocket& system_journal() {
  static JournalSocket journal;
  return journal;
}

}  // namespace stallwatch
