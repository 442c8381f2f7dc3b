// The `userstore` command-line tool: what its commands share. Each command
// lives in a file of its own under core/tools/ (replay_command.cc, ...), and
// userstore_main.cc only dispatches to them. docs/replay.md and
// docs/durability.md describe the commands.
//
// Exit status, for every command: 0 success, 1 a failure of the work (a file
// that cannot be read, a damaged store, a user that did not import), 2 a
// usage error (with a message on standard error and nothing on standard
// output).

#ifndef USERSTORE_CORE_TOOLS_CLI_H_
#define USERSTORE_CORE_TOOLS_CLI_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

#include "userstore/durable.h"
#include "userstore/user_store.h"

namespace userstore {
namespace tools {

// The whole usage text (`userstore --help`).
extern const char kUsage[];

inline constexpr int kExitOk = 0;
inline constexpr int kExitFailure = 1;
inline constexpr int kExitUsage = 2;

// Prints "userstore: MESSAGE" and a hint to standard error; returns 2.
int UsageError(const std::string& message);

// Prints "userstore: MESSAGE" to standard error; returns 1.
int Failure(const std::string& message);

// Walks a command's arguments. An argument "--name=value" is split into its
// name and an inline value. Not thread-safe (a value on the stack).
class ArgReader {
 public:
  ArgReader(int argc, char** argv) : argc_(argc), argv_(argv) {}

  // Moves to the next argument; false when there is none.
  bool Next();
  // The argument (without an inline "=value").
  const std::string& arg() const { return arg_; }
  // True for "-x" and "--name" (not for "-" alone).
  bool is_option() const { return arg_.size() > 1 && arg_[0] == '-'; }
  // The option's value: the inline one, else the next argument. False when
  // there is none.
  bool TakeValue(std::string* value);
  // True when an inline value was given to an option that takes none.
  bool has_inline_value() const { return has_inline_value_; }

 private:
  int argc_;
  char** argv_;
  int i_ = -1;
  std::string arg_;
  std::string inline_value_;
  bool has_inline_value_ = false;
};

// Parses an unsigned 64-bit decimal integer (digits only).
std::optional<uint64_t> ParseUint64(absl::string_view text);

// A --durability value: "background", "sync" or "none"; nullopt otherwise.
std::optional<Durability> ParseDurability(absl::string_view text);

// True when `text` is "AC" + 32 hex digits.
bool IsAccountSid(absl::string_view text);

// True when `dir` holds a store (a checkpoint file).
bool HoldsStore(const std::string& dir);

// Opens the durable store in `dir` and, with `verbose`, prints what recovery
// did to standard error in one line. On an error prints it and returns
// nullptr.
std::unique_ptr<UserStore> OpenStore(const std::string& dir, const DurableOptions& options,
                                     bool verbose);

// The commands: argv holds the arguments after the command's name.
int ReplayMain(int argc, char** argv);
int InspectMain(int argc, char** argv);
int VerifyMain(int argc, char** argv);
int ImportMain(int argc, char** argv);
int ExportMain(int argc, char** argv);
int FollowMain(int argc, char** argv);

}  // namespace tools
}  // namespace userstore

#endif  // USERSTORE_CORE_TOOLS_CLI_H_
