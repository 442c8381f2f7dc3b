// Page tokens: opaque to clients, "PA" (forward) or "PB" (backward) followed by
// an unpadded base64url encoding of a small sealed record. The record names the
// collection (users of a service, services, roles of a service), the surface,
// the scope SID and an anchor position in creation order. A keyed check value
// (from the store's secret) makes forged, truncated or altered tokens fail to
// decode.
//
// A forward token's anchor is the creation position of the last item of the
// page it came from (the next page starts after it); a backward token's anchor
// is the position of the first item (the previous page ends before it). The
// anchor is a position, not a pointer, so a token stays valid when that item is
// deleted.

#ifndef USERSTORE_CORE_PAGE_TOKEN_H_
#define USERSTORE_CORE_PAGE_TOKEN_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

#include "userstore/resources.h"

#include "core/sid.h"

namespace userstore {
namespace internal {

enum class Collection : uint8_t { kUsers = 1, kServices = 2, kRoles = 3 };

struct PageTokenData {
  bool forward = true;  // "PA" vs "PB"
  Collection collection = Collection::kUsers;
  Surface surface = Surface::kCpp;
  Sid128 scope;         // service SID (users, roles); zero for services
  uint64_t anchor = 0;  // creation position (see above)
};

// Encodes `data`, sealed with `secret`.
std::string EncodePageToken(const PageTokenData& data, uint64_t secret);

// Decodes a token. Any malformed, truncated, oversized (> 128 bytes) or
// altered token: 400/20001 "Invalid PageToken". Does NOT check collection,
// surface or scope: the caller compares them with the request (also 20001).
absl::StatusOr<PageTokenData> DecodePageToken(absl::string_view token, uint64_t secret);

}  // namespace internal
}  // namespace userstore

#endif  // USERSTORE_CORE_PAGE_TOKEN_H_
