// -----------------------------------------------------------------------------
// File: core/store_impl.h
// -----------------------------------------------------------------------------
//
// `StoreImpl` is the engine behind `userstore::UserStore`: services, roles and
// users of one account, every rule of SEMANTICS sections 1-3, 5 and 6, the
// change feed and the hooks (through `EventBus`). `UserStore` forwards to it.
// Its definitions are split by topic: users' create, fetch, update and delete
// and the lookups and index changes under them (store_impl.cc, one file so
// that the compiler inlines the lookups into the hot paths), lists of users
// (store_pages.cc), presence and channel counts (store_presence.cc), records
// as callers see them, views, copies and events (store_views.cc), services
// and roles (store_services.cc), snapshots, Apply and CheckInvariants
// (store_replication.cc); the request checks they share are in store_rules.h.
//
// LAYOUT
//
//   StoreImpl
//     mu_ ─────────── services_             flat_hash_map<Sid128, unique_ptr<ServiceState>>
//                     services_by_position_ std::map<uint64_t, ServiceState*> (ListServices)
//                     default_service_
//     shards_[k].mu ─ shards_[k].table      SidTable: owns every UserRecord whose SID
//                                           falls in shard k (core/user_table.h)
//                     shards_[k].ids        IdentityTable: every record whose
//                                           (service, identity) falls in shard k
//     ids_mu_ ─────── sid_generator_ and its next value, role_sids_ (every live role SID)
//     bus_                                  EventBus: hooks and the change feed
//
//   ServiceState (one per service, never moved, owned by services_)
//     mu ─────────── friendly_name, reachability, default role SIDs, dates,
//                    roles (by position, owns RoleRecord) + roles_by_sid,
//                    records (RecordArena: the memory of its user records),
//                    by_order (OrderIndex: position -> record),
//                    next_user_position, next_role_position,
//                    checkpoint (a concurrent checkpoint's state for this
//                    service while one walks it: core/store_checkpoint.h)
//
// A user is reachable three ways: from its SID shard's SidTable (the owner),
// from its identity shard's IdentityTable and from its service's
// creation-order index. Its SID shard and identity shard are often different.
// Its service is `record->role()->service` (a user always has a role of its
// own service), which saves a word per record.
//
// INVARIANTS (what holds whenever no lock is held; `CheckInvariants()` walks them)
//
//   (1) A record is in its service's by_order iff it is in the SidTable of
//       shard ShardOf(record.sid) iff it is in the IdentityTable of shard
//       IdentityShardOf(service, identity). The SidTables and the
//       IdentityTables each hold exactly the union of the users of all
//       services. No record is ever moved after it is inserted.
//   (2) by_order maps each record's own position to it; within S, positions
//       along by_order strictly increase and are all below
//       S.next_user_position; positions are never reused, so a page token's
//       anchor keeps its meaning after the user it names is deleted.
//   (3) record.role() is a deployment role of the record's own service, and for
//       every role R: R.user_count == |{users u : u.role() == R}|. Hence a role
//       with user_count == 0 has no referrer and may be deleted (unless it is
//       one of the service's three default roles).
//   (4) Identities are unique within a service (byte-exact, so case-sensitive);
//       user SIDs are unique within the store (shards partition them); role
//       SIDs are unique within the store (role_sids_ mirrors all roles).
//   (5) 0 <= joined_channels_count <= max_user_channels for locally made
//       changes; dates are whole seconds and date_updated >= date_created.
//   (6) Every committed mutation has been published on the bus exactly once,
//       in an order consistent with the locks that ordered it.
//
// LOCKING
//
// Lock order (acquire left to right, never the reverse):
//
//     mu_  ->  ServiceState::mu  ->  shards_[k].mu  ->  ids_mu_ | Journal -> EventBus
//
// (the Journal's mutex only on a durable store: a write reserves its record's
// room and appends it under it, still holding the locks above; the bus's
// numbering happens inside the append), with at most one service lock and at most two shard locks
// held at a time (a record's SID shard and identity shard, taken in index order). Snapshot(),
// SubscribeWithSnapshot() and CheckInvariants() hold mu_ exclusively and no service or shard lock:
// every mutation holds mu_ at least shared from its first lookup to its publication, so holding it
// exclusively freezes the whole store at one sequence number. (They used to hold every service and
// shard lock shared; that is a lock count proportional to the store, past what ThreadSanitizer's
// deadlock detector can track, 64.) The price: lists and writes wait for a snapshot; fetches by SID
// or identity do not (their fast paths take only a shard lock). ids_mu_ and the bus's mutex are
// leaves: nothing is acquired while they are held, and no callback (hook, listener, clock aside)
// ever runs while any store lock is held.
//
//   * mu_ exclusive: create/delete service, Apply() of a service event,
//     snapshots and CheckInvariants(). Shared:
//     everything else that names a service (it keeps the ServiceState alive).
//   * ServiceState::mu exclusive: every mutation of that service's users or
//     roles, and service updates. Shared: lists, counts, reads that miss the
//     fast path.
//   * shards_[k].mu exclusive: insert/erase in its tables, and every mutation
//     of a record whose SID shard or identity shard is k. Shared: lookup by
//     SID or by identity.
//
// The record rule: a UserRecord is mutated only while its service's mu, its
// SID shard's mu and its identity shard's mu are ALL held exclusively, and
// only after SaveForCheckpoint(svc, record) (a concurrent checkpoint that
// has not written it yet keeps its image as of the checkpoint's instant). A
// reader that holds ANY one of them (shared) therefore sees a stable record.
// This is what lets GetUser take only one shard reader lock:
//
//   fast path  by SID: the SID shard (shared); by identity: the identity
//              shard of (requested service, identity) (shared). Find the
//              record; check that record->role()->service is the requested
//              service and is not being deleted; read it. The role pointer
//              only changes under both shard locks; roles and services
//              outlive every record that refers to them (a role is deleted
//              only at user_count == 0, a service only after all its records
//              left the tables).
//   slow path  anything else (miss, other service): mu_ (shared) -> service
//              mu (shared) -> one shard (shared), which also builds the right
//              404.
//
// `ServiceState::reachability_enabled` and `deleted` are atomics, written
// under the service lock exclusively and read under either lock; the fast
// path reads them while it holds a shard lock, so the (record, flag) pair it
// returns existed at one instant (linearization point: that read).
// DeleteService sets `deleted` before it removes any record, so once one user
// of the service reads as missing, all do.
//
// Linearizability: each call's effect happens at one point inside its
// critical section (the commit, holding the locks that order it), and every
// reader sees a state that existed at one instant. Hooks run with no lock
// held: `onUserUpdate` before the commit (the update is validated again under
// the lock), post-events after it.
//
// Why this order: mu_ only keeps services alive, so user traffic of different
// services never contends (readers share it). The service lock serializes all
// writers of one service, which makes identity uniqueness, role counts,
// creation order and GetOrCreateUser atomic with no further protocol. Shards
// are last because they are touched per record and shared across services;
// readers by SID or identity touch only them, one shard each, so readers on
// many cores do not share a lock's cache line (measured in
// docs/performance.md: identity reads on two threads).

#ifndef USERSTORE_CORE_STORE_IMPL_H_
#define USERSTORE_CORE_STORE_IMPL_H_

#include <atomic>
#include <cstdint>
#include <exception>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/optimization.h"
#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/types/span.h"

#include "userstore/events.h"
#include "userstore/options.h"
#include "userstore/resources.h"
#include "userstore/user_store.h"

#include "core/durable/event_encoding.h"
#include "core/durable/format.h"
#include "core/event_bus.h"
#include "core/page_token.h"
#include "core/record_arena.h"
#include "core/sid.h"
#include "core/store_checkpoint.h"
#include "core/user_table.h"

namespace userstore {
namespace internal {

struct ServiceState;

// RoleRecord
//
// One role. Owned by its service (`ServiceState::roles`); immutable after
// creation except `user_count`, which is guarded by `service->mu`.
struct RoleRecord {
  Sid128 sid;
  std::string sid_text;
  ServiceState* service = nullptr;  // owner; never null
  uint64_t position = 0;            // creation order within the service
  std::string friendly_name;
  RoleType type = RoleType::kDeployment;
  std::vector<std::string> permissions;
  int64_t date_created = 0;
  int64_t date_updated = 0;
  int64_t user_count = 0;  // users holding this role (guarded by service->mu)
};

// ServiceState
//
// One service and the indexes of its users. Never moved (owned through a
// unique_ptr by StoreImpl::services_).
struct ServiceState {
  ServiceState(Sid128 sid_value, uint64_t position_value);

  const Sid128 sid;
  const std::string sid_text;
  const uint64_t position;  // creation order within the store

  // Written under `mu` exclusively; read under `mu` or under a shard lock.
  std::atomic<bool> reachability_enabled{false};
  std::atomic<bool> deleted{false};

  mutable absl::Mutex mu;
  std::string friendly_name ABSL_GUARDED_BY(mu);
  Sid128 default_service_role ABSL_GUARDED_BY(mu);
  Sid128 default_channel_role ABSL_GUARDED_BY(mu);
  Sid128 default_channel_creator_role ABSL_GUARDED_BY(mu);
  int64_t date_created ABSL_GUARDED_BY(mu) = 0;
  int64_t date_updated ABSL_GUARDED_BY(mu) = 0;

  std::map<uint64_t, std::unique_ptr<RoleRecord>> roles ABSL_GUARDED_BY(mu);
  absl::flat_hash_map<Sid128, RoleRecord*> roles_by_sid ABSL_GUARDED_BY(mu);
  uint64_t next_role_position ABSL_GUARDED_BY(mu) = 1;

  // Owns the memory of the service's user records (the SID tables own the
  // records themselves). Declared before the index, so destroyed after.
  RecordArena records ABSL_GUARDED_BY(mu);
  // The concurrent checkpoint walking this service, if any
  // (core/store_checkpoint.h): set and cleared under mu_ exclusively or
  // under this mu exclusively; writers read it under this mu exclusively.
  ServiceCheckpoint* checkpoint ABSL_GUARDED_BY(mu) = nullptr;
  OrderIndex by_order ABSL_GUARDED_BY(mu);
  uint64_t next_user_position ABSL_GUARDED_BY(mu) = 1;
};

// PageAnchors
//
// Where a page's tokens point (Paginate in core/store_rules.h fills them).
struct PageAnchors {
  bool has_next = false;
  bool has_prev = false;
  uint64_t next_anchor = 0;  // forward token: the last item of the page
  uint64_t prev_anchor = 0;  // backward token: the first item of the page
};

// RoleRef
//
// A RoleSid parameter after its syntactic checks.
struct RoleRef {
  bool supplied = false;
  // The value when it is the lower-case form the store generates. Supplied but
  // nullopt: SID-shaped with an upper-case digit, which names no role (50100).
  std::optional<Sid128> sid;
};

// One lock shard of the SID and identity tables, on its own cache lines.
struct alignas(64) SidShard {
  mutable absl::Mutex mu;
  SidTable table ABSL_GUARDED_BY(mu);
  IdentityTable ids ABSL_GUARDED_BY(mu);

  // The record with `sid` in `table`, or with `key` in `ids`; nullptr when
  // none. Every lookup goes through these: they prefetch the table's control
  // bytes and slot together (find() would load the slot only once the
  // control group had arrived; at 10^6 users both are cache misses).
  UserRecord* Find(const Sid128& sid) const ABSL_SHARED_LOCKS_REQUIRED(mu) {
    table.prefetch(sid);
    auto it = table.find(sid);
    return it == table.end() ? nullptr : it->get();
  }
  UserRecord* Find(const HashedIdentityKey& key) const ABSL_SHARED_LOCKS_REQUIRED(mu) {
    ids.prefetch(key);
    auto it = ids.find(key);
    return it == ids.end() ? nullptr : *it;
  }
  // Only asks the CPU for the control bytes and slot a lookup of `sid` or
  // `key` would load, under the reader lock (the table's arrays may move
  // without it); no memory is read, nothing is returned.
  void Prefetch(const Sid128& sid) const ABSL_LOCKS_EXCLUDED(mu) {
    absl::ReaderMutexLock lock(&mu);
    table.prefetch(sid);
  }
  void Prefetch(const HashedIdentityKey& key) const ABSL_LOCKS_EXCLUDED(mu) {
    absl::ReaderMutexLock lock(&mu);
    ids.prefetch(key);
  }
};

// ShardLocks
//
// The exclusive locks a mutation of a record needs besides its service's:
// its SID shard and its identity shard, once when they are the same, taken
// in index order (shards_ is one array, so address order is index order).
class ABSL_SCOPED_LOCKABLE ShardLocks {
 public:
  // (The body locks once when the two are one shard, which the analysis
  // cannot follow; callers see both locks held.)
  ShardLocks(SidShard* sid_shard, SidShard* identity_shard)
      ABSL_EXCLUSIVE_LOCK_FUNCTION(sid_shard->mu, identity_shard->mu) ABSL_NO_THREAD_SAFETY_ANALYSIS
      : first_(sid_shard < identity_shard ? sid_shard : identity_shard),
        second_(sid_shard == identity_shard
                    ? nullptr
                    : (sid_shard < identity_shard ? identity_shard : sid_shard)) {
    first_->mu.Lock();
    if (second_ != nullptr) second_->mu.Lock();
  }
  ~ShardLocks() ABSL_UNLOCK_FUNCTION() ABSL_NO_THREAD_SAFETY_ANALYSIS {
    if (second_ != nullptr) second_->mu.Unlock();
    first_->mu.Unlock();
  }
  ShardLocks(const ShardLocks&) = delete;
  ShardLocks& operator=(const ShardLocks&) = delete;

 private:
  SidShard* const first_;
  SidShard* const second_;
};

// Runs `fn` and returns what it threw (null when nothing), so that a call
// that has committed can finish its own work (release its locks, deliver its
// events, run its hooks) before the caller's exception goes on: the
// callbacks of the zero-copy writes, and the copies the copying forms return
// (built after the commit; out of memory there, the change is made).
template <typename Fn>
std::exception_ptr CallCapturing(Fn&& fn) {
#if defined(__cpp_exceptions)
  try {
    fn();
  } catch (...) {
    return std::current_exception();
  }
#else
  fn();
#endif
  return nullptr;
}

inline void RethrowIfAny(const std::exception_ptr& thrown) {
#if defined(__cpp_exceptions)
  if (thrown) std::rethrow_exception(thrown);
#else
  (void)thrown;
#endif
}

class StoreImpl {
 public:
  explicit StoreImpl(const StoreOptions& options);
  ~StoreImpl();
  StoreImpl(const StoreImpl&) = delete;
  StoreImpl& operator=(const StoreImpl&) = delete;

  absl::Status init_status() const { return init_status_; }
  const std::string& account_sid() const { return account_sid_; }
  const std::string& default_conversation_service_sid() const;

  // Users.
  absl::StatusOr<User> CreateUser(absl::string_view service_sid, const CreateUserRequest& request);
  absl::Status CreateUser(absl::string_view service_sid, const CreateUserRequestView& request,
                          absl::FunctionRef<void(const UserView&)> created);
  absl::StatusOr<User> GetUser(absl::string_view service_sid, absl::string_view user) const;
  absl::Status ReadUser(absl::string_view service_sid, absl::string_view user,
                        absl::FunctionRef<void(const UserView&)> reader) const;
  absl::Status ReadUsers(absl::string_view service_sid, absl::Span<const absl::string_view> users,
                         absl::FunctionRef<void(size_t, const UserView&)> reader) const;
  absl::StatusOr<User> UpdateUser(absl::string_view service_sid, absl::string_view user,
                                  const UpdateUserRequest& request);
  absl::Status UpdateUser(absl::string_view service_sid, absl::string_view user,
                          const UpdateUserRequestView& request,
                          absl::FunctionRef<void(const UserView&)> updated);
  absl::Status DeleteUser(absl::string_view service_sid, absl::string_view user);
  absl::StatusOr<GetOrCreateResult> GetOrCreateUser(absl::string_view service_sid,
                                                    const CreateUserRequest& request);
  absl::StatusOr<UserPage> ListUsers(absl::string_view service_sid,
                                     const ListRequest& request) const;
  absl::StatusOr<PageInfo> VisitUsers(absl::string_view service_sid, const ListRequest& request,
                                      absl::FunctionRef<void(const UserView&)> visitor) const;
  absl::StatusOr<int64_t> CountUsers(absl::string_view service_sid) const;
  absl::StatusOr<User> SetPresence(absl::string_view service_sid, absl::string_view user,
                                   const PresenceUpdate& update);
  absl::StatusOr<User> ChangeChannels(absl::string_view service_sid, absl::string_view user,
                                      int delta);

  // Services.
  absl::StatusOr<Service> CreateService(const CreateServiceRequest& request);
  absl::StatusOr<Service> GetService(absl::string_view service_sid) const;
  absl::StatusOr<Service> UpdateService(absl::string_view service_sid,
                                        const UpdateServiceRequest& request);
  absl::Status DeleteService(absl::string_view service_sid);
  absl::StatusOr<ServicePage> ListServices(const ListRequest& request) const;

  // Roles.
  absl::StatusOr<Role> CreateRole(absl::string_view service_sid, const CreateRoleRequest& request);
  absl::StatusOr<Role> GetRole(absl::string_view service_sid, absl::string_view role_sid) const;
  absl::Status DeleteRole(absl::string_view service_sid, absl::string_view role_sid);
  absl::StatusOr<RolePage> ListRoles(absl::string_view service_sid,
                                     const ListRequest& request) const;

  // Hooks and feed.
  uint64_t AddHook(HookType type, UserHook hook) { return bus_.AddHook(type, std::move(hook)); }
  bool RemoveHook(uint64_t id) { return bus_.RemoveHook(id); }
  uint64_t Subscribe(ChangeListener listener) { return bus_.Subscribe(std::move(listener)); }
  bool Unsubscribe(uint64_t id) { return bus_.Unsubscribe(id); }
  uint64_t last_sequence() const { return bus_.last_sequence(); }
  UserStore::SnapshotData Snapshot() const;
  UserStore::Subscription SubscribeWithSnapshot(ChangeListener listener);
  absl::Status Apply(const ChangeEvent& event);
  // UserStore::ApplyEncoded (store_replication.cc). `*applied` counts the
  // events applied, as they are.
  absl::Status ApplyEncoded(absl::Span<const absl::string_view> events, size_t* applied);
  absl::Status CheckInvariants() const;

  // --- durability (core/store_durable.cc; docs/durability.md) ---------------------

  EventBus& bus() { return bus_; }
  // The count of SID generator draws, which each journal record carries.
  const std::atomic<uint64_t>* draws_counter() const { return &sid_draws_; }
  // The largest journal frame any change of this store can take under its
  // limits (an event, its frame header and its draws field).
  size_t JournalRecordBound() const;
  // Writes the encoding of the user event {op, sequence, the record as
  // stored} at `out` (room for JournalRecordBound()); returns its end.
  char* EncodeUser(ChangeEvent::Op op, uint64_t sequence, const UserRecord& record,
                   char* out) const;
  // Commits a user write prepared with PrepareEncodable: the feed's event
  // (when needed) and the journal's record both come from `record` as it now
  // is. REQUIRES: the locks that order the change.
  void CommitUser(EventBus::PreparedEvent prepared, ChangeEvent::Op op,
                  const UserRecord& record) ABSL_NO_THREAD_SAFETY_ANALYSIS {
    bus_.Commit(
        std::move(prepared), [&]() { return UserChange(op, record); },
        [&](uint64_t sequence, char* out) { return EncodeUser(op, sequence, record, out); });
  }

  // Runs `fn` with the whole store frozen (mu_ held exclusively: no write in
  // flight, none starts), and `identity` filled with the store's identity
  // at that instant (its last sequence, SID generator, page-token secret).
  void Frozen(durable::StoreIdentity* identity, absl::FunctionRef<void()> fn);
  // The checkpoint records of the whole store (docs/file-format.md), handed
  // to `sink` in pieces of about a megabyte. REQUIRES: inside Frozen's `fn`,
  // or in a child process forked there (it reads without locks).
  void WriteCheckpointRecords(absl::FunctionRef<void(absl::string_view)> sink) const
      ABSL_NO_THREAD_SAFETY_ANALYSIS;
  // A concurrent checkpoint (core/store_checkpoint.h), the third way to
  // write WriteCheckpointRecords' records of one instant. Start: REQUIRES
  // the store frozen (called inside Frozen's fn); throws std::bad_alloc
  // (nothing attached then). Write: walks the services in runs, handing
  // whole frames to `sink` with no lock held; stops at the first error of
  // `sink` and returns it, or a ResourceExhausted error when a writer could
  // not save a user's frame. Before it returns, whatever the outcome, no
  // service refers to `checkpoint` any more.
  std::unique_ptr<ConcurrentCheckpoint> StartConcurrentCheckpoint() const
      ABSL_NO_THREAD_SAFETY_ANALYSIS;
  absl::Status WriteConcurrentCheckpoint(ConcurrentCheckpoint* checkpoint,
                                         absl::FunctionRef<absl::Status(absl::string_view)> sink)
      ABSL_LOCKS_EXCLUDED(mu_);

  // Recovery, on a store built with create_default_service = false and no
  // journal: a checkpoint's records (each an event) at their positions, then
  // the identity, then the journal's events through Apply.
  absl::Status RestoreService(const ChangeEvent& event, uint64_t position);
  absl::Status FinishServiceRestore(absl::string_view service_sid, uint64_t next_user_position,
                                    uint64_t next_role_position);
  absl::Status RestoreRole(const ChangeEvent& event, uint64_t position);
  absl::Status RestoreUser(const ChangeEvent& event, uint64_t position);
  // A checkpoint's user record as a user event image (the fast path: no
  // allocation beyond the record itself), at its position.
  struct RestoredUser {
    UserEventImage image;
    uint64_t position = 0;
  };
  // The same as RestoreUser for a run of image records, in file order: the
  // checks are Apply's that the indexes need, in RestoreUser's order. Runs
  // under one acquisition of mu_ (shared) and of each service's lock, and
  // prefetches the table slots of the records a few ahead, so that their
  // cache misses overlap (at 10^6 users each record's two are most of its
  // cost). Stops at the first record that does not restore, with its error;
  // `*restored` counts the records before it (the ones that went in).
  absl::Status RestoreUsers(absl::Span<const RestoredUser> users, size_t* restored)
      ABSL_LOCKS_EXCLUDED(mu_);
  void RestoreIdentity(const durable::StoreIdentity& identity);
  // Sizes the user tables for about `users` users before a restore, so that
  // they do not rehash as it fills them.
  void ReserveUsers(uint64_t users);
  // Draws the SID generator until it has been drawn `draws` times in all.
  void AdvanceDrawsTo(uint64_t draws);
  uint64_t draws() const { return sid_draws_.load(std::memory_order_relaxed); }

 private:
  // Validated user requests (views into the caller's request).
  struct UserFields;
  struct UserPatch;
  // What a user call's path names, parsed once: the service SID's value and
  // the user's SID value or identity key.
  struct UserTarget {
    UserTarget(absl::string_view service_sid, absl::string_view user);
    // For a service SID already parsed (nullopt: it did not parse).
    UserTarget(const std::optional<Sid128>& service_sid, absl::string_view user);
    std::optional<Sid128> service;   // nullopt: no service SID (only a 400 or a 404)
    bool by_sid = false;             // `user` is SID-shaped
    std::optional<Sid128> user_sid;  // by_sid, lower-case: its value (else it names no user)
    std::optional<HashedIdentityKey> identity;  // !by_sid and `service`: (service, user)
  };
  // Which presence a copy of a user shows.
  enum class PresenceView {
    kStored,  // as stored (feed events, hooks)
    kFetch,   // as fetch shows it: null unless the service has reachability on
    kNone,    // null (lists)
  };

  // --- helpers (locks as annotated) ---
  int64_t NowSeconds() const;
  Sid128 NextSid() ABSL_LOCKS_EXCLUDED(ids_mu_);
  // The value NextSid() would return now, read without ids_mu_: a guess that
  // lets a create pick its SID shard and start that shard's cache misses
  // before it takes the value. Another thread may take it first, and a read
  // racing an advance may be torn; TakeSid() tells.
  Sid128 PeekSid() const;
  // Consumes the generator's next value when it is `expected` (as NextSid()
  // would) and returns true; else changes nothing and returns false.
  bool TakeSid(const Sid128& expected) ABSL_LOCKS_EXCLUDED(ids_mu_);
  // Returns the next value and computes the one after it.
  Sid128 AdvanceSidLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(ids_mu_);
  // A fresh role SID, already registered in role_sids_.
  Sid128 NewRoleSid() ABSL_LOCKS_EXCLUDED(ids_mu_);
  SidShard& ShardFor(const Sid128& sid) const { return shards_[ShardOf(sid, shard_mask_)]; }
  SidShard& ShardFor(const HashedIdentityKey& key) const {
    return shards_[IdentityShardOf(key, shard_mask_)];
  }
  // The shard that holds the user `target` names (by SID or by identity), or
  // nullptr when it names none (a SID-shaped text that is no SID, or no
  // service to key an identity with).
  SidShard* ShardFor(const UserTarget& target) const {
    if (target.user_sid.has_value()) return &ShardFor(*target.user_sid);
    if (target.identity.has_value()) return &ShardFor(*target.identity);
    return nullptr;
  }
  // The user of `svc` that `target` names, looked up in `shard`, which is
  // ShardFor(target); nullptr when none. A hit by SID may be another
  // service's user and counts only if it is `svc`'s; an identity key holds
  // its service. FindUser and ReadUsers' groups look up through it.
  static UserRecord* FindInShard(const SidShard& shard, const UserTarget& target,
                                 const ServiceState* svc) ABSL_SHARED_LOCKS_REQUIRED(shard.mu) {
    if (target.user_sid.has_value()) {
      UserRecord* record = shard.Find(*target.user_sid);
      return record != nullptr && record->role()->service == svc ? record : nullptr;
    }
    return shard.Find(*target.identity);
  }
  // The identity shard of a stored record. With ShardFor(record.sid()), the
  // two shard locks a mutation of `record` takes (ShardLocks).
  SidShard& IdentityShardFor(const UserRecord& record) const;
  // The record of `identity` in the service `service`, or nullptr. Takes the
  // identity shard's reader lock; the caller holds the service's lock.
  UserRecord* FindByIdentity(const Sid128& service, absl::string_view identity) const;
  UserRecord* FindByIdentity(const HashedIdentityKey& key) const;

  // The service a SID text / value names, or nullptr.
  ServiceState* FindService(absl::string_view service_sid) const ABSL_SHARED_LOCKS_REQUIRED(mu_);
  ServiceState* FindService(const Sid128& service_sid) const ABSL_SHARED_LOCKS_REQUIRED(mu_);
  // The service, or 404 "/Services/{service_sid}".
  absl::StatusOr<ServiceState*> LookupService(absl::string_view service_sid) const
      ABSL_SHARED_LOCKS_REQUIRED(mu_);
  // Early prefetches of writes. An update calls
  // PrefetchUserSlot(target) before it validates its parameters
  // and takes its locks, so that in a large store the cache miss of the table
  // slot a later FindUser will load (the SID's, or the identity's when
  // `service_sid` is a SID) overlaps that work; a create calls
  // PrefetchCreateSlots for the identity's slot and the slot of the SID the
  // generator will hand out next, the two that InsertNewUser fetches
  // together. Each takes a shard's reader lock for the prefetch only: hints,
  // with no effect on any result. They do nothing until the store is large
  // (early_prefetch_, StoreOptions::early_prefetch_users): below that the
  // locks would cost more than they save. The flag is checked inline, so a
  // small store's write pays no call (with the check inside the call, an
  // update at 10^4 users measured 0-13 ns slower over five runs).
  void PrefetchUserSlot(const UserTarget& target) const {
    if (early_prefetch_.load(std::memory_order_relaxed)) PrefetchUserSlotNow(target);
  }
  void PrefetchCreateSlots(const HashedIdentityKey& key) const {
    if (early_prefetch_.load(std::memory_order_relaxed)) PrefetchCreateSlotsNow(key);
  }
  void PrefetchUserSlotNow(const UserTarget& target) const;
  void PrefetchCreateSlotsNow(const HashedIdentityKey& key) const;
  // The record named by `user` (SID or identity) in `svc`, or nullptr
  // (the target form, parsed with `svc`'s SID).
  UserRecord* FindUser(const ServiceState* svc, absl::string_view user) const
      ABSL_SHARED_LOCKS_REQUIRED(svc->mu);
  // The record a parsed target whose service is `svc` names, or nullptr.
  UserRecord* FindUser(const ServiceState* svc, const UserTarget& target) const
      ABSL_SHARED_LOCKS_REQUIRED(svc->mu);
  // The service `target` names, or the error a call on it answers: the
  // path texts' 400 (CheckPathText) first, else 404. A found service proves
  // the service text valid; UserMissError is the error once the user is not
  // found in it (the user text's 400, else 404).
  absl::StatusOr<ServiceState*> LookupTarget(absl::string_view service_sid, absl::string_view user,
                                             const UserTarget& target) const
      ABSL_SHARED_LOCKS_REQUIRED(mu_);
  static absl::Status UserMissError(absl::string_view service_sid, absl::string_view user);
  RoleRecord* FindRole(const ServiceState* svc, const Sid128& sid) const
      ABSL_SHARED_LOCKS_REQUIRED(svc->mu);
  // The deployment role a user request names (or the service default):
  // 50100 unknown, 50105 a channel role.
  absl::StatusOr<RoleRecord*> ResolveUserRole(const ServiceState* svc, const RoleRef& ref) const
      ABSL_SHARED_LOCKS_REQUIRED(svc->mu);

  // Inserts a new user with `sid` at the end of `svc`'s order; nullptr when
  // the SID is taken. REQUIRES: the identity is free in `svc`.
  UserRecord* InsertUser(ServiceState* svc, const Sid128& sid, RoleRecord* role,
                         const UserRecord::Text& text, int64_t date_created, int64_t date_updated)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(svc->mu);
  // Inserts a new user with a generated SID (regenerated on collision) at the
  // end of `svc`'s order, created and updated `now`; nullptr, with no SID
  // consumed, when the identity is taken in `svc`. `key` is (svc->sid,
  // text.identity) hashed.
  // `prepare(record)` runs on the new record before anything links it, and
  // may throw (the create then changes nothing).
  UserRecord* InsertNewUser(ServiceState* svc, const HashedIdentityKey& key, RoleRecord* role,
                            const UserRecord::Text& text, int64_t now,
                            absl::FunctionRef<void(const UserRecord&)> prepare)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(svc->mu);
  // The insert both of those make once `shard` (the SID's) and
  // `identity_shard` are locked and `sid` is known to be free. `identity_key`
  // is (svc->sid, text.identity) with its hash, which the identity table
  // reuses instead of hashing the new record's key again.
  UserRecord* LinkUser(ServiceState* svc, SidShard* shard, SidShard* identity_shard,
                       const HashedIdentityKey& identity_key, const Sid128& sid, RoleRecord* role,
                       const UserRecord::Text& text, int64_t date_created, int64_t date_updated,
                       absl::FunctionRef<void(const UserRecord&)> prepare)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(svc->mu, shard->mu, identity_shard->mu);
  // LinkUser for the user that image `u` describes (a create: its SID, texts,
  // dates, presence and channel count), with LinkUser's requirements: the
  // shards locked, the SID free, `identity_key` the image's. The applied
  // event's and the restored checkpoint record's insert.
  UserRecord* LinkImageLocked(ServiceState* svc, SidShard* shard, SidShard* identity_shard,
                              const HashedIdentityKey& identity_key, RoleRecord* role,
                              const UserEventImage& u)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(svc->mu, shard->mu, identity_shard->mu);
  // Unlinks and destroys `record`.
  void EraseUser(ServiceState* svc, UserRecord* record) ABSL_EXCLUSIVE_LOCKS_REQUIRED(svc->mu);
  // Every change to a user's stored state and every erase calls this first,
  // holding the service's lock exclusively: a concurrent checkpoint that has
  // not written the user yet saves its frame as it is (one branch when none
  // runs).
  void SaveForCheckpoint(ServiceState* svc, const UserRecord& record) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(svc->mu) {
    if (ABSL_PREDICT_FALSE(svc->checkpoint != nullptr)) SaveForCheckpointSlow(svc, record);
  }
  void SaveForCheckpointSlow(ServiceState* svc, const UserRecord& record) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(svc->mu);
  // A user's checkpoint frame (header, position, its create event) written
  // at `out`, which has JournalRecordBound() bytes of room; returns its size.
  size_t EncodeUserFrame(const UserRecord& record, char* out) const;
  // Appends the frames of `svc` and of its roles, as a checkpoint holds them.
  void AppendServiceHead(const ServiceState& svc, std::string* out) const
      ABSL_SHARED_LOCKS_REQUIRED(svc.mu, mu_);
  // Role check, identity check, insert, publish. Returns the new record.
  // With `added_event`, also builds the post-event hooks' event into it
  // (before the insert, as the feed's event is).
  absl::StatusOr<UserRecord*> CreateLocked(ServiceState* svc, const UserFields& fields,
                                           std::optional<UserEvent>* added_event)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(svc->mu);
  // The two forms of CreateUser and UpdateUser: the whole call, with
  // `report` run on the new state of the record while the service's writer
  // lock is still held. What `report` throws is rethrown once the call's
  // events are delivered and its post-event hooks have run.
  absl::Status CreateReporting(absl::string_view service_sid, const CreateUserRequestView& request,
                               absl::FunctionRef<void(const UserRecord&)> report);
  absl::Status UpdateReporting(absl::string_view service_sid, absl::string_view user,
                               const UpdateUserRequestView& request,
                               absl::FunctionRef<void(const UserRecord&)> report);
  // Runs the post-event hooks of `type` with `event`, when there is one
  // (built before the write's commit, so that nothing after it allocates:
  // docs/reliability.md) and hooks of `type` are still registered. No lock
  // may be held.
  void RunPostHook(HookType type, const std::optional<UserEvent>& event);

  // ReadUsers' lookups of one group of targets of `svc` (core/store_batch.cc):
  // the records found, nullptr where none.
  void FindGroup(const ServiceState* svc, const std::optional<UserTarget>* targets, size_t n,
                 const UserRecord** records) const ABSL_SHARED_LOCKS_REQUIRED(svc->mu);

  // Finds the user a read names (SID fast path under one shard lock, else the
  // service's indexes) and calls `fn(record)` under the lock that keeps it
  // stable; the 404s otherwise. GetUser and ReadUser share it.
  template <typename Fn>
  absl::Status FindForRead(absl::string_view service_sid, absl::string_view user, Fn&& fn) const;
  // The page a list request names; calls `fn(record)` for each user in
  // order under the service's reader lock. ListUsers and VisitUsers share it.
  template <typename Fn>
  absl::StatusOr<PageInfo> WalkUsers(absl::string_view service_sid, const ListRequest& request,
                                     Fn&& fn) const;

  // The one place that decides what a reader sees of a record (presence
  // rule included). `sid_buf` (kSidTextSize bytes) receives the SID text.
  // The caller holds a lock that keeps `record` stable.
  void FillView(const UserRecord& record, PresenceView presence, char* sid_buf,
                UserView* view) const;
  // Calls `fn` with the view of `record` (SID text on this frame).
  void CallWithView(const UserRecord& record, PresenceView presence,
                    absl::FunctionRef<void(const UserView&)> fn) const;
  // Copies (the caller holds a lock that keeps the source stable).
  User ToUser(const UserRecord& record, PresenceView view) const;
  Service ToService(const ServiceState& svc) const ABSL_SHARED_LOCKS_REQUIRED(svc.mu);
  Role ToRole(const RoleRecord& role) const;
  UserEvent ToUserEvent(HookType type, const User& user) const;
  ChangeEvent UserChange(ChangeEvent::Op op, const UserRecord& record) const;
  // The event of a user as a write will leave it (built before the write).
  static ChangeEvent UserChange(ChangeEvent::Op op, User user);
  ChangeEvent ServiceChange(ChangeEvent::Op op, const ServiceState& svc, bool is_default) const
      ABSL_SHARED_LOCKS_REQUIRED(svc.mu);
  ChangeEvent RoleChange(ChangeEvent::Op op, const RoleRecord& role) const;

  ServiceState* CreateServiceLocked(absl::string_view friendly_name, bool is_default)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void DestroyServiceLocked(ServiceState* svc) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void SetDefaultService(ServiceState* svc) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  RoleRecord* InsertRole(ServiceState* svc, const Sid128& sid, absl::string_view friendly_name,
                         RoleType type, std::vector<std::string> permissions, int64_t created,
                         int64_t updated) ABSL_EXCLUSIVE_LOCKS_REQUIRED(svc->mu);
  // 409/20409 when in use; else publishes and destroys `role`.
  absl::Status DeleteRoleLocked(ServiceState* svc, RoleRecord* role)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(svc->mu);

  // Paging: page-size and token checks (400/20001), token minting.
  absl::StatusOr<std::optional<PageTokenData>> CheckToken(const ListRequest& request,
                                                          Collection collection,
                                                          const Sid128& scope) const;
  // A page's tokens: `next` and `previous` get one where the page has a
  // next / previous page, and stay empty otherwise.
  void PageTokens(const PageAnchors& anchors, Collection collection, Surface surface,
                  const Sid128& scope, std::string* next, std::string* previous) const;

  // Apply() by entity.
  absl::Status ApplyService(const ChangeEvent& event);
  absl::Status ApplyRole(const ChangeEvent& event);
  absl::Status ApplyUser(const ChangeEvent& event);

  // An applied update's change to `record` (a user of `svc`): its texts, its
  // role (moving the roles' user counts), presence, channel count and
  // date_updated. ApplyUser's and ApplyUserImageLocked's, from a decoded
  // event and from an image. REQUIRES: the record's two shards' locks
  // (ShardLocks), which each caller holds as long as it needs.
  void ReplaceUserStateLocked(ServiceState* svc, UserRecord* record, RoleRecord* role,
                              std::optional<absl::string_view> friendly_name,
                              absl::string_view attributes, std::optional<bool> is_online,
                              std::optional<bool> is_notifiable, int joined_channels_count,
                              int64_t date_updated) ABSL_EXCLUSIVE_LOCKS_REQUIRED(svc->mu);

  // ApplyEncoded's decoded form of one event: a user event in the form the
  // store writes (an image viewing the bytes), or any other event, decoded.
  struct EncodedEvent {
    absl::string_view bytes;
    bool is_image = false;
    UserEventImage image;                // when is_image
    std::unique_ptr<ChangeEvent> event;  // otherwise
  };
  // Applies `run` (images only) in order under mu_ (shared) and each
  // service's lock in turn, until one does not apply, adding one to
  // `*applied` for each applied (an exception, JournalUnavailable, leaves
  // it right). Delivers what it published once the locks are released.
  absl::Status ApplyUserImages(absl::Span<const EncodedEvent> run, size_t* applied)
      ABSL_LOCKS_EXCLUDED(mu_);
  // One image, as ApplyUser applies its decoded event; its journal record is
  // the event's own bytes (sequence patched) when they are what the stored
  // record encodes to. REQUIRES: the image's texts are valid
  // (CheckUserTexts) and `svc` is its service.
  absl::Status ApplyUserImageLocked(ServiceState* svc, const EncodedEvent& event)
      ABSL_SHARED_LOCKS_REQUIRED(mu_) ABSL_EXCLUSIVE_LOCKS_REQUIRED(svc->mu);
  // ApplyUser's first check, on an image: its texts are valid UTF-8.
  static absl::Status CheckUserTexts(const UserEventImage& image);

  // Snapshot body. REQUIRES: mu_ and every service mu held (shared).
  UserStore::SnapshotData SnapshotLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Locks every service (shared) in creation order; unlocks in reverse.

  const StoreOptions options_;
  const std::shared_ptr<Clock> clock_;
  std::string account_sid_;
  // account_sid_'s 16-byte value, which the event encoding writes; none when
  // it is not in the lower-case form (the encoding then writes it as text).
  std::optional<Sid128> account_value_;
  absl::Status init_status_;
  uint64_t token_secret_ = 0;

  // The default service's SID text, published once set and never freed before
  // the store (so the reference returned by default_conversation_service_sid()
  // stays valid even if a replica's default is replaced by Apply()).
  std::atomic<const std::string*> default_sid_text_{nullptr};

  // Lock shards of the SID table. Fixed at construction.
  size_t shard_mask_ = 0;
  std::unique_ptr<SidShard[]> shards_;

  mutable absl::Mutex mu_ ABSL_ACQUIRED_BEFORE(ids_mu_);
  absl::flat_hash_map<Sid128, std::unique_ptr<ServiceState>> services_ ABSL_GUARDED_BY(mu_);
  std::map<uint64_t, ServiceState*> services_by_position_ ABSL_GUARDED_BY(mu_);
  uint64_t next_service_position_ ABSL_GUARDED_BY(mu_) = 1;
  ServiceState* default_service_ ABSL_GUARDED_BY(mu_) = nullptr;
  std::vector<std::unique_ptr<std::string>> default_sid_texts_ ABSL_GUARDED_BY(mu_);

  mutable absl::Mutex ids_mu_;
  SidGenerator sid_generator_ ABSL_GUARDED_BY(ids_mu_);
  // Draws of sid_generator_ so far (written under ids_mu_).
  std::atomic<uint64_t> sid_draws_{0};
  // The value NextSid() returns next (the generator runs one ahead). Written
  // only under ids_mu_; atomic so that PeekSid() may read it without.
  std::atomic<uint64_t> next_sid_hi_{0};
  std::atomic<uint64_t> next_sid_lo_{0};
  absl::flat_hash_set<Sid128> role_sids_ ABSL_GUARDED_BY(ids_mu_);

  mutable EventBus bus_;

  // Whether the early prefetches of writes (PrefetchUserSlot,
  // PrefetchCreateSlots) run: set at construction when
  // options_.early_prefetch_users is 0, else once a user is linked into a
  // shard whose table size times the shard count (the store's size, as SIDs
  // spread evenly) reaches it; never cleared.
  std::atomic<bool> early_prefetch_{false};
};

}  // namespace internal
}  // namespace userstore

#endif  // USERSTORE_CORE_STORE_IMPL_H_
