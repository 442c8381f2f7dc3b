#include "core/durable/format.h"

#include <cstdio>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

#include "core/durable/crc32c.h"

namespace userstore {
namespace internal {
namespace durable {
namespace {

std::optional<uint64_t> ParseNumbered(absl::string_view name, absl::string_view prefix,
                                      absl::string_view suffix) {
  if (!absl::StartsWith(name, prefix) || !absl::EndsWith(name, suffix)) return std::nullopt;
  absl::string_view digits =
      name.substr(prefix.size(), name.size() - prefix.size() - suffix.size());
  if (digits.size() != 20) return std::nullopt;
  for (char c : digits) {
    if (c < '0' || c > '9') return std::nullopt;
  }
  uint64_t value = 0;
  if (!absl::SimpleAtoi(digits, &value)) return std::nullopt;
  return value;
}

// CRC of the frame's type byte, its three zero bytes and the payload.
uint32_t FrameCrc(const char* type_and_pad, absl::string_view payload) {
  uint32_t crc = crc32c::Value(type_and_pad, 4);
  return crc32c::Extend(crc, payload.data(), payload.size());
}

// `prefix`, `n` in 20 decimal digits (zero-padded, so that names sort by
// number), `suffix`. Not absl::StrFormat: its sink flushes into the string
// from a destructor, so an allocation failing there ends the process
// instead of throwing std::bad_alloc (found by tests/out_of_memory_test.cc).
std::string Numbered(absl::string_view prefix, uint64_t n, absl::string_view suffix) {
  char digits[20];
  for (int i = 19; i >= 0; --i, n /= 10) digits[i] = static_cast<char>('0' + n % 10);
  return absl::StrCat(prefix, absl::string_view(digits, sizeof(digits)), suffix);
}

}  // namespace

std::string CheckpointName(uint64_t sequence) { return Numbered("checkpoint-", sequence, ".ckpt"); }
std::string CheckpointTempName(uint64_t sequence) {
  return Numbered("checkpoint-", sequence, ".tmp");
}
std::string SegmentName(uint64_t number) { return Numbered("journal-", number, ".seg"); }

std::optional<uint64_t> ParseCheckpointName(absl::string_view name) {
  return ParseNumbered(name, "checkpoint-", ".ckpt");
}
std::optional<uint64_t> ParseCheckpointTempName(absl::string_view name) {
  return ParseNumbered(name, "checkpoint-", ".tmp");
}
std::optional<uint64_t> ParseSegmentName(absl::string_view name) {
  return ParseNumbered(name, "journal-", ".seg");
}

std::string JoinPath(absl::string_view dir, absl::string_view name) {
  if (dir.empty()) return std::string(name);
  if (dir.back() == '/') return absl::StrCat(dir, name);
  return absl::StrCat(dir, "/", name);
}

void SealFrame(char* frame, RecordType type, uint32_t payload_length) {
  frame[8] = static_cast<char>(type);
  frame[9] = frame[10] = frame[11] = 0;
  PutU32(frame + 4, payload_length);
  const uint32_t crc =
      FrameCrc(frame + 8, absl::string_view(frame + kFrameHeaderSize, payload_length));
  PutU32(frame, crc32c::Mask(crc));
}

void AppendFrame(std::string* out, RecordType type, absl::string_view payload) {
  const size_t start = out->size();
  out->resize(start + kFrameHeaderSize);
  out->append(payload.data(), payload.size());
  SealFrame(&(*out)[start], type, static_cast<uint32_t>(payload.size()));
}

FrameStatus ReadFrame(absl::string_view in, size_t offset, Frame* frame) {
  if (offset >= in.size()) return FrameStatus::kEnd;
  const size_t left = in.size() - offset;
  const char* p = in.data() + offset;
  if (left < kFrameHeaderSize) {
    for (size_t i = 0; i < left; ++i) {
      if (p[i] != 0) return FrameStatus::kTruncated;
    }
    return FrameStatus::kEnd;
  }
  bool all_zero = true;
  for (size_t i = 0; i < kFrameHeaderSize; ++i) all_zero = all_zero && p[i] == 0;
  if (all_zero) return FrameStatus::kEnd;
  const uint32_t length = GetU32(p + 4);
  if (length > kMaxPayload || p[9] != 0 || p[10] != 0 || p[11] != 0) {
    return FrameStatus::kBadLength;
  }
  if (length > left - kFrameHeaderSize) return FrameStatus::kTruncated;
  const absl::string_view payload(p + kFrameHeaderSize, length);
  if (crc32c::Unmask(GetU32(p)) != FrameCrc(p + 8, payload)) return FrameStatus::kBadCrc;
  frame->type = static_cast<RecordType>(static_cast<unsigned char>(p[8]));
  frame->payload = payload;
  frame->size = kFrameHeaderSize + length;
  return FrameStatus::kOk;
}

const char* FrameStatusName(FrameStatus status) {
  switch (status) {
    case FrameStatus::kOk:
      return "ok";
    case FrameStatus::kEnd:
      return "end of data";
    case FrameStatus::kTruncated:
      return "truncated record";
    case FrameStatus::kBadLength:
      return "bad record length";
    case FrameStatus::kBadCrc:
      return "checksum mismatch";
  }
  return "unknown";
}

namespace {
uint32_t SegmentHeaderCrc(const char* page) {
  uint32_t crc = crc32c::Value(page, 12);
  return crc32c::Extend(crc, page + 16, 24);
}
}  // namespace

void WriteSegmentHeader(const SegmentHeader& header, char* page) {
  std::memset(page, 0, kSegmentHeaderSize);
  std::memcpy(page, kSegmentMagic, 8);
  PutU32(page + 8, header.version);
  PutU64(page + 16, header.segment_number);
  PutU64(page + 24, header.first_sequence);
  PutU64(page + 32, header.created);
  PutU64(page + kSyncedUntilOffset, header.synced_until);
  PutU32(page + 12, crc32c::Mask(SegmentHeaderCrc(page)));
}

HeaderStatus ReadSegmentHeader(absl::string_view file, SegmentHeader* header) {
  if (file.size() < kSegmentHeaderSize) return HeaderStatus::kTooShort;
  const char* page = file.data();
  if (std::memcmp(page, kSegmentMagic, 8) != 0) return HeaderStatus::kBadMagic;
  // The version before the checksum: a later version may checksum other bytes.
  header->version = GetU32(page + 8);
  if (header->version != kSegmentVersion) return HeaderStatus::kUnknownVersion;
  if (crc32c::Unmask(GetU32(page + 12)) != SegmentHeaderCrc(page)) return HeaderStatus::kBadCrc;
  header->segment_number = GetU64(page + 16);
  header->first_sequence = GetU64(page + 24);
  header->created = GetU64(page + 32);
  header->synced_until = GetU64(page + kSyncedUntilOffset);
  return HeaderStatus::kOk;
}

}  // namespace durable
}  // namespace internal
}  // namespace userstore
