// -----------------------------------------------------------------------------
// File: userstore/testing/kit.h
// -----------------------------------------------------------------------------
//
// The whole GoogleTest kit in one include: userstore as a hermetic Twilio
// for unit tests. Link the CMake target `userstore::testing` (or pkg-config
// `userstore-testing`); docs/testing.md is the guide.
//
//   store_test.h       TestStore / StoreTest: a fresh deterministic store, its
//                      ManualClock, FaultInjector and Dispatcher,
//                      MakeService(), MakeUser(), Get() / Post() / Delete(),
//                      IsHttpStatus(), HasHeader()
//   status_matchers.h  IsOk(), IsOkAndHolds(m), IsTwilioError(http, code)
//   user_matchers.h    HasSid(), HasIdentity(), HasFriendlyName(),
//                      HasAttributes(json), HasRole(), ...
//   recorders.h        ChangeRecorder, HookRecorder and their event matchers
//   printers.h         readable failure messages for userstore's types
//
// A note on names: the kit's namespace is `userstore::testing`. Code inside
// `namespace userstore` that includes it must spell GoogleTest's namespace
// `::testing`, since there `testing` names the kit.

#ifndef USERSTORE_TESTING_KIT_H_
#define USERSTORE_TESTING_KIT_H_

#include "userstore/testing/printers.h"
#include "userstore/testing/recorders.h"
#include "userstore/testing/status_matchers.h"
#include "userstore/testing/store_test.h"
#include "userstore/testing/user_matchers.h"

#endif  // USERSTORE_TESTING_KIT_H_
