#include "core/rest/replay.h"

#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "rapidjson/error/en.h"
#include "rapidjson/memorystream.h"
#include "rapidjson/reader.h"

#include "userstore/status.h"

#include "core/rest/render.h"

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

  bool Null() { return Scalar(Kind::kNull, {}); }
  bool Bool(bool) { return Scalar(Kind::kOther, {}); }
  bool Int(int) { return Scalar(Kind::kOther, {}); }
  bool Uint(unsigned) { return Scalar(Kind::kOther, {}); }
  bool Int64(int64_t) { return Scalar(Kind::kOther, {}); }
  bool Uint64(uint64_t) { return Scalar(Kind::kOther, {}); }
  bool Double(double) { return Scalar(Kind::kOther, {}); }
  bool RawNumber(const char*, rapidjson::SizeType, bool) { return Scalar(Kind::kOther, {}); }
  bool String(const char* s, rapidjson::SizeType n, bool) {
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

  // After a successful parse: the request, or what is wrong with it.
  absl::StatusOr<HttpRequest> Finish() {
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
  enum class Member { kSkip, kMethod, kUrl, kHeaders, kForm };
  enum class In { kNone, kHeaders, kForm, kFormArray, kSkipped };

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
};

}  // namespace

absl::StatusOr<HttpRequest> ParseReplayLine(absl::string_view line) {
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

std::string RenderReplayLine(const HttpResponse& response) {
  std::string out;
  out.reserve(24 + response.body.size());
  absl::StrAppend(&out, "{\"status\":", response.status, ",\"body\":");
  if (response.body.empty()) {
    out.append("null");
  } else {
    out.append(response.body);
  }
  out.push_back('}');
  return out;
}

std::string ReplayOneLine(const Dispatcher& dispatcher, absl::string_view line) {
  absl::StatusOr<HttpRequest> request = ParseReplayLine(line);
  if (!request.ok()) {
    HttpResponse response;
    response.status = HttpStatusOf(request.status());
    response.body = RenderError(request.status());
    return RenderReplayLine(response);
  }
  return RenderReplayLine(dispatcher.Handle(*request));
}

}  // namespace internal
}  // namespace userstore
