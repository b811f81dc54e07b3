// ReadDispatchTest: the value header's encryption state decides how a `data` row is read, and
// the write gate decides how it is written (spec/encryption.md §7), through the data model's
// row accessors and a real StorageEngine.
#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "shard/data/data_testing.h"
#include "shard/data/store.h"
#include "shard/encryption/encryption_errc.h"
#include "shard/encryption/envelope.h"
#include "shard/encryption/testing.h"
#include "shard/encryption/value_codec.h"
#include "shard/kv/kv_state_machine.h"

namespace tessera::shard::encryption {
namespace {

using data::data_testing::Bulk;
using data::data_testing::kOk;

constexpr uint32_t kStorageId = 0xA0000001;

class ReadDispatchTest : public data::data_testing::DataTest {
 protected:
  void SetUp() override {
    DataTest::SetUp();
    keys_->Install(kStorageId, DekPurpose::kStorage, testing::TestKey(9));
    state_->set_active_storage_id(kStorageId);
    engine_->set_storage_cipher(&cipher_);
  }

  std::string RawValue(std::string_view user_key) {
    std::string value;
    EXPECT_TRUE(engine_->db()
                    ->Get(rocksdb::ReadOptions(), engine_->data(),
                          data::MetadataKey(gid_, user_key), &value)
                    .ok());
    return value;
  }
  void PutRaw(std::string_view user_key, std::string_view stored) {
    rocksdb::WriteBatch batch;
    batch.Put(engine_->data(), data::MetadataKey(gid_, user_key),
              rocksdb::Slice(stored.data(), stored.size()));
    ASSERT_TRUE(engine_->Write(batch, false).ok());
  }
  absl::StatusOr<std::optional<std::string>> Get(std::string_view user_key) {
    data::ExecContext ctx = Context(nullptr);
    return data::GetRow(ctx, data::MetadataKey(gid_, user_key));
  }

  std::shared_ptr<Keystore> keys_ = std::make_shared<Keystore>();
  std::shared_ptr<EncryptionStateCache> state_ = std::make_shared<EncryptionStateCache>();
  StorageCipher cipher_{keys_, state_};
};

TEST_F(ReadDispatchTest, DispatchesOnHeaderBitsNotBytes) {
  // A cleartext value whose bytes look like an envelope (0x01 ‖ key id ‖ ...) comes back verbatim.
  std::string lookalike = SealStorage(*testing::TestKey(9), kStorageId, "x", "y");
  PutRaw("k", EncodeCleartextValue(lookalike));
  absl::StatusOr<std::optional<std::string>> got = Get("k");
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(**got, lookalike);
  // And an iterator sees the same.
  data::ExecContext ctx = Context(nullptr);
  data::RowIterator it(ctx, data::MetadataKeyEnd(gid_));
  it.Seek(data::MetadataKeyBegin(gid_));
  ASSERT_TRUE(it.Valid());
  EXPECT_EQ(it.value(), lookalike);
}

TEST_F(ReadDispatchTest, ReservedStateRejected) {
  for (char header : {'\x04', '\x06', '\x01', '\x08', '\x80'}) {
    PutRaw("k", std::string(1, header) + "value");
    EXPECT_EQ(GetEncryptionErrc(Get("k").status()), EncryptionErrc::kValueHeaderReserved)
        << int(header);
  }
  PutRaw("k", "");
  EXPECT_EQ(GetEncryptionErrc(Get("k").status()), EncryptionErrc::kValueHeaderReserved);
}

TEST_F(ReadDispatchTest, CipherlessOpenRefuses) {
  state_->ActivateStorageEnvelope();
  EXPECT_EQ(Run({"SET", "secret", "s3cr3t"}), kOk);
  engine_->set_storage_cipher(nullptr);
  EXPECT_EQ(Run({"SET", "plain", "visible"}), kOk);  // cipher-less writers write cleartext
  const absl::Status s = Get("secret").status();
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(std::string(s.message()).find("no cipher configured"), std::string::npos) << s;
  EXPECT_EQ(Run({"GET", "plain"}), Bulk("visible"));
  // A scan stops at the enveloped row with the same error, never yielding its bytes.
  data::ExecContext ctx = Context(nullptr);
  data::RowIterator it(ctx, data::MetadataKeyEnd(gid_));
  int seen = 0;
  for (it.Seek(data::MetadataKeyBegin(gid_)); it.Valid(); it.Next()) ++seen;
  EXPECT_EQ(seen, 1);  // "plain" sorts before "secret"
  EXPECT_NE(std::string(it.status().message()).find("no cipher configured"), std::string::npos);
}

TEST_F(ReadDispatchTest, MixedVersionsReadable) {
  EXPECT_EQ(Run({"SET", "a", "clear"}), kOk);
  EXPECT_EQ(Run({"HSET", "h", "f1", "clear-field"}), data::data_testing::Int(1));
  state_->ActivateStorageEnvelope();
  EXPECT_EQ(Run({"SET", "b", "sealed"}), kOk);
  EXPECT_EQ(Run({"HSET", "h", "f2", "sealed-field"}), data::data_testing::Int(1));
  EXPECT_EQ(RawValue("a")[0], '\x00');
  EXPECT_EQ(RawValue("b")[0], '\x02');
  EXPECT_EQ(Run({"GET", "a"}), Bulk("clear"));
  EXPECT_EQ(Run({"GET", "b"}), Bulk("sealed"));
  EXPECT_EQ(Run({"HGET", "h", "f1"}), Bulk("clear-field"));
  EXPECT_EQ(Run({"HGET", "h", "f2"}), Bulk("sealed-field"));
  // A rotation: rows under the old key stay readable, new rows carry the new id.
  keys_->Install(0xB0000002, DekPurpose::kStorage, testing::TestKey(10));
  state_->set_active_storage_id(0xB0000002);
  EXPECT_EQ(Run({"SET", "c", "rotated"}), kOk);
  const std::string raw_c = RawValue("c");
  EXPECT_EQ(raw_c.substr(3, 4), std::string("\xB0\x00\x00\x02", 4));
  EXPECT_EQ(Run({"MGET", "a", "b", "c"}),
            "*3\r\n" + Bulk("clear") + Bulk("sealed") + Bulk("rotated"));
}

TEST_F(ReadDispatchTest, GateWritesClearBeforeCutover) {
  // Bootstrapped (an active id and its key) but not cut over: cleartext.
  EXPECT_EQ(Run({"SET", "k", "before-cutover"}), kOk);
  const std::string raw = RawValue("k");
  EXPECT_EQ(raw[0], '\x00');
  EXPECT_NE(raw.find("before-cutover"), std::string::npos);
  state_->ActivateStorageEnvelope();
  EXPECT_EQ(Run({"SET", "k", "after-cutover"}), kOk);
  const std::string sealed = RawValue("k");
  EXPECT_EQ(sealed[0], '\x02');
  EXPECT_EQ(sealed.find("after-cutover"), std::string::npos);
  // value header ‖ envelope of (type ‖ expire ‖ payload).
  EXPECT_EQ(sealed.size(), 1 + kEnvelopeOverhead + 9 + std::string("after-cutover").size());
}

TEST_F(ReadDispatchTest, TamperedRowIsIntegrityError) {
  state_->ActivateStorageEnvelope();
  EXPECT_EQ(Run({"SET", "k", "value"}), kOk);
  std::string raw = RawValue("k");
  raw[raw.size() - 3] ^= 0x20;
  PutRaw("k", raw);
  const absl::Status s = Get("k").status();
  EXPECT_EQ(GetEncryptionErrc(s), EncryptionErrc::kEncryptedReadIntegrity);
  EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss);
  // Moving the sealed row under another key fails too (AAD binds the row key).
  PutRaw("other", RawValue("k"));
  EXPECT_EQ(GetEncryptionErrc(Get("other").status()), EncryptionErrc::kEncryptedReadIntegrity);
}

TEST_F(ReadDispatchTest, GateFailsClosedWhenActiveKeyMissing) {
  state_->ActivateStorageEnvelope();
  state_->set_active_storage_id(0x0BADBEEF);  // not in the keystore
  auto kv = KvStateMachine::Open(engine_.get(), {gid_});
  ASSERT_TRUE(kv.ok()) << kv.status();
  raft::Entry entry;
  entry.index = 1;
  entry.term = 1;
  entry.type = raft::EntryType::kNormal;
  entry.data = EncodeEntryPayload(ProposalId{1, 1}, 1'000'000, EncodeSetCommand("k", "v"));
  rocksdb::WriteBatchWithIndex batch;
  absl::StatusOr<std::optional<AppliedEntry>> applied =
      (*kv)->StageApply(batch, gid_, entry, nullptr);
  ASSERT_FALSE(applied.ok());
  EXPECT_EQ(GetEncryptionErrc(applied.status()), EncryptionErrc::kKeyUnavailable);
  EXPECT_FALSE(IsKeyWaitBeforeStaging(applied.status()));  // a halt, not a wait
  // Nothing was staged for the data column family: no cleartext fallback.
  std::unique_ptr<rocksdb::WBWIIterator> it(batch.NewIterator(engine_->data()));
  it->SeekToFirst();
  EXPECT_FALSE(it->Valid());
}

}  // namespace
}  // namespace tessera::shard::encryption
