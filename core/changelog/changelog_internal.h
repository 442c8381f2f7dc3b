// What the changelog's leader and follower share (changelog.h): the leader's
// start, which a promotion runs too, and small helpers.

#ifndef USERSTORE_CORE_CHANGELOG_CHANGELOG_INTERNAL_H_
#define USERSTORE_CORE_CHANGELOG_CHANGELOG_INTERNAL_H_

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

#include "userstore/changelog.h"
#include "userstore/replication.h"
#include "userstore/user_store.h"

#include "core/status_macros.h"

namespace userstore {
namespace internal {
namespace changelog {

inline int64_t NowMicros() { return absl::ToUnixMicros(absl::Now()); }

// The stream's last entry as (last sequence, epoch): (0, 0) for an empty
// stream. Errors: the log's; 400/20001 for an ID that is not a changelog's.
absl::Status ReadStreamEnd(ChangelogLog* log, std::string* last_id, uint64_t* sequence,
                           uint64_t* epoch);

// ChangelogLeader::Start, taking `*log` only when it succeeds (a promotion
// keeps its log to try again). `takeover`: a promotion, which may take a
// stream its directory never led.
absl::StatusOr<std::unique_ptr<ChangelogLeader>> StartLeader(UserStore* store,
                                                             std::unique_ptr<ChangelogLog>* log,
                                                             const ChangelogOptions& options,
                                                             bool takeover);

}  // namespace changelog
}  // namespace internal
}  // namespace userstore

#endif  // USERSTORE_CORE_CHANGELOG_CHANGELOG_INTERNAL_H_
