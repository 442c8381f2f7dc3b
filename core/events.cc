// Names of the hook events, as Twilio's webhooks spell `EventType`.

#include "userstore/events.h"

namespace userstore {

const char* HookTypeName(HookType type) {
  switch (type) {
    case HookType::kOnUserAdded:
      return "onUserAdded";
    case HookType::kOnUserUpdate:
      return "onUserUpdate";
    case HookType::kOnUserUpdated:
      return "onUserUpdated";
  }
  // A number cast into `HookType` that names no event; never null, so callers
  // may build a std::string from the result unconditionally.
  return "unknown";
}

}  // namespace userstore
