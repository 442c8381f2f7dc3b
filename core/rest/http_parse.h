// Parsing of what arrives over HTTP: URLs, query strings, form bodies and
// percent escapes. Pure functions over bytes; they never crash on any input
// and never allocate more than a small multiple of their input.

#ifndef USERSTORE_CORE_REST_HTTP_PARSE_H_
#define USERSTORE_CORE_REST_HTTP_PARSE_H_

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"

namespace userstore {
namespace internal {

// A URL split into parts. `host` is empty for a path-only URL.
struct ParsedUrl {
  std::string host;   // lower-cased, without port
  std::string path;   // raw (still percent-encoded), starts with '/'
  std::string query;  // raw, without '?'
};

// Splits "https://host[:port]/path?query" or "/path?query". Any scheme is
// accepted; a URL that is neither absolute nor starts with '/': 400/20001.
absl::StatusOr<ParsedUrl> ParseUrl(absl::string_view url);

// Percent-decodes `text`; with `plus_is_space`, '+' becomes ' ' (forms and
// queries, not paths). A broken escape ("%", "%4", "%zz"): 400/20001. The
// result is bytes: the caller checks UTF-8.
absl::StatusOr<std::string> PercentDecode(absl::string_view text, bool plus_is_space);

// Decodes an application/x-www-form-urlencoded body or a query string into
// key/value pairs, in order, repeated keys kept. Empty segments ("a=1&&b=2")
// are skipped; a key without '=' has an empty value. Errors as PercentDecode.
absl::StatusOr<std::vector<std::pair<std::string, std::string>>> DecodeForm(absl::string_view body);

// What the dispatcher uses: decodes only the parameters an operation reads,
// so that memory is bounded by the input however many pairs it holds
// ("a&a&a&..." would otherwise cost 64 bytes of pairs per 2 input bytes).
// Keeps the first pair named in `single` (later ones are ignored, as Twilio
// reads the first) and every pair named in `repeated`, in order; every other
// pair is only checked for broken escapes (400/20001, as DecodeForm).
// O(len(body) * (len(single) + len(repeated))).
absl::StatusOr<std::vector<std::pair<std::string, std::string>>> DecodeForm(
    absl::string_view body, absl::Span<const absl::string_view> single,
    absl::Span<const absl::string_view> repeated = {});

// Splits a raw path into raw segments ("/v2/Services/IS1/Users" ->
// {"v2","Services","IS1","Users"}). Empty segments ("//") and "." or ".."
// segments make it return nullopt (the dispatcher answers 404).
std::optional<std::vector<std::string>> SplitPath(absl::string_view path);

}  // namespace internal
}  // namespace userstore

#endif  // USERSTORE_CORE_REST_HTTP_PARSE_H_
