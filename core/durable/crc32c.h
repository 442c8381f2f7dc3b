// CRC32C (Castagnoli, polynomial 0x1EDC6F41, reflected 0x82F63B78), the
// checksum of journal records and checkpoints (docs/file-format.md). The same
// function and the same masking as leveldb's util/crc32c.h, so that a value
// computed here matches every other CRC32C implementation (RFC 3720 test
// vectors in tests/durable/crc32c_test.cc).
//
// Two implementations, chosen once per process: the SSE4.2 `crc32`
// instruction when the CPU has it (x86-64), and a portable slicing-by-8 table
// loop otherwise. Both give the same values on every input.
//
// Thread safety: every function is pure and may be called from any number of
// threads. Complexity: linear in `n`.

#ifndef USERSTORE_CORE_DURABLE_CRC32C_H_
#define USERSTORE_CORE_DURABLE_CRC32C_H_

#include <cstddef>
#include <cstdint>

namespace userstore {
namespace internal {
namespace crc32c {

// crc32c::Extend()
//
// The CRC32C of A + data[0, n), given `init_crc` = Value(A). Extend(0, ...) is
// Value(...). `data` may be null when `n` is 0.
uint32_t Extend(uint32_t init_crc, const char* data, size_t n);

// crc32c::Value()
//
// The CRC32C of data[0, n).
inline uint32_t Value(const char* data, size_t n) { return Extend(0, data, n); }

// crc32c::IsHardwareAccelerated()
//
// True when Extend() uses the SSE4.2 `crc32` instruction.
bool IsHardwareAccelerated();

// The delta added by Mask() (leveldb's kMaskDelta).
inline constexpr uint32_t kMaskDelta = 0xa282ead8ul;

// crc32c::Mask()
//
// A masked form of `crc`, for storing next to the data it covers. Computing
// the CRC of a string that contains embedded CRCs is problematic (the CRC of
// data followed by its own CRC is a constant), so a stored CRC is always
// masked: rotated right by 15 bits and offset by kMaskDelta.
inline uint32_t Mask(uint32_t crc) { return ((crc >> 15) | (crc << 17)) + kMaskDelta; }

// crc32c::Unmask()
//
// The crc whose Mask() is `masked_crc`.
inline uint32_t Unmask(uint32_t masked_crc) {
  const uint32_t rot = masked_crc - kMaskDelta;
  return ((rot >> 17) | (rot << 15));
}

// --- implementation details, exposed for the tests ---------------------------

// The portable slicing-by-8 implementation of Extend().
uint32_t ExtendPortable(uint32_t init_crc, const char* data, size_t n);

// The SSE4.2 implementation of Extend(). REQUIRES: IsHardwareAccelerated().
uint32_t ExtendHardware(uint32_t init_crc, const char* data, size_t n);

}  // namespace crc32c
}  // namespace internal
}  // namespace userstore

#endif  // USERSTORE_CORE_DURABLE_CRC32C_H_
