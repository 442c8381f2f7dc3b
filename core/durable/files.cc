#include "core/durable/files.h"

#include <algorithm>
#include <cstring>

#include "absl/strings/str_cat.h"

#include "core/durable/crc32c.h"

namespace userstore {
namespace internal {
namespace durable {
namespace {

constexpr size_t kCheckpointPrefix = 20;  // magic, version, header length, header CRC
constexpr size_t kIdentityFixed = 8 + 4 + 8 * 4 + 8 * 2 + 8 + 8 + 8 + 8;

absl::Status Damaged(absl::string_view name, uint64_t offset, absl::string_view what) {
  return absl::DataLossError(absl::StrCat(name, ": ", what, " at byte offset ", offset));
}

// The sequence field of an encoded event: bytes 4..11.
uint64_t EventSequence(absl::string_view event) {
  return event.size() >= 12 ? GetU64(event.data() + 4) : 0;
}

// The end of `file`'s last non-zero byte (0 when all are zero). A segment is
// preallocated, so most of it is the zeros after its data: they are checked
// eight bytes at a time, from the end.
size_t DataEnd(absl::string_view file) {
  const char* data = file.data();
  size_t last = file.size();
  while (last % 8 != 0 && data[last - 1] == 0) --last;
  if (last % 8 == 0) {
    while (last >= 8) {
      uint64_t word;
      std::memcpy(&word, data + last - 8, 8);
      if (word != 0) break;
      last -= 8;
    }
    while (last > 0 && data[last - 1] == 0) --last;
  }
  return last;
}

}  // namespace

std::string EncodeCheckpointHeader(const StoreIdentity& identity) {
  std::string body;
  AppendU64(&body, identity.sequence);
  char len[4];
  PutU32(len, static_cast<uint32_t>(identity.account_sid.size()));
  body.append(len, 4);
  body.append(identity.account_sid);
  for (uint64_t word : identity.generator_state) AppendU64(&body, word);
  AppendU64(&body, identity.next_sid_hi);
  AppendU64(&body, identity.next_sid_lo);
  AppendU64(&body, identity.draws);
  AppendU64(&body, identity.token_secret);
  AppendU64(&body, identity.next_service_position);
  AppendU64(&body, identity.created);
  std::string out(kCheckpointPrefix, '\0');
  std::memcpy(&out[0], kCheckpointMagic, 8);
  PutU32(&out[8], kCheckpointVersion);
  PutU32(&out[12], static_cast<uint32_t>(body.size()));
  PutU32(&out[16], crc32c::Mask(crc32c::Value(body.data(), body.size())));
  out += body;
  return out;
}

absl::Status ReadCheckpoint(absl::string_view file, absl::string_view name, StoreIdentity* identity,
                            absl::FunctionRef<absl::Status(const CheckpointRecord&)> record) {
  if (file.size() < kCheckpointPrefix || std::memcmp(file.data(), kCheckpointMagic, 8) != 0) {
    return Damaged(name, 0, "not a checkpoint (bad magic)");
  }
  const uint32_t version = GetU32(file.data() + 8);
  if (version != kCheckpointVersion) {
    return absl::FailedPreconditionError(absl::StrCat(name, ": unsupported checkpoint version ",
                                                      version, " (this build reads ",
                                                      kCheckpointVersion, ")"));
  }
  const uint32_t header_length = GetU32(file.data() + 12);
  if (header_length > file.size() - kCheckpointPrefix || header_length < kIdentityFixed) {
    return Damaged(name, 12, "bad header length");
  }
  const char* body = file.data() + kCheckpointPrefix;
  if (crc32c::Unmask(GetU32(file.data() + 16)) != crc32c::Value(body, header_length)) {
    return Damaged(name, 16, "header checksum mismatch");
  }
  const uint32_t sid_length = GetU32(body + 8);
  if (sid_length > header_length - kIdentityFixed) return Damaged(name, 28, "bad account SID");
  const char* p = body;
  identity->sequence = GetU64(p);
  p += 12;
  identity->account_sid.assign(p, sid_length);
  p += sid_length;
  for (uint64_t& word : identity->generator_state) {
    word = GetU64(p);
    p += 8;
  }
  identity->next_sid_hi = GetU64(p);
  identity->next_sid_lo = GetU64(p + 8);
  identity->draws = GetU64(p + 16);
  identity->token_secret = GetU64(p + 24);
  identity->next_service_position = GetU64(p + 32);
  identity->created = GetU64(p + 40);
  // Values a store never writes: a sequence past what the feed can hold, a
  // service position with no successor.
  if (identity->sequence > kMaxSequence) return Damaged(name, 20, "sequence out of range");
  if (identity->next_service_position > kMaxPosition) {
    return Damaged(name, 20, "next service position out of range");
  }

  uint64_t offset = kCheckpointPrefix + header_length;
  uint64_t count = 0;
  for (;;) {
    Frame frame;
    const FrameStatus status = ReadFrame(file, offset, &frame);
    if (status == FrameStatus::kEnd) return Damaged(name, offset, "missing trailer (truncated?)");
    if (status != FrameStatus::kOk) return Damaged(name, offset, FrameStatusName(status));
    CheckpointRecord r;
    r.type = frame.type;
    r.offset = offset;
    const absl::string_view payload = frame.payload;
    switch (frame.type) {
      case RecordType::kTrailer:
        if (payload.size() != 8 || GetU64(payload.data()) != count) {
          return Damaged(name, offset, "trailer does not match the record count");
        }
        if (offset + frame.size != file.size()) {
          return Damaged(name, offset + frame.size, "bytes after the trailer");
        }
        return absl::OkStatus();
      case RecordType::kService:
        if (payload.size() < 24) return Damaged(name, offset, "short service record");
        r.position = GetU64(payload.data());
        r.next_user_position = GetU64(payload.data() + 8);
        r.next_role_position = GetU64(payload.data() + 16);
        r.event = payload.substr(24);
        break;
      case RecordType::kRole:
      case RecordType::kUser:
        if (payload.size() < 8) return Damaged(name, offset, "short record");
        r.position = GetU64(payload.data());
        r.event = payload.substr(8);
        break;
      default:
        return Damaged(name, offset, "unknown record type");
    }
    absl::Status status_of_record = record(r);
    if (!status_of_record.ok()) return BadCheckpointRecord(name, offset, status_of_record);
    ++count;
    offset += frame.size;
  }
}

absl::Status BadCheckpointRecord(absl::string_view name, uint64_t offset,
                                 const absl::Status& refusal) {
  return Damaged(name, offset, absl::StrCat("bad record (", refusal.message(), ")"));
}

std::string HeaderStatusText(HeaderStatus status) {
  switch (status) {
    case HeaderStatus::kOk:
      return "ok";
    case HeaderStatus::kBadMagic:
      return "not a journal segment (bad magic)";
    case HeaderStatus::kUnknownVersion:
      return "unsupported journal segment version";
    case HeaderStatus::kBadCrc:
      return "segment header checksum mismatch";
    case HeaderStatus::kTooShort:
      return "shorter than a segment header";
  }
  return "unknown";
}

SegmentScan ScanSegment(absl::string_view file) {
  SegmentScan scan;
  scan.header_status = ReadSegmentHeader(file, &scan.header);
  scan.data_end = DataEnd(file);
  if (scan.header_status != HeaderStatus::kOk) return scan;
  // Room for the records of a segment of user creates, whose frames take
  // some 300 bytes, so that the vector is not copied as it grows (measured:
  // 2% of a recovery's time).
  if (scan.data_end > kSegmentHeaderSize)
    scan.records.reserve((scan.data_end - kSegmentHeaderSize) / 256 + 1);
  uint64_t offset = kSegmentHeaderSize;
  for (;;) {
    Frame frame;
    FrameStatus status = ReadFrame(file, offset, &frame);
    if (status == FrameStatus::kOk &&
        (frame.type != RecordType::kEvent || frame.payload.size() < 8 + 12)) {
      status = FrameStatus::kBadLength;
    }
    if (status != FrameStatus::kOk) {
      scan.end = offset;
      scan.stop = status;
      break;
    }
    JournalRecord r;
    r.offset = offset;
    r.size = frame.size;
    r.draws = GetU64(frame.payload.data());
    r.event = frame.payload.substr(8);
    r.sequence = EventSequence(r.event);
    scan.records.push_back(r);
    offset += frame.size;
  }
  if (scan.stop != FrameStatus::kEnd) {
    // Is there a frame that checks after the bad one? Frames start anywhere,
    // so every offset is tried, for frames that end within a window of 4 KiB
    // past the bad one, which bounds the work whatever the bytes.
    const uint64_t window_end = std::min<uint64_t>(scan.data_end, scan.end + 4096);
    const absl::string_view window = file.substr(0, window_end);
    for (uint64_t at = scan.end + 1; at + kFrameHeaderSize <= window_end; ++at) {
      Frame frame;
      if (ReadFrame(window, at, &frame) == FrameStatus::kOk) {
        scan.good_frame_after = true;
        break;
      }
    }
  }
  return scan;
}

absl::StatusOr<DirListing> ListDirectory(Env* env, const std::string& dir) {
  auto names = env->ListDir(dir);
  if (!names.ok()) return names.status();
  DirListing listing;
  for (const std::string& name : *names) {
    if (auto n = ParseCheckpointName(name)) listing.checkpoints[*n] = name;
    if (auto n = ParseCheckpointTempName(name)) listing.temps[*n] = name;
    if (auto n = ParseSegmentName(name)) listing.segments[*n] = name;
  }
  return listing;
}

absl::Status WriteSyncedFile(Env* env, const std::string& path, absl::string_view contents) {
  auto file = env->NewWritableFile(path);
  if (!file.ok()) return file.status();
  absl::Status status = (*file)->Append(contents);
  if (status.ok()) status = (*file)->Sync();
  if (status.ok()) status = (*file)->Close();
  if (!status.ok()) (void)env->RemoveFile(path);
  return status;
}

absl::Status ReplaceFileDurably(Env* env, const std::string& dir, const std::string& temp_name,
                                const std::string& name, absl::string_view contents) {
  const std::string temp = JoinPath(dir, temp_name);
  absl::Status status = WriteSyncedFile(env, temp, contents);
  if (!status.ok()) return status;
  status = env->RenameFile(temp, JoinPath(dir, name));
  if (!status.ok()) {
    (void)env->RemoveFile(temp);
    return status;
  }
  return env->SyncDir(dir);
}

}  // namespace durable
}  // namespace internal
}  // namespace userstore
