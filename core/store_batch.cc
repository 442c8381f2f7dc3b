// StoreImpl: batched reads (UserStore::ReadUsers). A group of targets is
// looked up in two passes under the reader locks of the shards it touches:
// the first only asks the CPU for every target's control bytes and slot, the
// second finds them, by then arriving together; the records, stable under
// the service's reader lock held for the whole call, are then shown one by
// one. In a store larger than the caches, ReadUser waits for two cache
// misses in a row per user (the slot, then the record its comparison
// loads); a group overlaps its users' misses.

#include <algorithm>
#include <cstddef>
#include <optional>

#include "userstore/status.h"

#include "core/sid.h"
#include "core/store_impl.h"
#include "core/store_rules.h"

namespace userstore {
namespace internal {
namespace {

// Users looked up together: enough for the misses of a group to overlap,
// few enough for its state to stay on the stack and its locks brief.
constexpr size_t kReadGroup = 16;

// The reader locks of a set of shards, taken once each, in index order
// (shards_ is one array: address order), as ShardLocks orders its two.
class GroupShardLocks {
 public:
  GroupShardLocks(SidShard* const* shards, size_t n) ABSL_NO_THREAD_SAFETY_ANALYSIS {
    for (size_t i = 0; i < n; ++i) {
      if (shards[i] != nullptr) held_[count_++] = shards[i];
    }
    std::sort(held_, held_ + count_);
    count_ = static_cast<size_t>(std::unique(held_, held_ + count_) - held_);
    for (size_t i = 0; i < count_; ++i) held_[i]->mu.ReaderLock();
  }
  ~GroupShardLocks() ABSL_NO_THREAD_SAFETY_ANALYSIS {
    for (size_t i = count_; i > 0; --i) held_[i - 1]->mu.ReaderUnlock();
  }
  GroupShardLocks(const GroupShardLocks&) = delete;
  GroupShardLocks& operator=(const GroupShardLocks&) = delete;

 private:
  SidShard* held_[kReadGroup];
  size_t count_ = 0;
};

}  // namespace

void StoreImpl::FindGroup(const ServiceState* svc, const std::optional<UserTarget>* targets,
                          size_t n, const UserRecord** records) const
    ABSL_NO_THREAD_SAFETY_ANALYSIS {  // the group's shard locks are a dynamic set
  SidShard* shards[kReadGroup];
  for (size_t i = 0; i < n; ++i) {
    shards[i] = ShardFor(*targets[i]);
    records[i] = nullptr;
  }
  GroupShardLocks locks(shards, n);
  for (size_t i = 0; i < n; ++i) {
    if (shards[i] == nullptr) continue;
    const UserTarget& t = *targets[i];
    if (t.user_sid.has_value()) {
      shards[i]->table.prefetch(*t.user_sid);
    } else {
      shards[i]->ids.prefetch(*t.identity);
    }
  }
  for (size_t i = 0; i < n; ++i) {
    if (shards[i] != nullptr) records[i] = FindInShard(*shards[i], *targets[i], svc);
  }
}

absl::Status StoreImpl::ReadUsers(absl::string_view service_sid,
                                  absl::Span<const absl::string_view> users,
                                  absl::FunctionRef<void(size_t, const UserView&)> reader) const {
  const std::optional<Sid128> service = ParseSid(kServicePrefix, service_sid);
  absl::ReaderMutexLock lock(&mu_);
  const ServiceState* svc = service.has_value() ? FindService(*service) : nullptr;
  if (svc == nullptr) {
    USERSTORE_RETURN_IF_ERROR(CheckPathText(service_sid));
    return ServiceNotFound(service_sid);
  }
  // No write to the service while it is held: the records found stay
  // linked and unchanged after the group's shard locks are released.
  absl::ReaderMutexLock service_lock(&svc->mu);
  std::optional<UserTarget> targets[kReadGroup];
  const UserRecord* records[kReadGroup];
  for (size_t base = 0; base < users.size(); base += kReadGroup) {
    const size_t n = std::min(kReadGroup, users.size() - base);
    for (size_t i = 0; i < n; ++i) targets[i].emplace(service, users[base + i]);
    FindGroup(svc, targets, n, records);
    for (size_t i = 0; i < n; ++i) {
      if (records[i] == nullptr) continue;
      const size_t index = base + i;
      CallWithView(*records[i], PresenceView::kFetch,
                   [&](const UserView& view) { reader(index, view); });
    }
  }
  return absl::OkStatus();
}

}  // namespace internal
}  // namespace userstore
