// EventBus: hooks and the ordered change feed (see core/event_bus.h for the
// ordering, gap-free and delivery contracts this file implements).
//
// Two mutexes, never held together and never held across a callback:
//   * `hooks_mu_` guards the hook list. `hook_counts_` mirrors it per type so
//     that the store's hot path can skip building a `UserEvent` with one
//     relaxed-enough atomic load when nobody listens.
//   * `mu_` guards numbering, the subscriber list, the queue and `draining_`.
//
// Callbacks are held through `shared_ptr`, copied out under the lock, so a
// callback may remove itself (or any other) while it runs: the copy keeps the
// function object alive until the call returns.

#include "core/event_bus.h"

#include <cstddef>
#include <exception>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

#include "userstore/status.h"

namespace userstore {
namespace internal {
namespace {

constexpr int kHookTypes = 3;

// Index of `type` in `hook_counts_`, or -1 for a value that names no event.
int HookIndex(HookType type) {
  const int index = static_cast<int>(type);
  return index >= 0 && index < kHookTypes ? index : -1;
}

// The text of the exception being handled. Must be called inside a catch block.
std::string CurrentExceptionText() {
  try {
    throw;
  } catch (const std::exception& e) {
    return e.what();
  } catch (...) {
    return "unknown exception";
  }
}

}  // namespace

EventBus::EventBus(std::function<void(const absl::Status&)> on_error)
    : on_error_(std::move(on_error)) {}

// --- hooks --------------------------------------------------------------------

uint64_t EventBus::AddHook(HookType type, UserHook hook) {
  absl::MutexLock lock(&hooks_mu_);
  const uint64_t id = next_hook_id_++;
  hooks_.push_back(HookEntry{id, type, std::make_shared<UserHook>(std::move(hook))});
  const int index = HookIndex(type);
  if (index >= 0) hook_counts_[index].fetch_add(1, std::memory_order_release);
  return id;
}

bool EventBus::RemoveHook(uint64_t id) {
  std::shared_ptr<UserHook> doomed;  // destroyed after the lock is released
  {
    absl::MutexLock lock(&hooks_mu_);
    for (auto it = hooks_.begin(); it != hooks_.end(); ++it) {
      if (it->id != id) continue;
      const int index = HookIndex(it->type);
      if (index >= 0) hook_counts_[index].fetch_sub(1, std::memory_order_release);
      doomed = std::move(it->fn);
      hooks_.erase(it);
      break;
    }
  }
  return doomed != nullptr;
}

bool EventBus::HasHooks(HookType type) const {
  const int index = HookIndex(type);
  return index >= 0 && hook_counts_[index].load(std::memory_order_acquire) > 0;
}

absl::Status EventBus::RunHooks(HookType type, const UserEvent& event) {
  std::vector<HookEntry> run;
  {
    absl::ReaderMutexLock lock(&hooks_mu_);
    for (const HookEntry& entry : hooks_) {
      if (entry.type == type) run.push_back(entry);
    }
  }
  const bool pre_event = type == HookType::kOnUserUpdate;
  for (const HookEntry& entry : run) {
    // A hook removed after the list was copied is not started: RemoveHook()
    // promises that once it returns, the hook is not called again.
    {
      absl::ReaderMutexLock lock(&hooks_mu_);
      bool still_registered = false;
      for (const HookEntry& live : hooks_) {
        if (live.id == entry.id) {
          still_registered = true;
          break;
        }
      }
      if (!still_registered) continue;
    }
    absl::Status result;
    try {
      result = (*entry.fn)(event);
    } catch (...) {
      absl::Status failure =
          MakeError(ErrorCode::kInternal,
                    absl::StrCat(HookTypeName(type), " hook threw: ", CurrentExceptionText()));
      ReportError(failure);
      if (pre_event) return failure;
      continue;
    }
    if (result.ok()) continue;
    if (pre_event) {
      return MakeError(ErrorCode::kWebhookRejected, result.message());
    }
    ReportError(result);
  }
  return absl::OkStatus();
}

// --- feed ---------------------------------------------------------------------

uint64_t EventBus::Subscribe(ChangeListener listener) {
  absl::MutexLock lock(&mu_);
  const uint64_t id = next_subscriber_id_++;
  // Setting the flag and reading the last number is one atomic step: a change
  // numbered before it is not this subscriber's, and every change numbered
  // after it is numbered by a Publish that saw the flag and waits for mu_.
  const uint64_t state = state_.fetch_or(kSubscribedBit, std::memory_order_acq_rel);
  subscribers_.push_back(Subscriber{id, (state >> kSequenceShift) + 1,
                                    std::make_shared<ChangeListener>(std::move(listener))});
  return id;
}

bool EventBus::Unsubscribe(uint64_t id) {
  std::shared_ptr<ChangeListener> doomed;  // destroyed after the lock is released
  {
    absl::MutexLock lock(&mu_);
    for (auto it = subscribers_.begin(); it != subscribers_.end(); ++it) {
      if (it->id != id) continue;
      doomed = std::move(it->fn);
      subscribers_.erase(it);
      if (subscribers_.empty()) state_.fetch_and(~kSubscribedBit, std::memory_order_acq_rel);
      break;
    }
  }
  return doomed != nullptr;
}

uint64_t EventBus::Publish(absl::FunctionRef<ChangeEvent()> make) {
  // No subscriber: the change is numbered with one compare-and-swap and never
  // built (a subscriber added later starts after it anyway). The swap fails
  // once Subscribe has set the flag, and the change then takes the locked path.
  uint64_t state = state_.load(std::memory_order_relaxed);
  while ((state & kSubscribedBit) == 0) {
    if (state_.compare_exchange_weak(state, state + kSequenceOne, std::memory_order_acq_rel,
                                     std::memory_order_relaxed)) {
      return (state >> kSequenceShift) + 1;
    }
  }
  absl::MutexLock lock(&mu_);
  const uint64_t sequence =
      (state_.fetch_add(kSequenceOne, std::memory_order_acq_rel) >> kSequenceShift) + 1;
  // The last subscriber may have left while this thread waited for mu_.
  if (!subscribers_.empty()) {
    ChangeEvent event = make();
    event.sequence = sequence;
    queue_.push_back(std::move(event));
    queued_.store(queue_.size(), std::memory_order_release);
  }
  return sequence;
}

void EventBus::Deliver() {
  // Nothing queued (always so without subscribers): no lock. A thread that
  // queued an event sees at least its own count here, unless a drainer has
  // already taken the event, which is then delivered by that drainer.
  if (queued_.load(std::memory_order_acquire) == 0) return;
  mu_.Lock();
  if (draining_) {
    // Another thread (or an outer frame of this one) is delivering; it checks
    // the queue again before it stops, so it will deliver what we queued.
    mu_.Unlock();
    return;
  }
  draining_ = true;
  std::vector<std::shared_ptr<ChangeListener>> targets;
  while (!queue_.empty()) {
    ChangeEvent event = std::move(queue_.front());
    queue_.pop_front();
    queued_.store(queue_.size(), std::memory_order_release);
    targets.clear();
    for (const Subscriber& sub : subscribers_) {
      if (sub.first_sequence <= event.sequence) targets.push_back(sub.fn);
    }
    mu_.Unlock();
    for (const auto& listener : targets) {
      try {
        (*listener)(event);
      } catch (...) {
        ReportError(MakeError(ErrorCode::kInternal,
                              absl::StrCat("change listener threw on event ", event.sequence, ": ",
                                           CurrentExceptionText())));
      }
    }
    // Drop our references before taking the lock again, so that a listener
    // unsubscribed meanwhile is destroyed without the lock held.
    targets.clear();
    mu_.Lock();
  }
  draining_ = false;
  mu_.Unlock();
}

uint64_t EventBus::last_sequence() const {
  return state_.load(std::memory_order_acquire) >> kSequenceShift;
}

void EventBus::ReportError(const absl::Status& status) {
  if (!on_error_) return;
  // The error sink is embedder code too: nothing it throws may escape into the
  // store (or leave `draining_` set forever).
  try {
    on_error_(status);
  } catch (...) {
  }
}

}  // namespace internal
}  // namespace userstore
