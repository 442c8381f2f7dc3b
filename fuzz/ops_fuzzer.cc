// Fuzz target: differential test of the engine (userstore/user_store.h)
// against a small reference model written from SEMANTICS.md.
//
// The input is a script of up to 64 operations on services, roles and users
// (create, fetch, update, delete, get-or-create, list with page tokens,
// count, presence, channel membership, service and role changes, clock
// ticks), with parameter values drawn from a vocabulary that collides often
// ("a", "b", ...) and reaches every limit. The store runs with small limits
// (identity 40 code points, friendly name 12, attributes 96 bytes / depth 4,
// 3 channels per user) so that boundaries are one byte away.
//
// The model is std::map based: services by SID, each with its roles and its
// users in creation order (by position), and the page tokens the store
// handed out, each with what it means (service, surface, direction, cut
// position). For every operation the model computes the set of acceptable
// outcomes: success (with the exact expected value) and/or a set of Twilio
// codes. Where SEMANTICS.md does not fix an order between two violated rules
// (say, a bad identity and bad attributes in one request) every code that
// applies is acceptable; where RFC 8259 leaves the outcome open (\u0000, lone
// surrogate escapes) either way is, and the model follows the store.
//
// Checks after every operation:
//   - the outcome is acceptable, and a success returns exactly the model's
//     value (every field, dates included);
//   - a failed operation leaves the store unchanged (last_sequence());
//   - store.CheckInvariants() is OK;
// and at the end every service, role and user of the model is compared with
// the store (fetch by SID, by identity, full listing, counts).
//
// Durable mode. An input whose first byte is 'D' (0x44; no committed seed of
// the in-memory mode starts with it, so they all keep their meaning) runs the
// rest of its bytes against a durable store (userstore/durable.h) on a
// simulated disk (NewFaultInjectionEnv): kSyncEachWrite, 16 KiB segments,
// automatic checkpoints after 4 KiB of journal (considered every
// millisecond), written in process. Its scripts have two more operations:
// close and reopen, and pull the plug (SimulatePowerLoss with the store still
// open, no sync succeeding after it), then reopen; either one takes an
// explicit checkpoint first one time in four. At most kMaxReopens per input,
// plus one at the end. Each
// reopen must succeed and give exactly the state before it (every event of
// Snapshot(), last_sequence(), the account SID): in kSyncEachWrite nothing
// acknowledged may be lost; then the model goes on against the reopened
// store (page tokens issued before included).

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <iterator>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "durable_fuzz.h"
#include "fuzz_common.h"

#include "userstore/durable.h"
#include "userstore/fault_injection_env.h"
#include "userstore/options.h"
#include "userstore/resources.h"
#include "userstore/status.h"
#include "userstore/user_store.h"

namespace {

using userstore::ErrorCode;
using userstore::ErrorCodeOf;
using userstore::RoleType;
using userstore::Surface;
using userstore::fuzz::ByteReader;
using userstore::fuzz::Escape;
using userstore::fuzz::RefCheckJson;
using userstore::fuzz::RefCodePoints;
using userstore::fuzz::RefIsValidText;
using userstore::fuzz::RefJson;
using userstore::fuzz::RefSidShaped;

// --- limits of the store under test --------------------------------------------

constexpr size_t kMaxIdentity = 40;
constexpr size_t kMaxFriendlyName = 12;
constexpr size_t kMaxAttributesBytes = 96;
constexpr int kMaxAttributesDepth = 4;
constexpr int kMaxChannels = 3;
constexpr size_t kMaxServiceName = 12;
constexpr size_t kMaxPermissions = 3;
constexpr size_t kMaxPermissionLength = 12;
constexpr int kMaxOps = 64;
constexpr int kMaxReopens = 4;
constexpr char kDurableMarker = 'D';
constexpr int64_t kStart = 1458854719;

int64_t RefMaxPageSize(Surface s) {
  switch (s) {
    case Surface::kCpp:
      return 1000;
    case Surface::kChatV2:
      return 100;
    case Surface::kChatV1:
      return 1000;
    case Surface::kConversations:
      return 50;
  }
  return 0;
}

// --- the model -----------------------------------------------------------------

struct MUser {
  std::string sid;
  std::string identity;
  std::optional<std::string> friendly_name;
  std::string attributes = "{}";
  std::string role_sid;
  std::optional<bool> is_online;
  std::optional<bool> is_notifiable;
  int channels = 0;
  int64_t created = 0;
  int64_t updated = 0;
};

struct MRole {
  std::string sid;
  std::string name;
  RoleType type = RoleType::kDeployment;
  std::vector<std::string> permissions;
  int64_t created = 0;
};

struct MService {
  std::string sid;
  std::string name;
  bool reachability = false;
  std::string default_role;
  std::string default_channel_role;
  std::string default_creator_role;
  std::map<std::string, MRole> roles;
  std::map<int64_t, MUser> users;  // by position: creation order
  int64_t next_position = 1;
  int64_t created = 0;
  int64_t updated = 0;

  MUser* FindBySid(absl::string_view sid) {
    for (auto& kv : users) {
      if (kv.second.sid == sid) return &kv.second;
    }
    return nullptr;
  }
  MUser* FindByIdentity(absl::string_view identity) {
    for (auto& kv : users) {
      if (kv.second.identity == identity) return &kv.second;
    }
    return nullptr;
  }
  int64_t PositionOf(const MUser* u) const {
    for (const auto& kv : users) {
      if (&kv.second == u) return kv.first;
    }
    return -1;
  }
  bool RoleInUse(const std::string& role_sid) const {
    if (role_sid == default_role || role_sid == default_channel_role ||
        role_sid == default_creator_role) {
      return true;
    }
    for (const auto& kv : users) {
      if (kv.second.role_sid == role_sid) return true;
    }
    return false;
  }
};

struct MToken {
  std::string service;
  Surface surface = Surface::kCpp;
  bool forward = true;
  int64_t cut = 0;  // forward: positions > cut; backward: positions < cut
};

struct Model {
  std::map<std::string, MService> services;
  std::vector<std::string> service_order;
  std::string default_service;
  std::map<std::string, MToken> tokens;
  std::vector<std::string> token_list;  // in issue order, for picking
  std::set<std::string> all_sids;       // every SID ever issued (unique)

  MService* Find(absl::string_view sid) {
    auto it = services.find(std::string(sid));
    return it == services.end() ? nullptr : &it->second;
  }
};

// An expected outcome: `ok` allowed and/or any of `codes`.
struct Expect {
  bool ok = false;
  std::set<int> codes;
  void Add(ErrorCode c) { codes.insert(static_cast<int>(c)); }
  bool empty() const { return !ok && codes.empty(); }
  std::string ToString() const {
    std::string s = ok ? "{OK" : "{";
    for (int c : codes) absl::StrAppend(&s, " ", c);
    return s + "}";
  }
};

// The op's outcome against what the model allows. Returns true when it
// succeeded.
std::string g_last_outcome;  // for USERSTORE_FUZZ_TRACE

bool CheckOutcome(const absl::Status& status, const Expect& expect, const std::string& what) {
  g_last_outcome = status.ToString();
  if (status.ok()) {
    FUZZ_CHECK(expect.ok, "%s: succeeded, expected %s", Escape(what).c_str(),
               expect.ToString().c_str());
    return true;
  }
  const int code = static_cast<int>(ErrorCodeOf(status));
  FUZZ_CHECK(expect.codes.count(code) != 0, "%s: got %s, expected %s", Escape(what).c_str(),
             status.ToString().c_str(), expect.ToString().c_str());
  const userstore::ErrorInfo* info = userstore::LookupError(ErrorCodeOf(status));
  FUZZ_CHECK(info != nullptr && info->http_status == userstore::HttpStatusOf(status),
             "%s: inconsistent HTTP status for %s", Escape(what).c_str(),
             status.ToString().c_str());
  return false;
}

bool IsGeneratedSid(absl::string_view prefix, absl::string_view s) {
  if (s.size() != prefix.size() + 32 || s.substr(0, prefix.size()) != prefix) return false;
  for (char c : s.substr(prefix.size())) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

// --- the runner ------------------------------------------------------------------

// The texts of a zero-copy request, each copied into a heap block of exactly
// its size: no NUL or spare capacity follows it, so that a read past the end
// of a view is a heap overflow AddressSanitizer reports. Scribble() then
// overwrites them, so that a store that kept a view past its call would show
// the scribble in the model comparison.
class ExactTexts {
 public:
  std::optional<absl::string_view> Add(const std::optional<std::string>& text) {
    if (!text.has_value()) return std::nullopt;
    Block& block =
        blocks_.emplace_back(Block{std::make_unique<char[]>(text->size()), text->size()});
    std::copy(text->begin(), text->end(), block.bytes.get());
    return absl::string_view(block.bytes.get(), block.size);
  }
  // A view request (CreateUserRequestView, UpdateUserRequestView) of the
  // owning `request`'s fields, each through Add().
  template <typename View, typename Request>
  View ViewOf(const Request& request) {
    View view;
    view.identity = Add(request.identity);
    view.friendly_name = Add(request.friendly_name);
    view.attributes = Add(request.attributes);
    view.role_sid = Add(request.role_sid);
    view.webhooks_enabled = request.webhooks_enabled;
    return view;
  }
  void Scribble() {
    for (Block& block : blocks_) std::fill_n(block.bytes.get(), block.size, '#');
  }

 private:
  struct Block {
    std::unique_ptr<char[]> bytes;
    size_t size;
  };
  std::vector<Block> blocks_;
};

class Runner {
 public:
  explicit Runner(const uint8_t* data, size_t size)
      : durable_(size > 0 && data[0] == kDurableMarker),
        in_(durable_ ? data + 1 : data, durable_ ? size - 1 : size) {
    clock_ = std::make_shared<userstore::ManualClock>(absl::FromUnixSeconds(kStart));
    userstore::StoreOptions options;
    options.seed = 1;
    options.clock = clock_;
    // Writes prefetch from the first user on (a store this small would not), so
    // that path sees every input the fuzzer makes.
    options.early_prefetch_users = 0;
    options.max_identity_length = kMaxIdentity;
    options.max_friendly_name_length = kMaxFriendlyName;
    options.max_attributes_bytes = kMaxAttributesBytes;
    options.max_attributes_depth = kMaxAttributesDepth;
    options.max_user_channels = kMaxChannels;
    options.max_service_name_length = kMaxServiceName;
    options.max_role_permissions = kMaxPermissions;
    options.max_permission_length = kMaxPermissionLength;
    if (durable_) {
      env_ = userstore::NewFaultInjectionEnv();
      durable_options_.env = env_.get();
      durable_options_.store = options;
      durable_options_.durability = userstore::Durability::kSyncEachWrite;
      durable_options_.segment_bytes = 16 << 10;
      durable_options_.checkpoint_min_journal_bytes = 4 << 10;
      // The background thread decides on automatic checkpoints once per
      // interval (it syncs nothing in this mode): often, for a short script.
      durable_options_.sync_interval = absl::Milliseconds(1);
      // The concurrent checkpoint (the default's): its walk runs beside
      // the script's writes, and reopen-and-compare checks its files.
      durable_options_.checkpoint_writer = userstore::DurableOptions::CheckpointWriter::kConcurrent;
      auto opened = userstore::OpenUserStore(userstore::fuzz::kDurableDir, durable_options_);
      FUZZ_CHECK(opened.ok(), "open: %s", opened.status().ToString().c_str());
      store_ = std::move(*opened);
    } else {
      store_ = std::make_unique<userstore::UserStore>(options);
    }
    FUZZ_CHECK(store_->init_status().ok(), "init: %s", store_->init_status().ToString().c_str());
    AddHooks();
    // Adopt the default conversation service.
    const std::string def = store_->default_conversation_service_sid();
    auto service = store_->GetService(def);
    FUZZ_CHECK(service.ok(), "default service: %s", service.status().ToString().c_str());
    AdoptService(*service);
    model_.default_service = def;
  }

  // Updates whose proposed attributes mention "veto" are refused when
  // webhooks are enabled (403/50056).
  void AddHooks() {
    store_->AddHook(userstore::HookType::kOnUserUpdate, [](const userstore::UserEvent& e) {
      if (e.attributes.find("veto") != std::string::npos) {
        return absl::PermissionDeniedError("veto");
      }
      return absl::OkStatus();
    });
  }

  // Durable mode: closes the store (after a power loss with it still open,
  // when `power_loss`), reopens it, and checks that its whole state is the
  // one before.
  void Reopen(bool power_loss) {
    using Op = userstore::FaultInjectionEnv::Op;
    last_op_ = power_loss ? "power loss, reopen" : "close, reopen";
    if (in_.Below(4) == 0) {
      // An explicit checkpoint first, so that recovery loads one with a
      // journal after it (automatic ones depend on the background thread).
      last_op_ = "checkpoint, " + last_op_;
      const absl::Status s = store_->Checkpoint();
      FUZZ_CHECK(s.ok(), "Checkpoint: %s", s.ToString().c_str());
    }
    const std::string before = userstore::fuzz::Fingerprint(*store_);
    if (power_loss) {
      // The plug is pulled with the store open: nothing it does after that
      // reaches the disk.
      env_->SimulatePowerLoss();
      for (Op op : {Op::kMappedSync, Op::kSyncDir, Op::kWritableSync, Op::kRename}) {
        env_->FailAfter(op, 1, absl::StatusCode::kInternal);
      }
    }
    store_.reset();
    if (power_loss) {
      env_->ClearFailures();
      env_->SimulatePowerLoss();
    }
    userstore::RecoveryReport report;
    auto opened = userstore::OpenUserStore(userstore::fuzz::kDurableDir, durable_options_, &report);
    FUZZ_CHECK(opened.ok(), "%s: %s", last_op_.c_str(), opened.status().ToString().c_str());
    store_ = std::move(*opened);
    AddHooks();
    const std::string after = userstore::fuzz::Fingerprint(*store_);
    FUZZ_CHECK(after == before,
               "%s: the reopened store differs (checkpoint %llu, %llu records):\n%s\n---\n%s",
               last_op_.c_str(), static_cast<unsigned long long>(report.checkpoint_sequence),
               static_cast<unsigned long long>(report.journal_records), before.c_str(),
               after.c_str());
    ++reopens_;
  }

  void Run() {
    // USERSTORE_FUZZ_TRACE=1 prints each operation and its outcome: the way
    // to read what a crashing input did.
    static const bool trace = std::getenv("USERSTORE_FUZZ_TRACE") != nullptr;
    for (int n = 0; n < kMaxOps && !in_.empty(); ++n) {
      const uint64_t before = store_->last_sequence();
      const bool ok = Step();
      if (trace) {
        std::fprintf(stderr, "op %2d %s -> %s\n", n, Escape(last_op_).c_str(),
                     g_last_outcome.c_str());
      }
      g_last_outcome = "OK";
      if (!ok) {
        FUZZ_CHECK(store_->last_sequence() == before,
                   "a failed operation published a change (op %d: %s)", n, last_op_.c_str());
      }
      const absl::Status inv = store_->CheckInvariants();
      FUZZ_CHECK(inv.ok(), "CheckInvariants after op %d (%s): %s", n, Escape(last_op_).c_str(),
                 inv.ToString().c_str());
    }
    if (durable_) {
      Reopen(in_.Bool());
      const absl::Status inv = store_->CheckInvariants();
      FUZZ_CHECK(inv.ok(), "CheckInvariants after the last reopen: %s", inv.ToString().c_str());
    }
    CompareAll();
  }

 private:
  int64_t Now() const { return absl::ToUnixSeconds(clock_->Now()); }

  // --- value vocabularies ---

  std::string IdentityText() {
    switch (in_.Below(16)) {
      case 0:
        return "a";
      case 1:
        return "b";
      case 2:
        return "c";
      case 3:
        return "caf\xC3\xA9";
      case 4: {
        std::string s;  // 40 or 41 four-byte characters
        const size_t n = kMaxIdentity + in_.Below(2);
        for (size_t i = 0; i < n; ++i) s += "\xF0\x9F\x98\x80";
        return s;
      }
      case 5:
        return std::string(kMaxIdentity + in_.Below(2), 'x');
      case 6:
        return "US" + std::string(32, in_.Bool() ? 'a' : 'A');  // SID-shaped
      case 7:
        return "";
      case 8:
        return std::string("a\0b", 3);
      case 9:
        return in_.Pick({std::string("\xC0\xAF"), std::string("\xED\xA0\x80"),
                         std::string("\xF4\x90\x80\x80"), std::string("\xFF")});
      case 10:
        return "US" + std::string(31, 'a');  // one short: an identity
      case 11:
        return "a b/c?%";
      default:
        return in_.Bytes(6);
    }
  }

  std::optional<std::string> OptIdentity() {
    if (in_.Below(8) == 0) return std::nullopt;
    return IdentityText();
  }

  std::optional<std::string> OptFriendlyName() {
    switch (in_.Below(8)) {
      case 0:
      case 1:
      case 2:
        return std::nullopt;
      case 3:
        return "";
      case 4:
        return std::string(kMaxFriendlyName + in_.Below(2), 'f');
      case 5: {
        std::string s;
        const size_t n = kMaxFriendlyName + in_.Below(2);
        for (size_t i = 0; i < n; ++i) s += "\xE2\x82\xAC";  // U+20AC
        return s;
      }
      default:
        return in_.Bytes(8);
    }
  }

  std::optional<std::string> OptAttributes() {
    switch (in_.Below(16)) {
      case 0:
      case 1:
      case 2:
      case 3:
        return std::nullopt;
      case 4:
      case 5:
        return "{}";
      case 6:
      case 7:
        return R"({"level": 3})";
      case 8:
        return "\"veto\"";
      case 9:
        return std::string(kMaxAttributesDepth + in_.Below(2), '[') +
               std::string(kMaxAttributesDepth + 1, ']');
      case 10:
        return std::string(kMaxAttributesBytes - 2 + in_.Below(2), ' ') + "{}";
      case 11:
      case 12:
        return in_.Pick({std::string(" 1 "), std::string("[1,]"), std::string("{\"a\"}"),
                         std::string("\"\\ud800\""), std::string("\"\\u0000\""),
                         std::string("-0.0E+1"), std::string(""), std::string("{\"a\":1}x"),
                         std::string("\"\xC3\x28\""), std::string("[\"\xF0\x9F\x98\x80\"]")});
      default:
        return in_.Bytes(100);
    }
  }

  std::optional<std::string> OptRoleSid(const MService* svc, int none_weight) {
    if (in_.Below(8) < static_cast<size_t>(none_weight)) return std::nullopt;
    return RoleSidText(svc);
  }

  std::string RoleSidText(const MService* svc) {
    std::vector<std::string> sids;
    if (svc != nullptr) {
      for (const auto& kv : svc->roles) sids.push_back(kv.first);
    }
    switch (in_.Below(8)) {
      case 0: {
        std::string s = sids.empty() ? "RL" + std::string(32, 'a') : in_.Pick(sids);
        for (size_t i = 2; i < s.size(); ++i) {
          if (s[i] >= 'a' && s[i] <= 'f') s[i] = static_cast<char>(s[i] - 32);
        }
        return s;
      }
      case 1:
        return "RL" + std::string(32, '0');
      case 2:
        return "RL123";
      case 3:
        return in_.Bytes(4);
      default:
        return sids.empty() ? "RL" + std::string(32, 'b') : in_.Pick(sids);
    }
  }

  // A service SID argument: a live service (mostly), a deleted or unknown
  // one, or junk.
  std::string ServiceArg() {
    switch (in_.Below(10)) {
      case 0:
        return "IS" + std::string(32, '0');
      case 1:
        return in_.Bytes(4);
      case 2:
        if (!model_.service_order.empty()) {
          std::string s = in_.Pick(model_.service_order);
          for (size_t i = 2; i < s.size(); ++i) {
            if (s[i] >= 'a' && s[i] <= 'f') s[i] = static_cast<char>(s[i] - 32);
          }
          return s;
        }
        return "";
      case 3:
        if (!deleted_services_.empty()) return in_.Pick(deleted_services_);
        [[fallthrough]];
      default:
        return model_.service_order.empty() ? model_.default_service
                                            : in_.Pick(model_.service_order);
    }
  }

  // A user argument: SID or identity of a user of `svc` (or of another
  // service), a near miss, or junk.
  std::string UserArg(const MService* svc) {
    std::vector<const MUser*> users;
    const MService* source = svc;
    if (in_.Below(8) == 0 && !model_.service_order.empty()) {
      source = model_.Find(in_.Pick(model_.service_order));
    }
    if (source != nullptr) {
      for (const auto& kv : source->users) users.push_back(&kv.second);
    }
    const MUser* u = users.empty() ? nullptr : users[in_.Below(users.size())];
    switch (in_.Below(8)) {
      case 0:
      case 1:
      case 2:
        return u ? u->sid : "US" + std::string(32, 'c');
      case 3:
      case 4:
        return u ? u->identity : IdentityText();
      case 5: {
        std::string s = u ? u->sid : "US" + std::string(32, 'c');
        for (size_t i = 2; i < s.size(); ++i) {
          if (s[i] >= 'a' && s[i] <= 'f') s[i] = static_cast<char>(s[i] - 32);
        }
        return s;
      }
      case 6:
        return deleted_users_.empty() ? "US" + std::string(32, 'd') : in_.Pick(deleted_users_);
      default:
        return IdentityText();
    }
  }

  // --- model rules ---

  // Field errors of an identity to create.
  static void IdentityErrors(const std::optional<std::string>& identity, Expect* e) {
    if (!identity) return e->Add(ErrorCode::kInvalidParameter);
    if (!RefIsValidText(*identity)) return e->Add(ErrorCode::kInvalidParameter);
    if (identity->empty()) return e->Add(ErrorCode::kIdentityNotProvided);
    if (RefCodePoints(*identity) > kMaxIdentity) return e->Add(ErrorCode::kIdentityTooLong);
    if (RefSidShaped("US", *identity)) return e->Add(ErrorCode::kIdentityMatchesSidPattern);
  }

  static void FriendlyNameErrors(const std::optional<std::string>& name, size_t max, Expect* e) {
    if (!name) return;
    if (!RefIsValidText(*name)) return e->Add(ErrorCode::kInvalidParameter);
    if (RefCodePoints(*name) > max) e->Add(ErrorCode::kFriendlyNameTooLong);
  }

  // Attribute errors; sets *unknown when the store may go either way.
  static void AttributesErrors(const std::optional<std::string>& attributes, Expect* e,
                               bool* unknown) {
    if (!attributes) return;
    if (attributes->size() > kMaxAttributesBytes) return e->Add(ErrorCode::kAttributesTooLong);
    const RefJson ref = RefCheckJson(*attributes);
    const bool too_deep = ref.max_depth > static_cast<size_t>(kMaxAttributesDepth);
    switch (ref.verdict) {
      case RefJson::kValid:
        if (too_deep) e->Add(ErrorCode::kAttributesTooLong);
        break;
      case RefJson::kInvalid:
        e->Add(ErrorCode::kAttributesNotValidJson);
        if (too_deep) e->Add(ErrorCode::kAttributesTooLong);
        break;
      case RefJson::kUnknown:
        if (too_deep) {
          e->Add(ErrorCode::kAttributesTooLong);
        } else {
          *unknown = true;
          e->Add(ErrorCode::kAttributesNotValidJson);
        }
        break;
    }
  }

  // Role errors for a user's role; returns the role SID to use when valid.
  static void RoleErrors(const std::optional<std::string>& role, const MService& svc, Expect* e) {
    if (!role) return;
    if (!RefIsValidText(*role) || !RefSidShaped("RL", *role)) {
      return e->Add(ErrorCode::kInvalidParameter);
    }
    auto it = svc.roles.find(*role);
    if (it == svc.roles.end()) return e->Add(ErrorCode::kRoleNotFound);
    if (it->second.type != RoleType::kDeployment) e->Add(ErrorCode::kInvalidRoleType);
  }

  // Service lookup errors: unknown or malformed is 404; text that is not
  // valid UTF-8 may also be refused as a bad parameter.
  MService* ServiceFor(const std::string& sid, Expect* e) {
    MService* svc = model_.Find(sid);
    if (svc == nullptr) {
      e->Add(ErrorCode::kNotFound);
      if (!RefIsValidText(sid)) e->Add(ErrorCode::kInvalidParameter);
    }
    return svc;
  }

  // User lookup in `svc`: by SID when SID-shaped (lower-case only names a
  // user), else by identity. Text that is not valid UTF-8: 400/20001.
  MUser* UserFor(MService* svc, const std::string& ref, Expect* e) {
    if (svc == nullptr) {
      if (!RefIsValidText(ref)) e->Add(ErrorCode::kInvalidParameter);
      return nullptr;
    }
    if (!RefIsValidText(ref)) {
      e->Add(ErrorCode::kInvalidParameter);
      return nullptr;
    }
    MUser* u = RefSidShaped("US", ref) ? svc->FindBySid(ref) : svc->FindByIdentity(ref);
    if (u == nullptr) e->Add(ErrorCode::kNotFound);
    return u;
  }

  // --- comparison ---

  void CompareUser(const userstore::User& got, const MUser& want, const MService& svc, bool listed,
                   const std::string& what) {
    const bool show = svc.reachability && !listed;
    // Compared as tri-states (-1 null): g++ 12 reports a false
    // maybe-uninitialized on `==` between optional<bool> built this way.
    auto tri = [](std::optional<bool> v) { return v.has_value() ? int{*v} : -1; };
    const int online = show ? tri(want.is_online) : -1;
    const int notifiable = show ? tri(want.is_notifiable) : -1;
    FUZZ_CHECK(got.sid == want.sid && got.service_sid == svc.sid &&
                   got.account_sid == store_->account_sid() && got.identity == want.identity &&
                   got.friendly_name == want.friendly_name && got.attributes == want.attributes &&
                   got.role_sid == want.role_sid && got.joined_channels_count == want.channels,
               "%s: user %s differs from the model: identity %s/%s, name %s/%s, attributes "
               "%s/%s, role %s/%s, channels %d/%d",
               Escape(what).c_str(), want.sid.c_str(), Escape(got.identity).c_str(),
               Escape(want.identity).c_str(), Escape(got.friendly_name.value_or("<null>")).c_str(),
               Escape(want.friendly_name.value_or("<null>")).c_str(),
               Escape(got.attributes).c_str(), Escape(want.attributes).c_str(),
               got.role_sid.c_str(), want.role_sid.c_str(), got.joined_channels_count,
               want.channels);
    FUZZ_CHECK(tri(got.is_online) == online && tri(got.is_notifiable) == notifiable,
               "%s: presence of %s differs from the model (reachability %d, listed %d)",
               Escape(what).c_str(), want.sid.c_str(), svc.reachability, listed);
    FUZZ_CHECK(absl::ToUnixSeconds(got.date_created) == want.created &&
                   absl::ToUnixSeconds(got.date_updated) == want.updated,
               "%s: dates of %s: created %lld/%lld, updated %lld/%lld", Escape(what).c_str(),
               want.sid.c_str(), static_cast<long long>(absl::ToUnixSeconds(got.date_created)),
               static_cast<long long>(want.created),
               static_cast<long long>(absl::ToUnixSeconds(got.date_updated)),
               static_cast<long long>(want.updated));
  }

  void CompareService(const userstore::Service& got, const MService& want,
                      const std::string& what) {
    FUZZ_CHECK(got.sid == want.sid && got.friendly_name == want.name &&
                   got.reachability_enabled == want.reachability &&
                   got.default_service_role_sid == want.default_role &&
                   got.default_channel_role_sid == want.default_channel_role &&
                   got.default_channel_creator_role_sid == want.default_creator_role &&
                   absl::ToUnixSeconds(got.date_created) == want.created &&
                   absl::ToUnixSeconds(got.date_updated) == want.updated,
               "%s: service %s differs from the model", Escape(what).c_str(), want.sid.c_str());
  }

  void AdoptService(const userstore::Service& s) {
    FUZZ_CHECK(IsGeneratedSid("IS", s.sid), "bad service SID %s", Escape(s.sid).c_str());
    FUZZ_CHECK(model_.all_sids.insert(s.sid).second, "SID issued twice: %s", s.sid.c_str());
    MService m;
    m.sid = s.sid;
    m.name = s.friendly_name;
    m.default_role = s.default_service_role_sid;
    m.default_channel_role = s.default_channel_role_sid;
    m.default_creator_role = s.default_channel_creator_role_sid;
    m.created = absl::ToUnixSeconds(s.date_created);
    m.updated = absl::ToUnixSeconds(s.date_updated);
    FUZZ_CHECK(!s.reachability_enabled, "a new service has reachability on");
    userstore::ListRequest all;
    all.page_size = 1000;
    auto roles = store_->ListRoles(s.sid, all);
    FUZZ_CHECK(roles.ok(), "roles of a new service: %s", roles.status().ToString().c_str());
    FUZZ_CHECK(roles->items.size() == 4, "a new service has %zu roles", roles->items.size());
    static const char* const kNames[] = {"service admin", "service user", "channel admin",
                                         "channel user"};
    for (const auto& r : roles->items) {
      FUZZ_CHECK(IsGeneratedSid("RL", r.sid), "bad role SID %s", Escape(r.sid).c_str());
      FUZZ_CHECK(model_.all_sids.insert(r.sid).second, "SID issued twice: %s", r.sid.c_str());
      bool known = false;
      for (const char* n : kNames) known |= r.friendly_name == n;
      FUZZ_CHECK(known, "unexpected default role %s", Escape(r.friendly_name).c_str());
      const bool channel = r.friendly_name.rfind("channel", 0) == 0;
      FUZZ_CHECK(r.type == (channel ? RoleType::kChannel : RoleType::kDeployment),
                 "role %s has the wrong type", r.friendly_name.c_str());
      if (r.friendly_name == "service user") {
        FUZZ_CHECK(r.sid == m.default_role, "default service role is not 'service user'");
      }
      if (r.friendly_name == "channel user") {
        FUZZ_CHECK(r.sid == m.default_channel_role, "default channel role is not 'channel user'");
      }
      if (r.friendly_name == "channel admin") {
        FUZZ_CHECK(r.sid == m.default_creator_role,
                   "default channel creator role is not 'channel admin'");
      }
      MRole role;
      role.sid = r.sid;
      role.name = r.friendly_name;
      role.type = r.type;
      role.permissions = r.permissions;
      role.created = absl::ToUnixSeconds(r.date_created);
      m.roles[r.sid] = role;
    }
    model_.services[s.sid] = std::move(m);
    model_.service_order.push_back(s.sid);
  }

  void RecordToken(const std::string& token, const MService& svc, Surface surface, bool forward,
                   int64_t cut) {
    FUZZ_CHECK(token.size() > 2 && token.substr(0, 2) == (forward ? "PA" : "PB"),
               "token %s has the wrong prefix", Escape(token).c_str());
    auto it = model_.tokens.find(token);
    if (it != model_.tokens.end()) {
      // The same text must mean the same place.
      FUZZ_CHECK(it->second.service == svc.sid && it->second.surface == surface &&
                     it->second.forward == forward && it->second.cut == cut,
                 "token %s issued again with another meaning", token.c_str());
      return;
    }
    model_.tokens[token] = MToken{svc.sid, surface, forward, cut};
    model_.token_list.push_back(token);
  }

  // --- operations ---

  bool Step() {
    const size_t op = in_.Below(durable_ ? 22 : 20);
    if (op >= 20) {
      if (reopens_ < kMaxReopens) {
        Reopen(op == 21);
      } else {
        last_op_ = "reopen (over the limit: nothing)";
      }
      return true;
    }
    switch (op) {
      case 0:
      case 1:
      case 2:
        return OpCreate();
      case 3:
        return OpGet();
      case 4:
        return in_.Bool() ? OpGet() : OpReadUsers();
      case 5:
      case 6:
        return OpUpdate();
      case 7:
        return OpDelete();
      case 8:
      case 9:
      case 10:
        return OpList();
      case 11:
        return OpGetOrCreate();
      case 12:
        return OpCount();
      case 13:
        return OpPresence();
      case 14:
        return OpChannels();
      case 15:
        return OpCreateService();
      case 16:
        return OpUpdateService();
      case 17:
        return OpDeleteService();
      case 18:
        return in_.Bool() ? OpCreateRole() : OpDeleteRole();
      default:
        clock_->Advance(absl::Seconds(1 + in_.Below(3)));
        last_op_ = "tick";
        return true;
    }
  }

  bool OpCreate() {
    const std::string service = ServiceArg();
    userstore::CreateUserRequest req;
    req.identity = OptIdentity();
    req.friendly_name = OptFriendlyName();
    req.attributes = OptAttributes();
    MService* svc = model_.Find(service);
    req.role_sid = OptRoleSid(svc, 6);
    req.webhooks_enabled = in_.Bool();
    last_op_ = absl::StrCat("CreateUser(", service, ", ", req.identity.value_or("<none>"),
                            ", attributes ", req.attributes.value_or("<none>"), ")");

    Expect e;
    bool unknown = false;
    svc = ServiceFor(service, &e);
    IdentityErrors(req.identity, &e);
    FriendlyNameErrors(req.friendly_name, kMaxFriendlyName, &e);
    AttributesErrors(req.attributes, &e, &unknown);
    if (svc != nullptr) RoleErrors(req.role_sid, *svc, &e);
    if (svc != nullptr && req.identity && svc->FindByIdentity(*req.identity) != nullptr) {
      e.Add(ErrorCode::kUserAlreadyExists);
    }
    e.ok = e.codes.empty() || (unknown && e.codes.size() == 1);

    absl::StatusOr<userstore::User> got;
    if (NextViaView()) {
      ExactTexts texts;
      const auto view = texts.ViewOf<userstore::CreateUserRequestView>(req);
      got = ThroughView([&](auto report) { return store_->CreateUser(service, view, report); });
      texts.Scribble();
    } else {
      got = store_->CreateUser(service, req);
    }
    if (!CheckOutcome(got.status(), e, last_op_)) return false;
    AddUser(svc, *got, req);
    return true;
  }

  // Creates and updates alternate between the copying forms and the
  // zero-copy ones (an alternation, not an input byte, so that existing
  // corpus entries keep their meaning). The zero-copy forms get their texts
  // as views of ExactTexts.
  bool NextViaView() {
    view_form_ = !view_form_;
    return view_form_;
  }

  // Runs `call`, a zero-copy create or update given its callback, and
  // returns what the copying form would: the view, copied, or the error.
  // The callback must run exactly once on success, never on an error.
  template <typename Call>
  absl::StatusOr<userstore::User> ThroughView(Call call) {
    int calls = 0;
    userstore::User viewed;
    const absl::Status status = call([&](const userstore::UserView& v) {
      ++calls;
      viewed = v.ToUser();
    });
    FUZZ_CHECK(calls == (status.ok() ? 1 : 0), "%s: %d callbacks", last_op_.c_str(), calls);
    if (!status.ok()) return status;
    return viewed;
  }

  // Adds a user the store created (as `req` asked) to the model and compares.
  void AddUser(MService* svc, const userstore::User& got, const userstore::CreateUserRequest& req) {
    FUZZ_CHECK(IsGeneratedSid("US", got.sid), "bad user SID %s", Escape(got.sid).c_str());
    FUZZ_CHECK(model_.all_sids.insert(got.sid).second, "SID issued twice: %s", got.sid.c_str());
    MUser u;
    u.sid = got.sid;
    u.identity = *req.identity;
    u.friendly_name = req.friendly_name;
    if (req.attributes) u.attributes = *req.attributes;
    u.role_sid = req.role_sid ? *req.role_sid : svc->default_role;
    u.created = u.updated = Now();
    CompareUser(got, u, *svc, false, last_op_);
    svc->users[svc->next_position++] = std::move(u);
  }

  bool OpGet() {
    const std::string service = ServiceArg();
    MService* svc = model_.Find(service);
    const std::string user = UserArg(svc);
    last_op_ = absl::StrCat("GetUser(", service, ", ", user, ")");
    Expect e;
    svc = ServiceFor(service, &e);
    MUser* u = UserFor(svc, user, &e);
    e.ok = u != nullptr;
    auto got = store_->GetUser(service, user);
    if (!CheckOutcome(got.status(), e, last_op_)) return true;  // reads change nothing
    CompareUser(*got, *u, *svc, false, last_op_);
    return true;
  }

  // ReadUsers over a batch of user arguments (up to three groups of 16): it
  // calls back once for each entry the model has, in index order, with the
  // user as a fetch shows it, and skips the rest; a service error calls back
  // nothing.
  bool OpReadUsers() {
    const std::string service = ServiceArg();
    MService* svc = model_.Find(service);
    std::vector<std::string> users(in_.Below(48));
    for (std::string& user : users) user = UserArg(svc);
    last_op_ = absl::StrCat("ReadUsers(", service, ", ", users.size(), " users)");
    Expect e;
    svc = ServiceFor(service, &e);
    e.ok = svc != nullptr;
    std::vector<MUser*> want(users.size(), nullptr);
    for (size_t i = 0; i < users.size(); ++i) {
      Expect per_user;  // a user's error is a skip here, not the call's
      want[i] = UserFor(svc, users[i], &per_user);
    }
    const std::vector<absl::string_view> views(users.begin(), users.end());
    std::vector<bool> seen(users.size(), false);
    size_t next = 0;
    const absl::Status status =
        store_->ReadUsers(service, views, [&](size_t i, const userstore::UserView& v) {
          FUZZ_CHECK(i < users.size() && i >= next, "%s: called back for %zu after %zu",
                     last_op_.c_str(), i, next);
          next = i + 1;
          seen[i] = true;
          FUZZ_CHECK(want[i] != nullptr, "%s: entry %zu (%s) found, the model has no such user",
                     last_op_.c_str(), i, Escape(users[i]).c_str());
          CompareUser(v.ToUser(), *want[i], *svc, false, last_op_);
        });
    if (!CheckOutcome(status, e, last_op_)) {
      FUZZ_CHECK(next == 0, "%s: failed after calling back", last_op_.c_str());
      return true;
    }
    for (size_t i = 0; i < users.size(); ++i) {
      FUZZ_CHECK(seen[i] == (want[i] != nullptr), "%s: entry %zu (%s) skipped", last_op_.c_str(), i,
                 Escape(users[i]).c_str());
    }
    return true;
  }

  bool OpUpdate() {
    const std::string service = ServiceArg();
    MService* svc = model_.Find(service);
    const std::string user = UserArg(svc);
    userstore::UpdateUserRequest req;
    if (in_.Below(10) == 0) req.identity = IdentityText();
    req.friendly_name = OptFriendlyName();
    req.attributes = OptAttributes();
    req.role_sid = OptRoleSid(svc, 5);
    req.webhooks_enabled = in_.Bool();
    last_op_ = absl::StrCat("UpdateUser(", service, ", ", user, ", attributes ",
                            req.attributes.value_or("<none>"), ")");

    Expect e;
    bool unknown = false;
    svc = ServiceFor(service, &e);
    MUser* u = UserFor(svc, user, &e);
    if (req.identity) e.Add(ErrorCode::kInvalidParameter);
    FriendlyNameErrors(req.friendly_name, kMaxFriendlyName, &e);
    AttributesErrors(req.attributes, &e, &unknown);
    if (svc != nullptr) RoleErrors(req.role_sid, *svc, &e);
    MUser proposed;
    bool changed = false;
    if (u != nullptr) {
      proposed = *u;
      if (req.friendly_name) proposed.friendly_name = req.friendly_name;
      if (req.attributes) proposed.attributes = *req.attributes;
      if (req.role_sid) proposed.role_sid = *req.role_sid;
      changed = proposed.friendly_name != u->friendly_name ||
                proposed.attributes != u->attributes || proposed.role_sid != u->role_sid;
      const bool valid = e.codes.empty() || (unknown && e.codes.size() == 1);
      if (valid && req.webhooks_enabled && proposed.attributes.find("veto") != std::string::npos) {
        // The pre-event hook sees the proposed user. Whether it runs for an
        // update that changes nothing is left open.
        e.Add(ErrorCode::kWebhookRejected);
        e.ok = !changed;
      } else {
        e.ok = valid;
      }
    }

    absl::StatusOr<userstore::User> got;
    if (NextViaView()) {
      ExactTexts texts;
      const auto view = texts.ViewOf<userstore::UpdateUserRequestView>(req);
      got =
          ThroughView([&](auto report) { return store_->UpdateUser(service, user, view, report); });
      texts.Scribble();
    } else {
      got = store_->UpdateUser(service, user, req);
    }
    if (!CheckOutcome(got.status(), e, last_op_)) return false;
    if (changed) proposed.updated = Now();
    CompareUser(*got, proposed, *svc, false, last_op_);
    *u = proposed;
    return true;
  }

  bool OpDelete() {
    const std::string service = ServiceArg();
    MService* svc = model_.Find(service);
    const std::string user = UserArg(svc);
    last_op_ = absl::StrCat("DeleteUser(", service, ", ", user, ")");
    Expect e;
    svc = ServiceFor(service, &e);
    MUser* u = UserFor(svc, user, &e);
    e.ok = u != nullptr;
    const absl::Status got = store_->DeleteUser(service, user);
    if (!CheckOutcome(got, e, last_op_)) return false;
    deleted_users_.push_back(u->sid);
    svc->users.erase(svc->PositionOf(u));
    return true;
  }

  bool OpGetOrCreate() {
    const std::string service = ServiceArg();
    MService* svc = model_.Find(service);
    userstore::CreateUserRequest req;
    req.identity = OptIdentity();
    req.friendly_name = OptFriendlyName();
    req.attributes = OptAttributes();
    req.role_sid = OptRoleSid(svc, 6);
    last_op_ =
        absl::StrCat("GetOrCreateUser(", service, ", ", req.identity.value_or("<none>"), ")");
    Expect e;
    bool unknown = false;
    svc = ServiceFor(service, &e);
    MUser* existing =
        (svc != nullptr && req.identity) ? svc->FindByIdentity(*req.identity) : nullptr;
    if (existing == nullptr) {
      IdentityErrors(req.identity, &e);
      FriendlyNameErrors(req.friendly_name, kMaxFriendlyName, &e);
      AttributesErrors(req.attributes, &e, &unknown);
      if (svc != nullptr) RoleErrors(req.role_sid, *svc, &e);
    }
    e.ok = svc != nullptr && (e.codes.empty() || (unknown && e.codes.size() == 1));
    auto got = store_->GetOrCreateUser(service, req);
    if (!CheckOutcome(got.status(), e, last_op_)) return false;
    FUZZ_CHECK(got->created == (existing == nullptr), "%s: created=%d", last_op_.c_str(),
               got->created);
    if (existing != nullptr) {
      CompareUser(got->user, *existing, *svc, false, last_op_);
    } else {
      AddUser(svc, got->user, req);
    }
    return true;
  }

  bool OpCount() {
    const std::string service = ServiceArg();
    last_op_ = absl::StrCat("CountUsers(", service, ")");
    Expect e;
    MService* svc = ServiceFor(service, &e);
    e.ok = svc != nullptr;
    auto got = store_->CountUsers(service);
    if (!CheckOutcome(got.status(), e, last_op_)) return true;
    FUZZ_CHECK(*got == static_cast<int64_t>(svc->users.size()), "%s: %lld, model %zu",
               last_op_.c_str(), static_cast<long long>(*got), svc->users.size());
    return true;
  }

  bool OpList() {
    const std::string service = ServiceArg();
    userstore::ListRequest req;
    req.surface = static_cast<Surface>(in_.Below(4));
    static const int64_t kSizes[] = {1, 1,  2,  2,   3,    5,         50,
                                     0, -1, 51, 101, 1001, INT64_MAX, INT64_MIN};
    req.page_size = in_.Pick(kSizes);
    switch (in_.Below(6)) {
      case 0:
      case 1:
        break;  // first page
      case 2:
        req.page_token = in_.Bytes(60);
        break;
      case 3:
        if (!model_.token_list.empty()) {
          req.page_token = in_.Pick(model_.token_list);
          req.page_token[2 + in_.Below(req.page_token.size() - 2)] ^= 0x01;
        }
        break;
      default:
        if (!model_.token_list.empty()) {
          // Mostly the latest tokens: that is how clients walk.
          const size_t n = model_.token_list.size();
          const size_t back =
              std::min<size_t>(n - 1, in_.Below(4) == 0 ? in_.Below(n) : in_.Below(2));
          req.page_token = model_.token_list[n - 1 - back];
        }
        break;
    }
    last_op_ = absl::StrCat("ListUsers(", service, ", size ", req.page_size, ", surface ",
                            static_cast<int>(req.surface), ", token ", req.page_token, ")");
    Expect e;
    MService* svc = ServiceFor(service, &e);
    if (req.page_size < 1) e.Add(ErrorCode::kInvalidParameter);
    const MToken* token = nullptr;
    if (!req.page_token.empty()) {
      auto it = model_.tokens.find(req.page_token);
      if (it == model_.tokens.end()) {
        e.Add(ErrorCode::kInvalidParameter);
      } else {
        token = &it->second;
        if (token->service != service || token->surface != req.surface) {
          e.Add(ErrorCode::kInvalidParameter);
        }
      }
    }
    e.ok = e.codes.empty();
    auto got = store_->ListUsers(service, req);
    if (!CheckOutcome(got.status(), e, last_op_)) return true;

    const int64_t size = std::min(req.page_size, RefMaxPageSize(req.surface));
    FUZZ_CHECK(got->page_size == size, "%s: page_size %lld, expected %lld", last_op_.c_str(),
               static_cast<long long>(got->page_size), static_cast<long long>(size));
    // The expected page.
    std::vector<int64_t> positions;
    for (const auto& kv : svc->users) positions.push_back(kv.first);
    auto b = positions.begin();
    auto end = positions.end();
    if (token == nullptr || token->forward) {
      if (token != nullptr) b = std::upper_bound(positions.begin(), positions.end(), token->cut);
      end = b;
      for (int64_t i = 0; i < size && end != positions.end(); ++i) ++end;
    } else {
      end = std::lower_bound(positions.begin(), positions.end(), token->cut);
      b = end;
      for (int64_t i = 0; i < size && b != positions.begin(); ++i) --b;
    }
    const size_t count = static_cast<size_t>(end - b);
    FUZZ_CHECK(got->items.size() == count, "%s: %zu items, model %zu", last_op_.c_str(),
               got->items.size(), count);
    for (size_t i = 0; i < count; ++i) {
      CompareUser(got->items[i], svc->users[*(b + i)], *svc, true, last_op_);
    }
    const bool has_next = end != positions.end();
    const bool has_prev = token != nullptr && b != positions.begin();
    FUZZ_CHECK(got->next_page_token.empty() != has_next, "%s: next token %s, model has_next %d",
               last_op_.c_str(), got->next_page_token.c_str(), has_next);
    FUZZ_CHECK(got->previous_page_token.empty() != has_prev,
               "%s: previous token %s, model has_prev %d", last_op_.c_str(),
               got->previous_page_token.c_str(), has_prev);
    if (count > 0) {
      if (has_next) RecordToken(got->next_page_token, *svc, req.surface, true, *(end - 1));
      if (has_prev) RecordToken(got->previous_page_token, *svc, req.surface, false, *b);
    } else if (token != nullptr) {
      // An empty page keeps its place: just after the cut (forward) or just
      // before it (backward).
      if (has_next) {
        RecordToken(got->next_page_token, *svc, req.surface, true,
                    token->forward ? token->cut : token->cut - 1);
      }
      if (has_prev) {
        RecordToken(got->previous_page_token, *svc, req.surface, false,
                    token->forward ? token->cut + 1 : token->cut);
      }
    }
    return true;
  }

  bool OpPresence() {
    const std::string service = ServiceArg();
    MService* svc = model_.Find(service);
    const std::string user = UserArg(svc);
    userstore::PresenceUpdate update;
    const uint8_t b = in_.Byte();
    if (b & 1) update.is_online = (b & 2) != 0;
    if (b & 4) update.is_notifiable = (b & 8) != 0;
    update.webhooks_enabled = (b & 16) != 0;
    last_op_ = absl::StrCat("SetPresence(", service, ", ", user, ")");
    Expect e;
    svc = ServiceFor(service, &e);
    MUser* u = UserFor(svc, user, &e);
    e.ok = u != nullptr;
    auto got = store_->SetPresence(service, user, update);
    if (!CheckOutcome(got.status(), e, last_op_)) return false;
    MUser next = *u;
    if (update.is_online) next.is_online = update.is_online;
    if (update.is_notifiable) next.is_notifiable = update.is_notifiable;
    if (next.is_online != u->is_online || next.is_notifiable != u->is_notifiable) {
      next.updated = Now();
    }
    CompareUser(*got, next, *svc, false, last_op_);
    *u = next;
    return true;
  }

  bool OpChannels() {
    const std::string service = ServiceArg();
    MService* svc = model_.Find(service);
    const std::string user = UserArg(svc);
    const bool join = in_.Below(3) != 0;
    last_op_ = absl::StrCat(join ? "JoinChannel(" : "LeaveChannel(", service, ", ", user, ")");
    Expect e;
    svc = ServiceFor(service, &e);
    MUser* u = UserFor(svc, user, &e);
    if (u != nullptr) {
      if (join && u->channels >= kMaxChannels) e.Add(ErrorCode::kUserChannelLimitExceeded);
      if (!join && u->channels == 0) e.Add(ErrorCode::kInvalidParameter);
      e.ok = e.codes.empty();
    }
    auto got = join ? store_->JoinChannel(service, user) : store_->LeaveChannel(service, user);
    if (!CheckOutcome(got.status(), e, last_op_)) return false;
    u->channels += join ? 1 : -1;
    u->updated = Now();
    CompareUser(*got, *u, *svc, false, last_op_);
    return true;
  }

  std::optional<std::string> OptServiceName() {
    switch (in_.Below(6)) {
      case 0:
        return std::nullopt;
      case 1:
        return std::string(kMaxServiceName + in_.Below(2), 's');
      case 2:
        return "";
      case 3:
        return in_.Bytes(6);
      default:
        return "svc";
    }
  }

  // SEMANTICS does not say whether an empty service or role name is a
  // missing one: when it is the only problem, either answer is accepted.
  static void MaybeEmptyName(const std::optional<std::string>& name, Expect* e) {
    if (name && name->empty() && e->codes.empty()) {
      e->ok = true;
      e->Add(ErrorCode::kInvalidParameter);
    }
  }

  bool OpCreateService() {
    userstore::CreateServiceRequest req;
    req.friendly_name = OptServiceName();
    last_op_ = absl::StrCat("CreateService(", req.friendly_name.value_or("<none>"), ")");
    if (model_.services.size() >= 6) return true;  // keep scripts small
    Expect e;
    if (!req.friendly_name) e.Add(ErrorCode::kInvalidParameter);
    FriendlyNameErrors(req.friendly_name, kMaxServiceName, &e);
    e.ok = e.codes.empty();
    MaybeEmptyName(req.friendly_name, &e);
    auto got = store_->CreateService(req);
    if (!CheckOutcome(got.status(), e, last_op_)) return false;
    FUZZ_CHECK(got->friendly_name == *req.friendly_name, "%s: name", last_op_.c_str());
    FUZZ_CHECK(absl::ToUnixSeconds(got->date_created) == Now() &&
                   absl::ToUnixSeconds(got->date_updated) == Now(),
               "%s: dates", last_op_.c_str());
    AdoptService(*got);
    return true;
  }

  bool OpUpdateService() {
    const std::string service = ServiceArg();
    MService* svc = model_.Find(service);
    userstore::UpdateServiceRequest req;
    if (in_.Below(3) == 0) req.friendly_name = OptServiceName();
    if (in_.Bool()) req.reachability_enabled = in_.Bool();
    if (in_.Below(3) == 0) req.default_service_role_sid = RoleSidText(svc);
    last_op_ = absl::StrCat("UpdateService(", service, ")");
    Expect e;
    svc = ServiceFor(service, &e);
    FriendlyNameErrors(req.friendly_name, kMaxServiceName, &e);
    if (svc != nullptr) RoleErrors(req.default_service_role_sid, *svc, &e);
    e.ok = e.codes.empty();
    MaybeEmptyName(req.friendly_name, &e);
    auto got = store_->UpdateService(service, req);
    if (!CheckOutcome(got.status(), e, last_op_)) return false;
    MService& m = *svc;
    bool changed = false;
    if (req.friendly_name && *req.friendly_name != m.name) {
      m.name = *req.friendly_name;
      changed = true;
    }
    if (req.reachability_enabled && *req.reachability_enabled != m.reachability) {
      m.reachability = *req.reachability_enabled;
      changed = true;
    }
    if (req.default_service_role_sid && *req.default_service_role_sid != m.default_role) {
      m.default_role = *req.default_service_role_sid;
      changed = true;
    }
    if (changed) m.updated = Now();
    CompareService(*got, m, last_op_);
    return true;
  }

  bool OpDeleteService() {
    const std::string service = ServiceArg();
    last_op_ = absl::StrCat("DeleteService(", service, ")");
    Expect e;
    MService* svc = ServiceFor(service, &e);
    if (svc != nullptr && service == model_.default_service) e.Add(ErrorCode::kInvalidParameter);
    e.ok = e.codes.empty();
    const absl::Status got = store_->DeleteService(service);
    if (!CheckOutcome(got, e, last_op_)) return false;
    for (const auto& kv : svc->users) deleted_users_.push_back(kv.second.sid);
    model_.services.erase(service);
    model_.service_order.erase(
        std::find(model_.service_order.begin(), model_.service_order.end(), service));
    deleted_services_.push_back(service);
    return true;
  }

  bool OpCreateRole() {
    const std::string service = ServiceArg();
    userstore::CreateRoleRequest req;
    req.friendly_name = OptServiceName();
    switch (in_.Below(5)) {
      case 0:
        break;
      case 1:
        req.type = "Deployment";
        break;
      case 2:
        req.type = "channel";
        break;
      default:
        req.type = "deployment";
        break;
    }
    const size_t n = in_.Below(kMaxPermissions + 2);
    for (size_t i = 0; i < n; ++i) {
      req.permissions.push_back(in_.Pick({std::string("sendMessage"), std::string(""),
                                          std::string(kMaxPermissionLength + 1, 'p'),
                                          std::string("\xFF"), std::string("joinChannel")}));
    }
    last_op_ = absl::StrCat("CreateRole(", service, ")");
    Expect e;
    MService* svc = ServiceFor(service, &e);
    if (!req.friendly_name) e.Add(ErrorCode::kInvalidParameter);
    FriendlyNameErrors(req.friendly_name, kMaxServiceName, &e);
    if (!req.type || (*req.type != "deployment" && *req.type != "channel")) {
      e.Add(ErrorCode::kInvalidParameter);
    }
    if (req.permissions.empty() || req.permissions.size() > kMaxPermissions) {
      e.Add(ErrorCode::kInvalidParameter);
    }
    for (const auto& p : req.permissions) {
      if (p.empty() || !RefIsValidText(p) || RefCodePoints(p) > kMaxPermissionLength) {
        e.Add(ErrorCode::kInvalidParameter);
      }
    }
    e.ok = e.codes.empty();
    MaybeEmptyName(req.friendly_name, &e);
    auto got = store_->CreateRole(service, req);
    if (!CheckOutcome(got.status(), e, last_op_)) return false;
    FUZZ_CHECK(IsGeneratedSid("RL", got->sid), "bad role SID %s", Escape(got->sid).c_str());
    FUZZ_CHECK(model_.all_sids.insert(got->sid).second, "SID issued twice: %s", got->sid.c_str());
    FUZZ_CHECK(
        got->service_sid == service && got->friendly_name == *req.friendly_name &&
            got->type == (*req.type == "channel" ? RoleType::kChannel : RoleType::kDeployment) &&
            got->permissions == req.permissions,
        "%s: role differs from the request", last_op_.c_str());
    MRole role;
    role.sid = got->sid;
    role.name = got->friendly_name;
    role.type = got->type;
    role.permissions = got->permissions;
    role.created = Now();
    svc->roles[role.sid] = role;
    return true;
  }

  bool OpDeleteRole() {
    const std::string service = ServiceArg();
    MService* svc = model_.Find(service);
    const std::string role = RoleSidText(svc);
    last_op_ = absl::StrCat("DeleteRole(", service, ", ", role, ")");
    Expect e;
    svc = ServiceFor(service, &e);
    if (svc != nullptr) {
      auto it = svc->roles.find(role);
      if (it == svc->roles.end()) {
        e.Add(ErrorCode::kNotFound);
        if (!RefSidShaped("RL", role)) e.Add(ErrorCode::kInvalidParameter);
      } else if (svc->RoleInUse(role)) {
        e.Add(ErrorCode::kRoleInUse);
      }
    } else if (!RefSidShaped("RL", role)) {
      e.Add(ErrorCode::kInvalidParameter);
    }
    e.ok = e.codes.empty();
    const absl::Status got = store_->DeleteRole(service, role);
    if (!CheckOutcome(got, e, last_op_)) return false;
    svc->roles.erase(role);
    return true;
  }

  // --- the final comparison ---

  void CompareAll() {
    last_op_ = "final comparison";
    userstore::ListRequest all;
    all.page_size = 1000;
    auto services = store_->ListServices(all);
    FUZZ_CHECK(services.ok(), "ListServices: %s", services.status().ToString().c_str());
    FUZZ_CHECK(services->items.size() == model_.service_order.size(), "%zu services, model %zu",
               services->items.size(), model_.service_order.size());
    for (size_t i = 0; i < services->items.size(); ++i) {
      FUZZ_CHECK(services->items[i].sid == model_.service_order[i], "service order differs at %zu",
                 i);
      const MService& svc = model_.services[model_.service_order[i]];
      CompareService(services->items[i], svc, "ListServices");
      auto roles = store_->ListRoles(svc.sid, all);
      FUZZ_CHECK(roles.ok() && roles->items.size() == svc.roles.size(),
                 "roles of %s: %zu, model %zu", svc.sid.c_str(),
                 roles.ok() ? roles->items.size() : 0, svc.roles.size());
      for (const auto& r : roles->items) {
        auto it = svc.roles.find(r.sid);
        FUZZ_CHECK(it != svc.roles.end() && it->second.type == r.type &&
                       it->second.name == r.friendly_name &&
                       it->second.permissions == r.permissions,
                   "role %s differs from the model", r.sid.c_str());
      }
      auto page = store_->ListUsers(svc.sid, all);
      FUZZ_CHECK(page.ok() && page->items.size() == svc.users.size(), "users of %s: %zu, model %zu",
                 svc.sid.c_str(), page.ok() ? page->items.size() : 0, svc.users.size());
      FUZZ_CHECK(page->next_page_token.empty() && page->previous_page_token.empty(),
                 "a complete first page has tokens");
      size_t k = 0;
      for (const auto& kv : svc.users) {
        CompareUser(page->items[k++], kv.second, svc, true, "final list");
        auto by_sid = store_->GetUser(svc.sid, kv.second.sid);
        FUZZ_CHECK(by_sid.ok(), "fetch %s: %s", kv.second.sid.c_str(),
                   by_sid.status().ToString().c_str());
        CompareUser(*by_sid, kv.second, svc, false, "final fetch by SID");
        auto by_identity = store_->GetUser(svc.sid, kv.second.identity);
        FUZZ_CHECK(by_identity.ok(), "fetch %s by identity: %s", kv.second.sid.c_str(),
                   by_identity.status().ToString().c_str());
        CompareUser(*by_identity, kv.second, svc, false, "final fetch by identity");
      }
      auto count = store_->CountUsers(svc.sid);
      FUZZ_CHECK(count.ok() && *count == static_cast<int64_t>(svc.users.size()), "count of %s",
                 svc.sid.c_str());
    }
    for (const auto& sid : deleted_services_) {
      FUZZ_CHECK(ErrorCodeOf(store_->GetService(sid).status()) == ErrorCode::kNotFound,
                 "deleted service %s still answers", sid.c_str());
    }
  }

  // Durable mode (see the file comment): the simulated disk, the options
  // every open uses, and how many reopens this input made.
  const bool durable_;
  std::unique_ptr<userstore::FaultInjectionEnv> env_;
  userstore::DurableOptions durable_options_;
  int reopens_ = 0;
  ByteReader in_;
  std::shared_ptr<userstore::ManualClock> clock_;
  std::unique_ptr<userstore::UserStore> store_;
  Model model_;
  std::vector<std::string> deleted_users_;
  std::vector<std::string> deleted_services_;
  std::string last_op_;
  // Whether the next create or update goes through the zero-copy form.
  bool view_form_ = false;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  Runner runner(data, size);
  runner.Run();
  return 0;
}
