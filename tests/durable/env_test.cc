// The `Env` contract (env.h), run against both Envs: the POSIX one, in a
// fresh temporary directory per test, and the simulated one of
// fault_injection_env.h. What one does, the other must do too.

#include "userstore/env.h"

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/tsan_absl_mutex.h"
#include <stdlib.h>

#include "userstore/fault_injection_env.h"

namespace userstore {
namespace {

using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::UnorderedElementsAre;

enum class EnvKind { kPosix, kFaultInjection };

std::string KindName(const ::testing::TestParamInfo<EnvKind>& info) {
  return info.param == EnvKind::kPosix ? "Posix" : "FaultInjection";
}

class EnvTest : public ::testing::TestWithParam<EnvKind> {
 protected:
  void SetUp() override {
    if (GetParam() == EnvKind::kPosix) {
      env_ = Env::Default();
      std::string pattern = ::testing::TempDir() + "userstore_env_test_XXXXXX";
      ASSERT_NE(mkdtemp(&pattern[0]), nullptr);
      root_ = pattern;
    } else {
      fault_env_ = NewFaultInjectionEnv();
      env_ = fault_env_.get();
      root_ = "/db";
      ASSERT_TRUE(env_->CreateDir(root_).ok());
    }
  }

  void TearDown() override {
    if (GetParam() == EnvKind::kPosix && !root_.empty()) {
      std::error_code ignored;
      std::filesystem::remove_all(root_, ignored);
    }
  }

  std::string Path(const std::string& name) const { return root_ + "/" + name; }

  // Writes `contents` to a new file `name` through a WritableFile.
  void Write(const std::string& name, const std::string& contents) {
    absl::StatusOr<std::unique_ptr<WritableFile>> file = env_->NewWritableFile(Path(name));
    ASSERT_TRUE(file.ok()) << file.status();
    ASSERT_TRUE((*file)->Append(contents).ok());
    ASSERT_TRUE((*file)->Close().ok());
  }

  std::string Read(const std::string& name) {
    absl::StatusOr<std::string> contents = env_->ReadFile(Path(name));
    EXPECT_TRUE(contents.ok()) << contents.status();
    return contents.ok() ? *contents : std::string();
  }

  std::vector<std::string> List() {
    absl::StatusOr<std::vector<std::string>> names = env_->ListDir(root_);
    EXPECT_TRUE(names.ok()) << names.status();
    return names.ok() ? *names : std::vector<std::string>();
  }

  Env* env_ = nullptr;
  std::unique_ptr<FaultInjectionEnv> fault_env_;
  std::string root_;
};

TEST_P(EnvTest, CreateListReadRenameRemove) {
  EXPECT_THAT(List(), IsEmpty());
  Write("a", "hello");
  EXPECT_THAT(List(), UnorderedElementsAre("a"));
  EXPECT_TRUE(env_->Exists(Path("a")));
  EXPECT_EQ(Read("a"), "hello");
  absl::StatusOr<uint64_t> size = env_->FileSize(Path("a"));
  ASSERT_TRUE(size.ok()) << size.status();
  EXPECT_EQ(*size, 5u);

  ASSERT_TRUE(env_->RenameFile(Path("a"), Path("b")).ok());
  EXPECT_FALSE(env_->Exists(Path("a")));
  EXPECT_TRUE(env_->Exists(Path("b")));
  EXPECT_EQ(Read("b"), "hello");
  EXPECT_THAT(List(), UnorderedElementsAre("b"));

  ASSERT_TRUE(env_->RemoveFile(Path("b")).ok());
  EXPECT_FALSE(env_->Exists(Path("b")));
  EXPECT_THAT(List(), IsEmpty());
  EXPECT_TRUE(env_->SyncDir(root_).ok());
}

TEST_P(EnvTest, RenameReplacesTheTarget) {
  Write("old", "old contents");
  Write("new", "new contents");
  ASSERT_TRUE(env_->RenameFile(Path("new"), Path("old")).ok());
  EXPECT_EQ(Read("old"), "new contents");
  EXPECT_THAT(List(), UnorderedElementsAre("old"));
}

TEST_P(EnvTest, MappedFileIsZeroFilledAndItsWritesAreVisible) {
  constexpr uint64_t kSize = 3 * 4096;
  absl::StatusOr<std::unique_ptr<MappedFile>> file = env_->NewMappedFile(Path("j"), kSize);
  ASSERT_TRUE(file.ok()) << file.status();
  MappedFile& mapped = **file;
  EXPECT_EQ(mapped.path(), Path("j"));
  ASSERT_EQ(mapped.size(), kSize);
  ASSERT_NE(mapped.data(), nullptr);
  EXPECT_TRUE(std::all_of(mapped.data(), mapped.data() + kSize, [](char c) { return c == 0; }));
  absl::StatusOr<uint64_t> size = env_->FileSize(Path("j"));
  ASSERT_TRUE(size.ok()) << size.status();
  EXPECT_EQ(*size, kSize);

  std::memcpy(mapped.data() + 4100, "record", 6);
  std::string expected(kSize, '\0');
  expected.replace(4100, 6, "record");
  EXPECT_EQ(Read("j"), expected);

  EXPECT_TRUE(mapped.Sync(4100, 6).ok());
  EXPECT_TRUE(mapped.Sync(0, kSize).ok());
  EXPECT_TRUE(mapped.Sync(kSize, 0).ok());
  EXPECT_EQ(mapped.Sync(kSize - 10, 11).code(), absl::StatusCode::kOutOfRange);
  EXPECT_EQ(mapped.Sync(kSize + 1, 0).code(), absl::StatusCode::kOutOfRange);
  EXPECT_EQ(Read("j"), expected);
}

TEST_P(EnvTest, NewMappedFileRefusesAnExistingFile) {
  Write("j", "keep me");
  absl::StatusOr<std::unique_ptr<MappedFile>> file = env_->NewMappedFile(Path("j"), 4096);
  EXPECT_FALSE(file.ok());
  EXPECT_THAT(file.status().message(), HasSubstr(Path("j")));
  EXPECT_EQ(Read("j"), "keep me");
}

TEST_P(EnvTest, NewMappedFileTooLargeLeavesNoFile) {
  absl::StatusOr<std::unique_ptr<MappedFile>> file =
      env_->NewMappedFile(Path("huge"), uint64_t{1} << 60);
  ASSERT_FALSE(file.ok());
  EXPECT_EQ(file.status().code(), absl::StatusCode::kResourceExhausted) << file.status();
  EXPECT_THAT(file.status().message(), HasSubstr(Path("huge")));
  EXPECT_FALSE(env_->Exists(Path("huge")));
  EXPECT_THAT(List(), IsEmpty());
}

TEST_P(EnvTest, OpenMappedFileMapsTheFileAtItsSize) {
  Write("seg", "0123456789");
  absl::StatusOr<std::unique_ptr<MappedFile>> first = env_->OpenMappedFile(Path("seg"));
  ASSERT_TRUE(first.ok()) << first.status();
  ASSERT_EQ((*first)->size(), 10u);
  EXPECT_EQ(std::string((*first)->data(), 10), "0123456789");

  // A second mapping of the same file shares its bytes.
  absl::StatusOr<std::unique_ptr<MappedFile>> second = env_->OpenMappedFile(Path("seg"));
  ASSERT_TRUE(second.ok()) << second.status();
  (*first)->data()[3] = 'x';
  EXPECT_EQ((*second)->data()[3], 'x');
  EXPECT_TRUE((*first)->Sync(3, 1).ok());
  EXPECT_EQ(Read("seg"), "012x456789");
}

TEST_P(EnvTest, EmptyMappedFileHasNoMapping) {
  absl::StatusOr<std::unique_ptr<MappedFile>> made = env_->NewMappedFile(Path("e"), 0);
  ASSERT_TRUE(made.ok()) << made.status();
  EXPECT_EQ((*made)->size(), 0u);
  EXPECT_EQ((*made)->data(), nullptr);
  EXPECT_TRUE((*made)->Sync(0, 0).ok());
  absl::StatusOr<std::unique_ptr<MappedFile>> opened = env_->OpenMappedFile(Path("e"));
  ASSERT_TRUE(opened.ok()) << opened.status();
  EXPECT_EQ((*opened)->size(), 0u);
  EXPECT_EQ(Read("e"), "");
}

TEST_P(EnvTest, WritableFileAppendsSyncsAndCloses) {
  absl::StatusOr<std::unique_ptr<WritableFile>> file = env_->NewWritableFile(Path("c"));
  ASSERT_TRUE(file.ok()) << file.status();
  std::string expected;
  // Small pieces (buffered), one larger than any buffer, and more small ones.
  for (int i = 0; i < 1000; ++i) {
    std::string piece = "piece " + std::to_string(i) + ";";
    ASSERT_TRUE((*file)->Append(piece).ok());
    expected += piece;
  }
  std::string big(200 * 1024, 'b');
  big[12345] = 'B';
  ASSERT_TRUE((*file)->Append(big).ok());
  expected += big;
  ASSERT_TRUE((*file)->Sync().ok());
  EXPECT_EQ(Read("c"), expected);
  ASSERT_TRUE((*file)->Append("tail").ok());
  expected += "tail";
  ASSERT_TRUE((*file)->Close().ok());
  EXPECT_EQ(Read("c"), expected);

  EXPECT_EQ((*file)->Append("more").code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ((*file)->Sync().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ((*file)->Close().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(Read("c"), expected);
}

TEST_P(EnvTest, WritableFileDestructorWritesWhatIsBuffered) {
  {
    absl::StatusOr<std::unique_ptr<WritableFile>> file = env_->NewWritableFile(Path("c"));
    ASSERT_TRUE(file.ok()) << file.status();
    ASSERT_TRUE((*file)->Append("unclosed").ok());
  }
  EXPECT_EQ(Read("c"), "unclosed");
}

TEST_P(EnvTest, NewWritableFileTruncatesAnExistingFile) {
  Write("c", "a long first version");
  Write("c", "short");
  EXPECT_EQ(Read("c"), "short");
}

TEST_P(EnvTest, CreateDirIsIdempotent) {
  const std::string sub = Path("sub");
  ASSERT_TRUE(env_->CreateDir(sub).ok());
  ASSERT_TRUE(env_->CreateDir(sub).ok());
  EXPECT_TRUE(env_->Exists(sub));
  EXPECT_THAT(List(), UnorderedElementsAre("sub"));
  absl::StatusOr<std::vector<std::string>> inside = env_->ListDir(sub);
  ASSERT_TRUE(inside.ok()) << inside.status();
  EXPECT_THAT(*inside, IsEmpty());
  ASSERT_TRUE(env_->NewWritableFile(sub + "/f").ok());
  EXPECT_TRUE(env_->Exists(sub + "/f"));
  EXPECT_TRUE(env_->SyncDir(sub).ok());

  Write("file", "x");
  absl::Status on_file = env_->CreateDir(Path("file"));
  EXPECT_FALSE(on_file.ok());
  EXPECT_THAT(on_file.message(), HasSubstr(Path("file")));
  EXPECT_EQ(env_->CreateDir(Path("missing/sub")).code(), absl::StatusCode::kNotFound);
}

TEST_P(EnvTest, MissingFilesAreNotFound) {
  const std::string missing = Path("missing");
  auto expect_not_found = [&](const absl::Status& status) {
    EXPECT_EQ(status.code(), absl::StatusCode::kNotFound) << status;
    EXPECT_THAT(status.message(), HasSubstr(missing));
  };
  EXPECT_FALSE(env_->Exists(missing));
  expect_not_found(env_->ReadFile(missing).status());
  expect_not_found(env_->FileSize(missing).status());
  expect_not_found(env_->ListDir(missing).status());
  expect_not_found(env_->OpenMappedFile(missing).status());
  expect_not_found(env_->RenameFile(missing, Path("other")));
  expect_not_found(env_->RemoveFile(missing));
  expect_not_found(env_->SyncDir(missing));
  expect_not_found(env_->NewWritableFile(missing + "/f").status());
  expect_not_found(env_->NewMappedFile(missing + "/f", 4096).status());
  expect_not_found(env_->LockDir(missing).status());
  EXPECT_FALSE(env_->Exists(Path("other")));
}

TEST_P(EnvTest, AFileWhereADirectoryIsExpectedIsInternal) {
  Write("file", "x");
  ASSERT_TRUE(env_->CreateDir(Path("dir")).ok());
  auto expect_internal = [](const absl::Status& status) {
    EXPECT_EQ(status.code(), absl::StatusCode::kInternal) << status;
  };
  expect_internal(env_->ListDir(Path("file")).status());
  expect_internal(env_->SyncDir(Path("file")));
  expect_internal(env_->NewWritableFile(Path("file/f")).status());
  expect_internal(env_->NewMappedFile(Path("file/f"), 4096).status());
  expect_internal(env_->LockDir(Path("file")).status());
  expect_internal(env_->ReadFile(Path("dir")).status());
  expect_internal(env_->OpenMappedFile(Path("dir")).status());
  expect_internal(env_->RemoveFile(Path("dir")));
  expect_internal(env_->NewWritableFile(Path("dir")).status());
  EXPECT_TRUE(env_->Exists(Path("dir")));
  EXPECT_EQ(Read("file"), "x");
}

TEST_P(EnvTest, LockDirTwiceIsRefusedUntilReleased) {
  absl::StatusOr<std::unique_ptr<FileLock>> first = env_->LockDir(root_);
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_TRUE(env_->Exists(Path("LOCK")));

  absl::StatusOr<std::unique_ptr<FileLock>> second = env_->LockDir(root_);
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(second.status().message(), "directory " + root_ + " is already open in this process");

  // Another directory is another lock.
  ASSERT_TRUE(env_->CreateDir(Path("other")).ok());
  absl::StatusOr<std::unique_ptr<FileLock>> other = env_->LockDir(Path("other"));
  ASSERT_TRUE(other.ok()) << other.status();

  first->reset();
  absl::StatusOr<std::unique_ptr<FileLock>> third = env_->LockDir(root_);
  ASSERT_TRUE(third.ok()) << third.status();
  EXPECT_EQ(env_->LockDir(root_).status().code(), absl::StatusCode::kFailedPrecondition);
}

TEST_P(EnvTest, ConcurrentLockDirHasOneWinner) {
  constexpr int kThreads = 8;
  std::atomic<int> winners{0};
  std::atomic<int> refused{0};
  std::vector<std::unique_ptr<FileLock>> locks(kThreads);
  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; ++i) {
    threads.emplace_back([&, i] {
      absl::StatusOr<std::unique_ptr<FileLock>> lock = env_->LockDir(root_);
      if (lock.ok()) {
        winners.fetch_add(1);
        locks[i] = std::move(*lock);
      } else if (lock.status().code() == absl::StatusCode::kFailedPrecondition) {
        refused.fetch_add(1);
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_EQ(winners.load(), 1);
  EXPECT_EQ(refused.load(), kThreads - 1);
}

TEST_P(EnvTest, SupportsForkedWritersOnlyOnTheRealFileSystem) {
  EXPECT_EQ(env_->SupportsForkedWriters(), GetParam() == EnvKind::kPosix);
}

INSTANTIATE_TEST_SUITE_P(BothEnvs, EnvTest,
                         ::testing::Values(EnvKind::kPosix, EnvKind::kFaultInjection), KindName);

}  // namespace
}  // namespace userstore
