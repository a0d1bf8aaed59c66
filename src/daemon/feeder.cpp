// SPDX-License-Identifier: GPL-2.0-or-later
#include "stallwatch/daemon/feeder.h"

namespace stallwatch::daemon {

Feeder::Feeder(std::function<bool()> feed, std::function<void(std::uint64_t)> served)
    : feed_(std::move(feed)), served_(std::move(served)) {}

Feeder::~Feeder() { (void)stop(0); }

void Feeder::request(int cpu) noexcept {
  requested_.fetch_add(1, std::memory_order_release);
  wake_on(cpu);
}

void Feeder::serve() {
  const std::uint64_t req = requested_.load(std::memory_order_acquire);
  if (feed_())
    served_(req);
  else
    failures_.fetch_add(1, std::memory_order_relaxed);
}

}  // namespace stallwatch::daemon
