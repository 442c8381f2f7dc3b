// `userstore inspect [--json] DIR`: what a durable store holds on disk, for a
// person (docs/durability.md). Read-only: takes no lock, writes nothing.

#include <cstdio>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "rapidjson/stringbuffer.h"
#include "rapidjson/writer.h"

#include "core/durable/files.h"
#include "core/durable/format.h"
#include "core/time_format.h"
#include "core/tools/cli.h"
#include "core/tools/disk_scan.h"

namespace userstore {
namespace tools {
namespace {

namespace durable = internal::durable;

std::string Created(uint64_t unix_seconds) {
  return internal::FormatIsoTime(absl::FromUnixSeconds(static_cast<int64_t>(unix_seconds)));
}

// Where and why the scan of a segment stopped.
std::string StopText(const SegmentSummary& s) {
  if (s.stop != durable::FrameStatus::kEnd) {
    return absl::StrCat(durable::FrameStatusName(s.stop), " at byte offset ", s.end,
                        s.good_frame_after ? " (a good record follows it)" : "");
  }
  if (s.data_end > s.end) {
    return absl::StrCat("end of data at byte offset ", s.end, ", then nonzero bytes up to ",
                        s.data_end);
  }
  return absl::StrCat("end of data at byte offset ", s.end);
}

std::string Text(const std::string& dir, const DirScan& scan) {
  std::string out = absl::StrCat("store in ", dir, "\n");
  if (scan.checkpoints.empty()) absl::StrAppend(&out, "no checkpoint (no store here yet)\n");
  for (const CheckpointSummary& c : scan.checkpoints) {
    absl::StrAppend(&out, "checkpoint ", c.name, "\n");
    if (!c.status.ok()) {
      absl::StrAppend(&out, "  damaged: ", c.status.message(), "\n");
      if (c.bytes > 0) absl::StrAppend(&out, "  size: ", c.bytes, " bytes\n");
      continue;
    }
    absl::StrAppend(&out, "  sequence: ", c.identity.sequence, "\n");
    absl::StrAppend(&out, "  account: ", c.identity.account_sid, "\n");
    absl::StrAppend(&out, "  records: ", c.services + c.roles + c.users, " (", c.services,
                    " services, ", c.roles, " roles, ", c.users, " users)\n");
    absl::StrAppend(&out, "  size: ", c.bytes, " bytes\n");
    absl::StrAppend(&out, "  created: ", Created(c.identity.created), "\n");
  }
  for (const SegmentSummary& s : scan.segments) {
    absl::StrAppend(&out, "journal segment ", s.name, "\n");
    if (!s.read_status.ok()) {
      absl::StrAppend(&out, "  unreadable: ", s.read_status.message(), "\n");
      continue;
    }
    if (s.header_status != durable::HeaderStatus::kOk) {
      absl::StrAppend(&out, "  bad header: ", durable::HeaderStatusText(s.header_status),
                      s.data_end == 0 ? " (all zero: made, never written)" : "", "\n");
      absl::StrAppend(&out, "  size: ", s.bytes, " bytes\n");
      continue;
    }
    absl::StrAppend(&out, "  number: ", s.header.segment_number, "\n");
    absl::StrAppend(&out, "  first sequence: ", s.header.first_sequence, "\n");
    if (s.records == 0) {
      absl::StrAppend(&out, "  records: 0\n");
    } else {
      absl::StrAppend(&out, "  records: ", s.records, " (sequences ", s.first_record_sequence, "..",
                      s.last_record_sequence, ")\n");
    }
    absl::StrAppend(&out, "  used: ", s.end, " of ", s.bytes, " bytes\n");
    absl::StrAppend(&out, "  synced until: byte ", s.header.synced_until, "\n");
    absl::StrAppend(&out, "  created: ", Created(s.header.created), "\n");
    absl::StrAppend(&out, "  scan stopped: ", StopText(s), "\n");
  }
  for (const std::string& name : scan.temporary) {
    absl::StrAppend(&out, "unfinished checkpoint ", name, " (recovery removes it)\n");
  }
  for (const std::string& name : scan.salvaged) {
    absl::StrAppend(&out, "salvaged ", name, " (moved aside by a salvaging recovery)\n");
  }
  for (const std::string& name : scan.other) absl::StrAppend(&out, "other file ", name, "\n");
  absl::StrAppend(&out, "last sequence: ", scan.LastSequence(), "\n");
  return out;
}

using Writer = rapidjson::Writer<rapidjson::StringBuffer>;

void Key(Writer* w, const char* key) { w->Key(key); }
void String(Writer* w, const std::string& value) {
  w->String(value.data(), static_cast<rapidjson::SizeType>(value.size()));
}
void StringArray(Writer* w, const char* key, const std::vector<std::string>& values) {
  Key(w, key);
  w->StartArray();
  for (const std::string& v : values) String(w, v);
  w->EndArray();
}

std::string Json(const std::string& dir, const DirScan& scan) {
  rapidjson::StringBuffer buffer;
  Writer w(buffer);
  w.StartObject();
  Key(&w, "dir");
  String(&w, dir);
  Key(&w, "checkpoints");
  w.StartArray();
  for (const CheckpointSummary& c : scan.checkpoints) {
    w.StartObject();
    Key(&w, "file");
    String(&w, c.name);
    Key(&w, "bytes");
    w.Uint64(c.bytes);
    Key(&w, "error");
    if (c.status.ok()) {
      w.Null();
    } else {
      String(&w, std::string(c.status.message()));
    }
    if (c.status.ok()) {
      Key(&w, "sequence");
      w.Uint64(c.identity.sequence);
      Key(&w, "account_sid");
      String(&w, c.identity.account_sid);
      Key(&w, "records");
      w.StartObject();
      Key(&w, "services");
      w.Uint64(c.services);
      Key(&w, "roles");
      w.Uint64(c.roles);
      Key(&w, "users");
      w.Uint64(c.users);
      Key(&w, "total");
      w.Uint64(c.services + c.roles + c.users);
      w.EndObject();
      Key(&w, "created");
      String(&w, Created(c.identity.created));
    }
    w.EndObject();
  }
  w.EndArray();
  Key(&w, "journal");
  w.StartArray();
  for (const SegmentSummary& s : scan.segments) {
    w.StartObject();
    Key(&w, "file");
    String(&w, s.name);
    Key(&w, "bytes");
    w.Uint64(s.bytes);
    Key(&w, "error");
    if (!s.read_status.ok()) {
      String(&w, std::string(s.read_status.message()));
    } else if (s.header_status != durable::HeaderStatus::kOk) {
      String(&w, durable::HeaderStatusText(s.header_status));
    } else {
      w.Null();
    }
    if (s.read_status.ok() && s.header_status == durable::HeaderStatus::kOk) {
      Key(&w, "segment");
      w.Uint64(s.header.segment_number);
      Key(&w, "first_sequence");
      w.Uint64(s.header.first_sequence);
      Key(&w, "records");
      w.Uint64(s.records);
      Key(&w, "first_record_sequence");
      s.records > 0 ? w.Uint64(s.first_record_sequence) : w.Null();
      Key(&w, "last_record_sequence");
      s.records > 0 ? w.Uint64(s.last_record_sequence) : w.Null();
      Key(&w, "bytes_used");
      w.Uint64(s.end);
      Key(&w, "synced_until");
      w.Uint64(s.header.synced_until);
      Key(&w, "created");
      String(&w, Created(s.header.created));
      Key(&w, "stop");
      w.StartObject();
      Key(&w, "reason");
      String(&w, durable::FrameStatusName(s.stop));
      Key(&w, "offset");
      w.Uint64(s.end);
      Key(&w, "data_end");
      w.Uint64(s.data_end);
      Key(&w, "good_frame_after");
      w.Bool(s.good_frame_after);
      w.EndObject();
    }
    w.EndObject();
  }
  w.EndArray();
  StringArray(&w, "unfinished_checkpoints", scan.temporary);
  StringArray(&w, "salvaged", scan.salvaged);
  StringArray(&w, "other", scan.other);
  Key(&w, "last_sequence");
  w.Uint64(scan.LastSequence());
  w.EndObject();
  return std::string(buffer.GetString(), buffer.GetSize()) + "\n";
}

}  // namespace

int InspectMain(int argc, char** argv) {
  bool json = false;
  std::string dir;
  bool have_dir = false;
  ArgReader reader(argc, argv);
  while (reader.Next()) {
    const std::string& arg = reader.arg();
    if (arg == "-h" || arg == "--help") {
      std::fputs(kUsage, stdout);
      return kExitOk;
    } else if (arg == "--json") {
      if (reader.has_inline_value()) return UsageError("--json takes no value");
      json = true;
    } else if (reader.is_option()) {
      return UsageError("unknown option '" + arg + "'");
    } else {
      if (have_dir) return UsageError("inspect takes one directory");
      dir = arg;
      have_dir = true;
    }
  }
  if (!have_dir || dir.empty()) return UsageError("inspect needs a directory: inspect DIR");
  absl::StatusOr<DirScan> scan = ScanDir(dir, /*decode=*/false);
  if (!scan.ok()) return Failure(absl::StrCat("cannot read ", dir, ": ", scan.status().message()));
  const std::string out = json ? Json(dir, *scan) : Text(dir, *scan);
  if (std::fwrite(out.data(), 1, out.size(), stdout) != out.size() || std::fflush(stdout) != 0) {
    return Failure("error writing standard output");
  }
  return kExitOk;
}

}  // namespace tools
}  // namespace userstore
