// EventBus: the hook registry and the ordered change feed of one store
// (userstore/events.h). The store calls it; it knows nothing of the store's
// data structures.
//
// Ordering. `Publish` is called by the store while it still holds the locks
// that order the change being published; it assigns the next sequence number
// with one atomic operation on a single word, so sequence order is a valid
// commit order (two changes that touch the same entity are numbered in the
// order they committed). Delivery happens later, in `Deliver`, outside every
// store lock.
//
// Gap-free. A subscriber registered by `Subscribe` gets exactly the events
// with sequence > the last sequence at registration, each once, in order.
// The word holds the last sequence number and a "subscribed" flag. Without
// subscribers, Publish numbers a change by compare-and-swap of the word with
// the flag clear, taking no lock. Subscribe sets the flag and reads the last
// number in one atomic step under the bus's mutex; from then on every
// Publish fails that swap, takes the mutex and numbers and queues its event
// under it, so no event can fall between registration and numbering, and the
// queue stays in sequence order.
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
  // sequence number. Takes no lock when no one is subscribed (one
  // compare-and-swap). REQUIRES: the caller holds the store locks that order
  // this change.
  uint64_t Publish(absl::FunctionRef<ChangeEvent()> make);

  // Delivers queued events, in sequence order, to the subscribers registered
  // before each was published. Call with no store lock held. Takes no lock
  // when nothing is queued (always the case without subscribers).
  void Deliver();

  // The last number assigned. Lock-free.
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

  // (last sequence number << kSequenceShift) | kSubscribedBit when anyone is
  // subscribed. The flag changes only under mu_; the number grows by
  // compare-and-swap without mu_ while the flag is clear, else under mu_.
  static constexpr uint64_t kSubscribedBit = 1;
  static constexpr int kSequenceShift = 1;
  static constexpr uint64_t kSequenceOne = uint64_t{1} << kSequenceShift;
  std::atomic<uint64_t> state_{0};
  mutable absl::Mutex mu_;
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
