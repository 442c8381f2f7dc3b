// The changelog end to end on a real redis-server (started by each test on a
// unix socket of its own, append-only with an fsync per write, so that a
// restart keeps what it acknowledged) and real directories:
//   - a leader under load and two followers converge;
//   - a follower process killed (-9) mid-stream resumes and converges;
//   - the log server killed and restarted mid-stream: in synchronous mode no
//     acknowledged write is lost, writes during the outage answer 503 and
//     are shipped once it is back;
//   - the leader process killed (-9), a follower promoted: in synchronous
//     mode every acknowledged write is on the new leader; in asynchronous
//     mode the loss is measured (and printed); the old leader, restarted,
//     cannot lead;
//   - a deposed leader's append is refused and reaches no follower;
//   - malformed and foreign entries stop a follower with a clear error.
// Every wait is bounded.

#include <atomic>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "tests/changelog/redis_server.h"
#include "tests/durable/durable_testing.h"
#include "tests/testing/co_process.h"
#include "tests/testing/tsan_absl_mutex.h"  // TSan builds: absl::Mutex made visible
#include <hiredis/hiredis.h>

#include "userstore/changelog.h"
#include "userstore/durable.h"
#include "userstore/status.h"
#include "userstore/user_store.h"

namespace userstore {
namespace {

using durable_testing::Fingerprint;
using durable_testing::SameState;
using durable_testing::TempDir;
using userstore_testing::CoProcess;
using userstore_testing::RedisServer;

class RedisChangelogTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (RedisServer::Binary().empty()) GTEST_SKIP() << RedisServer::kNotFound;
    signal(SIGPIPE, SIG_IGN);
    server_ = std::make_unique<RedisServer>(/*appendonly=*/true);
    const absl::Status started = server_->Start();
    ASSERT_TRUE(started.ok()) << started;
    url_ = server_->Url("users-p0");
  }

  std::string Dir(const std::string& name) const { return tmp_.path() + "/" + name; }

  static DurableOptions Options() {
    DurableOptions options;
    options.durability = Durability::kNoSync;  // a process crash loses nothing; no power loss here
    return options;
  }

  std::unique_ptr<ChangelogLog> Log() {
    auto log = OpenChangelogLog(url_);
    EXPECT_TRUE(log.ok()) << log.status();
    return log.ok() ? std::move(*log) : nullptr;
  }

  std::unique_ptr<UserStore> OpenStore(const std::string& dir) {
    auto store = OpenUserStore(dir, Options());
    EXPECT_TRUE(store.ok()) << store.status();
    return store.ok() ? std::move(*store) : nullptr;
  }

  std::unique_ptr<ChangelogFollower> Follow(const std::string& dir) {
    auto follower = ChangelogFollower::Open(dir, Options(), Log());
    EXPECT_TRUE(follower.ok()) << follower.status();
    return follower.ok() ? std::move(*follower) : nullptr;
  }

  static absl::Status Create(UserStore* store, const std::string& identity) {
    CreateUserRequest request;
    request.identity = identity;
    return store->CreateUser(store->default_conversation_service_sid(), request).status();
  }

  // XADD straight to the stream (a foreign writer).
  void Xadd(const std::string& id, const std::string& field, const std::string& value) {
    redisContext* c = redisConnectUnix(server_->socket_path().c_str());
    ASSERT_TRUE(c != nullptr && c->err == 0);
    auto* reply = static_cast<redisReply*>(redisCommand(c, "XADD users-p0 %s %s %b", id.c_str(),
                                                        field.c_str(), value.data(), value.size()));
    ASSERT_NE(reply, nullptr);
    EXPECT_NE(reply->type, REDIS_REPLY_ERROR) << reply->str;
    freeReplyObject(reply);
    redisFree(c);
  }

  void Xdel(const std::string& id) {
    redisContext* c = redisConnectUnix(server_->socket_path().c_str());
    ASSERT_TRUE(c != nullptr && c->err == 0);
    auto* reply = static_cast<redisReply*>(redisCommand(c, "XDEL users-p0 %s", id.c_str()));
    ASSERT_NE(reply, nullptr);
    freeReplyObject(reply);
    redisFree(c);
  }

  TempDir tmp_;
  std::unique_ptr<RedisServer> server_;
  std::string url_;
};

TEST_F(RedisChangelogTest, ALeaderUnderLoadAndTwoFollowersConverge) {
  auto store = OpenStore(Dir("leader"));
  ASSERT_NE(store, nullptr);
  auto leader = ChangelogLeader::Start(store.get(), Log(), {});
  ASSERT_TRUE(leader.ok()) << leader.status();
  auto early = Follow(Dir("f1"));
  ASSERT_NE(early, nullptr);
  early->Start();
  std::vector<std::thread> writers;
  for (int t = 0; t < 4; ++t) {
    writers.emplace_back([&, t] {
      for (int i = 0; i < 250; ++i) {
        ASSERT_TRUE(Create(store.get(), absl::StrCat("w", t, "-", i)).ok());
      }
    });
  }
  auto late = Follow(Dir("f2"));  // bootstraps while the writers run
  ASSERT_NE(late, nullptr);
  for (auto& w : writers) w.join();
  ASSERT_TRUE((*leader)->Flush(absl::Seconds(30)).ok());
  early->Stop();
  ASSERT_TRUE(early->CatchUp(absl::Seconds(30)).ok());
  ASSERT_TRUE(late->CatchUp(absl::Seconds(30)).ok());
  const std::string want = Fingerprint(*store);
  EXPECT_TRUE(SameState(Fingerprint(early->store()), want));
  EXPECT_TRUE(SameState(Fingerprint(late->store()), want));
}

#ifdef USERSTORE_CLI_PATH

TEST_F(RedisChangelogTest, AFollowerKilledMidStreamResumesAndConverges) {
  auto store = OpenStore(Dir("leader"));
  ASSERT_NE(store, nullptr);
  auto leader = ChangelogLeader::Start(store.get(), Log(), {});
  ASSERT_TRUE(leader.ok()) << leader.status();
  std::atomic<bool> done{false};
  std::thread writer([&] {
    for (int i = 0; i < 3000; ++i) ASSERT_TRUE(Create(store.get(), absl::StrCat("u", i)).ok());
    done = true;
  });
  {
    CoProcess follower({USERSTORE_CLI_PATH, "follow", url_, "--data-dir", Dir("f")});
    ASSERT_EQ(follower.error(), "");
    absl::SleepFor(absl::Milliseconds(300));  // when it dies does not matter; that it does
    follower.Kill();
  }
  writer.join();
  ASSERT_TRUE(done);
  ASSERT_TRUE((*leader)->Flush(absl::Seconds(30)).ok());
  CoProcess again(
      {USERSTORE_CLI_PATH, "follow", url_, "--data-dir", Dir("f"), "--until-caught-up"});
  std::string out;
  ASSERT_EQ(again.Finish(&out), 0) << out;
  EXPECT_TRUE(absl::StrContains(out, absl::StrCat("\"applied_sequence\":", store->last_sequence())))
      << out;
  // Its journal holds each sequence once, in order (verify checks it), and
  // its state is the leader's.
  CoProcess verify({USERSTORE_CLI_PATH, "verify", Dir("f")});
  std::string verified;
  EXPECT_EQ(verify.Finish(&verified), 0) << verified;
  auto follower = Follow(Dir("f"));
  ASSERT_NE(follower, nullptr);
  EXPECT_TRUE(SameState(Fingerprint(follower->store()), Fingerprint(*store)));
}

#endif  // USERSTORE_CLI_PATH

TEST_F(RedisChangelogTest, TheLogRestartedMidStreamLosesNoAcknowledgedWrite) {
  auto store = OpenStore(Dir("leader"));
  ASSERT_NE(store, nullptr);
  ChangelogOptions options;
  options.mode = ChangelogOptions::Mode::kSync;
  options.ack_timeout = absl::Milliseconds(500);
  options.retry_interval = absl::Milliseconds(50);
  auto leader = ChangelogLeader::Start(store.get(), Log(), options);
  ASSERT_TRUE(leader.ok()) << leader.status();
  std::vector<std::string> acked;
  std::vector<std::string> refused;
  std::atomic<int> progress{0};
  std::thread writer([&] {
    for (int i = 0; i < 400; ++i) {
      const std::string identity = absl::StrCat("u", i);
      const absl::Status status = Create(store.get(), identity);
      if (status.ok()) {
        acked.push_back(identity);
      } else {
        EXPECT_EQ(ErrorCodeOf(status), ErrorCode::kServiceUnavailable) << status;
        refused.push_back(identity);
      }
      ++progress;
    }
  });
  const absl::Time cap = absl::Now() + absl::Seconds(30);
  while (progress < 100 && absl::Now() < cap) absl::SleepFor(absl::Milliseconds(5));
  server_->Kill();
  absl::SleepFor(absl::Seconds(1));  // writes meanwhile answer 503 after the ack timeout
  ASSERT_TRUE(server_->Restart().ok());
  writer.join();
  ASSERT_TRUE((*leader)->Flush(absl::Seconds(30)).ok()) << (*leader)->stats().last_error;
  EXPECT_GT((*leader)->stats().retries, 0u);
  auto follower = Follow(Dir("f"));
  ASSERT_NE(follower, nullptr);
  ASSERT_TRUE(follower->CatchUp(absl::Seconds(30)).ok());
  const std::string service = follower->store().default_conversation_service_sid();
  for (const std::string& identity : acked) {
    EXPECT_TRUE(follower->store().GetUser(service, identity).ok()) << identity << " was lost";
  }
  // The writes answered 503 were kept and shipped once the log was back.
  for (const std::string& identity : refused) {
    EXPECT_TRUE(follower->store().GetUser(service, identity).ok()) << identity;
  }
  EXPECT_TRUE(SameState(Fingerprint(follower->store()), Fingerprint(*store)));
  std::printf("log restart: %zu writes acknowledged, %zu answered 503 during the outage\n",
              acked.size(), refused.size());
}

#ifdef USERSTORE_CLI_PATH

// The leader is a `userstore replay --changelog` process fed creates; it is
// killed (-9) after `count` answers; a follower is promoted.
struct FailoverResult {
  std::vector<std::string> acked;
  size_t on_new_leader = 0;
};

class RedisFailoverTest : public RedisChangelogTest {
 protected:
  FailoverResult Failover(const std::string& mode, int count) {
    FailoverResult result;
    CoProcess leader({USERSTORE_CLI_PATH, "replay", "--data-dir", Dir("leader"), "--changelog",
                      url_, "--changelog-mode", mode});
    EXPECT_EQ(leader.error(), "");
    // A follower bootstrapped while the leader runs.
    const std::string first =
        leader.Ask(R"({"method":"POST","url":"/v1/Users","form":{"Identity":"first"}})");
    EXPECT_TRUE(absl::StrContains(first, "\"status\":201")) << first;
    result.acked.push_back("first");
    auto follower = Follow(Dir("f"));
    if (follower == nullptr) return result;
    follower->Start();
    for (int i = 0; i < count; ++i) {
      const std::string identity = absl::StrCat("u", i);
      const std::string answer = leader.Ask(absl::StrCat(
          R"({"method":"POST","url":"/v1/Users","form":{"Identity":")", identity, R"("}})"));
      if (absl::StrContains(answer, "\"status\":201")) result.acked.push_back(identity);
    }
    leader.Kill();
    ChangelogOptions options;
    options.mode = ChangelogOptions::Mode::kSync;
    auto promoted = ChangelogFollower::Promote(std::move(follower), options);
    EXPECT_TRUE(promoted.ok()) << promoted.status();
    if (!promoted.ok()) return result;
    UserStore& store = *promoted->store;
    for (const std::string& identity : result.acked) {
      if (store.GetUser(store.default_conversation_service_sid(), identity).ok()) {
        ++result.on_new_leader;
      }
    }
    // The new leader writes.
    EXPECT_TRUE(Create(&store, "after-failover").ok());
    promoted->leader.reset();
    promoted->store.reset();
    // The old leader, restarted, cannot lead: it exits 1 naming the reason.
    CoProcess restarted(
        {USERSTORE_CLI_PATH, "replay", "--data-dir", Dir("leader"), "--changelog", url_});
    std::string out;
    EXPECT_EQ(restarted.Finish(&out), 1);
    return result;
  }
};

TEST_F(RedisFailoverTest, SynchronousModeLosesNoAcknowledgedWrite) {
  const FailoverResult result = Failover("sync", 500);
  EXPECT_EQ(result.acked.size(), 501u);
  EXPECT_EQ(result.on_new_leader, result.acked.size());
}

TEST_F(RedisFailoverTest, AsynchronousModeLossIsMeasured) {
  const FailoverResult result = Failover("async", 500);
  EXPECT_EQ(result.acked.size(), 501u);
  EXPECT_LE(result.on_new_leader, result.acked.size());
  std::printf(
      "asynchronous failover: %zu of %zu acknowledged writes on the new leader (%zu lost)\n",
      result.on_new_leader, result.acked.size(), result.acked.size() - result.on_new_leader);
  RecordProperty("acknowledged", static_cast<int>(result.acked.size()));
  RecordProperty("lost", static_cast<int>(result.acked.size() - result.on_new_leader));
}

#endif  // USERSTORE_CLI_PATH

TEST_F(RedisChangelogTest, ADeposedLeadersAppendIsRefusedAndReachesNoFollower) {
  auto old_store = OpenStore(Dir("leader"));
  ASSERT_NE(old_store, nullptr);
  auto old_leader = ChangelogLeader::Start(old_store.get(), Log(), {});
  ASSERT_TRUE(old_leader.ok()) << old_leader.status();
  ASSERT_TRUE(Create(old_store.get(), "before").ok());
  ASSERT_TRUE((*old_leader)->Flush(absl::Seconds(10)).ok());
  auto follower = Follow(Dir("f"));
  ASSERT_NE(follower, nullptr);
  auto promoted = ChangelogFollower::Promote(std::move(follower), {});
  ASSERT_TRUE(promoted.ok()) << promoted.status();
  // The old leader (asynchronous) accepts a write locally; its append is
  // refused and it is fenced.
  ASSERT_TRUE(Create(old_store.get(), "zombie").ok());
  EXPECT_FALSE((*old_leader)->Flush(absl::Seconds(10)).ok());
  EXPECT_TRUE((*old_leader)->stats().fenced);
  EXPECT_EQ(ErrorCodeOf(Create(old_store.get(), "zombie2")), ErrorCode::kForbidden);
  ASSERT_TRUE(Create(promoted->store.get(), "new").ok());
  ASSERT_TRUE(promoted->leader->Flush(absl::Seconds(10)).ok());
  auto reader = Follow(Dir("f2"));
  ASSERT_NE(reader, nullptr);
  ASSERT_TRUE(reader->CatchUp(absl::Seconds(10)).ok());
  const std::string service = reader->store().default_conversation_service_sid();
  EXPECT_TRUE(reader->store().GetUser(service, "before").ok());
  EXPECT_TRUE(reader->store().GetUser(service, "new").ok());
  EXPECT_FALSE(reader->store().GetUser(service, "zombie").ok());
  EXPECT_TRUE(SameState(Fingerprint(reader->store()), Fingerprint(*promoted->store)));
}

TEST_F(RedisChangelogTest, MalformedAndForeignEntriesStopTheFollower) {
  auto store = OpenStore(Dir("leader"));
  ASSERT_NE(store, nullptr);
  auto leader = ChangelogLeader::Start(store.get(), Log(), {});
  ASSERT_TRUE(leader.ok()) << leader.status();
  ASSERT_TRUE(Create(store.get(), "a").ok());
  ASSERT_TRUE((*leader)->Flush(absl::Seconds(10)).ok());
  const uint64_t at = store->last_sequence();
  leader->reset();  // a foreign writer takes over the stream's tail
  struct Case {
    std::string id, field, value;
  };
  // (the first two: one with a checksum that fails, one with no batch field)
  const std::vector<Case> cases = {
      {absl::StrCat(at + 1, "-", 1), "b", "garbage"},                     // not a batch
      {absl::StrCat(at + 2, "-", 1), "other", "USCB"},                    // no batch field
      {"99999999999999-0", "b", std::string("USCB\x01\x00\x00\x00", 8)},  // truncated
  };
  for (size_t i = 0; i < cases.size(); ++i) {
    Xadd(cases[i].id, cases[i].field, cases[i].value);
    auto follower = Follow(Dir(absl::StrCat("f", i)));
    ASSERT_NE(follower, nullptr);
    const std::string before = Fingerprint(follower->store());
    absl::Status status = follower->CatchUp(absl::Seconds(10));
    ASSERT_FALSE(status.ok()) << "case " << i;
    EXPECT_TRUE(absl::IsDataLoss(status)) << status;
    EXPECT_TRUE(absl::StrContains(status.message(), "users-p0")) << status;
    EXPECT_EQ(follower->store().last_sequence(), at) << status;
    Xdel(cases[i].id);  // the next case meets only its own entry
  }
}

}  // namespace
}  // namespace userstore
