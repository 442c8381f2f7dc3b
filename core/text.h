// Text rules shared by every parameter: strict UTF-8 and code-point lengths.

#ifndef USERSTORE_CORE_TEXT_H_
#define USERSTORE_CORE_TEXT_H_

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "absl/base/config.h"
#include "absl/numeric/bits.h"
#include "absl/strings/string_view.h"

namespace userstore {
namespace internal {

// True when `text` is well-formed UTF-8 (RFC 3629: no overlong forms, no
// surrogates U+D800..U+DFFF, nothing above U+10FFFF) and holds no NUL byte.
bool IsValidText(absl::string_view text);

// The length of the longest prefix of `text` that is well-formed UTF-8 (the
// rules of IsValidText, NUL allowed): text.size() when all of it is, else the
// offset of the first byte of the first malformed sequence.
size_t Utf8ValidPrefix(absl::string_view text);

// The length of the longest prefix of `text` holding no byte that a JSON
// string must escape (below 0x20, '"' or '\\'): text.size() when there is
// none. Scans eight bytes at a time. The JSON validator (attributes) and the
// JSON writer (REST responses) share it; inline because both call it once
// per string, and most strings they see are a few bytes long.
inline size_t JsonPlainPrefix(absl::string_view text) {
  constexpr uint64_t kOnes = 0x0101010101010101ULL;
  constexpr uint64_t kHighBits = 0x8080808080808080ULL;
  const char* p = text.data();
  const size_t n = text.size();
  size_t i = 0;
  // The classic "has a byte less than / equal to" bit tricks. A byte that
  // does not match can only be flagged by a borrow out of a matching byte
  // below it (a byte at or above 0x80 never flags at all), so the lowest
  // flag is exact: on a little-endian machine, the first byte to escape.
  for (; n - i >= 8; i += 8) {
    uint64_t x;
    std::memcpy(&x, p + i, 8);
    const uint64_t control = (x - kOnes * 0x20) & ~x & kHighBits;
    const uint64_t q = x ^ (kOnes * '"');
    const uint64_t quote = (q - kOnes) & ~q & kHighBits;
    const uint64_t b = x ^ (kOnes * '\\');
    const uint64_t backslash = (b - kOnes) & ~b & kHighBits;
    const uint64_t flags = control | quote | backslash;
    if (flags != 0) {
#if defined(ABSL_IS_LITTLE_ENDIAN)
      return i + static_cast<size_t>(absl::countr_zero(flags)) / 8;
#else
      break;
#endif
    }
  }
  for (; i < n; ++i) {
    const unsigned char c = static_cast<unsigned char>(p[i]);
    if (c < 0x20 || c == '"' || c == '\\') return i;
  }
  return n;
}

// Number of code points in `text`. REQUIRES: IsValidText(text).
size_t CodePointCount(absl::string_view text);

}  // namespace internal
}  // namespace userstore

#endif  // USERSTORE_CORE_TEXT_H_
