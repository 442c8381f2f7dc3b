// The allocation-free encoder of user events: the journal's hot path (every
// user write encodes one), and the one place that writes the user body of
// the v1 event encoding (include/userstore/event_codec.h, docs/file-format.md).
// `EncodeChangeEvent` encodes users with it too, so the two cannot disagree.
//
// Thread safety: pure functions. Complexity: linear in the user's text.

#ifndef USERSTORE_CORE_DURABLE_EVENT_ENCODING_H_
#define USERSTORE_CORE_DURABLE_EVENT_ENCODING_H_

#include <cstddef>
#include <cstdint>
#include <optional>

#include "absl/strings/string_view.h"

#include "userstore/events.h"
#include "userstore/resources.h"

#include "core/sid.h"

namespace userstore {
namespace internal {

// The largest encoding of a varint (LEB128 of a 64-bit value).
inline constexpr size_t kMaxVarintBytes = 10;

// The fixed header of every event: version, entity, op, flags, sequence.
inline constexpr size_t kEventHeaderBytes = 12;

// The offset of the sequence field (8 bytes, little-endian) in an event.
inline constexpr size_t kEventSequenceOffset = 4;

// UserEventEncodedSizeBound()
//
// An upper bound of the size of the encoding of a user event for `user`:
// exact for every field but the SIDs, which are counted as texts (at most 19
// bytes over for each canonical SID) and the integers, counted at their
// widest. O(1).
size_t UserEventEncodedSizeBound(const UserView& user);

// EncodeUserEvent()
//
// Writes the v1 encoding of the event {entity user, `op`, flags 0,
// `sequence`} of `user` to `out` and returns the end of what it wrote. Does
// not allocate.
//
// REQUIRES: `out` has room for UserEventEncodedSizeBound(user) bytes; both
// dates of `user` are finite whole seconds (IsWholeSeconds()). A date that is
// not is written as its second, rounded down (EncodeChangeEvent checks and
// refuses it instead).
char* EncodeUserEvent(ChangeEvent::Op op, uint64_t sequence, const UserView& user, char* out);

// PatchEventSequence()
//
// Overwrites the sequence field of the encoded event at `encoded` (bytes 4 to
// 11, little-endian) with `sequence`. REQUIRES: `encoded` holds at least the
// 12-byte header.
void PatchEventSequence(char* encoded, uint64_t sequence);

// IsUserCreateEvent()
//
// Whether the header of `encoded` says: a v1 user create. Reads the first
// three bytes only, nothing after them is checked (a caller that sizes
// tables ahead of a replay counts with it; decoding checks the rest). O(1).
bool IsUserCreateEvent(absl::string_view encoded);

// IsWholeSeconds()
//
// Whether `t` is finite and a whole number of seconds since the Unix epoch:
// the dates the encoding can carry.
bool IsWholeSeconds(absl::Time t);

// A user event as the store writes it (every SID in the 16-byte form, no
// flag), its texts viewed in the encoded bytes: what recovery reads a
// checkpoint's users into, and a replica applies (StoreImpl::ApplyEncoded),
// with no allocation.
struct UserEventImage {
  ChangeEvent::Op op = ChangeEvent::Op::kCreate;
  uint64_t sequence = 0;
  Sid128 sid;
  Sid128 account_sid;
  Sid128 service_sid;
  Sid128 role_sid;
  absl::string_view identity;
  std::optional<absl::string_view> friendly_name;
  absl::string_view attributes;
  std::optional<bool> is_online;
  std::optional<bool> is_notifiable;
  int joined_channels_count = 0;
  int64_t date_created = 0;  // Unix seconds
  int64_t date_updated = 0;
};

// Decodes exactly one such event from `bytes` into `image` (which views
// `bytes`). False for anything else, a valid event in another form included
// (a SID as text, a flag, trailing bytes): the caller then decodes it with
// DecodeChangeEvent, which also says what is wrong.
bool DecodeUserEventImage(absl::string_view bytes, UserEventImage* image);

}  // namespace internal
}  // namespace userstore

#endif  // USERSTORE_CORE_DURABLE_EVENT_ENCODING_H_
