// A small JSON-schema validator for the OpenAPI subsets in tests/data/openapi,
// enough for Twilio's Users schemas: type, nullable, pattern,
// minLength/maxLength (code points), enum, minimum/maximum, format
// (date-time, uri, uri-map), required, properties, items, $ref
// (#/components/...). Objects that declare `properties` accept no other key
// unless `additionalProperties` allows it; an object schema without
// `properties` is free-form (a `uri-map` then needs URI string values).
//
// The REST tests call `ValidateUserResponse()` on every 2xx response of a
// Users path: it picks the spec from the URL's host and version (chat,
// ip_messaging, conversations), the path template and the operation, and
// validates the body against the declared response schema.

#ifndef USERSTORE_TESTS_TESTING_OPENAPI_VALIDATOR_H_
#define USERSTORE_TESTS_TESTING_OPENAPI_VALIDATOR_H_

#include <cctype>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include "rapidjson/document.h"

namespace userstore_test {

// One loaded spec file.
class OpenApiSpec {
 public:
  // Loads `{USERSTORE_TEST_DATA_DIR}/openapi/{name}.openapi.json` once per
  // process; nullptr (and a message on stderr) when it does not load.
  static const OpenApiSpec* Get(const std::string& name) {
    static std::mutex mu;
    static std::map<std::string, std::unique_ptr<OpenApiSpec>>* cache =
        new std::map<std::string, std::unique_ptr<OpenApiSpec>>();
    std::lock_guard<std::mutex> lock(mu);
    auto it = cache->find(name);
    if (it != cache->end()) return it->second.get();
    std::unique_ptr<OpenApiSpec> spec(new OpenApiSpec());
    const std::string path =
        std::string(USERSTORE_TEST_DATA_DIR) + "/openapi/" + name + ".openapi.json";
    std::ifstream in(path, std::ios::binary);
    std::stringstream text;
    text << in.rdbuf();
    spec->doc_.Parse<rapidjson::kParseIterativeFlag>(text.str().c_str());
    if (!in || spec->doc_.HasParseError() || !spec->doc_.IsObject()) {
      std::fprintf(stderr, "cannot load %s\n", path.c_str());
      spec.reset();
    }
    OpenApiSpec* raw = spec.get();
    (*cache)[name] = std::move(spec);
    return raw;
  }

  const rapidjson::Document& doc() const { return doc_; }

  // The path template of `paths` that matches `path` ("{X}" matches one
  // segment); empty when none does.
  std::string MatchPath(const std::string& path) const {
    const auto want = Split(path);
    const auto& paths = doc_["paths"];
    for (auto it = paths.MemberBegin(); it != paths.MemberEnd(); ++it) {
      const std::string tmpl = it->name.GetString();
      const auto have = Split(tmpl);
      if (have.size() != want.size()) continue;
      bool ok = true;
      for (size_t i = 0; i < have.size() && ok; ++i) {
        ok = (!have[i].empty() && have[i][0] == '{') || have[i] == want[i];
      }
      if (ok) return tmpl;
    }
    return "";
  }

  // The response schema of `method` (lower case) on `path_template` for
  // `status`; nullptr when the spec declares no JSON body for it.
  const rapidjson::Value* ResponseSchema(const std::string& path_template,
                                         const std::string& method, int status) const {
    const auto& paths = doc_["paths"];
    auto p = paths.FindMember(path_template.c_str());
    if (p == paths.MemberEnd()) return nullptr;
    auto op = p->value.FindMember(method.c_str());
    if (op == p->value.MemberEnd()) return nullptr;
    auto responses = op->value.FindMember("responses");
    if (responses == op->value.MemberEnd()) return nullptr;
    auto r = responses->value.FindMember(std::to_string(status).c_str());
    if (r == responses->value.MemberEnd()) return nullptr;
    auto content = r->value.FindMember("content");
    if (content == r->value.MemberEnd()) return nullptr;
    auto json = content->value.FindMember("application/json");
    if (json == content->value.MemberEnd()) return nullptr;
    auto schema = json->value.FindMember("schema");
    return schema == json->value.MemberEnd() ? nullptr : &schema->value;
  }

  // True when the operation exists and declares `status`.
  bool DeclaresStatus(const std::string& path_template, const std::string& method,
                      int status) const {
    const auto& paths = doc_["paths"];
    auto p = paths.FindMember(path_template.c_str());
    if (p == paths.MemberEnd()) return false;
    auto op = p->value.FindMember(method.c_str());
    if (op == p->value.MemberEnd()) return false;
    auto responses = op->value.FindMember("responses");
    return responses != op->value.MemberEnd() &&
           responses->value.HasMember(std::to_string(status).c_str());
  }

  // Validates `value` against `schema`; appends "where: what" lines to
  // `errors`.
  void Validate(const rapidjson::Value& schema, const rapidjson::Value& value,
                const std::string& where, std::vector<std::string>* errors) const {
    const rapidjson::Value& s = Resolve(schema);
    if (value.IsNull()) {
      if (!IsTrue(s, "nullable")) errors->push_back(where + ": null but not nullable");
      return;
    }
    const std::string type = Str(s, "type");
    if (type == "string") {
      if (!value.IsString()) {
        errors->push_back(where + ": expected a string");
        return;
      }
      ValidateString(s, std::string(value.GetString(), value.GetStringLength()), where, errors);
    } else if (type == "integer") {
      if (!value.IsInt64()) {
        errors->push_back(where + ": expected an integer");
        return;
      }
      if (s.HasMember("minimum") && value.GetInt64() < s["minimum"].GetInt64()) {
        errors->push_back(where + ": below minimum");
      }
      if (s.HasMember("maximum") && value.GetInt64() > s["maximum"].GetInt64()) {
        errors->push_back(where + ": above maximum");
      }
    } else if (type == "number") {
      if (!value.IsNumber()) errors->push_back(where + ": expected a number");
    } else if (type == "boolean") {
      if (!value.IsBool()) errors->push_back(where + ": expected a boolean");
    } else if (type == "array") {
      if (!value.IsArray()) {
        errors->push_back(where + ": expected an array");
        return;
      }
      if (s.HasMember("items")) {
        int i = 0;
        for (const auto& item : value.GetArray()) {
          Validate(s["items"], item, where + "[" + std::to_string(i++) + "]", errors);
        }
      }
    } else if (type == "object" || s.HasMember("properties")) {
      ValidateObject(s, value, where, errors);
    } else if (!type.empty()) {
      errors->push_back(where + ": schema type '" + type + "' not supported by the validator");
    }
    if (s.HasMember("enum")) {
      bool found = false;
      for (const auto& e : s["enum"].GetArray()) found = found || e == value;
      if (!found) errors->push_back(where + ": not one of the enum values");
    }
  }

 private:
  static std::vector<std::string> Split(const std::string& path) {
    std::vector<std::string> out;
    std::string cur;
    for (size_t i = 1; i <= path.size(); ++i) {
      if (i == path.size() || path[i] == '/') {
        out.push_back(cur);
        cur.clear();
      } else {
        cur.push_back(path[i]);
      }
    }
    return out;
  }

  static bool IsTrue(const rapidjson::Value& s, const char* key) {
    auto it = s.FindMember(key);
    return it != s.MemberEnd() && it->value.IsBool() && it->value.GetBool();
  }

  static std::string Str(const rapidjson::Value& s, const char* key) {
    auto it = s.FindMember(key);
    return it != s.MemberEnd() && it->value.IsString() ? it->value.GetString() : "";
  }

  // Follows "$ref": "#/components/schemas/x" (and chains of them).
  const rapidjson::Value& Resolve(const rapidjson::Value& schema) const {
    const rapidjson::Value* s = &schema;
    for (int hops = 0; hops < 16 && s->IsObject() && s->HasMember("$ref"); ++hops) {
      std::string ref = (*s)["$ref"].GetString();
      if (ref.rfind("#/", 0) != 0) break;
      const rapidjson::Value* cur = &doc_;
      size_t start = 2;
      while (start <= ref.size() && cur != nullptr) {
        size_t slash = ref.find('/', start);
        if (slash == std::string::npos) slash = ref.size();
        const std::string key = ref.substr(start, slash - start);
        auto it = cur->FindMember(key.c_str());
        cur = it == cur->MemberEnd() ? nullptr : &it->value;
        start = slash + 1;
      }
      if (cur == nullptr) break;
      s = cur;
    }
    return *s;
  }

  static size_t CodePoints(const std::string& s) {
    size_t n = 0;
    for (unsigned char c : s) n += (c & 0xC0) != 0x80;
    return n;
  }

  // RFC 3339 date-time: YYYY-MM-DDTHH:MM:SS[.frac](Z|+HH:MM|-HH:MM), with
  // field ranges checked (hand-written: std::regex is slow in bulk).
  static bool IsDateTime(const std::string& v) {
    auto digits = [&](size_t at, size_t n, int lo, int hi) {
      if (at + n > v.size()) return false;
      int x = 0;
      for (size_t i = at; i < at + n; ++i) {
        if (v[i] < '0' || v[i] > '9') return false;
        x = x * 10 + (v[i] - '0');
      }
      return x >= lo && x <= hi;
    };
    if (v.size() < 20 || !digits(0, 4, 0, 9999) || v[4] != '-' || !digits(5, 2, 1, 12) ||
        v[7] != '-' || !digits(8, 2, 1, 31) || (v[10] != 'T' && v[10] != 't') ||
        !digits(11, 2, 0, 23) || v[13] != ':' || !digits(14, 2, 0, 59) || v[16] != ':' ||
        !digits(17, 2, 0, 60)) {
      return false;
    }
    size_t i = 19;
    if (v[i] == '.') {
      const size_t start = ++i;
      while (i < v.size() && v[i] >= '0' && v[i] <= '9') ++i;
      if (i == start) return false;
    }
    if (i < v.size() && (v[i] == 'Z' || v[i] == 'z')) return i + 1 == v.size();
    return i + 6 == v.size() && (v[i] == '+' || v[i] == '-') && digits(i + 1, 2, 0, 23) &&
           v[i + 3] == ':' && digits(i + 4, 2, 0, 59);
  }

  // An absolute URI with an authority: scheme "://" host [path], no spaces.
  static bool IsUri(const std::string& v) {
    const size_t sep = v.find("://");
    if (sep == std::string::npos || sep == 0 || !isalpha(static_cast<unsigned char>(v[0]))) {
      return false;
    }
    for (size_t i = 0; i < sep; ++i) {
      const char c = v[i];
      if (!isalnum(static_cast<unsigned char>(c)) && c != '+' && c != '-' && c != '.') {
        return false;
      }
    }
    const size_t host = sep + 3;
    if (host >= v.size() || v[host] == '/' || v[host] == '?' || v[host] == '#') return false;
    for (size_t i = host; i < v.size(); ++i) {
      if (static_cast<unsigned char>(v[i]) <= ' ') return false;
    }
    return true;
  }

  // Patterns compile once per spec (std::regex construction dominates
  // otherwise).
  const std::regex& Compiled(const std::string& pattern) const {
    std::lock_guard<std::mutex> lock(regex_mu_);
    auto it = regexes_.find(pattern);
    if (it == regexes_.end()) it = regexes_.emplace(pattern, std::regex(pattern)).first;
    return it->second;
  }

  void ValidateString(const rapidjson::Value& s, const std::string& v, const std::string& where,
                      std::vector<std::string>* errors) const {
    if (s.HasMember("minLength") && CodePoints(v) < s["minLength"].GetUint64()) {
      errors->push_back(where + ": shorter than minLength");
    }
    if (s.HasMember("maxLength") && CodePoints(v) > s["maxLength"].GetUint64()) {
      errors->push_back(where + ": longer than maxLength");
    }
    const std::string pattern = Str(s, "pattern");
    if (!pattern.empty() && !std::regex_search(v, Compiled(pattern))) {
      errors->push_back(where + ": '" + v + "' does not match " + pattern);
    }
    const std::string format = Str(s, "format");
    if (format == "date-time" && !IsDateTime(v)) {
      errors->push_back(where + ": '" + v + "' is not a date-time");
    } else if (format == "uri" && !IsUri(v)) {
      errors->push_back(where + ": '" + v + "' is not a URI");
    }
  }

  void ValidateObject(const rapidjson::Value& s, const rapidjson::Value& value,
                      const std::string& where, std::vector<std::string>* errors) const {
    if (!value.IsObject()) {
      errors->push_back(where + ": expected an object");
      return;
    }
    if (s.HasMember("required")) {
      for (const auto& r : s["required"].GetArray()) {
        if (!value.HasMember(r)) {
          errors->push_back(where + ": missing required '" + r.GetString() + "'");
        }
      }
    }
    const bool has_props = s.HasMember("properties");
    const rapidjson::Value* additional = nullptr;
    if (s.HasMember("additionalProperties")) additional = &s["additionalProperties"];
    for (auto m = value.MemberBegin(); m != value.MemberEnd(); ++m) {
      const std::string key(m->name.GetString(), m->name.GetStringLength());
      const std::string at = where + "." + key;
      if (has_props && s["properties"].HasMember(m->name)) {
        Validate(s["properties"][m->name], m->value, at, errors);
      } else if (additional != nullptr && additional->IsObject()) {
        Validate(*additional, m->value, at, errors);
      } else if (additional != nullptr && additional->IsBool() && additional->GetBool()) {
        // allowed
      } else if (has_props) {
        errors->push_back(at + ": property not declared by the schema");
      } else if (Str(s, "format") == "uri-map") {
        if (!m->value.IsString() ||
            !IsUri(std::string(m->value.GetString(), m->value.GetStringLength()))) {
          errors->push_back(at + ": uri-map value is not a URI string");
        }
      }
    }
  }

  rapidjson::Document doc_;
  mutable std::mutex regex_mu_;
  mutable std::map<std::string, std::regex> regexes_;
};

// The spec that describes `host` + `path` (e.g. "chat_v2_users"), or "" for a
// path outside the Users resource.
inline std::string SpecNameFor(const std::string& host, const std::string& path) {
  const bool v2 = path.rfind("/v2/", 0) == 0;
  const bool v1 = path.rfind("/v1/", 0) == 0;
  if (path.find("/Users") == std::string::npos) return "";
  if (host == "conversations.twilio.com") return v1 ? "conversations_v1_users" : "";
  if (v1 && path.rfind("/v1/Users", 0) == 0) return "conversations_v1_users";
  const std::string product = host == "ip-messaging.twilio.com" ? "ip_messaging" : "chat";
  if (v2) return product + "_v2_users";
  if (v1) return product + "_v1_users";
  return "";
}

// Validates the response to `method url` (absolute or path-only URL) against
// the OpenAPI spec of that Users path. Returns the problems found (empty:
// valid). Bodies of paths no spec covers (services, roles) are not checked
// and return no problem; a Users path the spec lacks, or a status the
// operation does not declare, is a problem.
inline std::vector<std::string> ValidateUserResponse(const std::string& method,
                                                     const std::string& url, int status,
                                                     const std::string& body) {
  std::vector<std::string> errors;
  std::string host, path = url;
  const size_t scheme = url.find("://");
  if (scheme != std::string::npos) {
    const size_t slash = url.find('/', scheme + 3);
    host =
        url.substr(scheme + 3, slash == std::string::npos ? std::string::npos : slash - scheme - 3);
    path = slash == std::string::npos ? "/" : url.substr(slash);
  }
  const size_t q = path.find('?');
  if (q != std::string::npos) path.resize(q);
  const std::string name = SpecNameFor(host, path);
  if (name.empty()) return errors;
  const OpenApiSpec* spec = OpenApiSpec::Get(name);
  if (spec == nullptr) {
    errors.push_back("spec " + name + " does not load");
    return errors;
  }
  const std::string tmpl = spec->MatchPath(path);
  if (tmpl.empty()) {
    errors.push_back("no path of " + name + " matches " + path);
    return errors;
  }
  std::string m;
  for (char c : method) m.push_back(static_cast<char>(c >= 'A' && c <= 'Z' ? c + 32 : c));
  if (!spec->DeclaresStatus(tmpl, m, status)) {
    errors.push_back(name + " " + m + " " + tmpl + " declares no status " + std::to_string(status));
    return errors;
  }
  const rapidjson::Value* schema = spec->ResponseSchema(tmpl, m, status);
  if (schema == nullptr) {
    if (!body.empty()) errors.push_back("a body where the spec declares none");
    return errors;
  }
  rapidjson::Document doc;
  doc.Parse<rapidjson::kParseIterativeFlag>(body.c_str(), body.size());
  if (doc.HasParseError()) {
    errors.push_back("body is not JSON: " + body.substr(0, 200));
    return errors;
  }
  spec->Validate(*schema, doc, "$", &errors);
  return errors;
}

}  // namespace userstore_test

#endif  // USERSTORE_TESTS_TESTING_OPENAPI_VALIDATOR_H_
