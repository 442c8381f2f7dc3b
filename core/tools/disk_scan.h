// What `userstore inspect` and `userstore verify` read: a durable store's
// directory, file by file (core/durable/format.h has the files). Read-only:
// no lock is taken and nothing is written, so a directory another process
// has open may be scanned (what that process writes meanwhile may or may not
// be seen).

#ifndef USERSTORE_CORE_TOOLS_DISK_SCAN_H_
#define USERSTORE_CORE_TOOLS_DISK_SCAN_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

#include "core/durable/files.h"
#include "core/durable/format.h"

namespace userstore {
namespace tools {

struct CheckpointSummary {
  std::string name;
  std::string path;
  uint64_t name_sequence = 0;  // the sequence in the file's name
  uint64_t bytes = 0;
  // OK, or what ReadCheckpoint (or the decoding of a record) found, naming
  // the file and byte offset.
  absl::Status status;
  internal::durable::StoreIdentity identity;  // when the header was readable
  uint64_t services = 0;
  uint64_t roles = 0;
  uint64_t users = 0;
};

struct RecordSequence {
  uint64_t offset = 0;
  uint64_t sequence = 0;
};

struct SegmentSummary {
  std::string name;
  std::string path;
  uint64_t number = 0;       // from the name
  uint64_t bytes = 0;        // the file's size
  absl::Status read_status;  // the file could not be read
  internal::durable::HeaderStatus header_status = internal::durable::HeaderStatus::kOk;
  internal::durable::SegmentHeader header;
  uint64_t records = 0;
  uint64_t first_record_sequence = 0;  // 0 when no record
  uint64_t last_record_sequence = 0;
  uint64_t end = 0;  // after the last good frame
  internal::durable::FrameStatus stop = internal::durable::FrameStatus::kEnd;
  uint64_t data_end = 0;  // after the last nonzero byte
  bool good_frame_after = false;
  std::vector<RecordSequence> sequences;  // every good frame's
  // Records whose event does not decode: "at byte offset N: why".
  std::vector<std::string> decode_problems;

  // True when bytes follow the end of the data (a bad frame, or nonzero
  // bytes after the end marker).
  bool StoppedEarly() const {
    return stop != internal::durable::FrameStatus::kEnd || data_end > end;
  }
};

struct DirScan {
  std::vector<CheckpointSummary> checkpoints;  // oldest first
  std::vector<SegmentSummary> segments;        // by number
  std::vector<std::string> temporary;          // checkpoint-*.tmp (recovery removes them)
  std::vector<std::string> salvaged;           // salvaged-* (what a salvaging recovery kept)
  std::vector<std::string> other;              // any other entry but LOCK

  // The last sequence recovery would reach: the newest checkpoint's, then
  // the journal records that follow it without a gap. 0 without checkpoint.
  uint64_t LastSequence() const;
};

// Lists and reads every file of `dir`. `decode` decodes every event (for
// verify). Errors: the directory cannot be listed (NOT_FOUND when missing).
absl::StatusOr<DirScan> ScanDir(const std::string& dir, bool decode);

}  // namespace tools
}  // namespace userstore

#endif  // USERSTORE_CORE_TOOLS_DISK_SCAN_H_
