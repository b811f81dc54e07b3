// The peers record after one applied conf change (spec/membership.md §7.4 step 2): the
// address from the change's context, suffrage stamped from the resulting ConfState.
#pragma once

#include <cstdint>
#include <string>

#include "raft/types.h"
#include "shard/membership/peers_record.h"

namespace tessera::shard {

// `conf` is the ConfState the core returned for `cc`, applied at `index`. A removal drops the
// member; an addition upserts it with the context's address, or keeps the member it already has
// when the context is empty (a promotion carries none). Every member's suffrage is then stamped
// from `conf` (voters -> voter, learners -> learner, neither -> unchanged), never left to a
// default. `*problem` is set (and the record otherwise complete) when an added member has no
// usable address.
PeersRecord NextPeersAfterConfChange(const PeersRecord& current, const raft::ConfChange& cc,
                                     const raft::ConfState& conf, uint64_t index,
                                     std::string* problem);

}  // namespace tessera::shard
