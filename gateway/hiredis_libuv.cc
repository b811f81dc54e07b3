// hiredis event hooks on a uv_poll_t: reads and writes turned on and off as hiredis asks, and
// a poll error treated as readable so hiredis reads the error and closes the context.
#include "gateway/hiredis_libuv.h"

#include <memory>

namespace tessera::gateway {
namespace {

struct Attachment {
  redisAsyncContext* context = nullptr;  // null once hiredis cleaned up
  uv_poll_t poll{};
  int events = 0;
};

void OnPoll(uv_poll_t* handle, int status, int events) {
  auto* a = static_cast<Attachment*>(handle->data);
  if (status != 0) events = UV_READABLE;  // hiredis's read finds the socket error
  if (a->context != nullptr && (events & UV_READABLE)) redisAsyncHandleRead(a->context);
  // The read may have freed the context (its cleanup hook clears a->context).
  if (a->context != nullptr && (events & UV_WRITABLE)) redisAsyncHandleWrite(a->context);
}

void Update(Attachment* a, int events) {
  a->events = events;
  if (a->events != 0) {
    uv_poll_start(&a->poll, a->events, &OnPoll);
  } else {
    uv_poll_stop(&a->poll);
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
  Update(a, a->events | UV_WRITABLE);
}
void DelWrite(void* p) {
  auto* a = static_cast<Attachment*>(p);
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
  if (a != nullptr && a->context != nullptr && (a->events & UV_WRITABLE)) {
    redisAsyncHandleWrite(ac);
  }
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
