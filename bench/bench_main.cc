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
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "bench/bench_harness.h"
#include <benchmark/benchmark.h>
#include <malloc.h>
#include <sys/stat.h>
#include <unistd.h>

#include "userstore/resources.h"

namespace userstore_bench {

// --- SIDs ---------------------------------------------------------------------

namespace {
constexpr char kHex[] = "0123456789abcdef";

// 0..15 for a lower-case hex digit, 0xff otherwise. A table, not branches:
// SID digits are random, and a mispredicted branch per digit would also stop
// the CPU from overlapping one lookup's cache misses with the next.
struct HexTable {
  uint8_t v[256];
  constexpr HexTable() : v() {
    for (int i = 0; i < 256; ++i) v[i] = 0xff;
    for (int i = 0; i < 10; ++i) v['0' + i] = static_cast<uint8_t>(i);
    for (int i = 0; i < 6; ++i) v['a' + i] = static_cast<uint8_t>(10 + i);
  }
};
constexpr HexTable kHexTable;

void PutHex64(uint64_t v, char* out) {
  for (int i = 15; i >= 0; --i) {
    out[i] = kHex[v & 0xf];
    v >>= 4;
  }
}
}  // namespace

void FormatSid(const Sid128& sid, char out[34]) {
  out[0] = 'U';
  out[1] = 'S';
  PutHex64(sid.hi, out + 2);
  PutHex64(sid.lo, out + 18);
}

std::string SidString(const Sid128& sid) {
  std::string s(34, '\0');
  FormatSid(sid, &s[0]);
  return s;
}

bool ParseSid(absl::string_view text, Sid128* sid) {
  if (text.size() != 34 || text[0] != 'U' || text[1] != 'S') return false;
  uint64_t words[2] = {0, 0};
  uint8_t bad = 0;
  for (int w = 0; w < 2; ++w) {
    for (int i = 0; i < 16; ++i) {
      const uint8_t v = kHexTable.v[static_cast<uint8_t>(text[2 + w * 16 + i])];
      bad |= v;
      words[w] = (words[w] << 4) | (v & 0xf);
    }
  }
  if (bad & 0xf0) return false;
  sid->hi = words[0];
  sid->lo = words[1];
  return true;
}

// --- data ---------------------------------------------------------------------

namespace {

// "usr_" / "new_" + 8 hex digits of a bijective scramble of `i`.
void WriteIdentity(const char* prefix, uint32_t i, char* out) {
  std::memcpy(out, prefix, 4);
  uint32_t v = i * 0x9E3779B1u;
  for (int k = 11; k >= 4; --k) {
    out[k] = kHex[v & 0xf];
    v >>= 4;
  }
}

// A 64-byte JSON object: {"level":..,"score":..,"team":"..","vip":..,"pad":"xx"}.
std::string MakeAttributes(uint64_t r, const char* team) {
  char buf[96];
  int len = std::snprintf(buf, sizeof(buf),
                          "{\"level\":%u,\"score\":%u,\"team\":\"%s\",\"vip\":%s,\"pad\":\"",
                          static_cast<unsigned>(r % 100), static_cast<unsigned>((r >> 8) % 1000000),
                          team, ((r >> 40) & 1) ? "true" : "false");
  std::string s(buf, static_cast<size_t>(len));
  if (s.size() > kAttributesLen - 2) std::abort();
  s.append(kAttributesLen - 2 - s.size(), 'x');
  s += "\"}";
  return s;
}

constexpr const char* kTeams[] = {"red", "blue", "green", "amber", "violet", "teal"};

std::map<int64_t, std::unique_ptr<Dataset>>& Datasets() {
  static auto* m = new std::map<int64_t, std::unique_ptr<Dataset>>();
  return *m;
}

std::vector<std::function<void(int64_t)>>& Releasers() {
  static auto* v = new std::vector<std::function<void(int64_t)>>();
  return *v;
}

int64_t g_current_size = -1;

std::unique_ptr<Dataset> BuildDataset(int64_t n) {
  auto d = std::make_unique<Dataset>();
  d->n = n;
  d->identities.resize(static_cast<size_t>(n) * kIdentityLen);
  d->attributes.reserve(static_cast<size_t>(n) * kAttributesLen);
  Rng rng(0x5eed0000u + static_cast<uint64_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    WriteIdentity("usr_", static_cast<uint32_t>(i),
                  &d->identities[static_cast<size_t>(i) * kIdentityLen]);
    const uint64_t r = rng.Next();
    d->attributes += MakeAttributes(r, kTeams[(r >> 48) % 6]);
  }
  d->order.resize(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) d->order[static_cast<size_t>(i)] = static_cast<uint32_t>(i);
  std::mt19937_64 shuffle_rng(0xacce55u);
  std::shuffle(d->order.begin(), d->order.end(), shuffle_rng);
  return d;
}

}  // namespace

const Dataset& GetDataset(int64_t n) {
  std::lock_guard<std::recursive_mutex> lock(internal::FixtureMutex());
  auto& m = Datasets();
  auto it = m.find(n);
  if (it == m.end()) it = m.emplace(n, BuildDataset(n)).first;
  return *it->second;
}

const std::vector<std::string>& UpdateAttributes() {
  static const std::vector<std::string>* pool = [] {
    auto* v = new std::vector<std::string>();
    Rng rng(0x0bda7e);
    for (size_t i = 0; i < kUpdatePoolSize; ++i) {
      char team[8];
      std::snprintf(team, sizeof(team), "t%04u", static_cast<unsigned>(i));
      v->push_back(MakeAttributes(rng.Next(), team));
    }
    return v;
  }();
  return *pool;
}

void KeySet::Shuffle() {
  std::vector<uint32_t> perm(sids.size());
  for (size_t k = 0; k < perm.size(); ++k) perm[k] = static_cast<uint32_t>(k);
  std::shuffle(perm.begin(), perm.end(), shuffle_rng);
  std::vector<SidText> shuffled_sids(sids.size());
  std::string shuffled_identities(identities.size(), '\0');
  for (size_t k = 0; k < perm.size(); ++k) {
    shuffled_sids[k] = sids[perm[k]];
    std::memcpy(&shuffled_identities[k * kIdentityLen], &identities[perm[k] * kIdentityLen],
                kIdentityLen);
  }
  sids.swap(shuffled_sids);
  identities.swap(shuffled_identities);
}

void FreshIdentities(size_t count, std::string* out) {
  static std::atomic<uint32_t> next{0};
  out->resize(count * kIdentityLen);
  const uint32_t first = next.fetch_add(static_cast<uint32_t>(count));
  for (size_t c = 0; c < count; ++c) {
    WriteIdentity("new_", first + static_cast<uint32_t>(c), &(*out)[c * kIdentityLen]);
  }
}

bool MixedIsWrite(uint64_t k) {
  static const std::vector<uint8_t>* schedule = [] {
    auto* v = new std::vector<uint8_t>(4096);
    Rng rng(0x313ed);
    for (auto& b : *v) b = (rng.Next() % 10) == 0;
    return v;
  }();
  return (*schedule)[k & 4095];
}

// --- memory -----------------------------------------------------------------

MemSample SampleMemory() {
  malloc_trim(0);
  MemSample s;
  const struct mallinfo2 mi = mallinfo2();
  s.alloc = static_cast<int64_t>(mi.uordblks + mi.hblkhd);
  std::ifstream statm("/proc/self/statm");
  long size_pages = 0, resident_pages = 0;
  statm >> size_pages >> resident_pages;
  s.rss = static_cast<int64_t>(resident_pages) * sysconf(_SC_PAGESIZE);
  return s;
}

// --- files --------------------------------------------------------------------

TempDir::TempDir(const char* prefix) {
  const char* tmp = std::getenv("TMPDIR");
  std::string pattern = (tmp != nullptr && *tmp != '\0') ? tmp : "/tmp";
  pattern += "/userstore_bench_";
  pattern += prefix;
  pattern += "_XXXXXX";
  if (mkdtemp(&pattern[0]) == nullptr) {
    std::fprintf(stderr, "userstore_bench: mkdtemp %s: %s\n", pattern.c_str(),
                 std::strerror(errno));
    std::abort();
  }
  path_ = std::move(pattern);
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
  if (ec) {
    std::fprintf(stderr, "userstore_bench: removing %s: %s\n", path_.c_str(), ec.message().c_str());
  }
}

int64_t DiskBytes(const std::string& path) {
  int64_t bytes = 0;
  std::error_code ec;
  for (auto it = std::filesystem::recursive_directory_iterator(path, ec);
       !ec && it != std::filesystem::recursive_directory_iterator(); it.increment(ec)) {
    struct stat st;
    if (lstat(it->path().c_str(), &st) == 0 && S_ISREG(st.st_mode)) {
      bytes += static_cast<int64_t>(st.st_blocks) * 512;
    }
  }
  return bytes;
}

// --- fixtures ----------------------------------------------------------------

namespace internal {

// Recursive: a fixture built on another (Rest on Store) fetches it while the
// lock is held.
std::recursive_mutex& FixtureMutex() {
  static auto* mu = new std::recursive_mutex();
  return *mu;
}

void AddReleaser(std::function<void(int64_t keep)> release) {
  Releasers().push_back(std::move(release));
}

void EnterSizeLocked(int64_t n) {
  if (n == g_current_size) return;
  g_current_size = n;
  // Fixtures built on other fixtures (Rest on Store) registered later: drop
  // them first.
  auto& releasers = Releasers();
  for (auto it = releasers.rbegin(); it != releasers.rend(); ++it) (*it)(n);
  auto& datasets = Datasets();
  for (auto it = datasets.begin(); it != datasets.end();) {
    it = it->first == n ? std::next(it) : datasets.erase(it);
  }
  malloc_trim(0);
}

}  // namespace internal

void EnterSize(int64_t n) {
  std::lock_guard<std::recursive_mutex> lock(internal::FixtureMutex());
  internal::EnterSizeLocked(n);
}

void ReleaseAll() {
  // No N is negative: every fixture and data set goes.
  EnterSize(-1);
}

// --- registry ---------------------------------------------------------------

std::vector<ImplEntry>& Registry() {
  static auto* v = new std::vector<ImplEntry>();
  return *v;
}

bool RegisterImpl(ImplEntry entry) {
  Registry().push_back(std::move(entry));
  return true;
}

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
