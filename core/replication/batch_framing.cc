// The framing of a changelog batch (batch_framing.h).
//
// ParseBatch works in three passes over the input, none of which reads past
// its end: the fixed header (magic, then version, so that a batch of a later
// version is named as such rather than as damage); a walk of the entry
// lengths, which finds where the checksum must be without allocating (a count
// of 2^32 stops at the end of the input); and the checksum.

#include "core/replication/batch_framing.h"

#include <cstring>

#include "absl/strings/str_cat.h"

#include "userstore/status.h"

#include "core/durable/crc32c.h"
#include "core/durable/format.h"

namespace userstore {
namespace internal {
namespace batch_framing {

namespace {

using durable::GetU32;
using durable::GetU64;
using durable::PutU32;
using durable::PutU64;

constexpr char kMagic[4] = {'U', 'S', 'C', 'B'};
constexpr uint32_t kVersion = 1;

// magic, version, epoch, sid_draws, made_micros, count.
constexpr size_t kHeaderBytes = 4 + 4 + 8 + 8 + 8 + 4;
constexpr size_t kCountOffset = kHeaderBytes - 4;
constexpr size_t kCrcBytes = 4;

absl::Status BatchError(absl::string_view what) {
  return InvalidParameterError(absl::StrCat("Invalid changelog batch: ", what));
}

}  // namespace

char* WriteEntry(absl::string_view event, char* out) {
  PutU32(out, static_cast<uint32_t>(event.size()));
  std::memcpy(out + kEntryLengthBytes, event.data(), event.size());
  return out + kEntryLengthBytes + event.size();
}

void AppendEntry(absl::string_view event, std::string* entries) {
  const size_t at = entries->size();
  entries->resize(at + kEntryLengthBytes + event.size());
  WriteEntry(event, &(*entries)[at]);
}

void FrameBatch(const BatchHeader& header, uint32_t count, absl::string_view entries,
                std::string* out) {
  FrameBatch(header, count, absl::MakeConstSpan(&entries, 1), out);
}

void FrameBatch(const BatchHeader& header, uint32_t count,
                absl::Span<const absl::string_view> entries, std::string* out) {
  size_t bytes = kHeaderBytes + kCrcBytes;
  for (absl::string_view piece : entries) bytes += piece.size();
  const size_t start = out->size();
  out->reserve(start + bytes);
  out->resize(start + kHeaderBytes);
  char* h = &(*out)[start];
  std::memcpy(h, kMagic, sizeof(kMagic));
  PutU32(h + 4, kVersion);
  PutU64(h + 8, header.epoch);
  PutU64(h + 16, header.sid_draws);
  PutU64(h + 24, static_cast<uint64_t>(header.made_micros));
  PutU32(h + kCountOffset, count);
  for (absl::string_view piece : entries) out->append(piece.data(), piece.size());
  // The checksum extends the header's with the entries', in place.
  const uint32_t crc = crc32c::Value(out->data() + start, out->size() - start);
  char crc_bytes[kCrcBytes];
  PutU32(crc_bytes, crc32c::Mask(crc));
  out->append(crc_bytes, kCrcBytes);
}

absl::Status ParseBatch(absl::string_view bytes, BatchView* view) {
  // 1. The fixed header.
  if (bytes.size() < sizeof(kMagic) || absl::string_view(bytes.data(), sizeof(kMagic)) !=
                                           absl::string_view(kMagic, sizeof(kMagic))) {
    return BatchError("bad magic (not \"USCB\")");
  }
  if (bytes.size() < kHeaderBytes + kCrcBytes) {
    return BatchError(absl::StrCat("truncated: ", bytes.size(), " bytes, a batch has at least ",
                                   kHeaderBytes + kCrcBytes));
  }
  const uint32_t version = GetU32(bytes.data() + 4);
  if (version != kVersion) {
    return BatchError(absl::StrCat("unsupported changelog batch version ", version));
  }
  const uint32_t count = GetU32(bytes.data() + kCountOffset);

  // 2. Where the checksum must be: walk the entries' lengths. Each step
  //    consumes at least four bytes, so the walk ends within size/4 steps.
  const size_t body_end = bytes.size() - kCrcBytes;
  size_t at = kHeaderBytes;
  for (uint32_t i = 0; i < count; ++i) {
    if (body_end - at < kEntryLengthBytes) {
      return BatchError(absl::StrCat("truncated: entry ", i, " of ", count, " has no length"));
    }
    const uint32_t length = GetU32(bytes.data() + at);
    at += kEntryLengthBytes;
    if (length > body_end - at) {
      return BatchError(
          absl::StrCat("entry ", i, " of ", count, " has length ", length, ", past the end"));
    }
    at += length;
  }
  if (at != body_end) {
    return BatchError(absl::StrCat(body_end - at, " trailing bytes"));
  }

  // 3. The checksum, over every byte before it.
  const uint32_t stored = GetU32(bytes.data() + body_end);
  const uint32_t actual = crc32c::Mask(crc32c::Value(bytes.data(), body_end));
  if (stored != actual) return BatchError("checksum mismatch");

  view->header.epoch = GetU64(bytes.data() + 8);
  view->header.sid_draws = GetU64(bytes.data() + 16);
  view->header.made_micros = static_cast<int64_t>(GetU64(bytes.data() + 24));
  view->count = count;
  view->entries = bytes.substr(kHeaderBytes, body_end - kHeaderBytes);
  return absl::OkStatus();
}

bool EntryReader::Next(absl::string_view* event) {
  if (rest_.size() < kEntryLengthBytes) return false;
  const uint32_t length = GetU32(rest_.data());
  *event = rest_.substr(kEntryLengthBytes, length);
  rest_.remove_prefix(kEntryLengthBytes + event->size());
  return true;
}

}  // namespace batch_framing
}  // namespace internal
}  // namespace userstore
