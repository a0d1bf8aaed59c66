// SPDX-License-Identifier: GPL-2.0-or-later
#include "stallwatch/escalation/bounded_persist.h"

#include <condition_variable>
#include <exception>
#include <mutex>
#include <thread>

#include <fmt/format.h>

namespace stallwatch::escalation {
namespace {

struct Shared {
  std::mutex mu;
  std::condition_variable cv;
  bool done = false;
  PersistOutcome outcome;
};

}  // namespace

PersistOutcome persist_with_deadline(PersistFn persist, const ResetReason& reason,
                                     std::chrono::milliseconds deadline) {
  auto shared = std::make_shared<Shared>();
  try {
    std::thread helper([shared, persist = std::move(persist), reason]() {
      PersistOutcome out;
      try {
        auto r = persist(reason);
        if (r.ok()) {
          out.kind = PersistOutcome::Kind::kSaved;
          out.total = *r;
        } else {
          out.error = r.error().message;
        }
      } catch (const std::exception& e) {
        out.error = e.what();
      } catch (...) {
        out.error = "unknown exception";
      }
      std::lock_guard lock(shared->mu);
      shared->outcome = std::move(out);
      shared->done = true;
      shared->cv.notify_all();
    });
    helper.detach();
  } catch (const std::exception& e) {
    PersistOutcome out;
    out.error = fmt::format("cannot start the writer thread: {}", e.what());
    return out;
  }
  std::unique_lock lock(shared->mu);
  if (!shared->cv.wait_for(lock, deadline, [&] { return shared->done; })) {
    PersistOutcome out;
    out.kind = PersistOutcome::Kind::kTimedOut;
    return out;
  }
  return shared->outcome;
}

}  // namespace stallwatch::escalation
