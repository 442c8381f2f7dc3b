// The OpenAPI validator of tests/testing/openapi_validator.h, checked against
// Twilio's own specs (tests/data/openapi): the specs load, every $ref
// resolves, every example in them validates, and broken copies of those
// examples do not. Then every operation of every Users surface, served by the
// dispatcher, validates against its spec. (The other REST tests validate
// every 2xx Users body they produce through the same function.)

#include <functional>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "rapidjson/document.h"
#include "rapidjson/stringbuffer.h"
#include "rapidjson/writer.h"
#include "tests/testing/openapi_validator.h"
#include "tests/testing/rest_testing.h"

namespace {

using userstore_test::OpenApiSpec;
using userstore_test::Reply;
using userstore_test::RestHarness;
using userstore_test::SpecNameFor;
using userstore_test::ValidateUserResponse;

const char* const kSpecs[] = {"chat_v2_users", "chat_v1_users", "ip_messaging_v2_users",
                              "ip_messaging_v1_users", "conversations_v1_users"};

std::string ToJson(const rapidjson::Value& v) {
  rapidjson::StringBuffer buffer;
  rapidjson::Writer<rapidjson::StringBuffer> writer(buffer);
  v.Accept(writer);
  return buffer.GetString();
}

// Calls `fn(path, method, status, schema, example)` for every JSON response
// example of `spec`.
void ForEachExample(
    const OpenApiSpec& spec,
    const std::function<void(const std::string&, const std::string&, int, const rapidjson::Value&,
                             const rapidjson::Value&)>& fn) {
  const auto& paths = spec.doc()["paths"];
  for (auto p = paths.MemberBegin(); p != paths.MemberEnd(); ++p) {
    for (const char* method : {"get", "post", "delete"}) {
      if (!p->value.HasMember(method)) continue;
      const auto& responses = p->value[method]["responses"];
      for (auto r = responses.MemberBegin(); r != responses.MemberEnd(); ++r) {
        const int status = std::stoi(r->name.GetString());
        const rapidjson::Value* schema = spec.ResponseSchema(p->name.GetString(), method, status);
        if (schema == nullptr) continue;
        const auto& json = r->value["content"]["application/json"];
        if (!json.HasMember("examples")) continue;
        for (auto e = json["examples"].MemberBegin(); e != json["examples"].MemberEnd(); ++e) {
          fn(p->name.GetString(), method, status, *schema, e->value["value"]);
        }
      }
    }
  }
}

std::vector<std::string> Check(const OpenApiSpec& spec, const rapidjson::Value& schema,
                               const std::string& json) {
  rapidjson::Document doc;
  doc.Parse(json.c_str());
  EXPECT_FALSE(doc.HasParseError()) << json;
  std::vector<std::string> errors;
  spec.Validate(schema, doc, "$", &errors);
  return errors;
}

// Every "$ref" string anywhere in `v`.
void CollectRefs(const rapidjson::Value& v, std::vector<std::string>* refs) {
  if (v.IsObject()) {
    for (auto m = v.MemberBegin(); m != v.MemberEnd(); ++m) {
      if (std::string(m->name.GetString()) == "$ref" && m->value.IsString()) {
        refs->push_back(m->value.GetString());
      }
      CollectRefs(m->value, refs);
    }
  } else if (v.IsArray()) {
    for (const auto& item : v.GetArray()) CollectRefs(item, refs);
  }
}

TEST(OpenApiSpecTest, EverySpecLoadsAndEveryRefResolves) {
  for (const char* name : kSpecs) {
    const OpenApiSpec* spec = OpenApiSpec::Get(name);
    ASSERT_NE(spec, nullptr) << name;
    ASSERT_TRUE(spec->doc().HasMember("paths")) << name;
    std::vector<std::string> refs;
    CollectRefs(spec->doc(), &refs);
    EXPECT_FALSE(refs.empty()) << name;
    for (const std::string& ref : refs) {
      ASSERT_EQ(ref.rfind("#/components/schemas/", 0), 0u) << ref;
      const std::string key = ref.substr(21);
      EXPECT_TRUE(spec->doc()["components"]["schemas"].HasMember(key.c_str()))
          << name << " " << ref;
    }
  }
}

TEST(OpenApiSpecTest, EveryExampleInTheSpecsValidates) {
  int examples = 0;
  for (const char* name : kSpecs) {
    const OpenApiSpec* spec = OpenApiSpec::Get(name);
    ASSERT_NE(spec, nullptr);
    ForEachExample(*spec, [&](const std::string& path, const std::string& method, int status,
                              const rapidjson::Value& schema, const rapidjson::Value& example) {
      ++examples;
      std::vector<std::string> errors;
      spec->Validate(schema, example, "$", &errors);
      EXPECT_THAT(errors, ::testing::IsEmpty())
          << name << " " << method << " " << path << " " << status;
    });
  }
  EXPECT_GE(examples, 20);  // create, fetch, update, list (full/empty) per surface
}

// Broken copies of a real example must each be caught.
TEST(OpenApiValidatorTest, RejectsBrokenCopiesOfRealExamples) {
  const OpenApiSpec* spec = OpenApiSpec::Get("chat_v2_users");
  ASSERT_NE(spec, nullptr);
  const rapidjson::Value* user =
      spec->ResponseSchema("/v2/Services/{ServiceSid}/Users/{Sid}", "get", 200);
  const rapidjson::Value* list =
      spec->ResponseSchema("/v2/Services/{ServiceSid}/Users", "get", 200);
  ASSERT_NE(user, nullptr);
  ASSERT_NE(list, nullptr);
  std::string good;
  ForEachExample(*spec, [&](const std::string& path, const std::string& method, int,
                            const rapidjson::Value&, const rapidjson::Value& example) {
    if (path == "/v2/Services/{ServiceSid}/Users/{Sid}" && method == "get") good = ToJson(example);
  });
  ASSERT_FALSE(good.empty());
  EXPECT_THAT(Check(*spec, *user, good), ::testing::IsEmpty());

  auto replace = [&](const std::string& from, const std::string& to) {
    std::string s = good;
    const size_t at = s.find(from);
    EXPECT_NE(at, std::string::npos) << from;
    return s.replace(at, from.size(), to);
  };
  const std::vector<std::string> broken = {
      replace("\"sid\":\"USaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"", "\"sid\":42"),
      replace("\"sid\":\"USaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"",
              "\"sid\":\"UXaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\""),
      replace("\"sid\":\"USaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"",
              "\"sid\":\"USaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\""),
      replace("\"is_online\":true", "\"is_online\":\"true\""),
      replace("\"joined_channels_count\":0", "\"joined_channels_count\":null"),
      replace("\"joined_channels_count\":0", "\"joined_channels_count\":0.5"),
      replace("\"date_created\":\"2016-03-24T21:05:19Z\"", "\"date_created\":\"2016-03-24\""),
      replace("\"date_updated\":\"2016-03-24T21:05:19Z\"",
              "\"date_updated\":\"2016-13-24T21:05:19Z\""),
      replace("\"url\":\"https://chat", "\"url\":\"chat"),
      replace("\"identity\":\"jing\"", "\"identity\":\"jing\",\"extra\":1"),
      replace("\"user_channels\":\"https://", "\"user_channels\":\"not a uri "),
      replace("\"links\":{", "\"links\":{\"x\":1,"),
      "[]",
  };
  for (const std::string& b : broken) {
    EXPECT_THAT(Check(*spec, *user, b), ::testing::Not(::testing::IsEmpty())) << b;
  }
  // Lists: the meta object is strict, and items are users.
  std::string list_example;
  ForEachExample(*spec, [&](const std::string& path, const std::string& method, int,
                            const rapidjson::Value&, const rapidjson::Value& example) {
    if (path == "/v2/Services/{ServiceSid}/Users" && method == "get" &&
        example["users"].Size() == 1) {
      list_example = ToJson(example);
    }
  });
  ASSERT_FALSE(list_example.empty());
  EXPECT_THAT(Check(*spec, *list, list_example), ::testing::IsEmpty());
  std::string bad_meta = list_example;
  bad_meta.replace(bad_meta.find("\"page\":0"), 8, "\"page\":\"0\"");
  EXPECT_THAT(Check(*spec, *list, bad_meta), ::testing::Not(::testing::IsEmpty()));
  std::string bad_item = list_example;
  bad_item.replace(bad_item.find("\"role_sid\":\"RL"), 14, "\"role_sid\":\"XX");
  EXPECT_THAT(Check(*spec, *list, bad_item), ::testing::Not(::testing::IsEmpty()));
}

TEST(OpenApiValidatorTest, EnumRequiredAndLengths) {
  const OpenApiSpec* spec = OpenApiSpec::Get("conversations_v1_users");
  ASSERT_NE(spec, nullptr);
  const auto& webhook = spec->doc()["components"]["schemas"]["user_enum_webhook_enabled_type"];
  EXPECT_THAT(Check(*spec, webhook, "\"true\""), ::testing::IsEmpty());
  EXPECT_THAT(Check(*spec, webhook, "\"false\""), ::testing::IsEmpty());
  EXPECT_THAT(Check(*spec, webhook, "\"TRUE\""), ::testing::Not(::testing::IsEmpty()));
  EXPECT_THAT(Check(*spec, webhook, "null"), ::testing::Not(::testing::IsEmpty()));

  rapidjson::Document schema;
  schema.Parse(R"({"type":"object","required":["a"],"properties":{)"
               R"("a":{"type":"string","minLength":2,"maxLength":3},)"
               R"("b":{"type":"integer","minimum":1,"maximum":5}}})");
  EXPECT_THAT(Check(*spec, schema, R"({"a":"\u00e9\u00e9\u00e9","b":5})"), ::testing::IsEmpty())
      << "lengths count code points";
  EXPECT_THAT(Check(*spec, schema, R"({"b":1})"), ::testing::Not(::testing::IsEmpty()));
  EXPECT_THAT(Check(*spec, schema, R"({"a":"x"})"), ::testing::Not(::testing::IsEmpty()));
  EXPECT_THAT(Check(*spec, schema, R"({"a":"xxxx"})"), ::testing::Not(::testing::IsEmpty()));
  EXPECT_THAT(Check(*spec, schema, R"({"a":"xx","b":0})"), ::testing::Not(::testing::IsEmpty()));
  EXPECT_THAT(Check(*spec, schema, R"({"a":"xx","b":6})"), ::testing::Not(::testing::IsEmpty()));
}

TEST(OpenApiValidatorTest, PicksTheSpecByHostAndVersion) {
  EXPECT_EQ(SpecNameFor("chat.twilio.com", "/v2/Services/IS1/Users"), "chat_v2_users");
  EXPECT_EQ(SpecNameFor("", "/v2/Services/IS1/Users/a"), "chat_v2_users");
  EXPECT_EQ(SpecNameFor("ip-messaging.twilio.com", "/v2/Services/IS1/Users"),
            "ip_messaging_v2_users");
  EXPECT_EQ(SpecNameFor("chat.twilio.com", "/v1/Services/IS1/Users"), "chat_v1_users");
  EXPECT_EQ(SpecNameFor("", "/v1/Services/IS1/Users"), "chat_v1_users");
  EXPECT_EQ(SpecNameFor("ip-messaging.twilio.com", "/v1/Services/IS1/Users"),
            "ip_messaging_v1_users");
  EXPECT_EQ(SpecNameFor("conversations.twilio.com", "/v1/Services/IS1/Users"),
            "conversations_v1_users");
  EXPECT_EQ(SpecNameFor("", "/v1/Users/x"), "conversations_v1_users");
  EXPECT_EQ(SpecNameFor("chat.twilio.com", "/v2/Services/IS1"), "");
  // A status the operation does not declare is reported.
  EXPECT_THAT(
      ValidateUserResponse("GET", "https://chat.twilio.com/v2/Services/IS1/Users/a", 201, "{}"),
      ::testing::Not(::testing::IsEmpty()));
  EXPECT_THAT(
      ValidateUserResponse("DELETE", "https://chat.twilio.com/v2/Services/IS1/Users/a", 204, ""),
      ::testing::IsEmpty());
}

// Every Users operation of every surface, as the dispatcher serves it, is
// valid against that surface's spec (Send() validates; this sweep makes
// sure each combination is exercised at least once, with all optional
// fields both set and unset, and with reachability on).
TEST(OpenApiDispatcherTest, EveryOperationOfEverySurfaceValidates) {
  RestHarness rest;
  const std::string svc = rest.CreateService("openapi");
  for (const std::string& s : {svc, rest.store().default_conversation_service_sid()}) {
    ASSERT_EQ(rest.Post("/v2/Services/" + s, {{"ReachabilityEnabled", "true"}}).status, 200);
  }
  const std::vector<std::string> lists = {
      "https://chat.twilio.com/v2/Services/" + svc + "/Users",
      "https://ip-messaging.twilio.com/v2/Services/" + svc + "/Users",
      "https://chat.twilio.com/v1/Services/" + svc + "/Users",
      "https://ip-messaging.twilio.com/v1/Services/" + svc + "/Users",
      "/v1/Services/" + svc + "/Users",
      "https://conversations.twilio.com/v1/Services/" + svc + "/Users",
      "https://conversations.twilio.com/v1/Users",
      "/v1/Users",
  };
  int n = 0;
  for (const std::string& list : lists) {
    SCOPED_TRACE(list);
    const std::string a = "a" + std::to_string(n), b = "b" + std::to_string(n);
    ++n;
    Reply created = rest.Post(list, {{"Identity", a}});
    ASSERT_EQ(created.status, 201) << created.body;
    Reply full = rest.Post(
        list, {{"Identity", b}, {"FriendlyName", "B"}, {"Attributes", "{\"x\": [1, 2]}"}});
    ASSERT_EQ(full.status, 201) << full.body;
    userstore::PresenceUpdate presence;
    presence.is_online = true;
    ASSERT_TRUE(rest.store()
                    .SetPresence(created.Str("chat_service_sid").empty()
                                     ? created.Str("service_sid")
                                     : created.Str("chat_service_sid"),
                                 a, presence)
                    .ok());
    Reply fetched = rest.Get(list + "/" + a);
    EXPECT_EQ(fetched.status, 200);
    EXPECT_TRUE(fetched["is_online"].IsBool());
    EXPECT_EQ(rest.Get(list + "/" + created.Str("sid")).status, 200);
    EXPECT_EQ(rest.Post(list + "/" + a, {{"FriendlyName", "A"}}).status, 200);
    EXPECT_EQ(rest.Post(list + "/" + a, {}).status, 200);
    EXPECT_EQ(rest.Get(list).status, 200);
    EXPECT_EQ(rest.Get(list + "?PageSize=1").status, 200);
    EXPECT_EQ(rest.Delete(list + "/" + a).status, 204);
    EXPECT_EQ(rest.Delete(list + "/" + b).status, 204);
  }
}

}  // namespace
