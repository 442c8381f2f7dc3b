// Regression test (fixed finding, docs/reliability.md "Findings"): the replay
// line parser builds a RapidJSON DOM of the whole line, so one line costs
// about 20 times its size in heap while it is parsed:
//   - 1,000,000 '[' then 1,000,000 ']' (2 MB, valid JSON, not a request):
//     peak ~43 MB under ASan for a 2 MB line;
//   - {"method": "POST", "url": "/v1/Users", "form": {"k":"v", ... x100,000}}
//     (800 KB): peak ~16 MB (the DOM, then the encoded form, then the
//     dispatcher's decoded pairs).
// Expected: no request grows the heap by more than 4x its size + 256 KiB
// (the bound of tests/hostile_input_test.cc). A fix would read the line with
// a SAX handler (method, url, headers, form only; refuse any nesting the
// protocol does not have) instead of a DOM.

#include <string>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "tests/regress/heap_meter.h"

#include "userstore/rest.h"
#include "userstore/user_store.h"

#include "core/rest/replay.h"

namespace userstore {
namespace {

using testing_heap::BoundFor;
using testing_heap::MeasureHeap;

TEST(ReplayDomMemoryTest, LineNestedAMillionDeepStaysWithinBound) {
  if (!testing_heap::can_measure_peak()) GTEST_SKIP() << "peak is measured under ASan only";
  UserStore store;
  Dispatcher dispatcher(&store);
  const std::string line = std::string(1000000, '[') + std::string(1000000, ']');
  std::string out;
  const auto usage = MeasureHeap([&] { out = internal::ReplayOneLine(dispatcher, line); });
  EXPECT_NE(out.find("\"status\":400"), std::string::npos) << out.substr(0, 200);
  EXPECT_LE(usage.peak, BoundFor(line.size()))
      << "peak " << usage.peak << " bytes for a " << line.size() << "-byte line";
}

TEST(ReplayDomMemoryTest, FormOfManyMembersStaysWithinBound) {
  if (!testing_heap::can_measure_peak()) GTEST_SKIP() << "peak is measured under ASan only";
  UserStore store;
  Dispatcher dispatcher(&store);
  std::string line = "{\"method\": \"POST\", \"url\": \"/v1/Users\", \"form\": {";
  for (int i = 0; i < 100000; ++i) absl::StrAppend(&line, i ? "," : "", "\"k\":\"v\"");
  line += "}}";
  std::string out;
  const auto usage = MeasureHeap([&] { out = internal::ReplayOneLine(dispatcher, line); });
  EXPECT_LE(usage.peak, BoundFor(line.size()))
      << "peak " << usage.peak << " bytes for a " << line.size() << "-byte line";
}

}  // namespace
}  // namespace userstore
