// The changelog batch encoding (include/userstore/replication.h,
// docs/file-format.md "Changelog batches").
//
//   batch := magic "USCB" version:u32(=1) epoch:u64 sid_draws:u64 made_micros:i64
//            count:u32 entry{count} crc:u32
//   entry := length:u32 event            (event: the v1 event encoding, event_codec.h)
//   crc   := masked CRC32C of every byte before it
//
// The framing (header, entry lengths, checksum) is batch_framing.h's; this
// file encodes and decodes the events inside it. A batch is returned whole
// or not at all.

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

#include "core/durable/event_encoding.h"
#include "core/replication/batch_framing.h"
#include "core/status_macros.h"

namespace userstore {

namespace {

namespace framing = internal::batch_framing;

// The smallest entry that can hold an event: a length and an event's fixed
// header, so a batch of n bytes holds at most n / 16 events.
constexpr size_t kMinEntryBytes = framing::kEntryLengthBytes + internal::kEventHeaderBytes;

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
  std::string entries;
  std::string event;
  for (size_t i = 0; i < batch.events.size(); ++i) {
    event.clear();
    const absl::Status status = EncodeChangeEvent(batch.events[i], &event);
    if (!status.ok()) {
      return BatchError(absl::StrCat("event ", i, ": ", status.message()));
    }
    if (event.size() > std::numeric_limits<uint32_t>::max()) {
      return BatchError(absl::StrCat("event ", i, " is larger than 2^32-1 bytes"));
    }
    framing::AppendEntry(event, &entries);
  }
  framing::FrameBatch({batch.epoch, batch.sid_draws, batch.made_micros},
                      static_cast<uint32_t>(batch.events.size()), entries, out);
  return absl::OkStatus();
}

absl::StatusOr<ChangelogBatch> DecodeChangelogBatch(absl::string_view bytes) {
  // The framing (magic, version, lengths, checksum) first, then the events,
  // reserving room only for as many as the bytes can hold.
  framing::BatchView view;
  USERSTORE_RETURN_IF_ERROR(framing::ParseBatch(bytes, &view));
  ChangelogBatch batch;
  batch.epoch = view.header.epoch;
  batch.sid_draws = view.header.sid_draws;
  batch.made_micros = view.header.made_micros;
  batch.events.reserve(std::min<size_t>(view.count, view.entries.size() / kMinEntryBytes));
  framing::EntryReader reader(view.entries);
  absl::string_view bytes_of_event;
  for (uint32_t i = 0; reader.Next(&bytes_of_event); ++i) {
    absl::StatusOr<ChangeEvent> event = DecodeChangeEvent(bytes_of_event);
    if (!event.ok()) {
      return BatchError(absl::StrCat("event ", i, ": ", event.status().message()));
    }
    batch.events.push_back(*std::move(event));
  }
  size_t bad = 0;
  if (!Consecutive(batch.events, &bad)) {
    return BatchError(absl::StrCat("event ", bad, " has sequence ", batch.events[bad].sequence,
                                   " after ", batch.events[bad - 1].sequence));
  }
  return batch;
}

}  // namespace userstore
