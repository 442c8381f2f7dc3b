#include "core/attributes.h"

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

#include "userstore/status.h"

#include "core/text.h"

namespace userstore {
namespace internal {
namespace {

// A single-pass, non-recursive RFC 8259 validator. It only answers yes or no,
// so unlike a parser it never copies or decodes string contents: a string is
// a scan for the next quote, backslash or control byte (eight bytes at a
// time), which is where a general-purpose reader spends most of its time on
// small documents (it copies every string byte it validates; measured 259 ns
// for 64 bytes against this validator's figure in docs/performance.md).
//
// Verdicts are RapidJSON 1.1.0's with kParseValidateEncodingFlag (the
// validator this one replaced, which fuzz/attributes_fuzzer.cc keeps as a
// differential oracle), including its order: the first failing event in text
// order decides, so a text nested too deep before its first error is 50303
// and one with an error before its nesting limit is 50304.
//   - UTF-8 is strict (no overlong forms, surrogates, or above U+10FFFF); the
//     first malformed byte is an error at its position, inside a string or
//     not (outside strings no non-ASCII byte is grammatical anyway).
//   - Escapes: \" \\ \/ \b \f \n \r \t and \uXXXX (either case). A high
//     surrogate escape must be followed by an escaped low surrogate; a lone
//     low surrogate escape is accepted. \u0000 is accepted.
//   - Numbers follow the grammar at any length (no range check: the store
//     never reads them).
//   - Whitespace is space, tab, LF and CR; one value, nothing after it.
class Validator {
 public:
  Validator(const char* begin, const char* end, int max_depth)
      : p_(begin), end_(end), max_depth_(max_depth) {}

  enum Result { kValid, kInvalid, kTooDeep };

  Result Run() {
    // The states of an LL(1) parse, as gotos: `value` expects a value,
    // `key` a member name, `after` what follows a value.
  value:
    SkipSpace();
    if (p_ == end_) return kInvalid;
    switch (*p_) {
      case '{':
      case '[': {
        const char open = *p_++;
        if (depth_ >= max_depth_) return kTooDeep;
        Push(open);
        SkipSpace();
        if (p_ != end_ && *p_ == (open == '{' ? '}' : ']')) {
          ++p_;
          Pop();
          goto after;
        }
        if (open == '{') goto key;
        goto value;
      }
      case '"':
        if (!String()) return kInvalid;
        goto after;
      case 't':
        if (!Literal("true")) return kInvalid;
        goto after;
      case 'f':
        if (!Literal("false")) return kInvalid;
        goto after;
      case 'n':
        if (!Literal("null")) return kInvalid;
        goto after;
      default:
        if (!Number()) return kInvalid;
        goto after;
    }
  key:
    SkipSpace();
    if (p_ == end_ || *p_ != '"' || !String()) return kInvalid;
    SkipSpace();
    if (p_ == end_ || *p_ != ':') return kInvalid;
    ++p_;
    goto value;
  after:
    SkipSpace();
    if (depth_ == 0) return p_ == end_ ? kValid : kInvalid;
    if (p_ == end_) return kInvalid;
    if (*p_ == ',') {
      ++p_;
      if (Top() == '{') goto key;
      goto value;
    }
    if (*p_ == (Top() == '{' ? '}' : ']')) {
      ++p_;
      Pop();
      goto after;
    }
    return kInvalid;
  }

 private:
  static bool IsDigit(char c) { return c >= '0' && c <= '9'; }

  static int HexValue(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  }

  void SkipSpace() {
    while (p_ != end_ && (*p_ == ' ' || *p_ == '\n' || *p_ == '\r' || *p_ == '\t')) ++p_;
  }

  bool Literal(absl::string_view word) {
    if (static_cast<size_t>(end_ - p_) < word.size()) return false;
    if (std::memcmp(p_, word.data(), word.size()) != 0) return false;
    p_ += word.size();
    return true;
  }

  // -? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?
  bool Number() {
    if (*p_ == '-') ++p_;
    if (p_ == end_ || !IsDigit(*p_)) return false;
    if (*p_++ != '0') {
      while (p_ != end_ && IsDigit(*p_)) ++p_;
    }
    if (p_ != end_ && *p_ == '.') {
      ++p_;
      if (p_ == end_ || !IsDigit(*p_)) return false;
      while (p_ != end_ && IsDigit(*p_)) ++p_;
    }
    if (p_ != end_ && (*p_ == 'e' || *p_ == 'E')) {
      ++p_;
      if (p_ != end_ && (*p_ == '+' || *p_ == '-')) ++p_;
      if (p_ == end_ || !IsDigit(*p_)) return false;
      while (p_ != end_ && IsDigit(*p_)) ++p_;
    }
    return true;
  }

  // Four hex digits after "\u"; -1 when they are not there.
  int32_t Hex4() {
    if (end_ - p_ < 4) return -1;
    int32_t v = 0;
    for (int i = 0; i < 4; ++i) {
      const int d = HexValue(p_[i]);
      if (d < 0) return -1;
      v = (v << 4) | d;
    }
    p_ += 4;
    return v;
  }

  // REQUIRES: *p_ == '"'. Bytes are already known to be well-formed UTF-8.
  bool String() {
    ++p_;
    for (;;) {
      // Straight to the next quote, backslash or control byte.
      p_ += JsonPlainPrefix(absl::string_view(p_, static_cast<size_t>(end_ - p_)));
      if (p_ == end_) return false;
      const unsigned char c = static_cast<unsigned char>(*p_);
      if (c == '"') {
        ++p_;
        return true;
      }
      if (c < 0x20) return false;
      // A backslash.
      if (++p_ == end_) return false;
      switch (*p_++) {
        case '"':
        case '\\':
        case '/':
        case 'b':
        case 'f':
        case 'n':
        case 'r':
        case 't':
          break;
        case 'u': {
          const int32_t unit = Hex4();
          if (unit < 0) return false;
          if (unit >= 0xD800 && unit <= 0xDBFF) {
            if (end_ - p_ < 2 || p_[0] != '\\' || p_[1] != 'u') return false;
            p_ += 2;
            const int32_t low = Hex4();
            if (low < 0xDC00 || low > 0xDFFF) return false;
          }
          break;
        }
        default:
          return false;
      }
    }
  }

  // The stack of open containers ('{' or '['): the first kInline levels in
  // the validator itself, deeper ones (a max_depth above kInline) on the heap.
  static constexpr int kInline = 64;
  void Push(char open) {
    if (depth_ < kInline) {
      inline_[depth_] = open;
    } else {
      overflow_.push_back(open);
    }
    ++depth_;
  }
  char Top() const { return depth_ <= kInline ? inline_[depth_ - 1] : overflow_.back(); }
  void Pop() {
    if (depth_ > kInline) overflow_.pop_back();
    --depth_;
  }

  const char* p_;
  const char* const end_;
  const int max_depth_;
  int depth_ = 0;
  char inline_[kInline];
  std::vector<char> overflow_;
};

}  // namespace

absl::Status ValidateAttributes(absl::string_view text, size_t max_bytes, int max_depth) {
  // Size first: a 10 MB body is refused without being read.
  if (text.size() > max_bytes) return MakeError(ErrorCode::kAttributesTooLong);
  // An empty text is no JSON value (and may have a null data pointer, which
  // memchr must not see).
  if (text.empty()) return MakeError(ErrorCode::kAttributesNotValidJson);
  // JSON forbids raw control characters in strings and NUL anywhere else.
  if (std::memchr(text.data(), '\0', text.size()) != nullptr) {
    return MakeError(ErrorCode::kAttributesNotValidJson);
  }
  // The first malformed UTF-8 byte is an error at its position: the grammar
  // is checked up to it, and reaching it is a failure.
  const size_t valid = Utf8ValidPrefix(text);
  Validator validator(text.data(), text.data() + valid, max_depth);
  switch (validator.Run()) {
    case Validator::kValid:
      if (valid == text.size()) return absl::OkStatus();
      return MakeError(ErrorCode::kAttributesNotValidJson);
    case Validator::kTooDeep:
      return MakeError(ErrorCode::kAttributesTooLong);
    case Validator::kInvalid:
      break;
  }
  return MakeError(ErrorCode::kAttributesNotValidJson);
}

}  // namespace internal
}  // namespace userstore
