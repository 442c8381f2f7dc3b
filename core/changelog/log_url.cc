#include "core/changelog/log_url.h"

#include <cstdint>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"

#include "userstore/status.h"

namespace userstore {
namespace internal {
namespace changelog {
namespace {

absl::Status Bad(absl::string_view url, absl::string_view why) {
  return MakeError(ErrorCode::kInvalidParameter,
                   absl::StrCat("changelog URL '", url, "': ", why,
                                " (expected redis://HOST:PORT/STREAM or "
                                "redis+unix:///PATH?stream=STREAM)"));
}

bool ValidStream(absl::string_view stream) {
  if (stream.empty() || stream.size() > 200) return false;
  for (char c : stream) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '_' || c == '.' || c == ':' || c == '-';
    if (!ok) return false;
  }
  return true;
}

// A host name or an IPv4 address: letters, digits, '.' and '-' (no user
// info, no IPv6 literal).
bool ValidHost(absl::string_view host) {
  if (host.empty() || host.size() > 253) return false;
  for (char c : host) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '.' || c == '-';
    if (!ok) return false;
  }
  return true;
}

// sockaddr_un's sun_path holds 108 bytes with the terminating NUL.
constexpr size_t kMaxSocketPath = 107;

}  // namespace

absl::StatusOr<LogUrl> ParseLogUrl(absl::string_view url) {
  LogUrl out;
  absl::string_view rest = url;
  if (absl::ConsumePrefix(&rest, "redis://")) {
    out.scheme = "redis";
    const size_t slash = rest.find('/');
    if (slash == absl::string_view::npos) return Bad(url, "no stream after the address");
    absl::string_view authority = rest.substr(0, slash);
    absl::string_view stream = rest.substr(slash + 1);
    const size_t colon = authority.rfind(':');
    absl::string_view host = authority;
    if (colon != absl::string_view::npos) {
      host = authority.substr(0, colon);
      uint32_t port = 0;
      if (!absl::SimpleAtoi(authority.substr(colon + 1), &port) || port == 0 || port > 65535) {
        return Bad(url, "bad port");
      }
      out.port = static_cast<int>(port);
    }
    if (host.empty()) return Bad(url, "no host");
    if (!ValidHost(host)) return Bad(url, "the host must be a name or an IPv4 address");
    out.host = std::string(host);
    if (!ValidStream(stream)) return Bad(url, "the stream must be 1-200 of [A-Za-z0-9_.:-]");
    out.stream = std::string(stream);
    return out;
  }
  if (absl::ConsumePrefix(&rest, "redis+unix://")) {
    out.scheme = "redis+unix";
    const size_t query = rest.find("?stream=");
    if (query == absl::string_view::npos) return Bad(url, "no ?stream=");
    absl::string_view path = rest.substr(0, query);
    absl::string_view stream = rest.substr(query + 8);
    if (path.empty() || path[0] != '/') return Bad(url, "the socket path must be absolute");
    if (path.size() > kMaxSocketPath) return Bad(url, "the socket path is longer than 107 bytes");
    if (!ValidStream(stream)) return Bad(url, "the stream must be 1-200 of [A-Za-z0-9_.:-]");
    out.socket_path = std::string(path);
    out.stream = std::string(stream);
    return out;
  }
  return Bad(url, "unknown scheme");
}

std::string FormatLogUrl(const LogUrl& url) {
  if (url.scheme == "redis+unix") {
    return absl::StrCat("redis+unix://", url.socket_path, "?stream=", url.stream);
  }
  return absl::StrCat("redis://", url.host, ":", url.port, "/", url.stream);
}

}  // namespace changelog
}  // namespace internal
}  // namespace userstore
