// -----------------------------------------------------------------------------
// File: bench/store_benchmark.cc
// -----------------------------------------------------------------------------
//
// `Store` and `Rest`: the engine, through its public API only. (Store's
// adapter is in store_adapter.h, shared with the durable store's rows.)
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
#include "bench/store_adapter.h"
#include <benchmark/benchmark.h>

#include "userstore/options.h"
#include "userstore/resources.h"
#include "userstore/rest.h"
#include "userstore/user_store.h"

namespace userstore_bench {
namespace {

constexpr int64_t kListAtStoreSize = 1000000;

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
