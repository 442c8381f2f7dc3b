#include "core/durable/crc32c.h"

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace userstore {
namespace internal {
namespace crc32c {
namespace {

// The test vectors of RFC 3720 section B.4 (also leveldb's crc32c_test).
TEST(Crc32c, StandardResults) {
  char buf[32];

  std::memset(buf, 0, sizeof(buf));
  EXPECT_EQ(0x8a9136aau, Value(buf, sizeof(buf)));

  std::memset(buf, 0xff, sizeof(buf));
  EXPECT_EQ(0x62a8ab43u, Value(buf, sizeof(buf)));

  for (int i = 0; i < 32; ++i) buf[i] = static_cast<char>(i);
  EXPECT_EQ(0x46dd794eu, Value(buf, sizeof(buf)));

  for (int i = 0; i < 32; ++i) buf[i] = static_cast<char>(31 - i);
  EXPECT_EQ(0x113fdb5cu, Value(buf, sizeof(buf)));

  const uint8_t iscsi_read[48] = {
      0x01, 0xc0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
      0x00, 0x00, 0x00, 0x00, 0x14, 0x00, 0x00, 0x00, 0x00, 0x00, 0x04, 0x00,
      0x00, 0x00, 0x00, 0x14, 0x00, 0x00, 0x00, 0x18, 0x28, 0x00, 0x00, 0x00,
      0x00, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
  };
  EXPECT_EQ(0xd9963a56u, Value(reinterpret_cast<const char*>(iscsi_read), sizeof(iscsi_read)));
}

// The "check" value of the CRC-32C catalogue entry.
TEST(Crc32c, CheckValue) { EXPECT_EQ(0xe3069283u, Value("123456789", 9)); }

TEST(Crc32c, EmptyInputIsZeroAndExtendIsIdentity) {
  EXPECT_EQ(0u, Value(nullptr, 0));
  EXPECT_EQ(0x12345678u, Extend(0x12345678u, nullptr, 0));
  EXPECT_EQ(0u, ExtendPortable(0, nullptr, 0));
}

TEST(Crc32c, DifferentInputsDiffer) {
  EXPECT_NE(Value("a", 1), Value("foo", 3));
  EXPECT_NE(Value("ab", 2), Value("ba", 2));
}

TEST(Crc32c, ExtendEqualsValueOfTheConcatenation) {
  EXPECT_EQ(Value("hello world", 11), Extend(Value("hello ", 6), "world", 5));

  std::mt19937_64 rng(7);
  std::string data(1000, '\0');
  for (char& c : data) c = static_cast<char>(rng());
  const uint32_t whole = Value(data.data(), data.size());
  for (size_t split = 0; split <= data.size(); split += 37) {
    const uint32_t head = Value(data.data(), split);
    EXPECT_EQ(whole, Extend(head, data.data() + split, data.size() - split)) << split;
    EXPECT_EQ(whole, ExtendPortable(ExtendPortable(0, data.data(), split), data.data() + split,
                                    data.size() - split))
        << split;
  }
}

TEST(Crc32c, PortableMatchesTheBitwiseDefinition) {
  // The CRC bit by bit, straight from the polynomial: the reference both
  // table-driven and hardware paths must equal.
  auto bitwise = [](const std::string& s) {
    uint32_t crc = 0xffffffffu;
    for (unsigned char c : s) {
      crc ^= c;
      for (int k = 0; k < 8; ++k) crc = (crc >> 1) ^ (0x82f63b78u & (0u - (crc & 1u)));
    }
    return crc ^ 0xffffffffu;
  };
  std::mt19937_64 rng(11);
  for (size_t len = 0; len <= 100; ++len) {
    std::string s(len, '\0');
    for (char& c : s) c = static_cast<char>(rng());
    EXPECT_EQ(bitwise(s), ExtendPortable(0, s.data(), s.size())) << len;
    EXPECT_EQ(bitwise(s), Value(s.data(), s.size())) << len;
  }
}

TEST(Crc32c, HardwareAndPortableAgreeOnEveryLengthAndAlignment) {
  if (!IsHardwareAccelerated()) {
    GTEST_SKIP() << "this CPU has no SSE4.2 crc32 instruction";
  }
  std::mt19937_64 rng(42);
  std::vector<char> buffer(300 + 16);
  for (char& c : buffer) c = static_cast<char>(rng());
  for (size_t start = 0; start < 16; ++start) {
    for (size_t len = 0; start + len <= buffer.size() && len <= 300; ++len) {
      const char* p = buffer.data() + start;
      const uint32_t init = static_cast<uint32_t>(rng());
      ASSERT_EQ(ExtendPortable(0, p, len), ExtendHardware(0, p, len))
          << "start " << start << " len " << len;
      ASSERT_EQ(ExtendPortable(init, p, len), ExtendHardware(init, p, len))
          << "start " << start << " len " << len;
    }
  }
}

TEST(Crc32c, ExtendUsesTheDetectedPath) {
  std::string s(77, 'x');
  const uint32_t expected = ExtendPortable(0, s.data(), s.size());
  EXPECT_EQ(expected, Value(s.data(), s.size()));
  if (IsHardwareAccelerated()) {
    EXPECT_EQ(expected, ExtendHardware(0, s.data(), s.size()));
  }
}

TEST(Crc32c, MaskRoundTrips) {
  const uint32_t crc = Value("foo", 3);
  EXPECT_NE(crc, Mask(crc));
  EXPECT_NE(crc, Mask(Mask(crc)));
  EXPECT_EQ(crc, Unmask(Mask(crc)));
  EXPECT_EQ(crc, Unmask(Unmask(Mask(Mask(crc)))));

  std::mt19937 rng(3);
  for (int i = 0; i < 10000; ++i) {
    const uint32_t c = static_cast<uint32_t>(rng());
    ASSERT_NE(c, Mask(c)) << c;
    ASSERT_EQ(c, Unmask(Mask(c))) << c;
  }
  for (uint32_t c : {0u, 1u, 0xffffffffu, 0x80000000u, kMaskDelta}) {
    EXPECT_NE(c, Mask(c)) << c;
    EXPECT_EQ(c, Unmask(Mask(c))) << c;
  }
}

}  // namespace
}  // namespace crc32c
}  // namespace internal
}  // namespace userstore
