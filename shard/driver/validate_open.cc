// Validate-on-open of a group's meta:peers and meta:conf_state records, and the refusal to start
// over state of a group not in --raftGroups (membership.md §2, §4).
#include "shard/driver/validate_open.h"

#include <algorithm>
#include <cstdint>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "shard/config/config_errc.h"
#include "shard/driver/bootstrap.h"
#include "shard/membership/peers_record.h"

namespace tessera::shard {
namespace {

// Debian builds abseil with its own string_view type, distinct from std::string_view.
absl::string_view Av(std::string_view s) { return absl::string_view(s.data(), s.size()); }

absl::StatusOr<std::optional<std::string>> ReadMeta(StorageEngine* engine, GroupId gid,
                                                    std::string_view name) {
  std::string value;
  rocksdb::Status s =
      engine->db()->Get(rocksdb::ReadOptions(), engine->meta(), MetaKey(gid, name), &value);
  if (s.IsNotFound()) return std::optional<std::string>();
  if (!s.ok()) return FromRocksStatus(s, absl::StrCat("group ", gid, ": meta:", Av(name), " read"));
  return std::optional<std::string>(std::move(value));
}

// A status's message without the "<errc name>: " prefix ConfigError puts in front, so a wrapped
// error does not repeat it.
std::string Detail(const absl::Status& status) {
  std::string message(status.message());
  const std::string prefix = absl::StrCat(Av(ConfigErrcName(GetConfigErrc(status))), ": ");
  if (GetConfigErrc(status) != ConfigErrc::kOk && message.starts_with(prefix)) {
    message.erase(0, prefix.size());
  }
  return message;
}

using PeersById = absl::flat_hash_map<NodeId, const Server*>;

std::string Hex16(NodeId id) { return absl::StrCat(absl::Hex(id, absl::kZeroPad16)); }

// "n1 (08b37b07b558d4c0)" when meta:peers knows the raft id, the bare hex id otherwise.
std::string NodeName(NodeId id, const PeersById& peers) {
  auto it = peers.find(id);
  if (it == peers.end()) return Hex16(id);
  return absl::StrCat(it->second->raft_id, " (", Hex16(id), ")");
}

std::string NodeList(const std::vector<NodeId>& ids, const PeersById& peers) {
  return absl::StrCat(
      "{",
      absl::StrJoin(ids, ", ",
                    [&](std::string* out, NodeId id) { out->append(NodeName(id, peers)); }),
      "}");
}

// What meta:peers says about a ConfState member, for mismatch messages.
std::string RoleInPeers(NodeId id, const PeersById& peers) {
  auto it = peers.find(id);
  if (it == peers.end()) return "has no entry (and so no address) in meta:peers";
  return it->second->voter ? "is a voter in meta:peers" : "is a learner in meta:peers";
}

absl::Status Mismatch(GroupId gid, std::string_view detail) {
  return ConfigError(ConfigErrc::kClusterMismatch, absl::StrCat("group ", gid, ": ", Av(detail)));
}

// Step 3, voters: element-wise in NodeId order.
absl::Status CompareVoters(GroupId gid, const ConfStateRecord& cs, const PeersRecord& peers,
                           const PeersById& by_id) {
  std::vector<NodeId> expected;
  for (const Server& s : peers.peers) {
    if (s.voter) expected.push_back(s.node_id);
  }
  const std::vector<NodeId>& voters = cs.conf_state.voters;
  if (voters == expected) return absl::OkStatus();
  const size_t common = std::min(voters.size(), expected.size());
  size_t i = 0;
  while (i < common && voters[i] == expected[i]) ++i;
  std::string first;
  if (i < common) {
    first = absl::StrCat("at position ", i, " ConfState has ", NodeName(voters[i], by_id),
                         ", which ", RoleInPeers(voters[i], by_id), ", where meta:peers has ",
                         NodeName(expected[i], by_id));
  } else if (i < voters.size()) {
    first = absl::StrCat("ConfState voter ", NodeName(voters[i], by_id), " ",
                         RoleInPeers(voters[i], by_id));
  } else {
    first = absl::StrCat("meta:peers voter ", NodeName(expected[i], by_id),
                         " is not a ConfState voter");
  }
  return Mismatch(gid, absl::StrCat("ConfState voters ", NodeList(voters, by_id), " at index ",
                                    cs.index, " differ from the voters of meta:peers ",
                                    NodeList(expected, by_id), ": ", first));
}

// Step 3, learners: as sets; mismatch iff the sizes differ or a ConfState learner is not a
// learner in peers.
absl::Status CompareLearners(GroupId gid, const ConfStateRecord& cs, const PeersRecord& peers,
                             const PeersById& by_id) {
  std::vector<NodeId> expected;
  absl::flat_hash_set<NodeId> expected_set;
  for (const Server& s : peers.peers) {
    if (!s.voter) {
      expected.push_back(s.node_id);
      expected_set.insert(s.node_id);
    }
  }
  const std::vector<NodeId>& learners = cs.conf_state.learners;
  std::optional<std::string> first;
  for (NodeId id : learners) {
    if (!expected_set.contains(id)) {
      first = absl::StrCat("ConfState learner ", NodeName(id, by_id), " ", RoleInPeers(id, by_id));
      break;
    }
  }
  if (!first.has_value() && learners.size() != expected.size()) {
    for (NodeId id : expected) {
      if (std::find(learners.begin(), learners.end(), id) == learners.end()) {
        first =
            absl::StrCat("meta:peers learner ", NodeName(id, by_id), " is not a ConfState learner");
        break;
      }
    }
    if (!first.has_value()) {
      first = absl::StrCat("ConfState lists ", learners.size(), " learners, meta:peers ",
                           expected.size());
    }
  }
  if (!first.has_value()) return absl::OkStatus();
  return Mismatch(
      gid, absl::StrCat("ConfState learners ", NodeList(learners, by_id), " at index ", cs.index,
                        " differ from the learners of "
                        "meta:peers ",
                        NodeList(expected, by_id), ": ", *first));
}

// GroupKeyEnd(gid) without its trailing zero bytes: it sorts after every row of `gid` and at or
// before every key that follows them. A key shorter than the 8-byte prefix sorts just before
// the rows of the group whose prefix it starts, so seeking to GroupKeyEnd(gid) itself could
// jump over one.
std::string SeekPastGroup(GroupId gid) {
  std::string key = GroupKeyEnd(gid);  // gid + 1 != 0, so at least one byte is non-zero
  while (key.back() == '\0') key.pop_back();
  return key;
}

absl::Status ScanColumnFamily(StorageEngine* engine, rocksdb::ColumnFamilyHandle* cf,
                              std::string_view cf_name, const std::set<GroupId>& hosted) {
  rocksdb::ReadOptions ro;
  ro.total_order_seek = true;
  ro.fill_cache = false;
  std::unique_ptr<rocksdb::Iterator> it(engine->db()->NewIterator(ro, cf));
  for (it->SeekToFirst(); it->Valid();) {
    const std::string_view key = it->key().ToStringView();
    if (key.size() < 8) {
      return ConfigError(
          ConfigErrc::kCorruptGroupState,
          absl::StrCat("column family ", Av(cf_name), " holds a ", key.size(), "-byte key (hex \"",
                       absl::BytesToHexString(Av(key)),
                       "\") shorter than the 8-byte group prefix every row starts with; the "
                       "node refuses to start over corrupt state"));
    }
    const GroupId gid = DecodeU64BE(key);
    if (!hosted.contains(gid)) {
      return ConfigError(
          ConfigErrc::kUnlistedGroupState,
          absl::StrCat("RocksDB holds state for group ", gid, " (column family ", Av(cf_name),
                       ") but group ", gid,
                       " is not in --raftGroups (hosted: ", absl::StrJoin(hosted, ","),
                       "); the node refuses to start: list the group in --raftGroups again, "
                       "or start with the data directory that belongs to this configuration"));
    }
    if (gid == std::numeric_limits<GroupId>::max()) break;  // no group follows
    it->Seek(SeekPastGroup(gid));
  }
  if (!it->status().ok()) {
    return FromRocksStatus(it->status(), absl::StrCat("scan of column family ", Av(cf_name)));
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status ValidateGroupOnOpen(StorageEngine* engine, GroupId gid, raft::NodeId local_node,
                                 std::string_view local_address) {
  // Step 1: both records or neither.
  absl::StatusOr<std::optional<std::string>> peers_bytes = ReadMeta(engine, gid, meta::kPeers);
  if (!peers_bytes.ok()) return peers_bytes.status();
  absl::StatusOr<std::optional<std::string>> cs_bytes = ReadMeta(engine, gid, meta::kConfState);
  if (!cs_bytes.ok()) return cs_bytes.status();
  if (!peers_bytes->has_value() && !cs_bytes->has_value()) {
    return absl::OkStatus();  // a joiner that has applied nothing yet
  }
  if (peers_bytes->has_value() != cs_bytes->has_value()) {
    const std::string_view present = peers_bytes->has_value() ? "peers" : "conf_state";
    const std::string_view absent = peers_bytes->has_value() ? "conf_state" : "peers";
    return ConfigError(ConfigErrc::kCorruptGroupState,
                       absl::StrCat("group ", gid, ": meta:", Av(present), " is present but meta:",
                                    Av(absent), " is absent; both are written in one batch"));
  }
  absl::StatusOr<PeersRecord> peers = DecodePeersRecord(**peers_bytes);
  if (!peers.ok()) {
    return ConfigError(ConfigErrc::kPeersRecordCorrupt,
                       absl::StrCat("group ", gid, ": meta:peers: ", Detail(peers.status())));
  }
  absl::StatusOr<ConfStateRecord> cs = DecodeConfStateRecord(**cs_bytes);
  if (!cs.ok()) {
    return ConfigError(ConfigErrc::kCorruptGroupState,
                       absl::StrCat("group ", gid, ": meta:conf_state: ", cs.status().message()));
  }
  if (peers->index != cs->index) {
    return Mismatch(gid, absl::StrCat("meta:peers is at index ", peers->index,
                                      " but meta:conf_state is at index ", cs->index,
                                      "; both are written in the batch of one applied index"));
  }

  // Step 2: raft::ConfState (and its protobuf) has no voters_outgoing, learners_next or
  // auto_leave — the core does single-step changes only. A stored record that carries any field
  // this version does not know may be such a marker: refused, never silently dropped.
  if (cs->unknown_fields) {
    return Mismatch(gid, absl::StrCat("meta:conf_state at index ", cs->index,
                                      " carries fields this version does not know (a "
                                      "joint-consensus voters_outgoing, learners_next or "
                                      "auto_leave?); only single-step configurations are "
                                      "supported"));
  }

  PeersById by_id;
  for (const Server& s : peers->peers) by_id.emplace(s.node_id, &s);

  // Step 3.
  if (absl::Status s = CompareVoters(gid, *cs, *peers, by_id); !s.ok()) return s;
  if (absl::Status s = CompareLearners(gid, *cs, *peers, by_id); !s.ok()) return s;

  // Step 4. Implied by step 3 for a record that decodes (every peer has a 1..255-byte address);
  // kept so that a relaxed step 3 can never let an unreachable member through.
  const raft::ConfState& conf = cs->conf_state;
  for (const std::vector<NodeId>* members : {&conf.voters, &conf.learners}) {
    for (NodeId id : *members) {
      auto it = by_id.find(id);
      if (it == by_id.end() || it->second->address.empty()) {
        return Mismatch(gid, absl::StrCat("ConfState member ", NodeName(id, by_id),
                                          " has no address in meta:peers"));
      }
    }
  }

  // Step 5.
  if (conf.IsVoter(local_node) || conf.IsLearner(local_node)) {
    const Server& local = *by_id.at(local_node);
    if (local.address != local_address) {
      return ConfigError(
          ConfigErrc::kLocalAddrMismatch,
          absl::StrCat("group ", gid, ": local node ", NodeName(local_node, by_id), " is a ",
                       local.voter ? "voter" : "learner", " with listener address ", local.address,
                       " in meta:peers, but --raftGroups gives ", Av(local_address),
                       "; moving a listener requires RemoveServer followed by AddVoter or "
                       "AddLearner at the new address"));
    }
  }
  return absl::OkStatus();
}

absl::Status CheckNoUnlistedGroupState(StorageEngine* engine, const std::set<GroupId>& hosted) {
  const std::pair<rocksdb::ColumnFamilyHandle*, std::string_view> cfs[] = {
      {engine->raftlog(), kRaftLogColumnFamily},
      {engine->meta(), kMetaColumnFamily},
      {engine->data(), kDataColumnFamily},
  };
  for (const auto& [cf, name] : cfs) {
    if (absl::Status s = ScanColumnFamily(engine, cf, name, hosted); !s.ok()) return s;
  }
  return absl::OkStatus();
}

}  // namespace tessera::shard
