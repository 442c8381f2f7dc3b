// -----------------------------------------------------------------------------
// File: bench/bench_harness.h
// -----------------------------------------------------------------------------
//
// The shared half of `userstore_bench`: the data set every implementation is
// fed, the fixtures (one store of N users per implementation, built once and
// reused by every benchmark of that N), and the benchmark bodies, written once
// as templates so that every implementation is measured the same way.
//
// Implementations ("adapters", one per *_benchmark.cc file) are plain classes
// with this shape (the harness calls nothing else):
//
//   static constexpr const char* kName;            // "Store", "Sqlite", ...
//   static std::unique_ptr<A> MakeEmpty();         // a store with no user
//   static void BuildFixture(int64_t n, Fixture<A>* fx);
//                                                  // usually BuildStandardFixture
//   static int64_t EngineBytes();                  // the engine's own memory
//                                                  // counter, or -1 (none)
//   void Load(const Dataset& d, SidText* sids);    // inserts d's users 0..n-1,
//                                                  // writes user i's SID to sids[i]
//   bool Create(int t, string_view identity, string_view attributes,
//               SidText* sid_out /* nullable */);
//   bool GetBySid(int t, string_view sid);
//   bool GetByIdentity(int t, string_view identity);
//   bool Update(int t, string_view sid, string_view attributes);
//   bool Delete(int t, string_view sid);
//   int64_t List(int t, std::string* token);       // one page of 50; token in
//                                                  // and out ("" = first page);
//                                                  // returns the items, -1 on error
//   bool DeleteByIdentity(string_view identity);   // clean-up, never timed
//   void BeginBatch(int t); void CommitBatch(int t);  // transactions (SQLite)
//   void Compact();                                // after a write benchmark,
//                                                  // untimed
//
// `t` is the benchmark thread (0 or 1). Every operation builds the full result
// the implementation's API returns (a `userstore::User`, a page of them, or an
// HTTP response) and passes it to `benchmark::DoNotOptimize` before dropping it.
//
// Thread safety: fixtures are created under one global mutex; the benchmark
// bodies rely on the adapters for the rest (only the read benchmarks run on
// more than one thread).

#ifndef USERSTORE_BENCH_BENCH_HARNESS_H_
#define USERSTORE_BENCH_BENCH_HARNESS_H_

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include <benchmark/benchmark.h>

namespace userstore_bench {

// --- sizes and shapes ---------------------------------------------------------

inline constexpr int64_t kSizes[] = {10000, 100000, 1000000};
inline constexpr size_t kIdentityLen = 12;    // "usr_" + 8 hex digits
inline constexpr size_t kAttributesLen = 64;  // one JSON object, 64 bytes
inline constexpr int64_t kPageSize = 50;
inline constexpr int kTxnOps = 1000;  // operations per transaction
inline constexpr size_t kUpdatePoolSize = 1021;

// Operations, in the order they are registered and reported.
enum Op { kCreate, kGetBySid, kGetByIdentity, kUpdate, kDelete, kList, kMixed, kNumOps };
inline constexpr const char* kOpNames[kNumOps] = {"Create", "GetBySid", "GetByIdentity", "Update",
                                                  "Delete", "List",     "Mixed"};
inline bool IsReadOp(int op) { return op == kGetBySid || op == kGetByIdentity || op == kList; }

// --- SIDs ---------------------------------------------------------------------

// A 128-bit SID value, as the engine and RawMap key users.
struct Sid128 {
  uint64_t hi = 0;
  uint64_t lo = 0;
  friend bool operator==(const Sid128& a, const Sid128& b) { return a.hi == b.hi && a.lo == b.lo; }
  template <typename H>
  friend H AbslHashValue(H h, const Sid128& s) {
    return H::combine(std::move(h), s.hi, s.lo);
  }
};

// The text form of a user SID ("US" + 32 lower-case hex digits), held inline so
// that key arrays are flat and no key costs a pointer chase.
struct SidText {
  char text[34];
  absl::string_view view() const { return absl::string_view(text, sizeof(text)); }
  void Set(absl::string_view s) {
    std::memset(text, 0, sizeof(text));
    std::memcpy(text, s.data(), s.size() < sizeof(text) ? s.size() : sizeof(text));
  }
};

// "US" + hex(hi) + hex(lo).
void FormatSid(const Sid128& sid, char out[34]);
std::string SidString(const Sid128& sid);
// Parses "US" + 32 lower-case hex digits (the only form generated).
bool ParseSid(absl::string_view text, Sid128* sid);

// SplitMix64: SIDs of the baselines and every random choice of the harness.
class Rng {
 public:
  explicit Rng(uint64_t seed) : state_(seed) {}
  uint64_t Next() {
    uint64_t z = (state_ += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }
  Sid128 NextSid() {
    Sid128 s;
    s.hi = Next();
    s.lo = Next();
    return s;
  }

 private:
  uint64_t state_;
};

// Dates as the engine keeps them: whole seconds.
inline absl::Time NowSeconds() { return absl::FromUnixSeconds(absl::ToUnixSeconds(absl::Now())); }

// --- the data set -------------------------------------------------------------

// The users every implementation holds for a given N: the same identities and
// attribute texts, and the same random access order.
struct Dataset {
  int64_t n = 0;
  std::string identities;       // n * kIdentityLen, user i at i * kIdentityLen
  std::string attributes;       // n * kAttributesLen
  std::vector<uint32_t> order;  // a random permutation of [0, n): access order

  absl::string_view identity(int64_t i) const {
    return absl::string_view(identities.data() + i * kIdentityLen, kIdentityLen);
  }
  absl::string_view attribute(int64_t i) const {
    return absl::string_view(attributes.data() + i * kAttributesLen, kAttributesLen);
  }
};

// Built once per N and shared; released when the run moves to another N.
const Dataset& GetDataset(int64_t n);

// 1021 distinct 64-byte attribute texts, none equal to a data set's, that
// Update and Mixed cycle through.
const std::vector<std::string>& UpdateAttributes();

// Writes `count` never-used identities ("new_" + 8 hex digits, 12 bytes) into
// `out` (count * kIdentityLen bytes). Successive calls never repeat.
void FreshIdentities(size_t count, std::string* out);

// 90% reads, 10% writes: `MixedIsWrite(k)` for op k, from a fixed random
// schedule of 4096 entries.
bool MixedIsWrite(uint64_t k);

// --- memory -----------------------------------------------------------------

struct MemSample {
  int64_t rss = 0;    // resident set size, bytes (/proc/self/statm)
  int64_t alloc = 0;  // bytes allocated and not freed (mallinfo2)
};
// Trims the heap (malloc_trim) so that freed pages do not count, then samples.
MemSample SampleMemory();

// --- files --------------------------------------------------------------------

// A fresh directory, `$TMPDIR/userstore_bench_<prefix>_XXXXXX` (or under /tmp;
// mkdtemp), removed with everything in it when the object goes. The
// benchmarks of the stores on disk (SqliteWal, RocksDb, Durable) each keep
// theirs in one; fixtures are dropped, and their directories removed, when
// the suite moves to another N and at the end of the run (ReleaseAll).
class TempDir {
 public:
  explicit TempDir(const char* prefix);  // aborts with a message on failure
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// The bytes the files under `path` take on disk (allocated blocks, as du
// counts them; preallocated space included).
int64_t DiskBytes(const std::string& path);

// --- fixtures ------------------------------------------------------------------

// The keys of a fixture, in the shared random access order: key k is user
// `dataset.order[k]`. Delete re-creates the users it deletes (untimed) and
// writes their new SIDs here, so the keys stay valid.
struct KeySet {
  std::vector<SidText> sids;        // n entries
  std::string identities;           // n * kIdentityLen
  std::atomic<uint64_t> cursor{0};  // where the next benchmark starts reading
  // Updates run so far (Update and Mixed, which run on one thread): picks the
  // next text of the update pool, so that a user updated again gets a text
  // other than its stored one (kUpdatePoolSize is prime and no N is a
  // multiple of it). An update to the stored value is a no-op the store
  // skips, which would measure something else.
  uint64_t updates = 0;
  // Reshuffles the key order (sids and identities together), for Delete
  // after each full pass: see BM_Delete.
  void Shuffle();
  std::mt19937_64 shuffle_rng{0x5eed5u};

  absl::string_view identity(size_t k) const {
    return absl::string_view(identities.data() + k * kIdentityLen, kIdentityLen);
  }
};

template <class A>
struct Fixture {
  int64_t n = 0;
  std::unique_ptr<A> impl;
  KeySet* keys = nullptr;  // owned by `own_keys`, or by the fixture shared with
  std::unique_ptr<KeySet> own_keys;
  std::shared_ptr<void> keep_alive;  // a fixture this one is built on
};

// Drops every fixture and data set whose N differs from `n` (the suite runs
// one N after the other, so at most one N is resident). Called by every
// benchmark on entry.
void EnterSize(int64_t n);

// Drops every fixture and data set (at the end of the run, so that the
// temporary directories of the stores on disk are removed).
void ReleaseAll();

namespace internal {
std::recursive_mutex& FixtureMutex();
// Registers a function that drops fixtures of sizes other than its argument.
void AddReleaser(std::function<void(int64_t keep)> release);
void EnterSizeLocked(int64_t n);
}  // namespace internal

// Builds `fx` the ordinary way: an empty store, the data set loaded, the keys
// put in the access order.
template <class A>
void BuildStandardFixture(int64_t n, Fixture<A>* fx) {
  const Dataset& d = GetDataset(n);
  fx->impl = A::MakeEmpty();
  std::vector<SidText> by_index(static_cast<size_t>(n));
  fx->impl->Load(d, by_index.data());
  fx->own_keys = std::make_unique<KeySet>();
  KeySet* keys = fx->own_keys.get();
  keys->sids.resize(static_cast<size_t>(n));
  keys->identities.resize(static_cast<size_t>(n) * kIdentityLen);
  for (int64_t k = 0; k < n; ++k) {
    const uint32_t i = d.order[static_cast<size_t>(k)];
    keys->sids[static_cast<size_t>(k)] = by_index[i];
    std::memcpy(&keys->identities[static_cast<size_t>(k) * kIdentityLen], d.identity(i).data(),
                kIdentityLen);
  }
  fx->keys = keys;
}

// The fixture of implementation `A` at size `n`, built on first use.
template <class A>
std::shared_ptr<Fixture<A>> GetFixtureShared(int64_t n) {
  static std::map<int64_t, std::shared_ptr<Fixture<A>>>* fixtures = [] {
    auto* m = new std::map<int64_t, std::shared_ptr<Fixture<A>>>();
    internal::AddReleaser([m](int64_t keep) {
      for (auto it = m->begin(); it != m->end();) {
        it = it->first == keep ? std::next(it) : m->erase(it);
      }
    });
    return m;
  }();
  std::lock_guard<std::recursive_mutex> lock(internal::FixtureMutex());
  internal::EnterSizeLocked(n);
  auto it = fixtures->find(n);
  if (it != fixtures->end()) return it->second;
  auto fx = std::make_shared<Fixture<A>>();
  fx->n = n;
  A::BuildFixture(n, fx.get());
  (*fixtures)[n] = fx;
  return fx;
}

template <class A>
Fixture<A>& GetFixture(int64_t n) {
  return *GetFixtureShared<A>(n);
}

// --- benchmark bodies ------------------------------------------------------

// Creates and deletes per timed batch: the store stays within [N, N + batch].
inline size_t WriteBatch(int64_t n) {
  return static_cast<size_t>(std::max<int64_t>(1, std::min<int64_t>(n / 100, kTxnOps)));
}

inline void FinishRun(benchmark::State& state, int64_t items, int64_t failures) {
  state.SetItemsProcessed(items);
  if (failures != 0) {
    state.SkipWithError((std::to_string(failures) + " operations failed").c_str());
  }
}

// Wall-clock time, for the benchmarks whose operations wait rather than
// compute (a synced write waits on the disk, a recovery on reads, a
// checkpoint on a writer thread or process): Google Benchmark computes
// items_per_second from the calling thread's CPU time, which leaves the wait
// out, and its real-time mode would rename the benchmark. Such a benchmark
// runs this clock while the state's timer runs (Start after ResumeTiming and
// at the loop's start, Stop before PauseTiming and after the loop) and
// reports with FinishWallClockRun.
class WallClock {
 public:
  void Start() { start_ = std::chrono::steady_clock::now(); }
  void Stop() { total_ += std::chrono::steady_clock::now() - start_; }
  double seconds() const { return std::chrono::duration<double>(total_).count(); }

 private:
  std::chrono::steady_clock::time_point start_;
  std::chrono::steady_clock::duration total_{0};
};

// items_per_second = items / the wall clock's seconds, as a plain counter:
// summed over a benchmark's threads, which run over the same interval, it is
// their aggregate throughput.
inline void FinishWallClockRun(benchmark::State& state, int64_t items, const WallClock& wall,
                               int64_t failures) {
  const double seconds = wall.seconds();
  state.counters["items_per_second"] =
      benchmark::Counter(seconds > 0 ? static_cast<double>(items) / seconds : 0.0);
  if (failures != 0) {
    state.SkipWithError((std::to_string(failures) + " operations failed").c_str());
  }
}

// The inputs of an operation (the key of a read, update or delete; the
// identity and attributes of a create) are read from the data set's arrays,
// tens of MB at 10^6 users, one entry after the other. A caller's inputs are
// in cache (a request just parsed), and a miss on them is not the cost of
// the implementation; left to the hardware's stride prefetcher, whether they
// miss depended on where the code of the implementation under test happened
// to sit (measured: a create at 10^6 moved between ~530 and ~650 ns with edits
// to the store that changed no instruction of its path, all of the difference
// in the harness's copy of the attributes). So every loop asks for the
// input `kInputAhead` operations ahead, the same for every implementation.
inline constexpr size_t kInputAhead = 8;
inline void PrefetchInput(const void* p, size_t bytes) {
  const char* c = static_cast<const char*>(p);
  __builtin_prefetch(c);
  __builtin_prefetch(c + bytes - 1);
}
// The position `ahead` steps after `i` in a cycle of `n`.
inline size_t Ahead(size_t i, size_t n, size_t ahead = kInputAhead) {
  const size_t j = i + ahead;
  return j < n ? j : j % n;
}

// Where thread `t` starts in the access order.
template <class A>
size_t StartPosition(const Fixture<A>& fx, const benchmark::State& state) {
  const uint64_t n = static_cast<uint64_t>(fx.n);
  return static_cast<size_t>(
      (fx.keys->cursor.load() +
       n * static_cast<uint64_t>(state.thread_index()) / static_cast<uint64_t>(state.threads())) %
      n);
}

template <class A>
void AdvanceCursor(Fixture<A>& fx, const benchmark::State& state) {
  if (state.thread_index() == 0) {
    fx.keys->cursor.store((fx.keys->cursor.load() + static_cast<uint64_t>(state.iterations())) %
                          static_cast<uint64_t>(fx.n));
  }
}

// GetBySid: fetch users by SID text, in the random access order.
template <class A>
void BM_GetBySid(benchmark::State& state) {
  Fixture<A>& fx = GetFixture<A>(state.range(0));
  A& a = *fx.impl;
  const int t = state.thread_index();
  const SidText* keys = fx.keys->sids.data();
  const size_t n = static_cast<size_t>(fx.n);
  size_t i = StartPosition(fx, state);
  int64_t failures = 0;
  for (auto _ : state) {
    PrefetchInput(&keys[Ahead(i, n)], sizeof(SidText));
    failures += !a.GetBySid(t, keys[i].view());
    if (++i == n) i = 0;
  }
  AdvanceCursor(fx, state);
  FinishRun(state, state.iterations(), failures);
}

// GetByIdentity: fetch users by identity, in the random access order.
template <class A>
void BM_GetByIdentity(benchmark::State& state) {
  Fixture<A>& fx = GetFixture<A>(state.range(0));
  A& a = *fx.impl;
  const int t = state.thread_index();
  const KeySet& keys = *fx.keys;
  const size_t n = static_cast<size_t>(fx.n);
  size_t i = StartPosition(fx, state);
  int64_t failures = 0;
  for (auto _ : state) {
    PrefetchInput(keys.identity(Ahead(i, n)).data(), kIdentityLen);
    failures += !a.GetByIdentity(t, keys.identity(i));
    if (++i == n) i = 0;
  }
  AdvanceCursor(fx, state);
  FinishRun(state, state.iterations(), failures);
}

// Update: replace the attributes (a new 64-byte JSON text, validated) of users
// in the random access order; one transaction per kTxnOps updates.
template <class A>
void BM_Update(benchmark::State& state) {
  Fixture<A>& fx = GetFixture<A>(state.range(0));
  A& a = *fx.impl;
  const int t = state.thread_index();
  const SidText* keys = fx.keys->sids.data();
  const std::vector<std::string>& pool = UpdateAttributes();
  const size_t n = static_cast<size_t>(fx.n);
  size_t i = StartPosition(fx, state);
  size_t p = static_cast<size_t>(fx.keys->updates % kUpdatePoolSize);
  int batch = 0;
  int64_t failures = 0;
  a.BeginBatch(t);
  for (auto _ : state) {
    PrefetchInput(&keys[Ahead(i, n)], sizeof(SidText));
    failures += !a.Update(t, keys[i].view(), pool[p]);
    if (++i == n) i = 0;
    if (++p == kUpdatePoolSize) p = 0;
    if (++batch == kTxnOps) {
      a.CommitBatch(t);
      a.BeginBatch(t);
      batch = 0;
    }
  }
  a.CommitBatch(t);
  fx.keys->updates += static_cast<uint64_t>(state.iterations());
  AdvanceCursor(fx, state);
  FinishRun(state, state.iterations(), failures);
}

// Mixed: 90% GetBySid, 10% Update, over the random access order.
template <class A>
void BM_Mixed(benchmark::State& state) {
  Fixture<A>& fx = GetFixture<A>(state.range(0));
  A& a = *fx.impl;
  const int t = state.thread_index();
  const SidText* keys = fx.keys->sids.data();
  const std::vector<std::string>& pool = UpdateAttributes();
  const size_t n = static_cast<size_t>(fx.n);
  size_t i = StartPosition(fx, state);
  size_t p = static_cast<size_t>(fx.keys->updates % kUpdatePoolSize);
  uint64_t k = 0;
  uint64_t updates = 0;
  int batch = 0;
  int64_t failures = 0;
  a.BeginBatch(t);
  for (auto _ : state) {
    PrefetchInput(&keys[Ahead(i, n)], sizeof(SidText));
    if (MixedIsWrite(k++)) {
      failures += !a.Update(t, keys[i].view(), pool[p]);
      if (++p == kUpdatePoolSize) p = 0;
      ++updates;
    } else {
      failures += !a.GetBySid(t, keys[i].view());
    }
    if (++i == n) i = 0;
    if (++batch == kTxnOps) {
      a.CommitBatch(t);
      a.BeginBatch(t);
      batch = 0;
    }
  }
  a.CommitBatch(t);
  fx.keys->updates += updates;
  AdvanceCursor(fx, state);
  FinishRun(state, state.iterations(), failures);
}

// Create: insert users with fresh identities and 64-byte attributes into a
// store of N. Timed in batches of WriteBatch(N) (one transaction each); between
// batches, untimed, the batch's users are deleted again, so the store stays
// within [N, N + batch]. Runs on several threads too (each with its own fresh
// identities). kWallClock: items_per_second from the wall clock (WallClock),
// for the creates that wait on a sync.
template <class A, bool kWallClock = false>
void BM_Create(benchmark::State& state) {
  Fixture<A>& fx = GetFixture<A>(state.range(0));
  A& a = *fx.impl;
  const int t = state.thread_index();
  const Dataset& d = GetDataset(fx.n);
  const size_t batch_size = WriteBatch(fx.n);
  const size_t n = static_cast<size_t>(fx.n);
  std::string ids;
  FreshIdentities(batch_size, &ids);
  size_t attr = StartPosition(fx, state);
  int64_t failures = 0;
  size_t j = 0;
  auto cleanup = [&](size_t count) {
    a.BeginBatch(t);
    for (size_t c = 0; c < count; ++c) {
      failures += !a.DeleteByIdentity(absl::string_view(&ids[c * kIdentityLen], kIdentityLen));
    }
    a.CommitBatch(t);
  };
  WallClock wall;
  a.BeginBatch(t);
  if constexpr (kWallClock) wall.Start();
  for (auto _ : state) {
    // (The batch's identities are one small array, in cache.)
    PrefetchInput(d.attribute(static_cast<int64_t>(Ahead(attr, n))).data(), kAttributesLen);
    failures += !a.Create(t, absl::string_view(&ids[j * kIdentityLen], kIdentityLen),
                          d.attribute(static_cast<int64_t>(attr)), nullptr);
    if (++attr == n) attr = 0;
    if (++j == batch_size) {
      a.CommitBatch(t);
      if constexpr (kWallClock) wall.Stop();
      state.PauseTiming();
      cleanup(j);
      FreshIdentities(batch_size, &ids);
      j = 0;
      state.ResumeTiming();
      if constexpr (kWallClock) wall.Start();
      a.BeginBatch(t);
    }
  }
  if constexpr (kWallClock) wall.Stop();
  a.CommitBatch(t);
  cleanup(j);
  a.Compact();
  AdvanceCursor(fx, state);
  if constexpr (kWallClock) {
    FinishWallClockRun(state, state.iterations(), wall, failures);
  } else {
    FinishRun(state, state.iterations(), failures);
  }
}

// Delete: delete existing users by SID, in the random access order, from a
// store of N. Timed in batches of WriteBatch(N) (one transaction each); between
// batches, untimed, the deleted users are created again (same identity, a new
// SID, which replaces the old one in the key set), so the store stays within
// [N - batch, N]. Re-created users take the newest creation positions in key
// order, so after each full pass over the keys their order is reshuffled
// (untimed): a second pass in the same order would delete them in creation
// order, each order-index block and arena stretch warm from the delete
// before, which measures something easier than deletes at random.
template <class A>
void BM_Delete(benchmark::State& state) {
  Fixture<A>& fx = GetFixture<A>(state.range(0));
  A& a = *fx.impl;
  const int t = state.thread_index();
  const Dataset& d = GetDataset(fx.n);
  KeySet& keys = *fx.keys;
  const size_t batch_size = WriteBatch(fx.n);
  const size_t n = static_cast<size_t>(fx.n);
  size_t start = StartPosition(fx, state);
  // Back to the first key, in a new order, when no whole batch is left.
  auto wrap = [&] {
    if (start + batch_size > n) {
      start = 0;
      keys.Shuffle();
    }
  };
  wrap();
  int64_t failures = 0;
  size_t j = 0;
  auto recreate = [&](size_t count) {
    a.BeginBatch(t);
    for (size_t c = 0; c < count; ++c) {
      const size_t k = start + c;
      failures +=
          !a.Create(t, keys.identity(k), d.attribute(static_cast<int64_t>(k)), &keys.sids[k]);
    }
    a.CommitBatch(t);
  };
  a.BeginBatch(t);
  for (auto _ : state) {
    PrefetchInput(&keys.sids[Ahead(start + j, n)], sizeof(SidText));
    failures += !a.Delete(t, keys.sids[start + j].view());
    if (++j == batch_size) {
      a.CommitBatch(t);
      state.PauseTiming();
      recreate(j);
      start += batch_size;
      wrap();
      j = 0;
      state.ResumeTiming();
      a.BeginBatch(t);
    }
  }
  a.CommitBatch(t);
  recreate(j);
  a.Compact();
  keys.cursor.store(start + j);
  FinishRun(state, state.iterations(), failures);
}

// List: walk the users in creation order, one page of 50 per iteration,
// following each page's next token (back to the first page after the last).
// items = users listed.
template <class A>
void BM_List(benchmark::State& state) {
  Fixture<A>& fx = GetFixture<A>(state.range(0));
  A& a = *fx.impl;
  const int t = state.thread_index();
  std::string token;
  int64_t items = 0;
  int64_t failures = 0;
  for (auto _ : state) {
    const int64_t got = a.List(t, &token);
    if (got < 0) {
      ++failures;
      token.clear();
    } else {
      items += got;
    }
  }
  FinishRun(state, items, failures);
}

// Memory: builds a fresh store of N users and reports what loading them cost:
// bytes_per_user_rss (resident set delta), bytes_per_user_alloc (mallinfo2
// in-use delta) and, where the engine counts its own memory, bytes_per_user_engine
// (sqlite3_memory_used() delta). The empty store and the key arrays are made
// before the first sample, so only the users are counted. items = users loaded.
template <class A>
void BM_Memory(benchmark::State& state) {
  const int64_t n = state.range(0);
  EnterSize(n);
  const Dataset& d = GetDataset(n);
  std::vector<double> rss, alloc, engine;
  for (auto _ : state) {
    std::unique_ptr<A> impl = A::MakeEmpty();
    std::vector<SidText> sids(static_cast<size_t>(n));
    const int64_t engine_before = A::EngineBytes();
    const MemSample before = SampleMemory();
    impl->Load(d, sids.data());
    const MemSample after = SampleMemory();
    const int64_t engine_after = A::EngineBytes();
    benchmark::DoNotOptimize(impl.get());
    rss.push_back(static_cast<double>(after.rss - before.rss) / static_cast<double>(n));
    alloc.push_back(static_cast<double>(after.alloc - before.alloc) / static_cast<double>(n));
    engine.push_back(static_cast<double>(engine_after - engine_before) / static_cast<double>(n));
  }
  auto median = [](std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v.empty() ? 0.0 : v[v.size() / 2];
  };
  state.counters["bytes_per_user_rss"] = median(rss);
  state.counters["bytes_per_user_alloc"] = median(alloc);
  if (A::EngineBytes() >= 0) state.counters["bytes_per_user_engine"] = median(engine);
  state.SetItemsProcessed(state.iterations() * n);
}

// --- registration ---------------------------------------------------------------

using BenchFn = void (*)(benchmark::State&);

// One implementation and its benchmark bodies; main() registers them in a
// fixed order (by N, then operation, then implementation).
struct ImplEntry {
  std::string name;
  int order = 0;
  BenchFn ops[kNumOps] = {};
  BenchFn memory = nullptr;
  // Extra families, registered at the largest N: {name suffix, fn, args}.
  struct Extra {
    std::string op;
    BenchFn fn;
    std::vector<int64_t> args;
  };
  std::vector<Extra> extras;
  // Registered at every N, after the operations: {name suffix, fn, threads
  // (0: the default, one)}; the argument is N.
  struct SizedExtra {
    std::string op;
    BenchFn fn;
    int threads = 0;
  };
  std::vector<SizedExtra> sized_extras;
  // The read operations are also registered on one and two threads (wall
  // clock); false for the implementations measured single-threaded only.
  bool threaded_reads = true;
};

std::vector<ImplEntry>& Registry();

// Adds `entry` to the registry; returns true (for static initializers).
bool RegisterImpl(ImplEntry entry);

template <class A, bool kWithMemory = true>
ImplEntry MakeEntry(int order) {
  ImplEntry e;
  e.name = A::kName;
  e.order = order;
  e.ops[kCreate] = &BM_Create<A>;
  e.ops[kGetBySid] = &BM_GetBySid<A>;
  e.ops[kGetByIdentity] = &BM_GetByIdentity<A>;
  e.ops[kUpdate] = &BM_Update<A>;
  e.ops[kDelete] = &BM_Delete<A>;
  e.ops[kList] = &BM_List<A>;
  e.ops[kMixed] = &BM_Mixed<A>;
  if constexpr (kWithMemory) e.memory = &BM_Memory<A>;
  return e;
}

}  // namespace userstore_bench

#endif  // USERSTORE_BENCH_BENCH_HARNESS_H_
