// ChangeRecorder and HookRecorder (userstore/testing/recorders.h).

#include "userstore/testing/recorders.h"

#include <string>
#include <utility>
#include <vector>

namespace userstore {
namespace testing {

ChangeRecorder::ChangeRecorder(UserStore* store) : store_(store) {
  subscription_ = store_->Subscribe([this](const ChangeEvent& event) {
    absl::MutexLock lock(&mu_);
    events_.push_back(event);
  });
}

ChangeRecorder::~ChangeRecorder() { store_->Unsubscribe(subscription_); }

std::vector<ChangeEvent> ChangeRecorder::events() const {
  absl::MutexLock lock(&mu_);
  return events_;
}

std::vector<ChangeEvent> ChangeRecorder::user_events() const {
  absl::MutexLock lock(&mu_);
  std::vector<ChangeEvent> users;
  for (const ChangeEvent& event : events_) {
    if (event.entity == ChangeEvent::Entity::kUser) users.push_back(event);
  }
  return users;
}

size_t ChangeRecorder::size() const {
  absl::MutexLock lock(&mu_);
  return events_.size();
}

void ChangeRecorder::Clear() {
  absl::MutexLock lock(&mu_);
  events_.clear();
}

HookRecorder::HookRecorder(UserStore* store) : store_(store) {
  hook_ids_.push_back(store_->AddHook(HookType::kOnUserAdded, [this](const UserEvent& event) {
    return Record(event, /*may_veto=*/false);
  }));
  hook_ids_.push_back(store_->AddHook(HookType::kOnUserUpdate, [this](const UserEvent& event) {
    return Record(event, /*may_veto=*/true);
  }));
  hook_ids_.push_back(store_->AddHook(HookType::kOnUserUpdated, [this](const UserEvent& event) {
    return Record(event, /*may_veto=*/false);
  }));
}

HookRecorder::~HookRecorder() {
  for (uint64_t id : hook_ids_) store_->RemoveHook(id);
}

absl::Status HookRecorder::Record(const UserEvent& event, bool may_veto) {
  absl::MutexLock lock(&mu_);
  events_.push_back(event);
  return may_veto ? veto_ : absl::OkStatus();
}

std::vector<UserEvent> HookRecorder::events() const {
  absl::MutexLock lock(&mu_);
  return events_;
}

std::vector<std::string> HookRecorder::fired() const {
  absl::MutexLock lock(&mu_);
  std::vector<std::string> types;
  types.reserve(events_.size());
  for (const UserEvent& event : events_) types.push_back(event.event_type);
  return types;
}

void HookRecorder::VetoUpdates(absl::Status veto) {
  absl::MutexLock lock(&mu_);
  veto_ = std::move(veto);
}

void HookRecorder::Clear() {
  absl::MutexLock lock(&mu_);
  events_.clear();
}

}  // namespace testing
}  // namespace userstore
