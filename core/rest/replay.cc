#include "core/rest/replay.h"

#include <algorithm>
#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "rapidjson/error/en.h"
#include "rapidjson/memorystream.h"
#include "rapidjson/reader.h"
#include "rapidjson/stringbuffer.h"
#include "rapidjson/writer.h"

#include "userstore/fault_injection.h"
#include "userstore/status.h"

#include "core/rest/render.h"
#include "core/time_format.h"

namespace userstore {
namespace internal {
namespace {

absl::Status BadLine(absl::string_view why) {
  return userstore::InvalidParameterError(absl::StrCat("Invalid replay line: ", why));
}

// Reads a replay line as SAX events, keeping only what a request has: no DOM
// of the line is built and no nesting deeper than the protocol's own
// (line object > form object > array of values) is followed, so memory stays
// a small multiple of the line whatever it holds. The form is encoded as it
// is read. Returning false stops the parse at once; `error` then says why.
// A member seen twice is read the first time and skipped after, as a JSON
// object lookup would; unknown members are skipped.
class LineHandler : public rapidjson::BaseReaderHandler<rapidjson::UTF8<>, LineHandler> {
 public:
  static constexpr int kMaxDepth = 3;
  static constexpr size_t kMaxControlString = 4096;

  bool Null() {
    Control(ControlValue());
    return Scalar(Kind::kNull, {});
  }
  bool Bool(bool b) {
    ControlValue v;
    v.type = ControlValue::Type::kBool;
    v.b = b;
    Control(std::move(v));
    return Scalar(Kind::kOther, {});
  }
  bool Int(int i) { return Int64(i); }
  bool Uint(unsigned u) { return Uint64(u); }
  bool Int64(int64_t i) {
    ControlValue v;
    v.type = ControlValue::Type::kInt;
    v.i = i;
    v.u = i >= 0 ? static_cast<uint64_t>(i) : 0;
    v.d = static_cast<double>(i);
    Control(std::move(v));
    return Scalar(Kind::kOther, {});
  }
  bool Uint64(uint64_t u) {
    if (u <= static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
      return Int64(static_cast<int64_t>(u));
    }
    ControlValue v;
    v.type = ControlValue::Type::kUint;
    v.u = u;
    v.d = static_cast<double>(u);
    Control(std::move(v));
    return Scalar(Kind::kOther, {});
  }
  bool Double(double d) {
    ControlValue v;
    v.type = ControlValue::Type::kDouble;
    v.d = d;
    Control(std::move(v));
    return Scalar(Kind::kOther, {});
  }
  bool RawNumber(const char*, rapidjson::SizeType, bool) { return Scalar(Kind::kOther, {}); }
  bool String(const char* s, rapidjson::SizeType n, bool) {
    if (depth_ == 1 && member_ == Member::kControl) {
      // Kept only up to a bound: until the line ends it is not known to be a
      // control line, and a request's unknown members cost no copy.
      ControlValue v;
      v.type = ControlValue::Type::kString;
      if (n <= kMaxControlString) {
        v.s.assign(s, n);
      } else {
        v.too_long = true;
      }
      Control(std::move(v));
    }
    return Scalar(Kind::kString, absl::string_view(s, n));
  }

  bool Key(const char* s, rapidjson::SizeType n, bool) {
    const absl::string_view key(s, n);
    if (depth_ == 1) {
      member_ = Member::kSkip;
      if (key == "method" && !has_method_) member_ = Member::kMethod;
      if (key == "url" && !has_url_) member_ = Member::kUrl;
      if (key == "headers" && !has_headers_) member_ = Member::kHeaders;
      if (key == "form" && !has_form_) member_ = Member::kForm;
      if (member_ == Member::kSkip && IsControlKey(key) && control_.Find(key) == nullptr &&
          !(key == "control" && has_control_)) {
        member_ = Member::kControl;
        control_key_.assign(key.data(), key.size());
      }
    } else {
      key_.assign(key.data(), key.size());
    }
    return true;
  }

  bool StartObject() {
    if (depth_ == 0) return Enter();
    if (depth_ == 1 && member_ == Member::kHeaders) {
      has_headers_ = true;
      in_ = In::kHeaders;
      return Enter();
    }
    if (depth_ == 1 && member_ == Member::kForm) {
      has_form_ = true;
      in_ = In::kForm;
      return Enter();
    }
    if (!CheckContainer()) return false;
    return Enter();
  }
  bool EndObject(rapidjson::SizeType) { return Leave(); }
  bool StartArray() {
    if (depth_ == 0) return Fail("expected a JSON object");
    if (depth_ == 2 && in_ == In::kForm) {
      in_ = In::kFormArray;
      return Enter();
    }
    if (!CheckContainer()) return false;
    return Enter();
  }
  bool EndArray(rapidjson::SizeType) { return Leave(); }

  // After a successful parse: the request or control line, or what is wrong
  // with it.
  absl::StatusOr<ReplayInput> Finish() {
    ReplayInput input;
    if (has_control_) {
      const ControlValue* name = control_.Find("control");
      if (name->type != ControlValue::Type::kString || name->too_long) {
        return BadLine("\"control\" must be a string");
      }
      if (has_url_) return BadLine("a line has either \"control\" or \"url\", not both");
      input.is_control = true;
      input.control = std::move(control_);
      input.control.name = name->s;
      if (has_method_) input.control.method = std::move(request_.method);
      return input;
    }
    absl::StatusOr<HttpRequest> request = FinishRequest();
    if (!request.ok()) return request.status();
    input.request = *std::move(request);
    return input;
  }

  absl::StatusOr<HttpRequest> FinishRequest() {
    if (!has_method_) return BadLine("\"method\" must be a string");
    if (!has_url_) return BadLine("\"url\" must be a string");
    if (request_.method == "GET") {
      // A GET has no body: its form is the query string.
      if (!form_.empty()) {
        request_.url.push_back(absl::StrContains(request_.url, '?') ? '&' : '?');
        request_.url.append(form_);
      }
    } else {
      request_.body = std::move(form_);
    }
    return std::move(request_);
  }

  const std::string& error() const { return error_; }

 private:
  enum class Kind { kNull, kString, kOther };
  enum class Member { kSkip, kMethod, kUrl, kHeaders, kForm, kControl };
  enum class In { kNone, kHeaders, kForm, kFormArray, kSkipped };

  // The members a control line may have (docs/replay.md); others are
  // skipped like unknown members of a request.
  static bool IsControlKey(absl::string_view key) {
    static constexpr absl::string_view kKeys[] = {
        "control", "advance_seconds", "set",     "per_second", "burst",       "code",
        "path",    "status",          "times",   "every",      "probability", "seed",
        "apply",   "retry_after",     "message", "id",         "clear"};
    for (absl::string_view k : kKeys) {
      if (k == key) return true;
    }
    return false;
  }

  // Keeps the value of a control member (a no-op for other members).
  void Control(ControlValue value) {
    if (depth_ != 1 || member_ != Member::kControl) return;
    if (control_key_ == "control") has_control_ = true;
    control_.members.emplace_back(control_key_, std::move(value));
  }

  bool Fail(std::string why) {
    error_ = std::move(why);
    return false;
  }

  bool Enter() {
    if (depth_ >= kMaxDepth) return Fail("nested deeper than a request can be");
    ++depth_;
    return true;
  }
  bool Leave() {
    --depth_;
    if (depth_ == 2 && in_ == In::kFormArray) in_ = In::kForm;
    if (depth_ == 1) in_ = In::kNone;
    return true;
  }

  // A container where the protocol has none.
  bool CheckContainer() {
    if (depth_ == 1) {
      switch (member_) {
        case Member::kMethod:
          return Fail("\"method\" must be a string");
        case Member::kUrl:
          return Fail("\"url\" must be a string");
        case Member::kHeaders:  // an array: objects were taken by StartObject
          return Fail("\"headers\" must be an object");
        case Member::kForm:
          return Fail("\"form\" must be an object or a form-encoded string");
        case Member::kControl: {
          ControlValue v;
          v.type = ControlValue::Type::kContainer;
          Control(std::move(v));
          in_ = In::kSkipped;
          return true;
        }
        default:
          in_ = In::kSkipped;
          return true;
      }
    }
    switch (in_) {
      case In::kHeaders:
        return Fail(absl::StrCat("header \"", key_, "\" must be a string"));
      case In::kForm:
        return Fail(
            absl::StrCat("form value \"", key_, "\" must be a string or an array of strings"));
      case In::kFormArray:
        return Fail(absl::StrCat("form value \"", key_, "\" has a non-string array item"));
      default:
        return true;
    }
  }

  void AppendFormPair(absl::string_view value) {
    if (!form_.empty()) form_.push_back('&');
    form_.append(FormEncode({{key_, std::string(value)}}));
  }

  bool Scalar(Kind kind, absl::string_view text) {
    if (depth_ == 0) return Fail("expected a JSON object");
    if (depth_ == 1) {
      switch (member_) {
        case Member::kMethod:
          if (kind != Kind::kString) return Fail("\"method\" must be a string");
          request_.method.assign(text.data(), text.size());
          has_method_ = true;
          return true;
        case Member::kUrl:
          if (kind != Kind::kString) return Fail("\"url\" must be a string");
          request_.url.assign(text.data(), text.size());
          has_url_ = true;
          return true;
        case Member::kHeaders:
          has_headers_ = true;
          if (kind != Kind::kNull) return Fail("\"headers\" must be an object");
          return true;
        case Member::kForm:
          has_form_ = true;
          if (kind == Kind::kString) {
            form_.assign(text.data(), text.size());
            return true;
          }
          if (kind != Kind::kNull) {
            return Fail("\"form\" must be an object or a form-encoded string");
          }
          return true;
        case Member::kSkip:
        case Member::kControl:
          return true;
      }
    }
    switch (in_) {
      case In::kHeaders:
        if (kind != Kind::kString) {
          return Fail(absl::StrCat("header \"", key_, "\" must be a string"));
        }
        request_.headers.emplace_back(key_, std::string(text));
        return true;
      case In::kForm:
        if (kind != Kind::kString) {
          return Fail(
              absl::StrCat("form value \"", key_, "\" must be a string or an array of strings"));
        }
        AppendFormPair(text);
        return true;
      case In::kFormArray:
        if (kind != Kind::kString) {
          return Fail(absl::StrCat("form value \"", key_, "\" has a non-string array item"));
        }
        AppendFormPair(text);
        return true;
      default:
        return true;
    }
  }

  HttpRequest request_;
  std::string form_;  // form-encoded, as read
  std::string key_;   // the current key inside headers or form
  std::string error_;
  int depth_ = 0;
  Member member_ = Member::kSkip;
  In in_ = In::kNone;
  bool has_method_ = false;
  bool has_url_ = false;
  bool has_headers_ = false;
  bool has_form_ = false;
  bool has_control_ = false;
  ControlLine control_;
  std::string control_key_;
};

}  // namespace

const ControlValue* ControlLine::Find(absl::string_view key) const {
  for (const auto& kv : members) {
    if (kv.first == key) return &kv.second;
  }
  return nullptr;
}

absl::StatusOr<ReplayInput> ParseReplayInput(absl::string_view line) {
  // RapidJSON's streams read '\0' as the end of input, so a raw NUL would cut
  // the line short and what follows it would be ignored. JSON allows no raw
  // NUL anywhere (inside strings it must be escaped as \u0000), so a line
  // holding one is not one JSON value.
  const size_t nul = line.find('\0');
  if (nul != absl::string_view::npos) {
    return BadLine(absl::StrCat("not JSON at offset ", nul, ": a raw NUL byte"));
  }
  // Iterative: no input can exhaust the stack. Strings are validated as UTF-8
  // ("\u0000" is allowed and reaches the dispatcher as a NUL).
  rapidjson::MemoryStream stream(line.data(), line.size());
  LineHandler handler;
  rapidjson::Reader reader;
  const rapidjson::ParseResult result =
      reader.Parse<rapidjson::kParseIterativeFlag | rapidjson::kParseValidateEncodingFlag>(stream,
                                                                                           handler);
  if (!handler.error().empty()) return BadLine(handler.error());
  if (result.IsError()) {
    return BadLine(absl::StrCat("not JSON at offset ", result.Offset(), ": ",
                                rapidjson::GetParseError_En(result.Code())));
  }
  return handler.Finish();
}

absl::StatusOr<HttpRequest> ParseReplayLine(absl::string_view line) {
  absl::StatusOr<ReplayInput> input = ParseReplayInput(line);
  if (!input.ok()) return input.status();
  if (input->is_control) return BadLine("control lines need a replay session");
  return std::move(input->request);
}

std::string RenderReplayLine(const HttpResponse& response) {
  std::string out;
  out.reserve(24 + response.body.size());
  absl::StrAppend(&out, "{\"status\":", response.status);
  if (!response.headers.empty()) {
    rapidjson::StringBuffer buffer;
    rapidjson::Writer<rapidjson::StringBuffer> json(buffer);
    json.StartObject();
    std::vector<absl::string_view> seen;
    for (const auto& h : response.headers) {
      if (std::find(seen.begin(), seen.end(), h.first) != seen.end()) continue;
      seen.push_back(h.first);
      json.Key(h.first.data(), static_cast<rapidjson::SizeType>(h.first.size()));
      json.String(h.second.data(), static_cast<rapidjson::SizeType>(h.second.size()));
    }
    json.EndObject();
    absl::StrAppend(&out, ",\"headers\":", absl::string_view(buffer.GetString(), buffer.GetSize()));
  }
  out.append(",\"body\":");
  if (response.body.empty()) {
    out.append("null");
  } else {
    out.append(response.body);
  }
  out.push_back('}');
  return out;
}

namespace {

std::string ErrorLine(const absl::Status& status) {
  HttpResponse response;
  response.status = HttpStatusOf(status);
  response.body = RenderError(status);
  return RenderReplayLine(response);
}

std::string OkLine(absl::string_view body) {
  return absl::StrCat("{\"status\":200,\"body\":", body, "}");
}

absl::Status BadControl(absl::string_view why) {
  return userstore::InvalidParameterError(absl::StrCat("Invalid control line: ", why));
}

using Type = ControlValue::Type;

// Typed reads of control members: absent members leave `*out` as it is.
absl::Status GetNumber(const ControlLine& c, absl::string_view key, double* out) {
  const ControlValue* v = c.Find(key);
  if (v == nullptr) return absl::OkStatus();
  if (v->type != Type::kInt && v->type != Type::kUint && v->type != Type::kDouble) {
    return BadControl(absl::StrCat("\"", key, "\" must be a number"));
  }
  *out = v->d;
  return absl::OkStatus();
}

absl::Status GetInt(const ControlLine& c, absl::string_view key, int64_t* out) {
  const ControlValue* v = c.Find(key);
  if (v == nullptr) return absl::OkStatus();
  if (v->type != Type::kInt) return BadControl(absl::StrCat("\"", key, "\" must be an integer"));
  *out = v->i;
  return absl::OkStatus();
}

absl::Status GetBool(const ControlLine& c, absl::string_view key, bool* out) {
  const ControlValue* v = c.Find(key);
  if (v == nullptr) return absl::OkStatus();
  if (v->type != Type::kBool)
    return BadControl(absl::StrCat("\"", key, "\" must be true or false"));
  *out = v->b;
  return absl::OkStatus();
}

absl::Status GetString(const ControlLine& c, absl::string_view key, std::string* out) {
  const ControlValue* v = c.Find(key);
  if (v == nullptr) return absl::OkStatus();
  if (v->type != Type::kString) return BadControl(absl::StrCat("\"", key, "\" must be a string"));
  if (v->too_long) return BadControl(absl::StrCat("\"", key, "\" is longer than 4096 bytes"));
  *out = v->s;
  return absl::OkStatus();
}

absl::Status Require(const ControlLine& c, absl::string_view key) {
  if (c.Find(key) == nullptr) return BadControl(absl::StrCat("\"", key, "\" is required"));
  return absl::OkStatus();
}

// The ErrorCode of an integer member, checked against the table here so the
// message names the member.
absl::Status GetCode(const ControlLine& c, ErrorCode* out) {
  int64_t code = static_cast<int64_t>(*out);
  absl::Status s = GetInt(c, "code", &code);
  if (!s.ok()) return s;
  if (code <= 0 || code > std::numeric_limits<int>::max() ||
      LookupError(static_cast<ErrorCode>(code)) == nullptr) {
    return BadControl(absl::StrCat("\"code\" ", code, " is not a Twilio error code userstore has"));
  }
  *out = static_cast<ErrorCode>(code);
  return absl::OkStatus();
}

std::string IdBody(absl::string_view control, int64_t id) {
  return absl::StrCat("{\"control\":\"", control, "\",\"id\":", id, "}");
}

}  // namespace

std::string ReplayOneLine(const Dispatcher& dispatcher, absl::string_view line) {
  absl::StatusOr<HttpRequest> request = ParseReplayLine(line);
  if (!request.ok()) return ErrorLine(request.status());
  return RenderReplayLine(dispatcher.Handle(*request));
}

// --- ReplaySession ---------------------------------------------------------------------

ReplaySession::ReplaySession(UserStore* store, std::shared_ptr<ManualClock> clock)
    : clock_(std::move(clock)),
      injector_(std::make_shared<FaultInjector>(clock_)),
      dispatcher_(store, injector_) {}

std::string ReplaySession::HandleLine(absl::string_view line) {
  absl::StatusOr<ReplayInput> input = ParseReplayInput(line);
  if (!input.ok()) return ErrorLine(input.status());
  if (!input->is_control) return RenderReplayLine(dispatcher_.Handle(input->request));
  absl::StatusOr<std::string> body = RunControl(input->control);
  if (!body.ok()) return ErrorLine(body.status());
  return OkLine(*body);
}

absl::StatusOr<std::string> ReplaySession::RunControl(const ControlLine& c) {
  if (c.name == "clock") return Clock(c);
  if (c.name == "rate_limit") return AddRateLimit(c);
  if (c.name == "fault") return AddFault(c);
  if (c.name == "clear") {
    injector_->Clear();
    return std::string("{\"control\":\"clear\"}");
  }
  if (c.name == "remove") {
    absl::Status s = Require(c, "id");
    int64_t id = 0;
    if (s.ok()) s = GetInt(c, "id", &id);
    if (!s.ok()) return s;
    return absl::StrCat("{\"control\":\"remove\",\"id\":", id,
                        ",\"removed\":", injector_->Remove(id) ? "true" : "false", "}");
  }
  if (c.name == "injected") {
    bool clear = false;
    absl::Status s = GetBool(c, "clear", &clear);
    if (!s.ok()) return s;
    return Injected(clear);
  }
  return BadControl(
      absl::StrCat("unknown control \"", c.name,
                   "\" (clock, rate_limit, fault, remove, clear and injected are known)"));
}

absl::StatusOr<std::string> ReplaySession::Clock(const ControlLine& c) {
  if (clock_ == nullptr) {
    return BadControl("\"clock\" needs a manual clock: start userstore replay with --now");
  }
  const ControlValue* advance = c.Find("advance_seconds");
  const ControlValue* set = c.Find("set");
  if ((advance == nullptr) == (set == nullptr)) {
    return BadControl("\"clock\" takes one of \"advance_seconds\" and \"set\"");
  }
  if (advance != nullptr) {
    double seconds = 0;
    absl::Status s = GetNumber(c, "advance_seconds", &seconds);
    if (!s.ok()) return s;
    // Up to about 317 years at once: far beyond any test, and safely inside
    // absl::Duration.
    if (!(seconds >= 0 && seconds <= 1e10)) {
      return BadControl("\"advance_seconds\" must be a number in [0, 1e10]");
    }
    clock_->Advance(absl::Seconds(seconds));
  } else {
    std::string text;
    absl::Status s = GetString(c, "set", &text);
    if (!s.ok()) return s;
    std::optional<absl::Time> t = ParseIsoTime(text);
    if (!t.has_value()) {
      return BadControl("\"set\" must look like 2026-01-01T00:00:00Z");
    }
    clock_->Set(*t);
  }
  std::string body = "{\"control\":\"clock\",\"now\":\"";
  AppendIsoTime(clock_->Now(), &body);
  body.append("\"}");
  return body;
}

absl::StatusOr<std::string> ReplaySession::AddRateLimit(const ControlLine& c) {
  RateLimit limit;
  absl::Status s = Require(c, "per_second");
  if (s.ok()) s = Require(c, "burst");
  if (s.ok()) s = GetNumber(c, "per_second", &limit.requests_per_second);
  if (s.ok()) s = GetInt(c, "burst", &limit.burst);
  if (s.ok()) s = GetCode(c, &limit.code);
  if (s.ok()) s = GetString(c, "path", &limit.path);
  if (s.ok()) s = GetBool(c, "retry_after", &limit.retry_after);
  if (!s.ok()) return s;
  if (c.method.has_value()) limit.method = *c.method;
  absl::StatusOr<int64_t> id = injector_->AddRateLimit(limit);
  if (!id.ok()) return id.status();
  return IdBody("rate_limit", *id);
}

absl::StatusOr<std::string> ReplaySession::AddFault(const ControlLine& c) {
  FaultRule rule;
  int64_t status = 0;
  absl::Status s = Require(c, "code");
  if (s.ok()) s = GetCode(c, &rule.code);
  if (s.ok()) s = GetInt(c, "status", &status);
  if (s.ok()) s = GetString(c, "path", &rule.path);
  if (s.ok()) s = GetString(c, "message", &rule.message);
  if (s.ok()) s = GetInt(c, "retry_after", &rule.retry_after_seconds);
  if (s.ok()) s = GetBool(c, "apply", &rule.apply_then_fail);
  if (!s.ok()) return s;
  if (status != 0 && (status < 400 || status > 599)) {
    return BadControl("\"status\" must be in 400..599");
  }
  rule.http_status = static_cast<int>(status);
  if (c.method.has_value()) rule.method = *c.method;
  const int triggers = (c.Find("times") != nullptr) + (c.Find("every") != nullptr) +
                       (c.Find("probability") != nullptr);
  if (triggers > 1) {
    return BadControl("a fault takes one of \"times\", \"every\" and \"probability\"");
  }
  if (c.Find("seed") != nullptr && c.Find("probability") == nullptr) {
    return BadControl("\"seed\" goes with \"probability\"");
  }
  if (c.Find("every") != nullptr) {
    rule.trigger = FaultRule::Trigger::kEvery;
    s = GetInt(c, "every", &rule.every);
  } else if (c.Find("probability") != nullptr) {
    rule.trigger = FaultRule::Trigger::kProbability;
    s = GetNumber(c, "probability", &rule.probability);
    if (s.ok()) {
      const ControlValue* v = c.Find("seed");
      if (v != nullptr) {
        if (v->type != Type::kUint && !(v->type == Type::kInt && v->i >= 0)) {
          return BadControl("\"seed\" must be an unsigned 64-bit integer");
        }
        rule.seed = v->u;
      }
    }
  } else {
    rule.trigger = FaultRule::Trigger::kNext;
    s = GetInt(c, "times", &rule.times);  // absent: the next request
  }
  if (!s.ok()) return s;
  absl::StatusOr<int64_t> id = injector_->AddFault(rule);
  if (!id.ok()) return id.status();
  return IdBody("fault", *id);
}

std::string ReplaySession::Injected(bool clear) {
  const std::vector<InjectedAnswer> record = injector_->Injected();
  if (clear) injector_->ClearRecord();
  rapidjson::StringBuffer buffer;
  rapidjson::Writer<rapidjson::StringBuffer> json(buffer);
  json.StartObject();
  json.Key("control");
  json.String("injected");
  json.Key("injected");
  json.StartArray();
  std::string time;
  for (const InjectedAnswer& a : record) {
    json.StartObject();
    json.Key("id");
    json.Int64(a.rule_id);
    json.Key("method");
    json.String(a.method.data(), static_cast<rapidjson::SizeType>(a.method.size()));
    json.Key("url");
    json.String(a.url.data(), static_cast<rapidjson::SizeType>(a.url.size()));
    json.Key("status");
    json.Int(a.status);
    json.Key("code");
    json.Int(static_cast<int>(a.code));
    json.Key("retry_after");
    if (a.retry_after.empty()) {
      json.Null();
    } else {
      json.String(a.retry_after.data(), static_cast<rapidjson::SizeType>(a.retry_after.size()));
    }
    json.Key("applied");
    json.Bool(a.applied);
    json.Key("served_status");
    if (a.applied) {
      json.Int(a.served_status);
    } else {
      json.Null();
    }
    json.Key("time");
    time.clear();
    AppendIsoTime(a.time, &time);
    json.String(time.data(), static_cast<rapidjson::SizeType>(time.size()));
    json.EndObject();
  }
  json.EndArray();
  json.EndObject();
  return std::string(buffer.GetString(), buffer.GetSize());
}

}  // namespace internal
}  // namespace userstore
