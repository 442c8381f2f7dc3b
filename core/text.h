// Text rules shared by every parameter: strict UTF-8 and code-point lengths.

#ifndef USERSTORE_CORE_TEXT_H_
#define USERSTORE_CORE_TEXT_H_

#include <cstddef>

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
// JSON writer (REST responses) share it.
size_t JsonPlainPrefix(absl::string_view text);

// Number of code points in `text`. REQUIRES: IsValidText(text).
size_t CodePointCount(absl::string_view text);

}  // namespace internal
}  // namespace userstore

#endif  // USERSTORE_CORE_TEXT_H_
