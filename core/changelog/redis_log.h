// The changelog's log on Redis Streams (changelog.h, ChangelogLog), through
// one synchronous hiredis connection.
//
// DESIGN
//
// Keys. The URL's stream names the stream key; its checkpoint is the hash
// `<stream>/checkpoint` beside it, and the ID of its last append the string
// `<stream>/last`. ('/' cannot occur in a stream name (log_url.h), so no
// stream's checkpoint or last-ID key is another stream's key.)
//
// Entries. Each entry holds one field, "b", whose value is the batch's bytes.
// Its ID is `<last_sequence>-<epoch>` (ChangelogLog::EntryId): the ID's 64-bit
// "milliseconds" part is the batch's last sequence, its 64-bit "sequence"
// part the appender's epoch. Redis takes any explicit ID greater than the
// stream's last one, so IDs are ordered like the log: a batch's sequences
// follow the previous batch's, and a new leader's fence entry (no events,
// the same last sequence, the next epoch) sorts after the last entry of the
// leader it fences. Redis refuses 0-0, so an entry needs a sequence or an
// epoch above zero.
//
// The stream's last ID. "The last entry" is the last ID ever appended: the
// stream's last-generated-id (XINFO STREAM), which Redis keeps when XTRIM or
// XDEL removes entries, even every entry (an empty stream key stays). Hence
// trimming never re-opens the stream to an appender that expects an older
// ID or "" (the entry with the highest ID may be gone; its ID is not).
// LastId() reads it. XINFO STREAM also copies the first and the last entry
// into its reply (a batch each), so appends do not read it: each records its
// ID in `<stream>/last`, and the next append trusts that key unless it is
// missing (a stream written before the key existed), differs from the
// expected ID, or another writer's plain XADD left an entry after it (an
// XRANGE after the key's ID, O(log n), empty in the normal case); an entry
// added and deleted again by such a writer makes the XADD itself refuse (its
// ID is not above the last-generated-id), and that refusal is a fence too.
// Measured: with batches of 512 events (~75 KiB), reading XINFO on every
// append cost more than the append.
//
// Conditional append (the fence), AppendIf(). One Lua script, atomic on the
// server: find the last ID as above ("" when nothing was appended), compare
// it with the expected ID, and XADD (then record the new ID) only when they
// are equal; otherwise answer the error reply "FENCED last=<actual last
// ID>" and append nothing. The
// scripts are loaded (SCRIPT LOAD) at each connection and called with
// EVALSHA; a NOSCRIPT answer (SCRIPT FLUSH, a failover to a replica that
// never loaded them) falls back to EVAL with the body. Cost: O(log n) plus
// the copies of the batch: into Lua, back out of it, and into the stream.
//
// The watched append, for batches of 4 KiB or more. After such an append of
// its own, the log WATCHes the stream on its connection and checks (XRANGE)
// that no entry follows its own; it then knows the stream's last entry
// until the stream is written again. The next such append that expects
// that entry sends, in one round trip,
//   MULTI, XADD <stream> <id> b <batch>, EXEC, WATCH <stream>, XRANGE (<id> + COUNT 1
// EXEC runs the XADD only when nothing wrote to the stream since the WATCH,
// which is the fence's condition; when anything did (another appender, a
// trim, a foreign XADD), EXEC answers nil, nothing is appended, and the
// script decides as above. The same rules, the same answers: a refused
// XADD inside EXEC (an ID not above a foreign writer's deleted entry) goes
// to the script too. A WATCH dies with its connection, so this append is
// never sent again on a new one. It does not set `<stream>/last`: the
// entries it adds follow that key's ID, so the script's XRANGE sees them
// and reads the last-generated-id instead. Measured (docs/performance.md,
// "The watched append"): the server's CPU time per 64 KiB append falls by
// a fifth to a third; below 4 KiB the five commands cost as much as the
// script's copies or more, and smaller batches (kSync's, under light
// load) keep the script.
//
// Reads, ReadAfter(S). An entry's last sequence is after S exactly when its
// ID is greater than `S-18446744073709551615` (every ID with S as its first
// part is at most that one), so with a wait:
//   XREAD COUNT max BLOCK ms STREAMS <stream> S-18446744073709551615
// and without one (BLOCK 0 would block for ever) the exclusive range
//   XRANGE <stream> (S-18446744073709551615 + COUNT max
// (exclusive starts since Redis 6.2). Entries that straddle S (their events
// begin at or before S and end after it) are returned: the follower skips
// the events it has. O(log n + max) each. A blocked read holds this
// object's connection, and with it its mutex, for up to the wait: read and
// append through different objects (the leader and the followers each have
// their own).
//
// Checkpoints, PutCheckpoint(). The hash `<stream>/checkpoint` holds
// `sequence`, `parts` (a count) and the bytes in fields `part:0`,
// `part:1`, ... of at most 64 MiB each, replaced in one MULTI/EXEC
// (DEL, then HSETs): a Redis string holds at most 512 MB
// (proto-max-bulk-len), which the parts remove as a cap on a checkpoint's
// size; a reader sees the old checkpoint or the new one, never a mix, and
// a connection lost before EXEC changes nothing. Each part is written from
// the caller's bytes (WriteCommand), so the client holds no copy of it.
// GetCheckpoint() is one HGETALL (atomic), O(size).
//
// Trimming, TrimThrough(S). One Lua script, atomic: refuse (400/20001) when
// there is no checkpoint or S is after its sequence; otherwise
//   XTRIM <stream> MINID <S+1>-0
// removes the entries whose last sequence is at most S (exact trimming, not
// `~`), O(removed). S = 2^64-1 trims everything (MAXLEN 0).
//
// Connections. One hiredis context, guarded by a mutex; 2 s to connect, a
// command timeout (5 s) on the socket, the wait plus that timeout for a
// blocking read. An I/O error or a timeout drops the connection and the
// next call connects again (and reloads the scripts). A call whose sending
// fails on a connection an earlier call made (the server closed it: a
// restart, a failover) is sent once more on a new one; nothing is retried
// once sent (the server may have run it): the caller sees 503 and decides. SIGPIPE is blocked on
// the calling thread around each exchange (writing to a socket the server
// closed would otherwise end the process) and a SIGPIPE it raised there is
// consumed. A server older than 6.2 is refused at connection (it lacks
// XTRIM MINID and exclusive ranges).
//
// Errors. Every failure to reach the server or error reply is UNAVAILABLE
// (503/20503) with the message "<url>: <what>"; a fenced append is 403/20403
// (kForbidden) naming the actual last ID; bad arguments (an expected ID that
// is no entry ID, a new ID not after it, a trim past the checkpoint) are
// 400/20001; no checkpoint is 404/20404.
//
// Out of memory. A call that runs out of memory throws std::bad_alloc, as
// the store's writes do (the changelog's leader and follower catch it and
// retry). When it does so in the middle of an exchange (between two
// commands, before their replies are read, during the connection's
// checks), the connection is dropped first, so that the next call never
// reads a reply meant for another. (hiredis allocates with malloc, which
// throws nothing: its failures to allocate are its own errors, an I/O
// error here, 503, which drops the connection too.)
//
// Redis Cluster: the scripts touch one key (AppendIf, LastId) or two
// (TrimThrough: the stream and its checkpoint), which Cluster allows only in
// one hash slot; this class speaks to one server (or a replicated primary)
// and does not use hash tags.
//
// Thread safety: RedisLog is thread-safe (one mutex around its connection:
// calls run one at a time).

#ifndef USERSTORE_CORE_CHANGELOG_REDIS_LOG_H_
#define USERSTORE_CORE_CHANGELOG_REDIS_LOG_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include <sys/uio.h>

#include "userstore/changelog.h"

#include "core/changelog/log_url.h"

struct redisContext;
struct redisReply;

namespace userstore {
namespace internal {
namespace changelog {

struct RedisLogOptions {
  // Connecting (and reconnecting). Default: 2 s.
  absl::Duration connect_timeout = absl::Seconds(2);
  // Every command; a blocking read gets its wait plus this. Default: 5 s.
  absl::Duration command_timeout = absl::Seconds(5);
  // A ReadAfter() wait longer than this waits this long (and returns no
  // entry when none came). Default: 60 s.
  absl::Duration max_wait = absl::Seconds(60);
  // A checkpoint's bytes are stored in parts of at most this many bytes.
  // At most 512 MB (Redis's cap on a string). Default: 64 MiB.
  size_t checkpoint_part_bytes = size_t{64} << 20;
  // Batches of 4 KiB or more through the connection's WATCH when it can
  // (the watched append, DESIGN above). False: every append runs the
  // script (the benchmark's baseline). Default: true.
  bool watched_appends = true;
};

// internal::changelog::RedisLog
//
// ChangelogLog on one Redis stream (see DESIGN above).
class RedisLog final : public ChangelogLog {
 public:
  // Connects. Errors: 400/20001 for options out of range; 503/20503 when the
  // server cannot be reached, or is older than Redis 6.2.
  static absl::StatusOr<std::unique_ptr<RedisLog>> Open(const LogUrl& url,
                                                        const RedisLogOptions& options);

  ~RedisLog() override;

  RedisLog(const RedisLog&) = delete;
  RedisLog& operator=(const RedisLog&) = delete;

  std::string url() const override { return url_; }
  absl::StatusOr<std::string> LastId() override;
  // Besides the interface's errors: 400/20001 when `expected_last_id` is
  // neither "" nor an entry ID, or the new ID `<last_sequence>-<epoch>` is
  // not after it (or is 0-0).
  absl::StatusOr<std::string> AppendIf(absl::string_view expected_last_id, uint64_t last_sequence,
                                       uint64_t epoch, absl::string_view data) override;
  // Besides the interface's errors: 400/20001 for an entry that has no
  // field "b" (something else wrote to the stream). `max` 0 reads nothing;
  // a zero or negative `wait` does not block.
  absl::StatusOr<std::vector<Entry>> ReadAfter(uint64_t after_sequence, size_t max,
                                               absl::Duration wait) override;
  absl::Status PutCheckpoint(uint64_t sequence, absl::string_view bytes) override;
  // Besides the interface's errors: 503/20503 for a checkpoint hash that is
  // damaged (a missing part or field).
  absl::StatusOr<Checkpoint> GetCheckpoint() override;
  absl::Status TrimThrough(uint64_t sequence) override;

  // The keys this log uses.
  const std::string& stream_key() const { return stream_key_; }
  const std::string& checkpoint_key() const { return checkpoint_key_; }

 private:
  struct ReplyDeleter {
    void operator()(redisReply* reply) const;
  };
  using Reply = std::unique_ptr<redisReply, ReplyDeleter>;
  enum Script : int { kLastIdScript = 0, kAppendScript = 1, kTrimScript = 2, kScriptCount = 3 };

  RedisLog(const LogUrl& url, const RedisLogOptions& options);

  absl::Status Unavailable(absl::string_view what) const;
  // Connects when not connected: a new context, the version check, the
  // scripts loaded.
  absl::Status EnsureConnected() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // EnsureConnected's work, when not connected.
  absl::Status Connect() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Disconnect() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The connection's I/O error, `doing` what, as 503 (`why`, or else what
  // hiredis recorded); drops the connection.
  absl::Status IoError(absl::string_view doing, absl::string_view why = "")
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status SetSocketTimeout(absl::Duration timeout) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Sends the commands as one pipeline and reads their replies (error
  // replies included). An I/O error drops the connection: 503. Sent again,
  // once, on a new connection when sending on a reused one failed.
  absl::StatusOr<std::vector<Reply>> Pipeline(
      const std::vector<std::vector<absl::string_view>>& commands, absl::Duration timeout)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // One attempt of Pipeline(); `*sent` counts the commands written whole
  // (each is written before the next is formatted).
  absl::StatusOr<std::vector<Reply>> SendAndReceive(
      const std::vector<std::vector<absl::string_view>>& commands, absl::Duration timeout,
      size_t* sent) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Writes one command to the connection with writev, from the caller's
  // bytes (hiredis would format it into a buffer of its own and copy that
  // into its output buffer: two copies and two allocations of a batch's
  // size per append, and a freed buffer the allocator may give back to the
  // system, unmapping pages and interrupting every core). An I/O error or
  // the socket's timeout drops the connection: 503.
  absl::Status WriteCommand(const std::vector<absl::string_view>& command)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::StatusOr<Reply> Command(const std::vector<absl::string_view>& args, absl::Duration timeout)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // EVALSHA, then EVAL on NOSCRIPT. Returns the reply (an error reply too).
  absl::StatusOr<Reply> RunScript(Script script, const std::vector<absl::string_view>& keys,
                                  const std::vector<absl::string_view>& args)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::StatusOr<std::vector<Entry>> ParseEntries(const redisReply* entries) const;
  // The append through the connection's WATCH (when `watched_last_` is the
  // expected last ID): MULTI, XADD, EXEC, then WATCH again. The result, or
  // nullopt when nothing was appended and the script is to decide.
  std::optional<absl::StatusOr<std::string>> AppendWatched(absl::string_view id,
                                                           absl::string_view data)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // XRANGE of the first entry after `id` (its start kept in xrange_start_).
  std::vector<absl::string_view> XrangeAfter(absl::string_view id)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Arms the watched path behind `id` when that XRANGE answered no entry.
  void NoteWatched(absl::string_view id, const redisReply* after)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const LogUrl parsed_url_;
  const std::string url_;
  const std::string stream_key_;
  const std::string checkpoint_key_;
  const std::string last_id_key_;
  const RedisLogOptions options_;

  absl::Mutex mu_;
  redisContext* context_ ABSL_GUARDED_BY(mu_) = nullptr;
  absl::Duration socket_timeout_ ABSL_GUARDED_BY(mu_);
  std::string script_sha_[kScriptCount] ABSL_GUARDED_BY(mu_);
  // The entry this connection's WATCH on the stream started behind: when
  // the WATCH was sent, it was the stream's last entry, appended by this
  // log just before. "" when the connection watches nothing usable (after a
  // reconnection, a trim, a checkpoint, a refused or foreign append).
  std::string watched_last_ ABSL_GUARDED_BY(mu_);
  // WriteCommand's headers and pieces, kept between calls.
  std::string header_ ABSL_GUARDED_BY(mu_);
  std::vector<struct iovec> iov_ ABSL_GUARDED_BY(mu_);
  std::vector<size_t> pieces_from_ ABSL_GUARDED_BY(mu_);
  std::string xrange_start_ ABSL_GUARDED_BY(mu_);
};

}  // namespace changelog
}  // namespace internal
}  // namespace userstore

#endif  // USERSTORE_CORE_CHANGELOG_REDIS_LOG_H_
