// -----------------------------------------------------------------------------
// File: core/order_index.h
// -----------------------------------------------------------------------------
//
// `OrderIndex`: the creation-order index of one service, position -> record.
// Positions are handed out in increasing order and never reused, so entries
// only ever arrive at the end; they leave from anywhere. Pages seek to a
// position (a page token's anchor, which may name a user deleted since) and
// walk forward or backward from there.
//
// IMPLEMENTATION DETAILS
//
// Positions are grouped 64 to a block: block number = position / 64. A block
// holds a 64-bit mask of the positions it has and, packed in position order,
// the records of exactly those positions (the k-th record belongs to the k-th
// set bit). The blocks that hold at least one entry are kept in a
// `btree_map<block number, Block*>`, the directory.
//
//   Erase    directory lookup, then in the block: the entry's index is the
//            number of mask bits below its bit; the records after it move
//            down one slot. A block never rebalances with a neighbour: an
//            erase touches its own block only, freeing it when it empties
//            and halving its allocation when it falls to a quarter full.
//   Append   into the last block (doubling its allocation up to 64 slots),
//            or into a new block.
//   Seek     lower_bound / upper_bound: directory lower_bound, then the
//            first mask bit at or after the position's.
//   Walk     the next / previous mask bit, else the next / previous block.
//
// Why not `absl::btree_map<position, UserRecord*>` (the previous index): at
// 10^6 users its leaves (~24 MB) and the level above them are cache misses,
// so an erase at a random position paid a walk down to a leaf plus, often,
// a rebalance that loads a sibling: measured ~410 ns of a 1,210 ns delete.
// Here the directory has one entry per 64 users (~16 k at 10^6, a few
// hundred KB, mostly cached) and an erase misses on one block. Memory per
// user, packed: 8 bytes of slot plus 16 bytes of block header and one
// directory entry per 64 users, about 9 bytes against the btree's ~17
// (docs/performance.md has both measurements).
//
// Cost of sparseness: a block keeps between a quarter and all of its slots
// in use (and at least 4 slots), so its users pay at most ~32 bytes each plus
// the block's fixed ~40 bytes (header, allocation, directory entry) shared
// among them. A service churned down to one user per 64 positions pays ~90
// bytes per user for this index, where the btree (nodes kept at least half
// full) paid ~35; from a few users per block on, the two are alike.
//
// Thread safety: none. The store reads it under its service's lock (shared)
// and changes it under that lock held exclusively (core/store_impl.h).
//
// Complexity: Append O(1) amortized; Erase O(log(n / 64) + 64); lower_bound,
// upper_bound O(log(n / 64)); iterator steps O(1) amortized. Iterators stay
// valid until the next Append or Erase.

#ifndef USERSTORE_CORE_ORDER_INDEX_H_
#define USERSTORE_CORE_ORDER_INDEX_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <iterator>
#include <utility>

#include "absl/container/btree_map.h"
#include "absl/numeric/bits.h"

#include "core/table_allocator.h"

namespace userstore {
namespace internal {

class UserRecord;

class OrderIndex {
 private:
  static constexpr unsigned kBits = 64;  // positions per block
  struct Block;
  using Directory = absl::btree_map<uint64_t, Block*, std::less<uint64_t>,
                                    TableAllocator<std::pair<const uint64_t, Block*>>>;

 public:
  // One entry, pair-like (`first` the position, `second` the record), so
  // that code written for a map of position -> record reads it unchanged.
  struct Entry {
    uint64_t first;
    UserRecord* second;
  };

  // Bidirectional, over the entries in position order. Dereferencing yields
  // an Entry by value.
  class const_iterator {
   public:
    using iterator_category = std::bidirectional_iterator_tag;
    using value_type = Entry;
    using difference_type = std::ptrdiff_t;
    using reference = Entry;
    struct pointer {
      Entry entry;
      const Entry* operator->() const { return &entry; }
    };

    const_iterator() = default;

    Entry operator*() const;
    pointer operator->() const { return pointer{**this}; }
    const_iterator& operator++();
    const_iterator& operator--();
    const_iterator operator++(int) {
      const_iterator old = *this;
      ++*this;
      return old;
    }
    const_iterator operator--(int) {
      const_iterator old = *this;
      --*this;
      return old;
    }
    friend bool operator==(const const_iterator& a, const const_iterator& b) {
      return a.block_ == b.block_ && a.bit_ == b.bit_;
    }
    friend bool operator!=(const const_iterator& a, const const_iterator& b) { return !(a == b); }

   private:
    friend class OrderIndex;
    // The entry at `bit` of the block `it` names, or end() when `it` is the
    // directory's end.
    const_iterator(const Directory* dir, Directory::const_iterator it, unsigned bit);
    // Points at block `it` (not the end) without choosing an entry.
    void Enter(Directory::const_iterator it) {
      it_ = it;
      block_ = it->second;
      base_ = it->first * kBits;
    }

    // The block's pointer, base position and the entry's slot are kept so
    // that a step and a dereference read only the block (a walk's work).
    const Directory* dir_ = nullptr;
    Directory::const_iterator it_;
    const Block* block_ = nullptr;  // nullptr at end()
    uint64_t base_ = 0;             // the block's first position
    unsigned bit_ = 0;              // the entry's bit in its block
    unsigned index_ = 0;            // the entry's slot in its block
  };
  using iterator = const_iterator;

  OrderIndex() = default;
  ~OrderIndex();
  OrderIndex(const OrderIndex&) = delete;
  OrderIndex& operator=(const OrderIndex&) = delete;

  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }

  const_iterator begin() const;
  const_iterator end() const { return const_iterator(&dir_, dir_.end(), 0); }
  // The first entry at or after `position` / after `position`.
  const_iterator lower_bound(uint64_t position) const;
  const_iterator upper_bound(uint64_t position) const;

  // The record at `position`, or nullptr.
  UserRecord* Find(uint64_t position) const;

  // Adds `record` at `position`. REQUIRES: `position` is above every position
  // held. Throws std::bad_alloc when memory runs out; nothing changes then.
  void Append(uint64_t position, UserRecord* record);

  // Removes the entry at `position`; false (nothing changes) when there is
  // none. Never throws: a block that cannot get a smaller allocation keeps
  // its current one.
  bool Erase(uint64_t position) noexcept;

  // Bytes allocated for blocks (not the directory), for tests.
  size_t block_bytes() const { return block_bytes_; }

  // Checks the internal invariants (masks agree with counts, no empty block,
  // capacities within bounds); for tests and CheckInvariants.
  bool Consistent() const;

 private:
  static constexpr uint32_t kMinSlots = 4;

  struct Block {
    uint64_t mask;      // bit i: position (block number * 64 + i) is held
    uint32_t capacity;  // slots allocated after the header
    uint32_t count;     // popcount(mask)
    UserRecord** slots() { return reinterpret_cast<UserRecord**>(this + 1); }
    UserRecord* const* slots() const { return reinterpret_cast<UserRecord* const*>(this + 1); }
    // The slot of the entry at `bit` (which must be set): bits set below it.
    static unsigned Index(uint64_t mask, unsigned bit) {
      return static_cast<unsigned>(absl::popcount(mask & ((uint64_t{1} << bit) - 1)));
    }
  };
  static_assert(sizeof(Block) == 16, "the slots start right after the header");

  static size_t BytesFor(uint32_t capacity) { return sizeof(Block) + capacity * sizeof(void*); }
  // A block with room for `capacity` slots holding `from`'s entries (or
  // none); nullptr when memory runs out and `nothrow`.
  Block* NewBlock(uint32_t capacity, const Block* from, bool nothrow);
  void FreeBlock(Block* block) noexcept;

  Directory dir_;
  size_t size_ = 0;
  size_t block_bytes_ = 0;
};

inline OrderIndex::Entry OrderIndex::const_iterator::operator*() const {
  return Entry{base_ | bit_, block_->slots()[index_]};
}

}  // namespace internal
}  // namespace userstore

#endif  // USERSTORE_CORE_ORDER_INDEX_H_
