// Admin token loading and checks. The comparison is constant-time (libsodium) so the token
// cannot be guessed byte by byte from response timing.
#include "shard/admin/admin_auth.h"

#include <sodium.h>

#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"

namespace tessera::shard {

absl::StatusOr<std::string> LoadAdminToken(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in)
    return absl::InvalidArgumentError(absl::StrCat("--adminTokenFile ", path, ": unreadable"));
  std::string token;
  token.resize(kMaxAdminTokenBytes + 2);
  in.read(token.data(), static_cast<std::streamsize>(token.size()));
  token.resize(static_cast<size_t>(in.gcount()));
  while (!token.empty() && (token.back() == '\n' || token.back() == '\r' || token.back() == ' ' ||
                            token.back() == '\t')) {
    token.pop_back();
  }
  if (token.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("--adminTokenFile ", path, ": empty token"));
  }
  if (token.size() > kMaxAdminTokenBytes) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--adminTokenFile ", path, ": token longer than ", kMaxAdminTokenBytes, " bytes"));
  }
  for (char c : token) {
    if (c < 0x21 || c > 0x7e) {
      return absl::InvalidArgumentError(
          absl::StrCat("--adminTokenFile ", path, ": token must be printable ASCII, no spaces"));
    }
  }
  return token;
}

bool IsLoopbackAddress(std::string_view host_port) {
  std::string_view host = host_port;
  if (!host.empty() && host.front() == '[') {
    const size_t close = host.find(']');
    if (close == std::string_view::npos) return false;
    return host.substr(1, close - 1) == "::1";
  }
  const size_t colon = host.rfind(':');
  if (colon != std::string_view::npos) host = host.substr(0, colon);
  if (host == "localhost") return true;
  // 127.0.0.0/8 in dotted decimal.
  if (host.substr(0, 4) != "127.") return false;
  int dots = 0;
  for (char c : host) {
    if (c == '.') {
      ++dots;
    } else if (c < '0' || c > '9') {
      return false;
    }
  }
  return dots == 3;
}

absl::Status CheckAdminExposure(const std::map<uint64_t, std::string>& listeners, bool has_token,
                                bool insecure_allowed) {
  if (has_token || insecure_allowed) return absl::OkStatus();
  for (const auto& [group, address] : listeners) {
    if (!IsLoopbackAddress(address)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "group ", group, " listener ", address,
          " is not loopback: RaftAdmin would be open to the network; set --adminTokenFile "
          "(or --adminInsecure to accept that explicitly)"));
    }
  }
  return absl::OkStatus();
}

bool AdminTokenMatches(std::string_view presented, std::string_view token) {
  std::string expected(kAdminTokenScheme);
  expected.append(token.data(), token.size());
  if (presented.size() != expected.size()) return false;
  return sodium_memcmp(presented.data(), expected.data(), expected.size()) == 0;
}

}  // namespace tessera::shard
