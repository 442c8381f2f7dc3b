// Fuzz target: the v1 event encoding (include/userstore/event_codec.h,
// core/durable/event_encoding.h).
//
// Two properties per input:
//   1. The input is a stream of encoded events, as a journal record frames
//      them. Each DecodeChangeEvent(&in) either fails with 400/20001, leaving
//      `in` unchanged, with a message naming the byte offset; or decodes an
//      event that re-encodes to exactly the bytes it consumed (one event, one
//      encoding: no second, malleable spelling of the same event), that the
//      exact-form DecodeChangeEvent accepts alone and refuses with one more
//      byte, and, for a user, that EncodeUserEvent writes identically within
//      its size bound.
//   2. The input describes a user (texts, presence, counts, dates). The
//      journal's EncodeUserEvent and EncodeChangeEvent write the same bytes,
//      within UserEventEncodedSizeBound, and they decode to the same user.
// The seeds in corpus/event_codec/ are real encodings (services, roles,
// users; canonical and text SIDs; several events in one stream), so that
// mutations of real events are explored, not only random bytes.

#include <cstddef>
#include <cstdint>
#include <limits>
#include <memory>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "fuzz_common.h"

#include "userstore/event_codec.h"
#include "userstore/events.h"
#include "userstore/resources.h"
#include "userstore/status.h"

#include "core/durable/event_encoding.h"

namespace {

using userstore::ChangeEvent;
using userstore::User;
using userstore::UserView;
using userstore::fuzz::ByteReader;
using userstore::fuzz::Escape;

// EncodeUserEvent into a buffer of exactly the bound (so that ASan sees a
// write past it), as a string.
std::string EncodeFast(ChangeEvent::Op op, uint64_t sequence, const User& user) {
  const UserView view = UserView::Of(user);
  const size_t bound = userstore::internal::UserEventEncodedSizeBound(view);
  const std::unique_ptr<char[]> buffer(new char[bound]);
  char* end = userstore::internal::EncodeUserEvent(op, sequence, view, buffer.get());
  FUZZ_CHECK(end >= buffer.get() && static_cast<size_t>(end - buffer.get()) <= bound,
             "EncodeUserEvent wrote %td bytes, bound %zu", end - buffer.get(), bound);
  return std::string(buffer.get(), end);
}

void CheckDecodeStream(absl::string_view input) {
  absl::string_view in = input;
  for (int i = 0; i < 64 && !in.empty(); ++i) {
    const absl::string_view before = in;
    const absl::StatusOr<ChangeEvent> event = userstore::DecodeChangeEvent(&in);
    if (!event.ok()) {
      FUZZ_CHECK(
          userstore::ErrorCodeOf(event.status()) == userstore::ErrorCode::kInvalidParameter &&
              userstore::HttpStatusOf(event.status()) == 400,
          "a bad event must be 400/20001, got %s for %s", event.status().ToString().c_str(),
          Escape(before).c_str());
      FUZZ_CHECK(in.data() == before.data() && in.size() == before.size(),
                 "a failed decode moved the input");
      FUZZ_CHECK(absl::StrContains(event.status().message(), " at byte "), "no byte offset in %s",
                 event.status().ToString().c_str());
      return;
    }
    FUZZ_CHECK(
        before.size() > in.size() && in.data() == before.data() + (before.size() - in.size()),
        "decode did not consume a prefix");
    const absl::string_view consumed = before.substr(0, before.size() - in.size());

    std::string again;
    const absl::Status status = userstore::EncodeChangeEvent(*event, &again);
    FUZZ_CHECK(status.ok(), "a decoded event does not encode: %s for %s", status.ToString().c_str(),
               Escape(consumed).c_str());
    FUZZ_CHECK(again == consumed, "Encode(Decode(b)) != b: b=%s, re-encoded %s",
               Escape(consumed).c_str(), Escape(again).c_str());

    FUZZ_CHECK(userstore::DecodeChangeEvent(consumed).ok(),
               "the exact decode refuses a decodable event: %s", Escape(consumed).c_str());
    const std::string longer = std::string(consumed) + '\0';
    FUZZ_CHECK(!userstore::DecodeChangeEvent(absl::string_view(longer)).ok(),
               "the exact decode accepts a trailing byte: %s", Escape(consumed).c_str());

    const bool has_one = (event->service.has_value() ? 1 : 0) + (event->role.has_value() ? 1 : 0) +
                             (event->user.has_value() ? 1 : 0) ==
                         1;
    FUZZ_CHECK(has_one, "a decoded event must hold exactly one entity");
    if (event->user.has_value()) {
      std::string fast = EncodeFast(event->op, event->sequence, *event->user);
      fast[3] = event->default_conversation_service ? 1 : 0;  // the journal writes flags 0
      FUZZ_CHECK(fast == consumed, "EncodeUserEvent differs: %s vs %s", Escape(fast).c_str(),
                 Escape(consumed).c_str());
    }
  }
}

std::string Text(ByteReader* in) {
  switch (in->Byte() % 4) {
    case 0:
      return "";
    case 1:
      return in->Bytes(40);
    default:
      return in->Bytes(200);
  }
}

std::string SidText(ByteReader* in, const char* prefix) {
  if (in->Bool()) {
    static const char kHex[] = "0123456789abcdef";
    std::string s = prefix;
    for (int i = 0; i < 32; ++i) s.push_back(kHex[in->Byte() & 15]);
    if (in->Byte() == 0xff) s[2] = 'A';  // rarely, an upper-case digit
    return s;
  }
  return Text(in);
}

std::optional<bool> OptBool(ByteReader* in) {
  switch (in->Byte() % 3) {
    case 0:
      return std::nullopt;
    case 1:
      return false;
    default:
      return true;
  }
}

void CheckEncodeUser(ByteReader* in) {
  User user;
  user.sid = SidText(in, "US");
  user.account_sid = SidText(in, "AC");
  user.service_sid = SidText(in, "IS");
  user.role_sid = SidText(in, "RL");
  user.identity = Text(in);
  if (in->Bool()) user.friendly_name = Text(in);
  user.attributes = Text(in);
  user.is_online = OptBool(in);
  user.is_notifiable = OptBool(in);
  user.joined_channels_count = static_cast<int>(static_cast<uint32_t>(in->U64()));
  user.date_created = absl::FromUnixSeconds(static_cast<int64_t>(in->U64()));
  user.date_updated = absl::FromUnixSeconds(static_cast<int64_t>(in->U64()));
  const auto op = static_cast<ChangeEvent::Op>(in->Byte() % 3);
  const uint64_t sequence = in->U64();

  const std::string fast = EncodeFast(op, sequence, user);
  ChangeEvent event;
  event.entity = ChangeEvent::Entity::kUser;
  event.op = op;
  event.sequence = sequence;
  event.user = user;
  std::string slow;
  const absl::Status status = userstore::EncodeChangeEvent(event, &slow);
  FUZZ_CHECK(status.ok(), "EncodeChangeEvent refused a user: %s", status.ToString().c_str());
  FUZZ_CHECK(fast == slow, "EncodeUserEvent %s != EncodeChangeEvent %s", Escape(fast).c_str(),
             Escape(slow).c_str());
  const absl::StatusOr<ChangeEvent> back = userstore::DecodeChangeEvent(absl::string_view(fast));
  FUZZ_CHECK(back.ok(), "an encoded user does not decode: %s for %s",
             back.status().ToString().c_str(), Escape(fast).c_str());
  const User& u = *back->user;
  FUZZ_CHECK(u.sid == user.sid && u.account_sid == user.account_sid &&
                 u.service_sid == user.service_sid && u.role_sid == user.role_sid &&
                 u.identity == user.identity && u.friendly_name == user.friendly_name &&
                 u.attributes == user.attributes && u.is_online == user.is_online &&
                 u.is_notifiable == user.is_notifiable &&
                 u.joined_channels_count == user.joined_channels_count &&
                 u.date_created == user.date_created && u.date_updated == user.date_updated &&
                 back->op == op && back->sequence == sequence,
             "decode(encode(user)) != user for %s", Escape(fast).c_str());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  CheckDecodeStream(absl::string_view(reinterpret_cast<const char*>(data), size));
  ByteReader in(data, size);
  CheckEncodeUser(&in);
  return 0;
}
