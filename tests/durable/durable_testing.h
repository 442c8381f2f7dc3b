// Helpers of the durable store's tests: a temporary directory, a fingerprint
// of a store's whole state, and raw access to its files.

#ifndef USERSTORE_TESTS_DURABLE_DURABLE_TESTING_H_
#define USERSTORE_TESTS_DURABLE_DURABLE_TESTING_H_

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include <dirent.h>
#include <stdlib.h>
#include <unistd.h>

#include "userstore/durable.h"
#include "userstore/env.h"
#include "userstore/event_codec.h"
#include "userstore/fault_injection_env.h"
#include "userstore/user_store.h"

#include "core/durable/files.h"
#include "core/durable/format.h"

namespace userstore {
namespace durable_testing {

// An Env that hands every call to `base`: a test overrides the calls it
// watches or changes.
class ForwardingEnv : public Env {
 public:
  explicit ForwardingEnv(Env* base) : base_(base) {}
  absl::Status CreateDir(const std::string& path) override { return base_->CreateDir(path); }
  absl::StatusOr<std::vector<std::string>> ListDir(const std::string& path) override {
    return base_->ListDir(path);
  }
  bool Exists(const std::string& path) override { return base_->Exists(path); }
  absl::StatusOr<uint64_t> FileSize(const std::string& path) override {
    return base_->FileSize(path);
  }
  absl::StatusOr<std::string> ReadFile(const std::string& path) override {
    return base_->ReadFile(path);
  }
  absl::StatusOr<std::unique_ptr<WritableFile>> NewWritableFile(const std::string& path) override {
    return base_->NewWritableFile(path);
  }
  absl::StatusOr<std::unique_ptr<MappedFile>> NewMappedFile(const std::string& path,
                                                            uint64_t size) override {
    return base_->NewMappedFile(path, size);
  }
  absl::StatusOr<std::unique_ptr<MappedFile>> OpenMappedFile(const std::string& path) override {
    return base_->OpenMappedFile(path);
  }
  absl::Status RenameFile(const std::string& from, const std::string& to) override {
    return base_->RenameFile(from, to);
  }
  absl::Status RemoveFile(const std::string& path) override { return base_->RemoveFile(path); }
  absl::Status SyncDir(const std::string& path) override { return base_->SyncDir(path); }
  absl::StatusOr<std::unique_ptr<FileLock>> LockDir(const std::string& path) override {
    return base_->LockDir(path);
  }

 protected:
  Env* const base_;
};

// Pulls the plug on `*store`, running on `env`, as fault_injection_env.h
// says to: first nothing more becomes durable (renames, directory syncs and
// file syncs fail), then the store is destroyed, then the power is lost. A
// power loss simulated while the store still runs would let its background
// threads (automatic checkpoints, syncs) go on renaming and syncing files
// whose contents the loss had just reset, which no real power loss allows.
inline void PullThePlug(FaultInjectionEnv* env, std::unique_ptr<UserStore>* store) {
  using Op = FaultInjectionEnv::Op;
  for (Op op : {Op::kRename, Op::kSyncDir, Op::kWritableSync, Op::kMappedSync}) {
    env->FailAfter(op, 1, absl::StatusCode::kInternal);
  }
  store->reset();
  env->ClearFailures();
  env->SimulatePowerLoss();
}

// The same for a store as OpenUserStore returns it. REQUIRES: store->ok().
inline void PullThePlug(FaultInjectionEnv* env, absl::StatusOr<std::unique_ptr<UserStore>>* store) {
  PullThePlug(env, &store->value());
}

// The options of a store on a simulated disk (FaultInjectionEnv) whose every
// run is the same: fixed seed and clock, synced on each write, 16 KiB
// segments, only explicit checkpoints, written in process.
inline DurableOptions SimulatedDiskOptions(Env* env, RecoveryMode recovery) {
  DurableOptions options;
  options.env = env;
  options.durability = Durability::kSyncEachWrite;
  options.recovery = recovery;
  options.store.seed = 7;
  options.store.clock = std::make_shared<ManualClock>(absl::FromUnixSeconds(1700000000));
  options.segment_bytes = 16 << 10;
  options.checkpoint_min_journal_bytes = 0;
  options.checkpoint_writer = DurableOptions::CheckpointWriter::kInProcess;
  return options;
}

// A fresh directory under $TMPDIR (or /tmp), removed with its files.
class TempDir {
 public:
  // Under `base`, or $TMPDIR, or /tmp.
  explicit TempDir(const char* base = nullptr) {
    if (base == nullptr || access(base, W_OK) != 0) base = std::getenv("TMPDIR");
    std::string pattern = absl::StrCat(base != nullptr ? base : "/tmp", "/userstore-test-XXXXXX");
    char* made = mkdtemp(pattern.data());
    path_ = made != nullptr ? made : "";
  }
  ~TempDir() { RemoveTree(path_); }
  const std::string& path() const { return path_; }

  static void RemoveTree(const std::string& path) {
    if (DIR* dir = opendir(path.c_str())) {
      while (dirent* entry = readdir(dir)) {
        const std::string name = entry->d_name;
        if (name == "." || name == "..") continue;
        const std::string child = path + "/" + name;
        if (entry->d_type == DT_DIR) {
          RemoveTree(child);
        } else {
          std::remove(child.c_str());
        }
      }
      closedir(dir);
    }
    rmdir(path.c_str());
  }

 private:
  std::string path_;
};

inline std::vector<std::string> Names(const std::string& dir) {
  std::vector<std::string> names;
  if (DIR* d = opendir(dir.c_str())) {
    while (dirent* entry = readdir(d)) {
      const std::string name = entry->d_name;
      if (name != "." && name != "..") names.push_back(name);
    }
    closedir(d);
  }
  return names;
}

inline std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

inline void WriteAll(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

// The path of the directory's only journal segment ("" when not exactly one).
inline std::string OnlySegment(const std::string& dir) {
  std::string found;
  int count = 0;
  for (const std::string& name : Names(dir)) {
    if (internal::durable::ParseSegmentName(name)) {
      found = dir + "/" + name;
      ++count;
    }
  }
  return count == 1 ? found : "";
}

// (offset, size) of each good frame of a segment.
inline std::vector<std::pair<size_t, size_t>> FrameOffsets(const std::string& segment) {
  std::vector<std::pair<size_t, size_t>> out;
  for (const auto& r : internal::durable::ScanSegment(segment).records) {
    out.emplace_back(r.offset, r.size);
  }
  return out;
}

// The whole state of a store as text: its account, last sequence, and every
// service, role and user (dates, presence, counts included) in order.
inline std::string Fingerprint(const UserStore& store) {
  std::string out = absl::StrCat(store.account_sid(), "#", store.last_sequence(), "\n");
  for (const ChangeEvent& event : store.Snapshot().events) {
    std::string bytes;
    (void)EncodeChangeEvent(event, &bytes);
    for (unsigned char c : bytes) absl::StrAppend(&out, absl::Hex(c, absl::kZeroPad2));
    out += "\n";
  }
  return out;
}

// Compares two fingerprints, saying where they first differ (they are long).
inline ::testing::AssertionResult SameState(const std::string& got, const std::string& want) {
  if (got == want) return ::testing::AssertionSuccess();
  size_t line = 0;
  size_t i = 0;
  while (i < got.size() && i < want.size() && got[i] == want[i]) {
    if (got[i] == '\n') ++line;
    ++i;
  }
  auto line_at = [](const std::string& text, size_t at) {
    const size_t start = text.rfind('\n', at == 0 ? 0 : at - 1);
    const size_t from = start == std::string::npos ? 0 : start + 1;
    return text.substr(from, std::min<size_t>(120, text.find('\n', from) - from));
  };
  return ::testing::AssertionFailure()
         << "states differ at line " << line << " (got " << std::count(got.begin(), got.end(), '\n')
         << " lines, want " << std::count(want.begin(), want.end(), '\n')
         << ")\n  got:  " << line_at(got, i) << "\n  want: " << line_at(want, i);
}

}  // namespace durable_testing
}  // namespace userstore

#endif  // USERSTORE_TESTS_DURABLE_DURABLE_TESTING_H_
