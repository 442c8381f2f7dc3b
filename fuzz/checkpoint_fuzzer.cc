// Fuzz target: a checkpoint file of the durable store (core/durable/files.h,
// docs/durability.md), arbitrary bytes.
//
// The bytes are read (ReadCheckpoint) and every record's event decoded.
// Checks: no crash, memory bounded (libFuzzer's -rss_limit_mb), the read
// fails only with DATA_LOSS or FAILED_PRECONDITION; every record lies inside
// the input, after the record before it, with its event inside it; an event
// that decodes re-encodes to exactly its bytes; one that does not is refused
// with 400/20001.
//
// Then a whole recovery: the bytes as the only checkpoint of a directory
// with no journal segment (named for the sequence its header holds, when it
// has one), opened in both recovery modes. It must fail with DATA_LOSS,
// FAILED_PRECONDITION or INVALID_ARGUMENT, or give a store whose invariants
// hold, that takes a write and reopens to the same state.
//
// All of this runs twice: on the bytes as they are, and on the bytes with
// their checksums recomputed (ResealCheckpoint, when that changes them), so
// that a mutated identity or event reaches the decoder and the restore
// instead of stopping at a checksum.
//
// Seeds (corpus/checkpoint/): checkpoints a store wrote.

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

// Reads the checkpoint; returns the sequence its header holds (0 when the
// header did not read).
uint64_t CheckRead(absl::string_view bytes) {
  durable::StoreIdentity identity;
  uint64_t previous = 0;
  bool first = true;
  const absl::Status status = durable::ReadCheckpoint(
      bytes, "fuzz.ckpt", &identity, [&](const durable::CheckpointRecord& r) {
        FUZZ_CHECK(r.offset < bytes.size(), "record at %llu past the input (%zu bytes)",
                   static_cast<unsigned long long>(r.offset), bytes.size());
        FUZZ_CHECK(first || r.offset > previous, "record at %llu not after the one at %llu",
                   static_cast<unsigned long long>(r.offset),
                   static_cast<unsigned long long>(previous));
        first = false;
        previous = r.offset;
        FUZZ_CHECK(Inside(r.event, bytes.substr(r.offset)),
                   "the event of the record at %llu is not inside the input after it",
                   static_cast<unsigned long long>(r.offset));
        auto event = userstore::DecodeChangeEvent(r.event);
        if (!event.ok()) {
          FUZZ_CHECK(absl::IsInvalidArgument(event.status()), "decode failed with %s",
                     event.status().ToString().c_str());
          return absl::OkStatus();
        }
        std::string again;
        const absl::Status s = userstore::EncodeChangeEvent(*event, &again);
        FUZZ_CHECK(s.ok(), "a decoded event does not encode: %s", s.ToString().c_str());
        FUZZ_CHECK(again == r.event, "re-encoding differs:\n  %s\n  %s", Escape(r.event).c_str(),
                   Escape(again).c_str());
        return absl::OkStatus();
      });
  FUZZ_CHECK(status.ok() || absl::IsDataLoss(status) || absl::IsFailedPrecondition(status),
             "ReadCheckpoint failed with %s", status.ToString().c_str());
  return identity.sequence;
}

void Check(absl::string_view bytes) {
  const uint64_t sequence = CheckRead(bytes);
  const std::vector<std::pair<std::string, std::string>> files = {
      {durable::CheckpointName(sequence), std::string(bytes)}};
  userstore::fuzz::CheckRecovery(files, userstore::RecoveryMode::kStrict);
  userstore::fuzz::CheckRecovery(files, userstore::RecoveryMode::kSalvage);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const absl::string_view bytes(reinterpret_cast<const char*>(data), size);
  Check(bytes);
  const std::string resealed = userstore::fuzz::ResealCheckpoint(bytes);
  if (resealed != bytes) Check(resealed);
  return 0;
}
