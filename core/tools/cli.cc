#include "core/tools/cli.h"

#include <cstdio>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"

#include "userstore/env.h"

#include "core/durable/format.h"
#include "core/sid.h"

namespace userstore {
namespace tools {

std::optional<Durability> ParseDurability(absl::string_view text) {
  if (text == "background") return Durability::kBackgroundSync;
  if (text == "sync") return Durability::kSyncEachWrite;
  if (text == "none") return Durability::kNoSync;
  return std::nullopt;
}

const char kUsage[] =
    "usage: userstore replay [options] [FILE]\n"
    "       userstore inspect [--json] DIR\n"
    "       userstore verify DIR\n"
    "       userstore import [options] DIR FILE\n"
    "       userstore export [--surface S] [--service IS...] DIR\n"
    "       userstore follow URL --data-dir DIR [--until-caught-up] [--timeout S]\n"
    "       userstore --help\n"
    "\n"
    "replay: replays Twilio User REST requests against a store: reads one JSON\n"
    "request per line from FILE (or standard input; \"-\" also means standard\n"
    "input) and writes one JSON response per line to standard output.\n"
    "\n"
    "  in:  {\"method\": \"POST\", \"url\": \"/v1/Users\", \"headers\": {...},\n"
    "        \"form\": {\"Identity\": \"alice\"}}\n"
    "  out: {\"status\": 201, \"body\": {...}}\n"
    "\n"
    "Blank lines are skipped. A line that is not a valid request gets\n"
    "{\"status\":400,\"body\":{\"code\":20001,...}} and replay goes on.\n"
    "Answers are flushed before the tool waits for more input, so it works as\n"
    "a co-process (write a line, read its answer, write the next).\n"
    "\n"
    "Control lines drive the clock and failure injection (docs/replay.md):\n"
    "  {\"control\": \"clock\", \"advance_seconds\": 5}       (needs --now)\n"
    "  {\"control\": \"rate_limit\", \"per_second\": 1, \"burst\": 2}\n"
    "  {\"control\": \"fault\", \"status\": 503, \"code\": 20503, \"times\": 1}\n"
    "  {\"control\": \"clear\"}, {\"control\": \"injected\"}\n"
    "\n"
    "replay options:\n"
    "  --data-dir DIR       run on the durable store in DIR (made when missing):\n"
    "                       a later run sees what this one did. Without it the\n"
    "                       store is in memory and gone at exit\n"
    "  --durability MODE    with --data-dir: background (the default), sync or\n"
    "                       none (docs/durability.md)\n"
    "  --seed N             deterministic SIDs (N: unsigned 64-bit decimal);\n"
    "                       with --data-dir, only when DIR holds no store yet\n"
    "  --now TIME           manual clock starting at TIME, e.g.\n"
    "                       2026-01-01T00:00:00Z (moved by clock control lines)\n"
    "  --account-sid AC...  the account SID (AC + 32 hex digits); with\n"
    "                       --data-dir, only when DIR holds no store yet\n"
    "  --changelog URL      with --data-dir: lead that changelog stream, shipping\n"
    "                       every write (redis://HOST:PORT/STREAM or\n"
    "                       redis+unix:///SOCKET?stream=STREAM; docs/scaling.md)\n"
    "  --changelog-mode M   async (the default: writes do not wait for the log)\n"
    "                       or sync (each write answers once the log has it)\n"
    "  --promote            with --changelog: DIR is a follower of that stream\n"
    "                       (userstore follow): promote it, fencing the old\n"
    "                       leader, then lead\n"
    "  --verbose            with --data-dir: say what recovery did, on stderr\n"
    "  -h, --help           this text\n"
    "\n"
    "The same input with the same --seed and --now gives byte-identical output.\n"
    "\n"
    "inspect DIR: prints the checkpoints and journal segments of the store in\n"
    "DIR, for a person (--json: as one JSON object). Read-only, takes no lock:\n"
    "it works on a store another process has open.\n"
    "\n"
    "verify DIR: checks every checksum, record and sequence number of the store\n"
    "in DIR; prints one line per problem (file and byte offset) and exits 1\n"
    "when there is any. A torn tail after the synced watermark is a warning.\n"
    "Read-only, like inspect.\n"
    "\n"
    "import DIR FILE: loads users from Twilio list pages (one JSON page per\n"
    "line, as GET .../Users returns them, from any surface) into the store in\n"
    "DIR, keeping their SIDs and dates; creates missing services and roles.\n"
    "Users already there are skipped. FILE \"-\" is standard input. Options:\n"
    "--seed, --account-sid (only when DIR holds no store yet), --verbose.\n"
    "\n"
    "export DIR: writes every user of the store in DIR as the REST layer's\n"
    "list pages (PageSize=1000, clamped to the surface's maximum), one per\n"
    "line. --surface chat-v2 (the default), chat-v1 or conversations;\n"
    "--service IS (repeatable) for only those services.\n"
    "\n"
    "follow URL --data-dir DIR: a read-only replica of the changelog stream URL\n"
    "in DIR (bootstrapped from the stream's checkpoint when DIR is new; resumed\n"
    "from its own position otherwise). Follows until interrupted (SIGINT,\n"
    "SIGTERM), printing its lag on stderr with --verbose; with\n"
    "--until-caught-up it exits 0 once it has applied everything the stream\n"
    "held when it started (1 after --timeout seconds, default 60).\n"
    "\n"
    "Options also accept the --name=value form.\n"
    "Exit status: 0 success; 1 when the work failed (input or store could not\n"
    "be read, damage found, a user not imported); 2 for a usage error.\n";

int UsageError(const std::string& message) {
  std::fprintf(stderr, "userstore: %s\n(run 'userstore --help' for usage)\n", message.c_str());
  return kExitUsage;
}

int Failure(const std::string& message) {
  std::fprintf(stderr, "userstore: %s\n", message.c_str());
  return kExitFailure;
}

bool ArgReader::Next() {
  if (i_ + 1 >= argc_) return false;
  ++i_;
  arg_ = argv_[i_];
  inline_value_.clear();
  has_inline_value_ = false;
  if (arg_.size() > 2 && arg_.compare(0, 2, "--") == 0) {
    const size_t eq = arg_.find('=');
    if (eq != std::string::npos) {
      inline_value_ = arg_.substr(eq + 1);
      arg_.resize(eq);
      has_inline_value_ = true;
    }
  }
  return true;
}

bool ArgReader::TakeValue(std::string* value) {
  if (has_inline_value_) {
    *value = inline_value_;
    has_inline_value_ = false;
    return true;
  }
  if (i_ + 1 >= argc_) return false;
  *value = argv_[++i_];
  return true;
}

std::optional<uint64_t> ParseUint64(absl::string_view text) {
  uint64_t value = 0;
  if (text.empty() || text.find_first_not_of("0123456789") != absl::string_view::npos ||
      !absl::SimpleAtoi(text, &value)) {
    return std::nullopt;
  }
  return value;
}

bool IsAccountSid(absl::string_view text) { return internal::IsSidShaped("AC", text); }

bool HoldsStore(const std::string& dir) {
  auto names = Env::Default()->ListDir(dir);
  if (!names.ok()) return false;
  for (const std::string& name : *names) {
    if (internal::durable::ParseCheckpointName(name).has_value()) return true;
  }
  return false;
}

std::unique_ptr<UserStore> OpenStore(const std::string& dir, const DurableOptions& options,
                                     bool verbose) {
  RecoveryReport report;
  absl::StatusOr<std::unique_ptr<UserStore>> store = OpenUserStore(dir, options, &report);
  if (!store.ok()) {
    Failure(absl::StrCat("cannot open ", dir, ": ", store.status().message()));
    return nullptr;
  }
  if (verbose) {
    const int64_t ms = absl::ToInt64Milliseconds(report.duration);
    if (report.created) {
      std::fprintf(stderr, "userstore: created %s: a new store, in %lld ms\n", dir.c_str(),
                   static_cast<long long>(ms));
    } else {
      std::string line = absl::StrCat(
          "userstore: recovered ", dir, ": ", report.journal_records,
          " journal records after checkpoint at sequence ", report.checkpoint_sequence,
          ", torn tail dropped: ", report.torn_bytes_dropped, " bytes, in ", ms, " ms\n");
      std::fputs(line.c_str(), stderr);
    }
  }
  return std::move(*store);
}

}  // namespace tools
}  // namespace userstore
