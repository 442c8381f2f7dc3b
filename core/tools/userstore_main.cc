// `userstore`: the command-line tool. One subcommand for now:
//
//   userstore replay [--seed N] [--now 2026-01-01T00:00:00Z]
//                    [--account-sid AC...] [--snapshot FILE] [FILE]
//
// reads JSON Lines requests and control lines from FILE (or standard input
// when FILE is absent or "-") and writes one JSON line per line read to
// standard output, flushed at once, so that the tool can run as a co-process
// (the protocol is in docs/replay.md and SEMANTICS 8). Exit status: 0 when every
// line was read (whatever the HTTP statuses), 1 when the input could not be
// read, 2 for a usage error.

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <memory>
#include <optional>
#include <string>

#include "absl/strings/numbers.h"
#include "absl/strings/string_view.h"

#include "userstore/rest.h"
#include "userstore/user_store.h"

#include "core/rest/replay.h"
#include "core/time_format.h"

namespace {

constexpr char kUsage[] =
    "usage: userstore replay [options] [FILE]\n"
    "       userstore --help\n"
    "\n"
    "Replays Twilio User REST requests against an in-memory store: reads one\n"
    "JSON request per line from FILE (or standard input; \"-\" also means\n"
    "standard input) and writes one JSON response per line to standard output.\n"
    "\n"
    "  in:  {\"method\": \"POST\", \"url\": \"/v1/Users\", \"headers\": {...},\n"
    "        \"form\": {\"Identity\": \"alice\"}}\n"
    "  out: {\"status\": 201, \"body\": {...}}\n"
    "\n"
    "Blank lines are skipped. A line that is not a valid request gets\n"
    "{\"status\":400,\"body\":{\"code\":20001,...}} and replay goes on.\n"
    "Each answer is written and flushed as soon as its line is read, so the\n"
    "tool works as a co-process.\n"
    "\n"
    "Control lines drive the clock and failure injection (docs/replay.md):\n"
    "  {\"control\": \"clock\", \"advance_seconds\": 5}       (needs --now)\n"
    "  {\"control\": \"rate_limit\", \"per_second\": 1, \"burst\": 2}\n"
    "  {\"control\": \"fault\", \"status\": 503, \"code\": 20503, \"times\": 1}\n"
    "  {\"control\": \"clear\"}, {\"control\": \"injected\"}\n"
    "\n"
    "options:\n"
    "  --seed N             deterministic SIDs (N: unsigned 64-bit decimal)\n"
    "  --now TIME           manual clock starting at TIME, e.g.\n"
    "                       2026-01-01T00:00:00Z (moved by clock control lines)\n"
    "  --account-sid AC...  the account SID (AC + 32 hex digits)\n"
    "  --snapshot FILE      load/save state (not supported yet: exits 2)\n"
    "  -h, --help           this text\n"
    "\n"
    "The same input with the same --seed and --now gives byte-identical output.\n"
    "Exit status: 0 when every line was read, 1 when the input could not be\n"
    "read, 2 for a usage error.\n";

int UsageError(const std::string& message) {
  std::fprintf(stderr, "userstore: %s\n(run 'userstore --help' for usage)\n", message.c_str());
  return 2;
}

struct ReplayArgs {
  std::optional<uint64_t> seed;
  std::optional<absl::Time> now;
  std::string account_sid;
  std::string input = "-";
};

// Reads lines from `in` and writes one response line per request line.
int Replay(const ReplayArgs& args, std::istream& in) {
  userstore::StoreOptions options;
  options.seed = args.seed;
  options.account_sid = args.account_sid;
  std::shared_ptr<userstore::ManualClock> clock;
  if (args.now.has_value()) clock = std::make_shared<userstore::ManualClock>(*args.now);
  options.clock = clock;
  userstore::UserStore store(options);
  if (!store.init_status().ok()) {
    // The store fell back to a generated account SID; the caller asked for
    // that one, so refuse rather than replay under another account.
    return UsageError("--account-sid '" + args.account_sid +
                      "' is not AC followed by 32 hex digits (" +
                      std::string(store.init_status().message()) + ")");
  }
  userstore::internal::ReplaySession session(&store, clock);

  std::string line;
  std::string out;
  while (std::getline(in, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();               // CRLF input
    if (line.find_first_not_of(" \t\r\f\v") == std::string::npos) continue;  // blank
    out = session.HandleLine(line);
    out.push_back('\n');
    // Each answer goes out as soon as it is made, so that a client using the
    // tool as a co-process can wait for it before writing its next line.
    if (std::fwrite(out.data(), 1, out.size(), stdout) != out.size() || std::fflush(stdout) != 0) {
      std::fprintf(stderr, "userstore: error writing standard output\n");
      return 1;
    }
  }
  if (in.bad()) {
    std::fprintf(stderr, "userstore: error reading %s\n",
                 args.input == "-" ? "standard input" : args.input.c_str());
    return 1;
  }
  if (std::fflush(stdout) != 0) {
    std::fprintf(stderr, "userstore: error writing standard output\n");
    return 1;
  }
  return 0;
}

int ReplayMain(int argc, char** argv) {
  ReplayArgs args;
  bool have_input = false;
  for (int i = 0; i < argc; ++i) {
    std::string arg = argv[i];
    std::string value;
    bool has_inline_value = false;
    if (arg.size() > 2 && arg.compare(0, 2, "--") == 0) {
      const size_t eq = arg.find('=');
      if (eq != std::string::npos) {
        value = arg.substr(eq + 1);
        arg = arg.substr(0, eq);
        has_inline_value = true;
      }
    }
    auto take_value = [&]() -> bool {
      if (has_inline_value) return true;
      if (i + 1 >= argc) return false;
      value = argv[++i];
      return true;
    };
    if (arg == "-h" || arg == "--help") {
      std::fputs(kUsage, stdout);
      return 0;
    } else if (arg == "--seed") {
      if (!take_value()) return UsageError("--seed needs a value");
      uint64_t seed = 0;
      if (value.empty() || value.find_first_not_of("0123456789") != std::string::npos ||
          !absl::SimpleAtoi(value, &seed)) {
        return UsageError("--seed must be an unsigned 64-bit decimal integer, got '" + value + "'");
      }
      args.seed = seed;
    } else if (arg == "--now") {
      if (!take_value()) return UsageError("--now needs a value");
      std::optional<absl::Time> now = userstore::internal::ParseIsoTime(value);
      if (!now.has_value()) {
        return UsageError("--now must look like 2026-01-01T00:00:00Z, got '" + value + "'");
      }
      args.now = now;
    } else if (arg == "--account-sid") {
      if (!take_value()) return UsageError("--account-sid needs a value");
      args.account_sid = value;
      if (args.account_sid.empty()) return UsageError("--account-sid must not be empty");
    } else if (arg == "--snapshot") {
      if (!take_value()) return UsageError("--snapshot needs a value");
      return UsageError("--snapshot is not supported yet (persistence is not implemented)");
    } else if (arg != "-" && !arg.empty() && arg[0] == '-') {
      return UsageError("unknown option '" + arg + "'");
    } else {
      if (have_input) return UsageError("more than one input file");
      args.input = arg;
      have_input = true;
    }
  }
  if (args.input == "-") return Replay(args, std::cin);
  std::ifstream file(args.input, std::ios::binary);
  if (!file) {
    std::fprintf(stderr, "userstore: cannot open %s: %s\n", args.input.c_str(),
                 std::strerror(errno));
    return 1;
  }
  return Replay(args, file);
}

}  // namespace

int main(int argc, char** argv) {
  std::ios::sync_with_stdio(false);
  if (argc < 2) return UsageError("missing command");
  const absl::string_view command = argv[1];
  if (command == "-h" || command == "--help" || command == "help") {
    std::fputs(kUsage, stdout);
    return 0;
  }
  if (command == "replay") return ReplayMain(argc - 2, argv + 2);
  return UsageError("unknown command '" + std::string(command) + "'");
}
