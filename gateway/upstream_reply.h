// A shard's reply as hiredis reads it, kept as its RESP2 bytes plus what the gateway needs to
// merge and reshape it (root type, integer, top-level element boundaries): no reply tree.
#pragma once

#include <hiredis/hiredis.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace tessera::gateway {

// hiredis hands the root object of every reply to its callbacks and, for a reply nobody asked
// for, reads it as a redisReply (type, and str for an error): `head` comes first so that
// path sees a valid redisReply.
struct UpstreamReply {
  UpstreamReply() = default;
  // head.str points into bytes: never copied or moved.
  UpstreamReply(const UpstreamReply&) = delete;
  UpstreamReply& operator=(const UpstreamReply&) = delete;

  redisReply head{};  // type REDIS_REPLY_*; integer; str/len: status or error text
  std::string bytes;  // the whole reply, RESP2, exactly as the shard sent it
  // Offsets in `bytes` where each top-level element of an array starts (arrays only).
  std::vector<size_t> elements;
  // Set by a callback that took ownership of the root object: hiredis's free after the
  // callback then leaves it alone (the gateway keeps the reply without copying it).
  bool adopted = false;

  int type() const { return head.type; }
  bool is_error() const { return head.type == REDIS_REPLY_ERROR; }
  std::string_view text() const {  // status or error text, without '-' / '+'
    return head.str != nullptr ? std::string_view(head.str, head.len) : std::string_view();
  }
  int64_t integer() const { return head.integer; }
  // Bytes of top-level element i of an array reply.
  std::string_view Element(size_t i) const;
};

// Installs the reply-object functions on a hiredis reader: replies become UpstreamReply (the
// root object handed to callbacks; hiredis frees it through the same table unless a callback
// adopted it).
void UseUpstreamReplies(redisReader* reader);

// An UpstreamReply made by the gateway itself (tests, local errors).
std::unique_ptr<UpstreamReply> MakeErrorReply(std::string_view text);

}  // namespace tessera::gateway
