// The changelog's stream URLs (core/changelog/log_url.h), its entry IDs
// (ChangelogLog::EntryId, ParseEntryId) and OpenChangelogLog's answers before
// any server is reached: no redis-server is needed. The log against a real
// server is in redis_log_test.cc.

#include "core/changelog/log_url.h"

#include <cstdint>
#include <limits>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/store_testing.h"

#include "userstore/changelog.h"
#include "userstore/status.h"

namespace userstore_testing {
namespace {

using ::testing::HasSubstr;
using ::userstore::ChangelogLog;
using ::userstore::OpenChangelogLog;
using ::userstore::internal::changelog::FormatLogUrl;
using ::userstore::internal::changelog::LogUrl;
using ::userstore::internal::changelog::ParseLogUrl;

constexpr uint64_t kMaxU64 = std::numeric_limits<uint64_t>::max();

TEST(LogUrl, ParsesTcpAndUnixUrls) {
  absl::StatusOr<LogUrl> tcp = ParseLogUrl("redis://10.0.0.7:6380/users-p0");
  ASSERT_THAT(tcp, IsOk());
  EXPECT_EQ(tcp->scheme, "redis");
  EXPECT_EQ(tcp->host, "10.0.0.7");
  EXPECT_EQ(tcp->port, 6380);
  EXPECT_EQ(tcp->stream, "users-p0");
  EXPECT_EQ(FormatLogUrl(*tcp), "redis://10.0.0.7:6380/users-p0");

  absl::StatusOr<LogUrl> default_port = ParseLogUrl("redis://redis.internal/a_b.c:d-1");
  ASSERT_THAT(default_port, IsOk());
  EXPECT_EQ(default_port->host, "redis.internal");
  EXPECT_EQ(default_port->port, 6379);
  EXPECT_EQ(default_port->stream, "a_b.c:d-1");
  EXPECT_EQ(FormatLogUrl(*default_port), "redis://redis.internal:6379/a_b.c:d-1");

  absl::StatusOr<LogUrl> unix_url = ParseLogUrl("redis+unix:///run/redis/redis.sock?stream=p1");
  ASSERT_THAT(unix_url, IsOk());
  EXPECT_EQ(unix_url->scheme, "redis+unix");
  EXPECT_EQ(unix_url->socket_path, "/run/redis/redis.sock");
  EXPECT_EQ(unix_url->stream, "p1");
  EXPECT_EQ(FormatLogUrl(*unix_url), "redis+unix:///run/redis/redis.sock?stream=p1");

  EXPECT_THAT(ParseLogUrl(std::string("redis://h/") + std::string(200, 's')), IsOk());
}

TEST(LogUrl, EachBadUrlNamesWhatIsWrong) {
  const struct {
    std::string url;
    std::string why;
  } kCases[] = {
      {"", "unknown scheme"},
      {"http://h:1/s", "unknown scheme"},
      {"REDIS://h:1/s", "unknown scheme"},
      {"redis://h:6379", "no stream after the address"},
      {"redis://:6379/s", "no host"},
      {"redis:///s", "no host"},
      {"redis://h:0/s", "bad port"},
      {"redis://h:65536/s", "bad port"},
      {"redis://h:-1/s", "bad port"},
      {"redis://h:/s", "bad port"},
      {"redis://h:80x/s", "bad port"},
      {"redis://user:pw@h:6379/s", "the host must be a name or an IPv4 address"},
      {"redis://[::1]:6379/s", "the host must be a name or an IPv4 address"},
      {"redis://h:6379/", "the stream must be 1-200 of"},
      {"redis://h:6379/a/b", "the stream must be 1-200 of"},
      {"redis://h:6379/a b", "the stream must be 1-200 of"},
      {"redis://h:6379/" + std::string(201, 's'), "the stream must be 1-200 of"},
      {"redis+unix:///tmp/r.sock", "no ?stream="},
      {"redis+unix://tmp/r.sock?stream=s", "the socket path must be absolute"},
      {"redis+unix://?stream=s", "the socket path must be absolute"},
      {"redis+unix:///" + std::string(107, 'p') + "?stream=s",
       "the socket path is longer than 107 bytes"},
      {"redis+unix:///tmp/r.sock?stream=", "the stream must be 1-200 of"},
      {"redis+unix:///tmp/r.sock?stream=s&db=1", "the stream must be 1-200 of"},
  };
  for (const auto& c : kCases) {
    SCOPED_TRACE(c.url);
    absl::StatusOr<LogUrl> parsed = ParseLogUrl(c.url);
    EXPECT_THAT(parsed, IsError(400, ErrorCode::kInvalidParameter));
    EXPECT_THAT(std::string(parsed.status().message()), HasSubstr(c.why));
    EXPECT_THAT(std::string(parsed.status().message()), HasSubstr(c.url));
    // OpenChangelogLog answers the same, before any connection.
    absl::StatusOr<std::unique_ptr<ChangelogLog>> log = OpenChangelogLog(c.url);
    EXPECT_THAT(log, IsError(400, ErrorCode::kInvalidParameter));
    EXPECT_THAT(std::string(log.status().message()), HasSubstr(c.why));
  }
}

TEST(EntryId, FormatsAndParsesBothParts) {
  EXPECT_EQ(ChangelogLog::EntryId(7, 2), "7-2");
  EXPECT_EQ(ChangelogLog::EntryId(kMaxU64, kMaxU64), "18446744073709551615-18446744073709551615");
  uint64_t sequence = 1;
  uint64_t epoch = 1;
  ASSERT_TRUE(ChangelogLog::ParseEntryId("0-0", &sequence, &epoch));
  EXPECT_EQ(sequence, 0u);
  EXPECT_EQ(epoch, 0u);
  ASSERT_TRUE(ChangelogLog::ParseEntryId("18446744073709551615-3", &sequence, &epoch));
  EXPECT_EQ(sequence, kMaxU64);
  EXPECT_EQ(epoch, 3u);
  for (const char* bad : {"", "-", "1", "1-", "-1", "01-1", "1-01", "+1-1", "1--1", "1-1-1",
                          "18446744073709551616-1", "1-18446744073709551616", "a-1", " 1-1"}) {
    EXPECT_FALSE(ChangelogLog::ParseEntryId(bad, &sequence, &epoch)) << bad;
  }
}

TEST(OpenChangelogLog, UnreachableServerIs503) {
  absl::StatusOr<std::unique_ptr<ChangelogLog>> log =
      OpenChangelogLog("redis+unix:///nonexistent-dir/redis.sock?stream=s");
  EXPECT_THAT(log, IsError(503, ErrorCode::kServiceUnavailable));
  EXPECT_THAT(std::string(log.status().message()),
              HasSubstr("redis+unix:///nonexistent-dir/redis.sock?stream=s: cannot connect"));
  // Port 1 on the loopback: refused at once.
  log = OpenChangelogLog("redis://127.0.0.1:1/s");
  EXPECT_THAT(log, IsError(503, ErrorCode::kServiceUnavailable));
  EXPECT_THAT(std::string(log.status().message()), HasSubstr("redis://127.0.0.1:1/s: "));
}

}  // namespace
}  // namespace userstore_testing
