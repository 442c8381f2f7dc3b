// -----------------------------------------------------------------------------
// File: userstore/user_store.h
// -----------------------------------------------------------------------------
//
// `UserStore` is the engine: one Twilio account held in memory, with its
// services, roles and users, and every rule of Twilio's User resource
// (SEMANTICS.md sections 1-3, 5-7). The REST dispatcher (rest.h) is a thin
// adapter over this class; anything it can do, C++ can do directly.
//
// Addressing. Calls take the service SID (`IS...`) and, for a user, a `user`
// string that is either a user SID or an identity: a string matching
// `^US[0-9a-fA-F]{32}$` is a SID (SIDs are generated lower-case, so one with an
// upper-case hex digit names no user), anything else is an identity.
//
// Errors. Every call returns `absl::Status` / `absl::StatusOr`; the Twilio code
// is `ErrorCodeOf(status)` (status.h). Common to every call that names them:
//   - unknown or malformed service SID: 404/20404
//     "The requested resource /Services/{service_sid} was not found";
//   - unknown user: 404/20404
//     "The requested resource /Services/{service_sid}/Users/{user} was not found";
//   - any text parameter that is not valid UTF-8 or holds a NUL: 400/20001
//     (attributes: 400/50304).
// A failed call changes nothing (no partial writes).
//
// Out of memory. A user create, update, delete, presence change or channel
// join/leave that runs out of memory throws std::bad_alloc having changed
// nothing, published no feed event and run no hook: everything a user write
// allocates, its event and its hooks' copy included, comes before the
// change. The one exception is the copy a copying form returns, built after
// the change (the zero-copy forms build none): when that runs out of memory
// the change stays, and its event is delivered and its hooks run before the
// exception reaches the caller. docs/reliability.md has the rest.
//
// Thread safety. Every method may be called from any number of threads at
// once, with no outside locking, and is linearizable. A fetch by user SID or
// by identity takes only the reader lock of one shard of the user tables;
// other reads take reader locks, so readers never wait for each other. Results are copies: nothing
// returned points into the store. The two zero-copy reads, ReadUser() and
// VisitUsers(), instead run a callback under the reader lock with views into
// the store; they are the fastest way to read (no allocation per user).
// CreateUser() and UpdateUser() have zero-copy forms too, which hand the new
// state to a callback under the service's writer lock.
//
// Example:
//   userstore::UserStore store;
//   auto service = store.CreateService({.friendly_name = "game"});
//   userstore::CreateUserRequest req;
//   req.identity = "alice";
//   req.attributes = R"({"level": 3})";
//   absl::StatusOr<userstore::User> alice = store.CreateUser(service->sid, req);
//   if (!alice.ok()) { /* ErrorCodeOf(alice.status()) == 50201, ... */ }
//   auto again = store.GetUser(service->sid, "alice");   // by identity
//   auto page = store.ListUsers(service->sid, {.page_size = 10});

#ifndef USERSTORE_USER_STORE_H_
#define USERSTORE_USER_STORE_H_

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"

#include "userstore/events.h"
#include "userstore/options.h"
#include "userstore/resources.h"
#include "userstore/status.h"

namespace userstore {

class WriteGate;   // replication.h
class JournalTap;  // replication.h

namespace internal {
class StoreImpl;
class DurableStore;
}  // namespace internal

class UserStore {
 public:
  // Builds a store: the account SID (given or generated), and the default
  // conversation service (addressed by `/v1/Users`) with its four roles.
  explicit UserStore(const StoreOptions& options = StoreOptions());
  ~UserStore();
  UserStore(const UserStore&) = delete;
  UserStore& operator=(const UserStore&) = delete;

  // UserStore::init_status()
  //
  // OK, or why an option was refused (then a safe default was used instead).
  absl::Status init_status() const;

  // UserStore::account_sid()
  const std::string& account_sid() const;

  // UserStore::default_conversation_service_sid()
  //
  // The service `/v1/Users` addresses. It exists for the store's whole life:
  // deleting it is 400/20001.
  const std::string& default_conversation_service_sid() const;

  // ---------------------------------------------------------------------------
  // Users
  // ---------------------------------------------------------------------------

  // UserStore::CreateUser()
  //
  // Creates a user in `service_sid` and returns it. Errors (also the common
  // ones above):
  //   identity missing 400/20001; empty 400/50204; longer than
  //   max_identity_length code points 400/50207; matching the user SID pattern
  //   400/50206; already in the service 409/50201;
  //   friendly_name longer than max_friendly_name_length 400/50003;
  //   attributes not JSON 400/50304; too large or too deep 400/50303;
  //   role_sid malformed 400/20001; unknown 400/50100; a channel role 400/50105.
  // Fires `onUserAdded` when `request.webhooks_enabled`. Publishes a feed event.
  // Complexity: O(log n) in the users of the service, plus attribute length.
  absl::StatusOr<User> CreateUser(absl::string_view service_sid, const CreateUserRequest& request);

  // UserStore::CreateUser() reporting a view
  //
  // Zero-copy create: creates the user exactly as the call above does (same
  // checks, errors, hooks and feed event) and, instead of returning a copy,
  // calls `created` once with a view of the new user (as stored, which is
  // what a fetch would show), then returns OK. On an error `created` is not
  // called and nothing changes. For a caller that needs only part of the new
  // user (its SID, say) this saves the copy's allocations. The request is a
  // view (resources.h): its texts are read during the call only, so a caller
  // need not build strings for them; a CreateUserRequest converts to it.
  //
  // `created` runs on the calling thread while the store holds the service's
  // writer lock: writers to that service and lists of it wait for it. It must
  // be short, must not call into this store, and must not keep the view's
  // string_views past its return. The user is created before `created` runs:
  // if `created` throws, the user stays, its feed event and `onUserAdded`
  // hooks still go out, and then the exception propagates to the caller.
  // Complexity: as above, plus `created`.
  //
  // Example:
  //   std::string sid;
  //   absl::Status s = store.CreateUser(service_sid, req,
  //       [&](const userstore::UserView& u) { sid = std::string(u.sid); });
  absl::Status CreateUser(absl::string_view service_sid, const CreateUserRequestView& request,
                          absl::FunctionRef<void(const UserView&)> created);

  // UserStore::GetUser()
  //
  // Fetches a user by SID or identity. Presence follows the reachability rule.
  // Errors: the common ones. Complexity: O(1) expected.
  absl::StatusOr<User> GetUser(absl::string_view service_sid, absl::string_view user) const;

  // UserStore::ReadUser()
  //
  // Zero-copy fetch: finds the user as GetUser() does and calls `reader` once
  // with a view of it (presence as fetch shows it), then returns OK. Nothing
  // is allocated. On an error (the same as GetUser's) `reader` is not called.
  //
  // `reader` runs on the calling thread while the store holds a reader lock
  // (see "Thread safety" above): it must be short, must not call into this
  // store (not even to read: a reader lock taken again behind a waiting writer
  // deadlocks), and must not keep the view's string_views past its return.
  // Whatever `reader` throws propagates to the caller; the lock is released.
  // Complexity: O(1) expected, plus `reader`.
  //
  // Example:
  //   std::string level;
  //   absl::Status s = store.ReadUser(service_sid, "alice",
  //       [&](const userstore::UserView& u) { level = std::string(u.attributes); });
  absl::Status ReadUser(absl::string_view service_sid, absl::string_view user,
                        absl::FunctionRef<void(const UserView&)> reader) const;

  // UserStore::ReadUsers()
  //
  // Batched zero-copy fetch: for each `users[i]` (a user SID or an identity,
  // as ReadUser takes) that names a user of `service_sid`, calls
  // `reader(i, view)` once, in increasing i, with the view ReadUser would
  // give; an entry that names no user of the service, or that is not valid
  // text, is skipped (ReadUser gives its exact error). Returns OK, or the
  // service's error (400/20001 for invalid text, 404/20404 for an unknown or
  // malformed SID), with `reader` never called. Nothing is allocated.
  //
  // For fetching many users at once (a match's players, a room's members):
  // the users are looked up in groups of 16, and a group's table slots and
  // records are asked of memory together, so that in a store larger than the
  // CPU caches their cache misses overlap instead of following each other
  // (docs/performance.md has the measured difference against ReadUser).
  //
  // Consistency: the whole call sees one state of the service (it holds the
  // store's and the service's reader locks throughout, so no write to the
  // service is in between). `reader` runs under them, with the rules of
  // ReadUser's: short, no call into this store, no view kept past its
  // return; what it throws propagates, the locks released. Writes to this
  // service wait for the whole call, and so does creating or deleting a
  // service (and, while one waits, calls that need the store's lock queue
  // behind it, as they do behind a long VisitUsers); a group's lookups also
  // hold the reader locks of the table shards they touch for a moment.
  // Keep a call to a bounded number of users (thousands, not millions).
  // Complexity: O(users.size()) expected, plus `reader`.
  //
  // Example:
  //   std::vector<absl::string_view> ids = {"alice", "bob", "US0123..."};
  //   absl::Status s = store.ReadUsers(service_sid, ids,
  //       [&](size_t i, const userstore::UserView& u) { Seat(i, u.identity); });
  absl::Status ReadUsers(absl::string_view service_sid, absl::Span<const absl::string_view> users,
                         absl::FunctionRef<void(size_t, const UserView&)> reader) const;

  // UserStore::UpdateUser()
  //
  // Applies the supplied fields, validated as for create; `identity` supplied
  // is 400/20001. When webhooks are enabled, `onUserUpdate` hooks run first
  // with the proposed user; a veto is 403/50056 and nothing changes (the
  // update is validated again when it commits). `date_updated` moves only when
  // a field changes. Returns the whole updated user. Complexity: O(1) expected
  // plus attribute length.
  absl::StatusOr<User> UpdateUser(absl::string_view service_sid, absl::string_view user,
                                  const UpdateUserRequest& request);

  // UserStore::UpdateUser() reporting a view
  //
  // Zero-copy update: updates the user exactly as the call above does and,
  // instead of returning a copy, calls `updated` once with a view of the
  // user as that call would return it (presence by the reachability rule),
  // then returns OK. On an error (a veto included) `updated` is not called.
  // `updated` runs under the service's writer lock, with the same rules and
  // the same handling of exceptions as the zero-copy CreateUser(): the update
  // is committed before it runs. The request is a view, as for that call; an
  // UpdateUserRequest converts to it.
  absl::Status UpdateUser(absl::string_view service_sid, absl::string_view user,
                          const UpdateUserRequestView& request,
                          absl::FunctionRef<void(const UserView&)> updated);

  // UserStore::DeleteUser()
  //
  // Removes the user. Errors: the common ones. Complexity: O(log n).
  absl::Status DeleteUser(absl::string_view service_sid, absl::string_view user);

  // UserStore::GetOrCreateUser()
  //
  // Twilio's "first time an identity is encountered" rule, as one atomic call:
  // returns the user with `request.identity`, creating it from `request` if the
  // service has none. Never fails because the identity exists; many threads
  // asking for the same new identity get one user. When the user exists, the
  // other fields of `request` are ignored (not validated, not applied).
  absl::StatusOr<GetOrCreateResult> GetOrCreateUser(absl::string_view service_sid,
                                                    const CreateUserRequest& request);

  // UserStore::ListUsers()
  //
  // One page of the service's users, oldest first. Presence is null in every
  // listed user (SEMANTICS 2). Errors: page_size < 1 400/20001; a token that
  // does not decode, or belongs to another service, surface or collection
  // 400/20001. Complexity: O(page size + log n) wherever the page starts.
  absl::StatusOr<UserPage> ListUsers(absl::string_view service_sid,
                                     const ListRequest& request) const;

  // UserStore::VisitUsers()
  //
  // Zero-copy list: the page ListUsers() would return for `request`, handed
  // to `visitor` one user at a time, oldest first (presence null, as in
  // lists); returns the page's size and tokens. Errors: those of ListUsers(),
  // before any call to `visitor`. `visitor` runs under the service's reader
  // lock, with the rules of ReadUser(). Complexity: O(page size + log n),
  // plus `visitor`, with no allocation per user.
  absl::StatusOr<PageInfo> VisitUsers(absl::string_view service_sid, const ListRequest& request,
                                      absl::FunctionRef<void(const UserView&)> visitor) const;

  // UserStore::CountUsers()
  //
  // Users in the service. Errors: the common ones. O(1).
  absl::StatusOr<int64_t> CountUsers(absl::string_view service_sid) const;

  // UserStore::SetPresence()
  //
  // Stores the user's online / notifiable state (what an SDK connection would
  // report). What fetch shows still depends on the service's reachability
  // flag. Moves `date_updated` when a value changes; fires `onUserUpdated`
  // when webhooks are enabled (Twilio: reachability changes fire the
  // post-event only). Returns the user as fetch would show it.
  absl::StatusOr<User> SetPresence(absl::string_view service_sid, absl::string_view user,
                                   const PresenceUpdate& update);

  // UserStore::JoinChannel() / LeaveChannel()
  //
  // Membership bookkeeping: adds or removes one joined channel, atomically.
  // Join beyond `max_user_channels`: 403/50208. Leave at 0: 400/20001 (the
  // count never goes below 0). Moves `date_updated`. Returns the user.
  absl::StatusOr<User> JoinChannel(absl::string_view service_sid, absl::string_view user);
  absl::StatusOr<User> LeaveChannel(absl::string_view service_sid, absl::string_view user);

  // ---------------------------------------------------------------------------
  // Services (SEMANTICS 6)
  // ---------------------------------------------------------------------------

  // UserStore::CreateService()
  //
  // Creates a service with its four default roles. friendly_name missing
  // 400/20001; longer than max_service_name_length 400/50003. O(1) expected.
  absl::StatusOr<Service> CreateService(const CreateServiceRequest& request);

  // UserStore::GetService()
  absl::StatusOr<Service> GetService(absl::string_view service_sid) const;

  // UserStore::UpdateService()
  //
  // Friendly name, reachability flag, default service role (see
  // UpdateServiceRequest). `date_updated` moves when a field changes.
  absl::StatusOr<Service> UpdateService(absl::string_view service_sid,
                                        const UpdateServiceRequest& request);

  // UserStore::DeleteService()
  //
  // Deletes the service with its roles and users. The default conversation
  // service cannot be deleted (400/20001). O(users of the service).
  absl::Status DeleteService(absl::string_view service_sid);

  // UserStore::ListServices()
  //
  // The account's services, oldest first, paged as ListUsers.
  absl::StatusOr<ServicePage> ListServices(const ListRequest& request) const;

  // ---------------------------------------------------------------------------
  // Roles (SEMANTICS 6)
  // ---------------------------------------------------------------------------

  // UserStore::CreateRole()
  //
  // friendly_name, type or permissions missing 400/20001; type not
  // "deployment"/"channel" 400/20001; name too long 400/50003.
  absl::StatusOr<Role> CreateRole(absl::string_view service_sid, const CreateRoleRequest& request);

  // UserStore::GetRole()
  //
  // Unknown role: 404/20404 "/Services/{IS}/Roles/{RL}".
  absl::StatusOr<Role> GetRole(absl::string_view service_sid, absl::string_view role_sid) const;

  // UserStore::DeleteRole()
  //
  // A role still assigned to a user, or one of the service's defaults:
  // 409/20409 "Role is in use". O(1) (assignment counts are kept per role).
  absl::Status DeleteRole(absl::string_view service_sid, absl::string_view role_sid);

  // UserStore::ListRoles()
  absl::StatusOr<RolePage> ListRoles(absl::string_view service_sid,
                                     const ListRequest& request) const;

  // ---------------------------------------------------------------------------
  // Hooks and the change feed (events.h)
  // ---------------------------------------------------------------------------

  // UserStore::AddHook()
  //
  // Registers `hook` for `type`; returns an id for RemoveHook. Hooks of one
  // type run in registration order. Thread-safe; a hook added while a call is
  // in flight may or may not see that call.
  uint64_t AddHook(HookType type, UserHook hook);

  // UserStore::RemoveHook()
  //
  // Unregisters; returns false for an unknown id. After it returns the hook
  // is not started again (a run already started may still be finishing).
  bool RemoveHook(uint64_t hook_id);

  // UserStore::Subscribe()
  //
  // Delivers every change committed after this call to `listener`, in
  // sequence order. Returns an id for Unsubscribe. Changes committed before
  // are not replayed; use SubscribeWithSnapshot() to get them.
  uint64_t Subscribe(ChangeListener listener);

  // UserStore::SnapshotData
  //
  // The whole state at one instant as create events: each service (the
  // default conversation service first, flagged), then its roles, then its
  // users in creation order. Snapshot events carry `sequence = 0`; `sequence`
  // is the feed position the snapshot corresponds to.
  struct SnapshotData {
    uint64_t sequence = 0;
    std::vector<ChangeEvent> events;
  };

  // UserStore::Snapshot()
  //
  // The current state (see SnapshotData). Consistent at one instant: it holds
  // every change with sequence <= `sequence` and none after. O(n), during
  // which writes and lists wait; fetches by SID or identity do not (one that
  // finds no user builds its 404 under the store lock, and waits).
  SnapshotData Snapshot() const;

  // UserStore::SubscribeWithSnapshot()
  //
  // Atomically takes a snapshot and subscribes, so that the snapshot followed
  // by the delivered events is exactly the store's history, with no gap and
  // no overlap. This is how a replica or a persistence layer starts.
  //
  // Example (a replica):
  //   StoreOptions ro;
  //   ro.account_sid = source.account_sid();
  //   ro.create_default_service = false;
  //   UserStore replica(ro);
  //   auto sub = source.SubscribeWithSnapshot(
  //       [&](const ChangeEvent& e) { (void)replica.Apply(e); });
  //   for (const auto& e : sub.snapshot.events) (void)replica.Apply(e);
  //   // (or apply the snapshot before the first write reaches the source)
  struct Subscription {
    uint64_t id = 0;
    SnapshotData snapshot;
  };
  Subscription SubscribeWithSnapshot(ChangeListener listener);

  // UserStore::Unsubscribe()
  //
  // Stops delivery; returns false for an unknown id.
  bool Unsubscribe(uint64_t subscription_id);

  // UserStore::last_sequence()
  //
  // The sequence number of the last committed change (0 before any). The
  // construction of the store commits the default conversation service and
  // its four roles (sequences 1..5) unless `create_default_service` is false.
  uint64_t last_sequence() const;

  // UserStore::Apply()
  //
  // Applies one feed or snapshot event to this store, as a replica does: SIDs,
  // dates, presence and counts are kept exactly, and users keep the order of
  // their creates. Errors: creating a SID that exists 409/50201 (users) or
  // 400/20001; updating or deleting a missing one 404/20404; a user event for
  // a missing service or role 404/20404; on a durable store, an event
  // larger than its journal records hold (texts beyond this store's limits,
  // from a store with larger ones) 400/20001. A failed Apply changes nothing. A
  // service create flagged `default_conversation_service` makes that service
  // this store's default (meant for stores built with
  // `create_default_service = false`). Applied changes are published on this
  // store's own feed, so replicas can be chained. Hooks do not fire.
  absl::Status Apply(const ChangeEvent& event);

  // UserStore::ApplyEncoded()
  //
  // Applies `events`, each one change event in the v1 event encoding
  // (event_codec.h: what EncodeChangeEvent writes, and a changelog batch's
  // entries hold), in order, each exactly as Apply() applies it decoded: the
  // same state, the same errors, the same events on this store's feed (built
  // only when someone is subscribed), no hooks. Every event is decoded before
  // any is applied: when one does not decode, nothing is applied and the
  // answer is 400/20001 "event <i>: <what DecodeChangeEvent says>". Then the
  // events are applied until one does not apply, whose error (Apply's) is the
  // answer; the events before it stay applied. `*applied` (when not null) is
  // set to the number applied. A durable store journals a user event as the
  // bytes it came in (with this store's sequence), and refuses with 400/20001
  // one longer than its journal records can hold (texts past this store's
  // limits); a full or failed journal answers 503/20503 with the events
  // before it applied. Not through the write gate, like Apply.
  //
  // Why bytes: a replica that receives encoded events (a changelog follower)
  // applies user events from views of them, with no ChangeEvent, no copy of
  // their texts and no re-encoding, and a run of consecutive user events
  // under one acquisition of the store's locks (up to 64 at a time: a list of
  // their service waits for the run). Other events go through Apply.
  //
  // Thread-safe (concurrent writers interleave between runs). O(size of the
  // events) to decode, then each event's Apply cost.
  absl::Status ApplyEncoded(absl::Span<const absl::string_view> events, size_t* applied = nullptr);

  // ---------------------------------------------------------------------------
  // Replication (replication.h, changelog.h, docs/scaling.md)
  // ---------------------------------------------------------------------------

  // UserStore::SetWriteGate()
  //
  // Sets the gate every write passes (replication.h: before it changes
  // anything, and after it succeeded), or none with nullptr. Every method
  // that may write passes it, GetOrCreateUser included (even when the user
  // exists); `Apply` and reads (ReadUsers' batches included) do not. The
  // gate is not owned and must outlive the store or be unset first; set it
  // before other threads write (a write in flight may still see the previous
  // gate). Costs one atomic load per write.
  void SetWriteGate(WriteGate* gate);

  // UserStore::SetJournalTap()
  //
  // Sets the tap that receives every event this durable store journals from
  // now on, encoded (replication.h), or none with nullptr. Returns the
  // sequence of the last event journaled before the tap took effect: the tap
  // receives exactly the events after it. Errors: 400/20001 on an in-memory
  // store (nothing is journaled). The tap is not owned: unset it before it is
  // destroyed; once this returns with nullptr, no call to the old tap is under
  // way or will come. Thread-safe; O(1). Costs one predictable branch per
  // write while no tap is set.
  absl::StatusOr<uint64_t> SetJournalTap(JournalTap* tap);

  // UserStore::sid_draws()
  //
  // How many SIDs this store's generator has drawn since it was created
  // (recovered stores included). Lock-free; O(1).
  uint64_t sid_draws() const;

  // UserStore::AdvanceSidDraws()
  //
  // Steps the SID generator until it has drawn `draws` (nothing when it has
  // drawn that many already): a promoted follower takes over its leader's
  // generator this way and never hands out a SID the leader handed out (two
  // stores built with the same seed hand out the same SIDs after the same
  // number of draws).
  //
  // On a durable store an advance also takes a checkpoint (Checkpoint()),
  // which records the new count: the journal's records carry the count, and
  // recovery takes a jump of more than a few draws between two records for
  // damage. Its error is the answer (the generator has advanced in memory
  // all the same); until a later checkpoint succeeds, a write journaled
  // after the advance would make the next open refuse the journal, so a
  // caller that gets an error must not let the store take writes (keep its
  // write gate refusing) and should retry. Always OK in memory.
  //
  // Thread-safe. O(draws - sid_draws()), plus the checkpoint's O(n) on a
  // durable store when it advanced. `draws` comes from a trusted leader: it
  // is not bounded here.
  absl::Status AdvanceSidDraws(uint64_t draws);

  // UserStore::CheckInvariants()
  //
  // Walks every index and checks what design.md promises (SID table, identity
  // index and creation-order index agree; role counts match). O(n). For tests
  // and fuzzers; returns the first violation found.
  absl::Status CheckInvariants() const;

  // ---------------------------------------------------------------------------
  // Durability (durable.h: a store opened on a directory by OpenUserStore)
  // ---------------------------------------------------------------------------

  // UserStore::durable()
  //
  // True for a store from OpenUserStore; false for one built in memory.
  bool durable() const { return durable_ != nullptr; }

  // UserStore::Checkpoint()
  //
  // Writes a checkpoint of the whole state now and waits for it to be
  // durable; the journal it covers is then removed. Writers are paused only
  // for a moment (docs/durability.md). Errors: 400/20001 on an in-memory
  // store; the file system's failure (env.h), with nothing lost (the journal
  // is kept), or a kResourceExhausted status when memory ran out, at any
  // step, or in a writer saving the image of a user it changed during a
  // concurrent checkpoint (the journal is kept; writes were not affected).
  // A failed checkpoint leaves no temporary file behind, and never throws:
  // an allocation that fails is this error. Thread-safe; concurrent calls
  // take turns. O(n).
  absl::Status Checkpoint();

  // UserStore::Sync()
  //
  // Makes every write acknowledged so far durable (what kBackgroundSync's
  // thread does every interval). Errors: 400/20001 on an in-memory store;
  // 503/20503 when the sync fails (the store then refuses writes).
  absl::Status Sync();

  // UserStore::DurabilityStats
  struct DurabilityStats {
    uint64_t journal_bytes = 0;         // appended since the store was opened
    uint64_t journal_synced_bytes = 0;  // of those, durable
    uint64_t syncs = 0;                 // syncs of the journal
    uint64_t checkpoints = 0;           // written since the store was opened
    uint64_t last_checkpoint_sequence = 0;
    std::string last_checkpoint_error;  // empty when the last one succeeded
    std::string journal_error;          // why writes are refused; empty when they are not
  };
  // UserStore::directory()
  //
  // A durable store's directory, as given to OpenUserStore; "" for a store
  // in memory.
  std::string directory() const;

  // UserStore::ReadLatestCheckpoint()
  //
  // The bytes of this durable store's newest checkpoint file (the format of
  // docs/file-format.md) and the sequence it holds: what a changelog leader
  // stores for its followers to bootstrap from (changelog.h). No checkpoint
  // is removed while it is read. Errors: 400/20001 on an in-memory store;
  // the file system's. Thread-safe; O(checkpoint size).
  absl::Status ReadLatestCheckpoint(uint64_t* sequence, std::string* bytes) const;

  // UserStore::durability_stats()
  //
  // A durable store's counters (all zero for an in-memory store).
  DurabilityStats durability_stats() const;

 private:
  friend class internal::DurableStore;
  explicit UserStore(std::unique_ptr<internal::StoreImpl> impl);

  // Runs a write through the write gate (when one is set), then WriteLocal.
  template <typename Result, typename Fn>
  Result Write(Fn&& fn);
  // Runs a write without the gate (Apply's path); on a durable store turns a
  // full or failed journal into its status and, for kSyncEachWrite, waits
  // for the write to be durable.
  template <typename Result, typename Fn>
  Result WriteLocal(Fn&& fn);

  std::unique_ptr<internal::StoreImpl> impl_;
  // SetWriteGate's gate, or nullptr; not owned.
  std::atomic<WriteGate*> gate_{nullptr};
  // Declared after impl_, so destroyed first: it refers to the engine.
  std::unique_ptr<internal::DurableStore> durable_;
};

}  // namespace userstore

#endif  // USERSTORE_USER_STORE_H_
