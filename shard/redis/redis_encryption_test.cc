// Tamper tests through the Redis listener (spec/encryption.md §7): one node with the storage
// envelope active; a byte flipped in a stored envelope answers "-ERR data integrity failure" and
// counts it, an envelope naming a key this node lacks answers "-TRYAGAIN encryption key
// unavailable"; neither ever returns data.
#include <hiredis/hiredis.h>

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "shard/driver/driver.h"
#include "shard/driver/loopback_transport.h"
#include "shard/encryption/applier.h"
#include "shard/encryption/envelope.h"
#include "shard/encryption/resp_errors.h"
#include "shard/encryption/testing.h"
#include "shard/encryption/value_codec.h"
#include "shard/membership/node_id.h"
#include "shard/redis/redis_server.h"
#include "shard/storage/storage_testing.h"

namespace tessera::shard {
namespace {

using std::chrono::milliseconds;

constexpr GroupId kGroup = 1;
constexpr uint32_t kStorageKey = 11;
constexpr char kSecret[] = "the-plaintext-nobody-may-see";

bool WaitFor(const std::function<bool()>& pred, milliseconds timeout = milliseconds(10'000)) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (pred()) return true;
    std::this_thread::sleep_for(milliseconds(5));
  }
  return pred();
}

struct ReplyFree {
  void operator()(redisReply* r) const { freeReplyObject(r); }
};
struct ContextFree {
  void operator()(redisContext* c) const { redisFree(c); }
};

class TamperTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto engine = StorageEngine::Open(dir_.path(), EngineOptions{});
    ASSERT_TRUE(engine.ok()) << engine.status();
    engine_ = *std::move(engine);
    runtime_.kek = encryption::testing::TestKey(100);
    runtime_.sidecar_path = dir_.path() + "/encryption/keys.json";
    runtime_.keys->Install(kStorageKey, encryption::DekPurpose::kStorage,
                           encryption::testing::TestKey(5));
    runtime_.state->set_active_storage_id(kStorageKey);
    runtime_.state->ActivateStorageEnvelope();
    cipher_ = std::make_unique<encryption::StorageCipher>(runtime_.keys, runtime_.state);
    engine_->set_storage_cipher(cipher_.get());
    applier_ = std::make_unique<encryption::EncryptionApplier>(engine_.get(), kGroup, runtime_,
                                                               encryption::Sidecar{});
    const NodeId id = DeriveNodeId("t1");
    transport_ = std::make_unique<LoopbackTransport>(&hub_, id);
    DriverOptions o;
    o.node_id = id;
    o.groups[kGroup] = "10.0.2.1:5051";
    o.bootstrap_lists[kGroup] = {Server{id, "t1", "10.0.2.1:5051", true}};
    o.tick_interval = milliseconds(10);
    o.encryption_applier = applier_.get();
    auto driver = Driver::Open(engine_.get(), transport_.get(), o);
    ASSERT_TRUE(driver.ok()) << driver.status();
    driver_ = *std::move(driver);
    ASSERT_TRUE(driver_->Start().ok());
    ASSERT_TRUE(WaitFor([&] { return driver_->Status(kGroup)->role == raft::Role::kLeader; }));
    RedisServerOptions redis;
    redis.address = "127.0.0.1:0";
    redis.groups = {kGroup};
    redis.members[kGroup] = o.bootstrap_lists[kGroup];
    server_ = std::make_unique<RedisServer>(driver_.get(), std::move(redis));
    ASSERT_TRUE(server_->Start().ok());
    timeval tv{10, 0};
    ctx_.reset(redisConnectWithTimeout("127.0.0.1", server_->port(), tv));
    ASSERT_TRUE(ctx_ != nullptr && ctx_->err == 0);
  }
  void TearDown() override {
    ctx_.reset();
    if (server_) server_->Stop();
    if (driver_) driver_->Stop();
    server_.reset();
    driver_.reset();
    transport_.reset();
    if (engine_) {
      EXPECT_TRUE(engine_->Close().ok());
    }
  }

  // {type, text} of the reply to `argv`.
  std::pair<int, std::string> Run(const std::vector<std::string>& argv) {
    std::vector<const char*> ptrs;
    std::vector<size_t> lens;
    for (const std::string& a : argv) {
      ptrs.push_back(a.data());
      lens.push_back(a.size());
    }
    std::unique_ptr<redisReply, ReplyFree> r(static_cast<redisReply*>(
        redisCommandArgv(ctx_.get(), static_cast<int>(argv.size()), ptrs.data(), lens.data())));
    if (!r) return {-1, "no reply"};
    return {r->type, r->str != nullptr ? std::string(r->str, r->len) : ""};
  }

  // Rewrites every stored row of the data CF whose value is an envelope, through `edit`.
  int EditEnvelopes(const std::function<void(std::string&)>& edit) {
    int edited = 0;
    std::unique_ptr<rocksdb::Iterator> it(
        engine_->db()->NewIterator(rocksdb::ReadOptions(), engine_->data()));
    rocksdb::WriteBatch batch;
    for (it->SeekToFirst(); it->Valid(); it->Next()) {
      std::string value = it->value().ToString();
      if (value.empty() || (static_cast<uint8_t>(value[0]) & encryption::kValueStateMask) !=
                               encryption::kValueStateEnvelopeV1) {
        continue;
      }
      EXPECT_EQ(value.find(kSecret), std::string::npos);  // sealed at rest
      edit(value);
      batch.Put(engine_->data(), it->key(), value);
      ++edited;
    }
    EXPECT_TRUE(engine_->Write(batch, true).ok());
    return edited;
  }

  storage_testing::TempDir dir_;
  std::unique_ptr<StorageEngine> engine_;
  encryption::EncryptionRuntime runtime_;
  std::unique_ptr<encryption::StorageCipher> cipher_;
  std::unique_ptr<encryption::EncryptionApplier> applier_;
  LoopbackHub hub_;
  std::unique_ptr<LoopbackTransport> transport_;
  std::unique_ptr<Driver> driver_;
  std::unique_ptr<RedisServer> server_;
  std::unique_ptr<redisContext, ContextFree> ctx_;
};

TEST_F(TamperTest, FlippedCiphertextByteIsAnIntegrityErrorNeverData) {
  ASSERT_EQ(Run({"SET", "k", kSecret}).second, "OK");
  ASSERT_EQ(Run({"GET", "k"}), std::make_pair(REDIS_REPLY_STRING, std::string(kSecret)));
  const double before = encryption::ReadIntegrityFailures(kGroup);
  // A byte in the middle of the ciphertext (after the value header and the envelope header).
  const size_t at = encryption::kValueHeaderSize + encryption::kEnvelopeHeaderSize + 3;
  ASSERT_GE(EditEnvelopes([at](std::string& v) { v[at] = static_cast<char>(v[at] ^ 0x01); }), 1);
  EXPECT_EQ(Run({"GET", "k"}),
            std::make_pair(REDIS_REPLY_ERROR, std::string("ERR data integrity failure")));
  EXPECT_EQ(encryption::ReadIntegrityFailures(kGroup), before + 1);
  // Every other read of the row refuses too; nothing partial, nothing empty.
  EXPECT_EQ(Run({"STRLEN", "k"}).first, REDIS_REPLY_ERROR);
  EXPECT_EQ(Run({"GETRANGE", "k", "0", "3"}).first, REDIS_REPLY_ERROR);
  // The listener still serves other rows.
  ASSERT_EQ(Run({"SET", "other", "fine"}).second, "OK");
  EXPECT_EQ(Run({"GET", "other"}), std::make_pair(REDIS_REPLY_STRING, std::string("fine")));
}

TEST_F(TamperTest, FlippedTagByteIsAnIntegrityError) {
  ASSERT_EQ(Run({"SET", "k", kSecret}).second, "OK");
  ASSERT_GE(EditEnvelopes([](std::string& v) { v.back() = static_cast<char>(v.back() ^ 0x80); }),
            1);
  EXPECT_EQ(Run({"GET", "k"}),
            std::make_pair(REDIS_REPLY_ERROR, std::string("ERR data integrity failure")));
}

TEST_F(TamperTest, UnknownKeyIdIsTryAgain) {
  ASSERT_EQ(Run({"SET", "k", kSecret}).second, "OK");
  // The envelope's key id (big-endian u32 at envelope offset 2) names a key nobody holds.
  const size_t id_at = encryption::kValueHeaderSize + 2;
  ASSERT_GE(EditEnvelopes([id_at](std::string& v) { v[id_at] = static_cast<char>(0x7f); }), 1);
  EXPECT_EQ(Run({"GET", "k"}),
            std::make_pair(REDIS_REPLY_ERROR, std::string("TRYAGAIN encryption key unavailable")));
}

}  // namespace
}  // namespace tessera::shard
