// Fuzz target: a journal segment of the durable store (core/durable/files.h,
// docs/durability.md), arbitrary bytes.
//
// The bytes are scanned (ScanSegment) and every record's event decoded.
// Checks: no crash, memory bounded (libFuzzer's -rss_limit_mb), every record
// lies inside the input, after the header page and after the record before
// it, with its event inside its frame; `end` and `data_end` are within the
// input; an event that decodes re-encodes to exactly its bytes and carries
// the record's sequence; one that does not is refused with 400/20001.
//
// Then a whole recovery: the bytes as the only journal segment after the
// checkpoint of a fresh store (durable_fuzz.h), opened in both recovery
// modes. It must fail with DATA_LOSS, FAILED_PRECONDITION or INVALID_ARGUMENT,
// or give a store whose invariants hold, that takes a write and reopens to
// the same state.
//
// All of this runs twice: on the bytes as they are, and on the bytes with
// their checksums recomputed (ResealSegment, when that changes them), so
// that a mutated event reaches the decoder and the replay instead of
// stopping at a checksum.
//
// Seeds (corpus/journal/): segments a store wrote, cut after their last
// nonzero byte.

#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "durable_fuzz.h"
#include "fuzz_common.h"

#include "userstore/durable.h"
#include "userstore/event_codec.h"

#include "core/durable/files.h"
#include "core/durable/format.h"

namespace {

namespace durable = userstore::internal::durable;
using userstore::fuzz::Escape;
using userstore::fuzz::Inside;

void CheckScan(absl::string_view bytes) {
  const durable::SegmentScan scan = durable::ScanSegment(bytes);
  FUZZ_CHECK(scan.end <= bytes.size(), "end %llu past the input (%zu bytes)",
             static_cast<unsigned long long>(scan.end), bytes.size());
  FUZZ_CHECK(scan.data_end <= bytes.size(), "data_end %llu past the input (%zu bytes)",
             static_cast<unsigned long long>(scan.data_end), bytes.size());
  if (scan.header_status != durable::HeaderStatus::kOk) {
    FUZZ_CHECK(scan.records.empty(), "records read from a segment with a bad header");
    return;
  }
  uint64_t previous_end = durable::kSegmentHeaderSize;
  for (const durable::JournalRecord& r : scan.records) {
    FUZZ_CHECK(r.offset >= previous_end, "record at %llu overlaps the one before (ends %llu)",
               static_cast<unsigned long long>(r.offset),
               static_cast<unsigned long long>(previous_end));
    FUZZ_CHECK(r.size >= durable::kFrameHeaderSize && r.size <= bytes.size() &&
                   r.offset <= bytes.size() - r.size,
               "record at %llu of %llu bytes is not inside the input (%zu bytes)",
               static_cast<unsigned long long>(r.offset), static_cast<unsigned long long>(r.size),
               bytes.size());
    const absl::string_view frame = bytes.substr(r.offset, r.size);
    FUZZ_CHECK(Inside(r.event, frame), "the event of the record at %llu is not inside its frame",
               static_cast<unsigned long long>(r.offset));
    previous_end = r.offset + r.size;

    auto event = userstore::DecodeChangeEvent(r.event);
    if (!event.ok()) {
      FUZZ_CHECK(absl::IsInvalidArgument(event.status()), "decode failed with %s",
                 event.status().ToString().c_str());
      continue;
    }
    FUZZ_CHECK(event->sequence == r.sequence, "event sequence %llu, record says %llu",
               static_cast<unsigned long long>(event->sequence),
               static_cast<unsigned long long>(r.sequence));
    std::string again;
    const absl::Status s = userstore::EncodeChangeEvent(*event, &again);
    FUZZ_CHECK(s.ok(), "a decoded event does not encode: %s", s.ToString().c_str());
    FUZZ_CHECK(again == r.event, "re-encoding differs:\n  %s\n  %s", Escape(r.event).c_str(),
               Escape(again).c_str());
  }
  FUZZ_CHECK(scan.end >= previous_end || scan.records.empty(),
             "end %llu before the last record's end %llu",
             static_cast<unsigned long long>(scan.end),
             static_cast<unsigned long long>(previous_end));
}

void Check(absl::string_view bytes) {
  CheckScan(bytes);
  const userstore::fuzz::FreshStore& fresh = userstore::fuzz::Fresh();
  const std::vector<std::pair<std::string, std::string>> files = {
      {fresh.checkpoint_name, fresh.checkpoint}, {fresh.segment_name, std::string(bytes)}};
  userstore::fuzz::CheckRecovery(files, userstore::RecoveryMode::kStrict);
  userstore::fuzz::CheckRecovery(files, userstore::RecoveryMode::kSalvage);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const absl::string_view bytes(reinterpret_cast<const char*>(data), size);
  Check(bytes);
  const std::string resealed = userstore::fuzz::ResealSegment(bytes);
  if (resealed != bytes) Check(resealed);
  return 0;
}
