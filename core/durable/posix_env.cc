// `Env::Default()`: the POSIX file system (env.h).
//
// Every system call that can be interrupted is retried on EINTR; reads and
// writes loop over short transfers. Errors become statuses that name the
// operation, the path and strerror(errno): ENOSPC, EDQUOT and EFBIG are
// RESOURCE_EXHAUSTED, ENOENT is NOT_FOUND, anything else INTERNAL.
//
// Directory locks. `LockDir` holds an fcntl (POSIX record) write lock on
// `<dir>/LOCK`. Such a lock belongs to the process, so two opens of one
// directory in the same process would both succeed against it: a registry
// of the process's own locks, keyed by the LOCK file's (st_dev, st_ino),
// refuses the second. Two properties of fcntl locks shape the code: they are
// not inherited by a fork()ed child (which is why they are used rather than
// flock(): the store forks checkpoint writers, which must not keep the
// directory locked), and the process loses its lock when it closes ANY
// descriptor of the file. So `LockDir` never opens the LOCK file of a lock
// the process already holds, and each lock keeps exactly one descriptor.
// Registry entries carry the pid that made them: a forked child inherits a
// copy of the registry but none of the locks, and ignores its parent's
// entries.

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <map>
#include <memory>
#include <new>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include <dirent.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include "userstore/env.h"

namespace userstore {
namespace {

constexpr size_t kWritableBufferSize = 64 * 1024;
constexpr uint64_t kWritebackBytes = uint64_t{8} << 20;

// strerror_r comes in two flavours (XSI returns int, GNU returns char*);
// these overloads accept either.
[[maybe_unused]] const char* StrErrorResult(int result, const char* buffer) {
  return result == 0 ? buffer : "unknown error";
}
[[maybe_unused]] const char* StrErrorResult(const char* result, const char* /*buffer*/) {
  return result;
}

std::string ErrnoText(int error_number) {
  char buffer[256] = {0};
  return absl::StrCat(StrErrorResult(strerror_r(error_number, buffer, sizeof(buffer)), buffer),
                      " (errno ", error_number, ")");
}

// The status of a failed `operation` on `path` with `error_number`.
absl::Status PosixError(absl::string_view operation, absl::string_view path, int error_number,
                        absl::string_view detail = "") {
  std::string message = absl::StrCat(operation, " ", path, ": ", detail, detail.empty() ? "" : ": ",
                                     ErrnoText(error_number));
  switch (error_number) {
    case ENOSPC:
    case EDQUOT:
    case EFBIG:
      return absl::ResourceExhaustedError(message);
    case ENOENT:
      return absl::NotFoundError(message);
    default:
      return absl::InternalError(message);
  }
}

// open(2), retried on EINTR.
int OpenRetrying(const char* path, int flags, mode_t mode = 0644) {
  int fd;
  do {
    fd = ::open(path, flags, mode);
  } while (fd < 0 && errno == EINTR);
  return fd;
}

// fdatasync(2) / fsync(2), retried on EINTR. Returns 0 or an errno value.
int FdatasyncRetrying(int fd) {
  while (::fdatasync(fd) != 0) {
    if (errno != EINTR) return errno;
  }
  return 0;
}
int FsyncRetrying(int fd) {
  while (::fsync(fd) != 0) {
    if (errno != EINTR) return errno;
  }
  return 0;
}

// Writes all of `data` at the file offset of `fd`. Returns 0 or an errno value.
int WriteAll(int fd, const char* data, size_t length) {
  while (length > 0) {
    ssize_t written = ::write(fd, data, length);
    if (written < 0) {
      if (errno == EINTR) continue;
      return errno;
    }
    if (written == 0) return EIO;  // Should not happen for a regular file.
    data += written;
    length -= static_cast<size_t>(written);
  }
  return 0;
}

// ---------------------------------------------------------------------------
// PosixMappedFile

class PosixMappedFile final : public MappedFile {
 public:
  PosixMappedFile(std::string path, int fd, char* base, uint64_t size)
      : path_(std::move(path)), fd_(fd), base_(base), size_(size) {}
  ~PosixMappedFile() override {
    if (base_ != nullptr) ::munmap(base_, size_);
    ::close(fd_);
  }
  PosixMappedFile(const PosixMappedFile&) = delete;
  PosixMappedFile& operator=(const PosixMappedFile&) = delete;

  const std::string& path() const override { return path_; }
  char* data() override { return base_; }
  uint64_t size() const override { return size_; }

  absl::Status Sync(uint64_t offset, uint64_t length) override {
    if (offset > size_ || length > size_ - offset) {
      return absl::OutOfRangeError(absl::StrCat("Sync ", path_, ": range [", offset, ", +", length,
                                                ") is outside the file's ", size_, " bytes"));
    }
    if (length > 0) {
      static const uint64_t page_size = static_cast<uint64_t>(::sysconf(_SC_PAGESIZE));
      const uint64_t begin = offset - offset % page_size;
      const uint64_t end = offset + length;
      while (::msync(base_ + begin, end - begin, MS_SYNC) != 0) {
        if (errno != EINTR) return PosixError("Sync (msync)", path_, errno);
      }
#if defined(__linux__)
      // Linux's msync(MS_SYNC) is fdatasync over the range (it calls
      // vfs_fsync_range with datasync set): it writes the pages, commits the
      // metadata needed to read them back (a preallocated extent's change
      // from unwritten to written), flushes the device's cache, and reports
      // a failed writeback. A second fdatasync would only flush the device's
      // cache again: measured, one sync of a 300-byte record took 236 us
      // alone and 301 us with both.
      return absl::OkStatus();
#endif
    }
    if (int error = FdatasyncRetrying(fd_); error != 0) {
      return PosixError("Sync (fdatasync)", path_, error);
    }
    return absl::OkStatus();
  }

  void PreferLargePages() override {
    if (size_ > 0) (void)::madvise(base_, size_, MADV_HUGEPAGE);
  }

  void Prefault(uint64_t offset, uint64_t length) override {
#ifndef MADV_POPULATE_WRITE
    constexpr int MADV_POPULATE_WRITE = 23;  // <linux/mman.h>, Linux 5.14
#endif
    if (offset >= size_) return;
    length = std::min(length, size_ - offset);
    static const uint64_t page_size = static_cast<uint64_t>(::sysconf(_SC_PAGESIZE));
    const uint64_t begin = offset - offset % page_size;
    // Simulates a write fault on each page without writing: the contents
    // stay as they are. An older kernel answers EINVAL: nothing is done.
    (void)::madvise(base_ + begin, offset + length - begin, MADV_POPULATE_WRITE);
  }

 private:
  const std::string path_;
  const int fd_;
  char* const base_;  // Null when size_ is 0 (an empty file cannot be mapped).
  const uint64_t size_;
};

// Closes a descriptor on every way out, std::bad_alloc included, unless
// released to the object that owns it from then on.
class ScopedFd {
 public:
  explicit ScopedFd(int fd) : fd_(fd) {}
  ~ScopedFd() {
    if (fd_ >= 0) ::close(fd_);
  }
  ScopedFd(const ScopedFd&) = delete;
  ScopedFd& operator=(const ScopedFd&) = delete;
  int get() const { return fd_; }
  int release() {
    const int fd = fd_;
    fd_ = -1;
    return fd;
  }

 private:
  int fd_;
};

// Maps `size` bytes of `fd` (nothing for 0). Null with errno set on failure.
// `populate`: the pages are read in (for a new file: allocated and zeroed in
// the page cache) by mmap itself, so that the first write to each page does
// not pay for that (a journal segment is made ahead of its use, off the
// write path; measured: the zeroing was a sixth of a durable create's time).
char* MapShared(int fd, uint64_t size, bool* ok, bool populate = false) {
  *ok = true;
  if (size == 0) return nullptr;
  void* base = ::mmap(nullptr, size, PROT_READ | PROT_WRITE,
                      MAP_SHARED | (populate ? MAP_POPULATE : 0), fd, 0);
  if (base == MAP_FAILED) {
    *ok = false;
    return nullptr;
  }
  return static_cast<char*>(base);
}

// The file object owning `*fd` (released to it) and the mapping at `base`.
// When it cannot be allocated, unmaps (and removes the file, for one just
// made) before std::bad_alloc goes on; `*fd` still closes the descriptor.
std::unique_ptr<MappedFile> AdoptMapping(const std::string& path, ScopedFd* fd, char* base,
                                         uint64_t size, bool remove_on_failure) {
#if defined(__cpp_exceptions)
  try {
#endif
    std::unique_ptr<MappedFile> file(new PosixMappedFile(path, fd->get(), base, size));
    fd->release();
    return file;
#if defined(__cpp_exceptions)
  } catch (const std::bad_alloc&) {
    if (base != nullptr) ::munmap(base, size);
    if (remove_on_failure) ::unlink(path.c_str());
    throw;
  }
#endif
}

// ---------------------------------------------------------------------------
// PosixWritableFile

class PosixWritableFile final : public WritableFile {
 public:
  PosixWritableFile(std::string path, int fd) : path_(std::move(path)), fd_(fd) {
    buffer_.reserve(kWritableBufferSize);
  }
  ~PosixWritableFile() override {
    if (fd_ >= 0) {
      if (status_.ok()) (void)Flush();
      ::close(fd_);
    }
  }
  PosixWritableFile(const PosixWritableFile&) = delete;
  PosixWritableFile& operator=(const PosixWritableFile&) = delete;

  absl::Status Append(absl::string_view data) override {
    if (absl::Status s = Usable("Append"); !s.ok()) return s;
    if (buffer_.size() + data.size() <= kWritableBufferSize) {
      buffer_.append(data.data(), data.size());
      return absl::OkStatus();
    }
    if (absl::Status s = Flush(); !s.ok()) return s;
    if (data.size() < kWritableBufferSize) {
      buffer_.append(data.data(), data.size());
      return absl::OkStatus();
    }
    return Write(data.data(), data.size());
  }

  absl::Status Sync() override {
    if (absl::Status s = Usable("Sync"); !s.ok()) return s;
    if (absl::Status s = Flush(); !s.ok()) return s;
    if (int error = FdatasyncRetrying(fd_); error != 0) {
      status_ = PosixError("Sync (fdatasync)", path_, error);
    }
    return status_;
  }

  absl::Status Close() override {
    if (fd_ < 0) return Usable("Close");
    absl::Status result = status_.ok() ? Flush() : status_;
    // close(2) is not retried on EINTR: on Linux the descriptor is gone.
    if (::close(fd_) != 0 && result.ok()) result = PosixError("Close", path_, errno);
    fd_ = -1;
    return result;
  }

 private:
  // OK when the file is open and no earlier call failed.
  absl::Status Usable(absl::string_view operation) const {
    if (fd_ < 0) {
      return absl::FailedPreconditionError(
          absl::StrCat(operation, " ", path_, ": the file is closed"));
    }
    return status_;
  }

  absl::Status Flush() {
    if (buffer_.empty()) return absl::OkStatus();
    absl::Status s = Write(buffer_.data(), buffer_.size());
    buffer_.clear();
    return s;
  }

  // A failed write leaves the file's end unknown: the error is final.
  absl::Status Write(const char* data, size_t length) {
    if (int error = WriteAll(fd_, data, length); error != 0) {
      status_ = PosixError("Append (write)", path_, error);
      return status_;
    }
    written_ += length;
    StartWriteback();
    return status_;
  }

  // Every kWritebackBytes written, the kernel is asked to start writing
  // them back (RocksDB's bytes_per_sync), so that dirty pages do not pile
  // up for the final fdatasync: a checkpoint of 10^6 users is written about
  // a tenth faster so (docs/performance.md). Only a start: Sync() is what
  // makes the data durable and reports errors, so this call's own result is
  // not needed.
  void StartWriteback() {
    if (written_ - writeback_from_ < kWritebackBytes) return;
#if defined(__linux__)
    (void)::sync_file_range(fd_, static_cast<off_t>(writeback_from_),
                            static_cast<off_t>(written_ - writeback_from_), SYNC_FILE_RANGE_WRITE);
#endif
    writeback_from_ = written_;
  }

  const std::string path_;
  int fd_;                       // -1 once closed.
  std::string buffer_;           // Appended, not yet written.
  uint64_t written_ = 0;         // bytes written to the file
  uint64_t writeback_from_ = 0;  // where the next writeback range starts
  absl::Status status_;          // The first failure; every later call returns it.
};

// ---------------------------------------------------------------------------
// Directory locks

// The LOCK file's identity.
using LockKey = std::pair<dev_t, ino_t>;

struct LockEntry {
  pid_t owner;  // The process that took the lock (a forked child is not it).
  int fd;       // The one descriptor that holds the fcntl lock.
};

class LockRegistry {
 public:
  static LockRegistry& Get() {
    static LockRegistry* registry = new LockRegistry;
    return *registry;
  }

  absl::Mutex& mu() ABSL_LOCK_RETURNED(mu_) { return mu_; }

  // True when this process holds the lock of the file `key`.
  bool HeldLocked(const LockKey& key) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    auto it = entries_.find(key);
    return it != entries_.end() && it->second.owner == ::getpid();
  }
  void AddLocked(const LockKey& key, int fd) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    entries_[key] = LockEntry{::getpid(), fd};
  }

  // Forgets the lock of `key` taken with `fd` and closes `fd` (which
  // releases the fcntl lock), under the registry's mutex so that no other
  // thread can open the file in between.
  void Release(const LockKey& key, int fd) ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    auto it = entries_.find(key);
    if (it != entries_.end() && it->second.owner == ::getpid() && it->second.fd == fd) {
      entries_.erase(it);
    }
    ::close(fd);
  }

 private:
  absl::Mutex mu_;
  std::map<LockKey, LockEntry> entries_ ABSL_GUARDED_BY(mu_);
};

class PosixFileLock final : public FileLock {
 public:
  PosixFileLock(LockKey key, int fd) : key_(key), fd_(fd) {}
  ~PosixFileLock() override { LockRegistry::Get().Release(key_, fd_); }
  PosixFileLock(const PosixFileLock&) = delete;
  PosixFileLock& operator=(const PosixFileLock&) = delete;

 private:
  const LockKey key_;
  const int fd_;
};

// ---------------------------------------------------------------------------
// PosixEnv

class PosixEnv final : public Env {
 public:
  absl::Status CreateDir(const std::string& path) override {
    if (::mkdir(path.c_str(), 0755) == 0) return absl::OkStatus();
    const int error = errno;
    if (error == EEXIST) {
      struct stat st;
      if (::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) return absl::OkStatus();
      return PosixError("CreateDir", path, error, "exists and is not a directory");
    }
    return PosixError("CreateDir", path, error);
  }

  absl::StatusOr<std::vector<std::string>> ListDir(const std::string& path) override {
    // Closed on every way out, std::bad_alloc from `names` included.
    struct CloseDir {
      void operator()(DIR* dir) const { ::closedir(dir); }
    };
    std::unique_ptr<DIR, CloseDir> dir(::opendir(path.c_str()));
    if (dir == nullptr) return PosixError("ListDir", path, errno);
    std::vector<std::string> names;
    for (;;) {
      errno = 0;
      struct dirent* entry = ::readdir(dir.get());
      if (entry == nullptr) {
        const int error = errno;
        if (error != 0) return PosixError("ListDir", path, error);
        return names;
      }
      absl::string_view name = entry->d_name;
      if (name == "." || name == "..") continue;
      names.emplace_back(name);
    }
  }

  bool Exists(const std::string& path) override { return ::access(path.c_str(), F_OK) == 0; }

  absl::StatusOr<uint64_t> FileSize(const std::string& path) override {
    struct stat st;
    if (::stat(path.c_str(), &st) != 0) return PosixError("FileSize", path, errno);
    return static_cast<uint64_t>(st.st_size);
  }

  absl::StatusOr<std::string> ReadFile(const std::string& path) override {
    const ScopedFd owned(OpenRetrying(path.c_str(), O_RDONLY | O_CLOEXEC));
    const int fd = owned.get();
    if (fd < 0) return PosixError("ReadFile", path, errno);
    // Reads straight into the result, sized by fstat; a file that grows
    // meanwhile is read to its end through a small buffer.
    std::string contents;
    struct stat st;
    if (::fstat(fd, &st) == 0 && st.st_size > 0) contents.resize(static_cast<size_t>(st.st_size));
    size_t used = 0;
    char spill[4096];
    for (;;) {
      const bool in_place = used < contents.size();
      char* target = in_place ? &contents[used] : spill;
      const size_t room = in_place ? contents.size() - used : sizeof(spill);
      ssize_t n = ::pread(fd, target, room, static_cast<off_t>(used));
      if (n < 0) {
        if (errno == EINTR) continue;
        return PosixError("ReadFile (pread)", path, errno);
      }
      if (n == 0) break;
      if (!in_place) {
        contents.resize(used);
        contents.append(spill, static_cast<size_t>(n));
      }
      used += static_cast<size_t>(n);
    }
    contents.resize(used);  // The file may have shrunk.
    return contents;
  }

  absl::StatusOr<std::unique_ptr<WritableFile>> NewWritableFile(const std::string& path) override {
    ScopedFd fd(OpenRetrying(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC));
    if (fd.get() < 0) return PosixError("NewWritableFile", path, errno);
    std::unique_ptr<WritableFile> file(new PosixWritableFile(path, fd.get()));
    fd.release();
    return file;
  }

  absl::StatusOr<std::unique_ptr<MappedFile>> NewMappedFile(const std::string& path,
                                                            uint64_t size) override {
    if (size > static_cast<uint64_t>(INT64_MAX)) {
      return PosixError("NewMappedFile", path, EFBIG, absl::StrCat("allocate ", size, " bytes"));
    }
    ScopedFd fd(OpenRetrying(path.c_str(), O_CREAT | O_EXCL | O_RDWR | O_CLOEXEC));
    if (fd.get() < 0) return PosixError("NewMappedFile", path, errno);
    // Undoes the creation: no file is left behind by a failure (the
    // descriptor closes with `fd`).
    auto fail = [&](int error, absl::string_view detail) {
      ::unlink(path.c_str());
      return PosixError("NewMappedFile", path, error, detail);
    };
    if (size > 0) {
      int error;
      do {
        error = ::posix_fallocate(fd.get(), 0, static_cast<off_t>(size));
      } while (error == EINTR);
      if (error != 0) return fail(error, absl::StrCat("allocate ", size, " bytes"));
    }
    bool ok;
    // Not populated here: the journal prefaults its segments from a
    // background thread (Prefault), and a segment made while the store
    // waits (a checkpoint's rotation) must not wait for 64 MiB of faults.
    char* base = MapShared(fd.get(), size, &ok);
    if (!ok) return fail(errno, "mmap");
    return AdoptMapping(path, &fd, base, size, /*remove_on_failure=*/true);
  }

  absl::StatusOr<std::unique_ptr<MappedFile>> OpenMappedFile(const std::string& path) override {
    ScopedFd fd(OpenRetrying(path.c_str(), O_RDWR | O_CLOEXEC));
    if (fd.get() < 0) return PosixError("OpenMappedFile", path, errno);
    struct stat st;
    if (::fstat(fd.get(), &st) != 0) return PosixError("OpenMappedFile (fstat)", path, errno);
    const uint64_t size = static_cast<uint64_t>(st.st_size);
    bool ok;
    char* base = MapShared(fd.get(), size, &ok);
    if (!ok) return PosixError("OpenMappedFile (mmap)", path, errno);
    return AdoptMapping(path, &fd, base, size, /*remove_on_failure=*/false);
  }

  absl::Status RenameFile(const std::string& from, const std::string& to) override {
    if (::rename(from.c_str(), to.c_str()) != 0) {
      return PosixError("RenameFile", absl::StrCat(from, " -> ", to), errno);
    }
    return absl::OkStatus();
  }

  absl::Status RemoveFile(const std::string& path) override {
    if (::unlink(path.c_str()) != 0) return PosixError("RemoveFile", path, errno);
    return absl::OkStatus();
  }

  absl::Status SyncDir(const std::string& path) override {
    const int fd = OpenRetrying(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return PosixError("SyncDir", path, errno);
    const int error = FsyncRetrying(fd);
    ::close(fd);
    if (error != 0) return PosixError("SyncDir (fsync)", path, error);
    return absl::OkStatus();
  }

  absl::StatusOr<std::unique_ptr<FileLock>> LockDir(const std::string& path) override {
    const std::string lock_path = path + "/LOCK";
    LockRegistry& registry = LockRegistry::Get();
    absl::MutexLock lock(&registry.mu());
    auto already_open = [&] {
      return absl::FailedPreconditionError(
          absl::StrCat("directory ", path, " is already open in this process"));
    };
    // Never open (and so never close) a LOCK file this process holds: closing
    // any descriptor of it would drop the lock.
    struct stat st;
    if (::stat(lock_path.c_str(), &st) == 0 && registry.HeldLocked({st.st_dev, st.st_ino})) {
      return already_open();
    }
    const int fd = OpenRetrying(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC);
    if (fd < 0) return PosixError("LockDir", lock_path, errno);
    if (::fstat(fd, &st) != 0) {
      const int error = errno;
      ::close(fd);
      return PosixError("LockDir (fstat)", lock_path, error);
    }
    const LockKey key{st.st_dev, st.st_ino};
    if (registry.HeldLocked(key)) {
      // The path was swapped for a file this process holds between stat and
      // open: keep the descriptor open (closing it would drop the lock).
      return already_open();
    }
    struct flock request;
    std::memset(&request, 0, sizeof(request));
    request.l_type = F_WRLCK;
    request.l_whence = SEEK_SET;
    request.l_start = 0;
    request.l_len = 0;  // The whole file.
    int result;
    do {
      result = ::fcntl(fd, F_SETLK, &request);
    } while (result != 0 && errno == EINTR);
    if (result != 0) {
      const int error = errno;
      ::close(fd);
      if (error == EACCES || error == EAGAIN) {
        return absl::FailedPreconditionError(absl::StrCat("directory ", path,
                                                          " is in use by another process (lock "
                                                          "held on ",
                                                          lock_path, ")"));
      }
      return PosixError("LockDir (fcntl)", lock_path, error);
    }
    registry.AddLocked(key, fd);
    return std::unique_ptr<FileLock>(new PosixFileLock(key, fd));
  }

  bool SupportsForkedWriters() const override { return true; }
};

}  // namespace

Env* Env::Default() {
  static Env* const env = new PosixEnv;
  return env;
}

}  // namespace userstore
