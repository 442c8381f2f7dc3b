// `userstore`: the command-line tool. It dispatches to one command:
//
//   userstore replay [options] [FILE]     REST requests as JSON Lines (replay_command.cc)
//   userstore inspect [--json] DIR        what a durable store holds on disk (inspect_command.cc)
//   userstore verify DIR                  checks a durable store's files (verify_command.cc)
//   userstore import [options] DIR FILE   users from Twilio list pages (import_command.cc)
//   userstore export [options] DIR        users as Twilio list pages (export_command.cc)
//   userstore follow URL --data-dir DIR   a changelog's follower (follow_command.cc)
//
// docs/replay.md and docs/durability.md describe them; core/tools/cli.h
// has what they share. Exit status: 0 success, 1 failure, 2 usage error.

#include <cstdio>
#include <iostream>
#include <string>

#include "absl/strings/string_view.h"

#include "core/tools/cli.h"

int main(int argc, char** argv) {
  namespace tools = userstore::tools;
  std::ios::sync_with_stdio(false);
  if (argc < 2) return tools::UsageError("missing command");
  const absl::string_view command = argv[1];
  if (command == "-h" || command == "--help" || command == "help") {
    std::fputs(tools::kUsage, stdout);
    return tools::kExitOk;
  }
  if (command == "replay") return tools::ReplayMain(argc - 2, argv + 2);
  if (command == "inspect") return tools::InspectMain(argc - 2, argv + 2);
  if (command == "verify") return tools::VerifyMain(argc - 2, argv + 2);
  if (command == "import") return tools::ImportMain(argc - 2, argv + 2);
  if (command == "export") return tools::ExportMain(argc - 2, argv + 2);
  if (command == "follow") return tools::FollowMain(argc - 2, argv + 2);
  return tools::UsageError("unknown command '" + std::string(command) + "'");
}
