// ResyncTest: the leader search of ResyncSidecar, the verification of its answer, and the
// runtime worker that installs keys in the keystore only (spec/encryption.md §7, §13).
#include "shard/encryption/resync.h"

#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <thread>

#include "shard/encryption/encryption_errc.h"
#include "shard/encryption/testing.h"

namespace tessera::shard::encryption {
namespace {

namespace v1 = tessera::encryption::v1;
using Clock = std::chrono::steady_clock;

v1::ResyncSidecarResponse Answer(const SecretBytes& kek) {
  v1::ResyncSidecarResponse r;
  auto add = [&](uint32_t id, DekPurpose purpose, uint8_t seed) {
    (*r.mutable_wrapped_deks_by_id())[id] = WrapDek(kek, purpose, id, *testing::TestKey(seed));
    auto& meta = (*r.mutable_key_meta())[id];
    meta.set_purpose(std::string(DekPurposeName(purpose)));
    meta.set_created("2026-05-01T10:00:00Z");
    meta.set_created_index(3);
  };
  add(11, DekPurpose::kStorage, 1);
  add(22, DekPurpose::kRaft, 2);
  r.set_active_storage_id(11);
  r.set_active_raft_id(22);
  r.set_sidecar_raft_applied_index(3);
  r.set_bootstrap_index(3);
  return r;
}

bool WaitFor(const std::function<bool()>& pred, std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  while (Clock::now() < deadline) {
    if (pred()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return pred();
}

TEST(ResyncTest, FollowsTheLeaderHint) {
  const auto kek = testing::TestKey(100);
  std::vector<std::string> asked;
  ResyncFetcher fetch = [&](const std::string& address, uint64_t caller,
                            Clock::time_point) -> absl::StatusOr<v1::ResyncSidecarResponse> {
    asked.push_back(address);
    EXPECT_EQ(caller, 42u);
    if (address == "b:1") return Answer(*kek);
    return absl::FailedPreconditionError("not leader of group 1; leader=n2@b:1");
  };
  absl::StatusOr<v1::ResyncSidecarResponse> r = FetchResyncFromLeader(
      {"a:1", "c:1", "b:1"}, 42, fetch, Clock::now() + std::chrono::seconds(5));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(asked, (std::vector<std::string>{"a:1", "b:1"}));  // the hint jumped the queue
}

TEST(ResyncTest, NoLeaderIsUnavailableNamingEveryAttempt) {
  ResyncFetcher fetch = [](const std::string& address, uint64_t,
                           Clock::time_point) -> absl::StatusOr<v1::ResyncSidecarResponse> {
    return absl::UnavailableError(address + " refused");
  };
  absl::StatusOr<v1::ResyncSidecarResponse> r = FetchResyncFromLeader(
      {"a:1", "b:1", "a:1"}, 1, fetch, Clock::now() + std::chrono::seconds(5));
  ASSERT_EQ(r.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_NE(r.status().message().find("a:1 refused"), std::string_view::npos);
  EXPECT_NE(r.status().message().find("b:1 refused"), std::string_view::npos);
}

TEST(ResyncTest, NonMemberStopsTheSearch) {
  int calls = 0;
  ResyncFetcher fetch = [&](const std::string&, uint64_t,
                            Clock::time_point) -> absl::StatusOr<v1::ResyncSidecarResponse> {
    ++calls;
    return absl::PermissionDeniedError("caller is not a cluster member");
  };
  absl::StatusOr<v1::ResyncSidecarResponse> r =
      FetchResyncFromLeader({"a:1", "b:1"}, 1, fetch, Clock::now() + std::chrono::seconds(5));
  EXPECT_EQ(r.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(calls, 1);
}

TEST(ResyncTest, AnswerVerifiedUnderTheLocalKek) {
  const auto kek = testing::TestKey(100);
  absl::StatusOr<Sidecar> s = SidecarFromResync(Answer(*kek), *kek);
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->keys.size(), 2u);
  EXPECT_EQ(s->keys.at(22).purpose, DekPurpose::kRaft);
  EXPECT_EQ(s->active_storage, 11u);
  EXPECT_EQ(GetEncryptionErrc(SidecarFromResync(Answer(*kek), *testing::TestKey(7)).status()),
            EncryptionErrc::kKekMismatch);
  // A key relabelled with another purpose no longer authenticates.
  v1::ResyncSidecarResponse relabelled = Answer(*kek);
  (*relabelled.mutable_key_meta())[22].set_purpose("storage");
  EXPECT_EQ(GetEncryptionErrc(SidecarFromResync(relabelled, *kek).status()),
            EncryptionErrc::kKekMismatch);
  v1::ResyncSidecarResponse dangling = Answer(*kek);
  dangling.set_active_raft_id(99);
  EXPECT_EQ(GetEncryptionErrc(SidecarFromResync(dangling, *kek).status()),
            EncryptionErrc::kSidecarCorrupt);
}

TEST(ResyncTest, WorkerInstallsKeysInMemoryOnlyAndRateLimits) {
  const auto kek = testing::TestKey(100);
  KeyResyncWorker::Options o;
  o.runtime.kek = kek;
  o.runtime.sidecar_path = ::testing::TempDir() + "/resync-worker-never-written.json";
  o.node_id = 5;
  o.addresses = [] { return std::vector<std::string>{"leader:1"}; };
  std::atomic<int> calls{0};
  o.fetch = [&](const std::string&, uint64_t,
                Clock::time_point) -> absl::StatusOr<v1::ResyncSidecarResponse> {
    ++calls;
    return Answer(*kek);
  };
  o.interval = std::chrono::milliseconds(300);
  const EncryptionRuntime runtime = o.runtime;
  KeyResyncWorker worker(o);
  worker.Request();
  ASSERT_TRUE(WaitFor([&] { return worker.attempts() == 1; }, std::chrono::seconds(5)));
  EXPECT_TRUE(runtime.keys->Has(11));
  EXPECT_TRUE(runtime.keys->Has(22));
  EXPECT_FALSE(std::filesystem::exists(o.runtime.sidecar_path));
  // A burst inside the interval coalesces into one more attempt, not before the interval ends.
  const auto burst = Clock::now();
  for (int i = 0; i < 10; ++i) worker.Request();
  ASSERT_TRUE(WaitFor([&] { return worker.attempts() == 2; }, std::chrono::seconds(5)));
  EXPECT_GE(Clock::now() - burst, std::chrono::milliseconds(200));
  EXPECT_EQ(calls.load(), 2);
}

TEST(ResyncTest, KeystoreMissTriggersTheHook) {
  Keystore keys;
  keys.Install(11, DekPurpose::kStorage, testing::TestKey(1));
  std::vector<uint32_t> misses;
  keys.set_miss_hook([&misses](uint32_t id) { misses.push_back(id); });
  KeyLookup lookup = keys.Lookup(DekPurpose::kStorage);
  EXPECT_NE(lookup(11), nullptr);
  EXPECT_EQ(lookup(12), nullptr);
  EXPECT_EQ(misses, (std::vector<uint32_t>{12}));
}

}  // namespace
}  // namespace tessera::shard::encryption
