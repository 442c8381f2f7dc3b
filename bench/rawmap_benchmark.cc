// -----------------------------------------------------------------------------
// File: bench/rawmap_benchmark.cc
// -----------------------------------------------------------------------------
//
// `RawMap`: the limit. An `absl::flat_hash_map` keyed by the 128-bit SID value
// holding a compact record (identity, attributes, dates), a `flat_hash_map`
// from identity to SID, and a vector of SIDs in creation order (the page token
// is an index into it; deleted users are skipped and the vector is compacted
// after each write benchmark, untimed). No lock: writes happen on one thread
// only, and concurrent readers of a flat_hash_map are safe. Attributes are
// validated by RapidJSON's SAX reader (iterative, UTF-8 checked, no DOM).
//
// Reads parse the SID text and find the record, and hand the record itself to
// `benchmark::DoNotOptimize`: no `userstore::User` is built. So Store/RawMap
// includes everything the engine adds over a bare lookup: locking, the result
// type (BM_UserCopy measures a `User` copy alone) and error handling. A page is
// 50 record pointers.

#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "bench/bench_harness.h"
#include "rapidjson/memorystream.h"
#include "rapidjson/reader.h"
#include <benchmark/benchmark.h>

namespace userstore_bench {
namespace {

class RawMapAdapter {
 public:
  static constexpr const char* kName = "RawMap";

  static std::unique_ptr<RawMapAdapter> MakeEmpty() { return std::make_unique<RawMapAdapter>(); }
  static void BuildFixture(int64_t n, Fixture<RawMapAdapter>* fx) { BuildStandardFixture(n, fx); }
  static int64_t EngineBytes() { return -1; }

  RawMapAdapter() : rng_(0x7a3b) {}

  void Load(const Dataset& d, SidText* sids) {
    for (int64_t i = 0; i < d.n; ++i) {
      if (!Create(0, d.identity(i), d.attribute(i), &sids[i])) std::abort();
    }
  }

  bool Create(int t, absl::string_view identity, absl::string_view attributes, SidText* sid_out) {
    if (!ValidJson(attributes)) return false;
    auto id = by_identity_.try_emplace(identity);
    if (!id.second) return false;
    Sid128 sid;
    do {
      sid = rng_.NextSid();
    } while (users_.contains(sid));
    id.first->second = sid;
    const absl::Time now = NowSeconds();
    Record& r = users_[sid];
    r.identity = std::string(identity);
    r.attributes = std::string(attributes);
    r.created = r.updated = now;
    order_.push_back(sid);
    Touch(r);
    if (sid_out != nullptr) FormatSid(sid, sid_out->text);
    return true;
  }

  bool GetBySid(int t, absl::string_view text) {
    Sid128 sid;
    if (!ParseSid(text, &sid)) return false;
    auto it = users_.find(sid);
    if (it == users_.end()) return false;
    Touch(it->second);
    return true;
  }

  bool GetByIdentity(int t, absl::string_view identity) {
    auto id = by_identity_.find(identity);
    if (id == by_identity_.end()) return false;
    auto it = users_.find(id->second);
    if (it == users_.end()) return false;
    Touch(it->second);
    return true;
  }

  bool Update(int t, absl::string_view text, absl::string_view attributes) {
    if (!ValidJson(attributes)) return false;
    Sid128 sid;
    if (!ParseSid(text, &sid)) return false;
    auto it = users_.find(sid);
    if (it == users_.end()) return false;
    Record& r = it->second;
    if (r.attributes != attributes) {
      r.attributes.assign(attributes.data(), attributes.size());
      r.updated = NowSeconds();
    }
    Touch(r);
    return true;
  }

  bool Delete(int t, absl::string_view text) {
    Sid128 sid;
    if (!ParseSid(text, &sid)) return false;
    auto it = users_.find(sid);
    if (it == users_.end()) return false;
    by_identity_.erase(it->second.identity);
    users_.erase(it);
    return true;
  }

  int64_t List(int t, std::string* token) {
    size_t pos = token->empty() ? 0 : std::strtoull(token->c_str(), nullptr, 10);
    const Record* page[kPageSize] = {};
    int64_t count = 0;
    for (; pos < order_.size() && count < kPageSize; ++pos) {
      auto it = users_.find(order_[pos]);
      if (it == users_.end()) continue;  // deleted
      Touch(it->second);
      page[count++] = &it->second;
    }
    benchmark::DoNotOptimize(page);
    *token = pos < order_.size() ? std::to_string(pos) : std::string();
    return count;
  }

  bool DeleteByIdentity(absl::string_view identity) {
    auto id = by_identity_.find(identity);
    if (id == by_identity_.end()) return false;
    users_.erase(id->second);
    by_identity_.erase(id);
    return true;
  }

  void BeginBatch(int) {}
  void CommitBatch(int) {}

  // Drops deleted users from the creation-order vector.
  void Compact() {
    size_t out = 0;
    for (const Sid128& sid : order_) {
      if (users_.contains(sid)) order_[out++] = sid;
    }
    order_.resize(out);
  }

 private:
  struct Record {
    std::string identity;
    std::string attributes;
    absl::Time created;
    absl::Time updated;
  };

  // Reads the record's fields (as a reader of the record would) and keeps the
  // compiler from dropping the lookup.
  static void Touch(const Record& r) {
    benchmark::DoNotOptimize(&r);
    size_t sizes = r.identity.size() + r.attributes.size();
    benchmark::DoNotOptimize(sizes);
  }

  static bool ValidJson(absl::string_view text) {
    rapidjson::Reader reader;
    rapidjson::BaseReaderHandler<> handler;
    rapidjson::MemoryStream ms(text.data(), text.size());
    return !reader
                .Parse<rapidjson::kParseIterativeFlag | rapidjson::kParseValidateEncodingFlag>(
                    ms, handler)
                .IsError();
  }

  absl::flat_hash_map<Sid128, Record> users_;
  absl::flat_hash_map<std::string, Sid128> by_identity_;
  std::vector<Sid128> order_;
  Rng rng_;
};

const bool kRegistered = RegisterImpl(MakeEntry<RawMapAdapter>(/*order=*/4));

}  // namespace
}  // namespace userstore_bench
