// EventBus: hooks and the ordered change feed (see core/event_bus.h for the
// ordering, gap-free and delivery contracts this file implements).
//
// Two mutexes, never held together and never held across a callback:
//   * `hooks_mu_` guards the hook list. `hook_counts_` mirrors it per type so
//     that the store's hot path can skip building a `UserEvent` with one
//     relaxed-enough atomic load when nobody listens.
//   * `mu_` guards numbering, the subscriber list, the queue and `draining_`.
//
// Callbacks are held through `shared_ptr` in lists that are never edited in
// place: a change copies the list, edits the copy and swaps it in. A reader
// (RunHooks, Deliver) takes a reference to the current list under the lock,
// which allocates nothing, and calls from it with no lock held; so a callback
// may remove itself (or any other) while it runs: the list it was taken from
// keeps the function object alive until the call returns.

#include "core/event_bus.h"

#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

#include "userstore/event_codec.h"
#include "userstore/status.h"

#include "core/durable/event_encoding.h"
#include "core/durable/journal.h"

namespace userstore {
namespace internal {
namespace {

constexpr int kHookTypes = 3;

// A copy of `list` without the element at `it`: the lists are replaced whole.
template <typename List>
std::shared_ptr<const List> CopyWithout(const List& list, typename List::const_iterator it) {
  auto copy = std::make_shared<List>();
  copy->reserve(list.size() - 1);
  copy->insert(copy->end(), list.begin(), it);
  copy->insert(copy->end(), it + 1, list.end());
  return copy;
}

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
    : on_error_(std::move(on_error)),
      hooks_(std::make_shared<const HookList>()),
      subscribers_(std::make_shared<const SubscriberList>()) {}

EventBus::~EventBus() {
  // The nodes still queued (events no Deliver took): unlinked and freed one
  // at a time. No lock: nothing else may use the bus once it is destroyed.
  queue_.clear_and_dispose([](QueuedEvent* node) { delete node; });
}

// --- hooks --------------------------------------------------------------------

uint64_t EventBus::AddHook(HookType type, UserHook hook) {
  auto fn = std::make_shared<UserHook>(std::move(hook));
  absl::MutexLock lock(&hooks_mu_);
  auto next = std::make_shared<HookList>(*hooks_);
  const uint64_t id = next_hook_id_;
  next->push_back(HookEntry{id, type, std::move(fn)});
  ++next_hook_id_;
  hooks_ = std::move(next);
  const int index = HookIndex(type);
  if (index >= 0) hook_counts_[index].fetch_add(1, std::memory_order_release);
  return id;
}

bool EventBus::RemoveHook(uint64_t id) {
  std::shared_ptr<const HookList> doomed;  // destroyed after the lock is released
  absl::MutexLock lock(&hooks_mu_);
  for (auto it = hooks_->begin(); it != hooks_->end(); ++it) {
    if (it->id != id) continue;
    std::shared_ptr<const HookList> next = CopyWithout(*hooks_, it);
    const int index = HookIndex(it->type);
    if (index >= 0) hook_counts_[index].fetch_sub(1, std::memory_order_release);
    doomed = std::exchange(hooks_, std::move(next));
    return true;
  }
  return false;
}

bool EventBus::HasHooks(HookType type) const {
  const int index = HookIndex(type);
  return index >= 0 && hook_counts_[index].load(std::memory_order_acquire) > 0;
}

absl::Status EventBus::RunHooks(HookType type, const UserEvent& event) {
  std::shared_ptr<const HookList> run;
  {
    absl::ReaderMutexLock lock(&hooks_mu_);
    run = hooks_;
  }
  const bool pre_event = type == HookType::kOnUserUpdate;
  for (const HookEntry& entry : *run) {
    if (entry.type != type) continue;
    // A hook removed after the list was taken is not started: RemoveHook()
    // promises that once it returns, the hook is not called again.
    {
      absl::ReaderMutexLock lock(&hooks_mu_);
      bool still_registered = false;
      for (const HookEntry& live : *hooks_) {
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
      absl::Status failure = ReportThrown(HookTypeName(type), " hook threw");
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
  auto fn = std::make_shared<ChangeListener>(std::move(listener));
  absl::MutexLock lock(&mu_);
  auto next = std::make_shared<SubscriberList>();
  next->reserve(subscribers_->size() + 1);
  *next = *subscribers_;
  const uint64_t id = next_subscriber_id_++;
  // Setting the flag and reading the last number is one atomic step: a change
  // numbered before it is not this subscriber's, and every change numbered
  // after it is numbered by a Publish or Commit that saw the flag and waits
  // for mu_. Nothing below may throw once the flag is set.
  const uint64_t state = state_.fetch_or(kSubscribedBit, std::memory_order_acq_rel);
  next->push_back(Subscriber{id, (state >> kSequenceShift) + 1, std::move(fn)});
  subscribers_ = std::move(next);
  return id;
}

bool EventBus::Unsubscribe(uint64_t id) {
  std::shared_ptr<const SubscriberList> doomed;  // destroyed after the lock is released
  absl::MutexLock lock(&mu_);
  for (auto it = subscribers_->begin(); it != subscribers_->end(); ++it) {
    if (it->id != id) continue;
    std::shared_ptr<const SubscriberList> next = CopyWithout(*subscribers_, it);
    if (next->empty()) state_.fetch_and(~kSubscribedBit, std::memory_order_acq_rel);
    doomed = std::exchange(subscribers_, std::move(next));
    return true;
  }
  return false;
}

std::unique_ptr<EventBus::QueuedEvent> EventBus::Build(absl::FunctionRef<ChangeEvent()> make) {
  // The event is built in place (aggregate initialization; the hook starts
  // unlinked).
  return std::unique_ptr<QueuedEvent>(new QueuedEvent{make(), {}});
}

uint64_t EventBus::CommitSubscribed(std::unique_ptr<QueuedEvent> node,
                                    absl::FunctionRef<ChangeEvent()> make) noexcept {
  absl::MutexLock lock(&mu_);
  // The last subscriber may have left while this thread waited for mu_ (the
  // node, if any, is then dropped).
  const bool subscribed = !subscribers_->empty();
  if (subscribed && node == nullptr) {
    // A subscriber registered after Prepare: build the event now.
    try {
      node = Build(make);
    } catch (...) {
      std::fputs(
          "userstore: out of memory building the event of a committed change; the change feed "
          "cannot leave it out\n",
          stderr);
      std::abort();
    }
  }
  const uint64_t sequence =
      (state_.fetch_add(kSequenceOne, std::memory_order_acq_rel) >> kSequenceShift) + 1;
  if (subscribed) {
    node->event.sequence = sequence;
    Enqueue(std::move(node));
  }
  return sequence;
}

uint64_t EventBus::Publish(absl::FunctionRef<ChangeEvent()> make) {
  return Commit(Prepare(make), make);
}

uint64_t EventBus::Publish(absl::FunctionRef<ChangeEvent()> make, EncodeFn encode) {
  return Commit(PrepareEncodable(make), make, encode);
}

// --- the journal ---------------------------------------------------------------------

namespace {
// Room this thread took with ReserveJournal ahead of a change, not yet used.
struct PreReserved {
  const EventBus* bus = nullptr;
  int records = 0;
};
thread_local PreReserved tls_pre_reserved;
}  // namespace

EventBus::JournalReservation EventBus::ReserveJournal(int records) {
  if (journal_ == nullptr) return JournalReservation(nullptr);
  absl::Status status = journal_->Reserve(records);
  if (!status.ok()) throw JournalUnavailable(std::move(status));
  if (tls_pre_reserved.bus != this) tls_pre_reserved = {this, 0};
  tls_pre_reserved.records += records;
  return JournalReservation(this);
}

EventBus::JournalReservation::~JournalReservation() {
  if (bus_ == nullptr || tls_pre_reserved.bus != bus_) return;
  if (tls_pre_reserved.records > 0) bus_->journal_->Unreserve(tls_pre_reserved.records);
  tls_pre_reserved.records = 0;
}

void EventBus::TakeJournalRoom() {
  if (tls_pre_reserved.bus == this && tls_pre_reserved.records > 0) {
    --tls_pre_reserved.records;
    return;
  }
  absl::Status status = journal_->Reserve(1);
  if (!status.ok()) throw JournalUnavailable(std::move(status));
}

void EventBus::UnreserveJournal() {
  if (journal_ != nullptr) journal_->Unreserve(1);
}

EventBus::PreparedEvent EventBus::PrepareJournaled(absl::FunctionRef<ChangeEvent()> make,
                                                   bool encode_now) {
  PreparedEvent prepared;
  // What allocates first: a failure there reserves nothing.
  if (encode_now || (state_.load(std::memory_order_acquire) & kSubscribedBit) != 0) {
    prepared.node_ = Build(make);
  }
  if (encode_now) {
    prepared.encoded_ = std::make_unique<std::string>();
    absl::Status encoded = EncodeChangeEvent(prepared.node_->event, prepared.encoded_.get());
    if (!encoded.ok()) throw JournalUnavailable(std::move(encoded));
  }
  TakeJournalRoom();
  prepared.bus_ = this;
  return prepared;
}

uint64_t EventBus::CommitJournaled(PreparedEvent prepared, absl::FunctionRef<ChangeEvent()> make,
                                   const EncodeFn* encode) noexcept {
  // The encoding leaves the node before the numbering hands the node to the
  // queue (from where another thread may deliver and free it).
  std::unique_ptr<std::string> encoded = std::move(prepared.encoded_);
  std::unique_ptr<QueuedEvent> node = std::move(prepared.node_);
  prepared.bus_ = nullptr;  // Append uses the reservation
  return journal_->Append([&]() { return Number(std::move(node), make); },
                          [&](uint64_t sequence, char* out) -> char* {
                            if (encoded == nullptr) return (*encode)(sequence, out);
                            std::memcpy(out, encoded->data(), encoded->size());
                            PatchEventSequence(out, sequence);
                            return out + encoded->size();
                          });
}

void EventBus::Enqueue(std::unique_ptr<QueuedEvent> node) {
  // The queue owns the node from here (Deliver and the destructor free it).
  queue_.push_back(*node.release());
  ++queue_size_;
  queued_.store(queue_size_, std::memory_order_release);
}

void EventBus::Deliver() noexcept {
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
  while (!queue_.empty()) {
    // Unlinked, the node is this frame's: freed below, once delivered.
    std::unique_ptr<QueuedEvent> node(&queue_.front());
    queue_.pop_front();
    --queue_size_;
    queued_.store(queue_size_, std::memory_order_release);
    std::shared_ptr<const SubscriberList> targets = subscribers_;
    mu_.Unlock();
    const ChangeEvent& event = node->event;
    for (const Subscriber& sub : *targets) {
      if (sub.first_sequence > event.sequence) continue;
      try {
        (*sub.fn)(event);
      } catch (...) {
        (void)ReportThrown("change listener threw on event ", event.sequence);
      }
    }
    // Drop our references before taking the lock again, so that a listener
    // unsubscribed meanwhile is destroyed without the lock held.
    targets.reset();
    node.reset();
    mu_.Lock();
  }
  draining_ = false;
  mu_.Unlock();
}

uint64_t EventBus::last_sequence() const {
  return state_.load(std::memory_order_acquire) >> kSequenceShift;
}

void EventBus::ReportError(const absl::Status& status) noexcept {
  if (!on_error_) return;
  // The error sink is embedder code too: nothing it throws may escape into the
  // store (or leave `draining_` set forever).
  try {
    on_error_(status);
  } catch (...) {
  }
}

absl::Status EventBus::ReportThrown(absl::string_view what, absl::string_view after) noexcept {
  // Everything that allocates is inside the try: this runs in catch blocks of
  // Deliver, which throws nothing.
  absl::Status failure;
  try {
    failure =
        MakeError(ErrorCode::kInternal, absl::StrCat(what, after, ": ", CurrentExceptionText()));
  } catch (...) {
    // Out of memory for the message: the error without it (a status with no
    // message allocates nothing).
    failure = absl::Status(absl::StatusCode::kInternal, "");
  }
  ReportError(failure);
  return failure;
}

absl::Status EventBus::ReportThrown(absl::string_view what, uint64_t sequence) noexcept {
  // AlphaNum formats on the stack.
  return ReportThrown(what, absl::AlphaNum(sequence).Piece());
}

}  // namespace internal
}  // namespace userstore
