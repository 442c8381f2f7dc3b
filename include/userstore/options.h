// -----------------------------------------------------------------------------
// File: userstore/options.h
// -----------------------------------------------------------------------------
//
// Settings for a `UserStore` (`StoreOptions`) and the clock it reads dates
// from (`Clock`, `ManualClock`). Every limit of the Users resource is a field
// here, with Twilio's value as the default.
//
// Thread safety: `StoreOptions` is a plain value, copied into the store at
// construction. `Clock::Now()` must be safe to call from many threads;
// `ManualClock` is.

#ifndef USERSTORE_OPTIONS_H_
#define USERSTORE_OPTIONS_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace userstore {

// userstore::Clock
//
// The source of `date_created` / `date_updated`. The store truncates what
// `Now()` returns to whole seconds. Implementations must be thread-safe.
class Clock {
 public:
  virtual ~Clock() = default;
  virtual absl::Time Now() = 0;
};

// userstore::SystemClock()
//
// The process-wide wall clock (`absl::Now()`). Never null.
std::shared_ptr<Clock> SystemClock();

// userstore::ManualClock
//
// A clock that only moves when told to: for tests and for deterministic
// replay. Thread-safe.
//
// Example:
//   auto clock = std::make_shared<ManualClock>(absl::FromUnixSeconds(1458854719));
//   StoreOptions options;
//   options.clock = clock;
//   UserStore store(options);
//   clock->Advance(absl::Seconds(5));
class ManualClock final : public Clock {
 public:
  explicit ManualClock(absl::Time start = absl::UnixEpoch()) : now_(start) {}
  absl::Time Now() override {
    absl::MutexLock lock(&mu_);
    return now_;
  }
  void Set(absl::Time t) {
    absl::MutexLock lock(&mu_);
    now_ = t;
  }
  void Advance(absl::Duration d) {
    absl::MutexLock lock(&mu_);
    now_ += d;
  }

 private:
  absl::Mutex mu_;
  absl::Time now_ ABSL_GUARDED_BY(mu_);
};

// userstore::StoreOptions
//
// Applies to the whole store; read once at construction.
struct StoreOptions {
  // --- Identity of the store ---------------------------------------------------

  // The account SID every resource reports (`AC` + 32 hex digits). Empty: one
  // is generated from the SID generator. A malformed value makes the
  // constructor fall back to a generated one and `UserStore::init_status()`
  // report 400/20001. Default: empty.
  std::string account_sid;

  // Seed of the SID generator. Set: SIDs (and the generated account SID) are a
  // deterministic function of the seed and the order of creations, as tests
  // and `userstore replay --seed` need. Unset: seeded from the OS. Default:
  // unset.
  std::optional<uint64_t> seed;

  // Make the default conversation service (and its roles) at construction.
  // False only for a replica that will receive it through `Apply`. Default:
  // true.
  bool create_default_service = true;

  // Source of dates. Default (nullptr): `SystemClock()`.
  std::shared_ptr<Clock> clock;

  // --- Limits of the Users resource (SEMANTICS 2) ----------------------------

  // Longest identity, in Unicode code points. Longer: 400/50207. Default: 256.
  size_t max_identity_length = 256;
  // Longest friendly name, in code points. Longer: 400/50003. Default: 256.
  size_t max_friendly_name_length = 256;
  // Largest attributes document, in bytes. Larger: 400/50303. Default: 16 KiB.
  size_t max_attributes_bytes = size_t{16} * 1024;
  // Deepest nesting of arrays/objects in attributes. Deeper: 400/50303.
  // Default: 64.
  int max_attributes_depth = 64;
  // Most channels one user may have joined. More: 403/50208. Default: 250.
  int max_user_channels = 250;
  // Longest friendly name of a service or role, in code points. Longer:
  // 400/50003. Default: 256.
  size_t max_service_name_length = 256;
  // Most permissions on one role; longest permission name (code points).
  // Beyond: 400/20001. Defaults: 64 and 256.
  size_t max_role_permissions = 64;
  size_t max_permission_length = 256;

  // --- Performance -------------------------------------------------------------

  // Number of lock shards of the user tables (by SID and by identity). A fetch
  // by SID or by identity takes only one shard's reader lock, so more shards
  // let more reader threads run without touching a shared cache line.
  // Rounded up to a power of two, 1..1024. Default: 16.
  int sid_shards = 16;

  // Once the store has held about this many users (counted as users are
  // added; never turned off again), a create or an update asks the CPU for
  // the table slots it will look up before it validates its parameters, so
  // that in a store too large for the CPU's caches those cache misses overlap
  // the validation (at 10^6 users a create or an update about 15% faster, at
  // 10^5 an update 7%; docs/performance.md). In a smaller store the tables
  // are likely in cache and the prefetch's extra reader locks cost more than
  // they save (a create at 10^4 users about 10%). No effect on any result.
  // 0: from the start. Default: 65536.
  size_t early_prefetch_users = size_t{1} << 16;

  // --- Hooks -------------------------------------------------------------------

  // Called (outside every lock, on the thread that made the call) when a hook
  // or a change-feed listener throws, or when a post-event hook returns a
  // non-OK status. The mutation itself has already committed (post-events) or
  // was refused (pre-events). Default: none (the error is dropped).
  std::function<void(const absl::Status&)> on_hook_error;
};

}  // namespace userstore

#endif  // USERSTORE_OPTIONS_H_
