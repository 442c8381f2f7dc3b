// `userstore verify DIR`: checks every file of a durable store
// (docs/durability.md). Read-only: takes no lock, writes nothing.
//
// Checked: each checkpoint's header, frames, records (every event decoded)
// and trailer; each journal segment's header, frames and events (decoded,
// their sequence as framed); sequence continuity across the segments after
// the newest checkpoint. A bad frame (or stray bytes) at or after a
// segment's synced watermark is the torn tail of a crash, which recovery
// drops by design: a warning. Anything else is a problem: one line each,
// naming the file and byte offset, and exit status 1.

#include <cstdio>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"

#include "core/durable/files.h"
#include "core/durable/format.h"
#include "core/tools/cli.h"
#include "core/tools/disk_scan.h"

namespace userstore {
namespace tools {
namespace {

namespace durable = internal::durable;

struct Findings {
  std::vector<std::string> problems;
  std::vector<std::string> warnings;
};

Findings Check(const std::string& dir, const DirScan& scan) {
  Findings f;
  for (const CheckpointSummary& c : scan.checkpoints) {
    if (!c.status.ok()) {
      f.problems.push_back(std::string(c.status.message()));
    } else if (c.identity.sequence != c.name_sequence) {
      f.problems.push_back(absl::StrCat(c.path, ": holds sequence ", c.identity.sequence,
                                        ", its name says ", c.name_sequence, " at byte offset 20"));
    }
  }
  if (scan.checkpoints.empty() && !scan.segments.empty()) {
    f.problems.push_back(absl::StrCat(dir, ": journal segments but no checkpoint"));
  }
  for (const std::string& name : scan.temporary) {
    f.warnings.push_back(absl::StrCat(durable::JoinPath(dir, name),
                                      ": an unfinished checkpoint (recovery removes it)"));
  }
  // Continuity after the newest checkpoint, as recovery replays it.
  const bool have_base = !scan.checkpoints.empty();
  uint64_t last = 0;
  if (have_base) {
    const CheckpointSummary& newest = scan.checkpoints.back();
    last = newest.status.ok() ? newest.identity.sequence : newest.name_sequence;
  }
  bool tail_seen = false;  // a torn tail: what follows it is dropped by recovery
  std::string tail_where;
  for (const SegmentSummary& s : scan.segments) {
    if (!s.read_status.ok()) {
      f.problems.push_back(
          absl::StrCat(s.path, ": cannot be read (", s.read_status.message(), ")"));
      continue;
    }
    if (s.header_status != durable::HeaderStatus::kOk) {
      if (s.data_end == 0) {
        f.warnings.push_back(absl::StrCat(s.path, ": all zero (made, never written)"));
        continue;
      }
      f.problems.push_back(absl::StrCat(s.path, ": ", durable::HeaderStatusText(s.header_status),
                                        " at byte offset 0"));
      continue;
    }
    if (s.header.segment_number != s.number) {
      f.problems.push_back(absl::StrCat(s.path, ": header says segment ", s.header.segment_number,
                                        " at byte offset 16"));
    }
    if (s.records > 0 && s.header.first_sequence != s.first_record_sequence) {
      f.problems.push_back(absl::StrCat(s.path, ": header's first sequence ",
                                        s.header.first_sequence, " is not its first record's (",
                                        s.first_record_sequence, ") at byte offset 24"));
    }
    for (const std::string& p : s.decode_problems) {
      f.problems.push_back(absl::StrCat(s.path, ": ", p));
    }
    for (const RecordSequence& r : s.sequences) {
      if (tail_seen) {
        f.problems.push_back(absl::StrCat(s.path, ": record at byte offset ", r.offset,
                                          " follows the torn tail of ", tail_where,
                                          " (recovery would drop it)"));
        break;
      }
      if (!have_base || r.sequence <= last) continue;  // a checkpoint covers it
      if (r.sequence != last + 1) {
        f.problems.push_back(absl::StrCat(s.path, ": sequence gap (expected ", last + 1, ", found ",
                                          r.sequence, ") at byte offset ", r.offset));
      }
      last = r.sequence;
    }
    if (!s.StoppedEarly()) continue;
    const bool bad_frame = s.stop != durable::FrameStatus::kEnd;
    const std::string what =
        bad_frame ? absl::StrCat(durable::FrameStatusName(s.stop), " at byte offset ", s.end)
                  : absl::StrCat("nonzero bytes after the end of the data at byte offset ", s.end);
    if (s.end >= s.header.synced_until) {
      f.warnings.push_back(
          absl::StrCat(s.path, ": torn tail: ", what, ", after the synced watermark (byte ",
                       s.header.synced_until, "); recovery drops its ", s.data_end - s.end,
                       " bytes", s.good_frame_after ? " (a frame that checks follows it)" : ""));
      tail_seen = true;
      tail_where = s.path;
    } else {
      f.problems.push_back(absl::StrCat(s.path, ": ", what, ", before the synced watermark (byte ",
                                        s.header.synced_until, ")"));
    }
  }
  return f;
}

}  // namespace

int VerifyMain(int argc, char** argv) {
  std::string dir;
  bool have_dir = false;
  ArgReader reader(argc, argv);
  while (reader.Next()) {
    const std::string& arg = reader.arg();
    if (arg == "-h" || arg == "--help") {
      std::fputs(kUsage, stdout);
      return kExitOk;
    } else if (reader.is_option()) {
      return UsageError("unknown option '" + arg + "'");
    } else {
      if (have_dir) return UsageError("verify takes one directory");
      dir = arg;
      have_dir = true;
    }
  }
  if (!have_dir || dir.empty()) return UsageError("verify needs a directory: verify DIR");
  absl::StatusOr<DirScan> scan = ScanDir(dir, /*decode=*/true);
  if (!scan.ok()) return Failure(absl::StrCat("cannot read ", dir, ": ", scan.status().message()));
  if (scan->checkpoints.empty() && scan->segments.empty()) {
    return Failure(absl::StrCat(dir, " holds no store"));
  }
  const Findings f = Check(dir, *scan);
  std::string out;
  for (const std::string& p : f.problems) absl::StrAppend(&out, "damaged: ", p, "\n");
  for (const std::string& w : f.warnings) absl::StrAppend(&out, "warning: ", w, "\n");
  if (f.problems.empty()) {
    absl::StrAppend(&out, dir, ": sound (", scan->checkpoints.size(), " checkpoints, ",
                    scan->segments.size(), " journal segments, last sequence ",
                    scan->LastSequence(), ")\n");
  } else {
    absl::StrAppend(&out, dir, ": ", f.problems.size(), " problems\n");
  }
  std::fwrite(out.data(), 1, out.size(), stdout);
  if (std::fflush(stdout) != 0) return Failure("error writing standard output");
  return f.problems.empty() ? kExitOk : kExitFailure;
}

}  // namespace tools
}  // namespace userstore
