// `userstore import [--seed N] [--account-sid AC...] [--verbose] DIR FILE`:
// loads users from Twilio list pages, one JSON page per line
// (docs/durability.md), into the durable store in DIR, through
// `UserStore::Apply` so that SIDs and dates are kept.

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "rapidjson/document.h"
#include "rapidjson/stringbuffer.h"
#include "rapidjson/writer.h"

#include "userstore/durable.h"
#include "userstore/events.h"
#include "userstore/user_store.h"

#include "core/time_format.h"
#include "core/tools/cli.h"

namespace userstore {
namespace tools {
namespace {

struct Counts {
  uint64_t imported = 0;
  uint64_t skipped = 0;
  uint64_t failed = 0;
  uint64_t bad_lines = 0;
};

std::optional<std::string> StringMember(const rapidjson::Value& object, const char* name) {
  auto it = object.FindMember(name);
  if (it == object.MemberEnd() || !it->value.IsString()) return std::nullopt;
  return std::string(it->value.GetString(), it->value.GetStringLength());
}

// A nullable member: absent or null is nullopt; `*ok` false for a wrong type.
std::optional<bool> OptionalBool(const rapidjson::Value& object, const char* name, bool* ok) {
  auto it = object.FindMember(name);
  if (it == object.MemberEnd() || it->value.IsNull()) return std::nullopt;
  if (!it->value.IsBool()) {
    *ok = false;
    return std::nullopt;
  }
  return it->value.GetBool();
}

// One page item as a `User`, or why it is not one.
absl::StatusOr<User> ParseUser(const rapidjson::Value& item, const std::string& account_sid) {
  if (!item.IsObject()) return absl::InvalidArgumentError("a user is not a JSON object");
  User u;
  std::optional<std::string> sid = StringMember(item, "sid");
  if (!sid.has_value()) return absl::InvalidArgumentError("no \"sid\" string");
  u.sid = *sid;
  std::optional<std::string> service = StringMember(item, "service_sid");
  if (!service.has_value()) service = StringMember(item, "chat_service_sid");
  if (!service.has_value()) {
    return absl::InvalidArgumentError("no \"service_sid\" or \"chat_service_sid\" string");
  }
  u.service_sid = *service;
  std::optional<std::string> role = StringMember(item, "role_sid");
  if (!role.has_value()) return absl::InvalidArgumentError("no \"role_sid\" string");
  u.role_sid = *role;
  std::optional<std::string> identity = StringMember(item, "identity");
  if (!identity.has_value()) return absl::InvalidArgumentError("no \"identity\" string");
  u.identity = *identity;
  u.account_sid = account_sid;
  auto fn = item.FindMember("friendly_name");
  if (fn != item.MemberEnd() && !fn->value.IsNull()) {
    if (!fn->value.IsString()) return absl::InvalidArgumentError("\"friendly_name\" not a string");
    u.friendly_name = std::string(fn->value.GetString(), fn->value.GetStringLength());
  }
  // Attributes are JSON text in a string; null (never set) is "{}". Any
  // other JSON value is taken as the text it is written as.
  auto attributes = item.FindMember("attributes");
  if (attributes == item.MemberEnd() || attributes->value.IsNull()) {
    u.attributes = "{}";
  } else if (attributes->value.IsString()) {
    u.attributes.assign(attributes->value.GetString(), attributes->value.GetStringLength());
  } else {
    rapidjson::StringBuffer buffer;
    rapidjson::Writer<rapidjson::StringBuffer> writer(buffer);
    attributes->value.Accept(writer);
    u.attributes.assign(buffer.GetString(), buffer.GetSize());
  }
  bool ok = true;
  u.is_online = OptionalBool(item, "is_online", &ok);
  u.is_notifiable = OptionalBool(item, "is_notifiable", &ok);
  if (!ok) return absl::InvalidArgumentError("\"is_online\" or \"is_notifiable\" not a boolean");
  auto joined = item.FindMember("joined_channels_count");
  if (joined != item.MemberEnd() && !joined->value.IsNull()) {
    if (!joined->value.IsInt() || joined->value.GetInt() < 0) {
      return absl::InvalidArgumentError("\"joined_channels_count\" not a count");
    }
    u.joined_channels_count = joined->value.GetInt();
  }
  auto date = [&](const char* name, absl::Time* out) -> absl::Status {
    std::optional<std::string> text = StringMember(item, name);
    std::optional<absl::Time> t;
    if (text.has_value()) t = internal::ParseIsoTime(*text);
    if (!t.has_value()) {
      return absl::InvalidArgumentError(
          absl::StrCat("\"", name, "\" not a date like 2026-01-01T00:00:00Z"));
    }
    *out = *t;
    return absl::OkStatus();
  };
  absl::Status dates = date("date_created", &u.date_created);
  if (dates.ok()) dates = date("date_updated", &u.date_updated);
  if (!dates.ok()) return dates;
  return u;
}

// Creates the user's service and role when missing, then the user. Returns
// true when it went in, false when the service has a user of that SID
// already (skipped), or why it failed.
absl::StatusOr<bool> ImportUser(UserStore* store, const User& user) {
  if (!store->GetService(user.service_sid).ok()) {
    ChangeEvent event;
    event.entity = ChangeEvent::Entity::kService;
    event.op = ChangeEvent::Op::kCreate;
    Service s;
    s.sid = user.service_sid;
    s.account_sid = store->account_sid();
    s.friendly_name = "imported " + user.service_sid;
    s.default_service_role_sid = user.role_sid;
    s.date_created = user.date_created;
    s.date_updated = user.date_created;
    event.service = std::move(s);
    absl::Status status = store->Apply(event);
    if (!status.ok()) {
      return absl::Status(status.code(), absl::StrCat("creating service ", user.service_sid, ": ",
                                                      status.message()));
    }
  } else if (store->GetUser(user.service_sid, user.sid).ok()) {
    return false;
  }
  if (!store->GetRole(user.service_sid, user.role_sid).ok()) {
    ChangeEvent event;
    event.entity = ChangeEvent::Entity::kRole;
    event.op = ChangeEvent::Op::kCreate;
    Role r;
    r.sid = user.role_sid;
    r.account_sid = store->account_sid();
    r.service_sid = user.service_sid;
    r.friendly_name = "imported role";
    r.type = RoleType::kDeployment;
    r.date_created = user.date_created;
    r.date_updated = user.date_created;
    event.role = std::move(r);
    absl::Status status = store->Apply(event);
    if (!status.ok()) {
      return absl::Status(status.code(),
                          absl::StrCat("creating role ", user.role_sid, ": ", status.message()));
    }
  }
  ChangeEvent event;
  event.entity = ChangeEvent::Entity::kUser;
  event.op = ChangeEvent::Op::kCreate;
  event.user = user;
  absl::Status status = store->Apply(event);
  if (!status.ok()) return status;
  return true;
}

void ImportLine(UserStore* store, const std::string& input, uint64_t number,
                const std::string& line, Counts* counts) {
  auto report = [&](const std::string& what) {
    std::fprintf(stderr, "userstore: %s:%llu: %s\n", input.c_str(),
                 static_cast<unsigned long long>(number), what.c_str());
  };
  rapidjson::Document page;
  page.Parse(line.data(), line.size());
  const rapidjson::Value* users = nullptr;
  if (!page.HasParseError() && page.IsObject()) {
    std::string key = "users";
    auto meta = page.FindMember("meta");
    if (meta != page.MemberEnd() && meta->value.IsObject()) {
      auto k = meta->value.FindMember("key");
      if (k != meta->value.MemberEnd() && k->value.IsString()) key = k->value.GetString();
    }
    auto it = page.FindMember(key.c_str());
    if (it != page.MemberEnd() && it->value.IsArray()) users = &it->value;
  }
  if (users == nullptr) {
    report("not a list page of users ({\"meta\":{...},\"users\":[...]})");
    ++counts->bad_lines;
    return;
  }
  for (rapidjson::SizeType i = 0; i < users->Size(); ++i) {
    absl::StatusOr<User> user = ParseUser((*users)[i], store->account_sid());
    absl::StatusOr<bool> imported = user.ok() ? ImportUser(store, *user) : user.status();
    if (imported.ok()) {
      ++(*imported ? counts->imported : counts->skipped);
    } else {
      const absl::Status& status = imported.status();
      ++counts->failed;
      report(absl::StrCat("user ", i, user.ok() ? " (" + user->sid + ")" : std::string(),
                          " not imported: ", status.message()));
    }
  }
}

}  // namespace

int ImportMain(int argc, char** argv) {
  DurableOptions options;
  bool verbose = false;
  std::vector<std::string> positional;
  ArgReader reader(argc, argv);
  std::string value;
  while (reader.Next()) {
    const std::string arg = reader.arg();
    if (arg == "-h" || arg == "--help") {
      std::fputs(kUsage, stdout);
      return kExitOk;
    } else if (arg == "--seed") {
      if (!reader.TakeValue(&value)) return UsageError("--seed needs a value");
      options.store.seed = ParseUint64(value);
      if (!options.store.seed.has_value()) {
        return UsageError("--seed must be an unsigned 64-bit decimal integer, got '" + value + "'");
      }
    } else if (arg == "--account-sid") {
      if (!reader.TakeValue(&value)) return UsageError("--account-sid needs a value");
      if (!IsAccountSid(value)) {
        return UsageError("--account-sid '" + value + "' is not AC followed by 32 hex digits");
      }
      options.store.account_sid = value;
    } else if (arg == "--verbose") {
      if (reader.has_inline_value()) return UsageError("--verbose takes no value");
      verbose = true;
    } else if (arg != "-" && reader.is_option()) {
      return UsageError("unknown option '" + arg + "'");
    } else {
      positional.push_back(arg);
    }
  }
  if (positional.size() != 2 || positional[0].empty()) {
    return UsageError("import needs a directory and a file: import DIR FILE");
  }
  const std::string& dir = positional[0];
  const std::string& input = positional[1];
  std::ifstream file;
  if (input != "-") {
    file.open(input, std::ios::binary);
    if (!file) return Failure("cannot open " + input + ": " + std::strerror(errno));
  }
  std::istream& in = input == "-" ? std::cin : file;
  if (HoldsStore(dir)) options.store.account_sid.clear();  // the store keeps its own
  std::unique_ptr<UserStore> store = OpenStore(dir, options, verbose);
  if (store == nullptr) return kExitFailure;

  Counts counts;
  std::string line;
  uint64_t number = 0;
  const std::string name = input == "-" ? "standard input" : input;
  while (std::getline(in, line)) {
    ++number;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.find_first_not_of(" \t\r\f\v") == std::string::npos) continue;
    ImportLine(store.get(), name, number, line, &counts);
  }
  const bool read_error = in.bad();
  if (read_error) Failure("error reading " + name);
  absl::Status synced = store->Sync();
  if (!synced.ok()) Failure(absl::StrCat("syncing ", dir, ": ", synced.message()));
  std::fprintf(
      stderr, "userstore: imported %llu users, skipped %llu (already there), failed %llu%s\n",
      static_cast<unsigned long long>(counts.imported),
      static_cast<unsigned long long>(counts.skipped),
      static_cast<unsigned long long>(counts.failed),
      counts.bad_lines == 0 ? ""
                            : absl::StrCat("; ", counts.bad_lines, " lines not pages").c_str());
  const bool all_in = counts.failed == 0 && counts.bad_lines == 0 && !read_error && synced.ok();
  return all_in ? kExitOk : kExitFailure;
}

}  // namespace tools
}  // namespace userstore
