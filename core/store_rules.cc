#include "core/store_rules.h"

#include "absl/strings/str_cat.h"

#include "userstore/status.h"

#include "core/attributes.h"
#include "core/sid.h"
#include "core/text.h"

namespace userstore {
namespace internal {

int64_t ToSeconds(absl::Time t) { return absl::ToUnixSeconds(t); }
absl::Time FromSeconds(int64_t s) { return absl::FromUnixSeconds(s); }

absl::Status NotValidText(absl::string_view what) {
  return InvalidParameterError(absl::StrCat("Invalid ", what, ": not valid UTF-8 text"));
}

absl::Status ServiceNotFound(absl::string_view service_sid) {
  return NotFoundError(absl::StrCat("/Services/", service_sid));
}
absl::Status UserNotFound(absl::string_view service_sid, absl::string_view user) {
  return NotFoundError(absl::StrCat("/Services/", service_sid, "/Users/", user));
}
absl::Status RoleNotFoundPath(absl::string_view service_sid, absl::string_view role_sid) {
  return NotFoundError(absl::StrCat("/Services/", service_sid, "/Roles/", role_sid));
}

absl::Status CheckPathText(absl::string_view service_sid) {
  if (!IsValidText(service_sid)) return NotValidText("ServiceSid");
  return absl::OkStatus();
}
absl::Status CheckPathText(absl::string_view service_sid, absl::string_view second,
                           absl::string_view second_name) {
  USERSTORE_RETURN_IF_ERROR(CheckPathText(service_sid));
  if (!IsValidText(second)) return NotValidText(second_name);
  return absl::OkStatus();
}

absl::Status ParseRoleParam(const std::optional<absl::string_view>& text, absl::string_view name,
                            RoleRef* out) {
  if (!text.has_value()) return absl::OkStatus();
  if (!IsValidText(*text)) return NotValidText(name);
  if (!IsSidShaped(kRolePrefix, *text)) {
    return InvalidParameterError(absl::StrCat("Invalid ", name, ": ", *text));
  }
  out->supplied = true;
  out->sid = ParseSid(kRolePrefix, *text);
  return absl::OkStatus();
}

absl::Status ValidateIdentity(const std::optional<absl::string_view>& identity,
                              const StoreOptions& options) {
  if (!identity.has_value()) {
    return InvalidParameterError("Missing required parameter Identity in the post body");
  }
  if (!IsValidText(*identity)) return NotValidText("Identity");
  if (identity->empty()) return MakeError(ErrorCode::kIdentityNotProvided);
  if (CodePointCount(*identity) > options.max_identity_length) {
    return MakeError(ErrorCode::kIdentityTooLong);
  }
  if (IsSidShaped(kUserPrefix, *identity)) {
    return MakeError(ErrorCode::kIdentityMatchesSidPattern);
  }
  return absl::OkStatus();
}

absl::Status ValidateFriendlyName(absl::string_view text, size_t max_length) {
  if (!IsValidText(text)) return NotValidText("FriendlyName");
  if (CodePointCount(text) > max_length) return MakeError(ErrorCode::kFriendlyNameTooLong);
  return absl::OkStatus();
}

absl::Status ValidateAttributesParam(absl::string_view text, const StoreOptions& options) {
  return ValidateAttributes(text, options.max_attributes_bytes, options.max_attributes_depth);
}

}  // namespace internal
}  // namespace userstore
