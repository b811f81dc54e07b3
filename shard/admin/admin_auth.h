// Protection of the admin surface (issue: membership operations): the admin token read from
// --adminTokenFile, the loopback test of a listener, and the startup refusal rule.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace tessera::shard {

// gRPC metadata carrying the token: "authorization: Bearer <token>".
inline constexpr char kAdminTokenMetadata[] = "authorization";
inline constexpr std::string_view kAdminTokenScheme = "Bearer ";
inline constexpr size_t kMaxAdminTokenBytes = 1024;

// The token in `path`: the file's content without trailing whitespace. INVALID_ARGUMENT when
// unreadable, empty, longer than kMaxAdminTokenBytes, or not printable ASCII (it travels as
// a metadata value).
absl::StatusOr<std::string> LoadAdminToken(const std::string& path);

// True for 127.0.0.0/8, [::1] and localhost listeners; everything else (0.0.0.0 included)
// is reachable from other machines.
bool IsLoopbackAddress(std::string_view host_port);

// The shard refuses to start when any listener is not loopback, no token is configured and
// the operator did not pass the explicit insecure flag. The message names the listener.
absl::Status CheckAdminExposure(const std::map<uint64_t, std::string>& listeners, bool has_token,
                                bool insecure_allowed);

// Constant-time comparison of the presented metadata value with "Bearer <token>".
bool AdminTokenMatches(std::string_view presented, std::string_view token);

}  // namespace tessera::shard
