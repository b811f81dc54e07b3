// RespErrorsTest: encryption errors become the RESP replies of spec/encryption.md §7, and an
// integrity failure is counted per group.
#include "shard/encryption/resp_errors.h"

#include <gtest/gtest.h>

#include "shard/encryption/encryption_errc.h"

namespace tessera::shard::encryption {
namespace {

TEST(RespErrorsTest, KeyUnavailableIsTryAgain) {
  EXPECT_EQ(EncryptionErrorReply(EncryptionError(EncryptionErrc::kKeyUnavailable, "key 7"), 3),
            "TRYAGAIN encryption key unavailable");
}

TEST(RespErrorsTest, IntegrityFailureIsCountedPerGroup) {
  const double before = ReadIntegrityFailures(41);
  const double other = ReadIntegrityFailures(42);
  EXPECT_EQ(EncryptionErrorReply(EncryptionError(EncryptionErrc::kEncryptedReadIntegrity), 41),
            "ERR data integrity failure");
  EXPECT_EQ(ReadIntegrityFailures(41), before + 1);
  EXPECT_EQ(ReadIntegrityFailures(42), other);
}

TEST(RespErrorsTest, OtherStatusesAreNotMapped) {
  EXPECT_EQ(EncryptionErrorReply(absl::InternalError("x"), 1), std::nullopt);
  EXPECT_EQ(EncryptionErrorReply(EncryptionError(EncryptionErrc::kNoCipher), 1), std::nullopt);
}

}  // namespace
}  // namespace tessera::shard::encryption
