// EncryptionNode over the shard's Driver: leadership, proposals and read barriers of the
// hosted groups for the EncryptionAdmin service.
#pragma once

#include <vector>

#include "shard/driver/driver.h"
#include "shard/encryption/admin_service.h"

namespace tessera::shard::encryption {

class DriverEncryptionNode final : public EncryptionNode {
 public:
  // The driver outlives this.
  DriverEncryptionNode(Driver* driver, std::vector<GroupId> groups)
      : driver_(driver), groups_(std::move(groups)) {}

  absl::Status CheckLeader(GroupId gid) const override;
  absl::Status ProposeAndWait(GroupId gid, std::string command, const CallContext& ctx) override;
  absl::Status ReadBarrier(GroupId gid, const CallContext& ctx) override;
  absl::StatusOr<ClusterConfiguration> Configuration(GroupId gid) const override;
  std::vector<GroupId> Groups() const override { return groups_; }
  uint64_t AppliedIndex(GroupId gid) const override;
  bool Drained(GroupId gid) const override;

 private:
  Driver* const driver_;
  const std::vector<GroupId> groups_;
};

}  // namespace tessera::shard::encryption
