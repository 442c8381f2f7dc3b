// The journal's background thread prefaults the current segment ahead of
// its writers in steps (docs/durability.md): at most 4 MiB of a segment at a
// wake, up to 32 MiB past the tail and no further, each byte once. (A whole
// 64 MiB segment at once held a vCPU for tens of milliseconds.)

#include <algorithm>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "tests/durable/durable_testing.h"
#include "tests/testing/tsan_absl_mutex.h"  // TSan builds: absl::Mutex made visible

#include "userstore/durable.h"
#include "userstore/env.h"
#include "userstore/fault_injection_env.h"
#include "userstore/user_store.h"

namespace userstore {
namespace {

constexpr uint64_t kMiB = uint64_t{1} << 20;

// Every Prefault asked of a mapped file, by path.
class PrefaultLog {
 public:
  void Add(const std::string& path, uint64_t offset, uint64_t length) {
    absl::MutexLock lock(&mu_);
    calls_[path].push_back({offset, length});
  }
  std::map<std::string, std::vector<std::pair<uint64_t, uint64_t>>> calls() const {
    absl::MutexLock lock(&mu_);
    return calls_;
  }

 private:
  mutable absl::Mutex mu_;
  std::map<std::string, std::vector<std::pair<uint64_t, uint64_t>>> calls_ ABSL_GUARDED_BY(mu_);
};

class RecordingMappedFile : public MappedFile {
 public:
  RecordingMappedFile(std::unique_ptr<MappedFile> base, PrefaultLog* log)
      : base_(std::move(base)), log_(log) {}
  const std::string& path() const override { return base_->path(); }
  char* data() override { return base_->data(); }
  uint64_t size() const override { return base_->size(); }
  absl::Status Sync(uint64_t offset, uint64_t length) override {
    return base_->Sync(offset, length);
  }
  void Prefault(uint64_t offset, uint64_t length) override {
    log_->Add(base_->path(), offset, length);
    base_->Prefault(offset, length);
  }

 private:
  const std::unique_ptr<MappedFile> base_;
  PrefaultLog* const log_;
};

// The simulated disk, with its mapped files' prefaults recorded.
class RecordingEnv : public durable_testing::ForwardingEnv {
 public:
  RecordingEnv(Env* base, PrefaultLog* log) : ForwardingEnv(base), log_(log) {}
  absl::StatusOr<std::unique_ptr<MappedFile>> NewMappedFile(const std::string& path,
                                                            uint64_t size) override {
    return Wrap(base_->NewMappedFile(path, size));
  }
  absl::StatusOr<std::unique_ptr<MappedFile>> OpenMappedFile(const std::string& path) override {
    return Wrap(base_->OpenMappedFile(path));
  }

 private:
  absl::StatusOr<std::unique_ptr<MappedFile>> Wrap(
      absl::StatusOr<std::unique_ptr<MappedFile>> file) {
    if (!file.ok()) return file.status();
    return std::unique_ptr<MappedFile>(new RecordingMappedFile(std::move(*file), log_));
  }

  PrefaultLog* const log_;
};

// The union of `calls` as sorted, merged ranges; `overlap` is set when two
// calls asked for the same byte.
std::vector<std::pair<uint64_t, uint64_t>> Merged(std::vector<std::pair<uint64_t, uint64_t>> calls,
                                                  bool* overlap) {
  std::sort(calls.begin(), calls.end());
  std::vector<std::pair<uint64_t, uint64_t>> ranges;  // [begin, end)
  *overlap = false;
  for (const auto& [offset, length] : calls) {
    if (!ranges.empty() && offset < ranges.back().second) *overlap = true;
    if (!ranges.empty() && offset <= ranges.back().second) {
      ranges.back().second = std::max(ranges.back().second, offset + length);
    } else {
      ranges.push_back({offset, offset + length});
    }
  }
  return ranges;
}

TEST(JournalPrefaultTest, TheCurrentSegmentIsPrefaultedAheadInStepsAndNoFurther) {
  std::unique_ptr<FaultInjectionEnv> disk = NewFaultInjectionEnv();
  PrefaultLog log;
  RecordingEnv env(disk.get(), &log);
  DurableOptions options;
  options.env = &env;
  options.segment_bytes = 64 * kMiB;
  options.checkpoint_min_journal_bytes = 0;  // no automatic checkpoint
  auto store = OpenUserStore("/d", options);
  ASSERT_TRUE(store.ok()) << store.status();
  for (int i = 0; i < 200; ++i) {
    CreateUserRequest request;
    request.identity = absl::StrCat("u", i);
    ASSERT_TRUE((*store)->CreateUser((*store)->default_conversation_service_sid(), request).ok());
  }
  // The window fills within a few wakes of 10 ms; a slow machine gets time.
  const uint64_t journal = (*store)->durability_stats().journal_bytes;
  ASSERT_LT(journal, kMiB);  // the tail stays in the segment's first MiB
  std::string segment;
  std::vector<std::pair<uint64_t, uint64_t>> ranges;
  bool overlap = false;
  const absl::Time deadline = absl::Now() + absl::Seconds(60);
  while (absl::Now() < deadline) {
    for (const auto& [path, calls] : log.calls()) {
      segment = path;
      ranges = Merged(calls, &overlap);
    }
    if (ranges.size() == 1 && ranges[0].second - ranges[0].first >= 31 * kMiB) break;
    absl::SleepFor(absl::Milliseconds(10));
  }
  const auto calls = log.calls();
  ASSERT_EQ(calls.size(), 1u) << "one segment, no spare yet";
  ASSERT_EQ(ranges.size(), 1u) << "one contiguous range";
  EXPECT_FALSE(overlap) << "a byte prefaulted twice";
  // From the tail at the first wake to 32 MiB past the tail at the last.
  EXPECT_LT(ranges[0].first, kMiB);
  EXPECT_GE(ranges[0].second, 32 * kMiB);
  EXPECT_LE(ranges[0].second, 33 * kMiB);
  for (const auto& [offset, length] : calls.begin()->second) {
    EXPECT_LE(length, 4 * kMiB) << "at " << offset;
  }
  // Once the window is full, nothing more is asked while the tail stays
  // where it is (the last steps of the window land within a few wakes).
  absl::SleepFor(absl::Milliseconds(200));
  const size_t settled = log.calls().begin()->second.size();
  absl::SleepFor(absl::Milliseconds(200));
  EXPECT_EQ(log.calls().begin()->second.size(), settled);
}

}  // namespace
}  // namespace userstore
