// SPDX-License-Identifier: GPL-2.0-or-later
// EventRing under real threads: producers (the check, and heartbeats that find an owner stuck)
// pushing CheckEvents into a small ring while the dispatcher drains it. Every event is either
// delivered exactly once, whole and in its producer's order, or counted as dropped. Bounded
// counts, no sleeps; under STALLWATCH_TSAN (ctest -L tsan) ThreadSanitizer also checks that the
// cell sequence numbers order the plain copies of the events.
#include "stallwatch/core/event_ring.h"

#include <gtest/gtest.h>

#include <array>
#include <atomic>
#include <cstdint>
#include <thread>
#include <vector>

#include "stallwatch/core/event.h"

namespace stallwatch {
namespace {

// Every field derived from (producer, n): a torn copy (half of one event, half of another)
// cannot pass consistent().
CheckEvent make_event(int producer, std::uint64_t n) {
  CheckEvent e;
  e.kind = (n % 2 == 0) ? EventKind::kStall : EventKind::kRecovered;
  e.cpu = producer;
  e.episode = n;
  e.stall_ns = static_cast<std::int64_t>(n * 3 + static_cast<std::uint64_t>(producer));
  e.threshold_ns = -static_cast<std::int64_t>(n) - 1;
  e.detected_mono_ns = static_cast<std::int64_t>(n ^ 0x5a5a5a5a5a5aULL);
  e.stall_start_mono_ns =
      static_cast<std::int64_t>(producer) * 1'000'000'000 + static_cast<std::int64_t>(n);
  e.moved_to = static_cast<int>(n & 0xffff);
  e.cascade_cpus = producer + 1;
  e.owner_stuck = (n % 3) == 0;
  e.after_the_fact = (n % 5) == 0;
  return e;
}

bool consistent(const CheckEvent& e, int producers) {
  if (e.cpu < 0 || e.cpu >= producers) return false;
  const CheckEvent want = make_event(e.cpu, e.episode);
  return e.kind == want.kind && e.stall_ns == want.stall_ns &&
         e.threshold_ns == want.threshold_ns && e.detected_mono_ns == want.detected_mono_ns &&
         e.stall_start_mono_ns == want.stall_start_mono_ns && e.moved_to == want.moved_to &&
         e.cascade_cpus == want.cascade_cpus && e.owner_stuck == want.owner_stuck &&
         e.after_the_fact == want.after_the_fact;
}

TEST(EventRingStress, EveryEventIsDeliveredOnceWholeOrCountedAsDropped) {
  constexpr int kProducers = 3;
  constexpr std::uint64_t kPerProducer = 60'000;
  EventRing<CheckEvent> ring(16);  // small: full often, and every cell reused many times
  std::array<std::atomic<std::uint64_t>, kProducers> refused{};
  std::atomic<int> producing{kProducers};

  std::vector<std::thread> producers;
  for (int p = 0; p < kProducers; ++p) {
    producers.emplace_back([&, p] {
      for (std::uint64_t n = 1; n <= kPerProducer; ++n)
        if (!ring.push(make_event(p, n))) refused[p].fetch_add(1, std::memory_order_relaxed);
      producing.fetch_sub(1, std::memory_order_release);
    });
  }

  // The dispatcher, on this thread.
  std::array<std::uint64_t, kProducers> delivered{}, last{};
  long torn = 0, out_of_order = 0;
  CheckEvent e;
  for (;;) {
    const bool done = producing.load(std::memory_order_acquire) == 0;
    bool any = false;
    while (ring.pop(e)) {
      any = true;
      if (!consistent(e, kProducers)) {
        ++torn;
        continue;
      }
      // A producer's events come out in its order, each once: strictly increasing.
      if (e.episode <= last[e.cpu]) ++out_of_order;
      last[e.cpu] = e.episode;
      ++delivered[e.cpu];
    }
    if (done && !any) break;  // every push finished before the last empty pop
  }
  for (auto& t : producers) t.join();

  EXPECT_EQ(torn, 0);
  EXPECT_EQ(out_of_order, 0) << "an event delivered twice or out of its producer's order";
  std::uint64_t refused_total = 0;
  for (int p = 0; p < kProducers; ++p) {
    EXPECT_EQ(delivered[p] + refused[p].load(), kPerProducer) << "producer " << p;
    refused_total += refused[p].load();
  }
  EXPECT_EQ(ring.dropped(), refused_total) << "every refused push is counted, and only those";
  EXPECT_FALSE(ring.pop(e));
}

// The daemon's own shape: one producer at a time (the check owner), a consumer that keeps up
// most of the time; nothing may be lost that was not counted.
TEST(EventRingStress, OneProducerOneConsumerLosesNothingUncounted) {
  constexpr std::uint64_t kEvents = 200'000;
  EventRing<CheckEvent> ring(64);
  std::atomic<bool> producing{true};
  std::uint64_t refused = 0;
  std::thread producer([&] {
    for (std::uint64_t n = 1; n <= kEvents; ++n)
      if (!ring.push(make_event(0, n))) ++refused;
    producing.store(false, std::memory_order_release);
  });
  std::uint64_t delivered = 0, last = 0;
  long bad = 0;
  CheckEvent e;
  for (;;) {
    const bool done = !producing.load(std::memory_order_acquire);
    bool any = false;
    while (ring.pop(e)) {
      any = true;
      if (!consistent(e, 1) || e.episode <= last) ++bad;
      last = e.episode;
      ++delivered;
    }
    if (done && !any) break;
  }
  producer.join();
  EXPECT_EQ(bad, 0);
  EXPECT_EQ(delivered + refused, kEvents);
  EXPECT_EQ(ring.dropped(), refused);
}

}  // namespace
}  // namespace stallwatch
