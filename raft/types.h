// Value types of the consensus core: log entries, hard state, membership, snapshots and
// the messages peers exchange. Plain data; no I/O and no behaviour beyond small helpers.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace tessera::raft {

using NodeId = uint64_t;
inline constexpr NodeId kNoNode = 0;

enum class EntryType : uint8_t { kNormal = 0, kConfChange = 1 };

struct Entry {
  uint64_t term = 0;
  uint64_t index = 0;
  EntryType type = EntryType::kNormal;
  std::string data;

  bool operator==(const Entry&) const = default;
};

// Size that counts against MaxSizePerMsg and uncommitted-size limits.
inline uint64_t EntryPayloadSize(const Entry& e) { return e.data.size(); }

struct HardState {
  uint64_t term = 0;
  NodeId vote = kNoNode;
  uint64_t commit = 0;

  bool operator==(const HardState&) const = default;
  bool IsEmpty() const { return term == 0 && vote == kNoNode && commit == 0; }
};

// The authority on suffrage: voters vote and count toward quorum, learners only receive
// the log. The two sets are disjoint and kept sorted.
struct ConfState {
  std::vector<NodeId> voters;
  std::vector<NodeId> learners;

  bool operator==(const ConfState&) const = default;
  bool IsVoter(NodeId id) const;
  bool IsLearner(NodeId id) const;
};

enum class ConfChangeType : uint8_t {
  kAddNode = 0,         // add a voter, or promote an existing learner
  kRemoveNode = 1,      // remove a voter or a learner
  kAddLearnerNode = 2,  // add a learner
};

struct ConfChange {
  ConfChangeType type = ConfChangeType::kAddNode;
  NodeId node_id = kNoNode;
  std::string context;  // opaque to the core (address, raft id)

  bool operator==(const ConfChange&) const = default;
};

// Conf changes travel in kConfChange entries in this fixed encoding:
// type u8 ‖ node_id u64 LE ‖ context bytes.
std::string EncodeConfChange(const ConfChange& cc);
bool DecodeConfChange(const std::string& data, ConfChange* cc);

struct SnapshotMetadata {
  ConfState conf_state;
  uint64_t index = 0;
  uint64_t term = 0;

  bool operator==(const SnapshotMetadata&) const = default;
};

struct Snapshot {
  std::string data;
  SnapshotMetadata metadata;

  bool operator==(const Snapshot&) const = default;
  bool IsEmpty() const { return metadata.index == 0; }
};

enum class MessageType : uint8_t {
  kHup = 0,  // local: start an election
  kBeat,     // local: leader sends heartbeats
  kProp,     // proposal (local, or forwarded by a follower)
  kApp,
  kAppResp,
  kVote,
  kVoteResp,
  kSnap,
  kHeartbeat,
  kHeartbeatResp,
  kUnreachable,  // local: transport could not reach a peer
  kSnapStatus,   // local: a snapshot send finished or failed
  kCheckQuorum,  // local: leader checks it heard from a quorum
  kTransferLeader,
  kTimeoutNow,
  kReadIndex,
  kReadIndexResp,
  kPreVote,
  kPreVoteResp,
};
inline constexpr int kNumMessageTypes = static_cast<int>(MessageType::kPreVoteResp) + 1;

const char* MessageTypeName(MessageType t);
bool IsLocalMessage(MessageType t);
bool IsResponseMessage(MessageType t);

struct Message {
  MessageType type = MessageType::kHup;
  NodeId to = kNoNode;
  NodeId from = kNoNode;
  uint64_t term = 0;
  uint64_t log_term = 0;  // term of the entry at `index` (app, vote) or hint term (reject)
  uint64_t index = 0;
  std::vector<Entry> entries;
  uint64_t commit = 0;
  Snapshot snapshot;  // only for kSnap
  bool reject = false;
  uint64_t reject_hint = 0;
  std::string context;  // read-index request id, campaign kind
  // Leader tick at which a heartbeat was sent, echoed in the response: the start of the
  // follower's election timer, and so the conservative start of the leader's lease.
  uint64_t lease_tick = 0;

  bool operator==(const Message&) const = default;
};

// A linearizable read: once the application has applied `index`, it may serve the read
// identified by `request_ctx`.
struct ReadState {
  uint64_t index = 0;
  std::string request_ctx;

  bool operator==(const ReadState&) const = default;
};

enum class Role : uint8_t { kFollower, kCandidate, kLeader, kPreCandidate };
const char* RoleName(Role r);

struct SoftState {
  NodeId lead = kNoNode;
  Role role = Role::kFollower;

  bool operator==(const SoftState&) const = default;
};

}  // namespace tessera::raft
