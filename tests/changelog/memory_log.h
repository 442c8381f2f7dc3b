// An in-memory ChangelogLog (changelog.h) for the leader's and followers'
// tests: one `MemoryStream` shared by any number of `MemoryLog` handles (as
// several connections to one stream), with the log's failures on demand: an
// outage (every call answers 503/20503) and a lost acknowledgement (the
// append is made, its answer is an error). A call that runs out of memory
// throws std::bad_alloc and changes nothing.

#ifndef USERSTORE_TESTS_CHANGELOG_MEMORY_LOG_H_
#define USERSTORE_TESTS_CHANGELOG_MEMORY_LOG_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

#include "userstore/changelog.h"
#include "userstore/status.h"

namespace userstore {
namespace changelog_testing {

struct MemoryStream {
  absl::Mutex mu;
  absl::CondVar appended;
  std::vector<ChangelogLog::Entry> entries ABSL_GUARDED_BY(mu);
  std::string last_id ABSL_GUARDED_BY(mu);  // the last ever appended (trims keep it)
  std::optional<ChangelogLog::Checkpoint> checkpoint ABSL_GUARDED_BY(mu);
  bool available ABSL_GUARDED_BY(mu) = true;
  int lose_acks ABSL_GUARDED_BY(mu) = 0;  // appends whose answer is lost
  uint64_t appends ABSL_GUARDED_BY(mu) = 0;

  void SetAvailable(bool on) {
    absl::MutexLock lock(&mu);
    available = on;
    appended.SignalAll();
  }
  void LoseAcks(int n) {
    absl::MutexLock lock(&mu);
    lose_acks = n;
  }
  std::vector<ChangelogLog::Entry> Entries() {
    absl::MutexLock lock(&mu);
    return entries;
  }
  // Appends raw data as the next entry, unconditionally (a foreign writer).
  void Inject(std::string id, std::string data) {
    absl::MutexLock lock(&mu);
    entries.push_back({id, std::move(data)});
    last_id = std::move(id);
    appended.SignalAll();
  }
};

class MemoryLog : public ChangelogLog {
 public:
  explicit MemoryLog(std::shared_ptr<MemoryStream> stream) : stream_(std::move(stream)) {}

  std::string url() const override { return "memory://test/stream"; }

  absl::StatusOr<std::string> LastId() override {
    absl::MutexLock lock(&stream_->mu);
    if (!stream_->available) return Down();
    return stream_->last_id;
  }

  absl::StatusOr<std::string> AppendIf(absl::string_view expected_last_id, uint64_t last_sequence,
                                       uint64_t epoch, absl::string_view data) override {
    absl::MutexLock lock(&stream_->mu);
    if (!stream_->available) return Down();
    if (stream_->last_id != expected_last_id) {
      return MakeError(ErrorCode::kForbidden,
                       absl::StrCat("fenced: the last entry is '", stream_->last_id, "'"));
    }
    // Everything allocated before the stream changes (the out-of-memory
    // tests fail these allocations): an append is made whole or not at all.
    std::string id = EntryId(last_sequence, epoch);
    std::string last_id = id;
    stream_->entries.push_back({id, std::string(data)});
    stream_->last_id.swap(last_id);
    ++stream_->appends;
    stream_->appended.SignalAll();
    if (stream_->lose_acks > 0) {
      --stream_->lose_acks;
      return MakeError(ErrorCode::kServiceUnavailable, "the answer was lost");
    }
    return id;
  }

  absl::StatusOr<std::vector<Entry>> ReadAfter(uint64_t after_sequence, size_t max,
                                               absl::Duration wait) override {
    const absl::Time deadline = absl::Now() + wait;
    absl::MutexLock lock(&stream_->mu);
    for (;;) {
      if (!stream_->available) return Down();
      std::vector<Entry> out;
      for (const Entry& entry : stream_->entries) {
        uint64_t sequence = 0;
        uint64_t epoch = 0;
        if (ParseEntryId(entry.id, &sequence, &epoch) && sequence <= after_sequence) continue;
        out.push_back(entry);
        if (out.size() == max) break;
      }
      if (!out.empty()) return out;
      if (stream_->appended.WaitWithTimeout(&stream_->mu, deadline - absl::Now())) return out;
    }
  }

  absl::Status PutCheckpoint(uint64_t sequence, absl::string_view bytes) override {
    absl::MutexLock lock(&stream_->mu);
    if (!stream_->available) return Down();
    stream_->checkpoint = Checkpoint{sequence, std::string(bytes)};
    return absl::OkStatus();
  }

  absl::StatusOr<Checkpoint> GetCheckpoint() override {
    absl::MutexLock lock(&stream_->mu);
    if (!stream_->available) return Down();
    if (!stream_->checkpoint) return MakeError(ErrorCode::kNotFound, "no checkpoint");
    return *stream_->checkpoint;
  }

  absl::Status TrimThrough(uint64_t sequence) override {
    absl::MutexLock lock(&stream_->mu);
    if (!stream_->available) return Down();
    if (!stream_->checkpoint || stream_->checkpoint->sequence < sequence) {
      return MakeError(ErrorCode::kInvalidParameter, "trim past the checkpoint");
    }
    auto& entries = stream_->entries;
    size_t keep = 0;
    for (size_t i = 0; i < entries.size(); ++i) {
      uint64_t last = 0;
      uint64_t epoch = 0;
      if (ParseEntryId(entries[i].id, &last, &epoch) && last <= sequence) continue;
      if (keep != i) entries[keep] = std::move(entries[i]);  // no allocation
      ++keep;
    }
    entries.resize(keep);
    return absl::OkStatus();
  }

 private:
  static absl::Status Down() {
    return MakeError(ErrorCode::kServiceUnavailable, "memory://test/stream is down");
  }

  std::shared_ptr<MemoryStream> stream_;
};

}  // namespace changelog_testing
}  // namespace userstore

#endif  // USERSTORE_TESTS_CHANGELOG_MEMORY_LOG_H_
