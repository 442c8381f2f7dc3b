// Fuzz target: the changelog batch encoding (include/userstore/replication.h,
// docs/file-format.md "Changelog batches").
//
// The input is bytes as a batch, checked as it is and, when that changes it,
// with its last four bytes replaced by the checksum of the rest (a mutated
// batch otherwise rarely gets past its CRC32C, and the entries and events
// behind it would go unexplored). For each:
//   - DecodeChangelogBatch fails only with 400/20001, its message saying it
//     is a changelog batch that was refused; or
//   - it returns a batch that re-encodes to exactly the input (one batch,
//     one encoding), whose events' sequences are consecutive, and which is
//     refused with one byte more or one byte less.
// ASan (the fuzz preset) checks that nothing reads past the input; the
// -rss_limit_mb of the runs that a count field does not make it allocate.
//
// The follower's path too: when the framing parses, the batch's entries go
// through UserStore::ApplyEncoded on an empty replica, and their events,
// decoded one by one with DecodeChangeEvent, through Apply on another:
//   - when one does not decode, ApplyEncoded refused with 400/20001 naming
//     it ("event <i>: cannot decode event...") and applied nothing;
//   - otherwise both answer the same status (code and message) after the
//     same number of events, and leave the same state and the same feed;
//   - and a durable replica on a simulated disk, given the same entries,
//     answers the same, holds the same, and holds it again once reopened
//     (its journal has each applied event as ApplyEncoded wrote it).
// The replicas' account is the first event's, when it has one, so that user
// events are journaled as the bytes they came in.
//
// Seeds (corpus/changelog_batch/): batches the encoder wrote, made by
// tests/changelog_batch_test.cc (USERSTORE_WRITE_SEEDS=1 regenerates them):
// a fence entry, one user create, a service with its roles, a whole feed of
// every kind of event, a role update with text SIDs.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "durable_fuzz.h"
#include "fuzz_common.h"

#include "userstore/durable.h"
#include "userstore/event_codec.h"
#include "userstore/events.h"
#include "userstore/fault_injection_env.h"
#include "userstore/options.h"
#include "userstore/replication.h"
#include "userstore/status.h"
#include "userstore/user_store.h"

#include "core/durable/crc32c.h"
#include "core/durable/format.h"
#include "core/replication/batch_framing.h"
#include "core/sid.h"

namespace {

using userstore::fuzz::Escape;

void Check(absl::string_view bytes) {
  const absl::StatusOr<userstore::ChangelogBatch> batch = userstore::DecodeChangelogBatch(bytes);
  if (!batch.ok()) {
    FUZZ_CHECK(userstore::ErrorCodeOf(batch.status()) == userstore::ErrorCode::kInvalidParameter &&
                   userstore::HttpStatusOf(batch.status()) == 400,
               "a bad batch must be 400/20001, got %s for %s", batch.status().ToString().c_str(),
               Escape(bytes).c_str());
    FUZZ_CHECK(absl::StartsWith(batch.status().message(), "Invalid changelog batch: "),
               "the message does not say what was refused: %s", batch.status().ToString().c_str());
    return;
  }
  std::string again;
  const absl::Status status = userstore::EncodeChangelogBatch(*batch, &again);
  FUZZ_CHECK(status.ok(), "a decoded batch does not encode: %s for %s", status.ToString().c_str(),
             Escape(bytes).c_str());
  FUZZ_CHECK(again == bytes, "Encode(Decode(b)) != b: b=%s, re-encoded %s", Escape(bytes).c_str(),
             Escape(again).c_str());
  for (size_t i = 1; i < batch->events.size(); ++i) {
    FUZZ_CHECK(batch->events[i].sequence == batch->events[i - 1].sequence + 1 &&
                   batch->events[i - 1].sequence != UINT64_MAX,
               "event %zu's sequence %llu follows %llu", i,
               static_cast<unsigned long long>(batch->events[i].sequence),
               static_cast<unsigned long long>(batch->events[i - 1].sequence));
  }
  const std::string longer = std::string(bytes) + '\0';
  FUZZ_CHECK(!userstore::DecodeChangelogBatch(longer).ok(), "a trailing byte was accepted: %s",
             Escape(bytes).c_str());
  FUZZ_CHECK(!userstore::DecodeChangelogBatch(bytes.substr(0, bytes.size() - 1)).ok(),
             "a batch without its last byte was accepted: %s", Escape(bytes).c_str());
}

// Every field of a store's state, and of the events its feed delivered, as
// bytes (their v1 encodings).
std::vector<std::string> StateOf(const userstore::UserStore& store) {
  std::vector<std::string> out;
  for (const userstore::ChangeEvent& e : store.Snapshot().events) {
    out.emplace_back();
    (void)userstore::EncodeChangeEvent(e, &out.back());
  }
  return out;
}

struct Feed {
  std::vector<std::string> events;
  userstore::ChangeListener Listener() {
    return [this](const userstore::ChangeEvent& e) {
      events.emplace_back();
      (void)userstore::EncodeChangeEvent(e, &events.back());
    };
  }
};

userstore::StoreOptions ReplicaOptions(const std::string& account) {
  userstore::StoreOptions options;
  options.account_sid = account;
  options.create_default_service = false;
  options.seed = 7;
  return options;
}

// The account SID of the first event that decodes and names one in its
// canonical form; a fixed one otherwise.
std::string AccountOf(const std::vector<absl::string_view>& events) {
  for (absl::string_view bytes : events) {
    const absl::StatusOr<userstore::ChangeEvent> e = userstore::DecodeChangeEvent(bytes);
    if (!e.ok()) continue;
    const std::string account = e->user.has_value()      ? e->user->account_sid
                                : e->role.has_value()    ? e->role->account_sid
                                : e->service.has_value() ? e->service->account_sid
                                                         : "";
    if (userstore::internal::ParseSid("AC", account).has_value()) return account;
  }
  return "AC" + std::string(32, 'a');
}

void CheckApply(absl::string_view bytes) {
  namespace framing = userstore::internal::batch_framing;
  framing::BatchView view;
  if (!framing::ParseBatch(bytes, &view).ok()) return;
  std::vector<absl::string_view> events;
  framing::EntryReader reader(view.entries);
  absl::string_view event;
  while (reader.Next(&event)) events.push_back(event);
  if (events.empty()) return;
  const std::string account = AccountOf(events);

  userstore::UserStore by_bytes(ReplicaOptions(account));
  userstore::UserStore by_apply(ReplicaOptions(account));
  Feed bytes_feed, apply_feed;
  by_bytes.Subscribe(bytes_feed.Listener());
  by_apply.Subscribe(apply_feed.Listener());
  size_t applied = 99;
  const absl::Status got = by_bytes.ApplyEncoded(events, &applied);

  std::vector<userstore::ChangeEvent> decoded;
  for (size_t i = 0; i < events.size(); ++i) {
    absl::StatusOr<userstore::ChangeEvent> e = userstore::DecodeChangeEvent(events[i]);
    if (!e.ok()) {
      FUZZ_CHECK(!got.ok() && userstore::HttpStatusOf(got) == 400 && applied == 0,
                 "event %zu does not decode, ApplyEncoded answered %s after %zu", i,
                 got.ToString().c_str(), applied);
      FUZZ_CHECK(absl::StartsWith(got.message(), absl::StrCat("event ", i, ": cannot decode")),
                 "the refusal does not name event %zu: %s", i, got.ToString().c_str());
      FUZZ_CHECK(
          by_bytes.last_sequence() == 0 && bytes_feed.events.empty() && StateOf(by_bytes).empty(),
          "a batch with an event that does not decode changed the replica");
      return;
    }
    decoded.push_back(*std::move(e));
  }
  absl::Status want;
  size_t want_applied = 0;
  for (const userstore::ChangeEvent& e : decoded) {
    want = by_apply.Apply(e);
    if (!want.ok()) break;
    ++want_applied;
  }
  FUZZ_CHECK(got.code() == want.code() && got.message() == want.message(),
             "ApplyEncoded answered %s, Apply %s", got.ToString().c_str(), want.ToString().c_str());
  FUZZ_CHECK(applied == want_applied, "ApplyEncoded applied %zu events, Apply %zu", applied,
             want_applied);
  const std::vector<std::string> state = StateOf(by_bytes);
  FUZZ_CHECK(state == StateOf(by_apply), "ApplyEncoded and Apply left different states");
  FUZZ_CHECK(bytes_feed.events == apply_feed.events,
             "ApplyEncoded and Apply published different feeds");
  FUZZ_CHECK(by_bytes.last_sequence() == applied, "%zu applied, last sequence %llu", applied,
             static_cast<unsigned long long>(by_bytes.last_sequence()));
  FUZZ_CHECK(by_bytes.CheckInvariants().ok() == by_apply.CheckInvariants().ok(),
             "ApplyEncoded: %s; Apply: %s", by_bytes.CheckInvariants().ToString().c_str(),
             by_apply.CheckInvariants().ToString().c_str());
  if (applied == 0) return;

  // A durable replica on a simulated disk, then reopened.
  std::unique_ptr<userstore::FaultInjectionEnv> env = userstore::NewFaultInjectionEnv();
  userstore::DurableOptions options =
      userstore::fuzz::FuzzDurableOptions(env.get(), userstore::RecoveryMode::kStrict);
  options.store = ReplicaOptions(account);
  {
    absl::StatusOr<std::unique_ptr<userstore::UserStore>> durable =
        userstore::OpenUserStore(userstore::fuzz::kDurableDir, options);
    FUZZ_CHECK(durable.ok(), "OpenUserStore: %s", durable.status().ToString().c_str());
    size_t durable_applied = 99;
    const absl::Status durable_got = (*durable)->ApplyEncoded(events, &durable_applied);
    FUZZ_CHECK(durable_got.code() == got.code() && durable_got.message() == got.message() &&
                   durable_applied == applied,
               "a durable replica answered %s after %zu, an in-memory one %s after %zu",
               durable_got.ToString().c_str(), durable_applied, got.ToString().c_str(), applied);
    FUZZ_CHECK(StateOf(**durable) == state, "a durable replica holds another state");
  }
  absl::StatusOr<std::unique_ptr<userstore::UserStore>> reopened =
      userstore::OpenUserStore(userstore::fuzz::kDurableDir, options);
  FUZZ_CHECK(reopened.ok(), "reopening the durable replica: %s",
             reopened.status().ToString().c_str());
  FUZZ_CHECK((*reopened)->last_sequence() == applied && StateOf(**reopened) == state,
             "the durable replica reopened at %llu in another state",
             static_cast<unsigned long long>((*reopened)->last_sequence()));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const absl::string_view bytes(reinterpret_cast<const char*>(data), size);
  Check(bytes);
  CheckApply(bytes);
  if (size >= 4) {
    std::string resealed(bytes);
    const uint32_t crc = userstore::internal::crc32c::Value(resealed.data(), size - 4);
    userstore::internal::durable::PutU32(&resealed[size - 4],
                                         userstore::internal::crc32c::Mask(crc));
    if (resealed != bytes) {
      Check(resealed);
      CheckApply(resealed);
    }
  }
  return 0;
}
