// Regression test (a finding, fixed; docs/reliability.md "What they found"):
// UserStore::Apply on a durable store wrote a journal record larger than the
// store's record bound.
//
// A durable store sizes its journal records from its limits
// (StoreImpl::JournalRecordBound: the longest identity, friendly name and
// attributes it takes) and reserves that much room per record; near the end
// of a segment, a larger record is written past the room, and past the
// mapping. Apply does not hold events to the store's limits (a replica takes
// what its source committed), so an event from a store with larger limits
// made such a record. Found in review of ApplyEncoded, which refuses them.
//
// Expected: Apply refuses the event with 400/20001 before anything changes,
// as ApplyEncoded does; events within the limits still apply.

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "gtest/gtest.h"
#include "tests/durable/durable_testing.h"
#include "tests/testing/tsan_absl_mutex.h"  // TSan builds: absl::Mutex made visible

#include "userstore/durable.h"
#include "userstore/events.h"
#include "userstore/fault_injection_env.h"
#include "userstore/status.h"
#include "userstore/user_store.h"

namespace userstore {
namespace {

TEST(ApplyOversizedEventTest, AnEventLargerThanTheJournalsRecordsIsRefusedAndChangesNothing) {
  // The source: an in-memory store whose limits are larger than the replica's.
  StoreOptions big;
  big.max_attributes_bytes = 256 * 1024;
  UserStore source(big);
  const std::string service = source.default_conversation_service_sid();
  CreateUserRequest request;
  request.identity = "alice";
  request.attributes = "{\"blob\":\"" + std::string(200 * 1024, 'x') + "\"}";
  auto alice = source.CreateUser(service, request);
  ASSERT_TRUE(alice.ok()) << alice.status();
  request.identity = "bob";
  request.attributes = "{}";
  ASSERT_TRUE(source.CreateUser(service, request).ok());
  auto snapshot = source.Snapshot();

  // The replica: durable, default limits (16 KiB attributes), small segments.
  auto env = NewFaultInjectionEnv();
  DurableOptions options = durable_testing::SimulatedDiskOptions(env.get(), RecoveryMode::kStrict);
  options.store.create_default_service = false;
  auto replica = OpenUserStore("/replica", options);
  ASSERT_TRUE(replica.ok()) << replica.status();
  int refused = 0;
  for (const ChangeEvent& event : snapshot.events) {
    const uint64_t before = (*replica)->last_sequence();
    absl::Status status = (*replica)->Apply(event);
    if (event.user.has_value() && event.user->identity == "alice") {
      EXPECT_EQ(ErrorCodeOf(status), ErrorCode::kInvalidParameter) << status;
      EXPECT_EQ((*replica)->last_sequence(), before);
      ++refused;
    } else {
      EXPECT_TRUE(status.ok()) << status;
    }
  }
  EXPECT_EQ(refused, 1);
  EXPECT_TRUE((*replica)->GetUser(service, "bob").ok());
  EXPECT_FALSE((*replica)->GetUser(service, "alice").ok());
  EXPECT_TRUE((*replica)->CheckInvariants().ok());
  // The journal is whole: the replica opens again with what it applied.
  replica->reset();
  auto again = OpenUserStore("/replica", options);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_TRUE((*again)->GetUser(service, "bob").ok());
}

}  // namespace
}  // namespace userstore
