// The attributes validator the store used before its dedicated one
// (core/attributes.cc): RapidJSON 1.1.0's iterative SAX reader with UTF-8
// validation, a depth-limiting handler, and a stream that hides number digits
// that cannot change the verdict. The attributes fuzzer requires the store's
// validator to give exactly this verdict on every input.

#ifndef USERSTORE_FUZZ_RAPIDJSON_ATTRIBUTES_H_
#define USERSTORE_FUZZ_RAPIDJSON_ATTRIBUTES_H_

#include <cstddef>
#include <cstring>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "rapidjson/encodings.h"
#include "rapidjson/reader.h"

#include "userstore/status.h"

namespace userstore {
namespace fuzz {
namespace rapidjson_reference {

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

// RapidJSON 1.1.0 converts every number to a double while it parses and fails
// with kParseErrorNumberTooBig past DBL_MAX ("1e400", a 309-digit integer,
// even "0e400"), with or without kParseNumbersAsStringsFlag. SEMANTICS 2 takes
// any RFC 8259 JSON text and the store never reads numbers, so the reader is
// fed through this stream, which hides digits that cannot change the verdict:
// outside strings, an integer part keeps its first kMaxIntDigits digits and an
// exponent its first kMaxExpDigits. What RapidJSON then sees is at most
// 15 digits times 10^(99 + fraction digits), always a finite double. Only the
// tail of a run of two or more digits is ever hidden, and a digit run is
// grammatical or not whatever its length past its first two digits ("01" and
// "1e" stay as they are), so the verdict is RFC 8259's on the original text.
// String boundaries are tracked as RapidJSON reads them: a quote opens or
// closes a string and a backslash inside one escapes the next byte.
class NumberCappingStream {
 public:
  using Ch = char;

  NumberCappingStream(const char* begin, size_t size)
      : begin_(begin), cur_(begin), end_(begin + size) {}

  Ch Peek() const { return cur_ == end_ ? '\0' : *cur_; }
  size_t Tell() const { return static_cast<size_t>(cur_ - begin_); }

  Ch Take() {
    if (cur_ == end_) return '\0';
    const char c = *cur_++;
    Advance(c);
    return c;
  }

  // Never called by a non-in-situ Reader; declared for the Stream concept.
  Ch* PutBegin() { return nullptr; }
  void Put(Ch /*c*/) {}
  void Flush() {}
  size_t PutEnd(Ch* /*begin*/) { return 0; }

 private:
  static constexpr int kMaxIntDigits = 15;
  static constexpr int kMaxExpDigits = 2;

  enum class State { kOutside, kString, kEscape, kInt, kFrac, kExpSign, kExp };

  static bool IsDigit(char c) { return c >= '0' && c <= '9'; }

  void Advance(char c) {
    switch (state_) {
      case State::kString:
        if (c == '\\') state_ = State::kEscape;
        if (c == '"') state_ = State::kOutside;
        return;
      case State::kEscape:
        state_ = State::kString;
        return;
      case State::kInt:
        if (IsDigit(c)) {
          if (++digits_ >= kMaxIntDigits) SkipDigits();
          return;
        }
        break;
      case State::kFrac:
        if (IsDigit(c)) return;
        break;
      case State::kExpSign:
        if (c == '+' || c == '-') {
          state_ = State::kExp;
          return;
        }
        if (IsDigit(c)) {
          state_ = State::kExp;
          if (++digits_ >= kMaxExpDigits) SkipDigits();
          return;
        }
        break;
      case State::kExp:
        if (IsDigit(c)) {
          if (++digits_ >= kMaxExpDigits) SkipDigits();
          return;
        }
        break;
      case State::kOutside:
        break;
    }
    // `c` is outside any string: it moves a number on to its fraction or
    // exponent, or ends whatever number was being read.
    if (c == '.' && state_ == State::kInt) {
      state_ = State::kFrac;
      return;
    }
    if ((c == 'e' || c == 'E') && (state_ == State::kInt || state_ == State::kFrac)) {
      state_ = State::kExpSign;
      digits_ = 0;
      return;
    }
    state_ = State::kOutside;
    if (c == '"') {
      state_ = State::kString;
    } else if (c == '-') {
      state_ = State::kInt;
      digits_ = 0;
    } else if (IsDigit(c)) {
      state_ = State::kInt;
      digits_ = 1;
      if (digits_ >= kMaxIntDigits) SkipDigits();
    }
  }

  // Hides the rest of the current digit run from the reader.
  void SkipDigits() {
    while (cur_ != end_ && IsDigit(*cur_)) ++cur_;
  }

  const char* const begin_;
  const char* cur_;
  const char* const end_;
  State state_ = State::kOutside;
  int digits_ = 0;
};

// The iterative parser keeps its state on a heap stack instead of the call
// stack (deep input cannot overflow it), and encoding validation rejects
// invalid UTF-8 inside strings; outside strings any non-ASCII byte is a
// syntax error anyway. Without kParseStopWhenDoneFlag RapidJSON requires the
// whole input to be one value with only whitespace around it (RFC 8259
// `JSON-text`), and the default flags allow no comments, trailing commas,
// NaN or Infinity.
//
// Where RFC 8259 lets a parser choose, numbers of any size are accepted
// (NumberCappingStream); an escaped high surrogate without its low half
// ("\ud800"; section 8.2 leaves unpaired surrogates unpredictable) is refused
// and a lone escaped low surrogate accepted, as RapidJSON does.
// attributes_test pins these choices.
constexpr unsigned kParseFlags =
    rapidjson::kParseIterativeFlag | rapidjson::kParseValidateEncodingFlag;

}  // namespace rapidjson_reference

inline absl::Status RapidJsonValidateAttributes(absl::string_view text, size_t max_bytes,
                                                int max_depth) {
  // Size first: a 10 MB body is refused without being read.
  if (text.size() > max_bytes)
    return userstore::MakeError(userstore::ErrorCode::kAttributesTooLong);
  // An empty text is no JSON value (and may have a null data pointer, which
  // memchr must not see).
  if (text.empty()) return userstore::MakeError(userstore::ErrorCode::kAttributesNotValidJson);
  // RapidJSON streams report '\0' at the end of input, so an embedded NUL
  // would read as a premature end; JSON forbids raw control characters in
  // strings and NUL anywhere else, so any NUL byte is invalid.
  if (std::memchr(text.data(), '\0', text.size()) != nullptr) {
    return userstore::MakeError(userstore::ErrorCode::kAttributesNotValidJson);
  }
  // The stream reads exactly `size` bytes: `text` need not be terminated.
  rapidjson_reference::NumberCappingStream stream(text.data(), text.size());
  rapidjson_reference::DepthLimitHandler handler(max_depth);
  rapidjson::Reader reader;
  const rapidjson::ParseResult result =
      reader.Parse<rapidjson_reference::kParseFlags>(stream, handler);
  if (result) return absl::OkStatus();
  if (handler.too_deep()) return userstore::MakeError(userstore::ErrorCode::kAttributesTooLong);
  return userstore::MakeError(userstore::ErrorCode::kAttributesNotValidJson);
}

}  // namespace fuzz
}  // namespace userstore

#endif  // USERSTORE_FUZZ_RAPIDJSON_ATTRIBUTES_H_
