// Fuzz target: the REST dispatcher (userstore/rest.h) fed sequences of
// requests against one store.
//
// The input is a script: each request is either raw bytes (method, URL,
// header and body taken as they come) or built from a small grammar of
// methods, hosts, paths (versions, Services/Users/Roles, SIDs and identities
// seen in earlier responses, near-miss SIDs, "..", "//"), query parameters
// (PageSize values, page tokens harvested from earlier next/previous URLs,
// forged ones), the webhook header and form parameters whose values mix
// valid, boundary and hostile text. Up to 48 requests per input.
//
// Checks, for every response:
//   - the status is one of 200, 201, 204, 400, 403, 404, 405, 409;
//   - 204 has an empty body; every other body is a valid JSON object;
//     error bodies carry code, message, more_info and status, consistent with
//     each other and with the error table;
//   - a GET, and any request answered with an error, leaves the store
//     unchanged (last_sequence() does not move: no partial writes);
// and after the sequence:
//   - store.CheckInvariants() is OK;
//   - a replica fed by the change feed (SubscribeWithSnapshot + Apply) holds
//     exactly the same services, roles and users (every Apply succeeds).

#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "fuzz_common.h"
#include "fuzz_store.h"
#include "rapidjson/document.h"

#include "userstore/rest.h"
#include "userstore/user_store.h"

#include "core/rest/http_parse.h"

namespace {

using userstore::HttpRequest;
using userstore::HttpResponse;
using userstore::fuzz::ByteReader;
using userstore::fuzz::Escape;

constexpr int kMaxRequests = 48;
constexpr size_t kMaxPool = 24;

struct Pools {
  std::vector<std::string> services;
  std::vector<std::string> users;
  std::vector<std::string> identities;
  std::vector<std::string> roles;
  std::vector<std::string> tokens;

  static void Add(std::vector<std::string>* pool, std::string value) {
    for (const auto& v : *pool) {
      if (v == value) return;
    }
    if (pool->size() >= kMaxPool) pool->erase(pool->begin());
    pool->push_back(std::move(value));
  }
};

std::string RandomHex(ByteReader* in, size_t n, bool upper) {
  static const char kLower[] = "0123456789abcdef";
  static const char kUpper[] = "0123456789ABCDEF";
  std::string out;
  for (size_t i = 0; i < n; ++i) out.push_back((upper ? kUpper : kLower)[in->Byte() & 15]);
  return out;
}

// A SID-like string: taken from `pool`, or a near miss of one.
std::string SidLike(ByteReader* in, const std::vector<std::string>& pool, const char* prefix) {
  std::string base = pool.empty() ? std::string(prefix) + RandomHex(in, 32, false) : in->Pick(pool);
  switch (in->Below(8)) {
    case 0:  // upper-case hex: SID-shaped, names nothing
      for (size_t i = 2; i < base.size(); ++i) {
        if (base[i] >= 'a' && base[i] <= 'f') base[i] = static_cast<char>(base[i] - 32);
      }
      return base;
    case 1:
      return base.substr(0, base.size() - 1);  // too short
    case 2:
      return base + "0";  // too long
    case 3:
      return std::string(prefix) + RandomHex(in, 32, false);  // unknown
    case 4:
      return std::string(prefix) + std::string(32, 'X');  // the fixtures' placeholder
    default:
      return base;
  }
}

std::string IdentityValue(ByteReader* in, Pools* pools, int* counter) {
  switch (in->Below(12)) {
    case 0:
    case 1:
      if (!pools->identities.empty()) return in->Pick(pools->identities);
      [[fallthrough]];
    case 2:
    case 3:
      return absl::StrCat("user", (*counter)++);
    case 4:
      return std::string(256 + in->Below(2), 'i');  // 256 valid, 257 too long
    case 5: {
      std::string s;  // 256 or 257 four-byte characters
      const size_t n = 256 + in->Below(2);
      for (size_t i = 0; i < n; ++i) s += "\xF0\x9F\x98\x80";
      return s;
    }
    case 6:
      return std::string("US") + RandomHex(in, 32, in->Bool());  // SID-shaped
    case 7:
      return "";
    case 8:
      return in->Pick({std::string("\xC0\xAF"), std::string("\xED\xA0\x80"), std::string("a\0b", 3),
                       std::string("\xF4\x90\x80\x80"), std::string("caf\xC3\xA9"),
                       std::string("a b/c?d#e%f&g=h+i")});
    default:
      return in->Bytes(40);
  }
}

std::string AttributesValue(ByteReader* in) {
  switch (in->Below(10)) {
    case 0:
      return "{}";
    case 1:
      return R"({"level": 3, "tags": ["a", "b"], "n": null})";
    case 2:
      return "\"veto\"";  // refused by the fixture's pre-event hook
    case 3:
      return std::string(64 + in->Below(3), '[') + std::string(64, ']');  // the depth limit
    case 4:
      return std::string(16 * 1024 - 2 + in->Below(3) - 2, ' ') + "{}";  // the size limit
    case 5:
      return in->Pick({std::string("{\"a\":"), std::string("{\"a\":\"\xC3\x28\"}"),
                       std::string("1e400"), std::string("\"\\ud800\""), std::string("nul"),
                       std::string("[1,]"), std::string("{\"a\":1}\0", 8)});
    default:
      return in->Bytes(64);
  }
}

std::string FormValue(ByteReader* in, const std::string& key, Pools* pools,
                      const userstore::fuzz::FuzzStore& fixture, int* counter) {
  if (key == "Identity") return IdentityValue(in, pools, counter);
  if (key == "Attributes") return AttributesValue(in);
  if (key == "RoleSid" || key == "DefaultServiceRoleSid") {
    if (in->Below(4) == 0) return fixture.channel_role_sid();
    return SidLike(in, pools->roles, "RL");
  }
  if (key == "FriendlyName") {
    switch (in->Below(4)) {
      case 0:
        return std::string(256 + in->Below(2), 'f');
      case 1:
        return "Friendly";
      default:
        return in->Bytes(32);
    }
  }
  if (key == "Type") {
    return in->Pick({std::string("deployment"), std::string("channel"), std::string("Channel"),
                     std::string("")});
  }
  if (key == "ReachabilityEnabled") {
    return in->Pick(
        {std::string("true"), std::string("false"), std::string("True"), std::string("1")});
  }
  if (key == "Permission") {
    return in->Pick({std::string("sendMessage"), std::string("editOwnUserInfo"), std::string("")});
  }
  return in->Bytes(16);
}

std::string PathFor(ByteReader* in, Pools* pools, const userstore::fuzz::FuzzStore& fixture) {
  static const char* const kVersions[] = {"/v1", "/v2", "/v2", "/v1", "/v3", ""};
  std::string path = in->Pick(kVersions);
  auto user_segment = [&]() -> std::string {
    switch (in->Below(5)) {
      case 0:
      case 1:
        return SidLike(in, pools->users, "US");
      case 2:
        if (!pools->identities.empty()) {
          return userstore::PercentEncodePathSegment(in->Pick(pools->identities));
        }
        return "alice";
      case 3:
        return userstore::PercentEncodePathSegment(in->Bytes(24));
      default:
        return in->Bytes(24);  // raw: '/', '%', '?' and bytes as they come
    }
  };
  auto service_segment = [&]() -> std::string {
    if (in->Below(4) == 0) return fixture.store().default_conversation_service_sid();
    return SidLike(in, pools->services, "IS");
  };
  switch (in->Below(6)) {
    case 0:
      path += "/Users";
      if (in->Bool()) path += "/" + user_segment();
      break;
    case 1:
      path += "/Services";
      if (in->Bool()) path += "/" + service_segment();
      break;
    case 2:
    case 3:
      path += "/Services/" + service_segment() + "/Users";
      if (in->Bool()) path += "/" + user_segment();
      break;
    case 4:
      path += "/Services/" + service_segment() + "/Roles";
      if (in->Bool()) path += "/" + SidLike(in, pools->roles, "RL");
      break;
    default:
      path += in->Pick({std::string("/Users/../Users"), std::string("//Users"),
                        std::string("/Services/./x"), std::string("/Users/"),
                        std::string("/Users/alice/Channels"), std::string("/"),
                        std::string("/Users%2Falice")});
      break;
  }
  if (in->Below(16) == 0)
    path += in->Pick({std::string("/"), std::string("/x"), std::string("//")});
  return path;
}

std::string QueryFor(ByteReader* in, Pools* pools) {
  std::vector<std::pair<std::string, std::string>> params;
  const size_t n = in->Below(4);
  for (size_t i = 0; i < n; ++i) {
    switch (in->Below(4)) {
      case 0:
        params.emplace_back(
            "PageSize",
            in->Pick({std::string("1"), std::string("2"), std::string("50"), std::string("0"),
                      std::string("-1"), std::string("1.5"), std::string("abc"),
                      std::string("99999999999999999999"), std::string("1001"), std::string("+5"),
                      std::string(""), std::string("9223372036854775807")}));
        break;
      case 1: {
        std::string token;
        if (!pools->tokens.empty() && in->Below(4) != 0) {
          token = in->Pick(pools->tokens);
          switch (in->Below(6)) {
            case 0:
              token = token.substr(0, token.size() / 2);
              break;
            case 1:
              if (!token.empty()) token[token.size() - 1 - in->Below(token.size())] ^= 1;
              break;
            case 2:
              token += "=";
              break;
            default:
              break;
          }
        } else {
          token = in->Bytes(60);
        }
        params.emplace_back("PageToken", token);
        break;
      }
      case 2:
        params.emplace_back("Page", in->Pick({std::string("0"), std::string("1"), std::string("-1"),
                                              std::string("x")}));
        break;
      default:
        params.emplace_back(in->Bytes(8), in->Bytes(8));
        break;
    }
  }
  if (params.empty()) return "";
  std::string query = userstore::FormEncode(params);
  if (in->Below(8) == 0)
    query += in->Pick({std::string("&%"), std::string("%zz"), std::string("&&")});
  return "?" + query;
}

HttpRequest BuildRequest(ByteReader* in, Pools* pools, const userstore::fuzz::FuzzStore& fixture,
                         int* counter) {
  HttpRequest request;
  if (in->Below(8) == 0) {  // raw
    request.method = in->Bytes(8);
    request.url = fixture.ExpandMacros(in->Bytes(120));
    if (in->Bool()) request.headers.emplace_back(in->Bytes(30), in->Bytes(10));
    request.body = fixture.ExpandMacros(in->Bytes(120));
    return request;
  }
  static const char* const kMethods[] = {"GET", "POST",  "DELETE", "GET", "POST",   "POST",
                                         "PUT", "PATCH", "get",    "",    "DELETE", "HEAD"};
  request.method = in->Pick(kMethods);
  static const char* const kHosts[] = {"",
                                       "",
                                       "https://chat.twilio.com",
                                       "https://ip-messaging.twilio.com",
                                       "https://conversations.twilio.com",
                                       "http://CHAT.Twilio.com:443",
                                       "https://example.com",
                                       "https://user:pw@chat.twilio.com",
                                       "chat.twilio.com",
                                       "https://[::1]"};
  request.url = std::string(in->Pick(kHosts)) + PathFor(in, pools, fixture) + QueryFor(in, pools);
  switch (in->Below(6)) {
    case 0:
      request.headers.emplace_back("X-Twilio-Webhook-Enabled", "true");
      break;
    case 1:
      request.headers.emplace_back("x-twilio-webhook-enabled",
                                   in->Pick({std::string("false"), std::string("TRUE"),
                                             std::string(""), std::string("yes")}));
      break;
    default:
      break;
  }
  static const char* const kKeys[] = {
      "Identity", "Identity", "FriendlyName", "Attributes",          "Attributes",
      "RoleSid",  "Type",     "Permission",   "ReachabilityEnabled", "DefaultServiceRoleSid",
      "identity", "Unknown"};
  std::vector<std::pair<std::string, std::string>> form;
  const size_t n = in->Below(5);
  for (size_t i = 0; i < n; ++i) {
    std::string key = in->Pick(kKeys);
    std::string value = FormValue(in, key, pools, fixture, counter);
    form.emplace_back(std::move(key), std::move(value));
  }
  request.body = userstore::FormEncode(form);
  if (in->Below(10) == 0)
    request.body += in->Pick({std::string("&Identity=%"), std::string("%G1"), std::string("&=")});
  return request;
}

// The PageToken of a next/previous page URL, decoded.
void HarvestToken(const rapidjson::Value& meta, const char* field, Pools* pools) {
  const auto it = meta.FindMember(field);
  if (it == meta.MemberEnd() || !it->value.IsString()) return;
  const std::string url(it->value.GetString(), it->value.GetStringLength());
  const size_t q = url.find('?');
  if (q == std::string::npos) return;
  const auto params = userstore::internal::DecodeForm(absl::string_view(url).substr(q + 1));
  FUZZ_CHECK(params.ok(), "a page URL the dispatcher wrote does not decode: %s",
             Escape(url).c_str());
  for (const auto& kv : *params) {
    if (kv.first == "PageToken") Pools::Add(&pools->tokens, kv.second);
  }
}

void HarvestItem(const rapidjson::Value& item, Pools* pools) {
  if (!item.IsObject()) return;
  const auto sid = item.FindMember("sid");
  if (sid == item.MemberEnd() || !sid->value.IsString()) return;
  const std::string s(sid->value.GetString(), sid->value.GetStringLength());
  if (s.rfind("US", 0) == 0) {
    Pools::Add(&pools->users, s);
    const auto identity = item.FindMember("identity");
    if (identity != item.MemberEnd() && identity->value.IsString()) {
      Pools::Add(&pools->identities,
                 std::string(identity->value.GetString(), identity->value.GetStringLength()));
    }
  } else if (s.rfind("IS", 0) == 0) {
    Pools::Add(&pools->services, s);
  } else if (s.rfind("RL", 0) == 0) {
    Pools::Add(&pools->roles, s);
  }
}

void Harvest(const rapidjson::Document& doc, Pools* pools) {
  if (!doc.IsObject()) return;
  HarvestItem(doc, pools);
  for (const char* key : {"users", "services", "roles"}) {
    const auto list = doc.FindMember(key);
    if (list == doc.MemberEnd() || !list->value.IsArray()) continue;
    for (const auto& item : list->value.GetArray()) HarvestItem(item, pools);
  }
  const auto meta = doc.FindMember("meta");
  if (meta != doc.MemberEnd() && meta->value.IsObject()) {
    HarvestToken(meta->value, "next_page_url", pools);
    HarvestToken(meta->value, "previous_page_url", pools);
  }
}

// --- replica comparison ---------------------------------------------------------

bool SameUser(const userstore::User& a, const userstore::User& b) {
  return a.sid == b.sid && a.account_sid == b.account_sid && a.service_sid == b.service_sid &&
         a.role_sid == b.role_sid && a.identity == b.identity && a.attributes == b.attributes &&
         a.friendly_name == b.friendly_name && a.is_online == b.is_online &&
         a.is_notifiable == b.is_notifiable && a.joined_channels_count == b.joined_channels_count &&
         a.date_created == b.date_created && a.date_updated == b.date_updated;
}
bool SameRole(const userstore::Role& a, const userstore::Role& b) {
  return a.sid == b.sid && a.account_sid == b.account_sid && a.service_sid == b.service_sid &&
         a.friendly_name == b.friendly_name && a.type == b.type && a.permissions == b.permissions &&
         a.date_created == b.date_created && a.date_updated == b.date_updated;
}
bool SameService(const userstore::Service& a, const userstore::Service& b) {
  return a.sid == b.sid && a.account_sid == b.account_sid && a.friendly_name == b.friendly_name &&
         a.default_service_role_sid == b.default_service_role_sid &&
         a.default_channel_role_sid == b.default_channel_role_sid &&
         a.default_channel_creator_role_sid == b.default_channel_creator_role_sid &&
         a.reachability_enabled == b.reachability_enabled && a.date_created == b.date_created &&
         a.date_updated == b.date_updated;
}

void CheckSameSnapshot(const userstore::UserStore::SnapshotData& a,
                       const userstore::UserStore::SnapshotData& b) {
  FUZZ_CHECK(a.events.size() == b.events.size(), "replica has %zu snapshot events, source %zu",
             b.events.size(), a.events.size());
  for (size_t i = 0; i < a.events.size(); ++i) {
    const auto& x = a.events[i];
    const auto& y = b.events[i];
    FUZZ_CHECK(x.entity == y.entity && x.op == y.op &&
                   x.default_conversation_service == y.default_conversation_service,
               "replica snapshot event %zu differs in kind", i);
    bool same = x.service.has_value() == y.service.has_value() &&
                x.role.has_value() == y.role.has_value() &&
                x.user.has_value() == y.user.has_value();
    if (same && x.service) same = SameService(*x.service, *y.service);
    if (same && x.role) same = SameRole(*x.role, *y.role);
    if (same && x.user) same = SameUser(*x.user, *y.user);
    FUZZ_CHECK(same, "replica snapshot event %zu differs from the source", i);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  userstore::fuzz::FuzzStore fixture;
  userstore::UserStore& store = fixture.store();

  // The replica: fed by the feed from the same instant on.
  userstore::StoreOptions replica_options;
  replica_options.account_sid = store.account_sid();
  replica_options.create_default_service = false;
  userstore::UserStore replica(replica_options);
  bool apply_failed = false;
  std::string apply_error;
  const auto subscription = store.SubscribeWithSnapshot([&](const userstore::ChangeEvent& e) {
    const absl::Status s = replica.Apply(e);
    if (!s.ok() && !apply_failed) {
      apply_failed = true;
      apply_error = s.ToString();
    }
  });
  for (const auto& e : subscription.snapshot.events) {
    const absl::Status s = replica.Apply(e);
    FUZZ_CHECK(s.ok(), "replica rejected a snapshot event: %s", s.ToString().c_str());
  }

  Pools pools;
  Pools::Add(&pools.services, fixture.service_sid());
  Pools::Add(&pools.services, store.default_conversation_service_sid());
  Pools::Add(&pools.users, fixture.user_sid());
  Pools::Add(&pools.identities, "alice");
  Pools::Add(&pools.identities, "bob");
  Pools::Add(&pools.roles, fixture.admin_role_sid());
  Pools::Add(&pools.roles, fixture.channel_role_sid());

  ByteReader in(data, size);
  int counter = 0;
  for (int n = 0; n < kMaxRequests && !in.empty(); ++n) {
    const HttpRequest request = BuildRequest(&in, &pools, fixture, &counter);
    const uint64_t before = store.last_sequence();
    const HttpResponse response = fixture.dispatcher().Handle(request);
    const uint64_t after = store.last_sequence();
    const std::string context =
        absl::StrCat(request.method, " ", request.url, " body=", request.body);
    rapidjson::Document doc;
    userstore::fuzz::CheckHttpResponse(response, &doc, context);
    if (response.status >= 400) {
      FUZZ_CHECK(before == after, "a request answered %d changed the store: %s", response.status,
                 Escape(context).c_str());
    } else {
      Harvest(doc, &pools);
    }
    if (request.method == "GET") {
      FUZZ_CHECK(before == after, "a GET changed the store: %s", Escape(context).c_str());
    }
    if (in.Below(8) == 0) fixture.clock().Advance(absl::Seconds(1));
  }

  const absl::Status invariants = store.CheckInvariants();
  FUZZ_CHECK(invariants.ok(), "CheckInvariants: %s", invariants.ToString().c_str());
  FUZZ_CHECK(!apply_failed, "replica rejected a feed event: %s", apply_error.c_str());
  const absl::Status replica_invariants = replica.CheckInvariants();
  FUZZ_CHECK(replica_invariants.ok(), "replica CheckInvariants: %s",
             replica_invariants.ToString().c_str());
  CheckSameSnapshot(store.Snapshot(), replica.Snapshot());
  store.Unsubscribe(subscription.id);
  return 0;
}
