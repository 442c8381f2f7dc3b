// The changelog's log on Redis Streams (core/changelog/redis_log.h) against a
// real redis-server on a unix socket of its own (redis_server.h). The stream
// URLs and entry IDs, which need no server, are in log_url_test.cc.

#include "core/changelog/redis_log.h"

#include <atomic>
#include <cstdint>
#include <limits>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/changelog/redis_server.h"
#include "tests/testing/store_testing.h"
#include "tests/testing/tsan_absl_mutex.h"  // TSan builds: absl::Mutex made visible

#include "userstore/changelog.h"
#include "userstore/status.h"

#include "core/changelog/log_url.h"

namespace userstore_testing {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::userstore::ChangelogLog;
using ::userstore::OpenChangelogLog;
using ::userstore::internal::changelog::LogUrl;
using ::userstore::internal::changelog::ParseLogUrl;
using ::userstore::internal::changelog::RedisLog;
using ::userstore::internal::changelog::RedisLogOptions;
using ::userstore::testing::IsOkAndHolds;

constexpr uint64_t kMaxU64 = std::numeric_limits<uint64_t>::max();

// A fenced append: 403/20403 once the error table has the row (until then
// MakeError renders an unknown code as 500), and always the message.
void ExpectFenced(const absl::Status& status, const std::string& actual_last_id) {
  ASSERT_FALSE(status.ok());
  EXPECT_THAT(std::string(status.message()), HasSubstr("fenced"));
  EXPECT_THAT(std::string(status.message()),
              HasSubstr(absl::StrCat("last entry is '", actual_last_id, "'")));
  if (userstore::LookupError(ErrorCode::kForbidden) != nullptr) {
    EXPECT_THAT(status, IsError(403, ErrorCode::kForbidden));
  }
}

std::vector<std::string> Ids(const std::vector<ChangelogLog::Entry>& entries) {
  std::vector<std::string> ids;
  for (const ChangelogLog::Entry& entry : entries) ids.push_back(entry.id);
  return ids;
}

// --- against redis-server --------------------------------------------------------

class RedisLogTest : public ::testing::Test {
 protected:
  virtual bool appendonly() const { return false; }

  void SetUp() override {
    if (RedisServer::Binary().empty()) GTEST_SKIP() << RedisServer::kNotFound;
    server_ = std::make_unique<RedisServer>(appendonly());
    absl::Status started = server_->Start();
    ASSERT_TRUE(started.ok()) << started;
  }

  std::unique_ptr<ChangelogLog> Open(const std::string& stream = "users-p0") {
    absl::StatusOr<std::unique_ptr<ChangelogLog>> log = OpenChangelogLog(server_->Url(stream));
    EXPECT_THAT(log, IsOk());
    return log.ok() ? std::move(*log) : nullptr;
  }

  std::unique_ptr<RedisLog> OpenWith(const RedisLogOptions& options,
                                     const std::string& stream = "users-p0") {
    absl::StatusOr<LogUrl> url = ParseLogUrl(server_->Url(stream));
    EXPECT_THAT(url, IsOk());
    absl::StatusOr<std::unique_ptr<RedisLog>> log = RedisLog::Open(*url, options);
    EXPECT_THAT(log, IsOk());
    return log.ok() ? std::move(*log) : nullptr;
  }

  std::string Xlen(const std::string& stream = "users-p0") {
    return server_->Run({"XLEN", stream});
  }

  // How often the server ran `command` since it started or its last CONFIG
  // RESETSTAT (INFO commandstats); 0 when never.
  int64_t Calls(const std::string& command) {
    const std::string info = server_->Run({"INFO", "commandstats"});
    const std::string key = absl::StrCat("cmdstat_", command, ":calls=");
    const size_t at = info.find(key);
    if (at == std::string::npos) return 0;
    int64_t calls = 0;
    for (size_t i = at + key.size(); i < info.size() && info[i] >= '0' && info[i] <= '9'; ++i) {
      calls = calls * 10 + (info[i] - '0');
    }
    return calls;
  }

  std::unique_ptr<RedisServer> server_;
};

TEST_F(RedisLogTest, AppendsAndReadsBackInOrder) {
  std::unique_ptr<ChangelogLog> log = Open();
  ASSERT_NE(log, nullptr);
  EXPECT_EQ(log->url(), server_->Url("users-p0"));
  const std::string binary(
      "batch\0with\xff"
      "bytes",
      16);
  absl::StatusOr<std::string> first = log->AppendIf("", 3, 1, "one");
  ASSERT_THAT(first, IsOk());
  EXPECT_EQ(*first, "3-1");
  absl::StatusOr<std::string> second = log->AppendIf("3-1", 5, 1, binary);
  ASSERT_THAT(second, IsOk());
  EXPECT_EQ(*second, "5-1");
  absl::StatusOr<std::string> third = log->AppendIf("5-1", 9, 1, "");
  ASSERT_THAT(third, IsOk());
  EXPECT_EQ(*third, "9-1");

  absl::StatusOr<std::vector<ChangelogLog::Entry>> entries =
      log->ReadAfter(0, 100, absl::ZeroDuration());
  ASSERT_THAT(entries, IsOk());
  ASSERT_EQ(entries->size(), 3u);
  EXPECT_EQ((*entries)[0].id, "3-1");
  EXPECT_EQ((*entries)[0].data, "one");
  EXPECT_EQ((*entries)[1].id, "5-1");
  EXPECT_EQ((*entries)[1].data, binary);
  EXPECT_EQ((*entries)[2].id, "9-1");
  EXPECT_EQ((*entries)[2].data, "");
  // The same through a blocking read that has something at once.
  entries = log->ReadAfter(0, 100, absl::Seconds(30));
  ASSERT_THAT(entries, IsOk());
  EXPECT_THAT(Ids(*entries), ElementsAre("3-1", "5-1", "9-1"));
  EXPECT_EQ((*entries)[1].data, binary);
}

TEST_F(RedisLogTest, ABatchLargerThanTheSocketBufferRoundTripsByteForByte) {
  // Commands are written with writev from the caller's bytes: a batch many
  // times the socket's buffer goes out in partial writes.
  std::unique_ptr<ChangelogLog> log = Open();
  ASSERT_NE(log, nullptr);
  std::string batch(size_t{3} << 20, '\0');
  for (size_t i = 0; i < batch.size(); ++i) batch[i] = static_cast<char>((i * 7919) >> 3);
  const std::string small(31, '\r');  // beside its header; CR LF inside data
  ASSERT_THAT(log->AppendIf("", 1, 1, batch), IsOkAndHolds(std::string("1-1")));
  ASSERT_THAT(log->AppendIf("1-1", 2, 1, batch), IsOkAndHolds(std::string("2-1")));  // watched
  ASSERT_THAT(log->AppendIf("2-1", 3, 1, small), IsOkAndHolds(std::string("3-1")));
  absl::StatusOr<std::vector<ChangelogLog::Entry>> entries =
      log->ReadAfter(0, 10, absl::ZeroDuration());
  ASSERT_THAT(entries, IsOk());
  ASSERT_EQ(entries->size(), 3u);
  EXPECT_TRUE((*entries)[0].data == batch);
  EXPECT_TRUE((*entries)[1].data == batch);
  EXPECT_EQ((*entries)[2].data, small);
}

TEST_F(RedisLogTest, LastIdIsTheLastAppended) {
  std::unique_ptr<ChangelogLog> log = Open();
  ASSERT_NE(log, nullptr);
  EXPECT_THAT(log->LastId(), IsOkAndHolds(std::string("")));
  ASSERT_THAT(log->AppendIf("", 0, 1, "fence"), IsOk());
  EXPECT_THAT(log->LastId(), IsOkAndHolds(std::string("0-1")));
  ASSERT_THAT(log->AppendIf("0-1", 4, 1, "b"), IsOk());
  EXPECT_THAT(log->LastId(), IsOkAndHolds(std::string("4-1")));
  // Another stream on the same server is another log.
  std::unique_ptr<ChangelogLog> other = Open("users-p1");
  ASSERT_NE(other, nullptr);
  EXPECT_THAT(other->LastId(), IsOkAndHolds(std::string("")));
}

TEST_F(RedisLogTest, StaleAppenderIsFencedAndAppendsNothing) {
  std::unique_ptr<ChangelogLog> old_leader = Open();
  std::unique_ptr<ChangelogLog> new_leader = Open();
  ASSERT_NE(old_leader, nullptr);
  ASSERT_NE(new_leader, nullptr);
  ASSERT_THAT(old_leader->AppendIf("", 0, 1, "fence 1"), IsOk());
  ASSERT_THAT(old_leader->AppendIf("0-1", 10, 1, "batch"), IsOk());
  // A new leader fences the old one: same sequence, next epoch.
  ASSERT_THAT(new_leader->AppendIf("10-1", 10, 2, "fence 2"), IsOk());

  absl::StatusOr<std::string> stale = old_leader->AppendIf("10-1", 12, 1, "lost");
  ExpectFenced(stale.status(), "10-2");
  // From an empty expectation too.
  ExpectFenced(old_leader->AppendIf("", 12, 1, "lost").status(), "10-2");
  EXPECT_EQ(Xlen(), "3");
  EXPECT_THAT(old_leader->LastId(), IsOkAndHolds(std::string("10-2")));
  absl::StatusOr<std::vector<ChangelogLog::Entry>> entries =
      new_leader->ReadAfter(0, 100, absl::ZeroDuration());
  ASSERT_THAT(entries, IsOk());
  // (0-1, the first fence, holds no event after 0.)
  EXPECT_THAT(Ids(*entries), ElementsAre("10-1", "10-2"));
  // The new leader goes on.
  EXPECT_THAT(new_leader->AppendIf("10-2", 12, 2, "next"), IsOkAndHolds(std::string("12-2")));
}

TEST_F(RedisLogTest, AppendRefusesBadIds) {
  std::unique_ptr<ChangelogLog> log = Open();
  ASSERT_NE(log, nullptr);
  absl::StatusOr<std::string> zero = log->AppendIf("", 0, 0, "x");
  EXPECT_THAT(zero, IsError(400, ErrorCode::kInvalidParameter));
  EXPECT_THAT(std::string(zero.status().message()), HasSubstr("0-0"));
  ASSERT_THAT(log->AppendIf("", 5, 1, "x"), IsOk());
  for (const char* bad : {"5", "5-", "x-1", "05-1", "5-1 "}) {
    absl::StatusOr<std::string> appended = log->AppendIf(bad, 6, 1, "x");
    EXPECT_THAT(appended, IsError(400, ErrorCode::kInvalidParameter)) << bad;
    EXPECT_THAT(std::string(appended.status().message()), HasSubstr("is not an entry ID")) << bad;
  }
  // Not after the expected ID: same, or an earlier epoch or sequence.
  for (const auto& [sequence, epoch] : {std::pair<uint64_t, uint64_t>{5, 1}, {5, 0}, {4, 9}}) {
    absl::StatusOr<std::string> appended = log->AppendIf("5-1", sequence, epoch, "x");
    EXPECT_THAT(appended, IsError(400, ErrorCode::kInvalidParameter));
    EXPECT_THAT(std::string(appended.status().message()), HasSubstr("is not after the expected"));
  }
  EXPECT_EQ(Xlen(), "1");
}

TEST_F(RedisLogTest, ReadAfterResumesExactlyAfterASequence) {
  std::unique_ptr<ChangelogLog> log = Open();
  ASSERT_NE(log, nullptr);
  // Batches of events 1-3, 4-7, 8-10, then a fence entry (no events) and 11.
  ASSERT_THAT(log->AppendIf("", 3, 1, "1-3"), IsOk());
  ASSERT_THAT(log->AppendIf("3-1", 7, 1, "4-7"), IsOk());
  ASSERT_THAT(log->AppendIf("7-1", 10, 1, "8-10"), IsOk());
  ASSERT_THAT(log->AppendIf("10-1", 10, 2, "fence"), IsOk());
  ASSERT_THAT(log->AppendIf("10-2", 11, 2, "11"), IsOk());

  const struct {
    uint64_t after;
    std::vector<std::string> ids;
  } kCases[] = {
      {0, {"3-1", "7-1", "10-1", "10-2", "11-2"}},
      {2, {"3-1", "7-1", "10-1", "10-2", "11-2"}},  // 1-3 straddles 2
      {3, {"7-1", "10-1", "10-2", "11-2"}},
      {5, {"7-1", "10-1", "10-2", "11-2"}},  // 4-7 straddles 5
      {7, {"10-1", "10-2", "11-2"}},
      {9, {"10-1", "10-2", "11-2"}},
      {10, {"11-2"}},
      {11, {}},
      {kMaxU64 - 1, {}},
      {kMaxU64, {}},
  };
  for (const auto& c : kCases) {
    SCOPED_TRACE(c.after);
    absl::StatusOr<std::vector<ChangelogLog::Entry>> range =
        log->ReadAfter(c.after, 100, absl::ZeroDuration());
    ASSERT_THAT(range, IsOk());
    EXPECT_EQ(Ids(*range), c.ids);
    if (c.ids.empty()) continue;
    // A blocking read returns the same at once.
    absl::StatusOr<std::vector<ChangelogLog::Entry>> blocking =
        log->ReadAfter(c.after, 100, absl::Seconds(30));
    ASSERT_THAT(blocking, IsOk());
    EXPECT_EQ(Ids(*blocking), c.ids);
  }
  // `max` bounds the count; 0 reads nothing.
  absl::StatusOr<std::vector<ChangelogLog::Entry>> two = log->ReadAfter(3, 2, absl::ZeroDuration());
  ASSERT_THAT(two, IsOk());
  EXPECT_THAT(Ids(*two), ElementsAre("7-1", "10-1"));
  two = log->ReadAfter(3, 2, absl::Seconds(30));
  ASSERT_THAT(two, IsOk());
  EXPECT_THAT(Ids(*two), ElementsAre("7-1", "10-1"));
  absl::StatusOr<std::vector<ChangelogLog::Entry>> none = log->ReadAfter(0, 0, absl::Seconds(30));
  ASSERT_THAT(none, IsOk());
  EXPECT_TRUE(none->empty());
}

TEST_F(RedisLogTest, ReadAfterWaitsForAnAppendFromAnotherThread) {
  std::unique_ptr<ChangelogLog> reader = Open();
  std::unique_ptr<ChangelogLog> writer = Open();
  ASSERT_NE(reader, nullptr);
  ASSERT_NE(writer, nullptr);
  ASSERT_THAT(writer->AppendIf("", 4, 1, "old"), IsOk());

  // Nothing after 4: a zero wait answers at once, a short one runs out.
  absl::StatusOr<std::vector<ChangelogLog::Entry>> nothing =
      reader->ReadAfter(4, 10, absl::ZeroDuration());
  ASSERT_THAT(nothing, IsOk());
  EXPECT_TRUE(nothing->empty());
  nothing = reader->ReadAfter(4, 10, absl::Milliseconds(20));
  ASSERT_THAT(nothing, IsOk());
  EXPECT_TRUE(nothing->empty());

  absl::StatusOr<std::vector<ChangelogLog::Entry>> read;
  std::thread blocked([&] { read = reader->ReadAfter(4, 10, absl::Seconds(60)); });
  // The read is blocked on the server before the append is made.
  const bool was_blocked = server_->WaitForBlockedClients(1);
  absl::StatusOr<std::string> appended = writer->AppendIf("4-1", 6, 1, "new");
  blocked.join();
  ASSERT_TRUE(was_blocked);
  ASSERT_THAT(appended, IsOk());
  ASSERT_THAT(read, IsOk());
  ASSERT_EQ(read->size(), 1u);
  EXPECT_EQ((*read)[0].id, "6-1");
  EXPECT_EQ((*read)[0].data, "new");
}

TEST_F(RedisLogTest, ReadAfterStopsAtAnEntryThatIsNoBatch) {
  std::unique_ptr<ChangelogLog> log = Open();
  ASSERT_NE(log, nullptr);
  ASSERT_THAT(log->AppendIf("", 1, 1, "ok"), IsOk());
  ASSERT_EQ(server_->Run({"XADD", "users-p0", "2-1", "other", "x"}), "2-1");
  // The entries before it are read; a read that starts at it is refused.
  absl::StatusOr<std::vector<ChangelogLog::Entry>> before =
      log->ReadAfter(0, 10, absl::ZeroDuration());
  ASSERT_THAT(before, IsOk());
  ASSERT_EQ(before->size(), 1u);
  EXPECT_EQ((*before)[0].id, "1-1");
  absl::StatusOr<std::vector<ChangelogLog::Entry>> read =
      log->ReadAfter(1, 10, absl::ZeroDuration());
  EXPECT_THAT(read, IsError(400, ErrorCode::kInvalidParameter));
  EXPECT_THAT(std::string(read.status().message()), HasSubstr("entry 2-1 has no field 'b'"));
}

TEST_F(RedisLogTest, AForeignXaddAfterTheLastAppendStillFences) {
  std::unique_ptr<ChangelogLog> log = Open();
  ASSERT_NE(log, nullptr);
  ASSERT_THAT(log->AppendIf("", 1, 1, "a"), IsOk());
  EXPECT_EQ(server_->Run({"GET", "users-p0/last"}), "1-1");  // the recorded last ID
  // Another writer appends with a plain XADD: the recorded ID is behind the
  // stream, and the stream wins.
  ASSERT_EQ(server_->Run({"XADD", "users-p0", "5-1", "b", "x"}), "5-1");
  EXPECT_THAT(log->LastId(), IsOkAndHolds(std::string("5-1")));
  ExpectFenced(log->AppendIf("1-1", 2, 1, "b").status(), "5-1");
  // Even once that entry is deleted: the stream's last-generated-id stays.
  ASSERT_EQ(server_->Run({"XDEL", "users-p0", "5-1"}), "1");
  ExpectFenced(log->AppendIf("1-1", 2, 1, "b").status(), "5-1");
  EXPECT_THAT(log->AppendIf("5-1", 6, 1, "c"), IsOkAndHolds(std::string("6-1")));
  EXPECT_EQ(server_->Run({"GET", "users-p0/last"}), "6-1");
}

TEST_F(RedisLogTest, AStreamWithoutItsLastIdKeyIsReadFromTheStream) {
  std::unique_ptr<ChangelogLog> log = Open();
  ASSERT_NE(log, nullptr);
  ASSERT_THAT(log->AppendIf("", 1, 1, "a"), IsOk());
  ASSERT_THAT(log->AppendIf("1-1", 3, 1, "b"), IsOk());
  // A stream written before the key existed (or the key lost): the answer
  // comes from XINFO STREAM, and the next append records the key again.
  ASSERT_EQ(server_->Run({"DEL", "users-p0/last"}), "1");
  EXPECT_THAT(log->LastId(), IsOkAndHolds(std::string("3-1")));
  ExpectFenced(log->AppendIf("1-1", 4, 1, "c").status(), "3-1");
  EXPECT_THAT(log->AppendIf("3-1", 4, 1, "c"), IsOkAndHolds(std::string("4-1")));
  EXPECT_EQ(server_->Run({"GET", "users-p0/last"}), "4-1");
}

TEST_F(RedisLogTest, ScriptsSurviveAScriptFlush) {
  std::unique_ptr<ChangelogLog> log = Open();
  ASSERT_NE(log, nullptr);
  ASSERT_THAT(log->AppendIf("", 1, 1, "a"), IsOk());
  ASSERT_EQ(server_->Run({"SCRIPT", "FLUSH"}), "OK");
  // EVALSHA answers NOSCRIPT; the body is sent again.
  EXPECT_THAT(log->LastId(), IsOkAndHolds(std::string("1-1")));
  ASSERT_EQ(server_->Run({"SCRIPT", "FLUSH"}), "OK");
  ExpectFenced(log->AppendIf("", 2, 1, "b").status(), "1-1");
  EXPECT_THAT(log->AppendIf("1-1", 2, 1, "b"), IsOkAndHolds(std::string("2-1")));
}

// The watched append (redis_log.h): after an append of its own of 4 KiB or
// more, a log appends such batches with MULTI/XADD/EXEC under a WATCH of the
// stream instead of the script, and any write to the stream in between sends
// it back to the script.

// A batch of `bytes` bytes, all `c`.
std::string Batch(char c, size_t bytes = 5000) { return std::string(bytes, c); }

TEST_F(RedisLogTest, LargeAppendsAfterAnOwnAppendGoThroughTheWatchNotTheScript) {
  std::unique_ptr<ChangelogLog> log = Open();
  std::unique_ptr<ChangelogLog> other = Open();
  ASSERT_NE(log, nullptr);
  ASSERT_NE(other, nullptr);
  ASSERT_EQ(server_->Run({"CONFIG", "RESETSTAT"}), "OK");
  ASSERT_THAT(log->AppendIf("", 1, 1, Batch('a')), IsOkAndHolds(std::string("1-1")));
  ASSERT_THAT(log->AppendIf("1-1", 2, 1, Batch('b')), IsOkAndHolds(std::string("2-1")));
  ASSERT_THAT(log->AppendIf("2-1", 5, 1, Batch('c', 4096)), IsOkAndHolds(std::string("5-1")));
  EXPECT_EQ(Calls("evalsha"), 1);  // the first append
  EXPECT_EQ(Calls("exec"), 2);
  EXPECT_EQ(Calls("xadd"), 3);
  // A small batch takes the script (and drops the WATCH its XADD trips).
  ASSERT_THAT(log->AppendIf("5-1", 6, 1, "small"), IsOkAndHolds(std::string("6-1")));
  EXPECT_EQ(Calls("evalsha"), 2);
  EXPECT_EQ(Calls("exec"), 2);
  absl::StatusOr<std::vector<ChangelogLog::Entry>> entries =
      other->ReadAfter(0, 100, absl::ZeroDuration());
  ASSERT_THAT(entries, IsOk());
  EXPECT_THAT(Ids(*entries), ElementsAre("1-1", "2-1", "5-1", "6-1"));
  EXPECT_EQ((*entries)[1].data, Batch('b'));
  EXPECT_EQ((*entries)[2].data, Batch('c', 4096));
  EXPECT_EQ((*entries)[3].data, "small");
  EXPECT_THAT(other->LastId(), IsOkAndHolds(std::string("6-1")));
  EXPECT_EQ(server_->Run({"GET", "users-p0/last"}), "6-1");  // the script's last append
  ASSERT_THAT(log->AppendIf("6-1", 7, 1, Batch('d')), IsOkAndHolds(std::string("7-1")));
  ASSERT_THAT(log->AppendIf("7-1", 8, 1, Batch('e')), IsOkAndHolds(std::string("8-1")));
  EXPECT_EQ(Calls("evalsha"), 3 + 1);  // (LastId above is a script too)
  EXPECT_EQ(Calls("exec"), 3);

  // Another appender that knows the last entry (a promoted follower's fence)
  // takes the stream: the watched appender is fenced and appends nothing.
  ASSERT_THAT(other->AppendIf("8-1", 8, 2, Batch('f')), IsOkAndHolds(std::string("8-2")));
  ExpectFenced(log->AppendIf("8-1", 9, 1, Batch('x')).status(), "8-2");
  ExpectFenced(log->AppendIf("8-1", 9, 1, Batch('x')).status(), "8-2");
  EXPECT_EQ(Xlen(), "7");
  // The other goes on through its own WATCH: the refused appends wrote nothing.
  const int64_t scripts = Calls("evalsha");
  EXPECT_THAT(other->AppendIf("8-2", 9, 2, Batch('g')), IsOkAndHolds(std::string("9-2")));
  EXPECT_EQ(Calls("evalsha"), scripts);
  EXPECT_THAT(other->LastId(), IsOkAndHolds(std::string("9-2")));
}

TEST_F(RedisLogTest, WithoutWatchedAppendsEveryAppendRunsTheScript) {
  RedisLogOptions options;
  options.watched_appends = false;
  std::unique_ptr<RedisLog> log = OpenWith(options);
  ASSERT_NE(log, nullptr);
  ASSERT_EQ(server_->Run({"CONFIG", "RESETSTAT"}), "OK");
  ASSERT_THAT(log->AppendIf("", 1, 1, Batch('a')), IsOk());
  ASSERT_THAT(log->AppendIf("1-1", 2, 1, Batch('b')), IsOk());
  ASSERT_THAT(log->AppendIf("2-1", 3, 1, Batch('c')), IsOk());
  EXPECT_EQ(Calls("evalsha"), 3);
  EXPECT_EQ(Calls("exec"), 0);
  EXPECT_EQ(Calls("watch"), 0);
  EXPECT_EQ(server_->Run({"GET", "users-p0/last"}), "3-1");
}

TEST_F(RedisLogTest, ACheckpointCommitsThoughTheWatchedStreamChanged) {
  std::unique_ptr<ChangelogLog> log = Open();
  ASSERT_NE(log, nullptr);
  ASSERT_THAT(log->AppendIf("", 1, 1, Batch('a')), IsOk());
  ASSERT_THAT(log->AppendIf("1-1", 2, 1, Batch('b')), IsOk());
  // A write the log's WATCH sees: a transaction of the log's own would be
  // aborted by it, were the WATCH not dropped first.
  ASSERT_EQ(server_->Run({"XADD", "users-p0", "9-9", "b", "x"}), "9-9");
  ASSERT_THAT(log->PutCheckpoint(2, "state at 2"), IsOk());
  absl::StatusOr<ChangelogLog::Checkpoint> checkpoint = log->GetCheckpoint();
  ASSERT_THAT(checkpoint, IsOk());
  EXPECT_EQ(checkpoint->sequence, 2u);
  EXPECT_EQ(checkpoint->bytes, "state at 2");
  ExpectFenced(log->AppendIf("2-1", 3, 1, Batch('c')).status(), "9-9");
  EXPECT_EQ(Xlen(), "3");
}

TEST_F(RedisLogTest, AnAppendAfterATrimGoesStraightToTheScript) {
  std::unique_ptr<ChangelogLog> log = Open();
  ASSERT_NE(log, nullptr);
  ASSERT_THAT(log->AppendIf("", 1, 1, Batch('a')), IsOk());
  ASSERT_THAT(log->AppendIf("1-1", 2, 1, Batch('b')), IsOk());
  ASSERT_THAT(log->PutCheckpoint(2, "state at 2"), IsOk());
  ASSERT_THAT(log->TrimThrough(1), IsOk());
  ASSERT_EQ(server_->Run({"CONFIG", "RESETSTAT"}), "OK");
  // The trim wrote to the stream: a transaction would be aborted, so the
  // batch is sent once, to the script.
  EXPECT_THAT(log->AppendIf("2-1", 3, 1, Batch('c')), IsOkAndHolds(std::string("3-1")));
  EXPECT_EQ(Calls("exec"), 0);
  EXPECT_EQ(Calls("evalsha"), 1);
  EXPECT_THAT(log->AppendIf("3-1", 4, 1, Batch('d')), IsOkAndHolds(std::string("4-1")));
  EXPECT_EQ(Calls("exec"), 1);
  EXPECT_EQ(Calls("evalsha"), 1);
  absl::StatusOr<std::vector<ChangelogLog::Entry>> entries =
      log->ReadAfter(0, 100, absl::ZeroDuration());
  ASSERT_THAT(entries, IsOk());
  EXPECT_THAT(Ids(*entries), ElementsAre("2-1", "3-1", "4-1"));
}

TEST_F(RedisLogTest, CheckpointRoundTrips) {
  std::unique_ptr<ChangelogLog> log = Open();
  ASSERT_NE(log, nullptr);
  absl::StatusOr<ChangelogLog::Checkpoint> none = log->GetCheckpoint();
  EXPECT_THAT(none, IsError(404, ErrorCode::kNotFound));
  EXPECT_THAT(std::string(none.status().message()), HasSubstr("no checkpoint"));

  const std::string bytes("checkpoint\0bytes", 16);
  ASSERT_THAT(log->PutCheckpoint(42, bytes), IsOk());
  absl::StatusOr<ChangelogLog::Checkpoint> got = log->GetCheckpoint();
  ASSERT_THAT(got, IsOk());
  EXPECT_EQ(got->sequence, 42u);
  EXPECT_EQ(got->bytes, bytes);
  EXPECT_EQ(server_->Run({"HGET", "users-p0/checkpoint", "parts"}), "1");

  // Replaced, by an empty one.
  ASSERT_THAT(log->PutCheckpoint(kMaxU64, ""), IsOk());
  got = log->GetCheckpoint();
  ASSERT_THAT(got, IsOk());
  EXPECT_EQ(got->sequence, kMaxU64);
  EXPECT_EQ(got->bytes, "");
}

TEST_F(RedisLogTest, CheckpointInParts) {
  RedisLogOptions options;
  options.checkpoint_part_bytes = 7;
  std::unique_ptr<RedisLog> log = OpenWith(options);
  ASSERT_NE(log, nullptr);
  std::string bytes;
  for (int i = 0; i < 100; ++i) bytes.push_back(static_cast<char>(i * 37));
  ASSERT_THAT(log->PutCheckpoint(9, bytes), IsOk());
  EXPECT_EQ(server_->Run({"HGET", "users-p0/checkpoint", "parts"}), "15");  // ceil(100 / 7)
  EXPECT_EQ(server_->Run({"HSTRLEN", "users-p0/checkpoint", "part:14"}), "2");
  absl::StatusOr<ChangelogLog::Checkpoint> got = log->GetCheckpoint();
  ASSERT_THAT(got, IsOk());
  EXPECT_EQ(got->sequence, 9u);
  EXPECT_EQ(got->bytes, bytes);
  // Another log with the default part size reads it too.
  std::unique_ptr<ChangelogLog> reader = Open();
  ASSERT_NE(reader, nullptr);
  got = reader->GetCheckpoint();
  ASSERT_THAT(got, IsOk());
  EXPECT_EQ(got->bytes, bytes);

  // A smaller replacement leaves none of the old parts: sequence, parts and
  // 3 parts.
  ASSERT_THAT(log->PutCheckpoint(12, bytes.substr(0, 20)), IsOk());
  EXPECT_EQ(server_->Run({"HLEN", "users-p0/checkpoint"}), "5");
  got = reader->GetCheckpoint();
  ASSERT_THAT(got, IsOk());
  EXPECT_EQ(got->sequence, 12u);
  EXPECT_EQ(got->bytes, bytes.substr(0, 20));

  // A damaged hash is reported, not returned.
  ASSERT_EQ(server_->Run({"HDEL", "users-p0/checkpoint", "part:1"}), "1");
  got = reader->GetCheckpoint();
  EXPECT_THAT(got, IsError(503, ErrorCode::kServiceUnavailable));
  EXPECT_THAT(std::string(got.status().message()), HasSubstr("part 1 of 3 is missing"));
}

TEST_F(RedisLogTest, OptionsOutOfRangeAreRefused) {
  absl::StatusOr<LogUrl> url = ParseLogUrl(server_->Url("s"));
  ASSERT_THAT(url, IsOk());
  RedisLogOptions options;
  options.checkpoint_part_bytes = 0;
  EXPECT_THAT(RedisLog::Open(*url, options), IsError(400, ErrorCode::kInvalidParameter));
  options = RedisLogOptions();
  options.checkpoint_part_bytes = (size_t{512} << 20) + 1;
  EXPECT_THAT(RedisLog::Open(*url, options), IsError(400, ErrorCode::kInvalidParameter));
  options = RedisLogOptions();
  options.command_timeout = absl::ZeroDuration();
  EXPECT_THAT(RedisLog::Open(*url, options), IsError(400, ErrorCode::kInvalidParameter));
}

TEST_F(RedisLogTest, TrimOnlyBehindTheCheckpoint) {
  std::unique_ptr<ChangelogLog> log = Open();
  std::unique_ptr<ChangelogLog> stale = Open();
  ASSERT_NE(log, nullptr);
  ASSERT_NE(stale, nullptr);
  ASSERT_THAT(log->AppendIf("", 3, 1, "1-3"), IsOk());
  ASSERT_THAT(log->AppendIf("3-1", 7, 1, "4-7"), IsOk());
  ASSERT_THAT(log->AppendIf("7-1", 10, 1, "8-10"), IsOk());

  absl::Status trimmed = log->TrimThrough(3);
  EXPECT_THAT(trimmed, IsError(400, ErrorCode::kInvalidParameter));
  EXPECT_THAT(std::string(trimmed.message()), HasSubstr("no checkpoint is stored"));

  ASSERT_THAT(log->PutCheckpoint(7, "state at 7"), IsOk());
  trimmed = log->TrimThrough(8);
  EXPECT_THAT(trimmed, IsError(400, ErrorCode::kInvalidParameter));
  EXPECT_THAT(std::string(trimmed.message()),
              HasSubstr("cannot trim through 8: after the stored checkpoint's sequence 7"));
  trimmed = log->TrimThrough(kMaxU64);
  EXPECT_THAT(trimmed, IsError(400, ErrorCode::kInvalidParameter));
  EXPECT_EQ(Xlen(), "3");

  // Through 5: 1-3 goes, 4-7 (straddling 5) stays.
  ASSERT_THAT(log->TrimThrough(5), IsOk());
  EXPECT_EQ(Xlen(), "2");
  ASSERT_THAT(log->TrimThrough(7), IsOk());
  absl::StatusOr<std::vector<ChangelogLog::Entry>> left =
      log->ReadAfter(0, 100, absl::ZeroDuration());
  ASSERT_THAT(left, IsOk());
  EXPECT_THAT(Ids(*left), ElementsAre("10-1"));
  ASSERT_THAT(log->TrimThrough(7), IsOk());  // again: nothing to do

  // Everything trimmed: the stream's last ID stays, no stale appender gets
  // in, and the stream goes on.
  ASSERT_THAT(log->PutCheckpoint(10, "state at 10"), IsOk());
  ASSERT_THAT(log->TrimThrough(10), IsOk());
  EXPECT_EQ(Xlen(), "0");
  EXPECT_THAT(log->LastId(), IsOkAndHolds(std::string("10-1")));
  ExpectFenced(stale->AppendIf("", 12, 2, "x").status(), "10-1");
  ExpectFenced(stale->AppendIf("7-1", 12, 2, "x").status(), "10-1");
  EXPECT_EQ(Xlen(), "0");
  EXPECT_THAT(stale->AppendIf("10-1", 12, 2, "y"), IsOkAndHolds(std::string("12-2")));
  left = log->ReadAfter(0, 100, absl::ZeroDuration());
  ASSERT_THAT(left, IsOk());
  EXPECT_THAT(Ids(*left), ElementsAre("12-2"));

  // Through 2^64-1, with a checkpoint there: everything goes.
  ASSERT_THAT(log->PutCheckpoint(kMaxU64, "all"), IsOk());
  ASSERT_THAT(log->TrimThrough(kMaxU64), IsOk());
  EXPECT_EQ(Xlen(), "0");
  EXPECT_THAT(log->LastId(), IsOkAndHolds(std::string("12-2")));
}

TEST_F(RedisLogTest, SeveralAppendersExactlyOneWinsEachRound) {
  constexpr int kThreads = 4;
  constexpr int kRounds = 25;
  // Threads 0 and 1 share one log (its mutex); 2 and 3 have their own.
  std::vector<std::unique_ptr<ChangelogLog>> logs;
  for (int i = 0; i < 3; ++i) logs.push_back(Open());
  for (const auto& log : logs) ASSERT_NE(log, nullptr);
  auto log_of = [&](int thread) { return logs[thread < 2 ? 0 : thread - 1].get(); };

  std::vector<std::string> winners;
  for (int round = 1; round <= kRounds; ++round) {
    absl::StatusOr<std::string> expected = logs[0]->LastId();
    ASSERT_THAT(expected, IsOk());
    absl::Notification go;
    std::atomic<int> wins{0};
    std::atomic<int> fenced{0};
    std::atomic<int> other{0};
    std::vector<std::string> ids(kThreads);
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&, t] {
        go.WaitForNotification();
        absl::StatusOr<std::string> id =
            log_of(t)->AppendIf(*expected, round, t + 1, absl::StrCat("round ", round, " by ", t));
        if (id.ok()) {
          ids[t] = *id;
          ++wins;
        } else if (absl::StrContains(id.status().message(), "fenced")) {
          ++fenced;
        } else {
          ++other;
        }
      });
    }
    go.Notify();
    for (std::thread& thread : threads) thread.join();
    ASSERT_EQ(wins.load(), 1) << "round " << round;
    ASSERT_EQ(fenced.load(), kThreads - 1) << "round " << round;
    ASSERT_EQ(other.load(), 0);
    for (const std::string& id : ids) {
      if (!id.empty()) winners.push_back(id);
    }
    EXPECT_THAT(logs[2]->LastId(), IsOkAndHolds(winners.back()));
  }
  EXPECT_EQ(Xlen(), absl::StrCat(kRounds));
  absl::StatusOr<std::vector<ChangelogLog::Entry>> all =
      logs[1]->ReadAfter(0, 1000, absl::ZeroDuration());
  ASSERT_THAT(all, IsOk());
  EXPECT_EQ(Ids(*all), winners);
  for (size_t i = 0; i < all->size(); ++i) {
    uint64_t sequence = 0;
    uint64_t epoch = 0;
    ASSERT_TRUE(ChangelogLog::ParseEntryId((*all)[i].id, &sequence, &epoch));
    EXPECT_EQ(sequence, i + 1);
    EXPECT_EQ((*all)[i].data, absl::StrCat("round ", i + 1, " by ", epoch - 1));
  }
}

// A server that keeps what it acknowledged across restarts.
class RedisLogRestartTest : public RedisLogTest {
 protected:
  bool appendonly() const override { return true; }
};

void ExpectUnavailable(const absl::Status& status, const std::string& url) {
  EXPECT_THAT(status, IsError(503, ErrorCode::kServiceUnavailable));
  EXPECT_THAT(std::string(status.message()), HasSubstr(url + ": "));
}

TEST_F(RedisLogRestartTest, AServerDownAnswers503AndComesBackWithWhatItAcknowledged) {
  std::unique_ptr<ChangelogLog> log = Open();
  ASSERT_NE(log, nullptr);
  const std::string url = log->url();
  ASSERT_THAT(log->AppendIf("", 2, 1, "a"), IsOk());
  ASSERT_THAT(log->AppendIf("2-1", 5, 1, "b"), IsOk());
  ASSERT_THAT(log->PutCheckpoint(2, "at 2"), IsOk());
  ASSERT_THAT(log->TrimThrough(2), IsOk());

  server_->Kill();
  // Every call fails cleanly (no SIGPIPE, no crash), and again when retried.
  for (int attempt = 0; attempt < 2; ++attempt) {
    ExpectUnavailable(log->LastId().status(), url);
    ExpectUnavailable(log->AppendIf("5-1", 6, 1, "c").status(), url);
    ExpectUnavailable(log->ReadAfter(0, 10, absl::ZeroDuration()).status(), url);
    ExpectUnavailable(log->ReadAfter(0, 10, absl::Milliseconds(10)).status(), url);
    ExpectUnavailable(log->PutCheckpoint(5, "at 5"), url);
    ExpectUnavailable(log->GetCheckpoint().status(), url);
    ExpectUnavailable(log->TrimThrough(1), url);
  }
  ExpectUnavailable(OpenChangelogLog(url).status(), url);

  // Back (same socket, same data): the same object reconnects.
  absl::Status started = server_->Start();
  ASSERT_TRUE(started.ok()) << started;
  EXPECT_THAT(log->LastId(), IsOkAndHolds(std::string("5-1")));
  absl::StatusOr<std::vector<ChangelogLog::Entry>> entries =
      log->ReadAfter(0, 10, absl::ZeroDuration());
  ASSERT_THAT(entries, IsOk());
  EXPECT_THAT(Ids(*entries), ElementsAre("5-1"));
  absl::StatusOr<ChangelogLog::Checkpoint> checkpoint = log->GetCheckpoint();
  ASSERT_THAT(checkpoint, IsOk());
  EXPECT_EQ(checkpoint->sequence, 2u);
  EXPECT_EQ(checkpoint->bytes, "at 2");
  ASSERT_THAT(log->AppendIf("5-1", 6, 1, "c"), IsOk());

  // A clean restart in between two calls: the next call reconnects.
  started = server_->Restart();
  ASSERT_TRUE(started.ok()) << started;
  EXPECT_THAT(log->LastId(), IsOkAndHolds(std::string("6-1")));
  // Trimming everything survives a restart too: the last ID stays.
  ASSERT_THAT(log->PutCheckpoint(6, "at 6"), IsOk());
  ASSERT_THAT(log->TrimThrough(6), IsOk());
  server_->Kill();
  started = server_->Start();
  ASSERT_TRUE(started.ok()) << started;
  EXPECT_THAT(log->LastId(), IsOkAndHolds(std::string("6-1")));
  ExpectFenced(log->AppendIf("", 7, 2, "x").status(), "6-1");
  EXPECT_EQ(Xlen(), "0");
}

TEST_F(RedisLogRestartTest, AWatchedAppendAfterARestartGoesToTheScriptOnANewConnection) {
  std::unique_ptr<ChangelogLog> log = Open();
  ASSERT_NE(log, nullptr);
  ASSERT_THAT(log->AppendIf("", 1, 1, Batch('a')), IsOk());
  ASSERT_THAT(log->AppendIf("1-1", 2, 1, Batch('b')), IsOk());  // the next would be watched
  absl::Status started = server_->Restart();
  ASSERT_TRUE(started.ok()) << started;
  // The WATCH died with the connection; the transaction was not sent (the
  // socket is closed), so the script runs on a new connection.
  EXPECT_THAT(log->AppendIf("2-1", 3, 1, Batch('c')), IsOkAndHolds(std::string("3-1")));
  EXPECT_THAT(log->AppendIf("3-1", 4, 1, Batch('d')), IsOkAndHolds(std::string("4-1")));
  absl::StatusOr<std::vector<ChangelogLog::Entry>> entries =
      log->ReadAfter(0, 100, absl::ZeroDuration());
  ASSERT_THAT(entries, IsOk());
  EXPECT_THAT(Ids(*entries), ElementsAre("1-1", "2-1", "3-1", "4-1"));
}

TEST_F(RedisLogRestartTest, ABlockedReadAnswers503WhenTheServerDies) {
  std::unique_ptr<ChangelogLog> reader = Open();
  ASSERT_NE(reader, nullptr);
  const std::string url = reader->url();
  absl::StatusOr<std::vector<ChangelogLog::Entry>> read;
  std::thread blocked([&] { read = reader->ReadAfter(0, 10, absl::Seconds(60)); });
  const bool was_blocked = server_->WaitForBlockedClients(1);
  server_->Kill();
  blocked.join();
  ASSERT_TRUE(was_blocked);
  ExpectUnavailable(read.status(), url);
  absl::Status started = server_->Start();
  ASSERT_TRUE(started.ok()) << started;
  EXPECT_THAT(reader->LastId(), IsOkAndHolds(std::string("")));
}

}  // namespace
}  // namespace userstore_testing
