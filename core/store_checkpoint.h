// -----------------------------------------------------------------------------
// File: core/store_checkpoint.h
// -----------------------------------------------------------------------------
//
// The state of a concurrent checkpoint (DurableOptions::kConcurrent): the
// store's image at one instant, written by a background thread while writers
// go on, with no fork and no copy of the store.
//
// HOW
//
// At the instant (StoreImpl::Frozen, mu_ held exclusively, which is where
// the journal is cut) StartConcurrentCheckpoint() records, per service, its
// frame and its roles' frames as they are (`head`), and `cut`, its next user
// position: users made after the instant have positions >= cut and are
// skipped. It then hangs a ServiceCheckpoint on each service.
//
// The walk (WriteConcurrentCheckpoint) goes through each service's users in
// position order, in runs of up to kRun users under the service's reader
// lock, writing each user's frame; after a run, `cursor` is the position up
// to which the service is written. A writer about to change or erase a user
// at a position in [cursor, cut) (one the walk has not reached) first saves
// the user's frame as it is, once (SaveForCheckpoint, under the service's
// writer lock). The walk takes a saved frame in place of the live record,
// and writes the saved frames of users erased meanwhile in their position's
// turn. So every frame written is the user as it was at the instant, in the
// order and form WriteCheckpointRecords writes: the file is the same as a
// forked or in-process checkpoint's of that instant, and recovery does not
// know how it was made.
//
// A service deleted during the walk saves every user not yet written as it
// erases them (DestroyServiceLocked), then drops its pointer (`svc` becomes
// null, under mu_ exclusively); the walk then writes its head and the saved
// frames.
//
// Memory: at most one saved frame per user of the instant (a store whose
// every user changes during the walk holds a second image of each until its
// service is written). A save that runs out of memory marks the checkpoint
// failed (the write itself goes on); the checkpoint then fails with an error
// and nothing is published.
//
// Thread safety: `svc`, `head`, `cut` and `position` are written before the
// state is attached (under mu_ exclusively) and `svc` again only under mu_
// exclusively; `saved`, `scratch` and `failed` are guarded by the service's
// mu (writers, exclusively; the walk, shared) until `svc` is null, then read
// by the walk alone; `cursor` is written by the walk under the service's
// reader lock and read by writers under its writer lock.

#ifndef USERSTORE_CORE_STORE_CHECKPOINT_H_
#define USERSTORE_CORE_STORE_CHECKPOINT_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/container/btree_map.h"

namespace userstore {
namespace internal {

struct ServiceState;

struct ServiceCheckpoint {
  ServiceState* svc = nullptr;  // null once the service is deleted
  uint64_t position = 0;        // the service's creation position
  uint64_t cut = 0;             // its next user position at the instant
  std::string head;             // its frame and its roles' frames at the instant
  std::atomic<uint64_t> cursor{0};
  // position -> the frame of the user there as it was at the instant.
  absl::btree_map<uint64_t, std::string> saved;
  std::string scratch;  // room for one frame (JournalRecordBound bytes), on first use
  bool failed = false;  // a save ran out of memory
};

struct ConcurrentCheckpoint {
  // Users written per run under a service's reader lock: a writer of the
  // service waits for at most one run (some 256 x 0.3 us).
  static constexpr size_t kRun = 256;
  // The services of the instant, in position order.
  std::vector<std::unique_ptr<ServiceCheckpoint>> services;
};

}  // namespace internal
}  // namespace userstore

#endif  // USERSTORE_CORE_STORE_CHECKPOINT_H_
