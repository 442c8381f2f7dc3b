// Shared pieces of the fuzz targets (fuzz/*_fuzzer.cc): a check macro that
// aborts with a message, a reader that turns fuzz bytes into choices, and
// reference implementations of the text and JSON rules of SEMANTICS.md,
// written independently of core/ so that the targets can compare the two.
//
// Everything here is header-only and used by one translation unit per binary.

#ifndef USERSTORE_FUZZ_FUZZ_COMMON_H_
#define USERSTORE_FUZZ_FUZZ_COMMON_H_

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "rapidjson/document.h"
#include "rapidjson/error/en.h"

#include "userstore/rest.h"
#include "userstore/status.h"

namespace userstore {
namespace fuzz {

// FUZZ_CHECK(cond, printf-args...): a failed property. Prints the condition,
// the location and the message, then aborts, which libFuzzer (or ctest, for
// replay_main.cc) reports as a crash with the input that caused it.
#define FUZZ_CHECK(cond, ...)                                                                \
  do {                                                                                       \
    if (!(cond)) {                                                                           \
      std::fprintf(stderr, "\n*** FUZZ_CHECK failed at %s:%d: %s\n*** ", __FILE__, __LINE__, \
                   #cond);                                                                   \
      std::fprintf(stderr, __VA_ARGS__);                                                     \
      std::fprintf(stderr, "\n");                                                            \
      std::abort();                                                                          \
    }                                                                                        \
  } while (0)

// Printable form of a byte string for failure messages: non-printable bytes
// as \xNN, cut at `max` bytes.
inline std::string Escape(absl::string_view s, size_t max = 300) {
  static const char kHex[] = "0123456789abcdef";
  std::string out;
  for (size_t i = 0; i < s.size() && i < max; ++i) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    if (c >= 0x20 && c < 0x7f && c != '\\') {
      out.push_back(static_cast<char>(c));
    } else {
      out += "\\x";
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    }
  }
  if (s.size() > max) out += "...(" + std::to_string(s.size()) + " bytes)";
  return out;
}

// ByteReader: consumes fuzz input as a stream of small decisions. Reading past
// the end yields zeros, so every input is a complete script.
class ByteReader {
 public:
  ByteReader(const uint8_t* data, size_t size) : data_(data), size_(size) {}

  bool empty() const { return pos_ >= size_; }
  size_t remaining() const { return pos_ < size_ ? size_ - pos_ : 0; }

  uint8_t Byte() { return pos_ < size_ ? data_[pos_++] : 0; }
  bool Bool() { return (Byte() & 1) != 0; }
  // A value in [0, n). REQUIRES: n > 0.
  size_t Below(size_t n) { return n <= 256 ? Byte() % n : (Byte() | (Byte() << 8)) % n; }
  uint64_t U64() {
    uint64_t v = 0;
    for (int i = 0; i < 8; ++i) v = (v << 8) | Byte();
    return v;
  }
  // Up to `max` raw bytes, the length taken from the next byte.
  std::string Bytes(size_t max) {
    size_t n = Byte();
    if (max < 255) n %= (max + 1);
    if (n > remaining()) n = remaining();
    std::string out(reinterpret_cast<const char*>(data_ + pos_), n);
    pos_ += n;
    return out;
  }
  template <typename T, size_t N>
  const T& Pick(const T (&options)[N]) {
    return options[Below(N)];
  }
  template <typename T>
  const T& Pick(const std::vector<T>& options) {
    return options[Below(options.size())];
  }

 private:
  const uint8_t* data_;
  size_t size_;
  size_t pos_ = 0;
};

// --- Reference text rules (SEMANTICS 2), independent of core/text.cc --------

// Decodes one UTF-8 sequence at `s[*i]` under RFC 3629 (no overlong forms, no
// surrogates, nothing above U+10FFFF). Returns the code point and advances,
// or returns -1.
inline int32_t RefDecodeUtf8(absl::string_view s, size_t* i) {
  const unsigned char c0 = static_cast<unsigned char>(s[*i]);
  int need;
  int32_t cp;
  int32_t min;
  if (c0 < 0x80) {
    ++*i;
    return c0;
  } else if (c0 >= 0xC2 && c0 <= 0xDF) {
    need = 1, cp = c0 & 0x1F, min = 0x80;
  } else if (c0 >= 0xE0 && c0 <= 0xEF) {
    need = 2, cp = c0 & 0x0F, min = 0x800;
  } else if (c0 >= 0xF0 && c0 <= 0xF4) {
    need = 3, cp = c0 & 0x07, min = 0x10000;
  } else {
    return -1;
  }
  if (s.size() - *i <= static_cast<size_t>(need)) return -1;
  for (int k = 1; k <= need; ++k) {
    const unsigned char c = static_cast<unsigned char>(s[*i + k]);
    if ((c & 0xC0) != 0x80) return -1;
    cp = (cp << 6) | (c & 0x3F);
  }
  if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return -1;
  *i += need + 1;
  return cp;
}

// Valid UTF-8 without NUL: the rule for every text parameter.
inline bool RefIsValidText(absl::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    const int32_t cp = RefDecodeUtf8(s, &i);
    if (cp <= 0) return false;
  }
  return true;
}

// Code points of a valid text.
inline size_t RefCodePoints(absl::string_view s) {
  size_t n = 0;
  for (char c : s) n += (static_cast<unsigned char>(c) & 0xC0) != 0x80;
  return n;
}

// `^{prefix}[0-9a-fA-F]{32}$`.
inline bool RefSidShaped(absl::string_view prefix, absl::string_view s) {
  if (s.size() != prefix.size() + 32 || s.substr(0, prefix.size()) != prefix) return false;
  for (char c : s.substr(prefix.size())) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'))) {
      return false;
    }
  }
  return true;
}

// --- Reference JSON rules (RFC 8259), independent of core/attributes.cc -----

// The verdict of RefCheckJson. `kUnknown` marks texts where RFC 8259 leaves
// the outcome to the implementation: a \u escape of a lone surrogate or of
// U+0000 (section 8.2). A store may accept or refuse them.
//
// Numbers beyond the range of a double are valid: the store never reads
// numbers and accepts them (a fixed finding, docs/reliability.md and
// tests/regress/attributes_big_number_test.cc); `huge_number` records that
// one was seen, so that the fuzzer keeps checking that they pass.
struct RefJson {
  enum Verdict { kValid, kInvalid, kUnknown };
  Verdict verdict = kInvalid;
  // Deepest array/object nesting seen before the end of the text (or before
  // the first error, for an invalid one).
  size_t max_depth = 0;
  // A number beyond the range of a double was seen (see above).
  bool huge_number = false;
};

namespace ref_json_internal {

inline bool IsWs(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }
inline bool IsDigit(char c) { return c >= '0' && c <= '9'; }
inline int Hex(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}
inline int Hex4(absl::string_view s, size_t i) {
  if (s.size() - i < 4) return -1;
  int v = 0;
  for (size_t k = 0; k < 4; ++k) {
    const int h = Hex(s[i + k]);
    if (h < 0) return -1;
    v = v * 16 + h;
  }
  return v;
}

// Parses a string starting at the opening quote; returns false on error.
inline bool String(absl::string_view s, size_t* i, bool* unknown) {
  ++*i;  // '"'
  while (*i < s.size()) {
    const unsigned char c = static_cast<unsigned char>(s[*i]);
    if (c == '"') {
      ++*i;
      return true;
    }
    if (c < 0x20) return false;
    if (c == '\\') {
      if (s.size() - *i < 2) return false;
      const char e = s[*i + 1];
      if (e == 'u') {
        const int cp = Hex4(s, *i + 2);
        if (cp < 0) return false;
        *i += 6;
        if (cp == 0) *unknown = true;
        if (cp >= 0xD800 && cp <= 0xDBFF) {
          const bool pair = s.size() - *i >= 6 && s[*i] == '\\' && s[*i + 1] == 'u' &&
                            Hex4(s, *i + 2) >= 0xDC00 && Hex4(s, *i + 2) <= 0xDFFF;
          if (pair) {
            *i += 6;
          } else {
            *unknown = true;
          }
        } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
          *unknown = true;
        }
        continue;
      }
      if (e != '"' && e != '\\' && e != '/' && e != 'b' && e != 'f' && e != 'n' && e != 'r' &&
          e != 't') {
        return false;
      }
      *i += 2;
      continue;
    }
    if (c < 0x80) {
      ++*i;
      continue;
    }
    if (RefDecodeUtf8(s, i) < 0) return false;
  }
  return false;
}

// Parses a number; sets *huge for one a double cannot hold (or close to it).
inline bool Number(absl::string_view s, size_t* i, bool* huge) {
  size_t int_digits = 0;
  uint64_t exp = 0;
  bool exp_negative = false;
  if (*i < s.size() && s[*i] == '-') ++*i;
  if (*i >= s.size()) return false;
  if (s[*i] == '0') {
    ++*i;
  } else if (IsDigit(s[*i])) {
    while (*i < s.size() && IsDigit(s[*i])) ++*i, ++int_digits;
  } else {
    return false;
  }
  if (*i < s.size() && s[*i] == '.') {
    ++*i;
    if (*i >= s.size() || !IsDigit(s[*i])) return false;
    while (*i < s.size() && IsDigit(s[*i])) ++*i;
  }
  if (*i < s.size() && (s[*i] == 'e' || s[*i] == 'E')) {
    ++*i;
    if (*i < s.size() && (s[*i] == '+' || s[*i] == '-')) exp_negative = s[(*i)++] == '-';
    if (*i >= s.size() || !IsDigit(s[*i])) return false;
    while (*i < s.size() && IsDigit(s[*i])) {
      if (exp < 100000) exp = exp * 10 + static_cast<uint64_t>(s[*i] - '0');
      ++*i;
    }
  }
  if (int_digits > 300 || (!exp_negative && exp + int_digits > 300)) *huge = true;
  return true;
}

}  // namespace ref_json_internal

// An iterative RFC 8259 validator (any top-level value, strict UTF-8, no raw
// control characters in strings). Never recurses.
inline RefJson RefCheckJson(absl::string_view s) {
  using namespace ref_json_internal;  // NOLINT(google-build-using-namespace)
  RefJson out;
  std::vector<char> stack;
  bool unknown = false;
  size_t i = 0;
  auto skip_ws = [&] {
    while (i < s.size() && IsWs(s[i])) ++i;
  };
  auto fail = [&] {
    out.verdict = RefJson::kInvalid;
    return out;
  };
  // Each turn parses one value, then the separators that follow it.
  while (true) {
    skip_ws();
    if (i >= s.size()) return fail();
    const char c = s[i];
    bool value_done = true;
    if (c == '{' || c == '[') {
      stack.push_back(c);
      if (stack.size() > out.max_depth) out.max_depth = stack.size();
      ++i;
      skip_ws();
      if (i < s.size() && s[i] == (c == '{' ? '}' : ']')) {
        stack.pop_back();
        ++i;
      } else if (c == '{') {
        if (i >= s.size() || s[i] != '"' || !String(s, &i, &unknown)) return fail();
        skip_ws();
        if (i >= s.size() || s[i] != ':') return fail();
        ++i;
        value_done = false;
      } else {
        value_done = false;
      }
    } else if (c == '"') {
      if (!String(s, &i, &unknown)) return fail();
    } else if (c == '-' || IsDigit(c)) {
      if (!Number(s, &i, &out.huge_number)) return fail();
    } else if (s.substr(i, 4) == "true" || s.substr(i, 4) == "null") {
      i += 4;
    } else if (s.substr(i, 5) == "false") {
      i += 5;
    } else {
      return fail();
    }
    if (!value_done) continue;
    // After a value: close containers or move to the next element.
    while (true) {
      skip_ws();
      if (stack.empty()) {
        if (i != s.size()) return fail();
        out.verdict = unknown ? RefJson::kUnknown : RefJson::kValid;
        return out;
      }
      if (i >= s.size()) return fail();
      const char top = stack.back();
      if (s[i] == (top == '{' ? '}' : ']')) {
        stack.pop_back();
        ++i;
        continue;
      }
      if (s[i] != ',') return fail();
      ++i;
      if (top == '{') {
        skip_ws();
        if (i >= s.size() || s[i] != '"' || !String(s, &i, &unknown)) return fail();
        skip_ws();
        if (i >= s.size() || s[i] != ':') return fail();
        ++i;
      }
      break;
    }
  }
}

// --- Response checks ----------------------------------------------------------

// Parses `text` as strict JSON (iterative, UTF-8 validated). False when it is
// not JSON.
inline bool ParseStrictJson(absl::string_view text, rapidjson::Document* doc) {
  doc->Parse<rapidjson::kParseIterativeFlag | rapidjson::kParseValidateEncodingFlag>(text.data(),
                                                                                     text.size());
  return !doc->HasParseError();
}

inline bool IsAllowedStatus(int status) {
  switch (status) {
    case 200:
    case 201:
    case 204:
    case 400:
    case 403:
    case 404:
    case 405:
    case 409:
      return true;
    default:
      return false;
  }
}

// Checks a Twilio error body `{"code", "message", "more_info", "status"}`
// against the HTTP status it came with.
inline void CheckErrorBody(const rapidjson::Value& body, int http_status,
                           absl::string_view context) {
  FUZZ_CHECK(body.IsObject(), "error body is not an object: %s", Escape(context).c_str());
  const auto code = body.FindMember("code");
  const auto message = body.FindMember("message");
  const auto more_info = body.FindMember("more_info");
  const auto status = body.FindMember("status");
  FUZZ_CHECK(code != body.MemberEnd() && code->value.IsInt(), "error body without integer code: %s",
             Escape(context).c_str());
  FUZZ_CHECK(message != body.MemberEnd() && message->value.IsString() &&
                 message->value.GetStringLength() > 0,
             "error body without message: %s", Escape(context).c_str());
  FUZZ_CHECK(more_info != body.MemberEnd() && more_info->value.IsString(),
             "error body without more_info: %s", Escape(context).c_str());
  FUZZ_CHECK(status != body.MemberEnd() && status->value.IsInt(),
             "error body without integer status: %s", Escape(context).c_str());
  FUZZ_CHECK(status->value.GetInt() == http_status, "body status %d != HTTP status %d: %s",
             status->value.GetInt(), http_status, Escape(context).c_str());
  const int c = code->value.GetInt();
  const ErrorInfo* info = LookupError(static_cast<ErrorCode>(c));
  FUZZ_CHECK(info != nullptr, "unknown error code %d: %s", c, Escape(context).c_str());
  FUZZ_CHECK(info->http_status == http_status, "code %d is HTTP %d, answered %d: %s", c,
             info->http_status, http_status, Escape(context).c_str());
  const std::string want = "https://www.twilio.com/docs/errors/" + std::to_string(c);
  FUZZ_CHECK(more_info->value.GetString() == want, "more_info %s != %s",
             more_info->value.GetString(), want.c_str());
}

// Checks one dispatcher response: an allowed status, an empty body exactly for
// 204, otherwise a JSON object, and a well-formed error body for 4xx. Leaves
// the parsed body in `doc` (null for 204).
inline void CheckHttpResponse(const HttpResponse& response, rapidjson::Document* doc,
                              absl::string_view context) {
  FUZZ_CHECK(IsAllowedStatus(response.status), "status %d not allowed for %s (body %s)",
             response.status, Escape(context).c_str(), Escape(response.body).c_str());
  if (response.status == 204) {
    FUZZ_CHECK(response.body.empty(), "204 with a body: %s", Escape(response.body).c_str());
    doc->SetNull();
    return;
  }
  FUZZ_CHECK(ParseStrictJson(response.body, doc), "body is not valid JSON (%s at %zu): %s",
             rapidjson::GetParseError_En(doc->GetParseError()), doc->GetErrorOffset(),
             Escape(response.body).c_str());
  FUZZ_CHECK(doc->IsObject(), "body is not an object: %s", Escape(response.body).c_str());
  if (response.status >= 400) CheckErrorBody(*doc, response.status, response.body);
}

}  // namespace fuzz
}  // namespace userstore

#endif  // USERSTORE_FUZZ_FUZZ_COMMON_H_
