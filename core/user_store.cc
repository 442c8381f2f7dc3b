// userstore::UserStore: the public face of internal::StoreImpl
// (core/store_impl.h holds the design, the invariants and the lock order).

#include "userstore/user_store.h"

#include <utility>

#include "userstore/replication.h"

#include "core/durable/durable_store.h"
#include "core/event_bus.h"
#include "core/store_impl.h"

namespace userstore {

UserStore::UserStore(const StoreOptions& options)
    : impl_(std::make_unique<internal::StoreImpl>(options)) {}

UserStore::UserStore(std::unique_ptr<internal::StoreImpl> impl) : impl_(std::move(impl)) {}

UserStore::~UserStore() = default;

// Every write but Apply goes through here. With no gate, one atomic load
// and one branch. With one, its BeforeWrite answers first (nothing has
// changed when it refuses), and its AfterWrite sees a sequence at least the
// write's own: the write has published before it returns, so last_sequence()
// covers it (a later write's may be counted too, which only asks for more).
template <typename Result, typename Fn>
Result UserStore::Write(Fn&& fn) {
  WriteGate* gate = gate_.load(std::memory_order_acquire);
  if (gate == nullptr) return WriteLocal<Result>(std::forward<Fn>(fn));
  absl::Status before = gate->BeforeWrite();
  if (!before.ok()) return before;
  Result result = WriteLocal<Result>(std::forward<Fn>(fn));
  if (result.ok()) {
    absl::Status after = gate->AfterWrite(impl_->last_sequence());
    if (!after.ok()) return after;
  }
  return result;
}

// One branch for an in-memory store. On a durable one, a journal that cannot
// take the write's record throws JournalUnavailable before the change
// (nothing changed: its status is the answer), and kSyncEachWrite waits for
// the record to be durable.
template <typename Result, typename Fn>
Result UserStore::WriteLocal(Fn&& fn) {
  if (durable_ == nullptr) return fn();
  try {
    Result result = fn();
    if (result.ok()) {
      absl::Status durable = durable_->AfterWrite();
      if (!durable.ok()) return durable;
    }
    return result;
  } catch (const internal::JournalUnavailable& unavailable) {
    return unavailable.status();
  }
}

absl::Status UserStore::init_status() const { return impl_->init_status(); }

const std::string& UserStore::account_sid() const { return impl_->account_sid(); }

const std::string& UserStore::default_conversation_service_sid() const {
  return impl_->default_conversation_service_sid();
}

absl::StatusOr<User> UserStore::CreateUser(absl::string_view service_sid,
                                           const CreateUserRequest& request) {
  return Write<absl::StatusOr<User>>([&] { return impl_->CreateUser(service_sid, request); });
}

absl::Status UserStore::CreateUser(absl::string_view service_sid,
                                   const CreateUserRequestView& request,
                                   absl::FunctionRef<void(const UserView&)> created) {
  return Write<absl::Status>([&] { return impl_->CreateUser(service_sid, request, created); });
}

absl::StatusOr<User> UserStore::GetUser(absl::string_view service_sid,
                                        absl::string_view user) const {
  return impl_->GetUser(service_sid, user);
}

absl::Status UserStore::ReadUser(absl::string_view service_sid, absl::string_view user,
                                 absl::FunctionRef<void(const UserView&)> reader) const {
  return impl_->ReadUser(service_sid, user, reader);
}

absl::Status UserStore::ReadUsers(absl::string_view service_sid,
                                  absl::Span<const absl::string_view> users,
                                  absl::FunctionRef<void(size_t, const UserView&)> reader) const {
  return impl_->ReadUsers(service_sid, users, reader);
}

absl::StatusOr<User> UserStore::UpdateUser(absl::string_view service_sid, absl::string_view user,
                                           const UpdateUserRequest& request) {
  return Write<absl::StatusOr<User>>([&] { return impl_->UpdateUser(service_sid, user, request); });
}

absl::Status UserStore::UpdateUser(absl::string_view service_sid, absl::string_view user,
                                   const UpdateUserRequestView& request,
                                   absl::FunctionRef<void(const UserView&)> updated) {
  return Write<absl::Status>(
      [&] { return impl_->UpdateUser(service_sid, user, request, updated); });
}

absl::Status UserStore::DeleteUser(absl::string_view service_sid, absl::string_view user) {
  return Write<absl::Status>([&] { return impl_->DeleteUser(service_sid, user); });
}

absl::StatusOr<GetOrCreateResult> UserStore::GetOrCreateUser(absl::string_view service_sid,
                                                             const CreateUserRequest& request) {
  return Write<absl::StatusOr<GetOrCreateResult>>(
      [&] { return impl_->GetOrCreateUser(service_sid, request); });
}

absl::StatusOr<UserPage> UserStore::ListUsers(absl::string_view service_sid,
                                              const ListRequest& request) const {
  return impl_->ListUsers(service_sid, request);
}

absl::StatusOr<PageInfo> UserStore::VisitUsers(
    absl::string_view service_sid, const ListRequest& request,
    absl::FunctionRef<void(const UserView&)> visitor) const {
  return impl_->VisitUsers(service_sid, request, visitor);
}

absl::StatusOr<int64_t> UserStore::CountUsers(absl::string_view service_sid) const {
  return impl_->CountUsers(service_sid);
}

absl::StatusOr<User> UserStore::SetPresence(absl::string_view service_sid, absl::string_view user,
                                            const PresenceUpdate& update) {
  return Write<absl::StatusOr<User>>([&] { return impl_->SetPresence(service_sid, user, update); });
}

absl::StatusOr<User> UserStore::JoinChannel(absl::string_view service_sid, absl::string_view user) {
  return Write<absl::StatusOr<User>>([&] { return impl_->ChangeChannels(service_sid, user, +1); });
}

absl::StatusOr<User> UserStore::LeaveChannel(absl::string_view service_sid,
                                             absl::string_view user) {
  return Write<absl::StatusOr<User>>([&] { return impl_->ChangeChannels(service_sid, user, -1); });
}

absl::StatusOr<Service> UserStore::CreateService(const CreateServiceRequest& request) {
  return Write<absl::StatusOr<Service>>([&] { return impl_->CreateService(request); });
}

absl::StatusOr<Service> UserStore::GetService(absl::string_view service_sid) const {
  return impl_->GetService(service_sid);
}

absl::StatusOr<Service> UserStore::UpdateService(absl::string_view service_sid,
                                                 const UpdateServiceRequest& request) {
  return Write<absl::StatusOr<Service>>([&] { return impl_->UpdateService(service_sid, request); });
}

absl::Status UserStore::DeleteService(absl::string_view service_sid) {
  return Write<absl::Status>([&] { return impl_->DeleteService(service_sid); });
}

absl::StatusOr<ServicePage> UserStore::ListServices(const ListRequest& request) const {
  return impl_->ListServices(request);
}

absl::StatusOr<Role> UserStore::CreateRole(absl::string_view service_sid,
                                           const CreateRoleRequest& request) {
  return Write<absl::StatusOr<Role>>([&] { return impl_->CreateRole(service_sid, request); });
}

absl::StatusOr<Role> UserStore::GetRole(absl::string_view service_sid,
                                        absl::string_view role_sid) const {
  return impl_->GetRole(service_sid, role_sid);
}

absl::Status UserStore::DeleteRole(absl::string_view service_sid, absl::string_view role_sid) {
  return Write<absl::Status>([&] { return impl_->DeleteRole(service_sid, role_sid); });
}

absl::StatusOr<RolePage> UserStore::ListRoles(absl::string_view service_sid,
                                              const ListRequest& request) const {
  return impl_->ListRoles(service_sid, request);
}

uint64_t UserStore::AddHook(HookType type, UserHook hook) {
  return impl_->AddHook(type, std::move(hook));
}

bool UserStore::RemoveHook(uint64_t hook_id) { return impl_->RemoveHook(hook_id); }

uint64_t UserStore::Subscribe(ChangeListener listener) {
  return impl_->Subscribe(std::move(listener));
}

UserStore::SnapshotData UserStore::Snapshot() const { return impl_->Snapshot(); }

UserStore::Subscription UserStore::SubscribeWithSnapshot(ChangeListener listener) {
  return impl_->SubscribeWithSnapshot(std::move(listener));
}

bool UserStore::Unsubscribe(uint64_t subscription_id) {
  return impl_->Unsubscribe(subscription_id);
}

uint64_t UserStore::last_sequence() const { return impl_->last_sequence(); }

absl::Status UserStore::Apply(const ChangeEvent& event) {
  // Not through the gate: this is how a follower takes its leader's events.
  return WriteLocal<absl::Status>([&] { return impl_->Apply(event); });
}

absl::Status UserStore::ApplyEncoded(absl::Span<const absl::string_view> events, size_t* applied) {
  size_t count = 0;
  if (applied == nullptr) applied = &count;
  // Not through the gate, as Apply. WriteLocal's form, except that what was
  // applied before an error is made durable (kSyncEachWrite) before the
  // answer too: the events before a failing one stay applied.
  if (durable_ == nullptr) return impl_->ApplyEncoded(events, applied);
  absl::Status status;
  try {
    status = impl_->ApplyEncoded(events, applied);
  } catch (const internal::JournalUnavailable& unavailable) {
    status = unavailable.status();
  }
  if (*applied > 0) {
    absl::Status durable = durable_->AfterWrite();
    if (!durable.ok()) return durable;
  }
  return status;
}

void UserStore::SetWriteGate(WriteGate* gate) { gate_.store(gate, std::memory_order_release); }

absl::StatusOr<uint64_t> UserStore::SetJournalTap(JournalTap* tap) {
  if (durable_ == nullptr) {
    return InvalidParameterError("SetJournalTap: the store is not durable (nothing is journaled)");
  }
  return durable_->SetJournalTap(tap);
}

uint64_t UserStore::sid_draws() const { return impl_->draws(); }

absl::Status UserStore::AdvanceSidDraws(uint64_t draws) {
  if (impl_->draws() >= draws) return absl::OkStatus();
  impl_->AdvanceDrawsTo(draws);
  // A durable store's journal records carry the draw count, and recovery
  // takes a jump of more than a few draws between two records for damage:
  // a checkpoint records the new count, so the next record follows it.
  if (durable_ != nullptr) return durable_->Checkpoint();
  return absl::OkStatus();
}

absl::Status UserStore::CheckInvariants() const { return impl_->CheckInvariants(); }

absl::Status UserStore::Checkpoint() {
  if (durable_ == nullptr) return InvalidParameterError("Checkpoint: the store is not durable");
  return durable_->Checkpoint();
}

absl::Status UserStore::Sync() {
  if (durable_ == nullptr) return InvalidParameterError("Sync: the store is not durable");
  return durable_->Sync();
}

std::string UserStore::directory() const {
  return durable_ == nullptr ? std::string() : durable_->directory();
}

absl::Status UserStore::ReadLatestCheckpoint(uint64_t* sequence, std::string* bytes) const {
  if (durable_ == nullptr) {
    return InvalidParameterError("ReadLatestCheckpoint: the store is not durable");
  }
  return durable_->ReadLatestCheckpoint(sequence, bytes);
}

UserStore::DurabilityStats UserStore::durability_stats() const {
  if (durable_ == nullptr) return DurabilityStats();
  return durable_->Stats();
}

}  // namespace userstore
