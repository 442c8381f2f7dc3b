#include "core/tools/disk_scan.h"

#include <algorithm>
#include <map>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

#include "userstore/env.h"
#include "userstore/event_codec.h"

namespace userstore {
namespace tools {

namespace durable = internal::durable;

namespace {

CheckpointSummary ReadCheckpointFile(Env* env, const std::string& dir, const std::string& name,
                                     uint64_t sequence, bool decode) {
  CheckpointSummary c;
  c.name = name;
  c.path = durable::JoinPath(dir, name);
  c.name_sequence = sequence;
  absl::StatusOr<std::string> contents = env->ReadFile(c.path);
  if (!contents.ok()) {
    c.status = contents.status();
    return c;
  }
  c.bytes = contents->size();
  c.status = durable::ReadCheckpoint(
      *contents, c.path, &c.identity, [&](const durable::CheckpointRecord& r) -> absl::Status {
        if (decode) {
          absl::StatusOr<ChangeEvent> event = DecodeChangeEvent(r.event);
          if (!event.ok()) return event.status();
        }
        switch (r.type) {
          case durable::RecordType::kService:
            ++c.services;
            break;
          case durable::RecordType::kRole:
            ++c.roles;
            break;
          default:
            ++c.users;
            break;
        }
        return absl::OkStatus();
      });
  return c;
}

SegmentSummary ReadSegmentFile(Env* env, const std::string& dir, const std::string& name,
                               uint64_t number, bool decode) {
  SegmentSummary s;
  s.name = name;
  s.path = durable::JoinPath(dir, name);
  s.number = number;
  absl::StatusOr<std::string> contents = env->ReadFile(s.path);
  if (!contents.ok()) {
    s.read_status = contents.status();
    return s;
  }
  s.bytes = contents->size();
  const durable::SegmentScan scan = durable::ScanSegment(*contents);
  s.header_status = scan.header_status;
  s.header = scan.header;
  s.end = scan.end;
  s.stop = scan.stop;
  s.data_end = scan.data_end;
  s.good_frame_after = scan.good_frame_after;
  s.records = scan.records.size();
  if (!scan.records.empty()) {
    s.first_record_sequence = scan.records.front().sequence;
    s.last_record_sequence = scan.records.back().sequence;
  }
  s.sequences.reserve(scan.records.size());
  for (const durable::JournalRecord& r : scan.records) {
    s.sequences.push_back({r.offset, r.sequence});
    if (!decode) continue;
    absl::StatusOr<ChangeEvent> event = DecodeChangeEvent(r.event);
    if (!event.ok()) {
      s.decode_problems.push_back(absl::StrCat(
          "record at byte offset ", r.offset, " does not decode (", event.status().message(), ")"));
    } else if (event->sequence != r.sequence) {
      s.decode_problems.push_back(absl::StrCat("record at byte offset ", r.offset,
                                               " decodes to sequence ", event->sequence, ", not ",
                                               r.sequence));
    }
  }
  return s;
}

}  // namespace

uint64_t DirScan::LastSequence() const {
  if (checkpoints.empty()) return 0;
  const CheckpointSummary& newest = checkpoints.back();
  uint64_t last = newest.status.ok() ? newest.identity.sequence : newest.name_sequence;
  for (const SegmentSummary& s : segments) {
    bool gap = false;
    for (const RecordSequence& r : s.sequences) {
      if (r.sequence <= last) continue;
      if (r.sequence != last + 1) {
        gap = true;
        break;
      }
      last = r.sequence;
    }
    if (gap) break;
    if (s.header_status != durable::HeaderStatus::kOk) {
      if (s.data_end > 0) break;  // damaged; one never written is skipped
      continue;
    }
    if (s.StoppedEarly()) break;
  }
  return last;
}

absl::StatusOr<DirScan> ScanDir(const std::string& dir, bool decode) {
  Env* env = Env::Default();
  absl::StatusOr<std::vector<std::string>> names = env->ListDir(dir);
  if (!names.ok()) return names.status();
  std::map<uint64_t, std::string> checkpoints;
  std::map<uint64_t, std::string> segments;
  DirScan scan;
  for (const std::string& name : *names) {
    if (auto n = durable::ParseCheckpointName(name)) {
      checkpoints[*n] = name;
    } else if (auto t = durable::ParseCheckpointTempName(name)) {
      scan.temporary.push_back(name);
    } else if (auto g = durable::ParseSegmentName(name)) {
      segments[*g] = name;
    } else if (absl::StartsWith(name, "salvaged-")) {
      scan.salvaged.push_back(name);
    } else if (name != "LOCK") {
      scan.other.push_back(name);
    }
  }
  std::sort(scan.temporary.begin(), scan.temporary.end());
  std::sort(scan.salvaged.begin(), scan.salvaged.end());
  std::sort(scan.other.begin(), scan.other.end());
  for (const auto& [sequence, name] : checkpoints) {
    scan.checkpoints.push_back(ReadCheckpointFile(env, dir, name, sequence, decode));
  }
  for (const auto& [number, name] : segments) {
    scan.segments.push_back(ReadSegmentFile(env, dir, name, number, decode));
  }
  return scan;
}

}  // namespace tools
}  // namespace userstore
