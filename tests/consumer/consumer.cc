// A program written as a user of the installed library would write it: only
// <userstore/...> headers, linked as userstore::userstore.
#include <cstdio>

#include "userstore/rest.h"
#include "userstore/user_store.h"

int main() {
  userstore::UserStore store;
  userstore::CreateServiceRequest service_request;
  service_request.friendly_name = "consumer";
  auto service = store.CreateService(service_request);
  if (!service.ok()) return 1;
  userstore::CreateUserRequest request;
  request.identity = "alice";
  auto user = store.CreateUser(service->sid, request);
  if (!user.ok() || user->identity != "alice") return 2;
  userstore::Dispatcher dispatcher(&store);
  userstore::HttpResponse response =
      dispatcher.Handle({"GET", "/v2/Services/" + service->sid + "/Users/alice", {}, ""});
  if (response.status != 200) return 3;
  std::printf("consumer ok: %s\n", user->sid.c_str());
  return 0;
}
