// Fuzz target: page-token decoding and encoding (core/page_token.h).
//
// Two properties per input:
//   1. The input is a token. Decoding never crashes and fails only with
//      400/20001. When it decodes: it starts with "PA" (forward) or "PB"
//      (backward) matching `forward`, is at most 128 bytes, re-encodes to
//      exactly the same text (a token has one spelling: no second, malleable
//      form of the same record), and does not decode under another secret
//      (the check value is keyed).
//   2. The input describes a token record (direction, collection, surface,
//      scope, anchor). Encoding it and decoding the result gives the same
//      record back, and the text is a short "PA"/"PB" + base64url string.
// The seeds in corpus/page_token/ include tokens sealed with kSecret, so that
// mutations of real tokens (truncations, flipped bits, padding, non-canonical
// base64 tails) are explored, not only random text.

#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "fuzz_common.h"

#include "userstore/status.h"

#include "core/page_token.h"

namespace {

using userstore::fuzz::ByteReader;
using userstore::fuzz::Escape;
using userstore::internal::Collection;
using userstore::internal::DecodePageToken;
using userstore::internal::EncodePageToken;
using userstore::internal::PageTokenData;

// The secret the seed tokens were sealed with.
constexpr uint64_t kSecret = 0x5eed5eed5eed5eedULL;
constexpr uint64_t kOtherSecret = 0x5eed5eed5eed5eecULL;

bool SameRecord(const PageTokenData& a, const PageTokenData& b) {
  return a.forward == b.forward && a.collection == b.collection && a.surface == b.surface &&
         a.scope == b.scope && a.anchor == b.anchor;
}

bool IsBase64Url(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '_';
}

void CheckDecode(absl::string_view token) {
  const absl::StatusOr<PageTokenData> decoded = DecodePageToken(token, kSecret);
  if (!decoded.ok()) {
    FUZZ_CHECK(
        userstore::ErrorCodeOf(decoded.status()) == userstore::ErrorCode::kInvalidParameter &&
            userstore::HttpStatusOf(decoded.status()) == 400,
        "a bad token must be 400/20001, got %s for %s", decoded.status().ToString().c_str(),
        Escape(token).c_str());
    return;
  }
  FUZZ_CHECK(token.size() <= 128, "a %zu-byte token decoded", token.size());
  FUZZ_CHECK(token.substr(0, 2) == (decoded->forward ? "PA" : "PB"),
             "prefix does not match direction: %s", Escape(token).c_str());
  const std::string again = EncodePageToken(*decoded, kSecret);
  FUZZ_CHECK(again == token, "Encode(Decode(t)) != t: t=%s, re-encoded %s", Escape(token).c_str(),
             Escape(again).c_str());
  FUZZ_CHECK(!DecodePageToken(token, kOtherSecret).ok(),
             "a token decoded under a different secret: %s", Escape(token).c_str());
}

void CheckEncode(ByteReader* in) {
  PageTokenData data;
  data.forward = in->Bool();
  const uint8_t c = in->Byte();
  data.collection = static_cast<Collection>(1 + c % 3);
  data.surface = static_cast<userstore::Surface>(in->Byte() % 4);
  data.scope.hi = in->U64();
  data.scope.lo = in->U64();
  data.anchor = in->U64();
  const std::string token = EncodePageToken(data, kSecret);
  FUZZ_CHECK(token.size() > 2 && token.size() <= 128, "encoded token of %zu bytes", token.size());
  FUZZ_CHECK(token.substr(0, 2) == (data.forward ? "PA" : "PB"), "bad prefix: %s",
             Escape(token).c_str());
  for (char ch : token.substr(2)) {
    FUZZ_CHECK(IsBase64Url(ch), "token is not URL-safe: %s", Escape(token).c_str());
  }
  const absl::StatusOr<PageTokenData> back = DecodePageToken(token, kSecret);
  FUZZ_CHECK(back.ok(), "a fresh token does not decode: %s (%s)", Escape(token).c_str(),
             back.status().ToString().c_str());
  FUZZ_CHECK(SameRecord(*back, data), "decode(encode(r)) != r for %s", Escape(token).c_str());
  FUZZ_CHECK(!DecodePageToken(token, kOtherSecret).ok(),
             "a token decoded under a different secret: %s", Escape(token).c_str());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  CheckDecode(absl::string_view(reinterpret_cast<const char*>(data), size));
  ByteReader in(data, size);
  CheckEncode(&in);
  return 0;
}
