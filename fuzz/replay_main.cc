// A main for builds without libFuzzer (g++, or clang with fuzzers off): runs
// every file named on the command line, or found (recursively) under a
// directory named there, through LLVMFuzzerTestOneInput once, in sorted order.
// This is fmt's LINKMAIN idea: the fuzz targets build and their seed corpora
// run under ctest on every CI run, whatever the compiler.
//
// Exit status: 0 when at least one input ran and none aborted; 1 on a usage
// error, an unreadable path, or an empty corpus (a misconfigured test must not
// pass by running nothing). A failed check inside a target aborts the process,
// which ctest reports as a failure, with the input's path printed first.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <system_error>
#include <vector>

#include "tests/testing/tsan_absl_mutex.h"  // TSan builds: absl::Mutex made visible

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);
extern "C" __attribute__((weak)) int LLVMFuzzerInitialize(int* argc, char*** argv);

namespace {

bool ReadFile(const std::filesystem::path& path, std::string* out) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return false;
  out->assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  return !in.bad();
}

}  // namespace

int main(int argc, char** argv) {
  if (LLVMFuzzerInitialize != nullptr) LLVMFuzzerInitialize(&argc, &argv);
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s FILE_OR_DIR...\n", argv[0]);
    return 1;
  }
  std::vector<std::filesystem::path> inputs;
  for (int i = 1; i < argc; ++i) {
    const std::filesystem::path arg(argv[i]);
    std::error_code ec;
    if (std::filesystem::is_directory(arg, ec)) {
      for (const auto& entry : std::filesystem::recursive_directory_iterator(arg, ec)) {
        if (entry.is_regular_file()) inputs.push_back(entry.path());
      }
      if (ec) {
        std::fprintf(stderr, "cannot walk %s: %s\n", argv[i], ec.message().c_str());
        return 1;
      }
    } else if (std::filesystem::is_regular_file(arg, ec)) {
      inputs.push_back(arg);
    } else {
      std::fprintf(stderr, "no such file or directory: %s\n", argv[i]);
      return 1;
    }
  }
  std::sort(inputs.begin(), inputs.end());
  if (inputs.empty()) {
    std::fprintf(stderr, "no input files\n");
    return 1;
  }
  std::string data;
  for (const auto& path : inputs) {
    if (!ReadFile(path, &data)) {
      std::fprintf(stderr, "cannot read %s\n", path.c_str());
      return 1;
    }
    std::fprintf(stderr, "Running: %s (%zu bytes)\n", path.c_str(), data.size());
    // A copy in a buffer of exactly the input's size, as libFuzzer passes it,
    // so that ASan sees reads past the end.
    std::vector<uint8_t> buffer(data.begin(), data.end());
    LLVMFuzzerTestOneInput(buffer.data(), buffer.size());
  }
  std::fprintf(stderr, "Executed %zu inputs\n", inputs.size());
  return 0;
}
