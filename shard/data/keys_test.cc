// Generic key commands against a real StorageEngine: DEL/EXISTS/TYPE/RENAME, the EXPIRE family
// with NX XX GT LT at explicit now_ms values, KEYS/SCAN globs, SCAN completeness across cursors,
// RANDOMKEY determinism, DBSIZE and FLUSHDB per group, and determinism of writes across replicas.
// Expected replies were checked against redis-server 7.0.15.
#include <algorithm>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "shard/data/data_testing.h"

namespace tessera::shard::data {
namespace {

using data_testing::Bulk;
using data_testing::Bulks;
using data_testing::Err;
using data_testing::Int;
using data_testing::kNil;
using data_testing::kOk;
using data_testing::Status;

const std::string kSyntax = Err("ERR syntax error");

class KeysCommandTest : public data_testing::DataTest {
 protected:
  // The sorted bulk strings of a flat RESP2 array reply ("*n" then n bulks).
  static std::vector<std::string> SortedBulks(const std::string& resp) {
    std::vector<std::string> out;
    size_t pos = resp.find("\r\n") + 2;
    while (pos < resp.size()) {
      EXPECT_EQ(resp[pos], '$');
      const size_t eol = resp.find("\r\n", pos);
      const size_t len = std::stoul(resp.substr(pos + 1, eol - pos - 1));
      out.push_back(resp.substr(eol + 2, len));
      pos = eol + 2 + len + 2;
    }
    std::sort(out.begin(), out.end());
    return out;
  }

  struct ScanPage {
    std::string cursor;
    std::vector<std::string> keys;
  };
  static ScanPage ParseScan(const std::string& resp) {
    // *2 $len cursor *n ...
    ScanPage page;
    const size_t len_end = resp.find("\r\n", 4);
    const size_t len = std::stoul(resp.substr(5, len_end - 5));
    page.cursor = resp.substr(len_end + 2, len);
    page.keys = SortedBulks(resp.substr(len_end + 2 + len + 2));
    return page;
  }

  // Every key of a full scan (cursor 0 to 0), with the number of times each was returned.
  std::map<std::string, int> FullScan(std::vector<std::string> options, int* calls = nullptr) {
    std::map<std::string, int> seen;
    std::string cursor = "0";
    int n = 0;
    uint64_t previous = 0;
    do {
      std::vector<std::string> argv = {"SCAN", cursor};
      argv.insert(argv.end(), options.begin(), options.end());
      const ScanPage page = ParseScan(Run(argv));
      for (const std::string& key : page.keys) ++seen[key];
      cursor = page.cursor;
      if (cursor != "0") {
        EXPECT_GT(std::stoull(cursor), previous) << "cursors must grow";
        previous = std::stoull(cursor);
      }
      EXPECT_LT(++n, 100000);
    } while (cursor != "0" && n < 100000);
    if (calls != nullptr) *calls = n;
    return seen;
  }

  // Sub-key row of a collection (store.h): gid ‖ 'S' ‖ key_len u32 ‖ key ‖ version u64 ‖ sub.
  std::string SubKey(std::string_view key, uint64_t version, std::string_view sub) {
    std::string row = GroupKey(gid_, "S");
    const auto len = static_cast<uint32_t>(key.size());
    for (int shift = 24; shift >= 0; shift -= 8) row.push_back(static_cast<char>(len >> shift));
    row.append(key);
    PutU64BE(&row, version);
    row.append(sub);
    return row;
  }
  std::optional<std::string> RawRow(const std::string& key) {
    std::string value;
    rocksdb::Status s = engine_->db()->Get(rocksdb::ReadOptions(), engine_->data(), key, &value);
    if (s.IsNotFound()) return std::nullopt;
    EXPECT_TRUE(s.ok());
    EXPECT_EQ(value.substr(0, 1), std::string(1, '\0'));  // value header: cleartext
    return value.substr(1);
  }
};

TEST_F(KeysCommandTest, DelAndUnlinkCountDeletedKeys) {
  EXPECT_EQ(Run({"MSET", "a", "1", "b", "2", "c", "3"}), kOk);
  PutHash("h");
  EXPECT_EQ(Run({"DEL", "a", "a", "missing", "h"}), Int(2));
  EXPECT_EQ(Run({"UNLINK", "b", "c", "b"}), Int(2));
  EXPECT_EQ(Run({"DBSIZE"}), Int(0));
  EXPECT_EQ(Run({"SET", "e", "v", "PX", "10"}), kOk);
  now_ms_ += 10;
  EXPECT_EQ(Run({"DEL", "e"}), Int(0));  // expired: not counted, but its row goes
  EXPECT_FALSE(RawMetadata("e").has_value());
}

TEST_F(KeysCommandTest, ExistsAndTouchCountRepeats) {
  EXPECT_EQ(Run({"SET", "a", "1"}), kOk);
  PutHash("h");
  EXPECT_EQ(Run({"EXISTS", "a", "a", "a", "x", "h"}), Int(4));
  EXPECT_EQ(Run({"TOUCH", "a", "a", "x"}), Int(2));
  EXPECT_EQ(Run({"EXISTS", "x"}), Int(0));
}

TEST_F(KeysCommandTest, Type) {
  EXPECT_EQ(Run({"SET", "s", "v"}), kOk);
  PutHash("h");
  Metadata m;
  m.payload = std::string(16, '\0');
  m.type = KeyType::kList;
  PutMetadata("l", m);
  m.type = KeyType::kSet;
  PutMetadata("st", m);
  m.type = KeyType::kZSet;
  PutMetadata("z", m);
  EXPECT_EQ(Run({"TYPE", "s"}), Status("string"));
  EXPECT_EQ(Run({"TYPE", "h"}), Status("hash"));
  EXPECT_EQ(Run({"TYPE", "l"}), Status("list"));
  EXPECT_EQ(Run({"TYPE", "st"}), Status("set"));
  EXPECT_EQ(Run({"TYPE", "z"}), Status("zset"));
  EXPECT_EQ(Run({"TYPE", "missing"}), Status("none"));
  EXPECT_EQ(Run({"PEXPIRE", "s", "1"}), Int(1));
  now_ms_ += 1;
  EXPECT_EQ(Run({"TYPE", "s"}), Status("none"));
}

TEST_F(KeysCommandTest, RenameKeepsTheTtlAndReplacesTheDestination) {
  EXPECT_EQ(Run({"RENAME", "missing", "b"}), Err("ERR no such key"));
  EXPECT_EQ(Run({"RENAME", "missing", "missing"}), Err("ERR no such key"));
  EXPECT_EQ(Run({"RENAMENX", "missing", "b"}), Err("ERR no such key"));
  EXPECT_EQ(Run({"SET", "a", "1", "PX", "5000"}), kOk);
  EXPECT_EQ(Run({"RENAME", "a", "a"}), kOk);
  EXPECT_EQ(Run({"RENAMENX", "a", "a"}), Int(0));
  PutHash("b");
  EXPECT_EQ(Run({"RENAME", "a", "b"}), kOk);
  EXPECT_EQ(Run({"EXISTS", "a"}), Int(0));
  EXPECT_EQ(Run({"GET", "b"}), Bulk("1"));
  EXPECT_EQ(Run({"PTTL", "b"}), Int(5000));
  EXPECT_EQ(Run({"SET", "c", "2"}), kOk);
  EXPECT_EQ(Run({"RENAMENX", "b", "c"}), Int(0));
  EXPECT_EQ(Run({"RENAMENX", "b", "d"}), Int(1));
  EXPECT_EQ(Run({"MGET", "b", "c", "d"}), "*3\r\n" + kNil + Bulk("2") + Bulk("1"));
  now_ms_ += 5000;
  EXPECT_EQ(Run({"RENAME", "d", "e"}), Err("ERR no such key"));  // expired
}

TEST_F(KeysCommandTest, RenameMovesACollectionsSubKeyRows) {
  PutHash("h");  // version 42, one field
  {
    rocksdb::WriteBatchWithIndex batch;
    ExecContext ctx = Context(&batch);
    PutRow(ctx, SubKey("h", 42, "f1"), "v1");
    PutRow(ctx, SubKey("h", 42, "f2"), "v2");
    PutRow(ctx, SubKey("h", 41, "old"), "stale");  // an older version: not part of the hash
    PutRow(ctx, SubKey("hx", 42, "f1"), "other");  // another key
    ASSERT_TRUE(engine_->Write(*batch.GetWriteBatch(), false).ok());
  }
  EXPECT_EQ(Run({"RENAME", "h", "g"}), kOk);
  EXPECT_EQ(Run({"TYPE", "g"}), Status("hash"));
  EXPECT_EQ(RawRow(SubKey("g", 42, "f1")), "v1");
  EXPECT_EQ(RawRow(SubKey("g", 42, "f2")), "v2");
  EXPECT_FALSE(RawRow(SubKey("h", 42, "f1")).has_value());
  EXPECT_FALSE(RawRow(SubKey("h", 42, "f2")).has_value());
  EXPECT_EQ(RawRow(SubKey("h", 41, "old")), "stale");
  EXPECT_EQ(RawRow(SubKey("hx", 42, "f1")), "other");
  EXPECT_FALSE(RawRow(SubKey("g", 41, "old")).has_value());
}

TEST_F(KeysCommandTest, ExpireFamilySetsAbsoluteTimesFromNow) {
  EXPECT_EQ(Run({"EXPIRE", "missing", "10"}), Int(0));
  EXPECT_EQ(Run({"SET", "k", "v"}), kOk);
  EXPECT_EQ(Run({"EXPIRE", "k", "10"}), Int(1));
  EXPECT_EQ(RawMetadata("k")->expire_at_ms, now_ms_ + 10000);
  EXPECT_EQ(Run({"PEXPIRE", "k", "1500"}), Int(1));
  EXPECT_EQ(RawMetadata("k")->expire_at_ms, now_ms_ + 1500);
  EXPECT_EQ(Run({"EXPIREAT", "k", "2000"}), Int(1));
  EXPECT_EQ(RawMetadata("k")->expire_at_ms, 2000000u);
  EXPECT_EQ(Run({"PEXPIREAT", "k", "2000001"}), Int(1));
  EXPECT_EQ(RawMetadata("k")->expire_at_ms, 2000001u);
  EXPECT_EQ(Run({"GET", "k"}), Bulk("v"));
  PutHash("h");
  EXPECT_EQ(Run({"EXPIRE", "h", "10"}), Int(1));
  EXPECT_EQ(Run({"PTTL", "h"}), Int(10000));
}

TEST_F(KeysCommandTest, ExpireInThePastDeletesAndAnswersOne) {
  EXPECT_EQ(Run({"MSET", "a", "1", "b", "2", "c", "3", "d", "4"}), kOk);
  EXPECT_EQ(Run({"EXPIRE", "a", "-1"}), Int(1));
  EXPECT_EQ(Run({"PEXPIRE", "b", "0"}), Int(1));  // at exactly now
  EXPECT_EQ(Run({"PEXPIREAT", "c", std::to_string(now_ms_)}), Int(1));
  EXPECT_EQ(Run({"EXPIREAT", "d", "-9223372036854775"}), Int(1));
  for (const char* key : {"a", "b", "c", "d"}) EXPECT_FALSE(RawMetadata(key).has_value()) << key;
  EXPECT_EQ(Run({"DBSIZE"}), Int(0));
}

TEST_F(KeysCommandTest, ExpireConditions) {
  EXPECT_EQ(Run({"SET", "k", "v"}), kOk);
  EXPECT_EQ(Run({"EXPIRE", "k", "100", "XX"}), Int(0));
  EXPECT_EQ(Run({"EXPIRE", "k", "100", "GT"}), Int(0));  // no TTL is infinite
  EXPECT_EQ(Run({"EXPIRE", "k", "100", "LT"}), Int(1));
  EXPECT_EQ(Run({"EXPIRE", "k", "50", "NX"}), Int(0));
  EXPECT_EQ(Run({"EXPIRE", "k", "100", "GT"}), Int(0));  // equal is not greater
  EXPECT_EQ(Run({"EXPIRE", "k", "200", "gt"}), Int(1));
  EXPECT_EQ(Run({"EXPIRE", "k", "300", "LT"}), Int(0));
  EXPECT_EQ(Run({"EXPIRE", "k", "150", "XX", "LT"}), Int(1));
  EXPECT_EQ(Run({"PTTL", "k"}), Int(150000));
  EXPECT_EQ(Run({"PERSIST", "k"}), Int(1));
  EXPECT_EQ(Run({"EXPIRE", "k", "50", "NX"}), Int(1));
  EXPECT_EQ(Run({"EXPIRE", "k", "-1", "GT"}), Int(0));  // a refused past time deletes nothing
  EXPECT_EQ(Run({"EXISTS", "k"}), Int(1));
  EXPECT_EQ(Run({"EXPIRE", "k", "-1", "LT"}), Int(1));
  EXPECT_EQ(Run({"EXISTS", "k"}), Int(0));
}

TEST_F(KeysCommandTest, ExpireErrors) {
  EXPECT_EQ(Run({"SET", "k", "v"}), kOk);
  EXPECT_EQ(Run({"EXPIRE", "k", "10", "foo"}), Err("ERR Unsupported option foo"));
  EXPECT_EQ(Run({"EXPIRE", "k", "abc", "foo"}), Err("ERR Unsupported option foo"));  // first
  EXPECT_EQ(Run({"EXPIRE", "k", "10", "NX", "XX"}),
            Err("ERR NX and XX, GT or LT options at the same time are not compatible"));
  EXPECT_EQ(Run({"EXPIRE", "k", "10", "NX", "GT"}),
            Err("ERR NX and XX, GT or LT options at the same time are not compatible"));
  EXPECT_EQ(Run({"EXPIRE", "k", "10", "GT", "LT"}),
            Err("ERR GT and LT options at the same time are not compatible"));
  EXPECT_EQ(Run({"EXPIRE", "k", "abc"}), Err("ERR value is not an integer or out of range"));
  EXPECT_EQ(Run({"EXPIRE", "k", "9223372036854776"}),
            Err("ERR invalid expire time in 'expire' command"));
  EXPECT_EQ(Run({"EXPIRE", "k", "9223372036854775"}),
            Err("ERR invalid expire time in 'expire' command"));
  EXPECT_EQ(Run({"PEXPIRE", "k", "9223372036854775807"}),
            Err("ERR invalid expire time in 'pexpire' command"));
  EXPECT_EQ(Run({"EXPIREAT", "k", "9223372036854776"}),
            Err("ERR invalid expire time in 'expireat' command"));
  EXPECT_EQ(Run({"EXPIREAT", "missing", "9223372036854776"}),
            Err("ERR invalid expire time in 'expireat' command"));  // before the key
  EXPECT_EQ(Run({"PTTL", "k"}), Int(-1));
  EXPECT_EQ(Run({"PEXPIREAT", "k", "9223372036854775807"}), Int(1));
  EXPECT_EQ(Run({"EXPIREAT", "k", "9223372036854775"}), Int(1));
}

TEST_F(KeysCommandTest, TtlAndExpireTime) {
  EXPECT_EQ(Run({"TTL", "missing"}), Int(-2));
  EXPECT_EQ(Run({"PTTL", "missing"}), Int(-2));
  EXPECT_EQ(Run({"EXPIRETIME", "missing"}), Int(-2));
  EXPECT_EQ(Run({"PEXPIRETIME", "missing"}), Int(-2));
  EXPECT_EQ(Run({"SET", "k", "v"}), kOk);
  EXPECT_EQ(Run({"TTL", "k"}), Int(-1));
  EXPECT_EQ(Run({"PTTL", "k"}), Int(-1));
  EXPECT_EQ(Run({"EXPIRETIME", "k"}), Int(-1));
  EXPECT_EQ(Run({"PEXPIRETIME", "k"}), Int(-1));
  EXPECT_EQ(Run({"PEXPIRE", "k", "1499"}), Int(1));
  EXPECT_EQ(Run({"TTL", "k"}), Int(1));
  EXPECT_EQ(Run({"PEXPIRE", "k", "1500"}), Int(1));
  EXPECT_EQ(Run({"TTL", "k"}), Int(2));
  EXPECT_EQ(Run({"PEXPIREAT", "k", "99999999999500"}), Int(1));
  EXPECT_EQ(Run({"EXPIRETIME", "k"}), Int(100000000000));  // rounded like TTL
  EXPECT_EQ(Run({"PEXPIRETIME", "k"}), Int(99999999999500));
  EXPECT_EQ(Run({"PTTL", "k"}), Int(99999999999500 - static_cast<int64_t>(now_ms_)));
  now_ms_ = 99999999999499;
  EXPECT_EQ(Run({"PTTL", "k"}), Int(1));
  now_ms_ = 99999999999500;
  EXPECT_EQ(Run({"PTTL", "k"}), Int(-2));
  EXPECT_EQ(Run({"TTL", "k"}), Int(-2));
  EXPECT_TRUE(RawMetadata("k").has_value());  // reads never delete
}

TEST_F(KeysCommandTest, Persist) {
  EXPECT_EQ(Run({"PERSIST", "missing"}), Int(0));
  EXPECT_EQ(Run({"SET", "k", "v"}), kOk);
  EXPECT_EQ(Run({"PERSIST", "k"}), Int(0));
  EXPECT_EQ(Run({"EXPIRE", "k", "10"}), Int(1));
  EXPECT_EQ(Run({"PERSIST", "k"}), Int(1));
  EXPECT_EQ(Run({"TTL", "k"}), Int(-1));
  EXPECT_EQ(Run({"GET", "k"}), Bulk("v"));
}

TEST_F(KeysCommandTest, KeysMatchesGlobsAndSkipsExpiredKeysAndOtherGroups) {
  EXPECT_EQ(Run({"MSET", "hello", "1", "hallo", "1", "hxllo", "1", "hllo", "1", "heeeello", "1",
                 "a*b", "1", "", "1"}),
            kOk);
  EXPECT_EQ(Run({"SET", "hillo", "1", "PX", "5"}), kOk);
  Metadata m;
  m.payload = "x";
  PutMetadata("hello2", m, /*gid=*/gid_ + 1);
  PutMetadata("hello3", m, /*gid=*/gid_ - 1);
  now_ms_ += 5;
  EXPECT_EQ(SortedBulks(Run({"KEYS", "h?llo"})),
            (std::vector<std::string>{"hallo", "hello", "hxllo"}));
  EXPECT_EQ(SortedBulks(Run({"KEYS", "h*llo"})),
            (std::vector<std::string>{"hallo", "heeeello", "hello", "hllo", "hxllo"}));
  EXPECT_EQ(SortedBulks(Run({"KEYS", "h[ae]llo"})), (std::vector<std::string>{"hallo", "hello"}));
  EXPECT_EQ(SortedBulks(Run({"KEYS", "h[^e]llo"})), (std::vector<std::string>{"hallo", "hxllo"}));
  EXPECT_EQ(SortedBulks(Run({"KEYS", "h[a-b]llo"})), (std::vector<std::string>{"hallo"}));
  EXPECT_EQ(SortedBulks(Run({"KEYS", "a\\*b"})), (std::vector<std::string>{"a*b"}));
  EXPECT_EQ(Run({"KEYS", "nomatch*"}), "*0\r\n");
  EXPECT_EQ(SortedBulks(Run({"KEYS", "*"})),
            (std::vector<std::string>{"", "a*b", "hallo", "heeeello", "hello", "hllo", "hxllo"}));
  EXPECT_EQ(SortedBulks(Run({"KEYS", "**"})),  // only "*" itself matches the empty key
            (std::vector<std::string>{"a*b", "hallo", "heeeello", "hello", "hllo", "hxllo"}));
  EXPECT_TRUE(RawMetadata("hillo").has_value());  // KEYS is a read
}

TEST_F(KeysCommandTest, ScanOptionsAndErrors) {
  EXPECT_EQ(Run({"MSET", "s1", "1", "s2", "2"}), kOk);
  PutHash("h1");
  ScanPage page = ParseScan(Run({"SCAN", "0"}));
  EXPECT_EQ(page.cursor, "0");
  EXPECT_EQ(page.keys, (std::vector<std::string>{"h1", "s1", "s2"}));
  EXPECT_EQ(ParseScan(Run({"SCAN", "0", "MATCH", "s*"})).keys,
            (std::vector<std::string>{"s1", "s2"}));
  EXPECT_EQ(ParseScan(Run({"SCAN", "0", "TYPE", "HASH"})).keys, (std::vector<std::string>{"h1"}));
  EXPECT_EQ(ParseScan(Run({"SCAN", "0", "type", "string", "match", "*2", "count", "100"})).keys,
            (std::vector<std::string>{"s2"}));
  EXPECT_EQ(Run({"SCAN", "0", "TYPE", "foo"}), "*2\r\n" + Bulk("0") + "*0\r\n");
  const std::string invalid = Err("ERR invalid cursor");
  for (const char* cursor :
       {"abc", "-1", " 1", "+1", "", "1.0", "72057594037927936", "18446744073709551616"}) {
    EXPECT_EQ(Run({"SCAN", cursor}), invalid) << cursor;
  }
  EXPECT_EQ(Run({"SCAN", "abc", "FOO"}), invalid);  // the cursor comes first
  EXPECT_EQ(Run({"SCAN", "0", "COUNT", "0"}), kSyntax);
  EXPECT_EQ(Run({"SCAN", "0", "COUNT", "-1"}), kSyntax);
  EXPECT_EQ(Run({"SCAN", "0", "COUNT", "abc"}), Err("ERR value is not an integer or out of range"));
  EXPECT_EQ(Run({"SCAN", "0", "COUNT"}), kSyntax);
  EXPECT_EQ(Run({"SCAN", "0", "MATCH"}), kSyntax);
  EXPECT_EQ(Run({"SCAN", "0", "FOO", "bar"}), kSyntax);
  // Any cursor below 2^56 is a position; past every key it ends the scan.
  EXPECT_EQ(Run({"SCAN", "72057594037927935"}), "*2\r\n" + Bulk("0") + "*0\r\n");
}

TEST_F(KeysCommandTest, ScanCursorEncodesTheNextKeysFirstSevenBytes) {
  EXPECT_EQ(Run({"MSET", "a", "1", "b", "2"}), kOk);
  // "b" → 0x62 followed by six zero bytes.
  EXPECT_EQ(Run({"SCAN", "0", "COUNT", "1"}), "*2\r\n" + Bulk("27584547717644288") + Bulks({"a"}));
  EXPECT_EQ(Run({"SCAN", "27584547717644288", "COUNT", "1"}), "*2\r\n" + Bulk("0") + Bulks({"b"}));
}

TEST_F(KeysCommandTest, ScanWithCountOneReturnsEveryKeyExactlyOnce) {
  std::set<std::string> keys;
  std::vector<std::string> mset = {"MSET"};
  for (int i = 0; i < 300; ++i) {
    // Short keys, keys differing only after 7 bytes (one cursor run), and NUL bytes, which
    // the cursor's zero padding must not confuse.
    std::string key;
    switch (i % 5) {
      case 0:
        key = std::to_string(i);
        break;
      case 1:
        key = "session:" + std::to_string(i);
        break;
      case 2:
        key = "sessio" + std::string(1, static_cast<char>(i));
        break;
      case 3:
        key = std::string("k\0", 2) + std::string(i % 7, '\0');
        break;
      default:
        key = "user:" + std::to_string(i * 7919);
        break;
    }
    if (!keys.insert(key).second) continue;
    mset.push_back(key);
    mset.push_back("v");
  }
  keys.insert("");
  mset.push_back("");
  mset.push_back("v");
  EXPECT_EQ(Run(mset), kOk);
  int calls = 0;
  const std::map<std::string, int> seen = FullScan({"COUNT", "1"}, &calls);
  EXPECT_EQ(seen.size(), keys.size());
  for (const std::string& key : keys) EXPECT_EQ(seen.count(key) ? seen.at(key) : 0, 1) << key;
  EXPECT_GT(calls, 100);  // COUNT 1 still pages, runs of a shared 7-byte prefix aside
  EXPECT_EQ(FullScan({"COUNT", "7"}).size(), keys.size());
  EXPECT_EQ(FullScan({"COUNT", "1000"}).size(), keys.size());
  const std::map<std::string, int> sessions = FullScan({"COUNT", "1", "MATCH", "session:*"});
  EXPECT_EQ(sessions.size(), 60u);
}

TEST_F(KeysCommandTest, ScanReturnsKeysPresentThroughoutDespiteChanges) {
  for (int i = 0; i < 100; ++i) {
    EXPECT_EQ(Run({"SET", "key:" + std::to_string(1000 + i), "v"}), kOk);
  }
  std::map<std::string, int> seen;
  std::string cursor = "0";
  int step = 0;
  do {
    const ScanPage page = ParseScan(Run({"SCAN", cursor, "COUNT", "3"}));
    for (const std::string& key : page.keys) ++seen[key];
    cursor = page.cursor;
    // Between calls: delete odd keys, add keys before and after the scanned range.
    if (step < 50) {
      EXPECT_EQ(Run({"DEL", "key:" + std::to_string(1001 + 2 * step)}), Int(1));
    }
    EXPECT_EQ(Run({"SET", "key:0" + std::to_string(step), "v"}), kOk);
    EXPECT_EQ(Run({"SET", "key:9" + std::to_string(step), "v"}), kOk);
    ++step;
  } while (cursor != "0");
  for (int i = 0; i < 100; i += 2) {
    EXPECT_GE(seen["key:" + std::to_string(1000 + i)], 1) << i;  // never deleted
  }
  for (const auto& [key, n] : seen) EXPECT_EQ(n, 1) << key;
}

TEST_F(KeysCommandTest, ScanSkipsExpiredKeysWithoutDeletingThem) {
  EXPECT_EQ(Run({"SET", "a", "1", "PX", "10"}), kOk);
  EXPECT_EQ(Run({"SET", "b", "1"}), kOk);
  now_ms_ += 10;
  EXPECT_EQ(ParseScan(Run({"SCAN", "0"})).keys, (std::vector<std::string>{"b"}));
  EXPECT_TRUE(RawMetadata("a").has_value());
}

TEST_F(KeysCommandTest, RandomKeyIsDeterministicAndLive) {
  EXPECT_EQ(Run({"RANDOMKEY"}), kNil);
  EXPECT_EQ(Run({"SET", "only", "v"}), kOk);
  EXPECT_EQ(Run({"RANDOMKEY"}), Bulk("only"));
  for (int i = 0; i < 100; ++i) EXPECT_EQ(Run({"SET", "key:" + std::to_string(i), "v"}), kOk);
  std::set<std::string> picked;
  for (uint64_t seed = 0; seed < 64; ++seed) {
    seed_ = seed;
    const std::string first = Run({"RANDOMKEY"});
    EXPECT_EQ(Run({"RANDOMKEY"}), first);  // same state, same seed
    picked.insert(first);
  }
  EXPECT_GT(picked.size(), 10u);
  // Expired keys are never drawn; all expired answers nil.
  EXPECT_EQ(Run({"FLUSHDB"}), kOk);
  EXPECT_EQ(Run({"SET", "a", "1", "PX", "10"}), kOk);
  EXPECT_EQ(Run({"SET", "m", "1"}), kOk);
  EXPECT_EQ(Run({"SET", "z", "1", "PX", "10"}), kOk);
  now_ms_ += 10;
  for (uint64_t seed = 0; seed < 32; ++seed) {
    seed_ = seed;
    EXPECT_EQ(Run({"RANDOMKEY"}), Bulk("m"));
  }
  now_ms_ -= 10;
  EXPECT_EQ(Run({"DEL", "m"}), Int(1));
  now_ms_ += 10;
  EXPECT_EQ(Run({"RANDOMKEY"}), kNil);
}

TEST_F(KeysCommandTest, RandomKeyOfALargeGroupIsDeterministicAndLive) {
  std::vector<std::string> mset = {"MSET"};
  for (int i = 0; i < 1500; ++i) {
    mset.push_back("key:" + std::to_string(i));
    mset.push_back("v");
  }
  EXPECT_EQ(Run(mset), kOk);
  EXPECT_EQ(Run({"SET", "zzz", "v", "PX", "10"}), kOk);
  now_ms_ += 10;
  std::set<std::string> picked;
  for (uint64_t seed = 0; seed < 64; ++seed) {
    seed_ = seed;
    const std::string first = Run({"RANDOMKEY"});
    EXPECT_EQ(Run({"RANDOMKEY"}), first);
    EXPECT_NE(first, Bulk("zzz"));
    EXPECT_EQ(first.substr(0, 8).find("key:"), 4u) << first;
    picked.insert(first);
  }
  EXPECT_GT(picked.size(), 5u);
}

TEST_F(KeysCommandTest, DbSizeCountsLiveKeysOfTheGroup) {
  EXPECT_EQ(Run({"DBSIZE"}), Int(0));
  EXPECT_EQ(Run({"MSET", "a", "1", "b", "2"}), kOk);
  EXPECT_EQ(Run({"SET", "c", "3", "PX", "10"}), kOk);
  PutHash("h");
  Metadata m;
  m.payload = "x";
  PutMetadata("other", m, /*gid=*/gid_ + 1);
  EXPECT_EQ(Run({"DBSIZE"}), Int(4));
  now_ms_ += 10;
  EXPECT_EQ(Run({"DBSIZE"}), Int(3));
}

TEST_F(KeysCommandTest, FlushClearsOnlyThisGroup) {
  std::vector<std::string> mset = {"MSET"};
  for (int i = 0; i < 2500; ++i) {  // more than one chunk of the walk
    mset.push_back("k" + std::to_string(i));
    mset.push_back("v");
  }
  EXPECT_EQ(Run(mset), kOk);
  PutHash("h");
  EXPECT_EQ(Run({"SET", "e", "v", "PX", "10"}), kOk);
  Metadata m;
  m.payload = "x";
  PutMetadata("other", m, /*gid=*/gid_ + 1);
  now_ms_ += 10;
  EXPECT_EQ(Run({"FLUSHDB"}), kOk);
  EXPECT_EQ(Run({"DBSIZE"}), Int(0));
  EXPECT_FALSE(RawMetadata("e").has_value());  // expired rows go too
  EXPECT_TRUE(RawMetadata("other", gid_ + 1).has_value());
  EXPECT_EQ(Run({"SET", "k", "v"}), kOk);
  EXPECT_EQ(Run({"FLUSHALL", "ASYNC"}), kOk);
  EXPECT_EQ(Run({"DBSIZE"}), Int(0));
  EXPECT_EQ(Run({"FLUSHDB", "sync"}), kOk);
  EXPECT_EQ(Run({"FLUSHDB", "foo"}), kSyntax);
  EXPECT_EQ(Run({"FLUSHALL", "SYNC", "ASYNC"}), kSyntax);
}

TEST_F(KeysCommandTest, WalksSeeTheBatchOfTheirApplyRound) {
  EXPECT_EQ(Run({"MSET", "x", "1", "y", "2"}), kOk);
  const std::vector<std::string> out = RunBatch({
      {"SET", "a", "1"},
      {"SET", "a", "2"},  // the batch indexes two updates of one key
      {"SET", "b", "1"},
      {"DEL", "b", "x"},
      {"KEYS", "*"},
      {"SCAN", "0"},
      {"DBSIZE"},
      {"RENAME", "a", "c"},
      {"KEYS", "*"},
      {"FLUSHDB"},
      {"SET", "z", "1"},
      {"KEYS", "*"},
      {"DEL", "z", "z"},
  });
  ASSERT_EQ(out.size(), 13u);
  EXPECT_EQ(SortedBulks(out[4]), (std::vector<std::string>{"a", "y"}));
  EXPECT_EQ(ParseScan(out[5]).keys, (std::vector<std::string>{"a", "y"}));
  EXPECT_EQ(out[6], Int(2));
  EXPECT_EQ(SortedBulks(out[8]), (std::vector<std::string>{"c", "y"}));
  EXPECT_EQ(out[11], Bulks({"z"}));
  EXPECT_EQ(out[12], Int(1));
  EXPECT_EQ(Run({"DBSIZE"}), Int(0));
}

TEST_F(KeysCommandTest, ReadsOnAReadOnlyContextNeverWrite) {
  // Run() gives reads a null batch: any write would crash. Expired keys stay stored.
  EXPECT_EQ(Run({"SET", "k", "v", "PX", "1"}), kOk);
  now_ms_ += 1;
  for (const std::vector<std::string>& read :
       std::vector<std::vector<std::string>>{{"GET", "k"},
                                             {"MGET", "k"},
                                             {"STRLEN", "k"},
                                             {"GETRANGE", "k", "0", "1"},
                                             {"EXISTS", "k"},
                                             {"TOUCH", "k"},
                                             {"TYPE", "k"},
                                             {"TTL", "k"},
                                             {"PTTL", "k"},
                                             {"EXPIRETIME", "k"},
                                             {"PEXPIRETIME", "k"},
                                             {"KEYS", "*"},
                                             {"SCAN", "0"},
                                             {"RANDOMKEY"},
                                             {"DBSIZE"}}) {
    Run(read);
  }
  EXPECT_TRUE(RawMetadata("k").has_value());
}

// A replica: its own engine, applying commands at given times.
class Replica : public data_testing::DataTest {
 public:
  Replica() { SetUp(); }
  void TestBody() override {}
  std::string Apply(const std::vector<std::string>& command, uint64_t now_ms) {
    now_ms_ = now_ms;
    seed_ = now_ms;
    return Run(command);
  }
  std::vector<std::pair<std::string, std::string>> Rows() {
    std::vector<std::pair<std::string, std::string>> rows;
    std::unique_ptr<rocksdb::Iterator> it(
        engine_->db()->NewIterator(rocksdb::ReadOptions(), engine_->data()));
    for (it->SeekToFirst(); it->Valid(); it->Next()) {
      rows.emplace_back(it->key().ToString(), it->value().ToString());
    }
    return rows;
  }
};

// Every replica applies the same entries with the same now and seed: same replies, same rows.
TEST(KeysDeterminismTest, ReplicasApplyingTheSameCommandsHoldTheSameRows) {
  const std::vector<std::vector<std::string>> script = {
      {"SET", "a", "1", "EX", "100"},
      {"INCRBYFLOAT", "f", "1.1"},
      {"APPEND", "a", "x"},
      {"SETRANGE", "r", "3", "x"},
      {"MSET", "b", "2", "c", "3"},
      {"EXPIRE", "b", "-1"},
      {"RENAME", "c", "d"},
      {"PEXPIRE", "d", "10", "NX"},
      {"GETEX", "a", "PERSIST"},
      {"SET", "e", "1", "PX", "5"},
      {"GETDEL", "f"},
      {"SET", "g", "v"},
      {"RANDOMKEY"},
      {"SCAN", "0", "COUNT", "2"},
      {"KEYS", "*"},
  };
  Replica one;
  Replica two;
  uint64_t now = 5'000'000;
  for (const auto& command : script) {
    EXPECT_EQ(one.Apply(command, now), two.Apply(command, now)) << command[0];
    now += 3;
  }
  EXPECT_EQ(one.Rows(), two.Rows());
  EXPECT_FALSE(one.Rows().empty());
}

}  // namespace
}  // namespace tessera::shard::data
