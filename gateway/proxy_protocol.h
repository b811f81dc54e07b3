// The PROXY protocol (HAProxy's, versions 1 and 2) header a load balancer puts in front of a
// client connection, so the gateway sees the client's address instead of the balancer's.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace tessera::gateway {

// v1 is one text line of at most 107 bytes; v2 a 16-byte header and at most this much
// address data (TLVs included), more than any balancer sends.
inline constexpr size_t kProxyV1MaxBytes = 107;
inline constexpr size_t kProxyV2MaxAddressBytes = 1024;

enum class ProxyParse { kNeedMore, kDone, kError };

struct ProxyHeader {
  size_t length = 0;   // bytes of the header; the client's RESP starts after them
  std::string source;  // "ip:port" of the client; empty for LOCAL / UNKNOWN (keep the socket's)
};

// Reads a header at the start of `input`. kNeedMore: not complete yet (and nothing seen so far
// is wrong); kError: not a valid header, `error` says why (the connection must be closed).
ProxyParse ParseProxyHeader(std::string_view input, ProxyHeader* out, std::string* error);

}  // namespace tessera::gateway
