// The routing table row of the default group and the internal commands that write and read it:
// deterministic at apply (the stored version guards every change), bounded in size (at most one
// range per slot).
#include "shard/data/routing_rows.h"

#include <algorithm>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "routing/command_table.h"
#include "routing/slot.h"
#include "shard/data/store.h"
#include "shard/data/transaction.h"
#include "shard/kv/kv_state_machine.h"
#include "shard/storage/keys.h"

namespace tessera::shard::data {
namespace {

using Args = std::span<const std::string_view>;

template <typename T>
bool ParseNumber(std::string_view text, T* out) {
  return absl::SimpleAtoi(absl::string_view(text.data(), text.size()), out);
}

constexpr char kRoutingTag = 'R';
constexpr std::string_view kTableRow = "table";
constexpr std::string_view kFenceRow = "fence";
constexpr size_t kFenceBytes = routing::kSlotCount / 8;
constexpr size_t kRangeSize = 2 + 2 + 8;

std::string RoutingKey(GroupId gid) {
  std::string suffix(1, kRoutingTag);
  suffix.append(kTableRow);
  return GroupKey(gid, suffix);
}

std::string FenceKey(GroupId gid) {
  std::string suffix(1, kRoutingTag);
  suffix.append(kFenceRow);
  return GroupKey(gid, suffix);
}

std::string EncodeFence(const SlotFence& fence) {
  std::string out(kFenceBytes, '\0');
  for (size_t slot = 0; slot < fence.size(); ++slot) {
    if (fence[slot]) out[slot / 8] = static_cast<char>(out[slot / 8] | (0x80 >> (slot % 8)));
  }
  return out;
}

void PutU16BE(std::string* out, uint16_t v) {
  out->push_back(static_cast<char>(v >> 8));
  out->push_back(static_cast<char>(v & 0xff));
}
uint16_t DecodeU16BE(std::string_view in) {
  return static_cast<uint16_t>((static_cast<uint8_t>(in[0]) << 8) | static_cast<uint8_t>(in[1]));
}

absl::StatusOr<std::optional<routing::RoutingTable>> LoadTable(const ExecContext& ctx) {
  absl::StatusOr<std::optional<std::string>> row = GetRow(ctx, RoutingKey(ctx.gid));
  if (!row.ok()) return row.status();
  if (!row->has_value()) return std::optional<routing::RoutingTable>();
  absl::StatusOr<routing::RoutingTable> table = DecodeRoutingTable(**row);
  if (!table.ok()) return table.status();
  return std::optional<routing::RoutingTable>(*std::move(table));
}

absl::Status RoutingInit(ExecContext& ctx, Args argv, Reply& reply) {
  if (argv.size() != 2) {
    reply.Error("ERR wrong number of arguments for 'tessera.routing.init' command");
    return absl::OkStatus();
  }
  absl::StatusOr<std::optional<routing::RoutingTable>> stored = LoadTable(ctx);
  if (!stored.ok()) return stored.status();
  if (stored->has_value()) {
    reply.Integer(static_cast<int64_t>((*stored)->version()));
    return absl::OkStatus();
  }
  absl::StatusOr<routing::RoutingTable> table = DecodeRoutingTable(argv[1]);
  if (!table.ok()) {
    reply.Error(absl::StrCat("ERR bad routing table: ", table.status().message()));
    return absl::OkStatus();
  }
  PutRow(ctx, RoutingKey(ctx.gid), EncodeRoutingTable(*table));
  reply.Integer(static_cast<int64_t>(table->version()));
  return absl::OkStatus();
}

absl::Status RoutingAssign(ExecContext& ctx, Args argv, Reply& reply) {
  uint64_t expected = 0, group = 0;
  int first = 0, last = 0;
  if (argv.size() != 5 || !ParseNumber(argv[1], &expected) || !ParseNumber(argv[2], &first) ||
      !ParseNumber(argv[3], &last) || !ParseNumber(argv[4], &group)) {
    reply.Error("ERR usage: tessera.routing.assign <expected_version> <first> <last> <group>");
    return absl::OkStatus();
  }
  absl::StatusOr<std::optional<routing::RoutingTable>> stored = LoadTable(ctx);
  if (!stored.ok()) return stored.status();
  if (!stored->has_value()) {
    reply.Error("ERR no routing table is stored in this group yet");
    return absl::OkStatus();
  }
  if ((*stored)->version() != expected) {
    reply.Error(absl::StrCat("ERR the routing table is at version ", (*stored)->version(), ", not ",
                             expected));
    return absl::OkStatus();
  }
  absl::StatusOr<routing::RoutingTable> next = AssignSlots(**stored, first, last, group);
  if (!next.ok()) {
    reply.Error(absl::StrCat("ERR ", next.status().message()));
    return absl::OkStatus();
  }
  PutRow(ctx, RoutingKey(ctx.gid), EncodeRoutingTable(*next));
  reply.Integer(static_cast<int64_t>(next->version()));
  return absl::OkStatus();
}

absl::Status RoutingGet(ExecContext& ctx, Args argv, Reply& reply) {
  (void)argv;
  absl::StatusOr<std::optional<std::string>> row = GetRow(ctx, RoutingKey(ctx.gid));
  if (!row.ok()) return row.status();
  if (row->has_value()) {
    reply.Bulk(**row);
  } else {
    reply.Null();
  }
  return absl::OkStatus();
}

// <first> <last> of the slot commands; false (and `reply` holds the usage) when malformed.
bool ParseSlotRange(Args argv, std::string_view name, int* first, int* last, Reply& reply) {
  if (argv.size() != 3 || !ParseNumber(argv[1], first) || !ParseNumber(argv[2], last) ||
      *first < 0 || *last < *first || *last >= routing::kSlotCount) {
    reply.Error(absl::StrCat("ERR usage: ", absl::string_view(name.data(), name.size()),
                             " <first> <last> (0 <= first <= last < 16384)"));
    return false;
  }
  return true;
}

// Live keys of the group in slots [first, last]: walks every key (an admin operation).
absl::StatusOr<int64_t> CountSlotKeys(const ExecContext& ctx, int first, int last) {
  int64_t count = 0;
  RowIterator it(ctx, MetadataKeyEnd(ctx.gid));
  for (it.Seek(MetadataKeyBegin(ctx.gid)); it.Valid(); it.Next()) {
    absl::StatusOr<Metadata> head = DecodeMetadataHead(it.value());
    if (!head.ok()) return head.status();
    if (head->Expired(ctx.now_ms)) continue;
    const int slot = routing::SlotForKey(UserKeyOf(it.key()));
    if (slot >= first && slot <= last) ++count;
  }
  if (absl::Status s = it.status(); !s.ok()) return s;
  return count;
}

absl::Status SlotKeys(ExecContext& ctx, Args argv, Reply& reply) {
  int first = 0, last = 0;
  if (!ParseSlotRange(argv, kSlotKeysCommand, &first, &last, reply)) return absl::OkStatus();
  absl::StatusOr<int64_t> count = CountSlotKeys(ctx, first, last);
  if (!count.ok()) return count.status();
  reply.Integer(*count);
  return absl::OkStatus();
}

// RELEASE counts and fences in one entry: no write can come between the count and the fence.
absl::Status SlotsRelease(ExecContext& ctx, Args argv, Reply& reply) {
  int first = 0, last = 0;
  if (!ParseSlotRange(argv, kSlotsReleaseCommand, &first, &last, reply)) return absl::OkStatus();
  absl::StatusOr<int64_t> count = CountSlotKeys(ctx, first, last);
  if (!count.ok()) return count.status();
  if (*count == 0) {
    absl::StatusOr<SlotFence> fence = LoadSlotFence(ctx);
    if (!fence.ok()) return fence.status();
    for (int slot = first; slot <= last; ++slot) fence->set(static_cast<size_t>(slot));
    PutRow(ctx, FenceKey(ctx.gid), EncodeFence(*fence));
  }
  reply.Integer(*count);
  return absl::OkStatus();
}

absl::Status SlotsAcquire(ExecContext& ctx, Args argv, Reply& reply) {
  int first = 0, last = 0;
  if (!ParseSlotRange(argv, kSlotsAcquireCommand, &first, &last, reply)) return absl::OkStatus();
  absl::StatusOr<SlotFence> fence = LoadSlotFence(ctx);
  if (!fence.ok()) return fence.status();
  for (int slot = first; slot <= last; ++slot) fence->reset(static_cast<size_t>(slot));
  if (fence->none()) {
    DeleteRow(ctx, FenceKey(ctx.gid));
  } else {
    PutRow(ctx, FenceKey(ctx.gid), EncodeFence(*fence));
  }
  reply.SimpleString("OK");
  return absl::OkStatus();
}

constexpr DataCommand kRoutingCommands[] = {
    {kRoutingInitCommand, &RoutingInit, true},   {kRoutingAssignCommand, &RoutingAssign, true},
    {kRoutingGetCommand, &RoutingGet, false},    {kSlotKeysCommand, &SlotKeys, false},
    {kSlotsReleaseCommand, &SlotsRelease, true}, {kSlotsAcquireCommand, &SlotsAcquire, true},
};

}  // namespace

std::span<const DataCommand> RoutingCommands() { return kRoutingCommands; }

absl::StatusOr<SlotFence> LoadSlotFence(const ExecContext& ctx) {
  SlotFence fence;
  absl::StatusOr<std::optional<std::string>> row = GetRow(ctx, FenceKey(ctx.gid));
  if (!row.ok()) return row.status();
  if (!row->has_value()) return fence;
  const std::string& bytes = **row;
  if (bytes.size() != kFenceBytes) {
    return absl::DataLossError(absl::StrCat("slot fence of ", bytes.size(), " bytes"));
  }
  for (size_t slot = 0; slot < fence.size(); ++slot) {
    fence[slot] = (static_cast<uint8_t>(bytes[slot / 8]) & (0x80 >> (slot % 8))) != 0;
  }
  return fence;
}

int FencedSlotOf(const SlotFence& fence, std::span<const std::string_view> argv) {
  if (argv.empty() || fence.none()) return -1;
  const std::string name = absl::AsciiStrToLower(absl::string_view(argv[0].data(), argv[0].size()));
  if (name == kExecCommand || name == kExecWatchCommand) {
    for (std::string_view blob : TransactionBlobs(argv)) {
      absl::StatusOr<std::vector<std::string_view>> inner = DecodeCommand(blob);
      if (!inner.ok()) continue;
      if (const int slot = FencedSlotOf(fence, *inner); slot >= 0) return slot;
    }
    return -1;
  }
  const routing::CommandSpec* spec = routing::FindCommandByFullName(name);
  if (spec == nullptr) return -1;  // internal commands (TESSERA.*) name no user key
  absl::StatusOr<std::vector<size_t>> keys =
      routing::GetKeys(*spec, absl::MakeConstSpan(argv.data(), argv.size()));
  if (!keys.ok()) return -1;
  for (size_t k : *keys) {
    const int slot = routing::SlotForKey(argv[k]);
    if (fence[static_cast<size_t>(slot)]) return slot;
  }
  return -1;
}

std::string FencedSlotError(int slot) {
  return absl::StrCat("TRYAGAIN slot ", slot,
                      " has been given to another group; retry with the new routing table");
}

std::string EncodeRoutingTable(const routing::RoutingTable& table) {
  const std::vector<routing::SlotRange> ranges = table.Ranges();
  std::string out;
  out.reserve(8 + 4 + ranges.size() * kRangeSize);
  PutU64BE(&out, table.version());
  const uint32_t n = static_cast<uint32_t>(ranges.size());
  for (int shift = 24; shift >= 0; shift -= 8)
    out.push_back(static_cast<char>((n >> shift) & 0xff));
  for (const routing::SlotRange& r : ranges) {
    PutU16BE(&out, static_cast<uint16_t>(r.first));
    PutU16BE(&out, static_cast<uint16_t>(r.last));
    PutU64BE(&out, r.group);
  }
  return out;
}

absl::StatusOr<routing::RoutingTable> DecodeRoutingTable(std::string_view bytes) {
  if (bytes.size() < 12) {
    return absl::DataLossError(absl::StrCat("routing table of ", bytes.size(), " bytes"));
  }
  const uint64_t version = DecodeU64BE(bytes);
  uint32_t n = 0;
  for (int i = 0; i < 4; ++i) n = (n << 8) | static_cast<uint8_t>(bytes[8 + i]);
  bytes.remove_prefix(12);
  if (n == 0 || n > static_cast<uint32_t>(routing::kSlotCount) || bytes.size() != n * kRangeSize) {
    return absl::DataLossError(
        absl::StrCat("routing table claims ", n, " ranges in ", bytes.size(), " bytes"));
  }
  std::vector<routing::SlotRange> ranges;
  ranges.reserve(n);
  for (uint32_t i = 0; i < n; ++i, bytes.remove_prefix(kRangeSize)) {
    ranges.push_back(
        {DecodeU16BE(bytes), DecodeU16BE(bytes.substr(2)), DecodeU64BE(bytes.substr(4))});
  }
  absl::StatusOr<routing::RoutingTable> table = routing::RoutingTable::FromRanges(ranges, version);
  if (!table.ok()) return absl::DataLossError(table.status().message());
  return table;
}

absl::StatusOr<routing::RoutingTable> AssignSlots(const routing::RoutingTable& table, int first,
                                                  int last, routing::GroupId group) {
  if (first < 0 || last < first || last >= routing::kSlotCount) {
    return absl::InvalidArgumentError(
        absl::StrCat("bad slot range ", first, "-", last, " (0 <= first <= last < 16384)"));
  }
  if (group == 0) return absl::InvalidArgumentError("group 0 is not a group");
  std::vector<routing::SlotRange> ranges;
  for (const routing::SlotRange& r : table.Ranges()) {
    // Each existing range minus [first, last]; the new range goes in between.
    if (r.first < first) ranges.push_back({r.first, std::min(r.last, first - 1), r.group});
    if (r.last > last) ranges.push_back({std::max(r.first, last + 1), r.last, r.group});
  }
  ranges.push_back({first, last, group});
  std::sort(
      ranges.begin(), ranges.end(),
      [](const routing::SlotRange& a, const routing::SlotRange& b) { return a.first < b.first; });
  return routing::RoutingTable::FromRanges(ranges, table.version() + 1);
}

}  // namespace tessera::shard::data
