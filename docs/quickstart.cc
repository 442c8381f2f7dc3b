// The userstore quick start: build a store, make a service, create users,
// page through them, and print them. Built as `userstore_quickstart`; the
// README's first command runs it.
//
// Everything here uses only the public headers <userstore/...>.

#include <cstdio>
#include <string>

#include "userstore/rest.h"
#include "userstore/user_store.h"

namespace {

void Print(const userstore::User& user) {
  std::printf("  %s  %-8s  role=%s  friendly_name=%s  attributes=%s\n", user.sid.c_str(),
              user.identity.c_str(), user.role_sid.c_str(),
              user.friendly_name ? user.friendly_name->c_str() : "null", user.attributes.c_str());
}

}  // namespace

int main() {
  // A deterministic store: fixed seed (SIDs) and a fixed clock (dates).
  userstore::StoreOptions options;
  options.seed = 2016;
  options.clock = std::make_shared<userstore::ManualClock>(absl::FromUnixSeconds(1458854719));
  userstore::UserStore store(options);

  userstore::CreateServiceRequest service_request;
  service_request.friendly_name = "quickstart";
  absl::StatusOr<userstore::Service> service = store.CreateService(service_request);
  if (!service.ok()) {
    std::fprintf(stderr, "create service: %s\n", service.status().ToString().c_str());
    return 1;
  }
  std::printf("service %s (account %s)\n", service->sid.c_str(), store.account_sid().c_str());

  // Seven players; the attributes are any JSON text, kept verbatim.
  const char* names[] = {"alice", "bob", "carol", "dave", "erin", "frank", "grace"};
  for (int i = 0; i < 7; ++i) {
    userstore::CreateUserRequest request;
    request.identity = names[i];
    request.attributes = "{\"level\": " + std::to_string(i + 1) + "}";
    absl::StatusOr<userstore::User> user = store.CreateUser(service->sid, request);
    if (!user.ok()) {
      std::fprintf(stderr, "create %s: %s\n", names[i], user.status().ToString().c_str());
      return 1;
    }
  }

  // Twilio's rules hold: a second "alice" is 409/50201.
  userstore::CreateUserRequest duplicate;
  duplicate.identity = "alice";
  absl::Status taken = store.CreateUser(service->sid, duplicate).status();
  std::printf("second alice: HTTP %d, code %d, \"%s\"\n", userstore::HttpStatusOf(taken),
              static_cast<int>(userstore::ErrorCodeOf(taken)),
              std::string(taken.message()).c_str());

  // A partial update by identity.
  userstore::UpdateUserRequest update;
  update.friendly_name = "Alice Liddell";
  if (!store.UpdateUser(service->sid, "alice", update).ok()) return 1;

  // Page through the users, three at a time, following the page tokens.
  userstore::ListRequest list;
  list.page_size = 3;
  for (int page = 0;; ++page) {
    absl::StatusOr<userstore::UserPage> users = store.ListUsers(service->sid, list);
    if (!users.ok()) return 1;
    std::printf("page %d:\n", page);
    for (const userstore::User& user : users->items) Print(user);
    if (users->next_page_token.empty()) break;
    list.page_token = users->next_page_token;
  }

  // The same store through Twilio's REST surface (no socket involved).
  userstore::Dispatcher rest(&store);
  userstore::HttpResponse response = rest.Handle(
      {"GET", "https://chat.twilio.com/v2/Services/" + service->sid + "/Users/alice", {}, ""});
  std::printf("GET /v2/Services/%s/Users/alice -> %d\n%s\n", service->sid.c_str(), response.status,
              response.body.c_str());
  return 0;
}
