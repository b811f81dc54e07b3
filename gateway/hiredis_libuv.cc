// hiredis event hooks on a uv_poll_t: reads turned on and off as hiredis asks, writes done by
// the owner once per loop iteration (writability watched only for leftovers and connects), and
// a poll error treated as readable so hiredis reads the error and closes the context.
#include "gateway/hiredis_libuv.h"

#include <memory>

namespace tessera::gateway {
namespace {

struct Attachment {
  redisAsyncContext* context = nullptr;  // null once hiredis cleaned up
  uv_poll_t poll{};
  int events = 0;           // what the poll handle watches now
  bool want_write = false;  // hiredis has output buffered
};

bool Connected(const Attachment* a) {
  return a->context != nullptr && (a->context->c.flags & REDIS_CONNECTED) != 0;
}

void OnPoll(uv_poll_t* handle, int status, int events);

// Every change restarts libuv's watcher (and costs an epoll_ctl at the next poll): only real
// changes go through.
void Update(Attachment* a, int events) {
  if (events == a->events) return;
  a->events = events;
  if (a->events != 0) {
    uv_poll_start(&a->poll, a->events, &OnPoll);
  } else {
    uv_poll_stop(&a->poll);
  }
}

// After a write attempt: output left over (the socket is full) waits for writability.
void WatchLeftoverOutput(Attachment* a) {
  if (a->context != nullptr && a->want_write) Update(a, a->events | UV_WRITABLE);
}

void OnPoll(uv_poll_t* handle, int status, int events) {
  auto* a = static_cast<Attachment*>(handle->data);
  if (status != 0) events = UV_READABLE;  // hiredis's read finds the socket error
  if (a->context != nullptr && (events & UV_READABLE)) redisAsyncHandleRead(a->context);
  // The read may have freed the context (its cleanup hook clears a->context).
  if (a->context != nullptr && (events & UV_WRITABLE)) {
    redisAsyncHandleWrite(a->context);
    WatchLeftoverOutput(a);
  }
}

void AddRead(void* p) {
  auto* a = static_cast<Attachment*>(p);
  Update(a, a->events | UV_READABLE);
}
void DelRead(void* p) {
  auto* a = static_cast<Attachment*>(p);
  Update(a, a->events & ~UV_READABLE);
}
void AddWrite(void* p) {
  auto* a = static_cast<Attachment*>(p);
  a->want_write = true;
  // Connected: the owner writes at the end of the loop iteration (WriteBufferedCommands) and
  // only leftovers wait for writability. Connecting: writability reports the connection.
  if (!Connected(a)) Update(a, a->events | UV_WRITABLE);
}
void DelWrite(void* p) {
  auto* a = static_cast<Attachment*>(p);
  a->want_write = false;
  Update(a, a->events & ~UV_WRITABLE);
}
void Cleanup(void* p) {
  auto* a = static_cast<Attachment*>(p);
  a->context = nullptr;
  uv_close(reinterpret_cast<uv_handle_t*>(&a->poll),
           [](uv_handle_t* h) { delete static_cast<Attachment*>(h->data); });
}

}  // namespace

void WriteBufferedCommands(redisAsyncContext* ac) {
  auto* a = static_cast<Attachment*>(ac->ev.data);
  if (a == nullptr || a->context == nullptr || !a->want_write) return;
  redisAsyncHandleWrite(ac);
  WatchLeftoverOutput(a);
}

bool AttachToLoop(redisAsyncContext* ac, uv_loop_t* loop) {
  if (ac->ev.data != nullptr) return false;
  auto a = std::make_unique<Attachment>();
  if (uv_poll_init(loop, &a->poll, ac->c.fd) != 0) return false;
  a->context = ac;
  a->poll.data = a.get();
  ac->ev.addRead = &AddRead;
  ac->ev.delRead = &DelRead;
  ac->ev.addWrite = &AddWrite;
  ac->ev.delWrite = &DelWrite;
  ac->ev.cleanup = &Cleanup;
  ac->ev.data = a.release();
  return true;
}

}  // namespace tessera::gateway
