// PROXY protocol v1 (text) and v2 (binary) header parsing, strict: a malformed header is an
// error, never guessed at, since everything after it is the client's RESP.
#include "gateway/proxy_protocol.h"

#include <arpa/inet.h>

#include <cstdint>
#include <cstring>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace tessera::gateway {
namespace {

constexpr std::string_view kV1Prefix = "PROXY ";
constexpr std::string_view kV2Signature("\r\n\r\n\0\r\nQUIT\n", 12);

// True while `input` can still become `prefix` (it is a prefix of it, or starts with it).
bool Compatible(std::string_view input, std::string_view prefix) {
  const size_t n = std::min(input.size(), prefix.size());
  return input.substr(0, n) == prefix.substr(0, n);
}

bool ParsePort(std::string_view text, uint16_t* port) {
  uint32_t v = 0;
  if (text.empty() || text.size() > 5 || (text.size() > 1 && text[0] == '0') ||
      !absl::SimpleAtoi(absl::string_view(text.data(), text.size()), &v) || v > 65535) {
    return false;
  }
  *port = static_cast<uint16_t>(v);
  return true;
}

ProxyParse Fail(std::string* error, std::string_view why) {
  *error = absl::StrCat("PROXY protocol: ", absl::string_view(why.data(), why.size()));
  return ProxyParse::kError;
}

ProxyParse ParseV1(std::string_view input, ProxyHeader* out, std::string* error) {
  const size_t end = input.substr(0, kProxyV1MaxBytes).find("\r\n");
  if (end == std::string_view::npos) {
    return input.size() >= kProxyV1MaxBytes ? Fail(error, "v1 header longer than 107 bytes")
                                            : ProxyParse::kNeedMore;
  }
  const std::string_view line = input.substr(0, end);
  std::vector<std::string_view> f;
  for (absl::string_view part : absl::StrSplit(absl::string_view(line.data(), line.size()), ' ')) {
    f.emplace_back(part.data(), part.size());
  }
  out->length = end + 2;
  out->source.clear();
  if (f.size() >= 2 && f[1] == "UNKNOWN") return ProxyParse::kDone;  // the rest is ignored
  if (f.size() != 6 || (f[1] != "TCP4" && f[1] != "TCP6")) {
    return Fail(error, "v1 header is not 'PROXY TCP4|TCP6 src dst sport dport'");
  }
  const int family = f[1] == "TCP4" ? AF_INET : AF_INET6;
  unsigned char addr[16];
  uint16_t sport = 0;
  uint16_t dport = 0;
  for (int i : {2, 3}) {
    const std::string ip(f[i]);
    if (inet_pton(family, ip.c_str(), addr) != 1) {
      return Fail(error, absl::StrCat("v1 address '", ip, "' is not ", std::string(f[1])));
    }
  }
  if (!ParsePort(f[4], &sport) || !ParsePort(f[5], &dport)) {
    return Fail(error, "v1 port is not a number 0-65535");
  }
  out->source = absl::StrCat(std::string(f[2]), ":", sport);
  return ProxyParse::kDone;
}

ProxyParse ParseV2(std::string_view input, ProxyHeader* out, std::string* error) {
  if (input.size() < 16) return ProxyParse::kNeedMore;
  const auto* b = reinterpret_cast<const unsigned char*>(input.data());
  if ((b[12] >> 4) != 2) return Fail(error, "v2 version is not 2");
  const int command = b[12] & 0x0f;
  if (command > 1) return Fail(error, "v2 command is neither LOCAL nor PROXY");
  const size_t len = (static_cast<size_t>(b[14]) << 8) | b[15];
  if (len > kProxyV2MaxAddressBytes) return Fail(error, "v2 address block too long");
  if (input.size() < 16 + len) return ProxyParse::kNeedMore;
  out->length = 16 + len;
  out->source.clear();
  if (command == 0) return ProxyParse::kDone;  // LOCAL: the balancer's own connection
  const int family = b[13] >> 4;
  const int transport = b[13] & 0x0f;
  const unsigned char* a = b + 16;
  char ip[INET6_ADDRSTRLEN] = {0};
  if (family == 1) {  // AF_INET: src 4, dst 4, sport 2, dport 2
    if (len < 12) return Fail(error, "v2 IPv4 address block shorter than 12 bytes");
    inet_ntop(AF_INET, a, ip, sizeof(ip));
    if (transport == 1) out->source = absl::StrCat(ip, ":", (a[8] << 8) | a[9]);
  } else if (family == 2) {  // AF_INET6: src 16, dst 16, sport 2, dport 2
    if (len < 36) return Fail(error, "v2 IPv6 address block shorter than 36 bytes");
    inet_ntop(AF_INET6, a, ip, sizeof(ip));
    if (transport == 1) out->source = absl::StrCat(ip, ":", (a[32] << 8) | a[33]);
  } else if (family > 3) {
    return Fail(error, "v2 address family unknown");
  }
  // UNSPEC, AF_UNIX and UDP: accepted, the socket's address stays.
  return ProxyParse::kDone;
}

}  // namespace

ProxyParse ParseProxyHeader(std::string_view input, ProxyHeader* out, std::string* error) {
  if (input.empty()) return ProxyParse::kNeedMore;
  if (Compatible(input, kV2Signature)) {
    return input.size() < kV2Signature.size() ? ProxyParse::kNeedMore : ParseV2(input, out, error);
  }
  if (Compatible(input, kV1Prefix)) {
    return input.size() < kV1Prefix.size() ? ProxyParse::kNeedMore : ParseV1(input, out, error);
  }
  return Fail(error, "the connection does not start with a v1 or v2 header");
}

}  // namespace tessera::gateway
