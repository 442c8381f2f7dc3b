#include "core/sid.h"

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <optional>
#include <random>
#include <string>

#include "absl/base/config.h"
#include "absl/strings/string_view.h"

namespace userstore {
namespace internal {
namespace {

constexpr size_t kHexDigits = 32;

inline uint64_t ToBigEndian(uint64_t v) {
#if defined(ABSL_IS_BIG_ENDIAN)
  return v;
#elif defined(__GNUC__) || defined(__clang__)
  return __builtin_bswap64(v);
#else
  uint64_t r = 0;
  for (int i = 0; i < 8; ++i) r = (r << 8) | ((v >> (8 * i)) & 0xFF);
  return r;
#endif
}

// Writes the 8 lower-case hex digits of `x`, most significant first.
//
// SWAR instead of a digit table: the nibbles are spread one per byte, each
// byte becomes its ASCII digit with two additions (bytes 10..15 get the extra
// 'a' - '0' - 10 = 39, selected by the carry of +6 into bit 4), and one 8-byte
// store writes them. Measured about twice as fast as a 16-entry table loop
// under g++ -O2, which does not unroll that loop; SIDs are rendered several
// times per user in every REST response.
inline void WriteHex32(uint32_t x, char* out) {
  uint64_t v = x;
  v = (v | (v << 16)) & 0x0000FFFF0000FFFFULL;
  v = (v | (v << 8)) & 0x00FF00FF00FF00FFULL;
  v = (v | (v << 4)) & 0x0F0F0F0F0F0F0F0FULL;
  // Now byte i (from the least significant) holds nibble i of `x`.
  const uint64_t letters = ((v + 0x0606060606060606ULL) >> 4) & 0x0101010101010101ULL;
  v += 0x3030303030303030ULL + letters * ('a' - '0' - 10);
  // The most significant nibble must land first in memory.
  v = ToBigEndian(v);
  std::memcpy(out, &v, sizeof(v));
}

inline void WriteHex64(uint64_t word, char* out) {
  WriteHex32(static_cast<uint32_t>(word >> 32), out);
  WriteHex32(static_cast<uint32_t>(word), out + 8);
}

// Hex digits are checked and decoded eight at a time (SWAR) rather than
// through a 256-entry table one byte after another: every fetch of a user by
// SID checks the text's shape and parses it, and the byte loop (a dependent
// shift-or chain with a branch per digit) was a quarter of an in-cache fetch.
constexpr uint64_t kOnes = 0x0101010101010101ULL;
constexpr uint64_t kHighBits = 0x8080808080808080ULL;

inline uint64_t Load64(const char* p) {
  uint64_t v;
  std::memcpy(&v, p, sizeof(v));
  return v;
}

// Bit 7 of each byte of the result is set when that byte of `v` lies in
// [lo, hi]. Every byte of `v` must be below 0x80, so no addition carries into
// the next byte.
inline uint64_t InRange(uint64_t v, uint8_t lo, uint8_t hi) {
  const uint64_t at_least_lo = v + kOnes * (0x80 - lo);
  const uint64_t above_hi = v + kOnes * (0x80 - hi - 1);
  return at_least_lo & ~above_hi & kHighBits;
}

// Whether all eight bytes of `v` are hex digits: lower-case only, or either
// case. On success, *letters has bit 7 set in each byte that is a letter.
inline bool HexBytes(uint64_t v, bool any_case, uint64_t* letters) {
  if ((v & kHighBits) != 0) return false;
  const uint64_t digits = InRange(v, '0', '9');
  // `| 0x20` maps 'A'..'F' onto 'a'..'f' and no other byte onto them.
  *letters = InRange(any_case ? (v | (kOnes * 0x20)) : v, 'a', 'f');
  return (digits | *letters) == kHighBits;
}

// Reads 16 lower-case hex digits at `p`.
inline bool ParseHex64(const char* p, uint64_t* word) {
  uint64_t out = 0;
  for (int half = 0; half < 2; ++half) {
    const uint64_t v = Load64(p + 8 * half);
    uint64_t letters;
    if (!HexBytes(v, /*any_case=*/false, &letters)) return false;
    // Digit values one per byte ('a' & 0x0F is 1, so letters add 9).
    uint64_t nibbles = (v & (kOnes * 0x0F)) + (letters >> 7) * 9;
    // The first character to the most significant byte, then the eight
    // nibbles packed into 32 bits.
    nibbles = ToBigEndian(nibbles);
    nibbles = ((nibbles >> 4) | nibbles) & 0x00FF00FF00FF00FFULL;
    nibbles = ((nibbles >> 8) | nibbles) & 0x0000FFFF0000FFFFULL;
    nibbles = ((nibbles >> 16) | nibbles) & 0x00000000FFFFFFFFULL;
    out = (out << 32) | nibbles;
  }
  *word = out;
  return true;
}

// splitmix64 (Vigna): turns one 64-bit seed into well-mixed words, the
// seeding procedure recommended for the xoshiro family. Distinct calls give
// distinct outputs (it is a bijection of a counter), so the four state words
// can never all be zero.
uint64_t SplitMix64(uint64_t* x) {
  uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

inline uint64_t Rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

// 64 bits from the OS. std::random_device may throw when the platform has no
// entropy source; that is contained here, with a fallback that still differs
// per process and per call, so that constructing a generator never fails.
uint64_t OsEntropy() {
#if defined(__cpp_exceptions)
  try {
#endif
    std::random_device device;
    return (static_cast<uint64_t>(device()) << 32) ^ device();
#if defined(__cpp_exceptions)
  } catch (...) {
  }
  static std::atomic<uint64_t> calls{0};
  uint64_t mix =
      static_cast<uint64_t>(reinterpret_cast<uintptr_t>(&calls)) ^
      static_cast<uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count()) ^
      (calls.fetch_add(1, std::memory_order_relaxed) << 48);
  return SplitMix64(&mix);
#endif
}

}  // namespace

void AppendSid(std::string* out, absl::string_view prefix, Sid128 value) {
  // One resize and direct writes: this runs for every SID the REST layer
  // renders, so it avoids snprintf and per-character appends.
  const size_t start = out->size();
  out->resize(start + prefix.size() + kHexDigits);
  char* p = &(*out)[start];
  if (!prefix.empty()) std::memcpy(p, prefix.data(), prefix.size());
  p += prefix.size();
  WriteHex64(value.hi, p);
  WriteHex64(value.lo, p + 16);
}

absl::string_view WriteSid(absl::string_view prefix, Sid128 value, char* out) {
  if (!prefix.empty()) std::memcpy(out, prefix.data(), prefix.size());
  WriteHex64(value.hi, out + prefix.size());
  WriteHex64(value.lo, out + prefix.size() + 16);
  return absl::string_view(out, prefix.size() + kHexDigits);
}

std::string FormatSid(absl::string_view prefix, Sid128 value) {
  std::string out;
  AppendSid(&out, prefix, value);
  return out;
}

bool IsSidShaped(absl::string_view prefix, absl::string_view text) {
  if (text.size() != prefix.size() + kHexDigits) return false;
  if (text.substr(0, prefix.size()) != prefix) return false;
  const char* digits = text.data() + prefix.size();
  uint64_t letters;
  for (size_t i = 0; i < kHexDigits; i += 8) {
    if (!HexBytes(Load64(digits + i), /*any_case=*/true, &letters)) return false;
  }
  return true;
}

std::optional<Sid128> ParseSid(absl::string_view prefix, absl::string_view text) {
  if (text.size() != prefix.size() + kHexDigits) return std::nullopt;
  if (text.substr(0, prefix.size()) != prefix) return std::nullopt;
  const char* digits = text.data() + prefix.size();
  Sid128 value;
  if (!ParseHex64(digits, &value.hi) || !ParseHex64(digits + 16, &value.lo)) return std::nullopt;
  return value;
}

SidGenerator::SidGenerator(std::optional<uint64_t> seed) {
  uint64_t x = seed.has_value() ? *seed : OsEntropy();
  for (uint64_t& word : state_) word = SplitMix64(&x);
  if (!seed.has_value()) {
    // Widen the OS-seeded state beyond the 64 bits that went through
    // splitmix64, so unseeded generators in different processes are
    // independent in all 256 bits.
    for (uint64_t& word : state_) word ^= OsEntropy();
    if ((state_[0] | state_[1] | state_[2] | state_[3]) == 0) state_[0] = 1;
  }
}

Sid128 SidGenerator::Next() {
  // xoshiro256** 1.0 (Blackman and Vigna), called twice per SID.
  auto next = [this]() {
    const uint64_t result = Rotl(state_[1] * 5, 7) * 9;
    const uint64_t t = state_[1] << 17;
    state_[2] ^= state_[0];
    state_[3] ^= state_[1];
    state_[1] ^= state_[2];
    state_[0] ^= state_[3];
    state_[2] ^= t;
    state_[3] = Rotl(state_[3], 45);
    return result;
  };
  Sid128 value;
  value.hi = next();
  value.lo = next();
  return value;
}

}  // namespace internal
}  // namespace userstore
