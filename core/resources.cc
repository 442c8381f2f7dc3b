// The conversions between `User` (owning) and `UserView` (borrowed).

#include "userstore/resources.h"

#include <optional>
#include <string>

#include "absl/strings/string_view.h"

namespace userstore {

User UserView::ToUser() const {
  User user;
  user.sid = std::string(sid);
  user.account_sid = std::string(account_sid);
  user.service_sid = std::string(service_sid);
  user.role_sid = std::string(role_sid);
  user.identity = std::string(identity);
  user.attributes = std::string(attributes);
  if (friendly_name.has_value()) user.friendly_name = std::string(*friendly_name);
  user.is_online = is_online;
  user.is_notifiable = is_notifiable;
  user.joined_channels_count = joined_channels_count;
  user.date_created = date_created;
  user.date_updated = date_updated;
  return user;
}

UserView UserView::Of(const User& user) {
  UserView view;
  view.sid = user.sid;
  view.account_sid = user.account_sid;
  view.service_sid = user.service_sid;
  view.role_sid = user.role_sid;
  view.identity = user.identity;
  view.attributes = user.attributes;
  if (user.friendly_name.has_value()) view.friendly_name = absl::string_view(*user.friendly_name);
  view.is_online = user.is_online;
  view.is_notifiable = user.is_notifiable;
  view.joined_channels_count = user.joined_channels_count;
  view.date_created = user.date_created;
  view.date_updated = user.date_updated;
  return view;
}

}  // namespace userstore
