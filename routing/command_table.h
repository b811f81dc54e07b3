// The command table: every Redis command Tessera serves, one row each, with what COMMAND INFO and
// COMMAND DOCS report, its key positions, and how the gateway routes it across Raft groups.
#pragma once

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"

namespace tessera::routing {

// A set of enumerators of E (whose values are 0..63), one bit each.
template <typename E>
class EnumSet {
 public:
  constexpr EnumSet() = default;
  constexpr EnumSet(std::initializer_list<E> items) {
    for (E e : items) Add(e);
  }
  constexpr bool Has(E e) const { return (bits_ & Bit(e)) != 0; }
  constexpr void Add(E e) { bits_ |= Bit(e); }
  constexpr uint64_t bits() const { return bits_; }
  constexpr bool empty() const { return bits_ == 0; }
  friend constexpr bool operator==(EnumSet, EnumSet) = default;

 private:
  static constexpr uint64_t Bit(E e) { return uint64_t{1} << static_cast<unsigned>(e); }
  uint64_t bits_ = 0;
};

// Command flags under Redis 7.0's COMMAND INFO names, in the order COMMAND INFO lists them
// (flags Redis hides, such as may_replicate, are left out).
enum class CommandFlag : uint8_t {
  kWrite,            // write
  kReadonly,         // readonly
  kDenyoom,          // denyoom
  kModule,           // module
  kAdmin,            // admin
  kPubsub,           // pubsub
  kNoscript,         // noscript
  kBlocking,         // blocking
  kLoading,          // loading
  kStale,            // stale
  kSkipMonitor,      // skip_monitor
  kSkipSlowlog,      // skip_slowlog
  kAsking,           // asking
  kFast,             // fast
  kNoAuth,           // no_auth
  kNoMandatoryKeys,  // no_mandatory_keys
  kNoAsyncLoading,   // no_async_loading
  kNoMulti,          // no_multi
  kMovablekeys,      // movablekeys: derived, never written in a row
  kAllowBusy,        // allow_busy
};
inline constexpr int kCommandFlagCount = 20;
using CommandFlags = EnumSet<CommandFlag>;
std::string_view CommandFlagName(CommandFlag flag);  // "write", "no_auth", ...

// ACL categories, in the order COMMAND INFO lists them.
enum class AclCategory : uint8_t {
  kKeyspace,
  kRead,
  kWrite,
  kSet,
  kSortedSet,
  kList,
  kHash,
  kString,
  kBitmap,
  kHyperloglog,
  kGeo,
  kStream,
  kPubsub,
  kAdmin,
  kFast,
  kSlow,
  kBlocking,
  kDangerous,
  kConnection,
  kTransaction,
  kScripting,
};
inline constexpr int kAclCategoryCount = 21;
using AclCategories = EnumSet<AclCategory>;
std::string_view AclCategoryName(AclCategory category);  // "@keyspace", "@sortedset", ...

// Redis 7 key-spec flags, in the order COMMAND INFO lists them.
enum class KeySpecFlag : uint8_t {
  kRO,             // RO
  kRW,             // RW
  kOW,             // OW
  kRM,             // RM
  kAccess,         // access
  kUpdate,         // update
  kInsert,         // insert
  kDelete,         // delete
  kNotKey,         // not_key
  kIncomplete,     // incomplete
  kVariableFlags,  // variable_flags
};
inline constexpr int kKeySpecFlagCount = 11;
using KeySpecFlags = EnumSet<KeySpecFlag>;
std::string_view KeySpecFlagName(KeySpecFlag flag);  // "RO", "access", "variable_flags", ...

// One Redis 7 key spec. The search for keys begins at argv[begin_index] (the table needs no
// keyword searches yet); from there keys are a range, or a count followed by the keys.
struct KeySpec {
  enum class Find : uint8_t { kRange, kKeynum };

  KeySpecFlags flags = {};
  std::string_view notes = {};
  int begin_index = 1;
  Find find = Find::kRange;
  // kRange: the last key is argv[begin_index + last_key] when last_key >= 0, otherwise
  // argv[argc + last_key] (-1: the last argument). With limit > 1 (last_key must then be -1)
  // only the first 1/limit of the remaining arguments are searched.
  int last_key = 0;
  int limit = 0;
  // kKeynum: argv[begin_index + keynum_index] is the number of keys, the first of which is
  // argv[begin_index + first_key].
  int keynum_index = 0;
  int first_key = 0;
  // Both: distance between consecutive keys.
  int key_step = 1;
};

// How the gateway routes a command across groups (ARCHITECTURE decision 5). Split commands
// whose keys all map to one group are forwarded unchanged.
enum class MultiKeyPolicy : uint8_t {
  kLocal,            // no keys: the receiving process answers itself (connection/server commands)
  kSingleKey,        // exactly one key: its group
  kSameGroup,        // keys must all map to one group, else a CROSSSLOT error (blocking and
                     // two-key commands, set algebra, MSETNX)
  kTransaction,      // MULTI/EXEC/DISCARD/WATCH/UNWATCH: the session is pinned to one group
  kSplitConcat,      // MGET: one sub-command per group, replies reassembled in key order
  kSplitSum,         // DEL UNLINK EXISTS TOUCH: one sub-command per group, integers summed
  kSplitAllOk,       // MSET: one sub-command per group (each key with its value); OK when
                     // every part is OK. Not atomic across groups.
  kAllGroupsConcat,  // KEYS: every group, arrays concatenated
  kAllGroupsSum,     // DBSIZE: every group, integers summed
  kAllGroupsAllOk,   // FLUSHDB FLUSHALL: every group; OK when every group says OK
  kAllGroupsAnyKey,  // RANDOMKEY: groups in turn from a random one until one has a key
  kAllGroupsScan,    // SCAN: the cursor walks the groups one after another
};
std::string_view MultiKeyPolicyName(MultiKeyPolicy policy);  // "single-key", ...

// The refusal of kSameGroup and kTransaction keys in different groups: Redis Cluster's text,
// which clients recognise.
inline constexpr std::string_view kCrossSlotError =
    "CROSSSLOT Keys in request don't hash to the same slot";

// Text for COMMAND DOCS. doc_flags is ["deprecated"] when deprecated_since is set.
struct CommandDocs {
  std::string_view summary = {};
  std::string_view since = {};
  std::string_view group = {};  // "string", "generic", "sorted-set", "server", ...
  std::string_view complexity = {};
  std::string_view deprecated_since = {};
  std::string_view replaced_by = {};
};

// One row of the table. Rows write the fields down to `subcommands`; the rest are derived when
// the table is built, after which `flags` and `categories` are exactly what COMMAND INFO shows:
//   flags      + movablekeys when a key spec is not a plain range (keynum, incomplete, ...)
//   categories + @write (write), @read (readonly), @admin @dangerous (admin), @pubsub (pubsub),
//                @fast (fast), @blocking (blocking), and @slow when not @fast
struct CommandSpec {
  std::string_view name = {};  // lower case; a subcommand's own name ("setname")
  int arity = 0;  // N: exactly N arguments; -N: at least N. Names count ("client id" = 2).
  CommandFlags flags = {};
  AclCategories categories = {};
  std::vector<KeySpec> key_specs = {};
  MultiKeyPolicy policy = MultiKeyPolicy::kLocal;
  std::vector<std::string_view> tips = {};  // "nondeterministic_output", "request_policy:...", ...
  CommandDocs docs = {};
  std::vector<CommandSpec> subcommands = {};  // containers (CLIENT, CONFIG, COMMAND) only

  // Derived.
  std::string full_name = {};  // "get", "client|setname": COMMAND INFO's and errors' name
  const CommandSpec* container = nullptr;  // set on subcommands
  // COMMAND INFO's legacy key triple: first key, last key (negative: from the end), step;
  // 0 0 0 without keys.
  int first_key = 0;
  int last_key = 0;
  int key_step = 0;

  bool movablekeys() const { return flags.Has(CommandFlag::kMovablekeys); }
  bool has_keys() const { return !key_specs.empty(); }
};

// A read-only view of a command's arguments, argv[0] being the command name, whichever of the
// usual containers the caller keeps them in. It does not own the arguments.
class ArgvRef {
 public:
  // Implicit, so that calls take any of these directly.
  ArgvRef(absl::Span<const std::string_view> argv) : views_(argv.data()), size_(argv.size()) {}
  ArgvRef(absl::Span<const std::string> argv) : strings_(argv.data()), size_(argv.size()) {}
  ArgvRef(const std::vector<std::string_view>& argv) : ArgvRef(absl::MakeConstSpan(argv)) {}
  ArgvRef(const std::vector<std::string>& argv) : ArgvRef(absl::MakeConstSpan(argv)) {}

  size_t size() const { return size_; }
  std::string_view operator[](size_t i) const {
    return views_ != nullptr ? views_[i] : std::string_view(strings_[i]);
  }
  // Without the first `n` arguments (COMMAND GETKEYS' target command).
  ArgvRef Skip(size_t n) const;

 private:
  ArgvRef() = default;
  const std::string_view* views_ = nullptr;
  const std::string* strings_ = nullptr;
  size_t size_ = 0;
};

// Every top-level command in a stable order (the order of the table: strings, keys, hashes,
// lists, sets, sorted sets, transactions, connection and server). Its size is COMMAND COUNT.
absl::Span<const CommandSpec> AllCommands();

// Top-level command by name, ASCII case-insensitive; nullptr when Tessera does not serve it.
const CommandSpec* FindCommand(std::string_view name);
// Subcommand of a container by name, case-insensitive; nullptr when there is none.
const CommandSpec* FindSubcommand(const CommandSpec& container, std::string_view name);
// By full name as COMMAND INFO and COMMAND DOCS take it: "get", "client|setname".
const CommandSpec* FindCommandByFullName(std::string_view full_name);

// Errors below are absl::Status values whose message() is Redis's error reply text without the
// leading '-', e.g. "ERR wrong number of arguments for 'get' command". NotFound for unknown
// commands and subcommands, InvalidArgument otherwise.

// Redis's dispatch: argv[0] (and argv[1] for a container given arguments) to a row, then the
// arity check. A container alone ("CLIENT") resolves to the container and fails its arity.
absl::StatusOr<const CommandSpec*> ResolveCommand(ArgvRef argv);
// "ERR wrong number of arguments for '<full name>' command" unless argc fits spec.arity; for EXEC
// "EXECABORT Transaction discarded because of: wrong number of arguments for 'exec' command"
// (Redis aborts the transaction on any rejected EXEC).
absl::Status CheckArity(const CommandSpec& spec, size_t argc);
// Redis's texts, including their truncation: each argument is cut at its first NUL byte, the
// name at 128 bytes, the quoted arguments once 128 bytes are used; CR and LF become spaces.
//   "ERR unknown command 'foo', with args beginning with: 'a' 'b' "
std::string UnknownCommandMessage(ArgvRef argv);
//   "ERR unknown subcommand 'x'. Try CLIENT HELP."
std::string UnknownSubcommandMessage(ArgvRef argv);

// Key positions in argv (argv[0] is the name) for a resolved, arity-checked command, in key-spec
// order; empty for a command without keys. "ERR Invalid arguments specified for command" when
// the arguments cannot hold the keys (numkeys not an integer, negative, zero or larger than what
// follows): the command itself would then fail with its own error, so the gateway may send it
// to any group to get that error.
absl::StatusOr<std::vector<size_t>> GetKeys(const CommandSpec& spec, ArgvRef argv);

// COMMAND GETKEYS on `target` (the arguments after COMMAND GETKEYS): key positions in `target`
// or Redis's errors, checked in Redis's order:
//   "ERR Invalid command specified", "ERR The command has no key arguments",
//   "ERR Invalid number of arguments specified for command",
//   "ERR Invalid arguments specified for command".
absl::StatusOr<std::vector<size_t>> CommandGetKeys(ArgvRef target);

}  // namespace tessera::routing
