// `userstore follow URL --data-dir DIR [--until-caught-up] [--timeout S]
//                  [--durability MODE] [--verbose]`
//
// A read-only replica of the changelog stream URL in DIR (changelog.h,
// docs/scaling.md): bootstrapped from the stream's checkpoint when DIR holds
// no store, resumed from its own durable position otherwise. Without
// --until-caught-up it follows until SIGINT or SIGTERM (exit 0) or an error
// that stops it (exit 1). With it, it exits 0 once it has applied everything
// the stream held when it started, and prints that position as one JSON
// line on standard output; 1 after --timeout seconds (default 60). 2 for a
// usage error.

#include <csignal>
#include <cstdio>
#include <memory>
#include <optional>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

#include "userstore/durable.h"
#ifdef USERSTORE_HAVE_CHANGELOG
#include "userstore/changelog.h"
#endif

#include "core/tools/cli.h"

namespace userstore {
namespace tools {
namespace {

volatile std::sig_atomic_t g_stop = 0;

extern "C" void OnStopSignal(int) { g_stop = 1; }

struct FollowArgs {
  std::string url;
  std::string data_dir;
  bool until_caught_up = false;
  uint64_t timeout_seconds = 60;
  std::optional<Durability> durability;
  bool verbose = false;
};

#ifdef USERSTORE_HAVE_CHANGELOG
int Follow(const FollowArgs& args) {
  auto log = OpenChangelogLog(args.url);
  if (!log.ok()) return Failure(std::string(log.status().message()));
  DurableOptions options;
  options.durability = args.durability.value_or(Durability::kBackgroundSync);
  auto follower = ChangelogFollower::Open(args.data_dir, options, std::move(*log));
  if (!follower.ok()) return Failure(std::string(follower.status().message()));
  ChangelogFollower& f = **follower;
  if (args.until_caught_up) {
    const absl::Status status = f.CatchUp(absl::Seconds(args.timeout_seconds));
    if (!status.ok()) return Failure(std::string(status.message()));
    const ChangelogFollower::Lag lag = f.lag();
    std::printf("{\"applied_sequence\":%llu,\"log_sequence\":%llu}\n",
                static_cast<unsigned long long>(lag.applied_sequence),
                static_cast<unsigned long long>(lag.log_sequence));
    return std::fflush(stdout) == 0 ? kExitOk : Failure("error writing standard output");
  }
  std::signal(SIGINT, OnStopSignal);
  std::signal(SIGTERM, OnStopSignal);
  absl::Time next_report = absl::Now();
  while (g_stop == 0) {
    auto polled = f.Poll(absl::Milliseconds(200));
    if (!polled.ok() && !absl::IsUnavailable(polled.status())) {
      return Failure(std::string(polled.status().message()));
    }
    if (!polled.ok()) {
      if (args.verbose) std::fprintf(stderr, "userstore: %s\n", polled.status().ToString().c_str());
      absl::SleepFor(absl::Milliseconds(100));
    }
    if (args.verbose && absl::Now() >= next_report) {
      const ChangelogFollower::Lag lag = f.lag();
      std::fprintf(stderr, "userstore: applied %llu of %llu (%llu behind, %s)\n",
                   static_cast<unsigned long long>(lag.applied_sequence),
                   static_cast<unsigned long long>(lag.log_sequence),
                   static_cast<unsigned long long>(lag.events_behind),
                   absl::FormatDuration(lag.behind).c_str());
      next_report = absl::Now() + absl::Seconds(1);
    }
  }
  return kExitOk;
}
#endif

}  // namespace

int FollowMain(int argc, char** argv) {
  FollowArgs args;
  ArgReader reader(argc, argv);
  std::string value;
  while (reader.Next()) {
    const std::string arg = reader.arg();
    if (arg == "-h" || arg == "--help") {
      std::fputs(kUsage, stdout);
      return kExitOk;
    } else if (arg == "--data-dir") {
      if (!reader.TakeValue(&value)) return UsageError("--data-dir needs a value");
      if (value.empty()) return UsageError("--data-dir must not be empty");
      args.data_dir = value;
    } else if (arg == "--until-caught-up") {
      if (reader.has_inline_value()) return UsageError("--until-caught-up takes no value");
      args.until_caught_up = true;
    } else if (arg == "--timeout") {
      if (!reader.TakeValue(&value)) return UsageError("--timeout needs a value");
      const std::optional<uint64_t> seconds = ParseUint64(value);
      if (!seconds.has_value() || *seconds == 0 || *seconds > 86400) {
        return UsageError("--timeout must be whole seconds from 1 to 86400, got '" + value + "'");
      }
      args.timeout_seconds = *seconds;
    } else if (arg == "--durability") {
      if (!reader.TakeValue(&value)) return UsageError("--durability needs a value");
      args.durability = ParseDurability(value);
      if (!args.durability.has_value()) {
        return UsageError("--durability must be background, sync or none, got '" + value + "'");
      }
    } else if (arg == "--verbose") {
      if (reader.has_inline_value()) return UsageError("--verbose takes no value");
      args.verbose = true;
    } else if (reader.is_option()) {
      return UsageError("unknown option '" + arg + "'");
    } else {
      if (!args.url.empty()) return UsageError("more than one URL");
      args.url = arg;
    }
  }
  if (args.url.empty()) return UsageError("follow needs the changelog's URL");
  if (args.data_dir.empty()) return UsageError("follow needs --data-dir DIR");
#ifdef USERSTORE_HAVE_CHANGELOG
  return Follow(args);
#else
  return Failure("this build has no changelog support (it was built without hiredis)");
#endif
}

}  // namespace tools
}  // namespace userstore
