// Reading the durable store's files: checkpoints and journal segments
// (docs/file-format.md). Used by recovery, `userstore inspect`, `userstore
// verify` and the fuzzers. Every reader takes arbitrary bytes: it never reads
// out of bounds and allocates at most in proportion to its input. And the
// one way a whole small file is written durably (checkpoints, the
// changelog's bootstrap checkpoints and marker files).

#ifndef USERSTORE_CORE_DURABLE_FILES_H_
#define USERSTORE_CORE_DURABLE_FILES_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

#include "userstore/env.h"

#include "core/durable/format.h"

namespace userstore {
namespace internal {
namespace durable {

// --- checkpoints ------------------------------------------------------------------------

// The header of a checkpoint file (magic, version, length, CRC, body).
std::string EncodeCheckpointHeader(const StoreIdentity& identity);

// A checkpoint's record: its type, its position fields and its event bytes.
struct CheckpointRecord {
  RecordType type = RecordType::kUser;
  uint64_t offset = 0;  // of the frame in the file
  uint64_t position = 0;
  uint64_t next_user_position = 0;  // services only
  uint64_t next_role_position = 0;  // services only
  absl::string_view event;          // an encoded ChangeEvent (event_codec.h)
};

// Reads checkpoint `file` (named `name` in messages): its identity, then
// each record in order through `record` (whose error stops the read and is
// returned). Errors: FAILED_PRECONDITION for an unknown version ("<name>:
// unsupported checkpoint version 9"); DATA_LOSS naming the file and byte
// offset for a bad magic, a bad header, a damaged or truncated record, or a
// missing or wrong trailer.
absl::Status ReadCheckpoint(absl::string_view file, absl::string_view name, StoreIdentity* identity,
                            absl::FunctionRef<absl::Status(const CheckpointRecord&)> record);

// ReadCheckpoint's error for the record at `offset` of checkpoint `name`
// that `record` refused with `refusal` (DATA_LOSS: "<name>: bad record
// (<refusal's message>) at byte offset <offset>"), for a caller that applies
// records later than it reads them.
absl::Status BadCheckpointRecord(absl::string_view name, uint64_t offset,
                                 const absl::Status& refusal);

// --- journal segments ---------------------------------------------------------------------

struct JournalRecord {
  uint64_t offset = 0;  // of the frame in the file
  uint64_t size = 0;    // of the frame
  uint64_t draws = 0;
  uint64_t sequence = 0;    // read from the event's bytes (0 when too short)
  absl::string_view event;  // an encoded ChangeEvent
};

struct SegmentScan {
  HeaderStatus header_status = HeaderStatus::kOk;
  SegmentHeader header;
  std::vector<JournalRecord> records;    // the good frames, in order, up to the first bad one
  uint64_t end = 0;                      // offset after the last good frame
  FrameStatus stop = FrameStatus::kEnd;  // why the scan stopped at `end`
  uint64_t data_end = 0;                 // offset after the last nonzero byte of the file
  // A bad frame (stop != kEnd) is followed by a good frame ending within
  // 4 KiB after it (a search for a frame that checks, at every offset).
  bool good_frame_after = false;
};

// Scans segment `file`. Frames whose payload is shorter than a record's
// fixed part are reported as bad (kBadLength).
SegmentScan ScanSegment(absl::string_view file);

// "<name>: bad header (...)" for a header status.
std::string HeaderStatusText(HeaderStatus status);

// --- the directory ----------------------------------------------------------------------

// A store directory's files by kind: checkpoints and unfinished checkpoints
// by sequence, journal segments by number (other names are left out).
struct DirListing {
  std::map<uint64_t, std::string> checkpoints;  // sequence -> name
  std::map<uint64_t, std::string> temps;
  std::map<uint64_t, std::string> segments;  // number -> name
};

// Lists `dir`; the Env's error when it cannot.
absl::StatusOr<DirListing> ListDirectory(Env* env, const std::string& dir);

// --- writing ----------------------------------------------------------------------------

// Writes `contents` as the whole of file `path`, synced and closed. On an
// error the file is removed.
absl::Status WriteSyncedFile(Env* env, const std::string& path, absl::string_view contents);

// Replaces file `name` of directory `dir` with `contents`, atomically and
// durably: written and synced as `temp_name`, renamed over `name`, the
// directory synced. On an error the temporary file is removed and `name`
// is as it was (or, after the rename, not yet durable).
absl::Status ReplaceFileDurably(Env* env, const std::string& dir, const std::string& temp_name,
                                const std::string& name, absl::string_view contents);

}  // namespace durable
}  // namespace internal
}  // namespace userstore

#endif  // USERSTORE_CORE_DURABLE_FILES_H_
