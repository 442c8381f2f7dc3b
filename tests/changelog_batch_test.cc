// The changelog batch encoding (replication.h; docs/file-format.md,
// "Changelog batches"): round trips of real change feeds, the encoder's and
// the decoder's errors, hostile input (every single-byte change and every
// truncation of a real batch is refused; a huge count allocates nothing for
// it), the documented worked example, and the fuzzer's seeds.

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <limits>
#include <memory>
#include <new>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/allocation_counter.h"  // replaces operator new: one file per binary

#include "userstore/event_codec.h"
#include "userstore/events.h"
#include "userstore/options.h"
#include "userstore/replication.h"
#include "userstore/resources.h"
#include "userstore/status.h"
#include "userstore/user_store.h"

#include "core/durable/crc32c.h"
#include "core/durable/format.h"

namespace userstore {
namespace {

using ::testing::HasSubstr;
using Entity = ChangeEvent::Entity;
using Op = ChangeEvent::Op;

constexpr size_t kEmptyBatchBytes = 40;  // header 36 + crc 4

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

std::string EncodeEvent(const ChangeEvent& event) {
  std::string out;
  const absl::Status status = EncodeChangeEvent(event, &out);
  EXPECT_TRUE(status.ok()) << status;
  return out;
}

std::string Encode(const ChangelogBatch& batch) {
  std::string out;
  const absl::Status status = EncodeChangelogBatch(batch, &out);
  EXPECT_TRUE(status.ok()) << status;
  return out;
}

// Recomputes the checksum of a batch whose other bytes a test changed.
void Reseal(std::string* bytes) {
  ASSERT_GE(bytes->size(), 4u);
  const size_t body = bytes->size() - 4;
  internal::durable::PutU32(&(*bytes)[body],
                            internal::crc32c::Mask(internal::crc32c::Value(bytes->data(), body)));
}

void ExpectRefused(absl::string_view bytes, absl::string_view text) {
  const absl::StatusOr<ChangelogBatch> result = DecodeChangelogBatch(bytes);
  ASSERT_FALSE(result.ok()) << Hex(bytes);
  EXPECT_EQ(ErrorCode::kInvalidParameter, ErrorCodeOf(result.status()));
  EXPECT_EQ(400, HttpStatusOf(result.status()));
  EXPECT_THAT(std::string(result.status().message()), HasSubstr(std::string(text)));
}

// Every kind of event a store publishes, from a real store's feed: a service
// created (with its four roles), updated and deleted; a role created and
// deleted; users created (with and without a friendly name), updated, with
// presence and channel counts, deleted. Deterministic (a seed and a manual
// clock), so the fuzzer's seeds can be compared with it.
std::vector<ChangeEvent> RecordedFeed() {
  auto clock = std::make_shared<ManualClock>(absl::FromUnixSeconds(1458854719));
  StoreOptions options;
  options.seed = 42;
  options.clock = clock;
  UserStore store(options);
  std::vector<ChangeEvent> events;
  store.Subscribe([&events](const ChangeEvent& e) { events.push_back(e); });

  CreateServiceRequest service_request;
  service_request.friendly_name = "game";
  const absl::StatusOr<Service> service = store.CreateService(service_request);
  EXPECT_TRUE(service.ok()) << service.status();
  if (!service.ok()) return events;
  const std::string& is = service->sid;
  clock->Advance(absl::Seconds(1));
  UpdateServiceRequest service_update;
  service_update.reachability_enabled = true;
  EXPECT_TRUE(store.UpdateService(is, service_update).ok());

  CreateRoleRequest role_request;
  role_request.friendly_name = "moderator";
  role_request.type = "deployment";
  role_request.permissions = {"addMember", "editAnyMessage"};
  const absl::StatusOr<Role> role = store.CreateRole(is, role_request);
  EXPECT_TRUE(role.ok()) << role.status();

  CreateUserRequest alice;
  alice.identity = "alice";
  alice.friendly_name = "Alice";
  alice.attributes = R"({"level":3,"name":"\u00e9"})";
  EXPECT_TRUE(store.CreateUser(is, alice).ok());
  CreateUserRequest bob;
  bob.identity = "bob";
  EXPECT_TRUE(store.CreateUser(is, bob).ok());
  clock->Advance(absl::Seconds(2));
  UpdateUserRequest update;
  update.friendly_name = "";
  if (role.ok()) update.role_sid = role->sid;
  EXPECT_TRUE(store.UpdateUser(is, "alice", update).ok());
  PresenceUpdate presence;
  presence.is_online = true;
  presence.is_notifiable = false;
  EXPECT_TRUE(store.SetPresence(is, "alice", presence).ok());
  EXPECT_TRUE(store.JoinChannel(is, "alice").ok());
  EXPECT_TRUE(store.JoinChannel(is, "alice").ok());
  EXPECT_TRUE(store.LeaveChannel(is, "alice").ok());
  EXPECT_TRUE(store.DeleteUser(is, "bob").ok());
  EXPECT_TRUE(store.DeleteUser(is, "alice").ok());
  if (role.ok()) {
    EXPECT_TRUE(store.DeleteRole(is, role->sid).ok());
  }
  // A user of the default conversation service (its events are flagged).
  CreateUserRequest carol;
  carol.identity = "carol";
  EXPECT_TRUE(store.CreateUser(store.default_conversation_service_sid(), carol).ok());
  EXPECT_TRUE(store.DeleteService(is).ok());
  return events;
}

// A role update (no API call makes one; Apply takes it) with text SIDs.
ChangeEvent RoleUpdateEvent(uint64_t sequence) {
  Role r;
  r.sid = "RL1";
  r.account_sid = "";
  r.service_sid = "ISffffffffffffffffffffffffffffffff";
  r.friendly_name = "x";
  r.type = RoleType::kChannel;
  r.permissions = {"a", ""};
  r.date_created = absl::FromUnixSeconds(0);
  r.date_updated = absl::FromUnixSeconds(-1);
  ChangeEvent e;
  e.entity = Entity::kRole;
  e.op = Op::kUpdate;
  e.sequence = sequence;
  e.role = r;
  e.default_conversation_service = true;  // the flag, too
  return e;
}

ChangelogBatch FeedBatch() {
  ChangelogBatch batch;
  batch.epoch = 3;
  batch.sid_draws = 1234;
  batch.made_micros = 1458854722123456;
  batch.events = RecordedFeed();
  if (!batch.events.empty()) {
    batch.events.push_back(RoleUpdateEvent(batch.events.back().sequence + 1));
  }
  return batch;
}

void ExpectSameBatch(const ChangelogBatch& a, const ChangelogBatch& b) {
  EXPECT_EQ(a.epoch, b.epoch);
  EXPECT_EQ(a.sid_draws, b.sid_draws);
  EXPECT_EQ(a.made_micros, b.made_micros);
  ASSERT_EQ(a.events.size(), b.events.size());
  for (size_t i = 0; i < a.events.size(); ++i) {
    SCOPED_TRACE(i);
    EXPECT_EQ(a.events[i].sequence, b.events[i].sequence);
    EXPECT_EQ(a.events[i].entity, b.events[i].entity);
    EXPECT_EQ(a.events[i].op, b.events[i].op);
    EXPECT_EQ(a.events[i].default_conversation_service, b.events[i].default_conversation_service);
    // The event codec's own tests compare fields; one event has one encoding.
    EXPECT_EQ(Hex(EncodeEvent(a.events[i])), Hex(EncodeEvent(b.events[i])));
  }
}

// --- round trips -----------------------------------------------------------------

TEST(ChangelogBatch, EveryEventKindRoundTrips) {
  const ChangelogBatch batch = FeedBatch();
  // The feed holds every entity and op, presence and counts included.
  bool seen[3][3] = {};
  bool presence = false;
  bool channels = false;
  bool flagged = false;
  for (const ChangeEvent& e : batch.events) {
    seen[static_cast<int>(e.entity)][static_cast<int>(e.op)] = true;
    flagged |= e.default_conversation_service;
    if (e.user.has_value()) {
      presence |= e.user->is_online == true && e.user->is_notifiable == false;
      channels |= e.user->joined_channels_count == 2;
    }
  }
  for (int entity = 0; entity < 3; ++entity) {
    for (int op = 0; op < 3; ++op) {
      EXPECT_TRUE(seen[entity][op]) << "entity " << entity << " op " << op;
    }
  }
  EXPECT_TRUE(presence);
  EXPECT_TRUE(channels);
  EXPECT_TRUE(flagged);

  const std::string bytes = Encode(batch);
  const absl::StatusOr<ChangelogBatch> back = DecodeChangelogBatch(bytes);
  ASSERT_TRUE(back.ok()) << back.status();
  ExpectSameBatch(batch, *back);
  EXPECT_EQ(Hex(bytes), Hex(Encode(*back)));

  // Every prefix of the feed (one event, two, ...) too.
  for (size_t n = 1; n <= batch.events.size(); ++n) {
    ChangelogBatch part = batch;
    part.events.resize(n);
    const std::string part_bytes = Encode(part);
    const absl::StatusOr<ChangelogBatch> part_back = DecodeChangelogBatch(part_bytes);
    ASSERT_TRUE(part_back.ok()) << n << ": " << part_back.status();
    ExpectSameBatch(part, *part_back);
  }
}

TEST(ChangelogBatch, TheEmptyBatchIsFortyBytes) {
  ChangelogBatch fence;
  fence.epoch = 2;
  fence.sid_draws = 17;
  fence.made_micros = -5;  // before 1970: kept as it is
  const std::string bytes = Encode(fence);
  EXPECT_EQ(kEmptyBatchBytes, bytes.size());
  EXPECT_EQ("USCB", bytes.substr(0, 4));
  const absl::StatusOr<ChangelogBatch> back = DecodeChangelogBatch(bytes);
  ASSERT_TRUE(back.ok()) << back.status();
  ExpectSameBatch(fence, *back);
}

TEST(ChangelogBatch, ExtremeHeaderValuesRoundTrip) {
  ChangelogBatch batch;
  batch.epoch = std::numeric_limits<uint64_t>::max();
  batch.sid_draws = std::numeric_limits<uint64_t>::max();
  batch.made_micros = std::numeric_limits<int64_t>::min();
  batch.events.push_back(RoleUpdateEvent(std::numeric_limits<uint64_t>::max()));
  const absl::StatusOr<ChangelogBatch> back = DecodeChangelogBatch(Encode(batch));
  ASSERT_TRUE(back.ok()) << back.status();
  ExpectSameBatch(batch, *back);
}

TEST(ChangelogBatch, EncodeAppends) {
  std::string out = "prefix";
  ChangelogBatch batch;
  ASSERT_TRUE(EncodeChangelogBatch(batch, &out).ok());
  EXPECT_EQ("prefix", out.substr(0, 6));
  EXPECT_TRUE(DecodeChangelogBatch(absl::string_view(out).substr(6)).ok());
}

// --- the encoder's errors -----------------------------------------------------------

TEST(ChangelogBatch, EncodeRefusesSequencesThatAreNotConsecutive) {
  for (const std::vector<uint64_t>& sequences : std::vector<std::vector<uint64_t>>{
           {5, 7}, {5, 5}, {5, 4}, {1, 2, 4}, {std::numeric_limits<uint64_t>::max(), 0}}) {
    ChangelogBatch batch;
    for (uint64_t s : sequences) batch.events.push_back(RoleUpdateEvent(s));
    std::string out = "unchanged";
    const absl::Status status = EncodeChangelogBatch(batch, &out);
    EXPECT_EQ(ErrorCode::kInvalidParameter, ErrorCodeOf(status)) << status;
    EXPECT_THAT(std::string(status.message()), HasSubstr("sequence"));
    EXPECT_EQ("unchanged", out);
  }
}

TEST(ChangelogBatch, EncodeRefusesAnEventThatDoesNotEncode) {
  ChangelogBatch batch;
  batch.events.push_back(RoleUpdateEvent(1));
  ChangeEvent empty;  // entity user, no user
  empty.sequence = 2;
  batch.events.push_back(empty);
  std::string out = "unchanged";
  const absl::Status status = EncodeChangelogBatch(batch, &out);
  EXPECT_EQ(ErrorCode::kInvalidParameter, ErrorCodeOf(status)) << status;
  EXPECT_THAT(std::string(status.message()), HasSubstr("event 1"));
  EXPECT_EQ("unchanged", out);
}

// --- the decoder's errors -----------------------------------------------------------

TEST(ChangelogBatch, DecodeNamesWhatIsWrong) {
  ChangelogBatch batch;
  batch.epoch = 1;
  batch.events.push_back(RoleUpdateEvent(8));
  batch.events.push_back(RoleUpdateEvent(9));
  const std::string good = Encode(batch);
  ASSERT_TRUE(DecodeChangelogBatch(good).ok());

  ExpectRefused("", "bad magic");
  ExpectRefused("USC", "bad magic");
  ExpectRefused("XSCB" + good.substr(4), "bad magic");
  ExpectRefused(good.substr(0, 39), "truncated");

  std::string v2 = good;
  v2[4] = 2;
  ExpectRefused(v2, "unsupported changelog batch version 2");
  Reseal(&v2);
  ExpectRefused(v2, "unsupported changelog batch version 2");

  std::string flipped = good;
  flipped[10] ^= 1;  // the epoch
  ExpectRefused(flipped, "checksum mismatch");

  std::string trailing = good + '\0';
  ExpectRefused(trailing, "trailing");
  Reseal(&trailing);  // the checksum is where the entries say, not at the end
  ExpectRefused(trailing, "trailing");

  std::string past_end = good;
  internal::durable::PutU32(&past_end[36], 1000);  // the first entry's length
  Reseal(&past_end);
  ExpectRefused(past_end, "past the end");

  std::string more = good;
  internal::durable::PutU32(&more[32], 3);  // the count
  Reseal(&more);
  ExpectRefused(more, "has no length");

  std::string fewer = good;
  internal::durable::PutU32(&fewer[32], 1);
  Reseal(&fewer);
  ExpectRefused(fewer, "trailing bytes");

  // A checksum-valid batch whose event does not decode.
  std::string bad_event = good;
  bad_event[40] = 7;  // the first event's version byte
  Reseal(&bad_event);
  ExpectRefused(bad_event, "event 0: cannot decode event: unsupported event encoding version 7");

  // A checksum-valid batch whose sequences are not consecutive: the second
  // event's sequence (at 40 + its length + 4 + 4) is patched to 10.
  std::string gap = good;
  const size_t second = 36 + 4 + internal::durable::GetU32(&good[36]) + 4;
  internal::durable::PutU64(&gap[second + 4], 10);
  Reseal(&gap);
  ExpectRefused(gap, "event 1 has sequence 10 after 8");
}

#if USERSTORE_COUNTS_ALLOCATIONS
TEST(ChangelogBatch, AHugeCountAllocatesNothingForIt) {
  // A checksum-valid header claiming 2^32-1 events, followed by a few bytes.
  std::string bytes = Encode(ChangelogBatch());
  internal::durable::PutU32(&bytes[32], std::numeric_limits<uint32_t>::max());
  bytes.insert(36, std::string(64, '\0'));  // sixteen empty entries
  Reseal(&bytes);
  const size_t before = userstore_testing::AllocatedBytes().load();
  const absl::StatusOr<ChangelogBatch> result = DecodeChangelogBatch(bytes);
  const size_t allocated = userstore_testing::AllocatedBytes().load() - before;
  ASSERT_FALSE(result.ok());
  EXPECT_LT(allocated, 16 * bytes.size() + 4096) << result.status();
}

TEST(ChangelogBatch, DecodeAllocatesAtMostASmallMultipleOfItsInput) {
  // Many smallest events: the vector is the bulk of what decode allocates.
  ChangelogBatch batch;
  for (uint64_t s = 1; s <= 200; ++s) batch.events.push_back(RoleUpdateEvent(s));
  for (ChangeEvent& e : batch.events) {
    e.role->permissions.clear();
    e.role->friendly_name.clear();
  }
  const std::string bytes = Encode(batch);
  const size_t before = userstore_testing::AllocatedBytes().load();
  const absl::StatusOr<ChangelogBatch> result = DecodeChangelogBatch(bytes);
  const size_t allocated = userstore_testing::AllocatedBytes().load() - before;
  ASSERT_TRUE(result.ok()) << result.status();
  // sizeof(ChangeEvent) per event of at least 16 bytes, plus the texts.
  EXPECT_LT(allocated, (sizeof(ChangeEvent) / 16 + 64) * bytes.size());
}
#endif

// --- hostile input: every change of a real batch is refused -----------------------

TEST(ChangelogBatch, EverySingleByteChangeIsRefused) {
  ChangelogBatch batch = FeedBatch();
  batch.events.resize(4);  // a service, its roles: a few hundred bytes
  const std::string good = Encode(batch);
  ASSERT_TRUE(DecodeChangelogBatch(good).ok());
  std::string bytes = good;
  size_t accepted = 0;
  for (size_t i = 0; i < bytes.size(); ++i) {
    for (int x = 1; x < 256; ++x) {
      bytes[i] = static_cast<char>(good[i] ^ x);
      if (DecodeChangelogBatch(bytes).ok()) {
        ADD_FAILURE() << "byte " << i << " xor " << x << " was accepted";
        if (++accepted > 10) return;
      }
    }
    bytes[i] = good[i];
  }
}

TEST(ChangelogBatch, EveryTruncationAndExtensionIsRefused) {
  const std::string good = Encode(FeedBatch());
  for (size_t n = 0; n < good.size(); ++n) {
    ASSERT_FALSE(DecodeChangelogBatch(absl::string_view(good).substr(0, n)).ok()) << n;
    // The tail alone, too (a batch that lost its head).
    ASSERT_FALSE(DecodeChangelogBatch(absl::string_view(good).substr(n + 1)).ok()) << n;
  }
  for (int x = 0; x < 256; ++x) {
    ASSERT_FALSE(DecodeChangelogBatch(good + static_cast<char>(x)).ok()) << x;
  }
  ASSERT_FALSE(DecodeChangelogBatch(good + good).ok());
}

// --- the worked example of docs/file-format.md --------------------------------------

// The user create of the event encoding's worked example (same page).
ChangeEvent ExampleUserEvent() {
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
  ChangeEvent e;
  e.entity = Entity::kUser;
  e.op = Op::kCreate;
  e.sequence = 5;
  e.user = u;
  return e;
}

ChangelogBatch ExampleBatch() {
  ChangelogBatch batch;
  batch.epoch = 2;
  batch.sid_draws = 9;
  batch.made_micros = 1458854720000000;  // 2016-03-24T21:25:20Z
  batch.events.push_back(ExampleUserEvent());
  return batch;
}

// The hex dump of the first text block after "### A worked batch".
std::string DocumentedBatchBytes() {
  std::ifstream file(std::string(USERSTORE_SOURCE_DIR) + "/docs/file-format.md");
  const std::string doc((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
  const size_t section = doc.find("### A worked batch");
  if (section == std::string::npos) return "";
  const size_t begin = doc.find("```text\n", section);
  const size_t end = doc.find("```\n", begin + 8);
  if (begin == std::string::npos || end == std::string::npos) return "";
  std::istringstream lines(doc.substr(begin + 8, end - begin - 8));
  std::string out;
  std::string line;
  while (std::getline(lines, line)) {
    if (line.size() < 10) continue;
    const size_t bar = line.find('|');
    std::istringstream fields(line.substr(10, bar == std::string::npos ? line.npos : bar - 10));
    std::string hex;
    while (fields >> hex) out.push_back(static_cast<char>(std::stoi(hex, nullptr, 16)));
  }
  return out;
}

TEST(ChangelogBatch, TheDocumentedExampleIsWhatTheEncoderWrites) {
  const std::string bytes = Encode(ExampleBatch());
  EXPECT_EQ(36u + 4 + 101 + 4, bytes.size());
  const std::string documented = DocumentedBatchBytes();
  ASSERT_EQ(bytes.size(), documented.size()) << "no batch hex dump in docs/file-format.md";
  EXPECT_EQ(Hex(bytes), Hex(documented));
  const absl::StatusOr<ChangelogBatch> back = DecodeChangelogBatch(documented);
  ASSERT_TRUE(back.ok()) << back.status();
  ExpectSameBatch(ExampleBatch(), *back);
}

// --- the fuzzer's seeds -------------------------------------------------------------

// The seeds of fuzz/corpus/changelog_batch/, by name. With the environment
// variable USERSTORE_WRITE_SEEDS set, the test (re)writes them; otherwise it
// checks the committed files are exactly these bytes.
std::vector<std::pair<std::string, std::string>> Seeds() {
  std::vector<std::pair<std::string, std::string>> seeds;
  ChangelogBatch fence;
  fence.epoch = 2;
  fence.sid_draws = 5;
  fence.made_micros = 1458854720000000;
  seeds.emplace_back("fence_empty", Encode(fence));
  seeds.emplace_back("one_user_create", Encode(ExampleBatch()));
  ChangelogBatch feed = FeedBatch();
  ChangelogBatch service = feed;
  service.events.resize(5);  // a service and its four roles
  seeds.emplace_back("service_create", Encode(service));
  seeds.emplace_back("feed_every_kind", Encode(feed));
  ChangelogBatch role;
  role.epoch = 7;
  role.events.push_back(RoleUpdateEvent(41));
  seeds.emplace_back("role_update_text_sids", Encode(role));
  return seeds;
}

TEST(ChangelogBatch, FuzzSeedsAreTheGeneratorsBatches) {
  const std::string dir = std::string(USERSTORE_SOURCE_DIR) + "/fuzz/corpus/changelog_batch/";
  const bool write = std::getenv("USERSTORE_WRITE_SEEDS") != nullptr;
  for (const auto& [name, bytes] : Seeds()) {
    SCOPED_TRACE(name);
    ASSERT_TRUE(DecodeChangelogBatch(bytes).ok());
    if (write) {
      std::ofstream out(dir + name, std::ios::binary | std::ios::trunc);
      out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
      ASSERT_TRUE(out.good());
    }
    std::ifstream in(dir + name, std::ios::binary);
    const std::string committed((std::istreambuf_iterator<char>(in)),
                                std::istreambuf_iterator<char>());
    EXPECT_TRUE(bytes == committed)
        << "fuzz/corpus/changelog_batch/" << name << " differs (" << committed.size()
        << " bytes, expected " << bytes.size() << "): regenerate with USERSTORE_WRITE_SEEDS=1";
  }
}

}  // namespace
}  // namespace userstore
