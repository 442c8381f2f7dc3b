// EventBus: the hook registry and the ordered change feed of one store
// (userstore/events.h). The store calls it; it knows nothing of the store's
// data structures.
//
// Ordering. `Publish` is called by the store while it still holds the locks
// that order the change being published; it assigns the next sequence number
// under the bus's own mutex, so sequence order is a valid commit order (two
// changes that touch the same entity are numbered in the order they
// committed). Delivery happens later, in `Deliver`, outside every store lock.
//
// Gap-free. A subscriber registered by `Subscribe` gets exactly the events
// with sequence > the last sequence at registration, each once, in order.
// Registration and numbering happen under the same mutex, so no event can
// fall between them.
//
// Delivery. `Deliver` drains the queue; only one thread drains at a time (a
// `draining_` flag, not a lock held across callbacks), so a listener that
// calls back into the store (which publishes and calls Deliver again) does
// not deadlock: the nested Deliver returns at once and the outer loop
// delivers the new event after the current one. A thread that finds another
// draining returns at once; the draining thread delivers its event before it
// stops.
//
// Lock order: store locks -> EventBus::mu_. No store lock is ever taken while
// `mu_` is held, and no callback runs while either is held.

#ifndef USERSTORE_CORE_EVENT_BUS_H_
#define USERSTORE_CORE_EVENT_BUS_H_

#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"

#include "userstore/events.h"

namespace userstore {
namespace internal {

class EventBus {
 public:
  // `on_error` receives contained exceptions and non-OK post-hook results; may
  // be empty.
  explicit EventBus(std::function<void(const absl::Status&)> on_error);

  // --- hooks ---
  uint64_t AddHook(HookType type, UserHook hook);
  bool RemoveHook(uint64_t id);
  // True when at least one hook of `type` is registered. Lock-free.
  bool HasHooks(HookType type) const;
  // Runs the hooks of `type` in registration order, on this thread, with no
  // lock held. For kOnUserUpdate: the first non-OK result stops the run and is
  // returned as 403/50056 (its message kept when non-empty); a hook that
  // throws vetoes too, as 500/20500, and is reported. For the post-events:
  // every hook runs; failures and exceptions are reported, and OK returned.
  absl::Status RunHooks(HookType type, const UserEvent& event);

  // --- feed ---
  uint64_t Subscribe(ChangeListener listener);
  bool Unsubscribe(uint64_t id);

  // Assigns the next sequence number; if anyone is subscribed, calls `make`
  // (under the bus mutex) to build the event and queues it. Returns the
  // sequence number. REQUIRES: the caller holds the store locks that order
  // this change.
  uint64_t Publish(absl::FunctionRef<ChangeEvent()> make);

  // Delivers queued events, in sequence order, to the subscribers registered
  // before each was published. Call with no store lock held. Takes no lock
  // when nothing is queued (always the case without subscribers).
  void Deliver();

  uint64_t last_sequence() const;

 private:
  struct HookEntry {
    uint64_t id;
    HookType type;
    std::shared_ptr<UserHook> fn;
  };
  struct Subscriber {
    uint64_t id;
    uint64_t first_sequence;  // delivers events with sequence >= this
    std::shared_ptr<ChangeListener> fn;
  };

  void ReportError(const absl::Status& status);

  std::function<void(const absl::Status&)> on_error_;
  std::atomic<int> hook_counts_[3] = {};

  mutable absl::Mutex hooks_mu_;
  std::vector<HookEntry> hooks_ ABSL_GUARDED_BY(hooks_mu_);
  uint64_t next_hook_id_ ABSL_GUARDED_BY(hooks_mu_) = 1;

  mutable absl::Mutex mu_;
  uint64_t last_sequence_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t next_subscriber_id_ ABSL_GUARDED_BY(mu_) = 1;
  std::vector<Subscriber> subscribers_ ABSL_GUARDED_BY(mu_);
  std::deque<ChangeEvent> queue_ ABSL_GUARDED_BY(mu_);
  // queue_.size(), written under mu_, read without it by Deliver's fast path.
  std::atomic<size_t> queued_{0};
  bool draining_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace internal
}  // namespace userstore

#endif  // USERSTORE_CORE_EVENT_BUS_H_
