// Fuzz target: the attributes validator (core/attributes.h).
//
// The input is the attributes text, validated twice: with the default limits
// (16 KiB, depth 64) and with tiny ones (48 bytes, depth 3) so that the size
// and depth boundaries are reached by short inputs. Checks:
//   - it never crashes, hangs or recurses (1,000,000 '[' is an ordinary input);
//   - the result is OK, 400/50303 or 400/50304, nothing else;
//   - it is exactly the verdict of the RapidJSON-based validator the store
//     used before (rapidjson_attributes.h), limits and order included;
//   - larger than the byte limit: 50303, whatever the text;
//   - it agrees with an independent RFC 8259 validator (fuzz_common.h):
//     valid and shallow enough: OK; valid but too deep: 50303; invalid
//     (including bad UTF-8 and NUL): 50304, or 50303 when the nesting limit
//     was already passed before the first error. Texts RFC 8259 leaves to the
//     implementation (\u0000, lone surrogate escapes) may go either way.

#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "fuzz_common.h"
#include "rapidjson_attributes.h"

#include "userstore/status.h"

#include "core/attributes.h"

namespace {

using userstore::ErrorCode;
using userstore::ErrorCodeOf;
using userstore::fuzz::Escape;
using userstore::fuzz::RefCheckJson;
using userstore::fuzz::RefJson;

void CheckOne(absl::string_view text, size_t max_bytes, int max_depth) {
  const absl::Status status = userstore::internal::ValidateAttributes(text, max_bytes, max_depth);
  const ErrorCode code = ErrorCodeOf(status);
  // Differential: exactly the verdict of the RapidJSON validator it replaced.
  const ErrorCode rapidjson_code =
      ErrorCodeOf(userstore::fuzz::RapidJsonValidateAttributes(text, max_bytes, max_depth));
  FUZZ_CHECK(code == rapidjson_code, "verdict %d, RapidJSON's %d, limits (%zu, %d) for %s",
             static_cast<int>(code), static_cast<int>(rapidjson_code), max_bytes, max_depth,
             Escape(text).c_str());
  FUZZ_CHECK(code == ErrorCode::kOk || code == ErrorCode::kAttributesTooLong ||
                 code == ErrorCode::kAttributesNotValidJson,
             "unexpected result %s for %s", status.ToString().c_str(), Escape(text).c_str());
  if (!status.ok()) {
    FUZZ_CHECK(userstore::HttpStatusOf(status) == 400, "HTTP %d for %s",
               userstore::HttpStatusOf(status), Escape(text).c_str());
  }
  if (text.size() > max_bytes) {
    FUZZ_CHECK(code == ErrorCode::kAttributesTooLong, "%zu bytes > limit %zu must be 50303, got %s",
               text.size(), max_bytes, status.ToString().c_str());
    return;
  }
  const RefJson ref = RefCheckJson(text);
  const bool too_deep = ref.max_depth > static_cast<size_t>(max_depth);
  const char* why = "";
  bool ok = true;
  switch (ref.verdict) {
    case RefJson::kValid:
      ok = too_deep ? code == ErrorCode::kAttributesTooLong : code == ErrorCode::kOk;
      why = too_deep ? "valid JSON nested too deep must be 50303"
                     : "valid JSON within limits must be accepted";
      break;
    case RefJson::kInvalid:
      ok = code == ErrorCode::kAttributesNotValidJson ||
           (too_deep && code == ErrorCode::kAttributesTooLong);
      why = "invalid JSON must be 50304 (or 50303 once nested too deep)";
      break;
    case RefJson::kUnknown:
      ok = code != ErrorCode::kOk || !too_deep;
      why = "a text nested too deep cannot be accepted";
      break;
  }
  FUZZ_CHECK(ok, "%s: limits (%zu, %d), depth %zu, got %s for %s", why, max_bytes, max_depth,
             ref.max_depth, status.ToString().c_str(), Escape(text).c_str());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const absl::string_view text(reinterpret_cast<const char*>(data), size);
  CheckOne(text, 16 * 1024, 64);
  CheckOne(text, 48, 3);
  return 0;
}
