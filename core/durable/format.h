// The durable store's files (docs/file-format.md is the reference; this file
// is its code): names, magic numbers, versions, and the record frame shared
// by journal segments and checkpoints.
//
// A directory holds
//   LOCK                      the lock (env.h, LockDir)
//   checkpoint-<seq>.ckpt     the state after event <seq> (20 decimal digits)
//   checkpoint-<seq>.tmp      one being written (removed by recovery)
//   journal-<n>.seg           journal segment number <n> (20 decimal digits)
//   salvaged-<n>-<what>       bytes a salvaging recovery moved aside
//
// The record frame (little-endian):
//   masked_crc:u32  length:u32  type:u8  zero:u8[3]  payload:u8[length]
// `masked_crc` is crc32c::Mask of the CRC32C of type, the three zero bytes and
// the payload. A frame whose 12 header bytes are all zero marks the end of
// the data in a preallocated journal segment.

#ifndef USERSTORE_CORE_DURABLE_FORMAT_H_
#define USERSTORE_CORE_DURABLE_FORMAT_H_

#include <cstdint>
#include <cstring>
#include <optional>
#include <string>

#include "absl/strings/string_view.h"

namespace userstore {
namespace internal {
namespace durable {

// --- names -----------------------------------------------------------------------

std::string CheckpointName(uint64_t sequence);      // "checkpoint-00000000000000000042.ckpt"
std::string CheckpointTempName(uint64_t sequence);  // "checkpoint-...42.tmp"
std::string SegmentName(uint64_t number);           // "journal-00000000000000000007.seg"
// The number in a name of that form, or nullopt.
std::optional<uint64_t> ParseCheckpointName(absl::string_view name);
std::optional<uint64_t> ParseCheckpointTempName(absl::string_view name);
std::optional<uint64_t> ParseSegmentName(absl::string_view name);
std::string JoinPath(absl::string_view dir, absl::string_view name);

// --- the frame ---------------------------------------------------------------------

inline constexpr size_t kFrameHeaderSize = 12;
// Largest payload a frame may declare (a checkpoint record or a journal
// record: far above any record the limits allow).
inline constexpr uint32_t kMaxPayload = uint32_t{64} << 20;

enum class RecordType : uint8_t {
  kEnd = 0,      // (all-zero header: end of the data)
  kEvent = 1,    // journal: draws:u64 then one encoded ChangeEvent
  kService = 2,  // checkpoint: position:u64 next_user:u64 next_role:u64 then the event
  kRole = 3,     // checkpoint: position:u64 then the event
  kUser = 4,     // checkpoint: position:u64 then the event
  kTrailer = 5,  // checkpoint: records:u64 (the count of records before it)
};

// Writes the frame header for `payload_length` bytes of payload that already
// sit at `frame + kFrameHeaderSize`.
void SealFrame(char* frame, RecordType type, uint32_t payload_length);

// Appends a whole frame to `out`.
void AppendFrame(std::string* out, RecordType type, absl::string_view payload);

// What ReadFrame found at an offset.
enum class FrameStatus : uint8_t {
  kOk,         // a whole frame with a good checksum
  kEnd,        // twelve zero bytes, or fewer than twelve bytes left that are all zero
  kTruncated,  // the header or the payload runs past the end of the input
  kBadLength,  // a length above kMaxPayload, or nonzero padding bytes
  kBadCrc,     // the checksum does not match
};

struct Frame {
  RecordType type = RecordType::kEnd;
  absl::string_view payload;
  size_t size = 0;  // header + payload
};

// Reads the frame at `in[offset...]`.
FrameStatus ReadFrame(absl::string_view in, size_t offset, Frame* frame);

const char* FrameStatusName(FrameStatus status);

// --- fixed-width integers --------------------------------------------------------

inline void PutU32(char* p, uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = static_cast<char>(v >> (8 * i));
}
inline void PutU64(char* p, uint64_t v) {
  for (int i = 0; i < 8; ++i) p[i] = static_cast<char>(v >> (8 * i));
}
inline uint32_t GetU32(const char* p) {
  uint32_t v = 0;
  for (int i = 3; i >= 0; --i) v = (v << 8) | static_cast<unsigned char>(p[i]);
  return v;
}
inline uint64_t GetU64(const char* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | static_cast<unsigned char>(p[i]);
  return v;
}
inline void AppendU64(std::string* out, uint64_t v) {
  char b[8];
  PutU64(b, v);
  out->append(b, 8);
}

// --- journal segments ---------------------------------------------------------------
//
// A segment is a preallocated file: a 4096-byte header page, then frames
// from offset 4096, then zeros.
//   0  magic "USJRNL\r\n"        8
//   8  version:u32 (1)           12 header_crc:u32 (masked CRC32C of bytes 0-7, 8-11, 16-39)
//   16 segment_number:u64        24 first_sequence:u64 (the first record's sequence)
//   32 created_unix_seconds:u64  40 synced_until:u64 (not covered by the CRC: an offset
//                                   up to which the segment was synced, written after each
//                                   sync and so durable one sync later)
inline constexpr char kSegmentMagic[8] = {'U', 'S', 'J', 'R', 'N', 'L', '\r', '\n'};
inline constexpr uint32_t kSegmentVersion = 1;
inline constexpr uint64_t kSegmentHeaderSize = 4096;
inline constexpr size_t kSyncedUntilOffset = 40;

struct SegmentHeader {
  uint32_t version = kSegmentVersion;
  uint64_t segment_number = 0;
  uint64_t first_sequence = 0;
  uint64_t created = 0;
  uint64_t synced_until = 0;
};
void WriteSegmentHeader(const SegmentHeader& header, char* page);
// Errors: not a segment (bad magic), an unknown version, a bad header CRC.
// The message says which; the caller names the file.
enum class HeaderStatus : uint8_t { kOk, kBadMagic, kUnknownVersion, kBadCrc, kTooShort };
HeaderStatus ReadSegmentHeader(absl::string_view file, SegmentHeader* header);

// --- checkpoints ----------------------------------------------------------------------
//
// A checkpoint file is a header frame (type kService is never first: the
// header has its own magic), then frames, then a trailer frame.
//   0  magic "USCKPT\r\n"  8  version:u32 (1)  12 header_length:u32
//   16 header_crc:u32 (masked CRC32C of bytes 20 .. 20+header_length)
//   20 header body (header_length bytes):
//        sequence:u64 account_sid_length:u32 account_sid
//        generator_state:u64[4] next_sid_hi:u64 next_sid_lo:u64 draws:u64
//        token_secret:u64 next_service_position:u64 created_unix_seconds:u64
inline constexpr char kCheckpointMagic[8] = {'U', 'S', 'C', 'K', 'P', 'T', '\r', '\n'};
inline constexpr uint32_t kCheckpointVersion = 1;

// The largest sequence number and position a file may hold; larger ones are
// damage. The change feed numbers events in 63 bits (EventBus::kMaxSequence)
// and positions are 64-bit counters: stopping files at 2^62 leaves a
// recovered store 2^62 writes (146 years at 10^9 a second) before either
// could wrap, so recovery never hands the store a counter about to wrap.
inline constexpr uint64_t kMaxSequence = uint64_t{1} << 62;
inline constexpr uint64_t kMaxPosition = uint64_t{1} << 62;

// The identity of a store that a checkpoint carries besides its records.
struct StoreIdentity {
  uint64_t sequence = 0;
  std::string account_sid;
  uint64_t generator_state[4] = {0, 0, 0, 0};
  uint64_t next_sid_hi = 0;
  uint64_t next_sid_lo = 0;
  uint64_t draws = 0;
  uint64_t token_secret = 0;
  uint64_t next_service_position = 1;
  uint64_t created = 0;
};

}  // namespace durable
}  // namespace internal
}  // namespace userstore

#endif  // USERSTORE_CORE_DURABLE_FORMAT_H_
