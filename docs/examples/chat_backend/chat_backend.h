// A small chat backend, the kind of code userstore's testing kit is for: it
// talks to Twilio's Programmable Chat v2 Users API over HTTP, and its tests
// (chat_backend_test.cc) run it against userstore instead of Twilio.
// docs/testing.md walks through both files.
//
// What it does:
//   - Login() makes a player's chat user on their first login (Twilio's
//     "first time an identity is encountered" rule, done by the client), and
//     finds it on every later one, also when two first logins race;
//   - Rename() and Forget() change and delete it;
//   - a 429 answer is retried, after waiting what `Retry-After` says (or an
//     exponential backoff when there is none), up to `max_attempts` calls;
//   - Twilio's error codes become the backend's own `ChatError`.
//
// It knows nothing of userstore: only the `HttpClient` and `Sleeper`
// interfaces below, which production code implements with an HTTPS client and
// a real sleep, and tests with userstore's Dispatcher and a ManualClock.
//
// Thread safety: a ChatBackend may be used from many threads at once if its
// HttpClient and Sleeper may.

#ifndef USERSTORE_DOCS_EXAMPLES_CHAT_BACKEND_CHAT_BACKEND_H_
#define USERSTORE_DOCS_EXAMPLES_CHAT_BACKEND_CHAT_BACKEND_H_

#include <string>
#include <utility>
#include <vector>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace chat_backend {

// One HTTP request to Twilio.
struct HttpCall {
  std::string method;  // "GET", "POST", "DELETE"
  std::string url;     // absolute, "https://chat.twilio.com/v2/..."
  std::vector<std::pair<std::string, std::string>> form;  // a POST's form fields
};

// Its answer.
struct HttpReply {
  int status = 0;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;  // Twilio's JSON
};

// How the backend reaches Twilio. Production: an HTTPS client with the
// account's credentials. Must not fail: a transport error is a 5xx reply.
class HttpClient {
 public:
  virtual ~HttpClient() = default;
  virtual HttpReply Send(const HttpCall& call) = 0;
};

// How the backend waits before a retry. Production: a real sleep.
class Sleeper {
 public:
  virtual ~Sleeper() = default;
  virtual void Sleep(absl::Duration duration) = 0;
};

// The backend's errors, what its callers (a game's login screen) act on.
enum class ChatError {
  kOk = 0,
  kInvalidIdentity,     // Twilio 50204, 50206, 50207, 20001 on the identity
  kInvalidDisplayName,  // Twilio 50003
  kNotFound,            // Twilio 20404
  kBusy,                // still 429 after `max_attempts` calls
  kUnavailable,         // Twilio 5xx
  kInternal,            // anything else
};

// "kOk", "kInvalidIdentity", ...
const char* ChatErrorName(ChatError error);

// A player's chat user.
struct Profile {
  std::string user_sid;
  std::string identity;
  std::string display_name;  // Twilio's FriendlyName; empty when null
  bool created = false;      // made by this Login()
};

class ChatBackend {
 public:
  struct Options {
    // The Chat service (IS...) users live in.
    std::string service_sid;
    // Calls made for one request, the first included, before kBusy.
    int max_attempts = 4;
    // The first wait after a 429 without Retry-After; doubled each time.
    absl::Duration backoff = absl::Milliseconds(500);
  };

  // `http` and `sleeper` are not owned and must outlive the backend.
  ChatBackend(HttpClient* http, Sleeper* sleeper, Options options);

  // Finds the user `identity`, or creates it with `display_name` when there
  // is none. Fills `profile` when the result is kOk.
  ChatError Login(absl::string_view identity, absl::string_view display_name, Profile* profile);

  // Sets the display name of an existing user.
  ChatError Rename(absl::string_view identity, absl::string_view display_name);

  // Deletes the user.
  ChatError Forget(absl::string_view identity);

 private:
  // Sends `call`, retrying 429s as the file comment says.
  HttpReply Send(const HttpCall& call);
  std::string UsersUrl() const;
  std::string UserUrl(absl::string_view identity) const;

  HttpClient* http_;
  Sleeper* sleeper_;
  Options options_;
};

}  // namespace chat_backend

#endif  // USERSTORE_DOCS_EXAMPLES_CHAT_BACKEND_CHAT_BACKEND_H_
