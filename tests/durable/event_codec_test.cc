#include "userstore/event_codec.h"

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <limits>
#include <memory>
#include <new>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/allocation_counter.h"  // replaces operator new: one file per binary

#include "userstore/events.h"
#include "userstore/resources.h"
#include "userstore/status.h"

#include "core/durable/event_encoding.h"
#include "core/sid.h"

namespace userstore {
namespace {

using ::testing::HasSubstr;
using Entity = ChangeEvent::Entity;
using Op = ChangeEvent::Op;

std::string Bytes(std::initializer_list<int> bytes) {
  std::string out;
  for (int b : bytes) out.push_back(static_cast<char>(b));
  return out;
}

std::string Hex(absl::string_view s) {
  static const char kDigits[] = "0123456789abcdef";
  std::string out;
  for (char c : s) {
    const unsigned char u = static_cast<unsigned char>(c);
    out.push_back(kDigits[u >> 4]);
    out.push_back(kDigits[u & 15]);
    out.push_back(' ');
  }
  return out;
}

User SampleUser() {
  User u;
  u.sid = "US00112233445566778899aabbccddeeff";
  u.account_sid = "AC0123456789abcdef0123456789abcdef";
  u.service_sid = "ISfedcba9876543210fedcba9876543210";
  u.role_sid = "RL000102030405060708090a0b0c0d0e0f";
  u.identity = "bob";
  u.attributes = "{}";
  u.is_online = true;
  u.joined_channels_count = 3;
  u.date_created = absl::FromUnixSeconds(1458854719);
  u.date_updated = absl::FromUnixSeconds(1458854720);
  return u;
}

Service SampleService() {
  Service s;
  s.sid = "IS11111111111111111111111111111111";
  s.account_sid = "AC0123456789abcdef0123456789abcdef";
  s.friendly_name = "game";
  s.default_service_role_sid = "RL22222222222222222222222222222222";
  s.default_channel_role_sid = "RL33333333333333333333333333333333";
  s.default_channel_creator_role_sid = "RL44444444444444444444444444444444";
  s.reachability_enabled = true;
  s.date_created = absl::FromUnixSeconds(1700000000);
  s.date_updated = absl::FromUnixSeconds(1700000100);
  return s;
}

Role SampleRole() {
  Role r;
  r.sid = "RL55555555555555555555555555555555";
  r.account_sid = "AC0123456789abcdef0123456789abcdef";
  r.service_sid = "IS11111111111111111111111111111111";
  r.friendly_name = "channel moderator";
  r.type = RoleType::kChannel;
  r.permissions = {"sendMessage", "editAnyMessage", "deleteAnyMessage"};
  r.date_created = absl::FromUnixSeconds(1700000000);
  r.date_updated = absl::FromUnixSeconds(1700000000);
  return r;
}

ChangeEvent UserEventOf(const User& user, Op op = Op::kCreate, uint64_t sequence = 5) {
  ChangeEvent e;
  e.entity = Entity::kUser;
  e.op = op;
  e.sequence = sequence;
  e.user = user;
  return e;
}

ChangeEvent ServiceEventOf(const Service& service, Op op = Op::kCreate, uint64_t sequence = 1) {
  ChangeEvent e;
  e.entity = Entity::kService;
  e.op = op;
  e.sequence = sequence;
  e.service = service;
  return e;
}

ChangeEvent RoleEventOf(const Role& role, Op op = Op::kCreate, uint64_t sequence = 2) {
  ChangeEvent e;
  e.entity = Entity::kRole;
  e.op = op;
  e.sequence = sequence;
  e.role = role;
  return e;
}

void ExpectSameUser(const User& a, const User& b) {
  EXPECT_EQ(a.sid, b.sid);
  EXPECT_EQ(a.account_sid, b.account_sid);
  EXPECT_EQ(a.service_sid, b.service_sid);
  EXPECT_EQ(a.role_sid, b.role_sid);
  EXPECT_EQ(a.identity, b.identity);
  EXPECT_EQ(a.attributes, b.attributes);
  EXPECT_EQ(a.friendly_name, b.friendly_name);
  EXPECT_EQ(a.is_online, b.is_online);
  EXPECT_EQ(a.is_notifiable, b.is_notifiable);
  EXPECT_EQ(a.joined_channels_count, b.joined_channels_count);
  EXPECT_EQ(a.date_created, b.date_created);
  EXPECT_EQ(a.date_updated, b.date_updated);
}

void ExpectSameService(const Service& a, const Service& b) {
  EXPECT_EQ(a.sid, b.sid);
  EXPECT_EQ(a.account_sid, b.account_sid);
  EXPECT_EQ(a.friendly_name, b.friendly_name);
  EXPECT_EQ(a.default_service_role_sid, b.default_service_role_sid);
  EXPECT_EQ(a.default_channel_role_sid, b.default_channel_role_sid);
  EXPECT_EQ(a.default_channel_creator_role_sid, b.default_channel_creator_role_sid);
  EXPECT_EQ(a.reachability_enabled, b.reachability_enabled);
  EXPECT_EQ(a.date_created, b.date_created);
  EXPECT_EQ(a.date_updated, b.date_updated);
}

void ExpectSameRole(const Role& a, const Role& b) {
  EXPECT_EQ(a.sid, b.sid);
  EXPECT_EQ(a.account_sid, b.account_sid);
  EXPECT_EQ(a.service_sid, b.service_sid);
  EXPECT_EQ(a.friendly_name, b.friendly_name);
  EXPECT_EQ(a.type, b.type);
  EXPECT_EQ(a.permissions, b.permissions);
  EXPECT_EQ(a.date_created, b.date_created);
  EXPECT_EQ(a.date_updated, b.date_updated);
}

void ExpectSameEvent(const ChangeEvent& a, const ChangeEvent& b) {
  EXPECT_EQ(a.sequence, b.sequence);
  EXPECT_EQ(a.entity, b.entity);
  EXPECT_EQ(a.op, b.op);
  EXPECT_EQ(a.default_conversation_service, b.default_conversation_service);
  ASSERT_EQ(a.service.has_value(), b.service.has_value());
  ASSERT_EQ(a.role.has_value(), b.role.has_value());
  ASSERT_EQ(a.user.has_value(), b.user.has_value());
  if (a.service.has_value()) ExpectSameService(*a.service, *b.service);
  if (a.role.has_value()) ExpectSameRole(*a.role, *b.role);
  if (a.user.has_value()) ExpectSameUser(*a.user, *b.user);
}

std::string Encode(const ChangeEvent& event) {
  std::string out;
  const absl::Status status = EncodeChangeEvent(event, &out);
  EXPECT_TRUE(status.ok()) << status;
  return out;
}

// Encodes, decodes, checks the result equals `event`, and that it re-encodes
// to the same bytes. Returns the encoding.
std::string RoundTrip(const ChangeEvent& event) {
  std::string bytes = Encode(event);
  absl::StatusOr<ChangeEvent> back = DecodeChangeEvent(absl::string_view(bytes));
  EXPECT_TRUE(back.ok()) << back.status() << " for " << Hex(bytes);
  if (!back.ok()) return bytes;
  ExpectSameEvent(event, *back);
  EXPECT_EQ(bytes, Encode(*back));
  return bytes;
}

// Expects a 400/20001 decode error whose message holds `text` and `at byte N`.
void ExpectDecodeError(absl::string_view bytes, absl::string_view text, size_t at) {
  absl::string_view in = bytes;
  const absl::StatusOr<ChangeEvent> result = DecodeChangeEvent(&in);
  ASSERT_FALSE(result.ok()) << Hex(bytes);
  EXPECT_EQ(ErrorCode::kInvalidParameter, ErrorCodeOf(result.status()));
  EXPECT_EQ(400, HttpStatusOf(result.status()));
  EXPECT_THAT(std::string(result.status().message()), HasSubstr(std::string(text)));
  EXPECT_THAT(std::string(result.status().message()), HasSubstr("at byte " + std::to_string(at)));
  EXPECT_EQ(bytes.data(), in.data());  // unchanged
  EXPECT_EQ(bytes.size(), in.size());
}

// The 101-byte encoding of UserEventOf(SampleUser()), written out from the
// grammar in event_codec.h (docs/file-format.md walks through it).
const std::string& KnownUserEventBytes() {
  // clang-format off
  static const std::string* bytes = new std::string(Bytes({
      0x01,                                            // version 1
      0x02,                                            // entity: user
      0x00,                                            // op: create
      0x00,                                            // flags
      0x05, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,  // sequence 5, u64 LE
      // sid: raw, US 00112233445566778899aabbccddeeff
      0x01, 0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd,
      0xee, 0xff,
      // account_sid: raw, AC 0123456789abcdef0123456789abcdef
      0x01, 0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef, 0x01, 0x23, 0x45, 0x67, 0x89, 0xab,
      0xcd, 0xef,
      // service_sid: raw, IS fedcba9876543210fedcba9876543210
      0x01, 0xfe, 0xdc, 0xba, 0x98, 0x76, 0x54, 0x32, 0x10, 0xfe, 0xdc, 0xba, 0x98, 0x76, 0x54,
      0x32, 0x10,
      // role_sid: raw, RL 000102030405060708090a0b0c0d0e0f
      0x01, 0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d,
      0x0e, 0x0f,
      0x03, 'b', 'o', 'b',           // identity: length 3, "bob"
      0x00,                          // friendly_name: absent
      0x02, '{', '}',                // attributes: length 2, "{}"
      0x02,                          // is_online: true
      0x00,                          // is_notifiable: null
      0x06,                          // joined_channels_count 3, zigzag 6
      0xfe, 0xec, 0xa2, 0xef, 0x0a,  // date_created 1458854719, zigzag 2917709438
      0x80, 0xed, 0xa2, 0xef, 0x0a,  // date_updated 1458854720, zigzag 2917709440
  }));
  // clang-format on
  return *bytes;
}

// Offsets in KnownUserEventBytes().
constexpr size_t kIdentityOffset = 12 + 4 * 17;                // 80
constexpr size_t kFriendlyNameOffset = kIdentityOffset + 4;    // 84
constexpr size_t kAttributesOffset = kFriendlyNameOffset + 1;  // 85
constexpr size_t kIsOnlineOffset = kAttributesOffset + 3;      // 88
constexpr size_t kJoinedOffset = kIsOnlineOffset + 2;          // 90

// A role update of the default conversation service, with short texts in
// place of two SIDs, also written out by hand.
ChangeEvent KnownRoleEvent() {
  Role r;
  r.sid = "RL1";       // not canonical: kept as text
  r.account_sid = "";  // empty: kept as text
  r.service_sid = "ISffffffffffffffffffffffffffffffff";
  r.friendly_name = "x";
  r.type = RoleType::kChannel;
  r.permissions = {"a", ""};
  r.date_created = absl::FromUnixSeconds(0);
  r.date_updated = absl::FromUnixSeconds(-1);
  ChangeEvent e = RoleEventOf(r, Op::kUpdate, 0x0102);
  e.default_conversation_service = true;
  return e;
}

std::string KnownRoleEventBytes() {
  // clang-format off
  return Bytes({
      0x01, 0x01, 0x01, 0x01,                            // version 1, role, update, flags bit 0
      0x02, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,    // sequence 0x0102
      0x00, 0x03, 'R', 'L', '1',                         // sid: text "RL1"
      0x00, 0x00,                                        // account_sid: text ""
      0x01, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,  // service_sid: raw
      0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,    //
      0x01, 'x',                                         // friendly_name "x"
      0x01,                                              // type: channel
      0x02,                                              // 2 permissions
      0x01, 'a',                                         //   "a"
      0x00,                                              //   ""
      0x00,                                              // date_created 0
      0x01,                                              // date_updated -1, zigzag 1
  });
  // clang-format on
}

// --- the known encodings ------------------------------------------------------

TEST(EventCodec, KnownUserEventEncodesToTheHandWrittenBytes) {
  EXPECT_EQ(Hex(KnownUserEventBytes()), Hex(Encode(UserEventOf(SampleUser()))));
  EXPECT_EQ(101u, KnownUserEventBytes().size());
  absl::StatusOr<ChangeEvent> decoded = DecodeChangeEvent(KnownUserEventBytes());
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  ExpectSameEvent(UserEventOf(SampleUser()), *decoded);
}

TEST(EventCodec, KnownRoleEventEncodesToTheHandWrittenBytes) {
  EXPECT_EQ(Hex(KnownRoleEventBytes()), Hex(Encode(KnownRoleEvent())));
  absl::StatusOr<ChangeEvent> decoded = DecodeChangeEvent(KnownRoleEventBytes());
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  ExpectSameEvent(KnownRoleEvent(), *decoded);
}

TEST(EventCodec, IsUserCreateEventReadsTheHeaderOnly) {
  const std::string create = Encode(UserEventOf(SampleUser()));
  EXPECT_TRUE(internal::IsUserCreateEvent(create));
  // The header alone is enough: nothing after it is looked at.
  EXPECT_TRUE(internal::IsUserCreateEvent(absl::string_view(create).substr(0, 12)));
  EXPECT_FALSE(internal::IsUserCreateEvent(absl::string_view(create).substr(0, 11)));
  EXPECT_FALSE(internal::IsUserCreateEvent(""));
  EXPECT_FALSE(internal::IsUserCreateEvent(Encode(UserEventOf(SampleUser(), Op::kUpdate))));
  EXPECT_FALSE(internal::IsUserCreateEvent(Encode(UserEventOf(SampleUser(), Op::kDelete))));
  EXPECT_FALSE(internal::IsUserCreateEvent(Encode(ServiceEventOf(SampleService()))));
  EXPECT_FALSE(internal::IsUserCreateEvent(Encode(RoleEventOf(SampleRole()))));
  std::string other_version = create;
  other_version[0] = 2;
  EXPECT_FALSE(internal::IsUserCreateEvent(other_version));
}

// The hex dump of the worked example in docs/file-format.md: the lines
// "OOOOOOOO  hh hh ...  |...|" of the first text block after "### Worked example".
std::string DocumentedExampleBytes() {
  std::ifstream file(std::string(USERSTORE_SOURCE_DIR) + "/docs/file-format.md");
  const std::string doc((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
  const size_t section = doc.find("### Worked example");
  if (section == std::string::npos) return "";
  const size_t begin = doc.find("```text\n", section);
  const size_t end = doc.find("```\n", begin + 8);
  if (begin == std::string::npos || end == std::string::npos) return "";
  std::istringstream lines(doc.substr(begin + 8, end - begin - 8));
  std::string out;
  std::string line;
  while (std::getline(lines, line)) {
    const size_t bar = line.find('|');
    std::istringstream fields(line.substr(10, bar == std::string::npos ? line.npos : bar - 10));
    std::string hex;
    while (fields >> hex) out.push_back(static_cast<char>(std::stoi(hex, nullptr, 16)));
  }
  return out;
}

TEST(EventCodec, TheDocumentedExampleIsWhatTheEncoderWrites) {
  const std::string documented = DocumentedExampleBytes();
  ASSERT_EQ(101u, documented.size()) << "no hex dump found in docs/file-format.md";
  EXPECT_EQ(Hex(Encode(UserEventOf(SampleUser()))), Hex(documented));
}

// --- round trips -----------------------------------------------------------------

TEST(EventCodec, EveryEntityAndOpRoundTrips) {
  for (Op op : {Op::kCreate, Op::kUpdate, Op::kDelete}) {
    for (bool default_service : {false, true}) {
      SCOPED_TRACE(static_cast<int>(op));
      ChangeEvent s = ServiceEventOf(SampleService(), op, 10);
      s.default_conversation_service = default_service;
      const std::string sb = RoundTrip(s);
      EXPECT_EQ(0, sb[1]);
      EXPECT_EQ(static_cast<int>(op), sb[2]);
      EXPECT_EQ(default_service ? 1 : 0, sb[3]);

      ChangeEvent r = RoleEventOf(SampleRole(), op, 11);
      r.default_conversation_service = default_service;
      const std::string rb = RoundTrip(r);
      EXPECT_EQ(1, rb[1]);
      EXPECT_EQ(static_cast<int>(op), rb[2]);

      ChangeEvent u = UserEventOf(SampleUser(), op, 12);
      u.default_conversation_service = default_service;
      const std::string ub = RoundTrip(u);
      EXPECT_EQ(2, ub[1]);
      EXPECT_EQ(static_cast<int>(op), ub[2]);
      EXPECT_EQ(default_service ? 1 : 0, ub[3]);
    }
  }
}

TEST(EventCodec, ServiceAndRoleVariantsRoundTrip) {
  Service s = SampleService();
  s.reachability_enabled = false;
  s.friendly_name = "";
  RoundTrip(ServiceEventOf(s));
  s.friendly_name = std::string(300, 'n');  // a two-byte length
  RoundTrip(ServiceEventOf(s));

  Role r = SampleRole();
  r.type = RoleType::kDeployment;
  r.permissions.clear();
  RoundTrip(RoleEventOf(r));
  for (int i = 0; i < 200; ++i) r.permissions.push_back(std::string(i % 7, 'p'));
  RoundTrip(RoleEventOf(r));
}

TEST(EventCodec, AbsentAndPresentOptionalsRoundTrip) {
  const std::optional<bool> presences[] = {std::nullopt, false, true};
  const std::optional<std::string> names[] = {std::nullopt, std::string(), std::string("Bob")};
  for (const auto& name : names) {
    for (const auto& online : presences) {
      for (const auto& notifiable : presences) {
        User u = SampleUser();
        u.friendly_name = name;
        u.is_online = online;
        u.is_notifiable = notifiable;
        const std::string bytes = RoundTrip(UserEventOf(u));
        // The optbool bytes follow identity, friendly_name and attributes.
        const size_t at = kAttributesOffset + 3 + (name.has_value() ? 1 + name->size() : 0);
        EXPECT_EQ(!online.has_value() ? 0 : (*online ? 2 : 1), bytes[at]);
        EXPECT_EQ(!notifiable.has_value() ? 0 : (*notifiable ? 2 : 1), bytes[at + 1]);
      }
    }
  }
}

TEST(EventCodec, ExtremeValuesRoundTrip) {
  User u = SampleUser();
  for (int64_t seconds :
       {int64_t{0}, int64_t{-1}, int64_t{63}, int64_t{64}, int64_t{-65},
        std::numeric_limits<int64_t>::max(), std::numeric_limits<int64_t>::min()}) {
    u.date_created = absl::FromUnixSeconds(seconds);
    u.date_updated = absl::FromUnixSeconds(-(seconds / 2));
    for (int joined :
         {0, -1, 250, std::numeric_limits<int>::max(), std::numeric_limits<int>::min()}) {
      u.joined_channels_count = joined;
      for (uint64_t sequence : {uint64_t{0}, uint64_t{1}, ~uint64_t{0}}) {
        RoundTrip(UserEventOf(u, Op::kUpdate, sequence));
      }
    }
  }
  u.identity = std::string(1 << 16, 'i');        // a three-byte length
  u.attributes = std::string("\0\xff\x80{", 4);  // bytes, not text: carried as they are
  RoundTrip(UserEventOf(u));
}

TEST(EventCodec, NonCanonicalSidTextsAreKeptVerbatim) {
  const std::string texts[] = {
      "",
      "US",
      "garbage",
      "US00112233445566778899AABBCCDDEEFF",   // upper-case digits
      "us00112233445566778899aabbccddeeff",   // lower-case prefix
      "US00112233445566778899aabbccddeef",    // 31 digits
      "US00112233445566778899aabbccddeeff0",  // 33 digits
      "AC00112233445566778899aabbccddeeff",   // another entity's prefix
      std::string("US\0", 3),
  };
  for (const std::string& text : texts) {
    SCOPED_TRACE(text);
    User u = SampleUser();
    u.sid = text;
    const std::string bytes = RoundTrip(UserEventOf(u));
    // Tag 0, a one-byte length, the text.
    EXPECT_EQ(0, bytes[12]);
    EXPECT_EQ(static_cast<char>(text.size()), bytes[13]);
    EXPECT_EQ(text, bytes.substr(14, text.size()));
    EXPECT_EQ(KnownUserEventBytes().size() - 17 + 2 + text.size(), bytes.size());
  }
}

// The encoder's own SID check (vectorised on x86-64) must agree with
// ParseSid(), which the decoder uses: every byte value at every position of
// a canonical SID, and every prefix letter.
TEST(EventCodec, RawSidFormIsUsedExactlyWhenParseSidAccepts) {
  const std::string canonical = SampleUser().sid;
  for (size_t pos = 0; pos < canonical.size(); ++pos) {
    for (int byte = 0; byte < 256; ++byte) {
      User u = SampleUser();
      u.sid[pos] = static_cast<char>(byte);
      const bool parses = internal::ParseSid("US", u.sid).has_value();
      const std::string bytes = Encode(UserEventOf(u));
      ASSERT_EQ(parses ? 1 : 0, bytes[12]) << "position " << pos << " byte " << byte;
      if (parses) {
        const internal::Sid128 value = *internal::ParseSid("US", u.sid);
        for (int i = 0; i < 8; ++i) {
          ASSERT_EQ(static_cast<char>(value.hi >> (56 - 8 * i)), bytes[13 + i]);
          ASSERT_EQ(static_cast<char>(value.lo >> (56 - 8 * i)), bytes[21 + i]);
        }
      }
    }
  }
}

TEST(EventCodec, CanonicalSidsTakeSeventeenBytes) {
  const std::string bytes = Encode(UserEventOf(SampleUser()));
  // Four raw SIDs between the header and the identity.
  for (size_t i = 0; i < 4; ++i) EXPECT_EQ(1, bytes[12 + 17 * i]) << i;
  EXPECT_EQ(3, bytes[kIdentityOffset]);
  EXPECT_EQ(Bytes({0x01, 0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb,
                   0xcc, 0xdd, 0xee, 0xff}),
            bytes.substr(12, 17));

  // The five SIDs of a service too: 12 + 5 * 17 + "game" + reachability + 2 dates.
  EXPECT_EQ(12u + 5 * 17 + 5 + 1 + 5 + 5, Encode(ServiceEventOf(SampleService())).size());
}

TEST(EventCodec, EncodingIsDeterministic) {
  const ChangeEvent events[] = {UserEventOf(SampleUser()), ServiceEventOf(SampleService()),
                                RoleEventOf(SampleRole()), KnownRoleEvent()};
  for (const ChangeEvent& e : events) {
    EXPECT_EQ(Encode(e), Encode(e));
    const ChangeEvent copy = e;
    EXPECT_EQ(Encode(e), Encode(copy));
  }
}

TEST(EventCodec, EncodeAppendsAndDecodeConsumesOneEventAtATime) {
  std::string stream = "prefix";
  ASSERT_TRUE(EncodeChangeEvent(ServiceEventOf(SampleService()), &stream).ok());
  ASSERT_TRUE(EncodeChangeEvent(RoleEventOf(SampleRole()), &stream).ok());
  ASSERT_TRUE(EncodeChangeEvent(UserEventOf(SampleUser()), &stream).ok());
  ASSERT_EQ("prefix", stream.substr(0, 6));

  absl::string_view in(stream);
  in.remove_prefix(6);
  absl::StatusOr<ChangeEvent> a = DecodeChangeEvent(&in);
  ASSERT_TRUE(a.ok()) << a.status();
  ExpectSameEvent(ServiceEventOf(SampleService()), *a);
  absl::StatusOr<ChangeEvent> b = DecodeChangeEvent(&in);
  ASSERT_TRUE(b.ok()) << b.status();
  ExpectSameEvent(RoleEventOf(SampleRole()), *b);
  EXPECT_EQ(KnownUserEventBytes(), std::string(in));
  absl::StatusOr<ChangeEvent> c = DecodeChangeEvent(&in);
  ASSERT_TRUE(c.ok()) << c.status();
  ExpectSameEvent(UserEventOf(SampleUser()), *c);
  EXPECT_TRUE(in.empty());
  ExpectDecodeError(in, "truncated input: version", 0);
}

TEST(EventCodec, ExactDecodeRefusesTrailingBytes) {
  const std::string bytes = KnownUserEventBytes() + "x";
  absl::StatusOr<ChangeEvent> result = DecodeChangeEvent(absl::string_view(bytes));
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(ErrorCode::kInvalidParameter, ErrorCodeOf(result.status()));
  EXPECT_THAT(std::string(result.status().message()),
              HasSubstr("1 trailing byte(s) after the event at byte 101"));
}

// --- hostile input ---------------------------------------------------------------

TEST(EventCodec, TruncationAtEveryByteIsAnError) {
  const std::string encodings[] = {KnownUserEventBytes(), KnownRoleEventBytes(),
                                   Encode(ServiceEventOf(SampleService())),
                                   Encode(RoleEventOf(SampleRole()))};
  for (const std::string& bytes : encodings) {
    for (size_t n = 0; n < bytes.size(); ++n) {
      // A copy of exactly n bytes, so that ASan sees any read past the end.
      const std::unique_ptr<char[]> copy(new char[n == 0 ? 1 : n]);
      std::memcpy(copy.get(), bytes.data(), n);
      absl::string_view in(copy.get(), n);
      const absl::StatusOr<ChangeEvent> result = DecodeChangeEvent(&in);
      ASSERT_FALSE(result.ok()) << "prefix of " << n << " bytes of " << Hex(bytes);
      EXPECT_EQ(ErrorCode::kInvalidParameter, ErrorCodeOf(result.status()));
      EXPECT_THAT(std::string(result.status().message()), HasSubstr("truncated input"));
      EXPECT_EQ(n, in.size());
      EXPECT_FALSE(DecodeChangeEvent(absl::string_view(copy.get(), n)).ok());
    }
    EXPECT_TRUE(DecodeChangeEvent(absl::string_view(bytes)).ok());
  }
}

TEST(EventCodec, UnknownVersionIsRefused) {
  for (int version : {0, 2, 7, 255}) {
    std::string bytes = KnownUserEventBytes();
    bytes[0] = static_cast<char>(version);
    ExpectDecodeError(bytes, "unsupported event encoding version " + std::to_string(version), 0);
  }
  ExpectDecodeError(Bytes({7}), "unsupported event encoding version 7", 0);
}

TEST(EventCodec, HeaderFieldsOutOfRangeAreRefused) {
  std::string bytes = KnownUserEventBytes();
  bytes[1] = 3;
  ExpectDecodeError(bytes, "entity 3 out of range", 1);
  bytes = KnownUserEventBytes();
  bytes[2] = 3;
  ExpectDecodeError(bytes, "op 3 out of range", 2);
  for (int flags : {0x02, 0x80, 0xff}) {
    bytes = KnownUserEventBytes();
    bytes[3] = static_cast<char>(flags);
    ExpectDecodeError(bytes, "unknown flag bits", 3);
  }
}

TEST(EventCodec, BodyTagsOutOfRangeAreRefused) {
  std::string bytes = KnownUserEventBytes();
  bytes[12] = 2;
  ExpectDecodeError(bytes, "user.sid 2 out of range", 12);
  bytes = KnownUserEventBytes();
  bytes[12 + 17 * 3] = 9;
  ExpectDecodeError(bytes, "user.role_sid 9 out of range", 12 + 17 * 3);
  bytes = KnownUserEventBytes();
  bytes[kFriendlyNameOffset] = 2;
  ExpectDecodeError(bytes, "user.friendly_name 2 out of range", kFriendlyNameOffset);
  bytes = KnownUserEventBytes();
  bytes[kIsOnlineOffset] = 3;
  ExpectDecodeError(bytes, "user.is_online 3 out of range", kIsOnlineOffset);
  bytes = KnownUserEventBytes();
  bytes[kIsOnlineOffset + 1] = static_cast<char>(0xff);
  ExpectDecodeError(bytes, "user.is_notifiable 255 out of range", kIsOnlineOffset + 1);

  // role.type sits after sid (5), account_sid (2), service_sid (17), friendly_name (2).
  const size_t type_at = 12 + 5 + 2 + 17 + 2;
  bytes = KnownRoleEventBytes();
  ASSERT_EQ(1, bytes[type_at]);
  bytes[type_at] = 2;
  ExpectDecodeError(bytes, "role.type 2 out of range", type_at);

  // service.reachability_enabled: after 2 raw SIDs, "game", 3 raw SIDs.
  const size_t reach_at = 12 + 17 * 2 + 5 + 17 * 3;
  bytes = Encode(ServiceEventOf(SampleService()));
  ASSERT_EQ(1, bytes[reach_at]);
  bytes[reach_at] = 2;
  ExpectDecodeError(bytes, "service.reachability_enabled 2 out of range", reach_at);
}

TEST(EventCodec, CanonicalSidInTextFormIsRefused) {
  // The same user with its SID spelt as text: a second encoding of one event.
  const std::string sid = SampleUser().sid;
  std::string bytes = KnownUserEventBytes().substr(0, 12) + Bytes({0x00, 34}) + sid +
                      KnownUserEventBytes().substr(29);
  ExpectDecodeError(bytes, "user.sid: canonical SID in text form", 12);
}

// The known user event with its identity length replaced by `varint`.
std::string WithIdentityLength(const std::string& varint) {
  return KnownUserEventBytes().substr(0, kIdentityOffset) + varint +
         KnownUserEventBytes().substr(kIdentityOffset + 1);
}

TEST(EventCodec, BadVarintsAreRefused) {
  // Eleven bytes: longer than 10.
  ExpectDecodeError(WithIdentityLength(std::string(10, '\x80') + Bytes({0x01})),
                    "user.identity: varint longer than 10 bytes", kIdentityOffset);
  ExpectDecodeError(WithIdentityLength(std::string(9, '\xff') + Bytes({0xff})),
                    "user.identity: varint longer than 10 bytes", kIdentityOffset);
  // Ten bytes whose last carries bits above 2^63.
  ExpectDecodeError(WithIdentityLength(std::string(9, '\xff') + Bytes({0x02})),
                    "user.identity: varint overflows 64 bits", kIdentityOffset);
  ExpectDecodeError(WithIdentityLength(std::string(9, '\x80') + Bytes({0x7f})),
                    "user.identity: varint overflows 64 bits", kIdentityOffset);
  // Non-minimal forms of 3 and of 0.
  ExpectDecodeError(WithIdentityLength(Bytes({0x83, 0x00})),
                    "user.identity: non-minimal varint (2 bytes)", kIdentityOffset);
  ExpectDecodeError(WithIdentityLength(Bytes({0x80, 0x80, 0x00})),
                    "user.identity: non-minimal varint (3 bytes)", kIdentityOffset);
  // A varint cut by the end of the input.
  ExpectDecodeError(KnownUserEventBytes().substr(0, kIdentityOffset) + Bytes({0x80, 0x80}),
                    "truncated input: user.identity ends inside a varint", kIdentityOffset);
  // The largest valid varint (2^64 - 1) is a length past the end, not a varint error.
  ExpectDecodeError(WithIdentityLength(std::string(9, '\xff') + Bytes({0x01})),
                    "user.identity has length 18446744073709551615", kIdentityOffset);
}

TEST(EventCodec, JoinedChannelsCountOutsideIntIsRefused) {
  // zigzag(2^31) = 2^32: 80 80 80 80 10.
  std::string bytes = KnownUserEventBytes();
  bytes.replace(kJoinedOffset, 1, Bytes({0x80, 0x80, 0x80, 0x80, 0x10}));
  ExpectDecodeError(bytes, "user.joined_channels_count 2147483648 out of range", kJoinedOffset);
}

TEST(EventCodec, HugeLengthWithTinyInputIsRefusedBeforeAllocating) {
  if (!USERSTORE_COUNTS_ALLOCATIONS) {
    GTEST_SKIP() << "ThreadSanitizer's runtime owns operator new: allocations are not counted";
  }
  // Identity length 2^62, then four bytes.
  const std::string bytes =
      WithIdentityLength(std::string(8, '\x80') + Bytes({0x40})).substr(0, kIdentityOffset + 13);
  const size_t before = userstore_testing::AllocatedBytes().load();
  absl::string_view in(bytes);
  const absl::StatusOr<ChangeEvent> result = DecodeChangeEvent(&in);
  const size_t allocated = userstore_testing::AllocatedBytes().load() - before;
  ASSERT_FALSE(result.ok());
  EXPECT_THAT(std::string(result.status().message()),
              HasSubstr("user.identity has length 4611686018427387904, only 4 byte(s) left"));
  // The four SIDs, the event and the message: nothing near the claimed length.
  EXPECT_LT(allocated, 4096u);

  // A role claiming a million permissions in a 40-byte input.
  std::string role = KnownRoleEventBytes();
  const size_t count_at = 12 + 5 + 2 + 17 + 2 + 1;
  ASSERT_EQ(2, role[count_at]);
  role = role.substr(0, count_at) + Bytes({0xc0, 0x84, 0x3d}) + role.substr(count_at + 1);
  const size_t before_role = userstore_testing::AllocatedBytes().load();
  ExpectDecodeError(role, "role.permissions count 1000000 exceeds the", count_at);
  EXPECT_LT(userstore_testing::AllocatedBytes().load() - before_role, 4096u);
}

TEST(EventCodec, DecodingAllocatesASmallMultipleOfTheInput) {
  if (!USERSTORE_COUNTS_ALLOCATIONS) {
    GTEST_SKIP() << "ThreadSanitizer's runtime owns operator new: allocations are not counted";
  }
  // The worst case per input byte: empty permissions, one byte each, each a
  // std::string in the vector.
  Role r = SampleRole();
  r.permissions.assign(10000, std::string());
  const std::string bytes = Encode(RoleEventOf(r));
  const size_t before = userstore_testing::AllocatedBytes().load();
  ASSERT_TRUE(DecodeChangeEvent(absl::string_view(bytes)).ok());
  EXPECT_LE(userstore_testing::AllocatedBytes().load() - before,
            sizeof(std::string) * bytes.size() + 4096);
}

// --- encoder errors ------------------------------------------------------------

void ExpectEncodeError(const ChangeEvent& event, absl::string_view text) {
  std::string out = "unchanged";
  const absl::Status status = EncodeChangeEvent(event, &out);
  ASSERT_FALSE(status.ok());
  EXPECT_EQ(ErrorCode::kInvalidParameter, ErrorCodeOf(status));
  EXPECT_EQ(400, HttpStatusOf(status));
  EXPECT_THAT(std::string(status.message()), HasSubstr(std::string(text)));
  EXPECT_EQ("unchanged", out);
}

TEST(EventCodec, NonWholeSecondDatesAreRefusedByTheEncoder) {
  User u = SampleUser();
  u.date_created += absl::Milliseconds(1);
  ExpectEncodeError(UserEventOf(u), "user.date_created is not a whole number of seconds");
  u = SampleUser();
  u.date_updated = absl::FromUnixSeconds(-5) - absl::Nanoseconds(1);
  ExpectEncodeError(UserEventOf(u), "user.date_updated is not a whole number of seconds");
  u = SampleUser();
  u.date_updated = absl::InfiniteFuture();
  ExpectEncodeError(UserEventOf(u), "user.date_updated is infinite");
  u.date_updated = absl::InfinitePast();
  ExpectEncodeError(UserEventOf(u), "user.date_updated is infinite");

  Service s = SampleService();
  s.date_updated += absl::Microseconds(250);
  ExpectEncodeError(ServiceEventOf(s), "service.date_updated");
  Role r = SampleRole();
  r.date_created += absl::Nanoseconds(1);
  ExpectEncodeError(RoleEventOf(r), "role.date_created");

  EXPECT_TRUE(internal::IsWholeSeconds(absl::FromUnixSeconds(-3)));
  EXPECT_TRUE(internal::IsWholeSeconds(absl::UnixEpoch()));
  EXPECT_FALSE(internal::IsWholeSeconds(absl::UnixEpoch() - absl::Nanoseconds(1)));
}

TEST(EventCodec, MissingEntityOrOutOfRangeEnumsAreRefusedByTheEncoder) {
  ChangeEvent e = UserEventOf(SampleUser());
  e.user.reset();
  e.service = SampleService();  // the wrong one set
  ExpectEncodeError(e, "entity is user but no user set");
  ChangeEvent no_role;
  no_role.entity = Entity::kRole;
  ExpectEncodeError(no_role, "entity is role but no role set");
  ChangeEvent no_service;
  no_service.entity = Entity::kService;
  ExpectEncodeError(no_service, "entity is service but no service set");

  ChangeEvent bad_entity = UserEventOf(SampleUser());
  bad_entity.entity = static_cast<Entity>(3);
  ExpectEncodeError(bad_entity, "entity 3 out of range");
  ChangeEvent bad_op = UserEventOf(SampleUser());
  bad_op.op = static_cast<Op>(7);
  ExpectEncodeError(bad_op, "op 7 out of range");
  Role r = SampleRole();
  r.type = static_cast<RoleType>(2);
  ExpectEncodeError(RoleEventOf(r), "role.type 2 out of range");
}

// --- the journal's fast path ----------------------------------------------------

std::string EncodeFast(Op op, uint64_t sequence, const User& user) {
  const UserView view = UserView::Of(user);
  const size_t bound = internal::UserEventEncodedSizeBound(view);
  // Exactly `bound` bytes on the heap, so that ASan catches a write past it.
  const std::unique_ptr<char[]> buffer(new char[bound]);
  char* end = internal::EncodeUserEvent(op, sequence, view, buffer.get());
  EXPECT_LE(static_cast<size_t>(end - buffer.get()), bound);
  return std::string(buffer.get(), end);
}

TEST(EventEncoding, EncodeUserEventEqualsEncodeChangeEvent) {
  std::vector<User> users;
  users.push_back(SampleUser());
  User u = SampleUser();
  u.friendly_name = "Bob Builder";
  u.attributes = R"({"level":3,"guild":"red","tags":["a","b","c"],"pad":"0123456789abcde"})";
  u.is_notifiable = false;
  users.push_back(u);
  u.sid = "not a sid";
  u.account_sid = "";
  u.service_sid = std::string(200, 's');
  u.role_sid = "RL000102030405060708090A0B0C0D0E0F";
  u.identity = std::string(5000, 'i');
  u.joined_channels_count = -7;
  u.date_created = absl::FromUnixSeconds(std::numeric_limits<int64_t>::min());
  users.push_back(u);
  users.push_back(User());  // every text empty

  for (const User& user : users) {
    for (Op op : {Op::kCreate, Op::kUpdate, Op::kDelete}) {
      const std::string fast = EncodeFast(op, 77, user);
      EXPECT_EQ(Hex(Encode(UserEventOf(user, op, 77))), Hex(fast));
      const size_t bound = internal::UserEventEncodedSizeBound(UserView::Of(user));
      // Slightly over at most: 19 bytes a canonical SID, the integers at their widest.
      EXPECT_LE(bound, fast.size() + size_t{4 * 19 + 5 + 2 * 10});
    }
  }
  EXPECT_EQ(KnownUserEventBytes(), EncodeFast(Op::kCreate, 5, SampleUser()));
}

TEST(EventEncoding, PatchEventSequenceRewritesOnlyTheSequence) {
  std::string bytes = EncodeFast(Op::kUpdate, 0, SampleUser());
  const std::string original = bytes;
  internal::PatchEventSequence(&bytes[0], 0x0102030405060708ULL);
  EXPECT_EQ(Bytes({0x08, 0x07, 0x06, 0x05, 0x04, 0x03, 0x02, 0x01}), bytes.substr(4, 8));
  EXPECT_EQ(original.substr(0, 4), bytes.substr(0, 4));
  EXPECT_EQ(original.substr(12), bytes.substr(12));
  EXPECT_EQ(Encode(UserEventOf(SampleUser(), Op::kUpdate, 0x0102030405060708ULL)), bytes);
  absl::StatusOr<ChangeEvent> decoded = DecodeChangeEvent(absl::string_view(bytes));
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  EXPECT_EQ(0x0102030405060708ULL, decoded->sequence);

  internal::PatchEventSequence(&bytes[0], ~uint64_t{0});
  decoded = DecodeChangeEvent(absl::string_view(bytes));
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  EXPECT_EQ(~uint64_t{0}, decoded->sequence);
}

// The view decoder recovery reads a checkpoint's users with: the same
// fields as DecodeChangeEvent, viewed in the bytes; anything not in the form
// the store writes is left to DecodeChangeEvent (false).
TEST(EventEncoding, DecodeUserEventImageReadsWhatTheStoreWrites) {
  User u = SampleUser();
  u.friendly_name = "Bob";
  u.is_notifiable = false;
  const std::string bytes = EncodeFast(Op::kUpdate, 9, u);
  internal::UserEventImage image;
  ASSERT_TRUE(internal::DecodeUserEventImage(bytes, &image));
  EXPECT_EQ(image.op, Op::kUpdate);
  EXPECT_EQ(image.sequence, 9u);
  EXPECT_EQ(internal::FormatSid("US", image.sid), u.sid);
  EXPECT_EQ(internal::FormatSid("AC", image.account_sid), u.account_sid);
  EXPECT_EQ(internal::FormatSid("IS", image.service_sid), u.service_sid);
  EXPECT_EQ(internal::FormatSid("RL", image.role_sid), u.role_sid);
  EXPECT_EQ(image.identity, u.identity);
  ASSERT_TRUE(image.friendly_name.has_value());
  EXPECT_EQ(*image.friendly_name, "Bob");
  EXPECT_EQ(image.attributes, u.attributes);
  EXPECT_EQ(image.is_online, std::optional<bool>(true));
  EXPECT_EQ(image.is_notifiable, std::optional<bool>(false));
  EXPECT_EQ(image.joined_channels_count, 3);
  EXPECT_EQ(image.date_created, 1458854719);
  EXPECT_EQ(image.date_updated, 1458854720);
  // Trailing bytes, a cut, a SID in text form, another entity: not this form.
  EXPECT_FALSE(internal::DecodeUserEventImage(bytes + "x", &image));
  EXPECT_FALSE(internal::DecodeUserEventImage(bytes.substr(0, bytes.size() - 1), &image));
  User text_sid = SampleUser();
  text_sid.sid = "not a sid";
  EXPECT_FALSE(internal::DecodeUserEventImage(EncodeFast(Op::kCreate, 1, text_sid), &image));
  ChangeEvent service;
  service.entity = ChangeEvent::Entity::kService;
  service.service = SampleService();
  EXPECT_FALSE(internal::DecodeUserEventImage(Encode(service), &image));
}

}  // namespace
}  // namespace userstore
