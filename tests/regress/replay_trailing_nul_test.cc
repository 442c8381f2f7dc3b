// Regression test (fixed finding, docs/reliability.md "Findings"): a replay
// line with a NUL byte after a complete JSON object is executed, and whatever
// follows the NUL is ignored. RapidJSON's in-memory stream reports '\0' as the
// end of input, so `{"method":"DELETE","url":"/v1/Users/alice"}` + '\0' +
// `anything` parses as the object alone.
// Input:    {"method": "GET", "url": "/v1/Users"}\0{"x": 1}
// Expected: {"status": 400, "body": {"code": 20001, ...}} (a line that is not
//           one JSON value is not a request, SEMANTICS 8), store unchanged.
// Got:      {"status": 200, "body": {"meta": ..., "users": []}}.
// (core/attributes.cc refuses any NUL before parsing for the same reason.)

#include <string>

#include "gtest/gtest.h"

#include "userstore/rest.h"
#include "userstore/user_store.h"

#include "core/rest/replay.h"

namespace userstore {
namespace {

TEST(ReplayTrailingNulTest, LineWithNulAfterTheObjectIsRefused) {
  UserStore store;
  Dispatcher dispatcher(&store);
  const std::string line =
      std::string("{\"method\": \"GET\", \"url\": \"/v1/Users\"}") + '\0' + "{\"x\": 1}";
  const auto parsed = internal::ParseReplayLine(line);
  EXPECT_FALSE(parsed.ok());
  const std::string out = internal::ReplayOneLine(dispatcher, line);
  EXPECT_EQ(out.rfind("{\"status\":400,", 0), 0u) << out.substr(0, 200);
}

TEST(ReplayTrailingNulTest, MutationAfterNulIsNotExecuted) {
  UserStore store;
  Dispatcher dispatcher(&store);
  const std::string line =
      std::string(
          "{\"method\": \"POST\", \"url\": \"/v1/Users\", \"form\": {\"Identity\": \"nul\"}}") +
      '\0';
  const uint64_t before = store.last_sequence();
  const std::string out = internal::ReplayOneLine(dispatcher, line);
  EXPECT_EQ(out.rfind("{\"status\":400,", 0), 0u) << out.substr(0, 200);
  EXPECT_EQ(store.last_sequence(), before);
}

}  // namespace
}  // namespace userstore
