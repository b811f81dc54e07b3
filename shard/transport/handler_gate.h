// The gate between the gRPC transport's threads and the driver's handlers: how Stop guarantees
// that no handler runs after it returns. Private to shard/transport/.
#pragma once

#include <condition_variable>
#include <mutex>

namespace tessera::shard::transport_internal {

// Handlers run only between a successful Enter and its Exit; Close refuses new entries and
// waits out the running ones.
class HandlerGate {
 public:
  bool Enter() {
    std::lock_guard<std::mutex> lk(mu_);
    if (closed_) return false;
    ++active_;
    return true;
  }
  void Exit() {
    std::lock_guard<std::mutex> lk(mu_);
    if (--active_ == 0) idle_.notify_all();
  }
  void Close() {
    std::unique_lock<std::mutex> lk(mu_);
    closed_ = true;
    idle_.wait(lk, [&] { return active_ == 0; });
  }

 private:
  std::mutex mu_;  // guards closed_ and active_
  std::condition_variable idle_;
  bool closed_ = false;
  int active_ = 0;
};

}  // namespace tessera::shard::transport_internal
