// A consumer of userstore::changelog, the optional changelog library: it
// links, and a URL of an unknown scheme is refused with 400/20001 (no server
// needed).

#include <cstdio>

#include "userstore/changelog.h"
#include "userstore/status.h"

int main() {
  auto log = userstore::OpenChangelogLog("kafka://127.0.0.1:9092/users-p0");
  if (log.ok() || userstore::ErrorCodeOf(log.status()) != userstore::ErrorCode::kInvalidParameter) {
    std::fprintf(stderr, "unexpected: %s\n", log.status().ToString().c_str());
    return 1;
  }
  std::printf("changelog consumer: ok\n");
  return 0;
}
