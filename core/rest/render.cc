#include "core/rest/render.h"

#include <algorithm>
#include <cassert>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "rapidjson/allocators.h"
#include "rapidjson/writer.h"

#include "userstore/status.h"

#include "core/text.h"
#include "core/time_format.h"

namespace userstore {
namespace internal {
namespace {

void Put2(char* p, int v) {
  p[0] = static_cast<char>('0' + v / 10);
  p[1] = static_cast<char>('0' + v % 10);
}

constexpr size_t kIsoTimeSize = 20;  // "YYYY-MM-DDTHH:MM:SSZ"

// Writes `t` (floored to whole seconds) as "YYYY-MM-DDTHH:MM:SSZ" into `buf`;
// false (nothing usable written) for years outside 0..9999. The civil date
// comes from days since the epoch (H. Hinnant's algorithm): no time-zone
// lookup and no format string, since every user carries two dates.
bool FormatIsoTimeTo(absl::Time t, char* buf) {
  const int64_t secs = absl::ToUnixSeconds(t);  // floors
  int64_t days = secs / 86400;
  int64_t sod = secs % 86400;
  if (sod < 0) {
    sod += 86400;
    days -= 1;
  }
  if (days < -800000 || days > 3000000) return false;  // keeps the arithmetic small
  const int64_t z = days + 719468;
  const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const int64_t doe = z - era * 146097;
  const int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const int64_t mp = (5 * doy + 2) / 153;
  const int64_t d = doy - (153 * mp + 2) / 5 + 1;
  const int64_t m = mp < 10 ? mp + 3 : mp - 9;
  const int64_t y = yoe + era * 400 + (m <= 2 ? 1 : 0);
  if (y < 0 || y > 9999) return false;
  Put2(buf, static_cast<int>(y / 100));
  Put2(buf + 2, static_cast<int>(y % 100));
  buf[4] = '-';
  Put2(buf + 5, static_cast<int>(m));
  buf[7] = '-';
  Put2(buf + 8, static_cast<int>(d));
  buf[10] = 'T';
  Put2(buf + 11, static_cast<int>(sod / 3600));
  buf[13] = ':';
  Put2(buf + 14, static_cast<int>(sod / 60 % 60));
  buf[16] = ':';
  Put2(buf + 17, static_cast<int>(sod % 60));
  buf[19] = 'Z';
  return true;
}

// For each byte, the letter after the backslash of its escape in a JSON
// string ('u' for \u00XX), or 0 when it is written as it is.
struct EscapeTable {
  char letter[256];
};
constexpr EscapeTable MakeEscapeTable() {
  EscapeTable t{};
  for (int c = 0; c < 0x20; ++c) t.letter[c] = 'u';
  t.letter[static_cast<unsigned char>('\b')] = 'b';
  t.letter[static_cast<unsigned char>('\f')] = 'f';
  t.letter[static_cast<unsigned char>('\n')] = 'n';
  t.letter[static_cast<unsigned char>('\r')] = 'r';
  t.letter[static_cast<unsigned char>('\t')] = 't';
  t.letter[static_cast<unsigned char>('"')] = '"';
  t.letter[static_cast<unsigned char>('\\')] = '\\';
  return t;
}
constexpr EscapeTable kEscapes = MakeEscapeTable();

// A rapidjson output stream that writes straight into a std::string. The
// writer reserves room before each token (PutReserve) and then stores bytes
// without checks (PutUnsafe), so the hot loop of string escaping is a plain
// store; the string grows geometrically and is cut to length by Finish().
class StringSink {
 public:
  typedef char Ch;
  explicit StringSink(std::string* out) : out_(out), len_(out->size()) {
    if (out_->size() < out_->capacity()) out_->resize(out_->capacity());
    data_ = &(*out_)[0];
  }
  void Reserve(size_t n) {
    if (len_ + n <= out_->size()) return;
    out_->resize(std::max(out_->size() * 2, len_ + n + 64));
    data_ = &(*out_)[0];
  }
  void PutUnsafe(char c) { data_[len_++] = c; }
  void Put(char c) {
    Reserve(1);
    data_[len_++] = c;
  }
  void Flush() {}
  // Appends `n` bytes. REQUIRES: room reserved.
  void PutBlockUnsafe(const char* text, size_t n) {
    if (n == 0) return;  // `text` may be null then
    std::memcpy(data_ + len_, text, n);
    len_ += n;
  }
  // Appends `"` + text + `"` in one block.
  void PutQuoted(const char* text, size_t n) {
    Reserve(n + 2);
    data_[len_++] = '"';
    PutBlockUnsafe(text, n);
    data_[len_++] = '"';
  }
  // Appends the JSON string escaping of `n` bytes (without quotes): `"` and
  // `\\` and the control characters escaped, every other byte as it is.
  // REQUIRES: room reserved for 6 bytes per input byte.
  void PutEscapedUnsafe(const char* text, size_t n) {
    // One table lookup and one store per byte, straight into the buffer: a
    // JSON text inside a string (a user's attributes) has a quote every few
    // bytes, too often for a block copy per run to pay.
    static constexpr char kHex[] = "0123456789ABCDEF";
    char* out = data_ + len_;
    for (size_t i = 0; i < n; ++i) {
      const unsigned char c = static_cast<unsigned char>(text[i]);
      const char escape = kEscapes.letter[c];
      if (escape == 0) {
        *out++ = static_cast<char>(c);
        continue;
      }
      *out++ = '\\';
      *out++ = escape;
      if (escape == 'u') {
        *out++ = '0';
        *out++ = '0';
        *out++ = kHex[c >> 4];
        *out++ = kHex[c & 15];
      }
    }
    len_ = static_cast<size_t>(out - data_);
  }
  // Cuts the string to what was written. REQUIRES: called once, last.
  void Finish() { out_->resize(len_); }

 private:
  std::string* out_;
  char* data_;
  size_t len_;
};

}  // namespace
}  // namespace internal
}  // namespace userstore

namespace rapidjson {
template <>
inline void PutReserve(userstore::internal::StringSink& stream, size_t count) {
  stream.Reserve(count);
}
template <>
inline void PutUnsafe(userstore::internal::StringSink& stream, char c) {
  stream.PutUnsafe(c);
}
}  // namespace rapidjson

namespace userstore {
namespace internal {
namespace {

using BaseWriter = rapidjson::Writer<StringSink, rapidjson::UTF8<>, rapidjson::UTF8<>,
                                     rapidjson::MemoryPoolAllocator<>>;

// rapidjson's writer with a faster string path. Most strings of a response
// (SIDs, URLs, dates, keys, plain identities) need no escaping and are copied
// as one block; the others are copied up to their first escape and escaped
// byte by byte through a table from there, with exactly rapidjson's escapes (\" \\ \b \f \n \r \t,
// other control bytes as \u00XX). The writer's own bookkeeping (commas, key/value order, nesting)
// runs through Prefix/EndValue as for any rapidjson string.
class Writer : public BaseWriter {
 public:
  Writer(StringSink& sink, rapidjson::MemoryPoolAllocator<>* pool, size_t depth)
      : BaseWriter(sink, pool, depth) {}

  // A string (or key) known to need no escaping.
  void Plain(const char* s, size_t n) {
    Prefix(rapidjson::kStringType);
    os_->PutQuoted(s, n);
    EndValue(true);
  }

  void Escaped(absl::string_view s) {
    // Bytes before the first one to escape are copied as they are.
    const size_t plain = JsonPlainPrefix(s);
    if (plain == s.size()) {
      Plain(s.data(), s.size());
      return;
    }
    Prefix(rapidjson::kStringType);
    os_->Reserve(2 + 6 * s.size());
    os_->PutUnsafe('"');
    os_->PutBlockUnsafe(s.data(), plain);
    os_->PutEscapedUnsafe(s.data() + plain, s.size() - plain);
    os_->PutUnsafe('"');
    EndValue(true);
  }

  // A value already rendered as JSON text of `type`, copied as one block.
  void Raw(absl::string_view json, rapidjson::Type type) {
    Prefix(type);
    os_->Reserve(json.size());
    os_->PutBlockUnsafe(json.data(), json.size());
    EndValue(true);
  }
};

// A Writer whose nesting stack lives in a small inline buffer, so rendering
// a response allocates nothing but the output string.
class Json {
 public:
  explicit Json(std::string* out)
      : sink_(out), pool_(pool_buffer_, sizeof(pool_buffer_)), w_(sink_, &pool_, kMaxDepth) {}

  // Keys are literals that need no escaping.
  template <size_t N>
  void Key(const char (&name)[N]) {
    w_.Plain(name, N - 1);
  }
  void Str(absl::string_view s) { w_.Escaped(s); }
  // A string the caller knows needs no escaping (a SID the store formatted,
  // a date, a URL whose base was checked): copied without the scan.
  void PlainStr(absl::string_view s) {
    assert(JsonPlainPrefix(s) == s.size());
    w_.Plain(s.data(), s.size());
  }
  // A URL: `base_plain` says whether its variable part, the list URL from
  // the request's host and path, needs no escaping; the rest of a URL is
  // SIDs and fixed path segments.
  void UrlStr(absl::string_view s, bool base_plain) {
    if (base_plain) {
      PlainStr(s);
    } else {
      Str(s);
    }
  }
  void Null() { w_.Null(); }
  void Bool(bool b) { w_.Bool(b); }
  void Int(int64_t i) { w_.Int64(i); }
  void OptStr(const std::optional<absl::string_view>& s) {
    if (s.has_value()) {
      Str(*s);
    } else {
      Null();
    }
  }
  void OptStr(const std::optional<std::string>& s) {
    if (s.has_value()) {
      Str(*s);
    } else {
      Null();
    }
  }
  void OptBool(const std::optional<bool>& b) {
    if (b.has_value()) {
      Bool(*b);
    } else {
      Null();
    }
  }
  void Time(absl::Time t) {
    char buf[kIsoTimeSize];
    if (FormatIsoTimeTo(t, buf)) {
      PlainStr(absl::string_view(buf, sizeof(buf)));
    } else {
      Str(FormatIsoTime(t));  // far outside any real date
    }
  }
  // Completes the output string. REQUIRES: the document is complete.
  void Finish() { sink_.Finish(); }
  void StartObject() { w_.StartObject(); }
  void EndObject() { w_.EndObject(); }
  void StartArray() { w_.StartArray(); }
  void EndArray() { w_.EndArray(); }
  // An array rendered by another Json, spliced in as it is.
  void RawArray(absl::string_view json) { w_.Raw(json, rapidjson::kArrayType); }

 private:
  // Deepest nesting written: page -> items -> item -> links.
  static constexpr size_t kMaxDepth = 8;
  StringSink sink_;
  alignas(16) char pool_buffer_[512];
  rapidjson::MemoryPoolAllocator<> pool_;
  Writer w_;
};

// Typical sizes, so that one reserve covers the whole body.
constexpr size_t kUserBytes = 900;
constexpr size_t kMetaBytes = 700;
constexpr size_t kUrlBytes = 200;
constexpr size_t kItemsBytes = 16384;  // a user page's array; grows if needed

absl::string_view VersionPrefix(Surface surface) {
  return surface == Surface::kChatV2 ? "/v2" : "/v1";
}

bool IsConversations(const RenderContext& ctx) { return ctx.surface == Surface::kConversations; }

// "https://{host}{/vN}/Services/{IS}/Users" or "https://{host}/v1/Users".
void AppendUserListUrl(const RenderContext& ctx, absl::string_view service_sid, std::string* out) {
  absl::StrAppend(out, "https://", ctx.host);
  if (ctx.default_service_path) {
    out->append("/v1/Users");
  } else {
    absl::StrAppend(out, VersionPrefix(ctx.surface), "/Services/", service_sid, "/Users");
  }
}

// "https://{host}{/vN}/Services".
void AppendServiceListUrl(const RenderContext& ctx, std::string* out) {
  absl::StrAppend(out, "https://", ctx.host, VersionPrefix(ctx.surface), "/Services");
}

// Bytes allowed verbatim in a query value: RFC 3986 unreserved.
bool IsUnreserved(unsigned char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '.' || c == '_' || c == '~';
}

void AppendQueryValue(absl::string_view value, std::string* out) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  for (char ch : value) {
    const unsigned char c = static_cast<unsigned char>(ch);
    if (IsUnreserved(c)) {
      out->push_back(ch);
    } else {
      out->push_back('%');
      out->push_back(kHex[c >> 4]);
      out->push_back(kHex[c & 15]);
    }
  }
}

// "{base}?PageSize=N&Page=P" plus "&PageToken=T" when `token` is not empty.
void AppendPageUrl(absl::string_view base, int64_t page_size, uint64_t page,
                   absl::string_view token, std::string* out) {
  absl::StrAppend(out, base, "?PageSize=", page_size, "&Page=", page);
  if (!token.empty()) {
    out->append("&PageToken=");
    AppendQueryValue(token, out);
  }
}

// Writes {"meta": {...}, "<key>": and leaves the writer ready for the array.
// `page` is a Page<T> or a PageInfo.
template <typename PageT>
void WriteMeta(Json* json, absl::string_view base, const PageT& page, const PageQuery& query,
               absl::string_view key, std::string* scratch) {
  const uint64_t p = static_cast<uint64_t>(query.page < 0 ? 0 : query.page);
  json->Key("meta");
  json->StartObject();
  json->Key("page");
  json->Int(static_cast<int64_t>(p));
  json->Key("page_size");
  json->Int(page.page_size);
  json->Key("first_page_url");
  scratch->clear();
  AppendPageUrl(base, page.page_size, 0, {}, scratch);
  json->Str(*scratch);
  json->Key("previous_page_url");
  if (page.previous_page_token.empty()) {
    json->Null();
  } else {
    scratch->clear();
    AppendPageUrl(base, page.page_size, p == 0 ? 0 : p - 1, page.previous_page_token, scratch);
    json->Str(*scratch);
  }
  json->Key("url");
  scratch->clear();
  AppendPageUrl(base, page.page_size, p, query.page_token, scratch);
  json->Str(*scratch);
  json->Key("next_page_url");
  if (page.next_page_token.empty()) {
    json->Null();
  } else {
    scratch->clear();
    AppendPageUrl(base, page.page_size, p + 1, page.next_page_token, scratch);
    json->Str(*scratch);
  }
  json->Key("key");
  json->Str(key);
  json->EndObject();
}

// One user. `url` holds the user list URL ("https://host/.../Users") and is
// restored to it on return (one buffer serves a whole page); `base_plain`
// says whether that list URL needs no JSON escaping (its owner decides once);
// `in_list` selects the list key order of Chat.
void WriteUser(Json* json, const RenderContext& ctx, const UserView& user, bool in_list,
               std::string* url, bool base_plain) {
  const size_t base_size = url->size();
  url->push_back('/');
  url->append(user.sid.data(), user.sid.size());
  const size_t url_size = url->size();

  json->StartObject();
  json->Key("sid");
  json->PlainStr(user.sid);
  json->Key("account_sid");
  json->PlainStr(user.account_sid);
  if (IsConversations(ctx)) {
    json->Key("chat_service_sid");
    json->PlainStr(user.service_sid);
    json->Key("role_sid");
    json->PlainStr(user.role_sid);
    json->Key("identity");
    json->Str(user.identity);
    json->Key("friendly_name");
    json->OptStr(user.friendly_name);
    json->Key("attributes");
    json->Str(user.attributes);
    json->Key("is_online");
    json->OptBool(user.is_online);
    json->Key("is_notifiable");
    json->OptBool(user.is_notifiable);
    json->Key("date_created");
    json->Time(user.date_created);
    json->Key("date_updated");
    json->Time(user.date_updated);
    json->Key("url");
    json->UrlStr(*url, base_plain);
    json->Key("links");
    json->StartObject();
    json->Key("user_conversations");
    url->append("/Conversations");
    json->UrlStr(*url, base_plain);
    json->EndObject();
    json->EndObject();
    url->resize(base_size);
    return;
  }

  json->Key("service_sid");
  json->PlainStr(user.service_sid);
  json->Key("role_sid");
  json->PlainStr(user.role_sid);
  json->Key("identity");
  json->Str(user.identity);
  json->Key("attributes");
  json->Str(user.attributes);
  json->Key("is_online");
  json->OptBool(user.is_online);
  json->Key("is_notifiable");
  json->OptBool(user.is_notifiable);
  json->Key("friendly_name");
  json->OptStr(user.friendly_name);
  if (!in_list) {
    json->Key("joined_channels_count");
    json->Int(user.joined_channels_count);
  }
  json->Key("date_created");
  json->Time(user.date_created);
  json->Key("date_updated");
  json->Time(user.date_updated);
  if (in_list) {
    json->Key("joined_channels_count");
    json->Int(user.joined_channels_count);
  }
  json->Key("links");
  json->StartObject();
  json->Key("user_channels");
  url->append("/Channels");
  json->UrlStr(*url, base_plain);
  if (ctx.surface == Surface::kChatV2) {
    json->Key("user_bindings");
    url->resize(url_size);
    url->append("/Bindings");
    json->UrlStr(*url, base_plain);
  }
  json->EndObject();
  json->Key("url");
  url->resize(url_size);
  json->UrlStr(*url, base_plain);
  json->EndObject();
  url->resize(base_size);
}

// One service; `url` as for WriteUser, holding the service list URL.
void WriteService(Json* json, const Service& service, std::string* url) {
  const size_t base_size = url->size();
  url->push_back('/');
  url->append(service.sid);
  const size_t url_size = url->size();
  json->StartObject();
  json->Key("sid");
  json->Str(service.sid);
  json->Key("account_sid");
  json->Str(service.account_sid);
  json->Key("friendly_name");
  json->Str(service.friendly_name);
  json->Key("date_created");
  json->Time(service.date_created);
  json->Key("date_updated");
  json->Time(service.date_updated);
  json->Key("default_service_role_sid");
  json->Str(service.default_service_role_sid);
  json->Key("default_channel_role_sid");
  json->Str(service.default_channel_role_sid);
  json->Key("default_channel_creator_role_sid");
  json->Str(service.default_channel_creator_role_sid);
  json->Key("reachability_enabled");
  json->Bool(service.reachability_enabled);
  json->Key("url");
  json->Str(*url);
  json->Key("links");
  json->StartObject();
  json->Key("users");
  url->append("/Users");
  json->Str(*url);
  json->Key("roles");
  url->resize(url_size);
  url->append("/Roles");
  json->Str(*url);
  json->EndObject();
  json->EndObject();
  url->resize(base_size);
}

// One role; `url` as for WriteUser, holding the role list URL.
void WriteRole(Json* json, const RenderContext& ctx, const Role& role, std::string* url) {
  const size_t base_size = url->size();
  url->push_back('/');
  url->append(role.sid);
  json->StartObject();
  json->Key("sid");
  json->Str(role.sid);
  json->Key("account_sid");
  json->Str(role.account_sid);
  if (IsConversations(ctx)) {
    json->Key("chat_service_sid");
  } else {
    json->Key("service_sid");
  }
  json->Str(role.service_sid);
  json->Key("friendly_name");
  json->Str(role.friendly_name);
  json->Key("type");
  json->Str(role.type == RoleType::kChannel ? "channel" : "deployment");
  json->Key("permissions");
  json->StartArray();
  for (const std::string& p : role.permissions) json->Str(p);
  json->EndArray();
  json->Key("date_created");
  json->Time(role.date_created);
  json->Key("date_updated");
  json->Time(role.date_updated);
  json->Key("url");
  json->Str(*url);
  json->EndObject();
  url->resize(base_size);
}

void AppendRoleListUrl(const RenderContext& ctx, absl::string_view service_sid, std::string* out) {
  AppendServiceListUrl(ctx, out);
  absl::StrAppend(out, "/", service_sid, "/Roles");
}

// Messages can quote request bytes (the 404 path). Text that is not valid
// UTF-8 (or holds a NUL) gets its bytes >= 0x80 and NULs percent-encoded, so
// the body stays valid JSON and the message stays readable.
std::string SanitizeMessage(absl::string_view message) {
  if (IsValidText(message)) return std::string(message);
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (char ch : message) {
    const unsigned char c = static_cast<unsigned char>(ch);
    if (c >= 0x80 || c == 0) {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    } else {
      out.push_back(ch);
    }
  }
  return out;
}

}  // namespace

absl::string_view CanonicalHost(Surface surface) {
  return surface == Surface::kConversations ? "conversations.twilio.com" : "chat.twilio.com";
}

void AppendIsoTime(absl::Time t, std::string* out) {
  char buf[kIsoTimeSize];
  if (FormatIsoTimeTo(t, buf)) {
    out->append(buf, sizeof(buf));
  } else {
    out->append(FormatIsoTime(t));  // far outside any real date
  }
}

std::string RenderUser(const RenderContext& ctx, const User& user) {
  return RenderUser(ctx, UserView::Of(user));
}

std::string RenderUser(const RenderContext& ctx, const UserView& user) {
  std::string out;
  out.reserve(kUserBytes + user.attributes.size() + user.identity.size());
  std::string url;
  url.reserve(kUrlBytes);
  AppendUserListUrl(ctx, user.service_sid, &url);
  Json json(&out);
  WriteUser(&json, ctx, user, /*in_list=*/false, &url, JsonPlainPrefix(url) == url.size());
  json.Finish();
  return out;
}

std::string RenderService(const RenderContext& ctx, const Service& service) {
  std::string out;
  out.reserve(kUserBytes);
  std::string url;
  url.reserve(kUrlBytes);
  AppendServiceListUrl(ctx, &url);
  Json json(&out);
  WriteService(&json, service, &url);
  json.Finish();
  return out;
}

std::string RenderRole(const RenderContext& ctx, const Role& role) {
  std::string out;
  out.reserve(kUserBytes);
  std::string url;
  url.reserve(kUrlBytes);
  AppendRoleListUrl(ctx, role.service_sid, &url);
  Json json(&out);
  WriteRole(&json, ctx, role, &url);
  json.Finish();
  return out;
}

// The users of a page as one JSON array, rendered as they are added.
struct UserPageRenderer::Items {
  explicit Items(std::string reserved) : out(std::move(reserved)), json(&out) {}
  std::string out;         // before `json`, which writes into it
  std::string url;         // the user list URL (WriteUser restores it)
  bool url_plain = false;  // whether `url` needs no JSON escaping
  Json json;
};

namespace {
std::string Reserved(size_t bytes) {
  std::string s;
  s.reserve(bytes);
  return s;
}
}  // namespace

UserPageRenderer::UserPageRenderer(const RenderContext& ctx, absl::string_view service_sid)
    : ctx_(ctx), items_(std::make_unique<Items>(Reserved(kItemsBytes))) {
  items_->url.reserve(kUrlBytes);
  AppendUserListUrl(ctx_, service_sid, &items_->url);
  items_->url_plain = JsonPlainPrefix(items_->url) == items_->url.size();
  items_->json.StartArray();
}

UserPageRenderer::~UserPageRenderer() = default;

void UserPageRenderer::Add(const UserView& user) {
  WriteUser(&items_->json, ctx_, user, /*in_list=*/true, &items_->url, items_->url_plain);
}

std::string UserPageRenderer::Finish(const PageInfo& page, const PageQuery& query) {
  items_->json.EndArray();
  items_->json.Finish();
  std::string out = Reserved(kMetaBytes + items_->out.size());
  std::string scratch;
  Json json(&out);
  json.StartObject();
  WriteMeta(&json, items_->url, page, query, "users", &scratch);
  json.Key("users");
  json.RawArray(items_->out);
  json.EndObject();
  json.Finish();
  return out;
}

std::string RenderUserPage(const RenderContext& ctx, absl::string_view service_sid,
                           const UserPage& page, const PageQuery& query) {
  UserPageRenderer renderer(ctx, service_sid);
  for (const User& u : page.items) renderer.Add(UserView::Of(u));
  PageInfo info;
  info.item_count = static_cast<int64_t>(page.items.size());
  info.page_size = page.page_size;
  info.next_page_token = page.next_page_token;
  info.previous_page_token = page.previous_page_token;
  return renderer.Finish(info, query);
}

std::string RenderServicePage(const RenderContext& ctx, const ServicePage& page,
                              const PageQuery& query) {
  std::string out;
  out.reserve(kMetaBytes + page.items.size() * kUserBytes);
  std::string url, scratch;
  url.reserve(kUrlBytes);
  AppendServiceListUrl(ctx, &url);
  Json json(&out);
  json.StartObject();
  WriteMeta(&json, url, page, query, "services", &scratch);
  json.Key("services");
  json.StartArray();
  for (const Service& s : page.items) WriteService(&json, s, &url);
  json.EndArray();
  json.EndObject();
  json.Finish();
  return out;
}

std::string RenderRolePage(const RenderContext& ctx, absl::string_view service_sid,
                           const RolePage& page, const PageQuery& query) {
  std::string out;
  out.reserve(kMetaBytes + page.items.size() * kUserBytes);
  std::string url, scratch;
  url.reserve(kUrlBytes);
  AppendRoleListUrl(ctx, service_sid, &url);
  Json json(&out);
  json.StartObject();
  WriteMeta(&json, url, page, query, "roles", &scratch);
  json.Key("roles");
  json.StartArray();
  for (const Role& r : page.items) WriteRole(&json, ctx, r, &url);
  json.EndArray();
  json.EndObject();
  json.Finish();
  return out;
}

std::string RenderError(const absl::Status& status) {
  return RenderError(status, HttpStatusOf(status));
}

std::string RenderError(const absl::Status& status, int http) {
  const ErrorCode code = ErrorCodeOf(status);
  std::string out;
  out.reserve(160 + status.message().size());
  Json json(&out);
  json.StartObject();
  json.Key("code");
  json.Int(static_cast<int>(code));
  json.Key("message");
  json.Str(SanitizeMessage(status.message()));
  json.Key("more_info");
  json.Str(MoreInfoUrl(code));
  json.Key("status");
  json.Int(http);
  json.EndObject();
  json.Finish();
  return out;
}

}  // namespace internal
}  // namespace userstore
