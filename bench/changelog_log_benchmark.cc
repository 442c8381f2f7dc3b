// -----------------------------------------------------------------------------
// File: bench/changelog_log_benchmark.cc
// -----------------------------------------------------------------------------
//
// userstore_changelog_log_bench: the two candidate logs for the changelog
// (include/userstore/changelog.h), Redis Streams and NATS JetStream, measured
// on the operations the changelog needs, from one C++ client on one machine.
// docs/scaling.md ("Why Redis Streams") has the numbers and the choice they inform.
//
// The program starts its own servers, each on a free loopback TCP port in a
// fresh temporary directory, and stops them when it ends (on success, on an
// error, on SIGINT/SIGTERM; a crash of the program kills them too, through
// PR_SET_PDEATHSIG):
//
//   redis-server --bind 127.0.0.1 --port P --save "" --appendonly no
//                --repl-diskless-sync-delay 0
//                (no persistence at all: the log's copy is the memory's),
//                and a second one, idle but in Redis_AppendIfWait, where
//                it is the first one's replica
//   nats-server  -js -a 127.0.0.1 -p P -sd DIR
//                (JetStream; the file store writes through the page cache
//                and does not fsync per message: its default)
//
// Both clients talk TCP over loopback, so neither is flattered by a unix
// socket. Payloads are random bytes of 256 B and 16 KiB: a changelog batch of
// a few events and one of many. Every benchmark runs on the wall clock
// (UseRealTime): the client waits on the server, and that wait is the cost.
//
// Workloads, named BM_<Log>_<Op>/<bytes>; items_per_second counts entries,
// `item_time` is its inverse (the time per entry, which for the one-at-a-time
// rows is the round trip):
//
//   Redis_Xadd           XADD key <n>-0 d <payload>: an append with an
//                        explicit, increasing ID, one round trip each.
//   Redis_XaddPipe       the same, 64 commands written before the 64 replies
//                        are read (pipelining).
//   Redis_AppendIf       the conditional append: EVALSHA of a Lua script that
//                        reads the stream's last ID (XREVRANGE + - COUNT 1),
//                        compares it with the expected one, and XADDs only if
//                        they are equal; atomic, as every Redis script is.
//   Redis_AppendIfPipe   the same, 64 at a time: the appender chooses the
//                        IDs, so it knows each one's expected predecessor.
//   Redis_AppendIfWait   the conditional append then WAIT 1 5000, sent
//                        together: the append is on a replica when the
//                        reply comes (a second redis-server, made the
//                        primary's replica for this benchmark only).
//   Redis_Read           XREAD COUNT 100 STREAMS key <position>: a follower
//                        reading 100 entries after its position (over a
//                        stream of 2000 entries, wrapping around).
//   Js{File,Mem}_Publish        js_Publish, synchronous ack, on a stream with
//                               file (resp. memory) storage.
//   Js{File,Mem}_PublishIf      the conditional append: js_Publish with
//                               jsPubOptions.ExpectLastSeq (the header
//                               Nats-Expected-Last-Sequence).
//   JsFile_PublishIfAsync       the same, 64 js_PublishAsync calls (each with
//                               its predicted ExpectLastSeq) then
//                               js_PublishAsyncComplete.
//   JsFile_PublishAsync         the same without the expectation.
//   JsFile_ReadFetch     an ephemeral pull consumer from a start sequence,
//                        natsSubscription_Fetch of 100 entries at a time
//                        (ack policy none).
//   JsFile_ReadOrdered   an ordered push consumer (js_SubscribeSync, Ordered)
//                        from a start sequence, natsSubscription_NextMsg per
//                        entry.
//   JsFile_GetMsg        js_GetMsg by sequence: one request per entry.
//
// Before any timing the program checks that each conditional append refuses
// a stale expectation (nothing appended): a benchmark of a conditional append
// that does not condition would be worthless.
//
// Usage: userstore_changelog_log_bench [--benchmark_filter=...] [...]
// Without --benchmark_min_time the program uses 0.1 s per benchmark (a run
// of the whole program takes well under a minute).

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <benchmark/benchmark.h>
#include <fcntl.h>
#include <hiredis.h>
#include <nats/nats.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

namespace {

constexpr int kPipelineDepth = 64;     // appends in flight in the *Pipe/*Async rows
constexpr int kReadBatch = 100;        // entries per XREAD / Fetch
constexpr int kReadStreamSize = 2000;  // entries the read benchmarks read over
static_assert(kReadStreamSize % kReadBatch == 0, "every read returns a full batch");

// --- the servers ------------------------------------------------------------

// A child process, killed (and reaped) by Stop() or by the handlers below.
struct Server {
  const char* name = "";
  pid_t pid = -1;
  std::string log_path;
};

Server g_redis_server{"redis-server", -1, ""};
Server g_redis_replica{"redis-server (replica)", -1, ""};
Server g_nats_server{"nats-server", -1, ""};
std::string g_temp_dir;

// Async-signal-safe: what SIGINT/SIGTERM and atexit may do.
void KillServersNow() {
  for (Server* s : {&g_redis_server, &g_redis_replica, &g_nats_server}) {
    if (s->pid > 0) kill(s->pid, SIGKILL);
  }
}

// The temporary directory, for OnSignal (set once, before any handler).
char g_temp_dir_for_signal[4096] = "";

// Kills and reaps the servers, then removes the temporary directory with
// /bin/rm (fork, execve and waitpid are async-signal-safe; a recursive
// removal in-process is not).
void OnSignal(int sig) {
  KillServersNow();
  for (Server* s : {&g_redis_server, &g_redis_replica, &g_nats_server}) {
    if (s->pid > 0) waitpid(s->pid, nullptr, 0);
  }
  if (g_temp_dir_for_signal[0] != '\0') {
    char rm[] = "/bin/rm";
    char flags[] = "-rf";
    char* const argv[] = {rm, flags, g_temp_dir_for_signal, nullptr};
    char* const envp[] = {nullptr};
    pid_t pid = fork();
    if (pid == 0) {
      execve(rm, argv, envp);
      _exit(127);
    }
    if (pid > 0) waitpid(pid, nullptr, 0);
  }
  _exit(128 + sig);
}

void StopServer(Server* s) {
  if (s->pid <= 0) return;
  kill(s->pid, SIGTERM);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  for (;;) {
    int status = 0;
    pid_t r = waitpid(s->pid, &status, WNOHANG);
    if (r == s->pid || r < 0) break;
    if (std::chrono::steady_clock::now() > deadline) {
      kill(s->pid, SIGKILL);
      waitpid(s->pid, &status, 0);
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  s->pid = -1;
}

void StopAll() {
  StopServer(&g_redis_server);
  StopServer(&g_redis_replica);
  StopServer(&g_nats_server);
  if (!g_temp_dir.empty()) {
    std::error_code ec;
    std::filesystem::remove_all(g_temp_dir, ec);
    g_temp_dir.clear();
  }
}

// Starts `argv` with its output in `s->log_path`. The child dies with this
// process (PR_SET_PDEATHSIG), whatever ends it.
bool StartServer(Server* s, const std::vector<std::string>& argv) {
  std::vector<char*> args;
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  const pid_t parent = getpid();
  pid_t pid = fork();
  if (pid < 0) {
    std::fprintf(stderr, "fork: %s\n", std::strerror(errno));
    return false;
  }
  if (pid == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(1);  // the parent died before prctl
    int fd = open(s->log_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd >= 0) {
      dup2(fd, 1);
      dup2(fd, 2);
      close(fd);
    }
    execvp(args[0], args.data());
    std::fprintf(stderr, "exec %s: %s\n", args[0], std::strerror(errno));
    _exit(127);
  }
  s->pid = pid;
  return true;
}

// True while the server has not exited; reaps it and prints its log if it has.
bool ServerAlive(Server* s) {
  int status = 0;
  if (waitpid(s->pid, &status, WNOHANG) == 0) return true;
  s->pid = -1;
  std::ifstream log(s->log_path);
  std::stringstream text;
  text << log.rdbuf();
  std::fprintf(stderr, "%s exited early; its output:\n%s\n", s->name, text.str().c_str());
  return false;
}

// Three distinct free loopback ports (bound together, then released).
bool FreePorts(int ports[3]) {
  int fds[3] = {-1, -1, -1};
  bool ok = true;
  for (int i = 0; i < 3 && ok; ++i) {
    fds[i] = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    socklen_t len = sizeof(addr);
    ok = fds[i] >= 0 && bind(fds[i], reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0 &&
         getsockname(fds[i], reinterpret_cast<sockaddr*>(&addr), &len) == 0;
    ports[i] = ntohs(addr.sin_port);
  }
  for (int fd : fds) {
    if (fd >= 0) close(fd);
  }
  return ok;
}

// --- the clients --------------------------------------------------------------

redisContext* g_redis = nullptr;
redisContext* g_replica = nullptr;  // an idle server, the primary's replica in AppendIfWait
int g_redis_port = 0;
std::string g_append_if_sha;

natsConnection* g_nats = nullptr;
jsCtx* g_js = nullptr;
std::atomic<int64_t> g_async_publish_errors{0};

// The conditional append. KEYS[1] the stream; ARGV[1] the expected last ID
// ("" for an empty stream), ARGV[2] the new entry's ID, ARGV[3] its data.
constexpr char kAppendIfScript[] = R"lua(
local last = redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', 1)
local id = ''
if #last > 0 then id = last[1][1] end
if id ~= ARGV[1] then return redis.error_reply('FENCED last entry is ' .. id) end
return redis.call('XADD', KEYS[1], ARGV[2], 'd', ARGV[3])
)lua";

struct ReplyDeleter {
  void operator()(redisReply* r) const { freeReplyObject(r); }
};
using Reply = std::unique_ptr<redisReply, ReplyDeleter>;

Reply RedisArgv(const std::vector<std::string>& argv) {
  std::vector<const char*> args;
  std::vector<size_t> lens;
  for (const std::string& a : argv) {
    args.push_back(a.data());
    lens.push_back(a.size());
  }
  return Reply(static_cast<redisReply*>(
      redisCommandArgv(g_redis, static_cast<int>(args.size()), args.data(), lens.data())));
}

void RedisAppendArgv(const std::vector<std::string>& argv) {
  std::vector<const char*> args;
  std::vector<size_t> lens;
  for (const std::string& a : argv) {
    args.push_back(a.data());
    lens.push_back(a.size());
  }
  redisAppendCommandArgv(g_redis, static_cast<int>(args.size()), args.data(), lens.data());
}

Reply RedisGetReply() {
  void* r = nullptr;
  if (redisGetReply(g_redis, &r) != REDIS_OK) return nullptr;
  return Reply(static_cast<redisReply*>(r));
}

// "" when `r` is a reply of `type`, else what went wrong.
std::string RedisError(const redisReply* r, int type) {
  if (r == nullptr) return std::string("redis: ") + g_redis->errstr;
  if (r->type == REDIS_REPLY_ERROR) return std::string("redis: ") + r->str;
  if (r->type != type) return "redis: unexpected reply type " + std::to_string(r->type);
  return "";
}

std::string EntryId(uint64_t n) { return std::to_string(n) + "-0"; }

std::string NatsError(natsStatus s, jsErrCode jerr) {
  std::string text = std::string("nats: ") + natsStatus_GetText(s);
  if (jerr != 0) text += " (JetStream error " + std::to_string(jerr) + ")";
  const char* last = nats_GetLastError(nullptr);
  if (last != nullptr && *last != '\0') text += std::string(": ") + last;
  return text;
}

void OnAsyncPublishError(jsCtx*, jsPubAckErr*, void*) { g_async_publish_errors.fetch_add(1); }

std::string Payload(size_t bytes) {
  std::mt19937_64 rng(bytes);
  std::string s(bytes, '\0');
  for (char& c : s) c = static_cast<char>(rng());
  return s;
}

void SetCounters(benchmark::State& state, int64_t entries, size_t bytes) {
  state.SetItemsProcessed(entries);
  state.SetBytesProcessed(entries * static_cast<int64_t>(bytes));
  state.counters["item_time"] = benchmark::Counter(
      static_cast<double>(entries), benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}

// --- Redis ----------------------------------------------------------------------

constexpr char kRedisKey[] = "changelog-bench";

bool RedisResetStream(benchmark::State& state) {
  Reply r = RedisArgv({"DEL", kRedisKey});
  std::string err = RedisError(r.get(), REDIS_REPLY_INTEGER);
  if (!err.empty()) state.SkipWithError(err.c_str());
  return err.empty();
}

// XADD (or, with `conditional`, the script), `depth` commands per iteration.
void BM_Redis_Append(benchmark::State& state, bool conditional, int depth) {
  const size_t bytes = static_cast<size_t>(state.range(0));
  const std::string payload = Payload(bytes);
  if (!RedisResetStream(state)) return;
  uint64_t last = 0;  // the stream's last ID is EntryId(last); 0: empty
  auto command = [&](uint64_t n) -> std::vector<std::string> {
    if (!conditional) return {"XADD", kRedisKey, EntryId(n), "d", payload};
    return {"EVALSHA",  g_append_if_sha, "1", kRedisKey, n == 1 ? "" : EntryId(n - 1),
            EntryId(n), payload};
  };
  for (auto _ : state) {
    if (depth == 1) {
      Reply r = RedisArgv(command(last + 1));
      std::string err = RedisError(r.get(), REDIS_REPLY_STRING);
      if (!err.empty()) {
        state.SkipWithError(err.c_str());
        break;
      }
    } else {
      for (int i = 1; i <= depth; ++i) RedisAppendArgv(command(last + i));
      std::string err;
      for (int i = 0; i < depth; ++i) {
        Reply r = RedisGetReply();
        if (err.empty()) err = RedisError(r.get(), REDIS_REPLY_STRING);
      }
      if (!err.empty()) {
        state.SkipWithError(err.c_str());
        break;
      }
    }
    last += depth;
  }
  SetCounters(state, state.iterations() * depth, bytes);
  RedisArgv({"DEL", kRedisKey});
}

// The conditional append followed by WAIT 1 (sent together: one round trip
// for the client), with a replica attached for this benchmark only.
void BM_Redis_AppendIfWait(benchmark::State& state) {
  const size_t bytes = static_cast<size_t>(state.range(0));
  const std::string payload = Payload(bytes);
  if (!RedisResetStream(state)) return;
  Reply attach(
      static_cast<redisReply*>(redisCommand(g_replica, "REPLICAOF 127.0.0.1 %d", g_redis_port)));
  std::string err = RedisError(attach.get(), REDIS_REPLY_STATUS);
  // The replica is attached once a WAIT counts it (bounded: 100 x 100 ms).
  bool attached = false;
  for (int i = 0; err.empty() && !attached && i < 100; ++i) {
    Reply r = RedisArgv({"WAIT", "1", "100"});
    err = RedisError(r.get(), REDIS_REPLY_INTEGER);
    attached = err.empty() && r->integer >= 1;
  }
  if (err.empty() && !attached) err = "the replica did not attach within 10 s";
  if (!err.empty()) {
    state.SkipWithError(err.c_str());
    Reply detach(static_cast<redisReply*>(redisCommand(g_replica, "REPLICAOF NO ONE")));
    return;
  }
  uint64_t last = 0;
  auto append_and_wait = [&] {
    RedisAppendArgv({"EVALSHA", g_append_if_sha, "1", kRedisKey, last == 0 ? "" : EntryId(last),
                     EntryId(last + 1), payload});
    RedisAppendArgv({"WAIT", "1", "5000"});
    Reply appended = RedisGetReply();
    Reply waited = RedisGetReply();
    std::string error = RedisError(appended.get(), REDIS_REPLY_STRING);
    if (error.empty()) error = RedisError(waited.get(), REDIS_REPLY_INTEGER);
    if (error.empty() && waited->integer < 1) error = "WAIT: no replica acknowledged";
    ++last;
    return error;
  };
  // Untimed: the first acknowledgement comes once the replica has loaded
  // the primary's data set.
  err = append_and_wait();
  const uint64_t untimed = last;
  for (auto _ : state) {
    if (err.empty()) err = append_and_wait();
    if (!err.empty()) {
      state.SkipWithError(err.c_str());
      break;
    }
  }
  SetCounters(state, static_cast<int64_t>(last - untimed), bytes);
  RedisArgv({"DEL", kRedisKey});
  Reply detach(static_cast<redisReply*>(redisCommand(g_replica, "REPLICAOF NO ONE")));
}

void BM_Redis_Read(benchmark::State& state) {
  const size_t bytes = static_cast<size_t>(state.range(0));
  const std::string payload = Payload(bytes);
  if (!RedisResetStream(state)) return;
  for (int n = 1; n <= kReadStreamSize; ++n) {
    RedisAppendArgv({"XADD", kRedisKey, EntryId(n), "d", payload});
  }
  for (int n = 1; n <= kReadStreamSize; ++n) {
    Reply r = RedisGetReply();
    std::string err = RedisError(r.get(), REDIS_REPLY_STRING);
    if (!err.empty()) {
      state.SkipWithError(err.c_str());
      return;
    }
  }
  std::string position = "0";
  int64_t read = 0;
  for (auto _ : state) {
    Reply r =
        RedisArgv({"XREAD", "COUNT", std::to_string(kReadBatch), "STREAMS", kRedisKey, position});
    std::string err = RedisError(r.get(), REDIS_REPLY_ARRAY);
    // [[key, [[id, [field, value]], ...]]]
    const redisReply* entries = err.empty() ? r->element[0]->element[1] : nullptr;
    if (err.empty() && entries->elements != static_cast<size_t>(kReadBatch)) {
      err = "XREAD returned " + std::to_string(entries->elements) + " entries";
    }
    for (size_t i = 0; err.empty() && i < entries->elements; ++i) {
      const redisReply* value = entries->element[i]->element[1]->element[1];
      if (value->len != bytes) err = "XREAD returned an entry of another size";
      benchmark::DoNotOptimize(value->str);
    }
    if (!err.empty()) {
      state.SkipWithError(err.c_str());
      break;
    }
    read += kReadBatch;
    position = entries->element[entries->elements - 1]->element[0]->str;
    if (read % kReadStreamSize == 0) position = "0";  // wrap around
  }
  SetCounters(state, read, bytes);
  RedisArgv({"DEL", kRedisKey});
}

// --- NATS JetStream -----------------------------------------------------------

struct JsStream {
  const char* name;
  const char* subject;
  jsStorageType storage;
};
constexpr JsStream kJsFile{"CHANGELOG_FILE", "changelog.file", js_FileStorage};
constexpr JsStream kJsMem{"CHANGELOG_MEM", "changelog.mem", js_MemoryStorage};

// Purges the stream; sets `*last` to its last sequence (which a purge keeps).
bool JsResetStream(benchmark::State& state, const JsStream& stream, uint64_t* last) {
  jsErrCode jerr = static_cast<jsErrCode>(0);
  natsStatus s = js_PurgeStream(g_js, stream.name, nullptr, &jerr);
  jsStreamInfo* si = nullptr;
  if (s == NATS_OK) s = js_GetStreamInfo(&si, g_js, stream.name, nullptr, &jerr);
  if (s != NATS_OK) {
    state.SkipWithError(NatsError(s, jerr).c_str());
    return false;
  }
  *last = si->State.LastSeq;
  jsStreamInfo_Destroy(si);
  return true;
}

void BM_Js_Publish(benchmark::State& state, JsStream stream, bool conditional, int depth) {
  const size_t bytes = static_cast<size_t>(state.range(0));
  const std::string payload = Payload(bytes);
  uint64_t last = 0;
  if (!JsResetStream(state, stream, &last)) return;
  jsPubOptions opts;
  jsPubOptions_Init(&opts);
  g_async_publish_errors.store(0);
  for (auto _ : state) {
    jsErrCode jerr = static_cast<jsErrCode>(0);
    natsStatus s = NATS_OK;
    if (depth == 1) {
      jsPubAck* ack = nullptr;
      opts.ExpectLastSeq = last;  // 0 (a stream never written) expects nothing
      s = js_Publish(&ack, g_js, stream.subject, payload.data(), static_cast<int>(bytes),
                     conditional ? &opts : nullptr, &jerr);
      const bool in_order = s != NATS_OK || ack->Sequence == last + 1;
      jsPubAck_Destroy(ack);
      if (!in_order) {
        state.SkipWithError("js_Publish acknowledged an unexpected sequence");
        break;
      }
    } else {
      for (int i = 0; i < depth && s == NATS_OK; ++i) {
        opts.ExpectLastSeq = last + i;
        s = js_PublishAsync(g_js, stream.subject, payload.data(), static_cast<int>(bytes),
                            conditional ? &opts : nullptr);
      }
      if (s == NATS_OK) {
        jsPubOptions wait;
        jsPubOptions_Init(&wait);
        wait.MaxWait = 10000;
        s = js_PublishAsyncComplete(g_js, &wait);
      }
      if (s == NATS_OK && g_async_publish_errors.load() != 0) s = NATS_ERR;
    }
    if (s != NATS_OK) {
      state.SkipWithError(NatsError(s, jerr).c_str());
      break;
    }
    last += depth;
  }
  SetCounters(state, state.iterations() * depth, bytes);
  js_PurgeStream(g_js, stream.name, nullptr, nullptr);
}

// Fills the stream with kReadStreamSize entries; sets `*first` to the first's
// sequence.
bool JsFill(benchmark::State& state, const JsStream& stream, const std::string& payload,
            uint64_t* first) {
  uint64_t last = 0;
  if (!JsResetStream(state, stream, &last)) return false;
  *first = last + 1;
  g_async_publish_errors.store(0);
  natsStatus s = NATS_OK;
  for (int i = 0; i < kReadStreamSize && s == NATS_OK; ++i) {
    s = js_PublishAsync(g_js, stream.subject, payload.data(), static_cast<int>(payload.size()),
                        nullptr);
  }
  if (s == NATS_OK) {
    jsPubOptions wait;
    jsPubOptions_Init(&wait);
    wait.MaxWait = 10000;
    s = js_PublishAsyncComplete(g_js, &wait);
  }
  if (s == NATS_OK && g_async_publish_errors.load() != 0) s = NATS_ERR;
  if (s != NATS_OK) {
    state.SkipWithError(NatsError(s, static_cast<jsErrCode>(0)).c_str());
    return false;
  }
  return true;
}

// A consumer of `stream` from sequence `first`: a pull consumer, or an
// ordered push consumer.
natsStatus JsSubscribe(natsSubscription** sub, const JsStream& stream, uint64_t first, bool pull,
                       jsErrCode* jerr) {
  jsSubOptions so;
  jsSubOptions_Init(&so);
  so.Stream = stream.name;
  so.Config.DeliverPolicy = js_DeliverByStartSequence;
  so.Config.OptStartSeq = first;
  if (pull) {
    so.Config.AckPolicy = js_AckNone;
    return js_PullSubscribe(sub, g_js, stream.subject, nullptr, nullptr, &so, jerr);
  }
  so.Ordered = true;
  return js_SubscribeSync(sub, g_js, stream.subject, nullptr, &so, jerr);
}

void JsUnsubscribe(natsSubscription* sub) {
  if (sub == nullptr) return;
  natsSubscription_Unsubscribe(sub);
  natsSubscription_Destroy(sub);
}

void BM_Js_Read(benchmark::State& state, bool pull) {
  const JsStream& stream = kJsFile;
  const size_t bytes = static_cast<size_t>(state.range(0));
  const std::string payload = Payload(bytes);
  uint64_t first = 0;
  if (!JsFill(state, stream, payload, &first)) return;
  jsErrCode jerr = static_cast<jsErrCode>(0);
  natsSubscription* sub = nullptr;
  natsStatus s = JsSubscribe(&sub, stream, first, pull, &jerr);
  int64_t read = 0;
  for (auto _ : state) {
    if (s != NATS_OK) break;
    std::string err;
    int got = 0;
    if (pull) {
      natsMsgList list{};
      s = natsSubscription_Fetch(&list, sub, kReadBatch, 5000, &jerr);
      if (s == NATS_OK) {
        got = list.Count;
        for (int i = 0; i < list.Count; ++i) {
          if (natsMsg_GetDataLength(list.Msgs[i]) != static_cast<int>(bytes)) {
            err = "a fetched entry of another size";
          }
          benchmark::DoNotOptimize(natsMsg_GetData(list.Msgs[i]));
        }
        natsMsgList_Destroy(&list);
        if (err.empty() && got != kReadBatch) err = "Fetch returned " + std::to_string(got);
      }
    } else {
      natsMsg* msg = nullptr;
      s = natsSubscription_NextMsg(&msg, sub, 5000);
      if (s == NATS_OK) {
        got = 1;
        if (natsMsg_GetDataLength(msg) != static_cast<int>(bytes)) err = "an entry of another size";
        benchmark::DoNotOptimize(natsMsg_GetData(msg));
        natsMsg_Destroy(msg);
      }
    }
    if (s != NATS_OK) break;
    if (!err.empty()) {
      state.SkipWithError(err.c_str());
      break;
    }
    read += got;
    if (read % kReadStreamSize == 0) {  // wrap around: a new consumer, untimed
      state.PauseTiming();
      JsUnsubscribe(sub);
      sub = nullptr;
      s = JsSubscribe(&sub, stream, first, pull, &jerr);
      state.ResumeTiming();
    }
  }
  if (s != NATS_OK) state.SkipWithError(NatsError(s, jerr).c_str());
  JsUnsubscribe(sub);
  SetCounters(state, read, bytes);
  js_PurgeStream(g_js, stream.name, nullptr, nullptr);
}

void BM_Js_GetMsg(benchmark::State& state) {
  const JsStream& stream = kJsFile;
  const size_t bytes = static_cast<size_t>(state.range(0));
  const std::string payload = Payload(bytes);
  uint64_t first = 0;
  if (!JsFill(state, stream, payload, &first)) return;
  int64_t read = 0;
  for (auto _ : state) {
    natsMsg* msg = nullptr;
    jsErrCode jerr = static_cast<jsErrCode>(0);
    natsStatus s =
        js_GetMsg(&msg, g_js, stream.name, first + read % kReadStreamSize, nullptr, &jerr);
    if (s != NATS_OK) {
      state.SkipWithError(NatsError(s, jerr).c_str());
      break;
    }
    const bool ok = natsMsg_GetDataLength(msg) == static_cast<int>(bytes);
    benchmark::DoNotOptimize(natsMsg_GetData(msg));
    natsMsg_Destroy(msg);
    if (!ok) {
      state.SkipWithError("js_GetMsg returned an entry of another size");
      break;
    }
    ++read;
  }
  SetCounters(state, read, bytes);
  js_PurgeStream(g_js, stream.name, nullptr, nullptr);
}

// --- set-up -----------------------------------------------------------------------

template <typename Ready>
bool WaitUntil(Server* s, Ready ready) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (std::chrono::steady_clock::now() < deadline) {
    if (!ServerAlive(s)) return false;
    if (ready()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  std::fprintf(stderr, "%s did not answer within 10 s\n", s->name);
  return false;
}

// Starts a redis-server on `port` with its files in `dir`; connects `*c`.
bool StartRedis(Server* server, int port, const std::string& dir, redisContext** c) {
  server->log_path = dir + "/redis.log";
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (!StartServer(server,
                   {"redis-server", "--bind", "127.0.0.1", "--port", std::to_string(port), "--save",
                    "", "--appendonly", "no", "--repl-diskless-sync-delay", "0", "--dir", dir})) {
    return false;
  }
  return WaitUntil(server, [&] {
    redisContext* ctx = redisConnect("127.0.0.1", port);
    if (ctx != nullptr && ctx->err == 0) {
      Reply r(static_cast<redisReply*>(redisCommand(ctx, "PING")));
      if (r != nullptr && r->type == REDIS_REPLY_STATUS) {
        *c = ctx;
        return true;
      }
    }
    if (ctx != nullptr) redisFree(ctx);
    return false;
  });
}

bool StartNats(int port) {
  g_nats_server.log_path = g_temp_dir + "/nats.log";
  const std::string store = g_temp_dir + "/jetstream";
  if (!StartServer(&g_nats_server, {"nats-server", "-js", "-a", "127.0.0.1", "-p",
                                    std::to_string(port), "-sd", store})) {
    return false;
  }
  const std::string url = "nats://127.0.0.1:" + std::to_string(port);
  return WaitUntil(&g_nats_server,
                   [&] { return natsConnection_ConnectTo(&g_nats, url.c_str()) == NATS_OK; });
}

bool SetUpRedis() {
  Reply r = RedisArgv({"SCRIPT", "LOAD", kAppendIfScript});
  std::string err = RedisError(r.get(), REDIS_REPLY_STRING);
  if (err.empty()) g_append_if_sha = r->str;
  // The conditional append conditions: a stale expectation appends nothing.
  const std::string key = "changelog-fence-check";
  std::string fence_err;
  if (err.empty()) {
    Reply first = RedisArgv({"EVALSHA", g_append_if_sha, "1", key, "", "1-0", "a"});
    Reply stale = RedisArgv({"EVALSHA", g_append_if_sha, "1", key, "", "2-0", "b"});
    Reply next = RedisArgv({"EVALSHA", g_append_if_sha, "1", key, "1-0", "2-0", "c"});
    Reply len = RedisArgv({"XLEN", key});
    err = RedisError(first.get(), REDIS_REPLY_STRING);
    if (err.empty()) err = RedisError(next.get(), REDIS_REPLY_STRING);
    if (err.empty() && (stale == nullptr || stale->type != REDIS_REPLY_ERROR ||
                        std::strncmp(stale->str, "FENCED", 6) != 0)) {
      err = "the conditional append accepted a stale expected ID";
    }
    if (err.empty() && (len == nullptr || len->type != REDIS_REPLY_INTEGER || len->integer != 2)) {
      err = "the stream does not hold exactly the two accepted entries";
    }
    RedisArgv({"DEL", key});
  }
  if (!err.empty()) std::fprintf(stderr, "Redis set-up: %s\n", err.c_str());
  return err.empty();
}

bool SetUpNats() {
  jsOptions jo;
  jsOptions_Init(&jo);
  jo.PublishAsync.ErrHandler = OnAsyncPublishError;
  jo.PublishAsync.MaxPending = 4096;
  jsErrCode jerr = static_cast<jsErrCode>(0);
  natsStatus s = natsConnection_JetStream(&g_js, g_nats, &jo);
  for (const JsStream* stream : {&kJsFile, &kJsMem}) {
    jsStreamConfig cfg;
    jsStreamConfig_Init(&cfg);
    const char* subjects[] = {stream->subject};
    cfg.Name = stream->name;
    cfg.Subjects = subjects;
    cfg.SubjectsLen = 1;
    cfg.Storage = stream->storage;
    jsStreamInfo* si = nullptr;
    if (s == NATS_OK) s = js_AddStream(&si, g_js, &cfg, nullptr, &jerr);
    jsStreamInfo_Destroy(si);
  }
  // The conditional append conditions: a stale expectation appends nothing.
  if (s == NATS_OK) {
    jsPubOptions opts;
    jsPubOptions_Init(&opts);
    jsPubAck* ack = nullptr;
    // Two entries first: an ExpectLastSeq of 0 means "no expectation".
    s = js_Publish(nullptr, g_js, kJsFile.subject, "a", 1, nullptr, &jerr);
    if (s == NATS_OK) s = js_Publish(&ack, g_js, kJsFile.subject, "a", 1, nullptr, &jerr);
    const uint64_t last = s == NATS_OK ? ack->Sequence : 0;
    jsPubAck_Destroy(ack);
    ack = nullptr;
    if (s == NATS_OK) {
      opts.ExpectLastSeq = last - 1;
      jsErrCode stale_err = static_cast<jsErrCode>(0);
      natsStatus stale = js_Publish(&ack, g_js, kJsFile.subject, "b", 1, &opts, &stale_err);
      jsPubAck_Destroy(ack);
      ack = nullptr;
      jsStreamInfo* si = nullptr;
      s = js_GetStreamInfo(&si, g_js, kJsFile.name, nullptr, &jerr);
      const bool fenced = stale != NATS_OK && stale_err == JSStreamWrongLastSequenceErr &&
                          s == NATS_OK && si->State.LastSeq == last;
      jsStreamInfo_Destroy(si);
      if (s == NATS_OK && !fenced) {
        std::fprintf(stderr, "JetStream set-up: ExpectLastSeq accepted a stale expectation\n");
        return false;
      }
    }
    if (s == NATS_OK) s = js_PurgeStream(g_js, kJsFile.name, nullptr, &jerr);
  }
  if (s != NATS_OK) {
    std::fprintf(stderr, "JetStream set-up: %s\n", NatsError(s, jerr).c_str());
    return false;
  }
  return true;
}

void RegisterAll() {
  const std::vector<int64_t> sizes = {256, 16 << 10};
  auto add = [&](const std::string& name, auto fn) {
    benchmark::RegisterBenchmark(name.c_str(), fn)->ArgsProduct({sizes})->UseRealTime();
  };
  add("BM_Redis_Xadd", [](benchmark::State& s) { BM_Redis_Append(s, false, 1); });
  add("BM_Redis_XaddPipe", [](benchmark::State& s) { BM_Redis_Append(s, false, kPipelineDepth); });
  add("BM_Redis_AppendIf", [](benchmark::State& s) { BM_Redis_Append(s, true, 1); });
  add("BM_Redis_AppendIfPipe",
      [](benchmark::State& s) { BM_Redis_Append(s, true, kPipelineDepth); });
  add("BM_Redis_AppendIfWait", BM_Redis_AppendIfWait);
  add("BM_Redis_Read", BM_Redis_Read);
  add("BM_JsFile_Publish", [](benchmark::State& s) { BM_Js_Publish(s, kJsFile, false, 1); });
  add("BM_JsFile_PublishIf", [](benchmark::State& s) { BM_Js_Publish(s, kJsFile, true, 1); });
  add("BM_JsFile_PublishAsync",
      [](benchmark::State& s) { BM_Js_Publish(s, kJsFile, false, kPipelineDepth); });
  add("BM_JsFile_PublishIfAsync",
      [](benchmark::State& s) { BM_Js_Publish(s, kJsFile, true, kPipelineDepth); });
  add("BM_JsMem_Publish", [](benchmark::State& s) { BM_Js_Publish(s, kJsMem, false, 1); });
  add("BM_JsMem_PublishIf", [](benchmark::State& s) { BM_Js_Publish(s, kJsMem, true, 1); });
  add("BM_JsFile_ReadFetch", [](benchmark::State& s) { BM_Js_Read(s, /*pull=*/true); });
  add("BM_JsFile_ReadOrdered", [](benchmark::State& s) { BM_Js_Read(s, /*pull=*/false); });
  add("BM_JsFile_GetMsg", BM_Js_GetMsg);
}

void DisconnectAll() {
  if (g_redis != nullptr) redisFree(g_redis);
  g_redis = nullptr;
  if (g_replica != nullptr) redisFree(g_replica);
  g_replica = nullptr;
  jsCtx_Destroy(g_js);
  g_js = nullptr;
  natsConnection_Destroy(g_nats);
  g_nats = nullptr;
  nats_Close();
}

}  // namespace

int main(int argc, char** argv) {
  // A short default: --benchmark_min_time=0.1 unless the caller chose.
  std::vector<char*> args(argv, argv + argc);
  bool min_time_given = false;
  for (int i = 1; i < argc; ++i) {
    if (std::strncmp(argv[i], "--benchmark_min_time", 20) == 0) min_time_given = true;
  }
  static char kMinTime[] = "--benchmark_min_time=0.1";
  if (!min_time_given) args.insert(args.begin() + 1, kMinTime);
  int args_count = static_cast<int>(args.size());
  benchmark::Initialize(&args_count, args.data());
  if (benchmark::ReportUnrecognizedArguments(args_count, args.data())) return 1;

  const char* tmp = std::getenv("TMPDIR");
  std::string dir_pattern = std::string(tmp != nullptr && *tmp != '\0' ? tmp : "/tmp") +
                            "/userstore-changelog-bench-XXXXXX";
  std::vector<char> dir(dir_pattern.begin(), dir_pattern.end());
  dir.push_back('\0');
  if (mkdtemp(dir.data()) == nullptr) {
    std::fprintf(stderr, "mkdtemp %s: %s\n", dir_pattern.c_str(), std::strerror(errno));
    return 1;
  }
  g_temp_dir = dir.data();
  if (g_temp_dir.size() < sizeof(g_temp_dir_for_signal)) {
    std::memcpy(g_temp_dir_for_signal, g_temp_dir.c_str(), g_temp_dir.size() + 1);
  }
  signal(SIGINT, OnSignal);
  signal(SIGTERM, OnSignal);
  std::atexit(KillServersNow);

  int ports[3] = {0, 0, 0};
  bool ok = FreePorts(ports);
  if (!ok) std::fprintf(stderr, "no free loopback port: %s\n", std::strerror(errno));
  const int redis_port = ports[0];
  const int nats_port = ports[2];
  g_redis_port = redis_port;
  ok = ok && StartRedis(&g_redis_server, redis_port, g_temp_dir, &g_redis) &&
       StartRedis(&g_redis_replica, ports[1], g_temp_dir + "/replica", &g_replica) &&
       StartNats(nats_port) && SetUpRedis() && SetUpNats();
  if (ok) {
    benchmark::AddCustomContext("redis-server", "127.0.0.1:" + std::to_string(redis_port) +
                                                    ", --save \"\" --appendonly no");
    benchmark::AddCustomContext("nats-server", "127.0.0.1:" + std::to_string(nats_port) +
                                                   ", -js (file store without per-message fsync)");
    benchmark::AddCustomContext("libnats", NATS_VERSION_STRING);
    RegisterAll();
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
  }
  DisconnectAll();
  StopAll();
  return ok ? 0 : 1;
}
