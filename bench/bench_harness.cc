// -----------------------------------------------------------------------------
// File: bench/bench_harness.cc
// -----------------------------------------------------------------------------
//
// The definitions behind bench_harness.h: SIDs, the data set, memory
// samples, temporary directories, the fixtures' bookkeeping and the
// registry. Linked into userstore_bench and into the companion binaries that
// reuse the harness (userstore_changelog_bench); each has its own main().

#include "bench/bench_harness.h"

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <vector>

#include <malloc.h>
#include <sys/stat.h>
#include <unistd.h>

namespace userstore_bench {
// --- SIDs ---------------------------------------------------------------------

namespace {
constexpr char kHex[] = "0123456789abcdef";

// 0..15 for a lower-case hex digit, 0xff otherwise. A table, not branches:
// SID digits are random, and a mispredicted branch per digit would also stop
// the CPU from overlapping one lookup's cache misses with the next.
struct HexTable {
  uint8_t v[256];
  constexpr HexTable() : v() {
    for (int i = 0; i < 256; ++i) v[i] = 0xff;
    for (int i = 0; i < 10; ++i) v['0' + i] = static_cast<uint8_t>(i);
    for (int i = 0; i < 6; ++i) v['a' + i] = static_cast<uint8_t>(10 + i);
  }
};
constexpr HexTable kHexTable;

void PutHex64(uint64_t v, char* out) {
  for (int i = 15; i >= 0; --i) {
    out[i] = kHex[v & 0xf];
    v >>= 4;
  }
}
}  // namespace

void FormatSid(const Sid128& sid, char out[34]) {
  out[0] = 'U';
  out[1] = 'S';
  PutHex64(sid.hi, out + 2);
  PutHex64(sid.lo, out + 18);
}

std::string SidString(const Sid128& sid) {
  std::string s(34, '\0');
  FormatSid(sid, &s[0]);
  return s;
}

bool ParseSid(absl::string_view text, Sid128* sid) {
  if (text.size() != 34 || text[0] != 'U' || text[1] != 'S') return false;
  uint64_t words[2] = {0, 0};
  uint8_t bad = 0;
  for (int w = 0; w < 2; ++w) {
    for (int i = 0; i < 16; ++i) {
      const uint8_t v = kHexTable.v[static_cast<uint8_t>(text[2 + w * 16 + i])];
      bad |= v;
      words[w] = (words[w] << 4) | (v & 0xf);
    }
  }
  if (bad & 0xf0) return false;
  sid->hi = words[0];
  sid->lo = words[1];
  return true;
}

// --- data ---------------------------------------------------------------------

namespace {

// "usr_" / "new_" + 8 hex digits of a bijective scramble of `i`.
void WriteIdentity(const char* prefix, uint32_t i, char* out) {
  std::memcpy(out, prefix, 4);
  uint32_t v = i * 0x9E3779B1u;
  for (int k = 11; k >= 4; --k) {
    out[k] = kHex[v & 0xf];
    v >>= 4;
  }
}

// A 64-byte JSON object: {"level":..,"score":..,"team":"..","vip":..,"pad":"xx"}.
std::string MakeAttributes(uint64_t r, const char* team) {
  char buf[96];
  int len = std::snprintf(buf, sizeof(buf),
                          "{\"level\":%u,\"score\":%u,\"team\":\"%s\",\"vip\":%s,\"pad\":\"",
                          static_cast<unsigned>(r % 100), static_cast<unsigned>((r >> 8) % 1000000),
                          team, ((r >> 40) & 1) ? "true" : "false");
  std::string s(buf, static_cast<size_t>(len));
  if (s.size() > kAttributesLen - 2) std::abort();
  s.append(kAttributesLen - 2 - s.size(), 'x');
  s += "\"}";
  return s;
}

constexpr const char* kTeams[] = {"red", "blue", "green", "amber", "violet", "teal"};

std::map<int64_t, std::unique_ptr<Dataset>>& Datasets() {
  static auto* m = new std::map<int64_t, std::unique_ptr<Dataset>>();
  return *m;
}

std::vector<std::function<void(int64_t)>>& Releasers() {
  static auto* v = new std::vector<std::function<void(int64_t)>>();
  return *v;
}

int64_t g_current_size = -1;

std::unique_ptr<Dataset> BuildDataset(int64_t n) {
  auto d = std::make_unique<Dataset>();
  d->n = n;
  d->identities.resize(static_cast<size_t>(n) * kIdentityLen);
  d->attributes.reserve(static_cast<size_t>(n) * kAttributesLen);
  Rng rng(0x5eed0000u + static_cast<uint64_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    WriteIdentity("usr_", static_cast<uint32_t>(i),
                  &d->identities[static_cast<size_t>(i) * kIdentityLen]);
    const uint64_t r = rng.Next();
    d->attributes += MakeAttributes(r, kTeams[(r >> 48) % 6]);
  }
  d->order.resize(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) d->order[static_cast<size_t>(i)] = static_cast<uint32_t>(i);
  std::mt19937_64 shuffle_rng(0xacce55u);
  std::shuffle(d->order.begin(), d->order.end(), shuffle_rng);
  return d;
}

}  // namespace

const Dataset& GetDataset(int64_t n) {
  std::lock_guard<std::recursive_mutex> lock(internal::FixtureMutex());
  auto& m = Datasets();
  auto it = m.find(n);
  if (it == m.end()) it = m.emplace(n, BuildDataset(n)).first;
  return *it->second;
}

const std::vector<std::string>& UpdateAttributes() {
  static const std::vector<std::string>* pool = [] {
    auto* v = new std::vector<std::string>();
    Rng rng(0x0bda7e);
    for (size_t i = 0; i < kUpdatePoolSize; ++i) {
      char team[8];
      std::snprintf(team, sizeof(team), "t%04u", static_cast<unsigned>(i));
      v->push_back(MakeAttributes(rng.Next(), team));
    }
    return v;
  }();
  return *pool;
}

void KeySet::Shuffle() {
  std::vector<uint32_t> perm(sids.size());
  for (size_t k = 0; k < perm.size(); ++k) perm[k] = static_cast<uint32_t>(k);
  std::shuffle(perm.begin(), perm.end(), shuffle_rng);
  std::vector<SidText> shuffled_sids(sids.size());
  std::string shuffled_identities(identities.size(), '\0');
  for (size_t k = 0; k < perm.size(); ++k) {
    shuffled_sids[k] = sids[perm[k]];
    std::memcpy(&shuffled_identities[k * kIdentityLen], &identities[perm[k] * kIdentityLen],
                kIdentityLen);
  }
  sids.swap(shuffled_sids);
  identities.swap(shuffled_identities);
}

void FreshIdentities(size_t count, std::string* out) {
  static std::atomic<uint32_t> next{0};
  out->resize(count * kIdentityLen);
  const uint32_t first = next.fetch_add(static_cast<uint32_t>(count));
  for (size_t c = 0; c < count; ++c) {
    WriteIdentity("new_", first + static_cast<uint32_t>(c), &(*out)[c * kIdentityLen]);
  }
}

bool MixedIsWrite(uint64_t k) {
  static const std::vector<uint8_t>* schedule = [] {
    auto* v = new std::vector<uint8_t>(4096);
    Rng rng(0x313ed);
    for (auto& b : *v) b = (rng.Next() % 10) == 0;
    return v;
  }();
  return (*schedule)[k & 4095];
}

// --- memory -----------------------------------------------------------------

MemSample SampleMemory() {
  malloc_trim(0);
  MemSample s;
  const struct mallinfo2 mi = mallinfo2();
  s.alloc = static_cast<int64_t>(mi.uordblks + mi.hblkhd);
  std::ifstream statm("/proc/self/statm");
  long size_pages = 0, resident_pages = 0;
  statm >> size_pages >> resident_pages;
  s.rss = static_cast<int64_t>(resident_pages) * sysconf(_SC_PAGESIZE);
  return s;
}

// --- files --------------------------------------------------------------------

TempDir::TempDir(const char* prefix) {
  const char* tmp = std::getenv("TMPDIR");
  std::string pattern = (tmp != nullptr && *tmp != '\0') ? tmp : "/tmp";
  pattern += "/userstore_bench_";
  pattern += prefix;
  pattern += "_XXXXXX";
  if (mkdtemp(&pattern[0]) == nullptr) {
    std::fprintf(stderr, "userstore_bench: mkdtemp %s: %s\n", pattern.c_str(),
                 std::strerror(errno));
    std::abort();
  }
  path_ = std::move(pattern);
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
  if (ec) {
    std::fprintf(stderr, "userstore_bench: removing %s: %s\n", path_.c_str(), ec.message().c_str());
  }
}

int64_t DiskBytes(const std::string& path) {
  int64_t bytes = 0;
  std::error_code ec;
  for (auto it = std::filesystem::recursive_directory_iterator(path, ec);
       !ec && it != std::filesystem::recursive_directory_iterator(); it.increment(ec)) {
    struct stat st;
    if (lstat(it->path().c_str(), &st) == 0 && S_ISREG(st.st_mode)) {
      bytes += static_cast<int64_t>(st.st_blocks) * 512;
    }
  }
  return bytes;
}

// --- fixtures ----------------------------------------------------------------

namespace internal {

// Recursive: a fixture built on another (Rest on Store) fetches it while the
// lock is held.
std::recursive_mutex& FixtureMutex() {
  static auto* mu = new std::recursive_mutex();
  return *mu;
}

void AddReleaser(std::function<void(int64_t keep)> release) {
  Releasers().push_back(std::move(release));
}

void EnterSizeLocked(int64_t n) {
  if (n == g_current_size) return;
  g_current_size = n;
  // Fixtures built on other fixtures (Rest on Store) registered later: drop
  // them first.
  auto& releasers = Releasers();
  for (auto it = releasers.rbegin(); it != releasers.rend(); ++it) (*it)(n);
  auto& datasets = Datasets();
  for (auto it = datasets.begin(); it != datasets.end();) {
    it = it->first == n ? std::next(it) : datasets.erase(it);
  }
  malloc_trim(0);
}

}  // namespace internal

void EnterSize(int64_t n) {
  std::lock_guard<std::recursive_mutex> lock(internal::FixtureMutex());
  internal::EnterSizeLocked(n);
}

void ReleaseAll() {
  // No N is negative: every fixture and data set goes.
  EnterSize(-1);
}

// --- registry ---------------------------------------------------------------

std::vector<ImplEntry>& Registry() {
  static auto* v = new std::vector<ImplEntry>();
  return *v;
}

bool RegisterImpl(ImplEntry entry) {
  Registry().push_back(std::move(entry));
  return true;
}

}  // namespace userstore_bench
