// -----------------------------------------------------------------------------
// File: userstore/env.h
// -----------------------------------------------------------------------------
//
// `Env` is the durable store's only door to the file system, as LevelDB's
// `Env` is its: every file the store creates, maps, syncs, renames or
// removes goes through one. `Env::Default()` is the real, POSIX one. Tests
// (the store's own and an application's) pass another to simulate what a
// real disk does on a bad day: `NewFaultInjectionEnv()` (fault_injection_env.h)
// drops everything not yet synced on a simulated power loss and fails any
// chosen operation.
//
// Errors. Every call returns a status naming the path and the operation:
//   - no space left (ENOSPC, EDQUOT), or a file larger than the file system
//     allows (EFBIG): RESOURCE_EXHAUSTED;
//   - an I/O error (EIO) or any other failure of the system: INTERNAL;
//   - a file that does not exist: NOT_FOUND (a file where a directory is
//     expected, or the reverse, is INTERNAL: ENOTDIR, EISDIR);
//   - a directory already locked (LockDir): FAILED_PRECONDITION;
//   - a `Sync` range outside the file: OUT_OF_RANGE;
//   - a call on a closed `WritableFile`: FAILED_PRECONDITION.
// The messages name the operation and the path, then the system's reason
// (strerror) and errno.
// These are the status codes of an `Env`; the store turns a failed write
// into Twilio's 503/20503 (docs/durability.md).
//
// Thread safety: an `Env` may be used from any number of threads at once.
// A file object may be used from several threads where its comment says so.

#ifndef USERSTORE_ENV_H_
#define USERSTORE_ENV_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace userstore {

// userstore::MappedFile
//
// A file of a fixed size, its blocks allocated on disk when it is made
// (so that writing into it never runs out of space), mapped into memory for
// writing. The journal writes records into `data()` with plain stores: a
// store is in the operating system's page cache at once, and so survives the
// death of the process (kill -9) with no system call; `Sync` makes a range
// survive a power loss too.
//
// Thread safety: writers to disjoint byte ranges may run at once, and `Sync`
// may run concurrently with writes to other ranges.
class MappedFile {
 public:
  virtual ~MappedFile() = default;

  // The path the file was made or opened at.
  virtual const std::string& path() const = 0;

  // The mapping: `size()` writable bytes. Valid until the object is destroyed.
  // Null when `size()` is 0 (an empty file has no mapping).
  virtual char* data() = 0;
  virtual uint64_t size() const = 0;

  // Makes the bytes [offset, offset + length) durable (on the real file
  // system msync MS_SYNC over the range's whole pages, which on Linux is
  // fdatasync of that range; elsewhere an fdatasync follows). A
  // range beyond `size()` is OUT_OF_RANGE. A failure is final for this file:
  // the store stops writing (docs/durability.md, "a failed sync").
  virtual absl::Status Sync(uint64_t offset, uint64_t length) = 0;

  // A hint, called from a background thread while writers may be writing
  // elsewhere in the mapping: make the pages of [offset, offset + length)
  // present and writable now, so that the writes that reach them later take
  // no page fault. Must not change a byte. The default does nothing; the
  // POSIX file's uses madvise(MADV_POPULATE_WRITE) (Linux 5.14 and later;
  // nothing on older kernels).
  virtual void Prefault(uint64_t offset, uint64_t length) {
    (void)offset;
    (void)length;
  }

  // A hint, given before the mapping is first touched: back it with large
  // pages where the system can (fewer page faults, and a sync cleans a
  // large page at once instead of each 4 KiB page with its own TLB flush),
  // at the price of a sync writing every dirty large page whole. For a
  // mapping that is synced rarely (the journal outside kSyncEachWrite). The
  // default does nothing; the POSIX file's uses madvise(MADV_HUGEPAGE)
  // (large folios of the page cache: Linux 6.x on ext4 and XFS).
  virtual void PreferLargePages() {}
};

// userstore::WritableFile
//
// A new file written front to back (checkpoints). Not thread-safe.
//
// After a failed `Append` or `Sync` the file's contents are unknown: discard
// the file. (The POSIX one then returns that same error from every later
// call, `Close` included, which still closes the file.)
class WritableFile {
 public:
  virtual ~WritableFile() = default;
  // Appends `data`. Buffered (64 KiB on the real file system): an error of
  // the write may surface at a later `Append`, at `Sync` or at `Close`.
  virtual absl::Status Append(absl::string_view data) = 0;
  // Makes everything appended so far durable (write, then fdatasync).
  virtual absl::Status Sync() = 0;
  // Writes what is buffered and closes the file (without a sync); further
  // calls, a second `Close` included, fail with FAILED_PRECONDITION. The
  // destructor closes too, ignoring errors.
  virtual absl::Status Close() = 0;
};

// userstore::FileLock
//
// Held while the object lives: no other process, and no other `LockDir` of
// this process, can lock the same directory.
class FileLock {
 public:
  virtual ~FileLock() = default;
};

// userstore::Env
class Env {
 public:
  virtual ~Env() = default;

  // userstore::Env::Default()
  //
  // The POSIX file system. Never null; lives for the whole process.
  static Env* Default();

  // Creates `path` (one level) unless it exists as a directory. Its parent
  // missing: NOT_FOUND; `path` a file: INTERNAL.
  virtual absl::Status CreateDir(const std::string& path) = 0;

  // The names (not paths) of the entries of directory `path`, "." and ".."
  // left out, in no particular order.
  virtual absl::StatusOr<std::vector<std::string>> ListDir(const std::string& path) = 0;

  // True when `path` exists (file or directory).
  virtual bool Exists(const std::string& path) = 0;

  // The size of file `path` in bytes.
  virtual absl::StatusOr<uint64_t> FileSize(const std::string& path) = 0;

  // The whole contents of file `path`.
  virtual absl::StatusOr<std::string> ReadFile(const std::string& path) = 0;

  // Creates `path` for writing front to back. A file already there is
  // truncated (O_TRUNC): the same file, emptied.
  virtual absl::StatusOr<std::unique_ptr<WritableFile>> NewWritableFile(
      const std::string& path) = 0;

  // Creates `path` (which must not exist) with `size` bytes of zeros, its
  // blocks allocated (posix_fallocate), and maps it for writing. No space
  // (or a size beyond the file system's largest file): RESOURCE_EXHAUSTED,
  // and no file is left behind by any failure. `path` already there: an
  // error (INTERNAL). The new file's name is durable only once the directory
  // is synced (SyncDir).
  virtual absl::StatusOr<std::unique_ptr<MappedFile>> NewMappedFile(const std::string& path,
                                                                    uint64_t size) = 0;

  // Maps an existing file `path` for writing, at its current size (a journal
  // segment reopened after recovery, to go on appending).
  virtual absl::StatusOr<std::unique_ptr<MappedFile>> OpenMappedFile(const std::string& path) = 0;

  // Renames `from` to `to`, replacing `to` atomically if it exists. Durable
  // once the directory is synced.
  virtual absl::Status RenameFile(const std::string& from, const std::string& to) = 0;

  // Removes file `path`. Durable once the directory is synced.
  virtual absl::Status RemoveFile(const std::string& path) = 0;

  // Makes the entries of directory `path` (creations, renames, removals)
  // durable (fsync of the directory).
  virtual absl::Status SyncDir(const std::string& path) = 0;

  // Takes the lock of directory `path` (a file `LOCK` inside it, created if
  // missing): an fcntl lock against other processes, a table of the
  // process's own locks against a second open in this one. Already locked,
  // at once (it never waits), FAILED_PRECONDITION:
  //   "directory <path> is already open in this process", or
  //   "directory <path> is in use by another process (lock held on <path>/LOCK)".
  // A child made by fork() does not inherit the lock (fcntl locks belong to
  // a process): the parent keeps it, and the child may not take it while the
  // parent holds it. The lock is released when the `FileLock` is destroyed
  // (or the process ends); the LOCK file stays.
  virtual absl::StatusOr<std::unique_ptr<FileLock>> LockDir(const std::string& path) = 0;

  // True when a process started by fork() may write files through this Env
  // (the real file system: yes; a simulated one in this process's memory:
  // no). A store asked for forked checkpoints (CheckpointWriter::kFork)
  // forks only where this is true.
  virtual bool SupportsForkedWriters() const { return false; }
};

}  // namespace userstore

#endif  // USERSTORE_ENV_H_
