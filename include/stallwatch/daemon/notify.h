// SPDX-License-Identifier: GPL-2.0-or-later
// Notifier: the sd_notify protocol (READY, WATCHDOG, STATUS, RELOADING, STOPPING) as an interface,
// so the supervisor pieces are tested with a fake. SystemdNotifier is the real one: a datagram
// socket connected once to $NOTIFY_SOCKET, non-blocking, so watchdog_ping() may be called from
// the real-time check (one sendto with MSG_DONTWAIT; a full or absent receiver drops the ping
// rather than waiting). A no-op when not started by systemd. Thread-safe (one datagram a call).
#pragma once

#include <atomic>
#include <cstdint>
#include <string>

namespace stallwatch::daemon {

class Notifier {
 public:
  virtual ~Notifier() = default;
  // 0 when systemd's watchdog is off; otherwise ping at least every watchdog_usec/2.
  virtual std::uint64_t watchdog_usec() const = 0;
  virtual void ready() = 0;
  virtual void reloading() = 0;
  virtual void stopping() = 0;
  virtual void status(const std::string& text) = 0;
  // Real-time safe: never blocks, never allocates.
  // true when sent; a ping that could not be sent (socket queue full) is retried by the caller.
  virtual bool watchdog_ping() noexcept = 0;
  // WATCHDOG=1 pings that could not be sent (status.json's watchdog_pings_dropped). Any thread.
  virtual std::uint64_t pings_dropped() const = 0;
};

class SystemdNotifier final : public Notifier {
 public:
  // Reads NOTIFY_SOCKET/WATCHDOG_USEC and unsets WATCHDOG_* so children don't inherit them.
  SystemdNotifier();
  ~SystemdNotifier() override;
  SystemdNotifier(const SystemdNotifier&) = delete;
  SystemdNotifier& operator=(const SystemdNotifier&) = delete;

  bool active() const { return fd_ >= 0; }
  std::uint64_t watchdog_usec() const override { return watchdog_usec_; }
  void ready() override;
  void reloading() override;
  void stopping() override;
  void status(const std::string& text) override;
  bool watchdog_ping() noexcept override;
  std::uint64_t pings_dropped() const override {
    return pings_dropped_.load(std::memory_order_relaxed);
  }

 private:
  // Non-RT messages: retried for up to ~1 s while the receiver's queue is full.
  void send_reliably(const std::string& text);
  bool send_raw(const char* data, std::size_t size) noexcept;

  int fd_ = -1;
  std::uint64_t watchdog_usec_ = 0;
  std::atomic<std::uint64_t> pings_dropped_{0};
};

}  // namespace stallwatch::daemon
