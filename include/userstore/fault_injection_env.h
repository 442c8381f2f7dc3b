// -----------------------------------------------------------------------------
// File: userstore/fault_injection_env.h
// -----------------------------------------------------------------------------
//
// `FaultInjectionEnv`: an `Env` (env.h) held entirely in this process's
// memory that models what a real disk keeps and loses, for tests of the
// durable store (the store's own, and an application's): in the spirit of
// LevelDB's FaultInjectionTestEnv, but with no real files at all, so that a
// test can "pull the plug" in a microsecond and look at what survived.
//
// The model. Every file has two contents: what the process sees (every
// write, at once) and what is durable (what a power loss keeps). A file's
// bytes become durable by `MappedFile::Sync` / `WritableFile::Sync` (the
// synced range only). A directory's entries (a file created, renamed or
// removed) become durable by `SyncDir`; until then a power loss undoes them:
// a file created since the last SyncDir of its directory disappears, a
// rename is undone, a removed file comes back with its durable contents.
//
// A new mapped file's size and zeros go with its entry (durable once its
// directory is synced); the bytes written into it, only once synced. A
// writable file's `Sync` makes its whole contents durable (and its
// truncation, when `NewWritableFile` emptied an existing file).
//
// `SimulatePowerLoss()` makes every file's visible contents its durable
// contents and undoes every unsynced directory entry (directories made by
// `CreateDir` included), as a machine that lost power and rebooted. It may be
// called while a store still runs on the Env: every mapping made before it
// keeps its own bytes and no longer reaches the file (its writes and syncs go
// nowhere, and no byte is copied under a running writer); open writable files
// keep working on the new contents. A store that goes on running after it can
// therefore make durable what no real power loss would (a background
// checkpoint that syncs and renames a file whose first bytes the loss
// dropped). To pull the plug on a running store at an exact point, fail the
// syncs first (`FailAfter` on kMappedSync, kWritableSync, kSyncDir and
// kRename: nothing more becomes durable), destroy the store,
// `ClearFailures()`, then `SimulatePowerLoss()` and reopen. Locks
// stay held until their `FileLock` is destroyed. A mapping made before its
// file changed size (`SetContents`, an `Append` or truncation through
// `NewWritableFile`) keeps its own bytes and no longer reaches the file too.
//
// Paths are plain strings: absolute ('/'-separated; repeated and trailing
// slashes ignored; no "." or ".." resolution), the parent of a path being
// everything before its last '/'; a relative path is INVALID_ARGUMENT. The
// simulated disk has no size limit but memory: `NewMappedFile` of more than
// 2^48 bytes fails as a real one would (RESOURCE_EXHAUSTED, EFBIG).
//
// Injected failures. `FailAfter(op, n, code)`: the n-th next call of `op`
// (n = 1: the next) and every later one fails with `code` (RESOURCE_EXHAUSTED
// models ENOSPC, INTERNAL an EIO) until `ClearFailures()`; the failed call
// changes nothing (a failed `MappedFile::Sync` leaves the range not durable).
// `FailOnce(op, n, code)` fails only the n-th call. An `n` below 1 counts as
// 1. A failed call is counted, and its message names the operation and path
// and says "injected failure". Calls not in `Op` (CreateDir, ListDir, Exists,
// FileSize, OpenMappedFile, LockDir, WritableFile::Close) never fail by
// injection.
//
// Thread safety: every method may be called from any thread at once.

#ifndef USERSTORE_FAULT_INJECTION_ENV_H_
#define USERSTORE_FAULT_INJECTION_ENV_H_

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/status.h"

#include "userstore/env.h"

namespace userstore {

class FaultInjectionEnv : public Env {
 public:
  // The operations a failure can be injected into.
  enum class Op : uint8_t {
    kNewMappedFile,  // NewMappedFile (the allocation: ENOSPC is the usual failure)
    kMappedSync,     // MappedFile::Sync
    kNewWritable,    // NewWritableFile
    kAppend,         // WritableFile::Append
    kWritableSync,   // WritableFile::Sync
    kRename,         // RenameFile
    kRemove,         // RemoveFile
    kSyncDir,        // SyncDir
    kRead,           // ReadFile
  };

  // See the file comment.
  virtual void SimulatePowerLoss() = 0;
  virtual void FailAfter(Op op, int n, absl::StatusCode code) = 0;
  virtual void FailOnce(Op op, int n, absl::StatusCode code) = 0;
  virtual void ClearFailures() = 0;

  // How many calls of `op` there have been (failed ones included).
  virtual int64_t Count(Op op) const = 0;

  // The visible contents of file `path` (empty when there is none), and
  // replaces them (for corrupting a file on purpose; the new contents, and
  // the file's entry if `SetContents` created it, are durable at once).
  // Neither is counted or fails by injection; `SetContents` does nothing when
  // the parent directory is missing or `path` is a directory.
  virtual std::string Contents(const std::string& path) const = 0;
  virtual void SetContents(const std::string& path, const std::string& contents) = 0;
};

// userstore::NewFaultInjectionEnv()
//
// A new, empty simulated file system (its root "/" exists).
std::unique_ptr<FaultInjectionEnv> NewFaultInjectionEnv();

}  // namespace userstore

#endif  // USERSTORE_FAULT_INJECTION_ENV_H_
