// `userstore export [--surface chat-v2|chat-v1|conversations] [--service IS]...
// DIR`: every user of the durable store in DIR as Twilio list pages, one JSON
// page per line on standard output (docs/durability.md). The pages are
// the REST layer's own: each is a GET through the `Dispatcher`, PageSize=1000
// (clamped to the surface's maximum), then the page's next_page_url.

#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "rapidjson/document.h"

#include "userstore/durable.h"
#include "userstore/rest.h"
#include "userstore/user_store.h"

#include "core/tools/cli.h"

namespace userstore {
namespace tools {
namespace {

// The list URL of `service`'s users on `surface`.
std::string FirstPageUrl(const std::string& surface, const std::string& service) {
  if (surface == "chat-v1") {
    return absl::StrCat("https://chat.twilio.com/v1/Services/", service, "/Users?PageSize=1000");
  }
  if (surface == "conversations") {
    return absl::StrCat("https://conversations.twilio.com/v1/Services/", service,
                        "/Users?PageSize=1000");
  }
  return absl::StrCat("https://chat.twilio.com/v2/Services/", service, "/Users?PageSize=1000");
}

// Writes every page of `service`'s users. False (after a message) when a page
// is not a 200 or standard output fails.
bool ExportService(const Dispatcher& rest, const std::string& surface, const std::string& service) {
  std::string url = FirstPageUrl(surface, service);
  for (;;) {
    HttpResponse response = rest.Handle({"GET", url, {}, ""});
    if (response.status != 200) {
      Failure(absl::StrCat("GET ", url, ": ", response.status, " ", response.body));
      return false;
    }
    response.body.push_back('\n');
    if (std::fwrite(response.body.data(), 1, response.body.size(), stdout) !=
        response.body.size()) {
      Failure("error writing standard output");
      return false;
    }
    rapidjson::Document page;
    page.Parse(response.body.data(), response.body.size());
    if (page.HasParseError() || !page.IsObject()) {
      Failure(absl::StrCat("GET ", url, ": not a JSON page"));
      return false;
    }
    auto meta = page.FindMember("meta");
    if (meta == page.MemberEnd() || !meta->value.IsObject()) return true;
    auto next = meta->value.FindMember("next_page_url");
    if (next == meta->value.MemberEnd() || !next->value.IsString()) return true;
    url.assign(next->value.GetString(), next->value.GetStringLength());
  }
}

}  // namespace

int ExportMain(int argc, char** argv) {
  std::string surface = "chat-v2";
  std::vector<std::string> services;
  std::string dir;
  bool have_dir = false;
  ArgReader reader(argc, argv);
  std::string value;
  while (reader.Next()) {
    const std::string arg = reader.arg();
    if (arg == "-h" || arg == "--help") {
      std::fputs(kUsage, stdout);
      return kExitOk;
    } else if (arg == "--surface") {
      if (!reader.TakeValue(&value)) return UsageError("--surface needs a value");
      if (value != "chat-v2" && value != "chat-v1" && value != "conversations") {
        return UsageError("--surface must be chat-v2, chat-v1 or conversations, got '" + value +
                          "'");
      }
      surface = value;
    } else if (arg == "--service") {
      if (!reader.TakeValue(&value)) return UsageError("--service needs a value");
      if (value.empty()) return UsageError("--service must not be empty");
      services.push_back(value);
    } else if (reader.is_option()) {
      return UsageError("unknown option '" + arg + "'");
    } else {
      if (have_dir) return UsageError("export takes one directory");
      dir = arg;
      have_dir = true;
    }
  }
  if (!have_dir || dir.empty()) return UsageError("export needs a directory: export DIR");
  // Export reads a store: it never makes one.
  if (!HoldsStore(dir)) return Failure(absl::StrCat(dir, " holds no store"));
  DurableOptions options;
  options.durability = Durability::kNoSync;
  std::unique_ptr<UserStore> store = OpenStore(dir, options, /*verbose=*/false);
  if (store == nullptr) return kExitFailure;

  if (services.empty()) {
    ListRequest request;
    request.page_size = 1000;
    for (;;) {
      absl::StatusOr<ServicePage> page = store->ListServices(request);
      if (!page.ok()) return Failure(absl::StrCat("listing services: ", page.status().message()));
      for (const Service& s : page->items) services.push_back(s.sid);
      if (page->next_page_token.empty()) break;
      request.page_token = page->next_page_token;
    }
  } else {
    for (const std::string& sid : services) {
      if (!store->GetService(sid).ok())
        return Failure(absl::StrCat("no service ", sid, " in ", dir));
    }
  }
  Dispatcher rest(store.get());
  for (const std::string& sid : services) {
    if (!ExportService(rest, surface, sid)) return kExitFailure;
  }
  if (std::fflush(stdout) != 0) return Failure("error writing standard output");
  return kExitOk;
}

}  // namespace tools
}  // namespace userstore
