// The URL of a changelog stream (changelog.h, OpenChangelogLog):
//   redis://HOST:PORT/STREAM
//   redis+unix:///PATH/TO/SOCKET?stream=STREAM

#ifndef USERSTORE_CORE_CHANGELOG_LOG_URL_H_
#define USERSTORE_CORE_CHANGELOG_LOG_URL_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace userstore {
namespace internal {
namespace changelog {

struct LogUrl {
  std::string scheme;       // "redis" or "redis+unix"
  std::string host;         // redis: the host (a name or an IPv4 address)
  int port = 6379;          // redis: the port (default 6379)
  std::string socket_path;  // redis+unix: the socket's absolute path
  std::string stream;       // the stream's key: 1-200 bytes of [A-Za-z0-9_.:-]
};

// Parses `url`. Errors: 400/20001 naming what is wrong (an unknown scheme,
// no host, a host that is not a name or an IPv4 address, a bad port, a
// socket path that is relative or longer than 107 bytes, no stream, a
// stream name with other characters).
absl::StatusOr<LogUrl> ParseLogUrl(absl::string_view url);

// The URL back as text (the form ParseLogUrl reads).
std::string FormatLogUrl(const LogUrl& url);

}  // namespace changelog
}  // namespace internal
}  // namespace userstore

#endif  // USERSTORE_CORE_CHANGELOG_LOG_URL_H_
