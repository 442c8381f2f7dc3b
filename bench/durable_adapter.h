// -----------------------------------------------------------------------------
// File: bench/durable_adapter.h
// -----------------------------------------------------------------------------
//
// The durable store (userstore/durable.h) as the harness's adapter: the
// `Durable` rows of userstore_bench (durable_benchmark.cc) and the baseline
// of userstore_changelog_bench (changelog_benchmark.cc), so that both
// measure one store opened the same way: OpenUserStore in a fresh temporary
// directory, with the in-memory Store's options (BenchStoreOptions).
//
// Thread safety: as StoreAdapter's.

#ifndef USERSTORE_BENCH_DURABLE_ADAPTER_H_
#define USERSTORE_BENCH_DURABLE_ADAPTER_H_

#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <utility>

#include "absl/status/statusor.h"
#include "bench/bench_harness.h"
#include "bench/store_adapter.h"

#include "userstore/durable.h"
#include "userstore/user_store.h"

namespace userstore_bench {

// Opens the durable store in `path` in mode `durability`, with the options of
// the in-memory Store (BenchStoreOptions). Aborts with a message on failure.
inline std::unique_ptr<userstore::UserStore> OpenDurableOrDie(
    const std::string& path, userstore::Durability durability,
    userstore::RecoveryReport* report = nullptr) {
  userstore::DurableOptions options;
  options.store = BenchStoreOptions();
  options.durability = durability;
  absl::StatusOr<std::unique_ptr<userstore::UserStore>> store =
      userstore::OpenUserStore(path, options, report);
  if (!store.ok()) {
    std::fprintf(stderr, "userstore_bench: OpenUserStore(%s): %s\n", path.c_str(),
                 store.status().ToString().c_str());
    std::abort();
  }
  return std::move(*store);
}

// The temporary directory, a base class constructed before the store
// adapter and destroyed after it (so the store is closed before its files
// go).
struct DirHolder {
  explicit DirHolder(const char* prefix) : dir(prefix) {}
  std::string store_path() const { return dir.path() + "/store"; }
  TempDir dir;
};

// `Durable`: the default mode, kBackgroundSync.
class DurableAdapter : private DirHolder, public StoreAdapter {
 public:
  static constexpr const char* kName = "Durable";

  static std::unique_ptr<DurableAdapter> MakeEmpty() { return std::make_unique<DurableAdapter>(); }
  static void BuildFixture(int64_t n, Fixture<DurableAdapter>* fx) { BuildStandardFixture(n, fx); }
  static int64_t EngineBytes() { return -1; }

  explicit DurableAdapter(const char* prefix = "durable")
      : DirHolder(prefix),
        StoreAdapter(OpenDurableOrDie(store_path(), userstore::Durability::kBackgroundSync)) {}

  const std::string& dir_path() const { return dir.path(); }
  using DirHolder::store_path;
};

}  // namespace userstore_bench

#endif  // USERSTORE_BENCH_DURABLE_ADAPTER_H_
