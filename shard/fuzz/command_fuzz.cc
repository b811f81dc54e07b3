// libFuzzer target of the data model: input bytes become a short script of commands (names from
// the command table, arguments from a dictionary of keys, numbers and keywords or raw bytes)
// applied through KvStateMachine::StageApply on an in-memory RocksDB, inside one indexed batch
// that is never written, so each input starts from an empty database. Every reply must be
// exactly one well-formed RESP value; a storage error or a crash is a finding.
#include <fuzzer/FuzzedDataProvider.h>

#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/resp.h"
#include "rocksdb/env.h"
#include "routing/command_table.h"
#include "shard/data/commands.h"
#include "shard/data/resp_reply.h"
#include "shard/data/transaction.h"
#include "shard/data/watch.h"
#include "shard/kv/kv_state_machine.h"
#include "shard/storage/engine.h"

namespace tessera::shard {
namespace {

constexpr GroupId kGroup = 1;
constexpr int kMaxCommands = 24;
constexpr int kMaxArgs = 8;

constexpr std::string_view kWords[] = {
    "a",
    "b",
    "{a}c",
    "0",
    "1",
    "-1",
    "2",
    "10",
    "100",
    "1.5",
    "-2.5",
    "inf",
    "+inf",
    "-inf",
    "nan",
    "NX",
    "XX",
    "GT",
    "LT",
    "CH",
    "INCR",
    "EX",
    "PX",
    "EXAT",
    "PXAT",
    "KEEPTTL",
    "GET",
    "PERSIST",
    "WITHSCORES",
    "LIMIT",
    "BYSCORE",
    "BYLEX",
    "REV",
    "LEFT",
    "RIGHT",
    "BEFORE",
    "AFTER",
    "MATCH",
    "COUNT",
    "TYPE",
    "RANK",
    "MAXLEN",
    "[a",
    "(a",
    "-",
    "+",
    "*",
    "a*",
    "",
    "9223372036854775807",
    "-9223372036854775808",
    "18446744073709551616",
    "WEIGHTS",
    "AGGREGATE",
    "SUM",
    "MIN",
    "MAX",
    "WITHVALUES",
    "IDLE",
    "ASYNC",
    "hash",
    "string",
};

[[noreturn]] void Fatal(const char* what, std::string_view detail) {
  std::fprintf(stderr, "command fuzz: %s %.*s\n", what, static_cast<int>(detail.size()),
               detail.data());
  std::abort();
}

struct Harness {
  std::unique_ptr<StorageEngine> engine;
  std::vector<const routing::CommandSpec*> commands;  // those the data model serves
  Harness() {
    EngineOptions options;
    options.env = std::shared_ptr<rocksdb::Env>(rocksdb::NewMemEnv(rocksdb::Env::Default()));
    auto opened = StorageEngine::Open("/fuzz-db", options);
    if (!opened.ok()) Fatal("open", std::string(opened.status().message()));
    engine = *std::move(opened);
    for (const routing::CommandSpec& spec : routing::AllCommands()) {
      if (data::FindDataCommand(spec.full_name) != nullptr) commands.push_back(&spec);
    }
  }
};

std::string Arg(FuzzedDataProvider& in) {
  if (in.ConsumeBool())
    return std::string(kWords[in.ConsumeIntegralInRange<size_t>(0, std::size(kWords) - 1)]);
  return in.ConsumeRandomLengthString(24);
}

std::string Encode(const std::vector<std::string>& argv) {
  std::vector<std::string_view> views(argv.begin(), argv.end());
  return EncodeCommand(views);
}

}  // namespace
}  // namespace tessera::shard

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace tessera::shard;
  static Harness* const h = new Harness();
  FuzzedDataProvider in(data, size);
  auto sm = KvStateMachine::Open(h->engine.get(), {kGroup});
  if (!sm.ok()) Fatal("state machine", std::string(sm.status().message()));
  rocksdb::WriteBatchWithIndex batch;
  uint64_t now_ms = 1'700'000'000'000;
  uint64_t index = 0;
  const int count = in.ConsumeIntegralInRange<int>(1, kMaxCommands);
  for (int i = 0; i < count && in.remaining_bytes() > 0; ++i) {
    const tessera::routing::CommandSpec& spec =
        *h->commands[in.ConsumeIntegralInRange<size_t>(0, h->commands.size() - 1)];
    std::vector<std::string> argv = {spec.full_name};
    const int extra = in.ConsumeIntegralInRange<int>(0, kMaxArgs);
    for (int a = 0; a < extra; ++a) argv.push_back(Arg(in));
    if (!tessera::routing::ResolveCommand(argv).ok()) continue;  // the listener answers those
    now_ms += in.ConsumeIntegralInRange<uint64_t>(0, 5000);
    // Each command runs as a one-command transaction (reads and writes alike, in the batch);
    // sometimes watched, to drive the watch rows too.
    std::vector<std::string> entry;
    switch (in.ConsumeIntegralInRange<int>(0, 5)) {
      case 0:
        entry = {std::string(data::kWatchCommand), argv.size() > 1 ? argv[1] : "a"};
        break;
      case 1:
        entry = {std::string(data::kExecWatchCommand), "1", argv.size() > 1 ? argv[1] : "a",
                 std::to_string(index), Encode(argv)};
        break;
      default:
        entry = {std::string(data::kExecCommand), Encode(argv)};
        break;
    }
    ++index;
    tessera::raft::Entry e{1, index, tessera::raft::EntryType::kNormal,
                           EncodeEntryPayload(ProposalId{1, index}, now_ms, Encode(entry))};
    const int protocol = in.ConsumeBool() ? 3 : 2;
    std::string reply;
    data::RespReply out(protocol, &reply);
    auto applied = (*sm)->StageApply(batch, kGroup, e, &out);
    if (!applied.ok()) Fatal("storage error at apply", std::string(applied.status().message()));
    tessera::common::resp::Value value;
    auto n = tessera::common::resp::ReadReply(reply, &value);
    if (!n.ok() || *n != reply.size()) Fatal("reply is not one RESP value", reply);
  }
  return 0;
}
