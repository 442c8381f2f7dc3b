#include "core/rest/http_parse.h"

#include <cstddef>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"

#include "userstore/status.h"

namespace userstore {
namespace internal {
namespace {

// RFC 3986 scheme: ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ).
bool IsScheme(absl::string_view s) {
  if (s.empty() || !absl::ascii_isalpha(static_cast<unsigned char>(s[0]))) return false;
  for (char c : s) {
    const unsigned char u = static_cast<unsigned char>(c);
    if (!absl::ascii_isalnum(u) && c != '+' && c != '-' && c != '.') return false;
  }
  return true;
}

// A registered name (letters, digits, '-', '.', '_', '~') or a bracketed IPv6
// literal. Percent escapes and anything else are refused: every host the API
// knows is a plain DNS name, and the host is echoed into response URLs.
bool IsHost(absl::string_view h) {
  if (h.empty()) return false;
  if (h.front() == '[') {
    if (h.size() < 3 || h.back() != ']') return false;
    for (char c : h.substr(1, h.size() - 2)) {
      if (!absl::ascii_isxdigit(static_cast<unsigned char>(c)) && c != ':' && c != '.') {
        return false;
      }
    }
    return true;
  }
  for (char c : h) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '.' && c != '_' &&
        c != '~') {
      return false;
    }
  }
  return true;
}

// Splits "path?query#fragment" (the fragment is dropped: it never reaches a
// server) into `out->path` and `out->query`.
void SplitPathAndQuery(absl::string_view rest, ParsedUrl* out) {
  const size_t hash = rest.find('#');
  if (hash != absl::string_view::npos) rest = rest.substr(0, hash);
  const size_t q = rest.find('?');
  if (q == absl::string_view::npos) {
    out->path.assign(rest.data(), rest.size());
  } else {
    out->path.assign(rest.data(), q);
    out->query.assign(rest.data() + q + 1, rest.size() - q - 1);
  }
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

absl::Status InvalidUrl(absl::string_view why) {
  return userstore::InvalidParameterError(absl::StrCat("Invalid URL: ", why));
}

}  // namespace

absl::StatusOr<ParsedUrl> ParseUrl(absl::string_view url) {
  ParsedUrl out;
  if (!url.empty() && url.front() == '/') {
    // "//host/path" is a network-path reference, not a path: refuse it rather
    // than guess which one the caller meant.
    if (url.size() > 1 && url[1] == '/') return InvalidUrl("a path cannot start with //");
    SplitPathAndQuery(url, &out);
    return out;
  }
  const size_t sep = url.find("://");
  if (sep == absl::string_view::npos || !IsScheme(url.substr(0, sep))) {
    return InvalidUrl("expected an absolute URL or a path starting with /");
  }
  absl::string_view rest = url.substr(sep + 3);
  const size_t end = rest.find_first_of("/?#");
  absl::string_view authority = rest.substr(0, end);
  rest = end == absl::string_view::npos ? absl::string_view() : rest.substr(end);

  // Drop "user:password@" and ":port".
  const size_t at = authority.rfind('@');
  if (at != absl::string_view::npos) authority.remove_prefix(at + 1);
  absl::string_view host = authority;
  if (!host.empty() && host.front() == '[') {
    const size_t close = host.find(']');
    if (close == absl::string_view::npos) return InvalidUrl("unterminated IPv6 host");
    absl::string_view after = host.substr(close + 1);
    host = host.substr(0, close + 1);
    if (!after.empty() && after.front() != ':') return InvalidUrl("malformed host");
  } else {
    const size_t colon = host.find(':');
    if (colon != absl::string_view::npos) {
      for (char c : host.substr(colon + 1)) {
        if (!absl::ascii_isdigit(static_cast<unsigned char>(c))) {
          return InvalidUrl("malformed port");
        }
      }
      host = host.substr(0, colon);
    }
  }
  if (!IsHost(host)) return InvalidUrl("missing or malformed host");
  out.host = absl::AsciiStrToLower(host);

  if (rest.empty() || rest.front() != '/') {
    // "https://host" or "https://host?x": the path is "/".
    out.path = "/";
    const size_t hash = rest.find('#');
    if (hash != absl::string_view::npos) rest = rest.substr(0, hash);
    if (!rest.empty() && rest.front() == '?') out.query.assign(rest.data() + 1, rest.size() - 1);
    return out;
  }
  SplitPathAndQuery(rest, &out);
  return out;
}

absl::StatusOr<std::string> PercentDecode(absl::string_view text, bool plus_is_space) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '%') {
      if (text.size() - i < 3) return userstore::InvalidParameterError("Invalid percent-encoding");
      const int hi = HexValue(text[i + 1]);
      const int lo = HexValue(text[i + 2]);
      if (hi < 0 || lo < 0) return userstore::InvalidParameterError("Invalid percent-encoding");
      out.push_back(static_cast<char>(hi * 16 + lo));
      i += 2;
    } else if (c == '+' && plus_is_space) {
      out.push_back(' ');
    } else {
      out.push_back(c);
    }
  }
  return out;
}

namespace {

// Whether `text` percent-decodes cleanly, without decoding it.
bool HasValidEscapes(absl::string_view text) {
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '%') continue;
    if (text.size() - i < 3 || HexValue(text[i + 1]) < 0 || HexValue(text[i + 2]) < 0) {
      return false;
    }
    i += 2;
  }
  return true;
}

// The index of `name` in `names`, or -1.
int IndexOf(absl::Span<const absl::string_view> names, absl::string_view name) {
  for (size_t i = 0; i < names.size(); ++i) {
    if (names[i] == name) return static_cast<int>(i);
  }
  return -1;
}

// The decoding loop of both DecodeForm overloads. `keep(name)` says whether a
// pair whose decoded name is `name` is kept.
template <typename Keep>
absl::StatusOr<std::vector<std::pair<std::string, std::string>>> DecodeFormIf(
    absl::string_view body, Keep keep) {
  std::vector<std::pair<std::string, std::string>> pairs;
  size_t start = 0;
  while (start <= body.size()) {
    size_t amp = body.find('&', start);
    if (amp == absl::string_view::npos) amp = body.size();
    absl::string_view field = body.substr(start, amp - start);
    start = amp + 1;
    if (field.empty()) continue;
    const size_t eq = field.find('=');
    absl::string_view key = field.substr(0, eq);
    absl::string_view value =
        eq == absl::string_view::npos ? absl::string_view() : field.substr(eq + 1);
    absl::StatusOr<std::string> k = PercentDecode(key, /*plus_is_space=*/true);
    if (!k.ok()) return k.status();
    if (!keep(*k)) {
      if (!HasValidEscapes(value)) {
        return userstore::InvalidParameterError("Invalid percent-encoding");
      }
      continue;
    }
    absl::StatusOr<std::string> v = PercentDecode(value, /*plus_is_space=*/true);
    if (!v.ok()) return v.status();
    pairs.emplace_back(*std::move(k), *std::move(v));
  }
  return pairs;
}

}  // namespace

absl::StatusOr<std::vector<std::pair<std::string, std::string>>> DecodeForm(
    absl::string_view body) {
  return DecodeFormIf(body, [](const std::string&) { return true; });
}

absl::StatusOr<std::vector<std::pair<std::string, std::string>>> DecodeForm(
    absl::string_view body, absl::Span<const absl::string_view> single,
    absl::Span<const absl::string_view> repeated) {
  std::vector<bool> seen(single.size(), false);
  return DecodeFormIf(body, [&](const std::string& name) {
    if (IndexOf(repeated, name) >= 0) return true;
    const int i = IndexOf(single, name);
    if (i < 0 || seen[i]) return false;  // the first occurrence wins
    seen[i] = true;
    return true;
  });
}

std::optional<std::vector<std::string>> SplitPath(absl::string_view path) {
  if (path.empty() || path.front() != '/') return std::nullopt;
  std::vector<std::string> segments;
  if (path.size() == 1) return segments;  // "/": no segment
  size_t start = 1;
  while (true) {
    size_t slash = path.find('/', start);
    if (slash == absl::string_view::npos) slash = path.size();
    absl::string_view seg = path.substr(start, slash - start);
    if (seg.empty() || seg == "." || seg == "..") return std::nullopt;
    segments.emplace_back(seg);
    if (slash == path.size()) break;
    start = slash + 1;
  }
  return segments;
}

}  // namespace internal
}  // namespace userstore
