// Tests of core/rest/http_parse.h and the encoders of userstore/rest.h.

#include "core/rest/http_parse.h"

#include <cstdint>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

#include "userstore/rest.h"
#include "userstore/status.h"

namespace userstore {
namespace internal {
namespace {

using ::testing::ElementsAre;
using ::testing::Pair;
using Pairs = std::vector<std::pair<std::string, std::string>>;

bool Is20001(const absl::Status& s) {
  return s.code() == absl::StatusCode::kInvalidArgument &&
         ErrorCodeOf(s) == ErrorCode::kInvalidParameter && HttpStatusOf(s) == 400;
}

// --- ParseUrl -----------------------------------------------------------------

TEST(ParseUrlTest, AbsoluteUrlSplitsHostPathQuery) {
  absl::StatusOr<ParsedUrl> u =
      ParseUrl("https://chat.twilio.com/v2/Services/IS1/Users?PageSize=5&Page=1");
  ASSERT_TRUE(u.ok()) << u.status();
  EXPECT_EQ(u->host, "chat.twilio.com");
  EXPECT_EQ(u->path, "/v2/Services/IS1/Users");
  EXPECT_EQ(u->query, "PageSize=5&Page=1");
}

TEST(ParseUrlTest, HostIsLowerCasedWithoutPortOrUserinfo) {
  absl::StatusOr<ParsedUrl> u = ParseUrl("HTTPS://AC1:token@Chat.Twilio.COM:8443/v1/Users");
  ASSERT_TRUE(u.ok()) << u.status();
  EXPECT_EQ(u->host, "chat.twilio.com");
  EXPECT_EQ(u->path, "/v1/Users");
  EXPECT_EQ(u->query, "");
}

TEST(ParseUrlTest, PathIsKeptRaw) {
  absl::StatusOr<ParsedUrl> u = ParseUrl("http://localhost/v1/Users/ana%20mar%C3%ADa%40x.com");
  ASSERT_TRUE(u.ok());
  EXPECT_EQ(u->host, "localhost");
  EXPECT_EQ(u->path, "/v1/Users/ana%20mar%C3%ADa%40x.com");
}

TEST(ParseUrlTest, PathOnlyUrl) {
  absl::StatusOr<ParsedUrl> u = ParseUrl("/v1/Users?PageSize=2");
  ASSERT_TRUE(u.ok());
  EXPECT_EQ(u->host, "");
  EXPECT_EQ(u->path, "/v1/Users");
  EXPECT_EQ(u->query, "PageSize=2");
}

TEST(ParseUrlTest, FragmentIsDropped) {
  absl::StatusOr<ParsedUrl> u = ParseUrl("https://chat.twilio.com/v2/Services?a=1#frag?b=2");
  ASSERT_TRUE(u.ok());
  EXPECT_EQ(u->path, "/v2/Services");
  EXPECT_EQ(u->query, "a=1");
  absl::StatusOr<ParsedUrl> p = ParseUrl("/v1/Users#x");
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->path, "/v1/Users");
  EXPECT_EQ(p->query, "");
}

TEST(ParseUrlTest, MissingPathIsRoot) {
  absl::StatusOr<ParsedUrl> a = ParseUrl("https://chat.twilio.com");
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->path, "/");
  absl::StatusOr<ParsedUrl> b = ParseUrl("https://chat.twilio.com?x=1");
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(b->path, "/");
  EXPECT_EQ(b->query, "x=1");
}

TEST(ParseUrlTest, EmptyQueryAfterQuestionMark) {
  absl::StatusOr<ParsedUrl> u = ParseUrl("/v1/Users?");
  ASSERT_TRUE(u.ok());
  EXPECT_EQ(u->path, "/v1/Users");
  EXPECT_EQ(u->query, "");
}

TEST(ParseUrlTest, Ipv6HostKeepsBrackets) {
  absl::StatusOr<ParsedUrl> u = ParseUrl("http://[::1]:8080/v1/Users");
  ASSERT_TRUE(u.ok()) << u.status();
  EXPECT_EQ(u->host, "[::1]");
  EXPECT_EQ(u->path, "/v1/Users");
}

TEST(ParseUrlTest, RejectsWhatIsNeitherAbsoluteNorPath) {
  for (const char* bad :
       {"", "chat.twilio.com/v2/Services", "v2/Services", "://chat.twilio.com/v2", "1http://h/",
        "https:///v2/Services", "https://chat.twilio.com:80a/v2", "https://ch at.com/v2",
        "https://[::1/v2", "//chat.twilio.com/v2/Services", "https://%41.com/", "https://@/x"}) {
    absl::StatusOr<ParsedUrl> u = ParseUrl(bad);
    EXPECT_FALSE(u.ok()) << "accepted: " << bad;
    if (!u.ok()) {
      EXPECT_TRUE(Is20001(u.status())) << bad << ": " << u.status();
    }
  }
}

// --- PercentDecode ----------------------------------------------------------------

TEST(PercentDecodeTest, DecodesEscapesInBothCases) {
  EXPECT_EQ(*PercentDecode("a%20b%2fc%2Fd", false), "a b/c/d");
  EXPECT_EQ(*PercentDecode("mar%C3%ADa", false),
            "mar\xC3\xAD"
            "a");
}

TEST(PercentDecodeTest, PlusIsSpaceOnlyWhenAsked) {
  EXPECT_EQ(*PercentDecode("a+b%2B", true), "a b+");
  EXPECT_EQ(*PercentDecode("a+b%2B", false), "a+b+");
}

TEST(PercentDecodeTest, DecodedBytesAreNotChecked) {
  absl::StatusOr<std::string> nul = PercentDecode("a%00b", false);
  ASSERT_TRUE(nul.ok());
  EXPECT_EQ(*nul, std::string("a\0b", 3));
  EXPECT_EQ(*PercentDecode("%FF%FE", false), "\xFF\xFE");
}

TEST(PercentDecodeTest, RejectsBrokenEscapes) {
  for (const char* bad : {"%", "%4", "%zz", "%4g", "%g4", "abc%", "abc%2", "%%41"}) {
    absl::StatusOr<std::string> d = PercentDecode(bad, true);
    EXPECT_FALSE(d.ok()) << "accepted: " << bad;
    if (!d.ok()) {
      EXPECT_TRUE(Is20001(d.status()));
    }
  }
}

TEST(PercentDecodeTest, EmptyIsEmpty) { EXPECT_EQ(*PercentDecode("", true), ""); }

// --- DecodeForm ---------------------------------------------------------------------

TEST(DecodeFormTest, KeepsOrderAndRepeats) {
  absl::StatusOr<Pairs> f =
      DecodeForm("Type=deployment&Permission=a&Permission=b+c&FriendlyName=x");
  ASSERT_TRUE(f.ok());
  EXPECT_THAT(*f, ElementsAre(Pair("Type", "deployment"), Pair("Permission", "a"),
                              Pair("Permission", "b c"), Pair("FriendlyName", "x")));
}

TEST(DecodeFormTest, SkipsEmptySegmentsAndKeepsKeysWithoutValue) {
  absl::StatusOr<Pairs> f = DecodeForm("&a=1&&b&c=&=d&");
  ASSERT_TRUE(f.ok());
  EXPECT_THAT(*f, ElementsAre(Pair("a", "1"), Pair("b", ""), Pair("c", ""), Pair("", "d")));
}

TEST(DecodeFormTest, OnlyTheFirstEqualsSplits) {
  absl::StatusOr<Pairs> f = DecodeForm("Attributes=%7B%22a%22%3A1%7D=x");
  ASSERT_TRUE(f.ok());
  EXPECT_THAT(*f, ElementsAre(Pair("Attributes", "{\"a\":1}=x")));
}

TEST(DecodeFormTest, EmptyBodyHasNoPairs) {
  absl::StatusOr<Pairs> f = DecodeForm("");
  ASSERT_TRUE(f.ok());
  EXPECT_TRUE(f->empty());
}

TEST(DecodeFormTest, BrokenEscapeInKeyOrValueFails) {
  EXPECT_TRUE(Is20001(DecodeForm("a=%zz").status()));
  EXPECT_TRUE(Is20001(DecodeForm("%=1").status()));
  EXPECT_TRUE(Is20001(DecodeForm("ok=1&b=%4").status()));
}

TEST(DecodeFormTest, SelectedKeepsFirstOfSingleAndAllOfRepeated) {
  absl::StatusOr<Pairs> f = DecodeForm(
      "Other=1&Identity=a&Permission=p1&Identity=b&Iden%74ity2=x&Permission=p%202&Type=t",
      {"Identity", "Type"}, {"Permission"});
  ASSERT_TRUE(f.ok());
  EXPECT_THAT(*f, ElementsAre(Pair("Identity", "a"), Pair("Permission", "p1"),
                              Pair("Permission", "p 2"), Pair("Type", "t")));
}

TEST(DecodeFormTest, SelectedStillChecksEscapesOfSkippedPairs) {
  EXPECT_TRUE(Is20001(DecodeForm("Identity=a&skipped=%zz", {"Identity"}).status()));
  EXPECT_TRUE(Is20001(DecodeForm("Identity=a&%4=1", {"Identity"}).status()));
  EXPECT_TRUE(Is20001(DecodeForm("Identity=a&Identity=%", {"Identity"}).status()));
}

TEST(DecodeFormTest, SelectedAgreesWithDecodeFormOnKeptNames) {
  std::mt19937 rng(11);
  const char* const kNames[] = {"A", "B", "C"};
  for (int i = 0; i < 500; ++i) {
    std::string body;
    for (int j = rng() % 8; j > 0; --j) {
      if (!body.empty()) body += '&';
      body += kNames[rng() % 3];
      body += "=v" + std::to_string(rng() % 5);
    }
    absl::StatusOr<Pairs> all = DecodeForm(body);
    absl::StatusOr<Pairs> some = DecodeForm(body, {"A"}, {"B"});
    ASSERT_TRUE(all.ok() && some.ok()) << body;
    Pairs want;
    bool seen_a = false;
    for (const auto& kv : *all) {
      if (kv.first == "B" || (kv.first == "A" && !seen_a)) want.push_back(kv);
      if (kv.first == "A") seen_a = true;
    }
    EXPECT_EQ(*some, want) << body;
  }
}

// --- SplitPath ------------------------------------------------------------------------

TEST(SplitPathTest, SplitsRawSegments) {
  std::optional<std::vector<std::string>> s = SplitPath("/v2/Services/IS1/Users/a%2Fb");
  ASSERT_TRUE(s.has_value());
  EXPECT_THAT(*s, ElementsAre("v2", "Services", "IS1", "Users", "a%2Fb"));
}

TEST(SplitPathTest, RootHasNoSegment) {
  std::optional<std::vector<std::string>> s = SplitPath("/");
  ASSERT_TRUE(s.has_value());
  EXPECT_TRUE(s->empty());
}

TEST(SplitPathTest, RejectsEmptyDotAndDotDotSegments) {
  for (const char* bad : {"", "v2/Services", "//", "//v2", "/v2//Services", "/v2/Services/",
                          "/./v2", "/v2/.", "/v2/../v1", "/.."}) {
    EXPECT_FALSE(SplitPath(bad).has_value()) << bad;
  }
}

TEST(SplitPathTest, EncodedDotsAreOrdinarySegments) {
  std::optional<std::vector<std::string>> s = SplitPath("/v1/Users/%2E%2E");
  ASSERT_TRUE(s.has_value());
  EXPECT_THAT(*s, ElementsAre("v1", "Users", "%2E%2E"));
  EXPECT_TRUE(SplitPath("/v1/Users/...").has_value());
}

// --- FormEncode / PercentEncodePathSegment ---------------------------------------------

TEST(FormEncodeTest, EncodesLikeAForm) {
  EXPECT_EQ(FormEncode({{"Identity", "ana maría@example.com"}, {"Attributes", "{\"a\":1}"}}),
            "Identity=ana+mar%C3%ADa%40example.com&Attributes=%7B%22a%22%3A1%7D");
  EXPECT_EQ(FormEncode({{"Permission", "a"}, {"Permission", "b"}}), "Permission=a&Permission=b");
  EXPECT_EQ(FormEncode({}), "");
  EXPECT_EQ(FormEncode({{"k", "-._~+&="}}), "k=-._~%2B%26%3D");
}

TEST(FormEncodeTest, RoundTripsThroughDecodeForm) {
  const Pairs pairs = {{"Identity", "a+b c&d=e%f"},
                       {"", ""},
                       {"FriendlyName", std::string("nul\0byte", 8)},
                       {"Attributes", "{\"\xE2\x82\xAC\": [1, 2]}"}};
  absl::StatusOr<Pairs> back = DecodeForm(FormEncode(pairs));
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(*back, pairs);
}

TEST(PercentEncodePathSegmentTest, KeepsOnlyUnreserved) {
  EXPECT_EQ(PercentEncodePathSegment("ana maría@example.com"), "ana%20mar%C3%ADa%40example.com");
  EXPECT_EQ(PercentEncodePathSegment("AZaz09-._~"), "AZaz09-._~");
  EXPECT_EQ(PercentEncodePathSegment("a/b?c#d+e"), "a%2Fb%3Fc%23d%2Be");
  EXPECT_EQ(PercentEncodePathSegment(""), "");
  // Whole dot-segments are escaped, so that they stay routable.
  EXPECT_EQ(PercentEncodePathSegment("."), "%2E");
  EXPECT_EQ(PercentEncodePathSegment(".."), "%2E%2E");
  EXPECT_EQ(PercentEncodePathSegment("..."), "...");
}

// --- never crash ------------------------------------------------------------------------

std::string RandomBytes(std::mt19937_64* rng, size_t max_len, const std::string& alphabet) {
  std::uniform_int_distribution<size_t> len(0, max_len);
  std::uniform_int_distribution<size_t> pick(0, alphabet.size() - 1);
  std::string s(len(*rng), '\0');
  for (char& c : s) c = alphabet[pick(*rng)];
  return s;
}

TEST(HttpParseRobustnessTest, RandomInputsNeverCrashAndRoundTrip) {
  std::mt19937_64 rng(12345);
  std::string all_bytes;
  for (int b = 0; b < 256; ++b) all_bytes.push_back(static_cast<char>(b));
  const std::string url_chars = "/%?#&=+:@[]aZ09.-_~ \xC3\xA9";
  int parsed = 0;
  for (int i = 0; i < 20000; ++i) {
    const std::string a = RandomBytes(&rng, 40, i % 2 ? all_bytes : url_chars);
    (void)ParseUrl(a);
    (void)ParseUrl("https://h" + a);
    (void)SplitPath(a);
    (void)DecodeForm(a);
    absl::StatusOr<std::string> d = PercentDecode(a, i % 3 == 0);
    parsed += d.ok();
    // Encoding then decoding is the identity, for any bytes.
    absl::StatusOr<std::string> seg = PercentDecode(PercentEncodePathSegment(a), false);
    ASSERT_TRUE(seg.ok());
    ASSERT_EQ(*seg, a);
    absl::StatusOr<Pairs> form = DecodeForm(FormEncode({{a, a}}));
    ASSERT_TRUE(form.ok());
    ASSERT_EQ(form->size(), 1u);
    ASSERT_EQ((*form)[0].first, a);
    ASSERT_EQ((*form)[0].second, a);
  }
  EXPECT_GT(parsed, 0);
}

}  // namespace
}  // namespace internal
}  // namespace userstore
