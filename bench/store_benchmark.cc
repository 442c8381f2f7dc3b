// -----------------------------------------------------------------------------
// File: bench/store_benchmark.cc
// -----------------------------------------------------------------------------
//
// `Store` and `Rest`: the engine, through its public API only.
//
//   Store  userstore::UserStore (options.seed set, default clock, default
//          shards unless USERSTORE_BENCH_SID_SHARDS says), one service made with CreateService;
//          every call is the public C++ call: the zero-copy forms of CreateUser and
//          UpdateUser, DeleteUser, and for reads the zero-copy calls ReadUser (by SID or
//          identity) and VisitUsers (Surface::kCpp); each callback hands the UserView to
//          DoNotOptimize.
//   StoreCopy  the same store through the calls that return copies: CreateUser and
//          UpdateUser returning absl::StatusOr<User>, GetUser, ListUsers.
//   Rest   userstore::Dispatcher over the same store (the Rest fixture shares
//          the Store fixture's users and keys): path-only Chat v2 requests
//          (`/v2/Services/{IS}/Users[/{Sid}]`). Each operation builds its
//          HttpRequest (URL concatenation; FormEncode for POST bodies) and gets
//          back the rendered JSON. List follows `meta.next_page_url`.
//
// Also BM_Store_ListAt/{0,900000}: one page of 50 from a 10^6 store, starting
// at that position, through a page token obtained (untimed) by walking there.
// And BM_Store_GetBySidBatch/{16,256}: ReadUsers over that many SIDs at a time,
// in GetBySid's random order, from the 10^6 store; items = users read.

#include <cstdlib>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "bench/bench_harness.h"
#include <benchmark/benchmark.h>

#include "userstore/options.h"
#include "userstore/resources.h"
#include "userstore/rest.h"
#include "userstore/user_store.h"

namespace userstore_bench {
namespace {

// What a read callback does with a user: keeps the compiler from dropping it.
void Consume(const userstore::UserView& user) { benchmark::DoNotOptimize(user); }

// The requests of the copying write calls (StoreCopy), as a caller builds
// them: copies of the identity and attributes texts.
userstore::CreateUserRequest CreateRequest(absl::string_view identity,
                                           absl::string_view attributes) {
  userstore::CreateUserRequest request;
  request.identity.emplace(identity.data(), identity.size());
  request.attributes.emplace(attributes.data(), attributes.size());
  return request;
}
userstore::UpdateUserRequest UpdateRequest(absl::string_view attributes) {
  userstore::UpdateUserRequest request;
  request.attributes.emplace(attributes.data(), attributes.size());
  return request;
}

constexpr uint64_t kStoreSeed = 20260101;
constexpr int64_t kListAtStoreSize = 1000000;

class StoreAdapter {
 public:
  static constexpr const char* kName = "Store";

  static std::unique_ptr<StoreAdapter> MakeEmpty() { return std::make_unique<StoreAdapter>(); }
  static void BuildFixture(int64_t n, Fixture<StoreAdapter>* fx) { BuildStandardFixture(n, fx); }
  static int64_t EngineBytes() { return -1; }

  StoreAdapter() {
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
    store_ = std::make_unique<userstore::UserStore>(options);
    userstore::CreateServiceRequest request;
    request.friendly_name = "userstore_bench";
    absl::StatusOr<userstore::Service> service = store_->CreateService(request);
    if (!service.ok()) std::abort();
    service_ = service->sid;
  }

  userstore::UserStore* store() { return store_.get(); }
  const std::string& service() const { return service_; }

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

// Builds the fixture of an adapter `A` (constructed from a StoreAdapter*)
// over the Store fixture of the same size: the same users and keys, kept
// alive with it.
template <class A>
void BuildOnStoreFixture(int64_t n, Fixture<A>* fx) {
  std::shared_ptr<Fixture<StoreAdapter>> base = GetFixtureShared<StoreAdapter>(n);
  fx->impl = std::make_unique<A>(base->impl.get());
  fx->keys = base->keys;
  fx->keep_alive = std::move(base);
}

// `StoreCopy`: the same store read through the calls that return copies
// (GetUser, ListUsers): what the zero-copy reads save. Reads only.
class StoreCopyAdapter {
 public:
  static constexpr const char* kName = "StoreCopy";

  static void BuildFixture(int64_t n, Fixture<StoreCopyAdapter>* fx) { BuildOnStoreFixture(n, fx); }

  explicit StoreCopyAdapter(StoreAdapter* store) : store_(store) {}

  bool Create(int t, absl::string_view identity, absl::string_view attributes, SidText* sid_out) {
    return store_->CreateCopy(identity, attributes, sid_out);
  }
  bool GetBySid(int t, absl::string_view sid) { return store_->GetCopy(sid); }
  bool GetByIdentity(int t, absl::string_view identity) { return store_->GetCopy(identity); }
  bool Update(int t, absl::string_view sid, absl::string_view attributes) {
    return store_->UpdateCopy(sid, attributes);
  }
  int64_t List(int t, std::string* token) { return store_->ListCopy(token); }
  bool DeleteByIdentity(absl::string_view identity) { return store_->DeleteByIdentity(identity); }
  void BeginBatch(int) {}
  void CommitBatch(int) {}
  void Compact() {}

 private:
  StoreAdapter* store_;
};

// The string value of the first `"key":` in `json`, with JSON escapes undone
// (the URLs and SIDs this reads are ASCII); false when absent or null.
bool JsonStringField(absl::string_view json, absl::string_view key, std::string* out) {
  std::string quoted;
  quoted.reserve(key.size() + 2);
  quoted += '"';
  quoted.append(key.data(), key.size());
  quoted += '"';
  size_t pos = json.find(quoted);
  if (pos == absl::string_view::npos) return false;
  pos += quoted.size();
  while (pos < json.size() && (json[pos] == ' ' || json[pos] == ':')) ++pos;
  if (pos >= json.size() || json[pos] != '"') return false;  // null
  out->clear();
  for (++pos; pos < json.size() && json[pos] != '"'; ++pos) {
    char c = json[pos];
    if (c == '\\' && pos + 1 < json.size()) {
      c = json[++pos];
      if (c == 'u' && pos + 4 < json.size()) {
        c = static_cast<char>(
            std::strtol(std::string(json.substr(pos + 1, 4)).c_str(), nullptr, 16));
        pos += 4;
      }
    }
    *out += c;
  }
  return true;
}

size_t CountOccurrences(absl::string_view text, absl::string_view needle) {
  size_t count = 0;
  for (size_t pos = text.find(needle); pos != absl::string_view::npos;
       pos = text.find(needle, pos + needle.size())) {
    ++count;
  }
  return count;
}

class RestAdapter {
 public:
  static constexpr const char* kName = "Rest";

  static void BuildFixture(int64_t n, Fixture<RestAdapter>* fx) { BuildOnStoreFixture(n, fx); }
  static int64_t EngineBytes() { return -1; }

  explicit RestAdapter(StoreAdapter* store)
      : store_(store),
        dispatcher_(store->store()),
        users_path_("/v2/Services/" + store->service() + "/Users"),
        first_page_(users_path_ + "?PageSize=50") {}

  bool Create(int t, absl::string_view identity, absl::string_view attributes, SidText* sid_out) {
    userstore::HttpRequest request;
    request.method = "POST";
    request.url = users_path_;
    request.body = userstore::FormEncode(
        {{"Identity", std::string(identity)}, {"Attributes", std::string(attributes)}});
    userstore::HttpResponse response = dispatcher_.Handle(request);
    benchmark::DoNotOptimize(response);
    if (response.status != 201) return false;
    if (sid_out != nullptr) {
      std::string sid;
      if (!JsonStringField(response.body, "sid", &sid)) return false;
      sid_out->Set(sid);
    }
    return true;
  }

  bool GetBySid(int t, absl::string_view sid) { return Get(sid); }
  bool GetByIdentity(int t, absl::string_view identity) { return Get(identity); }

  bool Update(int t, absl::string_view sid, absl::string_view attributes) {
    userstore::HttpRequest request;
    request.method = "POST";
    UserUrl(sid, &request.url);
    request.body = userstore::FormEncode({{"Attributes", std::string(attributes)}});
    userstore::HttpResponse response = dispatcher_.Handle(request);
    benchmark::DoNotOptimize(response);
    return response.status == 200;
  }

  bool Delete(int t, absl::string_view sid) {
    userstore::HttpRequest request;
    request.method = "DELETE";
    UserUrl(sid, &request.url);
    userstore::HttpResponse response = dispatcher_.Handle(request);
    benchmark::DoNotOptimize(response);
    return response.status == 204;
  }

  // `token` holds the next page's URL (from meta.next_page_url).
  int64_t List(int t, std::string* token) {
    userstore::HttpRequest request;
    request.method = "GET";
    request.url = token->empty() ? first_page_ : std::move(*token);
    userstore::HttpResponse response = dispatcher_.Handle(request);
    benchmark::DoNotOptimize(response);
    if (response.status != 200) return -1;
    if (JsonStringField(response.body, "next_page_url", token)) return kPageSize;
    token->clear();
    return static_cast<int64_t>(CountOccurrences(response.body, "\"identity\""));
  }

  bool DeleteByIdentity(absl::string_view identity) { return store_->DeleteByIdentity(identity); }

  void BeginBatch(int) {}
  void CommitBatch(int) {}
  void Compact() {}

 private:
  bool Get(absl::string_view user) {
    userstore::HttpRequest request;
    request.method = "GET";
    UserUrl(user, &request.url);
    userstore::HttpResponse response = dispatcher_.Handle(request);
    benchmark::DoNotOptimize(response);
    return response.status == 200;
  }

  // Identities here are "usr_"/"new_" + hex: unreserved, no encoding needed.
  void UserUrl(absl::string_view user, std::string* url) const {
    url->reserve(users_path_.size() + 1 + user.size());
    *url = users_path_;
    *url += '/';
    url->append(user.data(), user.size());
  }

  StoreAdapter* store_;
  userstore::Dispatcher dispatcher_;
  const std::string users_path_;
  const std::string first_page_;
};

// BM_Store_ListAt/<position>: one page of 50 starting at `position` of a 10^6
// store; items = users returned.
void BM_Store_ListAt(benchmark::State& state) {
  Fixture<StoreAdapter>& fx = GetFixture<StoreAdapter>(kListAtStoreSize);
  StoreAdapter& a = *fx.impl;
  const std::string token = a.TokenAt(state.range(0));
  int64_t items = 0;
  int64_t failures = 0;
  for (auto _ : state) {
    userstore::ListRequest request;
    request.page_size = kPageSize;
    request.page_token = token;
    absl::StatusOr<userstore::UserPage> page = a.store()->ListUsers(a.service(), request);
    benchmark::DoNotOptimize(page);
    if (page.ok() && static_cast<int64_t>(page->items.size()) == kPageSize) {
      items += kPageSize;
    } else {
      ++failures;
    }
  }
  FinishRun(state, items, failures);
}

// BM_Store_GetBySidBatch/<group>: ReadUsers over `group` SIDs at a time, the
// next ones of GetBySid's random access order each iteration.
void BM_Store_GetBySidBatch(benchmark::State& state) {
  Fixture<StoreAdapter>& fx = GetFixture<StoreAdapter>(kListAtStoreSize);
  StoreAdapter& a = *fx.impl;
  const size_t group = static_cast<size_t>(state.range(0));
  const SidText* keys = fx.keys->sids.data();
  const size_t n = static_cast<size_t>(fx.n);
  std::vector<absl::string_view> batch(group);
  size_t i = StartPosition(fx, state);
  int64_t items = 0;
  int64_t failures = 0;
  for (auto _ : state) {
    for (size_t j = 0; j < group; ++j) {
      batch[j] = keys[i].view();
      if (++i == n) i = 0;
    }
    int64_t found = 0;
    const absl::Status s =
        a.store()->ReadUsers(a.service(), batch, [&](size_t, const userstore::UserView& user) {
          benchmark::DoNotOptimize(user);
          ++found;
        });
    items += found;
    failures += !s.ok() || found != static_cast<int64_t>(group);
  }
  FinishRun(state, items, failures);
}

const bool kRegistered = [] {
  ImplEntry store = MakeEntry<StoreAdapter>(/*order=*/0);
  store.extras.push_back({"ListAt", &BM_Store_ListAt, {0, 900000}});
  store.extras.push_back({"GetBySidBatch", &BM_Store_GetBySidBatch, {16, 256}});
  RegisterImpl(std::move(store));
  ImplEntry copy;
  copy.name = StoreCopyAdapter::kName;
  copy.order = 5;
  copy.ops[kCreate] = &BM_Create<StoreCopyAdapter>;
  copy.ops[kUpdate] = &BM_Update<StoreCopyAdapter>;
  copy.ops[kGetBySid] = &BM_GetBySid<StoreCopyAdapter>;
  copy.ops[kGetByIdentity] = &BM_GetByIdentity<StoreCopyAdapter>;
  copy.ops[kList] = &BM_List<StoreCopyAdapter>;
  RegisterImpl(std::move(copy));
  return RegisterImpl(MakeEntry<RestAdapter, /*kWithMemory=*/false>(/*order=*/1));
}();

}  // namespace
}  // namespace userstore_bench
