// The command table's rows (facts of Redis 7.0's COMMAND INFO and COMMAND DOCS, checked against
// a real redis-server by command_table_test.cc), the facts derived from them, and lookups.
#include "routing/command_table.h"

#include <algorithm>
#include <array>
#include <cstdlib>
#include <optional>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/ascii.h"

namespace tessera::routing {
namespace {

using enum CommandFlag;
using enum KeySpecFlag;
using enum MultiKeyPolicy;
using Acl = AclCategory;

// One key at argv[index].
KeySpec OneKey(int index, KeySpecFlags flags, std::string_view notes = {}) {
  return KeySpec{.flags = flags, .notes = notes, .begin_index = index};
}

// Keys from argv[index] to the `last_key` of KeySpec, every `step`.
KeySpec KeyRange(int index, int last_key, int step, KeySpecFlags flags) {
  return KeySpec{.flags = flags, .begin_index = index, .last_key = last_key, .key_step = step};
}

// A key count at argv[index + keynum_index], then that many keys from argv[index + first_key].
KeySpec KeyNum(int index, int keynum_index, int first_key, int step, KeySpecFlags flags) {
  return KeySpec{.flags = flags,
                 .begin_index = index,
                 .find = KeySpec::Find::kKeynum,
                 .keynum_index = keynum_index,
                 .first_key = first_key,
                 .key_step = step};
}

// Every command Tessera serves, in the order of AllCommands(). Flags and categories hold only
// what cannot be derived (see CommandSpec); key specs follow Redis 7.0's.
std::vector<CommandSpec> Rows() {
  return {
      // Strings.
      {.name = "get",
       .arity = 2,
       .flags = {kReadonly, kFast},
       .categories = {Acl::kString},
       .key_specs = {OneKey(1, {kRO, kAccess})},
       .policy = kSingleKey,
       .docs = {"Get the value of a key", "1.0.0", "string", "O(1)"}},
      {.name = "set",
       .arity = -3,
       .flags = {kWrite, kDenyoom},
       .categories = {Acl::kString},
       .key_specs = {OneKey(1, {kRW, kAccess, kUpdate, kVariableFlags},
                            "RW and ACCESS due to the optional `GET` argument")},
       .policy = kSingleKey,
       .docs = {"Set the string value of a key", "1.0.0", "string", "O(1)"}},
      {.name = "setnx",
       .arity = 3,
       .flags = {kWrite, kDenyoom, kFast},
       .categories = {Acl::kString},
       .key_specs = {OneKey(1, {kOW, kInsert})},
       .policy = kSingleKey,
       .docs = {"Set the value of a key, only if the key does not exist", "1.0.0", "string",
                "O(1)"}},
      {.name = "setex",
       .arity = 4,
       .flags = {kWrite, kDenyoom},
       .categories = {Acl::kString},
       .key_specs = {OneKey(1, {kOW, kUpdate})},
       .policy = kSingleKey,
       .docs = {"Set the value and expiration of a key", "2.0.0", "string", "O(1)"}},
      {.name = "psetex",
       .arity = 4,
       .flags = {kWrite, kDenyoom},
       .categories = {Acl::kString},
       .key_specs = {OneKey(1, {kOW, kUpdate})},
       .policy = kSingleKey,
       .docs = {"Set the value and expiration in milliseconds of a key", "2.6.0", "string",
                "O(1)"}},
      {.name = "getset",
       .arity = 3,
       .flags = {kWrite, kDenyoom, kFast},
       .categories = {Acl::kString},
       .key_specs = {OneKey(1, {kRW, kAccess, kUpdate})},
       .policy = kSingleKey,
       .docs = {"Set the string value of a key and return its old value", "1.0.0", "string", "O(1)",
                "6.2.0", "`SET` with the `!GET` argument"}},
      {.name = "getdel",
       .arity = 2,
       .flags = {kWrite, kFast},
       .categories = {Acl::kString},
       .key_specs = {OneKey(1, {kRW, kAccess, kDelete})},
       .policy = kSingleKey,
       .docs = {"Get the value of a key and delete the key", "6.2.0", "string", "O(1)"}},
      {.name = "getex",
       .arity = -2,
       .flags = {kWrite, kFast},
       .categories = {Acl::kString},
       .key_specs = {OneKey(1, {kRW, kAccess, kUpdate},
                            "RW and UPDATE because it changes the TTL")},
       .policy = kSingleKey,
       .docs = {"Get the value of a key and optionally set its expiration", "6.2.0", "string",
                "O(1)"}},
      {.name = "mget",
       .arity = -2,
       .flags = {kReadonly, kFast},
       .categories = {Acl::kString},
       .key_specs = {KeyRange(1, -1, 1, {kRO, kAccess})},
       .policy = kSplitConcat,
       .tips = {"request_policy:multi_shard"},
       .docs = {"Get the values of all the given keys", "1.0.0", "string",
                "O(N) where N is the number of keys to retrieve."}},
      {.name = "mset",
       .arity = -3,
       .flags = {kWrite, kDenyoom},
       .categories = {Acl::kString},
       .key_specs = {KeyRange(1, -1, 2, {kOW, kUpdate})},
       .policy = kSplitAllOk,
       .tips = {"request_policy:multi_shard", "response_policy:all_succeeded"},
       .docs = {"Set multiple keys to multiple values", "1.0.1", "string",
                "O(N) where N is the number of keys to set."}},
      {.name = "msetnx",
       .arity = -3,
       .flags = {kWrite, kDenyoom},
       .categories = {Acl::kString},
       .key_specs = {KeyRange(1, -1, 2, {kOW, kInsert})},
       .policy = kSameGroup,
       .tips = {"request_policy:multi_shard", "response_policy:agg_min"},
       .docs = {"Set multiple keys to multiple values, only if none of the keys exist", "1.0.1",
                "string", "O(N) where N is the number of keys to set."}},
      {.name = "append",
       .arity = 3,
       .flags = {kWrite, kDenyoom, kFast},
       .categories = {Acl::kString},
       .key_specs = {OneKey(1, {kRW, kInsert})},
       .policy = kSingleKey,
       .docs = {"Append a value to a key", "2.0.0", "string",
                "O(1). The amortized time complexity is O(1) assuming the appended value is small "
                "and the already present value is of any size, since the dynamic string library "
                "used by Redis will double the free space available on every reallocation."}},
      {.name = "strlen",
       .arity = 2,
       .flags = {kReadonly, kFast},
       .categories = {Acl::kString},
       .key_specs = {OneKey(1, {kRO})},
       .policy = kSingleKey,
       .docs = {"Get the length of the value stored in a key", "2.2.0", "string", "O(1)"}},
      {.name = "incr",
       .arity = 2,
       .flags = {kWrite, kDenyoom, kFast},
       .categories = {Acl::kString},
       .key_specs = {OneKey(1, {kRW, kAccess, kUpdate})},
       .policy = kSingleKey,
       .docs = {"Increment the integer value of a key by one", "1.0.0", "string", "O(1)"}},
      {.name = "incrby",
       .arity = 3,
       .flags = {kWrite, kDenyoom, kFast},
       .categories = {Acl::kString},
       .key_specs = {OneKey(1, {kRW, kAccess, kUpdate})},
       .policy = kSingleKey,
       .docs = {"Increment the integer value of a key by the given amount", "1.0.0", "string",
                "O(1)"}},
      {.name = "incrbyfloat",
       .arity = 3,
       .flags = {kWrite, kDenyoom, kFast},
       .categories = {Acl::kString},
       .key_specs = {OneKey(1, {kRW, kAccess, kUpdate})},
       .policy = kSingleKey,
       .docs = {"Increment the float value of a key by the given amount", "2.6.0", "string",
                "O(1)"}},
      {.name = "decr",
       .arity = 2,
       .flags = {kWrite, kDenyoom, kFast},
       .categories = {Acl::kString},
       .key_specs = {OneKey(1, {kRW, kAccess, kUpdate})},
       .policy = kSingleKey,
       .docs = {"Decrement the integer value of a key by one", "1.0.0", "string", "O(1)"}},
      {.name = "decrby",
       .arity = 3,
       .flags = {kWrite, kDenyoom, kFast},
       .categories = {Acl::kString},
       .key_specs = {OneKey(1, {kRW, kAccess, kUpdate})},
       .policy = kSingleKey,
       .docs = {"Decrement the integer value of a key by the given number", "1.0.0", "string",
                "O(1)"}},
      {.name = "getrange",
       .arity = 4,
       .flags = {kReadonly},
       .categories = {Acl::kString},
       .key_specs = {OneKey(1, {kRO, kAccess})},
       .policy = kSingleKey,
       .docs = {"Get a substring of the string stored at a key", "2.4.0", "string",
                "O(N) where N is the length of the returned string. The complexity is ultimately "
                "determined by the returned length, but because creating a substring from an "
                "existing string is very cheap, it can be considered O(1) for small strings."}},
      {.name = "setrange",
       .arity = 4,
       .flags = {kWrite, kDenyoom},
       .categories = {Acl::kString},
       .key_specs = {OneKey(1, {kRW, kUpdate})},
       .policy = kSingleKey,
       .docs = {"Overwrite part of a string at key starting at the specified offset", "2.2.0",
                "string",
                "O(1), not counting the time taken to copy the new string in place. Usually, this "
                "string is very small so the amortized complexity is O(1). Otherwise, complexity "
                "is O(M) with M being the length of the value argument."}},
      // Keys.
      {.name = "del",
       .arity = -2,
       .flags = {kWrite},
       .categories = {Acl::kKeyspace},
       .key_specs = {KeyRange(1, -1, 1, {kRM, kDelete})},
       .policy = kSplitSum,
       .tips = {"request_policy:multi_shard", "response_policy:agg_sum"},
       .docs = {"Delete a key", "1.0.0", "generic",
                "O(N) where N is the number of keys that will be removed. When a key to remove "
                "holds a value other than a string, the individual complexity for this key is O(M) "
                "where M is the number of elements in the list, set, sorted set or hash. Removing "
                "a single key that holds a string value is O(1)."}},
      {.name = "unlink",
       .arity = -2,
       .flags = {kWrite, kFast},
       .categories = {Acl::kKeyspace},
       .key_specs = {KeyRange(1, -1, 1, {kRM, kDelete})},
       .policy = kSplitSum,
       .tips = {"request_policy:multi_shard", "response_policy:agg_sum"},
       .docs = {"Delete a key asynchronously in another thread. Otherwise it is just as DEL, but "
                "non blocking.",
                "4.0.0", "generic",
                "O(1) for each key removed regardless of its size. Then the command does O(N) work "
                "in a different thread in order to reclaim memory, where N is the number of "
                "allocations the deleted objects where composed of."}},
      {.name = "exists",
       .arity = -2,
       .flags = {kReadonly, kFast},
       .categories = {Acl::kKeyspace},
       .key_specs = {KeyRange(1, -1, 1, {kRO})},
       .policy = kSplitSum,
       .tips = {"request_policy:multi_shard", "response_policy:agg_sum"},
       .docs = {"Determine if a key exists", "1.0.0", "generic",
                "O(N) where N is the number of keys to check."}},
      {.name = "type",
       .arity = 2,
       .flags = {kReadonly, kFast},
       .categories = {Acl::kKeyspace},
       .key_specs = {OneKey(1, {kRO})},
       .policy = kSingleKey,
       .docs = {"Determine the type stored at key", "1.0.0", "generic", "O(1)"}},
      {.name = "rename",
       .arity = 3,
       .flags = {kWrite},
       .categories = {Acl::kKeyspace},
       .key_specs = {OneKey(1, {kRW, kAccess, kDelete}), OneKey(2, {kOW, kUpdate})},
       .policy = kSameGroup,
       .docs = {"Rename a key", "1.0.0", "generic", "O(1)"}},
      {.name = "renamenx",
       .arity = 3,
       .flags = {kWrite, kFast},
       .categories = {Acl::kKeyspace},
       .key_specs = {OneKey(1, {kRW, kAccess, kDelete}), OneKey(2, {kOW, kInsert})},
       .policy = kSameGroup,
       .docs = {"Rename a key, only if the new key does not exist", "1.0.0", "generic", "O(1)"}},
      {.name = "expire",
       .arity = -3,
       .flags = {kWrite, kFast},
       .categories = {Acl::kKeyspace},
       .key_specs = {OneKey(1, {kRW, kUpdate})},
       .policy = kSingleKey,
       .docs = {"Set a key's time to live in seconds", "1.0.0", "generic", "O(1)"}},
      {.name = "pexpire",
       .arity = -3,
       .flags = {kWrite, kFast},
       .categories = {Acl::kKeyspace},
       .key_specs = {OneKey(1, {kRW, kUpdate})},
       .policy = kSingleKey,
       .docs = {"Set a key's time to live in milliseconds", "2.6.0", "generic", "O(1)"}},
      {.name = "expireat",
       .arity = -3,
       .flags = {kWrite, kFast},
       .categories = {Acl::kKeyspace},
       .key_specs = {OneKey(1, {kRW, kUpdate})},
       .policy = kSingleKey,
       .docs = {"Set the expiration for a key as a UNIX timestamp", "1.2.0", "generic", "O(1)"}},
      {.name = "pexpireat",
       .arity = -3,
       .flags = {kWrite, kFast},
       .categories = {Acl::kKeyspace},
       .key_specs = {OneKey(1, {kRW, kUpdate})},
       .policy = kSingleKey,
       .docs = {"Set the expiration for a key as a UNIX timestamp specified in milliseconds",
                "2.6.0", "generic", "O(1)"}},
      {.name = "expiretime",
       .arity = 2,
       .flags = {kReadonly, kFast},
       .categories = {Acl::kKeyspace},
       .key_specs = {OneKey(1, {kRO, kAccess})},
       .policy = kSingleKey,
       .docs = {"Get the expiration Unix timestamp for a key", "7.0.0", "generic", "O(1)"}},
      {.name = "pexpiretime",
       .arity = 2,
       .flags = {kReadonly, kFast},
       .categories = {Acl::kKeyspace},
       .key_specs = {OneKey(1, {kRO, kAccess})},
       .policy = kSingleKey,
       .docs = {"Get the expiration Unix timestamp for a key in milliseconds", "7.0.0", "generic",
                "O(1)"}},
      {.name = "ttl",
       .arity = 2,
       .flags = {kReadonly, kFast},
       .categories = {Acl::kKeyspace},
       .key_specs = {OneKey(1, {kRO, kAccess})},
       .policy = kSingleKey,
       .tips = {"nondeterministic_output"},
       .docs = {"Get the time to live for a key in seconds", "1.0.0", "generic", "O(1)"}},
      {.name = "pttl",
       .arity = 2,
       .flags = {kReadonly, kFast},
       .categories = {Acl::kKeyspace},
       .key_specs = {OneKey(1, {kRO, kAccess})},
       .policy = kSingleKey,
       .tips = {"nondeterministic_output"},
       .docs = {"Get the time to live for a key in milliseconds", "2.6.0", "generic", "O(1)"}},
      {.name = "persist",
       .arity = 2,
       .flags = {kWrite, kFast},
       .categories = {Acl::kKeyspace},
       .key_specs = {OneKey(1, {kRW, kUpdate})},
       .policy = kSingleKey,
       .docs = {"Remove the expiration from a key", "2.2.0", "generic", "O(1)"}},
      {.name = "touch",
       .arity = -2,
       .flags = {kReadonly, kFast},
       .categories = {Acl::kKeyspace},
       .key_specs = {KeyRange(1, -1, 1, {kRO})},
       .policy = kSplitSum,
       .tips = {"request_policy:multi_shard", "response_policy:agg_sum"},
       .docs = {"Alters the last access time of a key(s). Returns the number of existing keys "
                "specified.",
                "3.2.1", "generic", "O(N) where N is the number of keys that will be touched."}},
      {.name = "keys",
       .arity = 2,
       .flags = {kReadonly},
       .categories = {Acl::kKeyspace, Acl::kDangerous},
       .policy = kAllGroupsConcat,
       .tips = {"request_policy:all_shards", "nondeterministic_output_order"},
       .docs = {"Find all keys matching the given pattern", "1.0.0", "generic",
                "O(N) with N being the number of keys in the database, under the assumption that "
                "the key names in the database and the given pattern have limited length."}},
      {.name = "scan",
       .arity = -2,
       .flags = {kReadonly},
       .categories = {Acl::kKeyspace},
       .policy = kAllGroupsScan,
       .tips = {"nondeterministic_output", "request_policy:special"},
       .docs = {"Incrementally iterate the keys space", "2.8.0", "generic",
                "O(1) for every call. O(N) for a complete iteration, including enough command "
                "calls for the cursor to return back to 0. N is the number of elements inside the "
                "collection."}},
      {.name = "randomkey",
       .arity = 1,
       .flags = {kReadonly},
       .categories = {Acl::kKeyspace},
       .policy = kAllGroupsAnyKey,
       .tips = {"request_policy:all_shards", "nondeterministic_output"},
       .docs = {"Return a random key from the keyspace", "1.0.0", "generic", "O(1)"}},
      {.name = "dbsize",
       .arity = 1,
       .flags = {kReadonly, kFast},
       .categories = {Acl::kKeyspace},
       .policy = kAllGroupsSum,
       .tips = {"request_policy:all_shards", "response_policy:agg_sum"},
       .docs = {"Return the number of keys in the selected database", "1.0.0", "server", "O(1)"}},
      {.name = "flushdb",
       .arity = -1,
       .flags = {kWrite},
       .categories = {Acl::kKeyspace, Acl::kDangerous},
       .policy = kAllGroupsAllOk,
       .tips = {"request_policy:all_shards", "response_policy:all_succeeded"},
       .docs = {"Remove all keys from the current database", "1.0.0", "server",
                "O(N) where N is the number of keys in the selected database"}},
      {.name = "flushall",
       .arity = -1,
       .flags = {kWrite},
       .categories = {Acl::kKeyspace, Acl::kDangerous},
       .policy = kAllGroupsAllOk,
       .tips = {"request_policy:all_shards", "response_policy:all_succeeded"},
       .docs = {"Remove all keys from all databases", "1.0.0", "server",
                "O(N) where N is the total number of keys in all databases"}},
      // Hashes.
      {.name = "hset",
       .arity = -4,
       .flags = {kWrite, kDenyoom, kFast},
       .categories = {Acl::kHash},
       .key_specs = {OneKey(1, {kRW, kUpdate})},
       .policy = kSingleKey,
       .docs = {"Set the string value of a hash field", "2.0.0", "hash",
                "O(1) for each field/value pair added, so O(N) to add N field/value pairs when the "
                "command is called with multiple field/value pairs."}},
      {.name = "hsetnx",
       .arity = 4,
       .flags = {kWrite, kDenyoom, kFast},
       .categories = {Acl::kHash},
       .key_specs = {OneKey(1, {kRW, kInsert})},
       .policy = kSingleKey,
       .docs = {"Set the value of a hash field, only if the field does not exist", "2.0.0", "hash",
                "O(1)"}},
      {.name = "hget",
       .arity = 3,
       .flags = {kReadonly, kFast},
       .categories = {Acl::kHash},
       .key_specs = {OneKey(1, {kRO, kAccess})},
       .policy = kSingleKey,
       .docs = {"Get the value of a hash field", "2.0.0", "hash", "O(1)"}},
      {.name = "hmget",
       .arity = -3,
       .flags = {kReadonly, kFast},
       .categories = {Acl::kHash},
       .key_specs = {OneKey(1, {kRO, kAccess})},
       .policy = kSingleKey,
       .docs = {"Get the values of all the given hash fields", "2.0.0", "hash",
                "O(N) where N is the number of fields being requested."}},
      {.name = "hmset",
       .arity = -4,
       .flags = {kWrite, kDenyoom, kFast},
       .categories = {Acl::kHash},
       .key_specs = {OneKey(1, {kRW, kUpdate})},
       .policy = kSingleKey,
       .docs = {"Set multiple hash fields to multiple values", "2.0.0", "hash",
                "O(N) where N is the number of fields being set.", "4.0.0",
                "`HSET` with multiple field-value pairs"}},
      {.name = "hdel",
       .arity = -3,
       .flags = {kWrite, kFast},
       .categories = {Acl::kHash},
       .key_specs = {OneKey(1, {kRW, kDelete})},
       .policy = kSingleKey,
       .docs = {"Delete one or more hash fields", "2.0.0", "hash",
                "O(N) where N is the number of fields to be removed."}},
      {.name = "hexists",
       .arity = 3,
       .flags = {kReadonly, kFast},
       .categories = {Acl::kHash},
       .key_specs = {OneKey(1, {kRO})},
       .policy = kSingleKey,
       .docs = {"Determine if a hash field exists", "2.0.0", "hash", "O(1)"}},
      {.name = "hlen",
       .arity = 2,
       .flags = {kReadonly, kFast},
       .categories = {Acl::kHash},
       .key_specs = {OneKey(1, {kRO})},
       .policy = kSingleKey,
       .docs = {"Get the number of fields in a hash", "2.0.0", "hash", "O(1)"}},
      {.name = "hstrlen",
       .arity = 3,
       .flags = {kReadonly, kFast},
       .categories = {Acl::kHash},
       .key_specs = {OneKey(1, {kRO})},
       .policy = kSingleKey,
       .docs = {"Get the length of the value of a hash field", "3.2.0", "hash", "O(1)"}},
      {.name = "hkeys",
       .arity = 2,
       .flags = {kReadonly},
       .categories = {Acl::kHash},
       .key_specs = {OneKey(1, {kRO, kAccess})},
       .policy = kSingleKey,
       .tips = {"nondeterministic_output_order"},
       .docs = {"Get all the fields in a hash", "2.0.0", "hash",
                "O(N) where N is the size of the hash."}},
      {.name = "hvals",
       .arity = 2,
       .flags = {kReadonly},
       .categories = {Acl::kHash},
       .key_specs = {OneKey(1, {kRO, kAccess})},
       .policy = kSingleKey,
       .tips = {"nondeterministic_output_order"},
       .docs = {"Get all the values in a hash", "2.0.0", "hash",
                "O(N) where N is the size of the hash."}},
      {.name = "hgetall",
       .arity = 2,
       .flags = {kReadonly},
       .categories = {Acl::kHash},
       .key_specs = {OneKey(1, {kRO, kAccess})},
       .policy = kSingleKey,
       .tips = {"nondeterministic_output_order"},
       .docs = {"Get all the fields and values in a hash", "2.0.0", "hash",
                "O(N) where N is the size of the hash."}},
      {.name = "hincrby",
       .arity = 4,
       .flags = {kWrite, kDenyoom, kFast},
       .categories = {Acl::kHash},
       .key_specs = {OneKey(1, {kRW, kAccess, kUpdate})},
       .policy = kSingleKey,
       .docs = {"Increment the integer value of a hash field by the given number", "2.0.0", "hash",
                "O(1)"}},
      {.name = "hincrbyfloat",
       .arity = 4,
       .flags = {kWrite, kDenyoom, kFast},
       .categories = {Acl::kHash},
       .key_specs = {OneKey(1, {kRW, kAccess, kUpdate})},
       .policy = kSingleKey,
       .docs = {"Increment the float value of a hash field by the given amount", "2.6.0", "hash",
                "O(1)"}},
      {.name = "hscan",
       .arity = -3,
       .flags = {kReadonly},
       .categories = {Acl::kHash},
       .key_specs = {OneKey(1, {kRO, kAccess})},
       .policy = kSingleKey,
       .tips = {"nondeterministic_output"},
       .docs = {"Incrementally iterate hash fields and associated values", "2.8.0", "hash",
                "O(1) for every call. O(N) for a complete iteration, including enough command "
                "calls for the cursor to return back to 0. N is the number of elements inside the "
                "collection.."}},
      {.name = "hrandfield",
       .arity = -2,
       .flags = {kReadonly},
       .categories = {Acl::kHash},
       .key_specs = {OneKey(1, {kRO, kAccess})},
       .policy = kSingleKey,
       .tips = {"nondeterministic_output"},
       .docs = {"Get one or multiple random fields from a hash", "6.2.0", "hash",
                "O(N) where N is the number of fields returned"}},
      // Lists.
      {.name = "lpush",
       .arity = -3,
       .flags = {kWrite, kDenyoom, kFast},
       .categories = {Acl::kList},
       .key_specs = {OneKey(1, {kRW, kInsert})},
       .policy = kSingleKey,
       .docs = {"Prepend one or multiple elements to a list", "1.0.0", "list",
                "O(1) for each element added, so O(N) to add N elements when the command is called "
                "with multiple arguments."}},
      {.name = "rpush",
       .arity = -3,
       .flags = {kWrite, kDenyoom, kFast},
       .categories = {Acl::kList},
       .key_specs = {OneKey(1, {kRW, kInsert})},
       .policy = kSingleKey,
       .docs = {"Append one or multiple elements to a list", "1.0.0", "list",
                "O(1) for each element added, so O(N) to add N elements when the command is called "
                "with multiple arguments."}},
      {.name = "lpushx",
       .arity = -3,
       .flags = {kWrite, kDenyoom, kFast},
       .categories = {Acl::kList},
       .key_specs = {OneKey(1, {kRW, kInsert})},
       .policy = kSingleKey,
       .docs = {"Prepend an element to a list, only if the list exists", "2.2.0", "list",
                "O(1) for each element added, so O(N) to add N elements when the command is called "
                "with multiple arguments."}},
      {.name = "rpushx",
       .arity = -3,
       .flags = {kWrite, kDenyoom, kFast},
       .categories = {Acl::kList},
       .key_specs = {OneKey(1, {kRW, kInsert})},
       .policy = kSingleKey,
       .docs = {"Append an element to a list, only if the list exists", "2.2.0", "list",
                "O(1) for each element added, so O(N) to add N elements when the command is called "
                "with multiple arguments."}},
      {.name = "lpop",
       .arity = -2,
       .flags = {kWrite, kFast},
       .categories = {Acl::kList},
       .key_specs = {OneKey(1, {kRW, kAccess, kDelete})},
       .policy = kSingleKey,
       .docs = {"Remove and get the first elements in a list", "1.0.0", "list",
                "O(N) where N is the number of elements returned"}},
      {.name = "rpop",
       .arity = -2,
       .flags = {kWrite, kFast},
       .categories = {Acl::kList},
       .key_specs = {OneKey(1, {kRW, kAccess, kDelete})},
       .policy = kSingleKey,
       .docs = {"Remove and get the last elements in a list", "1.0.0", "list",
                "O(N) where N is the number of elements returned"}},
      {.name = "llen",
       .arity = 2,
       .flags = {kReadonly, kFast},
       .categories = {Acl::kList},
       .key_specs = {OneKey(1, {kRO})},
       .policy = kSingleKey,
       .docs = {"Get the length of a list", "1.0.0", "list", "O(1)"}},
      {.name = "lrange",
       .arity = 4,
       .flags = {kReadonly},
       .categories = {Acl::kList},
       .key_specs = {OneKey(1, {kRO, kAccess})},
       .policy = kSingleKey,
       .docs = {"Get a range of elements from a list", "1.0.0", "list",
                "O(S+N) where S is the distance of start offset from HEAD for small lists, from "
                "nearest end (HEAD or TAIL) for large lists; and N is the number of elements in "
                "the specified range."}},
      {.name = "lindex",
       .arity = 3,
       .flags = {kReadonly},
       .categories = {Acl::kList},
       .key_specs = {OneKey(1, {kRO, kAccess})},
       .policy = kSingleKey,
       .docs = {"Get an element from a list by its index", "1.0.0", "list",
                "O(N) where N is the number of elements to traverse to get to the element at "
                "index. This makes asking for the first or the last element of the list O(1)."}},
      {.name = "lset",
       .arity = 4,
       .flags = {kWrite, kDenyoom},
       .categories = {Acl::kList},
       .key_specs = {OneKey(1, {kRW, kUpdate})},
       .policy = kSingleKey,
       .docs = {"Set the value of an element in a list by its index", "1.0.0", "list",
                "O(N) where N is the length of the list. Setting either the first or the last "
                "element of the list is O(1)."}},
      {.name = "lrem",
       .arity = 4,
       .flags = {kWrite},
       .categories = {Acl::kList},
       .key_specs = {OneKey(1, {kRW, kDelete})},
       .policy = kSingleKey,
       .docs =
           {"Remove elements from a list", "1.0.0", "list",
            "O(N+M) where N is the length of the list and M is the number of elements removed."}},
      {.name = "ltrim",
       .arity = 4,
       .flags = {kWrite},
       .categories = {Acl::kList},
       .key_specs = {OneKey(1, {kRW, kDelete})},
       .policy = kSingleKey,
       .docs = {"Trim a list to the specified range", "1.0.0", "list",
                "O(N) where N is the number of elements to be removed by the operation."}},
      {.name = "linsert",
       .arity = 5,
       .flags = {kWrite, kDenyoom},
       .categories = {Acl::kList},
       .key_specs = {OneKey(1, {kRW, kInsert})},
       .policy = kSingleKey,
       .docs = {"Insert an element before or after another element in a list", "2.2.0", "list",
                "O(N) where N is the number of elements to traverse before seeing the value pivot. "
                "This means that inserting somewhere on the left end on the list (head) can be "
                "considered O(1) and inserting somewhere on the right end (tail) is O(N)."}},
      {.name = "lpos",
       .arity = -3,
       .flags = {kReadonly},
       .categories = {Acl::kList},
       .key_specs = {OneKey(1, {kRO, kAccess})},
       .policy = kSingleKey,
       .docs = {"Return the index of matching elements on a list", "6.0.6", "list",
                "O(N) where N is the number of elements in the list, for the average case. When "
                "searching for elements near the head or the tail of the list, or when the MAXLEN "
                "option is provided, the command may run in constant time."}},
      {.name = "lmove",
       .arity = 5,
       .flags = {kWrite, kDenyoom},
       .categories = {Acl::kList},
       .key_specs = {OneKey(1, {kRW, kAccess, kDelete}), OneKey(2, {kRW, kInsert})},
       .policy = kSameGroup,
       .docs = {"Pop an element from a list, push it to another list and return it", "6.2.0",
                "list", "O(1)"}},
      {.name = "rpoplpush",
       .arity = 3,
       .flags = {kWrite, kDenyoom},
       .categories = {Acl::kList},
       .key_specs = {OneKey(1, {kRW, kAccess, kDelete}), OneKey(2, {kRW, kInsert})},
       .policy = kSameGroup,
       .docs = {"Remove the last element in a list, prepend it to another list and return it",
                "1.2.0", "list", "O(1)", "6.2.0", "`LMOVE` with the `RIGHT` and `LEFT` arguments"}},
      {.name = "blpop",
       .arity = -3,
       .flags = {kWrite, kNoscript, kBlocking},
       .categories = {Acl::kList},
       .key_specs = {KeyRange(1, -2, 1, {kRW, kAccess, kDelete})},
       .policy = kSameGroup,
       .docs = {"Remove and get the first element in a list, or block until one is available",
                "2.0.0", "list", "O(N) where N is the number of provided keys."}},
      {.name = "brpop",
       .arity = -3,
       .flags = {kWrite, kNoscript, kBlocking},
       .categories = {Acl::kList},
       .key_specs = {KeyRange(1, -2, 1, {kRW, kAccess, kDelete})},
       .policy = kSameGroup,
       .docs = {"Remove and get the last element in a list, or block until one is available",
                "2.0.0", "list", "O(N) where N is the number of provided keys."}},
      {.name = "blmove",
       .arity = 6,
       .flags = {kWrite, kDenyoom, kNoscript, kBlocking},
       .categories = {Acl::kList},
       .key_specs = {OneKey(1, {kRW, kAccess, kDelete}), OneKey(2, {kRW, kInsert})},
       .policy = kSameGroup,
       .docs = {"Pop an element from a list, push it to another list and return it; or block until "
                "one is available",
                "6.2.0", "list", "O(1)"}},
      // Sets.
      {.name = "sadd",
       .arity = -3,
       .flags = {kWrite, kDenyoom, kFast},
       .categories = {Acl::kSet},
       .key_specs = {OneKey(1, {kRW, kInsert})},
       .policy = kSingleKey,
       .docs = {"Add one or more members to a set", "1.0.0", "set",
                "O(1) for each element added, so O(N) to add N elements when the command is called "
                "with multiple arguments."}},
      {.name = "srem",
       .arity = -3,
       .flags = {kWrite, kFast},
       .categories = {Acl::kSet},
       .key_specs = {OneKey(1, {kRW, kDelete})},
       .policy = kSingleKey,
       .docs = {"Remove one or more members from a set", "1.0.0", "set",
                "O(N) where N is the number of members to be removed."}},
      {.name = "smembers",
       .arity = 2,
       .flags = {kReadonly},
       .categories = {Acl::kSet},
       .key_specs = {OneKey(1, {kRO, kAccess})},
       .policy = kSingleKey,
       .tips = {"nondeterministic_output_order"},
       .docs = {"Get all the members in a set", "1.0.0", "set",
                "O(N) where N is the set cardinality."}},
      {.name = "sismember",
       .arity = 3,
       .flags = {kReadonly, kFast},
       .categories = {Acl::kSet},
       .key_specs = {OneKey(1, {kRO})},
       .policy = kSingleKey,
       .docs = {"Determine if a given value is a member of a set", "1.0.0", "set", "O(1)"}},
      {.name = "smismember",
       .arity = -3,
       .flags = {kReadonly, kFast},
       .categories = {Acl::kSet},
       .key_specs = {OneKey(1, {kRO, kAccess})},
       .policy = kSingleKey,
       .docs = {"Returns the membership associated with the given elements for a set", "6.2.0",
                "set", "O(N) where N is the number of elements being checked for membership"}},
      {.name = "scard",
       .arity = 2,
       .flags = {kReadonly, kFast},
       .categories = {Acl::kSet},
       .key_specs = {OneKey(1, {kRO})},
       .policy = kSingleKey,
       .docs = {"Get the number of members in a set", "1.0.0", "set", "O(1)"}},
      {.name = "spop",
       .arity = -2,
       .flags = {kWrite, kFast},
       .categories = {Acl::kSet},
       .key_specs = {OneKey(1, {kRW, kAccess, kDelete})},
       .policy = kSingleKey,
       .tips = {"nondeterministic_output"},
       .docs = {"Remove and return one or multiple random members from a set", "1.0.0", "set",
                "Without the count argument O(1), otherwise O(N) where N is the value of the "
                "passed count."}},
      {.name = "srandmember",
       .arity = -2,
       .flags = {kReadonly},
       .categories = {Acl::kSet},
       .key_specs = {OneKey(1, {kRO, kAccess})},
       .policy = kSingleKey,
       .tips = {"nondeterministic_output"},
       .docs = {"Get one or multiple random members from a set", "1.0.0", "set",
                "Without the count argument O(1), otherwise O(N) where N is the absolute value of "
                "the passed count."}},
      {.name = "smove",
       .arity = 4,
       .flags = {kWrite, kFast},
       .categories = {Acl::kSet},
       .key_specs = {OneKey(1, {kRW, kAccess, kDelete}), OneKey(2, {kRW, kInsert})},
       .policy = kSameGroup,
       .docs = {"Move a member from one set to another", "1.0.0", "set", "O(1)"}},
      {.name = "sinter",
       .arity = -2,
       .flags = {kReadonly},
       .categories = {Acl::kSet},
       .key_specs = {KeyRange(1, -1, 1, {kRO, kAccess})},
       .policy = kSameGroup,
       .tips = {"nondeterministic_output_order"},
       .docs = {"Intersect multiple sets", "1.0.0", "set",
                "O(N*M) worst case where N is the cardinality of the smallest set and M is the "
                "number of sets."}},
      {.name = "sunion",
       .arity = -2,
       .flags = {kReadonly},
       .categories = {Acl::kSet},
       .key_specs = {KeyRange(1, -1, 1, {kRO, kAccess})},
       .policy = kSameGroup,
       .tips = {"nondeterministic_output_order"},
       .docs = {"Add multiple sets", "1.0.0", "set",
                "O(N) where N is the total number of elements in all given sets."}},
      {.name = "sdiff",
       .arity = -2,
       .flags = {kReadonly},
       .categories = {Acl::kSet},
       .key_specs = {KeyRange(1, -1, 1, {kRO, kAccess})},
       .policy = kSameGroup,
       .tips = {"nondeterministic_output_order"},
       .docs = {"Subtract multiple sets", "1.0.0", "set",
                "O(N) where N is the total number of elements in all given sets."}},
      {.name = "sinterstore",
       .arity = -3,
       .flags = {kWrite, kDenyoom},
       .categories = {Acl::kSet},
       .key_specs = {OneKey(1, {kRW, kUpdate}), KeyRange(2, -1, 1, {kRO, kAccess})},
       .policy = kSameGroup,
       .docs = {"Intersect multiple sets and store the resulting set in a key", "1.0.0", "set",
                "O(N*M) worst case where N is the cardinality of the smallest set and M is the "
                "number of sets."}},
      {.name = "sunionstore",
       .arity = -3,
       .flags = {kWrite, kDenyoom},
       .categories = {Acl::kSet},
       .key_specs = {OneKey(1, {kOW, kUpdate}), KeyRange(2, -1, 1, {kRO, kAccess})},
       .policy = kSameGroup,
       .docs = {"Add multiple sets and store the resulting set in a key", "1.0.0", "set",
                "O(N) where N is the total number of elements in all given sets."}},
      {.name = "sdiffstore",
       .arity = -3,
       .flags = {kWrite, kDenyoom},
       .categories = {Acl::kSet},
       .key_specs = {OneKey(1, {kOW, kUpdate}), KeyRange(2, -1, 1, {kRO, kAccess})},
       .policy = kSameGroup,
       .docs = {"Subtract multiple sets and store the resulting set in a key", "1.0.0", "set",
                "O(N) where N is the total number of elements in all given sets."}},
      {.name = "sintercard",
       .arity = -3,
       .flags = {kReadonly},
       .categories = {Acl::kSet},
       .key_specs = {KeyNum(1, 0, 1, 1, {kRO, kAccess})},
       .policy = kSameGroup,
       .docs = {"Intersect multiple sets and return the cardinality of the result", "7.0.0", "set",
                "O(N*M) worst case where N is the cardinality of the smallest set and M is the "
                "number of sets."}},
      {.name = "sscan",
       .arity = -3,
       .flags = {kReadonly},
       .categories = {Acl::kSet},
       .key_specs = {OneKey(1, {kRO, kAccess})},
       .policy = kSingleKey,
       .tips = {"nondeterministic_output"},
       .docs = {"Incrementally iterate Set elements", "2.8.0", "set",
                "O(1) for every call. O(N) for a complete iteration, including enough command "
                "calls for the cursor to return back to 0. N is the number of elements inside the "
                "collection.."}},
      // Sorted sets.
      {.name = "zadd",
       .arity = -4,
       .flags = {kWrite, kDenyoom, kFast},
       .categories = {Acl::kSortedSet},
       .key_specs = {OneKey(1, {kRW, kUpdate})},
       .policy = kSingleKey,
       .docs =
           {"Add one or more members to a sorted set, or update its score if it already exists",
            "1.2.0", "sorted-set",
            "O(log(N)) for each item added, where N is the number of elements in the sorted set."}},
      {.name = "zrem",
       .arity = -3,
       .flags = {kWrite, kFast},
       .categories = {Acl::kSortedSet},
       .key_specs = {OneKey(1, {kRW, kDelete})},
       .policy = kSingleKey,
       .docs = {"Remove one or more members from a sorted set", "1.2.0", "sorted-set",
                "O(M*log(N)) with N being the number of elements in the sorted set and M the "
                "number of elements to be removed."}},
      {.name = "zcard",
       .arity = 2,
       .flags = {kReadonly, kFast},
       .categories = {Acl::kSortedSet},
       .key_specs = {OneKey(1, {kRO})},
       .policy = kSingleKey,
       .docs = {"Get the number of members in a sorted set", "1.2.0", "sorted-set", "O(1)"}},
      {.name = "zscore",
       .arity = 3,
       .flags = {kReadonly, kFast},
       .categories = {Acl::kSortedSet},
       .key_specs = {OneKey(1, {kRO, kAccess})},
       .policy = kSingleKey,
       .docs = {"Get the score associated with the given member in a sorted set", "1.2.0",
                "sorted-set", "O(1)"}},
      {.name = "zmscore",
       .arity = -3,
       .flags = {kReadonly, kFast},
       .categories = {Acl::kSortedSet},
       .key_specs = {OneKey(1, {kRO, kAccess})},
       .policy = kSingleKey,
       .docs = {"Get the score associated with the given members in a sorted set", "6.2.0",
                "sorted-set", "O(N) where N is the number of members being requested."}},
      {.name = "zincrby",
       .arity = 4,
       .flags = {kWrite, kDenyoom, kFast},
       .categories = {Acl::kSortedSet},
       .key_specs = {OneKey(1, {kRW, kAccess, kUpdate})},
       .policy = kSingleKey,
       .docs = {"Increment the score of a member in a sorted set", "1.2.0", "sorted-set",
                "O(log(N)) where N is the number of elements in the sorted set."}},
      {.name = "zrank",
       .arity = 3,
       .flags = {kReadonly, kFast},
       .categories = {Acl::kSortedSet},
       .key_specs = {OneKey(1, {kRO, kAccess})},
       .policy = kSingleKey,
       .docs = {"Determine the index of a member in a sorted set", "2.0.0", "sorted-set",
                "O(log(N))"}},
      {.name = "zrevrank",
       .arity = 3,
       .flags = {kReadonly, kFast},
       .categories = {Acl::kSortedSet},
       .key_specs = {OneKey(1, {kRO, kAccess})},
       .policy = kSingleKey,
       .docs =
           {"Determine the index of a member in a sorted set, with scores ordered from high to low",
            "2.0.0", "sorted-set", "O(log(N))"}},
      {.name = "zcount",
       .arity = 4,
       .flags = {kReadonly, kFast},
       .categories = {Acl::kSortedSet},
       .key_specs = {OneKey(1, {kRO, kAccess})},
       .policy = kSingleKey,
       .docs = {"Count the members in a sorted set with scores within the given values", "2.0.0",
                "sorted-set", "O(log(N)) with N being the number of elements in the sorted set."}},
      {.name = "zlexcount",
       .arity = 4,
       .flags = {kReadonly, kFast},
       .categories = {Acl::kSortedSet},
       .key_specs = {OneKey(1, {kRO, kAccess})},
       .policy = kSingleKey,
       .docs = {"Count the number of members in a sorted set between a given lexicographical range",
                "2.8.9", "sorted-set",
                "O(log(N)) with N being the number of elements in the sorted set."}},
      {.name = "zrange",
       .arity = -4,
       .flags = {kReadonly},
       .categories = {Acl::kSortedSet},
       .key_specs = {OneKey(1, {kRO, kAccess})},
       .policy = kSingleKey,
       .docs = {"Return a range of members in a sorted set", "1.2.0", "sorted-set",
                "O(log(N)+M) with N being the number of elements in the sorted set and M the "
                "number of elements returned."}},
      {.name = "zrangebyscore",
       .arity = -4,
       .flags = {kReadonly},
       .categories = {Acl::kSortedSet},
       .key_specs = {OneKey(1, {kRO, kAccess})},
       .policy = kSingleKey,
       .docs = {"Return a range of members in a sorted set, by score", "1.0.5", "sorted-set",
                "O(log(N)+M) with N being the number of elements in the sorted set and M the "
                "number of elements being returned. If M is constant (e.g. always asking for the "
                "first 10 elements with LIMIT), you can consider it O(log(N)).",
                "6.2.0", "`ZRANGE` with the `BYSCORE` argument"}},
      {.name = "zrevrangebyscore",
       .arity = -4,
       .flags = {kReadonly},
       .categories = {Acl::kSortedSet},
       .key_specs = {OneKey(1, {kRO, kAccess})},
       .policy = kSingleKey,
       .docs = {"Return a range of members in a sorted set, by score, with scores ordered from "
                "high to low",
                "2.2.0", "sorted-set",
                "O(log(N)+M) with N being the number of elements in the sorted set and M the "
                "number of elements being returned. If M is constant (e.g. always asking for the "
                "first 10 elements with LIMIT), you can consider it O(log(N)).",
                "6.2.0", "`ZRANGE` with the `REV` and `BYSCORE` arguments"}},
      {.name = "zrangebylex",
       .arity = -4,
       .flags = {kReadonly},
       .categories = {Acl::kSortedSet},
       .key_specs = {OneKey(1, {kRO, kAccess})},
       .policy = kSingleKey,
       .docs = {"Return a range of members in a sorted set, by lexicographical range", "2.8.9",
                "sorted-set",
                "O(log(N)+M) with N being the number of elements in the sorted set and M the "
                "number of elements being returned. If M is constant (e.g. always asking for the "
                "first 10 elements with LIMIT), you can consider it O(log(N)).",
                "6.2.0", "`ZRANGE` with the `BYLEX` argument"}},
      {.name = "zrevrangebylex",
       .arity = -4,
       .flags = {kReadonly},
       .categories = {Acl::kSortedSet},
       .key_specs = {OneKey(1, {kRO, kAccess})},
       .policy = kSingleKey,
       .docs = {"Return a range of members in a sorted set, by lexicographical range, ordered "
                "from higher to lower strings.",
                "2.8.9", "sorted-set",
                "O(log(N)+M) with N being the number of elements in the sorted set and M the "
                "number of elements being returned. If M is constant (e.g. always asking for the "
                "first 10 elements with LIMIT), you can consider it O(log(N)).",
                "6.2.0", "`ZRANGE` with the `REV` and `BYLEX` arguments"}},
      {.name = "zrevrange",
       .arity = -4,
       .flags = {kReadonly},
       .categories = {Acl::kSortedSet},
       .key_specs = {OneKey(1, {kRO, kAccess})},
       .policy = kSingleKey,
       .docs = {"Return a range of members in a sorted set, by index, with scores ordered from "
                "high to low",
                "1.2.0", "sorted-set",
                "O(log(N)+M) with N being the number of elements in the sorted set and M the "
                "number of elements returned.",
                "6.2.0", "`ZRANGE` with the `REV` argument"}},
      {.name = "zremrangebyrank",
       .arity = 4,
       .flags = {kWrite},
       .categories = {Acl::kSortedSet},
       .key_specs = {OneKey(1, {kRW, kDelete})},
       .policy = kSingleKey,
       .docs = {"Remove all members in a sorted set within the given indexes", "2.0.0",
                "sorted-set",
                "O(log(N)+M) with N being the number of elements in the sorted set and M the "
                "number of elements removed by the operation."}},
      {.name = "zremrangebyscore",
       .arity = 4,
       .flags = {kWrite},
       .categories = {Acl::kSortedSet},
       .key_specs = {OneKey(1, {kRW, kDelete})},
       .policy = kSingleKey,
       .docs = {"Remove all members in a sorted set within the given scores", "1.2.0", "sorted-set",
                "O(log(N)+M) with N being the number of elements in the sorted set and M the "
                "number of elements removed by the operation."}},
      {.name = "zremrangebylex",
       .arity = 4,
       .flags = {kWrite},
       .categories = {Acl::kSortedSet},
       .key_specs = {OneKey(1, {kRW, kDelete})},
       .policy = kSingleKey,
       .docs = {"Remove all members in a sorted set between the given lexicographical range",
                "2.8.9", "sorted-set",
                "O(log(N)+M) with N being the number of elements in the sorted set and M the "
                "number of elements removed by the operation."}},
      {.name = "zpopmin",
       .arity = -2,
       .flags = {kWrite, kFast},
       .categories = {Acl::kSortedSet},
       .key_specs = {OneKey(1, {kRW, kAccess, kDelete})},
       .policy = kSingleKey,
       .docs = {"Remove and return members with the lowest scores in a sorted set", "5.0.0",
                "sorted-set",
                "O(log(N)*M) with N being the number of elements in the sorted set, and M being "
                "the number of elements popped."}},
      {.name = "zpopmax",
       .arity = -2,
       .flags = {kWrite, kFast},
       .categories = {Acl::kSortedSet},
       .key_specs = {OneKey(1, {kRW, kAccess, kDelete})},
       .policy = kSingleKey,
       .docs = {"Remove and return members with the highest scores in a sorted set", "5.0.0",
                "sorted-set",
                "O(log(N)*M) with N being the number of elements in the sorted set, and M being "
                "the number of elements popped."}},
      {.name = "bzpopmin",
       .arity = -3,
       .flags = {kWrite, kNoscript, kBlocking, kFast},
       .categories = {Acl::kSortedSet},
       .key_specs = {KeyRange(1, -2, 1, {kRW, kAccess, kDelete})},
       .policy = kSameGroup,
       .docs = {"Remove and return the member with the lowest score from one or more sorted sets, "
                "or block until one is available",
                "5.0.0", "sorted-set",
                "O(log(N)) with N being the number of elements in the sorted set."}},
      {.name = "bzpopmax",
       .arity = -3,
       .flags = {kWrite, kNoscript, kBlocking, kFast},
       .categories = {Acl::kSortedSet},
       .key_specs = {KeyRange(1, -2, 1, {kRW, kAccess, kDelete})},
       .policy = kSameGroup,
       .docs = {"Remove and return the member with the highest score from one or more sorted sets, "
                "or block until one is available",
                "5.0.0", "sorted-set",
                "O(log(N)) with N being the number of elements in the sorted set."}},
      {.name = "zrandmember",
       .arity = -2,
       .flags = {kReadonly},
       .categories = {Acl::kSortedSet},
       .key_specs = {OneKey(1, {kRO, kAccess})},
       .policy = kSingleKey,
       .tips = {"nondeterministic_output"},
       .docs = {"Get one or multiple random elements from a sorted set", "6.2.0", "sorted-set",
                "O(N) where N is the number of elements returned"}},
      {.name = "zunionstore",
       .arity = -4,
       .flags = {kWrite, kDenyoom},
       .categories = {Acl::kSortedSet},
       .key_specs = {OneKey(1, {kOW, kUpdate}), KeyNum(2, 0, 1, 1, {kRO, kAccess})},
       .policy = kSameGroup,
       .docs = {"Add multiple sorted sets and store the resulting sorted set in a new key", "2.0.0",
                "sorted-set",
                "O(N)+O(M log(M)) with N being the sum of the sizes of the input sorted sets, and "
                "M being the number of elements in the resulting sorted set."}},
      {.name = "zinterstore",
       .arity = -4,
       .flags = {kWrite, kDenyoom},
       .categories = {Acl::kSortedSet},
       .key_specs = {OneKey(1, {kOW, kUpdate}), KeyNum(2, 0, 1, 1, {kRO, kAccess})},
       .policy = kSameGroup,
       .docs = {"Intersect multiple sorted sets and store the resulting sorted set in a new key",
                "2.0.0", "sorted-set",
                "O(N*K)+O(M*log(M)) worst case with N being the smallest input sorted set, K being "
                "the number of input sorted sets and M being the number of elements in the "
                "resulting sorted set."}},
      {.name = "zscan",
       .arity = -3,
       .flags = {kReadonly},
       .categories = {Acl::kSortedSet},
       .key_specs = {OneKey(1, {kRO, kAccess})},
       .policy = kSingleKey,
       .tips = {"nondeterministic_output"},
       .docs = {"Incrementally iterate sorted sets elements and associated scores", "2.8.0",
                "sorted-set",
                "O(1) for every call. O(N) for a complete iteration, including enough command "
                "calls for the cursor to return back to 0. N is the number of elements inside the "
                "collection.."}},
      // Transactions.
      {.name = "multi",
       .arity = 1,
       .flags = {kNoscript, kLoading, kStale, kFast, kAllowBusy},
       .categories = {Acl::kTransaction},
       .policy = kTransaction,
       .docs = {"Mark the start of a transaction block", "1.2.0", "transactions", "O(1)"}},
      {.name = "exec",
       .arity = 1,
       .flags = {kNoscript, kLoading, kStale, kSkipSlowlog},
       .categories = {Acl::kTransaction},
       .policy = kTransaction,
       .docs = {"Execute all commands issued after MULTI", "1.2.0", "transactions",
                "Depends on commands in the transaction"}},
      {.name = "discard",
       .arity = 1,
       .flags = {kNoscript, kLoading, kStale, kFast, kAllowBusy},
       .categories = {Acl::kTransaction},
       .policy = kTransaction,
       .docs = {"Discard all commands issued after MULTI", "2.0.0", "transactions",
                "O(N), when N is the number of queued commands"}},
      {.name = "watch",
       .arity = -2,
       .flags = {kNoscript, kLoading, kStale, kFast, kAllowBusy},
       .categories = {Acl::kTransaction},
       .key_specs = {KeyRange(1, -1, 1, {kRO})},
       .policy = kTransaction,
       .docs = {"Watch the given keys to determine execution of the MULTI/EXEC block", "2.2.0",
                "transactions", "O(1) for every key."}},
      {.name = "unwatch",
       .arity = 1,
       .flags = {kNoscript, kLoading, kStale, kFast, kAllowBusy},
       .categories = {Acl::kTransaction},
       .policy = kTransaction,
       .docs = {"Forget about all watched keys", "2.2.0", "transactions", "O(1)"}},
      // Pub/Sub. Channels are not keys (no key spec, as in Redis); a channel still belongs to
      // the group of its slot, whose leader serves PUBLISH and SUBSCRIBE (docs/compatibility.md).
      {.name = "publish",
       .arity = 3,
       .flags = {kPubsub, kLoading, kStale, kFast},
       .policy = kLocal,
       .docs = {"Post a message to a channel", "2.0.0", "pubsub",
                "O(N+M) where N is the number of clients subscribed to the receiving channel and "
                "M is the total number of subscribed patterns (by any client)."}},
      {.name = "subscribe",
       .arity = -2,
       .flags = {kPubsub, kNoscript, kLoading, kStale},
       .policy = kLocal,
       .docs = {"Listen for messages published to the given channels", "2.0.0", "pubsub",
                "O(N) where N is the number of channels to subscribe to."}},
      {.name = "unsubscribe",
       .arity = -1,
       .flags = {kPubsub, kNoscript, kLoading, kStale},
       .policy = kLocal,
       .docs = {"Stop listening for messages posted to the given channels", "2.0.0", "pubsub",
                "O(N) where N is the number of clients already subscribed to a channel."}},
      {.name = "psubscribe",
       .arity = -2,
       .flags = {kPubsub, kNoscript, kLoading, kStale},
       .policy = kLocal,
       .docs = {"Listen for messages published to channels matching the given patterns", "2.0.0",
                "pubsub",
                "O(N) where N is the number of patterns the client is already subscribed to."}},
      {.name = "punsubscribe",
       .arity = -1,
       .flags = {kPubsub, kNoscript, kLoading, kStale},
       .policy = kLocal,
       .docs = {"Stop listening for messages posted to channels matching the given patterns",
                "2.0.0", "pubsub",
                "O(N+M) where N is the number of patterns the client is already subscribed and M "
                "is the number of total patterns subscribed in the system (by any client)."}},
      {.name = "pubsub",
       .arity = -2,
       .policy = kLocal,
       .docs = {"A container for Pub/Sub commands", "2.8.0", "pubsub", "Depends on subcommand."},
       .subcommands = {{.name = "channels",
                        .arity = -2,
                        .flags = {kPubsub, kLoading, kStale},
                        .policy = kLocal,
                        .docs = {"List active channels", "2.8.0", "pubsub",
                                 "O(N) where N is the number of active channels, and assuming "
                                 "constant time pattern matching (relatively short channels and "
                                 "patterns)"}},
                       {.name = "numsub",
                        .arity = -2,
                        .flags = {kPubsub, kLoading, kStale},
                        .policy = kLocal,
                        .docs = {"Get the count of subscribers for channels", "2.8.0", "pubsub",
                                 "O(N) for the NUMSUB subcommand, where N is the number of "
                                 "requested channels"}},
                       {.name = "numpat",
                        .arity = 2,
                        .flags = {kPubsub, kLoading, kStale},
                        .policy = kLocal,
                        .docs = {"Get the count of unique patterns pattern subscriptions", "2.8.0",
                                 "pubsub", "O(1)"}},
                       {.name = "help",
                        .arity = 2,
                        .flags = {kLoading, kStale},
                        .policy = kLocal,
                        .docs = {"Show helpful text about the different subcommands", "6.2.0",
                                 "pubsub", "O(1)"}}}},
      // Connection and server.
      {.name = "ping",
       .arity = -1,
       .flags = {kFast},
       .categories = {Acl::kConnection},
       .policy = kLocal,
       .tips = {"request_policy:all_shards", "response_policy:all_succeeded"},
       .docs = {"Ping the server", "1.0.0", "connection", "O(1)"}},
      {.name = "echo",
       .arity = 2,
       .flags = {kLoading, kStale, kFast},
       .categories = {Acl::kConnection},
       .policy = kLocal,
       .docs = {"Echo the given string", "1.0.0", "connection", "O(1)"}},
      {.name = "hello",
       .arity = -1,
       .flags = {kNoscript, kLoading, kStale, kFast, kNoAuth, kAllowBusy},
       .categories = {Acl::kConnection},
       .policy = kLocal,
       .docs = {"Handshake with Redis", "6.0.0", "connection", "O(1)"}},
      {.name = "auth",
       .arity = -2,
       .flags = {kNoscript, kLoading, kStale, kFast, kNoAuth, kAllowBusy},
       .categories = {Acl::kConnection},
       .policy = kLocal,
       .docs = {"Authenticate to the server", "1.0.0", "connection",
                "O(N) where N is the number of passwords defined for the user"}},
      {.name = "select",
       .arity = 2,
       .flags = {kLoading, kStale, kFast},
       .categories = {Acl::kConnection},
       .policy = kLocal,
       .docs = {"Change the selected database for the current connection", "1.0.0", "connection",
                "O(1)"}},
      {.name = "quit",
       .arity = -1,
       .flags = {kNoscript, kLoading, kStale, kFast, kNoAuth, kAllowBusy},
       .categories = {Acl::kConnection},
       .policy = kLocal,
       .docs = {"Close the connection", "1.0.0", "connection", "O(1)"}},
      {.name = "reset",
       .arity = 1,
       .flags = {kNoscript, kLoading, kStale, kFast, kNoAuth, kAllowBusy},
       .categories = {Acl::kConnection},
       .policy = kLocal,
       .docs = {"Reset the connection", "6.2.0", "connection", "O(1)"}},
      {.name = "client",
       .arity = -2,
       .policy = kLocal,
       .docs = {"A container for client connection commands", "2.4.0", "connection",
                "Depends on subcommand."},
       .subcommands = {{.name = "id",
                        .arity = 2,
                        .flags = {kNoscript, kLoading, kStale},
                        .categories = {Acl::kConnection},
                        .policy = kLocal,
                        .docs = {"Returns the client ID for the current connection", "5.0.0",
                                 "connection", "O(1)"}},
                       {.name = "setname",
                        .arity = 3,
                        .flags = {kNoscript, kLoading, kStale},
                        .categories = {Acl::kConnection},
                        .policy = kLocal,
                        .docs = {"Set the current connection name", "2.6.9", "connection", "O(1)"}},
                       {.name = "getname",
                        .arity = 2,
                        .flags = {kNoscript, kLoading, kStale},
                        .categories = {Acl::kConnection},
                        .policy = kLocal,
                        .docs = {"Get the current connection name", "2.6.9", "connection", "O(1)"}},
                       {.name = "list",
                        .arity = -2,
                        .flags = {kAdmin, kNoscript, kLoading, kStale},
                        .categories = {Acl::kConnection},
                        .policy = kLocal,
                        .tips = {"nondeterministic_output"},
                        .docs = {"Get the list of client connections", "2.4.0", "connection",
                                 "O(N) where N is the number of client connections"}},
                       {.name = "info",
                        .arity = 2,
                        .flags = {kNoscript, kLoading, kStale},
                        .categories = {Acl::kConnection},
                        .policy = kLocal,
                        .tips = {"nondeterministic_output"},
                        .docs = {"Returns information about the current client connection.",
                                 "6.2.0", "connection", "O(1)"}},
                       {.name = "kill",
                        .arity = -3,
                        .flags = {kAdmin, kNoscript, kLoading, kStale},
                        .categories = {Acl::kConnection},
                        .policy = kLocal,
                        .docs = {"Kill the connection of a client", "2.4.0", "connection",
                                 "O(N) where N is the number of client connections"}},
                       {.name = "help",
                        .arity = 2,
                        .flags = {kLoading, kStale},
                        .categories = {Acl::kConnection},
                        .policy = kLocal,
                        .docs = {"Show helpful text about the different subcommands", "5.0.0",
                                 "connection", "O(1)"}}}},
      {.name = "info",
       .arity = -1,
       .flags = {kLoading, kStale},
       .categories = {Acl::kDangerous},
       .policy = kLocal,
       .tips = {"nondeterministic_output", "request_policy:all_shards", "response_policy:special"},
       .docs = {"Get information and statistics about the server", "1.0.0", "server", "O(1)"}},
      {.name = "time",
       .arity = 1,
       .flags = {kLoading, kStale, kFast},
       .policy = kLocal,
       .tips = {"nondeterministic_output"},
       .docs = {"Return the current server time", "2.6.0", "server", "O(1)"}},
      {.name = "config",
       .arity = -2,
       .policy = kLocal,
       .docs = {"A container for server configuration commands", "2.0.0", "server",
                "Depends on subcommand."},
       .subcommands = {{.name = "get",
                        .arity = -3,
                        .flags = {kAdmin, kNoscript, kLoading, kStale},
                        .policy = kLocal,
                        .docs = {"Get the values of configuration parameters", "2.0.0", "server",
                                 "O(N) when N is the number of configuration parameters provided"}},
                       {.name = "help",
                        .arity = 2,
                        .flags = {kLoading, kStale},
                        .policy = kLocal,
                        .docs = {"Show helpful text about the different subcommands", "5.0.0",
                                 "server", "O(1)"}}}},
      {.name = "command",
       .arity = -1,
       .flags = {kLoading, kStale},
       .categories = {Acl::kConnection},
       .policy = kLocal,
       .tips = {"nondeterministic_output_order"},
       .docs = {"Get array of Redis command details", "2.8.13", "server",
                "O(N) where N is the total number of Redis commands"},
       .subcommands =
           {{.name = "count",
             .arity = 2,
             .flags = {kLoading, kStale},
             .categories = {Acl::kConnection},
             .policy = kLocal,
             .docs = {"Get total number of Redis commands", "2.8.13", "server", "O(1)"}},
            {.name = "info",
             .arity = -2,
             .flags = {kLoading, kStale},
             .categories = {Acl::kConnection},
             .policy = kLocal,
             .tips = {"nondeterministic_output_order"},
             .docs =
                 {"Get array of specific Redis command details, or all when no argument is given.",
                  "2.8.13", "server", "O(N) where N is the number of commands to look up"}},
            {.name = "docs",
             .arity = -2,
             .flags = {kLoading, kStale},
             .categories = {Acl::kConnection},
             .policy = kLocal,
             .tips = {"nondeterministic_output_order"},
             .docs = {"Get array of specific Redis command documentation", "7.0.0", "server",
                      "O(N) where N is the number of commands to look up"}},
            {.name = "getkeys",
             .arity = -4,
             .flags = {kLoading, kStale},
             .categories = {Acl::kConnection},
             .policy = kLocal,
             .docs = {"Extract keys given a full Redis command", "2.8.13", "server",
                      "O(N) where N is the number of arguments to the command"}},
            {.name = "help",
             .arity = 2,
             .flags = {kLoading, kStale},
             .categories = {Acl::kConnection},
             .policy = kLocal,
             .docs = {"Show helpful text about the different subcommands", "5.0.0", "server",
                      "O(1)"}}}}};
}

constexpr std::array<std::string_view, kCommandFlagCount> kCommandFlagNames = {
    "write",
    "readonly",
    "denyoom",
    "module",
    "admin",
    "pubsub",
    "noscript",
    "blocking",
    "loading",
    "stale",
    "skip_monitor",
    "skip_slowlog",
    "asking",
    "fast",
    "no_auth",
    "no_mandatory_keys",
    "no_async_loading",
    "no_multi",
    "movablekeys",
    "allow_busy",
};

constexpr std::array<std::string_view, kAclCategoryCount> kAclCategoryNames = {
    "@keyspace",   "@read",        "@write",    "@set",         "@sortedset", "@list",
    "@hash",       "@string",      "@bitmap",   "@hyperloglog", "@geo",       "@stream",
    "@pubsub",     "@admin",       "@fast",     "@slow",        "@blocking",  "@dangerous",
    "@connection", "@transaction", "@scripting"};

constexpr std::array<std::string_view, kKeySpecFlagCount> kKeySpecFlagNames = {
    "RO",     "RW",     "OW",      "RM",         "access",        "update",
    "insert", "delete", "not_key", "incomplete", "variable_flags"};

// Longer names are not in the table; lookups lower-case into a buffer of this size.
constexpr size_t kMaxNameLength = 32;
// Redis prints names and arguments in errors with "%.128s".
constexpr size_t kErrorArgLimit = 128;

// COMMAND INFO's legacy (first, last, step) and the movablekeys flag, from the key specs as Redis
// 7.0 derives them: one range spec is used as it is; otherwise plain ranges (step 1, each
// starting right after the previous one) are merged and any other spec makes the keys movable.
void DeriveLegacyKeys(CommandSpec& spec) {
  if (spec.key_specs.empty()) return;
  bool movable = false;
  const auto absolute_last = [](const KeySpec& k) {
    return k.last_key >= 0 ? k.begin_index + k.last_key : k.last_key;
  };
  if (spec.key_specs.size() == 1 && spec.key_specs[0].find == KeySpec::Find::kRange) {
    const KeySpec& k = spec.key_specs[0];
    spec.first_key = k.begin_index;
    spec.last_key = absolute_last(k);
    spec.key_step = k.key_step;
    movable = k.flags.Has(kIncomplete);
  } else {
    std::optional<int> first;
    int last = 0;
    for (const KeySpec& k : spec.key_specs) {
      if (k.find != KeySpec::Find::kRange || k.key_step != 1 ||
          (first.has_value() && last != k.begin_index - 1)) {
        movable = true;
        continue;
      }
      if (k.flags.Has(kIncomplete)) movable = true;
      first = std::min(first.value_or(k.begin_index), k.begin_index);
      // A range to the end of argv (negative) outranks any absolute index, as in Redis, which
      // compares the two as unsigned.
      const int candidate = absolute_last(k);
      if (static_cast<unsigned>(candidate) > static_cast<unsigned>(last)) last = candidate;
    }
    if (first.has_value()) {
      spec.first_key = *first;
      spec.last_key = last;
      spec.key_step = 1;
    } else {
      movable = true;
    }
  }
  if (movable) spec.flags.Add(kMovablekeys);
}

// The categories Redis 7.0 implies from flags.
void DeriveCategories(CommandSpec& spec) {
  if (spec.flags.Has(kWrite)) spec.categories.Add(Acl::kWrite);
  if (spec.flags.Has(kReadonly) && !spec.categories.Has(Acl::kScripting)) {
    spec.categories.Add(Acl::kRead);
  }
  if (spec.flags.Has(kAdmin)) {
    spec.categories.Add(Acl::kAdmin);
    spec.categories.Add(Acl::kDangerous);
  }
  if (spec.flags.Has(kPubsub)) spec.categories.Add(Acl::kPubsub);
  if (spec.flags.Has(kFast)) spec.categories.Add(Acl::kFast);
  if (spec.flags.Has(kBlocking)) spec.categories.Add(Acl::kBlocking);
  if (!spec.categories.Has(Acl::kFast)) spec.categories.Add(Acl::kSlow);
}

void Derive(CommandSpec& spec, const CommandSpec* container) {
  spec.container = container;
  spec.full_name = container == nullptr
                       ? std::string(spec.name)
                       : std::string(container->name) + "|" + std::string(spec.name);
  DeriveLegacyKeys(spec);
  DeriveCategories(spec);
  for (CommandSpec& sub : spec.subcommands) Derive(sub, &spec);
}

// Built once and immutable afterwards; element addresses are stable because nothing is added.
class Table {
 public:
  Table() : commands_(Rows()) {
    for (CommandSpec& spec : commands_) {
      Derive(spec, nullptr);
      by_name_.emplace(spec.name, &spec);
    }
  }

  absl::Span<const CommandSpec> commands() const { return commands_; }

  // `lower` is already lower case.
  const CommandSpec* Find(std::string_view lower) const {
    const auto it = by_name_.find(lower);
    return it == by_name_.end() ? nullptr : it->second;
  }

 private:
  std::vector<CommandSpec> commands_;
  absl::flat_hash_map<std::string_view, const CommandSpec*> by_name_;
};

const Table& GetTable() {
  static const Table table;
  return table;
}

// Redis's string2ll: optional '-', no '+', no spaces, no leading zeros, within int64.
std::optional<int64_t> ParseStrictInt64(std::string_view s) {
  if (s.empty() || s.size() > 20) return std::nullopt;
  if (s == "0") return 0;
  const bool negative = s[0] == '-';
  if (negative) s.remove_prefix(1);
  if (s.empty() || s[0] < '1' || s[0] > '9') return std::nullopt;
  uint64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return std::nullopt;
    const uint64_t digit = static_cast<uint64_t>(c - '0');
    if (v > (UINT64_MAX - digit) / 10) return std::nullopt;
    v = v * 10 + digit;
  }
  if (negative) {
    if (v > uint64_t{1} << 63) return std::nullopt;
    return static_cast<int64_t>(0 - v);
  }
  if (v > static_cast<uint64_t>(INT64_MAX)) return std::nullopt;
  return static_cast<int64_t>(v);
}

// What C's "%.*s" prints of an argument: up to its first NUL byte, at most `limit` bytes.
std::string_view AsPrinted(std::string_view arg, size_t limit) {
  return arg.substr(0, std::min(arg.find('\0'), limit));
}

// Redis maps CR and LF in rejected-command errors to spaces to keep the reply one line.
std::string OneLine(std::string s) {
  std::replace(s.begin(), s.end(), '\r', ' ');
  std::replace(s.begin(), s.end(), '\n', ' ');
  return s;
}

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return absl::ascii_tolower(static_cast<unsigned char>(x)) ==
                  absl::ascii_tolower(static_cast<unsigned char>(y));
         });
}

bool ArityFits(int arity, size_t argc) {
  return arity >= 0 ? argc == static_cast<size_t>(arity) : argc >= static_cast<size_t>(-arity);
}

// The row argv names, as Redis looks it up: argv[0] alone when it is not a container or has no
// arguments, else the container's subcommand argv[1]. `*base` is argv[0]'s row or nullptr.
const CommandSpec* Lookup(ArgvRef argv, const CommandSpec** base) {
  *base = argv.size() == 0 ? nullptr : FindCommand(argv[0]);
  if (*base == nullptr || argv.size() == 1 || (*base)->subcommands.empty()) return *base;
  return FindSubcommand(**base, argv[1]);
}

}  // namespace

std::string_view CommandFlagName(CommandFlag flag) {
  return kCommandFlagNames[static_cast<size_t>(flag)];
}

std::string_view AclCategoryName(AclCategory category) {
  return kAclCategoryNames[static_cast<size_t>(category)];
}

std::string_view KeySpecFlagName(KeySpecFlag flag) {
  return kKeySpecFlagNames[static_cast<size_t>(flag)];
}

std::string_view MultiKeyPolicyName(MultiKeyPolicy policy) {
  switch (policy) {
    case kLocal:
      return "local";
    case kSingleKey:
      return "single-key";
    case kSameGroup:
      return "same-group";
    case kTransaction:
      return "transaction";
    case kSplitConcat:
      return "split-concat";
    case kSplitSum:
      return "split-sum";
    case kSplitAllOk:
      return "split-all-ok";
    case kAllGroupsConcat:
      return "all-groups-concat";
    case kAllGroupsSum:
      return "all-groups-sum";
    case kAllGroupsAllOk:
      return "all-groups-all-ok";
    case kAllGroupsAnyKey:
      return "all-groups-any-key";
    case kAllGroupsScan:
      return "all-groups-scan";
  }
  return "unknown";
}

ArgvRef ArgvRef::Skip(size_t n) const {
  ArgvRef rest;
  n = std::min(n, size_);
  rest.views_ = views_ != nullptr ? views_ + n : nullptr;
  rest.strings_ = strings_ != nullptr ? strings_ + n : nullptr;
  rest.size_ = size_ - n;
  return rest;
}

absl::Span<const CommandSpec> AllCommands() { return GetTable().commands(); }

const CommandSpec* FindCommand(std::string_view name) {
  if (name.size() > kMaxNameLength) return nullptr;
  std::array<char, kMaxNameLength> lower;
  std::transform(name.begin(), name.end(), lower.begin(),
                 [](char c) { return absl::ascii_tolower(static_cast<unsigned char>(c)); });
  return GetTable().Find(std::string_view(lower.data(), name.size()));
}

const CommandSpec* FindSubcommand(const CommandSpec& container, std::string_view name) {
  for (const CommandSpec& sub : container.subcommands) {
    if (EqualsIgnoreCase(sub.name, name)) return &sub;
  }
  return nullptr;
}

const CommandSpec* FindCommandByFullName(std::string_view full_name) {
  const size_t bar = full_name.find('|');
  if (bar == std::string_view::npos) return FindCommand(full_name);
  const CommandSpec* container = FindCommand(full_name.substr(0, bar));
  if (container == nullptr) return nullptr;
  return FindSubcommand(*container, full_name.substr(bar + 1));
}

absl::StatusOr<const CommandSpec*> ResolveCommand(ArgvRef argv) {
  const CommandSpec* base = nullptr;
  const CommandSpec* spec = Lookup(argv, &base);
  if (spec == nullptr) {
    return absl::NotFoundError(base == nullptr ? UnknownCommandMessage(argv)
                                               : UnknownSubcommandMessage(argv));
  }
  if (absl::Status s = CheckArity(*spec, argv.size()); !s.ok()) return s;
  return spec;
}

absl::Status CheckArity(const CommandSpec& spec, size_t argc) {
  if (ArityFits(spec.arity, argc)) return absl::OkStatus();
  const std::string reason = "wrong number of arguments for '" + spec.full_name + "' command";
  // Redis turns every rejection of EXEC into an abort of the transaction.
  if (spec.full_name == "exec") {
    return absl::InvalidArgumentError("EXECABORT Transaction discarded because of: " + reason);
  }
  return absl::InvalidArgumentError("ERR " + reason);
}

std::string UnknownCommandMessage(ArgvRef argv) {
  std::string args;
  for (size_t i = 1; i < argv.size() && args.size() < kErrorArgLimit; ++i) {
    const std::string_view printed = AsPrinted(argv[i], kErrorArgLimit - args.size());
    args.append("'").append(printed).append("' ");
  }
  const std::string_view name = argv.size() == 0 ? "" : AsPrinted(argv[0], kErrorArgLimit);
  return OneLine("ERR unknown command '" + std::string(name) +
                 "', with args beginning with: " + args);
}

std::string UnknownSubcommandMessage(ArgvRef argv) {
  const std::string_view sub = argv.size() < 2 ? "" : AsPrinted(argv[1], kErrorArgLimit);
  std::string container(argv.size() == 0 ? "" : argv[0]);
  for (char& c : container) c = absl::ascii_toupper(static_cast<unsigned char>(c));
  return OneLine("ERR unknown subcommand '" + std::string(sub) + "'. Try " + container + " HELP.");
}

absl::StatusOr<std::vector<size_t>> GetKeys(const CommandSpec& spec, ArgvRef argv) {
  const auto invalid = [] {
    return absl::InvalidArgumentError("ERR Invalid arguments specified for command");
  };
  const int64_t argc = static_cast<int64_t>(argv.size());
  std::vector<size_t> keys;
  for (const KeySpec& k : spec.key_specs) {
    int64_t first = k.begin_index;
    int64_t last = 0;
    if (k.find == KeySpec::Find::kRange) {
      if (k.last_key >= 0) {
        last = first + k.last_key;
      } else if (k.limit <= 1) {
        last = argc + k.last_key;
      } else {
        last = first + ((argc - first) / k.limit + k.last_key);
      }
    } else {
      const int64_t count_at = first + k.keynum_index;
      if (count_at >= argc) return invalid();
      const std::optional<int64_t> count = ParseStrictInt64(argv[static_cast<size_t>(count_at)]);
      if (!count.has_value() || *count < 0 || *count > argc) return invalid();
      first += k.first_key;
      last = first + *count - 1;
    }
    if (first >= argc || last >= argc || last < first) return invalid();
    for (int64_t i = first; i <= last; i += k.key_step) keys.push_back(static_cast<size_t>(i));
  }
  return keys;
}

absl::StatusOr<std::vector<size_t>> CommandGetKeys(ArgvRef target) {
  const CommandSpec* base = nullptr;
  const CommandSpec* spec = Lookup(target, &base);
  if (spec == nullptr) return absl::InvalidArgumentError("ERR Invalid command specified");
  if (!spec->has_keys()) return absl::InvalidArgumentError("ERR The command has no key arguments");
  if (!ArityFits(spec->arity, target.size())) {
    return absl::InvalidArgumentError("ERR Invalid number of arguments specified for command");
  }
  absl::StatusOr<std::vector<size_t>> keys = GetKeys(*spec, target);
  if (keys.ok() && keys->empty() && !spec->flags.Has(kNoMandatoryKeys)) {
    return absl::InvalidArgumentError("ERR Invalid arguments specified for command");
  }
  return keys;
}

}  // namespace tessera::routing
