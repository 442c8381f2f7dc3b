// Fuzz target: the `userstore replay` line protocol (core/rest/replay.h).
//
// The input is split at '\n' into up to 16 lines (macros such as $IS expanded,
// see fuzz_store.h), each handled by ReplayOneLine against one fresh store.
// Checks, for every line:
//   - the output is one line (no CR or LF) of valid JSON: an object with an
//     integer "status" in the allowed set and a "body" that is null exactly
//     when the status is 204, else an object; error bodies carry code,
//     message, more_info and status, consistent with each other;
//   - a line ParseReplayLine refuses is answered 400/20001 and changes
//     nothing (the store's last_sequence() stays put);
//   - a parsed GET, and any request answered with an error, changes nothing;
// and after the last line, store.CheckInvariants() is OK.

#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "fuzz_common.h"
#include "fuzz_store.h"
#include "rapidjson/document.h"

#include "core/rest/replay.h"

namespace {

using userstore::fuzz::Escape;

void CheckLine(userstore::fuzz::FuzzStore& fixture, absl::string_view raw) {
  const std::string line = fixture.ExpandMacros(raw);
  const uint64_t before = fixture.store().last_sequence();
  const auto parsed = userstore::internal::ParseReplayLine(line);
  const std::string out = userstore::internal::ReplayOneLine(fixture.dispatcher(), line);
  const uint64_t after = fixture.store().last_sequence();

  FUZZ_CHECK(out.find_first_of("\r\n") == std::string::npos, "output is not one line: %s",
             Escape(out).c_str());
  rapidjson::Document doc;
  FUZZ_CHECK(userstore::fuzz::ParseStrictJson(out, &doc), "output is not JSON: %s",
             Escape(out).c_str());
  FUZZ_CHECK(doc.IsObject(), "output is not an object: %s", Escape(out).c_str());
  const auto status = doc.FindMember("status");
  const auto body = doc.FindMember("body");
  FUZZ_CHECK(status != doc.MemberEnd() && status->value.IsInt(), "no integer status: %s",
             Escape(out).c_str());
  FUZZ_CHECK(body != doc.MemberEnd(), "no body: %s", Escape(out).c_str());
  const int s = status->value.GetInt();
  FUZZ_CHECK(userstore::fuzz::IsAllowedStatus(s), "status %d for line %s: %s", s,
             Escape(line).c_str(), Escape(out).c_str());
  if (s == 204) {
    FUZZ_CHECK(body->value.IsNull(), "204 with a body: %s", Escape(out).c_str());
  } else {
    FUZZ_CHECK(body->value.IsObject(), "body is not an object: %s", Escape(out).c_str());
  }
  if (s >= 400) {
    userstore::fuzz::CheckErrorBody(body->value, s, out);
    FUZZ_CHECK(before == after, "a request answered %d changed the store: %s", s,
               Escape(line).c_str());
  }
  if (!parsed.ok()) {
    FUZZ_CHECK(s == 400 && body->value["code"].GetInt() == 20001,
               "an unparsable line must be 400/20001: %s -> %s", Escape(line).c_str(),
               Escape(out).c_str());
  } else if (parsed->method == "GET") {
    FUZZ_CHECK(before == after, "a GET changed the store: %s", Escape(line).c_str());
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const absl::string_view input(reinterpret_cast<const char*>(data), size);
  userstore::fuzz::FuzzStore fixture;
  size_t start = 0;
  for (int n = 0; n < 16 && start <= input.size(); ++n) {
    size_t end = input.find('\n', start);
    if (end == absl::string_view::npos) end = input.size();
    CheckLine(fixture, input.substr(start, end - start));
    start = end + 1;
  }
  const absl::Status invariants = fixture.store().CheckInvariants();
  FUZZ_CHECK(invariants.ok(), "CheckInvariants: %s", invariants.ToString().c_str());
  return 0;
}
