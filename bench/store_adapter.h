// -----------------------------------------------------------------------------
// File: bench/store_adapter.h
// -----------------------------------------------------------------------------
//
// `StoreAdapter`, the harness's adapter (bench_harness.h) of the engine through
// its public C++ API: `Store` in store_benchmark.cc (an in-memory store), and
// the base of `Durable` and `DurableSync` in durable_benchmark.cc (the store
// OpenUserStore returns). What each call does is in store_benchmark.cc's
// header comment.
//
// Thread safety: the calls the harness makes on several threads (reads, and
// creates on several threads) are the store's own, which are thread-safe;
// TokenAt locks.

#ifndef USERSTORE_BENCH_STORE_ADAPTER_H_
#define USERSTORE_BENCH_STORE_ADAPTER_H_

#include <cstdint>
#include <cstdlib>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "bench/bench_harness.h"
#include <benchmark/benchmark.h>

#include "userstore/options.h"
#include "userstore/resources.h"
#include "userstore/user_store.h"

namespace userstore_bench {

// What a read callback does with a user: keeps the compiler from dropping it.
inline void Consume(const userstore::UserView& user) { benchmark::DoNotOptimize(user); }

// The requests of the copying write calls (StoreCopy), as a caller builds
// them: copies of the identity and attributes texts.
inline userstore::CreateUserRequest CreateRequest(absl::string_view identity,
                                                  absl::string_view attributes) {
  userstore::CreateUserRequest request;
  request.identity.emplace(identity.data(), identity.size());
  request.attributes.emplace(attributes.data(), attributes.size());
  return request;
}
inline userstore::UpdateUserRequest UpdateRequest(absl::string_view attributes) {
  userstore::UpdateUserRequest request;
  request.attributes.emplace(attributes.data(), attributes.size());
  return request;
}

inline constexpr uint64_t kStoreSeed = 20260101;

// The options of the benchmarks' stores: the seed, and the environment's
// overrides.
inline userstore::StoreOptions BenchStoreOptions() {
  userstore::StoreOptions options;
  options.seed = kStoreSeed;
  // USERSTORE_BENCH_SID_SHARDS=1 measures the lock scheme the shards
  // replaced: one reader/writer lock over the whole SID table.
  if (const char* shards = std::getenv("USERSTORE_BENCH_SID_SHARDS")) {
    options.sid_shards = std::atoi(shards);
  }
  // USERSTORE_BENCH_EARLY_PREFETCH_USERS=0 (or a huge value) turns the
  // writes' early prefetch on (off) whatever the store's size.
  if (const char* users = std::getenv("USERSTORE_BENCH_EARLY_PREFETCH_USERS")) {
    options.early_prefetch_users = static_cast<size_t>(std::strtoull(users, nullptr, 10));
  }
  return options;
}

class StoreAdapter {
 public:
  static constexpr const char* kName = "Store";

  static std::unique_ptr<StoreAdapter> MakeEmpty() { return std::make_unique<StoreAdapter>(); }
  static void BuildFixture(int64_t n, Fixture<StoreAdapter>* fx) { BuildStandardFixture(n, fx); }
  static int64_t EngineBytes() { return -1; }

  StoreAdapter() : StoreAdapter(std::make_unique<userstore::UserStore>(BenchStoreOptions())) {}

  // Over `store` (a durable one: bench/durable_benchmark.cc), in a service
  // made here.
  explicit StoreAdapter(std::unique_ptr<userstore::UserStore> store) : store_(std::move(store)) {
    userstore::CreateServiceRequest request;
    request.friendly_name = "userstore_bench";
    absl::StatusOr<userstore::Service> service = store_->CreateService(request);
    if (!service.ok()) std::abort();
    service_ = service->sid;
  }

  userstore::UserStore* store() { return store_.get(); }
  const std::string& service() const { return service_; }

  // Replaces the store (nullptr: closes it) by one that holds the same
  // service: the same durable store opened again.
  void ReplaceStore(std::unique_ptr<userstore::UserStore> store) { store_ = std::move(store); }

  void Load(const Dataset& d, SidText* sids) {
    for (int64_t i = 0; i < d.n; ++i) {
      if (!Create(0, d.identity(i), d.attribute(i), &sids[i])) std::abort();
    }
  }

  // Writes use the zero-copy forms of CreateUser and UpdateUser: the request
  // holds views of the caller's texts (as the Sqlite adapter binds them
  // without a copy) and the new user's view goes to DoNotOptimize inside the
  // callback, as the Sqlite adapter's writes hand a view of their row.
  // StoreCopy measures the forms that take owning requests and return a
  // `User`.
  bool Create(int t, absl::string_view identity, absl::string_view attributes, SidText* sid_out) {
    userstore::CreateUserRequestView request;
    request.identity = identity;
    request.attributes = attributes;
    return store_
        ->CreateUser(service_, request,
                     [sid_out](const userstore::UserView& user) {
                       benchmark::DoNotOptimize(user);
                       if (sid_out != nullptr) sid_out->Set(user.sid);
                     })
        .ok();
  }

  // Reads use the zero-copy calls: the view goes to DoNotOptimize inside the
  // callback, as the Sqlite adapter's rows do. StoreCopy measures the copying
  // calls (GetUser, ListUsers) on the same store.
  bool GetBySid(int t, absl::string_view sid) {
    return store_->ReadUser(service_, sid, Consume).ok();
  }

  bool GetByIdentity(int t, absl::string_view identity) {
    return store_->ReadUser(service_, identity, Consume).ok();
  }

  bool Update(int t, absl::string_view sid, absl::string_view attributes) {
    userstore::UpdateUserRequestView request;
    request.attributes = attributes;
    return store_->UpdateUser(service_, sid, request, Consume).ok();
  }

  bool Delete(int t, absl::string_view sid) { return store_->DeleteUser(service_, sid).ok(); }

  int64_t List(int t, std::string* token) {
    userstore::ListRequest request;
    request.page_size = kPageSize;
    request.page_token = std::move(*token);
    absl::StatusOr<userstore::PageInfo> page = store_->VisitUsers(service_, request, Consume);
    if (!page.ok()) return -1;
    *token = std::move(page->next_page_token);
    return page->item_count;
  }

  // The copying calls, for StoreCopy.
  bool CreateCopy(absl::string_view identity, absl::string_view attributes, SidText* sid_out) {
    absl::StatusOr<userstore::User> user =
        store_->CreateUser(service_, CreateRequest(identity, attributes));
    benchmark::DoNotOptimize(user);
    if (!user.ok()) return false;
    if (sid_out != nullptr) sid_out->Set(user->sid);
    return true;
  }
  bool UpdateCopy(absl::string_view sid, absl::string_view attributes) {
    absl::StatusOr<userstore::User> user =
        store_->UpdateUser(service_, sid, UpdateRequest(attributes));
    benchmark::DoNotOptimize(user);
    return user.ok();
  }
  bool GetCopy(absl::string_view user) {
    absl::StatusOr<userstore::User> got = store_->GetUser(service_, user);
    benchmark::DoNotOptimize(got);
    return got.ok();
  }
  int64_t ListCopy(std::string* token) {
    userstore::ListRequest request;
    request.page_size = kPageSize;
    request.page_token = std::move(*token);
    absl::StatusOr<userstore::UserPage> page = store_->ListUsers(service_, request);
    benchmark::DoNotOptimize(page);
    if (!page.ok()) return -1;
    *token = std::move(page->next_page_token);
    return static_cast<int64_t>(page->items.size());
  }

  bool DeleteByIdentity(absl::string_view identity) {
    return store_->DeleteUser(service_, identity).ok();
  }

  void BeginBatch(int) {}
  void CommitBatch(int) {}
  void Compact() {}

  // A token whose page starts at `position` in creation order (empty for 0),
  // found by walking pages of 1000 (untimed); cached.
  const std::string& TokenAt(int64_t position) {
    std::lock_guard<std::mutex> lock(tokens_mu_);
    auto it = tokens_.find(position);
    if (it != tokens_.end()) return it->second;
    std::string token;
    for (int64_t remaining = position; remaining > 0;) {
      userstore::ListRequest request;
      request.page_size = std::min<int64_t>(remaining, 1000);
      request.page_token = token;
      absl::StatusOr<userstore::UserPage> page = store_->ListUsers(service_, request);
      if (!page.ok() || page->items.empty()) std::abort();
      remaining -= static_cast<int64_t>(page->items.size());
      token = page->next_page_token;
    }
    return tokens_.emplace(position, std::move(token)).first->second;
  }

 private:
  std::unique_ptr<userstore::UserStore> store_;
  std::string service_;
  std::mutex tokens_mu_;
  std::map<int64_t, std::string> tokens_;
};

}  // namespace userstore_bench

#endif  // USERSTORE_BENCH_STORE_ADAPTER_H_
