// -----------------------------------------------------------------------------
// File: bench/rocksdb_benchmark.cc
// -----------------------------------------------------------------------------
//
// `RocksDb`: the users in a RocksDB database in a fresh temporary directory
// (removed with the adapter), as a developer would put them in a key-value
// store on disk. Default options but `create_if_missing`; the write-ahead log
// on, writes with `WriteOptions.sync = false` (each write is in the log, in
// the operating system's hands, before it returns: what a crash of the
// process leaves intact; a power loss may lose the unsynced tail, as with
// SQLite's synchronous=NORMAL and the durable store's default mode).
//
// Two keys per user, written together in one WriteBatch:
//
//   'u' + SID text (34 bytes)                    -> the user's record
//   'i' + service SID (34 bytes) + identity      -> the SID text
//
// The record is a length-prefixed concatenation of the user's fields (see
// EncodeUser below; the same shape as the project's event encoding of a user,
// without its tags). A create is what a store does: the identity's
// uniqueness checked by a Get of its key, the attributes validated, then one
// batch of two puts. A fetch by SID is one Get into a PinnableSlice, decoded
// into a `UserView` over it (no copy), handed to DoNotOptimize. An update
// reads the record, validates the new attributes, writes the record again
// (one Put) and hands the new view over. A delete reads the record (for the
// identity key) and writes one batch of two deletes. Attributes are checked
// by RapidJSON's SAX reader, as RawMap does (SQLite checks with
// json_valid(), the store with its own validator).
//
// Registered: Create, GetBySid, Update, Delete (single thread).

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <optional>
#include <string>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "bench/bench_harness.h"
#include "rapidjson/memorystream.h"
#include "rapidjson/reader.h"
#include <benchmark/benchmark.h>
#include <rocksdb/db.h>
#include <rocksdb/options.h>
#include <rocksdb/slice.h>
#include <rocksdb/version.h>
#include <rocksdb/write_batch.h>

#include "userstore/resources.h"

namespace userstore_bench {
namespace {

using userstore::UserView;

void CheckOk(const rocksdb::Status& s, const char* what) {
  if (!s.ok()) {
    std::fprintf(stderr, "rocksdb: %s: %s\n", what, s.ToString().c_str());
    std::abort();
  }
}

// --- the record ---------------------------------------------------------------
//
//   record := sid:str account_sid:str service_sid:str role_sid:str identity:str
//             friendly_name:optstr attributes:str is_online:optbool
//             is_notifiable:optbool joined_channels_count:u32
//             date_created:i64 date_updated:i64
//   str    := length:varint bytes     optstr := 0 | 1 str
//   optbool:= 0 (null) | 1 (false) | 2 (true)
// Integers little-endian (the machines measured are).

void PutVarint(uint64_t v, std::string* out) {
  while (v >= 0x80) {
    out->push_back(static_cast<char>(v | 0x80));
    v >>= 7;
  }
  out->push_back(static_cast<char>(v));
}

void PutStr(absl::string_view s, std::string* out) {
  PutVarint(s.size(), out);
  out->append(s.data(), s.size());
}

template <typename T>
void PutFixed(T v, std::string* out) {
  char buf[sizeof(T)];
  std::memcpy(buf, &v, sizeof(T));
  out->append(buf, sizeof(T));
}

void PutOptBool(const std::optional<bool>& b, std::string* out) {
  out->push_back(static_cast<char>(!b.has_value() ? 0 : (*b ? 2 : 1)));
}

// Replaces `*out` with the record of `user`.
void EncodeUser(const UserView& user, std::string* out) {
  out->clear();
  PutStr(user.sid, out);
  PutStr(user.account_sid, out);
  PutStr(user.service_sid, out);
  PutStr(user.role_sid, out);
  PutStr(user.identity, out);
  if (user.friendly_name.has_value()) {
    out->push_back(1);
    PutStr(*user.friendly_name, out);
  } else {
    out->push_back(0);
  }
  PutStr(user.attributes, out);
  PutOptBool(user.is_online, out);
  PutOptBool(user.is_notifiable, out);
  PutFixed<uint32_t>(static_cast<uint32_t>(user.joined_channels_count), out);
  PutFixed<int64_t>(absl::ToUnixSeconds(user.date_created), out);
  PutFixed<int64_t>(absl::ToUnixSeconds(user.date_updated), out);
}

class Decoder {
 public:
  explicit Decoder(absl::string_view in) : in_(in) {}
  bool Str(absl::string_view* s) {
    uint64_t len = 0;
    for (int shift = 0;; shift += 7) {
      if (in_.empty() || shift > 63) return false;
      const uint8_t b = static_cast<uint8_t>(in_[0]);
      in_.remove_prefix(1);
      len |= static_cast<uint64_t>(b & 0x7f) << shift;
      if ((b & 0x80) == 0) break;
    }
    if (len > in_.size()) return false;
    *s = in_.substr(0, len);
    in_.remove_prefix(len);
    return true;
  }
  bool Byte(uint8_t* b) {
    if (in_.empty()) return false;
    *b = static_cast<uint8_t>(in_[0]);
    in_.remove_prefix(1);
    return true;
  }
  bool OptBool(std::optional<bool>* v) {
    uint8_t b;
    if (!Byte(&b) || b > 2) return false;
    if (b == 0) {
      v->reset();
    } else {
      *v = b == 2;
    }
    return true;
  }
  template <typename T>
  bool Fixed(T* v) {
    if (in_.size() < sizeof(T)) return false;
    std::memcpy(v, in_.data(), sizeof(T));
    in_.remove_prefix(sizeof(T));
    return true;
  }
  bool done() const { return in_.empty(); }

 private:
  absl::string_view in_;
};

// A view of the record `in` (valid while `in`'s bytes are).
bool DecodeUser(absl::string_view in, UserView* user) {
  Decoder d(in);
  uint8_t has_name = 0;
  uint32_t joined = 0;
  int64_t created = 0, updated = 0;
  if (!d.Str(&user->sid) || !d.Str(&user->account_sid) || !d.Str(&user->service_sid) ||
      !d.Str(&user->role_sid) || !d.Str(&user->identity) || !d.Byte(&has_name)) {
    return false;
  }
  if (has_name != 0) {
    absl::string_view name;
    if (!d.Str(&name)) return false;
    user->friendly_name = name;
  } else {
    user->friendly_name.reset();
  }
  if (!d.Str(&user->attributes) || !d.OptBool(&user->is_online) ||
      !d.OptBool(&user->is_notifiable) || !d.Fixed(&joined) || !d.Fixed(&created) ||
      !d.Fixed(&updated) || !d.done()) {
    return false;
  }
  user->joined_channels_count = static_cast<int>(joined);
  user->date_created = absl::FromUnixSeconds(created);
  user->date_updated = absl::FromUnixSeconds(updated);
  return true;
}

bool ValidJson(absl::string_view text) {
  rapidjson::Reader reader;
  rapidjson::BaseReaderHandler<> handler;
  rapidjson::MemoryStream ms(text.data(), text.size());
  return !reader
              .Parse<rapidjson::kParseIterativeFlag | rapidjson::kParseValidateEncodingFlag>(
                  ms, handler)
              .IsError();
}

rocksdb::Slice ToSlice(absl::string_view s) { return rocksdb::Slice(s.data(), s.size()); }
absl::string_view ToView(const rocksdb::Slice& s) { return absl::string_view(s.data(), s.size()); }

// --- the adapter ----------------------------------------------------------------

class RocksDbAdapter {
 public:
  static constexpr const char* kName = "RocksDb";

  static std::unique_ptr<RocksDbAdapter> MakeEmpty() { return std::make_unique<RocksDbAdapter>(); }
  static void BuildFixture(int64_t n, Fixture<RocksDbAdapter>* fx) { BuildStandardFixture(n, fx); }
  static int64_t EngineBytes() { return -1; }

  RocksDbAdapter()
      : dir_("rocksdb"),
        rng_(0x70cc5),
        account_sid_("AC" + SidString(Rng(1).NextSid()).substr(2)),
        service_sid_("IS" + SidString(Rng(2).NextSid()).substr(2)),
        role_sid_("RL" + SidString(Rng(3).NextSid()).substr(2)) {
    rocksdb::Options options;
    options.create_if_missing = true;
    rocksdb::DB* db = nullptr;
    CheckOk(rocksdb::DB::Open(options, dir_.path() + "/db", &db), "open");
    db_.reset(db);
    write_.sync = false;  // the write-ahead log stays on (disableWAL = false)
    identity_key_ = "i" + service_sid_;
    sid_key_ = "u";
  }

  // The database closes before its directory goes (members are destroyed in
  // reverse order: db_ before dir_).
  ~RocksDbAdapter() = default;

  void Load(const Dataset& d, SidText* sids) {
    for (int64_t i = 0; i < d.n; ++i) {
      if (!Create(0, d.identity(i), d.attribute(i), &sids[i])) std::abort();
    }
  }

  bool Create(int t, absl::string_view identity, absl::string_view attributes, SidText* sid_out) {
    if (!ValidJson(attributes)) return false;
    SetIdentityKey(identity);
    // The uniqueness check: the identity must not be taken.
    const rocksdb::Status got = db_->Get(read_, db_->DefaultColumnFamily(), identity_key_, &value_);
    value_.Reset();
    if (!got.IsNotFound()) return false;  // taken, or an error
    char sid[34];
    FormatSid(rng_.NextSid(), sid);
    UserView user;
    user.sid = absl::string_view(sid, sizeof(sid));
    user.account_sid = account_sid_;
    user.service_sid = service_sid_;
    user.role_sid = role_sid_;
    user.identity = identity;
    user.attributes = attributes;
    user.date_created = user.date_updated = NowSeconds();
    EncodeUser(user, &record_);
    SetSidKey(user.sid);
    rocksdb::WriteBatch batch;
    batch.Put(sid_key_, record_);
    batch.Put(identity_key_, ToSlice(user.sid));
    if (!db_->Write(write_, &batch).ok()) return false;
    benchmark::DoNotOptimize(user);
    if (sid_out != nullptr) sid_out->Set(user.sid);
    return true;
  }

  bool GetBySid(int t, absl::string_view sid) {
    SetSidKey(sid);
    if (!db_->Get(read_, db_->DefaultColumnFamily(), sid_key_, &value_).ok()) return false;
    UserView user;
    if (!DecodeUser(ToView(value_), &user)) return false;
    benchmark::DoNotOptimize(user);
    value_.Reset();
    return true;
  }

  bool GetByIdentity(int t, absl::string_view identity) {
    SetIdentityKey(identity);
    if (!db_->Get(read_, db_->DefaultColumnFamily(), identity_key_, &value_).ok()) return false;
    const std::string sid(value_.data(), value_.size());
    value_.Reset();
    return GetBySid(t, sid);
  }

  bool Update(int t, absl::string_view sid, absl::string_view attributes) {
    SetSidKey(sid);
    if (!db_->Get(read_, db_->DefaultColumnFamily(), sid_key_, &value_).ok()) return false;
    UserView user;
    if (!DecodeUser(ToView(value_), &user)) return false;
    if (!ValidJson(attributes)) return false;
    user.attributes = attributes;
    user.date_updated = NowSeconds();
    EncodeUser(user, &record_);  // copies out of value_ before it is reset
    value_.Reset();
    if (!db_->Put(write_, sid_key_, record_).ok()) return false;
    // The new user, as a view of the record written.
    if (!DecodeUser(record_, &user)) return false;
    benchmark::DoNotOptimize(user);
    return true;
  }

  bool Delete(int t, absl::string_view sid) {
    SetSidKey(sid);
    if (!db_->Get(read_, db_->DefaultColumnFamily(), sid_key_, &value_).ok()) return false;
    UserView user;
    if (!DecodeUser(ToView(value_), &user)) return false;
    SetIdentityKey(user.identity);
    value_.Reset();
    rocksdb::WriteBatch batch;
    batch.Delete(sid_key_);
    batch.Delete(identity_key_);
    return db_->Write(write_, &batch).ok();
  }

  int64_t List(int, std::string*) { return -1; }  // not measured

  bool DeleteByIdentity(absl::string_view identity) {
    SetIdentityKey(identity);
    if (!db_->Get(read_, db_->DefaultColumnFamily(), identity_key_, &value_).ok()) return false;
    const std::string sid(value_.data(), value_.size());
    value_.Reset();
    return Delete(0, sid);
  }

  void BeginBatch(int) {}
  void CommitBatch(int) {}
  void Compact() {}

 private:
  void SetSidKey(absl::string_view sid) {
    sid_key_.resize(1);
    sid_key_.append(sid.data(), sid.size());
  }
  void SetIdentityKey(absl::string_view identity) {
    identity_key_.resize(1 + service_sid_.size());
    identity_key_.append(identity.data(), identity.size());
  }

  TempDir dir_;
  std::unique_ptr<rocksdb::DB> db_;
  rocksdb::ReadOptions read_;
  rocksdb::WriteOptions write_;
  Rng rng_;
  const std::string account_sid_;
  const std::string service_sid_;
  const std::string role_sid_;
  // Scratch, reused by every call (one benchmark thread writes).
  std::string sid_key_;
  std::string identity_key_;
  std::string record_;
  rocksdb::PinnableSlice value_;
};

const bool kRegistered = [] {
  benchmark::AddCustomContext("rocksdb_version", std::to_string(ROCKSDB_MAJOR) + "." +
                                                     std::to_string(ROCKSDB_MINOR) + "." +
                                                     std::to_string(ROCKSDB_PATCH));
  ImplEntry e;
  e.name = RocksDbAdapter::kName;
  e.order = 8;
  e.threaded_reads = false;
  e.ops[kCreate] = &BM_Create<RocksDbAdapter>;
  e.ops[kGetBySid] = &BM_GetBySid<RocksDbAdapter>;
  e.ops[kUpdate] = &BM_Update<RocksDbAdapter>;
  e.ops[kDelete] = &BM_Delete<RocksDbAdapter>;
  return RegisterImpl(std::move(e));
}();

}  // namespace
}  // namespace userstore_bench
