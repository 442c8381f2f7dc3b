// The partition map (partition.h): FNV-1a 64, the jump consistent hash, and
// the worked values of docs/scaling.md.

#include "userstore/partition.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <fstream>
#include <iterator>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "gtest/gtest.h"

namespace userstore {
namespace {

TEST(ServiceKey, KnownFnv1aVectors) {
  EXPECT_EQ(0xcbf29ce484222325ULL, ServiceKey(""));
  EXPECT_EQ(0xaf63dc4c8601ec8cULL, ServiceKey("a"));
  EXPECT_EQ(0x85944171f73967e8ULL, ServiceKey("foobar"));
}

TEST(ServiceKey, HashesEveryByteAsUnsigned) {
  // A byte >= 0x80 is XORed in as 0..255, never sign-extended.
  const uint64_t expected = (0xcbf29ce484222325ULL ^ 0xffULL) * 0x100000001b3ULL;
  EXPECT_EQ(expected, ServiceKey(std::string(1, '\xff')));
  // A NUL byte counts (the SID is taken as given).
  EXPECT_NE(ServiceKey("a"), ServiceKey(std::string("a\0", 2)));
}

TEST(ServiceKey, CaseMatters) {
  EXPECT_NE(ServiceKey("IS0123456789abcdef0123456789abcdef"),
            ServiceKey("IS0123456789ABCDEF0123456789ABCDEF"));
}

// Vectors that other implementations of the paper's function publish
// (key, buckets, bucket).
TEST(JumpConsistentHash, KnownVectors) {
  EXPECT_EQ(0u, JumpConsistentHash(1, 1));
  EXPECT_EQ(43u, JumpConsistentHash(42, 57));
  EXPECT_EQ(0u, JumpConsistentHash(0xDEAD10CC, 1));
  EXPECT_EQ(361u, JumpConsistentHash(0xDEAD10CC, 666));
  EXPECT_EQ(520u, JumpConsistentHash(256, 1024));
}

TEST(JumpConsistentHash, ZeroBucketsIsOne) {
  std::mt19937_64 rng(7);
  for (int i = 0; i < 1000; ++i) {
    const uint64_t key = rng();
    EXPECT_EQ(0u, JumpConsistentHash(key, 0));
    EXPECT_EQ(0u, JumpConsistentHash(key, 1));
  }
  EXPECT_EQ(0u, PartitionOf("IS0123456789abcdef0123456789abcdef", 0));
}

TEST(JumpConsistentHash, EveryResultIsInRange) {
  std::mt19937_64 rng(11);
  const std::vector<uint32_t> sizes = {1, 2, 3, 7, 16, 100, 1000, 65536, 1u << 31, UINT32_MAX};
  for (int i = 0; i < 20000; ++i) {
    const uint64_t key = i < 4 ? std::vector<uint64_t>{0, 1, UINT64_MAX, 1ULL << 63}[i] : rng();
    for (uint32_t n : sizes) {
      ASSERT_LT(JumpConsistentHash(key, n), n) << key << " " << n;
    }
    const uint32_t random_size = static_cast<uint32_t>(rng());
    ASSERT_LT(JumpConsistentHash(key, random_size), std::max<uint32_t>(random_size, 1u));
  }
}

// Random but fixed service SIDs: "IS" and 32 lowercase hex digits.
std::vector<std::string> RandomSids(size_t count, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<std::string> sids;
  sids.reserve(count);
  for (size_t i = 0; i < count; ++i) {
    sids.push_back(absl::StrFormat("IS%016x%016x", rng(), rng()));
  }
  return sids;
}

// The paper's property: going from n to n+1 buckets, a key either stays or
// moves to the new bucket n, and about 1/(n+1) of the keys move.
TEST(JumpConsistentHash, GrowingMovesOnlyIntoTheNewBucketAndAboutOneInNPlusOne) {
  const std::vector<std::string> sids = RandomSids(100000, 2014);
  for (uint32_t n : {1u, 2u, 3u, 9u, 15u, 16u, 99u, 999u}) {
    SCOPED_TRACE(n);
    size_t moved = 0;
    for (const std::string& sid : sids) {
      const uint32_t before = PartitionOf(sid, n);
      const uint32_t after = PartitionOf(sid, n + 1);
      if (after != before) {
        ASSERT_EQ(n, after) << sid << " moved from " << before << " to " << after;
        ++moved;
      }
    }
    // Binomial(N, 1/(n+1)): allow six standard deviations plus one key.
    const double p = 1.0 / (n + 1);
    const double expected = sids.size() * p;
    const double sigma = std::sqrt(sids.size() * p * (1 - p));
    EXPECT_NEAR(expected, static_cast<double>(moved), 6 * sigma + 1);
  }
}

TEST(JumpConsistentHash, SpreadsKeysEvenly) {
  const std::vector<std::string> sids = RandomSids(100000, 99);
  constexpr uint32_t kPartitions = 16;
  std::vector<size_t> counts(kPartitions);
  for (const std::string& sid : sids) ++counts[PartitionOf(sid, kPartitions)];
  const double expected = static_cast<double>(sids.size()) / kPartitions;
  const double sigma = std::sqrt(sids.size() * (1.0 / kPartitions) * (1 - 1.0 / kPartitions));
  for (uint32_t i = 0; i < kPartitions; ++i) {
    EXPECT_NEAR(expected, static_cast<double>(counts[i]), 6 * sigma) << "partition " << i;
  }
}

// The worked values of docs/scaling.md ("The partition map"), computed
// independently of this implementation.
struct WorkedValue {
  const char* sid;
  uint64_t key;
  uint32_t partition_of_1, partition_of_2, partition_of_16, partition_of_1000;
};

const WorkedValue kWorked[] = {
    {"IS00000000000000000000000000000000", 0x1cc5db68175e87d5ULL, 0, 1, 14, 67},
    {"IS0123456789abcdef0123456789abcdef", 0x1af2801ec0b52d45ULL, 0, 1, 15, 260},
    {"ISffffffffffffffffffffffffffffffff", 0x9fd0f7737f088dd5ULL, 0, 0, 3, 863},
    {"IS5f3a1c9e2b7d4f6a8c0e1b3d5f7a9c2e", 0x9762a365c9578844ULL, 0, 1, 1, 958},
    {"ISaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", 0xd5374cfca8a92cb5ULL, 0, 0, 15, 362},
};

TEST(PartitionOf, WorkedValues) {
  for (const WorkedValue& w : kWorked) {
    SCOPED_TRACE(w.sid);
    EXPECT_EQ(w.key, ServiceKey(w.sid));
    EXPECT_EQ(w.partition_of_1, PartitionOf(w.sid, 1));
    EXPECT_EQ(w.partition_of_2, PartitionOf(w.sid, 2));
    EXPECT_EQ(w.partition_of_16, PartitionOf(w.sid, 16));
    EXPECT_EQ(w.partition_of_1000, PartitionOf(w.sid, 1000));
  }
}

// The table rows "| `IS...` | `0x...` | 0 | 1 | 14 | 67 |" of the section
// "## The partition map" in docs/scaling.md.
std::vector<std::vector<std::string>> DocumentedRows() {
  std::ifstream file(std::string(USERSTORE_SOURCE_DIR) + "/docs/scaling.md");
  const std::string doc((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
  std::vector<std::vector<std::string>> rows;
  const size_t section = doc.find("## The partition map");
  if (section == std::string::npos) return rows;
  const size_t next = doc.find("\n## ", section + 1);
  std::istringstream lines(doc.substr(section, next == std::string::npos ? next : next - section));
  std::string line;
  while (std::getline(lines, line)) {
    if (!absl::StartsWith(line, "| `IS")) continue;
    std::vector<std::string> cells;
    for (absl::string_view cell : absl::StrSplit(line, '|', absl::SkipWhitespace())) {
      cells.emplace_back(absl::StripAsciiWhitespace(
          absl::StripSuffix(absl::StripPrefix(absl::StripAsciiWhitespace(cell), "`"), "`")));
    }
    rows.push_back(cells);
  }
  return rows;
}

TEST(PartitionOf, TheDocumentedTableIsWhatTheCodeComputes) {
  const std::vector<std::vector<std::string>> rows = DocumentedRows();
  ASSERT_EQ(std::size(kWorked), rows.size()) << "no worked values found in docs/scaling.md";
  for (size_t i = 0; i < rows.size(); ++i) {
    const std::vector<std::string>& cells = rows[i];
    ASSERT_EQ(6u, cells.size()) << i;
    SCOPED_TRACE(cells[0]);
    EXPECT_EQ(kWorked[i].sid, cells[0]);
    uint64_t key = 0;
    ASSERT_TRUE(absl::SimpleHexAtoi(cells[1], &key)) << cells[1];
    EXPECT_EQ(ServiceKey(cells[0]), key);
    const uint32_t sizes[] = {1, 2, 16, 1000};
    for (int k = 0; k < 4; ++k) {
      uint32_t partition = 0;
      ASSERT_TRUE(absl::SimpleAtoi(cells[2 + k], &partition)) << cells[2 + k];
      EXPECT_EQ(PartitionOf(cells[0], sizes[k]), partition) << "of " << sizes[k];
    }
  }
}

}  // namespace
}  // namespace userstore
