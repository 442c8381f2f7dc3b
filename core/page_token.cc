// Token layout. The sealed record is 36 bytes, all integers little-endian:
//
//   offset  size  field
//        0     1  version (kVersion)
//        1     1  collection (Collection)
//        2     1  surface (Surface)
//        3     1  flags: bit 0 = forward; other bits zero
//        4     8  scope.hi
//       12     8  scope.lo
//       20     8  anchor
//       28     8  tag = SipHash-2-4 of bytes 0..27, keyed with the secret
//
// and the token is "PA" (forward) or "PB" (backward) followed by the record in
// base64url without padding: 36 bytes are exactly 48 characters, so every
// token is 50 characters long and every character carries 6 bits of the record.
// A change to any character therefore changes the record and, but for a 2^-64
// chance, breaks the tag; the prefix is checked against the sealed flag, so
// swapping "PA" and "PB" fails too.
//
// SipHash is a MAC designed for short inputs and keyed with 128 bits; the
// store's secret supplies 64 of them. Without the secret, forging a token is
// a 2^-64 guess per attempt. The encoding is a pure function of its inputs,
// so a seeded store hands out byte-identical tokens on every run.

#include "core/page_token.h"

#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

#include "userstore/resources.h"
#include "userstore/status.h"

#include "core/sid.h"

namespace userstore {
namespace internal {
namespace {

constexpr uint8_t kVersion = 1;
constexpr size_t kBodyBytes = 28;
constexpr size_t kRecordBytes = kBodyBytes + 8;
constexpr size_t kEncodedChars = kRecordBytes / 3 * 4;
static_assert(kRecordBytes % 3 == 0, "the record must fill whole base64 groups");
constexpr size_t kPrefixChars = 2;
constexpr size_t kTokenChars = kPrefixChars + kEncodedChars;
constexpr size_t kMaxTokenChars = 128;
static_assert(kTokenChars <= kMaxTokenChars, "tokens must fit the decoder's bound");

constexpr uint8_t kForwardFlag = 0x01;

// Separates this use of the secret from any other keyed use of it.
constexpr uint64_t kKeyDomain = 0x7573657273746f72ULL;  // "userstor"

constexpr char kBase64Url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

// Digit value of each byte; kNotBase64 for bytes outside the alphabet.
constexpr uint8_t kNotBase64 = 0xFF;
struct ReverseTable {
  uint8_t value[256];
};

constexpr ReverseTable MakeReverseTable() {
  ReverseTable t{};
  for (uint8_t& v : t.value) v = kNotBase64;
  for (uint8_t i = 0; i < 64; ++i) t.value[static_cast<unsigned char>(kBase64Url[i])] = i;
  return t;
}
constexpr ReverseTable kBase64UrlReverse = MakeReverseTable();

inline void Store64(uint64_t v, uint8_t* out) {
  for (int i = 0; i < 8; ++i) out[i] = static_cast<uint8_t>(v >> (8 * i));
}

inline uint64_t Load64(const uint8_t* in) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | in[i];
  return v;
}

inline uint64_t Rotl(uint64_t x, int b) { return (x << b) | (x >> (64 - b)); }

// SipHash-2-4 (Aumasson and Bernstein), the reference algorithm.
uint64_t SipHash24(uint64_t k0, uint64_t k1, const uint8_t* in, size_t len) {
  uint64_t v0 = 0x736f6d6570736575ULL ^ k0;
  uint64_t v1 = 0x646f72616e646f6dULL ^ k1;
  uint64_t v2 = 0x6c7967656e657261ULL ^ k0;
  uint64_t v3 = 0x7465646279746573ULL ^ k1;
  auto round = [&]() {
    v0 += v1;
    v1 = Rotl(v1, 13);
    v1 ^= v0;
    v0 = Rotl(v0, 32);
    v2 += v3;
    v3 = Rotl(v3, 16);
    v3 ^= v2;
    v0 += v3;
    v3 = Rotl(v3, 21);
    v3 ^= v0;
    v2 += v1;
    v1 = Rotl(v1, 17);
    v1 ^= v2;
    v2 = Rotl(v2, 32);
  };
  const size_t whole = len - len % 8;
  for (size_t i = 0; i < whole; i += 8) {
    const uint64_t m = Load64(in + i);
    v3 ^= m;
    round();
    round();
    v0 ^= m;
  }
  uint64_t last = static_cast<uint64_t>(len & 0xff) << 56;
  for (size_t i = 0; i < len % 8; ++i) last |= static_cast<uint64_t>(in[whole + i]) << (8 * i);
  v3 ^= last;
  round();
  round();
  v0 ^= last;
  v2 ^= 0xff;
  round();
  round();
  round();
  round();
  return v0 ^ v1 ^ v2 ^ v3;
}

uint64_t Tag(const uint8_t* body, uint64_t secret) {
  return SipHash24(secret, secret ^ kKeyDomain, body, kBodyBytes);
}

absl::Status InvalidToken() { return InvalidParameterError("Invalid PageToken"); }

}  // namespace

std::string EncodePageToken(const PageTokenData& data, uint64_t secret) {
  uint8_t record[kRecordBytes];
  record[0] = kVersion;
  record[1] = static_cast<uint8_t>(data.collection);
  record[2] = static_cast<uint8_t>(data.surface);
  record[3] = data.forward ? kForwardFlag : 0;
  Store64(data.scope.hi, record + 4);
  Store64(data.scope.lo, record + 12);
  Store64(data.anchor, record + 20);
  Store64(Tag(record, secret), record + kBodyBytes);

  std::string token(kTokenChars, '\0');
  token[0] = 'P';
  token[1] = data.forward ? 'A' : 'B';
  char* out = &token[kPrefixChars];
  for (size_t i = 0; i < kRecordBytes; i += 3) {
    const uint32_t group = (static_cast<uint32_t>(record[i]) << 16) |
                           (static_cast<uint32_t>(record[i + 1]) << 8) | record[i + 2];
    *out++ = kBase64Url[(group >> 18) & 63];
    *out++ = kBase64Url[(group >> 12) & 63];
    *out++ = kBase64Url[(group >> 6) & 63];
    *out++ = kBase64Url[group & 63];
  }
  return token;
}

absl::StatusOr<PageTokenData> DecodePageToken(absl::string_view token, uint64_t secret) {
  // Cheap structural checks come first, so junk of any size costs O(1) or at
  // most one pass over 48 characters.
  if (token.size() > kMaxTokenChars) return InvalidToken();
  if (token.size() != kTokenChars) return InvalidToken();
  if (token[0] != 'P' || (token[1] != 'A' && token[1] != 'B')) return InvalidToken();
  const bool forward_prefix = token[1] == 'A';

  uint8_t record[kRecordBytes];
  const absl::string_view body = token.substr(kPrefixChars);
  for (size_t i = 0, o = 0; i < kEncodedChars; i += 4, o += 3) {
    uint32_t group = 0;
    for (size_t k = 0; k < 4; ++k) {
      const uint8_t v = kBase64UrlReverse.value[static_cast<unsigned char>(body[i + k])];
      if (v == kNotBase64) return InvalidToken();
      group = (group << 6) | static_cast<uint32_t>(v);
    }
    record[o] = static_cast<uint8_t>(group >> 16);
    record[o + 1] = static_cast<uint8_t>(group >> 8);
    record[o + 2] = static_cast<uint8_t>(group);
  }

  if (record[0] != kVersion) return InvalidToken();
  if (Load64(record + kBodyBytes) != Tag(record, secret)) return InvalidToken();

  const uint8_t collection = record[1];
  const uint8_t surface = record[2];
  const uint8_t flags = record[3];
  if (collection < static_cast<uint8_t>(Collection::kUsers) ||
      collection > static_cast<uint8_t>(Collection::kRoles)) {
    return InvalidToken();
  }
  if (surface > static_cast<uint8_t>(Surface::kConversations)) return InvalidToken();
  if ((flags & ~kForwardFlag) != 0) return InvalidToken();
  const bool forward = (flags & kForwardFlag) != 0;
  if (forward != forward_prefix) return InvalidToken();

  PageTokenData data;
  data.forward = forward;
  data.collection = static_cast<Collection>(collection);
  data.surface = static_cast<Surface>(surface);
  data.scope.hi = Load64(record + 4);
  data.scope.lo = Load64(record + 12);
  data.anchor = Load64(record + 20);
  return data;
}

}  // namespace internal
}  // namespace userstore
