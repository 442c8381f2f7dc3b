// Validation of a user's `attributes`: any JSON text (RFC 8259, any top-level
// value), bounded in bytes and nesting depth. The text is stored verbatim; this
// only decides yes or no, with a dedicated single-pass validator (see
// attributes.cc for its exact verdicts; they are RapidJSON's, which the
// attributes fuzzer checks byte for byte).

#ifndef USERSTORE_CORE_ATTRIBUTES_H_
#define USERSTORE_CORE_ATTRIBUTES_H_

#include <cstddef>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace userstore {
namespace internal {

// OK, or:
//   400/50303 when `text` is longer than `max_bytes` (checked first, before any
//             parsing) or nests arrays/objects deeper than `max_depth`;
//   400/50304 when it is not valid UTF-8, holds a NUL, or is not JSON.
// Never recurses, so 1,000,000 '[' is a clean error. O(len(text)); allocates
// only to track nesting deeper than 64 levels (one byte per level).
absl::Status ValidateAttributes(absl::string_view text, size_t max_bytes, int max_depth);

}  // namespace internal
}  // namespace userstore

#endif  // USERSTORE_CORE_ATTRIBUTES_H_
