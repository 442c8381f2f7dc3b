// The `userstore` tool on durable stores, end to end: the built binary
// (USERSTORE_CLI_PATH, set by CMake) is run as a child process for
// `replay --data-dir`, `inspect`, `verify`, `import` and `export`
// (docs/durability.md, "The command line"), and its exit status, output and the directory it
// leaves are checked.

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "rapidjson/document.h"
#include "rapidjson/stringbuffer.h"
#include "rapidjson/writer.h"
#include "tests/testing/tsan_absl_mutex.h"  // TSan builds: absl::Mutex made visible
#include <fcntl.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "userstore/durable.h"
#include "userstore/user_store.h"

namespace {

using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kNow[] = "2026-01-01T00:00:00Z";

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void WriteAll(const std::string& path, const std::string& contents) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << contents;
}

struct Result {
  int exit_code = -1;
  std::string out;
  std::string err;
};

class CliDurableTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = ::testing::TempDir() + "/cli_durable_XXXXXX";
    ASSERT_NE(mkdtemp(pattern.data()), nullptr) << std::strerror(errno);
    root_ = pattern;
  }
  void TearDown() override {
    std::error_code ignored;
    std::filesystem::remove_all(root_, ignored);
  }

  std::string Path(const std::string& name) const { return root_ + "/" + name; }

  // Runs the tool with `args`, standard input from `input_file` (empty:
  // /dev/null), and collects its exit status and both outputs.
  Result Run(const std::vector<std::string>& args, const std::string& input_file = "") {
    const std::string out_path = Path("stdout.txt");
    const std::string err_path = Path("stderr.txt");
    Result result;
    const pid_t pid = fork();
    if (pid < 0) {
      ADD_FAILURE() << "fork: " << std::strerror(errno);
      return result;
    }
    if (pid == 0) {
      const int in = open(input_file.empty() ? "/dev/null" : input_file.c_str(), O_RDONLY);
      const int out = open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      const int err = open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      if (in < 0 || out < 0 || err < 0) _exit(126);
      dup2(in, 0);
      dup2(out, 1);
      dup2(err, 2);
      std::vector<char*> argv;
      argv.push_back(const_cast<char*>(USERSTORE_CLI_PATH));
      for (const std::string& a : args) argv.push_back(const_cast<char*>(a.c_str()));
      argv.push_back(nullptr);
      execv(USERSTORE_CLI_PATH, argv.data());
      _exit(127);
    }
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    result.out = ReadAll(out_path);
    result.err = ReadAll(err_path);
    return result;
  }

  std::string root_;
};

std::string SessionPath() {
  return std::string(USERSTORE_SOURCE_DIR) + "/docs/examples/session.jsonl";
}

rapidjson::Document ParseJson(const std::string& text) {
  rapidjson::Document doc;
  doc.Parse(text.data(), text.size());
  EXPECT_FALSE(doc.HasParseError()) << text;
  return doc;
}

std::string ToJson(const rapidjson::Value& value) {
  rapidjson::StringBuffer buffer;
  rapidjson::Writer<rapidjson::StringBuffer> writer(buffer);
  value.Accept(writer);
  return std::string(buffer.GetString(), buffer.GetSize());
}

// A second session for a store the example session made: a list of the demo
// service's users, a create (its SID continues the first run's generator), a
// fetch of a user the first run made.
constexpr char kSecondRun[] =
    R"({"method": "GET", "url": "https://chat.twilio.com/v2/Services/IScd0feda93006c6b652480865a4b42742/Users", "form": {"PageSize": "50"}})"
    "\n"
    R"({"method": "POST", "url": "https://chat.twilio.com/v2/Services/IScd0feda93006c6b652480865a4b42742/Users", "form": {"Identity": "zed"}})"
    "\n"
    R"({"method": "GET", "url": "https://chat.twilio.com/v2/Services/IScd0feda93006c6b652480865a4b42742/Users/alice"})"
    "\n";

TEST_F(CliDurableTest, ReplayTwiceOnOneDataDirContinuesTheFirstRun) {
  const std::string dir = Path("store");
  WriteAll(Path("second.jsonl"), kSecondRun);
  // The first run on a new directory prints exactly the in-memory golden output.
  Result first = Run({"replay", "--data-dir", dir, "--seed", "42", "--now", kNow, SessionPath()});
  ASSERT_EQ(first.exit_code, 0) << first.err;
  EXPECT_EQ(first.out,
            ReadAll(std::string(USERSTORE_SOURCE_DIR) + "/docs/examples/session.out.jsonl"));
  EXPECT_EQ(first.err, "");

  // The second run sees the first's users. Its --seed and --account-sid are
  // ignored (the directory holds a store); --verbose reports the recovery on
  // stderr only.
  Result second = Run({"replay", "--data-dir=" + dir, "--seed", "7", "--account-sid",
                       "AC0123456789abcdef0123456789abcdef", "--now", kNow, "--verbose",
                       "--durability", "sync", Path("second.jsonl")});
  ASSERT_EQ(second.exit_code, 0) << second.err;
  EXPECT_THAT(second.err, HasSubstr("userstore: recovered " + dir + ": "));
  EXPECT_THAT(second.err, HasSubstr(" journal records after checkpoint at sequence "));
  EXPECT_THAT(second.err, HasSubstr(", torn tail dropped: 0 bytes, in "));
  EXPECT_EQ(std::count(second.err.begin(), second.err.end(), '\n'), 1) << second.err;

  // One in-memory run of both sessions gives the same answers, byte for byte:
  // state, SID generator, page tokens and account all survived.
  WriteAll(Path("both.jsonl"), ReadAll(SessionPath()) + kSecondRun);
  Result both = Run({"replay", "--seed", "42", "--now", kNow, Path("both.jsonl")});
  ASSERT_EQ(both.exit_code, 0) << both.err;
  EXPECT_EQ(first.out + second.out, both.out);
  EXPECT_THAT(second.out, HasSubstr("\"identity\":\"alice\""));
  EXPECT_THAT(second.out, Not(HasSubstr("AC0123456789abcdef0123456789abcdef")));

  // A third run, in memory, knows nothing of them.
  Result memory = Run({"replay", "--seed", "42", "--now", kNow, Path("second.jsonl")});
  ASSERT_EQ(memory.exit_code, 0);
  EXPECT_THAT(memory.out, HasSubstr("\"status\":404"));
}

TEST_F(CliDurableTest, InspectTextAndJson) {
  const std::string dir = Path("store");
  ASSERT_EQ(
      Run({"replay", "--data-dir", dir, "--seed", "42", "--now", kNow, SessionPath()}).exit_code,
      0);
  Result json = Run({"inspect", "--json", dir});
  ASSERT_EQ(json.exit_code, 0) << json.err;
  rapidjson::Document doc = ParseJson(json.out);
  ASSERT_TRUE(doc.IsObject());
  ASSERT_TRUE(doc["checkpoints"].IsArray());
  ASSERT_EQ(doc["checkpoints"].Size(), 1u);
  const rapidjson::Value& ckpt = doc["checkpoints"][0];
  EXPECT_TRUE(ckpt["error"].IsNull());
  // The first checkpoint of a new store: the default service and its roles.
  EXPECT_EQ(ckpt["sequence"].GetUint64(), 5u);
  EXPECT_EQ(ckpt["records"]["services"].GetUint64(), 1u);
  EXPECT_EQ(ckpt["records"]["roles"].GetUint64(), 4u);
  EXPECT_EQ(ckpt["records"]["users"].GetUint64(), 0u);
  EXPECT_EQ(std::string(ckpt["account_sid"].GetString()).substr(0, 2), "AC");
  ASSERT_TRUE(doc["journal"].IsArray());
  ASSERT_GE(doc["journal"].Size(), 1u);
  const rapidjson::Value& seg = doc["journal"][0];
  EXPECT_TRUE(seg["error"].IsNull());
  EXPECT_EQ(seg["first_sequence"].GetUint64(), 6u);
  EXPECT_EQ(seg["first_record_sequence"].GetUint64(), 6u);
  const uint64_t records = seg["records"].GetUint64();
  ASSERT_GT(records, 0u);
  EXPECT_EQ(seg["last_record_sequence"].GetUint64(), 6u + records - 1);
  EXPECT_STREQ(seg["stop"]["reason"].GetString(), "end of data");
  EXPECT_EQ(seg["stop"]["offset"].GetUint64(), seg["bytes_used"].GetUint64());
  // A clean close synced everything.
  EXPECT_EQ(seg["synced_until"].GetUint64(), seg["bytes_used"].GetUint64());
  EXPECT_GT(seg["bytes"].GetUint64(), seg["bytes_used"].GetUint64());
  EXPECT_EQ(doc["last_sequence"].GetUint64(), 5u + records);

  Result text = Run({"inspect", dir});
  ASSERT_EQ(text.exit_code, 0) << text.err;
  EXPECT_THAT(text.out, HasSubstr("checkpoint checkpoint-00000000000000000005.ckpt\n"));
  EXPECT_THAT(text.out, HasSubstr("  records: 5 (1 services, 4 roles, 0 users)\n"));
  EXPECT_THAT(text.out, HasSubstr(absl::StrCat("  records: ", records, " (sequences 6..",
                                               5 + records, ")\n")));
  EXPECT_THAT(text.out, HasSubstr("  scan stopped: end of data at byte offset "));
  EXPECT_THAT(text.out, HasSubstr(absl::StrCat("last sequence: ", 5 + records, "\n")));
}

TEST_F(CliDurableTest, InspectAndVerifyReadAStoreAnotherProcessHasOpen) {
  const std::string dir = Path("store");
  userstore::DurableOptions options;
  options.store.seed = 3;
  auto store = userstore::OpenUserStore(dir, options);
  ASSERT_TRUE(store.ok()) << store.status();
  userstore::CreateUserRequest request;
  request.identity = "alice";
  ASSERT_TRUE((*store)->CreateUser((*store)->default_conversation_service_sid(), request).ok());
  // The store holds the directory's lock: a second open fails, inspect and
  // verify do not need it.
  Result replay = Run({"replay", "--data-dir", dir});
  EXPECT_EQ(replay.exit_code, 1);
  EXPECT_THAT(replay.err, HasSubstr("cannot open " + dir));
  Result inspect = Run({"inspect", "--json", dir});
  ASSERT_EQ(inspect.exit_code, 0) << inspect.err;
  rapidjson::Document doc = ParseJson(inspect.out);
  EXPECT_EQ(doc["last_sequence"].GetUint64(), (*store)->last_sequence());
  Result verify = Run({"verify", dir});
  EXPECT_EQ(verify.exit_code, 0) << verify.out;
  // Nothing was changed: the store goes on.
  request.identity = "bob";
  ASSERT_TRUE((*store)->CreateUser((*store)->default_conversation_service_sid(), request).ok());
}

// The path and size of the journal segment holding records, from inspect.
struct SegmentInfo {
  std::string path;
  uint64_t bytes_used = 0;
};

TEST_F(CliDurableTest, VerifySoundThenAFlippedByteInTheJournal) {
  const std::string dir = Path("store");
  ASSERT_EQ(
      Run({"replay", "--data-dir", dir, "--seed", "42", "--now", kNow, SessionPath()}).exit_code,
      0);
  Result sound = Run({"verify", dir});
  EXPECT_EQ(sound.exit_code, 0) << sound.out;
  EXPECT_THAT(sound.out, HasSubstr(dir + ": sound ("));
  EXPECT_THAT(sound.out, Not(HasSubstr("damaged")));

  rapidjson::Document doc = ParseJson(Run({"inspect", "--json", dir}).out);
  ASSERT_GE(doc["journal"].Size(), 1u);
  const std::string name = doc["journal"][0]["file"].GetString();
  const std::string path = dir + "/" + name;
  const uint64_t used = doc["journal"][0]["bytes_used"].GetUint64();
  const uint64_t middle = (4096 + used) / 2;
  {
    std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
    f.seekg(static_cast<std::streamoff>(middle));
    char c = 0;
    f.read(&c, 1);
    c = static_cast<char>(c ^ 0x40);
    f.seekp(static_cast<std::streamoff>(middle));
    f.write(&c, 1);
  }
  Result damaged = Run({"verify", dir});
  EXPECT_EQ(damaged.exit_code, 1) << damaged.out;
  // One line names the file and the byte offset of the frame holding the flip.
  const std::string prefix = "damaged: " + path + ": ";
  ASSERT_THAT(damaged.out, HasSubstr(prefix)) << damaged.out;
  const std::string line = damaged.out.substr(damaged.out.find(prefix));
  const size_t at = line.find("at byte offset ");
  ASSERT_NE(at, std::string::npos) << line;
  uint64_t offset = 0;
  const std::string digits =
      line.substr(at + 15, line.find_first_not_of("0123456789", at + 15) - (at + 15));
  ASSERT_TRUE(absl::SimpleAtoi(digits, &offset)) << line;
  EXPECT_GE(offset, 4096u);
  EXPECT_LE(offset, middle);
  EXPECT_THAT(line, HasSubstr("before the synced watermark"));
  // Strict recovery refuses it too, naming the same offset.
  Result replay = Run({"replay", "--data-dir", dir});
  EXPECT_EQ(replay.exit_code, 1);
  EXPECT_THAT(replay.err, HasSubstr(absl::StrCat(path, ": ")));
  EXPECT_THAT(replay.err, HasSubstr(absl::StrCat("at byte offset ", offset)));
}

TEST_F(CliDurableTest, VerifyWarnsOfATornTailAfterTheSyncedWatermark) {
  const std::string dir = Path("store");
  ASSERT_EQ(
      Run({"replay", "--data-dir", dir, "--seed", "42", "--now", kNow, SessionPath()}).exit_code,
      0);
  rapidjson::Document doc = ParseJson(Run({"inspect", "--json", dir}).out);
  const std::string path = dir + "/" + doc["journal"][0]["file"].GetString();
  const uint64_t used = doc["journal"][0]["bytes_used"].GetUint64();
  {
    // Half a frame header after the end of the data: an append torn by a crash.
    std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(static_cast<std::streamoff>(used + 4));
    f.write("\x07\x00\x00\x00\x01", 5);
  }
  Result verify = Run({"verify", dir});
  EXPECT_EQ(verify.exit_code, 0) << verify.out;
  EXPECT_THAT(verify.out, HasSubstr("warning: " + path + ": torn tail: "));
  EXPECT_THAT(verify.out, HasSubstr(absl::StrCat("at byte offset ", used)));
  // Recovery drops it and says so.
  Result replay = Run({"replay", "--data-dir", dir, "--verbose"});
  EXPECT_EQ(replay.exit_code, 0) << replay.err;
  // From the bad header to the last nonzero byte: 4 zero bytes, then 5.
  EXPECT_THAT(replay.err, HasSubstr("torn tail dropped: 9 bytes"));
  Result after = Run({"verify", dir});
  EXPECT_EQ(after.exit_code, 0) << after.out;
  EXPECT_THAT(after.out, Not(HasSubstr("warning")));
}

// The list pages recorded in the fixtures (every "read" response with users).
std::string FixturePages(int* users) {
  std::string pages;
  *users = 0;
  for (const char* name : {"chat_v2", "chat_v1", "conversations_v1"}) {
    rapidjson::Document doc = ParseJson(
        ReadAll(absl::StrCat(USERSTORE_TEST_DATA_DIR, "/fixtures/", name, "_users.fixtures.json")));
    for (auto& file : doc["files"].GetObject()) {
      for (auto& c : file.value["cases"].GetArray()) {
        if (std::string(c["operation"].GetString()) != "list" ||
            std::string(c["kind"].GetString()) != "response") {
          continue;
        }
        const rapidjson::Value& body = c["response"]["body"];
        if (!body.IsObject() || !body.HasMember("users")) continue;
        *users += static_cast<int>(body["users"].Size());
        pages += ToJson(body) + "\n";
      }
    }
  }
  return pages;
}

TEST_F(CliDurableTest, ImportsRecordedTwilioPages) {
  int users = 0;
  WriteAll(Path("pages.jsonl"), FixturePages(&users));
  ASSERT_GT(users, 2);
  const std::string dir = Path("store");
  Result import = Run({"import", dir, Path("pages.jsonl")});
  ASSERT_EQ(import.exit_code, 0) << import.err;
  // The fixtures use one placeholder SID for every user: the first goes in,
  // the others are the same user again.
  EXPECT_THAT(import.err, HasSubstr(absl::StrCat("userstore: imported 1 users, skipped ", users - 1,
                                                 " (already there), failed 0")));

  Result exported = Run({"export", dir, "--service", "ISaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"});
  ASSERT_EQ(exported.exit_code, 0) << exported.err;
  rapidjson::Document page = ParseJson(exported.out);
  ASSERT_EQ(page["users"].Size(), 1u);
  const rapidjson::Value& u = page["users"][0];
  // The first fixture page is Chat v2's: its user exactly, but `attributes`
  // (null there: never set, which userstore renders "{}").
  EXPECT_STREQ(u["sid"].GetString(), "USaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
  EXPECT_STREQ(u["service_sid"].GetString(), "ISaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
  EXPECT_STREQ(u["role_sid"].GetString(), "RLaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
  EXPECT_STREQ(u["identity"].GetString(), "jing");
  EXPECT_STREQ(u["attributes"].GetString(), "{}");
  EXPECT_TRUE(u["friendly_name"].IsNull());
  EXPECT_STREQ(u["date_created"].GetString(), "2016-03-24T21:05:19Z");
  EXPECT_STREQ(u["date_updated"].GetString(), "2016-03-24T21:05:19Z");
  EXPECT_EQ(u["joined_channels_count"].GetInt(), 0);

  // A store that has the service already takes users of every surface into it
  // and reports what does not go in, line by line, and goes on.
  WriteAll(
      Path("mixed.jsonl"),
      R"({"meta":{"key":"users"},"users":[{"sid":"USbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb","chat_service_sid":"ISaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa","role_sid":"RLaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa","identity":"admin","friendly_name":"name","attributes":"{ \"duty\": \"tech\" }","is_online":true,"is_notifiable":null,"date_created":"2019-12-16T22:18:37Z","date_updated":"2019-12-16T22:18:38Z"}]})"
      "\n"
      "not json\n"
      R"({"meta":{"key":"users"},"users":[{"sid":"UScccccccccccccccccccccccccccccccc","service_sid":"ISaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa","role_sid":"RLaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa","identity":"jing","attributes":null,"date_created":"2019-12-16T22:18:37Z","date_updated":"2019-12-16T22:18:38Z"},{"sid":"USdddddddddddddddddddddddddddddddd","service_sid":"ISaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa","role_sid":"RLaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa","identity":"dee","date_created":"yesterday","date_updated":"2019-12-16T22:18:38Z"},{"sid":"USeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee","service_sid":"ISaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa","role_sid":"RLaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa","identity":"eve","attributes":null,"joined_channels_count":3,"date_created":"2020-01-01T00:00:00Z","date_updated":"2020-01-02T00:00:00Z"}]})"
      "\n");
  Result mixed = Run({"import", dir, Path("mixed.jsonl")});
  EXPECT_EQ(mixed.exit_code, 1);
  EXPECT_THAT(mixed.err, HasSubstr(Path("mixed.jsonl") + ":2: not a list page"));
  EXPECT_THAT(
      mixed.err,
      HasSubstr(Path("mixed.jsonl") +
                ":3: user 0 (UScccccccccccccccccccccccccccccccc) not imported"));  // identity taken
  EXPECT_THAT(mixed.err,
              HasSubstr(Path("mixed.jsonl") + ":3: user 1 not imported: \"date_created\""));
  EXPECT_THAT(
      mixed.err,
      HasSubstr("imported 2 users, skipped 0 (already there), failed 2; 1 lines not pages"));
  Result all = Run({"export", "--surface", "chat-v1", dir});
  ASSERT_EQ(all.exit_code, 0) << all.err;
  EXPECT_THAT(all.out, HasSubstr("\"identity\":\"admin\""));
  EXPECT_THAT(all.out, HasSubstr("\"attributes\":\"{ \\\"duty\\\": \\\"tech\\\" }\""));
  EXPECT_THAT(all.out, HasSubstr("\"joined_channels_count\":3"));
  EXPECT_THAT(all.out, Not(HasSubstr("\"identity\":\"dee\"")));
}

// Every user of an export, one JSON text each, in order.
std::vector<std::string> UsersOf(const std::string& pages) {
  std::vector<std::string> users;
  for (absl::string_view line : absl::StrSplit(pages, '\n', absl::SkipEmpty())) {
    rapidjson::Document page = ParseJson(std::string(line));
    if (!page.IsObject() || !page.HasMember("users")) {
      ADD_FAILURE() << line;
      continue;
    }
    for (const auto& user : page["users"].GetArray()) users.push_back(ToJson(user));
  }
  return users;
}

// A session that fills a service with more users than a page holds.
std::string ManyUsers(int n) {
  std::string s = ReadAll(SessionPath());
  for (int i = 0; i < n; ++i) {
    absl::StrAppend(
        &s,
        R"({"method": "POST", "url": "https://chat.twilio.com/v2/Services/IScd0feda93006c6b652480865a4b42742/Users", "form": {"Identity": "user)",
        i, R"(", "FriendlyName": "User )", i, R"(", "Attributes": "{\"n\": )", i, R"(}"}})", "\n");
    if (i % 7 == 0) {
      absl::StrAppend(&s, R"({"control": "clock", "advance_seconds": 61})", "\n");
    }
  }
  return s;
}

TEST_F(CliDurableTest, ExportThenImportGivesBackTheSameUsers) {
  WriteAll(Path("many.jsonl"), ManyUsers(240));
  const std::string a = Path("a");
  Result replay =
      Run({"replay", "--data-dir", a, "--seed", "42", "--now", kNow, Path("many.jsonl")});
  ASSERT_EQ(replay.exit_code, 0) << replay.err;
  for (const char* surface : {"chat-v2", "chat-v1", "conversations"}) {
    SCOPED_TRACE(surface);
    Result exported = Run({"export", "--surface", surface, a});
    ASSERT_EQ(exported.exit_code, 0) << exported.err;
    WriteAll(Path("export.jsonl"), exported.out);
    // A new store with the same seed has the same account and default service;
    // the demo service, its roles and its users come from the pages.
    const std::string b = Path(std::string("b-") + surface);
    Result import = Run({"import", "--seed", "42", b, Path("export.jsonl")});
    ASSERT_EQ(import.exit_code, 0) << import.err;
    EXPECT_THAT(import.err, HasSubstr("skipped 0 (already there), failed 0"));
    Result again = Run({"export", "--surface", surface, b});
    ASSERT_EQ(again.exit_code, 0) << again.err;
    // The same users, field for field and in order (the page tokens may
    // differ: they hold positions, and the first store has a deleted user).
    const std::vector<std::string> users = UsersOf(exported.out);
    EXPECT_GT(users.size(), 240u);
    EXPECT_EQ(UsersOf(again.out), users);
    EXPECT_EQ(std::count(again.out.begin(), again.out.end(), '\n'),
              std::count(exported.out.begin(), exported.out.end(), '\n'));
    // Importing the same pages again changes nothing.
    Result twice = Run({"import", b, "-"}, Path("export.jsonl"));
    EXPECT_EQ(twice.exit_code, 0) << twice.err;
    EXPECT_THAT(twice.err, HasSubstr("userstore: imported 0 users"));
    EXPECT_EQ(Run({"export", "--surface", surface, b}).out, again.out);
  }
  // Chat v2 pages hold at most 100 users: the 240 users and the session's
  // come in several pages, each one line.
  Result v2 = Run({"export", a, "--service", "IScd0feda93006c6b652480865a4b42742"});
  ASSERT_EQ(v2.exit_code, 0);
  std::vector<std::string> lines = absl::StrSplit(v2.out, '\n', absl::SkipEmpty());
  EXPECT_EQ(lines.size(), 3u);
  for (const std::string& line : lines) {
    rapidjson::Document page = ParseJson(line);
    EXPECT_LE(page["users"].Size(), 100u);
  }
}

TEST_F(CliDurableTest, UsageErrors) {
  const std::string dir = Path("store");
  const std::vector<std::vector<std::string>> cases = {
      {"inspect"},
      {"inspect", "--bogus", dir},
      {"inspect", dir, dir},
      {"verify"},
      {"verify", "--json", dir},
      {"import", dir},
      {"import"},
      {"import", "--bogus", dir, "x"},
      {"export"},
      {"export", "--surface", "v3", dir},
      {"export", "--service"},
      {"replay", "--snapshot", Path("state")},
      {"replay", "--durability", "fast", "--data-dir", dir},
      {"replay", "--durability", "sync"},
      {"replay", "--data-dir"},
      {"replay", "--changelog", "redis://127.0.0.1:6379/users-p0"},
      {"replay", "--data-dir", dir, "--changelog-mode", "eventually"},
      {"replay", "--data-dir", dir, "--promote"},
      {"follow"},
      {"follow", "redis://127.0.0.1:6379/users-p0"},
      {"follow", "--data-dir", dir},
      {"follow", "redis://a/b", "redis://c/d", "--data-dir", dir},
      {"follow", "redis://a/b", "--data-dir", dir, "--timeout", "0"},
      {"follow", "redis://a/b", "--data-dir", dir, "--bogus"},
  };
  for (const auto& args : cases) {
    Result r = Run(args);
    EXPECT_EQ(r.exit_code, 2) << args[0] << " " << (args.size() > 1 ? args[1] : "");
    EXPECT_EQ(r.out, "");
    EXPECT_THAT(r.err, HasSubstr("userstore: "));
  }
  EXPECT_THAT(Run({"replay", "--snapshot", Path("state")}).err, HasSubstr("--data-dir"));
  // A changelog URL that is not one fails the work (exit 1), naming it.
  Result bad_url = Run({"follow", "nats://127.0.0.1:4222/users-p0", "--data-dir", dir});
  EXPECT_EQ(bad_url.exit_code, 1);
  EXPECT_THAT(bad_url.err, HasSubstr("unknown scheme"));
  // No usage error made a store.
  EXPECT_FALSE(std::filesystem::exists(dir));
  // A directory with no store: inspect says so; verify and export fail
  // without making one.
  Result verify = Run({"verify", dir});
  EXPECT_EQ(verify.exit_code, 1);
  Result exported = Run({"export", dir});
  EXPECT_EQ(exported.exit_code, 1);
  EXPECT_THAT(exported.err, HasSubstr("holds no store"));
  EXPECT_FALSE(std::filesystem::exists(dir));
  Result help = Run({"--help"});
  EXPECT_EQ(help.exit_code, 0);
  EXPECT_THAT(help.out, HasSubstr("userstore inspect"));
  EXPECT_THAT(help.out, Not(HasSubstr("--snapshot")));
}

}  // namespace
