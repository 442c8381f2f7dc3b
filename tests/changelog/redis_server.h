// A real redis-server for the changelog's tests: a child process listening
// only on a unix socket in a fresh temporary directory (no TCP port), which
// is also its data directory. Optionally append-only with an fsync per write
// (`appendonly`), so that a restart keeps everything it acknowledged.
//
// Usage, in a fixture's SetUp():
//   if (RedisServer::Binary().empty()) GTEST_SKIP() << RedisServer::kNotFound;
//   server_ = std::make_unique<RedisServer>(/*appendonly=*/false);
//   ASSERT_TRUE(server_->Start().ok());
//
// Not thread-safe: one thread drives a RedisServer.

#ifndef USERSTORE_TESTS_CHANGELOG_REDIS_SERVER_H_
#define USERSTORE_TESTS_CHANGELOG_REDIS_SERVER_H_

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include <hiredis/hiredis.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

namespace userstore_testing {

class RedisServer {
 public:
  static constexpr char kNotFound[] =
      "redis-server is not installed (looked on PATH, in /usr/bin and /usr/sbin); "
      "the changelog's Redis tests need it (.ci/setup installs it)";

  // The redis-server executable: the first on PATH, else /usr/bin's or
  // /usr/sbin's; "" when there is none.
  static std::string Binary() {
    std::vector<std::string> dirs;
    if (const char* path = std::getenv("PATH"); path != nullptr) {
      for (absl::string_view dir : absl::StrSplit(path, ':', absl::SkipEmpty())) {
        dirs.emplace_back(dir);
      }
    }
    dirs.emplace_back("/usr/bin");
    dirs.emplace_back("/usr/sbin");
    for (const std::string& dir : dirs) {
      const std::string candidate = dir + "/redis-server";
      if (access(candidate.c_str(), X_OK) == 0) return candidate;
    }
    return "";
  }

  explicit RedisServer(bool appendonly) : appendonly_(appendonly) {}
  ~RedisServer() {
    Kill();
    if (!dir_.empty()) {
      std::error_code ignored;
      std::filesystem::remove_all(dir_, ignored);
    }
  }

  RedisServer(const RedisServer&) = delete;
  RedisServer& operator=(const RedisServer&) = delete;

  // Starts the server (in a new directory the first time, in the same one
  // after Stop() or Kill()) and waits, up to 10 s, until it answers PING.
  // Errors: the reason, with the end of the server's log.
  absl::Status Start() {
    if (pid_ > 0) return absl::FailedPreconditionError("redis-server is already running");
    const std::string binary = Binary();
    if (binary.empty()) return absl::NotFoundError(kNotFound);
    if (dir_.empty()) {
      // A short path: a unix socket's path holds at most 107 bytes.
      std::string base = "/tmp";
      if (const char* tmp = std::getenv("TMPDIR");
          tmp != nullptr && *tmp != '\0' && std::string(tmp).size() < 60) {
        base = tmp;
      }
      std::string pattern = base + "/userstore-redis-XXXXXX";
      if (mkdtemp(pattern.data()) == nullptr) {
        return absl::InternalError(absl::StrCat("mkdtemp ", pattern, ": ", std::strerror(errno)));
      }
      dir_ = pattern;
    }
    // clang-format off
    std::vector<std::string> args = {
        binary,
        "--port", "0",  // no TCP
        "--unixsocket", socket_path(), "--unixsocketperm", "700",
        "--dir", dir_, "--logfile", dir_ + "/redis.log",
        "--save", "", "--daemonize", "no",
        "--appendonly", appendonly_ ? "yes" : "no", "--appendfsync", "always"};
    // clang-format on
    std::vector<char*> argv;
    for (std::string& arg : args) argv.push_back(arg.data());
    argv.push_back(nullptr);
    const pid_t pid = fork();
    if (pid < 0) return absl::InternalError(absl::StrCat("fork: ", std::strerror(errno)));
    if (pid == 0) {
      // The server dies with the test, however the test ends.
      prctl(PR_SET_PDEATHSIG, SIGKILL);
      execv(argv[0], argv.data());
      _exit(127);
    }
    pid_ = pid;
    const absl::Time deadline = absl::Now() + absl::Seconds(10);
    for (;;) {
      if (Ping()) return absl::OkStatus();
      int wstatus = 0;
      if (waitpid(pid_, &wstatus, WNOHANG) == pid_) {
        pid_ = -1;
        return absl::InternalError(
            absl::StrCat("redis-server exited at start (status ", wstatus, "): ", LogTail()));
      }
      if (absl::Now() > deadline) {
        Kill();
        return absl::DeadlineExceededError(
            absl::StrCat("redis-server did not answer PING within 10 s: ", LogTail()));
      }
      // Polls for readiness; the deadline above bounds it.
      absl::SleepFor(absl::Milliseconds(10));
    }
  }

  // Stops the server with SIGTERM (it syncs its append-only file) and waits
  // for it.
  void Stop() { Signal(SIGTERM); }

  // Kills the server with SIGKILL and waits for it.
  void Kill() { Signal(SIGKILL); }

  // Stop(), then Start() on the same socket and data directory.
  absl::Status Restart() {
    Stop();
    return Start();
  }

  bool running() const { return pid_ > 0; }
  std::string socket_path() const { return dir_ + "/redis.sock"; }
  std::string dir() const { return dir_; }

  // The changelog URL of `stream` on this server.
  std::string Url(const std::string& stream) const {
    return absl::StrCat("redis+unix://", socket_path(), "?stream=", stream);
  }

  // Runs one command on a connection of its own; the reply as text (an
  // integer in decimal, an error prefixed "ERR! "), "" on failure.
  std::string Run(const std::vector<std::string>& args) const {
    redisContext* context = Connect();
    if (context == nullptr) return "";
    std::vector<const char*> argv;
    std::vector<size_t> lengths;
    for (const std::string& arg : args) {
      argv.push_back(arg.data());
      lengths.push_back(arg.size());
    }
    auto* reply = static_cast<redisReply*>(
        redisCommandArgv(context, static_cast<int>(argv.size()), argv.data(), lengths.data()));
    std::string out;
    if (reply != nullptr) {
      if (reply->type == REDIS_REPLY_INTEGER) {
        out = std::to_string(reply->integer);
      } else if (reply->type == REDIS_REPLY_ERROR) {
        out = absl::StrCat("ERR! ", std::string(reply->str, reply->len));
      } else if (reply->str != nullptr) {
        out = std::string(reply->str, reply->len);
      }
      freeReplyObject(reply);
    }
    redisFree(context);
    return out;
  }

  // Waits, up to 10 s, until `count` clients are blocked (in XREAD BLOCK).
  bool WaitForBlockedClients(int count) const {
    const std::string wanted = absl::StrCat("blocked_clients:", count, "\r");
    const absl::Time deadline = absl::Now() + absl::Seconds(10);
    while (absl::Now() < deadline) {
      if (Run({"INFO", "clients"}).find(wanted) != std::string::npos) return true;
      absl::SleepFor(absl::Milliseconds(2));
    }
    return false;
  }

 private:
  redisContext* Connect() const {
    struct timeval timeout = {1, 0};
    redisContext* context = redisConnectUnixWithTimeout(socket_path().c_str(), timeout);
    if (context == nullptr) return nullptr;
    if (context->err != 0) {
      redisFree(context);
      return nullptr;
    }
    redisSetTimeout(context, timeout);
    return context;
  }

  bool Ping() const { return Run({"PING"}) == "PONG"; }

  void Signal(int signal) {
    if (pid_ <= 0) return;
    kill(pid_, signal);
    int wstatus = 0;
    while (waitpid(pid_, &wstatus, 0) < 0 && errno == EINTR) {
    }
    pid_ = -1;
  }

  std::string LogTail() const {
    std::ifstream in(dir_ + "/redis.log");
    std::stringstream text;
    text << in.rdbuf();
    std::string log = text.str();
    if (log.size() > 2000) log = log.substr(log.size() - 2000);
    return log.empty() ? "(empty log)" : log;
  }

  const bool appendonly_;
  std::string dir_;
  pid_t pid_ = -1;
};

}  // namespace userstore_testing

#endif  // USERSTORE_TESTS_CHANGELOG_REDIS_SERVER_H_
