// `NewFaultInjectionEnv()`: a file system in memory that forgets what a real
// one would on a power loss (fault_injection_env.h).
//
// The model. A file is a `Node` (an inode): its visible contents, what the
// process reads and writes, and its durable contents, what survives a power
// loss. A directory is an entry of `dirs_` keyed by its path, holding two
// maps of names to nodes: the visible entries and the durable ones, which
// only `SyncDir` updates (to a copy of the visible ones). A subdirectory is
// an entry too, whose node is a directory marker. Because entries point to
// nodes, every unsynced change of a directory is undone by a power loss by
// putting back its durable entries: a created file disappears, a renamed
// file gets its old name back (and a file replaced by the rename comes
// back), a removed file reappears, each with its node's durable contents.
//
// Mapped files. The visible contents live in a heap buffer shared by the
// node and every `MappedFile` of it: `data()` points into it, and writes
// through the mapping are visible to `ReadFile` at once, as with MAP_SHARED.
// A buffer is never resized while it is shared; an operation that changes a
// file's size (an append, a truncation, `SetContents`) gives the node a new
// buffer, and mappings made earlier keep the old one (detached: their writes
// and syncs no longer reach the file; a real mapping past the end would
// fault). A power loss copies durable contents into the shared buffer when
// the sizes agree, so mappings go on working.
//
// Paths are plain strings: absolute, '/'-separated, repeated and trailing
// slashes ignored; the parent of a path is everything before its last '/'.
//
// Thread safety: one mutex guards the whole model. Stores through a
// mapping's `data()` are the caller's own, as with real memory.

#include "userstore/fault_injection_env.h"

#include <cstdint>
#include <cstring>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"

#include "userstore/env.h"

namespace userstore {
namespace {

using Op = FaultInjectionEnv::Op;
constexpr int kOpCount = static_cast<int>(Op::kRead) + 1;

absl::string_view OpName(Op op) {
  switch (op) {
    case Op::kNewMappedFile:
      return "NewMappedFile";
    case Op::kMappedSync:
      return "MappedFile::Sync";
    case Op::kNewWritable:
      return "NewWritableFile";
    case Op::kAppend:
      return "WritableFile::Append";
    case Op::kWritableSync:
      return "WritableFile::Sync";
    case Op::kRename:
      return "RenameFile";
    case Op::kRemove:
      return "RemoveFile";
    case Op::kSyncDir:
      return "SyncDir";
    case Op::kRead:
      return "ReadFile";
  }
  return "?";
}

using Buffer = std::shared_ptr<std::string>;

struct Node {
  bool is_dir = false;
  Buffer visible = std::make_shared<std::string>();
  std::string durable;
};
using NodePtr = std::shared_ptr<Node>;

struct Dir {
  std::map<std::string, NodePtr> visible;
  std::map<std::string, NodePtr> durable;
};

// A path split into its parent directory and its name; `ok` is false for a
// path that is not absolute or is the root.
struct SplitPath {
  bool ok = false;
  std::string normal;  // The path with repeated and trailing slashes removed.
  std::string parent;
  std::string name;
};

std::string Normalize(absl::string_view path) {
  std::string out;
  out.reserve(path.size());
  for (char c : path) {
    if (c == '/' && !out.empty() && out.back() == '/') continue;
    out.push_back(c);
  }
  while (out.size() > 1 && out.back() == '/') out.pop_back();
  return out;
}

SplitPath Split(absl::string_view path) {
  SplitPath split;
  split.normal = Normalize(path);
  if (split.normal.empty() || split.normal[0] != '/' || split.normal == "/") return split;
  const size_t slash = split.normal.rfind('/');
  split.parent = slash == 0 ? "/" : split.normal.substr(0, slash);
  split.name = split.normal.substr(slash + 1);
  split.ok = true;
  return split;
}

absl::Status NotFound(absl::string_view operation, absl::string_view path) {
  return absl::NotFoundError(absl::StrCat(operation, " ", path, ": No such file or directory"));
}
absl::Status BadPath(absl::string_view operation, absl::string_view path) {
  return absl::InvalidArgumentError(
      absl::StrCat(operation, " ", path, ": not an absolute path to a file"));
}

// Everything the Env and its file objects share; file objects keep it alive.
class State {
 public:
  State() { dirs_["/"]; }

  absl::Mutex mu;

  // Counts a call of `op` and returns the injected failure, if it is due.
  absl::Status Inject(Op op, absl::string_view path) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    Injection& injection = injections_[static_cast<int>(op)];
    const int64_t call = ++injection.count;
    absl::StatusCode code = absl::StatusCode::kOk;
    if (injection.fail_from > 0 && call >= injection.fail_from) {
      code = injection.fail_from_code;
    } else if (auto it = injection.once.find(call); it != injection.once.end()) {
      code = it->second;
    }
    if (code == absl::StatusCode::kOk) return absl::OkStatus();
    return absl::Status(code, absl::StrCat(OpName(op), " ", path, ": injected failure"));
  }

  void FailAfter(Op op, int n, absl::StatusCode code) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    Injection& injection = injections_[static_cast<int>(op)];
    injection.fail_from = injection.count + (n < 1 ? 1 : n);
    injection.fail_from_code = code;
  }
  void FailOnce(Op op, int n, absl::StatusCode code) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    Injection& injection = injections_[static_cast<int>(op)];
    injection.once[injection.count + (n < 1 ? 1 : n)] = code;
  }
  void ClearFailures() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    for (Injection& injection : injections_) {
      injection.fail_from = 0;
      injection.once.clear();
    }
  }
  int64_t Count(Op op) const ABSL_SHARED_LOCKS_REQUIRED(mu) {
    return injections_[static_cast<int>(op)].count;
  }

  Dir* FindDir(const std::string& normal_path) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    auto it = dirs_.find(normal_path);
    return it == dirs_.end() ? nullptr : &it->second;
  }

  // The file node at `split`, or null.
  NodePtr FindFile(const SplitPath& split) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    if (!split.ok) return nullptr;
    Dir* dir = FindDir(split.parent);
    if (dir == nullptr) return nullptr;
    auto it = dir->visible.find(split.name);
    if (it == dir->visible.end() || it->second->is_dir) return nullptr;
    return it->second;
  }

  // The error of `operation` on `shown` when directory `dir` is missing: a
  // file in its place is INTERNAL (ENOTDIR), nothing NOT_FOUND (ENOENT).
  absl::Status MissingDir(absl::string_view operation, absl::string_view shown,
                          const std::string& dir) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    if (FindFile(Split(dir)) != nullptr) {
      return absl::InternalError(absl::StrCat(operation, " ", shown, ": Not a directory"));
    }
    return NotFound(operation, shown);
  }

  // The error of `operation` on `shown` when file `split` is missing: a
  // directory in its place is INTERNAL (EISDIR), nothing NOT_FOUND.
  absl::Status MissingFile(absl::string_view operation, absl::string_view shown,
                           const SplitPath& split) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    if (FindDir(split.normal) != nullptr) {
      return absl::InternalError(absl::StrCat(operation, " ", shown, ": Is a directory"));
    }
    return NotFound(operation, shown);
  }

  std::map<std::string, Dir>& dirs() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) { return dirs_; }

  std::set<std::string>& locks() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) { return locks_; }

  // Gives `node` the visible contents `contents`, in its current buffer when
  // the size is unchanged (mappings see it) or in a new one.
  static void SetVisible(Node& node, std::string contents) {
    if (node.visible->size() == contents.size()) {
      if (!contents.empty()) std::memcpy(&(*node.visible)[0], contents.data(), contents.size());
    } else {
      node.visible = std::make_shared<std::string>(std::move(contents));
    }
  }

  // Makes the node's buffer its own (a mapped buffer is never resized).
  static std::string& Unshared(Node& node) {
    if (node.visible.use_count() > 1) node.visible = std::make_shared<std::string>(*node.visible);
    return *node.visible;
  }

  void PowerLoss() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    // Entries first: every directory gets its durable entries back.
    for (auto& [path, dir] : dirs_) dir.visible = dir.durable;
    // Directories whose own entry did not survive go, parents before children
    // (std::map orders a parent before the paths under it).
    for (auto it = dirs_.begin(); it != dirs_.end();) {
      const SplitPath split = Split(it->first);
      bool keep = true;
      if (split.ok) {
        Dir* parent = FindDir(split.parent);
        keep = parent != nullptr && parent->visible.count(split.name) > 0;
      }
      it = keep ? std::next(it) : dirs_.erase(it);
    }
    // Contents: every surviving file gets its durable contents back, in a
    // buffer of its own. Mappings made before keep the old one: a process
    // that "outlived" the power loss may still be writing into it, and
    // nothing it writes reaches the file any more (no byte is copied under a
    // writer's feet, so pulling the plug on a running store is race-free).
    for (auto& [path, dir] : dirs_) {
      for (auto& [name, node] : dir.visible) {
        if (!node->is_dir) node->visible = std::make_shared<std::string>(node->durable);
      }
    }
    // Locks stay: their holders are still alive in this process.
  }

 private:
  struct Injection {
    int64_t count = 0;
    int64_t fail_from = 0;  // 0: no FailAfter.
    absl::StatusCode fail_from_code = absl::StatusCode::kOk;
    std::map<int64_t, absl::StatusCode> once;
  };

  std::map<std::string, Dir> dirs_ ABSL_GUARDED_BY(mu);
  std::set<std::string> locks_ ABSL_GUARDED_BY(mu);
  Injection injections_[kOpCount] ABSL_GUARDED_BY(mu);
};

// ---------------------------------------------------------------------------
// File objects

class MemMappedFile final : public MappedFile {
 public:
  MemMappedFile(std::shared_ptr<State> state, std::string path, NodePtr node)
      : state_(std::move(state)),
        path_(std::move(path)),
        node_(std::move(node)),
        buffer_(node_->visible) {}

  const std::string& path() const override { return path_; }
  char* data() override { return buffer_->empty() ? nullptr : &(*buffer_)[0]; }
  uint64_t size() const override { return buffer_->size(); }

  absl::Status Sync(uint64_t offset, uint64_t length) override {
    absl::MutexLock lock(&state_->mu);
    if (absl::Status s = state_->Inject(Op::kMappedSync, path_); !s.ok()) return s;
    const uint64_t size = buffer_->size();
    if (offset > size || length > size - offset) {
      return absl::OutOfRangeError(absl::StrCat("Sync ", path_, ": range [", offset, ", +", length,
                                                ") is outside the file's ", size, " bytes"));
    }
    if (node_->visible != buffer_) return absl::OkStatus();  // Detached mapping.
    std::string& durable = node_->durable;
    // fdatasync makes the file's size durable too.
    if (durable.size() != size) durable.resize(size, '\0');
    if (length > 0) std::memcpy(&durable[offset], buffer_->data() + offset, length);
    return absl::OkStatus();
  }

 private:
  const std::shared_ptr<State> state_;
  const std::string path_;
  const NodePtr node_;
  const Buffer buffer_;
};

class MemWritableFile final : public WritableFile {
 public:
  MemWritableFile(std::shared_ptr<State> state, std::string path, NodePtr node)
      : state_(std::move(state)), path_(std::move(path)), node_(std::move(node)) {}

  absl::Status Append(absl::string_view data) override {
    absl::MutexLock lock(&state_->mu);
    if (absl::Status s = state_->Inject(Op::kAppend, path_); !s.ok()) return s;
    if (closed_) return Closed("Append");
    State::Unshared(*node_).append(data.data(), data.size());
    return absl::OkStatus();
  }

  absl::Status Sync() override {
    absl::MutexLock lock(&state_->mu);
    if (absl::Status s = state_->Inject(Op::kWritableSync, path_); !s.ok()) return s;
    if (closed_) return Closed("Sync");
    node_->durable = *node_->visible;
    return absl::OkStatus();
  }

  absl::Status Close() override {
    absl::MutexLock lock(&state_->mu);
    if (closed_) return Closed("Close");
    closed_ = true;
    return absl::OkStatus();
  }

 private:
  absl::Status Closed(absl::string_view operation) const {
    return absl::FailedPreconditionError(
        absl::StrCat(operation, " ", path_, ": the file is closed"));
  }

  const std::shared_ptr<State> state_;
  const std::string path_;
  const NodePtr node_;
  bool closed_ = false;  // Guarded by state_->mu.
};

class MemFileLock final : public FileLock {
 public:
  MemFileLock(std::shared_ptr<State> state, std::string dir)
      : state_(std::move(state)), dir_(std::move(dir)) {}
  ~MemFileLock() override {
    absl::MutexLock lock(&state_->mu);
    state_->locks().erase(dir_);
  }

 private:
  const std::shared_ptr<State> state_;
  const std::string dir_;
};

// ---------------------------------------------------------------------------
// The Env

class FaultInjectionEnvImpl final : public FaultInjectionEnv {
 public:
  FaultInjectionEnvImpl() : state_(std::make_shared<State>()) {}

  absl::Status CreateDir(const std::string& path) override {
    const SplitPath split = Split(path);
    absl::MutexLock lock(&state_->mu);
    if (split.normal == "/") return absl::OkStatus();
    if (!split.ok) return BadPath("CreateDir", path);
    Dir* parent = state_->FindDir(split.parent);
    if (parent == nullptr) return state_->MissingDir("CreateDir", path, split.parent);
    auto it = parent->visible.find(split.name);
    if (it != parent->visible.end()) {
      if (it->second->is_dir) return absl::OkStatus();
      return absl::InternalError(
          absl::StrCat("CreateDir ", path, ": exists and is not a directory: File exists"));
    }
    auto node = std::make_shared<Node>();
    node->is_dir = true;
    parent->visible[split.name] = std::move(node);
    state_->dirs()[split.normal];
    return absl::OkStatus();
  }

  absl::StatusOr<std::vector<std::string>> ListDir(const std::string& path) override {
    const std::string normal = Normalize(path);
    absl::MutexLock lock(&state_->mu);
    Dir* dir = state_->FindDir(normal);
    if (dir == nullptr) return state_->MissingDir("ListDir", path, normal);
    std::vector<std::string> names;
    names.reserve(dir->visible.size());
    for (const auto& [name, node] : dir->visible) names.push_back(name);
    return names;
  }

  bool Exists(const std::string& path) override {
    const SplitPath split = Split(path);
    absl::MutexLock lock(&state_->mu);
    if (state_->FindDir(split.normal) != nullptr) return true;
    return state_->FindFile(split) != nullptr;
  }

  absl::StatusOr<uint64_t> FileSize(const std::string& path) override {
    const SplitPath split = Split(path);
    absl::MutexLock lock(&state_->mu);
    NodePtr node = state_->FindFile(split);
    if (node == nullptr) return NotFound("FileSize", path);
    return static_cast<uint64_t>(node->visible->size());
  }

  absl::StatusOr<std::string> ReadFile(const std::string& path) override {
    const SplitPath split = Split(path);
    absl::MutexLock lock(&state_->mu);
    if (absl::Status s = state_->Inject(Op::kRead, path); !s.ok()) return s;
    NodePtr node = state_->FindFile(split);
    if (node == nullptr) return state_->MissingFile("ReadFile", path, split);
    return *node->visible;
  }

  absl::StatusOr<std::unique_ptr<WritableFile>> NewWritableFile(const std::string& path) override {
    const SplitPath split = Split(path);
    absl::MutexLock lock(&state_->mu);
    if (absl::Status s = state_->Inject(Op::kNewWritable, path); !s.ok()) return s;
    if (!split.ok) return BadPath("NewWritableFile", path);
    Dir* parent = state_->FindDir(split.parent);
    if (parent == nullptr) return state_->MissingDir("NewWritableFile", path, split.parent);
    NodePtr& entry = parent->visible[split.name];
    if (entry != nullptr && entry->is_dir) {
      return absl::InternalError(absl::StrCat("NewWritableFile ", path, ": Is a directory"));
    }
    if (entry == nullptr) {
      entry = std::make_shared<Node>();
    } else {
      // O_TRUNC: the same file, emptied; the truncation is durable once synced.
      State::SetVisible(*entry, std::string());
    }
    return std::unique_ptr<WritableFile>(new MemWritableFile(state_, split.normal, entry));
  }

  absl::StatusOr<std::unique_ptr<MappedFile>> NewMappedFile(const std::string& path,
                                                            uint64_t size) override {
    const SplitPath split = Split(path);
    absl::MutexLock lock(&state_->mu);
    if (absl::Status s = state_->Inject(Op::kNewMappedFile, path); !s.ok()) return s;
    if (!split.ok) return BadPath("NewMappedFile", path);
    Dir* parent = state_->FindDir(split.parent);
    if (parent == nullptr) return state_->MissingDir("NewMappedFile", path, split.parent);
    if (parent->visible.count(split.name) > 0) {
      return absl::InternalError(absl::StrCat("NewMappedFile ", path, ": File exists"));
    }
    // A simulated disk has no real limit; a size no real file can have is
    // refused as a real file system would (EFBIG).
    if (size > (uint64_t{1} << 48)) {
      return absl::ResourceExhaustedError(
          absl::StrCat("NewMappedFile ", path, ": allocate ", size, " bytes: File too large"));
    }
    auto node = std::make_shared<Node>();
    // The allocation (its size, zero-filled) goes with the file's entry; the
    // bytes written later are durable only once synced.
    node->visible = std::make_shared<std::string>(static_cast<size_t>(size), '\0');
    node->durable.assign(static_cast<size_t>(size), '\0');
    parent->visible[split.name] = node;
    return std::unique_ptr<MappedFile>(new MemMappedFile(state_, split.normal, std::move(node)));
  }

  absl::StatusOr<std::unique_ptr<MappedFile>> OpenMappedFile(const std::string& path) override {
    const SplitPath split = Split(path);
    absl::MutexLock lock(&state_->mu);
    NodePtr node = state_->FindFile(split);
    if (node == nullptr) return state_->MissingFile("OpenMappedFile", path, split);
    return std::unique_ptr<MappedFile>(new MemMappedFile(state_, split.normal, std::move(node)));
  }

  absl::Status RenameFile(const std::string& from, const std::string& to) override {
    const SplitPath source = Split(from);
    const SplitPath target = Split(to);
    const std::string what = absl::StrCat(from, " -> ", to);
    absl::MutexLock lock(&state_->mu);
    if (absl::Status s = state_->Inject(Op::kRename, what); !s.ok()) return s;
    if (!source.ok || !target.ok) return BadPath("RenameFile", what);
    NodePtr node = state_->FindFile(source);
    if (node == nullptr) return state_->MissingFile("RenameFile", what, source);
    Dir* target_dir = state_->FindDir(target.parent);
    if (target_dir == nullptr) return state_->MissingDir("RenameFile", what, target.parent);
    auto existing = target_dir->visible.find(target.name);
    if (existing != target_dir->visible.end() && existing->second->is_dir) {
      return absl::InternalError(absl::StrCat("RenameFile ", what, ": Is a directory"));
    }
    if (source.normal == target.normal) return absl::OkStatus();
    state_->FindDir(source.parent)->visible.erase(source.name);
    target_dir->visible[target.name] = std::move(node);
    return absl::OkStatus();
  }

  absl::Status RemoveFile(const std::string& path) override {
    const SplitPath split = Split(path);
    absl::MutexLock lock(&state_->mu);
    if (absl::Status s = state_->Inject(Op::kRemove, path); !s.ok()) return s;
    if (state_->FindFile(split) == nullptr) return state_->MissingFile("RemoveFile", path, split);
    state_->FindDir(split.parent)->visible.erase(split.name);
    return absl::OkStatus();
  }

  absl::Status SyncDir(const std::string& path) override {
    const std::string normal = Normalize(path);
    absl::MutexLock lock(&state_->mu);
    if (absl::Status s = state_->Inject(Op::kSyncDir, path); !s.ok()) return s;
    Dir* dir = state_->FindDir(normal);
    if (dir == nullptr) return state_->MissingDir("SyncDir", path, normal);
    dir->durable = dir->visible;
    return absl::OkStatus();
  }

  absl::StatusOr<std::unique_ptr<FileLock>> LockDir(const std::string& path) override {
    const std::string normal = Normalize(path);
    absl::MutexLock lock(&state_->mu);
    Dir* dir = state_->FindDir(normal);
    if (dir == nullptr) return state_->MissingDir("LockDir", absl::StrCat(path, "/LOCK"), normal);
    if (state_->locks().count(normal) > 0) {
      return absl::FailedPreconditionError(
          absl::StrCat("directory ", path, " is already open in this process"));
    }
    NodePtr& entry = dir->visible["LOCK"];
    if (entry == nullptr) entry = std::make_shared<Node>();
    state_->locks().insert(normal);
    return std::unique_ptr<FileLock>(new MemFileLock(state_, normal));
  }

  void SimulatePowerLoss() override {
    absl::MutexLock lock(&state_->mu);
    state_->PowerLoss();
  }

  void FailAfter(Op op, int n, absl::StatusCode code) override {
    absl::MutexLock lock(&state_->mu);
    state_->FailAfter(op, n, code);
  }

  void FailOnce(Op op, int n, absl::StatusCode code) override {
    absl::MutexLock lock(&state_->mu);
    state_->FailOnce(op, n, code);
  }

  void ClearFailures() override {
    absl::MutexLock lock(&state_->mu);
    state_->ClearFailures();
  }

  int64_t Count(Op op) const override {
    absl::MutexLock lock(&state_->mu);
    return state_->Count(op);
  }

  std::string Contents(const std::string& path) const override {
    const SplitPath split = Split(path);
    absl::MutexLock lock(&state_->mu);
    NodePtr node = state_->FindFile(split);
    return node == nullptr ? std::string() : *node->visible;
  }

  void SetContents(const std::string& path, const std::string& contents) override {
    const SplitPath split = Split(path);
    absl::MutexLock lock(&state_->mu);
    if (!split.ok) return;
    Dir* parent = state_->FindDir(split.parent);
    if (parent == nullptr) return;
    NodePtr& entry = parent->visible[split.name];
    if (entry != nullptr && entry->is_dir) return;
    if (entry == nullptr) entry = std::make_shared<Node>();
    State::SetVisible(*entry, contents);
    entry->durable = contents;
    // The file itself, if new, is durable at once too.
    parent->durable[split.name] = entry;
  }

 private:
  const std::shared_ptr<State> state_;
};

}  // namespace

std::unique_ptr<FaultInjectionEnv> NewFaultInjectionEnv() {
  return std::make_unique<FaultInjectionEnvImpl>();
}

}  // namespace userstore
