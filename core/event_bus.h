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
// Out of memory. A change's event is built, and its queue node allocated,
// by `Prepare` before the change is made, so a change that ran out of memory
// publishes nothing and takes no number; `Commit`, called once the change is
// in, numbers and queues it without allocating. `Deliver` and the post-event
// `RunHooks` allocate nothing either (the subscriber and hook lists are
// immutable vectors swapped whole, shared by pointer), so nothing after a
// change's commit can throw std::bad_alloc into the caller of a write that
// succeeded. `Publish` is the two at once: for deletes, published before
// they free anything, and for the writes that still build their event after
// the change (see its comment).
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
#include <exception>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include <boost/intrusive/slist.hpp>

#include "userstore/events.h"

namespace userstore {
namespace internal {

class Journal;

// Thrown (by Prepare, Publish and ReserveJournal) when a durable store's
// journal cannot take a change's record: before the change, so nothing has
// changed. `UserStore` turns it into the status it carries (503/20503).
class JournalUnavailable : public std::exception {
 public:
  explicit JournalUnavailable(absl::Status status) : status_(std::move(status)) {}
  const char* what() const noexcept override { return "journal unavailable"; }
  const absl::Status& status() const { return status_; }

 private:
  absl::Status status_;
};

class EventBus {
 public:
  // `on_error` receives contained exceptions and non-OK post-hook results; may
  // be empty.
  explicit EventBus(std::function<void(const absl::Status&)> on_error);
  ~EventBus();  // frees what is still queued

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

 private:
  // A node of the queue, allocated by Prepare. Owned by its PreparedEvent
  // until Commit links it into `queue_`; from then on by the queue, which
  // Deliver unlinks it from (and frees it once delivered) and the destructor
  // frees it from. The link is a member hook (normal_link: linking and
  // unlinking write only the links, and allocate nothing).
  struct QueuedEvent {
    ChangeEvent event;
    boost::intrusive::slist_member_hook<boost::intrusive::link_mode<boost::intrusive::normal_link>>
        link;
  };
  // The queue: oldest first, pushed at the back (cache_last), popped at the
  // front. Holds raw links; `EventBus` owns the nodes linked into it.
  using EventQueue = boost::intrusive::slist<
      QueuedEvent,
      boost::intrusive::member_hook<QueuedEvent, decltype(QueuedEvent::link), &QueuedEvent::link>,
      boost::intrusive::cache_last<true>, boost::intrusive::linear<true>,
      boost::intrusive::constant_time_size<false>>;

 public:
  // The event of a change about to be made (empty when no one is
  // subscribed and no journal is attached). Move-only; dropping it publishes
  // nothing (a journal reservation it holds is given back).
  class PreparedEvent {
   public:
    PreparedEvent() = default;
    PreparedEvent(PreparedEvent&& other) noexcept
        : node_(std::move(other.node_)), encoded_(std::move(other.encoded_)), bus_(other.bus_) {
      other.bus_ = nullptr;
    }
    PreparedEvent& operator=(PreparedEvent&& other) noexcept {
      Release();
      node_ = std::move(other.node_);
      encoded_ = std::move(other.encoded_);
      bus_ = other.bus_;
      other.bus_ = nullptr;
      return *this;
    }
    ~PreparedEvent() { Release(); }

   private:
    friend class EventBus;
    void Release() {
      if (bus_ != nullptr) bus_->UnreserveJournal();
      bus_ = nullptr;
    }
    std::unique_ptr<QueuedEvent> node_;
    // Durable stores: the event's encoding, its sequence still 0 (events
    // published through the general path).
    std::unique_ptr<std::string> encoded_;
    // Durable stores: set while this holds a journal reservation.
    EventBus* bus_ = nullptr;
  };

  // Encodes the event of a committed change at `out` with `sequence`
  // (core/durable/event_encoding.h) and returns its end: the fast path of
  // user writes, which encode from the stored record with no allocation.
  using EncodeFn = absl::FunctionRef<char*(uint64_t sequence, char* out)>;

  // Builds the event of a change the caller is about to make, with `make`,
  // when anyone is subscribed; otherwise returns an empty PreparedEvent
  // without calling `make` (no lock, no allocation). Throws what `make`
  // throws (std::bad_alloc); nothing is numbered then. Call it before the
  // change, once the caller knows what the change will be, and pass the
  // result to Commit once the change is in.
  //
  // With a journal attached (a durable store), it also takes room for the
  // change's record in the journal, and throws JournalUnavailable (nothing
  // numbered, nothing reserved) when there is none; and it builds and
  // encodes the event whether or not anyone is subscribed.
  // Inline: without subscribers it is one load (the write paths' cost).
  PreparedEvent Prepare(absl::FunctionRef<ChangeEvent()> make) {
    if (journal_ != nullptr) return PrepareJournaled(make, /*encode_now=*/true);
    PreparedEvent prepared;
    if ((state_.load(std::memory_order_acquire) & kSubscribedBit) != 0) {
      prepared.node_ = Build(make);
    }
    return prepared;
  }

  // Prepare for a change whose Commit will pass an EncodeFn (user writes):
  // with a journal attached it reserves the record's room but builds the
  // event only when someone is subscribed. Otherwise the same as Prepare.
  PreparedEvent PrepareEncodable(absl::FunctionRef<ChangeEvent()> make) {
    if (journal_ != nullptr) return PrepareJournaled(make, /*encode_now=*/false);
    return Prepare(make);
  }

  // Numbers the change and queues `prepared`'s event; returns the sequence
  // number. Does not allocate, and takes no lock when no one is subscribed
  // (one compare-and-swap). One case needs `make`: a subscriber registered
  // between Prepare and Commit (the prepared event is then missing), and
  // `make` builds the event from the committed state; if that runs out of
  // memory the process ends with a message, since a committed change cannot
  // be left out of a subscriber's feed. REQUIRES: the caller holds the store
  // locks that order this change, from before Prepare to after Commit.
  // Inline: without subscribers it is one compare-and-swap, and an event
  // prepared while one was subscribed is dropped (a subscriber added later
  // starts after this change anyway). The swap fails once Subscribe has set
  // the flag, and the change then takes the locked path.
  //
  // With a journal attached, the numbering and the append of the change's
  // record happen together under the journal's mutex (so the journal is in
  // sequence order); the record is the encoding Prepare made, or what
  // `encode` writes (the form with an EncodeFn, after PrepareEncodable).
  uint64_t Commit(PreparedEvent prepared, absl::FunctionRef<ChangeEvent()> make) noexcept {
    if (journal_ != nullptr) return CommitJournaled(std::move(prepared), make, nullptr);
    return Number(std::move(prepared.node_), make);
  }
  uint64_t Commit(PreparedEvent prepared, absl::FunctionRef<ChangeEvent()> make,
                  EncodeFn encode) noexcept {
    if (journal_ != nullptr) return CommitJournaled(std::move(prepared), make, &encode);
    return Number(std::move(prepared.node_), make);
  }

  // Prepare, then Commit at once. Before a change that cannot fail once its
  // event is built (deletes: they only free), it is all a change needs. After
  // the change (service and role creates and updates, replication), building
  // the event may run out of memory: std::bad_alloc then reaches the caller
  // with the change made and not numbered, and its subscribers never see it.
  // With a journal attached, such a caller reserves the journal's room first
  // (ReserveJournal), since Publish after the change must not fail for want
  // of room.
  uint64_t Publish(absl::FunctionRef<ChangeEvent()> make);
  // The same for a user delete, whose record `encode` writes.
  uint64_t Publish(absl::FunctionRef<ChangeEvent()> make, EncodeFn encode);

  // --- the journal (durable stores) ---

  // Attaches the journal every later change is appended to (nullptr
  // detaches). Call while no write is in flight.
  void set_journal(Journal* journal) { journal_ = journal; }
  Journal* journal() const { return journal_; }

  // Room taken ahead of a change that publishes `records` events after it is
  // made; the next `records` Prepares on this thread use it instead of
  // reserving. Held by the returned guard, which gives back what was not
  // used. Throws JournalUnavailable. Without a journal: does nothing.
  class JournalReservation {
   public:
    JournalReservation(JournalReservation&& other) noexcept : bus_(other.bus_) {
      other.bus_ = nullptr;
    }
    JournalReservation(const JournalReservation&) = delete;
    JournalReservation& operator=(const JournalReservation&) = delete;
    ~JournalReservation();

   private:
    friend class EventBus;
    explicit JournalReservation(EventBus* bus) : bus_(bus) {}
    EventBus* bus_;
  };
  JournalReservation ReserveJournal(int records);

  // Delivers queued events, in sequence order, to the subscribers registered
  // before each was published. Call with no store lock held. Takes no lock
  // when nothing is queued (always the case without subscribers). Allocates
  // nothing and throws nothing: what a listener throws is reported.
  void Deliver() noexcept;

  // The last number assigned. Lock-free.
  uint64_t last_sequence() const;

  // Sets the last number assigned (a durable store's recovery, before any
  // subscriber and with no write in flight).
  void ResetSequence(uint64_t sequence) {
    state_.store(
        (sequence << kSequenceShift) | (state_.load(std::memory_order_relaxed) & kSubscribedBit),
        std::memory_order_release);
  }

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
  // The lists, replaced whole on every change (copy, edit, swap under the
  // lock), so a reader takes a reference to the current one without
  // allocating and reads it with no lock held.
  using HookList = std::vector<HookEntry>;
  using SubscriberList = std::vector<Subscriber>;

  // Prepare's allocation: a node holding make()'s event.
  static std::unique_ptr<QueuedEvent> Build(absl::FunctionRef<ChangeEvent()> make);
  // Commit with the subscribed flag seen set: under mu_.
  uint64_t CommitSubscribed(std::unique_ptr<QueuedEvent> node,
                            absl::FunctionRef<ChangeEvent()> make) noexcept;
  // The numbering of Commit (without the journal).
  uint64_t Number(std::unique_ptr<QueuedEvent> node,
                  absl::FunctionRef<ChangeEvent()> make) noexcept {
    uint64_t state = state_.load(std::memory_order_relaxed);
    while ((state & kSubscribedBit) == 0) {
      if (state_.compare_exchange_weak(state, state + kSequenceOne, std::memory_order_acq_rel,
                                       std::memory_order_relaxed)) {
        return (state >> kSequenceShift) + 1;
      }
    }
    return CommitSubscribed(std::move(node), make);
  }
  // The journaled forms of Prepare and Commit (core/durable/journal.h).
  PreparedEvent PrepareJournaled(absl::FunctionRef<ChangeEvent()> make, bool encode_now);
  uint64_t CommitJournaled(PreparedEvent prepared, absl::FunctionRef<ChangeEvent()> make,
                           const EncodeFn* encode) noexcept;
  // Takes one record's room: this thread's ReserveJournal first, else the
  // journal's. Throws JournalUnavailable.
  void TakeJournalRoom();
  // Gives back one record's room (a PreparedEvent dropped uncommitted).
  void UnreserveJournal();

  Journal* journal_ = nullptr;

  // Reports `status` to on_error_; swallows what that throws.
  void ReportError(const absl::Status& status) noexcept;
  // Reports a listener or hook that threw: "{what}{after}: {text of the
  // exception being handled}" (call inside a catch block). Returns the status
  // it reported; when building the message runs out of memory, an internal
  // error without one.
  absl::Status ReportThrown(absl::string_view what, absl::string_view after) noexcept;
  absl::Status ReportThrown(absl::string_view what, uint64_t sequence) noexcept;
  // Appends `node` to the queue, which takes ownership of it (no allocation).
  void Enqueue(std::unique_ptr<QueuedEvent> node) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  std::function<void(const absl::Status&)> on_error_;
  std::atomic<int> hook_counts_[3] = {};

  mutable absl::Mutex hooks_mu_;
  std::shared_ptr<const HookList> hooks_ ABSL_GUARDED_BY(hooks_mu_);
  uint64_t next_hook_id_ ABSL_GUARDED_BY(hooks_mu_) = 1;

  // (last sequence number << kSequenceShift) | kSubscribedBit when anyone is
  // subscribed. The flag changes only under mu_; the number grows by
  // compare-and-swap without mu_ while the flag is clear, else under mu_.
  static constexpr uint64_t kSubscribedBit = 1;
  static constexpr int kSequenceShift = 1;

 public:
  // The largest sequence number the feed can assign (63 bits).
  static constexpr uint64_t kMaxSequence = ~uint64_t{0} >> kSequenceShift;

 private:
  static constexpr uint64_t kSequenceOne = uint64_t{1} << kSequenceShift;
  std::atomic<uint64_t> state_{0};
  mutable absl::Mutex mu_;
  uint64_t next_subscriber_id_ ABSL_GUARDED_BY(mu_) = 1;
  std::shared_ptr<const SubscriberList> subscribers_ ABSL_GUARDED_BY(mu_);
  // The queue: nodes each allocated by Prepare (or Publish), owned by the
  // bus while linked here.
  EventQueue queue_ ABSL_GUARDED_BY(mu_);
  size_t queue_size_ ABSL_GUARDED_BY(mu_) = 0;
  // queue_size_, written under mu_, read without it by Deliver's fast path.
  std::atomic<size_t> queued_{0};
  bool draining_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace internal
}  // namespace userstore

#endif  // USERSTORE_CORE_EVENT_BUS_H_
