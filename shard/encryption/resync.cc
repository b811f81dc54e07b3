// ResyncSidecar client: leader search, verification of the answer, and the runtime worker.
#include "shard/encryption/resync.h"

#include <grpcpp/grpcpp.h>

#include <deque>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "proto/encryption_admin.grpc.pb.h"
#include "shard/encryption/encryption_errc.h"
#include "spdlog/spdlog.h"

namespace tessera::shard::encryption {
namespace {

namespace v1 = tessera::encryption::v1;
using Clock = std::chrono::steady_clock;

// The address of a "leader=<raft_id>@<host:port>" hint, empty when there is none.
std::string LeaderHint(std::string_view message) {
  const size_t at = message.find("leader=");
  if (at == std::string_view::npos) return {};
  std::string_view rest = message.substr(at + 7);
  const size_t sep = rest.find('@');
  if (sep == std::string_view::npos) return {};
  rest = rest.substr(sep + 1);
  const size_t end = rest.find_first_of(" ;,)");
  return std::string(rest.substr(0, end));
}

}  // namespace

ResyncFetcher GrpcResyncFetcher() {
  return [](const std::string& address, uint64_t caller_node_id,
            Clock::time_point deadline) -> absl::StatusOr<v1::ResyncSidecarResponse> {
    auto stub = v1::EncryptionAdmin::NewStub(
        grpc::CreateChannel(address, grpc::InsecureChannelCredentials()));
    grpc::ClientContext cc;
    cc.set_deadline(std::chrono::system_clock::now() + (deadline - Clock::now()));
    v1::ResyncSidecarRequest req;
    req.set_caller_node_id(caller_node_id);
    v1::ResyncSidecarResponse resp;
    grpc::Status s = stub->ResyncSidecar(&cc, req, &resp);
    if (!s.ok())
      return absl::Status(static_cast<absl::StatusCode>(s.error_code()), s.error_message());
    return resp;
  };
}

absl::StatusOr<v1::ResyncSidecarResponse> FetchResyncFromLeader(
    const std::vector<std::string>& addresses, uint64_t caller_node_id, const ResyncFetcher& fetch,
    Clock::time_point deadline) {
  if (!fetch) return absl::InvalidArgumentError("no resync fetcher");
  std::deque<std::string> todo(addresses.begin(), addresses.end());
  std::set<std::string> tried;
  std::vector<std::string> failures;
  // Each address at most once: a hint only reorders the search, it never lengthens it.
  while (!todo.empty() && Clock::now() < deadline) {
    const std::string address = todo.front();
    todo.pop_front();
    if (address.empty() || !tried.insert(address).second) continue;
    absl::StatusOr<v1::ResyncSidecarResponse> answer = fetch(address, caller_node_id, deadline);
    if (answer.ok()) return answer;
    if (answer.status().code() == absl::StatusCode::kPermissionDenied) return answer.status();
    failures.push_back(absl::StrCat(address, ": ", answer.status().message()));
    if (std::string hint = LeaderHint(std::string(answer.status().message())); !hint.empty()) {
      todo.push_front(std::move(hint));
    }
  }
  if (tried.empty()) return absl::UnavailableError("no default-group member address to ask");
  return absl::UnavailableError(absl::StrCat("no default-group leader answered ResyncSidecar (",
                                             absl::StrJoin(failures, "; "), ")"));
}

absl::StatusOr<Sidecar> SidecarFromResync(const v1::ResyncSidecarResponse& answer,
                                          const SecretBytes& kek) {
  Sidecar s;
  s.raft_applied_index = answer.sidecar_raft_applied_index();
  s.bootstrap_index = answer.bootstrap_index();
  s.storage_envelope_active = answer.storage_envelope_active();
  s.storage_envelope_cutover_index = answer.storage_envelope_cutover_index();
  s.active_storage = answer.active_storage_id();
  s.active_raft = answer.active_raft_id();
  for (const auto& [id, wrapped] : answer.wrapped_deks_by_id()) {
    auto meta = answer.key_meta().find(id);
    if (meta == answer.key_meta().end()) {
      return EncryptionError(EncryptionErrc::kSidecarCorrupt,
                             absl::StrCat("resync answer: key ", id, " without metadata"));
    }
    std::optional<DekPurpose> purpose = ParseDekPurpose(meta->second.purpose());
    if (!purpose.has_value()) {
      return EncryptionError(
          EncryptionErrc::kSidecarCorrupt,
          absl::StrCat("resync answer: key ", id, " has purpose \"", meta->second.purpose(), "\""));
    }
    // Never record a key this node cannot unwrap (another cluster's KEK, a relabelled key).
    if (absl::StatusOr<SecretBytes> dek = UnwrapDek(kek, *purpose, id, wrapped); !dek.ok()) {
      return dek.status();
    }
    s.keys[id] =
        SidecarKey{*purpose, wrapped, meta->second.created(), meta->second.created_index()};
  }
  // The sidecar parser's checks (ids, active keys present with their purpose) on the result.
  absl::StatusOr<Sidecar> checked = ParseSidecar(SerializeSidecar(s));
  if (!checked.ok()) {
    return EncryptionError(EncryptionErrc::kSidecarCorrupt,
                           absl::StrCat("resync answer: ", checked.status().message()));
  }
  return s;
}

KeyResyncWorker::KeyResyncWorker(Options options) : o_(std::move(options)) {
  thread_ = std::thread([this] { Run(); });
}

KeyResyncWorker::~KeyResyncWorker() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

void KeyResyncWorker::Request() {
  {
    std::lock_guard lock(mu_);
    requested_ = true;
  }
  cv_.notify_all();
}

uint64_t KeyResyncWorker::attempts() const {
  std::lock_guard lock(mu_);
  return attempts_;
}

void KeyResyncWorker::Run() {
  std::unique_lock lock(mu_);
  Clock::time_point next_allowed = Clock::now();
  while (true) {
    cv_.wait(lock, [this] { return stop_ || requested_; });
    if (stop_) return;
    // Rate limit: a request inside the interval waits for its end (or for the stop).
    if (cv_.wait_until(lock, next_allowed, [this] { return stop_; })) return;
    requested_ = false;
    next_allowed = Clock::now() + o_.interval;
    lock.unlock();
    absl::Status s = Attempt();
    if (!s.ok()) spdlog::warn("encryption: runtime sidecar resync failed: {}", s.ToString());
    lock.lock();
    ++attempts_;
  }
}

absl::Status KeyResyncWorker::Attempt() {
  if (o_.runtime.kek == nullptr) return absl::FailedPreconditionError("this node holds no KEK");
  std::vector<std::string> addresses = o_.addresses ? o_.addresses() : std::vector<std::string>();
  absl::StatusOr<v1::ResyncSidecarResponse> answer =
      FetchResyncFromLeader(addresses, o_.node_id, o_.fetch, Clock::now() + o_.call_timeout);
  if (!answer.ok()) return answer.status();
  absl::StatusOr<Sidecar> verified = SidecarFromResync(*answer, *o_.runtime.kek);
  if (!verified.ok()) return verified.status();
  size_t installed = 0;
  for (const auto& [id, key] : verified->keys) {
    if (o_.runtime.keys->Has(id)) continue;
    absl::StatusOr<SecretBytes> dek = UnwrapDek(*o_.runtime.kek, key.purpose, id, key.wrapped);
    if (!dek.ok()) return dek.status();
    o_.runtime.keys->Install(id, key.purpose, std::make_shared<const SecretBytes>(*std::move(dek)));
    ++installed;
  }
  spdlog::info("encryption: runtime sidecar resync installed {} key(s)", installed);
  return absl::OkStatus();
}

}  // namespace tessera::shard::encryption
