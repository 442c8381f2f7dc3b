// kill -9: a child process writes at full speed to a durable store and
// reports each acknowledged write on a pipe; the parent kills it at a random
// moment, reopens the directory, and checks that every acknowledged write is
// there and that the state is exactly the state after some prefix of the
// writes issued. The same directory goes through every round, so recovery
// also recovers what earlier recoveries left (and automatic checkpoints,
// forked where the build allows, are killed mid-way too).
//
// The directory is on /dev/shm when there is one (see the test).
//
// Bounded: USERSTORE_KILL_ROUNDS rounds (default 200) or
// USERSTORE_KILL_SECONDS seconds (default 40), whichever comes first.

#include <cstdint>
#include <cstdlib>
#include <random>
#include <string>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "tests/durable/durable_testing.h"
#include "tests/testing/tsan_absl_mutex.h"  // TSan builds: absl::Mutex made visible
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "userstore/durable.h"
#include "userstore/user_store.h"

namespace userstore {
namespace {

int EnvInt(const char* name, int fallback) {
  const char* value = std::getenv(name);
  int parsed = 0;
  return value != nullptr && absl::SimpleAtoi(value, &parsed) ? parsed : fallback;
}

DurableOptions OptionsFor(int round) {
  DurableOptions options;
  options.store.seed = 11;
  options.segment_bytes = 1 << 20;
  options.checkpoint_min_journal_bytes = 128 << 10;  // checkpoints get killed too
  options.checkpoint_ratio = 0.5;
  switch (round % 3) {
    case 0:
      options.durability = Durability::kBackgroundSync;
      options.sync_interval = absl::Milliseconds(5);
      break;
    case 1:
      options.durability = Durability::kSyncEachWrite;
      break;
    default:
      options.durability = Durability::kNoSync;
      break;
  }
  return options;
}

// The child: writes user i (i = the users already there, onward), and every
// third write updates user i - 1 instead of creating, reporting i on `out`
// after each acknowledged write. Never returns.
[[noreturn]] void Writer(const std::string& dir, int round, int out) {
  auto store = OpenUserStore(dir, OptionsFor(round));
  if (!store.ok()) _exit(10);
  const std::string service = (*store)->default_conversation_service_sid();
  int64_t next = *(*store)->CountUsers(service);
  for (uint64_t n = 0;; ++n) {
    uint64_t report;
    if (n % 3 == 2 && next > 0) {
      UpdateUserRequest update;
      update.attributes = absl::StrCat("{\"i\":", next - 1, ",\"u\":", n, "}");
      if (!(*store)->UpdateUser(service, absl::StrCat("u", next - 1), update).ok()) _exit(11);
      report = (uint64_t{1} << 63) | static_cast<uint64_t>(next - 1);
    } else {
      CreateUserRequest create;
      create.identity = absl::StrCat("u", next);
      create.attributes = absl::StrCat("{\"i\":", next, "}");
      if (!(*store)->CreateUser(service, create).ok()) _exit(12);
      report = static_cast<uint64_t>(next++);
    }
    if (write(out, &report, sizeof report) != sizeof report) _exit(13);
  }
}

TEST(KillTest, EveryAcknowledgedWriteSurvivesKill9AndTheStateIsAPrefix) {
  // In memory where the machine has a tmpfs: a kill -9 loses nothing that
  // reached the page cache, whatever the file system, and without syncs that
  // take a disk's time each round there are many more kill points.
  durable_testing::TempDir dir("/dev/shm");
  const int rounds = EnvInt("USERSTORE_KILL_ROUNDS", 200);
  const absl::Time deadline = absl::Now() + absl::Seconds(EnvInt("USERSTORE_KILL_SECONDS", 40));
  std::mt19937_64 random(12345);
  int64_t acked_creates = 0;  // users u0 .. u(acked_creates - 1) were acknowledged
  int done = 0;
  for (int round = 0; round < rounds && (round < 10 || absl::Now() < deadline); ++round) {
    SCOPED_TRACE(absl::StrCat("round ", round));
    int fds[2];
    ASSERT_EQ(pipe(fds), 0);
    const pid_t child = fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
      close(fds[0]);
      Writer(dir.path(), round, fds[1]);
    }
    close(fds[1]);
    // Let it write for a random while after its first acknowledgement.
    const absl::Duration run =
        absl::Milliseconds(std::uniform_int_distribution<int>(1, 40)(random));
    absl::Time kill_at = absl::InfiniteFuture();
    uint64_t report = 0;
    for (;;) {
      const absl::Duration left = kill_at - absl::Now();
      if (left <= absl::ZeroDuration()) break;
      pollfd p{fds[0], POLLIN, 0};
      const int timeout_ms = kill_at == absl::InfiniteFuture()
                                 ? 30000
                                 : static_cast<int>(absl::ToInt64Milliseconds(left)) + 1;
      const int ready = poll(&p, 1, timeout_ms);
      ASSERT_GE(ready, 0);
      if (ready == 0 && kill_at == absl::InfiniteFuture()) FAIL() << "the writer never wrote";
      if (ready == 0) break;
      const ssize_t got = read(fds[0], &report, sizeof report);
      if (got <= 0) break;  // the writer died on its own: its status says why
      if ((report >> 63) == 0) acked_creates = std::max<int64_t>(acked_creates, report + 1);
      if (kill_at == absl::InfiniteFuture()) kill_at = absl::Now() + run;
    }
    kill(child, SIGKILL);
    int status = 0;
    ASSERT_EQ(waitpid(child, &status, 0), child);
    ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL)
        << "the writer exited by itself, status " << status;
    // Acknowledgements already in the pipe count: they were given.
    while (read(fds[0], &report, sizeof report) == sizeof report) {
      if ((report >> 63) == 0) acked_creates = std::max<int64_t>(acked_creates, report + 1);
    }
    close(fds[0]);

    RecoveryReport recovery;
    auto store = OpenUserStore(dir.path(), OptionsFor(round), &recovery);
    ASSERT_TRUE(store.ok()) << store.status();
    const std::string service = (*store)->default_conversation_service_sid();
    const int64_t count = *(*store)->CountUsers(service);
    // Every acknowledged create is there; at most the one in flight beyond.
    ASSERT_GE(count, acked_creates);
    ASSERT_LE(count, acked_creates + 1);
    // Users u0 .. u(count-1), in that order, and no other: a prefix.
    ListRequest list;
    list.page_size = 1000;
    int64_t expected = 0;
    for (;;) {
      auto page = (*store)->ListUsers(service, list);
      ASSERT_TRUE(page.ok()) << page.status();
      for (const User& user : page->items) {
        ASSERT_EQ(user.identity, absl::StrCat("u", expected));
        // Written whole or not at all: a create's or an update's attributes.
        ASSERT_TRUE(user.attributes.rfind(absl::StrCat("{\"i\":", expected), 0) == 0)
            << user.attributes;
        ++expected;
      }
      if (page->next_page_token.empty()) break;
      list.page_token = page->next_page_token;
    }
    ASSERT_EQ(expected, count);
    ASSERT_TRUE((*store)->CheckInvariants().ok());
    acked_creates = count;  // the next round continues from what is there
    ++done;
  }
  EXPECT_GE(done, 10);
  std::printf("kill -9 rounds: %d, users at the end: %lld\n", done,
              static_cast<long long>(acked_creates));
}

}  // namespace
}  // namespace userstore
