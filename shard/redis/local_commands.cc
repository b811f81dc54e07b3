#include "shard/redis/local_commands.h"

#include <chrono>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "shard/data/util.h"

namespace tessera::shard {
namespace {

using routing::CommandSpec;

void ArityError(const CommandSpec& spec, data::RespReply& out) {
  out.Error(absl::StrCat("ERR wrong number of arguments for '", spec.full_name, "' command"));
}

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  return data::EqualsIgnoreCase(a, b);
}

// Redis refuses names with spaces, newlines and other special characters.
bool ValidClientName(std::string_view name) {
  for (char ch : name) {
    if (ch < '!' || ch > '~') return false;
  }
  return true;
}

// The read-only CONFIG GET subset: parameters whose values describe this shard truthfully.
struct ConfigParam {
  std::string_view name;
  std::string_view value;
};
constexpr ConfigParam kConfigParams[] = {
    {"appendonly", "no"},  // durability comes from raft, not an AOF
    {"databases", "1"},
    {"maxmemory", "0"},
    {"maxmemory-policy", "noeviction"},
    {"proto-max-bulk-len", "536870912"},
    {"save", ""},
    {"cluster-enabled", "yes"},
};

void RenderKeySpec(const routing::KeySpec& k, data::RespReply& out) {
  out.MapHeader(k.notes.empty() ? 3 : 4);
  if (!k.notes.empty()) {
    out.Bulk("notes");
    out.Bulk(k.notes);
  }
  out.Bulk("flags");
  size_t n = 0;
  for (int i = 0; i < routing::kKeySpecFlagCount; ++i) {
    if (k.flags.Has(static_cast<routing::KeySpecFlag>(i))) ++n;
  }
  out.SetHeader(n);
  for (int i = 0; i < routing::kKeySpecFlagCount; ++i) {
    const auto f = static_cast<routing::KeySpecFlag>(i);
    if (k.flags.Has(f)) out.SimpleString(routing::KeySpecFlagName(f));
  }
  out.Bulk("begin_search");
  out.MapHeader(2);
  out.Bulk("type");
  out.Bulk("index");
  out.Bulk("spec");
  out.MapHeader(1);
  out.Bulk("index");
  out.Integer(k.begin_index);
  out.Bulk("find_keys");
  out.MapHeader(2);
  out.Bulk("type");
  if (k.find == routing::KeySpec::Find::kRange) {
    out.Bulk("range");
    out.Bulk("spec");
    out.MapHeader(3);
    out.Bulk("lastkey");
    out.Integer(k.last_key);
    out.Bulk("keystep");
    out.Integer(k.key_step);
    out.Bulk("limit");
    out.Integer(k.limit);
  } else {
    out.Bulk("keynum");
    out.Bulk("spec");
    out.MapHeader(3);
    out.Bulk("keynumidx");
    out.Integer(k.keynum_index);
    out.Bulk("firstkey");
    out.Integer(k.first_key);
    out.Bulk("keystep");
    out.Integer(k.key_step);
  }
}

// One COMMAND INFO entry, Redis 7.0's ten fields.
void RenderCommandInfo(const CommandSpec& spec, data::RespReply& out) {
  out.ArrayHeader(10);
  out.Bulk(spec.full_name);
  out.Integer(spec.arity);
  size_t flags = 0;
  for (int i = 0; i < routing::kCommandFlagCount; ++i) {
    if (spec.flags.Has(static_cast<routing::CommandFlag>(i))) ++flags;
  }
  out.SetHeader(flags);
  for (int i = 0; i < routing::kCommandFlagCount; ++i) {
    const auto f = static_cast<routing::CommandFlag>(i);
    if (spec.flags.Has(f)) out.SimpleString(routing::CommandFlagName(f));
  }
  out.Integer(spec.first_key);
  out.Integer(spec.last_key);
  out.Integer(spec.key_step);
  size_t categories = 0;
  for (int i = 0; i < routing::kAclCategoryCount; ++i) {
    if (spec.categories.Has(static_cast<routing::AclCategory>(i))) ++categories;
  }
  out.SetHeader(categories);
  for (int i = 0; i < routing::kAclCategoryCount; ++i) {
    const auto a = static_cast<routing::AclCategory>(i);
    if (spec.categories.Has(a)) out.SimpleString(routing::AclCategoryName(a));
  }
  out.SetHeader(spec.tips.size());
  for (std::string_view tip : spec.tips) out.SimpleString(tip);
  out.ArrayHeader(spec.key_specs.size());
  for (const routing::KeySpec& k : spec.key_specs) RenderKeySpec(k, out);
  out.ArrayHeader(spec.subcommands.size());
  for (const CommandSpec& sub : spec.subcommands) RenderCommandInfo(sub, out);
}

void RenderCommandDocs(const CommandSpec& spec, data::RespReply& out) {
  const routing::CommandDocs& d = spec.docs;
  const bool deprecated = !d.deprecated_since.empty();
  out.MapHeader(4 + (deprecated ? 3 : 0) + (spec.subcommands.empty() ? 0 : 1));
  out.Bulk("summary");
  out.Bulk(d.summary);
  out.Bulk("since");
  out.Bulk(d.since);
  out.Bulk("group");
  out.Bulk(d.group);
  out.Bulk("complexity");
  out.Bulk(d.complexity);
  if (deprecated) {
    out.Bulk("doc_flags");
    out.SetHeader(1);
    out.SimpleString("deprecated");
    out.Bulk("deprecated_since");
    out.Bulk(d.deprecated_since);
    out.Bulk("replaced_by");
    out.Bulk(d.replaced_by);
  }
  if (!spec.subcommands.empty()) {
    out.Bulk("subcommands");
    out.MapHeader(spec.subcommands.size());
    for (const CommandSpec& sub : spec.subcommands) {
      out.Bulk(sub.full_name);
      RenderCommandDocs(sub, out);
    }
  }
}

void Hello(const std::vector<std::string>& argv, const SessionInfo& info, Session* session,
           data::RespReply& out) {
  int version = session->protocol;
  if (argv.size() >= 2 && (!absl::SimpleAtoi(argv[1], &version) || version < 2 || version > 3)) {
    out.Error("NOPROTO unsupported protocol version");
    return;
  }
  std::string name = session->name;
  bool auth_ok = session->authenticated || info.requirepass.empty();
  for (size_t i = 2; i < argv.size(); ++i) {
    if (EqualsIgnoreCase(argv[i], "AUTH") && i + 2 < argv.size()) {
      if (info.requirepass.empty() || argv[i + 1] != "default" || argv[i + 2] != info.requirepass) {
        out.Error("WRONGPASS invalid username-password pair or user is disabled.");
        return;
      }
      auth_ok = true;
      i += 2;
    } else if (EqualsIgnoreCase(argv[i], "SETNAME") && i + 1 < argv.size()) {
      if (!ValidClientName(argv[i + 1])) {
        out.Error("ERR Client names cannot contain spaces, newlines or special characters.");
        return;
      }
      name = argv[i + 1];
      i += 1;
    } else {
      out.Error(absl::StrCat("ERR Syntax error in HELLO option '", argv[i], "'"));
      return;
    }
  }
  if (!auth_ok) {
    out.Error(
        "NOAUTH HELLO must be called with the client already authenticated, otherwise the "
        "HELLO <proto> AUTH <user> <pass> option can be used to authenticate the client and "
        "select the RESP protocol version at the same time");
    return;
  }
  session->protocol = version;
  session->name = name;
  session->authenticated = auth_ok;
  out.set_protocol(version);
  out.MapHeader(7);
  out.Bulk("server");
  out.Bulk("redis");
  out.Bulk("version");
  out.Bulk(info.redis_version);
  out.Bulk("proto");
  out.Integer(version);
  out.Bulk("id");
  out.Integer(static_cast<int64_t>(info.id));
  out.Bulk("mode");
  out.Bulk("cluster");
  out.Bulk("role");
  out.Bulk("master");
  out.Bulk("modules");
  out.ArrayHeader(0);
}

void Client(const CommandSpec& spec, const std::vector<std::string>& argv, const SessionInfo& info,
            Session* session, data::RespReply& out) {
  const std::string_view sub = spec.name;
  if (sub == "id") {
    out.Integer(static_cast<int64_t>(info.id));
  } else if (sub == "setname") {
    if (!ValidClientName(argv[2])) {
      out.Error("ERR Client names cannot contain spaces, newlines or special characters.");
      return;
    }
    session->name = argv[2];
    out.Ok();
  } else if (sub == "getname") {
    if (session->name.empty()) {
      out.Null();
    } else {
      out.Bulk(session->name);
    }
  } else if (sub == "info") {
    out.Bulk(ClientLine(info.id, info.peer, *session) + "\n");
  } else if (sub == "list") {
    out.Bulk(info.client_list ? info.client_list()
                              : ClientLine(info.id, info.peer, *session) + "\n");
  } else if (sub == "kill") {
    if (!info.kill_clients) {
      out.Error("ERR No such client");
    } else if (argv.size() == 3) {  // old form: CLIENT KILL addr:port
      if (info.kill_clients("addr", argv[2]) == 0) {
        out.Error("ERR No such client");
      } else {
        out.Ok();
      }
    } else if ((argv.size() - 2) % 2 != 0) {
      out.Error(data::kSyntaxError);
    } else {
      int killed = 0;
      for (size_t i = 2; i + 1 < argv.size(); i += 2) {
        const std::string field = absl::AsciiStrToLower(argv[i]);
        if (field != "id" && field != "addr") {
          out.Error(data::kSyntaxError);
          return;
        }
        killed += info.kill_clients(field, argv[i + 1]);
      }
      out.Integer(killed);
    }
  } else if (sub == "help") {
    out.ArrayHeader(4);
    out.SimpleString("CLIENT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:");
    out.SimpleString("ID, SETNAME <name>, GETNAME, LIST, INFO");
    out.SimpleString("KILL <ip:port> | KILL ID <id> | KILL ADDR <ip:port>");
    out.SimpleString("HELP");
  } else {
    out.Error(routing::UnknownSubcommandMessage(argv));
  }
}

}  // namespace

std::string ClientLine(uint64_t id, std::string_view peer, const Session& session) {
  return absl::StrCat("id=", id, " addr=", absl::string_view(peer.data(), peer.size()),
                      " laddr=? fd=? name=", session.name,
                      " age=0 idle=0 flags=N db=0 sub=0 psub=0 ssub=0 multi=-1 qbuf=0 qbuf-free=0 "
                      "argv-mem=0 multi-mem=0 rbs=0 rbp=0 obl=0 oll=0 omem=0 tot-mem=0 events=r "
                      "cmd=client|list user=default redir=-1 resp=",
                      session.protocol);
}

LocalOutcome RunLocalCommand(const CommandSpec& spec, const std::vector<std::string>& argv,
                             const SessionInfo& info, Session* session, data::RespReply& out) {
  const std::string& name = spec.full_name;
  if (name == "ping") {
    if (argv.size() > 2) {
      ArityError(spec, out);
    } else if (argv.size() == 2) {
      out.Bulk(argv[1]);
    } else {
      out.SimpleString("PONG");
    }
  } else if (name == "echo") {
    out.Bulk(argv[1]);
  } else if (name == "quit") {
    out.Ok();
    return LocalOutcome::kClose;
  } else if (name == "hello") {
    Hello(argv, info, session, out);
  } else if (name == "auth") {
    const std::string_view user = argv.size() == 3 ? std::string_view(argv[1]) : "default";
    const std::string_view pass = argv.back();
    if (argv.size() > 3) {
      out.Error(data::kSyntaxError);
    } else if (info.requirepass.empty()) {
      out.Error(argv.size() == 2
                    ? "ERR AUTH <password> called without any password configured for the "
                      "default user. Are you sure your configuration is correct?"
                    : "WRONGPASS invalid username-password pair or user is disabled.");
    } else if (user != "default" || pass != info.requirepass) {
      out.Error("WRONGPASS invalid username-password pair or user is disabled.");
    } else {
      session->authenticated = true;
      out.Ok();
    }
  } else if (name == "select") {
    std::optional<int64_t> db = data::ParseInt64(argv[1]);
    if (!db.has_value()) {
      out.Error(data::kNotIntegerError);
    } else if (*db != 0) {
      out.Error("ERR DB index is out of range");
    } else {
      out.Ok();
    }
  } else if (name == "reset") {
    session->protocol = 2;
    session->name.clear();
    session->authenticated = info.requirepass.empty();
    out.set_protocol(2);
    out.SimpleString("RESET");
  } else if (name == "time") {
    const auto now = std::chrono::system_clock::now().time_since_epoch();
    const int64_t micros = std::chrono::duration_cast<std::chrono::microseconds>(now).count();
    out.ArrayHeader(2);
    out.Bulk(absl::StrCat(micros / 1'000'000));
    out.Bulk(absl::StrCat(micros % 1'000'000));
  } else if (name == "info") {
    out.Verbatim(info.info_text ? info.info_text(std::span<const std::string>(argv).subspan(1))
                                : std::string());
  } else if (spec.container != nullptr && spec.container->name == "client") {
    Client(spec, argv, info, session, out);
  } else if (name == "config|get") {
    std::vector<const ConfigParam*> found;
    for (const ConfigParam& p : kConfigParams) {
      for (size_t i = 2; i < argv.size(); ++i) {
        if (data::GlobMatch(argv[i], p.name, /*nocase=*/true)) {
          found.push_back(&p);
          break;
        }
      }
    }
    out.MapHeader(found.size());
    for (const ConfigParam* p : found) {
      out.Bulk(p->name);
      out.Bulk(p->value);
    }
  } else if (name == "command") {
    const auto all = routing::AllCommands();
    out.ArrayHeader(all.size());
    for (const CommandSpec& c : all) RenderCommandInfo(c, out);
  } else if (name == "command|count") {
    out.Integer(static_cast<int64_t>(routing::AllCommands().size()));
  } else if (name == "command|info") {
    if (argv.size() == 2) {
      const auto all = routing::AllCommands();
      out.ArrayHeader(all.size());
      for (const CommandSpec& c : all) RenderCommandInfo(c, out);
    } else {
      out.ArrayHeader(argv.size() - 2);
      for (size_t i = 2; i < argv.size(); ++i) {
        const CommandSpec* c = routing::FindCommandByFullName(absl::AsciiStrToLower(argv[i]));
        if (c == nullptr) {
          out.NullArray();
        } else {
          RenderCommandInfo(*c, out);
        }
      }
    }
  } else if (name == "command|docs") {
    std::vector<const CommandSpec*> specs;
    if (argv.size() == 2) {
      for (const CommandSpec& c : routing::AllCommands()) specs.push_back(&c);
    } else {
      for (size_t i = 2; i < argv.size(); ++i) {
        const CommandSpec* c = routing::FindCommandByFullName(absl::AsciiStrToLower(argv[i]));
        if (c != nullptr) specs.push_back(c);
      }
    }
    out.MapHeader(specs.size());
    for (const CommandSpec* c : specs) {
      out.Bulk(c->full_name);
      RenderCommandDocs(*c, out);
    }
  } else if (name == "command|getkeys") {
    absl::StatusOr<std::vector<size_t>> keys =
        routing::CommandGetKeys(routing::ArgvRef(argv).Skip(2));
    if (!keys.ok()) {
      out.Error(std::string_view(keys.status().message().data(), keys.status().message().size()));
    } else {
      out.ArrayHeader(keys->size());
      for (size_t k : *keys) out.Bulk(argv[2 + k]);
    }
  } else if (name == "command|help" || name == "config|help") {
    out.ArrayHeader(1);
    out.SimpleString(absl::StrCat(absl::AsciiStrToUpper(absl::string_view(
                                      spec.container->name.data(), spec.container->name.size())),
                                  " <subcommand>: see the command table (COMMAND DOCS)."));
  } else {
    out.Error(absl::StrCat("ERR '", name, "' is not supported by this shard yet"));
  }
  return LocalOutcome::kReply;
}

}  // namespace tessera::shard
