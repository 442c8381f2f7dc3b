// -----------------------------------------------------------------------------
// File: userstore/event_codec.h
// -----------------------------------------------------------------------------
//
// A compact, versioned binary encoding of a `ChangeEvent` (events.h): the
// record the durable store journals (docs/file-format.md), and the form in
// which an application ships the change feed to another process or machine
// over a transport of its own, to `UserStore::Apply` it there.
//
// Encoding version 1 (all integers little-endian; docs/file-format.md has the
// same grammar with examples):
//
//   event    := version:u8(=1) entity:u8 op:u8 flags:u8 sequence:u64 body
//   entity   := 0 service | 1 role | 2 user        op := 0 create | 1 update | 2 delete
//   flags    := bit 0: default_conversation_service; other bits must be 0
//   body     := service | role | user   (the one `entity` names)
//   service  := sid:sid(IS) account_sid:sid(AC) friendly_name:str
//               default_service_role_sid:sid(RL) default_channel_role_sid:sid(RL)
//               default_channel_creator_role_sid:sid(RL) reachability_enabled:u8(0|1)
//               date_created:time date_updated:time
//   role     := sid:sid(RL) account_sid:sid(AC) service_sid:sid(IS) friendly_name:str
//               type:u8(0 deployment | 1 channel) count:varint permission:str{count}
//               date_created:time date_updated:time
//   user     := sid:sid(US) account_sid:sid(AC) service_sid:sid(IS) role_sid:sid(RL)
//               identity:str friendly_name:optstr attributes:str
//               is_online:optbool is_notifiable:optbool joined_channels_count:svarint
//               date_created:time date_updated:time
//   str      := length:varint bytes{length}
//   optstr   := 0 | 1 str                   (absent | present)
//   optbool  := 0 | 1 | 2                   (null | false | true)
//   sid(P)   := 1 raw:16                    (the text is P + 32 lower-case hex digits:
//                                            the 128-bit value, big-endian)
//             | 0 str                        (any other text, kept as it is)
//   time     := svarint                      (seconds since the Unix epoch; an
//                                            absl::Time that is not whole seconds,
//                                            or infinite, does not encode)
//   varint   := LEB128, at most 10 bytes, the value < 2^64
//   svarint  := varint of the zigzag form of a signed 64-bit value
//
// An encoding is self-delimiting: its length is implied by its contents, so
// a frame of the caller's (a journal record, a message) carries one or more.
// The encoding is deterministic: one event has exactly one encoding.
//
// Compatibility: a decoder refuses a version it does not know with a clear
// error; a later version of userstore decodes every earlier version.
//
// Thread safety: every function here is pure and may be called from any
// number of threads. Complexity: linear in the event's size.

#ifndef USERSTORE_EVENT_CODEC_H_
#define USERSTORE_EVENT_CODEC_H_

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

#include "userstore/events.h"

namespace userstore {

// The version `EncodeChangeEvent` writes.
inline constexpr uint8_t kChangeEventEncodingVersion = 1;

// userstore::EncodeChangeEvent()
//
// Appends the encoding of `event` to `*out`. Errors (nothing appended):
// 400/20001 when the entity named by `event.entity` is not set, when a date is
// not a whole number of seconds (or is infinite), or when the enums hold a
// value outside their range.
absl::Status EncodeChangeEvent(const ChangeEvent& event, std::string* out);

// userstore::DecodeChangeEvent()
//
// Decodes one event from the front of `*in` and advances `*in` past it.
// Errors (`*in` unchanged): 400/20001, the message naming what is wrong and
// the byte offset in the input where decoding stopped: truncated input, an
// unknown version ("unsupported event encoding version 7"), an entity, op,
// tag or flag out of range, a varint longer than 10 bytes or overflowing, a
// length past the end. Never reads past `in`, and allocates at most a small
// multiple of `in->size()`, whatever the bytes.
absl::StatusOr<ChangeEvent> DecodeChangeEvent(absl::string_view* in);

// userstore::DecodeChangeEvent()
//
// Decodes exactly one event: trailing bytes are an error (400/20001).
absl::StatusOr<ChangeEvent> DecodeChangeEvent(absl::string_view bytes);

}  // namespace userstore

#endif  // USERSTORE_EVENT_CODEC_H_
