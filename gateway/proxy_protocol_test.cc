// PROXY protocol headers: v1 and v2 accepted byte by byte, their client address taken,
// malformed ones refused with a reason.
#include "gateway/proxy_protocol.h"

#include <gtest/gtest.h>

#include <string>

namespace tessera::gateway {
namespace {

const std::string kSig("\r\n\r\n\0\r\nQUIT\n", 12);

ProxyParse Parse(const std::string& in, ProxyHeader* h, std::string* err) {
  return ParseProxyHeader(in, h, err);
}

// Every proper prefix needs more; the whole header is done with `source`.
void ExpectHeader(const std::string& header, const std::string& source) {
  ProxyHeader h;
  std::string err;
  for (size_t n = 0; n < header.size(); ++n) {
    ASSERT_EQ(Parse(header.substr(0, n), &h, &err), ProxyParse::kNeedMore) << n << " " << err;
  }
  ASSERT_EQ(Parse(header + "*1\r\n$4\r\nPING\r\n", &h, &err), ProxyParse::kDone) << err;
  EXPECT_EQ(h.length, header.size());
  EXPECT_EQ(h.source, source);
}

void ExpectError(const std::string& input, const std::string& why) {
  ProxyHeader h;
  std::string err;
  EXPECT_EQ(Parse(input, &h, &err), ProxyParse::kError) << input;
  EXPECT_NE(err.find(why), std::string::npos) << err;
}

std::string V2(unsigned char ver_cmd, unsigned char fam, const std::string& addr) {
  std::string h = kSig;
  h += static_cast<char>(ver_cmd);
  h += static_cast<char>(fam);
  h += static_cast<char>(addr.size() >> 8);
  h += static_cast<char>(addr.size() & 0xff);
  return h + addr;
}

TEST(ProxyProtocolTest, V1Tcp4Tcp6AndUnknown) {
  ExpectHeader("PROXY TCP4 192.0.2.7 10.0.0.1 56324 6379\r\n", "192.0.2.7:56324");
  ExpectHeader("PROXY TCP6 2001:db8::1 2001:db8::2 4000 6379\r\n", "2001:db8::1:4000");
  ExpectHeader("PROXY UNKNOWN\r\n", "");
  ExpectHeader("PROXY UNKNOWN ffff::1 ffff::2 1 2\r\n", "");
}

TEST(ProxyProtocolTest, V1Refusals) {
  ExpectError("GET k\r\n", "does not start with a v1 or v2 header");
  ExpectError("*1\r\n$4\r\nPING\r\n", "does not start");
  ExpectError("PROXY TCP4 192.0.2.7 10.0.0.1 56324\r\n", "is not 'PROXY TCP4|TCP6");
  ExpectError("PROXY UDP4 192.0.2.7 10.0.0.1 1 2\r\n", "is not 'PROXY TCP4|TCP6");
  ExpectError("PROXY TCP4 300.0.2.7 10.0.0.1 1 2\r\n", "is not TCP4");
  ExpectError("PROXY TCP4 2001:db8::1 10.0.0.1 1 2\r\n", "is not TCP4");
  ExpectError("PROXY TCP4 192.0.2.7 10.0.0.1 70000 2\r\n", "port");
  ExpectError("PROXY TCP4 192.0.2.7 10.0.0.1 -1 2\r\n", "port");
  ExpectError("PROXY " + std::string(200, 'x'), "longer than 107 bytes");
}

TEST(ProxyProtocolTest, V2ProxyLocalAndOtherFamilies) {
  // TCP over IPv4: 192.0.2.7:56324 -> 10.0.0.1:6379.
  const std::string v4("\xc0\x00\x02\x07\x0a\x00\x00\x01\xdc\x04\x18\xeb", 12);
  ExpectHeader(V2(0x21, 0x11, v4), "192.0.2.7:56324");
  // With a TLV after the addresses (skipped by length).
  ExpectHeader(V2(0x21, 0x11, v4 + std::string("\x04\x00\x01\x00", 4)), "192.0.2.7:56324");
  std::string v6(36, '\0');
  v6[0] = '\x20';
  v6[1] = '\x01';
  v6[2] = '\x0d';
  v6[3] = '\xb8';
  v6[15] = '\x01';
  v6[32] = '\x0f';
  v6[33] = '\xa0';
  ExpectHeader(V2(0x21, 0x21, v6), "2001:db8::1:4000");
  ExpectHeader(V2(0x20, 0x00, ""), "");                     // LOCAL: health check of the balancer
  ExpectHeader(V2(0x21, 0x00, ""), "");                     // UNSPEC
  ExpectHeader(V2(0x21, 0x12, v4), "");                     // UDP: the socket's address stays
  ExpectHeader(V2(0x21, 0x31, std::string(216, 'u')), "");  // AF_UNIX
}

TEST(ProxyProtocolTest, V2Refusals) {
  const std::string v4(12, '\x01');
  ExpectError(V2(0x11, 0x11, v4), "version is not 2");
  ExpectError(V2(0x22, 0x11, v4), "neither LOCAL nor PROXY");
  ExpectError(V2(0x21, 0x11, std::string(8, '\x01')), "shorter than 12 bytes");
  ExpectError(V2(0x21, 0x21, v4), "shorter than 36 bytes");
  ExpectError(V2(0x21, 0x41, v4), "family unknown");
  std::string big = kSig + std::string("\x21\x11\x10\x00", 4);
  ExpectError(big, "too long");
  ExpectError(std::string("\r\n\r\n\0\r\nQUIX\n", 12), "does not start");
}

}  // namespace
}  // namespace tessera::gateway
