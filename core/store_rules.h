// -----------------------------------------------------------------------------
// File: core/store_rules.h
// -----------------------------------------------------------------------------
//
// What the files of StoreImpl share: the SID prefixes, the request checks
// that do not need the store (text of path segments, identity, friendly name,
// attributes, RoleSid), the errors they build, paging over a container
// ordered by position, and the error-propagation macros. StoreImpl itself is
// split by resource: users (core/store_impl.cc, core/store_pages.cc,
// core/store_presence.cc), services and roles (core/store_services.cc),
// snapshots, replication and the invariant check (core/store_replication.cc).

#ifndef USERSTORE_CORE_STORE_RULES_H_
#define USERSTORE_CORE_STORE_RULES_H_

#include <cstddef>
#include <cstdint>
#include <iterator>
#include <optional>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

#include "userstore/options.h"
#include "userstore/resources.h"

#include "core/page_token.h"
#include "core/status_macros.h"
#include "core/store_impl.h"

namespace userstore {
namespace internal {

inline constexpr absl::string_view kUserPrefix = "US";
inline constexpr absl::string_view kServicePrefix = "IS";
inline constexpr absl::string_view kRolePrefix = "RL";
inline constexpr absl::string_view kAccountPrefix = "AC";

int64_t ToSeconds(absl::Time t);
absl::Time FromSeconds(int64_t s);

// Errors: 20001 "Invalid <what>: not valid UTF-8 text"; 20404 for the path
// of a service, a user or a role.
absl::Status NotValidText(absl::string_view what);
absl::Status ServiceNotFound(absl::string_view service_sid);
absl::Status UserNotFound(absl::string_view service_sid, absl::string_view user);
absl::Status RoleNotFoundPath(absl::string_view service_sid, absl::string_view role_sid);

// Path segments must be valid text (UTF-8, no NUL): 20001 naming the segment.
absl::Status CheckPathText(absl::string_view service_sid);
absl::Status CheckPathText(absl::string_view service_sid, absl::string_view second,
                           absl::string_view second_name);

// A RoleSid parameter (`name` is its name in errors): absent leaves `out`
// unsupplied; otherwise it must be valid text and RL-shaped (20001).
absl::Status ParseRoleParam(const std::optional<absl::string_view>& text, absl::string_view name,
                            RoleRef* out);

// The parameter rules of SEMANTICS 3, each with Twilio's error.
absl::Status ValidateIdentity(const std::optional<absl::string_view>& identity,
                              const StoreOptions& options);
absl::Status ValidateFriendlyName(absl::string_view text, size_t max_length);
absl::Status ValidateAttributesParam(absl::string_view text, const StoreOptions& options);

// Pages over a container ordered by a uint64 position (a std::map or the
// OrderIndex, keyed by position; `key` reads an element's position).
template <typename Iterator>
struct Bounds : PageAnchors {
  Iterator begin;
  Iterator end;
};

template <typename Container, typename KeyFn>
auto Paginate(const Container& c, const std::optional<PageTokenData>& token, int64_t page_size,
              KeyFn key) -> Bounds<typename Container::const_iterator> {
  using It = typename Container::const_iterator;
  Bounds<It> out;
  It b;
  It e;
  if (!token.has_value() || token->forward) {
    b = token.has_value() ? c.upper_bound(token->anchor) : c.begin();
    e = b;
    for (int64_t i = 0; i < page_size && e != c.end(); ++i) ++e;
  } else {
    e = c.lower_bound(token->anchor);
    b = e;
    for (int64_t i = 0; i < page_size && b != c.begin(); ++i) --b;
  }
  out.begin = b;
  out.end = e;
  out.has_next = e != c.end();
  out.has_prev = token.has_value() && b != c.begin();
  if (b != e) {
    out.prev_anchor = key(*b);
    out.next_anchor = key(*std::prev(e));
  } else if (token.has_value()) {
    // An empty page still has a place: just after the anchor (forward) or
    // just before it (backward).
    const uint64_t a = token->anchor;
    out.next_anchor = token->forward ? a : (a > 0 ? a - 1 : 0);
    out.prev_anchor = token->forward ? a + 1 : a;
  }
  return out;
}

}  // namespace internal
}  // namespace userstore

#endif  // USERSTORE_CORE_STORE_RULES_H_
