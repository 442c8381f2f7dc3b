// -----------------------------------------------------------------------------
// File: bench/changelog_benchmark.cc
// -----------------------------------------------------------------------------
//
// userstore_changelog_bench: what the changelog (userstore/changelog.h) costs
// the leader, how fast a follower applies it, and how far behind a follower
// runs, with the durable store alone as the baseline in the same run
// (docs/performance.md, "The changelog").
//
// The program starts its own redis-server, listening only on a unix socket in
// a fresh temporary directory (`--port 0 --save "" --appendonly no`: the log
// in memory), and stops it when it ends: on success, on an error, on
// SIGINT/SIGTERM; a crash of the program kills it too (PR_SET_PDEATHSIG).
// Every leader ships to a fresh stream of that server. The stores are durable
// stores in the default mode (kBackgroundSync) in fresh temporary
// directories, built by the harness (bench_harness.h) like userstore_bench's
// Durable rows, with its data set (N users, 12-byte identities, 64-byte
// attributes).
//
// Every row is timed by the wall clock (WallClock, bench_harness.h): the
// shipping thread, the follower's and redis-server run beside the writers on
// the same cores, and that is the cost. Rows (N from --sizes, default 100000):
//
//   BM_Durable_Create/<N>    the baseline: the harness's Create (fresh
//                 identities into a store of N users, timed in batches of
//                 1000, the batch's users deleted again untimed) on a durable
//                 store with no leader.
//   BM_Ship_Create/<N>[/threads:4]  the same on a store whose
//                 ChangelogLeader ships in kAsync to a fresh stream (started
//                 once the N users are loaded). items_per_second is the write
//                 path, what the leader's callers see. Counters (one thread):
//                 log_events_per_second, the events (creates and the untimed
//                 deletes) from the run's start until a Flush() after its end
//                 returned, over that whole time; flush_ms, that last Flush;
//                 server_vcpus, redis-server's CPU time (user + system,
//                 /proc) over that time: the share of the cores it took.
//   BM_ShipLocal_Create/<N>  BM_Ship_Create's leader shipping to a log in
//                 its own process that keeps only the last ID (LocalLog
//                 below; each append copies its batch once): the leader's
//                 own cost, with no log server on the same cores.
//   BM_ShipSync_Create/<N>[/threads:4]  the same in kSync: a create returns
//                 once the log has its event; concurrent writers share a
//                 batch (group shipping).
//   BM_LogAppend/<bytes>/<trim>, BM_LogAppend_Script/<bytes>/<trim>  the
//                 log alone (core/changelog/redis_log.h): one appender
//                 appends batches of <bytes> (256, 8192, 65536) to a fresh
//                 stream, one at a time, trimming behind a stored checkpoint
//                 every <trim> appends (1000; and 50 for 64 KiB, where the
//                 server reuses the memory the trims free). _Script
//                 runs the fence's Lua script for every append (the
//                 baseline); the other takes the watched append for batches
//                 of 4 KiB or more. Counter server_us_per_append:
//                 redis-server's CPU time (user + system, /proc) per append;
//                 the rates are over the wall clock.
//   BM_Follower_Apply/<N>    a stream holding N creates (shipped by a leader
//                 from an empty store); each iteration opens a follower in a
//                 fresh directory (bootstrapping from the stream's
//                 checkpoint) and catches up: Open + CatchUp, timed.
//                 items = events applied.
//   BM_Follower_Lag/<rate>   one writer paced at <rate> creates per second
//                 (default 100000) for --lag_seconds (default 3) on a leader
//                 in kAsync, one follower following (Start()). The pacing
//                 writes what is due, then sleeps 500 us. Per event, the
//                 time from its commit on the leader (the leader store's
//                 feed listener) to its apply on the follower (the follower
//                 store's): counters lag_p50_ms, lag_p99_ms, lag_max_ms;
//                 writes_per_second is the rate achieved.
//
// The context says what new memory costs the machine (memory_first_touch,
// FirstTouchContext below): a log server whose stream grows pays it.
//
// Flags: the usual --benchmark_* ones, plus --sizes=100000,1000000 (the N of
// the Create and Apply rows), --lag_rate=100000 and --lag_seconds=3, and
// --abseil_deadlock_detection (off by default, as in userstore_bench).

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "bench/bench_harness.h"
#include "bench/durable_adapter.h"
#include "bench/store_adapter.h"
#include <benchmark/benchmark.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "userstore/changelog.h"
#include "userstore/durable.h"
#include "userstore/events.h"
#include "userstore/user_store.h"

#include "core/changelog/log_url.h"
#include "core/changelog/redis_log.h"

namespace userstore_bench {
namespace {

using userstore::ChangelogFollower;
using userstore::ChangelogLeader;
using userstore::ChangelogOptions;

// --- the server ---------------------------------------------------------------

pid_t g_redis_pid = -1;
std::string g_redis_dir;  // its socket, data directory and log

// The server's files, for OnSignal (set before the handlers are): what a
// redis-server started with no persistence leaves.
char g_signal_paths[3][256] = {"", "", ""};  // socket, log, directory

std::string SocketPath() { return g_redis_dir + "/redis.sock"; }

// Async-signal-safe: what atexit and the signal handlers may do.
void KillServerNow() {
  if (g_redis_pid > 0) kill(g_redis_pid, SIGKILL);
}

// Kills and reaps the server and removes its files with unlink and rmdir
// (async-signal-safe; fork is not, in a process whose other threads may
// hold the allocator's locks).
void OnSignal(int sig) {
  KillServerNow();
  if (g_redis_pid > 0) waitpid(g_redis_pid, nullptr, 0);
  if (g_signal_paths[0][0] != '\0') unlink(g_signal_paths[0]);
  if (g_signal_paths[1][0] != '\0') unlink(g_signal_paths[1]);
  if (g_signal_paths[2][0] != '\0') rmdir(g_signal_paths[2]);
  _exit(128 + sig);
}

void StopServer() {
  if (g_redis_pid > 0) {
    kill(g_redis_pid, SIGTERM);
    const absl::Time deadline = absl::Now() + absl::Seconds(5);
    for (;;) {
      const pid_t r = waitpid(g_redis_pid, nullptr, WNOHANG);
      if (r == g_redis_pid || r < 0) break;
      if (absl::Now() > deadline) {
        kill(g_redis_pid, SIGKILL);
        waitpid(g_redis_pid, nullptr, 0);
        break;
      }
      absl::SleepFor(absl::Milliseconds(10));
    }
    g_redis_pid = -1;
  }
  if (!g_redis_dir.empty()) {
    std::error_code ignored;
    std::filesystem::remove_all(g_redis_dir, ignored);
    g_redis_dir.clear();
  }
}

std::string ServerLog() {
  std::ifstream in(g_redis_dir + "/redis.log");
  std::stringstream text;
  text << in.rdbuf();
  std::string log = text.str();
  if (log.size() > 2000) log = log.substr(log.size() - 2000);
  return log.empty() ? "(empty log)" : log;
}

// Starts redis-server on a unix socket in a fresh directory and waits, up to
// 10 s, until the changelog's client reaches it. False, with a message, on
// failure.
bool StartServer() {
  // A short path: a unix socket's path holds at most 107 bytes.
  std::string base = "/tmp";
  if (const char* tmp = std::getenv("TMPDIR");
      tmp != nullptr && *tmp != '\0' && std::strlen(tmp) < 60) {
    base = tmp;
  }
  std::string pattern = base + "/userstore-changelog-bench-XXXXXX";
  if (mkdtemp(pattern.data()) == nullptr) {
    std::fprintf(stderr, "mkdtemp %s: %s\n", pattern.c_str(), std::strerror(errno));
    return false;
  }
  g_redis_dir = pattern;
  const std::string files[3] = {SocketPath(), g_redis_dir + "/redis.log", g_redis_dir};
  for (int i = 0; i < 3; ++i) {
    std::snprintf(g_signal_paths[i], sizeof(g_signal_paths[i]), "%s", files[i].c_str());
  }
  // clang-format off
  std::vector<std::string> args = {
      "redis-server",
      "--port", "0",  // no TCP
      "--unixsocket", SocketPath(), "--unixsocketperm", "700",
      "--dir", g_redis_dir, "--logfile", g_redis_dir + "/redis.log",
      "--save", "", "--appendonly", "no", "--daemonize", "no"};
  // clang-format on
  std::vector<char*> argv;
  for (std::string& arg : args) argv.push_back(arg.data());
  argv.push_back(nullptr);
  const pid_t parent = getpid();
  const pid_t pid = fork();
  if (pid < 0) {
    std::fprintf(stderr, "fork: %s\n", std::strerror(errno));
    return false;
  }
  if (pid == 0) {
    // The server dies with this process, however it ends.
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(1);  // the parent died before prctl
    execvp(argv[0], argv.data());
    std::fprintf(stderr, "exec redis-server: %s\n", std::strerror(errno));
    _exit(127);
  }
  g_redis_pid = pid;
  const std::string url = absl::StrCat("redis+unix://", SocketPath(), "?stream=bench-ping");
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  for (;;) {
    auto log = userstore::OpenChangelogLog(url);
    if (log.ok() && (*log)->LastId().ok()) return true;
    if (waitpid(g_redis_pid, nullptr, WNOHANG) == g_redis_pid) {
      g_redis_pid = -1;
      std::fprintf(stderr, "redis-server exited at start (is it installed?): %s\n",
                   ServerLog().c_str());
      return false;
    }
    if (absl::Now() > deadline) {
      std::fprintf(stderr, "redis-server did not answer within 10 s: %s\n", ServerLog().c_str());
      return false;
    }
    absl::SleepFor(absl::Milliseconds(10));
  }
}

// The URL of a stream no one has used in this run.
std::string FreshStreamUrl() {
  static std::atomic<int> next{0};
  return absl::StrCat("redis+unix://", SocketPath(), "?stream=bench-", next.fetch_add(1));
}

std::unique_ptr<userstore::ChangelogLog> OpenLogOrDie(const std::string& url) {
  auto log = userstore::OpenChangelogLog(url);
  if (!log.ok()) {
    std::fprintf(stderr, "OpenChangelogLog(%s): %s\n", url.c_str(),
                 log.status().ToString().c_str());
    std::abort();
  }
  return std::move(*log);
}

std::unique_ptr<ChangelogLeader> StartLeaderOrDie(userstore::UserStore* store,
                                                  std::unique_ptr<userstore::ChangelogLog> log,
                                                  ChangelogOptions::Mode mode) {
  ChangelogOptions options;
  options.mode = mode;
  const std::string url = log->url();
  auto leader = ChangelogLeader::Start(store, std::move(log), options);
  if (!leader.ok()) {
    std::fprintf(stderr, "ChangelogLeader::Start(%s): %s\n", url.c_str(),
                 leader.status().ToString().c_str());
    std::abort();
  }
  return std::move(*leader);
}

userstore::DurableOptions FollowerOptions() {
  userstore::DurableOptions options;
  options.store = BenchStoreOptions();
  return options;
}

// --- the leader's rows --------------------------------------------------------

// A log in the leader's own process that keeps nothing but the last entry's
// ID and the checkpoint: each append copies the batch once (as a socket
// write would) and compares the expected ID. Shipping to it is what the
// leader's own threads cost, without a log server on the same cores.
class LocalLog : public userstore::ChangelogLog {
 public:
  std::string url() const override { return "local:"; }
  absl::StatusOr<std::string> LastId() override { return last_id_; }
  absl::StatusOr<std::string> AppendIf(absl::string_view expected_last_id, uint64_t last_sequence,
                                       uint64_t epoch, absl::string_view data) override {
    if (expected_last_id != last_id_) {
      return absl::PermissionDeniedError(absl::StrCat("fenced: last is ", last_id_));
    }
    sent_.assign(data.data(), data.size());
    last_id_ = EntryId(last_sequence, epoch);
    return last_id_;
  }
  absl::StatusOr<std::vector<Entry>> ReadAfter(uint64_t, size_t, absl::Duration) override {
    return std::vector<Entry>();
  }
  absl::Status PutCheckpoint(uint64_t sequence, absl::string_view bytes) override {
    checkpoint_ = Checkpoint{sequence, std::string(bytes)};
    return absl::OkStatus();
  }
  absl::StatusOr<Checkpoint> GetCheckpoint() override {
    if (!checkpoint_.has_value()) return absl::NotFoundError("no checkpoint");
    return *checkpoint_;
  }
  absl::Status TrimThrough(uint64_t) override { return absl::OkStatus(); }

 private:
  // Called by the leader's threads one at a time (Start, then its shipping
  // thread), so no lock.
  std::string last_id_;
  std::string sent_;
  std::optional<Checkpoint> checkpoint_;
};

// redis-server's CPU time so far, in seconds (user + system, /proc); -1 when
// it cannot be read.
double ServerCpuSeconds() {
  std::ifstream stat(absl::StrCat("/proc/", g_redis_pid, "/stat"));
  std::string line;
  if (!std::getline(stat, line)) return -1;
  const size_t paren = line.rfind(')');
  if (paren == std::string::npos) return -1;
  // After the command's ')': state, then fields 4-13, then utime and stime.
  std::vector<absl::string_view> fields =
      absl::StrSplit(absl::string_view(line).substr(paren + 1), ' ', absl::SkipEmpty());
  uint64_t utime = 0;
  uint64_t stime = 0;
  if (fields.size() < 13 || !absl::SimpleAtoi(fields[11], &utime) ||
      !absl::SimpleAtoi(fields[12], &stime)) {
    return -1;
  }
  return static_cast<double>(utime + stime) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

// A durable store of N users whose leader ships in `kMode` to a fresh stream
// (with kLocalLog, to a LocalLog), started once the users are loaded: the
// stream begins with their checkpoint. The leader is declared after the
// store's adapter base, so it goes first.
template <ChangelogOptions::Mode kMode, bool kLocalLog = false>
class LeaderAdapter : public DurableAdapter {
 public:
  static constexpr bool kLocal = kLocalLog;
  static constexpr const char* kName = kLocalLog                                 ? "ShipLocal"
                                       : kMode == ChangelogOptions::Mode::kAsync ? "Ship"
                                                                                 : "ShipSync";

  static std::unique_ptr<LeaderAdapter> MakeEmpty() { return std::make_unique<LeaderAdapter>(); }
  static void BuildFixture(int64_t n, Fixture<LeaderAdapter>* fx) {
    BuildStandardFixture(n, fx);
    std::unique_ptr<userstore::ChangelogLog> log;
    if constexpr (kLocalLog) {
      log = std::make_unique<LocalLog>();
    } else {
      log = OpenLogOrDie(FreshStreamUrl());
    }
    fx->impl->leader_ = StartLeaderOrDie(fx->impl->store(), std::move(log), kMode);
  }
  static int64_t EngineBytes() { return -1; }

  LeaderAdapter() : DurableAdapter("ship") {}

  ChangelogLeader* leader() { return leader_.get(); }

  // A create the leader refuses because the log is max_unshipped_events
  // behind (kAsync's back-pressure, 503/20503) is retried after 1 ms, as a
  // caller would: writers that outrun the log then measure what it
  // sustains, not an error. Any other failure is one.
  // (The untimed deletes between batches too.)
  bool Create(int t, absl::string_view identity, absl::string_view attributes, SidText* sid_out) {
    return Retrying([&] { return DurableAdapter::Create(t, identity, attributes, sid_out); });
  }
  bool DeleteByIdentity(absl::string_view identity) {
    return Retrying([&] { return DurableAdapter::DeleteByIdentity(identity); });
  }
  int64_t backpressure_waits() const { return backpressure_waits_.load(std::memory_order_relaxed); }

 private:
  template <typename Write>
  bool Retrying(Write write) {
    while (!write()) {
      const ChangelogLeader::Stats stats = leader_->stats();
      // (Read after the refusal: the log may have caught up a little since.)
      if (stats.committed_sequence - stats.shipped_sequence < kMaxUnshipped / 2) return false;
      backpressure_waits_.fetch_add(1, std::memory_order_relaxed);
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    return true;
  }

  static constexpr uint64_t kMaxUnshipped = ChangelogOptions().max_unshipped_events;
  std::unique_ptr<ChangelogLeader> leader_;
  std::atomic<int64_t> backpressure_waits_{0};
};

using ShipAdapter = LeaderAdapter<ChangelogOptions::Mode::kAsync>;
using ShipSyncAdapter = LeaderAdapter<ChangelogOptions::Mode::kSync>;
using ShipLocalAdapter = LeaderAdapter<ChangelogOptions::Mode::kAsync, /*kLocalLog=*/true>;

// The harness's Create on a leader's store, and (on one thread) the time
// until the log has everything the run committed.
template <class A>
void BM_LeaderCreate(benchmark::State& state) {
  Fixture<A>& fx = GetFixture<A>(state.range(0));
  ChangelogLeader* leader = fx.impl->leader();
  const auto start = std::chrono::steady_clock::now();
  const double server_cpu_before = ServerCpuSeconds();
  const uint64_t first = leader->stats().committed_sequence;
  const int64_t waits_before = fx.impl->backpressure_waits();
  BM_Create<A, /*kWallClock=*/true>(state);
  if (state.error_occurred()) return;
  if (state.thread_index() == 0) {
    state.counters["backpressure_waits"] =
        static_cast<double>(fx.impl->backpressure_waits() - waits_before);
  }
  if (state.threads() != 1) return;
  const auto flush_start = std::chrono::steady_clock::now();
  const absl::Status flushed = leader->Flush(absl::Seconds(60));
  const auto end = std::chrono::steady_clock::now();
  if (!flushed.ok()) {
    state.SkipWithError(("Flush: " + flushed.ToString()).c_str());
    return;
  }
  const ChangelogLeader::Stats stats = leader->stats();
  const double seconds = std::chrono::duration<double>(end - start).count();
  state.counters["log_events_per_second"] =
      static_cast<double>(stats.shipped_sequence - first) / seconds;
  state.counters["flush_ms"] = std::chrono::duration<double, std::milli>(end - flush_start).count();
  const double server_cpu_after = ServerCpuSeconds();
  if (!A::kLocal && server_cpu_before >= 0 && server_cpu_after >= 0) {
    state.counters["server_vcpus"] = (server_cpu_after - server_cpu_before) / seconds;
  }
}

// What writing to memory costs this machine the first time and again, as
// "<fresh> MB/s fresh, <again> MB/s again": 64 MiB of new anonymous pages
// written one byte a page (each write a page fault, the page cleared), then
// written whole again. A log server whose stream grows writes into new
// memory, at the first rate: the Ship rows' server_vcpus is mostly that on a
// machine where it is slow (docs/scaling.md, "Measured").
std::string FirstTouchContext() {
  constexpr size_t kBytes = size_t{64} << 20;
  void* mapped = mmap(nullptr, kBytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (mapped == MAP_FAILED) return "unknown (mmap failed)";
  volatile char* bytes = static_cast<volatile char*>(mapped);
  const auto start = std::chrono::steady_clock::now();
  for (size_t i = 0; i < kBytes; i += 4096) bytes[i] = 1;
  const auto touched = std::chrono::steady_clock::now();
  std::memset(mapped, 2, kBytes);
  benchmark::DoNotOptimize(mapped);
  const auto written = std::chrono::steady_clock::now();
  munmap(mapped, kBytes);
  const auto mb_per_second = [](std::chrono::steady_clock::duration d) {
    return static_cast<double>(kBytes) / 1e6 / std::chrono::duration<double>(d).count();
  };
  return absl::StrFormat("%.0f MB/s fresh, %.0f MB/s again", mb_per_second(touched - start),
                         mb_per_second(written - touched));
}

// --- the log alone ---------------------------------------------------------------

template <bool kWatched>
void BM_LogAppend(benchmark::State& state) {
  const size_t bytes = static_cast<size_t>(state.range(0));
  const uint64_t trim_every = static_cast<uint64_t>(state.range(1));
  absl::StatusOr<userstore::internal::changelog::LogUrl> url =
      userstore::internal::changelog::ParseLogUrl(FreshStreamUrl());
  if (!url.ok()) {
    state.SkipWithError(("url: " + url.status().ToString()).c_str());
    return;
  }
  userstore::internal::changelog::RedisLogOptions options;
  options.watched_appends = kWatched;
  absl::StatusOr<std::unique_ptr<userstore::internal::changelog::RedisLog>> log =
      userstore::internal::changelog::RedisLog::Open(*url, options);
  if (!log.ok()) {
    state.SkipWithError(("open: " + log.status().ToString()).c_str());
    return;
  }
  absl::Status put = (*log)->PutCheckpoint(std::numeric_limits<uint64_t>::max(), "bench");
  if (!put.ok()) {
    state.SkipWithError(("checkpoint: " + put.ToString()).c_str());
    return;
  }
  std::string batch(bytes, '\0');
  for (size_t i = 0; i < bytes; ++i) batch[i] = static_cast<char>(i * 131 + 7);
  std::string last;
  uint64_t sequence = 0;
  const double cpu_before = ServerCpuSeconds();
  for (auto _ : state) {
    sequence += 512;
    absl::StatusOr<std::string> id = (*log)->AppendIf(last, sequence, 1, batch);
    if (!id.ok()) {
      state.SkipWithError(("append: " + id.status().ToString()).c_str());
      return;
    }
    last = std::move(*id);
    if (sequence % (512 * trim_every) == 0) {
      absl::Status trimmed = (*log)->TrimThrough(sequence - 512);
      if (!trimmed.ok()) {
        state.SkipWithError(("trim: " + trimmed.ToString()).c_str());
        return;
      }
    }
  }
  const double cpu = ServerCpuSeconds() - cpu_before;
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(bytes));
  if (cpu_before >= 0 && state.iterations() > 0) {
    state.counters["server_us_per_append"] = cpu * 1e6 / static_cast<double>(state.iterations());
  }
}

// --- the follower's rows ---------------------------------------------------------

// A stream holding N creates: a leader started on an empty durable store,
// the N users loaded, everything flushed. The store and its leader are kept
// (the stream is the fixture; closing them changes nothing in it).
class ApplySource : public DurableAdapter {
 public:
  static constexpr const char* kName = "FollowerApplySource";
  static void BuildFixture(int64_t n, Fixture<ApplySource>* fx) {
    fx->impl = std::make_unique<ApplySource>();
    ApplySource& s = *fx->impl;
    s.url_ = FreshStreamUrl();
    s.leader_ = StartLeaderOrDie(s.store(), OpenLogOrDie(s.url_), ChangelogOptions::Mode::kAsync);
    std::vector<SidText> sids(static_cast<size_t>(n));
    s.Load(GetDataset(n), sids.data());
    const absl::Status flushed = s.leader_->Flush(absl::Seconds(300));
    if (!flushed.ok()) {
      std::fprintf(stderr, "Flush: %s\n", flushed.ToString().c_str());
      std::abort();
    }
    s.last_sequence_ = s.store()->last_sequence();
  }

  ApplySource() : DurableAdapter("apply_source") {}
  const std::string& url() const { return url_; }
  uint64_t last_sequence() const { return last_sequence_; }

 private:
  std::string url_;
  uint64_t last_sequence_ = 0;
  std::unique_ptr<ChangelogLeader> leader_;
};

void BM_Follower_Apply(benchmark::State& state) {
  Fixture<ApplySource>& fx = GetFixture<ApplySource>(state.range(0));
  const ApplySource& source = *fx.impl;
  int64_t events = 0;
  int64_t failures = 0;
  WallClock wall;
  for (auto _ : state) {
    state.PauseTiming();
    auto dir = std::make_unique<TempDir>("follower");
    const std::string path = dir->path() + "/store";
    std::unique_ptr<userstore::ChangelogLog> log = OpenLogOrDie(source.url());
    state.ResumeTiming();
    wall.Start();
    auto follower = ChangelogFollower::Open(path, FollowerOptions(), std::move(log));
    absl::Status status = follower.status();
    uint64_t bootstrapped = 0;
    if (status.ok()) {
      bootstrapped = (*follower)->store().last_sequence();
      status = (*follower)->CatchUp(absl::Seconds(300));
    }
    wall.Stop();
    state.PauseTiming();
    if (!status.ok()) {
      state.SkipWithError(("follower: " + status.ToString()).c_str());
      break;  // (no ResumeTiming after an error)
    }
    const uint64_t applied = (*follower)->store().last_sequence();
    if (applied != source.last_sequence()) ++failures;
    events += static_cast<int64_t>(applied - bootstrapped);
    follower->reset();  // the close, untimed
    dir.reset();
    state.ResumeTiming();
  }
  if (state.error_occurred()) return;
  state.counters["events_per_iteration"] =
      static_cast<double>(events) / static_cast<double>(state.iterations());
  FinishWallClockRun(state, events, wall, failures);
}

int64_t g_lag_seconds = 3;

// Nanoseconds on the steady clock, for the per-event stamps.
int64_t NowNanos() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// Per sequence (from `base`), the time a store's feed delivered it; 0 for
// none yet. Written by one delivering thread at a time (the feed delivers
// in order); read once the feed is quiet.
class Stamps {
 public:
  Stamps(uint64_t base, size_t count) : base_(base), at_(count, 0) {}
  userstore::ChangeListener Listener() {
    return [this](const userstore::ChangeEvent& event) {
      if (event.sequence > base_ && event.sequence - base_ <= at_.size()) {
        at_[event.sequence - base_ - 1] = NowNanos();
      }
    };
  }
  int64_t at(uint64_t sequence) const { return at_[sequence - base_ - 1]; }

 private:
  const uint64_t base_;
  std::vector<int64_t> at_;
};

void BM_Follower_Lag(benchmark::State& state) {
  const double rate = static_cast<double>(state.range(0));
  const int64_t total = static_cast<int64_t>(rate) * g_lag_seconds;
  const std::vector<std::string>& attributes = UpdateAttributes();
  std::vector<double> lags_ms;
  double achieved = 0;
  int64_t failures = 0;
  for (auto _ : state) {
    // A leader on a fresh store and stream, a follower in a fresh directory.
    DurableAdapter leader_store("lag_leader");
    const std::string url = FreshStreamUrl();
    std::unique_ptr<ChangelogLeader> leader =
        StartLeaderOrDie(leader_store.store(), OpenLogOrDie(url), ChangelogOptions::Mode::kAsync);
    TempDir follower_dir("lag_follower");
    auto opened = ChangelogFollower::Open(follower_dir.path() + "/store", FollowerOptions(),
                                          OpenLogOrDie(url));
    if (!opened.ok()) {
      state.SkipWithError(("ChangelogFollower::Open: " + opened.status().ToString()).c_str());
      return;
    }
    std::unique_ptr<ChangelogFollower> follower = std::move(*opened);
    const uint64_t base = leader_store.store()->last_sequence();
    Stamps committed(base, static_cast<size_t>(total));
    Stamps applied(base, static_cast<size_t>(total));
    const uint64_t leader_sub = leader_store.store()->Subscribe(committed.Listener());
    const uint64_t follower_sub = follower->store().Subscribe(applied.Listener());
    follower->Start();

    // The paced writer: what is due, then a nap.
    std::string ids;
    FreshIdentities(static_cast<size_t>(total), &ids);
    const auto start = std::chrono::steady_clock::now();
    int64_t written = 0;
    while (written < total) {
      const double elapsed =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      const int64_t due = std::min(total, static_cast<int64_t>(elapsed * rate) + 1);
      for (; written < due; ++written) {
        failures += !leader_store.Create(
            0, absl::string_view(&ids[static_cast<size_t>(written) * kIdentityLen], kIdentityLen),
            attributes[static_cast<size_t>(written) % kUpdatePoolSize], nullptr);
      }
      if (written < total) absl::SleepFor(absl::Microseconds(500));
    }
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    achieved = static_cast<double>(total) / seconds;

    // Until the follower has the last write (untimed: the lags are the stamps).
    state.PauseTiming();
    const uint64_t last = leader_store.store()->last_sequence();
    const absl::Time deadline = absl::Now() + absl::Seconds(120);
    while (follower->lag().applied_sequence < last && follower->last_error().ok() &&
           absl::Now() < deadline) {
      absl::SleepFor(absl::Milliseconds(1));
    }
    follower->Stop();
    const bool caught_up = follower->store().last_sequence() >= last;
    leader_store.store()->Unsubscribe(leader_sub);
    follower->store().Unsubscribe(follower_sub);
    if (!caught_up) {
      state.SkipWithError(
          ("the follower did not catch up: " + follower->last_error().ToString()).c_str());
      return;
    }
    for (uint64_t seq = base + 1; seq <= base + static_cast<uint64_t>(total) && seq <= last;
         ++seq) {
      if (committed.at(seq) == 0 || applied.at(seq) == 0) {
        ++failures;
        continue;
      }
      lags_ms.push_back(static_cast<double>(applied.at(seq) - committed.at(seq)) / 1e6);
    }
    follower.reset();
    leader.reset();
    state.ResumeTiming();
  }
  std::sort(lags_ms.begin(), lags_ms.end());
  if (!lags_ms.empty()) {
    const auto pct = [&](size_t p) {
      return lags_ms[std::min(lags_ms.size() - 1, lags_ms.size() * p / 100)];
    };
    state.counters["lag_p50_ms"] = pct(50);
    state.counters["lag_p99_ms"] = pct(99);
    state.counters["lag_max_ms"] = lags_ms.back();
  }
  state.counters["writes_per_second"] = achieved;
  state.counters["target_writes_per_second"] = rate;
  if (failures != 0) {
    state.SkipWithError((std::to_string(failures) + " writes failed or were not applied").c_str());
  }
}

// --- registration ---------------------------------------------------------------

bool ParseList(absl::string_view text, std::vector<int64_t>* out) {
  out->clear();
  for (absl::string_view part : absl::StrSplit(text, ',', absl::SkipEmpty())) {
    int64_t v = 0;
    if (!absl::SimpleAtoi(part, &v) || v <= 0) return false;
    out->push_back(v);
  }
  return !out->empty();
}

void RegisterAll(const std::vector<int64_t>& sizes, int64_t lag_rate) {
  for (const int64_t n : sizes) {
    benchmark::RegisterBenchmark("BM_Durable_Create", &BM_Create<DurableAdapter, true>)->Arg(n);
    benchmark::RegisterBenchmark("BM_Ship_Create", &BM_LeaderCreate<ShipAdapter>)->Arg(n);
    benchmark::RegisterBenchmark("BM_Ship_Create", &BM_LeaderCreate<ShipAdapter>)
        ->Arg(n)
        ->Threads(4);
    benchmark::RegisterBenchmark("BM_ShipLocal_Create", &BM_LeaderCreate<ShipLocalAdapter>)->Arg(n);
    benchmark::RegisterBenchmark("BM_ShipSync_Create", &BM_LeaderCreate<ShipSyncAdapter>)->Arg(n);
    benchmark::RegisterBenchmark("BM_ShipSync_Create", &BM_LeaderCreate<ShipSyncAdapter>)
        ->Arg(n)
        ->Threads(4);
    benchmark::RegisterBenchmark("BM_Follower_Apply", &BM_Follower_Apply)->Arg(n);
  }
  for (const auto& [bytes, trim_every] : std::vector<std::pair<int64_t, int64_t>>{
           {256, 1000}, {8192, 1000}, {65536, 1000}, {65536, 50}}) {
    benchmark::RegisterBenchmark("BM_LogAppend_Script", &BM_LogAppend<false>)
        ->Args({bytes, trim_every})
        ->UseRealTime();
    benchmark::RegisterBenchmark("BM_LogAppend", &BM_LogAppend<true>)
        ->Args({bytes, trim_every})
        ->UseRealTime();
  }
  benchmark::RegisterBenchmark("BM_Follower_Lag", &BM_Follower_Lag)
      ->Arg(lag_rate)
      ->Unit(benchmark::kMillisecond);
}

}  // namespace
}  // namespace userstore_bench

int main(int argc, char** argv) {
  std::vector<int64_t> sizes = {100000};
  int64_t lag_rate = 100000;
  bool deadlock_detection = false;
  int out = 1;
  for (int i = 1; i < argc; ++i) {
    absl::string_view arg = argv[i];
    if (absl::ConsumePrefix(&arg, "--sizes=")) {
      if (!userstore_bench::ParseList(arg, &sizes)) {
        std::fprintf(stderr, "--sizes: expected a comma-separated list of user counts\n");
        return 1;
      }
    } else if (absl::ConsumePrefix(&arg, "--lag_rate=")) {
      if (!absl::SimpleAtoi(arg, &lag_rate) || lag_rate <= 0) {
        std::fprintf(stderr, "--lag_rate: expected writes per second\n");
        return 1;
      }
    } else if (absl::ConsumePrefix(&arg, "--lag_seconds=")) {
      if (!absl::SimpleAtoi(arg, &userstore_bench::g_lag_seconds) ||
          userstore_bench::g_lag_seconds <= 0) {
        std::fprintf(stderr, "--lag_seconds: expected a whole number of seconds\n");
        return 1;
      }
    } else if (arg == "--abseil_deadlock_detection") {
      deadlock_detection = true;
    } else {
      argv[out++] = argv[i];
    }
  }
  argc = out;
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  // As userstore_bench: Debian's Abseil is a debug-mode build whose deadlock
  // detector a release Abseil does not run (bench_main.cc says more).
  if (!deadlock_detection) absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  benchmark::AddCustomContext("abseil_deadlock_detection", deadlock_detection ? "on" : "off");

  signal(SIGINT, userstore_bench::OnSignal);
  signal(SIGTERM, userstore_bench::OnSignal);
  std::atexit(userstore_bench::KillServerNow);
  if (!userstore_bench::StartServer()) {
    userstore_bench::StopServer();
    return 1;
  }
  benchmark::AddCustomContext("redis-server",
                              "unix socket, --save \"\" --appendonly no (the log in memory)");
  benchmark::AddCustomContext("memory_first_touch", userstore_bench::FirstTouchContext());
  userstore_bench::RegisterAll(sizes, lag_rate);
  benchmark::RunSpecifiedBenchmarks();
  // The stores close (their leaders first) and their directories go; then
  // the server.
  userstore_bench::ReleaseAll();
  benchmark::Shutdown();
  userstore_bench::StopServer();
  return 0;
}
