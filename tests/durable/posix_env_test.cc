// What only the real file system shows: allocation failures of
// NewMappedFile, and directory locks between processes (fork).

#include <filesystem>
#include <memory>
#include <string>
#include <thread>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/tsan_absl_mutex.h"
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "userstore/env.h"

namespace userstore {
namespace {

using ::testing::HasSubstr;
using ::testing::IsEmpty;

// Exit codes of a child that tried LockDir.
constexpr int kChildLocked = 10;
constexpr int kChildRefusedByOtherProcess = 11;
constexpr int kChildOtherError = 12;

class PosixEnvTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = ::testing::TempDir() + "userstore_posix_env_test_XXXXXX";
    ASSERT_NE(mkdtemp(&pattern[0]), nullptr);
    root_ = pattern;
  }
  void TearDown() override {
    std::error_code ignored;
    std::filesystem::remove_all(root_, ignored);
  }

  // Forks a child that calls LockDir(root_), holds what it got for as long as
  // it reads nothing on `hold` (when `hold` >= 0), and exits with a code
  // saying the outcome. Returns the child's exit code.
  int LockInChild() {
    const pid_t pid = fork();
    if (pid == 0) {
      absl::StatusOr<std::unique_ptr<FileLock>> lock = env_->LockDir(root_);
      int code = kChildOtherError;
      if (lock.ok()) {
        code = kChildLocked;
      } else if (lock.status().code() == absl::StatusCode::kFailedPrecondition &&
                 lock.status().message() == "directory " + root_ +
                                                " is in use by another process (lock held on " +
                                                root_ + "/LOCK)") {
        code = kChildRefusedByOtherProcess;
      }
      _exit(code);
    }
    return WaitFor(pid);
  }

  static int WaitFor(pid_t pid) {
    int status = 0;
    if (pid < 0 || waitpid(pid, &status, 0) != pid || !WIFEXITED(status)) return -1;
    return WEXITSTATUS(status);
  }

  Env* env_ = Env::Default();
  std::string root_;
};

TEST_F(PosixEnvTest, NewMappedFileBeyondTheFileSystemIsResourceExhausted) {
  // posix_fallocate reports EFBIG (beyond the largest file) or ENOSPC.
  const std::string path = root_ + "/huge";
  absl::StatusOr<std::unique_ptr<MappedFile>> file = env_->NewMappedFile(path, uint64_t{1} << 60);
  ASSERT_FALSE(file.ok());
  EXPECT_EQ(file.status().code(), absl::StatusCode::kResourceExhausted) << file.status();
  EXPECT_THAT(file.status().message(), HasSubstr("NewMappedFile " + path));
  EXPECT_THAT(file.status().message(), HasSubstr("allocate"));
  EXPECT_FALSE(env_->Exists(path));
  absl::StatusOr<std::vector<std::string>> names = env_->ListDir(root_);
  ASSERT_TRUE(names.ok()) << names.status();
  EXPECT_THAT(*names, IsEmpty());
  // The name is free again.
  EXPECT_TRUE(env_->NewMappedFile(path, 4096).ok());
}

TEST_F(PosixEnvTest, PrefaultChangesNoByteWhileAnotherThreadWrites) {
  const std::string path = root_ + "/segment";
  constexpr uint64_t kSize = 1 << 20;
  absl::StatusOr<std::unique_ptr<MappedFile>> file = env_->NewMappedFile(path, kSize);
  ASSERT_TRUE(file.ok()) << file.status();
  char* data = (*file)->data();
  for (uint64_t i = 0; i < kSize / 2; ++i) data[i] = static_cast<char>(i * 7);
  // A writer fills the second half while the whole file is prefaulted.
  std::thread writer([&] {
    for (uint64_t i = kSize / 2; i < kSize; ++i) data[i] = static_cast<char>(i * 13);
  });
  (*file)->Prefault(kSize / 2, kSize / 2);
  (*file)->Prefault(0, kSize);
  (*file)->Prefault(kSize - 1, 1000);  // past the end: clipped
  (*file)->Prefault(kSize, 10);        // at the end: nothing
  writer.join();
  for (uint64_t i = 0; i < kSize / 2; ++i) ASSERT_EQ(data[i], static_cast<char>(i * 7)) << i;
  for (uint64_t i = kSize / 2; i < kSize; ++i) ASSERT_EQ(data[i], static_cast<char>(i * 13)) << i;
  ASSERT_TRUE((*file)->Sync(0, kSize).ok());
  file->reset();
  absl::StatusOr<std::string> bytes = env_->ReadFile(path);
  ASSERT_TRUE(bytes.ok()) << bytes.status();
  ASSERT_EQ(bytes->size(), kSize);
  EXPECT_EQ((*bytes)[12345], static_cast<char>(12345 * 7));
  EXPECT_EQ((*bytes)[kSize - 1], static_cast<char>((kSize - 1) * 13));
}

TEST_F(PosixEnvTest, SyncTakesRangesAtAnyOffsetAndRefusesRangesOutsideTheFile) {
  const std::string path = root_ + "/segment";
  constexpr uint64_t kSize = 64 << 10;
  absl::StatusOr<std::unique_ptr<MappedFile>> file = env_->NewMappedFile(path, kSize);
  ASSERT_TRUE(file.ok()) << file.status();
  char* data = (*file)->data();
  // Records synced one by one as kSyncEachWrite does: ranges that start and
  // end inside pages, and one that crosses a page boundary.
  const uint64_t ranges[][2] = {{0, 300}, {300, 300}, {4000, 200}, {kSize - 7, 7}};
  for (const auto& range : ranges) {
    for (uint64_t i = range[0]; i < range[0] + range[1]; ++i)
      data[i] = static_cast<char>('a' + i % 26);
    ASSERT_TRUE((*file)->Sync(range[0], range[1]).ok()) << range[0];
  }
  EXPECT_TRUE((*file)->Sync(kSize, 0).ok());
  for (const auto& bad : {std::pair<uint64_t, uint64_t>{kSize + 1, 0},
                          {kSize - 7, 8},
                          {0, kSize + 1},
                          {UINT64_MAX, 1}}) {
    absl::Status refused = (*file)->Sync(bad.first, bad.second);
    EXPECT_EQ(refused.code(), absl::StatusCode::kOutOfRange) << bad.first << " +" << bad.second;
    EXPECT_THAT(refused.message(), HasSubstr("Sync " + path));
  }
  file->reset();
  absl::StatusOr<std::string> bytes = env_->ReadFile(path);
  ASSERT_TRUE(bytes.ok()) << bytes.status();
  ASSERT_EQ(bytes->size(), kSize);
  for (const auto& range : ranges) {
    for (uint64_t i = range[0]; i < range[0] + range[1]; ++i) {
      ASSERT_EQ((*bytes)[i], static_cast<char>('a' + i % 26)) << i;
    }
  }
  EXPECT_EQ((*bytes)[1000], '\0');  // never written: the preallocated zeros
}

TEST_F(PosixEnvTest, ErrorsNameTheOperationPathAndReason) {
  absl::Status status = env_->RemoveFile(root_ + "/missing");
  EXPECT_EQ(status.code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(status.message(), HasSubstr("RemoveFile " + root_ + "/missing"));
  EXPECT_THAT(status.message(), HasSubstr("No such file or directory"));
}

TEST_F(PosixEnvTest, AnotherProcessIsRefusedWhileTheLockIsHeld) {
  absl::StatusOr<std::unique_ptr<FileLock>> lock = env_->LockDir(root_);
  ASSERT_TRUE(lock.ok()) << lock.status();
  EXPECT_EQ(LockInChild(), kChildRefusedByOtherProcess);
  lock->reset();
  EXPECT_EQ(LockInChild(), kChildLocked);
}

TEST_F(PosixEnvTest, ARefusedSecondLockInTheProcessKeepsTheFirst) {
  absl::StatusOr<std::unique_ptr<FileLock>> lock = env_->LockDir(root_);
  ASSERT_TRUE(lock.ok()) << lock.status();
  // The refusal must not open and close the LOCK file: that would drop the
  // process's fcntl lock.
  EXPECT_EQ(env_->LockDir(root_).status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(env_->LockDir(root_ + "/").status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(LockInChild(), kChildRefusedByOtherProcess);
}

TEST_F(PosixEnvTest, TheParentIsRefusedWhileAChildHoldsTheLock) {
  int locked[2];
  int release[2];
  ASSERT_EQ(pipe(locked), 0);
  ASSERT_EQ(pipe(release), 0);
  const pid_t pid = fork();
  if (pid == 0) {
    absl::StatusOr<std::unique_ptr<FileLock>> lock = env_->LockDir(root_);
    const char outcome = lock.ok() ? 'y' : 'n';
    if (write(locked[1], &outcome, 1) != 1) _exit(kChildOtherError);
    char byte;
    while (read(release[0], &byte, 1) < 0) {
    }
    _exit(lock.ok() ? kChildLocked : kChildOtherError);
  }
  ASSERT_GT(pid, 0);
  close(locked[1]);
  close(release[0]);
  char outcome = 0;
  ASSERT_EQ(read(locked[0], &outcome, 1), 1);
  EXPECT_EQ(outcome, 'y');

  absl::StatusOr<std::unique_ptr<FileLock>> refused = env_->LockDir(root_);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(refused.status().message(), HasSubstr("is in use by another process"));

  ASSERT_EQ(write(release[1], "x", 1), 1);
  EXPECT_EQ(WaitFor(pid), kChildLocked);
  close(locked[0]);
  close(release[1]);
  // The child's end released its lock.
  EXPECT_TRUE(env_->LockDir(root_).ok());
}

TEST_F(PosixEnvTest, AForkedChildDoesNotInheritTheLock) {
  absl::StatusOr<std::unique_ptr<FileLock>> lock = env_->LockDir(root_);
  ASSERT_TRUE(lock.ok()) << lock.status();
  int release[2];
  ASSERT_EQ(pipe(release), 0);
  // The child lives on (holding copies of the parent's descriptors) until the
  // parent is done.
  const pid_t pid = fork();
  if (pid == 0) {
    close(release[1]);
    char byte;
    while (read(release[0], &byte, 1) < 0) {
    }
    _exit(0);
  }
  ASSERT_GT(pid, 0);
  close(release[0]);
  // Had the child inherited the lock, the parent could not take it back.
  lock->reset();
  absl::StatusOr<std::unique_ptr<FileLock>> again = env_->LockDir(root_);
  EXPECT_TRUE(again.ok()) << again.status();
  close(release[1]);
  EXPECT_EQ(WaitFor(pid), 0);
}

TEST_F(PosixEnvTest, DefaultIsOneEnvForTheProcess) {
  EXPECT_EQ(Env::Default(), Env::Default());
  EXPECT_TRUE(Env::Default()->SupportsForkedWriters());
}

}  // namespace
}  // namespace userstore
