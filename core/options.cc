// `SystemClock()` and the per-surface PageSize limits.

#include "userstore/options.h"

#include <cstdint>
#include <memory>

#include "absl/time/clock.h"
#include "absl/time/time.h"

#include "userstore/resources.h"

namespace userstore {
namespace {

class WallClock final : public Clock {
 public:
  absl::Time Now() override { return absl::Now(); }
};

}  // namespace

std::shared_ptr<Clock> SystemClock() {
  // Leaked on purpose: a store destroyed during static destruction may still
  // read the clock, so the shared instance must never be destroyed.
  static const std::shared_ptr<Clock>* const kClock =
      new std::shared_ptr<Clock>(std::make_shared<WallClock>());
  return *kClock;
}

int64_t MaxPageSize(Surface surface) {
  switch (surface) {
    case Surface::kCpp:
      return 1000;
    case Surface::kChatV2:
      return 100;
    case Surface::kChatV1:
      return 1000;
    case Surface::kConversations:
      return 50;
  }
  // A number cast into `Surface` that names no surface: the strictest limit.
  return 50;
}

}  // namespace userstore
