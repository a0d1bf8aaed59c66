// SPDX-License-Identifier: GPL-2.0-or-later
#include "stallwatch/daemon/notify.h"

#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>

#include <fmt/format.h>

#include "stallwatch/core/clock.h"
#include "stallwatch/core/systemd_notify.h"

namespace stallwatch::daemon {

SystemdNotifier::SystemdNotifier() {
  watchdog_usec_ = watchdog_usec_from_env(/*unset=*/true);
  fd_ = connect_notify_socket(SOCK_NONBLOCK).release();
}

SystemdNotifier::~SystemdNotifier() {
  if (fd_ >= 0) ::close(fd_);
}

bool SystemdNotifier::send_raw(const char* data, std::size_t size) noexcept {
  if (fd_ < 0) return true;
  return ::send(fd_, data, size, MSG_DONTWAIT | MSG_NOSIGNAL) == static_cast<ssize_t>(size);
}

void SystemdNotifier::send_reliably(const std::string& text) {
  for (int attempt = 0; attempt < 100; ++attempt) {
    if (send_raw(text.data(), text.size())) return;
    if (errno != EAGAIN && errno != EINTR) return;
    timespec ts{0, 10'000'000};
    nanosleep(&ts, nullptr);
  }
}

void SystemdNotifier::ready() { send_reliably("READY=1"); }

void SystemdNotifier::reloading() {
  // MONOTONIC_USEC lets systemd >= 253 match the reload with Type=notify-reload as well.
  send_reliably(fmt::format("RELOADING=1\nMONOTONIC_USEC={}", mono_now_ns() / 1000));
}

void SystemdNotifier::stopping() { send_reliably("STOPPING=1"); }
void SystemdNotifier::status(const std::string& text) { send_reliably("STATUS=" + text); }

bool SystemdNotifier::watchdog_ping() noexcept {
  static constexpr char kPing[] = "WATCHDOG=1";
  if (send_raw(kPing, sizeof kPing - 1)) return true;
  pings_dropped_.fetch_add(1, std::memory_order_relaxed);
  return false;
}

}  // namespace stallwatch::daemon
