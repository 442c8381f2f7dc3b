// OrderIndex: the creation-order index of a service. Checked against a
// std::map of the same entries through random appends (with gaps that cross
// and skip blocks) and erases: contents in both directions, lower_bound and
// upper_bound at and around every block boundary, Find, size and the block
// bookkeeping; then block memory as blocks fill, thin out and empty, and the
// positions next to 2^64.

#include "core/order_index.h"

#include <cstdint>
#include <iterator>
#include <map>
#include <random>
#include <vector>

#include "gtest/gtest.h"

#include "core/store_rules.h"

namespace userstore {
namespace internal {
namespace {

// Records are never dereferenced by the index: distinct fake pointers do.
UserRecord* Fake(uint64_t n) {
  return reinterpret_cast<UserRecord*>(static_cast<uintptr_t>((n + 1) * 16));
}

using Model = std::map<uint64_t, UserRecord*>;

// Every observable of `index` agrees with `model`.
void ExpectSame(const OrderIndex& index, const Model& model, uint64_t probe_limit,
                std::mt19937_64* rng) {
  ASSERT_TRUE(index.Consistent());
  ASSERT_EQ(index.size(), model.size());
  ASSERT_EQ(index.empty(), model.empty());
  // Forward.
  auto it = index.begin();
  for (const auto& [position, record] : model) {
    ASSERT_NE(it, index.end());
    ASSERT_EQ((*it).first, position);
    ASSERT_EQ(it->second, record);
    ++it;
  }
  ASSERT_EQ(it, index.end());
  // Backward, from end().
  auto back = index.end();
  for (auto m = model.rbegin(); m != model.rend(); ++m) {
    ASSERT_NE(back, index.begin());
    --back;
    ASSERT_EQ(back->first, m->first);
    ASSERT_EQ(back->second, m->second);
  }
  ASSERT_EQ(back, index.begin());
  // Seeks: around every block boundary up to the limit, and at random.
  std::vector<uint64_t> probes;
  for (uint64_t b = 0; b <= probe_limit + 64; b += 64) {
    for (uint64_t p : {b, b + 1, b + 63}) probes.push_back(p);
    if (b > 0) probes.push_back(b - 1);
  }
  for (int i = 0; i < 200; ++i) probes.push_back((*rng)() % (probe_limit + 130));
  for (const auto& entry : model) probes.push_back(entry.first);
  // A seek lands on the entry the model's does, and so does a step back
  // from it.
  auto expect_same_seek = [&](OrderIndex::const_iterator it, Model::const_iterator m, uint64_t p) {
    if (m == model.end()) {
      ASSERT_EQ(it, index.end()) << p;
    } else {
      ASSERT_NE(it, index.end()) << p;
      ASSERT_EQ(it->first, m->first) << p;
    }
    if (m != model.begin()) {
      ASSERT_NE(it, index.begin()) << p;
      ASSERT_EQ(std::prev(it)->first, std::prev(m)->first) << p;
    }
  };
  for (uint64_t p : probes) {
    expect_same_seek(index.lower_bound(p), model.lower_bound(p), p);
    expect_same_seek(index.upper_bound(p), model.upper_bound(p), p);
    auto found = model.find(p);
    ASSERT_EQ(index.Find(p), found == model.end() ? nullptr : found->second) << p;
  }
}

TEST(OrderIndexTest, EmptyIndex) {
  OrderIndex index;
  EXPECT_TRUE(index.empty());
  EXPECT_EQ(index.begin(), index.end());
  EXPECT_EQ(index.lower_bound(0), index.end());
  EXPECT_EQ(index.upper_bound(0), index.end());
  EXPECT_EQ(index.Find(5), nullptr);
  EXPECT_FALSE(index.Erase(5));
  EXPECT_EQ(index.block_bytes(), 0u);
  EXPECT_TRUE(index.Consistent());
}

TEST(OrderIndexTest, AgreesWithAMapThroughRandomAppendsAndErases) {
  for (uint64_t seed : {1u, 2u, 3u, 4u}) {
    std::mt19937_64 rng(seed);
    OrderIndex index;
    Model model;
    uint64_t next = 1 + rng() % 70;
    for (int round = 0; round < 40; ++round) {
      // Appends: mostly consecutive, some gaps within a block, some that
      // skip whole blocks.
      const int appends = static_cast<int>(rng() % 200);
      for (int i = 0; i < appends; ++i) {
        index.Append(next, Fake(next));
        model[next] = Fake(next);
        const uint64_t kind = rng() % 20;
        next += kind < 16 ? 1 : (kind < 19 ? 1 + rng() % 40 : 64 + rng() % 300);
      }
      // Erases: existing entries at random (some rounds erase most of
      // them, so blocks thin out and empty), and positions that are not
      // there.
      const size_t erases =
          model.empty() ? 0 : rng() % (model.size() * (round % 4 == 3 ? 1 : 2) / 2 + 1);
      for (size_t i = 0; i < erases && !model.empty(); ++i) {
        auto m = model.begin();
        std::advance(m, static_cast<long>(rng() % model.size()));
        const uint64_t p = m->first;
        model.erase(m);
        ASSERT_TRUE(index.Erase(p)) << p;
        ASSERT_FALSE(index.Erase(p)) << p;
      }
      ASSERT_FALSE(index.Erase(next + 1000));
      ExpectSame(index, model, next, &rng);
    }
    // Down to nothing.
    while (!model.empty()) {
      ASSERT_TRUE(index.Erase(model.begin()->first));
      model.erase(model.begin());
    }
    ExpectSame(index, model, next, &rng);
    EXPECT_EQ(index.block_bytes(), 0u);
  }
}

TEST(OrderIndexTest, BlocksGrowWhenFilledAndShrinkWhenThinned) {
  OrderIndex index;
  constexpr size_t kHeader = 16;
  const size_t full_block = kHeader + 64 * sizeof(void*);
  for (uint64_t p = 0; p < 128; ++p) index.Append(p, Fake(p));
  EXPECT_EQ(index.block_bytes(), 2 * full_block);  // two full blocks: 8 bytes a user
  // Thin the first block to 16 users: it halves once it is a quarter full.
  for (uint64_t p = 0; p < 48; ++p) ASSERT_TRUE(index.Erase(p));
  EXPECT_EQ(index.block_bytes(), full_block + kHeader + 32 * sizeof(void*));
  // Down to 1: 32 -> 16 -> 8 -> 4 slots, never below 4.
  for (uint64_t p = 48; p < 63; ++p) ASSERT_TRUE(index.Erase(p));
  EXPECT_EQ(index.block_bytes(), full_block + kHeader + 4 * sizeof(void*));
  EXPECT_EQ(index.Find(63), Fake(63));
  ASSERT_TRUE(index.Erase(63));  // empty: freed
  EXPECT_EQ(index.block_bytes(), full_block);
  EXPECT_EQ(index.begin()->first, 64u);
  EXPECT_TRUE(index.Consistent());
  // A new block starts small and doubles.
  index.Append(200, Fake(200));
  EXPECT_EQ(index.block_bytes(), full_block + kHeader + 4 * sizeof(void*));
  for (uint64_t p = 201; p < 206; ++p) index.Append(p, Fake(p));
  EXPECT_EQ(index.block_bytes(), full_block + kHeader + 8 * sizeof(void*));
  EXPECT_TRUE(index.Consistent());
}

TEST(OrderIndexTest, PositionsNextToTheTopOfTheRange) {
  OrderIndex index;
  const uint64_t top = UINT64_MAX;
  index.Append(top - 64, Fake(1));
  index.Append(top - 1, Fake(2));
  index.Append(top, Fake(3));
  EXPECT_EQ(index.upper_bound(top), index.end());
  EXPECT_EQ(index.lower_bound(top)->second, Fake(3));
  EXPECT_EQ(index.upper_bound(top - 2)->first, top - 1);
  EXPECT_EQ(index.upper_bound(top - 64)->first, top - 1);
  auto last = std::prev(index.end());
  EXPECT_EQ(last->first, top);
  EXPECT_EQ((--last)->first, top - 1);
  EXPECT_EQ((--last)->first, top - 64);
  EXPECT_EQ(last, index.begin());
  EXPECT_TRUE(index.Erase(top));
  EXPECT_EQ(std::prev(index.end())->first, top - 1);
  EXPECT_TRUE(index.Consistent());
}

// The pages the store cuts (Paginate, core/store_rules.h) are the same over
// the index as over a map holding the same entries, forward and backward,
// from anchors that name held and erased positions.
TEST(OrderIndexTest, PagesMatchAMapsPages) {
  std::mt19937_64 rng(7);
  OrderIndex index;
  Model model;
  for (uint64_t p = 1; p <= 3000; ++p) {
    index.Append(p, Fake(p));
    model[p] = Fake(p);
  }
  for (int i = 0; i < 1800; ++i) {
    const uint64_t p = 1 + rng() % 3000;
    if (model.erase(p) == 1) {
      ASSERT_TRUE(index.Erase(p));
    }
  }
  auto key = [](const auto& entry) { return entry.first; };
  for (int i = 0; i < 400; ++i) {
    std::optional<PageTokenData> token;
    if (i % 5 != 0) {
      token.emplace();
      token->anchor = rng() % 3100;
      token->forward = (i % 2) == 0;
    }
    const int64_t page_size = 1 + static_cast<int64_t>(rng() % 120);
    auto a = Paginate(index, token, page_size, key);
    auto b = Paginate(model, token, page_size, key);
    ASSERT_EQ(a.has_next, b.has_next);
    ASSERT_EQ(a.has_prev, b.has_prev);
    ASSERT_EQ(a.next_anchor, b.next_anchor);
    ASSERT_EQ(a.prev_anchor, b.prev_anchor);
    auto m = b.begin;
    for (auto it = a.begin; it != a.end; ++it, ++m) {
      ASSERT_NE(m, b.end);
      ASSERT_EQ(it->first, m->first);
      ASSERT_EQ(it->second, m->second);
    }
    ASSERT_EQ(m, b.end);
  }
}

}  // namespace
}  // namespace internal
}  // namespace userstore
