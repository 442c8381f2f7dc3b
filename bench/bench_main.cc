// -----------------------------------------------------------------------------
// File: bench/bench_main.cc
// -----------------------------------------------------------------------------
//
// userstore_bench: the engine against the obvious alternatives, in one binary
// so that every ratio comes from one run on one machine.
//
// Implementations (one *_benchmark.cc each):
//   Store   userstore::UserStore through its public C++ API (seeded SIDs);
//           reads through the zero-copy ReadUser / VisitUsers, creates and
//           updates through the zero-copy forms of CreateUser / UpdateUser.
//   StoreCopy  the same store through the calls that return copies
//           (CreateUser / UpdateUser returning a `User`, GetUser, ListUsers):
//           the price of a `User` by value.
//   Rest    userstore::Dispatcher over the same store: an HttpRequest in, the
//           Twilio JSON out (building the request and rendering included).
//   Sqlite  an SQLite `:memory:` users table: prepared statements, PRIMARY KEY
//           on sid, UNIQUE(service_sid, identity), CHECK(json_valid(attributes)),
//           one transaction per batch of writes.
//   Naive   what a typical developer writes: std::unordered_map<std::string,
//           User> by SID, a per-service identity map, std::map for creation
//           order, a std::shared_mutex, RapidJSON DOM to validate attributes.
//   RawMap  the limit: absl::flat_hash_map keyed by the 128-bit SID value,
//           a flat_hash_map for identities, a vector for creation order, no
//           lock, RapidJSON SAX validation. Reads hand the record itself to
//           DoNotOptimize (no copy, no formatting).
//   Durable, DurableSync  the durable store (OpenUserStore) in its default
//           mode and in kSyncEachWrite, through Store's adapter.
//   SqliteWal, SqliteWalFull, RocksDb  their peers on disk: SQLite on a file
//           in WAL mode (synchronous=NORMAL; FULL with a transaction per
//           create), RocksDB with its write-ahead log. Each store on disk
//           lives in a fresh temporary directory, removed at the end.
//           docs/performance.md ("The durable store and its peers") has the
//           rows, which are timed by the wall clock, and the encodings.
//
// What a read, create or update produces: Store and Sqlite hand a view of the
// user (no copy) to benchmark::DoNotOptimize, and so do RawMap's reads;
// StoreCopy and Naive return a `userstore::User` by value; Rest renders the
// JSON.
//
// Data: N users (N = 10^4, 10^5, 10^6) in one service, with 12-byte identities
// ("usr_" + 8 hex digits) and 64-byte JSON attributes; the same identities,
// attribute texts and access order for every implementation. SIDs are random
// 128-bit values (each implementation generates its own, as the engine does).
// Keys are visited in one shared random permutation, so caches are not
// flattered. Each implementation builds its N-user store once per N and every
// benchmark of that N reuses it; the suite runs N = 10^4, then 10^5, then 10^6.
//
// Workloads, named BM_<Impl>_<Op>/<N>; items_per_second counts users:
//   Create        insert a user with a fresh identity and 64-byte attributes
//                 (validated) into a store of N. Timed in batches of
//                 min(N/100, 1000) creates, one transaction per batch; the
//                 batch's users are deleted again between batches, untimed.
//   GetBySid      fetch a user by SID text, random order.
//   GetByIdentity fetch a user by identity, random order.
//   Update        set new 64-byte attributes (validated), random order; the
//                 whole updated user is returned. One transaction per 1000.
//   Delete        delete an existing user by SID, random order, in batches of
//                 min(N/100, 1000) (one transaction each); the batch's users
//                 are created again between batches, untimed, with new SIDs.
//   List          walk the users in creation order, a page of 50 per
//                 iteration, following the next-page token; items = users.
//   Mixed         90% GetBySid, 10% Update, random order.
//   .../real_time/threads:{1,2}
//                 GetBySid, GetByIdentity and List on one and on two threads,
//                 timed by wall clock (aggregate throughput).
//   BM_Store_ListAt/{0,900000}
//                 one page of 50 starting at that position of a 10^6 store,
//                 reached through a page token.
//   BM_Store_GetBySidBatch/{16,256}
//                 ReadUsers over that many SIDs at a time (GetBySid's random
//                 order) from the 10^6 store; items = users read.
//   BM_UserCopy   copying one userstore::User of this data set's shape (four
//                 34-byte SIDs, a 12-byte identity, 64-byte attributes): the
//                 floor of any read that returns a User by value.
//   BM_<Impl>_Memory/<N>
//                 a fresh store of N users, loaded between two memory samples:
//                 counters bytes_per_user_rss, bytes_per_user_alloc (mallinfo2)
//                 and, for SQLite, bytes_per_user_engine (sqlite3_memory_used).
//
// Flags: the usual --benchmark_* ones, plus --sizes=10000,100000 to register
// only some N, and --abseil_deadlock_detection to keep Abseil's debug-mode
// deadlock detector on (off by default, see main()). bench/run_bench.py runs
// the suite and prints the ratio table.

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "bench/bench_harness.h"
#include <benchmark/benchmark.h>

#include "userstore/resources.h"

namespace userstore_bench {
namespace {

void BM_UserCopy(benchmark::State& state) {
  userstore::User user;
  user.sid = SidString(Rng(1).NextSid());
  user.account_sid = "AC" + SidString(Rng(2).NextSid()).substr(2);
  user.service_sid = "IS" + SidString(Rng(3).NextSid()).substr(2);
  user.role_sid = "RL" + SidString(Rng(4).NextSid()).substr(2);
  user.identity = "usr_0123abcd";
  user.attributes = UpdateAttributes()[0];
  user.date_created = user.date_updated = NowSeconds();
  for (auto _ : state) {
    userstore::User copy = user;
    benchmark::DoNotOptimize(copy);
  }
  state.SetItemsProcessed(state.iterations());
}

std::vector<int64_t> ParseSizes(const char* text) {
  std::vector<int64_t> sizes;
  const char* p = text;
  while (*p != '\0') {
    char* end = nullptr;
    const long long v = std::strtoll(p, &end, 10);
    if (end == p) break;
    sizes.push_back(v);
    p = *end == ',' ? end + 1 : end;
  }
  return sizes;
}

void RegisterAll(const std::vector<int64_t>& sizes) {
  std::vector<ImplEntry> impls = Registry();
  std::sort(impls.begin(), impls.end(),
            [](const ImplEntry& a, const ImplEntry& b) { return a.order < b.order; });
  const int64_t largest = *std::max_element(std::begin(kSizes), std::end(kSizes));
  for (const int64_t n : sizes) {
    for (const ImplEntry& impl : impls) {
      if (impl.memory == nullptr) continue;
      benchmark::RegisterBenchmark(("BM_" + impl.name + "_Memory").c_str(), impl.memory)
          ->Arg(n)
          ->Unit(benchmark::kMillisecond);
    }
    for (int op = 0; op < kNumOps; ++op) {
      for (const ImplEntry& impl : impls) {
        if (impl.ops[op] == nullptr) continue;
        benchmark::RegisterBenchmark(("BM_" + impl.name + "_" + kOpNames[op]).c_str(), impl.ops[op])
            ->Arg(n);
      }
    }
    for (const ImplEntry& impl : impls) {
      for (const ImplEntry::SizedExtra& extra : impl.sized_extras) {
        auto* b =
            benchmark::RegisterBenchmark(("BM_" + impl.name + "_" + extra.op).c_str(), extra.fn)
                ->Arg(n);
        if (extra.threads > 0) b->Threads(extra.threads);
      }
    }
    for (int op = 0; op < kNumOps; ++op) {
      if (!IsReadOp(op)) continue;
      for (const ImplEntry& impl : impls) {
        if (impl.ops[op] == nullptr || !impl.threaded_reads) continue;
        benchmark::RegisterBenchmark(("BM_" + impl.name + "_" + kOpNames[op]).c_str(), impl.ops[op])
            ->Arg(n)
            ->Threads(1)
            ->Threads(2)
            ->UseRealTime();
      }
    }
    if (n == largest) {
      for (const ImplEntry& impl : impls) {
        for (const ImplEntry::Extra& extra : impl.extras) {
          auto* b =
              benchmark::RegisterBenchmark(("BM_" + impl.name + "_" + extra.op).c_str(), extra.fn);
          for (const int64_t arg : extra.args) b->Arg(arg);
        }
      }
    }
  }
  benchmark::RegisterBenchmark("BM_UserCopy", &BM_UserCopy);
}

}  // namespace
}  // namespace userstore_bench

int main(int argc, char** argv) {
  std::vector<int64_t> sizes(std::begin(userstore_bench::kSizes),
                             std::end(userstore_bench::kSizes));
  int out = 1;
  bool deadlock_detection = false;
  for (int i = 1; i < argc; ++i) {
    if (std::strncmp(argv[i], "--sizes=", 8) == 0) {
      sizes = userstore_bench::ParseSizes(argv[i] + 8);
    } else if (std::strcmp(argv[i], "--abseil_deadlock_detection") == 0) {
      deadlock_detection = true;
    } else {
      argv[out++] = argv[i];
    }
  }
  argc = out;
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  if (sizes.empty()) {
    std::fprintf(stderr, "--sizes: expected a comma-separated list of user counts\n");
    return 1;
  }
  std::string all;
  for (const int64_t n : sizes) all += (all.empty() ? "" : ",") + std::to_string(n);
  benchmark::AddCustomContext("userstore_bench_sizes", all);
  // Debian's Abseil is a debug-mode build, so by default every absl::Mutex
  // acquisition runs the deadlock detector, which records lock-order edges in
  // a global graph under a global spin lock (a fifth of a create, and a
  // shared cache line for every reader thread). A release build of Abseil,
  // what a deployment uses, has it off; the benchmark turns it off the same
  // way (the tests keep it on). --abseil_deadlock_detection keeps it.
  if (!deadlock_detection) absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  benchmark::AddCustomContext("abseil_deadlock_detection", deadlock_detection ? "on" : "off");
  userstore_bench::RegisterAll(sizes);
  benchmark::RunSpecifiedBenchmarks();
  // The stores on disk remove their temporary directories.
  userstore_bench::ReleaseAll();
  benchmark::Shutdown();
  return 0;
}
