// RedisLog (redis_log.h): the changelog on a Redis stream. The handshake,
// the scripts and the log's operations; the connection itself (commands
// written, replies read, timeouts) is in redis_connection.cc.

#include "core/changelog/redis_log.h"

#include <cstdint>
#include <limits>
#include <map>
#include <memory>
#include <new>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include <hiredis/hiredis.h>

#include "userstore/status.h"

namespace userstore {
namespace internal {
namespace changelog {
namespace {

constexpr uint64_t kMaxU64 = std::numeric_limits<uint64_t>::max();
constexpr size_t kMaxPartBytes = size_t{512} << 20;

// Batches from this size on take the watched append (redis_log.h); smaller
// ones, the script. The server's CPU time per append, measured one append at
// a time: 300 B, script 29 us, watched 33-34 us (five commands, not one);
// 2-4 KiB, a tie; 8 KiB, 54-61 against 48-53 us; 64 KiB, 259-315 against
// 177-212 us (BM_LogAppend: 440 against 343 us on a slower day).
constexpr size_t kWatchedAppendMinBytes = 4096;

// Defines true_last(): the stream's last-generated-id ("" when the key does
// not exist or nothing was ever appended), which Redis keeps when XTRIM or
// XDEL removes entries. XINFO STREAM also copies the first and the last
// entry (a batch each) into its reply: exact, but not for every append.
// KEYS[1] = the stream.
constexpr char kLastIdPrelude[] = R"lua(
local function true_last()
  if redis.call('EXISTS', KEYS[1]) == 0 then return '' end
  local info = redis.call('XINFO', 'STREAM', KEYS[1])
  for i = 1, #info, 2 do
    if info[i] == 'last-generated-id' then
      if info[i + 1] == '0-0' then return '' end
      return info[i + 1]
    end
  end
  return redis.error_reply('ERR XINFO STREAM has no last-generated-id')
end
)lua";

// KEYS = the stream.
constexpr char kLastIdBody[] = "return true_last()\n";

// KEYS = the stream, its last-ID key; ARGV = the expected last ID, the new
// ID, the batch.
// The last-ID key holds the ID of the last append made through this script,
// so it is the stream's last ID unless another writer appended with a plain
// XADD: an entry after it (the XRANGE, O(log n), empty in the normal case),
// or one added and deleted again, which the XADD itself then refuses (its ID
// is not above the stream's last-generated-id). Appends through the watched
// path (RedisLog::AppendIf) do not set the key: their entries follow it, and
// the XRANGE sees them. Only a missing key, a mismatch, entries after it or
// such a refusal pays for true_last().
constexpr char kAppendBody[] = R"lua(
local last = redis.call('GET', KEYS[2])
if not last or last ~= ARGV[1] or
    #redis.call('XRANGE', KEYS[1], '(' .. last, '+', 'COUNT', 1) > 0 then
  last = true_last()
end
if last ~= ARGV[1] then return redis.error_reply('FENCED last=' .. last) end
local id = redis.pcall('XADD', KEYS[1], ARGV[2], 'b', ARGV[3])
if type(id) == 'table' and id.err then
  if string.find(id.err, 'smaller', 1, true) then
    return redis.error_reply('FENCED last=' .. true_last())
  end
  return id
end
redis.call('SET', KEYS[2], id)
return id
)lua";

// KEYS = the stream, its checkpoint hash; ARGV = the sequence (decimal), the
// MINID to trim below ("" = everything).
constexpr char kTrimScript[] = R"lua(
local cp = redis.call('HGET', KEYS[2], 'sequence')
if not cp then return redis.error_reply('NOCHECKPOINT none stored') end
local s = ARGV[1]
if #s > #cp or (#s == #cp and s > cp) then return redis.error_reply('PASTCHECKPOINT ' .. cp) end
if ARGV[2] == '' then return redis.call('XTRIM', KEYS[1], 'MAXLEN', 0) end
return redis.call('XTRIM', KEYS[1], 'MINID', ARGV[2])
)lua";

const std::string& ScriptBody(int script) {
  static const std::string* const kBodies = new std::string[3]{
      absl::StrCat(kLastIdPrelude, kLastIdBody),
      absl::StrCat(kLastIdPrelude, kAppendBody),
      std::string(kTrimScript),
  };
  return kBodies[script];
}

bool ParseU64(absl::string_view text, uint64_t* value) {
  if (text.empty() || text.size() > 20) return false;
  if (text.size() > 1 && text[0] == '0') return false;
  for (char c : text) {
    if (c < '0' || c > '9') return false;
  }
  return absl::SimpleAtoi(text, value);
}

absl::string_view ReplyText(const redisReply* reply) {
  return absl::string_view(reply->str, reply->len);
}

bool IsError(const redisReply* reply) { return reply->type == REDIS_REPLY_ERROR; }

// "redis_version:7.0.15" of an INFO reply: the version as major * 100 + minor.
int ParseVersion(absl::string_view info, std::string* text) {
  for (absl::string_view line : absl::StrSplit(info, '\n')) {
    if (!absl::ConsumePrefix(&line, "redis_version:")) continue;
    absl::ConsumeSuffix(&line, "\r");
    *text = std::string(line);
    std::vector<absl::string_view> parts = absl::StrSplit(line, '.');
    int major = 0;
    int minor = 0;
    if (parts.size() < 2 || !absl::SimpleAtoi(parts[0], &major) ||
        !absl::SimpleAtoi(parts[1], &minor)) {
      return -1;
    }
    return major * 100 + minor;
  }
  return -1;
}

}  // namespace

RedisLog::RedisLog(const LogUrl& url, const RedisLogOptions& options)
    : parsed_url_(url),
      url_(FormatLogUrl(url)),
      stream_key_(url.stream),
      checkpoint_key_(absl::StrCat(url.stream, "/checkpoint")),
      last_id_key_(absl::StrCat(url.stream, "/last")),
      options_(options) {}

RedisLog::~RedisLog() {
  absl::MutexLock lock(&mu_);
  Disconnect();
}

absl::StatusOr<std::unique_ptr<RedisLog>> RedisLog::Open(const LogUrl& url,
                                                         const RedisLogOptions& options) {
  if (options.connect_timeout <= absl::ZeroDuration() ||
      options.command_timeout <= absl::ZeroDuration() || options.max_wait < absl::ZeroDuration()) {
    return InvalidParameterError("changelog log: timeouts must be positive");
  }
  if (options.checkpoint_part_bytes == 0 || options.checkpoint_part_bytes > kMaxPartBytes) {
    return InvalidParameterError(
        absl::StrCat("changelog log: checkpoint_part_bytes must be 1-", kMaxPartBytes));
  }
  std::unique_ptr<RedisLog> log(new RedisLog(url, options));
  {
    absl::MutexLock lock(&log->mu_);
    absl::Status connected = log->EnsureConnected();
    if (!connected.ok()) return connected;
  }
  return log;
}

absl::Status RedisLog::EnsureConnected() {
  if (context_ != nullptr) return absl::OkStatus();
#if defined(__cpp_exceptions)
  try {
#endif
    return Connect();
#if defined(__cpp_exceptions)
  } catch (const std::bad_alloc&) {
    // Connected but not yet checked (the version, the scripts): dropped,
    // so that the next call starts again instead of taking it as ready.
    Disconnect();
    throw;
  }
#endif
}

absl::Status RedisLog::Connect() {
  const struct timeval connect_timeout = absl::ToTimeval(options_.connect_timeout);
  redisContext* context =
      parsed_url_.scheme == "redis+unix"
          ? redisConnectUnixWithTimeout(parsed_url_.socket_path.c_str(), connect_timeout)
          : redisConnectWithTimeout(parsed_url_.host.c_str(), parsed_url_.port, connect_timeout);
  if (context == nullptr) return Unavailable("cannot connect: out of memory");
  if (context->err != 0) {
    const std::string why = context->errstr;
    redisFree(context);
    return Unavailable(absl::StrCat("cannot connect: ", why));
  }
  context_ = context;
  socket_timeout_ = absl::ZeroDuration();
  if (parsed_url_.scheme == "redis") redisEnableKeepAlive(context_);
  absl::Status status = SetSocketTimeout(options_.command_timeout);
  if (!status.ok()) return status;

  // One round trip: the version, then the scripts.
  std::vector<std::vector<absl::string_view>> commands;
  commands.push_back({"INFO", "server"});
  for (int script = 0; script < kScriptCount; ++script) {
    commands.push_back({"SCRIPT", "LOAD", ScriptBody(script)});
  }
  size_t sent = 0;
  absl::StatusOr<std::vector<Reply>> replies =
      SendAndReceive(commands, options_.command_timeout, &sent);
  if (!replies.ok()) return replies.status();
  for (const Reply& reply : *replies) {
    if (IsError(reply.get())) {
      const std::string why(ReplyText(reply.get()));
      Disconnect();
      return Unavailable(absl::StrCat("at connection: ", why));
    }
  }
  const redisReply* info = (*replies)[0].get();
  std::string version = "unknown";
  const int number =
      info->type == REDIS_REPLY_STRING ? ParseVersion(ReplyText(info), &version) : -1;
  if (number < 602) {
    Disconnect();
    return Unavailable(absl::StrCat("needs Redis 6.2 or later (XTRIM MINID, exclusive XRANGE); ",
                                    "the server is ", version));
  }
  for (int script = 0; script < kScriptCount; ++script) {
    const redisReply* sha = (*replies)[script + 1].get();
    if (sha->type != REDIS_REPLY_STRING) {
      Disconnect();
      return Unavailable("SCRIPT LOAD answered no SHA1");
    }
    script_sha_[script] = std::string(ReplyText(sha));
  }
  return absl::OkStatus();
}

absl::StatusOr<RedisLog::Reply> RedisLog::RunScript(Script script,
                                                    const std::vector<absl::string_view>& keys,
                                                    const std::vector<absl::string_view>& args) {
  absl::Status connected = EnsureConnected();
  if (!connected.ok()) return connected;
  const std::string key_count = absl::StrCat(keys.size());
  // A copy: a reconnection inside Command() reassigns script_sha_.
  const std::string sha = script_sha_[script];
  std::vector<absl::string_view> command = {"EVALSHA", sha, key_count};
  command.insert(command.end(), keys.begin(), keys.end());
  command.insert(command.end(), args.begin(), args.end());
  absl::StatusOr<Reply> reply = Command(command, options_.command_timeout);
  if (!reply.ok() || !IsError(reply->get()) ||
      !absl::StartsWith(ReplyText(reply->get()), "NOSCRIPT")) {
    return reply;
  }
  command[0] = "EVAL";
  command[1] = ScriptBody(script);
  return Command(command, options_.command_timeout);
}

absl::StatusOr<std::string> RedisLog::LastId() {
  absl::MutexLock lock(&mu_);
  absl::StatusOr<Reply> reply = RunScript(kLastIdScript, {stream_key_}, {});
  if (!reply.ok()) return reply.status();
  const redisReply* r = reply->get();
  if (IsError(r)) return Unavailable(absl::StrCat("last ID: ", ReplyText(r)));
  if (r->type != REDIS_REPLY_STRING) return Unavailable("last ID: not a string");
  return std::string(ReplyText(r));
}

absl::StatusOr<std::string> RedisLog::AppendIf(absl::string_view expected_last_id,
                                               uint64_t last_sequence, uint64_t epoch,
                                               absl::string_view data) {
  const std::string id = ChangelogLog::EntryId(last_sequence, epoch);
  if (last_sequence == 0 && epoch == 0) {
    return InvalidParameterError(absl::StrCat(url_, ": the entry ID 0-0 is not allowed"));
  }
  if (!expected_last_id.empty()) {
    uint64_t expected_sequence = 0;
    uint64_t expected_epoch = 0;
    if (!ChangelogLog::ParseEntryId(expected_last_id, &expected_sequence, &expected_epoch)) {
      return InvalidParameterError(absl::StrCat(url_, ": the expected last ID '", expected_last_id,
                                                "' is not an entry ID (SEQUENCE-EPOCH)"));
    }
    if (std::make_pair(last_sequence, epoch) <= std::make_pair(expected_sequence, expected_epoch)) {
      return InvalidParameterError(absl::StrCat(url_, ": the new entry ID ", id,
                                                " is not after the expected last ID ",
                                                expected_last_id));
    }
  }
  const bool large = options_.watched_appends && data.size() >= kWatchedAppendMinBytes;
  absl::MutexLock lock(&mu_);
  if (large && !watched_last_.empty() && watched_last_ == expected_last_id) {
    std::optional<absl::StatusOr<std::string>> appended = AppendWatched(id, data);
    if (appended.has_value()) return *std::move(appended);
  }
  watched_last_.clear();  // the script's XADD writes to the stream
  absl::StatusOr<Reply> reply =
      RunScript(kAppendScript, {stream_key_, last_id_key_}, {expected_last_id, id, data});
  if (!reply.ok()) return reply.status();
  const redisReply* r = reply->get();
  if (!IsError(r) && r->type == REDIS_REPLY_STRING) {
    std::string appended(ReplyText(r));
    if (!large) return appended;
    // Arms the watched path for the next append (one round trip, not
    // retried: an unarmed log only goes on with the script).
    size_t sent = 0;
    absl::StatusOr<std::vector<Reply>> armed =
        SendAndReceive({{"UNWATCH"}, {"WATCH", stream_key_}, XrangeAfter(appended)},
                       options_.command_timeout, &sent);
    if (armed.ok()) NoteWatched(appended, (*armed)[2].get());
    return appended;
  }
  if (IsError(r)) {
    absl::string_view text = ReplyText(r);
    absl::ConsumePrefix(&text, "ERR ");
    if (absl::ConsumePrefix(&text, "FENCED last=")) {
      return MakeError(ErrorCode::kForbidden,
                       absl::StrCat(url_, ": fenced: the stream's last entry is '", text,
                                    "', not the expected '", expected_last_id,
                                    "' (another appender took the stream); nothing appended"));
    }
    return Unavailable(absl::StrCat("append ", id, ": ", text));
  }
  return Unavailable("append: XADD answered no ID");
}

std::vector<absl::string_view> RedisLog::XrangeAfter(absl::string_view id) {
  xrange_start_ = absl::StrCat("(", id);
  return {"XRANGE", stream_key_, xrange_start_, "+", "COUNT", "1"};
}

void RedisLog::NoteWatched(absl::string_view id, const redisReply* after) {
  const bool nothing_after = after->type == REDIS_REPLY_ARRAY && after->elements == 0;
  watched_last_ = nothing_after ? std::string(id) : std::string();
}

std::optional<absl::StatusOr<std::string>> RedisLog::AppendWatched(absl::string_view id,
                                                                   absl::string_view data) {
  // The connection has watched the stream since `watched_last_` was found
  // to be its last entry: EXEC runs the XADD only if nothing wrote to the
  // stream since, so the expected last entry still is. Then the stream is
  // watched again behind the new entry. One round trip, and no script: a
  // script copies the batch into Lua and back before XADD copies it into
  // the stream, a fifth to a third of the server's time per 64 KiB append
  // (docs/performance.md). Not retried on a new connection, which would not
  // watch.
  watched_last_.clear();
  // (Disconnect() clears watched_last_, so the connection is the watching
  // one; SendAndReceive would otherwise connect anew, with no WATCH.)
  if (context_ == nullptr) return std::nullopt;
  size_t sent = 0;
  absl::StatusOr<std::vector<Reply>> replies = SendAndReceive({{"MULTI"},
                                                               {"XADD", stream_key_, id, "b", data},
                                                               {"EXEC"},
                                                               {"WATCH", stream_key_},
                                                               XrangeAfter(id)},
                                                              options_.command_timeout, &sent);
  if (!replies.ok()) {
    // EXEC not sent whole: the server discards a MULTI its connection lost,
    // so nothing was appended, and the script decides on a new connection.
    // Sent: the append may have landed; the caller's retry recognizes it.
    if (sent < 3) return std::nullopt;
    return replies.status();
  }
  const redisReply* exec = (*replies)[2].get();
  if (exec->type == REDIS_REPLY_ARRAY && exec->elements == 1 &&
      exec->element[0]->type == REDIS_REPLY_STRING) {
    std::string appended(ReplyText(exec->element[0]));
    NoteWatched(appended, (*replies)[4].get());
    return appended;
  }
  // The stream changed since the WATCH (nil), or the XADD was refused
  // inside the transaction (its ID not above the stream's last-generated-
  // id), or queuing it failed (EXECABORT): nothing was appended. The
  // script decides, as for an unwatched append.
  return std::nullopt;
}

absl::StatusOr<std::vector<ChangelogLog::Entry>> RedisLog::ParseEntries(
    const redisReply* entries) const {
  std::vector<Entry> out;
  if (entries->type != REDIS_REPLY_ARRAY) return Unavailable("read: entries are not an array");
  out.reserve(entries->elements);
  for (size_t i = 0; i < entries->elements; ++i) {
    const redisReply* entry = entries->element[i];
    if (entry->type != REDIS_REPLY_ARRAY || entry->elements != 2 ||
        entry->element[0]->type != REDIS_REPLY_STRING ||
        entry->element[1]->type != REDIS_REPLY_ARRAY) {
      return Unavailable("read: an entry is not [ID, fields]");
    }
    Entry parsed;
    parsed.id = std::string(ReplyText(entry->element[0]));
    const redisReply* fields = entry->element[1];
    bool found = false;
    for (size_t f = 0; f + 1 < fields->elements; f += 2) {
      if (fields->element[f]->type == REDIS_REPLY_STRING && ReplyText(fields->element[f]) == "b" &&
          fields->element[f + 1]->type == REDIS_REPLY_STRING) {
        parsed.data = std::string(ReplyText(fields->element[f + 1]));
        found = true;
        break;
      }
    }
    if (!found) {
      // The entries before it are read; the next read starts at it.
      if (!out.empty()) return out;
      return InvalidParameterError(
          absl::StrCat(url_, ": entry ", parsed.id, " has no field 'b' (not a changelog batch)"));
    }
    out.push_back(std::move(parsed));
  }
  return out;
}

absl::StatusOr<std::vector<ChangelogLog::Entry>> RedisLog::ReadAfter(uint64_t after_sequence,
                                                                     size_t max,
                                                                     absl::Duration wait) {
  // COUNT 0 would mean "no limit"; no ID is after S-(2^64-1) when S is 2^64-1.
  if (max == 0 || after_sequence == kMaxU64) return std::vector<Entry>();
  const std::string count = absl::StrCat(max);
  const std::string after = ChangelogLog::EntryId(after_sequence, kMaxU64);
  absl::MutexLock lock(&mu_);
  if (wait <= absl::ZeroDuration()) {
    const std::string start = absl::StrCat("(", after);
    absl::StatusOr<Reply> reply =
        Command({"XRANGE", stream_key_, start, "+", "COUNT", count}, options_.command_timeout);
    if (!reply.ok()) return reply.status();
    if (IsError(reply->get())) {
      return Unavailable(absl::StrCat("XRANGE: ", ReplyText(reply->get())));
    }
    return ParseEntries(reply->get());
  }
  if (wait > options_.max_wait) wait = options_.max_wait;
  // BLOCK takes milliseconds; round up so that a short wait still waits.
  const int64_t ms = absl::ToInt64Milliseconds(absl::Ceil(wait, absl::Milliseconds(1)));
  const std::string block = absl::StrCat(ms > 0 ? ms : 1);
  absl::StatusOr<Reply> reply =
      Command({"XREAD", "COUNT", count, "BLOCK", block, "STREAMS", stream_key_, after},
              wait + options_.command_timeout);
  if (!reply.ok()) return reply.status();
  const redisReply* r = reply->get();
  if (IsError(r)) return Unavailable(absl::StrCat("XREAD: ", ReplyText(r)));
  if (r->type == REDIS_REPLY_NIL) return std::vector<Entry>();  // the wait ran out
  // [[stream, entries]]
  if (r->type != REDIS_REPLY_ARRAY || r->elements != 1 ||
      r->element[0]->type != REDIS_REPLY_ARRAY || r->element[0]->elements != 2) {
    return Unavailable("XREAD: not [[stream, entries]]");
  }
  return ParseEntries(r->element[0]->element[1]);
}

absl::Status RedisLog::PutCheckpoint(uint64_t sequence, absl::string_view bytes) {
  const std::string sequence_text = absl::StrCat(sequence);
  const size_t part_bytes = options_.checkpoint_part_bytes;
  const size_t parts = (bytes.size() + part_bytes - 1) / part_bytes;
  const std::string parts_text = absl::StrCat(parts);
  std::vector<std::string> fields;
  fields.reserve(parts);
  for (size_t i = 0; i < parts; ++i) fields.push_back(absl::StrCat("part:", i));

  std::vector<std::vector<absl::string_view>> commands;
  // A WATCH left by an append would abort this EXEC if the stream changed.
  commands.push_back({"UNWATCH"});
  commands.push_back({"MULTI"});
  commands.push_back({"DEL", checkpoint_key_});
  commands.push_back({"HSET", checkpoint_key_, "sequence", sequence_text, "parts", parts_text});
  for (size_t i = 0; i < parts; ++i) {
    commands.push_back(
        {"HSET", checkpoint_key_, fields[i], bytes.substr(i * part_bytes, part_bytes)});
  }
  commands.push_back({"EXEC"});

  absl::MutexLock lock(&mu_);
  watched_last_.clear();
  absl::StatusOr<std::vector<Reply>> replies = Pipeline(commands, options_.command_timeout);
  if (!replies.ok()) return replies.status();
  // A refused command (QUEUED not answered) makes EXEC answer EXECABORT:
  // nothing is applied. EXEC's own reply is the outcome.
  const redisReply* exec = replies->back().get();
  if (IsError(exec)) {
    std::string why(ReplyText(exec));
    for (const Reply& reply : *replies) {
      if (reply.get() != exec && IsError(reply.get())) {
        absl::StrAppend(&why, " (", ReplyText(reply.get()), ")");
        break;
      }
    }
    return Unavailable(absl::StrCat("put checkpoint: ", why));
  }
  if (exec->type != REDIS_REPLY_ARRAY || exec->elements != commands.size() - 3) {
    return Unavailable("put checkpoint: EXEC did not run the transaction");
  }
  for (size_t i = 0; i < exec->elements; ++i) {
    if (IsError(exec->element[i])) {
      return Unavailable(absl::StrCat("put checkpoint: ", ReplyText(exec->element[i])));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<ChangelogLog::Checkpoint> RedisLog::GetCheckpoint() {
  absl::MutexLock lock(&mu_);
  absl::StatusOr<Reply> reply = Command({"HGETALL", checkpoint_key_}, options_.command_timeout);
  if (!reply.ok()) return reply.status();
  const redisReply* r = reply->get();
  if (IsError(r)) return Unavailable(absl::StrCat("get checkpoint: ", ReplyText(r)));
  if (r->type != REDIS_REPLY_ARRAY) return Unavailable("get checkpoint: HGETALL answered no array");
  if (r->elements == 0) {
    return MakeError(ErrorCode::kNotFound,
                     absl::StrCat(url_, ": no checkpoint stored (", checkpoint_key_, ")"));
  }
  std::map<absl::string_view, absl::string_view> fields;
  for (size_t i = 0; i + 1 < r->elements; i += 2) {
    if (r->element[i]->type != REDIS_REPLY_STRING ||
        r->element[i + 1]->type != REDIS_REPLY_STRING) {
      return Unavailable("get checkpoint: HGETALL answered a non-string");
    }
    fields[ReplyText(r->element[i])] = ReplyText(r->element[i + 1]);
  }
  auto damaged = [this](absl::string_view what) {
    return Unavailable(absl::StrCat("the checkpoint ", checkpoint_key_, " is damaged: ", what));
  };
  Checkpoint checkpoint;
  uint64_t parts = 0;
  auto sequence = fields.find("sequence");
  auto parts_field = fields.find("parts");
  if (sequence == fields.end() || !ParseU64(sequence->second, &checkpoint.sequence)) {
    return damaged("no sequence");
  }
  if (parts_field == fields.end() || !ParseU64(parts_field->second, &parts) ||
      parts > fields.size()) {
    return damaged("no part count");
  }
  size_t total = 0;
  std::vector<absl::string_view> chunks;
  chunks.reserve(parts);
  for (uint64_t i = 0; i < parts; ++i) {
    auto part = fields.find(absl::StrCat("part:", i));
    if (part == fields.end())
      return damaged(absl::StrCat("part ", i, " of ", parts, " is missing"));
    chunks.push_back(part->second);
    total += part->second.size();
  }
  checkpoint.bytes.reserve(total);
  for (absl::string_view chunk : chunks) checkpoint.bytes.append(chunk.data(), chunk.size());
  return checkpoint;
}

absl::Status RedisLog::TrimThrough(uint64_t sequence) {
  const std::string sequence_text = absl::StrCat(sequence);
  const std::string min_id = sequence == kMaxU64 ? "" : ChangelogLog::EntryId(sequence + 1, 0);
  absl::MutexLock lock(&mu_);
  // The trim writes to the stream: the watched path's next EXEC would fail.
  watched_last_.clear();
  absl::StatusOr<Reply> reply =
      RunScript(kTrimScript, {stream_key_, checkpoint_key_}, {sequence_text, min_id});
  if (!reply.ok()) return reply.status();
  const redisReply* r = reply->get();
  if (!IsError(r)) return absl::OkStatus();
  absl::string_view text = ReplyText(r);
  absl::ConsumePrefix(&text, "ERR ");
  if (absl::StartsWith(text, "NOCHECKPOINT ")) {
    return InvalidParameterError(
        absl::StrCat(url_, ": cannot trim through ", sequence, ": no checkpoint is stored"));
  }
  if (absl::ConsumePrefix(&text, "PASTCHECKPOINT ")) {
    return InvalidParameterError(absl::StrCat(url_, ": cannot trim through ", sequence,
                                              ": after the stored checkpoint's sequence ", text));
  }
  return Unavailable(absl::StrCat("trim: ", text));
}

}  // namespace changelog
}  // namespace internal

absl::StatusOr<std::unique_ptr<ChangelogLog>> OpenChangelogLog(absl::string_view url) {
  absl::StatusOr<internal::changelog::LogUrl> parsed = internal::changelog::ParseLogUrl(url);
  if (!parsed.ok()) return parsed.status();
  // Both schemes (redis, redis+unix) are Redis.
  absl::StatusOr<std::unique_ptr<internal::changelog::RedisLog>> log =
      internal::changelog::RedisLog::Open(*parsed, internal::changelog::RedisLogOptions());
  if (!log.ok()) return log.status();
  return std::unique_ptr<ChangelogLog>(std::move(*log));
}

}  // namespace userstore
