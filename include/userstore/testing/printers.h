// -----------------------------------------------------------------------------
// File: userstore/testing/printers.h
// -----------------------------------------------------------------------------
//
// GoogleTest printers for userstore's value types, so that a failed
// expectation shows a user as `User{sid: "US...", identity: "alice", ...}`
// instead of a dump of its bytes. GoogleTest finds them by argument-dependent
// lookup once this header is included (every header of the kit includes it).
//
// Thread safety: pure functions of their arguments.

#ifndef USERSTORE_TESTING_PRINTERS_H_
#define USERSTORE_TESTING_PRINTERS_H_

#include <ostream>

#include "userstore/events.h"
#include "userstore/resources.h"
#include "userstore/rest.h"

namespace userstore {

// userstore::PrintTo()
//
// Writes a one-line, human-readable form of the value to `os`: every field,
// texts quoted, unset optionals as `null`, times in RFC 3339 UTC. For an
// `HttpResponse`, its status, headers and body. O(size of the value).
void PrintTo(const User& user, std::ostream* os);
void PrintTo(const UserView& user, std::ostream* os);
void PrintTo(const Service& service, std::ostream* os);
void PrintTo(const Role& role, std::ostream* os);
void PrintTo(const UserEvent& event, std::ostream* os);
void PrintTo(const ChangeEvent& event, std::ostream* os);
void PrintTo(const HttpResponse& response, std::ostream* os);

}  // namespace userstore

#endif  // USERSTORE_TESTING_PRINTERS_H_
