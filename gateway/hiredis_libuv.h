// Drives a hiredis async context from a libuv loop. Debian's hiredis 0.14 ships an adapter
// whose poll callback ignores error events (a peer killed with RST then hangs the context
// until a deadline); this one hands errors to hiredis, which then fails the connection.
#pragma once

#include <hiredis/async.h>
#include <uv.h>

namespace tessera::gateway {

// Attaches `ac` to `loop`; false when it is attached already or the poll handle cannot be
// created. hiredis releases the attachment through its cleanup hook when the context goes.
bool AttachToLoop(redisAsyncContext* ac, uv_loop_t* loop);

// Writes what hiredis has buffered for `ac` now, without waiting for the loop to report the
// socket writable: called once per loop iteration after the commands of that iteration were
// appended, it sends them in one write, and the write interest hiredis turned on and off in
// between never reaches epoll. `ac` must be connected.
void WriteBufferedCommands(redisAsyncContext* ac);

}  // namespace tessera::gateway
