// raft::Message <-> tessera.raft.v1.Message, with limits checked before anything is copied.
#include "shard/transport/raft_codec.h"

#include <string>

#include "absl/strings/str_cat.h"

namespace tessera::shard {
namespace {

namespace v1 = tessera::raft::v1;

absl::Status Invalid(const std::string& what) {
  return absl::InvalidArgumentError(absl::StrCat("raft message rejected: ", what));
}

void EncodeConfState(const raft::ConfState& cs, v1::ConfState* out) {
  for (raft::NodeId id : cs.voters) out->add_voters(id);
  for (raft::NodeId id : cs.learners) out->add_learners(id);
}

}  // namespace

void EncodeRaftMessage(const raft::Message& m, v1::Message* out) {
  out->set_type(static_cast<uint32_t>(m.type));
  out->set_to(m.to);
  out->set_from(m.from);
  out->set_term(m.term);
  out->set_log_term(m.log_term);
  out->set_index(m.index);
  for (const raft::Entry& e : m.entries) {
    v1::Entry* pe = out->add_entries();
    pe->set_term(e.term);
    pe->set_index(e.index);
    pe->set_type(e.type == raft::EntryType::kConfChange ? v1::ENTRY_CONF_CHANGE : v1::ENTRY_NORMAL);
    pe->set_data(e.data);
  }
  out->set_commit(m.commit);
  // Every non-default snapshot field travels, also for an index-0 snapshot, so that what
  // decodes re-encodes to the same message (found by the decoders fuzzer).
  if (!(m.snapshot == raft::Snapshot{})) {
    v1::Snapshot* ps = out->mutable_snapshot();
    ps->set_data(m.snapshot.data);
    v1::SnapshotMetadata* md = ps->mutable_metadata();
    md->set_index(m.snapshot.metadata.index);
    md->set_term(m.snapshot.metadata.term);
    EncodeConfState(m.snapshot.metadata.conf_state, md->mutable_conf_state());
  }
  out->set_reject(m.reject);
  out->set_reject_hint(m.reject_hint);
  out->set_context(m.context);
  out->set_lease_tick(m.lease_tick);
}

absl::StatusOr<raft::Message> DecodeRaftMessage(const v1::Message& in,
                                                const RaftCodecLimits& limits) {
  if (in.type() >= static_cast<uint32_t>(raft::kNumMessageTypes)) {
    return Invalid(absl::StrCat("unknown type ", in.type()));
  }
  auto type = static_cast<raft::MessageType>(in.type());
  if (raft::IsLocalMessage(type)) {
    return Invalid(absl::StrCat("local-only type ", raft::MessageTypeName(type)));
  }
  if (static_cast<size_t>(in.entries_size()) > limits.max_entries) {
    return Invalid(absl::StrCat(in.entries_size(), " entries > limit ", limits.max_entries));
  }
  if (in.context().size() > limits.max_context_bytes) {
    return Invalid(absl::StrCat("context of ", in.context().size(), " bytes"));
  }
  uint64_t total = 0;
  for (const v1::Entry& e : in.entries()) {
    if (e.type() != v1::ENTRY_NORMAL && e.type() != v1::ENTRY_CONF_CHANGE) {
      return Invalid(absl::StrCat("unknown entry type ", static_cast<int>(e.type())));
    }
    if (e.data().size() > limits.max_entry_bytes) {
      return Invalid(absl::StrCat("entry of ", e.data().size(), " bytes"));
    }
    total += e.data().size();
  }
  if (total > limits.max_message_bytes)
    return Invalid(absl::StrCat("entries of ", total, " bytes"));
  const v1::Snapshot& ps = in.snapshot();
  const v1::ConfState& pcs = ps.metadata().conf_state();
  if (static_cast<size_t>(pcs.voters_size() + pcs.learners_size()) > limits.max_members) {
    return Invalid("snapshot membership too large");
  }
  if (ps.data().size() > limits.max_snapshot_data_bytes) {
    return Invalid(absl::StrCat("snapshot data of ", ps.data().size(), " bytes"));
  }

  raft::Message m;
  m.type = type;
  m.to = in.to();
  m.from = in.from();
  m.term = in.term();
  m.log_term = in.log_term();
  m.index = in.index();
  m.entries.reserve(in.entries_size());
  for (const v1::Entry& e : in.entries()) {
    m.entries.push_back(raft::Entry{
        e.term(), e.index(),
        e.type() == v1::ENTRY_CONF_CHANGE ? raft::EntryType::kConfChange : raft::EntryType::kNormal,
        e.data()});
  }
  m.commit = in.commit();
  m.snapshot.data = ps.data();
  m.snapshot.metadata.index = ps.metadata().index();
  m.snapshot.metadata.term = ps.metadata().term();
  m.snapshot.metadata.conf_state.voters.assign(pcs.voters().begin(), pcs.voters().end());
  m.snapshot.metadata.conf_state.learners.assign(pcs.learners().begin(), pcs.learners().end());
  m.reject = in.reject();
  m.reject_hint = in.reject_hint();
  m.context = in.context();
  m.lease_tick = in.lease_tick();
  return m;
}

absl::StatusOr<raft::Message> DecodeRaftMessageBytes(std::string_view bytes,
                                                     const RaftCodecLimits& limits) {
  v1::Message in;
  if (bytes.size() > limits.max_message_bytes + (1u << 20) ||
      !in.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) {
    return Invalid("not a parseable message");
  }
  return DecodeRaftMessage(in, limits);
}

}  // namespace tessera::shard
