// The concurrent checkpoint (DurableOptions::kConcurrent, core/store_checkpoint.h):
// written while writers go on, its file must still be the store at one
// instant, the sequence it is named by. Each test changes the store while
// the walk runs (from the walk's own file appends, so that the changes fall
// between its runs for certain, or from other threads), then checks the
// file against a replica that applied the change feed up to that sequence,
// and the reopened store against the store.

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "gtest/gtest.h"
#include "tests/durable/durable_testing.h"
#include "tests/testing/store_testing.h"
#include "tests/testing/tsan_absl_mutex.h"  // TSan builds: absl::Mutex made visible

#include "userstore/durable.h"
#include "userstore/env.h"
#include "userstore/event_codec.h"
#include "userstore/user_store.h"

#include "core/durable/format.h"

namespace userstore {
namespace {

using durable_testing::Fingerprint;
using durable_testing::SameState;
using durable_testing::TempDir;

// A file whose every Append first runs the Env's hook (then may fail).
class HookedFile : public WritableFile {
 public:
  HookedFile(std::unique_ptr<WritableFile> base, std::function<absl::Status()> hook)
      : base_(std::move(base)), hook_(std::move(hook)) {}
  absl::Status Append(absl::string_view data) override {
    absl::Status status = hook_();
    if (!status.ok()) return status;
    return base_->Append(data);
  }
  absl::Status Sync() override { return base_->Sync(); }
  absl::Status Close() override { return base_->Close(); }

 private:
  const std::unique_ptr<WritableFile> base_;
  const std::function<absl::Status()> hook_;
};

// The real file system, with a hook run at each append to a checkpoint's
// temporary file (the walk hands it 1 MiB at a time, with no lock held).
class HookEnv : public durable_testing::ForwardingEnv {
 public:
  HookEnv() : ForwardingEnv(Env::Default()) {}
  std::function<absl::Status()> hook = [] { return absl::OkStatus(); };

  absl::StatusOr<std::unique_ptr<WritableFile>> NewWritableFile(const std::string& path) override {
    auto file = base_->NewWritableFile(path);
    if (!file.ok() || !absl::EndsWith(path, ".tmp")) return file;
    return std::unique_ptr<WritableFile>(
        new HookedFile(std::move(*file), [this] { return hook(); }));
  }
};

// The store's change feed from the moment of subscription, with the state
// it started from: enough to rebuild the store at any later sequence.
class History {
 public:
  explicit History(UserStore* store) : store_(store), account_(store->account_sid()) {
    auto sub = store->SubscribeWithSnapshot([this](const ChangeEvent& event) {
      absl::MutexLock lock(&mu_);
      events_.push_back(event);
    });
    id_ = sub.id;
    base_ = std::move(sub.snapshot);
  }
  ~History() { store_->Unsubscribe(id_); }

  // The store's snapshot events at `sequence`, from a replica.
  std::string StateAt(uint64_t sequence) {
    StoreOptions options;
    options.account_sid = account_;
    options.create_default_service = false;
    UserStore replica(options);
    for (const ChangeEvent& event : base_.events) EXPECT_TRUE(replica.Apply(event).ok());
    absl::MutexLock lock(&mu_);
    for (const ChangeEvent& event : events_) {
      if (event.sequence > sequence) break;
      const absl::Status status = replica.Apply(event);
      EXPECT_TRUE(status.ok()) << status;
    }
    return Events(replica);
  }

  static std::string Events(const UserStore& store) {
    std::string out;
    for (const ChangeEvent& event : store.Snapshot().events) {
      std::string bytes;
      (void)EncodeChangeEvent(event, &bytes);
      absl::StrAppend(&out, absl::CEscape(bytes), "\n");
    }
    return out;
  }

 private:
  UserStore* const store_;
  const std::string account_;
  uint64_t id_ = 0;
  UserStore::SnapshotData base_;
  absl::Mutex mu_;
  std::vector<ChangeEvent> events_ ABSL_GUARDED_BY(mu_);
};

// The store the newest checkpoint file holds, alone (no journal).
std::string CheckpointState(const UserStore& store, uint64_t* sequence) {
  std::string bytes;
  EXPECT_TRUE(store.ReadLatestCheckpoint(sequence, &bytes).ok());
  TempDir dir;
  durable_testing::WriteAll(dir.path() + "/" + internal::durable::CheckpointName(*sequence), bytes);
  auto loaded = OpenUserStore(dir.path(), DurableOptions());
  EXPECT_TRUE(loaded.ok()) << loaded.status();
  if (!loaded.ok()) return "";
  EXPECT_EQ((*loaded)->last_sequence(), *sequence);
  EXPECT_TRUE((*loaded)->CheckInvariants().ok());
  return History::Events(**loaded);
}

DurableOptions ConcurrentOptions(Env* env) {
  DurableOptions options;
  options.env = env;
  options.store.seed = 11;
  options.durability = Durability::kNoSync;
  options.checkpoint_min_journal_bytes = 0;  // only the tests' checkpoints
  options.checkpoint_writer = DurableOptions::CheckpointWriter::kConcurrent;
  return options;
}

// Random changes to the users of a store: updates (texts, role), presence,
// channels, deletes and creates, on users anywhere in their services.
class Mutator {
 public:
  Mutator(UserStore* store, uint32_t seed) : store_(store), rng_(seed) {}

  void AddService(const std::string& sid, int users) {
    CreateRoleRequest role;
    role.friendly_name = "other";
    role.type = "deployment";
    role.permissions = {"sendMessage"};
    auto made = store_->CreateRole(sid, role);
    ASSERT_TRUE(made.ok()) << made.status();
    services_.push_back({sid, made->sid, {}});
    for (int i = 0; i < users; ++i) Create(&services_.back());
  }
  void DropService(const std::string& sid) {
    for (size_t i = 0; i < services_.size(); ++i) {
      if (services_[i].sid == sid) services_.erase(services_.begin() + static_cast<long>(i));
    }
  }

  void Step() {
    if (services_.empty()) return;
    Service& svc = services_[rng_() % services_.size()];
    if (svc.users.empty() || rng_() % 8 == 0) return Create(&svc);
    const size_t k = rng_() % svc.users.size();
    const std::string user = svc.users[k];
    switch (rng_() % 6) {
      case 0: {
        UpdateUserRequest update;
        update.attributes = absl::StrCat("{\"n\":", rng_() % 1000, "}");
        if (rng_() % 2 == 0) update.friendly_name = absl::StrCat("name ", rng_() % 100);
        EXPECT_TRUE(store_->UpdateUser(svc.sid, user, update).ok());
        break;
      }
      case 1: {
        UpdateUserRequest update;
        update.role_sid = svc.role;
        EXPECT_TRUE(store_->UpdateUser(svc.sid, user, update).ok());
        break;
      }
      case 2: {
        PresenceUpdate presence;
        presence.is_online = rng_() % 2 == 0;
        presence.is_notifiable = rng_() % 2 == 0;
        EXPECT_TRUE(store_->SetPresence(svc.sid, user, presence).ok());
        break;
      }
      case 3:
        EXPECT_TRUE(store_->JoinChannel(svc.sid, user).ok());
        break;
      default:
        EXPECT_TRUE(store_->DeleteUser(svc.sid, user).ok());
        svc.users[k] = svc.users.back();
        svc.users.pop_back();
        break;
    }
  }

 private:
  struct Service {
    std::string sid;
    std::string role;
    std::vector<std::string> users;
  };
  void Create(Service* svc) {
    CreateUserRequest request;
    request.identity = absl::StrCat("user-", next_++);
    request.attributes = absl::StrCat("{\"pad\":\"", std::string(rng_() % 200, 'x'), "\"}");
    auto made = store_->CreateUser(svc->sid, request);
    ASSERT_TRUE(made.ok()) << made.status();
    svc->users.push_back(made->sid);
  }

  UserStore* const store_;
  std::mt19937 rng_;
  std::vector<Service> services_;
  uint64_t next_ = 0;
};

absl::StatusOr<std::string> NewService(UserStore* store, const std::string& name) {
  CreateServiceRequest request;
  request.friendly_name = name;
  auto made = store->CreateService(request);
  if (!made.ok()) return made.status();
  return made->sid;
}

class ConcurrentCheckpointTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto opened = OpenUserStore(dir_.path(), ConcurrentOptions(&env_));
    ASSERT_TRUE(opened.ok()) << opened.status();
    store_ = std::move(*opened);
  }

  // The newest checkpoint file holds the store as `history` had it at the
  // file's sequence (returned).
  uint64_t ExpectFileIsTheStateAtItsSequence(History* history) {
    uint64_t sequence = 0;
    const std::string in_file = CheckpointState(*store_, &sequence);
    EXPECT_TRUE(SameState(in_file, history->StateAt(sequence)));
    EXPECT_TRUE(store_->CheckInvariants().ok());
    return sequence;
  }

  // Closed and opened again (checkpoint and journal), the store is the same.
  void ExpectReopensTheSame() {
    const std::string fingerprint = Fingerprint(*store_);
    store_.reset();
    auto reopened = OpenUserStore(dir_.path(), ConcurrentOptions(&env_));
    ASSERT_TRUE(reopened.ok()) << reopened.status();
    EXPECT_TRUE(SameState(Fingerprint(**reopened), fingerprint));
  }

  TempDir dir_;
  HookEnv env_;
  std::unique_ptr<UserStore> store_;
};

// Three services of 6,000 users (some 5 MiB of checkpoint, five appends);
// at each append the walk has reached a different point. Changes at every
// append; at the second, the service being walked or the next is deleted
// and a new one made.
TEST_F(ConcurrentCheckpointTest, TheFileIsTheStoreAtItsInstantWhateverChangesDuringTheWalk) {
  UserStore* store = store_.get();
  HookEnv& env = env_;
  Mutator mutator(store, 5);
  std::vector<std::string> services = {store->default_conversation_service_sid()};
  for (const char* name : {"b", "c"}) {
    auto sid = NewService(store, name);
    ASSERT_TRUE(sid.ok());
    services.push_back(*sid);
  }
  for (const auto& sid : services) mutator.AddService(sid, 6000);

  for (int round = 0; round < 2; ++round) {
    SCOPED_TRACE(absl::StrCat("round ", round));
    History history(store);
    int appends = 0;
    env.hook = [&] {
      ++appends;
      for (int i = 0; i < 400; ++i) mutator.Step();
      if (appends == 2 && round == 0) {
        EXPECT_TRUE(store->DeleteService(services[1]).ok());
        mutator.DropService(services[1]);
        auto sid = NewService(store, "d");
        EXPECT_TRUE(sid.ok());
        if (sid.ok()) mutator.AddService(*sid, 300);
      }
      return absl::OkStatus();
    };
    const uint64_t before = store->last_sequence();
    ASSERT_TRUE(store->Checkpoint().ok()) << store->durability_stats().last_checkpoint_error;
    env.hook = [] { return absl::OkStatus(); };
    EXPECT_GE(appends, 4);  // the walk met changes at several points
    EXPECT_GT(store->last_sequence(), before + 1000);
    EXPECT_EQ(ExpectFileIsTheStateAtItsSequence(&history), before);
  }
  ExpectReopensTheSame();
}

// Writers on other threads while checkpoints run (ThreadSanitizer's case).
TEST_F(ConcurrentCheckpointTest, WritersOnOtherThreadsDuringCheckpoints) {
  UserStore* store = store_.get();
  constexpr int kThreads = 3;
  std::vector<std::unique_ptr<Mutator>> mutators;
  for (int t = 0; t < kThreads; ++t) {
    // A service of each writer's own: its users are its alone to change.
    auto sid = t == 0 ? absl::StatusOr<std::string>(store->default_conversation_service_sid())
                      : NewService(store, absl::StrCat("s", t));
    ASSERT_TRUE(sid.ok());
    mutators.push_back(std::make_unique<Mutator>(store, 100 + t));
    mutators.back()->AddService(*sid, 3000);
  }
  for (int round = 0; round < 3; ++round) {
    SCOPED_TRACE(absl::StrCat("round ", round));
    History history(store);
    std::atomic<bool> stop{false};
    std::atomic<int> started{0};
    std::vector<std::thread> writers;
    for (int t = 0; t < kThreads; ++t) {
      writers.emplace_back([&, t] {
        started.fetch_add(1);
        int steps = 0;
        // At least some steps whatever the scheduling, then until the
        // checkpoint is done.
        while (!stop.load() || steps < 200) {
          mutators[t]->Step();
          ++steps;
        }
      });
    }
    while (started.load() < kThreads) std::this_thread::yield();
    ASSERT_TRUE(store->Checkpoint().ok()) << store->durability_stats().last_checkpoint_error;
    stop.store(true);
    for (auto& writer : writers) writer.join();
    ExpectFileIsTheStateAtItsSequence(&history);
  }
  ExpectReopensTheSame();
}

// A walk that fails (its file cannot be written) leaves no service attached
// and no temporary file; writes go on, and the next checkpoint is right.
TEST_F(ConcurrentCheckpointTest, AFailedWalkDetachesAndTheNextCheckpointIsRight) {
  UserStore* store = store_.get();
  HookEnv& env = env_;
  Mutator mutator(store, 9);
  mutator.AddService(store->default_conversation_service_sid(), 12000);
  int appends = 0;
  env.hook = [&] {
    for (int i = 0; i < 100; ++i) mutator.Step();
    return ++appends == 2 ? absl::ResourceExhaustedError("no space (injected)") : absl::OkStatus();
  };
  const uint64_t checkpoints = store->durability_stats().checkpoints;
  const absl::Status failed = store->Checkpoint();
  EXPECT_EQ(failed.code(), absl::StatusCode::kResourceExhausted) << failed;
  EXPECT_EQ(store->durability_stats().checkpoints, checkpoints);
  for (const std::string& name : durable_testing::Names(dir_.path())) {
    EXPECT_FALSE(absl::EndsWith(name, ".tmp")) << name;
  }
  env.hook = [] { return absl::OkStatus(); };
  for (int i = 0; i < 2000; ++i) mutator.Step();  // the store goes on
  {
    History history(store);
    env.hook = [&] {
      for (int i = 0; i < 100; ++i) mutator.Step();
      return absl::OkStatus();
    };
    ASSERT_TRUE(store->Checkpoint().ok()) << store->durability_stats().last_checkpoint_error;
    env.hook = [] { return absl::OkStatus(); };
    ExpectFileIsTheStateAtItsSequence(&history);
  }
  ExpectReopensTheSame();
}

}  // namespace
}  // namespace userstore
