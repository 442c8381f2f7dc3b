// The chat backend of docs/testing.md (chat_backend.h).

#include "chat_backend.h"

#include <cstdint>
#include <string>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "rapidjson/document.h"

namespace chat_backend {
namespace {

rapidjson::Document Parse(const std::string& body) {
  rapidjson::Document json;
  json.Parse(body.c_str(), body.size());
  if (json.HasParseError()) json.SetObject();
  return json;
}

std::string StringMember(const rapidjson::Document& json, const char* name) {
  if (!json.IsObject() || !json.HasMember(name) || !json[name].IsString()) return "";
  return json[name].GetString();
}

int IntMember(const rapidjson::Document& json, const char* name) {
  if (!json.IsObject() || !json.HasMember(name) || !json[name].IsInt()) return 0;
  return json[name].GetInt();
}

// A user's JSON as a Profile.
Profile ProfileOf(const HttpReply& reply, bool created) {
  const rapidjson::Document json = Parse(reply.body);
  return {StringMember(json, "sid"), StringMember(json, "identity"),
          StringMember(json, "friendly_name"), created};
}

// Twilio's error body as the backend's error.
ChatError ErrorOf(const HttpReply& reply) {
  if (reply.status >= 200 && reply.status < 300) return ChatError::kOk;
  if (reply.status == 429) return ChatError::kBusy;
  if (reply.status >= 500) return ChatError::kUnavailable;
  switch (IntMember(Parse(reply.body), "code")) {
    case 20404:
      return ChatError::kNotFound;
    case 20001:
    case 50204:
    case 50206:
    case 50207:
      return ChatError::kInvalidIdentity;
    case 50003:
      return ChatError::kInvalidDisplayName;
    default:
      return ChatError::kInternal;
  }
}

// The seconds of a `Retry-After: <seconds>` header, if the reply has one.
bool RetryAfter(const HttpReply& reply, absl::Duration* wait) {
  for (const auto& [name, value] : reply.headers) {
    int64_t seconds = 0;
    if (absl::EqualsIgnoreCase(name, "Retry-After") &&
        absl::SimpleAtoi(absl::StripAsciiWhitespace(value), &seconds) && seconds >= 0) {
      *wait = absl::Seconds(seconds);
      return true;
    }
  }
  return false;
}

std::string PercentEncode(absl::string_view text) {
  std::string out;
  for (unsigned char c : text) {
    if (absl::ascii_isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      absl::StrAppend(&out, "%", absl::Hex(c, absl::kZeroPad2));
    }
  }
  return out;
}

}  // namespace

const char* ChatErrorName(ChatError error) {
  switch (error) {
    case ChatError::kOk:
      return "kOk";
    case ChatError::kInvalidIdentity:
      return "kInvalidIdentity";
    case ChatError::kInvalidDisplayName:
      return "kInvalidDisplayName";
    case ChatError::kNotFound:
      return "kNotFound";
    case ChatError::kBusy:
      return "kBusy";
    case ChatError::kUnavailable:
      return "kUnavailable";
    case ChatError::kInternal:
      return "kInternal";
  }
  return "unknown";
}

ChatBackend::ChatBackend(HttpClient* http, Sleeper* sleeper, Options options)
    : http_(http), sleeper_(sleeper), options_(std::move(options)) {}

ChatError ChatBackend::Login(absl::string_view identity, absl::string_view display_name,
                             Profile* profile) {
  // Twilio creates no user by itself: fetch, and create on the first login.
  // Two first logins may race; the loser's create meets 409/50201 and
  // fetches the winner's user.
  HttpReply reply = Send({"GET", UserUrl(identity), {}});
  if (reply.status == 404) {
    reply =
        Send({"POST",
              UsersUrl(),
              {{"Identity", std::string(identity)}, {"FriendlyName", std::string(display_name)}}});
    if (reply.status == 201) {
      *profile = ProfileOf(reply, /*created=*/true);
      return ChatError::kOk;
    }
    if (reply.status == 409) reply = Send({"GET", UserUrl(identity), {}});
  }
  const ChatError error = ErrorOf(reply);
  if (error == ChatError::kOk) *profile = ProfileOf(reply, /*created=*/false);
  return error;
}

ChatError ChatBackend::Rename(absl::string_view identity, absl::string_view display_name) {
  return ErrorOf(Send({"POST", UserUrl(identity), {{"FriendlyName", std::string(display_name)}}}));
}

ChatError ChatBackend::Forget(absl::string_view identity) {
  return ErrorOf(Send({"DELETE", UserUrl(identity), {}}));
}

HttpReply ChatBackend::Send(const HttpCall& call) {
  absl::Duration backoff = options_.backoff;
  HttpReply reply = http_->Send(call);
  for (int attempt = 1; reply.status == 429 && attempt < options_.max_attempts; ++attempt) {
    absl::Duration wait = backoff;
    if (!RetryAfter(reply, &wait)) backoff *= 2;
    sleeper_->Sleep(wait);
    reply = http_->Send(call);
  }
  return reply;
}

std::string ChatBackend::UsersUrl() const {
  return absl::StrCat("https://chat.twilio.com/v2/Services/", options_.service_sid, "/Users");
}

std::string ChatBackend::UserUrl(absl::string_view identity) const {
  return absl::StrCat(UsersUrl(), "/", PercentEncode(identity));
}

}  // namespace chat_backend
