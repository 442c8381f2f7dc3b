// The REST dispatcher: URL -> route -> request struct -> UserStore call ->
// JSON. Rules of the Users resource live in the store; this file only does
// what HTTP adds (routing, hosts, form and query decoding, the webhook header,
// PageSize/Page syntax, 404 messages that quote the request path).
//
// Request flow in `Handle`:
//   1. ParseUrl; SplitPathView (no "//", ".", ".."; else 404).
//   2. Route: host + path shape -> (resource kind, surface). Unknown path:
//      404/20404 quoting the path; known path, method not served: 405/20004.
//   3. Decode the form (POST body) or the query (list GET); read the
//      parameters the operation takes (others are ignored), checking that
//      each is valid UTF-8 without NUL (Attributes goes to the store as bytes:
//      it answers 50304).
//   4. Call the store; render the result or the error.
// With a fault injector, `Handle` hands steps 1-4 (`Serve`) to
// `FaultInjector::Serve`, which may answer in their place.
//
// 404 messages. The store words a missing user as
// "/Services/{IS}/Users/{user}" with the decoded user; Twilio quotes the
// request path without its version. So when a call that names a user or a
// role fails with 20404, the dispatcher asks the store whether the service
// exists (GetService, only on this error path): if it does, the message
// quotes the request path (raw, as sent, minus "/v1" or "/v2"); if not,
// "/Services/{segment}". Asking, rather than parsing the store's message,
// keeps the store free to word its messages.

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

#include "userstore/fault_injection.h"
#include "userstore/rest.h"
#include "userstore/status.h"

#include "core/rest/http_parse.h"
#include "core/rest/render.h"
#include "core/text.h"

namespace userstore {
namespace {

using internal::PageQuery;
using internal::RenderContext;
using Params = std::vector<std::pair<std::string, std::string>>;

// --- routing -------------------------------------------------------------------

enum class Kind { kServices, kService, kUsers, kUser, kRoles, kRole };

// The hosts that select a product. Any other host routes like a path-only
// request (and is echoed in URLs, as every named host is).
enum class HostKind { kNone, kChat, kConversations, kOther };

HostKind ClassifyHost(absl::string_view host) {
  if (host.empty()) return HostKind::kNone;
  if (host == "chat.twilio.com" || host == "ip-messaging.twilio.com") return HostKind::kChat;
  if (host == "conversations.twilio.com") return HostKind::kConversations;
  return HostKind::kOther;
}

struct Route {
  Kind kind = Kind::kServices;
  Surface surface = Surface::kChatV2;
  bool default_service = false;  // /v1/Users
  absl::string_view service;     // raw {IS} segment (SIDs need no decoding)
  absl::string_view item;        // raw {Sid} / {RL} segment
};

// Raw path segments as views into the path. The longest routable path has
// five segments; more than kMaxSegments is simply not routable.
constexpr int kMaxSegments = 6;
struct Segments {
  absl::string_view s[kMaxSegments];
  int n = 0;
};

// False for a malformed path ("//", ".", "..", no leading '/') or one with too
// many segments: both are 404s. Same rules as internal::SplitPath, without
// allocating.
bool SplitPathView(absl::string_view path, Segments* out) {
  if (path.empty() || path.front() != '/') return false;
  if (path.size() == 1) return true;
  size_t start = 1;
  while (true) {
    size_t slash = path.find('/', start);
    if (slash == absl::string_view::npos) slash = path.size();
    absl::string_view seg = path.substr(start, slash - start);
    if (seg.empty() || seg == "." || seg == ".." || out->n == kMaxSegments) return false;
    out->s[out->n++] = seg;
    if (slash == path.size()) return true;
    start = slash + 1;
  }
}

// The resource a path names, or nullopt (404).
std::optional<Route> Resolve(HostKind host, const Segments& seg) {
  if (seg.n < 2) return std::nullopt;
  Route r;
  int i = 2;  // first segment after /vN/Services
  if (seg.s[0] == "v2") {
    if (host == HostKind::kConversations || seg.s[1] != "Services") return std::nullopt;
    r.surface = Surface::kChatV2;
  } else if (seg.s[0] == "v1") {
    if (seg.s[1] == "Users") {
      if (host == HostKind::kChat || seg.n > 3) return std::nullopt;
      r.surface = Surface::kConversations;
      r.default_service = true;
      r.kind = seg.n == 2 ? Kind::kUsers : Kind::kUser;
      if (seg.n == 3) r.item = seg.s[2];
      return r;
    }
    if (seg.s[1] != "Services") return std::nullopt;
    r.surface = host == HostKind::kConversations ? Surface::kConversations : Surface::kChatV1;
  } else {
    return std::nullopt;
  }
  if (seg.n == i) {
    r.kind = Kind::kServices;
    return r;
  }
  r.service = seg.s[i];
  if (seg.n == i + 1) {
    r.kind = Kind::kService;
    return r;
  }
  const absl::string_view collection = seg.s[i + 1];
  if (collection == "Users") {
    r.kind = Kind::kUsers;
  } else if (collection == "Roles") {
    r.kind = Kind::kRoles;
  } else {
    return std::nullopt;
  }
  if (seg.n == i + 2) return r;
  if (seg.n != i + 3) return std::nullopt;
  r.kind = r.kind == Kind::kUsers ? Kind::kUser : Kind::kRole;
  r.item = seg.s[i + 2];
  return r;
}

bool MethodAllowed(Kind kind, absl::string_view method) {
  const bool get = method == "GET", post = method == "POST", del = method == "DELETE";
  switch (kind) {
    case Kind::kServices:
    case Kind::kUsers:
    case Kind::kRoles:
      return get || post;
    case Kind::kService:
    case Kind::kUser:
      return get || post || del;
    case Kind::kRole:
      return get || del;
  }
  return false;
}

// The request path without its "/v1" or "/v2" prefix, as 404 messages quote
// it.
absl::string_view StripVersion(absl::string_view path) {
  if (absl::StartsWith(path, "/v1") || absl::StartsWith(path, "/v2")) {
    absl::string_view rest = path.substr(3);
    if (rest.empty()) return "/";
    if (rest.front() == '/') return rest;
  }
  return path;
}

// --- responses -----------------------------------------------------------------

HttpResponse ErrorResponse(const absl::Status& status) {
  HttpResponse response;
  response.status = HttpStatusOf(status);
  response.body = internal::RenderError(status);
  return response;
}

HttpResponse Ok(int http_status, std::string body) {
  HttpResponse response;
  response.status = http_status;
  response.body = std::move(body);
  return response;
}

HttpResponse NoContent() {
  HttpResponse response;
  response.status = 204;
  return response;
}

// --- parameters ----------------------------------------------------------------

const std::string* FindParam(const Params& params, absl::string_view name) {
  for (const auto& kv : params) {
    if (kv.first == name) return &kv.second;  // the first occurrence wins
  }
  return nullptr;
}

absl::Status InvalidText(absl::string_view name) {
  return userstore::InvalidParameterError(
      absl::StrCat("Invalid ", name, ": not valid UTF-8 text or contains NUL"));
}

// Reads text parameter `name` into `out` (left nullopt when absent).
absl::Status TextParam(Params* params, absl::string_view name, std::optional<std::string>* out) {
  for (auto& kv : *params) {
    if (kv.first != name) continue;
    if (!internal::IsValidText(kv.second)) return InvalidText(name);
    *out = std::move(kv.second);
    return absl::OkStatus();
  }
  return absl::OkStatus();
}

// Attributes: bytes go to the store unchecked (it answers 50304 / 50303).
void RawParam(Params* params, absl::string_view name, std::optional<std::string>* out) {
  for (auto& kv : *params) {
    if (kv.first == name) {
      *out = std::move(kv.second);
      return;
    }
  }
}

// X-Twilio-Webhook-Enabled: "true" / "false"; absent: false; else 400/20001.
absl::StatusOr<bool> WebhooksEnabled(const HttpRequest& request) {
  for (const auto& h : request.headers) {
    if (!absl::EqualsIgnoreCase(h.first, "X-Twilio-Webhook-Enabled")) continue;
    if (h.second == "true") return true;
    if (h.second == "false") return false;
    return userstore::InvalidParameterError(
        "Invalid X-Twilio-Webhook-Enabled header: expected \"true\" or \"false\"");
  }
  return false;
}

bool AllDigits(absl::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
  }
  return true;
}

// PageSize, Page and PageToken of a list query, into `list` (which owns the
// token) and `page_query` (what meta echoes).
absl::Status ParseListQuery(absl::string_view query, Surface surface, ListRequest* list,
                            PageQuery* page_query) {
  list->surface = surface;
  if (query.empty()) return absl::OkStatus();
  absl::StatusOr<Params> params = internal::DecodeForm(query, {"PageSize", "Page", "PageToken"});
  if (!params.ok()) return params.status();
  if (const std::string* size = FindParam(*params, "PageSize")) {
    // A plain decimal integer; a '-' sign is allowed so that "-5" reaches
    // the store as a number below 1 (20001 there). "+5", "1.5", "", "abc"
    // and values beyond int64 are refused here.
    absl::string_view digits = *size;
    if (!digits.empty() && digits.front() == '-') digits.remove_prefix(1);
    int64_t value = 0;
    if (!AllDigits(digits) || !absl::SimpleAtoi(*size, &value)) {
      return userstore::InvalidParameterError(absl::StrCat("Invalid PageSize: must be an integer"));
    }
    list->page_size = value;
  }
  if (const std::string* page = FindParam(*params, "Page")) {
    int64_t value = 0;
    if (!AllDigits(*page) || !absl::SimpleAtoi(*page, &value)) {
      return userstore::InvalidParameterError("Invalid Page: must be a non-negative integer");
    }
    page_query->page = value;
  }
  for (auto& kv : *params) {
    if (kv.first != "PageToken") continue;
    if (!internal::IsValidText(kv.second)) return InvalidText("PageToken");
    list->page_token = std::move(kv.second);
    break;
  }
  return absl::OkStatus();
}

// --- the handler -----------------------------------------------------------------

class RequestHandler {
 public:
  RequestHandler(UserStore* store, const HttpRequest& request, const internal::ParsedUrl& url,
                 const Route& route)
      : store_(store), request_(request), url_(url), route_(route) {
    ctx_.surface = route.surface;
    ctx_.host =
        url.host.empty() ? internal::CanonicalHost(route.surface) : absl::string_view(url.host);
    ctx_.default_service_path = route.default_service;
    service_ = route.default_service ? absl::string_view(store->default_conversation_service_sid())
                                     : route.service;
  }

  HttpResponse Run() {
    const absl::string_view m = request_.method;
    switch (route_.kind) {
      case Kind::kServices:
        return m == "GET" ? ListServices() : CreateService();
      case Kind::kService:
        return m == "GET" ? GetService() : m == "POST" ? UpdateService() : DeleteService();
      case Kind::kUsers:
        return m == "GET" ? ListUsers() : CreateUser();
      case Kind::kUser:
        return m == "GET" ? GetUser() : m == "POST" ? UpdateUser() : DeleteUser();
      case Kind::kRoles:
        return m == "GET" ? ListRoles() : CreateRole();
      case Kind::kRole:
        return m == "GET" ? GetRole() : DeleteRole();
    }
    return ErrorResponse(userstore::NotFoundError(StripVersion(url_.path)));
  }

 private:
  // The form of a POST: the parameters named, nothing else is decoded. Query
  // parameters of a POST are not read.
  absl::StatusOr<Params> Form(std::initializer_list<absl::string_view> single,
                              std::initializer_list<absl::string_view> repeated = {}) const {
    return internal::DecodeForm(request_.body, single, repeated);
  }

  // The form of a user create or update into `req` (a CreateUserRequest or an
  // UpdateUserRequest: the same fields). The store decides what is allowed
  // (an Identity on update is its 400/20001).
  template <typename Request>
  absl::Status ReadUserForm(bool webhooks, Request* req) const {
    absl::StatusOr<Params> form = Form({"Identity", "FriendlyName", "RoleSid", "Attributes"});
    if (!form.ok()) return form.status();
    req->webhooks_enabled = webhooks;
    absl::Status s = TextParam(&*form, "Identity", &req->identity);
    if (s.ok()) s = TextParam(&*form, "FriendlyName", &req->friendly_name);
    if (s.ok()) s = TextParam(&*form, "RoleSid", &req->role_sid);
    if (!s.ok()) return s;
    RawParam(&*form, "Attributes", &req->attributes);
    return absl::OkStatus();
  }

  // The header exists on Chat v2 create/update and on every Conversations
  // user write; elsewhere it is ignored.
  absl::StatusOr<bool> Webhooks(bool chat_v2_has_it) const {
    if (route_.surface == Surface::kChatV1) return false;
    if (route_.surface == Surface::kChatV2 && !chat_v2_has_it) return false;
    return WebhooksEnabled(request_);
  }

  // The {Sid} segment of a user path, percent-decoded into `storage` when it
  // holds escapes (a SID never does: no copy on the common path).
  absl::StatusOr<absl::string_view> UserSegment(std::string* storage) const {
    absl::string_view user = route_.item;
    if (absl::StrContains(user, '%')) {
      absl::StatusOr<std::string> decoded = internal::PercentDecode(user, false);
      if (!decoded.ok()) return decoded.status();
      *storage = *std::move(decoded);
      user = *storage;
    }
    if (!internal::IsValidText(user)) return InvalidText("Sid");
    return user;
  }

  // Errors of calls that address the service itself or one of its
  // collections: a 20404 is about the service.
  HttpResponse ServiceError(const absl::Status& status) const {
    if (ErrorCodeOf(status) != ErrorCode::kNotFound) return ErrorResponse(status);
    if (route_.default_service)
      return ErrorResponse(userstore::NotFoundError(StripVersion(url_.path)));
    return ErrorResponse(userstore::NotFoundError(absl::StrCat("/Services/", route_.service)));
  }

  // Errors of calls that address a user or role: a 20404 is about the item
  // when the service exists.
  HttpResponse ItemError(const absl::Status& status) const {
    if (ErrorCodeOf(status) != ErrorCode::kNotFound) return ErrorResponse(status);
    if (route_.default_service || store_->GetService(service_).ok()) {
      return ErrorResponse(userstore::NotFoundError(StripVersion(url_.path)));
    }
    return ErrorResponse(userstore::NotFoundError(absl::StrCat("/Services/", route_.service)));
  }

  // --- services ---

  HttpResponse ListServices() const {
    ListRequest list;
    PageQuery query;
    absl::Status s = ParseListQuery(url_.query, route_.surface, &list, &query);
    if (!s.ok()) return ErrorResponse(s);
    query.page_token = list.page_token;
    absl::StatusOr<ServicePage> page = store_->ListServices(list);
    if (!page.ok()) return ErrorResponse(page.status());
    return Ok(200, internal::RenderServicePage(ctx_, *page, query));
  }

  HttpResponse CreateService() const {
    absl::StatusOr<Params> form = Form({"FriendlyName"});
    if (!form.ok()) return ErrorResponse(form.status());
    CreateServiceRequest req;
    absl::Status s = TextParam(&*form, "FriendlyName", &req.friendly_name);
    if (!s.ok()) return ErrorResponse(s);
    absl::StatusOr<Service> service = store_->CreateService(req);
    if (!service.ok()) return ErrorResponse(service.status());
    return Ok(201, internal::RenderService(ctx_, *service));
  }

  HttpResponse GetService() const {
    absl::StatusOr<Service> service = store_->GetService(service_);
    if (!service.ok()) return ServiceError(service.status());
    return Ok(200, internal::RenderService(ctx_, *service));
  }

  HttpResponse UpdateService() const {
    absl::StatusOr<Params> form =
        Form({"FriendlyName", "DefaultServiceRoleSid", "ReachabilityEnabled"});
    if (!form.ok()) return ErrorResponse(form.status());
    UpdateServiceRequest req;
    absl::Status s = TextParam(&*form, "FriendlyName", &req.friendly_name);
    if (s.ok()) s = TextParam(&*form, "DefaultServiceRoleSid", &req.default_service_role_sid);
    if (!s.ok()) return ErrorResponse(s);
    if (const std::string* r = FindParam(*form, "ReachabilityEnabled")) {
      if (*r == "true") {
        req.reachability_enabled = true;
      } else if (*r == "false") {
        req.reachability_enabled = false;
      } else {
        return ErrorResponse(userstore::InvalidParameterError(
            "Invalid ReachabilityEnabled: expected \"true\" or \"false\""));
      }
    }
    absl::StatusOr<Service> service = store_->UpdateService(service_, req);
    if (!service.ok()) return ServiceError(service.status());
    return Ok(200, internal::RenderService(ctx_, *service));
  }

  HttpResponse DeleteService() const {
    absl::Status s = store_->DeleteService(service_);
    if (!s.ok()) return ServiceError(s);
    return NoContent();
  }

  // --- users ---

  HttpResponse ListUsers() const {
    ListRequest list;
    PageQuery query;
    absl::Status s = ParseListQuery(url_.query, route_.surface, &list, &query);
    if (!s.ok()) return ErrorResponse(s);
    query.page_token = list.page_token;
    // The users are rendered inside the walk (under the service's reader
    // lock), with no copy of them.
    internal::UserPageRenderer renderer(ctx_, service_);
    absl::StatusOr<PageInfo> page =
        store_->VisitUsers(service_, list, [&](const UserView& user) { renderer.Add(user); });
    if (!page.ok()) return ServiceError(page.status());
    return Ok(200, renderer.Finish(*page, query));
  }

  HttpResponse CreateUser() const {
    absl::StatusOr<bool> webhooks = Webhooks(/*chat_v2_has_it=*/true);
    if (!webhooks.ok()) return ErrorResponse(webhooks.status());
    CreateUserRequest req;
    absl::Status s = ReadUserForm(*webhooks, &req);
    if (!s.ok()) return ErrorResponse(s);
    absl::StatusOr<User> user = store_->CreateUser(service_, req);
    if (!user.ok()) return ServiceError(user.status());
    return Ok(201, internal::RenderUser(ctx_, *user));
  }

  HttpResponse GetUser() const {
    std::string storage;
    absl::StatusOr<absl::string_view> sid = UserSegment(&storage);
    if (!sid.ok()) return ErrorResponse(sid.status());
    // Rendered from the view, under the store's reader lock: no copy of the
    // user is made (design.md, "Reading without copying").
    std::string body;
    absl::Status s = store_->ReadUser(
        service_, *sid, [&](const UserView& user) { body = internal::RenderUser(ctx_, user); });
    if (!s.ok()) return ItemError(s);
    return Ok(200, std::move(body));
  }

  HttpResponse UpdateUser() const {
    absl::StatusOr<bool> webhooks = Webhooks(/*chat_v2_has_it=*/true);
    if (!webhooks.ok()) return ErrorResponse(webhooks.status());
    std::string storage;
    absl::StatusOr<absl::string_view> sid = UserSegment(&storage);
    if (!sid.ok()) return ErrorResponse(sid.status());
    UpdateUserRequest req;
    absl::Status s = ReadUserForm(*webhooks, &req);
    if (!s.ok()) return ErrorResponse(s);
    absl::StatusOr<User> user = store_->UpdateUser(service_, *sid, req);
    if (!user.ok()) return ItemError(user.status());
    return Ok(200, internal::RenderUser(ctx_, *user));
  }

  HttpResponse DeleteUser() const {
    // Validated for its syntax only: Twilio has no user-deleted webhook.
    absl::StatusOr<bool> webhooks = Webhooks(/*chat_v2_has_it=*/false);
    if (!webhooks.ok()) return ErrorResponse(webhooks.status());
    std::string storage;
    absl::StatusOr<absl::string_view> sid = UserSegment(&storage);
    if (!sid.ok()) return ErrorResponse(sid.status());
    absl::Status s = store_->DeleteUser(service_, *sid);
    if (!s.ok()) return ItemError(s);
    return NoContent();
  }

  // --- roles ---

  HttpResponse ListRoles() const {
    ListRequest list;
    PageQuery query;
    absl::Status s = ParseListQuery(url_.query, route_.surface, &list, &query);
    if (!s.ok()) return ErrorResponse(s);
    query.page_token = list.page_token;
    absl::StatusOr<RolePage> page = store_->ListRoles(service_, list);
    if (!page.ok()) return ServiceError(page.status());
    return Ok(200, internal::RenderRolePage(ctx_, service_, *page, query));
  }

  HttpResponse CreateRole() const {
    absl::StatusOr<Params> form = Form({"FriendlyName", "Type"}, {"Permission"});
    if (!form.ok()) return ErrorResponse(form.status());
    CreateRoleRequest req;
    absl::Status s = TextParam(&*form, "FriendlyName", &req.friendly_name);
    if (s.ok()) s = TextParam(&*form, "Type", &req.type);
    if (!s.ok()) return ErrorResponse(s);
    for (auto& kv : *form) {
      if (kv.first != "Permission") continue;
      if (!internal::IsValidText(kv.second)) return ErrorResponse(InvalidText("Permission"));
      req.permissions.push_back(std::move(kv.second));
    }
    absl::StatusOr<Role> role = store_->CreateRole(service_, req);
    if (!role.ok()) return ServiceError(role.status());
    return Ok(201, internal::RenderRole(ctx_, *role));
  }

  HttpResponse GetRole() const {
    absl::StatusOr<Role> role = store_->GetRole(service_, route_.item);
    if (!role.ok()) return ItemError(role.status());
    return Ok(200, internal::RenderRole(ctx_, *role));
  }

  HttpResponse DeleteRole() const {
    absl::Status s = store_->DeleteRole(service_, route_.item);
    if (!s.ok()) return ItemError(s);
    return NoContent();
  }

  UserStore* store_;
  const HttpRequest& request_;
  const internal::ParsedUrl& url_;
  const Route& route_;
  RenderContext ctx_;
  absl::string_view service_;
};

void AppendEncoded(absl::string_view text, bool space_as_plus, std::string* out) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  for (char ch : text) {
    const unsigned char c = static_cast<unsigned char>(ch);
    if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
        c == '.' || c == '_' || c == '~') {
      out->push_back(ch);
    } else if (c == ' ' && space_as_plus) {
      out->push_back('+');
    } else {
      out->push_back('%');
      out->push_back(kHex[c >> 4]);
      out->push_back(kHex[c & 15]);
    }
  }
}

}  // namespace

Dispatcher::Dispatcher(UserStore* store) : store_(store) {}

Dispatcher::Dispatcher(UserStore* store, std::shared_ptr<FaultInjector> injector)
    : store_(store), injector_(std::move(injector)) {}

void Dispatcher::set_fault_injector(std::shared_ptr<FaultInjector> injector) {
  injector_ = std::move(injector);
}

HttpResponse Dispatcher::Handle(const HttpRequest& request) const {
  if (injector_ == nullptr) return Serve(request);
  return injector_->Serve(request, [this](const HttpRequest& r) { return Serve(r); });
}

HttpResponse Dispatcher::Serve(const HttpRequest& request) const {
  absl::StatusOr<internal::ParsedUrl> url = internal::ParseUrl(request.url);
  if (!url.ok()) return ErrorResponse(url.status());
  Segments segments;
  std::optional<Route> route;
  if (SplitPathView(url->path, &segments)) route = Resolve(ClassifyHost(url->host), segments);
  if (!route.has_value()) return ErrorResponse(userstore::NotFoundError(StripVersion(url->path)));
  if (!MethodAllowed(route->kind, request.method)) {
    return ErrorResponse(MakeError(ErrorCode::kMethodNotAllowed, "Method not allowed"));
  }
  return RequestHandler(store_, request, *url, *route).Run();
}

std::string FormEncode(const std::vector<std::pair<std::string, std::string>>& pairs) {
  std::string out;
  for (const auto& kv : pairs) {
    if (!out.empty()) out.push_back('&');
    AppendEncoded(kv.first, /*space_as_plus=*/true, &out);
    out.push_back('=');
    AppendEncoded(kv.second, /*space_as_plus=*/true, &out);
  }
  return out;
}

std::string PercentEncodePathSegment(absl::string_view segment) {
  // "." and ".." are dot-segments (RFC 3986 5.2.4) that a path may not hold
  // (the dispatcher answers 404): as whole segments they are escaped too.
  if (segment == ".") return "%2E";
  if (segment == "..") return "%2E%2E";
  std::string out;
  out.reserve(segment.size());
  AppendEncoded(segment, /*space_as_plus=*/false, &out);
  return out;
}

}  // namespace userstore
