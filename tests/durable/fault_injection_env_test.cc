// The simulated disk of fault_injection_env.h: what a power loss keeps and
// drops, and injected failures that change nothing.

#include "userstore/fault_injection_env.h"

#include <atomic>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/tsan_absl_mutex.h"

#include "userstore/env.h"

namespace userstore {
namespace {

using ::testing::HasSubstr;
using ::testing::UnorderedElementsAre;
using Op = FaultInjectionEnv::Op;

class FaultInjectionEnvTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(env_->CreateDir("/db").ok());
    ASSERT_TRUE(env_->SyncDir("/").ok());
  }

  // A file `path` with `contents`, its bytes and its entry durable.
  void MakeDurable(const std::string& path, const std::string& contents) {
    absl::StatusOr<std::unique_ptr<WritableFile>> file = env_->NewWritableFile(path);
    ASSERT_TRUE(file.ok()) << file.status();
    ASSERT_TRUE((*file)->Append(contents).ok());
    ASSERT_TRUE((*file)->Sync().ok());
    ASSERT_TRUE((*file)->Close().ok());
    ASSERT_TRUE(env_->SyncDir("/db").ok());
  }

  std::unique_ptr<MappedFile> NewMapped(const std::string& path, uint64_t size) {
    absl::StatusOr<std::unique_ptr<MappedFile>> file = env_->NewMappedFile(path, size);
    EXPECT_TRUE(file.ok()) << file.status();
    return file.ok() ? std::move(*file) : nullptr;
  }

  std::unique_ptr<FaultInjectionEnv> env_ = NewFaultInjectionEnv();
};

// --- power loss ---------------------------------------------------------------

TEST_F(FaultInjectionEnvTest, PowerLossKeepsOnlySyncedRangesOfAMappedFile) {
  std::unique_ptr<MappedFile> file = NewMapped("/db/journal", 8192);
  ASSERT_NE(file, nullptr);
  ASSERT_TRUE(env_->SyncDir("/db").ok());
  std::memcpy(file->data(), "AAAA", 4);
  std::memcpy(file->data() + 5000, "BBBB", 4);
  std::memcpy(file->data() + 6000, "CCCC", 4);
  ASSERT_TRUE(file->Sync(0, 4).ok());
  ASSERT_TRUE(file->Sync(6000, 2).ok());  // Only "CC".

  env_->SimulatePowerLoss();
  std::string expected(8192, '\0');
  expected.replace(0, 4, "AAAA");
  expected.replace(6000, 2, "CC");
  EXPECT_EQ(env_->Contents("/db/journal"), expected);
  // The mapping made before the power loss keeps its own bytes and no longer
  // reaches the file: what the old process goes on writing is lost.
  EXPECT_EQ(std::string(file->data() + 5000, 4), "BBBB");
  std::memcpy(file->data() + 7000, "EEEE", 4);
  ASSERT_TRUE(file->Sync(7000, 4).ok());
  EXPECT_EQ(env_->Contents("/db/journal"), expected);
  env_->SimulatePowerLoss();
  EXPECT_EQ(env_->Contents("/db/journal"), expected);
  // A mapping made after it (the rebooted process) shows what survived, and
  // works.
  absl::StatusOr<std::unique_ptr<MappedFile>> reopened = env_->OpenMappedFile("/db/journal");
  ASSERT_TRUE(reopened.ok()) << reopened.status();
  EXPECT_EQ(std::string((*reopened)->data(), (*reopened)->size()), expected);
  std::memcpy((*reopened)->data() + 5000, "DDDD", 4);
  ASSERT_TRUE((*reopened)->Sync(5000, 4).ok());
  env_->SimulatePowerLoss();
  expected.replace(5000, 4, "DDDD");
  EXPECT_EQ(env_->Contents("/db/journal"), expected);
}

TEST_F(FaultInjectionEnvTest, PowerLossWhileAThreadWritesIntoAMappingIsSafe) {
  // The plug pulled under a running writer: no byte is copied into the
  // writer's mapping (TSan checks), and what it had synced before survives.
  std::unique_ptr<MappedFile> file = NewMapped("/db/seg", 1 << 16);
  ASSERT_NE(file, nullptr);
  ASSERT_TRUE(env_->SyncDir("/db").ok());
  std::memcpy(file->data(), "SYNCED", 6);
  ASSERT_TRUE(file->Sync(0, 6).ok());
  std::atomic<bool> stop{false};
  std::thread writer([&] {
    for (uint64_t i = 0; !stop.load(std::memory_order_relaxed); ++i) {
      const uint64_t at = 64 + (i * 64) % ((1 << 16) - 128);
      std::memset(file->data() + at, 'w', 64);
      EXPECT_TRUE(file->Sync(at, 64).ok());
    }
  });
  for (int i = 0; i < 50; ++i) env_->SimulatePowerLoss();
  stop = true;
  writer.join();
  env_->SimulatePowerLoss();
  const std::string contents = env_->Contents("/db/seg");
  ASSERT_EQ(contents.size(), size_t{1} << 16);
  EXPECT_EQ(contents.substr(0, 6), "SYNCED");
}

TEST_F(FaultInjectionEnvTest, PowerLossDropsWhatAWritableFileDidNotSync) {
  absl::StatusOr<std::unique_ptr<WritableFile>> file = env_->NewWritableFile("/db/checkpoint");
  ASSERT_TRUE(file.ok()) << file.status();
  ASSERT_TRUE(env_->SyncDir("/db").ok());
  ASSERT_TRUE((*file)->Append("synced;").ok());
  ASSERT_TRUE((*file)->Sync().ok());
  ASSERT_TRUE((*file)->Append("not synced").ok());
  EXPECT_EQ(env_->Contents("/db/checkpoint"), "synced;not synced");
  env_->SimulatePowerLoss();
  EXPECT_EQ(env_->Contents("/db/checkpoint"), "synced;");
}

TEST_F(FaultInjectionEnvTest, PowerLossUndoesAnUnsyncedTruncation) {
  MakeDurable("/db/c", "old");
  absl::StatusOr<std::unique_ptr<WritableFile>> file = env_->NewWritableFile("/db/c");
  ASSERT_TRUE(file.ok()) << file.status();
  ASSERT_TRUE((*file)->Append("new").ok());
  env_->SimulatePowerLoss();
  EXPECT_EQ(env_->Contents("/db/c"), "old");

  file = env_->NewWritableFile("/db/c");
  ASSERT_TRUE(file.ok()) << file.status();
  ASSERT_TRUE((*file)->Append("new").ok());
  ASSERT_TRUE((*file)->Sync().ok());
  env_->SimulatePowerLoss();
  EXPECT_EQ(env_->Contents("/db/c"), "new");
}

TEST_F(FaultInjectionEnvTest, PowerLossUndoesAnUnsyncedCreate) {
  // Synced bytes do not save a file whose entry is not durable.
  absl::StatusOr<std::unique_ptr<WritableFile>> file = env_->NewWritableFile("/db/new");
  ASSERT_TRUE(file.ok()) << file.status();
  ASSERT_TRUE((*file)->Append("bytes").ok());
  ASSERT_TRUE((*file)->Sync().ok());
  std::unique_ptr<MappedFile> mapped = NewMapped("/db/seg", 4096);
  ASSERT_NE(mapped, nullptr);
  ASSERT_TRUE(mapped->Sync(0, 4096).ok());
  env_->SimulatePowerLoss();
  EXPECT_FALSE(env_->Exists("/db/new"));
  EXPECT_FALSE(env_->Exists("/db/seg"));
  absl::StatusOr<std::vector<std::string>> names = env_->ListDir("/db");
  ASSERT_TRUE(names.ok());
  EXPECT_TRUE(names->empty());
}

TEST_F(FaultInjectionEnvTest, SyncDirKeepsACreate) {
  std::unique_ptr<MappedFile> mapped = NewMapped("/db/seg", 4096);
  ASSERT_NE(mapped, nullptr);
  ASSERT_TRUE(env_->SyncDir("/db").ok());
  mapped->data()[0] = 'x';  // Not synced.
  env_->SimulatePowerLoss();
  ASSERT_TRUE(env_->Exists("/db/seg"));
  // The allocation went with the entry: the size and zeros survive.
  EXPECT_EQ(env_->Contents("/db/seg"), std::string(4096, '\0'));
}

TEST_F(FaultInjectionEnvTest, PowerLossUndoesAnUnsyncedRename) {
  MakeDurable("/db/tmp", "checkpoint");
  ASSERT_TRUE(env_->RenameFile("/db/tmp", "/db/final").ok());
  env_->SimulatePowerLoss();
  EXPECT_TRUE(env_->Exists("/db/tmp"));
  EXPECT_FALSE(env_->Exists("/db/final"));
  EXPECT_EQ(env_->Contents("/db/tmp"), "checkpoint");

  ASSERT_TRUE(env_->RenameFile("/db/tmp", "/db/final").ok());
  ASSERT_TRUE(env_->SyncDir("/db").ok());
  env_->SimulatePowerLoss();
  EXPECT_FALSE(env_->Exists("/db/tmp"));
  EXPECT_EQ(env_->Contents("/db/final"), "checkpoint");
}

TEST_F(FaultInjectionEnvTest, PowerLossBringsBackAFileAnUnsyncedRenameReplaced) {
  MakeDurable("/db/CURRENT", "old");
  MakeDurable("/db/CURRENT.tmp", "new");
  ASSERT_TRUE(env_->RenameFile("/db/CURRENT.tmp", "/db/CURRENT").ok());
  EXPECT_EQ(env_->Contents("/db/CURRENT"), "new");
  env_->SimulatePowerLoss();
  EXPECT_EQ(env_->Contents("/db/CURRENT"), "old");
  EXPECT_EQ(env_->Contents("/db/CURRENT.tmp"), "new");
}

TEST_F(FaultInjectionEnvTest, PowerLossBringsBackAnUnsyncedRemove) {
  MakeDurable("/db/old", "durable");
  {
    absl::StatusOr<std::unique_ptr<MappedFile>> file = env_->OpenMappedFile("/db/old");
    ASSERT_TRUE(file.ok());
    std::memcpy((*file)->data(), "DURA", 4);  // Not synced: lost too.
  }
  ASSERT_TRUE(env_->RemoveFile("/db/old").ok());
  EXPECT_FALSE(env_->Exists("/db/old"));
  env_->SimulatePowerLoss();
  ASSERT_TRUE(env_->Exists("/db/old"));
  EXPECT_EQ(env_->Contents("/db/old"), "durable");

  ASSERT_TRUE(env_->RemoveFile("/db/old").ok());
  ASSERT_TRUE(env_->SyncDir("/db").ok());
  env_->SimulatePowerLoss();
  EXPECT_FALSE(env_->Exists("/db/old"));
}

TEST_F(FaultInjectionEnvTest, PowerLossUndoesAnUnsyncedDirectory) {
  ASSERT_TRUE(env_->CreateDir("/db/sub").ok());
  MakeDurable("/db/sub/f", "x");  // Syncs /db, which makes "sub" durable.
  ASSERT_TRUE(env_->CreateDir("/db/sub/deeper").ok());
  absl::StatusOr<std::unique_ptr<WritableFile>> file = env_->NewWritableFile("/db/sub/deeper/g");
  ASSERT_TRUE(file.ok());
  ASSERT_TRUE(env_->SyncDir("/db/sub/deeper").ok());
  // "deeper" itself is not durable in /db/sub, and "f" is not durable either.
  env_->SimulatePowerLoss();
  EXPECT_TRUE(env_->Exists("/db/sub"));
  EXPECT_FALSE(env_->Exists("/db/sub/deeper"));
  EXPECT_FALSE(env_->Exists("/db/sub/deeper/g"));
  EXPECT_FALSE(env_->Exists("/db/sub/f"));
  EXPECT_EQ(env_->ListDir("/db/sub/deeper").status().code(), absl::StatusCode::kNotFound);
}

TEST_F(FaultInjectionEnvTest, LocksSurviveAPowerLossUntilReleased) {
  absl::StatusOr<std::unique_ptr<FileLock>> lock = env_->LockDir("/db");
  ASSERT_TRUE(lock.ok());
  env_->SimulatePowerLoss();
  EXPECT_EQ(env_->LockDir("/db").status().code(), absl::StatusCode::kFailedPrecondition);
  lock->reset();
  EXPECT_TRUE(env_->LockDir("/db").ok());
}

// --- injected failures ------------------------------------------------------

TEST_F(FaultInjectionEnvTest, FailedNewMappedFileCreatesNothing) {
  env_->FailOnce(Op::kNewMappedFile, 1, absl::StatusCode::kResourceExhausted);
  absl::StatusOr<std::unique_ptr<MappedFile>> file = env_->NewMappedFile("/db/seg", 4096);
  EXPECT_EQ(file.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(file.status().message(), HasSubstr("/db/seg"));
  EXPECT_THAT(file.status().message(), HasSubstr("injected failure"));
  EXPECT_FALSE(env_->Exists("/db/seg"));
  EXPECT_TRUE(env_->NewMappedFile("/db/seg", 4096).ok());
  EXPECT_EQ(env_->Count(Op::kNewMappedFile), 2);
}

TEST_F(FaultInjectionEnvTest, FailedMappedSyncLeavesTheRangeNotDurable) {
  std::unique_ptr<MappedFile> file = NewMapped("/db/seg", 4096);
  ASSERT_NE(file, nullptr);
  ASSERT_TRUE(env_->SyncDir("/db").ok());
  std::memcpy(file->data(), "rec", 3);
  env_->FailOnce(Op::kMappedSync, 1, absl::StatusCode::kInternal);
  EXPECT_EQ(file->Sync(0, 3).code(), absl::StatusCode::kInternal);
  env_->SimulatePowerLoss();
  EXPECT_EQ(env_->Contents("/db/seg"), std::string(4096, '\0'));

  // Retried after the reboot, on a new mapping, it sticks.
  absl::StatusOr<std::unique_ptr<MappedFile>> reopened = env_->OpenMappedFile("/db/seg");
  ASSERT_TRUE(reopened.ok()) << reopened.status();
  file = std::move(*reopened);
  std::memcpy(file->data(), "rec", 3);
  ASSERT_TRUE(file->Sync(0, 3).ok());
  env_->SimulatePowerLoss();
  EXPECT_EQ(env_->Contents("/db/seg").substr(0, 3), "rec");
}

TEST_F(FaultInjectionEnvTest, FailedNewWritableFileNeitherCreatesNorTruncates) {
  MakeDurable("/db/c", "kept");
  env_->FailAfter(Op::kNewWritable, 1, absl::StatusCode::kInternal);
  EXPECT_EQ(env_->NewWritableFile("/db/c").status().code(), absl::StatusCode::kInternal);
  EXPECT_EQ(env_->NewWritableFile("/db/d").status().code(), absl::StatusCode::kInternal);
  EXPECT_EQ(env_->Contents("/db/c"), "kept");
  EXPECT_FALSE(env_->Exists("/db/d"));
  env_->ClearFailures();
  EXPECT_TRUE(env_->NewWritableFile("/db/d").ok());
}

TEST_F(FaultInjectionEnvTest, FailedAppendAppendsNothing) {
  absl::StatusOr<std::unique_ptr<WritableFile>> file = env_->NewWritableFile("/db/c");
  ASSERT_TRUE(file.ok());
  ASSERT_TRUE((*file)->Append("one;").ok());
  env_->FailOnce(Op::kAppend, 1, absl::StatusCode::kResourceExhausted);
  EXPECT_EQ((*file)->Append("two;").code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(env_->Contents("/db/c"), "one;");
  ASSERT_TRUE((*file)->Append("three;").ok());
  EXPECT_EQ(env_->Contents("/db/c"), "one;three;");
}

TEST_F(FaultInjectionEnvTest, FailedWritableSyncMakesNothingDurable) {
  absl::StatusOr<std::unique_ptr<WritableFile>> file = env_->NewWritableFile("/db/c");
  ASSERT_TRUE(file.ok());
  ASSERT_TRUE(env_->SyncDir("/db").ok());
  ASSERT_TRUE((*file)->Append("data").ok());
  env_->FailOnce(Op::kWritableSync, 1, absl::StatusCode::kInternal);
  EXPECT_EQ((*file)->Sync().code(), absl::StatusCode::kInternal);
  env_->SimulatePowerLoss();
  EXPECT_EQ(env_->Contents("/db/c"), "");
}

TEST_F(FaultInjectionEnvTest, FailedRenameAndRemoveChangeNothing) {
  MakeDurable("/db/a", "a");
  env_->FailOnce(Op::kRename, 1, absl::StatusCode::kInternal);
  EXPECT_EQ(env_->RenameFile("/db/a", "/db/b").code(), absl::StatusCode::kInternal);
  EXPECT_TRUE(env_->Exists("/db/a"));
  EXPECT_FALSE(env_->Exists("/db/b"));
  env_->FailOnce(Op::kRemove, 1, absl::StatusCode::kInternal);
  EXPECT_EQ(env_->RemoveFile("/db/a").code(), absl::StatusCode::kInternal);
  EXPECT_EQ(env_->Contents("/db/a"), "a");
}

TEST_F(FaultInjectionEnvTest, FailedSyncDirLeavesEntriesNotDurable) {
  ASSERT_TRUE(env_->NewWritableFile("/db/c").ok());
  env_->FailOnce(Op::kSyncDir, 1, absl::StatusCode::kInternal);
  EXPECT_EQ(env_->SyncDir("/db").code(), absl::StatusCode::kInternal);
  env_->SimulatePowerLoss();
  EXPECT_FALSE(env_->Exists("/db/c"));
}

TEST_F(FaultInjectionEnvTest, FailedReadFails) {
  MakeDurable("/db/a", "a");
  env_->FailOnce(Op::kRead, 1, absl::StatusCode::kInternal);
  EXPECT_EQ(env_->ReadFile("/db/a").status().code(), absl::StatusCode::kInternal);
  absl::StatusOr<std::string> again = env_->ReadFile("/db/a");
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(*again, "a");
}

TEST_F(FaultInjectionEnvTest, FailOnceFailsOnlyTheNthCall) {
  MakeDurable("/db/a", "a");
  env_->FailOnce(Op::kRead, 2, absl::StatusCode::kDataLoss);
  EXPECT_TRUE(env_->ReadFile("/db/a").ok());
  EXPECT_EQ(env_->ReadFile("/db/a").status().code(), absl::StatusCode::kDataLoss);
  EXPECT_TRUE(env_->ReadFile("/db/a").ok());
  EXPECT_TRUE(env_->ReadFile("/db/a").ok());
}

TEST_F(FaultInjectionEnvTest, FailAfterFailsTheNthCallAndEveryLaterOne) {
  MakeDurable("/db/a", "a");
  env_->FailAfter(Op::kRead, 2, absl::StatusCode::kInternal);
  EXPECT_TRUE(env_->ReadFile("/db/a").ok());
  EXPECT_EQ(env_->ReadFile("/db/a").status().code(), absl::StatusCode::kInternal);
  EXPECT_EQ(env_->ReadFile("/db/a").status().code(), absl::StatusCode::kInternal);
  EXPECT_EQ(env_->ReadFile("/db/a").status().code(), absl::StatusCode::kInternal);
  // Other operations are not affected.
  EXPECT_TRUE(env_->RenameFile("/db/a", "/db/b").ok());
  env_->ClearFailures();
  EXPECT_TRUE(env_->ReadFile("/db/b").ok());
}

TEST_F(FaultInjectionEnvTest, CountCountsEveryCallFailedOrNot) {
  // SetUp synced "/" once.
  const int64_t syncs_before = env_->Count(Op::kSyncDir);
  EXPECT_EQ(syncs_before, 1);
  for (Op op : {Op::kNewMappedFile, Op::kMappedSync, Op::kNewWritable, Op::kAppend,
                Op::kWritableSync, Op::kRename, Op::kRemove, Op::kRead}) {
    EXPECT_EQ(env_->Count(op), 0);
  }
  MakeDurable("/db/a", "a");
  EXPECT_EQ(env_->Count(Op::kNewWritable), 1);
  EXPECT_EQ(env_->Count(Op::kAppend), 1);
  EXPECT_EQ(env_->Count(Op::kWritableSync), 1);
  EXPECT_EQ(env_->Count(Op::kSyncDir), syncs_before + 1);
  env_->FailAfter(Op::kRead, 1, absl::StatusCode::kInternal);
  EXPECT_FALSE(env_->ReadFile("/db/a").ok());
  EXPECT_FALSE(env_->ReadFile("/db/missing").ok());
  EXPECT_EQ(env_->Count(Op::kRead), 2);
  EXPECT_EQ(env_->Count(Op::kRename), 0);
  EXPECT_EQ(env_->Count(Op::kRemove), 0);
}

// --- Contents, SetContents, paths -------------------------------------------

TEST_F(FaultInjectionEnvTest, SetContentsIsVisibleAndDurableAtOnce) {
  env_->SetContents("/db/planted", "corrupt");
  EXPECT_EQ(env_->Contents("/db/planted"), "corrupt");
  env_->SimulatePowerLoss();
  EXPECT_EQ(env_->Contents("/db/planted"), "corrupt");

  // Same size: an open mapping sees the new bytes.
  std::unique_ptr<MappedFile> file = NewMapped("/db/seg", 4);
  ASSERT_NE(file, nullptr);
  env_->SetContents("/db/seg", "wxyz");
  EXPECT_EQ(std::string(file->data(), 4), "wxyz");
  EXPECT_EQ(env_->Contents("/db/missing"), "");
}

TEST_F(FaultInjectionEnvTest, PathsMustBeAbsolute) {
  EXPECT_EQ(env_->NewWritableFile("db/c").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(env_->CreateDir("relative").code(), absl::StatusCode::kInvalidArgument);
  // Repeated and trailing slashes are ignored.
  ASSERT_TRUE(env_->NewWritableFile("/db//c").ok());
  EXPECT_TRUE(env_->Exists("/db/c"));
  absl::StatusOr<std::vector<std::string>> names = env_->ListDir("/db/");
  ASSERT_TRUE(names.ok());
  EXPECT_THAT(*names, UnorderedElementsAre("c"));
}

TEST_F(FaultInjectionEnvTest, WritersOfDisjointRangesAndSyncsRunAtOnce) {
  constexpr int kThreads = 4;
  constexpr uint64_t kSlice = 1024;
  std::unique_ptr<MappedFile> file = NewMapped("/db/seg", kThreads * kSlice);
  ASSERT_NE(file, nullptr);
  ASSERT_TRUE(env_->SyncDir("/db").ok());
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (uint64_t i = 0; i < kSlice; ++i) {
        file->data()[t * kSlice + i] = static_cast<char>('a' + t);
        if (i % 64 == 63) {
          EXPECT_TRUE(file->Sync(t * kSlice + i - 63, 64).ok());
        }
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  env_->SimulatePowerLoss();
  std::string expected;
  for (int t = 0; t < kThreads; ++t) expected += std::string(kSlice, static_cast<char>('a' + t));
  EXPECT_EQ(env_->Contents("/db/seg"), expected);
}

}  // namespace
}  // namespace userstore
