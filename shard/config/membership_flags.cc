// Grammar, ordered validation and per-group resolution of the membership flags
// (spec/membership.md §1.2, §1.3, §2, §6).
#include "shard/config/membership_flags.h"

#include <arpa/inet.h>

#include <algorithm>
#include <set>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "shard/config/config_errc.h"
#include "shard/membership/peers_record.h"

namespace tessera::shard {
namespace {

// Debian's abseil has its own string_view type.
absl::string_view Av(std::string_view s) { return absl::string_view(s.data(), s.size()); }

// A slice of a flag value with its byte offset in that value.
struct Token {
  std::string_view text;
  size_t pos = 0;
};

// Which flag is being parsed and which errc its grammar errors carry.
struct Grammar {
  std::string_view flag;
  ConfigErrc errc;

  absl::Status Error(std::string_view what, Token token) const {
    return ConfigError(errc, absl::StrCat(Av(flag), ": ", Av(what), " at byte ", token.pos, ": \"",
                                          Av(token.text), "\""));
  }
};

constexpr Grammar kRaftIdGrammar{"--raftId", ConfigErrc::kSyntax};
constexpr Grammar kRaftGroupsGrammar{"--raftGroups", ConfigErrc::kSyntax};
constexpr Grammar kGroupPeersGrammar{"--raftGroupPeers", ConfigErrc::kSyntax};
constexpr Grammar kBootstrapMembersGrammar{"--raftBootstrapMembers", ConfigErrc::kSyntax};
constexpr Grammar kRedisMapGrammar{"--raftRedisMap", ConfigErrc::kRedisMapSyntax};

std::vector<Token> Split(Token t, char sep) {
  std::vector<Token> parts;
  size_t start = 0;
  while (true) {
    size_t end = t.text.find(sep, start);
    if (end == std::string_view::npos) end = t.text.size();
    parts.push_back({t.text.substr(start, end - start), t.pos + start});
    if (end == t.text.size()) break;
    start = end + 1;
  }
  return parts;
}

// Splits at the first `sep`; false if there is none.
bool SplitOnce(Token t, char sep, Token* left, Token* right) {
  const size_t at = t.text.find(sep);
  if (at == std::string_view::npos) return false;
  *left = {t.text.substr(0, at), t.pos};
  *right = {t.text.substr(at + 1), t.pos + at + 1};
  return true;
}

bool IsSpace(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

// No whitespace anywhere; the error names the separator-delimited piece containing it.
absl::Status CheckNoWhitespace(const Grammar& g, std::string_view value) {
  for (size_t i = 0; i < value.size(); ++i) {
    if (!IsSpace(value[i])) continue;
    constexpr std::string_view kSeparators = ",;=@";
    size_t begin = value.find_last_of(kSeparators, i);
    begin = begin == std::string_view::npos ? 0 : begin + 1;
    size_t end = value.find_first_of(kSeparators, i);
    if (end == std::string_view::npos) end = value.size();
    return g.Error(absl::StrCat("whitespace (byte ", i, ")"),
                   {value.substr(begin, end - begin), begin});
  }
  return absl::OkStatus();
}

bool IsRaftIdChar(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' ||
         c == '_' || c == '-';
}

bool IsDigits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

absl::Status ParseRaftIdToken(const Grammar& g, Token t) {
  if (t.text.empty()) return g.Error("empty raft id", t);
  if (t.text.size() > kMaxRaftIdLength) return g.Error("raft id longer than 64 bytes", t);
  for (char c : t.text) {
    if (!IsRaftIdChar(c)) {
      return g.Error(absl::StrCat("invalid character '", absl::string_view(&c, 1),
                                  "' in raft id (allowed: A-Z a-z 0-9 . _ -)"),
                     t);
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<GroupId> ParseGroupIdToken(const Grammar& g, Token t) {
  if (t.text.empty()) return g.Error("empty group id", t);
  if (!IsDigits(t.text)) return g.Error("group id is not a decimal number", t);
  if (t.text.size() > 1 && t.text[0] == '0') return g.Error("group id has a leading zero", t);
  GroupId value = 0;
  for (char c : t.text) {
    const uint64_t digit = static_cast<uint64_t>(c - '0');
    if (value > (UINT64_MAX - digit) / 10) {
      return g.Error("group id out of range [1, 18446744073709551614]", t);
    }
    value = value * 10 + digit;
  }
  if (value < kMinGroupId || value > kMaxGroupId) {
    return g.Error("group id out of range [1, 18446744073709551614]", t);
  }
  return value;
}

bool IsHostChar(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' ||
         c == '-' || c == '_';
}

absl::Status ParsePortToken(const Grammar& g, Token t) {
  if (t.text.empty()) return g.Error("empty port", t);
  if (!IsDigits(t.text)) return g.Error("port is not a decimal number", t);
  if (t.text[0] == '0') return g.Error("port out of range 1..65535 or has a leading zero", t);
  if (t.text.size() > 5) return g.Error("port out of range 1..65535", t);
  uint32_t port = 0;
  for (char c : t.text) port = port * 10 + static_cast<uint32_t>(c - '0');
  if (port > 65535) return g.Error("port out of range 1..65535", t);
  return absl::OkStatus();
}

// addr := host ':' port, IPv6 as '[' v6 ']'. Compared later as exact bytes.
absl::Status ParseAddressToken(const Grammar& g, Token t) {
  if (t.text.empty()) return g.Error("empty address", t);
  if (t.text.size() > kMaxAddressLength) return g.Error("address longer than 255 bytes", t);
  Token port;
  if (t.text[0] == '[') {
    const size_t close = t.text.find(']');
    if (close == std::string_view::npos) return g.Error("missing ']' in IPv6 address", t);
    const Token v6{t.text.substr(1, close - 1), t.pos + 1};
    if (v6.text.empty()) return g.Error("empty IPv6 address", t);
    const std::string v6_copy(v6.text);
    in6_addr parsed;
    if (inet_pton(AF_INET6, v6_copy.c_str(), &parsed) != 1) {
      return g.Error("invalid IPv6 address", v6);
    }
    if (close + 1 >= t.text.size() || t.text[close + 1] != ':') {
      return g.Error("missing ':' after ']'", t);
    }
    port = {t.text.substr(close + 2), t.pos + close + 2};
  } else {
    const size_t colon = t.text.rfind(':');
    if (colon == std::string_view::npos) return g.Error("missing ':' in address", t);
    const Token host{t.text.substr(0, colon), t.pos};
    if (host.text.empty()) return g.Error("empty host", t);
    if (host.text.find(':') != std::string_view::npos) {
      return g.Error("IPv6 address must be in brackets", t);
    }
    for (char c : host.text) {
      if (!IsHostChar(c)) {
        return g.Error(absl::StrCat("invalid character '", absl::string_view(&c, 1), "' in host"),
                       host);
      }
    }
    port = {t.text.substr(colon + 1), t.pos + colon + 1};
  }
  return ParsePortToken(g, port);
}

absl::StatusOr<Member> ParseMemberToken(const Grammar& g, Token t, char sep) {
  if (t.text.empty()) return g.Error("empty member", t);
  Token id;
  Token addr;
  if (!SplitOnce(t, sep, &id, &addr)) {
    return g.Error(absl::StrCat("missing '", absl::string_view(&sep, 1), "' in member"), t);
  }
  if (absl::Status s = ParseRaftIdToken(g, id); !s.ok()) return s;
  if (absl::Status s = ParseAddressToken(g, addr); !s.ok()) return s;
  return Member{std::string(id.text), std::string(addr.text)};
}

// --- Validation helpers -------------------------------------------------------------

std::string Braced(const std::set<std::string>& ids) {
  return absl::StrCat("{", absl::StrJoin(ids, ","), "}");
}

std::string HexId(NodeId id) { return absl::StrCat("0x", absl::Hex(id, absl::kZeroPad16)); }

// A declared voter list for one group and the flag it came from.
struct DeclaredList {
  std::vector<Member> members;
  std::string_view flag;
};

std::string GroupLabel(GroupId group, const DeclaredList& list) {
  return absl::StrCat("group ", group, " (", Av(list.flag), ")");
}

}  // namespace

absl::Status ParseRaftId(std::string_view value) {
  if (absl::Status s = CheckNoWhitespace(kRaftIdGrammar, value); !s.ok()) return s;
  return ParseRaftIdToken(kRaftIdGrammar, {value, 0});
}

absl::Status ParseAddress(std::string_view flag, std::string_view value) {
  const Grammar g{flag, ConfigErrc::kSyntax};
  if (absl::Status s = CheckNoWhitespace(g, value); !s.ok()) return s;
  return ParseAddressToken(g, {value, 0});
}

absl::StatusOr<std::vector<GroupAddress>> ParseRaftGroups(std::string_view value) {
  const Grammar& g = kRaftGroupsGrammar;
  if (absl::Status s = CheckNoWhitespace(g, value); !s.ok()) return s;
  std::vector<GroupAddress> out;
  for (Token entry : Split({value, 0}, ',')) {
    if (entry.text.empty()) return g.Error("empty entry", entry);
    Token gid;
    Token addr;
    if (!SplitOnce(entry, '=', &gid, &addr)) return g.Error("missing '=' in entry", entry);
    absl::StatusOr<GroupId> group = ParseGroupIdToken(g, gid);
    if (!group.ok()) return group.status();
    if (absl::Status s = ParseAddressToken(g, addr); !s.ok()) return s;
    out.push_back({*group, std::string(addr.text)});
  }
  return out;
}

absl::StatusOr<std::vector<GroupMembers>> ParseRaftGroupPeers(std::string_view value) {
  const Grammar& g = kGroupPeersGrammar;
  if (absl::Status s = CheckNoWhitespace(g, value); !s.ok()) return s;
  std::vector<GroupMembers> out;
  for (Token entry : Split({value, 0}, ';')) {
    if (entry.text.empty()) return g.Error("empty entry", entry);
    Token gid;
    Token members;
    if (!SplitOnce(entry, '=', &gid, &members)) return g.Error("missing '=' in entry", entry);
    absl::StatusOr<GroupId> group = ParseGroupIdToken(g, gid);
    if (!group.ok()) return group.status();
    GroupMembers& parsed = out.emplace_back();
    parsed.group = *group;
    for (Token m : Split(members, ',')) {
      absl::StatusOr<Member> member = ParseMemberToken(g, m, '@');
      if (!member.ok()) return member.status();
      parsed.members.push_back(*std::move(member));
    }
  }
  return out;
}

absl::StatusOr<std::vector<Member>> ParseRaftBootstrapMembers(std::string_view value) {
  const Grammar& g = kBootstrapMembersGrammar;
  if (absl::Status s = CheckNoWhitespace(g, value); !s.ok()) return s;
  std::vector<Member> out;
  for (Token m : Split({value, 0}, ',')) {
    absl::StatusOr<Member> member = ParseMemberToken(g, m, '=');
    if (!member.ok()) return member.status();
    out.push_back(*std::move(member));
  }
  return out;
}

absl::StatusOr<std::vector<RedisMapEntry>> ParseRaftRedisMap(std::string_view value) {
  const Grammar& g = kRedisMapGrammar;
  if (absl::Status s = CheckNoWhitespace(g, value); !s.ok()) return s;
  std::vector<RedisMapEntry> out;
  for (Token entry : Split({value, 0}, ',')) {
    if (entry.text.empty()) return g.Error("empty entry", entry);
    Token raft;
    Token redis;
    if (!SplitOnce(entry, '=', &raft, &redis)) return g.Error("missing '=' in entry", entry);
    if (absl::Status s = ParseAddressToken(g, raft); !s.ok()) return s;
    if (absl::Status s = ParseAddressToken(g, redis); !s.ok()) return s;
    out.push_back({std::string(raft.text), std::string(redis.text)});
  }
  return out;
}

namespace membership_internal {

absl::StatusOr<MembershipConfig> ResolveMembershipWith(const MembershipFlags& flags,
                                                       NodeIdFunction derive_node_id) {
  const bool has_peers = !flags.raft_group_peers.empty();
  const bool has_members = !flags.raft_bootstrap_members.empty();
  const std::string& local = flags.raft_id;

  // 1. kSyntax, flag by flag. The Redis map's grammar is rule 13 (kRedisMapSyntax).
  if (absl::Status s = ParseRaftId(flags.raft_id); !s.ok()) return s;
  absl::StatusOr<std::vector<GroupAddress>> group_addrs = ParseRaftGroups(flags.raft_groups);
  if (!group_addrs.ok()) return group_addrs.status();
  std::vector<GroupMembers> peer_entries;
  if (has_peers) {
    absl::StatusOr<std::vector<GroupMembers>> parsed = ParseRaftGroupPeers(flags.raft_group_peers);
    if (!parsed.ok()) return parsed.status();
    peer_entries = *std::move(parsed);
  }
  std::vector<Member> flat_members;
  if (has_members) {
    absl::StatusOr<std::vector<Member>> parsed =
        ParseRaftBootstrapMembers(flags.raft_bootstrap_members);
    if (!parsed.ok()) return parsed.status();
    flat_members = *std::move(parsed);
  }
  if (!flags.redis_address.empty()) {
    if (absl::Status s = ParseAddress("--redisAddress", flags.redis_address); !s.ok()) return s;
  }

  // 2. One source of lists.
  if (has_peers && has_members) {
    return ConfigError(ConfigErrc::kGroupPeersExclusive,
                       "--raftGroupPeers and --raftBootstrapMembers are mutually exclusive");
  }
  // 3. A flat list never feeds several groups.
  if (has_members && group_addrs->size() != 1) {
    return ConfigError(ConfigErrc::kBootstrapMembersMultiGroup,
                       absl::StrCat("--raftBootstrapMembers needs exactly 1 group in --raftGroups, "
                                    "got ",
                                    group_addrs->size(), "; use --raftGroupPeers"));
  }
  // 4. Duplicate group ids.
  std::map<GroupId, std::string> groups;
  for (const GroupAddress& ga : *group_addrs) {
    if (!groups.emplace(ga.group, ga.address).second) {
      return ConfigError(ConfigErrc::kDuplicateGroup,
                         absl::StrCat("group ", ga.group, " listed twice in --raftGroups"));
    }
  }
  std::map<GroupId, DeclaredList> lists;
  for (const GroupMembers& gm : peer_entries) {
    if (!lists.emplace(gm.group, DeclaredList{gm.members, "--raftGroupPeers"}).second) {
      return ConfigError(ConfigErrc::kDuplicateGroup,
                         absl::StrCat("group ", gm.group, " listed twice in --raftGroupPeers"));
    }
  }
  if (has_members) {
    lists.emplace(groups.begin()->first, DeclaredList{flat_members, "--raftBootstrapMembers"});
  }
  // 5. --raftGroupPeers covers exactly the --raftGroups groups.
  for (const GroupMembers& gm : peer_entries) {
    if (!groups.contains(gm.group)) {
      return ConfigError(
          ConfigErrc::kUnknownGroup,
          absl::StrCat("group ", gm.group, " is in --raftGroupPeers but not in --raftGroups"));
    }
  }
  if (has_peers) {
    for (const auto& [group, addr] : groups) {
      if (!lists.contains(group)) {
        return ConfigError(
            ConfigErrc::kMissingGroup,
            absl::StrCat("group ", group, " is in --raftGroups but not in --raftGroupPeers"));
      }
    }
  }
  // 6. Distinct ids and addresses within each list.
  for (const auto& [group, list] : lists) {
    std::map<std::string, size_t> seen;
    for (const Member& m : list.members) {
      if (!seen.emplace(m.raft_id, 0).second) {
        return ConfigError(
            ConfigErrc::kDuplicateId,
            absl::StrCat(GroupLabel(group, list), ": raft id ", m.raft_id, " listed twice"));
      }
    }
  }
  for (const auto& [group, list] : lists) {
    std::map<std::string, std::string> owner;  // address -> raft id
    for (const Member& m : list.members) {
      auto [it, inserted] = owner.emplace(m.address, m.raft_id);
      if (!inserted) {
        return ConfigError(ConfigErrc::kDuplicateAddress,
                           absl::StrCat(GroupLabel(group, list), ": members ", it->second, " and ",
                                        m.raft_id, " share address ", m.address));
      }
    }
  }
  // 7. Every list holds the local node at its --raftGroups address.
  auto find_local = [&](const DeclaredList& list) -> const Member* {
    for (const Member& m : list.members) {
      if (m.raft_id == local) return &m;
    }
    return nullptr;
  };
  for (const auto& [group, list] : lists) {
    if (find_local(list) == nullptr) {
      return ConfigError(
          ConfigErrc::kLocalMissing,
          absl::StrCat(GroupLabel(group, list), " has no member ", local, " (--raftId)"));
    }
  }
  for (const auto& [group, list] : lists) {
    const Member* m = find_local(list);
    if (m->address != groups.at(group)) {
      return ConfigError(ConfigErrc::kLocalAddrMismatch,
                         absl::StrCat(GroupLabel(group, list), ": member ", local, " has address ",
                                      m->address, " but --raftGroups says ", groups.at(group)));
    }
  }
  // 8. One listener per group per node.
  {
    std::map<std::string, GroupId> by_address;
    for (const auto& [group, addr] : groups) {
      auto [it, inserted] = by_address.emplace(addr, group);
      if (!inserted) {
        return ConfigError(ConfigErrc::kListenerReuse,
                           absl::StrCat("groups ", it->second, " and ", group,
                                        " share the --raftGroups listener ", addr));
      }
    }
    std::map<std::string, std::pair<GroupId, std::string>> owner;  // address -> (group, id)
    for (const auto& [group, list] : lists) {
      for (const Member& m : list.members) {
        auto [it, inserted] = owner.emplace(m.address, std::make_pair(group, m.raft_id));
        if (inserted) continue;
        const auto& [other_group, other_id] = it->second;
        if (other_id == m.raft_id) {
          return ConfigError(ConfigErrc::kListenerReuse,
                             absl::StrCat("member ", m.raft_id, " uses address ", m.address,
                                          " for groups ", other_group, " and ", group));
        }
        return ConfigError(
            ConfigErrc::kListenerReuse,
            absl::StrCat("address ", m.address, " is member ", other_id, "'s listener in group ",
                         other_group, " and member ", m.raft_id, "'s in group ", group));
      }
    }
  }
  // 9. v1: every node votes in every group.
  if (lists.size() >= 2) {
    auto ids_of = [](const DeclaredList& list) {
      std::set<std::string> ids;
      for (const Member& m : list.members) ids.insert(m.raft_id);
      return ids;
    };
    const GroupId base_group = lists.begin()->first;
    const std::set<std::string> base = ids_of(lists.begin()->second);
    for (const auto& [group, list] : lists) {
      const std::set<std::string> ids = ids_of(list);
      if (ids == base) continue;
      std::set<std::string> diff;
      std::set_symmetric_difference(base.begin(), base.end(), ids.begin(), ids.end(),
                                    std::inserter(diff, diff.begin()));
      return ConfigError(ConfigErrc::kHeterogeneous,
                         absl::StrCat("group ", group, " has different raft ids than group ",
                                      base_group, ": symmetric difference ", Braced(diff),
                                      " (v1: every node votes in every group)"));
    }
  }
  // 10. Declared lists have at least two voters.
  for (const auto& [group, list] : lists) {
    if (list.members.size() < 2) {
      return ConfigError(ConfigErrc::kTooFewVoters,
                         absl::StrCat(GroupLabel(group, list), " declares ", list.members.size(),
                                      " voter(s); at least 2 are required (a single-voter group "
                                      "needs --raftBootstrap alone)"));
    }
  }
  // 11. NodeIds are distinct and non-zero.
  {
    std::set<std::string> ids{local};
    for (const auto& [group, list] : lists) {
      for (const Member& m : list.members) ids.insert(m.raft_id);
    }
    std::map<NodeId, std::string> by_node_id;
    for (const std::string& id : ids) {
      const NodeId node_id = derive_node_id(id);
      if (node_id == raft::kNoNode) {
        return ConfigError(ConfigErrc::kNodeIdCollision,
                           absl::StrCat("raft id ", id, " maps to NodeId 0 (reserved)"));
      }
      auto [it, inserted] = by_node_id.emplace(node_id, id);
      if (!inserted) {
        return ConfigError(ConfigErrc::kNodeIdCollision,
                           absl::StrCat("raft ids ", it->second, " and ", id,
                                        " both map to NodeId ", HexId(node_id)));
      }
    }
  }
  // 12. Learner joiners never bootstrap.
  if (flags.raft_join_as_learner && (flags.raft_bootstrap || !lists.empty())) {
    return ConfigError(
        ConfigErrc::kJoinAsLearnerBootstrap,
        absl::StrCat("--raftJoinAsLearner with ",
                     flags.raft_bootstrap ? "--raftBootstrap" : Av(lists.begin()->second.flag),
                     ": bootstrap is voter-only; learners join via AddLearner"));
  }
  // 13. The Redis map: full, one Redis address per node, local entries = --redisAddress.
  std::map<std::string, std::string> redis_map;
  if (!flags.raft_redis_map.empty()) {
    absl::StatusOr<std::vector<RedisMapEntry>> entries = ParseRaftRedisMap(flags.raft_redis_map);
    if (!entries.ok()) return entries.status();
    for (const RedisMapEntry& e : *entries) {
      if (!redis_map.emplace(e.raft_address, e.redis_address).second) {
        return ConfigError(
            ConfigErrc::kRedisMapDuplicateKey,
            absl::StrCat("raft address ", e.raft_address, " listed twice in --raftRedisMap"));
      }
    }
  }
  std::map<std::string, std::string> address_owner;  // raft address -> raft id
  for (const auto& [group, list] : lists) {
    for (const Member& m : list.members) address_owner.emplace(m.address, m.raft_id);
  }
  for (const auto& [group, addr] : groups) address_owner.emplace(addr, local);
  if (!flags.redis_address.empty()) {
    for (const auto& [group, addr] : groups) redis_map.emplace(addr, flags.redis_address);
  }
  {
    std::vector<std::string> missing;
    for (const auto& [addr, id] : address_owner) {
      if (!redis_map.contains(addr)) missing.push_back(absl::StrCat(addr, " (", id, ")"));
    }
    if (!missing.empty()) {
      return ConfigError(
          ConfigErrc::kRedisMapIncomplete,
          absl::StrCat("--raftRedisMap has no entry for ", absl::StrJoin(missing, ", "),
                       "; every shard needs the full raft -> redis map"));
    }
  }
  {
    std::map<std::string, std::pair<std::string, std::string>> node_redis;  // id -> (addr, redis)
    std::map<std::string, std::string> redis_owner;                         // redis -> id
    for (const auto& [addr, id] : address_owner) {
      const std::string& redis = redis_map.at(addr);
      auto [it, inserted] = node_redis.emplace(id, std::make_pair(addr, redis));
      if (!inserted && it->second.second != redis) {
        return ConfigError(
            ConfigErrc::kRedisMapSplitNode,
            absl::StrCat("node ", id,
                         "'s listeners map to different Redis "
                         "addresses: ",
                         it->second.first, " -> ", it->second.second, ", ", addr, " -> ", redis));
      }
    }
    for (const auto& [id, addr_redis] : node_redis) {
      auto [it, inserted] = redis_owner.emplace(addr_redis.second, id);
      if (!inserted) {
        return ConfigError(ConfigErrc::kRedisMapSplitNode,
                           absl::StrCat("nodes ", it->second, " and ", id,
                                        " share the Redis address ", addr_redis.second));
      }
    }
  }
  if (!flags.redis_address.empty()) {
    for (const auto& [group, addr] : groups) {
      const std::string& redis = redis_map.at(addr);
      if (redis != flags.redis_address) {
        return ConfigError(ConfigErrc::kRedisMapLocalMismatch,
                           absl::StrCat("group ", group, " listener ", addr, " maps to ", redis,
                                        " but --redisAddress is ", flags.redis_address));
      }
    }
  }

  // §2: resolve the per-group bootstrap lists.
  MembershipConfig config;
  config.raft_id = local;
  config.node_id = derive_node_id(local);
  config.groups = std::move(groups);
  config.redis_map = std::move(redis_map);
  config.join_as_learner = flags.raft_join_as_learner;
  for (const auto& [group, list] : lists) {
    std::vector<Server>& servers = config.bootstrap_lists[group];
    for (const Member& m : list.members) {
      servers.push_back({derive_node_id(m.raft_id), m.raft_id, m.address, /*voter=*/true});
    }
    std::sort(servers.begin(), servers.end(),
              [](const Server& a, const Server& b) { return a.node_id < b.node_id; });
  }
  if (lists.empty() && flags.raft_bootstrap) {
    config.single_node_bootstrap = true;
    for (const auto& [group, addr] : config.groups) {
      config.bootstrap_lists[group] = {{config.node_id, local, addr, /*voter=*/true}};
    }
    config.warnings.push_back(absl::StrCat(
        "--raftBootstrap without a member list: each of the ", config.groups.size(),
        " group(s) bootstraps with ", local,
        " as its only voter (explicit single-node topology; other nodes can only join as "
        "learners/voters via RaftAdmin)"));
  }
  return config;
}

}  // namespace membership_internal

absl::StatusOr<MembershipConfig> ResolveMembership(const MembershipFlags& flags) {
  return membership_internal::ResolveMembershipWith(flags, &DeriveNodeId);
}

}  // namespace tessera::shard
