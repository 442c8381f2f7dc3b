// RedisLog's connection (redis_log.h): the one connection to the server,
// its timeouts, and commands written and their replies read. The handshake
// (EnsureConnected: the version check and the scripts) and the log's
// operations are in redis_log.cc.

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <new>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include <hiredis/hiredis.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <sys/uio.h>
#include <time.h>

#include "userstore/status.h"

#include "core/changelog/redis_log.h"

namespace userstore {
namespace internal {
namespace changelog {
namespace {

// Blocks SIGPIPE on the calling thread for the object's lifetime; a SIGPIPE
// raised meanwhile (a write to a socket the server closed) is consumed, so
// it neither ends the process nor reaches a handler later.
class ScopedSigpipeBlock {
 public:
  ScopedSigpipeBlock() {
    sigemptyset(&pipe_);
    sigaddset(&pipe_, SIGPIPE);
    sigset_t pending;
    sigemptyset(&pending);
    sigpending(&pending);
    was_pending_ = sigismember(&pending, SIGPIPE) == 1;
    pthread_sigmask(SIG_BLOCK, &pipe_, &old_);
  }
  ~ScopedSigpipeBlock() {
    if (!was_pending_) {
      sigset_t pending;
      sigemptyset(&pending);
      sigpending(&pending);
      if (sigismember(&pending, SIGPIPE) == 1) {
        const struct timespec zero = {0, 0};
        sigtimedwait(&pipe_, nullptr, &zero);
      }
    }
    pthread_sigmask(SIG_SETMASK, &old_, nullptr);
  }

  ScopedSigpipeBlock(const ScopedSigpipeBlock&) = delete;
  ScopedSigpipeBlock& operator=(const ScopedSigpipeBlock&) = delete;

 private:
  sigset_t pipe_;
  sigset_t old_;
  bool was_pending_ = false;
};

}  // namespace

void RedisLog::ReplyDeleter::operator()(redisReply* reply) const { freeReplyObject(reply); }

absl::Status RedisLog::Unavailable(absl::string_view what) const {
  return MakeError(ErrorCode::kServiceUnavailable, absl::StrCat(url_, ": ", what));
}

void RedisLog::Disconnect() {
  if (context_ != nullptr) redisFree(context_);
  context_ = nullptr;
  watched_last_.clear();  // a WATCH lives and dies with its connection
}

absl::Status RedisLog::IoError(absl::string_view doing, absl::string_view why) {
  const std::string reason = !why.empty()                  ? std::string(why)
                             : context_->errstr[0] != '\0' ? context_->errstr
                                                           : "connection lost";
  Disconnect();
  return Unavailable(absl::StrCat(doing, ": ", reason));
}

absl::Status RedisLog::SetSocketTimeout(absl::Duration timeout) {
  if (timeout == socket_timeout_) return absl::OkStatus();
  if (redisSetTimeout(context_, absl::ToTimeval(timeout)) != REDIS_OK) {
    const std::string why = context_->errstr;
    Disconnect();
    return Unavailable(absl::StrCat("cannot set the socket timeout: ", why));
  }
  socket_timeout_ = timeout;
  return absl::OkStatus();
}

absl::StatusOr<std::vector<RedisLog::Reply>> RedisLog::Pipeline(
    const std::vector<std::vector<absl::string_view>>& commands, absl::Duration timeout) {
  // A connection made by an earlier call may have been closed by the server
  // since (a restart, a failover, an idle timeout). When sending on it fails,
  // the server has not received the whole of any command but those before
  // (only PutCheckpoint sends several, inside MULTI, which a lost connection
  // discards; the watched append, whose WATCH a new connection would not
  // have, calls SendAndReceive): the commands are sent once more on a new
  // connection. A
  // failure after sending is not retried (the server may have run them).
  for (int attempt = 0;; ++attempt) {
    const bool reused = context_ != nullptr;
    size_t sent = 0;
    absl::StatusOr<std::vector<Reply>> replies = SendAndReceive(commands, timeout, &sent);
    if (replies.ok() || sent == commands.size() || !reused || attempt > 0) return replies;
  }
}

absl::StatusOr<std::vector<RedisLog::Reply>> RedisLog::SendAndReceive(
    const std::vector<std::vector<absl::string_view>>& commands, absl::Duration timeout,
    size_t* sent) {
  *sent = 0;
  absl::Status status = EnsureConnected();
  if (!status.ok()) return status;
  status = SetSocketTimeout(timeout);
  if (!status.ok()) return status;

  ScopedSigpipeBlock no_sigpipe;
#if defined(__cpp_exceptions)
  try {
#endif
    for (const std::vector<absl::string_view>& command : commands) {
      absl::Status written = WriteCommand(command);
      if (!written.ok()) return written;
      ++*sent;
    }
    std::vector<Reply> replies;
    replies.reserve(commands.size());
    for (const std::vector<absl::string_view>& command : commands) {
      void* reply = nullptr;
      if (redisGetReply(context_, &reply) != REDIS_OK || reply == nullptr) {
        if (reply != nullptr) freeReplyObject(reply);
        return IoError(command[0]);
      }
      replies.emplace_back(static_cast<redisReply*>(reply));
    }
    return replies;
#if defined(__cpp_exceptions)
  } catch (const std::bad_alloc&) {
    // Out of memory between two commands, or before their replies are read:
    // the connection is in the middle of the exchange, and its next command
    // would read a reply meant for another. Dropped; the caller's next
    // command connects anew (a WATCH is lost with it, as on any drop).
    Disconnect();
    throw;
  }
#endif
}

absl::Status RedisLog::WriteCommand(const std::vector<absl::string_view>& command) {
  // RESP: *<n>\r\n, then $<len>\r\n<bytes>\r\n per argument. The headers
  // (and arguments under 32 bytes) go in one buffer; larger arguments are
  // written from the caller's bytes. iov_ is filled once header_ is
  // complete (its data no longer moves): a header piece is recorded as an
  // offset into it first (iov_base null), an argument as its bytes.
  header_.clear();
  iov_.clear();
  pieces_from_.clear();
  auto header_piece = [this](size_t from) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (header_.size() > from) {
      iov_.push_back({nullptr, header_.size() - from});
      pieces_from_.push_back(from);
    }
  };
  absl::StrAppend(&header_, "*", command.size(), "\r\n");
  size_t from = 0;
  for (absl::string_view arg : command) {
    absl::StrAppend(&header_, "$", arg.size(), "\r\n");
    if (arg.size() < 32) {
      header_.append(arg.data(), arg.size());
      header_.append("\r\n");
      continue;
    }
    header_piece(from);
    iov_.push_back({const_cast<char*>(arg.data()), arg.size()});
    from = header_.size();
    header_.append("\r\n");
  }
  header_piece(from);
  for (size_t i = 0, h = 0; i < iov_.size(); ++i) {
    if (iov_[i].iov_base == nullptr) iov_[i].iov_base = header_.data() + pieces_from_[h++];
  }

  size_t at = 0;  // the first iovec not written whole
  while (at < iov_.size()) {
    const int count = static_cast<int>(std::min<size_t>(iov_.size() - at, IOV_MAX));
    const ssize_t n = ::writev(context_->fd, iov_.data() + at, count);
    if (n < 0) {
      if (errno == EINTR) continue;
      const int error = errno;
      return IoError(command[0],
                     error == EAGAIN || error == EWOULDBLOCK ? "timed out" : std::strerror(error));
    }
    size_t left = static_cast<size_t>(n);
    while (at < iov_.size() && left >= iov_[at].iov_len) left -= iov_[at++].iov_len;
    if (left > 0) {
      iov_[at].iov_base = static_cast<char*>(iov_[at].iov_base) + left;
      iov_[at].iov_len -= left;
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<RedisLog::Reply> RedisLog::Command(const std::vector<absl::string_view>& args,
                                                  absl::Duration timeout) {
  absl::StatusOr<std::vector<Reply>> replies = Pipeline({args}, timeout);
  if (!replies.ok()) return replies.status();
  return std::move((*replies)[0]);
}

}  // namespace changelog
}  // namespace internal
}  // namespace userstore
