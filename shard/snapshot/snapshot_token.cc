// Encoding and fail-closed decoding of the 17-byte snapshot token.
#include "shard/snapshot/snapshot_token.h"

#include "absl/strings/str_cat.h"
#include "shard/snapshot/big_endian.h"
#include "shard/snapshot/snapshot_errc.h"

namespace tessera::shard {

using snapshot_internal::GetBigEndian32;
using snapshot_internal::GetBigEndian64;
using snapshot_internal::PutBigEndian32;
using snapshot_internal::PutBigEndian64;

std::string EncodeSnapshotToken(const SnapshotToken& token) {
  std::string out(kSnapshotTokenSize, '\0');
  out.replace(0, kSnapshotTokenMagic.size(), kSnapshotTokenMagic);
  out[4] = static_cast<char>(kSnapshotTokenVersion);
  PutBigEndian64(out.data() + 5, token.index);
  PutBigEndian32(out.data() + 13, token.crc32c);
  return out;
}

bool IsSnapshotToken(std::string_view data) {
  return data.size() == kSnapshotTokenSize && data.substr(0, 4) == kSnapshotTokenMagic;
}

absl::StatusOr<SnapshotToken> DecodeSnapshotToken(std::string_view data) {
  if (data.size() != kSnapshotTokenSize) {
    return SnapshotError(SnapshotErrc::kSnapshotTokenInvalid,
                         absl::StrCat("length ", data.size(), ", want ", kSnapshotTokenSize));
  }
  if (data.substr(0, 4) != kSnapshotTokenMagic) {
    return SnapshotError(SnapshotErrc::kSnapshotTokenInvalid, "bad magic");
  }
  const auto version = static_cast<uint8_t>(data[4]);
  if (version != kSnapshotTokenVersion) {
    return SnapshotError(SnapshotErrc::kSnapshotTokenInvalid,
                         absl::StrCat("unsupported version ", version));
  }
  return SnapshotToken{.index = GetBigEndian64(data.data() + 5),
                       .crc32c = GetBigEndian32(data.data() + 13)};
}

absl::StatusOr<std::optional<SnapshotToken>> DecodeSnapshotData(std::string_view data) {
  if (data.empty()) return std::optional<SnapshotToken>();
  absl::StatusOr<SnapshotToken> token = DecodeSnapshotToken(data);
  if (!token.ok()) return token.status();
  return std::optional<SnapshotToken>(*token);
}

absl::Status CheckTokenIndex(const SnapshotToken& token, uint64_t metadata_index) {
  if (token.index == metadata_index) return absl::OkStatus();
  return SnapshotError(
      SnapshotErrc::kSnapshotIndexMismatch,
      absl::StrCat("token index ", token.index, ", metadata index ", metadata_index));
}

}  // namespace tessera::shard
