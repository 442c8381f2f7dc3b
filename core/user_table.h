// -----------------------------------------------------------------------------
// File: core/user_table.h
// -----------------------------------------------------------------------------
//
// The storage of users: the compact `UserRecord`, the SID table that owns the
// records (split into lock shards), and the two per-service indexes that point
// into them (identity, creation order). The locking that makes them safe to
// share is described in core/store_impl.h; this file only holds the layouts.
//
// IMPLEMENTATION DETAILS
//
// A user is one heap block that never moves once it is in the SID table:
//
//   struct UserRecord {                     // 88 bytes on LP64
//     Sid128    sid;                        // 16: the "US..." value
//     RoleRecord* role;                     //  8: owner service = role->service
//     uint64_t  position;                   //  8: creation order in the service
//     int64_t   date_created, date_updated; // 16: Unix seconds
//     char*     text;                       //  8: identity|friendly|attributes
//     uint32_t  identity_len, friendly_len, attributes_len, text_capacity,
//               block_bytes;
//     int32_t   joined_channels_count;
//     int8_t    is_online, is_notifiable;   // -1 unset, 0 false, 1 true
//     bool      has_friendly_name;
//     uint16_t  identity_shard;             // lock shard of its identity
//   };
//   followed by `text_capacity` bytes of inline text storage.
//
// The three strings of a user live back to back in one buffer (no NUL
// terminators, no `std::string` headers). The buffer is the tail of the record
// block itself, sized exactly at creation, so a typical user is a single
// block: 88 + 12 + 64 bytes for a 12-byte identity and 64-byte attributes,
// 176 bytes in its service's RecordArena (core/record_arena.h: records in
// creation order, in huge pages when the service is large). An update whose text no longer fits the
// inline tail moves the text to a separate heap buffer (`text` then points there); the record
// itself never moves, so the pointers held by the indexes stay valid. `text` always points at the
// current buffer, wherever it is.
//
// Ownership and indexes (see STYLE pitfalls 1 and 2):
//
//   SidTable       absl::flat_hash_set<UserRecordPtr>, keyed by the 128-bit
//                  SID (heterogeneous lookup hashes the two words, never the
//                  text). Owns the records. One table per lock shard; the
//                  shard of a SID is a function of its bits (`ShardOf`).
//   IdentityTable  absl::flat_hash_set<UserRecord*>, keyed by (service SID,
//                  identity bytes), one per lock shard like the SID tables;
//                  the shard of an identity is a function of that key
//                  (`IdentityShardOf`), so a lookup by identity takes one
//                  shard lock and no service lock.
//   OrderIndex     position -> record per service (core/order_index.h):
//                  blocks of 64 positions, each a bit mask and the packed
//                  record pointers of the positions it holds, under a small
//                  btree of block numbers. A page is a seek plus a walk:
//                  O(log(n / 64) + page size). The walk reads the record
//                  pointers from contiguous slots, so it can prefetch the
//                  records a few users ahead (`PrefetchRecord`); an intrusive
//                  tree (the first design: a boost::intrusive::set hooked into
//                  the record) must load each record to find the next one, one
//                  dependent cache miss per user. An erase touches one block
//                  (the btree of positions it replaced walked down to a leaf
//                  and rebalanced, two to three cache misses at 10^6 users).
//                  See docs/design.md and docs/performance.md.
//
// A record is removed from its identity table and its service's order index
// before it is erased from (and thereby destroyed by) its SID table; its block
// then goes back to its service's arena, so a service outlives its records.
// CheckInvariants verifies that the three agree.
//
// Memory per user (10^6 users, 12-byte identities, 64-byte attributes): the
// 176-byte arena block, plus ~19 bytes of SID-table slot and control byte at
// the table's load factor, ~19 for the identity index and ~9 for the order
// index's blocks: about 223 bytes.

#ifndef USERSTORE_CORE_USER_TABLE_H_
#define USERSTORE_CORE_USER_TABLE_H_

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <optional>
#include <utility>

#include "absl/container/flat_hash_set.h"
#include "absl/hash/hash.h"
#include "absl/strings/string_view.h"

#include "core/order_index.h"
#include "core/record_arena.h"
#include "core/sid.h"
#include "core/table_allocator.h"

namespace userstore {
namespace internal {

struct RoleRecord;
class UserRecord;

// Deleter for records made by `UserRecord::New` (one block with its text):
// destroys the record and returns its block to the arena of the record's
// service (`record->role()->service`), so the service must still exist and
// its lock be held exclusively. Defined in store_impl.cc, which knows
// ServiceState.
struct UserRecordDeleter {
  void operator()(UserRecord* record) const;
};
using UserRecordPtr = std::unique_ptr<UserRecord, UserRecordDeleter>;

// UserRecord
//
// One stored user. Field access follows the rules of core/store_impl.h:
// mutators run only with the record's service lock AND its shard lock held
// exclusively; readers hold at least one of the two (shared).
class UserRecord {
 public:
  // The text fields of a user, as views (the record copies them).
  struct Text {
    absl::string_view identity;
    std::optional<absl::string_view> friendly_name;
    absl::string_view attributes;
  };

  // Allocates a record with `text` stored inline, from `arena` (the arena of
  // the service `role` belongs to: the deleter gives the block back there).
  // Presence starts unset.
  static UserRecordPtr New(RecordArena* arena, Sid128 sid, uint64_t position, RoleRecord* role,
                           const Text& text, int64_t date_created, int64_t date_updated);

  UserRecord(const UserRecord&) = delete;
  UserRecord& operator=(const UserRecord&) = delete;

  Sid128 sid() const { return sid_; }
  uint64_t position() const { return position_; }
  RoleRecord* role() const { return role_; }
  int64_t date_created() const { return date_created_; }
  int64_t date_updated() const { return date_updated_; }
  int joined_channels_count() const { return joined_channels_count_; }
  // The lock shard of the identity index that holds this record (set when it
  // is linked), so that a mutation finds its second shard lock without
  // hashing the identity again.
  size_t identity_shard() const { return identity_shard_; }

  absl::string_view identity() const { return absl::string_view(text_, identity_len_); }
  std::optional<absl::string_view> friendly_name() const {
    if (!has_friendly_name_) return std::nullopt;
    return absl::string_view(text_ + identity_len_, friendly_len_);
  }
  absl::string_view attributes() const {
    return absl::string_view(text_ + identity_len_ + friendly_len_, attributes_len_);
  }
  std::optional<bool> is_online() const { return FromTri(is_online_); }
  std::optional<bool> is_notifiable() const { return FromTri(is_notifiable_); }

  // Mutators (both locks held exclusively; see core/store_impl.h).
  void set_role(RoleRecord* role) { role_ = role; }
  void set_identity_shard(size_t shard) { identity_shard_ = static_cast<uint16_t>(shard); }
  void set_date_updated(int64_t seconds) { date_updated_ = seconds; }
  void set_joined_channels_count(int count) { joined_channels_count_ = count; }
  void set_is_online(std::optional<bool> v) { is_online_ = ToTri(v); }
  void set_is_notifiable(std::optional<bool> v) { is_notifiable_ = ToTri(v); }
  // Replaces friendly name and attributes (the identity is immutable). Reuses
  // the current buffer when the new text fits, else allocates a heap buffer.
  void SetText(std::optional<absl::string_view> friendly_name, absl::string_view attributes);

  // Bytes of the block the record was allocated in (record and inline text).
  size_t block_bytes() const { return block_bytes_; }
  // Bytes of heap this record holds beyond its own block (0 when inline).
  size_t external_text_bytes() const { return text_is_inline() ? 0 : text_capacity_; }

 private:
  friend struct UserRecordDeleter;

  UserRecord(Sid128 sid, uint64_t position, RoleRecord* role, int64_t date_created,
             int64_t date_updated);
  ~UserRecord();

  static int8_t ToTri(std::optional<bool> v) {
    return static_cast<int8_t>(v.has_value() ? (*v ? 1 : 0) : -1);
  }
  static std::optional<bool> FromTri(int8_t v) {
    if (v < 0) return std::nullopt;
    return v != 0;
  }
  char* inline_text() { return reinterpret_cast<char*>(this + 1); }
  bool text_is_inline() const { return text_ == reinterpret_cast<const char*>(this + 1); }

  Sid128 sid_;
  RoleRecord* role_;
  uint64_t position_;
  int64_t date_created_;
  int64_t date_updated_;
  char* text_ = nullptr;
  uint32_t identity_len_ = 0;
  uint32_t friendly_len_ = 0;
  uint32_t attributes_len_ = 0;
  uint32_t text_capacity_ = 0;  // of the buffer `text_` points at
  uint32_t block_bytes_ = 0;    // of the record's own block, as allocated
  int32_t joined_channels_count_ = 0;
  int8_t is_online_ = -1;
  int8_t is_notifiable_ = -1;
  bool has_friendly_name_ = false;
  uint16_t identity_shard_ = 0;  // in the padding: the record stays 88 bytes
};

// --- SID table ------------------------------------------------------------------

// Hash and equality over records and bare SIDs (heterogeneous lookup).
struct SidHash {
  using is_transparent = void;
  size_t operator()(const Sid128& sid) const { return absl::Hash<Sid128>{}(sid); }
  size_t operator()(const UserRecordPtr& r) const { return (*this)(r->sid()); }
  size_t operator()(const UserRecord* r) const { return (*this)(r->sid()); }
};

// Asks the CPU for every cache line that bytes [from, to) of the block at
// `record` touch. A hint only: no memory is read.
inline void PrefetchRecordBytes(const UserRecord* record, size_t from, size_t to) {
  const char* p = reinterpret_cast<const char*>(record);
  for (size_t offset = from; offset < to; offset += 64) __builtin_prefetch(p + offset);
  __builtin_prefetch(p + to - 1);
}

// The comparison of a lookup is its first touch of a record (its first line);
// it also asks for the next lines up to 192 bytes, the fixed fields and the
// inline text of a typical user, so that at 10^6 users the record's lines
// arrive together instead of one after the other (the text's address is a
// field of the record; a caller's lock release in between orders loads).
inline void PrefetchFoundRecord(const UserRecord* record) { PrefetchRecordBytes(record, 64, 192); }

struct SidEq {
  using is_transparent = void;
  static Sid128 Key(const Sid128& s) { return s; }
  static Sid128 Key(const UserRecordPtr& r) {
    PrefetchFoundRecord(r.get());
    return r->sid();
  }
  static Sid128 Key(const UserRecord* r) { return r->sid(); }
  template <typename A, typename B>
  bool operator()(const A& a, const B& b) const {
    return Key(a) == Key(b);
  }
};
using SidTable = absl::flat_hash_set<UserRecordPtr, SidHash, SidEq, TableAllocator<UserRecordPtr>>;

// The shard a SID lives in, for `mask` = shards - 1 (a power of two minus 1).
// SIDs are uniformly random, so their top bits spread evenly; the hash table
// inside a shard mixes the whole value again.
inline size_t ShardOf(const Sid128& sid, size_t mask) {
  return static_cast<size_t>(sid.hi >> 48) & mask;
}

// --- Identity index -------------------------------------------------------------

// What an identity lookup names: a service and an identity in it.
struct IdentityKey {
  Sid128 service;
  absl::string_view identity;
  template <typename H>
  friend H AbslHashValue(H h, const IdentityKey& k) {
    return H::combine(std::move(h), k.service, k.identity);
  }
};

// An IdentityKey with its hash, computed once: a lookup needs the hash for
// the shard, for the prefetch and for the probe, and the identity's bytes are
// the costly part of hashing the key.
struct HashedIdentityKey {
  explicit HashedIdentityKey(const IdentityKey& k) : key(k), hash(absl::Hash<IdentityKey>{}(k)) {}
  IdentityKey key;
  size_t hash;
};

// The shard an identity lives in: a function of its key's hash, like ShardOf
// for SIDs (the top bits, which the table inside the shard hardly uses).
inline size_t IdentityShardOf(const HashedIdentityKey& key, size_t mask) {
  return static_cast<size_t>(key.hash >> 48) & mask;
}

// Hash and equality over records and keys (heterogeneous lookup). A record's
// key is (its service's SID, its identity); `IdentityKeyOf` is defined where
// the service type is known (core/store_impl.cc).
IdentityKey IdentityKeyOf(const UserRecord* record);
struct IdentityHash {
  using is_transparent = void;
  size_t operator()(const IdentityKey& key) const { return absl::Hash<IdentityKey>{}(key); }
  size_t operator()(const HashedIdentityKey& key) const { return key.hash; }
  size_t operator()(const UserRecord* r) const { return (*this)(IdentityKeyOf(r)); }
};
struct IdentityEq {
  using is_transparent = void;
  static IdentityKey Key(const IdentityKey& k) { return k; }
  static IdentityKey Key(const HashedIdentityKey& k) { return k.key; }
  static IdentityKey Key(const UserRecord* r) {
    PrefetchFoundRecord(r);
    return IdentityKeyOf(r);
  }
  template <typename A, typename B>
  bool operator()(const A& a, const B& b) const {
    const IdentityKey x = Key(a);
    const IdentityKey y = Key(b);
    return BytesEqual(x.identity, y.identity) && x.service == y.service;
  }
  // Equal sizes and bytes. Identities of 8 to 16 bytes (most are) compare as
  // two overlapping words, inline; others through memcmp.
  static bool BytesEqual(absl::string_view x, absl::string_view y) {
    const size_t n = x.size();
    if (n != y.size()) return false;
    if (n >= 8 && n <= 16) {
      uint64_t x0, x1, y0, y1;
      std::memcpy(&x0, x.data(), 8);
      std::memcpy(&y0, y.data(), 8);
      std::memcpy(&x1, x.data() + n - 8, 8);
      std::memcpy(&y1, y.data() + n - 8, 8);
      return ((x0 ^ y0) | (x1 ^ y1)) == 0;
    }
    return n == 0 || std::memcmp(x.data(), y.data(), n) == 0;
  }
};
using IdentityTable =
    absl::flat_hash_set<UserRecord*, IdentityHash, IdentityEq, TableAllocator<UserRecord*>>;

// --- Creation-order index -------------------------------------------------------

// Asks the CPU for every cache line of `record`'s fixed fields (not its
// text), so a walk can overlap the misses of the next users with the work on
// this one.
inline void PrefetchRecord(const UserRecord* record) {
  PrefetchRecordBytes(record, 0, sizeof(UserRecord));
}

}  // namespace internal
}  // namespace userstore

#endif  // USERSTORE_CORE_USER_TABLE_H_
