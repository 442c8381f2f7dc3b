// SIDs: a two-letter prefix and 32 lower-case hex digits, the text form of a
// 128-bit value. Inside the store a SID is its `Sid128` (hashed and compared as
// two words, never as text).

#ifndef USERSTORE_CORE_SID_H_
#define USERSTORE_CORE_SID_H_

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

#include "absl/strings/string_view.h"

namespace userstore {
namespace internal {

struct Sid128 {
  uint64_t hi = 0;
  uint64_t lo = 0;
  friend bool operator==(const Sid128& a, const Sid128& b) { return a.hi == b.hi && a.lo == b.lo; }
  friend bool operator!=(const Sid128& a, const Sid128& b) { return !(a == b); }
  friend bool operator<(const Sid128& a, const Sid128& b) {
    return a.hi != b.hi ? a.hi < b.hi : a.lo < b.lo;
  }
  template <typename H>
  friend H AbslHashValue(H h, const Sid128& s) {
    return H::combine(std::move(h), s.hi, s.lo);
  }
};

// "US" + 32 lower-case hex digits of `value`.
std::string FormatSid(absl::string_view prefix, Sid128 value);
// Appends the same to `out` (no temporary).
void AppendSid(std::string* out, absl::string_view prefix, Sid128 value);

// The length of a SID's text: two prefix letters and 32 hex digits.
inline constexpr size_t kSidTextSize = 34;

// Writes `prefix` + the 32 lower-case hex digits of `value` to `out` (which
// holds prefix.size() + 32 bytes) and returns a view of them.
absl::string_view WriteSid(absl::string_view prefix, Sid128 value, char* out);

// True when `text` matches `^{prefix}[0-9a-fA-F]{32}$` (the pattern of
// Twilio's specs: upper-case hex matches).
bool IsSidShaped(absl::string_view prefix, absl::string_view text);

// The value of `text` when it is `{prefix}` + 32 *lower-case* hex digits, the
// only form the store generates; nullopt otherwise (so a SID-shaped string
// with an upper-case digit names nothing).
std::optional<Sid128> ParseSid(absl::string_view prefix, absl::string_view text);

// SidGenerator: 128-bit values from a seeded generator (deterministic for a
// given seed and call sequence) or from the OS. NOT thread-safe: the store
// calls it under its own lock.
class SidGenerator {
 public:
  explicit SidGenerator(std::optional<uint64_t> seed);
  Sid128 Next();

  // The whole state, for a durable store's checkpoint, and its restoration.
  void GetState(uint64_t out[4]) const {
    for (int i = 0; i < 4; ++i) out[i] = state_[i];
  }
  void SetState(const uint64_t in[4]) {
    for (int i = 0; i < 4; ++i) state_[i] = in[i];
  }

 private:
  uint64_t state_[4];  // xoshiro256** state
};

}  // namespace internal
}  // namespace userstore

#endif  // USERSTORE_CORE_SID_H_
