// The v1 event encoding (include/userstore/event_codec.h): the writer, shared
// by EncodeChangeEvent and the journal's EncodeUserEvent
// (core/durable/event_encoding.h), and the hostile-input-safe reader.
//
// Writing: every encoding is computed into a buffer of a precomputed upper
// bound, through raw char* primitives, and trimmed. Nothing is written before
// the event has been checked, so an error leaves the output unchanged.
//
// Reading: a Reader walks the input with a cursor it never moves past the
// end; every field is length-checked before it is read, and every length
// field is checked against the bytes that remain before anything is
// allocated for it. The reader accepts only the canonical form of each
// field (minimal varints; the 16-byte form for every SID that has one), so
// that whatever decodes re-encodes to exactly the same bytes.

#include "userstore/event_codec.h"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "absl/base/config.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

#include "userstore/events.h"
#include "userstore/resources.h"
#include "userstore/status.h"

#include "core/durable/event_encoding.h"
#include "core/sid.h"

namespace userstore {
namespace internal {
namespace {

constexpr uint8_t kEntityService = 0;
constexpr uint8_t kEntityRole = 1;
constexpr uint8_t kEntityUser = 2;
constexpr uint8_t kMaxOp = 2;
constexpr uint8_t kFlagDefaultConversationService = 1;

// The size of the raw form of a SID: tag byte + 16 bytes.
constexpr size_t kRawSidBytes = 17;
// The hex digits after a SID's prefix.
constexpr size_t kSidHexDigits = 32;

// --- writing --------------------------------------------------------------------

inline size_t VarintLength(uint64_t v) {
  size_t n = 1;
  while (v >= 0x80) {
    v >>= 7;
    ++n;
  }
  return n;
}

inline uint64_t ZigZag(int64_t v) {
  return (static_cast<uint64_t>(v) << 1) ^ static_cast<uint64_t>(v >> 63);
}

inline int64_t UnZigZag(uint64_t v) { return static_cast<int64_t>((v >> 1) ^ (0 - (v & 1))); }

inline char* PutVarint(char* p, uint64_t v) {
  if (v < 0x80) {  // every length of a typical user, and most dates' neighbours
    *p = static_cast<char>(v);
    return p + 1;
  }
  do {
    *p++ = static_cast<char>((v & 0x7f) | 0x80);
    v >>= 7;
  } while (v >= 0x80);
  *p++ = static_cast<char>(v);
  return p;
}

// Byte-order conversions as one 8-byte store: g++ does not merge the byte
// loop into one, and SIDs are two of these each.
[[maybe_unused]] inline uint64_t ByteSwap64(uint64_t v) {
#if defined(__GNUC__) || defined(__clang__)
  return __builtin_bswap64(v);
#else
  uint64_t r = 0;
  for (int i = 0; i < 8; ++i) r = (r << 8) | ((v >> (8 * i)) & 0xff);
  return r;
#endif
}

inline char* PutFixed64LE(char* p, uint64_t v) {
#if defined(ABSL_IS_BIG_ENDIAN)
  v = ByteSwap64(v);
#endif
  std::memcpy(p, &v, sizeof(v));
  return p + 8;
}

// Unused where WriteRawSid() is vectorised.
[[maybe_unused]] inline char* PutFixed64BE(char* p, uint64_t v) {
#if !defined(ABSL_IS_BIG_ENDIAN)
  v = ByteSwap64(v);
#endif
  std::memcpy(p, &v, sizeof(v));
  return p + 8;
}

inline char* PutStr(char* p, absl::string_view s) {
  p = PutVarint(p, s.size());
  if (!s.empty()) std::memcpy(p, s.data(), s.size());
  return p + s.size();
}

inline size_t StrBound(absl::string_view s) { return VarintLength(s.size()) + s.size(); }

// When `text` is `prefix` + 32 lower-case hex digits (what ParseSid()
// accepts), writes its 16-byte value, most significant byte first, to `out`
// and returns true; otherwise writes nothing and returns false. REQUIRES:
// `prefix` is two characters.
//
// With SSE2 (every x86-64) the 32 digits are checked and converted 16 at a
// time, straight to the bytes the encoding holds: the SWAR ParseSid() and
// the two byte swaps after it were two thirds of EncodeUserEvent.
inline bool WriteRawSid(absl::string_view prefix, absl::string_view text, char* out) {
#if defined(__SSE2__)
  if (text.size() != 2 + kSidHexDigits || text[0] != prefix[0] || text[1] != prefix[1]) {
    return false;
  }
  __m128i halves[2];
  for (size_t h = 0; h < 2; ++h) {
    const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(text.data() + 2 + 16 * h));
    // Signed compares: bytes >= 0x80 are negative, neither digit nor letter.
    const __m128i digit = _mm_and_si128(_mm_cmpgt_epi8(v, _mm_set1_epi8('0' - 1)),
                                        _mm_cmplt_epi8(v, _mm_set1_epi8('9' + 1)));
    const __m128i letter = _mm_and_si128(_mm_cmpgt_epi8(v, _mm_set1_epi8('a' - 1)),
                                         _mm_cmplt_epi8(v, _mm_set1_epi8('f' + 1)));
    if (_mm_movemask_epi8(_mm_or_si128(digit, letter)) != 0xffff) return false;
    // Digit values: '0'..'9' & 0x0f is 0..9, 'a'..'f' & 0x0f is 1..6, +9.
    const __m128i nibbles = _mm_add_epi8(_mm_and_si128(v, _mm_set1_epi8(0x0f)),
                                         _mm_and_si128(letter, _mm_set1_epi8(9)));
    // Each 16-bit lane holds two digits, the first in its low byte: make it
    // first * 16 + second.
    halves[h] = _mm_or_si128(_mm_and_si128(_mm_slli_epi16(nibbles, 4), _mm_set1_epi16(0x00f0)),
                             _mm_srli_epi16(nibbles, 8));
  }
  _mm_storeu_si128(reinterpret_cast<__m128i*>(out), _mm_packus_epi16(halves[0], halves[1]));
  return true;
#else
  const std::optional<Sid128> value = ParseSid(prefix, text);
  if (!value.has_value()) return false;
  PutFixed64BE(PutFixed64BE(out, value->hi), value->lo);
  return true;
#endif
}

// A SID in its 16-byte form when it has one, else as text.
inline char* PutSid(char* p, absl::string_view prefix, absl::string_view text) {
  if (WriteRawSid(prefix, text, p + 1)) {
    *p = 1;
    return p + kRawSidBytes;
  }
  *p = 0;
  return PutStr(p + 1, text);
}

inline size_t SidBound(absl::string_view text) {
  return std::max(kRawSidBytes, 1 + StrBound(text));
}

inline char* PutTime(char* p, absl::Time t) { return PutVarint(p, ZigZag(absl::ToUnixSeconds(t))); }

inline char* PutOptBool(char* p, const std::optional<bool>& b) {
  *p = static_cast<char>(!b.has_value() ? 0 : (*b ? 2 : 1));
  return p + 1;
}

inline char* PutHeader(char* p, uint8_t entity, ChangeEvent::Op op, uint8_t flags,
                       uint64_t sequence) {
  p[0] = static_cast<char>(kChangeEventEncodingVersion);
  p[1] = static_cast<char>(entity);
  p[2] = static_cast<char>(op);
  p[3] = static_cast<char>(flags);
  return PutFixed64LE(p + 4, sequence);
}

char* PutUserBody(char* p, const UserView& user) {
  p = PutSid(p, "US", user.sid);
  p = PutSid(p, "AC", user.account_sid);
  p = PutSid(p, "IS", user.service_sid);
  p = PutSid(p, "RL", user.role_sid);
  p = PutStr(p, user.identity);
  if (user.friendly_name.has_value()) {
    *p++ = 1;
    p = PutStr(p, *user.friendly_name);
  } else {
    *p++ = 0;
  }
  p = PutStr(p, user.attributes);
  p = PutOptBool(p, user.is_online);
  p = PutOptBool(p, user.is_notifiable);
  p = PutVarint(p, ZigZag(user.joined_channels_count));
  p = PutTime(p, user.date_created);
  return PutTime(p, user.date_updated);
}

size_t ServiceEventBound(const Service& s) {
  return kEventHeaderBytes + SidBound(s.sid) + SidBound(s.account_sid) + StrBound(s.friendly_name) +
         SidBound(s.default_service_role_sid) + SidBound(s.default_channel_role_sid) +
         SidBound(s.default_channel_creator_role_sid) + 1 + 2 * kMaxVarintBytes;
}

char* PutServiceBody(char* p, const Service& s) {
  p = PutSid(p, "IS", s.sid);
  p = PutSid(p, "AC", s.account_sid);
  p = PutStr(p, s.friendly_name);
  p = PutSid(p, "RL", s.default_service_role_sid);
  p = PutSid(p, "RL", s.default_channel_role_sid);
  p = PutSid(p, "RL", s.default_channel_creator_role_sid);
  *p++ = static_cast<char>(s.reachability_enabled ? 1 : 0);
  p = PutTime(p, s.date_created);
  return PutTime(p, s.date_updated);
}

size_t RoleEventBound(const Role& r) {
  size_t n = kEventHeaderBytes + SidBound(r.sid) + SidBound(r.account_sid) +
             SidBound(r.service_sid) + StrBound(r.friendly_name) + 1 +
             VarintLength(r.permissions.size()) + 2 * kMaxVarintBytes;
  for (const std::string& permission : r.permissions) n += StrBound(permission);
  return n;
}

char* PutRoleBody(char* p, const Role& r) {
  p = PutSid(p, "RL", r.sid);
  p = PutSid(p, "AC", r.account_sid);
  p = PutSid(p, "IS", r.service_sid);
  p = PutStr(p, r.friendly_name);
  *p++ = static_cast<char>(r.type);
  p = PutVarint(p, r.permissions.size());
  for (const std::string& permission : r.permissions) p = PutStr(p, permission);
  p = PutTime(p, r.date_created);
  return PutTime(p, r.date_updated);
}

absl::Status CheckTime(absl::Time t, const char* field) {
  if (IsWholeSeconds(t)) return absl::OkStatus();
  return InvalidParameterError(absl::StrCat("cannot encode event: ", field,
                                            t == absl::InfiniteFuture() || t == absl::InfinitePast()
                                                ? " is infinite"
                                                : " is not a whole number of seconds"));
}

// Runs `write` on a buffer of `bound` bytes at the end of `*out`, then trims.
template <typename Write>
void AppendBounded(std::string* out, size_t bound, Write write) {
  const size_t start = out->size();
  out->resize(start + bound);
  char* const begin = &(*out)[start];
  char* const end = write(begin);
  out->resize(start + static_cast<size_t>(end - begin));
}

// --- reading --------------------------------------------------------------------

// A cursor over the input. Every read checks the bytes that remain first; on
// a failure it records the first error (with the offset of the field that
// could not be read) and returns false, and the caller returns at once.
class Reader {
 public:
  explicit Reader(absl::string_view in)
      : begin_(in.data()), p_(in.data()), end_(in.data() + in.size()) {}

  size_t offset() const { return static_cast<size_t>(p_ - begin_); }
  size_t remaining() const { return static_cast<size_t>(end_ - p_); }

  absl::Status status() const { return InvalidParameterError(error_); }

  bool Fail(size_t at, absl::string_view message) {
    error_ = absl::StrCat("cannot decode event: ", message, " at byte ", at);
    return false;
  }

  bool Truncated(const char* field, size_t needed) {
    return Fail(offset(), absl::StrCat("truncated input: ", field, " needs ", needed, " byte(s), ",
                                       remaining(), " left"));
  }

  bool U8(const char* field, uint8_t* v) {
    if (p_ == end_) return Truncated(field, 1);
    *v = static_cast<uint8_t>(*p_++);
    return true;
  }

  // A u8 that must be at most `max`.
  bool Enum(const char* field, uint8_t max, absl::string_view meaning, uint8_t* v) {
    const size_t at = offset();
    if (!U8(field, v)) return false;
    if (*v > max) {
      return Fail(at, absl::StrCat(field, " ", *v, " out of range (", meaning, ")"));
    }
    return true;
  }

  bool Fixed64LE(const char* field, uint64_t* v) {
    if (remaining() < 8) return Truncated(field, 8);
    uint64_t x = 0;
    for (int i = 7; i >= 0; --i) x = (x << 8) | static_cast<uint8_t>(p_[i]);
    p_ += 8;
    *v = x;
    return true;
  }

  bool Fixed64BE(uint64_t* v) {  // callers check the room first
    uint64_t x = 0;
    for (int i = 0; i < 8; ++i) x = (x << 8) | static_cast<uint8_t>(p_[i]);
    p_ += 8;
    *v = x;
    return true;
  }

  bool Varint(const char* field, uint64_t* v) {
    if (p_ != end_ && static_cast<uint8_t>(*p_) < 0x80) {
      *v = static_cast<uint8_t>(*p_++);
      return true;
    }
    const size_t at = offset();
    uint64_t result = 0;
    for (size_t i = 0; i < kMaxVarintBytes; ++i) {
      if (p_ + i == end_) {
        return Fail(at, absl::StrCat("truncated input: ", field, " ends inside a varint"));
      }
      const uint8_t byte = static_cast<uint8_t>(p_[i]);
      if (i == kMaxVarintBytes - 1 && byte > 1) {
        return Fail(at, absl::StrCat(field, ": ",
                                     (byte & 0x80) != 0 ? "varint longer than 10 bytes"
                                                        : "varint overflows 64 bits"));
      }
      result |= static_cast<uint64_t>(byte & 0x7f) << (7 * i);
      if ((byte & 0x80) == 0) {
        if (byte == 0) {  // i > 0 here: a trailing zero group
          return Fail(at, absl::StrCat(field, ": non-minimal varint (", i + 1, " bytes)"));
        }
        p_ += i + 1;
        *v = result;
        return true;
      }
    }
    return false;  // not reached: the tenth byte either ends the varint or fails
  }

  bool Svarint(const char* field, int64_t* v) {
    uint64_t raw = 0;
    if (!Varint(field, &raw)) return false;
    *v = UnZigZag(raw);
    return true;
  }

  bool Str(const char* field, std::string* out) {
    const size_t at = offset();
    uint64_t length = 0;
    if (!Varint(field, &length)) return false;
    if (length > remaining()) {
      return Fail(at, absl::StrCat("truncated input: ", field, " has length ", length, ", only ",
                                   remaining(), " byte(s) left"));
    }
    out->assign(p_, static_cast<size_t>(length));
    p_ += length;
    return true;
  }

  bool Sid(const char* field, absl::string_view prefix, std::string* out) {
    const size_t at = offset();
    uint8_t tag = 0;
    if (!Enum(field, 1, "SID tag: 0 text, 1 raw", &tag)) return false;
    if (tag == 1) {
      if (remaining() < 16) return Truncated(field, 16);
      Sid128 value;
      Fixed64BE(&value.hi);
      Fixed64BE(&value.lo);
      out->resize(prefix.size() + kSidHexDigits);
      WriteSid(prefix, value, &(*out)[0]);
      return true;
    }
    if (!Str(field, out)) return false;
    if (ParseSid(prefix, *out).has_value()) {
      return Fail(at, absl::StrCat(field, ": canonical SID in text form (it has a 16-byte form)"));
    }
    return true;
  }

  // The view forms, for DecodeUserEventImage: no copy, the 16-byte SID form
  // only.
  bool StrView(const char* field, absl::string_view* out) {
    const size_t at = offset();
    uint64_t length = 0;
    if (!Varint(field, &length)) return false;
    if (length > remaining()) {
      return Fail(at, absl::StrCat("truncated input: ", field, " has length ", length, ", only ",
                                   remaining(), " byte(s) left"));
    }
    *out = absl::string_view(p_, static_cast<size_t>(length));
    p_ += length;
    return true;
  }

  bool RawSid(const char* field, Sid128* out) {
    uint8_t tag = 0;
    if (!Enum(field, 1, "SID tag: 0 text, 1 raw", &tag)) return false;
    if (tag != 1) return Fail(offset(), absl::StrCat(field, ": not in the 16-byte form"));
    if (remaining() < 16) return Truncated(field, 16);
    Fixed64BE(&out->hi);
    Fixed64BE(&out->lo);
    return true;
  }

  bool OptStrView(const char* field, std::optional<absl::string_view>* out) {
    uint8_t tag = 0;
    if (!Enum(field, 1, "0 absent, 1 present", &tag)) return false;
    if (tag == 0) {
      out->reset();
      return true;
    }
    out->emplace();
    return StrView(field, &**out);
  }

  bool AtEnd() const { return p_ == end_; }

  bool OptStr(const char* field, std::optional<std::string>* out) {
    uint8_t tag = 0;
    if (!Enum(field, 1, "0 absent, 1 present", &tag)) return false;
    if (tag == 0) {
      out->reset();
      return true;
    }
    out->emplace();
    return Str(field, &**out);
  }

  bool OptBool(const char* field, std::optional<bool>* out) {
    uint8_t v = 0;
    if (!Enum(field, 2, "0 null, 1 false, 2 true", &v)) return false;
    if (v == 0) {
      out->reset();
    } else {
      *out = v == 2;
    }
    return true;
  }

  bool Bool(const char* field, bool* out) {
    uint8_t v = 0;
    if (!Enum(field, 1, "0 false, 1 true", &v)) return false;
    *out = v == 1;
    return true;
  }

  bool Time(const char* field, absl::Time* out) {
    int64_t seconds = 0;
    if (!Svarint(field, &seconds)) return false;
    *out = absl::FromUnixSeconds(seconds);
    return true;
  }

 private:
  const char* begin_;
  const char* p_;
  const char* end_;
  std::string error_;
};

bool ReadService(Reader* r, Service* s) {
  return r->Sid("service.sid", "IS", &s->sid) &&
         r->Sid("service.account_sid", "AC", &s->account_sid) &&
         r->Str("service.friendly_name", &s->friendly_name) &&
         r->Sid("service.default_service_role_sid", "RL", &s->default_service_role_sid) &&
         r->Sid("service.default_channel_role_sid", "RL", &s->default_channel_role_sid) &&
         r->Sid("service.default_channel_creator_role_sid", "RL",
                &s->default_channel_creator_role_sid) &&
         r->Bool("service.reachability_enabled", &s->reachability_enabled) &&
         r->Time("service.date_created", &s->date_created) &&
         r->Time("service.date_updated", &s->date_updated);
}

bool ReadRole(Reader* r, Role* role) {
  uint8_t type = 0;
  if (!(r->Sid("role.sid", "RL", &role->sid) &&
        r->Sid("role.account_sid", "AC", &role->account_sid) &&
        r->Sid("role.service_sid", "IS", &role->service_sid) &&
        r->Str("role.friendly_name", &role->friendly_name) &&
        r->Enum("role.type", 1, "0 deployment, 1 channel", &type))) {
    return false;
  }
  role->type = static_cast<RoleType>(type);
  const size_t at = r->offset();
  uint64_t count = 0;
  if (!r->Varint("role.permissions count", &count)) return false;
  // Each permission takes at least its one-byte length: a count beyond the
  // remaining bytes cannot be right, and is refused before the reserve.
  if (count > r->remaining()) {
    return r->Fail(at, absl::StrCat("truncated input: role.permissions count ", count,
                                    " exceeds the ", r->remaining(), " byte(s) left"));
  }
  role->permissions.clear();
  role->permissions.reserve(static_cast<size_t>(count));
  for (uint64_t i = 0; i < count; ++i) {
    role->permissions.emplace_back();
    if (!r->Str("role.permission", &role->permissions.back())) return false;
  }
  return r->Time("role.date_created", &role->date_created) &&
         r->Time("role.date_updated", &role->date_updated);
}

bool ReadUser(Reader* r, User* u) {
  if (!(r->Sid("user.sid", "US", &u->sid) && r->Sid("user.account_sid", "AC", &u->account_sid) &&
        r->Sid("user.service_sid", "IS", &u->service_sid) &&
        r->Sid("user.role_sid", "RL", &u->role_sid) && r->Str("user.identity", &u->identity) &&
        r->OptStr("user.friendly_name", &u->friendly_name) &&
        r->Str("user.attributes", &u->attributes) && r->OptBool("user.is_online", &u->is_online) &&
        r->OptBool("user.is_notifiable", &u->is_notifiable))) {
    return false;
  }
  const size_t at = r->offset();
  int64_t joined = 0;
  if (!r->Svarint("user.joined_channels_count", &joined)) return false;
  if (joined < std::numeric_limits<int>::min() || joined > std::numeric_limits<int>::max()) {
    return r->Fail(at, absl::StrCat("user.joined_channels_count ", joined, " out of range"));
  }
  u->joined_channels_count = static_cast<int>(joined);
  return r->Time("user.date_created", &u->date_created) &&
         r->Time("user.date_updated", &u->date_updated);
}

bool ReadUserImage(Reader* r, UserEventImage* u) {
  uint8_t version = 0, entity = 0, op = 0, flags = 0;
  if (!(r->U8("version", &version) && version == kChangeEventEncodingVersion &&
        r->Enum("entity", kEntityUser, "", &entity) && entity == kEntityUser &&
        r->Enum("op", kMaxOp, "", &op) && r->U8("flags", &flags) && flags == 0 &&
        r->Fixed64LE("sequence", &u->sequence) && r->RawSid("user.sid", &u->sid) &&
        r->RawSid("user.account_sid", &u->account_sid) &&
        r->RawSid("user.service_sid", &u->service_sid) &&
        r->RawSid("user.role_sid", &u->role_sid) && r->StrView("user.identity", &u->identity) &&
        r->OptStrView("user.friendly_name", &u->friendly_name) &&
        r->StrView("user.attributes", &u->attributes) &&
        r->OptBool("user.is_online", &u->is_online) &&
        r->OptBool("user.is_notifiable", &u->is_notifiable))) {
    return false;
  }
  int64_t joined = 0;
  if (!r->Svarint("user.joined_channels_count", &joined) || joined < 0 ||
      joined > std::numeric_limits<int>::max()) {
    return false;
  }
  u->op = static_cast<ChangeEvent::Op>(op);
  u->joined_channels_count = static_cast<int>(joined);
  return r->Svarint("user.date_created", &u->date_created) &&
         r->Svarint("user.date_updated", &u->date_updated) && r->AtEnd();
}

bool ReadEvent(Reader* r, ChangeEvent* event) {
  uint8_t version = 0;
  if (!r->U8("version", &version)) return false;
  if (version != kChangeEventEncodingVersion) {
    return r->Fail(0,
                   absl::StrCat("unsupported event encoding version ", version,
                                " (this build reads version ", kChangeEventEncodingVersion, ")"));
  }
  uint8_t entity = 0, op = 0, flags = 0;
  if (!r->Enum("entity", kEntityUser, "0 service, 1 role, 2 user", &entity) ||
      !r->Enum("op", kMaxOp, "0 create, 1 update, 2 delete", &op)) {
    return false;
  }
  const size_t flags_at = r->offset();
  if (!r->U8("flags", &flags)) return false;
  if ((flags & ~kFlagDefaultConversationService) != 0) {
    return r->Fail(flags_at, absl::StrCat("unknown flag bits 0x",
                                          absl::Hex(flags & ~kFlagDefaultConversationService)));
  }
  if (!r->Fixed64LE("sequence", &event->sequence)) return false;
  event->entity = static_cast<ChangeEvent::Entity>(entity);
  event->op = static_cast<ChangeEvent::Op>(op);
  event->default_conversation_service = (flags & kFlagDefaultConversationService) != 0;
  switch (entity) {
    case kEntityService:
      return ReadService(r, &event->service.emplace());
    case kEntityRole:
      return ReadRole(r, &event->role.emplace());
    default:
      return ReadUser(r, &event->user.emplace());
  }
}

}  // namespace

bool IsWholeSeconds(absl::Time t) {
  if (t == absl::InfiniteFuture() || t == absl::InfinitePast()) return false;
  return absl::FromUnixSeconds(absl::ToUnixSeconds(t)) == t;
}

size_t UserEventEncodedSizeBound(const UserView& user) {
  return kEventHeaderBytes + SidBound(user.sid) + SidBound(user.account_sid) +
         SidBound(user.service_sid) + SidBound(user.role_sid) + StrBound(user.identity) + 1 +
         (user.friendly_name.has_value() ? StrBound(*user.friendly_name) : 0) +
         StrBound(user.attributes) + 2 + /*joined_channels_count, an int*/ 5 + 2 * kMaxVarintBytes;
}

char* EncodeUserEvent(ChangeEvent::Op op, uint64_t sequence, const UserView& user, char* out) {
  return PutUserBody(PutHeader(out, kEntityUser, op, 0, sequence), user);
}

bool DecodeUserEventImage(absl::string_view bytes, UserEventImage* image) {
  Reader reader(bytes);
  return ReadUserImage(&reader, image);
}

void PatchEventSequence(char* encoded, uint64_t sequence) {
  PutFixed64LE(encoded + kEventSequenceOffset, sequence);
}

bool IsUserCreateEvent(absl::string_view encoded) {
  return encoded.size() >= kEventHeaderBytes &&
         static_cast<uint8_t>(encoded[0]) == kChangeEventEncodingVersion &&
         static_cast<uint8_t>(encoded[1]) == kEntityUser &&
         static_cast<uint8_t>(encoded[2]) == static_cast<uint8_t>(ChangeEvent::Op::kCreate);
}

}  // namespace internal

absl::Status EncodeChangeEvent(const ChangeEvent& event, std::string* out) {
  using internal::AppendBounded;
  using internal::CheckTime;
  if (static_cast<uint8_t>(event.op) > internal::kMaxOp) {
    return InvalidParameterError(
        absl::StrCat("cannot encode event: op ", static_cast<int>(event.op), " out of range"));
  }
  const uint8_t flags =
      event.default_conversation_service ? internal::kFlagDefaultConversationService : 0;
  switch (event.entity) {
    case ChangeEvent::Entity::kService: {
      if (!event.service.has_value()) {
        return InvalidParameterError("cannot encode event: entity is service but no service set");
      }
      const Service& s = *event.service;
      absl::Status st = CheckTime(s.date_created, "service.date_created");
      if (st.ok()) st = CheckTime(s.date_updated, "service.date_updated");
      if (!st.ok()) return st;
      AppendBounded(out, internal::ServiceEventBound(s), [&](char* p) {
        p = internal::PutHeader(p, internal::kEntityService, event.op, flags, event.sequence);
        return internal::PutServiceBody(p, s);
      });
      return absl::OkStatus();
    }
    case ChangeEvent::Entity::kRole: {
      if (!event.role.has_value()) {
        return InvalidParameterError("cannot encode event: entity is role but no role set");
      }
      const Role& r = *event.role;
      if (static_cast<uint8_t>(r.type) > 1) {
        return InvalidParameterError(absl::StrCat("cannot encode event: role.type ",
                                                  static_cast<int>(r.type), " out of range"));
      }
      absl::Status st = CheckTime(r.date_created, "role.date_created");
      if (st.ok()) st = CheckTime(r.date_updated, "role.date_updated");
      if (!st.ok()) return st;
      AppendBounded(out, internal::RoleEventBound(r), [&](char* p) {
        p = internal::PutHeader(p, internal::kEntityRole, event.op, flags, event.sequence);
        return internal::PutRoleBody(p, r);
      });
      return absl::OkStatus();
    }
    case ChangeEvent::Entity::kUser: {
      if (!event.user.has_value()) {
        return InvalidParameterError("cannot encode event: entity is user but no user set");
      }
      const UserView view = UserView::Of(*event.user);
      absl::Status st = CheckTime(view.date_created, "user.date_created");
      if (st.ok()) st = CheckTime(view.date_updated, "user.date_updated");
      if (!st.ok()) return st;
      AppendBounded(out, internal::UserEventEncodedSizeBound(view), [&](char* p) {
        char* end = internal::EncodeUserEvent(event.op, event.sequence, view, p);
        // The flags byte: EncodeUserEvent writes the journal's 0.
        p[3] = static_cast<char>(flags);
        return end;
      });
      return absl::OkStatus();
    }
  }
  return InvalidParameterError(absl::StrCat("cannot encode event: entity ",
                                            static_cast<int>(event.entity), " out of range"));
}

absl::StatusOr<ChangeEvent> DecodeChangeEvent(absl::string_view* in) {
  internal::Reader reader(*in);
  ChangeEvent event;
  if (!internal::ReadEvent(&reader, &event)) return reader.status();
  in->remove_prefix(reader.offset());
  return event;
}

absl::StatusOr<ChangeEvent> DecodeChangeEvent(absl::string_view bytes) {
  internal::Reader reader(bytes);
  ChangeEvent event;
  if (!internal::ReadEvent(&reader, &event)) return reader.status();
  if (reader.remaining() != 0) {
    reader.Fail(reader.offset(),
                absl::StrCat(reader.remaining(), " trailing byte(s) after the event"));
    return reader.status();
  }
  return event;
}

}  // namespace userstore
