#include "core/rest/replay.h"

#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "rapidjson/document.h"
#include "rapidjson/error/en.h"
#include "userstore/status.h"

#include "core/rest/render.h"

namespace userstore {
namespace internal {
namespace {

using JsonValue = rapidjson::Value;

std::string AsString(const JsonValue& v) { return std::string(v.GetString(), v.GetStringLength()); }

absl::Status BadLine(absl::string_view why) {
  return userstore::InvalidParameterError(absl::StrCat("Invalid replay line: ", why));
}

// "form" as an object: {"Name": "value" | ["v1", "v2", ...]}, in member order.
absl::StatusOr<std::string> EncodeFormObject(const JsonValue& form) {
  std::vector<std::pair<std::string, std::string>> pairs;
  for (auto it = form.MemberBegin(); it != form.MemberEnd(); ++it) {
    const std::string name = AsString(it->name);
    if (it->value.IsString()) {
      pairs.emplace_back(name, AsString(it->value));
    } else if (it->value.IsArray()) {
      for (const JsonValue& item : it->value.GetArray()) {
        if (!item.IsString()) {
          return BadLine(absl::StrCat("form value \"", name, "\" has a non-string array item"));
        }
        pairs.emplace_back(name, AsString(item));
      }
    } else {
      return BadLine(
          absl::StrCat("form value \"", name, "\" must be a string or an array of strings"));
    }
  }
  return FormEncode(pairs);
}

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
  rapidjson::Document doc;
  // Iterative: nesting depth costs heap, never stack. Strings are validated
  // as UTF-8 ("\u0000" is allowed and reaches the dispatcher as a NUL).
  doc.Parse<rapidjson::kParseIterativeFlag | rapidjson::kParseValidateEncodingFlag>(line.data(),
                                                                                   line.size());
  if (doc.HasParseError()) {
    return BadLine(absl::StrCat("not JSON at offset ", doc.GetErrorOffset(), ": ",
                                rapidjson::GetParseError_En(doc.GetParseError())));
  }
  if (!doc.IsObject()) return BadLine("expected a JSON object");

  HttpRequest request;
  auto method = doc.FindMember("method");
  if (method == doc.MemberEnd() || !method->value.IsString()) {
    return BadLine("\"method\" must be a string");
  }
  request.method = AsString(method->value);
  auto url = doc.FindMember("url");
  if (url == doc.MemberEnd() || !url->value.IsString()) {
    return BadLine("\"url\" must be a string");
  }
  request.url = AsString(url->value);

  auto headers = doc.FindMember("headers");
  if (headers != doc.MemberEnd() && !headers->value.IsNull()) {
    if (!headers->value.IsObject()) return BadLine("\"headers\" must be an object");
    for (auto it = headers->value.MemberBegin(); it != headers->value.MemberEnd(); ++it) {
      if (!it->value.IsString()) {
        return BadLine(absl::StrCat("header \"", AsString(it->name), "\" must be a string"));
      }
      request.headers.emplace_back(AsString(it->name), AsString(it->value));
    }
  }

  auto form = doc.FindMember("form");
  std::string encoded;
  if (form != doc.MemberEnd() && !form->value.IsNull()) {
    if (form->value.IsString()) {
      encoded = AsString(form->value);
    } else if (form->value.IsObject()) {
      absl::StatusOr<std::string> e = EncodeFormObject(form->value);
      if (!e.ok()) return e.status();
      encoded = *std::move(e);
    } else {
      return BadLine("\"form\" must be an object or a form-encoded string");
    }
  }
  if (request.method == "GET") {
    // A GET has no body: its form is the query string.
    if (!encoded.empty()) {
      request.url.push_back(request.url.find('?') == std::string::npos ? '?' : '&');
      request.url.append(encoded);
    }
  } else {
    request.body = std::move(encoded);
  }
  return request;
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
