// Encoding and decoding of the .fsm header and body; file framing lives in fsm_file.cc.
#include "shard/snapshot/fsm_format.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "shard/snapshot/big_endian.h"
#include "shard/snapshot/snapshot_errc.h"

namespace tessera::shard {
namespace {

using snapshot_internal::GetBigEndian16;
using snapshot_internal::GetBigEndian32;
using snapshot_internal::GetBigEndian64;
using snapshot_internal::PutBigEndian16;
using snapshot_internal::PutBigEndian32;
using snapshot_internal::PutBigEndian64;

absl::Status HeaderTruncated(std::string_view where) {
  return SnapshotError(SnapshotErrc::kSnapshotHeaderTruncated, where);
}

absl::Status BodyInvalid(std::string_view why) {
  return SnapshotError(SnapshotErrc::kSnapshotBodyInvalid, why);
}

// Reads exactly `n` bytes or returns `short_error` (a read failure passes through unchanged).
absl::Status ReadExactly(ByteSource& in, char* dst, size_t n, const absl::Status& short_error) {
  absl::StatusOr<size_t> got = ReadFull(in, dst, n);
  if (!got.ok()) return got.status();
  return *got == n ? absl::OkStatus() : short_error;
}

std::string Printable(std::string_view bytes) {
  std::string out;
  for (char c : bytes) {
    const auto u = static_cast<unsigned char>(c);
    if (u >= 0x20 && u < 0x7f) {
      out += c;
    } else {
      absl::StrAppend(&out, "\\x", absl::Hex(u, absl::kZeroPad2));
    }
  }
  return out;
}

void AppendBigEndian32(std::string* dst, uint32_t v) {
  char buf[4];
  PutBigEndian32(buf, v);
  dst->append(buf, sizeof(buf));
}

}  // namespace

FsmHeaderChoice ChooseFsmHeader(uint64_t clock_ceiling_ms, uint64_t meta_cutover_index,
                                uint64_t header_latch) {
  FsmHeaderChoice choice;
  const uint64_t cutover = std::max(meta_cutover_index, header_latch);
  choice.header.version = cutover == 0 ? FsmHeaderVersion::kV1 : FsmHeaderVersion::kV2;
  choice.header.clock_ceiling_ms = clock_ceiling_ms;
  choice.header.raft_envelope_cutover_index = cutover;
  choice.meta_below_latch = meta_cutover_index < header_latch;
  return choice;
}

absl::StatusOr<std::string> EncodeFsmHeader(const FsmHeader& header) {
  std::string out;
  switch (header.version) {
    case FsmHeaderVersion::kV1:
      if (header.raft_envelope_cutover_index != 0) {
        return absl::InvalidArgumentError(absl::StrCat("fsm header v1 cannot carry cutover index ",
                                                       header.raft_envelope_cutover_index));
      }
      out.resize(kV1HeaderSize);
      out.replace(0, kFsmMagicSize, kFsmV1Magic);
      PutBigEndian64(out.data() + 8, header.clock_ceiling_ms);
      return out;
    case FsmHeaderVersion::kV2:
      out.resize(kV2HeaderSize);
      out.replace(0, kFsmMagicSize, kFsmV2Magic);
      PutBigEndian16(out.data() + 8, kV2FieldsLength);
      PutBigEndian64(out.data() + 10, header.clock_ceiling_ms);
      PutBigEndian64(out.data() + 18, header.raft_envelope_cutover_index);
      return out;
  }
  return absl::InvalidArgumentError(
      absl::StrCat("unknown fsm header version ", static_cast<int>(header.version)));
}

absl::StatusOr<FsmHeader> ReadFsmHeader(ByteSource& in) {
  char magic[kFsmMagicSize];
  if (absl::Status s = ReadExactly(in, magic, sizeof(magic), HeaderTruncated("inside the magic"));
      !s.ok()) {
    return s;
  }
  const std::string_view magic_view(magic, sizeof(magic));
  FsmHeader header;
  if (magic_view == kFsmV1Magic) {
    char ceiling[8];
    if (absl::Status s = ReadExactly(in, ceiling, sizeof(ceiling), HeaderTruncated("v1 ceiling"));
        !s.ok()) {
      return s;
    }
    header.version = FsmHeaderVersion::kV1;
    header.clock_ceiling_ms = GetBigEndian64(ceiling);
    return header;
  }
  if (magic_view == kFsmV2Magic) {
    char len_bytes[2];
    if (absl::Status s = ReadExactly(in, len_bytes, sizeof(len_bytes), HeaderTruncated("v2 len"));
        !s.ok()) {
      return s;
    }
    const uint16_t len = GetBigEndian16(len_bytes);
    if (len < kV2FieldsLength || len > kV2MaxLength) {
      return SnapshotError(
          SnapshotErrc::kSnapshotHeaderInvalidLength,
          absl::StrCat("v2 len ", len, ", want ", kV2FieldsLength, "..", kV2MaxLength));
    }
    char fields[kV2FieldsLength];
    if (absl::Status s = ReadExactly(in, fields, sizeof(fields), HeaderTruncated("v2 fields"));
        !s.ok()) {
      return s;
    }
    const uint64_t extension = len - kV2FieldsLength;
    absl::StatusOr<uint64_t> skipped = in.Skip(extension);
    if (!skipped.ok()) return skipped.status();
    if (*skipped != extension) return HeaderTruncated("v2 extension");
    header.version = FsmHeaderVersion::kV2;
    header.clock_ceiling_ms = GetBigEndian64(fields);
    header.raft_envelope_cutover_index = GetBigEndian64(fields + 8);
    return header;
  }
  if (magic_view.substr(0, kFsmMagicFamily.size()) == kFsmMagicFamily) {
    return SnapshotError(SnapshotErrc::kSnapshotHeaderUnknownMagic,
                         absl::StrCat("\"", Printable(magic_view),
                                      "\" is a newer Tessera snapshot format; upgrade this node"));
  }
  return SnapshotError(SnapshotErrc::kSnapshotHeaderUnknownMagic,
                       absl::StrCat("\"", Printable(magic_view), "\" is not a Tessera snapshot"));
}

void AppendFsmBodyStart(std::string* dst) { dst->append(kFsmBodyMagic); }

void AppendFsmRow(std::string* dst, std::string_view key, std::string_view value) {
  AppendBigEndian32(dst, static_cast<uint32_t>(key.size()));
  dst->append(key);
  AppendBigEndian32(dst, static_cast<uint32_t>(value.size()));
  dst->append(value);
}

void AppendFsmBodyEnd(std::string* dst, uint64_t row_count) {
  AppendBigEndian32(dst, kFsmEndOfRows);
  char count[8];
  PutBigEndian64(count, row_count);
  dst->append(count, sizeof(count));
}

absl::Status CheckFsmRow(bool has_previous, std::string_view previous_key, std::string_view key,
                         uint64_t value_size) {
  if (key.size() > kFsmMaxKeySize) {
    return BodyInvalid(absl::StrCat("key of ", key.size(), " bytes, limit ", kFsmMaxKeySize));
  }
  if (value_size > kFsmMaxValueSize) {
    return BodyInvalid(absl::StrCat("value of ", value_size, " bytes, limit ", kFsmMaxValueSize));
  }
  if (has_previous && key <= previous_key) {
    return BodyInvalid(absl::StrCat("key \"", Printable(key.substr(0, 64)),
                                    "\" does not sort after the previous key \"",
                                    Printable(previous_key.substr(0, 64)), "\""));
  }
  return absl::OkStatus();
}

absl::StatusOr<bool> FsmBodyReader::Next(std::string* key, std::string* value) {
  if (!error_.ok()) return error_;
  if (finished_) return false;
  absl::StatusOr<bool> next = ReadNext(key, value);
  if (!next.ok()) {
    error_ = next.status();
  } else if (!*next) {
    finished_ = true;
  }
  return next;
}

absl::StatusOr<bool> FsmBodyReader::ReadNext(std::string* key, std::string* value) {
  if (!started_) {
    char magic[kFsmMagicSize];
    if (absl::Status s =
            ReadExactly(in_, magic, sizeof(magic), BodyInvalid("truncated body magic"));
        !s.ok()) {
      return s;
    }
    if (std::string_view(magic, sizeof(magic)) != kFsmBodyMagic) {
      return BodyInvalid(
          absl::StrCat("body magic \"", Printable(std::string_view(magic, sizeof(magic))), "\""));
    }
    started_ = true;
  }
  char len_bytes[4];
  if (absl::Status s = ReadExactly(in_, len_bytes, sizeof(len_bytes),
                                   BodyInvalid("truncated before end marker"));
      !s.ok()) {
    return s;
  }
  const uint32_t key_len = GetBigEndian32(len_bytes);
  if (key_len == kFsmEndOfRows) {
    char count_bytes[8];
    if (absl::Status s =
            ReadExactly(in_, count_bytes, sizeof(count_bytes), BodyInvalid("truncated row_count"));
        !s.ok()) {
      return s;
    }
    const uint64_t row_count = GetBigEndian64(count_bytes);
    if (row_count != rows_) {
      return BodyInvalid(absl::StrCat("row_count ", row_count, ", rows read ", rows_));
    }
    char extra;
    absl::StatusOr<size_t> trailing = in_.Read(&extra, 1);
    if (!trailing.ok()) return trailing.status();
    if (*trailing != 0) return BodyInvalid("bytes after row_count");
    return false;
  }
  if (key_len > kFsmMaxKeySize) {
    return BodyInvalid(absl::StrCat("key_len ", key_len, ", limit ", kFsmMaxKeySize));
  }
  key->resize(key_len);
  if (absl::Status s = ReadExactly(in_, key->data(), key_len, BodyInvalid("truncated key"));
      !s.ok()) {
    return s;
  }
  if (absl::Status s =
          ReadExactly(in_, len_bytes, sizeof(len_bytes), BodyInvalid("truncated value_len"));
      !s.ok()) {
    return s;
  }
  const uint32_t value_len = GetBigEndian32(len_bytes);
  if (absl::Status s = CheckFsmRow(rows_ > 0, previous_key_, *key, value_len); !s.ok()) return s;
  if (value != nullptr) {
    value->resize(value_len);
    if (absl::Status s = ReadExactly(in_, value->data(), value_len, BodyInvalid("truncated value"));
        !s.ok()) {
      return s;
    }
  } else {
    absl::StatusOr<uint64_t> skipped = in_.Skip(value_len);
    if (!skipped.ok()) return skipped.status();
    if (*skipped != value_len) return BodyInvalid("truncated value");
  }
  previous_key_.assign(*key);
  ++rows_;
  return true;
}

}  // namespace tessera::shard
