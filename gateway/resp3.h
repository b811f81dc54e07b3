// RESP3 for clients that said HELLO 3: shards answer the gateway in RESP2 (hiredis 0.14 reads
// nothing else), so the gateway restores the RESP3 types Redis 7.0 would have sent.
#pragma once

#include <string>
#include <string_view>

#include "common/resp.h"
#include "routing/command_table.h"

namespace tessera::gateway {

// What a command's RESP2 reply becomes in RESP3 (beyond nulls, which always become `_`).
enum class Resp3Shape {
  kAsIs,
  kMap,          // flat array of field, value -> map (HGETALL, CONFIG GET)
  kSet,          // array -> set (SMEMBERS, SINTER, SUNION, SDIFF, SPOP with a count)
  kDouble,       // bulk -> double (ZSCORE, ZINCRBY, ZADD INCR)
  kDoubleArray,  // each bulk -> double (ZMSCORE)
  kScorePairs,   // flat member, score -> [member, double] pairs (WITHSCORES, ZPOPMIN count)
  kPairs,        // flat field, value -> [field, value] pairs (HRANDFIELD WITHVALUES)
  kScoreLast,    // the last element -> double (BZPOPMIN, ZPOPMIN without count)
};

Resp3Shape ShapeFor(const routing::CommandSpec& spec, routing::ArgvRef argv);

// Appends `resp2` (one whole reply) to `out` in `protocol`, reshaped for RESP3.
void RenderReply(std::string_view resp2, common::resp::Protocol protocol, Resp3Shape shape,
                 std::string* out);

}  // namespace tessera::gateway
