#include "stallwatch/notify.h"

#include <systemd/sd-daemon.h>
#include <time.h>

#include <cstdlib>

#include <fmt/format.h>

namespace stallwatch {

Notifier::Notifier() {
  const char* sock = std::getenv("NOTIFY_SOCKET");
  active_ = sock != nullptr && *sock != '\0';
  std::uint64_t usec = 0;
  if (sd_watchdog_enabled(1, &usec) > 0) watchdog_usec_ = usec;
}

void Notifier::send(const std::string& text) {
  if (active_) sd_notify(0, text.c_str());
}

void Notifier::ready() { send("READY=1"); }

void Notifier::reloading() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  // MONOTONIC_USEC lets systemd >= 253 match the reload with Type=notify-reload as well.
  send(fmt::format("RELOADING=1\nMONOTONIC_USEC={}", ts.tv_sec * 1'000'000LL + ts.tv_nsec / 1000));
}

void Notifier::stopping() { send("STOPPING=1"); }
void Notifier::watchdog_ping() { send("WATCHDOG=1"); }
void Notifier::status(const std::string& text) { send("STATUS=" + text); }

}  // namespace stallwatch
