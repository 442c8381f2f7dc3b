#include "core/attributes.h"

#include <cstddef>
#include <cstring>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "rapidjson/encodings.h"
#include "rapidjson/memorystream.h"
#include "rapidjson/reader.h"

#include "userstore/status.h"

namespace userstore {
namespace internal {
namespace {

// A SAX handler that accepts every value and only counts nesting. Returning
// false from a Start* event makes RapidJSON stop at once with
// kParseErrorTermination, so the parser's own stack never grows past
// `max_depth` levels however deep the input goes.
class DepthLimitHandler
    : public rapidjson::BaseReaderHandler<rapidjson::UTF8<>, DepthLimitHandler> {
 public:
  explicit DepthLimitHandler(int max_depth) : max_depth_(max_depth) {}

  bool StartObject() { return Enter(); }
  bool EndObject(rapidjson::SizeType /*member_count*/) { return Leave(); }
  bool StartArray() { return Enter(); }
  bool EndArray(rapidjson::SizeType /*element_count*/) { return Leave(); }

  bool too_deep() const { return too_deep_; }

 private:
  bool Enter() {
    if (depth_ >= max_depth_) {
      too_deep_ = true;
      return false;
    }
    ++depth_;
    return true;
  }
  bool Leave() {
    --depth_;
    return true;
  }

  const int max_depth_;
  int depth_ = 0;
  bool too_deep_ = false;
};

// The iterative parser keeps its state on a heap stack instead of the call
// stack (deep input cannot overflow it), and encoding validation rejects
// invalid UTF-8 inside strings; outside strings any non-ASCII byte is a
// syntax error anyway. Without kParseStopWhenDoneFlag RapidJSON requires the
// whole input to be one value with only whitespace around it (RFC 8259
// `JSON-text`), and the default flags allow no comments, trailing commas,
// NaN or Infinity.
//
// Where RFC 8259 lets a parser choose, RapidJSON refuses a number that
// overflows a double ("1e400"; section 6 lets implementations limit range)
// and an escaped high surrogate without its low half ("\ud800"; section 8.2
// leaves unpaired surrogates unpredictable), and accepts a lone escaped low
// surrogate. attributes_test pins these choices.
constexpr unsigned kParseFlags =
    rapidjson::kParseIterativeFlag | rapidjson::kParseValidateEncodingFlag;

}  // namespace

absl::Status ValidateAttributes(absl::string_view text, size_t max_bytes, int max_depth) {
  // Size first: a 10 MB body is refused without being read.
  if (text.size() > max_bytes) return MakeError(ErrorCode::kAttributesTooLong);
  // An empty text is no JSON value (and may have a null data pointer, which
  // memchr must not see).
  if (text.empty()) return MakeError(ErrorCode::kAttributesNotValidJson);
  // RapidJSON streams report '\0' at the end of input, so an embedded NUL
  // would read as a premature end; JSON forbids raw control characters in
  // strings and NUL anywhere else, so any NUL byte is invalid.
  if (std::memchr(text.data(), '\0', text.size()) != nullptr) {
    return MakeError(ErrorCode::kAttributesNotValidJson);
  }
  // MemoryStream reads exactly `size` bytes: `text` need not be terminated.
  rapidjson::MemoryStream stream(text.data(), text.size());
  DepthLimitHandler handler(max_depth);
  rapidjson::Reader reader;
  const rapidjson::ParseResult result = reader.Parse<kParseFlags>(stream, handler);
  if (result) return absl::OkStatus();
  if (handler.too_deep()) return MakeError(ErrorCode::kAttributesTooLong);
  return MakeError(ErrorCode::kAttributesNotValidJson);
}

}  // namespace internal
}  // namespace userstore
