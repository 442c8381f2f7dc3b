// `userstore replay [--data-dir DIR [--durability MODE] [--verbose]
//                    [--changelog URL [--changelog-mode MODE] [--promote]]] [--seed N]
//                   [--now TIME] [--account-sid AC...] [FILE]`
//
// Reads JSON Lines requests and control lines from FILE (or standard input
// when FILE is absent or "-") and writes one JSON line per line read to
// standard output, flushed before it waits for input, so that the tool can run as a co-process
// (the protocol is in docs/replay.md and SEMANTICS 8). With --data-dir the
// store is the durable one in DIR; with --changelog it also leads that
// changelog stream (changelog.h, docs/scaling.md); with --promote, DIR is a
// follower's, promoted to lead it first. Exit status: 0 when every line was read
// (whatever the HTTP statuses), 1 when the input could not be read or the
// store not opened, 2 for a usage error.

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <memory>
#include <optional>
#include <string>

#include "userstore/durable.h"
#include "userstore/user_store.h"
#ifdef USERSTORE_HAVE_CHANGELOG
#include "userstore/changelog.h"
#endif

#include "core/rest/replay.h"
#include "core/time_format.h"
#include "core/tools/cli.h"

namespace userstore {
namespace tools {
namespace {

struct ReplayArgs {
  std::optional<uint64_t> seed;
  std::optional<absl::Time> now;
  std::string account_sid;
  std::string input = "-";
  std::string data_dir;
  std::optional<Durability> durability;
  bool verbose = false;
  std::string changelog;  // a stream URL: lead it
  bool changelog_sync = false;
  bool promote = false;  // DIR is a follower of it: promote it first
};

// Reads lines from `in` and writes one response line per request line.
int Replay(const ReplayArgs& args, std::istream& in) {
  StoreOptions options;
  options.seed = args.seed;
  options.account_sid = args.account_sid;
  std::shared_ptr<ManualClock> clock;
  if (args.now.has_value()) clock = std::make_shared<ManualClock>(*args.now);
  options.clock = clock;
  std::unique_ptr<UserStore> store;
  if (args.data_dir.empty()) {
    store = std::make_unique<UserStore>(options);
    if (!store->init_status().ok()) {
      // The store fell back to a generated account SID; the caller asked for
      // that one, so refuse rather than replay under another account.
      return UsageError("--account-sid '" + args.account_sid +
                        "' is not AC followed by 32 hex digits (" +
                        std::string(store->init_status().message()) + ")");
    }
  } else {
    DurableOptions durable;
    durable.store = options;
    // The seed and the account are the new store's; a store already in the
    // directory keeps its own.
    if (HoldsStore(args.data_dir)) durable.store.account_sid.clear();
    durable.durability = args.durability.value_or(Durability::kBackgroundSync);
    if (!args.promote) {
      store = OpenStore(args.data_dir, durable, args.verbose);
      if (store == nullptr) return kExitFailure;
    }
  }
#ifdef USERSTORE_HAVE_CHANGELOG
  // Declared after the store, so it stops (shipping what is left) first.
  std::unique_ptr<ChangelogLeader> leader;
  if (!args.changelog.empty()) {
    auto log = OpenChangelogLog(args.changelog);
    if (!log.ok()) return Failure(std::string(log.status().message()));
    ChangelogOptions changelog;
    changelog.mode =
        args.changelog_sync ? ChangelogOptions::Mode::kSync : ChangelogOptions::Mode::kAsync;
    if (args.promote) {
      DurableOptions durable;
      durable.durability = args.durability.value_or(Durability::kBackgroundSync);
      auto follower = ChangelogFollower::Open(args.data_dir, durable, std::move(*log));
      if (!follower.ok()) return Failure(std::string(follower.status().message()));
      auto promoted = ChangelogFollower::Promote(std::move(*follower), changelog);
      if (!promoted.ok()) return Failure(std::string(promoted.status().message()));
      store = std::move(promoted->store);
      leader = std::move(promoted->leader);
    } else {
      auto started = ChangelogLeader::Start(store.get(), std::move(*log), changelog);
      if (!started.ok()) return Failure(std::string(started.status().message()));
      leader = std::move(*started);
    }
    if (args.verbose) {
      std::fprintf(stderr, "userstore: leading %s, epoch %llu\n", args.changelog.c_str(),
                   static_cast<unsigned long long>(leader->stats().epoch));
    }
  }
#endif
  internal::ReplaySession session(store.get(), clock);

  std::string line;
  std::string out;
  while (std::getline(in, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();               // CRLF input
    if (line.find_first_not_of(" \t\r\f\v") == std::string::npos) continue;  // blank
    out = session.HandleLine(line);
    out.push_back('\n');
    if (std::fwrite(out.data(), 1, out.size(), stdout) != out.size()) {
      return Failure("error writing standard output");
    }
    // Answers go out before the tool could wait for more input: whenever no
    // read-ahead input is left, what was answered is flushed, so a client
    // using the tool as a co-process gets each answer before it writes its
    // next line, while a file is still written in large blocks.
    if (in.rdbuf()->in_avail() <= 0 && std::fflush(stdout) != 0) {
      return Failure("error writing standard output");
    }
  }
#ifdef USERSTORE_HAVE_CHANGELOG
  if (leader != nullptr) {
    const absl::Status flushed = leader->Flush(absl::Seconds(30));
    if (!flushed.ok()) return Failure("the changelog: " + std::string(flushed.message()));
  }
#endif
  if (in.bad()) {
    return Failure("error reading " +
                   (args.input == "-" ? std::string("standard input") : args.input));
  }
  if (std::fflush(stdout) != 0) return Failure("error writing standard output");
  return kExitOk;
}

}  // namespace

int ReplayMain(int argc, char** argv) {
  ReplayArgs args;
  bool have_input = false;
  ArgReader reader(argc, argv);
  std::string value;
  while (reader.Next()) {
    const std::string arg = reader.arg();
    if (arg == "-h" || arg == "--help") {
      std::fputs(kUsage, stdout);
      return kExitOk;
    } else if (arg == "--seed") {
      if (!reader.TakeValue(&value)) return UsageError("--seed needs a value");
      args.seed = ParseUint64(value);
      if (!args.seed.has_value()) {
        return UsageError("--seed must be an unsigned 64-bit decimal integer, got '" + value + "'");
      }
    } else if (arg == "--now") {
      if (!reader.TakeValue(&value)) return UsageError("--now needs a value");
      args.now = internal::ParseIsoTime(value);
      if (!args.now.has_value()) {
        return UsageError("--now must look like 2026-01-01T00:00:00Z, got '" + value + "'");
      }
    } else if (arg == "--account-sid") {
      if (!reader.TakeValue(&value)) return UsageError("--account-sid needs a value");
      if (value.empty()) return UsageError("--account-sid must not be empty");
      if (!IsAccountSid(value)) {
        return UsageError("--account-sid '" + value + "' is not AC followed by 32 hex digits");
      }
      args.account_sid = value;
    } else if (arg == "--data-dir") {
      if (!reader.TakeValue(&value)) return UsageError("--data-dir needs a value");
      if (value.empty()) return UsageError("--data-dir must not be empty");
      args.data_dir = value;
    } else if (arg == "--durability") {
      if (!reader.TakeValue(&value)) return UsageError("--durability needs a value");
      args.durability = ParseDurability(value);
      if (!args.durability.has_value()) {
        return UsageError("--durability must be background, sync or none, got '" + value + "'");
      }
    } else if (arg == "--changelog") {
      if (!reader.TakeValue(&value)) return UsageError("--changelog needs a URL");
      if (value.empty()) return UsageError("--changelog must not be empty");
      args.changelog = value;
    } else if (arg == "--changelog-mode") {
      if (!reader.TakeValue(&value)) return UsageError("--changelog-mode needs a value");
      if (value != "async" && value != "sync") {
        return UsageError("--changelog-mode must be async or sync, got '" + value + "'");
      }
      args.changelog_sync = value == "sync";
    } else if (arg == "--promote") {
      if (reader.has_inline_value()) return UsageError("--promote takes no value");
      args.promote = true;
    } else if (arg == "--verbose") {
      if (reader.has_inline_value()) return UsageError("--verbose takes no value");
      args.verbose = true;
    } else if (arg == "--snapshot") {
      return UsageError("--snapshot is gone: use --data-dir DIR for a store that persists");
    } else if (arg != "-" && reader.is_option()) {
      return UsageError("unknown option '" + arg + "'");
    } else {
      if (have_input) return UsageError("more than one input file");
      args.input = arg;
      have_input = true;
    }
  }
  if (args.data_dir.empty()) {
    if (args.durability.has_value()) return UsageError("--durability needs --data-dir");
    if (args.verbose) return UsageError("--verbose needs --data-dir");
    if (!args.changelog.empty()) return UsageError("--changelog needs --data-dir");
  }
  if (args.promote && args.changelog.empty()) return UsageError("--promote needs --changelog");
#ifndef USERSTORE_HAVE_CHANGELOG
  if (!args.changelog.empty()) {
    return Failure("this build has no changelog support (it was built without hiredis)");
  }
#endif
  if (args.input == "-") return Replay(args, std::cin);
  std::ifstream file(args.input, std::ios::binary);
  if (!file) {
    return Failure("cannot open " + args.input + ": " + std::strerror(errno));
  }
  return Replay(args, file);
}

}  // namespace tools
}  // namespace userstore
