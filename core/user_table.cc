#include "core/user_table.h"

#include <algorithm>
#include <cstring>
#include <new>
#include <string>

namespace userstore {
namespace internal {

static_assert(sizeof(UserRecord) <= 88, "UserRecord grew: check the memory budget in user_table.h");

UserRecord::UserRecord(Sid128 sid, uint64_t position, RoleRecord* role, int64_t date_created,
                       int64_t date_updated)
    : sid_(sid),
      role_(role),
      position_(position),
      date_created_(date_created),
      date_updated_(date_updated) {}

UserRecord::~UserRecord() {
  if (!text_is_inline()) ::operator delete(text_);
}

UserRecordPtr UserRecord::New(RecordArena* arena, Sid128 sid, uint64_t position, RoleRecord* role,
                              const Text& text, int64_t date_created, int64_t date_updated) {
  const size_t friendly = text.friendly_name.has_value() ? text.friendly_name->size() : 0;
  const size_t total = text.identity.size() + friendly + text.attributes.size();
  const size_t block_bytes = sizeof(UserRecord) + total;
  void* block = arena->Allocate(block_bytes);
  UserRecordPtr record(new (block) UserRecord(sid, position, role, date_created, date_updated));
  UserRecord* r = record.get();
  r->block_bytes_ = static_cast<uint32_t>(block_bytes);
  r->text_ = r->inline_text();
  r->text_capacity_ = static_cast<uint32_t>(total);
  r->identity_len_ = static_cast<uint32_t>(text.identity.size());
  r->friendly_len_ = static_cast<uint32_t>(friendly);
  r->attributes_len_ = static_cast<uint32_t>(text.attributes.size());
  r->has_friendly_name_ = text.friendly_name.has_value();
  char* out = r->text_;
  if (!text.identity.empty()) std::memcpy(out, text.identity.data(), text.identity.size());
  out += text.identity.size();
  if (friendly != 0) std::memcpy(out, text.friendly_name->data(), friendly);
  out += friendly;
  if (!text.attributes.empty()) std::memcpy(out, text.attributes.data(), text.attributes.size());
  return record;
}

void UserRecord::SetText(std::optional<absl::string_view> friendly_name,
                         absl::string_view attributes) {
  // The new content may overlap the old buffer (an unchanged friendly name or
  // attributes are views of it), so it is assembled apart first: on the stack
  // when it is small, as a typical user's is (no allocation per update).
  const size_t friendly = friendly_name.has_value() ? friendly_name->size() : 0;
  const size_t size = identity_len_ + friendly + attributes.size();
  char small[512];
  std::string large;
  char* content = small;
  if (size > sizeof(small)) {
    large.resize(size);
    content = large.data();
  }
  char* out = content;
  if (identity_len_ > 0) out = std::copy_n(text_, identity_len_, out);
  if (friendly > 0) out = std::copy_n(friendly_name->data(), friendly, out);
  if (!attributes.empty()) std::copy_n(attributes.data(), attributes.size(), out);

  if (size > text_capacity_) {
    char* fresh = static_cast<char*>(::operator new(size));
    if (!text_is_inline()) ::operator delete(text_);
    text_ = fresh;
    text_capacity_ = static_cast<uint32_t>(size);
  }
  if (size > 0) std::memcpy(text_, content, size);
  friendly_len_ = static_cast<uint32_t>(friendly);
  attributes_len_ = static_cast<uint32_t>(attributes.size());
  has_friendly_name_ = friendly_name.has_value();
}

}  // namespace internal
}  // namespace userstore
