// Sidecar resync from the default group's leader (spec/encryption.md §7, §13): the client side
// of ResyncSidecar, the verification of its answer under the local KEK, and the runtime worker
// that installs keys a lagging node meets in log entries or snapshots before it applied them.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "proto/encryption_admin.pb.h"
#include "shard/encryption/applier.h"
#include "shard/encryption/sidecar.h"

namespace tessera::shard::encryption {

// The runtime resync runs at most once per this interval (§7).
inline constexpr std::chrono::seconds kRuntimeResyncInterval{5};

// One ResyncSidecar call to the EncryptionAdmin service at `address`, bounded by `deadline`.
using ResyncFetcher = std::function<absl::StatusOr<tessera::encryption::v1::ResyncSidecarResponse>(
    const std::string& address, uint64_t caller_node_id,
    std::chrono::steady_clock::time_point deadline)>;

// Over gRPC; one short-lived channel per call (resync is rare and never on a hot path).
ResyncFetcher GrpcResyncFetcher();

// Asks each of `addresses` (the default group's raft listeners) in turn, following a
// "leader=<raft_id>@<address>" hint of a NOT-leader refusal first, until a leader answers.
// UNAVAILABLE naming every attempt when none did before `deadline`; PERMISSION_DENIED (this node
// is not a member) ends the search at once.
absl::StatusOr<tessera::encryption::v1::ResyncSidecarResponse> FetchResyncFromLeader(
    const std::vector<std::string>& addresses, uint64_t caller_node_id, const ResyncFetcher& fetch,
    std::chrono::steady_clock::time_point deadline);

// The sidecar a resync answer describes, after verifying that every key unwraps under `kek`
// with its purpose and id (kKekMismatch otherwise) and that the document is consistent
// (kSidecarCorrupt: an active id absent or of the wrong purpose, an unknown purpose).
absl::StatusOr<Sidecar> SidecarFromResync(
    const tessera::encryption::v1::ResyncSidecarResponse& answer, const SecretBytes& kek);

// Runtime resync (§7, §9): an apply that met an unknown key id asks for one; at most one runs
// per kRuntimeResyncInterval, on this worker's own thread (never the driver's). Verified keys
// are installed in the in-memory keystore only: the sidecar file keeps a single writer, the
// local default-group apply.
class KeyResyncWorker {
 public:
  struct Options {
    EncryptionRuntime runtime;
    uint64_t node_id = 0;
    // The default group's member addresses, read fresh for each attempt.
    std::function<std::vector<std::string>()> addresses;
    ResyncFetcher fetch;
    std::chrono::milliseconds interval = kRuntimeResyncInterval;
    std::chrono::milliseconds call_timeout{3000};
  };
  explicit KeyResyncWorker(Options options);
  ~KeyResyncWorker();  // joins the worker
  KeyResyncWorker(const KeyResyncWorker&) = delete;
  KeyResyncWorker& operator=(const KeyResyncWorker&) = delete;

  // Non-blocking; coalesced with a pending request; rate-limited to one attempt per interval.
  void Request();
  // Attempts finished so far (tests await them).
  uint64_t attempts() const;

 private:
  void Run();
  absl::Status Attempt();

  const Options o_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool requested_ = false;  // guarded by mu_
  bool stop_ = false;       // guarded by mu_
  uint64_t attempts_ = 0;   // guarded by mu_
  std::thread thread_;
};

}  // namespace tessera::shard::encryption
