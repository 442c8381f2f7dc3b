// StoreImpl's side of checkpoints (docs/durability.md): the frames a
// checkpoint file holds, and the concurrent checkpoint's walk
// (core/store_checkpoint.h says how it keeps to one instant).

#include "core/store_checkpoint.h"

#include <algorithm>
#include <cstring>
#include <new>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"

#include "userstore/event_codec.h"

#include "core/durable/format.h"
#include "core/status_macros.h"
#include "core/store_impl.h"

namespace userstore {
namespace internal {

size_t StoreImpl::EncodeUserFrame(const UserRecord& record, char* out) const {
  // Written in place: header, position, then the event.
  char* payload = out + durable::kFrameHeaderSize;
  durable::PutU64(payload, record.position());
  char* end = EncodeUser(ChangeEvent::Op::kCreate, 0, record, payload + 8);
  const uint32_t length = static_cast<uint32_t>(end - payload);
  durable::SealFrame(out, durable::RecordType::kUser, length);
  return durable::kFrameHeaderSize + length;
}

void StoreImpl::AppendServiceHead(const ServiceState& svc, std::string* out) const {
  std::string event;
  durable::AppendU64(&event, svc.position);
  durable::AppendU64(&event, svc.next_user_position);
  durable::AppendU64(&event, svc.next_role_position);
  (void)EncodeChangeEvent(ServiceChange(ChangeEvent::Op::kCreate, svc, &svc == default_service_),
                          &event);
  durable::AppendFrame(out, durable::RecordType::kService, event);
  for (const auto& entry : svc.roles) {
    event.clear();
    durable::AppendU64(&event, entry.second->position);
    (void)EncodeChangeEvent(RoleChange(ChangeEvent::Op::kCreate, *entry.second), &event);
    durable::AppendFrame(out, durable::RecordType::kRole, event);
  }
}

std::unique_ptr<ConcurrentCheckpoint> StoreImpl::StartConcurrentCheckpoint() const {
  // Everything that allocates first; the services are attached only once
  // it all succeeded, so a bad_alloc leaves nothing attached.
  auto checkpoint = std::make_unique<ConcurrentCheckpoint>();
  checkpoint->services.reserve(services_by_position_.size());
  for (const auto& entry : services_by_position_) {
    ServiceState* svc = entry.second;
    auto state = std::make_unique<ServiceCheckpoint>();
    state->svc = svc;
    state->position = svc->position;
    state->cut = svc->next_user_position;
    AppendServiceHead(*svc, &state->head);
    checkpoint->services.push_back(std::move(state));
  }
  for (const auto& state : checkpoint->services) state->svc->checkpoint = state.get();
  return checkpoint;
}

void StoreImpl::SaveForCheckpointSlow(ServiceState* svc, const UserRecord& record) const {
  ServiceCheckpoint* state = svc->checkpoint;
  const uint64_t position = record.position();
  if (state->failed || position >= state->cut ||
      position < state->cursor.load(std::memory_order_relaxed)) {
    return;  // made after the instant, or written already
  }
#if defined(__cpp_exceptions)
  try {
#endif
    auto slot = state->saved.try_emplace(position);
    if (!slot.second) return;  // saved by an earlier change
    if (state->scratch.empty()) state->scratch.resize(JournalRecordBound());
    const size_t size = EncodeUserFrame(record, &state->scratch[0]);
    slot.first->second.assign(state->scratch.data(), size);
#if defined(__cpp_exceptions)
  } catch (const std::bad_alloc&) {
    // The write goes on; the checkpoint, missing this image, fails.
    state->failed = true;
  }
#endif
}

absl::Status StoreImpl::WriteConcurrentCheckpoint(
    ConcurrentCheckpoint* checkpoint, absl::FunctionRef<absl::Status(absl::string_view)> sink) {
  // Whatever happens below, no service refers to `checkpoint` afterwards.
  struct Detach {
    StoreImpl* impl;
    ConcurrentCheckpoint* checkpoint;
    ~Detach() {
      absl::ReaderMutexLock lock(&impl->mu_);
      for (const auto& state : checkpoint->services) {
        ServiceState* svc = state->svc;
        if (svc == nullptr) continue;
        absl::MutexLock service_lock(&svc->mu);
        if (svc->checkpoint == state.get()) svc->checkpoint = nullptr;
        state->svc = nullptr;
      }
    }
  } detach{this, checkpoint};

  const size_t bound = JournalRecordBound();
  constexpr size_t kFlushBytes = size_t{1} << 20;
  std::string buffer;
  size_t used = 0;
  auto room = [&](size_t n) {
    if (buffer.size() < used + n) buffer.resize(std::max(used + n, 2 * buffer.size()));
  };
  auto append = [&](absl::string_view bytes) {
    room(bytes.size());
    std::memcpy(&buffer[used], bytes.data(), bytes.size());
    used += bytes.size();
  };
  auto flush = [&](size_t at_least) -> absl::Status {
    if (used == 0 || used < at_least) return absl::OkStatus();
    absl::Status status = sink(absl::string_view(buffer.data(), used));
    used = 0;
    return status;
  };
  const absl::Status out_of_memory =
      absl::ResourceExhaustedError("checkpoint: out of memory saving a user's image");

  for (const auto& owned : checkpoint->services) {
    ServiceCheckpoint* state = owned.get();
    append(state->head);
    uint64_t from = 0;  // the next position to write
    bool done = false;
    while (!done) {
      {
        absl::ReaderMutexLock lock(&mu_);
        ServiceState* svc = state->svc;
        if (svc == nullptr) {
          // Deleted during the walk: every user not yet written is saved.
          if (state->failed) return out_of_memory;
          for (auto it = state->saved.lower_bound(from); it != state->saved.end(); ++it) {
            append(it->second);
          }
          done = true;
        } else {
          absl::ReaderMutexLock service_lock(&svc->mu);
          if (state->failed) return out_of_memory;
          // One run: up to kRun live users from `from`, below the cut; it
          // covers the positions [from, end).
          auto live = svc->by_order.lower_bound(from);
          auto saved = state->saved.lower_bound(from);
          size_t taken = 0;
          uint64_t end = state->cut;
          for (auto it = live; it != svc->by_order.end() && it->first < state->cut; ++it) {
            if (taken == ConcurrentCheckpoint::kRun) {
              end = it->first;
              break;
            }
            ++taken;
          }
          // The run's frames in position order: a saved frame stands for
          // the live record at its position, or for one erased since.
          while (true) {
            const bool has_live = live != svc->by_order.end() && live->first < end;
            const bool has_saved = saved != state->saved.end() && saved->first < end;
            if (!has_live && !has_saved) break;
            if (has_saved && (!has_live || saved->first <= live->first)) {
              if (has_live && live->first == saved->first) ++live;
              append(saved->second);
              ++saved;
            } else {
              room(bound);
              used += EncodeUserFrame(*live->second, &buffer[used]);
              ++live;
            }
          }
          state->cursor.store(end, std::memory_order_relaxed);
          from = end;
          done = end >= state->cut;
        }
      }
      USERSTORE_RETURN_IF_ERROR(flush(kFlushBytes));
    }
    {
      // The service is written: detach it and free what it saved.
      absl::ReaderMutexLock lock(&mu_);
      ServiceState* svc = state->svc;
      if (svc != nullptr) {
        absl::MutexLock service_lock(&svc->mu);
        svc->checkpoint = nullptr;
        state->svc = nullptr;
      }
    }
    absl::btree_map<uint64_t, std::string>().swap(state->saved);
    std::string().swap(state->scratch);
  }
  return flush(1);
}

}  // namespace internal
}  // namespace userstore
