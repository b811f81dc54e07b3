// Mapping of encryption errors to RESP replies, and the integrity-failure counter.
#include "shard/encryption/resp_errors.h"

#include "absl/strings/str_cat.h"
#include "common/metrics.h"
#include "shard/encryption/encryption_errc.h"
#include "spdlog/spdlog.h"

namespace tessera::shard::encryption {
namespace {

common::Family<common::Counter>& IntegrityFailures() {
  static common::Family<common::Counter>& family = common::DefaultRegistry().AddCounter(
      "tessera_encryption_read_integrity_failures_total",
      "Reads refused because a stored envelope failed authentication (tampering or corruption).",
      {"group"});
  return family;
}

}  // namespace

std::optional<std::string> EncryptionErrorReply(const absl::Status& status, uint64_t group) {
  switch (GetEncryptionErrc(status)) {
    case EncryptionErrc::kKeyUnavailable:
      return std::string(kKeyUnavailableReply);
    case EncryptionErrc::kEncryptedReadIntegrity:
      IntegrityFailures().WithLabels({absl::StrCat(group)})->Inc();
      // The detail stays in the log: a client learns only that the row is unusable.
      spdlog::error("group {}: {}", group, status.ToString());
      return std::string(kIntegrityFailureReply);
    default:
      return std::nullopt;
  }
}

double ReadIntegrityFailures(uint64_t group) {
  return IntegrityFailures().WithLabels({absl::StrCat(group)})->Value();
}

}  // namespace tessera::shard::encryption
