// LoopbackHub: delivery between registered transports, cut links, and unreachable reports
// for unknown peers.
#include "shard/driver/loopback_transport.h"

#include <atomic>
#include <chrono>
#include <thread>

#include "gtest/gtest.h"

namespace tessera::shard {
namespace {

bool WaitFor(const std::function<bool()>& pred) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (std::chrono::steady_clock::now() < deadline) {
    if (pred()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  return pred();
}

GroupMessage Heartbeat(raft::NodeId from, raft::NodeId to, uint64_t term) {
  raft::Message m;
  m.type = raft::MessageType::kHeartbeat;
  m.from = from;
  m.to = to;
  m.term = term;
  return GroupMessage{3, m};
}

TEST(LoopbackTransportTest, DeliversCutsAndReportsUnreachable) {
  LoopbackHub hub;
  LoopbackTransport a(&hub, 1);
  LoopbackTransport b(&hub, 2);
  std::atomic<int> received{0};
  std::atomic<uint64_t> last_term{0};
  std::atomic<int> unreachable{0};
  a.SetHandlers([](GroupId, raft::Message) {},
                [&](GroupId g, raft::NodeId n) {
                  if (g == 3 && n == 9) ++unreachable;
                });
  b.SetHandlers(
      [&](GroupId g, raft::Message m) {
        EXPECT_EQ(g, 3u);
        last_term = m.term;
        ++received;
      },
      [](GroupId, raft::NodeId) {});
  ASSERT_TRUE(a.Start().ok());
  ASSERT_TRUE(b.Start().ok());

  a.Send({Heartbeat(1, 2, 5)});
  ASSERT_TRUE(WaitFor([&] { return received == 1; }));
  EXPECT_EQ(last_term, 5u);

  hub.CutLink(1, 2);
  a.Send({Heartbeat(1, 2, 6)});
  hub.HealLink(1, 2);
  a.Send({Heartbeat(1, 2, 7)});
  ASSERT_TRUE(WaitFor([&] { return received == 2; }));
  EXPECT_EQ(last_term, 7u);  // term 6 was lost on the cut link

  a.Send({Heartbeat(1, 9, 8)});  // nobody registered as 9
  ASSERT_TRUE(WaitFor([&] { return unreachable == 1; }));
  EXPECT_EQ(hub.dropped(), 1u);

  b.Stop();
  a.Send({Heartbeat(1, 2, 9)});
  EXPECT_EQ(received, 2);
  a.Stop();
}

}  // namespace
}  // namespace tessera::shard
