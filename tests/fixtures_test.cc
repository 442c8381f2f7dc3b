// Replays Twilio's recorded SDK cases (tests/data/fixtures/*.fixtures.json)
// through the dispatcher.
//
// `response` cases (and the spec's response examples in `openapi_examples`):
// the state the case needs is set up through REST (a service; the user with
// the identity, friendly name and attributes the recorded body shows), the
// request is sent to the recorded URL (placeholder SIDs replaced by real
// ones, same host), and the produced body is compared with the recorded one:
//   - key order equal, at every level;
//   - SIDs, and URLs (which embed SIDs), by form: every `XX` + 32 hex digits
//     is masked to its prefix on both sides, then the strings must be equal
//     (so the host, path shape and query must match exactly);
//   - dates by form (ISO 8601, whole seconds, Z);
//   - `attributes`, `is_online`, `is_notifiable` by type and nullability only
//     (SEMANTICS 0: the fixtures show `null` where the contract says "{}", and
//     presence booleans where it says `null`): the value must be `null` or of
//     the schema type; and when the recorded attributes are a string we sent,
//     they must come back verbatim;
//   - every other field exactly.
// `request` cases: the recorded method + URL + data + headers must be accepted
// (the operation's success status).

#include <cctype>
#include <fstream>
#include <map>
#include <optional>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "rapidjson/document.h"
#include "tests/testing/rest_testing.h"

namespace {

using userstore_test::FormPairs;
using userstore_test::Keys;
using userstore_test::Reply;
using userstore_test::RestHarness;

constexpr char kServicePlaceholder[] = "ISXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX";
constexpr char kUserPlaceholder[] = "USXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX";
constexpr char kRolePlaceholder[] = "RLaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";

const char* const kFixtureFiles[] = {"chat_v2_users", "chat_v1_users", "conversations_v1_users"};

// The three fixture documents, loaded once.
const rapidjson::Document& Fixture(const std::string& name) {
  static auto* docs = new std::map<std::string, rapidjson::Document>();
  auto it = docs->find(name);
  if (it != docs->end()) return it->second;
  rapidjson::Document& doc = (*docs)[name];
  const std::string path =
      std::string(USERSTORE_TEST_DATA_DIR) + "/fixtures/" + name + ".fixtures.json";
  std::ifstream in(path, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  doc.Parse<rapidjson::kParseIterativeFlag>(text.str().c_str());
  if (doc.HasParseError() || !doc.IsObject()) {
    ADD_FAILURE() << "cannot load " << path;
    doc.SetObject();
  }
  return doc;
}

std::string Replace(std::string s, const std::string& from, const std::string& to) {
  for (size_t at = s.find(from); at != std::string::npos; at = s.find(from, at + to.size())) {
    s.replace(at, from.size(), to);
  }
  return s;
}

std::string MaskSids(const std::string& s) {
  static const std::regex sid("(AC|IS|US|RL)[0-9a-fA-F]{32}");
  return std::regex_replace(s, sid, "$1<sid>");
}

bool IsIsoDate(const std::string& s) {
  static const std::regex re(R"(^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$)");
  return std::regex_match(s, re);
}

std::string Show(const rapidjson::Value& v) {
  if (v.IsString()) return std::string("\"") + v.GetString() + "\"";
  if (v.IsNull()) return "null";
  if (v.IsBool()) return v.GetBool() ? "true" : "false";
  if (v.IsInt64()) return std::to_string(v.GetInt64());
  return "<value>";
}

// Compares `got` with the recorded `want` as the file comment says.
void CompareBody(const rapidjson::Value& want, const rapidjson::Value& got, const std::string& at,
                 const std::string& key, std::vector<std::string>* errors) {
  if (key == "attributes") {
    if (!got.IsNull() && !got.IsString()) errors->push_back(at + ": not a string or null");
    if (want.IsString() && !(got.IsString() && std::string(got.GetString()) == want.GetString())) {
      errors->push_back(at + ": " + Show(got) + ", want verbatim " + Show(want));
    }
    return;
  }
  if (key == "is_online" || key == "is_notifiable") {
    if (!got.IsNull() && !got.IsBool()) errors->push_back(at + ": not a boolean or null");
    return;
  }
  if (key == "date_created" || key == "date_updated") {
    if (!got.IsString() || !IsIsoDate(got.GetString())) {
      errors->push_back(at + ": " + Show(got) + " is not an ISO date");
    }
    return;
  }
  if (want.IsObject()) {
    if (!got.IsObject()) {
      errors->push_back(at + ": not an object");
      return;
    }
    if (Keys(want) != Keys(got)) errors->push_back(at + ": keys differ in set or order");
    for (auto m = want.MemberBegin(); m != want.MemberEnd(); ++m) {
      const std::string k = m->name.GetString();
      if (!got.HasMember(m->name)) continue;  // reported above
      CompareBody(m->value, got[m->name], at + "." + k, k, errors);
    }
    return;
  }
  if (want.IsArray()) {
    if (!got.IsArray() || got.Size() != want.Size()) {
      errors->push_back(at + ": array size differs");
      return;
    }
    for (rapidjson::SizeType i = 0; i < want.Size(); ++i) {
      CompareBody(want[i], got[i], at + "[" + std::to_string(i) + "]", "", errors);
    }
    return;
  }
  if (want.IsString()) {
    if (!got.IsString() || MaskSids(want.GetString()) != MaskSids(got.GetString())) {
      errors->push_back(at + ": " + Show(got) + ", want (SIDs masked) " + Show(want));
    }
    return;
  }
  if (want != got) errors->push_back(at + ": " + Show(got) + ", want " + Show(want));
}

// One replayable case, from either source.
struct Case {
  std::string name;       // test name
  std::string fixture;    // file
  std::string operation;  // create, fetch, update, delete, list
  std::string method;
  std::string url;  // with placeholders
  FormPairs headers;
  FormPairs form;
  int want_status = 0;
  const rapidjson::Value* want_body = nullptr;  // nullptr: none (request cases)
  bool response = true;
  // The spec's Chat examples pair requests and responses that do not match
  // (the file says so): friendly_name is compared by type there.
  bool loose_friendly_name = false;
};

std::string Sanitize(std::string s) {
  for (char& c : s) {
    if (!isalnum(static_cast<unsigned char>(c))) c = '_';
  }
  return s;
}

FormPairs Pairs(const rapidjson::Value& obj, const char* key) {
  FormPairs out;
  if (!obj.IsObject() || !obj.HasMember(key) || !obj[key].IsObject()) return out;
  for (auto m = obj[key].MemberBegin(); m != obj[key].MemberEnd(); ++m) {
    if (m->value.IsString()) out.emplace_back(m->name.GetString(), m->value.GetString());
  }
  return out;
}

int SuccessStatus(const std::string& operation) {
  if (operation == "create") return 201;
  if (operation == "delete") return 204;
  return 200;
}

std::vector<Case> AllCases() {
  std::vector<Case> cases;
  for (const char* file : kFixtureFiles) {
    const rapidjson::Document& doc = Fixture(file);
    if (!doc.HasMember("files")) continue;
    for (auto f = doc["files"].MemberBegin(); f != doc["files"].MemberEnd(); ++f) {
      const std::string py = f->name.GetString();
      const std::string host = f->value["host"].GetString();
      const rapidjson::Value& list = f->value["cases"];
      for (const auto& c : list.GetArray()) {
        Case k;
        k.fixture = file;
        k.operation = c["operation"].GetString();
        k.name = Sanitize(py.substr(18) + "_" + c["test"].GetString());  // drop tests/integration/
        // The request case of the same operation gives method, URL, headers.
        const rapidjson::Value* request = nullptr;
        for (const auto& r : list.GetArray()) {
          if (std::string(r["kind"].GetString()) == "request" &&
              std::string(r["operation"].GetString()) == k.operation) {
            request = &r["request"];
          }
        }
        if (request == nullptr) {
          ADD_FAILURE() << "no request case for " << k.name;
          continue;
        }
        k.method = (*request)["method"].GetString();
        k.url = (*request)["url"].GetString();
        EXPECT_NE(k.url.find(host), std::string::npos) << k.name;
        k.headers = Pairs(*request, "headers");
        k.form = Pairs(*request, "data");
        k.response = std::string(c["kind"].GetString()) == "response";
        if (k.response) {
          k.want_status = c["response"]["status"].GetInt();
          k.want_body = &c["response"]["body"];
        } else {
          k.want_status = SuccessStatus(k.operation);
        }
        cases.push_back(k);
      }
    }
    for (const auto& e : doc["openapi_examples"]["cases"].GetArray()) {
      Case k;
      k.fixture = file;
      const std::string op = e["operationId"].GetString();
      k.operation = op.find("Create") == 0   ? "create"
                    : op.find("List") == 0   ? "list"
                    : op.find("Fetch") == 0  ? "fetch"
                    : op.find("Update") == 0 ? "update"
                                             : "delete";
      std::string spec = e["spec"].GetString();
      spec = spec.substr(5, spec.find('.') - 5);  // "spec/x.openapi.json" -> x
      k.name = Sanitize("example_" + spec + "_" + op + "_" +
                        (e["example_name"].IsString() ? e["example_name"].GetString() : "none"));
      k.method = e["method"].GetString();
      k.url = Replace(
          Replace(Replace(e["url_template"].GetString(), "{ServiceSid}", kServicePlaceholder),
                  "{ChatServiceSid}", kServicePlaceholder),
          "{Sid}", kUserPlaceholder);
      k.form = Pairs(e, "request_form_example");
      k.want_status = e["response_status"].GetInt();
      k.want_body = &e["response_body"];
      k.loose_friendly_name = k.fixture != "conversations_v1_users";
      cases.push_back(k);
    }
  }
  return cases;
}

const std::vector<Case>& Cases() {
  static const auto* cases = new std::vector<Case>(AllCases());
  return *cases;
}

std::vector<int> CaseIndexes() {
  std::vector<int> out;
  for (size_t i = 0; i < Cases().size(); ++i) out.push_back(static_cast<int>(i));
  return out;
}

// The users the recorded body shows: the list items, or the one user.
std::vector<const rapidjson::Value*> RecordedUsers(const Case& k) {
  std::vector<const rapidjson::Value*> out;
  if (k.want_body == nullptr || !k.want_body->IsObject()) return out;
  if (k.want_body->HasMember("users")) {
    for (const auto& u : (*k.want_body)["users"].GetArray()) out.push_back(&u);
  } else {
    out.push_back(k.want_body);
  }
  return out;
}

std::optional<std::string> Text(const rapidjson::Value* user, const char* key) {
  if (user == nullptr || !user->HasMember(key) || !(*user)[key].IsString()) return std::nullopt;
  return std::string((*user)[key].GetString());
}

void SetOrAdd(FormPairs* form, const std::string& key, const std::string& value) {
  for (auto& kv : *form) {
    if (kv.first == key) {
      kv.second = value;
      return;
    }
  }
  form->emplace_back(key, value);
}

class FixtureReplayTest : public ::testing::TestWithParam<int> {};

TEST_P(FixtureReplayTest, Replays) {
  const Case& k = Cases()[GetParam()];
  SCOPED_TRACE(k.name + ": " + k.method + " " + k.url);
  RestHarness rest;

  const bool default_path = k.url.find("/v1/Users") != std::string::npos;
  std::string service_sid = rest.store().default_conversation_service_sid();
  std::string default_role;
  if (!default_path) {
    Reply s = rest.Post("https://chat.twilio.com/v2/Services", {{"FriendlyName", "fixtures"}});
    ASSERT_EQ(s.status, 201) << s.body;
    service_sid = s.Str("sid");
    default_role = s.Str("default_service_role_sid");
  } else {
    Reply s = rest.Get("/v1/Services/" + service_sid);
    ASSERT_EQ(s.status, 200) << s.body;
    default_role = s.Str("default_service_role_sid");
  }
  std::string url = Replace(k.url, kServicePlaceholder, service_sid);
  const std::string list_url = url.substr(0, url.find("/Users") + 6);

  const std::vector<const rapidjson::Value*> users = RecordedUsers(k);
  const rapidjson::Value* recorded = users.empty() ? nullptr : users.front();
  auto text = [&](const char* key) { return Text(recorded, key); };

  FormPairs form = k.form;
  for (auto& kv : form) {
    if (kv.first == "RoleSid" && kv.second == kRolePlaceholder) kv.second = default_role;
  }

  // The users the case reads, changes or deletes (for a list: every recorded
  // item, in order).
  if (k.operation == "fetch" || k.operation == "update" || k.operation == "delete" ||
      k.operation == "list") {
    std::vector<const rapidjson::Value*> setup = users;
    if (setup.empty() && k.operation != "list") setup.push_back(nullptr);
    for (const rapidjson::Value* u : setup) {
      FormPairs create = {{"Identity", Text(u, "identity").value_or("someone")}};
      if (k.operation != "update") {
        if (auto fn = Text(u, "friendly_name")) create.emplace_back("FriendlyName", *fn);
        if (auto a = Text(u, "attributes")) create.emplace_back("Attributes", *a);
      }
      Reply created = rest.Post(list_url, create);
      ASSERT_EQ(created.status, 201) << created.body;
      url = Replace(url, kUserPlaceholder, created.Str("sid"));
    }
  }
  if (k.response && k.operation == "create") {
    if (auto id = text("identity")) SetOrAdd(&form, "Identity", *id);
    if (auto fn = text("friendly_name")) SetOrAdd(&form, "FriendlyName", *fn);
    if (auto a = text("attributes")) SetOrAdd(&form, "Attributes", *a);
  }
  if (k.response && k.operation == "update") {
    if (auto fn = text("friendly_name")) SetOrAdd(&form, "FriendlyName", *fn);
    if (auto a = text("attributes")) SetOrAdd(&form, "Attributes", *a);
  }
  ASSERT_EQ(url.find("XXXXXXXX"), std::string::npos) << url;

  Reply r = rest.Call(k.method, url, form, k.headers);
  ASSERT_EQ(r.status, k.want_status) << r.body;
  if (!k.response) return;
  if (k.want_body->IsNull()) {
    EXPECT_EQ(r.body, "");
    return;
  }
  std::vector<std::string> errors;
  CompareBody(*k.want_body, *r.json, "$", "", &errors);
  for (const std::string& e : errors) {
    if (k.loose_friendly_name && e.find(".friendly_name:") != std::string::npos) continue;
    ADD_FAILURE() << e << "\n  body: " << r.body;
  }
}

INSTANTIATE_TEST_SUITE_P(Twilio, FixtureReplayTest, ::testing::ValuesIn(CaseIndexes()),
                         [](const ::testing::TestParamInfo<int>& info) {
                           return Cases()[info.param].name;
                         });

// Guards against a silently empty suite: every file, host and kind is there.
TEST(FixtureInventoryTest, EveryRecordedCaseIsReplayed) {
  int response = 0, request = 0, examples = 0;
  std::set<std::string> hosts;
  for (const Case& k : Cases()) {
    if (k.name.rfind("example_", 0) == 0) {
      ++examples;
    } else if (k.response) {
      ++response;
    } else {
      ++request;
    }
    hosts.insert(k.url.substr(0, k.url.find('/', 8)));
  }
  EXPECT_EQ(response, 34);
  EXPECT_EQ(request, 30);
  EXPECT_EQ(examples, 34);
  EXPECT_EQ(hosts,
            (std::set<std::string>{"https://chat.twilio.com", "https://conversations.twilio.com",
                                   "https://ip-messaging.twilio.com"}));
}

// The comparator itself must catch differences, or the replay proves nothing.
TEST(FixtureComparatorTest, DetectsDifferences) {
  rapidjson::Document want, got;
  want.Parse(R"({"sid":"USaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa","identity":"jing","n":0,)"
             R"("url":"https://chat.twilio.com/v2/Services/ISaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",)"
             R"("attributes":null,"is_online":true,"date_created":"2016-03-24T21:05:19Z"})");
  got.Parse(R"({"sid":"US0123456789abcdef0123456789abcdef","identity":"jing","n":0,)"
            R"("url":"https://chat.twilio.com/v2/Services/IS0123456789abcdef0123456789abcdef",)"
            R"("attributes":"{}","is_online":null,"date_created":"2026-01-01T00:00:00Z"})");
  std::vector<std::string> errors;
  CompareBody(want, got, "$", "", &errors);
  EXPECT_TRUE(errors.empty()) << errors.front();

  for (
      const char* bad :
      {R"({"sid":"US0123456789abcdef0123456789abcdef","identity":"jinG","n":0,"url":"https://chat.twilio.com/v2/Services/IS0123456789abcdef0123456789abcdef","attributes":"{}","is_online":null,"date_created":"2026-01-01T00:00:00Z"})",
       R"({"sid":"US0123456789abcdef0123456789abcdef","identity":"jing","n":1,"url":"https://chat.twilio.com/v2/Services/IS0123456789abcdef0123456789abcdef","attributes":"{}","is_online":null,"date_created":"2026-01-01T00:00:00Z"})",
       R"({"sid":"US0123456789abcdef0123456789abcdef","identity":"jing","n":0,"url":"https://ip-messaging.twilio.com/v2/Services/IS0123456789abcdef0123456789abcdef","attributes":"{}","is_online":null,"date_created":"2026-01-01T00:00:00Z"})",
       R"({"identity":"jing","sid":"US0123456789abcdef0123456789abcdef","n":0,"url":"https://chat.twilio.com/v2/Services/IS0123456789abcdef0123456789abcdef","attributes":"{}","is_online":null,"date_created":"2026-01-01T00:00:00Z"})",
       R"({"sid":"US0123456789abcdef0123456789abcdef","identity":"jing","n":0,"url":"https://chat.twilio.com/v2/Services/IS0123456789abcdef0123456789abcdef","attributes":{},"is_online":null,"date_created":"2026-01-01T00:00:00Z"})",
       R"({"sid":"US0123456789abcdef0123456789abcdef","identity":"jing","n":0,"url":"https://chat.twilio.com/v2/Services/IS0123456789abcdef0123456789abcdef","attributes":"{}","is_online":"yes","date_created":"2026-01-01T00:00:00Z"})",
       R"({"sid":"US0123456789abcdef0123456789abcdef","identity":"jing","n":0,"url":"https://chat.twilio.com/v2/Services/IS0123456789abcdef0123456789abcdef","attributes":"{}","is_online":null,"date_created":"2026-01-01 00:00:00"})"}) {
    rapidjson::Document b;
    b.Parse(bad);
    std::vector<std::string> e;
    CompareBody(want, b, "$", "", &e);
    EXPECT_FALSE(e.empty()) << bad;
  }
}

}  // namespace
