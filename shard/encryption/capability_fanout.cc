// Capability fan-out: concurrent probes with a shared deadline and shared state that outlives
// late completions.
#include "shard/encryption/capability_fanout.h"

#include <algorithm>
#include <condition_variable>
#include <map>
#include <mutex>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "shard/encryption/encryption_errc.h"

namespace tessera::shard::encryption {
namespace {

namespace v1 = tessera::encryption::v1;
using Clock = CallContext::Clock;

// Probe workers per fan-out: each takes the next unprobed member, so a large cluster costs at
// most this many threads, and a worker stops taking members at the deadline.
constexpr size_t kMaxProbeWorkers = 16;

struct Shared {
  std::mutex mu;
  std::condition_variable cv;
  std::vector<Verdict> verdicts;  // guarded by mu
  size_t pending = 0;             // guarded by mu
  size_t next = 0;                // the next member to probe, guarded by mu
};

bool Supports(const google::protobuf::RepeatedField<uint32_t>& versions, uint32_t v) {
  for (uint32_t x : versions) {
    if (x == v) return true;
  }
  return false;
}

std::string Name(const Verdict& v) {
  const std::string address = v.address.empty() ? "?" : v.address;
  return v.node_id != 0 ? absl::StrCat("node ", v.node_id, "@", address)
                        : absl::StrCat("member @", address);
}

}  // namespace

absl::StatusOr<RouteSnapshot> BuildRouteSnapshot(
    const std::vector<uint64_t>& groups,
    const std::function<absl::StatusOr<ClusterConfiguration>(uint64_t group)>& configuration) {
  RouteSnapshot out;
  for (uint64_t gid : groups) {
    absl::StatusOr<ClusterConfiguration> config = configuration(gid);
    if (!config.ok()) {
      return absl::Status(config.status().code(), absl::StrCat("configuration for group ", gid,
                                                               ": ", config.status().message()));
    }
    RouteGroup g;
    g.group_id = gid;
    for (const Server& s : config->servers) {
      RouteMember m{s.node_id, s.address};
      (s.voter ? g.voters : g.learners).push_back(std::move(m));
    }
    out.push_back(std::move(g));
  }
  return out;
}

absl::StatusOr<CapabilityFanoutResult> CapabilityFanout(const RouteSnapshot& routes,
                                                        const Dialer& dialer,
                                                        std::chrono::milliseconds timeout,
                                                        const CallContext& parent,
                                                        const KekFingerprint& leader_fingerprint) {
  if (!dialer) return absl::InvalidArgumentError("capability fan-out: null dialer");
  if (timeout <= std::chrono::milliseconds(0)) {
    return absl::InvalidArgumentError("capability fan-out: timeout <= 0");
  }
  // Dedup: by node id, else by address, else a synthetic slot (malformed rows are kept).
  std::map<std::string, RouteMember> members;
  size_t synthetic = 0;
  for (const RouteGroup& g : routes) {
    for (const auto* list : {&g.voters, &g.learners}) {
      for (const RouteMember& m : *list) {
        const std::string key = m.node_id != 0       ? absl::StrCat("id:", m.node_id)
                                : !m.address.empty() ? absl::StrCat("addr:", m.address)
                                                     : absl::StrCat("synthetic:", synthetic++);
        members.emplace(key, m);
      }
    }
  }
  CapabilityFanoutResult result;
  if (members.empty()) return result;  // never a vacuous success
  const Clock::time_point deadline = std::min(
      parent.deadline, Clock::now() + std::chrono::duration_cast<Clock::duration>(timeout));
  auto shared = std::make_shared<Shared>();
  shared->verdicts.reserve(members.size());
  for (const auto& [key, m] : members) {
    Verdict v;
    v.node_id = m.node_id;
    v.address = m.address;
    v.error = std::string(EncryptionErrcName(EncryptionErrc::kProbeTimeout));
    shared->verdicts.push_back(std::move(v));
  }
  shared->pending = shared->verdicts.size();
  auto probe_one = [dialer, deadline, leader_fingerprint](uint64_t expected,
                                                          const std::string& address) {
    Verdict v;
    v.node_id = expected;
    v.address = address;
    if (address.empty()) {
      v.error = std::string(EncryptionErrcName(EncryptionErrc::kMalformedMember));
    } else if (Clock::now() >= deadline) {
      v.error = std::string(EncryptionErrcName(EncryptionErrc::kProbeTimeout));
    } else if (absl::StatusOr<CapabilityProbe> probe = dialer(address); !probe.ok()) {
      v.error = absl::StrCat("dial: ", probe.status().message());
    } else if (!*probe) {
      v.error = std::string(EncryptionErrcName(EncryptionErrc::kBadDialer));
    } else if (absl::StatusOr<v1::CapabilityReport> report = (*probe)(deadline); !report.ok()) {
      v.error = absl::StrCat("GetCapability: ", report.status().message());
    } else if (expected != 0 && report->node_id() != 0 && report->node_id() != expected) {
      v.error = absl::StrCat(std::string(EncryptionErrcName(EncryptionErrc::kMismatchedResponder)),
                             ": answered by node ", report->node_id());
    } else {
      v.reachable = true;
      v.report = *report;
      const std::string& fp = report->kek_fingerprint();
      const bool same_kek = fp.size() == leader_fingerprint.size() &&
                            std::equal(fp.begin(), fp.end(),
                                       reinterpret_cast<const char*>(leader_fingerprint.data()));
      v.capable = report->encryption_capable() && same_kek &&
                  Supports(report->envelope_versions(), 1) &&
                  Supports(report->snapshot_header_versions(), 2);
      if (!report->encryption_capable()) {
        v.error = "not encryption-capable";
      } else if (!same_kek) {
        v.error = "holds another KEK (fingerprint differs)";
      } else if (!v.capable) {
        v.error = "lacks envelope v1 or snapshot header v2";
      }
    }
    return v;
  };
  // Each worker probes members until none is left. Workers are detached: the fan-out returns at
  // the deadline even if a dialer or stub ignores it, and the shared state keeps a late
  // probe's write harmless; a worker past the deadline stops taking members.
  auto work = [shared, probe_one, deadline] {
    std::unique_lock lock(shared->mu);
    while (shared->next < shared->verdicts.size() && Clock::now() < deadline) {
      const size_t i = shared->next++;
      const uint64_t expected = shared->verdicts[i].node_id;
      const std::string address = shared->verdicts[i].address;
      lock.unlock();
      Verdict v = probe_one(expected, address);
      lock.lock();
      shared->verdicts[i] = std::move(v);
      --shared->pending;
      shared->cv.notify_all();
    }
  };
  const size_t workers = std::min(shared->verdicts.size(), kMaxProbeWorkers);
  for (size_t w = 0; w < workers; ++w) std::thread(work).detach();
  std::unique_lock lock(shared->mu);
  while (shared->pending > 0 && Clock::now() < deadline && !parent.IsCancelled()) {
    shared->cv.wait_until(lock, std::min(deadline, Clock::now() + std::chrono::milliseconds(50)));
  }
  if (parent.IsCancelled()) return absl::CancelledError("capability fan-out cancelled");
  result.verdicts = shared->verdicts;
  result.ok = true;
  for (const Verdict& v : result.verdicts) result.ok = result.ok && v.reachable && v.capable;
  return result;
}

std::string DescribeRefusal(const CapabilityFanoutResult& result) {
  if (result.verdicts.empty()) return "no members found";
  std::vector<std::string> parts;
  for (const Verdict& v : result.verdicts) {
    if (!v.reachable) {
      parts.push_back(absl::StrCat(Name(v), ": unreachable (", v.error, ")"));
    } else if (!v.capable) {
      parts.push_back(absl::StrCat(Name(v), ": not capable (", v.error, ")"));
    }
  }
  return absl::StrJoin(parts, "; ");
}

}  // namespace tessera::shard::encryption
