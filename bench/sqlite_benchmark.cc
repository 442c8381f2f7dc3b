// -----------------------------------------------------------------------------
// File: bench/sqlite_benchmark.cc
// -----------------------------------------------------------------------------
//
// `Sqlite`: the users table in an SQLite `:memory:` database, used the way a
// careful developer would. One connection (serialized mode, SQLite's default)
// and, per benchmark thread, one set of prepared statements. Schema:
//
//   CREATE TABLE users(
//     sid TEXT NOT NULL PRIMARY KEY,
//     service_sid TEXT NOT NULL,
//     role_sid TEXT NOT NULL,
//     identity TEXT NOT NULL,
//     friendly_name TEXT,
//     attributes TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(attributes)),
//     is_online INTEGER,
//     is_notifiable INTEGER,
//     joined_channels_count INTEGER NOT NULL DEFAULT 0,
//     date_created INTEGER NOT NULL,
//     date_updated INTEGER NOT NULL,
//     UNIQUE (service_sid, identity))
//
// Creation order is the rowid (new rows get max(rowid)+1); a page is
// `WHERE rowid > ?token ORDER BY rowid LIMIT 51` (keyset paging; the 51st row
// only says whether a next page exists). Update uses `RETURNING` to hand back
// the whole user. Writes run in one transaction per batch (BEGIN/COMMIT around
// kTxnOps operations); reads run in autocommit mode. The account SID is not a
// column (one per store). Reads (by SID, by identity, list) hand each row to
// benchmark::DoNotOptimize as a `userstore::UserView` over the column
// pointers, with no copy, the same work the Store adapter's reads do; so do
// Create (a view over the values it bound) and Update (the RETURNING row), as
// the Store adapter's writes use the zero-copy CreateUser / UpdateUser.
// Memory counters add bytes_per_user_engine from sqlite3_memory_used().
//
// The same adapter, schema and statements on a file, the peers of the
// durable store (bench/durable_benchmark.cc):
//
//   SqliteWal      a database file in a fresh temporary directory (removed at
//                  the end), PRAGMA journal_mode=WAL and synchronous=NORMAL: a
//                  commit is in the WAL file, in the operating system's hands,
//                  and the WAL is synced at its checkpoints (what a crash of
//                  the process leaves intact; a power loss may lose the last
//                  commits). Transactions per batch, as above. Create,
//                  GetBySid, Update, Delete.
//   SqliteWalFull  the same with synchronous=FULL, and each create its own
//                  transaction (autocommit), so that every create is synced
//                  before it returns, as in the durable store's
//                  kSyncEachWrite (FULL syncs the WAL at every commit; one
//                  commit per batch of 1000 would sync once per 1000 creates).
//                  Create only, timed by the wall clock (WallClock: a sync
//                  waits, it does not compute).

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "bench/bench_harness.h"
#include <benchmark/benchmark.h>
#include <sqlite3.h>

#include "userstore/resources.h"

namespace userstore_bench {
namespace {

using userstore::UserView;

constexpr const char kSchema[] =
    "CREATE TABLE users("
    " sid TEXT NOT NULL PRIMARY KEY,"
    " service_sid TEXT NOT NULL,"
    " role_sid TEXT NOT NULL,"
    " identity TEXT NOT NULL,"
    " friendly_name TEXT,"
    " attributes TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(attributes)),"
    " is_online INTEGER,"
    " is_notifiable INTEGER,"
    " joined_channels_count INTEGER NOT NULL DEFAULT 0,"
    " date_created INTEGER NOT NULL,"
    " date_updated INTEGER NOT NULL,"
    " UNIQUE (service_sid, identity))";

#define USER_COLUMNS                                                                    \
  "rowid, sid, service_sid, role_sid, identity, friendly_name, attributes, is_online, " \
  "is_notifiable, joined_channels_count, date_created, date_updated"

void Check(int rc, sqlite3* db, const char* what) {
  if (rc != SQLITE_OK) {
    std::fprintf(stderr, "sqlite: %s: %s\n", what, db ? sqlite3_errmsg(db) : "");
    std::abort();
  }
}

class Statement {
 public:
  Statement() = default;
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;
  ~Statement() { sqlite3_finalize(stmt_); }
  void Prepare(sqlite3* db, const char* sql) {
    Check(sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, &stmt_, nullptr), db, sql);
  }
  sqlite3_stmt* get() const { return stmt_; }

 private:
  sqlite3_stmt* stmt_ = nullptr;
};

void BindText(sqlite3_stmt* s, int i, absl::string_view text) {
  sqlite3_bind_text(s, i, text.data(), static_cast<int>(text.size()), SQLITE_STATIC);
}

// Valid until the statement steps again or is reset.
absl::string_view ColumnView(sqlite3_stmt* s, int i) {
  const unsigned char* p = sqlite3_column_text(s, i);
  return p == nullptr ? absl::string_view()
                      : absl::string_view(reinterpret_cast<const char*>(p),
                                          static_cast<size_t>(sqlite3_column_bytes(s, i)));
}

// Where the database lives and how it commits: the in-memory baseline and the
// file-backed peers of the durable store.
struct SqliteMemory {
  static constexpr const char* kName = "Sqlite";
  static constexpr bool kOnDisk = false;
  static constexpr const char* kPragmas = "";
  static constexpr bool kCommitEachWrite = false;
};
struct SqliteWal {
  static constexpr const char* kName = "SqliteWal";
  static constexpr bool kOnDisk = true;
  static constexpr const char* kPragmas = "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;";
  static constexpr bool kCommitEachWrite = false;
};
struct SqliteWalFull {
  static constexpr const char* kName = "SqliteWalFull";
  static constexpr bool kOnDisk = true;
  static constexpr const char* kPragmas = "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;";
  static constexpr bool kCommitEachWrite = true;
};

template <class Mode>
class SqliteAdapter {
 public:
  static constexpr const char* kName = Mode::kName;

  static std::unique_ptr<SqliteAdapter> MakeEmpty() { return std::make_unique<SqliteAdapter>(); }
  static void BuildFixture(int64_t n, Fixture<SqliteAdapter>* fx) { BuildStandardFixture(n, fx); }
  static int64_t EngineBytes() { return sqlite3_memory_used(); }

  SqliteAdapter()
      : dir_(Mode::kOnDisk ? std::make_unique<TempDir>("sqlite") : nullptr),
        rng_(0x5411e),
        account_sid_("AC" + SidString(Rng(1).NextSid()).substr(2)),
        service_sid_("IS" + SidString(Rng(2).NextSid()).substr(2)),
        role_sid_("RL" + SidString(Rng(3).NextSid()).substr(2)) {
    const std::string path = Mode::kOnDisk ? dir_->path() + "/users.db" : ":memory:";
    Check(sqlite3_open_v2(path.c_str(), &db_,
                          SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX,
                          nullptr),
          db_, "open");
    if (std::strlen(Mode::kPragmas) > 0) {
      Check(sqlite3_exec(db_, Mode::kPragmas, nullptr, nullptr, nullptr), db_, Mode::kPragmas);
    }
    Check(sqlite3_exec(db_, kSchema, nullptr, nullptr, nullptr), db_, "schema");
    for (Statements& s : stmts_) {
      s.insert.Prepare(db_,
                       "INSERT INTO users(sid, service_sid, role_sid, identity, attributes, "
                       "date_created, date_updated) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6)");
      s.get_by_sid.Prepare(db_, "SELECT " USER_COLUMNS " FROM users WHERE sid = ?1");
      s.get_by_identity.Prepare(
          db_, "SELECT " USER_COLUMNS " FROM users WHERE service_sid = ?1 AND identity = ?2");
      s.update.Prepare(db_,
                       "UPDATE users SET attributes = ?2, date_updated = ?3 WHERE sid = ?1 "
                       "RETURNING " USER_COLUMNS);
      s.remove.Prepare(db_, "DELETE FROM users WHERE sid = ?1");
      s.remove_by_identity.Prepare(db_,
                                   "DELETE FROM users WHERE service_sid = ?1 AND identity = ?2");
      s.list.Prepare(db_,
                     "SELECT " USER_COLUMNS " FROM users WHERE rowid > ?1 ORDER BY rowid LIMIT ?2");
      s.begin.Prepare(db_, "BEGIN");
      s.commit.Prepare(db_, "COMMIT");
    }
  }

  // close_v2: the connection goes away once the statements (members,
  // finalized after this body) are gone; the directory (the first member)
  // after that.
  ~SqliteAdapter() { sqlite3_close_v2(db_); }

  // In transactions of kTxnOps whatever the mode (loading is not measured).
  void Load(const Dataset& d, SidText* sids) {
    Exec(stmts_[0].begin.get());
    for (int64_t i = 0; i < d.n; ++i) {
      if (!Create(0, d.identity(i), d.attribute(i), &sids[i])) std::abort();
      if ((i + 1) % kTxnOps == 0) {
        Exec(stmts_[0].commit.get());
        Exec(stmts_[0].begin.get());
      }
    }
    Exec(stmts_[0].commit.get());
  }

  bool Create(int t, absl::string_view identity, absl::string_view attributes, SidText* sid_out) {
    sqlite3_stmt* s = stmts_[t].insert.get();
    char sid[34];
    FormatSid(rng_.NextSid(), sid);
    const absl::Time now = NowSeconds();
    BindText(s, 1, absl::string_view(sid, sizeof(sid)));
    BindText(s, 2, service_sid_);
    BindText(s, 3, role_sid_);
    BindText(s, 4, identity);
    BindText(s, 5, attributes);
    sqlite3_bind_int64(s, 6, absl::ToUnixSeconds(now));
    const int rc = sqlite3_step(s);
    sqlite3_reset(s);
    if (rc != SQLITE_DONE) return false;
    // The new user as a view over what was bound (no copy), as the Store
    // adapter's create hands its view.
    UserView user;
    user.sid = absl::string_view(sid, sizeof(sid));
    user.account_sid = account_sid_;
    user.service_sid = service_sid_;
    user.role_sid = role_sid_;
    user.identity = identity;
    user.attributes = attributes;
    user.date_created = user.date_updated = now;
    benchmark::DoNotOptimize(user);
    if (sid_out != nullptr) sid_out->Set(user.sid);
    return true;
  }

  bool GetBySid(int t, absl::string_view sid) {
    sqlite3_stmt* s = stmts_[t].get_by_sid.get();
    BindText(s, 1, sid);
    return ViewOne(s);
  }

  bool GetByIdentity(int t, absl::string_view identity) {
    sqlite3_stmt* s = stmts_[t].get_by_identity.get();
    BindText(s, 1, service_sid_);
    BindText(s, 2, identity);
    return ViewOne(s);
  }

  bool Update(int t, absl::string_view sid, absl::string_view attributes) {
    sqlite3_stmt* s = stmts_[t].update.get();
    BindText(s, 1, sid);
    BindText(s, 2, attributes);
    sqlite3_bind_int64(s, 3, absl::ToUnixSeconds(absl::Now()));
    return ViewOne(s);
  }

  bool Delete(int t, absl::string_view sid) {
    sqlite3_stmt* s = stmts_[t].remove.get();
    BindText(s, 1, sid);
    const int rc = sqlite3_step(s);
    sqlite3_reset(s);
    return rc == SQLITE_DONE && sqlite3_changes(db_) == 1;
  }

  int64_t List(int t, std::string* token) {
    sqlite3_stmt* s = stmts_[t].list.get();
    const int64_t after = token->empty() ? 0 : std::strtoll(token->c_str(), nullptr, 10);
    sqlite3_bind_int64(s, 1, after);
    sqlite3_bind_int64(s, 2, kPageSize + 1);
    int64_t items = 0;
    int64_t last = 0;
    bool more = false;
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
      if (items == kPageSize) {
        more = true;
        break;
      }
      last = sqlite3_column_int64(s, 0);
      UserView view = RowToView(s);
      benchmark::DoNotOptimize(view);
      ++items;
    }
    sqlite3_reset(s);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) return -1;
    *token = more ? std::to_string(last) : std::string();
    return items;
  }

  bool DeleteByIdentity(absl::string_view identity) {
    sqlite3_stmt* s = stmts_[0].remove_by_identity.get();
    BindText(s, 1, service_sid_);
    BindText(s, 2, identity);
    const int rc = sqlite3_step(s);
    sqlite3_reset(s);
    return rc == SQLITE_DONE && sqlite3_changes(db_) == 1;
  }

  // kCommitEachWrite: no batch, every statement commits on its own.
  void BeginBatch(int t) {
    if (!Mode::kCommitEachWrite) Exec(stmts_[t].begin.get());
  }
  void CommitBatch(int t) {
    if (!Mode::kCommitEachWrite) Exec(stmts_[t].commit.get());
  }
  void Compact() {}

 private:
  struct Statements {
    Statement insert, get_by_sid, get_by_identity, update, remove, remove_by_identity, list, begin,
        commit;
  };

  void Exec(sqlite3_stmt* s) {
    const int rc = sqlite3_step(s);
    sqlite3_reset(s);
    if (rc != SQLITE_DONE) Check(rc, db_, "transaction");
  }

  // Steps `s` once; reads the row, if any, as a view (no copy), as the
  // Store adapter's reads do through ReadUser().
  bool ViewOne(sqlite3_stmt* s) {
    const int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
      UserView view = RowToView(s);
      benchmark::DoNotOptimize(view);
    }
    sqlite3_reset(s);
    return rc == SQLITE_ROW;
  }

  UserView RowToView(sqlite3_stmt* s) const {
    UserView user;
    user.sid = ColumnView(s, 1);
    user.account_sid = account_sid_;
    user.service_sid = ColumnView(s, 2);
    user.role_sid = ColumnView(s, 3);
    user.identity = ColumnView(s, 4);
    if (sqlite3_column_type(s, 5) != SQLITE_NULL) user.friendly_name = ColumnView(s, 5);
    user.attributes = ColumnView(s, 6);
    if (sqlite3_column_type(s, 7) != SQLITE_NULL) user.is_online = sqlite3_column_int(s, 7) != 0;
    if (sqlite3_column_type(s, 8) != SQLITE_NULL) {
      user.is_notifiable = sqlite3_column_int(s, 8) != 0;
    }
    user.joined_channels_count = sqlite3_column_int(s, 9);
    user.date_created = absl::FromUnixSeconds(sqlite3_column_int64(s, 10));
    user.date_updated = absl::FromUnixSeconds(sqlite3_column_int64(s, 11));
    return user;
  }

  std::unique_ptr<TempDir> dir_;  // on disk: where the database is; else null
  sqlite3* db_ = nullptr;
  Statements stmts_[2];  // per benchmark thread
  Rng rng_;
  const std::string account_sid_;
  const std::string service_sid_;
  const std::string role_sid_;
};

const bool kRegistered = [] {
  benchmark::AddCustomContext("sqlite_version", sqlite3_libversion());
  RegisterImpl(MakeEntry<SqliteAdapter<SqliteMemory>>(/*order=*/2));
  ImplEntry wal;
  wal.name = SqliteWal::kName;
  wal.order = 6;
  wal.threaded_reads = false;
  wal.ops[kCreate] = &BM_Create<SqliteAdapter<SqliteWal>>;
  wal.ops[kGetBySid] = &BM_GetBySid<SqliteAdapter<SqliteWal>>;
  wal.ops[kUpdate] = &BM_Update<SqliteAdapter<SqliteWal>>;
  wal.ops[kDelete] = &BM_Delete<SqliteAdapter<SqliteWal>>;
  RegisterImpl(std::move(wal));
  ImplEntry full;
  full.name = SqliteWalFull::kName;
  full.order = 7;
  full.ops[kCreate] = &BM_Create<SqliteAdapter<SqliteWalFull>, /*kWallClock=*/true>;
  return RegisterImpl(std::move(full));
}();

}  // namespace
}  // namespace userstore_bench
