#include "core/text.h"

#include <cstddef>
#include <string>

#include "absl/strings/escaping.h"
#include "absl/strings/string_view.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace userstore {
namespace internal {
namespace {

// The bytes of a string literal, embedded NULs included.
template <size_t N>
constexpr absl::string_view Bytes(const char (&literal)[N]) {
  return absl::string_view(literal, N - 1);
}

struct TextCase {
  absl::string_view text;
  size_t code_points;  // for valid cases
};

const TextCase kValid[] = {
    {Bytes(""), 0},
    {Bytes("a"), 1},
    {Bytes("alice"), 5},
    {Bytes("exactly8"), 8},
    {Bytes("sixteen chars!!!"), 16},
    {Bytes("seventeen chars!!"), 17},
    {Bytes("\x7F"), 1},              // DEL is valid
    {Bytes("\x01\x1F"), 2},          // control characters other than NUL
    {Bytes("\xC2\x80"), 1},          // U+0080, smallest 2-byte
    {Bytes("\xC3\xA9"), 1},          // é
    {Bytes("\xDF\xBF"), 1},          // U+07FF, largest 2-byte
    {Bytes("\xE0\xA0\x80"), 1},      // U+0800, smallest 3-byte
    {Bytes("\xE2\x82\xAC"), 1},      // €
    {Bytes("\xED\x9F\xBF"), 1},      // U+D7FF, just below the surrogates
    {Bytes("\xEE\x80\x80"), 1},      // U+E000, just above the surrogates
    {Bytes("\xEF\xBF\xBD"), 1},      // U+FFFD
    {Bytes("\xEF\xBF\xBF"), 1},      // U+FFFF (a noncharacter, still valid)
    {Bytes("\xF0\x90\x80\x80"), 1},  // U+10000, smallest 4-byte
    {Bytes("\xF0\x9F\x98\x80"), 1},  // 😀
    {Bytes("\xF4\x8F\xBF\xBF"), 1},  // U+10FFFF, the largest code point
    {Bytes("a\xC3\xA9z"), 3},
    {Bytes("\xE6\x97\xA5\xE6\x9C\xAC\xE8\xAA\x9E"), 3},  // 日本語
    {Bytes("abcdefg\xF0\x9F\x98\x80hijklmnop"), 17},     // a 4-byte char across an 8-byte boundary
    {Bytes("abcdefgh\xC3\xA9"), 9},
};

const absl::string_view kInvalid[] = {
    Bytes("\0"),                        // NUL alone
    Bytes("a\0b"),                      // NUL inside
    Bytes("abcdefgh\0"),                // NUL after a fast-path block
    Bytes("abc\0efghijklmnop"),         // NUL inside a fast-path block
    Bytes("\x80"),                      // stray continuation byte
    Bytes("a\xBF"),                     // stray continuation byte after ASCII
    Bytes("\xC3\xA9\xA9"),              // one continuation byte too many
    Bytes("\xC0\xAF"),                  // overlong '/'
    Bytes("\xC0\x80"),                  // overlong NUL
    Bytes("\xC1\xBF"),                  // overlong U+007F
    Bytes("\xE0\x80\xAF"),              // overlong 3-byte '/'
    Bytes("\xE0\x9F\xBF"),              // overlong U+07FF
    Bytes("\xF0\x80\x80\xAF"),          // overlong 4-byte '/'
    Bytes("\xF0\x8F\xBF\xBF"),          // overlong U+FFFF
    Bytes("\xED\xA0\x80"),              // U+D800, a high surrogate
    Bytes("\xED\xBF\xBF"),              // U+DFFF, a low surrogate
    Bytes("\xED\xA0\xBD\xED\xB8\x80"),  // a CESU-8 surrogate pair
    Bytes("\xF4\x90\x80\x80"),          // U+110000, beyond Unicode
    Bytes("\xF5\x80\x80\x80"),          // lead byte F5
    Bytes("\xF7\xBF\xBF\xBF"),
    Bytes("\xF8\x88\x80\x80\x80"),      // 5-byte form
    Bytes("\xFC\x84\x80\x80\x80\x80"),  // 6-byte form
    Bytes("\xFE"),
    Bytes("\xFF"),
    Bytes("\xC3"),      // truncated 2-byte
    Bytes("\xE2\x82"),  // truncated 3-byte
    Bytes("\xE2"),
    Bytes("\xF0\x9F\x98"),  // truncated 4-byte
    Bytes("\xF0\x9F"),
    Bytes("\xF0"),
    Bytes("abc\xE2\x82"),           // truncated at the end after ASCII
    Bytes("\xC3z"),                 // lead byte followed by ASCII
    Bytes("\xE2\x28\xA1"),          // bad second byte
    Bytes("\xE2\x82\x28"),          // bad third byte
    Bytes("\xF0\x9F\x98\x28"),      // bad fourth byte
    Bytes("\xC3\xC3\xA9"),          // lead byte followed by a lead byte
    Bytes("abcdefghijklmnop\xFF"),  // invalid after two fast-path blocks
};

TEST(TextTest, AcceptsValidText) {
  for (const TextCase& c : kValid) {
    EXPECT_TRUE(IsValidText(c.text)) << absl::CHexEscape(c.text);
  }
}

TEST(TextTest, CountsCodePoints) {
  for (const TextCase& c : kValid) {
    EXPECT_EQ(CodePointCount(c.text), c.code_points) << absl::CHexEscape(c.text);
  }
}

TEST(TextTest, RejectsInvalidText) {
  for (absl::string_view text : kInvalid) {
    EXPECT_FALSE(IsValidText(text)) << absl::CHexEscape(text);
  }
}

TEST(TextTest, DefaultStringViewIsValidAndEmpty) {
  EXPECT_TRUE(IsValidText(absl::string_view()));
  EXPECT_EQ(CodePointCount(absl::string_view()), 0u);
}

TEST(TextTest, InvalidByteAtEveryPositionOfLongAsciiText) {
  // Exercises every alignment of the 8-byte fast path.
  for (size_t length = 1; length <= 40; ++length) {
    for (size_t pos = 0; pos < length; ++pos) {
      for (char bad : {'\0', '\x80', '\xFF', '\xC3'}) {
        std::string text(length, 'x');
        text[pos] = bad;
        EXPECT_FALSE(IsValidText(text)) << "length " << length << " pos " << pos;
      }
    }
  }
}

TEST(TextTest, MultiByteAtEveryPositionOfLongAsciiText) {
  for (size_t pos = 0; pos <= 24; ++pos) {
    std::string text(24, 'x');
    text.insert(pos, "\xF0\x9F\x98\x80");
    EXPECT_TRUE(IsValidText(text)) << pos;
    EXPECT_EQ(CodePointCount(text), 25u) << pos;
  }
}

TEST(TextTest, EveryTwoByteSequence) {
  // Exhaustive over the first two bytes: a 2-byte text is valid exactly when
  // it is two ASCII non-NUL bytes, or a lead C2..DF with a continuation byte.
  for (int a = 0; a < 256; ++a) {
    for (int b = 0; b < 256; ++b) {
      const char bytes[2] = {static_cast<char>(a), static_cast<char>(b)};
      const bool ascii = a > 0 && a < 0x80 && b > 0 && b < 0x80;
      const bool two_byte = a >= 0xC2 && a <= 0xDF && b >= 0x80 && b <= 0xBF;
      EXPECT_EQ(IsValidText(absl::string_view(bytes, 2)), ascii || two_byte) << a << " " << b;
    }
  }
}

TEST(TextTest, EveryCodePointEncodedIsValid) {
  // Encodes every scalar value (all code points except the surrogates) and
  // checks it is accepted and counted once; each surrogate is refused.
  std::string buffer;
  for (uint32_t cp = 1; cp <= 0x10FFFF; ++cp) {
    buffer.clear();
    if (cp < 0x80) {
      buffer += static_cast<char>(cp);
    } else if (cp < 0x800) {
      buffer += static_cast<char>(0xC0 | (cp >> 6));
      buffer += static_cast<char>(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
      buffer += static_cast<char>(0xE0 | (cp >> 12));
      buffer += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      buffer += static_cast<char>(0x80 | (cp & 0x3F));
    } else {
      buffer += static_cast<char>(0xF0 | (cp >> 18));
      buffer += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
      buffer += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      buffer += static_cast<char>(0x80 | (cp & 0x3F));
    }
    const bool surrogate = cp >= 0xD800 && cp <= 0xDFFF;
    ASSERT_EQ(IsValidText(buffer), !surrogate) << std::hex << cp;
    if (!surrogate) {
      ASSERT_EQ(CodePointCount(buffer), 1u) << std::hex << cp;
    }
  }
}

// The first byte a JSON string must escape is found at every offset of the
// eight-byte scan, after plain bytes of every kind (high bytes included),
// and never where there is none.
TEST(TextTest, JsonPlainPrefixFindsTheFirstByteToEscape) {
  const std::string plain_bytes = std::string("a~ \x7F\x80\xC3\xFF/") + "0123456789";
  for (size_t at = 0; at < 24; ++at) {
    std::string text;
    for (size_t i = 0; i < at; ++i) text += plain_bytes[i % plain_bytes.size()];
    EXPECT_EQ(JsonPlainPrefix(text), at) << at;
    for (char special : {'"', '\\', '\0', '\x1F', '\n'}) {
      const std::string with = text + special + "tail\"more\\";
      EXPECT_EQ(JsonPlainPrefix(with), at) << at << " " << static_cast<int>(special);
    }
  }
  EXPECT_EQ(JsonPlainPrefix(""), 0u);
}

// The eight-byte scan answers from the lowest flag of a group: checked for
// every byte value at every position of two groups, each followed by every
// kind of byte (a flagged byte after the first must not win, a byte at or
// above 0x80 must not flag), against a byte-by-byte reference.
TEST(TextTest, JsonPlainPrefixMatchesAByteByByteScanForEveryByteAndPosition) {
  auto reference = [](absl::string_view text) {
    for (size_t i = 0; i < text.size(); ++i) {
      const unsigned char c = static_cast<unsigned char>(text[i]);
      if (c < 0x20 || c == '"' || c == '\\') return i;
    }
    return text.size();
  };
  const std::string fillers[] = {"abcdefghijklmnop",
                                 "\x80\xFF\xA2\x9F\x7F ~!\xC3\xA9\xE2\x82\xAC#$%"};
  const char followers[] = {'"',    '\\',   '\0',   '\x1F', '\x20', '\x21', '\x5B',
                            '\x5D', '\x7F', '\x80', '\xA2', '\xDC', '\xFF', 'x'};
  for (const std::string& filler : fillers) {
    for (size_t at = 0; at < 16; ++at) {
      for (int byte = 0; byte < 256; ++byte) {
        for (char after : followers) {
          std::string text = filler.substr(0, at);
          text += static_cast<char>(byte);
          text += after;
          text += filler.substr(at);  // more bytes, so the group is full
          ASSERT_EQ(JsonPlainPrefix(text), reference(text)) << at << " " << byte << " " << +after;
        }
      }
    }
  }
}

}  // namespace
}  // namespace internal
}  // namespace userstore
