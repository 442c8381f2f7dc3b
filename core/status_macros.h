// USERSTORE_RETURN_IF_ERROR and USERSTORE_ASSIGN_OR_RETURN: the library's
// private error plumbing (Debian's Abseil, 20220623, has no status_macros.h).

#ifndef USERSTORE_CORE_STATUS_MACROS_H_
#define USERSTORE_CORE_STATUS_MACROS_H_

#include <utility>

#include "absl/status/status.h"

#define USERSTORE_INTERNAL_CONCAT_(a, b) a##b
#define USERSTORE_INTERNAL_CONCAT(a, b) USERSTORE_INTERNAL_CONCAT_(a, b)
#define USERSTORE_RETURN_IF_ERROR(expr)      \
  do {                                       \
    absl::Status _us_status = (expr);        \
    if (!_us_status.ok()) return _us_status; \
  } while (0)
#define USERSTORE_ASSIGN_OR_RETURN_IMPL_(tmp, lhs, rexpr) \
  auto tmp = (rexpr);                                     \
  if (!tmp.ok()) return tmp.status();                     \
  lhs = std::move(*tmp)
#define USERSTORE_ASSIGN_OR_RETURN(lhs, rexpr) \
  USERSTORE_ASSIGN_OR_RETURN_IMPL_(USERSTORE_INTERNAL_CONCAT(_us_statusor_, __LINE__), lhs, rexpr)

#endif  // USERSTORE_CORE_STATUS_MACROS_H_
