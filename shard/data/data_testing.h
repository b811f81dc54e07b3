// Test-only helpers for shard/data: a Reply that renders RESP2 bytes, so expectations read like
// Redis's replies, and a fixture that runs commands on a real StorageEngine in a temp dir.
#pragma once

#include <cctype>
#include <cstdint>
#include <cstdio>
#include <initializer_list>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "gtest/gtest.h"
#include "rocksdb/utilities/write_batch_with_index.h"
#include "shard/data/commands.h"
#include "shard/data/reply.h"
#include "shard/data/store.h"
#include "shard/storage/engine.h"
#include "shard/storage/storage_testing.h"

namespace tessera::shard::data::data_testing {

// Records RESP2 and counts complete top-level values (a handler must answer exactly one).
class Resp2Reply final : public Reply {
 public:
  void SimpleString(std::string_view s) override { Line("+", s); }
  void Error(std::string_view text) override { Line("-", text); }
  void Integer(int64_t v) override { Line(":", std::to_string(v)); }
  void Bulk(std::string_view s) override {
    out_ += "$" + std::to_string(s.size()) + "\r\n";
    out_.append(s);
    out_ += "\r\n";
    Value();
  }
  void Null() override { Line("$-1", ""); }
  void NullArray() override { Line("*-1", ""); }
  void ArrayHeader(size_t n) override { Aggregate(n); }
  void MapHeader(size_t n) override { Aggregate(2 * n); }
  void SetHeader(size_t n) override { Aggregate(n); }
  void Double(double v) override {
    char buf[64];
    std::snprintf(buf, sizeof(buf), "%.17g", v);
    Bulk(buf);
  }

  const std::string& text() const { return out_; }
  int top_level_values() const { return top_level_; }
  bool complete() const { return pending_.empty(); }

 private:
  void Line(std::string_view prefix, std::string_view s) {
    out_.append(prefix);
    out_.append(s);
    out_ += "\r\n";
    Value();
  }
  void Aggregate(size_t n) {
    out_ += "*" + std::to_string(n) + "\r\n";
    if (n == 0) {
      Value();
    } else {
      pending_.push_back(n);
    }
  }
  // One value is complete: it fills a slot of the innermost open aggregate, or is top level.
  void Value() {
    while (!pending_.empty()) {
      if (--pending_.back() != 0) return;
      pending_.pop_back();
    }
    ++top_level_;
  }

  std::string out_;
  std::vector<size_t> pending_;
  int top_level_ = 0;
};

// RESP2 spellings for expectations.
inline const std::string kOk = "+OK\r\n";
inline const std::string kNil = "$-1\r\n";
inline std::string Bulk(std::string_view s) {
  return "$" + std::to_string(s.size()) + "\r\n" + std::string(s) + "\r\n";
}
inline std::string Int(int64_t v) { return ":" + std::to_string(v) + "\r\n"; }
inline std::string Err(std::string_view text) { return "-" + std::string(text) + "\r\n"; }
inline std::string Status(std::string_view s) { return "+" + std::string(s) + "\r\n"; }
// An array of bulk strings.
inline std::string Bulks(std::initializer_list<std::string_view> items) {
  std::string out = "*" + std::to_string(items.size()) + "\r\n";
  for (std::string_view s : items) out += Bulk(s);
  return out;
}

class DataTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto engine = StorageEngine::Open(dir_.path(), EngineOptions{});
    ASSERT_TRUE(engine.ok()) << engine.status();
    engine_ = *std::move(engine);
  }

  // Runs one command as the listener does: a write command in its own batch, then committed; a
  // read on a read-only context (a write to it would dereference the null batch).
  std::string Run(std::vector<std::string> args) {
    const DataCommand* command = Find(args);
    if (command == nullptr) return "";
    if (!command->write) return Execute(*command, args, nullptr);
    rocksdb::WriteBatchWithIndex batch;
    std::string out = Execute(*command, args, &batch);
    EXPECT_TRUE(engine_->Write(*batch.GetWriteBatch(), /*sync=*/false).ok());
    return out;
  }

  // Runs commands in one batch, like the entries of one apply round (reads too), then commits.
  std::vector<std::string> RunBatch(std::vector<std::vector<std::string>> commands) {
    rocksdb::WriteBatchWithIndex batch;
    std::vector<std::string> out;
    for (const auto& args : commands) {
      const DataCommand* command = Find(args);
      out.push_back(command == nullptr ? "" : Execute(*command, args, &batch));
    }
    EXPECT_TRUE(engine_->Write(*batch.GetWriteBatch(), /*sync=*/false).ok());
    return out;
  }

  // Writes a metadata row directly (e.g. a hash header, to provoke WRONGTYPE).
  void PutMetadata(std::string_view key, const Metadata& m, GroupId gid = 0) {
    rocksdb::WriteBatchWithIndex batch;
    ExecContext ctx = Context(&batch);
    if (gid != 0) ctx.gid = gid;
    StoreMetadata(ctx, key, m);
    ASSERT_TRUE(engine_->Write(*batch.GetWriteBatch(), false).ok());
  }
  void PutHash(std::string_view key, uint64_t expire_at_ms = 0) {
    Metadata m;
    m.type = KeyType::kHash;
    m.expire_at_ms = expire_at_ms;
    m.payload = EncodeU64BE(42) + EncodeU64BE(1);  // version ‖ size
    PutMetadata(key, m);
  }

  // The stored metadata row, expired or not; nullopt when there is none.
  std::optional<Metadata> RawMetadata(std::string_view key, GroupId gid = 0) {
    std::string value;
    rocksdb::Status s = engine_->db()->Get(rocksdb::ReadOptions(), engine_->data(),
                                           MetadataKey(gid == 0 ? gid_ : gid, key), &value);
    if (s.IsNotFound()) return std::nullopt;
    EXPECT_TRUE(s.ok()) << s.ToString();
    EXPECT_EQ(value.substr(0, 1), std::string(1, '\0'));  // value header: cleartext
    absl::StatusOr<Metadata> m = DecodeMetadata(std::string_view(value).substr(1));
    EXPECT_TRUE(m.ok()) << m.status();
    return m.ok() ? std::optional<Metadata>(*m) : std::nullopt;
  }

  ExecContext Context(rocksdb::WriteBatchWithIndex* batch) {
    ExecContext ctx;
    ctx.engine = engine_.get();
    ctx.gid = gid_;
    ctx.batch = batch;
    ctx.now_ms = now_ms_;
    ctx.seed = seed_;
    return ctx;
  }

  storage_testing::TempDir dir_;
  std::unique_ptr<StorageEngine> engine_;
  GroupId gid_ = 7;
  uint64_t now_ms_ = 1'000'000;
  uint64_t seed_ = 1;

 private:
  const DataCommand* Find(const std::vector<std::string>& args) {
    std::string name = args.at(0);
    for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    const DataCommand* command = FindDataCommand(name);
    EXPECT_NE(command, nullptr) << name;
    return command;
  }

  std::string Execute(const DataCommand& command, const std::vector<std::string>& args,
                      rocksdb::WriteBatchWithIndex* batch) {
    std::vector<std::string_view> argv(args.begin(), args.end());
    ExecContext ctx = Context(batch);
    Resp2Reply reply;
    absl::Status s = command.handler(ctx, argv, reply);
    EXPECT_TRUE(s.ok()) << s;
    EXPECT_EQ(reply.top_level_values(), 1) << args[0] << " replied " << reply.text();
    EXPECT_TRUE(reply.complete()) << reply.text();
    return reply.text();
  }
};

}  // namespace tessera::shard::data::data_testing
