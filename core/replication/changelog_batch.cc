// The changelog batch encoding (include/userstore/replication.h,
// docs/file-format.md "Changelog batches").
//
//   batch := magic "USCB" version:u32(=1) epoch:u64 sid_draws:u64 made_micros:i64
//            count:u32 entry{count} crc:u32
//   entry := length:u32 event            (event: the v1 event encoding, event_codec.h)
//   crc   := masked CRC32C of every byte before it
//
// Decoding is in three passes over the input, none of which reads past its
// end: the fixed header (magic, then version, so that a batch of a later
// version is named as such rather than as damage); a walk of the entry
// lengths, which finds where the checksum must be without allocating (a count
// of 2^32 stops at the end of the input); the checksum; and only then the
// events, into a vector reserved for no more events than the bytes can hold.
// A batch is returned whole or not at all.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

#include "userstore/event_codec.h"
#include "userstore/events.h"
#include "userstore/replication.h"
#include "userstore/status.h"

#include "core/durable/crc32c.h"
#include "core/durable/event_encoding.h"
#include "core/durable/format.h"

namespace userstore {

namespace {

using internal::durable::GetU32;
using internal::durable::GetU64;
using internal::durable::PutU32;
using internal::durable::PutU64;

constexpr char kMagic[4] = {'U', 'S', 'C', 'B'};
constexpr uint32_t kVersion = 1;

// magic, version, epoch, sid_draws, made_micros, count.
constexpr size_t kHeaderBytes = 4 + 4 + 8 + 8 + 8 + 4;
constexpr size_t kCountOffset = kHeaderBytes - 4;
constexpr size_t kCrcBytes = 4;
constexpr size_t kLengthBytes = 4;
// The smallest entry that can hold an event: a length and an event's fixed
// header, so a batch of n bytes holds at most n / 16 events.
constexpr size_t kMinEntryBytes = kLengthBytes + internal::kEventHeaderBytes;

absl::Status BatchError(absl::string_view what) {
  return InvalidParameterError(absl::StrCat("Invalid changelog batch: ", what));
}

// Whether events[i].sequence is events[0].sequence + i for every i.
bool Consecutive(const std::vector<ChangeEvent>& events, size_t* bad) {
  for (size_t i = 1; i < events.size(); ++i) {
    const uint64_t previous = events[i - 1].sequence;
    if (previous == std::numeric_limits<uint64_t>::max() || events[i].sequence != previous + 1) {
      *bad = i;
      return false;
    }
  }
  return true;
}

}  // namespace

absl::Status EncodeChangelogBatch(const ChangelogBatch& batch, std::string* out) {
  size_t bad = 0;
  if (!Consecutive(batch.events, &bad)) {
    return BatchError(absl::StrCat("event ", bad, " has sequence ", batch.events[bad].sequence,
                                   " after ", batch.events[bad - 1].sequence));
  }
  if (batch.events.size() > std::numeric_limits<uint32_t>::max()) {
    return BatchError("more than 2^32-1 events");
  }
  std::string bytes(kHeaderBytes, '\0');
  std::memcpy(&bytes[0], kMagic, sizeof(kMagic));
  PutU32(&bytes[4], kVersion);
  PutU64(&bytes[8], batch.epoch);
  PutU64(&bytes[16], batch.sid_draws);
  PutU64(&bytes[24], static_cast<uint64_t>(batch.made_micros));
  PutU32(&bytes[kCountOffset], static_cast<uint32_t>(batch.events.size()));
  for (size_t i = 0; i < batch.events.size(); ++i) {
    const size_t length_at = bytes.size();
    bytes.append(kLengthBytes, '\0');
    const absl::Status status = EncodeChangeEvent(batch.events[i], &bytes);
    if (!status.ok()) {
      return BatchError(absl::StrCat("event ", i, ": ", status.message()));
    }
    const size_t length = bytes.size() - length_at - kLengthBytes;
    if (length > std::numeric_limits<uint32_t>::max()) {
      return BatchError(absl::StrCat("event ", i, " is larger than 2^32-1 bytes"));
    }
    PutU32(&bytes[length_at], static_cast<uint32_t>(length));
  }
  char crc[kCrcBytes];
  PutU32(crc, internal::crc32c::Mask(internal::crc32c::Value(bytes.data(), bytes.size())));
  bytes.append(crc, kCrcBytes);
  out->append(bytes);
  return absl::OkStatus();
}

absl::StatusOr<ChangelogBatch> DecodeChangelogBatch(absl::string_view bytes) {
  // 1. The fixed header.
  if (bytes.size() < sizeof(kMagic) || absl::string_view(bytes.data(), sizeof(kMagic)) !=
                                           absl::string_view(kMagic, sizeof(kMagic))) {
    return BatchError("bad magic (not \"USCB\")");
  }
  if (bytes.size() < kHeaderBytes + kCrcBytes) {
    return BatchError(absl::StrCat("truncated: ", bytes.size(), " bytes, a batch has at least ",
                                   kHeaderBytes + kCrcBytes));
  }
  const uint32_t version = GetU32(bytes.data() + 4);
  if (version != kVersion) {
    return BatchError(absl::StrCat("unsupported changelog batch version ", version));
  }
  const uint32_t count = GetU32(bytes.data() + kCountOffset);

  // 2. Where the checksum must be: walk the entries' lengths. Each step
  //    consumes at least four bytes, so the walk ends within size/4 steps.
  const size_t body_end = bytes.size() - kCrcBytes;
  size_t at = kHeaderBytes;
  for (uint32_t i = 0; i < count; ++i) {
    if (body_end - at < kLengthBytes) {
      return BatchError(absl::StrCat("truncated: entry ", i, " of ", count, " has no length"));
    }
    const uint32_t length = GetU32(bytes.data() + at);
    at += kLengthBytes;
    if (length > body_end - at) {
      return BatchError(
          absl::StrCat("entry ", i, " of ", count, " has length ", length, ", past the end"));
    }
    at += length;
  }
  if (at != body_end) {
    return BatchError(absl::StrCat(body_end - at, " trailing bytes"));
  }

  // 3. The checksum, over every byte before it.
  const uint32_t stored = GetU32(bytes.data() + body_end);
  const uint32_t actual = internal::crc32c::Mask(internal::crc32c::Value(bytes.data(), body_end));
  if (stored != actual) return BatchError("checksum mismatch");

  // 4. The events, reserving room only for as many as the bytes can hold.
  ChangelogBatch batch;
  batch.epoch = GetU64(bytes.data() + 8);
  batch.sid_draws = GetU64(bytes.data() + 16);
  batch.made_micros = static_cast<int64_t>(GetU64(bytes.data() + 24));
  batch.events.reserve(std::min<size_t>(count, (body_end - kHeaderBytes) / kMinEntryBytes));
  at = kHeaderBytes;
  for (uint32_t i = 0; i < count; ++i) {
    const uint32_t length = GetU32(bytes.data() + at);
    at += kLengthBytes;
    absl::StatusOr<ChangeEvent> event = DecodeChangeEvent(bytes.substr(at, length));
    if (!event.ok()) {
      return BatchError(absl::StrCat("event ", i, ": ", event.status().message()));
    }
    batch.events.push_back(*std::move(event));
    at += length;
  }
  size_t bad = 0;
  if (!Consecutive(batch.events, &bad)) {
    return BatchError(absl::StrCat("event ", bad, " has sequence ", batch.events[bad].sequence,
                                   " after ", batch.events[bad - 1].sequence));
  }
  return batch;
}

}  // namespace userstore
