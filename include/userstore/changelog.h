// -----------------------------------------------------------------------------
// File: userstore/changelog.h
// -----------------------------------------------------------------------------
//
// A partition's changelog on a distributed log people already run, and the
// processes around it (docs/scaling.md): the leader ships its change events,
// followers bootstrap from a checkpoint and then follow, and a follower can
// be promoted, fencing the leader it replaces.
//
// This is the optional library `userstore::changelog` (built when hiredis is
// found); the core library links no client library. The log is Redis
// Streams (docs/scaling.md says why it and not NATS JetStream, and how the
// same design maps onto Kafka); `ChangelogLog` is the seam another log plugs
// into.
//
// A stream holds, in order, entries whose data is one changelog batch
// (replication.h), and beside it the newest checkpoint a follower bootstraps
// from. Its invariants:
//   - every entry is appended with the log's conditional append: only if the
//     stream's last entry is the one the appender last saw. A leader that
//     another has fenced (by appending) fails, with nothing appended.
//   - sequences are consecutive across entries; a follower applies each event
//     once, in order, and stops with a clear error at a gap or at anything
//     that does not decode.
//   - entries are trimmed only behind the stored checkpoint.
//
// Thread safety: every class here is thread-safe unless its comment says
// otherwise.

#ifndef USERSTORE_CHANGELOG_H_
#define USERSTORE_CHANGELOG_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

#include "userstore/durable.h"
#include "userstore/replication.h"
#include "userstore/user_store.h"

namespace userstore {

// userstore::ChangelogLog
//
// One stream of a distributed log, as the leader and followers use it.
// Errors common to every call: UNAVAILABLE (503/20503) when the log cannot
// be reached or answers with an error (the message says which); the call
// may be retried. A call that runs out of memory may throw std::bad_alloc
// (the leader and followers catch it and retry): an implementation must
// stay usable then, and never let a later call read an answer meant for
// the failed one (the Redis log drops its connection first).
class ChangelogLog {
 public:
  struct Entry {
    std::string id;    // the log's ID for the entry (ordered by the log)
    std::string data;  // one changelog batch
  };
  struct Checkpoint {
    uint64_t sequence = 0;  // the store state it holds: events up to this one
    std::string bytes;      // a checkpoint file (docs/file-format.md)
  };

  virtual ~ChangelogLog() = default;

  // Entry IDs. An entry appended with (last_sequence, epoch) has the ID
  // "<last_sequence>-<epoch>" (decimal): IDs order like the stream, a reader
  // can resume after any sequence, and an appender whose append's answer was
  // lost recognizes its own entry. (On Redis Streams this is the entry's own
  // stream ID.)
  static std::string EntryId(uint64_t last_sequence, uint64_t epoch);
  // Parses an ID EntryId makes: two decimal numbers of at most 2^64-1, no
  // sign, no leading zeros; false for anything else ("" included).
  static bool ParseEntryId(absl::string_view id, uint64_t* last_sequence, uint64_t* epoch);

  // The stream, as a URL ("redis://127.0.0.1:6379/users-p0").
  virtual std::string url() const = 0;

  // The ID of the stream's last entry; "" when it has none.
  virtual absl::StatusOr<std::string> LastId() = 0;

  // Appends `data` as the entry after `expected_last_id` ("" for an empty
  // stream), its events ending at `last_sequence`, by `epoch`: only if the
  // stream's last entry is still `expected_last_id`, atomically. Returns the
  // new entry's ID. Errors: 403/20403 (PERMISSION_DENIED) when the last
  // entry is another (the appender is fenced): nothing is appended.
  virtual absl::StatusOr<std::string> AppendIf(absl::string_view expected_last_id,
                                               uint64_t last_sequence, uint64_t epoch,
                                               absl::string_view data) = 0;

  // Up to `max` entries, in order, whose last sequence is after
  // `after_sequence`; waits up to `wait` for the first when there is none
  // yet (returns an empty vector then). An entry that holds no batch (a
  // foreign writer's) ends the read before it; a read that starts at it
  // fails with 400/20001.
  virtual absl::StatusOr<std::vector<Entry>> ReadAfter(uint64_t after_sequence, size_t max,
                                                       absl::Duration wait) = 0;

  // Replaces the stored checkpoint, atomically. Then (and only then) the
  // caller may trim behind it.
  virtual absl::Status PutCheckpoint(uint64_t sequence, absl::string_view bytes) = 0;

  // The stored checkpoint. NOT_FOUND (404/20404) when there is none.
  virtual absl::StatusOr<Checkpoint> GetCheckpoint() = 0;

  // Removes the entries whose every event is at or before `sequence`, which
  // must not be after the stored checkpoint's (400/20001 otherwise).
  virtual absl::Status TrimThrough(uint64_t sequence) = 0;
};

// userstore::OpenChangelogLog()
//
// Connects to the stream a URL names:
//   redis://HOST:PORT/STREAM         (TCP)
//   redis+unix:///PATH/TO/SOCKET?stream=STREAM
// Errors: 400/20001 for a malformed URL or an unknown scheme (the message
// names it); 503/20503 when the server cannot be reached.
absl::StatusOr<std::unique_ptr<ChangelogLog>> OpenChangelogLog(absl::string_view url);

// userstore::ChangelogOptions
struct ChangelogOptions {
  enum class Mode : uint8_t {
    // A write returns before the log has its event; the write path never
    // waits on the network. A leader lost before shipping loses what it
    // had not shipped (measured in docs/scaling.md).
    kAsync = 0,
    // A write returns after the log acknowledged its event (group shipping:
    // concurrent writes share a batch). A failover loses no acknowledged
    // write.
    kSync = 1,
  };
  Mode mode = Mode::kAsync;

  // At most this many events per appended batch. Default: 512.
  size_t max_batch_events = 512;

  // kAsync: how long the shipping thread waits for a batch to fill
  // (`max_batch_events`) before it appends a smaller one; zero appends what
  // is queued at once. The log's cost is mostly per append, so under load a
  // short wait buys fewer, larger appends (less of the machine spent
  // shipping) for at most this much more lag. Not used in kSync, where
  // writers wait for their batch. Default: 1 ms.
  absl::Duration batch_delay = absl::Milliseconds(1);

  // kSync: how long a write waits for the log before answering 503/20503
  // (its change is kept locally and still shipped when the log is back).
  // Default: 5 s.
  absl::Duration ack_timeout = absl::Seconds(5);

  // kAsync: events committed but not yet acknowledged by the log past which
  // new writes answer 503/20503 (nothing changed) until the log catches up:
  // the bound on memory and on what a lost leader can lose. Default: 2^20.
  // (The leader's queue holds these events' bytes in 1 MiB blocks that it
  // reuses; it keeps the most it ever held until it stops.)
  uint64_t max_unshipped_events = uint64_t{1} << 20;

  // Between two attempts to reach a log that failed. Default: 100 ms.
  absl::Duration retry_interval = absl::Milliseconds(100);

  // The file system of the store's directory (where the leader keeps its
  // LEADS file). Default (nullptr): Env::Default(). Must be the store's.
  Env* env = nullptr;
};

// userstore::ChangelogLeader
//
// Ships a durable store's journal to its partition's stream: it taps the
// journal (UserStore::SetJournalTap), so each write's event is shipped in
// the bytes the journal wrote, with no event built or encoded again. Writes
// to the store go on as usual; the leader sets the store's WriteGate and its
// journal tap (a store has one of each: do not set them while it leads).
class ChangelogLeader {
 public:
  struct Stats {
    uint64_t epoch = 0;
    // The store's last_sequence() (or, while a write commits, the event the
    // log already has): never below shipped_sequence, so committed_sequence -
    // shipped_sequence is the events not yet shipped.
    uint64_t committed_sequence = 0;
    uint64_t shipped_sequence = 0;  // the last one the log acknowledged
    uint64_t batches = 0;           // appended
    uint64_t retries = 0;           // appends retried after an error
    bool fenced = false;            // another leader took the stream
    // The last append's error (OK: none); RESOURCE_EXHAUSTED when the
    // shipping thread ran out of memory framing or appending a batch (it
    // retries after retry_interval, as after the log's errors).
    absl::Status last_error;
  };

  // Takes the lead of `log`'s stream for `store` (a durable store,
  // durable.h), in one of two cases:
  //   - the stream is empty: the store's checkpoint is stored first, so
  //     that followers can bootstrap;
  //   - this store's directory led the stream (its LEADS file names the
  //     stream and the epoch of the stream's last entry: a restart), and the
  //     store holds exactly what the stream holds.
  // A store that has never led the stream takes it over only through
  // ChangelogFollower::Promote; one whose epoch was superseded (a deposed
  // leader, restarted) is refused. Appends a fence entry with the next
  // epoch, conditionally, and records that epoch in LEADS: from then on no
  // earlier leader can append. Errors: 400/20001 for an in-memory store, a
  // directory that never led the stream, or a store that does not match it
  // (the message gives both sequences); 403/20403 for a deposed leader, or
  // when another leader appended meanwhile; 503/20503 when the log cannot be
  // reached. `store` must outlive the leader; start it before other threads
  // write.
  static absl::StatusOr<std::unique_ptr<ChangelogLeader>> Start(UserStore* store,
                                                                std::unique_ptr<ChangelogLog> log,
                                                                const ChangelogOptions& options);

  // Ships what is committed (waiting up to the ack timeout), stops the
  // shipping thread and unsets the store's gate.
  ~ChangelogLeader();

  // Waits until every event committed before the call is acknowledged by the
  // log. Errors: 503/20503 after `timeout`; 403/20403 once fenced.
  absl::Status Flush(absl::Duration timeout);

  // Takes a store checkpoint, stores it in the log, then trims the stream
  // behind it. Holds the checkpoint file's bytes in memory while it stores
  // them. Errors: those of UserStore::Checkpoint and of the log;
  // RESOURCE_EXHAUSTED when it runs out of memory (the stream stays whole:
  // its old checkpoint, or the new one not yet trimmed behind).
  absl::Status Checkpoint();

  Stats stats() const;

  // The implementation (core/changelog/); built by the calls above.
  class Impl;
  explicit ChangelogLeader(std::unique_ptr<Impl> impl);

 private:
  std::unique_ptr<Impl> impl_;
};

// userstore::ChangelogFollower
//
// A read-only replica of a partition: a durable store in its own directory,
// bootstrapped from the stream's checkpoint when the directory is new, then
// following the stream. Writes to its store answer 403/20403; reads go on
// while it follows. It resumes after a restart from its own durable
// position, applying nothing twice.
class ChangelogFollower {
 public:
  struct Lag {
    uint64_t applied_sequence = 0;  // the store's last_sequence()
    uint64_t log_sequence = 0;      // the last sequence the log held when last read
    uint64_t events_behind = 0;     // log_sequence - applied_sequence
    absl::Duration behind;          // now - when the leader made the last applied batch
  };

  // Opens (or bootstraps) the follower's store in `dir`. Errors: those of
  // OpenUserStore and of the log; 404/20404 when the directory is new and
  // the stream has no checkpoint (no leader has started); 400/20001 when the
  // directory holds a store of another stream (its account differs) or
  // further along than the stream.
  static absl::StatusOr<std::unique_ptr<ChangelogFollower>> Open(const std::string& dir,
                                                                 const DurableOptions& options,
                                                                 std::unique_ptr<ChangelogLog> log);

  // Stops following (the background thread, if started).
  ~ChangelogFollower();

  // The replica. Valid as long as the follower.
  UserStore& store();

  // Applies what the log holds now (up to 64 entries a call; waiting up to
  // `wait` for something when it holds nothing new): each entry is checked
  // whole before any of it is applied, and its events are applied as the
  // bytes they are (UserStore::ApplyEncoded). After a read of 64 entries it
  // reads the next ones on a thread of its own while it applies; the next
  // Poll takes them. Returns how many events it applied. Errors: DATA_LOSS
  // naming the stream and the entry for an entry that does not decode, goes
  // back in epoch, or leaves a sequence gap (nothing of it is applied), or
  // an event that does not apply (the follower stops before it); the
  // follower then stops for good: every later call fails the same way.
  // 503/20503 when the log cannot be reached, or the store's own journal
  // cannot take an event (those before it stay applied), or when it runs
  // out of memory before applying anything: retry. Out of memory while the
  // store applies: RESOURCE_EXHAUSTED, and the follower stops for good (its
  // store may hold a change it has not numbered); reopened, it resumes from
  // what its directory holds. O(bytes read) plus each event's apply.
  absl::StatusOr<uint64_t> Poll(absl::Duration wait);

  // Polls until it has applied everything the log held when called.
  // Errors: Poll's; 503/20503 after `timeout`.
  absl::Status CatchUp(absl::Duration timeout);

  // Follows on a background thread until destroyed, Stop()ped, or an error
  // that stops it (last_error()).
  void Start();
  void Stop();
  absl::Status last_error() const;

  Lag lag() const;

  // Promotes this follower to the partition's leader: stops following,
  // applies everything the log holds, advances the SID generator past its
  // old leader's, and takes the lead with the next epoch (Start): the old
  // leader is fenced. The follower is consumed; its store, now writable, is
  // returned with the leader that ships it (the leader is declared second,
  // so it is destroyed first). Errors: CatchUp's and Start's; on an error
  // the store is closed and its directory is left a valid follower's.
  struct Promoted {
    std::unique_ptr<UserStore> store;
    std::unique_ptr<ChangelogLeader> leader;
  };
  static absl::StatusOr<Promoted> Promote(std::unique_ptr<ChangelogFollower> follower,
                                          const ChangelogOptions& options);

  // The implementation (core/changelog/); built by the calls above.
  class Impl;
  explicit ChangelogFollower(std::unique_ptr<Impl> impl);

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace userstore

#endif  // USERSTORE_CHANGELOG_H_
