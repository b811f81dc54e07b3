// Helpers of the core's value types: membership lookups, conf-change encoding, names.
#include "raft/types.h"

#include <algorithm>
#include <cstring>

namespace tessera::raft {

bool ConfState::IsVoter(NodeId id) const {
  return std::find(voters.begin(), voters.end(), id) != voters.end();
}

bool ConfState::IsLearner(NodeId id) const {
  return std::find(learners.begin(), learners.end(), id) != learners.end();
}

std::string EncodeConfChange(const ConfChange& cc) {
  std::string out(9, '\0');
  out[0] = static_cast<char>(cc.type);
  for (int i = 0; i < 8; ++i) out[1 + i] = static_cast<char>((cc.node_id >> (8 * i)) & 0xff);
  out += cc.context;
  return out;
}

bool DecodeConfChange(const std::string& data, ConfChange* cc) {
  if (data.size() < 9) return false;
  auto type = static_cast<uint8_t>(data[0]);
  if (type > static_cast<uint8_t>(ConfChangeType::kAddLearnerNode)) return false;
  cc->type = static_cast<ConfChangeType>(type);
  cc->node_id = 0;
  for (int i = 0; i < 8; ++i) {
    cc->node_id |= static_cast<uint64_t>(static_cast<uint8_t>(data[1 + i])) << (8 * i);
  }
  cc->context = data.substr(9);
  return true;
}

const char* MessageTypeName(MessageType t) {
  switch (t) {
    case MessageType::kHup:
      return "MsgHup";
    case MessageType::kBeat:
      return "MsgBeat";
    case MessageType::kProp:
      return "MsgProp";
    case MessageType::kApp:
      return "MsgApp";
    case MessageType::kAppResp:
      return "MsgAppResp";
    case MessageType::kVote:
      return "MsgVote";
    case MessageType::kVoteResp:
      return "MsgVoteResp";
    case MessageType::kSnap:
      return "MsgSnap";
    case MessageType::kHeartbeat:
      return "MsgHeartbeat";
    case MessageType::kHeartbeatResp:
      return "MsgHeartbeatResp";
    case MessageType::kUnreachable:
      return "MsgUnreachable";
    case MessageType::kSnapStatus:
      return "MsgSnapStatus";
    case MessageType::kCheckQuorum:
      return "MsgCheckQuorum";
    case MessageType::kTransferLeader:
      return "MsgTransferLeader";
    case MessageType::kTimeoutNow:
      return "MsgTimeoutNow";
    case MessageType::kReadIndex:
      return "MsgReadIndex";
    case MessageType::kReadIndexResp:
      return "MsgReadIndexResp";
    case MessageType::kPreVote:
      return "MsgPreVote";
    case MessageType::kPreVoteResp:
      return "MsgPreVoteResp";
  }
  return "MsgUnknown";
}

bool IsLocalMessage(MessageType t) {
  return t == MessageType::kHup || t == MessageType::kBeat || t == MessageType::kUnreachable ||
         t == MessageType::kSnapStatus || t == MessageType::kCheckQuorum;
}

bool IsResponseMessage(MessageType t) {
  return t == MessageType::kAppResp || t == MessageType::kVoteResp ||
         t == MessageType::kHeartbeatResp || t == MessageType::kUnreachable ||
         t == MessageType::kPreVoteResp;
}

const char* RoleName(Role r) {
  switch (r) {
    case Role::kFollower:
      return "follower";
    case Role::kCandidate:
      return "candidate";
    case Role::kLeader:
      return "leader";
    case Role::kPreCandidate:
      return "pre-candidate";
  }
  return "?";
}

}  // namespace tessera::raft
