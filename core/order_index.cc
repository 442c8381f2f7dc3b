#include "core/order_index.h"

#include <algorithm>
#include <cstring>
#include <new>

namespace userstore {
namespace internal {
namespace {

// The lowest / highest set bit of a non-zero mask.
unsigned LowBit(uint64_t mask) { return static_cast<unsigned>(absl::countr_zero(mask)); }
unsigned HighBit(uint64_t mask) { return 63u - static_cast<unsigned>(absl::countl_zero(mask)); }

}  // namespace

OrderIndex::~OrderIndex() {
  for (const auto& entry : dir_) FreeBlock(entry.second);
}

OrderIndex::Block* OrderIndex::NewBlock(uint32_t capacity, const Block* from, bool nothrow) {
  void* memory = nothrow ? ::operator new(BytesFor(capacity), std::nothrow)
                         : ::operator new(BytesFor(capacity));
  if (memory == nullptr) return nullptr;
  Block* block = static_cast<Block*>(memory);
  block->capacity = capacity;
  if (from != nullptr) {
    block->mask = from->mask;
    block->count = from->count;
    std::memcpy(block->slots(), from->slots(), from->count * sizeof(UserRecord*));
  } else {
    block->mask = 0;
    block->count = 0;
  }
  block_bytes_ += BytesFor(capacity);
  return block;
}

void OrderIndex::FreeBlock(Block* block) noexcept {
  block_bytes_ -= BytesFor(block->capacity);
  ::operator delete(block);
}

OrderIndex::const_iterator::const_iterator(const Directory* dir, Directory::const_iterator it,
                                           unsigned bit)
    : dir_(dir), it_(it) {
  if (it == dir->end()) return;
  Enter(it);
  bit_ = bit;
  index_ = Block::Index(block_->mask, bit);
}

OrderIndex::const_iterator OrderIndex::begin() const {
  if (dir_.empty()) return end();
  return const_iterator(&dir_, dir_.begin(), LowBit(dir_.begin()->second->mask));
}

OrderIndex::const_iterator OrderIndex::lower_bound(uint64_t position) const {
  const uint64_t number = position / kBits;
  const unsigned bit = static_cast<unsigned>(position % kBits);
  auto it = dir_.lower_bound(number);
  if (it == dir_.end()) return end();
  if (it->first == number) {
    const uint64_t at_or_after = it->second->mask & ~((uint64_t{1} << bit) - 1);
    if (at_or_after != 0) return const_iterator(&dir_, it, LowBit(at_or_after));
    if (++it == dir_.end()) return end();
  }
  return const_iterator(&dir_, it, LowBit(it->second->mask));
}

OrderIndex::const_iterator OrderIndex::upper_bound(uint64_t position) const {
  if (position == UINT64_MAX) return end();
  return lower_bound(position + 1);
}

OrderIndex::const_iterator& OrderIndex::const_iterator::operator++() {
  // Bits strictly above bit_ (for bit_ == 63 the shift wraps to 0: none).
  const uint64_t above = block_->mask & ~((uint64_t{2} << bit_) - 1);
  if (above != 0) {
    bit_ = LowBit(above);
    ++index_;
    return *this;
  }
  if (++it_ == dir_->end()) {
    block_ = nullptr;
    bit_ = 0;
    index_ = 0;
    return *this;
  }
  Enter(it_);
  bit_ = LowBit(block_->mask);
  index_ = 0;
  return *this;
}

OrderIndex::const_iterator& OrderIndex::const_iterator::operator--() {
  if (block_ != nullptr) {
    const uint64_t below = block_->mask & ((uint64_t{1} << bit_) - 1);
    if (below != 0) {
      bit_ = HighBit(below);
      --index_;
      return *this;
    }
  }
  Enter(std::prev(it_));
  bit_ = HighBit(block_->mask);
  index_ = block_->count - 1;
  return *this;
}

UserRecord* OrderIndex::Find(uint64_t position) const {
  auto it = dir_.find(position / kBits);
  if (it == dir_.end()) return nullptr;
  const Block* block = it->second;
  const unsigned bit = static_cast<unsigned>(position % kBits);
  if ((block->mask >> bit & 1) == 0) return nullptr;
  return block->slots()[Block::Index(block->mask, bit)];
}

void OrderIndex::Append(uint64_t position, UserRecord* record) {
  const uint64_t number = position / kBits;
  const unsigned bit = static_cast<unsigned>(position % kBits);
  if (dir_.empty() || std::prev(dir_.end())->first != number) {
    // The block may throw std::bad_alloc (nothing changed yet); the
    // directory's node does not (TableAllocator ends the process instead).
    dir_.emplace_hint(dir_.end(), number, NewBlock(kMinSlots, nullptr, /*nothrow=*/false));
  }
  auto last = std::prev(dir_.end());
  Block* block = last->second;
  if (block->count == block->capacity) {
    // Full below 64 slots (a block of 64 has every bit, and `position` is
    // above all of them, so it is in a new block).
    Block* bigger = NewBlock(std::min<uint32_t>(2 * block->capacity, kBits), block, false);
    FreeBlock(block);
    last->second = block = bigger;
  }
  block->slots()[block->count++] = record;
  block->mask |= uint64_t{1} << bit;
  ++size_;
}

bool OrderIndex::Erase(uint64_t position) noexcept {
  auto it = dir_.find(position / kBits);
  if (it == dir_.end()) return false;
  Block* block = it->second;
  const unsigned bit = static_cast<unsigned>(position % kBits);
  if ((block->mask >> bit & 1) == 0) return false;
  const unsigned index = Block::Index(block->mask, bit);
  UserRecord** slots = block->slots();
  std::memmove(slots + index, slots + index + 1, (block->count - index - 1) * sizeof(UserRecord*));
  block->mask &= ~(uint64_t{1} << bit);
  --block->count;
  --size_;
  if (block->count == 0) {
    FreeBlock(block);
    dir_.erase(it);
  } else if (block->capacity > kMinSlots && block->count <= block->capacity / 4) {
    if (Block* smaller = NewBlock(block->capacity / 2, block, /*nothrow=*/true)) {
      FreeBlock(block);
      it->second = smaller;
    }
  }
  return true;
}

bool OrderIndex::Consistent() const {
  size_t total = 0;
  size_t bytes = 0;
  for (const auto& [number, block] : dir_) {
    if (block->mask == 0 || block->count != static_cast<uint32_t>(absl::popcount(block->mask)))
      return false;
    if (block->capacity < kMinSlots || block->capacity > kBits || block->count > block->capacity)
      return false;
    total += block->count;
    bytes += BytesFor(block->capacity);
  }
  return total == size_ && bytes == block_bytes_;
}

}  // namespace internal
}  // namespace userstore
