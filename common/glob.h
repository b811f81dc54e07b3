// Redis's glob (stringmatchlen in util.c, Redis 7.0) for KEYS, SCAN MATCH and Pub/Sub patterns,
// shared by the shard and the gateway.
#pragma once

#include <string_view>

namespace tessera::common {

// stringmatchlen: '*', '?', '[abc]', '[^a]', '[a-z]' (bounds in either order, compared as signed
// chars like Redis), '\x' escapes, an unclosed '[' runs to the end of the pattern. An empty
// `text` never matches (so KEYS and SCAN treat the pattern "*" themselves, as Redis does), and
// a pattern nesting more than 1000 '*' matches nothing.
bool GlobMatch(std::string_view pattern, std::string_view text, bool nocase = false);

}  // namespace tessera::common
