// -----------------------------------------------------------------------------
// File: bench/naive_benchmark.cc
// -----------------------------------------------------------------------------
//
// `Naive`: the store a typical developer writes first. Users are
// `userstore::User` values in a `std::unordered_map<std::string, ...>` keyed by
// SID text; a per-service `std::unordered_map` maps identity to SID; a
// `std::map` keyed by a sequence number keeps creation order for paging (the
// page token is the last sequence number); one `std::shared_mutex` guards it
// all; attributes are validated by parsing them into a RapidJSON `Document`.
// Reads return a copy of the `User`. The caller is assumed to hold keys as
// `std::string` already (a reused per-thread string, so no allocation is
// charged for the key).

#include <cstdlib>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "bench/bench_harness.h"
#include "rapidjson/document.h"
#include <benchmark/benchmark.h>

#include "userstore/resources.h"

namespace userstore_bench {
namespace {

using userstore::User;

class NaiveAdapter {
 public:
  static constexpr const char* kName = "Naive";

  static std::unique_ptr<NaiveAdapter> MakeEmpty() { return std::make_unique<NaiveAdapter>(); }
  static void BuildFixture(int64_t n, Fixture<NaiveAdapter>* fx) { BuildStandardFixture(n, fx); }
  static int64_t EngineBytes() { return -1; }

  NaiveAdapter()
      : rng_(0x4a1fe),
        account_sid_("AC" + SidString(Rng(1).NextSid()).substr(2)),
        service_sid_("IS" + SidString(Rng(2).NextSid()).substr(2)),
        role_sid_("RL" + SidString(Rng(3).NextSid()).substr(2)) {}

  void Load(const Dataset& d, SidText* sids) {
    for (int64_t i = 0; i < d.n; ++i) {
      if (!Create(0, d.identity(i), d.attribute(i), &sids[i])) std::abort();
    }
  }

  bool Create(int t, absl::string_view identity, absl::string_view attributes, SidText* sid_out) {
    if (!ValidJson(attributes)) return false;
    User user;
    user.account_sid = account_sid_;
    user.service_sid = service_sid_;
    user.role_sid = role_sid_;
    user.identity = std::string(identity);
    user.attributes = std::string(attributes);
    user.date_created = user.date_updated = NowSeconds();
    std::optional<User> result;
    {
      std::unique_lock<std::shared_mutex> lock(mu_);
      auto& ids = identities_[service_sid_];
      if (ids.count(user.identity) != 0) return false;
      do {
        user.sid = SidString(rng_.NextSid());
      } while (users_.count(user.sid) != 0);
      const uint64_t seq = next_seq_++;
      ids.emplace(user.identity, user.sid);
      order_.emplace(seq, user.sid);
      std::string key = user.sid;
      auto it = users_.emplace(std::move(key), Record{std::move(user), seq}).first;
      result = it->second.user;
    }
    benchmark::DoNotOptimize(result);
    if (sid_out != nullptr) sid_out->Set(result->sid);
    return true;
  }

  bool GetBySid(int t, absl::string_view sid) {
    std::string& key = Scratch(t, sid);
    std::optional<User> result;
    {
      std::shared_lock<std::shared_mutex> lock(mu_);
      auto it = users_.find(key);
      if (it == users_.end()) return false;
      result = it->second.user;
    }
    benchmark::DoNotOptimize(result);
    return true;
  }

  bool GetByIdentity(int t, absl::string_view identity) {
    std::string& key = Scratch(t, identity);
    std::optional<User> result;
    {
      std::shared_lock<std::shared_mutex> lock(mu_);
      auto service = identities_.find(service_sid_);
      if (service == identities_.end()) return false;
      auto id = service->second.find(key);
      if (id == service->second.end()) return false;
      auto it = users_.find(id->second);
      if (it == users_.end()) return false;
      result = it->second.user;
    }
    benchmark::DoNotOptimize(result);
    return true;
  }

  bool Update(int t, absl::string_view sid, absl::string_view attributes) {
    if (!ValidJson(attributes)) return false;
    std::string& key = Scratch(t, sid);
    std::optional<User> result;
    {
      std::unique_lock<std::shared_mutex> lock(mu_);
      auto it = users_.find(key);
      if (it == users_.end()) return false;
      User& user = it->second.user;
      if (user.attributes != attributes) {
        user.attributes = std::string(attributes);
        user.date_updated = NowSeconds();
      }
      result = user;
    }
    benchmark::DoNotOptimize(result);
    return true;
  }

  bool Delete(int t, absl::string_view sid) {
    std::string& key = Scratch(t, sid);
    std::unique_lock<std::shared_mutex> lock(mu_);
    auto it = users_.find(key);
    if (it == users_.end()) return false;
    EraseLocked(it);
    return true;
  }

  int64_t List(int t, std::string* token) {
    const uint64_t after = token->empty() ? 0 : std::strtoull(token->c_str(), nullptr, 10);
    std::vector<User> page;
    page.reserve(kPageSize);
    bool more = false;
    uint64_t last = 0;
    {
      std::shared_lock<std::shared_mutex> lock(mu_);
      auto it = order_.upper_bound(after);
      for (; it != order_.end() && static_cast<int64_t>(page.size()) < kPageSize; ++it) {
        auto user = users_.find(it->second);
        if (user == users_.end()) return -1;
        page.push_back(user->second.user);
        last = it->first;
      }
      more = it != order_.end();
    }
    benchmark::DoNotOptimize(page);
    *token = more ? std::to_string(last) : std::string();
    return static_cast<int64_t>(page.size());
  }

  bool DeleteByIdentity(absl::string_view identity) {
    std::unique_lock<std::shared_mutex> lock(mu_);
    auto& ids = identities_[service_sid_];
    auto id = ids.find(std::string(identity));
    if (id == ids.end()) return false;
    auto it = users_.find(id->second);
    if (it == users_.end()) return false;
    EraseLocked(it);
    return true;
  }

  void BeginBatch(int) {}
  void CommitBatch(int) {}
  void Compact() {}

 private:
  struct Record {
    User user;
    uint64_t seq;
  };

  static bool ValidJson(absl::string_view text) {
    rapidjson::Document doc;
    doc.Parse(text.data(), text.size());
    return !doc.HasParseError();
  }

  std::string& Scratch(int t, absl::string_view text) {
    std::string& s = scratch_[t & 1].s;
    s.assign(text.data(), text.size());
    return s;
  }

  void EraseLocked(std::unordered_map<std::string, Record>::iterator it) {
    identities_[it->second.user.service_sid].erase(it->second.user.identity);
    order_.erase(it->second.seq);
    users_.erase(it);
  }

  std::shared_mutex mu_;
  std::unordered_map<std::string, Record> users_;
  std::unordered_map<std::string, std::unordered_map<std::string, std::string>> identities_;
  std::map<uint64_t, std::string> order_;
  uint64_t next_seq_ = 1;
  Rng rng_;
  struct alignas(64) Scratchpad {
    std::string s;
  };
  Scratchpad scratch_[2];  // one per benchmark thread, a cache line each
  const std::string account_sid_;
  const std::string service_sid_;
  const std::string role_sid_;
};

const bool kRegistered = RegisterImpl(MakeEntry<NaiveAdapter>(/*order=*/3));

}  // namespace
}  // namespace userstore_bench
