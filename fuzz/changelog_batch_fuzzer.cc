// Fuzz target: the changelog batch encoding (include/userstore/replication.h,
// docs/file-format.md "Changelog batches").
//
// The input is bytes as a batch, checked as it is and, when that changes it,
// with its last four bytes replaced by the checksum of the rest (a mutated
// batch otherwise rarely gets past its CRC32C, and the entries and events
// behind it would go unexplored). For each:
//   - DecodeChangelogBatch fails only with 400/20001, its message saying it
//     is a changelog batch that was refused; or
//   - it returns a batch that re-encodes to exactly the input (one batch,
//     one encoding), whose events' sequences are consecutive, and which is
//     refused with one byte more or one byte less.
// ASan (the fuzz preset) checks that nothing reads past the input; the
// -rss_limit_mb of the runs that a count field does not make it allocate.
//
// Seeds (corpus/changelog_batch/): batches the encoder wrote, made by
// tests/changelog_batch_test.cc (USERSTORE_WRITE_SEEDS=1 regenerates them):
// a fence entry, one user create, a service with its roles, a whole feed of
// every kind of event, a role update with text SIDs.

#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "absl/strings/string_view.h"
#include "fuzz_common.h"

#include "userstore/replication.h"
#include "userstore/status.h"

#include "core/durable/crc32c.h"
#include "core/durable/format.h"

namespace {

using userstore::fuzz::Escape;

void Check(absl::string_view bytes) {
  const absl::StatusOr<userstore::ChangelogBatch> batch = userstore::DecodeChangelogBatch(bytes);
  if (!batch.ok()) {
    FUZZ_CHECK(userstore::ErrorCodeOf(batch.status()) == userstore::ErrorCode::kInvalidParameter &&
                   userstore::HttpStatusOf(batch.status()) == 400,
               "a bad batch must be 400/20001, got %s for %s", batch.status().ToString().c_str(),
               Escape(bytes).c_str());
    FUZZ_CHECK(absl::StartsWith(batch.status().message(), "Invalid changelog batch: "),
               "the message does not say what was refused: %s", batch.status().ToString().c_str());
    return;
  }
  std::string again;
  const absl::Status status = userstore::EncodeChangelogBatch(*batch, &again);
  FUZZ_CHECK(status.ok(), "a decoded batch does not encode: %s for %s", status.ToString().c_str(),
             Escape(bytes).c_str());
  FUZZ_CHECK(again == bytes, "Encode(Decode(b)) != b: b=%s, re-encoded %s", Escape(bytes).c_str(),
             Escape(again).c_str());
  for (size_t i = 1; i < batch->events.size(); ++i) {
    FUZZ_CHECK(batch->events[i].sequence == batch->events[i - 1].sequence + 1 &&
                   batch->events[i - 1].sequence != UINT64_MAX,
               "event %zu's sequence %llu follows %llu", i,
               static_cast<unsigned long long>(batch->events[i].sequence),
               static_cast<unsigned long long>(batch->events[i - 1].sequence));
  }
  const std::string longer = std::string(bytes) + '\0';
  FUZZ_CHECK(!userstore::DecodeChangelogBatch(longer).ok(), "a trailing byte was accepted: %s",
             Escape(bytes).c_str());
  FUZZ_CHECK(!userstore::DecodeChangelogBatch(bytes.substr(0, bytes.size() - 1)).ok(),
             "a batch without its last byte was accepted: %s", Escape(bytes).c_str());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const absl::string_view bytes(reinterpret_cast<const char*>(data), size);
  Check(bytes);
  if (size >= 4) {
    std::string resealed(bytes);
    const uint32_t crc = userstore::internal::crc32c::Value(resealed.data(), size - 4);
    userstore::internal::durable::PutU32(&resealed[size - 4],
                                         userstore::internal::crc32c::Mask(crc));
    if (resealed != bytes) Check(resealed);
  }
  return 0;
}
