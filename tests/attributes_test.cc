#include "core/attributes.h"

#include <cstddef>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/escaping.h"
#include "absl/strings/string_view.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include <sys/mman.h>

#include "userstore/status.h"

namespace userstore {
namespace internal {
namespace {

constexpr size_t kMaxBytes = size_t{16} * 1024;
constexpr int kMaxDepth = 64;

ErrorCode Validate(absl::string_view text, size_t max_bytes = kMaxBytes,
                   int max_depth = kMaxDepth) {
  return ErrorCodeOf(ValidateAttributes(text, max_bytes, max_depth));
}

// {"a":{"a":...{"a":1}...}} with `depth` objects.
std::string NestedObjects(int depth) {
  std::string text;
  for (int i = 0; i < depth; ++i) text += "{\"a\":";
  text += "1";
  text.append(static_cast<size_t>(depth), '}');
  return text;
}

// The bytes of a string literal, embedded NULs included.
template <size_t N>
constexpr absl::string_view Bytes(const char (&literal)[N]) {
  return absl::string_view(literal, N - 1);
}

// [[...[]...]] with `depth` arrays.
std::string Nested(int depth) {
  return std::string(static_cast<size_t>(depth), '[') +
         std::string(static_cast<size_t>(depth), ']');
}

TEST(AttributesTest, AcceptsJsonValues) {
  const absl::string_view kValid[] = {
      Bytes("{}"),
      Bytes("[]"),
      Bytes("{\"level\": 3}"),
      Bytes("{\"a\":{\"b\":[1,2,{\"c\":null}]},\"d\":true,\"e\":false}"),
      Bytes("[1, -2, 3.5, -0.0, 1e10, 1E-5, 2.5e+3, 0]"),
      Bytes("3"),
      Bytes("-0"),
      Bytes("[1]"),
      Bytes("\"x\""),
      Bytes("\"\""),
      Bytes("null"),
      Bytes("true"),
      Bytes("false"),
      Bytes(" \t\r\n{} \t\r\n"),
      Bytes("\n[\n  1,\n  2\n]\n"),
      Bytes("\"\\u00e9\\u20AC\""),
      Bytes("\"\\ud83d\\ude00\""),  // a surrogate pair as escapes
      Bytes("\"\\/\\\\\\\"\\b\\f\\n\\r\\t\""),
      Bytes("{\"url\": \"https:\\/\\/example.com\\/x\"}"),
      Bytes("\"\\u0000\""),                       // an escaped NUL is JSON (no raw NUL byte)
      Bytes("\"caf\xC3\xA9 \xF0\x9F\x98\x80\""),  // raw UTF-8 in strings
      Bytes("{\"\xE6\x97\xA5\": 1}"),
      Bytes("{\"a\": 1, \"a\": 2}"),  // duplicate names: allowed by RFC 8259
      Bytes("18446744073709551616"),  // beyond uint64: still a number
      Bytes("1.7976931348623157e308"),
      Bytes("\"\x7F\""),  // DEL needs no escape
  };
  for (absl::string_view text : kValid) {
    EXPECT_EQ(Validate(text), ErrorCode::kOk) << absl::CHexEscape(text);
  }
}

TEST(AttributesTest, RejectsInvalidJson) {
  const absl::string_view kInvalid[] = {
      Bytes(""),
      Bytes(" "),
      Bytes("\t\n"),
      Bytes("{"),
      Bytes("}"),
      Bytes("["),
      Bytes("[1,]"),  // trailing comma
      Bytes("{\"a\":1,}"),
      Bytes("{} x"),  // trailing garbage
      Bytes("{}}"),
      Bytes("{} {}"),  // two values
      Bytes("1 2"),
      Bytes("[] []"),
      Bytes("{a:1}"),    // unquoted name
      Bytes("{'a':1}"),  // single quotes
      Bytes("'x'"),
      Bytes("\"abc"),      // unterminated string
      Bytes("\"\\x\""),    // bad escape
      Bytes("\"\\u12\""),  // short \u escape
      Bytes("\"\\u12G4\""),
      Bytes("\"\\ud800\\u0041\""),  // high surrogate escape, then no low half
      Bytes("\"a\tb\""),            // raw control character in a string
      Bytes("\"a\nb\""),
      Bytes("01"),  // leading zero
      Bytes("1."),
      Bytes(".5"),
      Bytes("+1"),
      Bytes("1e"),
      Bytes("0x10"),
      Bytes("NaN"),
      Bytes("Infinity"),
      Bytes("-Infinity"),
      Bytes("nul"),
      Bytes("True"),
      Bytes("[1 2]"),
      Bytes("{\"a\" 1}"),
      Bytes("{\"a\":}"),
      Bytes("{1:1}"),
      Bytes("// c\n{}"),  // comments
      Bytes("{} /* c */"),
      Bytes("\xEF\xBB\xBF{}"),        // a byte order mark is not JSON text
      Bytes("\"\xC0\xAF\""),          // overlong UTF-8 inside a string
      Bytes("\"\xED\xA0\x80\""),      // surrogate inside a string
      Bytes("\"\xF4\x90\x80\x80\""),  // beyond U+10FFFF inside a string
      Bytes("\"\xC3\""),              // truncated sequence inside a string
      Bytes("\"\x80\""),              // stray continuation byte inside a string
      Bytes("\"\xFF\""),
      Bytes("\xC3\xA9"),  // non-ASCII outside a string
      Bytes("\0"),        // NUL
      Bytes("{}\0"),      // NUL after a complete value
      Bytes("\"a\0b\""),  // NUL inside a string
      Bytes("[1,\0 2]"),
  };
  for (absl::string_view text : kInvalid) {
    EXPECT_EQ(Validate(text), ErrorCode::kAttributesNotValidJson) << absl::CHexEscape(text);
  }
}

// Where RFC 8259 lets a parser choose: numbers of any size are accepted
// (section 6; the store never reads them), an escaped high surrogate without
// its low half is refused and a lone low surrogate accepted (section 8.2).
// Pinned so that a parser change shows up here rather than in stored data.
TEST(AttributesTest, ImplementationLimitsOfRfc8259) {
  EXPECT_EQ(Validate("1e400"), ErrorCode::kOk);
  EXPECT_EQ(Validate("[-1e309]"), ErrorCode::kOk);
  EXPECT_EQ(Validate("1e-400"), ErrorCode::kOk);
  EXPECT_EQ(Validate(std::string(300, '9')), ErrorCode::kOk);
  EXPECT_EQ(Validate(std::string(310, '9')), ErrorCode::kOk);
  EXPECT_EQ(Validate("[" + std::string(5000, '1') + ".5e+" + std::string(5000, '7') + "]"),
            ErrorCode::kOk);
  EXPECT_EQ(Validate("\"\\ud800\""), ErrorCode::kAttributesNotValidJson);
  EXPECT_EQ(Validate("\"\\udc00\""), ErrorCode::kOk);
}

// Hiding long digit runs from RapidJSON must not turn a wrong number right,
// nor touch digits inside strings.
TEST(AttributesTest, LongNumbersKeepTheGrammar) {
  const std::string many(400, '0');
  EXPECT_EQ(Validate("0" + many), ErrorCode::kAttributesNotValidJson);         // leading zero
  EXPECT_EQ(Validate("-0" + many + "1"), ErrorCode::kAttributesNotValidJson);  // leading zero
  EXPECT_EQ(Validate("1" + many + "."), ErrorCode::kAttributesNotValidJson);   // no fraction
  EXPECT_EQ(Validate("1" + many + "e"), ErrorCode::kAttributesNotValidJson);   // no exponent
  EXPECT_EQ(Validate("1e+" + many + "x"), ErrorCode::kAttributesNotValidJson);
  EXPECT_EQ(Validate("1e" + many + "1.5"), ErrorCode::kAttributesNotValidJson);
  EXPECT_EQ(Validate("1" + many + "-1"), ErrorCode::kAttributesNotValidJson);
  EXPECT_EQ(Validate("[1" + many + " 2]"), ErrorCode::kAttributesNotValidJson);
  EXPECT_EQ(Validate("{\"a\\\"" + many + "\": 1" + many + "}"), ErrorCode::kOk);
  EXPECT_EQ(Validate("[\"1" + many + "\", 0." + many + "1E-" + many + "]"), ErrorCode::kOk);
  EXPECT_EQ(Validate("[0e400, -0.0e-400, 1E+999999999999]"), ErrorCode::kOk);
}

TEST(AttributesTest, ErrorsCarryTwilioMessagesAndHttpStatus) {
  const absl::Status invalid = ValidateAttributes("{", kMaxBytes, kMaxDepth);
  EXPECT_EQ(invalid.message(), "Attributes not valid JSON");
  EXPECT_EQ(HttpStatusOf(invalid), 400);
  const absl::Status too_long = ValidateAttributes("[[]]", 3, kMaxDepth);
  EXPECT_EQ(too_long.message(), "Attributes too long");
  EXPECT_EQ(HttpStatusOf(too_long), 400);
  const absl::Status too_deep = ValidateAttributes("[[]]", kMaxBytes, 1);
  EXPECT_EQ(too_deep.message(), "Attributes too long");
}

TEST(AttributesTest, SizeLimitIsInclusive) {
  // `"aaa...a"` of exactly max_bytes bytes.
  std::string text = "\"" + std::string(kMaxBytes - 2, 'a') + "\"";
  ASSERT_EQ(text.size(), kMaxBytes);
  EXPECT_EQ(Validate(text), ErrorCode::kOk);
  text.insert(1, "a");
  EXPECT_EQ(Validate(text), ErrorCode::kAttributesTooLong);
}

TEST(AttributesTest, SizeIsCheckedBeforeSyntax) {
  // Too long and not JSON: the size error wins.
  EXPECT_EQ(Validate(std::string(kMaxBytes + 1, '{')), ErrorCode::kAttributesTooLong);
  EXPECT_EQ(Validate(std::string(kMaxBytes + 1, '\0')), ErrorCode::kAttributesTooLong);
  EXPECT_EQ(Validate("{}", 1), ErrorCode::kAttributesTooLong);
  EXPECT_EQ(Validate("", 0), ErrorCode::kAttributesNotValidJson);
}

TEST(AttributesTest, DepthLimitIsInclusive) {
  EXPECT_EQ(Validate(Nested(kMaxDepth)), ErrorCode::kOk);
  EXPECT_EQ(Validate(Nested(kMaxDepth + 1)), ErrorCode::kAttributesTooLong);
  EXPECT_EQ(Validate(NestedObjects(kMaxDepth)), ErrorCode::kOk);
  EXPECT_EQ(Validate(NestedObjects(kMaxDepth + 1)), ErrorCode::kAttributesTooLong);
}

// Limits above the 64 levels the validator keeps inline: objects and arrays
// alternate across the boundary, so each closing bracket is checked against
// the right opener on either side of it.
TEST(AttributesTest, DeepLimitsTrackEveryOpenerPastTheInlineStack) {
  constexpr int kDeep = 200;
  auto mixed = [](int depth, int wrong_at) {
    std::string text;
    for (int i = 0; i < depth; ++i) text += i % 2 == 0 ? "[" : "{\"k\":";
    text += "0";
    for (int i = depth - 1; i >= 0; --i) {
      const bool array = i % 2 == 0;
      text += (array != (i == wrong_at)) ? "]" : "}";
    }
    return text;
  };
  EXPECT_EQ(Validate(mixed(kDeep, -1), kMaxBytes, kDeep), ErrorCode::kOk);
  EXPECT_EQ(Validate(mixed(kDeep + 1, -1), kMaxBytes, kDeep), ErrorCode::kAttributesTooLong);
  for (int wrong_at : {0, 1, 62, 63, 64, 65, 66, 150, kDeep - 1}) {
    EXPECT_EQ(Validate(mixed(kDeep, wrong_at), kMaxBytes, kDeep),
              ErrorCode::kAttributesNotValidJson)
        << wrong_at;
  }
}

TEST(AttributesTest, DepthCountsOpenContainersNotTotal) {
  // 100 sibling arrays at depth 2 are fine with a limit of 2.
  std::string text = "[";
  for (int i = 0; i < 100; ++i) text += i == 0 ? "[1]" : ",[1]";
  text += "]";
  EXPECT_EQ(Validate(text, kMaxBytes, 2), ErrorCode::kOk);
  EXPECT_EQ(Validate(text, kMaxBytes, 1), ErrorCode::kAttributesTooLong);
}

TEST(AttributesTest, ScalarsHaveDepthZero) {
  EXPECT_EQ(Validate("3", kMaxBytes, 0), ErrorCode::kOk);
  EXPECT_EQ(Validate("\"x\"", kMaxBytes, 0), ErrorCode::kOk);
  EXPECT_EQ(Validate("[]", kMaxBytes, 0), ErrorCode::kAttributesTooLong);
  EXPECT_EQ(Validate("{}", kMaxBytes, -1), ErrorCode::kAttributesTooLong);
  EXPECT_EQ(Validate("null", kMaxBytes, -1), ErrorCode::kOk);
}

TEST(AttributesTest, DeepButInvalidIsStillTooDeep) {
  // The depth limit trips before the parser reaches the missing brackets.
  EXPECT_EQ(Validate(std::string(kMaxDepth + 1, '[')), ErrorCode::kAttributesTooLong);
  // Within the limit, the same unterminated text is a syntax error.
  EXPECT_EQ(Validate(std::string(kMaxDepth, '[')), ErrorCode::kAttributesNotValidJson);
}

// The first failing thing in text order decides: malformed UTF-8 or a syntax
// error before the nesting limit is 50304, the limit passed before them 50303.
TEST(AttributesTest, TheFirstErrorInTextOrderDecides) {
  const std::string deep(kMaxDepth + 1, '[');
  EXPECT_EQ(Validate(deep + "\xFF"), ErrorCode::kAttributesTooLong);
  EXPECT_EQ(Validate("\xFF" + deep), ErrorCode::kAttributesNotValidJson);
  EXPECT_EQ(Validate("[\"\xC3\"," + deep), ErrorCode::kAttributesNotValidJson);
  EXPECT_EQ(Validate("[1 " + deep), ErrorCode::kAttributesNotValidJson);
  EXPECT_EQ(Validate("[\"\\x\"," + deep), ErrorCode::kAttributesNotValidJson);
  EXPECT_EQ(Validate(deep + "1 2"), ErrorCode::kAttributesTooLong);
  // A valid value followed by malformed UTF-8 is still invalid.
  EXPECT_EQ(Validate("12\xFF"), ErrorCode::kAttributesNotValidJson);
  EXPECT_EQ(Validate("{}\xC3"), ErrorCode::kAttributesNotValidJson);
}

// Strings are scanned eight bytes at a time: a quote, backslash, control byte
// or multi-byte character at every offset of that window is still seen.
TEST(AttributesTest, StringScanSeesEveryByteOffset) {
  for (size_t at = 0; at < 24; ++at) {
    SCOPED_TRACE(at);
    const std::string before(at, 'a');
    const std::string after(24 - at, 'b');
    EXPECT_EQ(Validate("\"" + before + "\\\"" + after + "\""), ErrorCode::kOk);
    EXPECT_EQ(Validate("\"" + before + "\\n" + after + "\""), ErrorCode::kOk);
    EXPECT_EQ(Validate("\"" + before + "\xC3\xA9" + after + "\""), ErrorCode::kOk);
    EXPECT_EQ(Validate("[\"" + before + "\"," + "\"" + after + "\"]"), ErrorCode::kOk);
    EXPECT_EQ(Validate("\"" + before + "\x1F" + after + "\""), ErrorCode::kAttributesNotValidJson);
    EXPECT_EQ(Validate("\"" + before + "\\q" + after + "\""), ErrorCode::kAttributesNotValidJson);
    EXPECT_EQ(Validate("\"" + before + "\xC3" + after + "\""), ErrorCode::kAttributesNotValidJson);
    EXPECT_EQ(Validate("\"" + before + after), ErrorCode::kAttributesNotValidJson);
  }
}

TEST(AttributesTest, MillionOpenBracketsIsACleanDepthError) {
  const std::string text(1000000, '[');
  EXPECT_EQ(Validate(text, text.size(), kMaxDepth), ErrorCode::kAttributesTooLong);
}

TEST(AttributesTest, MillionOpenBracketsWithoutDepthLimitDoesNotRecurse) {
  // With no effective depth limit the parser walks all million levels; the
  // iterative parser keeps them on its heap stack, so this ends in a syntax
  // error rather than a stack overflow.
  const std::string text(1000000, '[');
  EXPECT_EQ(Validate(text, text.size(), 1 << 30), ErrorCode::kAttributesNotValidJson);
  EXPECT_EQ(Validate(Nested(500000), 1000000, 1 << 30), ErrorCode::kOk);
}

TEST(AttributesTest, TenMegabytesIsRefusedWithoutReadingIt) {
  // The size check reads no byte of the input: ten megabytes that cannot be
  // read (a mapping with no access; reading any byte of it kills the test)
  // are refused all the same.
  constexpr size_t kBytes = size_t{10} * 1024 * 1024;
  void* unreadable = mmap(nullptr, kBytes, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  ASSERT_NE(unreadable, MAP_FAILED);
  EXPECT_EQ(Validate(absl::string_view(static_cast<const char*>(unreadable), kBytes)),
            ErrorCode::kAttributesTooLong);
  munmap(unreadable, kBytes);
}

TEST(AttributesTest, TextNeedNotBeTerminated) {
  // A view into a larger buffer: only the viewed bytes count.
  const std::string buffer = "{\"a\":1}garbage";
  EXPECT_EQ(Validate(absl::string_view(buffer.data(), 7)), ErrorCode::kOk);
  EXPECT_EQ(Validate(absl::string_view(buffer.data(), 6)), ErrorCode::kAttributesNotValidJson);
  EXPECT_EQ(Validate(absl::string_view()), ErrorCode::kAttributesNotValidJson);
}

}  // namespace
}  // namespace internal
}  // namespace userstore
