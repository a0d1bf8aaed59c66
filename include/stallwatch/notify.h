// Notifier: the sd_notify protocol (READY, WATCHDOG, STATUS, RELOADING, STOPPING). A no-op when
// not started by systemd. Thread-safe (sd_notify opens a datagram per call); used by the main
// thread (reload/stop) and the checker thread (ready, watchdog pings, status).
#pragma once

#include <atomic>
#include <cstdint>
#include <string>

namespace stallwatch {

class Notifier {
 public:
  // Reads NOTIFY_SOCKET/WATCHDOG_USEC and unsets WATCHDOG_* so children don't inherit them.
  Notifier();
  bool active() const { return active_; }
  // 0 when systemd's watchdog is off; otherwise ping at least every watchdog_usec/2.
  std::uint64_t watchdog_usec() const { return watchdog_usec_; }

  void ready();
  void reloading();
  void stopping();
  void watchdog_ping();
  void status(const std::string& text);
  // Only for tests or callers that need it: raw send.
  void send(const std::string& text);

 private:
  bool active_ = false;
  std::uint64_t watchdog_usec_ = 0;
};

}  // namespace stallwatch
