// GoogleTest printers for userstore's values (userstore/testing/printers.h).

#include "userstore/testing/printers.h"

#include <optional>
#include <ostream>
#include <string>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"

namespace userstore {
namespace {

void Text(std::ostream* os, absl::string_view text) {
  *os << ::testing::PrintToString(std::string(text));
}

template <typename T>
void OptionalText(std::ostream* os, const std::optional<T>& text) {
  if (text.has_value()) {
    Text(os, *text);
  } else {
    *os << "null";
  }
}

void OptionalBool(std::ostream* os, const std::optional<bool>& value) {
  if (value.has_value()) {
    *os << (*value ? "true" : "false");
  } else {
    *os << "null";
  }
}

void Time(std::ostream* os, absl::Time t) {
  *os << absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", t, absl::UTCTimeZone());
}

// The fields User and UserView share, in the order of the struct.
template <typename U>
void UserFields(const U& user, std::ostream* os) {
  *os << "sid: ";
  Text(os, user.sid);
  *os << ", identity: ";
  Text(os, user.identity);
  *os << ", friendly_name: ";
  OptionalText(os, user.friendly_name);
  *os << ", attributes: ";
  Text(os, user.attributes);
  *os << ", role_sid: ";
  Text(os, user.role_sid);
  *os << ", service_sid: ";
  Text(os, user.service_sid);
  *os << ", is_online: ";
  OptionalBool(os, user.is_online);
  *os << ", is_notifiable: ";
  OptionalBool(os, user.is_notifiable);
  *os << ", joined_channels_count: " << user.joined_channels_count << ", date_created: ";
  Time(os, user.date_created);
  *os << ", date_updated: ";
  Time(os, user.date_updated);
}

const char* EntityName(ChangeEvent::Entity entity) {
  switch (entity) {
    case ChangeEvent::Entity::kService:
      return "service";
    case ChangeEvent::Entity::kRole:
      return "role";
    case ChangeEvent::Entity::kUser:
      return "user";
  }
  return "unknown";
}

const char* OpName(ChangeEvent::Op op) {
  switch (op) {
    case ChangeEvent::Op::kCreate:
      return "create";
    case ChangeEvent::Op::kUpdate:
      return "update";
    case ChangeEvent::Op::kDelete:
      return "delete";
  }
  return "unknown";
}

}  // namespace

void PrintTo(const User& user, std::ostream* os) {
  *os << "User{";
  UserFields(user, os);
  *os << "}";
}

void PrintTo(const UserView& user, std::ostream* os) {
  *os << "UserView{";
  UserFields(user, os);
  *os << "}";
}

void PrintTo(const Service& service, std::ostream* os) {
  *os << "Service{sid: ";
  Text(os, service.sid);
  *os << ", friendly_name: ";
  Text(os, service.friendly_name);
  *os << ", default_service_role_sid: ";
  Text(os, service.default_service_role_sid);
  *os << ", reachability_enabled: " << (service.reachability_enabled ? "true" : "false")
      << ", date_created: ";
  Time(os, service.date_created);
  *os << ", date_updated: ";
  Time(os, service.date_updated);
  *os << "}";
}

void PrintTo(const Role& role, std::ostream* os) {
  *os << "Role{sid: ";
  Text(os, role.sid);
  *os << ", service_sid: ";
  Text(os, role.service_sid);
  *os << ", friendly_name: ";
  Text(os, role.friendly_name);
  *os << ", type: " << (role.type == RoleType::kDeployment ? "deployment" : "channel")
      << ", permissions: " << ::testing::PrintToString(role.permissions) << "}";
}

void PrintTo(const UserEvent& event, std::ostream* os) {
  *os << "UserEvent{event_type: " << event.event_type << ", user_sid: ";
  Text(os, event.user_sid);
  *os << ", identity: ";
  Text(os, event.identity);
  *os << ", friendly_name: ";
  OptionalText(os, event.friendly_name);
  *os << ", attributes: ";
  Text(os, event.attributes);
  *os << ", role_sid: ";
  Text(os, event.role_sid);
  *os << ", service_sid: ";
  Text(os, event.service_sid);
  *os << "}";
}

void PrintTo(const ChangeEvent& event, std::ostream* os) {
  *os << "ChangeEvent{sequence: " << event.sequence << ", " << EntityName(event.entity) << " "
      << OpName(event.op);
  if (event.user.has_value()) {
    *os << ", ";
    PrintTo(*event.user, os);
  }
  if (event.service.has_value()) {
    *os << ", ";
    PrintTo(*event.service, os);
  }
  if (event.role.has_value()) {
    *os << ", ";
    PrintTo(*event.role, os);
  }
  *os << "}";
}

void PrintTo(const HttpResponse& response, std::ostream* os) {
  *os << "HttpResponse{status: " << response.status;
  for (const auto& [name, value] : response.headers) *os << ", " << name << ": " << value;
  *os << ", body: " << response.body << "}";
}

}  // namespace userstore
