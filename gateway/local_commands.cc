// The gateway's connection commands, with Redis 7.0's replies and error texts.
#include "gateway/local_commands.h"

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace tessera::gateway {
namespace {

using common::resp::Protocol;
using common::resp::ReplyWriter;

absl::string_view Av(std::string_view s) { return absl::string_view(s.data(), s.size()); }

bool Eq(std::string_view a, std::string_view b) { return absl::EqualsIgnoreCase(Av(a), Av(b)); }

bool ValidClientName(std::string_view name) {
  for (char ch : name) {
    if (ch < '!' || ch > '~') return false;
  }
  return true;
}

// AUTH [user] password; true when accepted, else `w` has the error.
bool CheckPassword(std::string_view user, std::string_view password, const LocalContext& ctx,
                   ReplyWriter& w) {
  if (ctx.requirepass.empty()) {
    w.Error(
        "ERR AUTH <password> called without any password configured for the default user. "
        "Are you sure your configuration is correct?");
    return false;
  }
  if (user != "default" || password != ctx.requirepass) {
    w.Error("WRONGPASS invalid username-password pair or user is disabled.");
    return false;
  }
  return true;
}

void Hello(routing::ArgvRef argv, const LocalContext& ctx, Session* session, std::string* out) {
  ReplyWriter w(out, session->protocol);
  Protocol protocol = session->protocol;
  size_t i = 1;
  if (argv.size() > 1) {
    int64_t version = 0;
    if (!absl::SimpleAtoi(Av(argv[1]), &version)) {
      w.Error("ERR Protocol version is not an integer or out of range");
      return;
    }
    if (version != 2 && version != 3) {
      w.Error("NOPROTO unsupported protocol version");
      return;
    }
    protocol = version == 3 ? Protocol::kResp3 : Protocol::kResp2;
    i = 2;
  }
  std::string_view setname;
  bool has_setname = false;
  for (; i < argv.size(); ++i) {
    const bool more = i + 1 < argv.size();
    if (Eq(argv[i], "auth") && i + 2 < argv.size()) {
      if (!CheckPassword(argv[i + 1], argv[i + 2], ctx, w)) return;
      session->authenticated = true;
      i += 2;
    } else if (Eq(argv[i], "setname") && more) {
      setname = argv[i + 1];
      has_setname = true;
      ++i;
    } else {
      w.Error(absl::StrCat("ERR Syntax error in HELLO option '", Av(argv[i]), "'"));
      return;
    }
  }
  if (!ctx.requirepass.empty() && !session->authenticated) {
    w.Error(
        "NOAUTH HELLO must be called with the client already authenticated, otherwise the "
        "HELLO <proto> AUTH <user> <pass> option can be used to authenticate the client and "
        "select the RESP protocol version at the same time");
    return;
  }
  if (has_setname) {
    if (!ValidClientName(setname)) {
      w.Error("ERR Client names cannot contain spaces, newlines or special characters.");
      return;
    }
    session->name = std::string(setname);
  }
  session->protocol = protocol;
  w.set_protocol(protocol);
  w.MapHeader(7);
  w.Bulk("server");
  w.Bulk("redis");
  w.Bulk("version");
  w.Bulk(kRedisVersion);
  w.Bulk("proto");
  w.Integer(protocol == Protocol::kResp3 ? 3 : 2);
  w.Bulk("id");
  w.Integer(static_cast<int64_t>(ctx.id));
  w.Bulk("mode");
  w.Bulk("standalone");
  w.Bulk("role");
  w.Bulk("master");
  w.Bulk("modules");
  w.ArrayHeader(0);
}

void Client(const routing::CommandSpec& spec, routing::ArgvRef argv, const LocalContext& ctx,
            Session* session, std::string* out) {
  ReplyWriter w(out, session->protocol);
  const std::string_view sub = spec.name;
  if (sub == "id") {
    w.Integer(static_cast<int64_t>(ctx.id));
  } else if (sub == "setname") {
    if (!ValidClientName(argv[2])) {
      w.Error("ERR Client names cannot contain spaces, newlines or special characters.");
      return;
    }
    session->name = std::string(argv[2]);
    w.SimpleString("OK");
  } else if (sub == "getname") {
    session->name.empty() ? w.Null() : w.Bulk(session->name);
  } else if (sub == "info") {
    w.Verbatim(ClientLine(ctx.id, ctx.peer, *session) + "\n");
  } else if (sub == "list") {
    w.Verbatim(ctx.client_list ? ctx.client_list() : ClientLine(ctx.id, ctx.peer, *session) + "\n");
  } else if (sub == "kill") {
    int killed = 0;
    if (argv.size() == 3) {  // CLIENT KILL ip:port (old form)
      killed = ctx.kill ? ctx.kill("addr", argv[2]) : 0;
      if (killed == 0) {
        w.Error("ERR No such client");
      } else {
        w.SimpleString("OK");
      }
      return;
    }
    if (argv.size() % 2 != 0) {
      w.Error("ERR syntax error");
      return;
    }
    for (size_t i = 2; i + 1 < argv.size(); i += 2) {
      const std::string field = absl::AsciiStrToLower(Av(argv[i]));
      if (field != "id" && field != "addr") {
        w.Error("ERR syntax error");
        return;
      }
      killed += ctx.kill ? ctx.kill(field, argv[i + 1]) : 0;
    }
    w.Integer(killed);
  } else if (sub == "help") {
    static constexpr std::string_view kHelp[] = {
        "CLIENT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        "GETNAME",
        "    Return the name of the current connection.",
        "ID",
        "    Return the ID of the current connection.",
        "INFO",
        "    Return information about the current client connection.",
        "KILL <ip:port> | KILL <ID|ADDR> <value> ...",
        "    Kill connections of this gateway thread.",
        "LIST",
        "    Return information about client connections of this gateway thread.",
        "SETNAME <name>",
        "    Assign the name <name> to the current connection.",
        "HELP",
        "    Print this help."};
    w.ArrayHeader(std::size(kHelp));
    for (std::string_view line : kHelp) w.SimpleString(line);
  } else {
    w.Error(absl::StrCat("ERR unknown subcommand '", Av(argv[1]), "'. Try CLIENT HELP."));
  }
}

}  // namespace

std::string ClientLine(uint64_t id, std::string_view peer, const Session& session) {
  return absl::StrCat("id=", id, " addr=", Av(peer), " name=", session.name, " db=0",
                      " sub=", session.channels, " psub=", session.patterns,
                      " multi=", session.in_multi ? static_cast<int>(session.queued.size()) : -1,
                      " resp=", session.protocol == Protocol::kResp3 ? 3 : 2, " cmd=client");
}

LocalOutcome RunLocalCommand(const routing::CommandSpec& spec, routing::ArgvRef argv,
                             const LocalContext& ctx, Session* session, std::string* out) {
  ReplyWriter w(out, session->protocol);
  const routing::CommandSpec& top = spec.container != nullptr ? *spec.container : spec;
  const std::string_view name = top.name;
  if (name == "ping") {
    if (argv.size() > 1) {
      w.Bulk(argv[1]);
    } else {
      w.SimpleString("PONG");
    }
  } else if (name == "echo") {
    w.Bulk(argv[1]);
  } else if (name == "hello") {
    Hello(argv, ctx, session, out);
  } else if (name == "auth") {
    const bool ok = argv.size() == 2 ? CheckPassword("default", argv[1], ctx, w)
                                     : CheckPassword(argv[1], argv[2], ctx, w);
    if (ok) {
      session->authenticated = true;
      w.SimpleString("OK");
    }
  } else if (name == "select") {
    int64_t db = 0;
    if (!absl::SimpleAtoi(Av(argv[1]), &db)) {
      w.Error("ERR value is not an integer or out of range");
    } else if (db != 0) {
      w.Error("ERR DB index is out of range");
    } else {
      w.SimpleString("OK");
    }
  } else if (name == "quit") {
    w.SimpleString("OK");
    return LocalOutcome::kClose;
  } else if (name == "reset") {
    const bool keep_auth = ctx.requirepass.empty();
    *session = Session();
    session->authenticated = keep_auth;
    ReplyWriter(out, Protocol::kResp2).SimpleString("RESET");
  } else if (name == "client") {
    Client(spec, argv, ctx, session, out);
  } else if (name == "info") {
    w.Verbatim(ctx.info ? ctx.info() : std::string());
  } else if ((top.flags.Has(routing::CommandFlag::kPubsub) && name != "publish") ||
             name == "pubsub") {
    // (P)(UN)SUBSCRIBE are served by the server's subscriber links and PUBLISH is forwarded to
    // the channel's group; PUBSUB would count one shard's subscribers, and sharded Pub/Sub is
    // not built.
    w.Error(absl::StrCat("ERR '", spec.full_name,
                         "' is not served through the gateway yet; use a shard's Redis listener"));
  } else {
    return LocalOutcome::kForward;
  }
  return LocalOutcome::kReply;
}

}  // namespace tessera::gateway
