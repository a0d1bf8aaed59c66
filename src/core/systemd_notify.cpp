// SPDX-License-Identifier: GPL-2.0-or-later
#include "stallwatch/core/systemd_notify.h"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <string_view>

namespace stallwatch {

namespace {

bool parse_u64(const char* text, std::uint64_t* out) {
  if (text == nullptr || *text == '\0') return false;
  const std::string_view s(text);
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
  return ec == std::errc() && end == s.data() + s.size();
}

}  // namespace

UniqueFd connect_notify_socket(int extra_type_flags) {
  const char* path = std::getenv("NOTIFY_SOCKET");
  if (path == nullptr || *path == '\0') return UniqueFd();
  if (path[0] != '/' && path[0] != '@') {  // vsock: and others are not ours to speak
    errno = EAFNOSUPPORT;
    return UniqueFd();
  }
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  const std::size_t len = std::strlen(path);
  if (len >= sizeof addr.sun_path) {
    errno = ENAMETOOLONG;
    return UniqueFd();
  }
  std::memcpy(addr.sun_path, path, len);
  if (path[0] == '@') addr.sun_path[0] = '\0';  // abstract namespace: no terminating NUL
  UniqueFd fd(::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | extra_type_flags, 0));
  if (!fd.valid()) return fd;
  const auto addr_len =
      static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + len + (path[0] == '@' ? 0 : 1));
  if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), addr_len) != 0) return UniqueFd();
  return fd;
}

int notify_service_manager(std::string_view state) {
  const char* path = std::getenv("NOTIFY_SOCKET");
  if (path == nullptr || *path == '\0') return 0;
  UniqueFd fd = connect_notify_socket();
  if (!fd.valid()) return errno != 0 ? -errno : -ENOTCONN;
  for (;;) {
    const ssize_t n = ::send(fd.get(), state.data(), state.size(), MSG_NOSIGNAL);
    if (n == static_cast<ssize_t>(state.size())) return 1;
    if (n >= 0) return -EIO;
    if (errno != EINTR) return -errno;
  }
}

std::uint64_t watchdog_usec_from_env(bool unset) {
  std::uint64_t usec = 0;
  std::uint64_t pid = 0;
  const bool have_usec = parse_u64(std::getenv("WATCHDOG_USEC"), &usec) && usec > 0;
  const char* pid_text = std::getenv("WATCHDOG_PID");
  const bool ours = pid_text == nullptr || *pid_text == '\0' ||
                    (parse_u64(pid_text, &pid) && pid == static_cast<std::uint64_t>(::getpid()));
  if (unset) {
    ::unsetenv("WATCHDOG_USEC");
    ::unsetenv("WATCHDOG_PID");
  }
  return have_usec && ours ? usec : 0;
}

}  // namespace stallwatch
