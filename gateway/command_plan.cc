// PlanCommand groups keys by their group through the routing table; MergeReplies reassembles
// split replies in the client's key order, sums counts and folds OKs, as Redis would reply.
#include "gateway/command_plan.h"

#include <map>
#include <optional>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/resp.h"
#include "routing/slot.h"

namespace tessera::gateway {
namespace {

using routing::MultiKeyPolicy;

absl::string_view Absl(std::string_view s) { return absl::string_view(s.data(), s.size()); }

CommandPlan Error(std::string text) {
  CommandPlan plan;
  plan.route = Route::kError;
  plan.error = std::move(text);
  return plan;
}

std::string SlotNotServed(int slot) {
  return absl::StrCat("CLUSTERDOWN Hash slot ", slot, " not served");
}

// The whole command to one group: as received when possible, borrowed when asked.
PlanPart WholeCommand(GroupId group, int slot, routing::ArgvRef argv, std::string_view raw,
                      bool borrow) {
  PlanPart part;
  part.group = group;
  part.slot = slot;
  if (raw.empty()) {
    part.command = EncodeCommand(argv);
  } else if (borrow) {
    part.borrowed = raw;
  } else {
    part.command = std::string(raw);
  }
  return part;
}

// TESSERA.INGROUP <gid> argv...: the shard runs a keyless command on that one group
// (docs/gateway.md, "Keyless commands"), whatever else the shard hosts.
std::string InGroupCommand(GroupId group, routing::ArgvRef argv) {
  const std::string gid = absl::StrCat(group);
  std::string out = absl::StrCat("*", argv.size() + 2, "\r\n$", kInGroupCommand.size(), "\r\n",
                                 Absl(kInGroupCommand), "\r\n$", gid.size(), "\r\n", gid, "\r\n");
  for (size_t i = 0; i < argv.size(); ++i) {
    absl::StrAppend(&out, "$", argv[i].size(), "\r\n", Absl(argv[i]), "\r\n");
  }
  return out;
}

CommandPlan PlanScan(const routing::CommandSpec& spec, routing::ArgvRef argv,
                     const std::vector<GroupId>& groups) {
  (void)spec;
  uint64_t cursor = 0;
  if (!absl::SimpleAtoi(Absl(argv[1]), &cursor) || groups.empty() ||
      (cursor >> kScanGroupShift) >= groups.size()) {
    return Error("ERR invalid cursor");
  }
  CommandPlan plan;
  plan.route = Route::kAllGroups;
  plan.policy = MultiKeyPolicy::kAllGroupsScan;
  plan.scan_group = static_cast<size_t>(cursor >> kScanGroupShift);
  plan.scan_groups = groups.size();
  const uint64_t shard_cursor = cursor & ((uint64_t{1} << kScanGroupShift) - 1);
  std::vector<std::string_view> args;
  args.reserve(argv.size());
  for (size_t i = 0; i < argv.size(); ++i) args.push_back(argv[i]);
  const std::string shard_text = absl::StrCat(shard_cursor);
  args[1] = shard_text;
  PlanPart part;
  part.group = groups[plan.scan_group];
  part.command = InGroupCommand(part.group, args);
  plan.parts.push_back(std::move(part));
  return plan;
}

}  // namespace

void AppendCommand(routing::ArgvRef argv, std::string* out) {
  absl::StrAppend(out, "*", argv.size(), "\r\n");
  for (size_t i = 0; i < argv.size(); ++i) {
    absl::StrAppend(out, "$", argv[i].size(), "\r\n", Absl(argv[i]), "\r\n");
  }
}

std::string EncodeCommand(routing::ArgvRef argv) {
  std::string out;
  AppendCommand(argv, &out);
  return out;
}

uint64_t GatewayScanCursor(size_t group_index, uint64_t shard_cursor) {
  return (static_cast<uint64_t>(group_index) << kScanGroupShift) | shard_cursor;
}

CommandPlan PlanCommand(const routing::CommandSpec& spec, routing::ArgvRef argv,
                        std::string_view raw, const routing::RoutingTable& table,
                        const std::vector<GroupId>& groups, bool borrow_raw) {
  const MultiKeyPolicy policy = spec.policy;
  CommandPlan plan;
  plan.policy = policy;
  switch (policy) {
    case MultiKeyPolicy::kLocal:
      plan.route = Route::kLocal;
      return plan;
    case MultiKeyPolicy::kTransaction:
      plan.route = Route::kTransaction;
      return plan;
    case MultiKeyPolicy::kAllGroupsScan:
      return PlanScan(spec, argv, groups);
    case MultiKeyPolicy::kAllGroupsConcat:
    case MultiKeyPolicy::kAllGroupsSum:
    case MultiKeyPolicy::kAllGroupsAllOk:
    case MultiKeyPolicy::kAllGroupsAnyKey: {
      if (groups.empty()) return Error("CLUSTERDOWN no groups known");
      plan.route = Route::kAllGroups;
      (void)raw;
      for (GroupId g : groups) {
        PlanPart part;
        part.group = g;
        part.command = InGroupCommand(g, argv);
        plan.parts.push_back(std::move(part));
      }
      return plan;
    }
    default:
      break;
  }
  absl::StatusOr<std::vector<size_t>> keys = routing::GetKeys(spec, argv);
  if (!keys.ok() || keys->empty()) {
    // The command cannot hold its keys: any group answers it with the command's own error.
    if (groups.empty()) return Error("CLUSTERDOWN no groups known");
    plan.route = Route::kGroup;
    plan.parts.push_back(WholeCommand(groups.front(), -1, argv, raw, borrow_raw));
    return plan;
  }
  if (keys->size() == 1) {
    // The common case, without the grouping below.
    const int slot = routing::SlotForKey(argv[keys->front()]);
    const GroupId g = table.GroupForSlot(slot);
    if (g == 0) return Error(SlotNotServed(slot));
    plan.route = Route::kGroup;
    plan.parts.push_back(WholeCommand(g, slot, argv, raw, borrow_raw));
    plan.parts.back().keys = {0};
    plan.key_count = 1;
    return plan;
  }
  // Keys grouped by group, each group in order of its first key.
  std::vector<GroupId> order;
  std::map<GroupId, std::vector<size_t>> by_group;  // group -> indexes into *keys
  for (size_t i = 0; i < keys->size(); ++i) {
    const int slot = routing::SlotForKey(argv[(*keys)[i]]);
    const GroupId g = table.GroupForSlot(slot);
    if (g == 0) return Error(SlotNotServed(slot));
    auto [it, inserted] = by_group.try_emplace(g);
    if (inserted) order.push_back(g);
    it->second.push_back(i);
  }
  const int first_slot = routing::SlotForKey(argv[(*keys)[0]]);
  const bool split_policy = policy == MultiKeyPolicy::kSplitConcat ||
                            policy == MultiKeyPolicy::kSplitSum ||
                            policy == MultiKeyPolicy::kSplitAllOk;
  if (order.size() == 1) {
    plan.route = Route::kGroup;
    plan.parts.push_back(WholeCommand(order.front(), first_slot, argv, raw, borrow_raw));
    plan.parts.back().keys = by_group.begin()->second;
    plan.key_count = keys->size();
    return plan;
  }
  if (!split_policy) return Error(std::string(routing::kCrossSlotError));
  // Each key carries the arguments up to the next key (MSET: its value).
  const int step = spec.key_specs.front().key_step > 0 ? spec.key_specs.front().key_step : 1;
  plan.route = Route::kSplit;
  plan.key_count = keys->size();
  for (GroupId g : order) {
    const std::vector<size_t>& mine = by_group[g];
    std::vector<std::string_view> sub;
    sub.reserve(1 + mine.size() * static_cast<size_t>(step));
    sub.push_back(argv[0]);
    for (size_t i : mine) {
      const size_t at = (*keys)[i];
      for (int k = 0; k < step && at + static_cast<size_t>(k) < argv.size(); ++k) {
        sub.push_back(argv[at + static_cast<size_t>(k)]);
      }
    }
    PlanPart part;
    part.group = g;
    part.slot = routing::SlotForKey(argv[(*keys)[mine.front()]]);
    part.command = EncodeCommand(sub);
    part.keys = mine;
    plan.parts.push_back(std::move(part));
  }
  return plan;
}

bool ParsePartReply(std::string_view bytes, PartReply* out) {
  *out = PartReply();
  common::resp::Value value;
  absl::StatusOr<size_t> n = common::resp::ReadReply(bytes, &value);
  if (!n.ok() || *n != bytes.size()) return false;
  out->bytes = bytes;
  out->type = bytes[0];
  if (value.type == common::resp::Value::Type::kInteger) out->integer = value.integer;
  out->nil = value.type == common::resp::Value::Type::kNullBulk ||
             value.type == common::resp::Value::Type::kNullArray;
  if (value.type == common::resp::Value::Type::kArray) {
    size_t pos = bytes.find("\r\n") + 2;
    for (size_t i = 0; i < value.elements.size(); ++i) {
      common::resp::Value element;
      absl::StatusOr<size_t> len = common::resp::ReadReply(bytes.substr(pos), &element);
      if (!len.ok() || *len == 0) return false;
      out->elements.push_back(bytes.substr(pos, *len));
      pos += *len;
    }
  }
  return true;
}

std::string MergeReplies(const CommandPlan& plan, const std::vector<PartReply>& replies,
                         uint64_t random) {
  for (const PartReply& r : replies) {
    if (r.type == '-') return std::string(r.bytes);
  }
  auto unexpected = [](const PartReply& r) {
    return absl::StrCat("-ERR unexpected reply from a shard: ",
                        Absl(r.bytes.substr(0, std::min<size_t>(r.bytes.size(), 32))), "\r\n");
  };
  if (plan.route == Route::kGroup && replies.size() == 1) return std::string(replies[0].bytes);
  switch (plan.policy) {
    case MultiKeyPolicy::kSplitConcat: {
      // Element j of part p is the key plan.parts[p].keys[j] of the client's command.
      std::vector<std::string_view> by_key(plan.key_count);
      for (size_t p = 0; p < replies.size(); ++p) {
        const PartReply& r = replies[p];
        if (r.type != '*' || r.elements.size() != plan.parts[p].keys.size()) return unexpected(r);
        for (size_t j = 0; j < r.elements.size(); ++j)
          by_key[plan.parts[p].keys[j]] = r.elements[j];
      }
      std::string out = absl::StrCat("*", by_key.size(), "\r\n");
      for (std::string_view e : by_key) out.append(e);
      return out;
    }
    case MultiKeyPolicy::kSplitSum:
    case MultiKeyPolicy::kAllGroupsSum: {
      int64_t sum = 0;
      for (const PartReply& r : replies) {
        if (r.type != ':') return unexpected(r);
        sum += r.integer;
      }
      return absl::StrCat(":", sum, "\r\n");
    }
    case MultiKeyPolicy::kSplitAllOk:
    case MultiKeyPolicy::kAllGroupsAllOk:
      for (const PartReply& r : replies) {
        if (r.type != '+') return unexpected(r);
      }
      return replies.empty() ? "+OK\r\n" : std::string(replies.front().bytes);
    case MultiKeyPolicy::kAllGroupsConcat: {
      size_t n = 0;
      for (const PartReply& r : replies) {
        if (r.type != '*') return unexpected(r);
        n += r.elements.size();
      }
      std::string out = absl::StrCat("*", n, "\r\n");
      for (const PartReply& r : replies) {
        for (std::string_view e : r.elements) out.append(e);
      }
      return out;
    }
    case MultiKeyPolicy::kAllGroupsAnyKey:
      for (size_t i = 0; i < replies.size(); ++i) {
        const PartReply& r = replies[(i + random) % replies.size()];
        if (!r.nil) return std::string(r.bytes);
      }
      return "$-1\r\n";
    case MultiKeyPolicy::kAllGroupsScan: {
      if (replies.size() != 1) return "-ERR scan: expected one part\r\n";
      const PartReply& r = replies[0];
      PartReply cursor;
      uint64_t shard_cursor = 0;
      if (r.type != '*' || r.elements.size() != 2 || !ParsePartReply(r.elements[0], &cursor) ||
          cursor.type != '$' ||
          !absl::SimpleAtoi(
              Absl(cursor.bytes.substr(cursor.bytes.find("\r\n") + 2,
                                       cursor.bytes.size() - cursor.bytes.find("\r\n") - 4)),
              &shard_cursor)) {
        return unexpected(r);
      }
      uint64_t next = 0;
      if (shard_cursor != 0) {
        next = GatewayScanCursor(plan.scan_group, shard_cursor);
      } else if (plan.scan_group + 1 < plan.scan_groups) {
        next = GatewayScanCursor(plan.scan_group + 1, 0);
      }
      const std::string text = absl::StrCat(next);
      std::string out = absl::StrCat("*2\r\n$", text.size(), "\r\n", text, "\r\n");
      out.append(r.elements[1]);
      return out;
    }
    default:
      if (replies.size() == 1) return std::string(replies[0].bytes);
      return "-ERR cannot merge replies for this command\r\n";
  }
}

}  // namespace tessera::gateway
