// The identity index's equality on raw bytes (IdentityEq::BytesEqual): every
// length from 0 to 40 (the 8-to-16-byte two-word path and memcmp around it),
// equal copies at different addresses, and a difference at every position,
// including the bytes the two overlapping words share.

#include "core/user_table.h"

#include <string>

#include "gtest/gtest.h"

namespace userstore {
namespace internal {
namespace {

TEST(IdentityEqTest, BytesEqualAtEveryLengthAndPosition) {
  for (size_t n = 0; n <= 40; ++n) {
    std::string a;
    for (size_t i = 0; i < n; ++i) a.push_back(static_cast<char>('a' + (i * 7) % 26));
    const std::string b = a;  // another buffer, same bytes
    ASSERT_TRUE(IdentityEq::BytesEqual(a, b)) << n;
    for (size_t i = 0; i < n; ++i) {
      for (int flip : {1, 0x80}) {
        std::string c = a;
        c[i] = static_cast<char>(c[i] ^ flip);
        ASSERT_FALSE(IdentityEq::BytesEqual(a, c)) << n << " at " << i;
        ASSERT_FALSE(IdentityEq::BytesEqual(c, a)) << n << " at " << i;
      }
    }
    // Same prefix, different length.
    ASSERT_FALSE(IdentityEq::BytesEqual(a, a + "x")) << n;
    if (n > 0) {
      ASSERT_FALSE(IdentityEq::BytesEqual(a, a.substr(0, n - 1))) << n;
    }
  }
}

}  // namespace
}  // namespace internal
}  // namespace userstore
