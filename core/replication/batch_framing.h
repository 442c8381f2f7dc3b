// The framing of a changelog batch (docs/file-format.md "Changelog batches"),
// apart from its events: what the leader's shipping thread and the follower's
// apply use to move events that are already encoded without decoding or
// re-encoding them. EncodeChangelogBatch and DecodeChangelogBatch
// (include/userstore/replication.h) are built on it.
//
//   batch := magic "USCB" version:u32(=1) epoch:u64 sid_draws:u64 made_micros:i64
//            count:u32 entry{count} crc:u32
//   entry := length:u32 event            (event: the v1 event encoding, event_codec.h)
//   crc   := masked CRC32C of every byte before it
//
// Thread safety: pure functions; an EntryReader is one thread's. Complexity:
// linear in the bytes.

#ifndef USERSTORE_CORE_REPLICATION_BATCH_FRAMING_H_
#define USERSTORE_CORE_REPLICATION_BATCH_FRAMING_H_

#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"

namespace userstore {
namespace internal {
namespace batch_framing {

// The bytes of an entry's length prefix.
inline constexpr size_t kEntryLengthBytes = 4;

// A batch's fields other than its events.
struct BatchHeader {
  uint64_t epoch = 0;
  uint64_t sid_draws = 0;
  int64_t made_micros = 0;
};

// Appends one entry (length:u32, then `event`) to `*entries`. REQUIRES:
// event.size() < 2^32.
void AppendEntry(absl::string_view event, std::string* entries);

// Writes one entry at `out`, which has room for kEntryLengthBytes +
// event.size() bytes; returns its end. REQUIRES: event.size() < 2^32.
char* WriteEntry(absl::string_view event, char* out);

// Appends a whole batch to `*out`: the header, `count`, the `entries` as they
// are (each length:u32 event, as AppendEntry writes them) and the checksum.
// REQUIRES: `entries` holds exactly `count` well-formed entries of events
// with consecutive sequences (the caller's invariant: nothing is checked).
void FrameBatch(const BatchHeader& header, uint32_t count, absl::string_view entries,
                std::string* out);

// The same with the entries in pieces, back to back in the order given (an
// entry may not span two pieces: each piece is whole entries).
void FrameBatch(const BatchHeader& header, uint32_t count,
                absl::Span<const absl::string_view> entries, std::string* out);

// A batch whose framing was checked (magic, version, entry lengths, no
// trailing bytes, checksum) and whose events were not decoded. Views the
// parsed bytes.
struct BatchView {
  BatchHeader header;
  uint32_t count = 0;
  absl::string_view entries;  // `count` entries, each length:u32 event
};

// Checks the framing of `bytes` and fills `*view`. Errors: 400/20001 naming
// what is wrong (bad magic, an unsupported version, truncation, a length
// past the end, trailing bytes, a checksum mismatch). Does not allocate on
// success; never reads past `bytes`.
absl::Status ParseBatch(absl::string_view bytes, BatchView* view);

// Walks the entries of a parsed batch, in order.
//
//   EntryReader reader(view.entries);
//   absl::string_view event;
//   while (reader.Next(&event)) { ... }
class EntryReader {
 public:
  // REQUIRES: `entries` is a BatchView's (ParseBatch checked every length).
  explicit EntryReader(absl::string_view entries) : rest_(entries) {}

  // The next entry's event bytes; false at the end.
  bool Next(absl::string_view* event);

 private:
  absl::string_view rest_;
};

}  // namespace batch_framing
}  // namespace internal
}  // namespace userstore

#endif  // USERSTORE_CORE_REPLICATION_BATCH_FRAMING_H_
