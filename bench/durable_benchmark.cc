// -----------------------------------------------------------------------------
// File: bench/durable_benchmark.cc
// -----------------------------------------------------------------------------
//
// The durable store (userstore/durable.h), measured as `Store` is (the same
// adapter, bench/store_adapter.h, over the store `OpenUserStore` returns), in
// a fresh temporary directory per fixture (removed with it):
//
//   Durable       the default mode, kBackgroundSync: every write is in the
//                 journal, in the operating system's hands, before it
//                 returns; a background thread syncs it every second.
//                 Create, GetBySid, Update, Delete (CPU time of the calling
//                 thread, as every row of the suite: the background thread's
//                 work is not counted).
//   DurableSync   kSyncEachWrite: a write returns once its record is synced
//                 (concurrent writers share a sync). Create on one thread and
//                 on four (BM_DurableSync_Create/<N>/threads:4), timed by the
//                 wall clock (WallClock, bench_harness.h: a sync waits, it
//                 does not compute; four threads' items_per_second is their
//                 sum). Its N users are loaded in the default mode, the store
//                 closed and opened again in kSyncEachWrite.
//
// And at every N:
//
//   BM_Durable_Recover/<N>     N users created in a durable store that is
//                 then closed; each iteration times one OpenUserStore of the
//                 directory (untimed: a check that users are there, and the
//                 close). items = users recovered; wall clock.
//   BM_Durable_Checkpoint/<N>  one UserStore::Checkpoint() of the Durable
//                 fixture's N users while a second thread updates users as
//                 fast as it can and times each update. Counters:
//                 max_write_latency_us and p99_write_latency_us (over the
//                 updates that overlapped a checkpoint, all iterations),
//                 disk_bytes_per_user (the directory's allocated bytes after
//                 the last checkpoint, as du counts them, the journal's
//                 preallocated segment included, / N). items = users
//                 checkpointed; wall clock.

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "bench/bench_harness.h"
#include "bench/durable_adapter.h"
#include "bench/store_adapter.h"
#include <benchmark/benchmark.h>

#include "userstore/durable.h"
#include "userstore/user_store.h"

namespace userstore_bench {
namespace {

using userstore::Durability;

// UserStore::Checkpoint(), where the store has it. (A tree without it still
// builds the other rows; BM_Durable_Checkpoint then reports an error.)
template <typename S>
auto CheckpointOf(S* store, int) -> decltype(store->Checkpoint()) {
  return store->Checkpoint();
}
template <typename S>
absl::Status CheckpointOf(S*, long) {
  return absl::UnimplementedError("UserStore::Checkpoint() is not in this build");
}

class DurableSyncAdapter : private DirHolder, public StoreAdapter {
 public:
  static constexpr const char* kName = "DurableSync";

  static std::unique_ptr<DurableSyncAdapter> MakeEmpty() {
    return std::make_unique<DurableSyncAdapter>();
  }
  // Loaded in the default mode (N synced creates would take minutes), then
  // closed and opened again with kSyncEachWrite.
  static void BuildFixture(int64_t n, Fixture<DurableSyncAdapter>* fx) {
    BuildStandardFixture(n, fx);
    fx->impl->ReplaceStore(nullptr);  // closes the directory first
    fx->impl->ReplaceStore(OpenDurableOrDie(fx->impl->store_path(), Durability::kSyncEachWrite));
  }
  static int64_t EngineBytes() { return -1; }

  DurableSyncAdapter()
      : DirHolder("durable_sync"),
        StoreAdapter(OpenDurableOrDie(store_path(), Durability::kBackgroundSync)) {}

  using DirHolder::store_path;
};

// The directory BM_Durable_Recover opens: N users created in a durable store
// (the data set's, in the default mode), which is then closed.
class RecoverSource : private DirHolder {
 public:
  static constexpr const char* kName = "DurableRecoverSource";
  static void BuildFixture(int64_t n, Fixture<RecoverSource>* fx) {
    fx->impl = std::make_unique<RecoverSource>();
    const Dataset& d = GetDataset(n);
    StoreAdapter store(OpenDurableOrDie(fx->impl->store_path(), Durability::kBackgroundSync));
    fx->impl->sids_.resize(static_cast<size_t>(n));
    store.Load(d, fx->impl->sids_.data());
    fx->impl->service_ = store.service();
    // `store` closes here.
  }

  RecoverSource() : DirHolder("durable_recover") {}
  using DirHolder::store_path;
  const std::string& service() const { return service_; }
  const std::vector<SidText>& sids() const { return sids_; }

 private:
  std::string service_;
  std::vector<SidText> sids_;
};

// How many of 64 users spread over `source` `store` has.
int64_t CountSampled(userstore::UserStore* store, const RecoverSource& source) {
  const std::vector<SidText>& sids = source.sids();
  int64_t found = 0;
  for (size_t k = 0; k < 64; ++k) {
    const size_t i = k * sids.size() / 64;
    found +=
        store->ReadUser(source.service(), sids[i].view(), [](const userstore::UserView&) {}).ok();
  }
  return found;
}

void BM_Durable_Recover(benchmark::State& state) {
  const int64_t n = state.range(0);
  Fixture<RecoverSource>& fx = GetFixture<RecoverSource>(n);
  const std::string path = fx.impl->store_path();
  int64_t failures = 0;
  WallClock wall;
  wall.Start();
  userstore::DurableOptions options;
  options.store = BenchStoreOptions();
  for (auto _ : state) {
    userstore::RecoveryReport report;
    absl::StatusOr<std::unique_ptr<userstore::UserStore>> store =
        userstore::OpenUserStore(path, options, &report);
    wall.Stop();
    state.PauseTiming();
    benchmark::DoNotOptimize(report);
    if (!store.ok() || CountSampled(store->get(), *fx.impl) != 64) ++failures;
    if (store.ok()) store->reset();  // the close, untimed
    state.ResumeTiming();
    wall.Start();
  }
  wall.Stop();
  if (failures != 0) {
    state.SkipWithError((std::to_string(failures) + " opens did not recover the users").c_str());
    return;
  }
  FinishWallClockRun(state, state.iterations() * n, wall, 0);
}

// The writer of BM_Durable_Checkpoint: updates users of `fx` in the access
// order, as fast as it can, from when `go` is set until `stop` is, and
// records each update's start and end.
struct TimedWrite {
  std::chrono::steady_clock::time_point start, end;
};

void BM_Durable_Checkpoint(benchmark::State& state) {
  using Clock = std::chrono::steady_clock;
  Fixture<DurableAdapter>& fx = GetFixture<DurableAdapter>(state.range(0));
  DurableAdapter& a = *fx.impl;
  const std::vector<std::string>& pool = UpdateAttributes();
  const size_t n = static_cast<size_t>(fx.n);
  std::vector<double> latencies_us;  // of the writes that overlapped a checkpoint
  int64_t failures = 0;
  int64_t write_failures = 0;
  WallClock wall;
  for (auto _ : state) {
    state.PauseTiming();
    std::vector<TimedWrite> writes;
    writes.reserve(1 << 16);
    std::atomic<bool> stop{false};
    std::atomic<int64_t> done{0};
    size_t i = StartPosition(fx, state);
    size_t p = static_cast<size_t>(fx.keys->updates % kUpdatePoolSize);
    std::thread writer([&] {
      while (!stop.load(std::memory_order_acquire)) {
        TimedWrite w;
        w.start = Clock::now();
        const bool ok = a.Update(0, fx.keys->sids[i].view(), pool[p]);
        w.end = Clock::now();
        if (!ok) ++write_failures;
        writes.push_back(w);
        if (++i == n) i = 0;
        if (++p == kUpdatePoolSize) p = 0;
        done.fetch_add(1, std::memory_order_release);
      }
    });
    // The writer is under way (its first update done) before the checkpoint.
    while (done.load(std::memory_order_acquire) == 0) std::this_thread::yield();
    state.ResumeTiming();
    wall.Start();
    const Clock::time_point begin = Clock::now();
    const absl::Status status = CheckpointOf(a.store(), 0);
    const Clock::time_point end = Clock::now();
    wall.Stop();
    state.PauseTiming();
    stop.store(true, std::memory_order_release);
    writer.join();
    fx.keys->updates += writes.size();
    fx.keys->cursor.store(i);
    if (!status.ok()) {
      state.SkipWithError(("Checkpoint: " + status.ToString()).c_str());
      break;  // (no ResumeTiming after an error)
    }
    for (const TimedWrite& w : writes) {
      if (w.end >= begin && w.start <= end) {
        latencies_us.push_back(std::chrono::duration<double, std::micro>(w.end - w.start).count());
      }
    }
    state.ResumeTiming();
  }
  if (state.error_occurred()) return;
  if (write_failures != 0) ++failures;
  std::sort(latencies_us.begin(), latencies_us.end());
  if (!latencies_us.empty()) {
    state.counters["max_write_latency_us"] = latencies_us.back();
    state.counters["p99_write_latency_us"] =
        latencies_us[std::min(latencies_us.size() - 1, latencies_us.size() * 99 / 100)];
  }
  state.counters["writes_during_checkpoints"] = static_cast<double>(latencies_us.size());
  state.counters["disk_bytes_per_user"] =
      static_cast<double>(DiskBytes(a.dir_path())) / static_cast<double>(fx.n);
  FinishWallClockRun(state, state.iterations() * fx.n, wall, failures);
}

const bool kRegistered = [] {
  ImplEntry durable;
  durable.name = DurableAdapter::kName;
  durable.order = 9;
  durable.threaded_reads = false;
  durable.ops[kCreate] = &BM_Create<DurableAdapter>;
  durable.ops[kGetBySid] = &BM_GetBySid<DurableAdapter>;
  durable.ops[kUpdate] = &BM_Update<DurableAdapter>;
  durable.ops[kDelete] = &BM_Delete<DurableAdapter>;
  durable.sized_extras.push_back({"Recover", &BM_Durable_Recover});
  durable.sized_extras.push_back({"Checkpoint", &BM_Durable_Checkpoint});
  RegisterImpl(std::move(durable));
  ImplEntry sync;
  sync.name = DurableSyncAdapter::kName;
  sync.order = 10;
  sync.ops[kCreate] = &BM_Create<DurableSyncAdapter, /*kWallClock=*/true>;
  sync.sized_extras.push_back(
      {"Create", &BM_Create<DurableSyncAdapter, /*kWallClock=*/true>, /*threads=*/4});
  return RegisterImpl(std::move(sync));
}();

}  // namespace
}  // namespace userstore_bench
