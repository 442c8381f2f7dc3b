#include "core/page_token.h"

#include <cstdint>
#include <random>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

#include "userstore/resources.h"
#include "userstore/status.h"

#include "core/sid.h"

namespace userstore {
namespace internal {
namespace {

constexpr uint64_t kSecret = 0x5eed5eed12345678ULL;
constexpr absl::string_view kAlphabet =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

PageTokenData Sample() {
  PageTokenData data;
  data.forward = true;
  data.collection = Collection::kUsers;
  data.surface = Surface::kChatV2;
  data.scope = Sid128{0x0123456789abcdefULL, 0xfedcba9876543210ULL};
  data.anchor = 42;
  return data;
}

void ExpectSame(const PageTokenData& a, const PageTokenData& b) {
  EXPECT_EQ(a.forward, b.forward);
  EXPECT_EQ(a.collection, b.collection);
  EXPECT_EQ(a.surface, b.surface);
  EXPECT_EQ(a.scope, b.scope);
  EXPECT_EQ(a.anchor, b.anchor);
}

// Every decoding failure is the same 400/20001 "Invalid PageToken".
void ExpectInvalid(absl::string_view token, uint64_t secret = kSecret) {
  const absl::StatusOr<PageTokenData> decoded = DecodePageToken(token, secret);
  ASSERT_FALSE(decoded.ok()) << token;
  EXPECT_EQ(ErrorCodeOf(decoded.status()), ErrorCode::kInvalidParameter) << token;
  EXPECT_EQ(HttpStatusOf(decoded.status()), 400);
  EXPECT_EQ(decoded.status().message(), "Invalid PageToken");
}

TEST(PageTokenTest, RoundTripsEveryField) {
  std::mt19937_64 rng(1);
  for (bool forward : {true, false}) {
    for (Collection collection : {Collection::kUsers, Collection::kServices, Collection::kRoles}) {
      for (Surface surface :
           {Surface::kCpp, Surface::kChatV2, Surface::kChatV1, Surface::kConversations}) {
        for (int i = 0; i < 20; ++i) {
          PageTokenData data;
          data.forward = forward;
          data.collection = collection;
          data.surface = surface;
          data.scope = Sid128{rng(), rng()};
          data.anchor = i == 0 ? 0 : i == 1 ? ~uint64_t{0} : rng();
          const std::string token = EncodePageToken(data, kSecret);
          const absl::StatusOr<PageTokenData> decoded = DecodePageToken(token, kSecret);
          ASSERT_TRUE(decoded.ok()) << token << " " << decoded.status();
          ExpectSame(*decoded, data);
        }
      }
    }
  }
}

TEST(PageTokenTest, PrefixFollowsDirection) {
  PageTokenData data = Sample();
  data.forward = true;
  const std::string next = EncodePageToken(data, kSecret);
  data.forward = false;
  const std::string previous = EncodePageToken(data, kSecret);
  EXPECT_EQ(next.substr(0, 2), "PA");
  EXPECT_EQ(previous.substr(0, 2), "PB");
  EXPECT_NE(next.substr(2), previous.substr(2));
}

TEST(PageTokenTest, TokensAreShortUrlSafeText) {
  const std::string token = EncodePageToken(Sample(), kSecret);
  EXPECT_EQ(token.size(), 50u);
  EXPECT_LE(token.size(), 128u);
  for (char c : token.substr(2)) {
    EXPECT_NE(kAlphabet.find(c), absl::string_view::npos) << c;
  }
}

TEST(PageTokenTest, EncodingIsDeterministic) {
  EXPECT_EQ(EncodePageToken(Sample(), kSecret), EncodePageToken(Sample(), kSecret));
}

// Replays compare response bodies byte for byte, and the next_page_url holds a
// token: a change of the format must be a deliberate, visible decision.
TEST(PageTokenTest, EncodingIsStable) {
  EXPECT_EQ(EncodePageToken(Sample(), kSecret),
            "PAAQEBAe_Nq4lnRSMBEDJUdpi63P4qAAAAAAAAAPRch3nXqOfr");
}

TEST(PageTokenTest, DifferentSecretsGiveDifferentTokens) {
  EXPECT_NE(EncodePageToken(Sample(), kSecret), EncodePageToken(Sample(), kSecret + 1));
}

TEST(PageTokenTest, WrongSecretFails) {
  const std::string token = EncodePageToken(Sample(), kSecret);
  ExpectInvalid(token, kSecret + 1);
  ExpectInvalid(token, 0);
  ExpectInvalid(token, ~kSecret);
}

TEST(PageTokenTest, EverySingleCharacterAlterationFails) {
  for (bool forward : {true, false}) {
    PageTokenData data = Sample();
    data.forward = forward;
    const std::string token = EncodePageToken(data, kSecret);
    for (size_t pos = 0; pos < token.size(); ++pos) {
      for (int c = 0; c < 256; ++c) {
        if (static_cast<char>(c) == token[pos]) continue;
        std::string altered = token;
        altered[pos] = static_cast<char>(c);
        const absl::StatusOr<PageTokenData> decoded = DecodePageToken(altered, kSecret);
        ASSERT_FALSE(decoded.ok()) << "position " << pos << " byte " << c;
        ASSERT_EQ(decoded.status().message(), "Invalid PageToken");
      }
    }
  }
}

TEST(PageTokenTest, SwappingThePrefixFails) {
  std::string token = EncodePageToken(Sample(), kSecret);
  ASSERT_EQ(token[1], 'A');
  token[1] = 'B';
  ExpectInvalid(token);
}

TEST(PageTokenTest, EveryTruncationFails) {
  const std::string token = EncodePageToken(Sample(), kSecret);
  for (size_t length = 0; length < token.size(); ++length) {
    ExpectInvalid(absl::string_view(token).substr(0, length));
    ExpectInvalid(absl::string_view(token).substr(token.size() - length));
  }
}

TEST(PageTokenTest, ExtendedTokensFail) {
  const std::string token = EncodePageToken(Sample(), kSecret);
  ExpectInvalid(token + "A");
  ExpectInvalid(token + "=");
  ExpectInvalid(token + "==");
  ExpectInvalid(token + token);
  ExpectInvalid(std::string(token.data(), token.size()) + std::string(1, '\0'));
}

TEST(PageTokenTest, OversizedFails) {
  ExpectInvalid(std::string(129, 'A'));
  ExpectInvalid("PA" + std::string(127, 'A'));
  ExpectInvalid("PA" + std::string(1 << 20, 'A'));
}

TEST(PageTokenTest, EmptyAndPrefixOnlyFail) {
  ExpectInvalid("");
  ExpectInvalid("P");
  ExpectInvalid("PA");
  ExpectInvalid("PB");
}

TEST(PageTokenTest, WrongPrefixFails) {
  const std::string token = EncodePageToken(Sample(), kSecret);
  for (absl::string_view prefix : {"pa", "PC", "XA", "AP", "QA"}) {
    ExpectInvalid(std::string(prefix) + token.substr(2));
  }
}

TEST(PageTokenTest, RandomStringsFail) {
  std::mt19937_64 rng(99);
  std::uniform_int_distribution<int> letter(0, 63);
  std::uniform_int_distribution<int> any_byte(0, 255);
  for (int i = 0; i < 20000; ++i) {
    // Well-formed shape (right prefix, length and alphabet), random content:
    // only the check value can refuse these.
    std::string token = i % 2 == 0 ? "PA" : "PB";
    for (int k = 0; k < 48; ++k) token += kAlphabet[letter(rng)];
    ExpectInvalid(token);
    // Arbitrary bytes of arbitrary length.
    std::string junk(static_cast<size_t>(any_byte(rng)) % 140, '\0');
    for (char& c : junk) c = static_cast<char>(any_byte(rng));
    ExpectInvalid(junk);
  }
}

TEST(PageTokenTest, StandardBase64IsNotAccepted) {
  std::string token = EncodePageToken(Sample(), kSecret);
  // '+' and '/' are the standard alphabet's spellings of '-' and '_'.
  for (char& c : token) {
    if (c == '-') c = '+';
    if (c == '_') c = '/';
  }
  if (token != EncodePageToken(Sample(), kSecret)) ExpectInvalid(token);
}

TEST(PageTokenTest, FieldsAreNotCheckedAgainstTheRequest) {
  // The decoder returns collection, surface and scope as sealed; comparing
  // them with the request is the caller's job.
  PageTokenData data = Sample();
  data.collection = Collection::kRoles;
  data.surface = Surface::kConversations;
  const absl::StatusOr<PageTokenData> decoded =
      DecodePageToken(EncodePageToken(data, kSecret), kSecret);
  ASSERT_TRUE(decoded.ok());
  ExpectSame(*decoded, data);
}

TEST(PageTokenTest, OutOfRangeEnumsDoNotRoundTrip) {
  // Values outside the enums are sealed as given but refused on decoding, so
  // a bug upstream cannot produce a token that decodes to an invalid enum.
  PageTokenData data = Sample();
  data.collection = static_cast<Collection>(0);
  ExpectInvalid(EncodePageToken(data, kSecret));
  data.collection = static_cast<Collection>(4);
  ExpectInvalid(EncodePageToken(data, kSecret));
  data = Sample();
  data.surface = static_cast<Surface>(4);
  ExpectInvalid(EncodePageToken(data, kSecret));
}

}  // namespace
}  // namespace internal
}  // namespace userstore
