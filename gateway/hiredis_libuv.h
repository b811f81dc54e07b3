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

// Writes what hiredis has buffered for `ac` now. Once connected, hiredis's requests to watch
// writability are not passed to the loop: the owner calls this once per loop iteration after
// the commands of that iteration were appended (one write, no epoll_ctl), and only output the
// socket did not take is left to a writability watch. The owner must call it for every
// connected context it sent a command on.
void WriteBufferedCommands(redisAsyncContext* ac);

}  // namespace tessera::gateway
