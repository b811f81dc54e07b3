// The .fsm snapshot file format, written down once (spec/snapshots-and-cold-start.md §2).
// fsm_file.cc writes and reads files with it; fsm_format_test.cc pins it with golden bytes.
//
//   file    = payload ‖ footer
//   payload = header ‖ body
//   footer  = CRC32C-Castagnoli(payload)                                      u32
//   header  = "TSRSNAP1" ‖ clock_ceiling_ms                                   v1, 16 bytes
//           | "TSRSNAP2" ‖ len u16 ‖ clock_ceiling_ms ‖ raft_envelope_cutover_index
//             ‖ (len − 16) extension bytes, skipped by readers                v2, 2 + 8 + len
//   body    = "TSRROWS1" ‖ { key_len u32 ‖ key ‖ value_len u32 ‖ value }*
//             ‖ 0xFFFFFFFF ‖ row_count u64
// Every integer is big-endian. Keys are `data` CF keys without the 8-byte group prefix, in
// strictly ascending bytewise order; values are copied verbatim (envelopes included).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "shard/snapshot/byte_source.h"

namespace tessera::shard {

// File framing.
inline constexpr size_t kFsmFooterSize = 4;      // CRC32C of the payload, u32 BE
inline constexpr uint64_t kFsmMinFileSize = 20;  // v1 header + footer; smaller → kSnapshotTooSmall
inline constexpr uint64_t kDefaultMaxSnapshotBytes = uint64_t{16} << 30;  // --raftMaxSnapshotBytes
inline constexpr size_t kFsmIoBufferSize = size_t{1} << 20;  // one buffered reader/writer per file

// Header. Magic discrimination is by the exact 8 bytes, never by field values.
inline constexpr size_t kFsmMagicSize = 8;
inline constexpr std::string_view kFsmMagicFamily = "TSRSNAP";  // + version byte '1' or '2'
inline constexpr std::string_view kFsmV1Magic = "TSRSNAP1";
inline constexpr std::string_view kFsmV2Magic = "TSRSNAP2";
inline constexpr size_t kV1HeaderSize = 16;  // magic ‖ clock_ceiling_ms
inline constexpr size_t kV2HeaderSize = 26;  // as written: magic ‖ len ‖ ceiling ‖ cutover
inline constexpr uint16_t kV2FieldsLength = 16;  // len as written; also its minimum
inline constexpr uint16_t kV2MaxLength = 1024;   // len above this → kSnapshotHeaderInvalidLength

// Body.
inline constexpr std::string_view kFsmBodyMagic = "TSRROWS1";
inline constexpr uint32_t kFsmEndOfRows = 0xFFFFFFFF;  // in place of key_len after the last row
inline constexpr uint32_t kFsmMaxKeySize = uint32_t{1} << 20;    // 1 MiB
inline constexpr uint32_t kFsmMaxValueSize = uint32_t{1} << 28;  // 256 MiB
inline constexpr size_t kFsmBodyTrailerSize = 4 + 8;             // end marker ‖ row_count

enum class FsmHeaderVersion : uint8_t { kV1 = 1, kV2 = 2 };

struct FsmHeader {
  FsmHeaderVersion version = FsmHeaderVersion::kV1;
  uint64_t clock_ceiling_ms = 0;             // durable state-machine clock ceiling at the view
  uint64_t raft_envelope_cutover_index = 0;  // encryption.md §9; 0 = not cut over; 0 in v1
  bool operator==(const FsmHeader&) const = default;
};

// The header a snapshot view writes: v1 while the cutover is 0, v2 once it is not. The
// no-downgrade latch (meta:snapshot_header_latch) wins over a lower meta cutover; then
// `meta_below_latch` is set so the caller logs its one ERROR per group per process.
struct FsmHeaderChoice {
  FsmHeader header;
  bool meta_below_latch = false;
};
FsmHeaderChoice ChooseFsmHeader(uint64_t clock_ceiling_ms, uint64_t meta_cutover_index,
                                uint64_t header_latch);

// InvalidArgument for a v1 header with a non-zero cutover (v1 cannot carry it).
absl::StatusOr<std::string> EncodeFsmHeader(const FsmHeader& header);

// Reads exactly one header (v2 extension bytes consumed and ignored) and nothing after it.
// Errors: kSnapshotHeaderUnknownMagic, kSnapshotHeaderInvalidLength, kSnapshotHeaderTruncated;
// a read failure of `in` is returned unchanged (kIo), never as a format error.
absl::StatusOr<FsmHeader> ReadFsmHeader(ByteSource& in);

// Body encoding pieces, for writers that stream values instead of copying them.
void AppendFsmBodyStart(std::string* dst);
void AppendFsmRow(std::string* dst, std::string_view key, std::string_view value);
void AppendFsmBodyEnd(std::string* dst, uint64_t row_count);

// kSnapshotBodyInvalid unless key and value are within limits and `key` sorts strictly after
// `previous_key` (ignored when `has_previous` is false).
absl::Status CheckFsmRow(bool has_previous, std::string_view previous_key, std::string_view key,
                         uint64_t value_size);

// Decodes a body from `in` one row at a time, enforcing every body rule of §2.
class FsmBodyReader {
 public:
  explicit FsmBodyReader(ByteSource& in) : in_(in) {}

  // The next row: true with `key` and `value` set (a null `value` is skipped, not stored); false
  // once the end marker, a matching row_count and the end of `in` have been read. Errors:
  // kSnapshotBodyInvalid, or a read failure of `in` unchanged. After false or an error, every
  // further call returns the same.
  absl::StatusOr<bool> Next(std::string* key, std::string* value);

  uint64_t rows() const { return rows_; }

 private:
  absl::StatusOr<bool> ReadNext(std::string* key, std::string* value);

  ByteSource& in_;
  bool started_ = false;
  bool finished_ = false;
  absl::Status error_;
  std::string previous_key_;
  uint64_t rows_ = 0;
};

}  // namespace tessera::shard
