#include "core/sid.h"

#include <optional>
#include <random>
#include <string>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_format.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace userstore {
namespace internal {
namespace {

constexpr Sid128 kSample = {0x0123456789abcdefULL, 0xfedcba9876543210ULL};
constexpr char kSampleText[] = "US0123456789abcdeffedcba9876543210";

TEST(SidTest, FormatWritesLowerCaseHexHiThenLo) {
  EXPECT_EQ(FormatSid("US", kSample), kSampleText);
  EXPECT_EQ(FormatSid("RL", Sid128{}), "RL00000000000000000000000000000000");
  EXPECT_EQ(FormatSid("IS", Sid128{~0ULL, ~0ULL}), "ISffffffffffffffffffffffffffffffff");
  EXPECT_EQ(FormatSid("AC", Sid128{0, 1}), "AC00000000000000000000000000000001");
  EXPECT_EQ(FormatSid("AC", Sid128{1, 0}), "AC00000000000000010000000000000000");
}

TEST(SidTest, FormatAgreesWithPrintf) {
  // Every nibble value in every position, plus random words.
  std::mt19937_64 rng(5);
  for (int i = 0; i < 100000; ++i) {
    Sid128 value{rng(), rng()};
    if (i < 16) value = Sid128{0x1111111111111111ULL * i, ~(0x1111111111111111ULL * i)};
    EXPECT_EQ(FormatSid("US", value), absl::StrFormat("US%016x%016x", value.hi, value.lo));
  }
}

TEST(SidTest, AppendKeepsWhatIsThere) {
  std::string out = "https://chat.twilio.com/v2/Services/";
  AppendSid(&out, "IS", kSample);
  out += "/Users/";
  AppendSid(&out, "US", kSample);
  EXPECT_EQ(out,
            "https://chat.twilio.com/v2/Services/IS0123456789abcdeffedcba9876543210/Users/"
            "US0123456789abcdeffedcba9876543210");
}

TEST(SidTest, EmptyPrefix) {
  EXPECT_EQ(FormatSid("", kSample), "0123456789abcdeffedcba9876543210");
  EXPECT_TRUE(IsSidShaped("", "0123456789abcdeffedcba9876543210"));
  EXPECT_EQ(ParseSid("", "0123456789abcdeffedcba9876543210"), std::optional<Sid128>(kSample));
}

TEST(SidTest, ParseInvertsFormat) {
  const std::optional<Sid128> parsed = ParseSid("US", kSampleText);
  ASSERT_TRUE(parsed.has_value());
  EXPECT_EQ(*parsed, kSample);

  SidGenerator generator(42);
  for (int i = 0; i < 10000; ++i) {
    const Sid128 value = generator.Next();
    const std::string text = FormatSid("RL", value);
    ASSERT_EQ(text.size(), 34u);
    EXPECT_TRUE(IsSidShaped("RL", text));
    EXPECT_EQ(ParseSid("RL", text), std::optional<Sid128>(value)) << text;
  }
}

TEST(SidTest, UpperCaseIsShapedButNotParsed) {
  const std::string upper = "US0123456789ABCDEFFEDCBA9876543210";
  EXPECT_TRUE(IsSidShaped("US", upper));
  EXPECT_EQ(ParseSid("US", upper), std::nullopt);
  // One upper-case digit is enough to name nothing.
  const std::string one_upper = "US0123456789abcdeffedcba987654321A";
  EXPECT_TRUE(IsSidShaped("US", one_upper));
  EXPECT_EQ(ParseSid("US", one_upper), std::nullopt);
}

TEST(SidTest, RejectsMalformedText) {
  const char* const kBad[] = {
      "",
      "US",
      "US0123456789abcdeffedcba987654321",    // 31 digits
      "US0123456789abcdeffedcba98765432100",  // 33 digits
      "us0123456789abcdeffedcba9876543210",   // prefix is case-sensitive
      "RL0123456789abcdeffedcba9876543210",   // another prefix
      "US0123456789abcdeffedcba987654321g",   // not hex
      "US0123456789abcdef fedcba987654321",   // space
      "US-123456789abcdeffedcba9876543210",   // sign
      " US0123456789abcdeffedcba9876543210",  // leading space
      "0123456789abcdeffedcba9876543210US",   // prefix at the end
  };
  for (const char* text : kBad) {
    EXPECT_FALSE(IsSidShaped("US", text)) << text;
    EXPECT_EQ(ParseSid("US", text), std::nullopt) << text;
  }
}

// Every byte value at every digit position, against a per-character
// reference: the shape accepts [0-9a-fA-F], the parser [0-9a-f] only, and a
// parsed value has the replaced digit's value at that position.
TEST(SidTest, EveryByteAtEveryDigitPosition) {
  auto digit_value = [](int c, bool any_case) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (any_case && c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  for (size_t pos = 2; pos < kSidTextSize; ++pos) {
    for (int c = 0; c < 256; ++c) {
      std::string text = kSampleText;
      text[pos] = static_cast<char>(c);
      EXPECT_EQ(IsSidShaped("US", text), digit_value(c, true) >= 0) << pos << " " << c;
      const std::optional<Sid128> parsed = ParseSid("US", text);
      const int value = digit_value(c, false);
      ASSERT_EQ(parsed.has_value(), value >= 0) << pos << " " << c;
      if (!parsed.has_value()) continue;
      const size_t digit = pos - 2;  // 0 is the most significant of `hi`
      const int shift = static_cast<int>(60 - 4 * (digit % 16));
      uint64_t hi = kSample.hi;
      uint64_t lo = kSample.lo;
      uint64_t& word = digit < 16 ? hi : lo;
      word = (word & ~(uint64_t{0xF} << shift)) | (static_cast<uint64_t>(value) << shift);
      EXPECT_EQ(*parsed, (Sid128{hi, lo})) << pos << " " << c;
    }
  }
}

TEST(SidTest, TextWithEmbeddedNulIsRejected) {
  std::string text = kSampleText;
  text[10] = '\0';
  EXPECT_FALSE(IsSidShaped("US", text));
  EXPECT_EQ(ParseSid("US", text), std::nullopt);
}

TEST(SidTest, SeededGeneratorIsDeterministic) {
  SidGenerator a(7);
  SidGenerator b(7);
  for (int i = 0; i < 1000; ++i) EXPECT_EQ(a.Next(), b.Next());
}

TEST(SidTest, DifferentSeedsGiveDifferentSequences) {
  SidGenerator a(7);
  SidGenerator b(8);
  EXPECT_NE(a.Next(), b.Next());
  SidGenerator zero(0);
  EXPECT_NE(zero.Next(), Sid128{});
}

// Replay files and snapshots written with `--seed` depend on the exact
// sequence: changing the generator must be a deliberate, visible decision.
TEST(SidTest, SeededSequenceIsStable) {
  SidGenerator generator(1);
  EXPECT_EQ(FormatSid("US", generator.Next()), "USb3f2af6d0fc710c5853b559647364cea");
  EXPECT_EQ(FormatSid("US", generator.Next()), "US92f89756082a4514642e1c7bc266a3a7");
}

TEST(SidTest, UnseededGeneratorsDiffer) {
  SidGenerator a(std::nullopt);
  SidGenerator b(std::nullopt);
  EXPECT_NE(a.Next(), b.Next());
}

TEST(SidTest, NoDuplicatesInAMillionDraws) {
  for (std::optional<uint64_t> seed : {std::optional<uint64_t>(3), std::optional<uint64_t>()}) {
    SidGenerator generator(seed);
    absl::flat_hash_set<Sid128> seen;
    seen.reserve(1000000);
    for (int i = 0; i < 1000000; ++i) {
      ASSERT_TRUE(seen.insert(generator.Next()).second) << "draw " << i;
    }
  }
}

TEST(SidTest, BitsAreBalanced) {
  // A coarse check that both words carry randomness (a wiring bug such as
  // filling only `hi` would put every `lo` bit count at 0).
  SidGenerator generator(11);
  int hi_ones = 0;
  int lo_ones = 0;
  constexpr int kDraws = 4096;
  for (int i = 0; i < kDraws; ++i) {
    const Sid128 value = generator.Next();
    hi_ones += __builtin_popcountll(value.hi);
    lo_ones += __builtin_popcountll(value.lo);
  }
  // Expected 32 * kDraws each; allow a wide margin (the sd is ~256).
  EXPECT_NEAR(hi_ones, 32 * kDraws, 2000);
  EXPECT_NEAR(lo_ones, 32 * kDraws, 2000);
}

}  // namespace
}  // namespace internal
}  // namespace userstore
