#include "core/text.h"

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "absl/strings/string_view.h"

namespace userstore {
namespace internal {
namespace {

constexpr uint64_t kHighBits = 0x8080808080808080ULL;

// True when all 8 bytes at `p` are ASCII.
inline bool IsAscii8(const unsigned char* p) {
  uint64_t w;
  std::memcpy(&w, p, sizeof(w));  // unaligned load, folded by the compiler
  return (w & kHighBits) == 0;
}

inline bool InRange(unsigned char c, unsigned char lo, unsigned char hi) {
  return c >= lo && c <= hi;
}

}  // namespace

size_t Utf8ValidPrefix(absl::string_view text) {
  const auto* p = reinterpret_cast<const unsigned char*>(text.data());
  const size_t n = text.size();
  size_t i = 0;
  while (i < n) {
    // Identities, names and most attributes are ASCII: take 8 bytes at a time
    // until something needs a closer look.
    while (n - i >= 8 && IsAscii8(p + i)) i += 8;
    if (i == n) break;

    const unsigned char c = p[i];
    if (c < 0x80) {
      ++i;
      continue;
    }
    // Well-formed sequences, Unicode 15 Table 3-7. The narrowed second-byte
    // ranges after E0, ED, F0 and F4 are what exclude overlong forms,
    // surrogates and code points above U+10FFFF; C0, C1 and F5..FF never
    // start a sequence, and a stray continuation byte (80..BF) lands here too.
    size_t len;
    unsigned char lo = 0x80;
    unsigned char hi = 0xBF;
    if (InRange(c, 0xC2, 0xDF)) {
      len = 2;
    } else if (InRange(c, 0xE0, 0xEF)) {
      len = 3;
      if (c == 0xE0) lo = 0xA0;
      if (c == 0xED) hi = 0x9F;
    } else if (InRange(c, 0xF0, 0xF4)) {
      len = 4;
      if (c == 0xF0) lo = 0x90;
      if (c == 0xF4) hi = 0x8F;
    } else {
      return i;
    }
    if (n - i < len) return i;  // truncated at the end of the text
    if (!InRange(p[i + 1], lo, hi)) return i;
    for (size_t k = 2; k < len; ++k) {
      if (!InRange(p[i + k], 0x80, 0xBF)) return i;
    }
    i += len;
  }
  return n;
}

bool IsValidText(absl::string_view text) {
  if (text.empty()) return true;
  if (std::memchr(text.data(), '\0', text.size()) != nullptr) return false;
  return Utf8ValidPrefix(text) == text.size();
}

size_t CodePointCount(absl::string_view text) {
  // Every code point has exactly one byte that is not a continuation byte
  // (10xxxxxx). Counted branch-free so the compiler can vectorise it; for
  // invalid input the result is still defined (just not meaningful).
  size_t count = 0;
  for (char ch : text) {
    count += (static_cast<unsigned char>(ch) & 0xC0) != 0x80;
  }
  return count;
}

}  // namespace internal
}  // namespace userstore
