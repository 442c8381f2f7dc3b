// Fuzz target: URL, query, form and percent decoding (core/rest/http_parse.h)
// and the encoders of rest.h that invert them.
//
// The whole input goes through every parser. Checks:
//   - PercentDecode (both modes) agrees byte for byte with a reference
//     decoder, and fails exactly on a broken escape ("%", "%4", "%zz");
//   - DecodeForm agrees with a reference splitter/decoder (order, repeated
//     keys, empty segments skipped, key without '=' has an empty value), and
//     when it succeeds FormEncode(pairs) decodes back to the same pairs;
//   - PercentEncodePathSegment(x) is a path-safe string (no '/', '?', '#', no
//     raw byte outside RFC 3986's unreserved set and '%') that decodes
//     back to x;
//   - SplitPath succeeds exactly when the path starts with '/' and has no
//     empty, "." or ".." segment, and "/" + join(segments, "/") is the path;
//   - ParseUrl: a parsed path starts with '/' and holds no '?' or '#', the
//     query no '#', the host is lower case, and nothing is longer than the
//     input; a path-only URL keeps its path and query verbatim.
//   - nothing allocates more than a small multiple of the input (libFuzzer's
//     -malloc_limit_mb / -rss_limit_mb catch it).

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/str_join.h"
#include "absl/strings/string_view.h"
#include "fuzz_common.h"

#include "userstore/rest.h"

#include "core/rest/http_parse.h"

namespace {

using userstore::fuzz::Escape;
using Pairs = std::vector<std::pair<std::string, std::string>>;

int Hex(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::optional<std::string> RefPercentDecode(absl::string_view s, bool plus_is_space) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%') {
      if (s.size() - i < 3) return std::nullopt;
      const int hi = Hex(s[i + 1]);
      const int lo = Hex(s[i + 2]);
      if (hi < 0 || lo < 0) return std::nullopt;
      out.push_back(static_cast<char>(hi * 16 + lo));
      i += 2;
    } else if (s[i] == '+' && plus_is_space) {
      out.push_back(' ');
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}

std::optional<Pairs> RefDecodeForm(absl::string_view body) {
  Pairs out;
  size_t start = 0;
  while (start <= body.size()) {
    size_t end = body.find('&', start);
    if (end == absl::string_view::npos) end = body.size();
    const absl::string_view field = body.substr(start, end - start);
    start = end + 1;
    if (field.empty()) continue;
    const size_t eq = field.find('=');
    auto key = RefPercentDecode(field.substr(0, eq), true);
    auto value = RefPercentDecode(
        eq == absl::string_view::npos ? absl::string_view() : field.substr(eq + 1), true);
    if (!key || !value) return std::nullopt;
    out.emplace_back(std::move(*key), std::move(*value));
  }
  return out;
}

bool IsUnreserved(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '.' || c == '_' || c == '~';
}

void CheckPercentDecode(absl::string_view text, bool plus_is_space) {
  const absl::StatusOr<std::string> got = userstore::internal::PercentDecode(text, plus_is_space);
  const std::optional<std::string> want = RefPercentDecode(text, plus_is_space);
  FUZZ_CHECK(got.ok() == want.has_value(), "PercentDecode(%s, %d): ok=%d, reference ok=%d",
             Escape(text).c_str(), plus_is_space, got.ok(), want.has_value());
  if (!got.ok()) {
    FUZZ_CHECK(userstore::ErrorCodeOf(got.status()) == userstore::ErrorCode::kInvalidParameter,
               "PercentDecode error must be 20001: %s", got.status().ToString().c_str());
    return;
  }
  FUZZ_CHECK(*got == *want, "PercentDecode(%s, %d) = %s, reference %s", Escape(text).c_str(),
             plus_is_space, Escape(*got).c_str(), Escape(*want).c_str());
}

void CheckForm(absl::string_view text) {
  const auto got = userstore::internal::DecodeForm(text);
  const auto want = RefDecodeForm(text);
  FUZZ_CHECK(got.ok() == want.has_value(), "DecodeForm(%s): ok=%d, reference ok=%d",
             Escape(text).c_str(), got.ok(), want.has_value());
  if (!got.ok()) return;
  FUZZ_CHECK(*got == *want, "DecodeForm(%s) differs from the reference (%zu vs %zu pairs)",
             Escape(text).c_str(), got->size(), want->size());
  // Round trip: encoding the pairs and decoding again gives the same pairs.
  const std::string encoded = userstore::FormEncode(*got);
  const auto again = userstore::internal::DecodeForm(encoded);
  FUZZ_CHECK(again.ok(), "DecodeForm(FormEncode(x)) failed for %s (encoded %s)",
             Escape(text).c_str(), Escape(encoded).c_str());
  FUZZ_CHECK(*again == *got, "FormEncode round trip changed the pairs of %s (encoded %s)",
             Escape(text).c_str(), Escape(encoded).c_str());
  for (char c : encoded) {
    FUZZ_CHECK(IsUnreserved(c) || c == '%' || c == '+' || c == '=' || c == '&' || c == '*',
               "FormEncode wrote raw byte 0x%02x: %s", static_cast<unsigned char>(c),
               Escape(encoded).c_str());
  }
}

void CheckPathSegment(absl::string_view text) {
  const std::string encoded = userstore::PercentEncodePathSegment(text);
  for (char c : encoded) {
    FUZZ_CHECK(IsUnreserved(c) || c == '%', "PercentEncodePathSegment wrote raw 0x%02x: %s",
               static_cast<unsigned char>(c), Escape(encoded).c_str());
  }
  const auto decoded = userstore::internal::PercentDecode(encoded, /*plus_is_space=*/false);
  FUZZ_CHECK(decoded.ok() && *decoded == text, "path segment round trip failed for %s (%s)",
             Escape(text).c_str(), Escape(encoded).c_str());
  // As one segment of a path, it splits back to itself (when not "." or "..",
  // which an encoder keeps as they are: unreserved).
  if (!text.empty() && text != "." && text != "..") {
    const auto segments = userstore::internal::SplitPath("/v1/" + encoded);
    FUZZ_CHECK(segments.has_value() && segments->size() == 2 && (*segments)[1] == encoded,
               "an encoded segment split apart: %s", Escape(encoded).c_str());
  }
}

void CheckSplitPath(absl::string_view path) {
  const auto got = userstore::internal::SplitPath(path);
  bool want_ok = !path.empty() && path.front() == '/';
  std::vector<std::string> want;
  if (want_ok && path.size() > 1) {
    size_t start = 1;
    while (true) {
      size_t end = path.find('/', start);
      if (end == absl::string_view::npos) end = path.size();
      const absl::string_view seg = path.substr(start, end - start);
      if (seg.empty() || seg == "." || seg == "..") {
        want_ok = false;
        break;
      }
      want.emplace_back(seg);
      if (end == path.size()) break;
      start = end + 1;
    }
  }
  FUZZ_CHECK(got.has_value() == want_ok, "SplitPath(%s): ok=%d, reference ok=%d",
             Escape(path).c_str(), got.has_value(), want_ok);
  if (!got) return;
  FUZZ_CHECK(*got == want, "SplitPath(%s) differs from the reference", Escape(path).c_str());
  FUZZ_CHECK("/" + absl::StrJoin(*got, "/") == path || (path == "/" && got->empty()),
             "SplitPath(%s) does not join back", Escape(path).c_str());
}

void CheckUrl(absl::string_view url) {
  const auto parsed = userstore::internal::ParseUrl(url);
  if (!parsed.ok()) {
    FUZZ_CHECK(userstore::ErrorCodeOf(parsed.status()) == userstore::ErrorCode::kInvalidParameter,
               "ParseUrl error must be 20001: %s", parsed.status().ToString().c_str());
    return;
  }
  const auto& u = *parsed;
  FUZZ_CHECK(!u.path.empty() && u.path.front() == '/', "ParseUrl(%s): path %s", Escape(url).c_str(),
             Escape(u.path).c_str());
  FUZZ_CHECK(u.path.find_first_of("?#") == std::string::npos, "ParseUrl(%s): path %s",
             Escape(url).c_str(), Escape(u.path).c_str());
  FUZZ_CHECK(u.query.find('#') == std::string::npos, "ParseUrl(%s): query %s", Escape(url).c_str(),
             Escape(u.query).c_str());
  for (char c : u.host) {
    FUZZ_CHECK(!(c >= 'A' && c <= 'Z'), "ParseUrl(%s): host %s not lower case", Escape(url).c_str(),
               Escape(u.host).c_str());
    FUZZ_CHECK(static_cast<unsigned char>(c) > 0x20 && static_cast<unsigned char>(c) < 0x7f &&
                   c != '/' && c != '?' && c != '#' && c != '@' && c != '"' && c != '\\',
               "ParseUrl(%s): host %s holds 0x%02x", Escape(url).c_str(), Escape(u.host).c_str(),
               static_cast<unsigned char>(c));
  }
  FUZZ_CHECK(u.host.size() + u.path.size() + u.query.size() <= url.size() + 1,
             "ParseUrl(%s) grew the input", Escape(url).c_str());
  if (!url.empty() && url.front() == '/') {
    FUZZ_CHECK(u.host.empty(), "a path-only URL has no host: %s", Escape(url).c_str());
    const absl::string_view no_fragment = url.substr(0, url.find('#'));
    const std::string rebuilt = u.query.empty() && no_fragment.find('?') == absl::string_view::npos
                                    ? u.path
                                    : u.path + "?" + u.query;
    FUZZ_CHECK(rebuilt == no_fragment, "ParseUrl(%s) lost bytes: %s", Escape(url).c_str(),
               Escape(rebuilt).c_str());
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const absl::string_view text(reinterpret_cast<const char*>(data), size);
  CheckUrl(text);
  CheckPercentDecode(text, /*plus_is_space=*/true);
  CheckPercentDecode(text, /*plus_is_space=*/false);
  CheckForm(text);
  CheckSplitPath(text);
  CheckPathSegment(text);
  // The path and query of a parsed URL, as the dispatcher uses them.
  const auto parsed = userstore::internal::ParseUrl(text);
  if (parsed.ok()) {
    CheckSplitPath(parsed->path);
    CheckForm(parsed->query);
  }
  return 0;
}
