// Pins the peers and bootstrap record formats of spec/membership.md §3: golden bytes,
// round trips, and every kPeersRecordCorrupt rule on hand-crafted bytes.
#include "shard/membership/peers_record.h"

#include <gtest/gtest.h>

#include <string>

#include "common/crc32c.h"
#include "shard/config/config_errc.h"

namespace tessera::shard {
namespace {

constexpr std::string_view kGoldenHex =
    "54535250454552530001000000000000002a0000000208b37b07b558d4c00000026e31000d31302e302e302e313a"
    "35303531"
    "08b37e07b558d9d90100026e32000d31302e302e302e323a35303531c5d3af53";

std::string FromHex(std::string_view hex) {
  std::string out;
  for (size_t i = 0; i + 1 < hex.size(); i += 2) {
    out.push_back(static_cast<char>(std::stoi(std::string(hex.substr(i, 2)), nullptr, 16)));
  }
  return out;
}

std::string ToHex(std::string_view bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  for (char c : bytes) {
    out.push_back(kDigits[static_cast<uint8_t>(c) >> 4]);
    out.push_back(kDigits[static_cast<uint8_t>(c) & 0xF]);
  }
  return out;
}

Server Peer(std::string raft_id, std::string address, bool voter = true) {
  return Server{DeriveNodeId(raft_id), std::move(raft_id), std::move(address), voter};
}

// Hand-crafting helpers: big-endian fields, then a correct CRC so only the rule under test
// can fail.
void PutBe(std::string* out, uint64_t v, int bytes) {
  for (int i = bytes - 1; i >= 0; --i) out->push_back(static_cast<char>(v >> (8 * i)));
}

void PutPeer(std::string* out, uint64_t node_id, uint8_t suffrage, std::string_view raft_id,
             std::string_view address) {
  PutBe(out, node_id, 8);
  out->push_back(static_cast<char>(suffrage));
  PutBe(out, raft_id.size(), 2);
  out->append(raft_id);
  PutBe(out, address.size(), 2);
  out->append(address);
}

std::string PeersHeader(uint16_t version, uint64_t index, uint32_t count) {
  std::string out("TSRPEERS");
  PutBe(&out, version, 2);
  PutBe(&out, index, 8);
  PutBe(&out, count, 4);
  return out;
}

std::string WithCrc(std::string body) {
  PutBe(&body, common::Crc32c(body), 4);
  return body;
}

void ExpectCorrupt(std::string_view bytes, std::string_view reason) {
  absl::StatusOr<PeersRecord> decoded = DecodePeersRecord(bytes);
  ASSERT_FALSE(decoded.ok());
  EXPECT_EQ(GetConfigErrc(decoded.status()), ConfigErrc::kPeersRecordCorrupt) << decoded.status();
  EXPECT_NE(decoded.status().message().find(absl::string_view(reason.data(), reason.size())),
            absl::string_view::npos)
      << decoded.status();
}

PeersRecord GoldenRecord() {
  return PeersRecord{42, {Peer("n1", "10.0.0.1:5051"), Peer("n2", "10.0.0.2:5051", false)}};
}

TEST(PeersRecordTest, GoldenBytes) {
  const std::string golden = FromHex(kGoldenHex);
  ASSERT_EQ(golden.size(), 82u);
  const std::string encoded = EncodePeersRecord(GoldenRecord());
  EXPECT_EQ(ToHex(encoded), kGoldenHex);

  absl::StatusOr<PeersRecord> decoded = DecodePeersRecord(golden);
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  EXPECT_EQ(*decoded, GoldenRecord());
  EXPECT_EQ(decoded->peers[0].node_id, 0x08b37b07b558d4c0ULL);
  EXPECT_TRUE(decoded->peers[0].voter);
  EXPECT_FALSE(decoded->peers[1].voter);
}

TEST(PeersRecordTest, RoundTripMixedSuffrage) {
  PeersRecord record{
      7,
      {Peer("n3", "[2001:db8::3]:5051", false), Peer("n1", "shard-1.example.com:5051"),
       Peer("learner.x_y-z", "10.0.0.9:65535", false), Peer("n2", "10.0.0.2:1")}};
  absl::StatusOr<PeersRecord> decoded = DecodePeersRecord(EncodePeersRecord(record));
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  EXPECT_EQ(decoded->index, 7u);
  ASSERT_EQ(decoded->peers.size(), 4u);
  // The writer sorts by node_id; suffrage survives per peer.
  for (size_t i = 1; i < decoded->peers.size(); ++i) {
    EXPECT_LT(decoded->peers[i - 1].node_id, decoded->peers[i].node_id);
  }
  for (const Server& original : record.peers) {
    bool found = false;
    for (const Server& s : decoded->peers) {
      if (s.raft_id == original.raft_id) {
        EXPECT_EQ(s, original);
        found = true;
      }
    }
    EXPECT_TRUE(found) << original.raft_id;
  }
}

TEST(PeersRecordTest, RoundTripEmptyAndLimits) {
  PeersRecord empty{0, {}};
  absl::StatusOr<PeersRecord> decoded = DecodePeersRecord(EncodePeersRecord(empty));
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  EXPECT_EQ(*decoded, empty);

  PeersRecord limits{UINT64_MAX, {Peer(std::string(64, 'a'), std::string(253, 'h') + ":1")}};
  ASSERT_EQ(limits.peers[0].address.size(), 255u);
  decoded = DecodePeersRecord(EncodePeersRecord(limits));
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  EXPECT_EQ(*decoded, limits);

  PeersRecord many{1, {}};
  for (int i = 0; i < 1024; ++i) {
    many.peers.push_back(Peer("n" + std::to_string(i), "10.0.0.1:" + std::to_string(i + 1)));
  }
  decoded = DecodePeersRecord(EncodePeersRecord(many));
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  EXPECT_EQ(decoded->peers.size(), 1024u);
}

TEST(PeersRecordTest, WriterAlwaysEmitsCurrentVersion) {
  const std::string encoded = EncodePeersRecord(GoldenRecord());
  ASSERT_GE(encoded.size(), 10u);
  EXPECT_EQ(encoded.substr(0, 8), "TSRPEERS");
  EXPECT_EQ(static_cast<uint8_t>(encoded[8]), 0);
  EXPECT_EQ(static_cast<uint8_t>(encoded[9]), kPeersRecordVersion);
  EXPECT_EQ(kPeersRecordVersion, 1);
  // Empty too, and whatever the peers' order in memory.
  PeersRecord reversed = GoldenRecord();
  std::swap(reversed.peers[0], reversed.peers[1]);
  EXPECT_EQ(EncodePeersRecord(reversed), encoded);
  EXPECT_EQ(EncodePeersRecord(PeersRecord{}).substr(8, 2), std::string("\x00\x01", 2));
}

TEST(PeersRecordTest, UnknownVersionRejected) {
  for (uint16_t version : {0, 2, 0xFFFF}) {
    std::string body = PeersHeader(version, 42, 1);
    PutPeer(&body, DeriveNodeId("n1"), 0, "n1", "10.0.0.1:5051");
    ExpectCorrupt(WithCrc(body), "unknown version");
  }
}

TEST(PeersRecordTest, UnknownSuffrageRejected) {
  for (uint8_t suffrage : {0xFF, 0x02}) {
    std::string body = PeersHeader(1, 42, 1);
    PutPeer(&body, DeriveNodeId("n1"), suffrage, "n1", "10.0.0.1:5051");
    ExpectCorrupt(WithCrc(body), "unknown suffrage");
  }
  std::string body = PeersHeader(1, 42, 1);
  PutPeer(&body, DeriveNodeId("n1"), 0xFF, "n1", "10.0.0.1:5051");
  ExpectCorrupt(WithCrc(body), "0xFF");
}

TEST(PeersRecordTest, CountAbove1024Rejected) {
  ExpectCorrupt(WithCrc(PeersHeader(1, 42, 1025)), "count 1025");
  ExpectCorrupt(WithCrc(PeersHeader(1, 42, 0xFFFFFFFF)), "count 4294967295");
}

TEST(PeersRecordTest, CrcMismatchRejected) {
  std::string golden = FromHex(kGoldenHex);
  golden.back() ^= 0x01;
  ExpectCorrupt(golden, "crc32c mismatch");
  // A flipped payload byte (the index) with the old CRC.
  golden = FromHex(kGoldenHex);
  golden[17] ^= 0x01;
  ExpectCorrupt(golden, "crc32c mismatch");
}

TEST(PeersRecordTest, NodeIdMismatchRejected) {
  std::string body = PeersHeader(1, 42, 1);
  PutPeer(&body, DeriveNodeId("n2"), 0, "n1", "10.0.0.1:5051");
  ExpectCorrupt(WithCrc(body), "DeriveNodeId");
}

TEST(PeersRecordTest, StructuralDamageRejected) {
  const std::string golden = FromHex(kGoldenHex);
  ExpectCorrupt("", "too short");
  ExpectCorrupt(golden.substr(0, 20), "too short");
  std::string bad_magic = golden;
  bad_magic[0] = 'X';
  ExpectCorrupt(bad_magic, "wrong magic");

  // Count says 3, two peers present: overrun.
  std::string body = PeersHeader(1, 42, 3);
  PutPeer(&body, DeriveNodeId("n1"), 0, "n1", "10.0.0.1:5051");
  PutPeer(&body, DeriveNodeId("n2"), 1, "n2", "10.0.0.2:5051");
  ExpectCorrupt(WithCrc(body), "overruns");

  // Count says 1, two peers present: trailing bytes.
  body = PeersHeader(1, 42, 1);
  PutPeer(&body, DeriveNodeId("n1"), 0, "n1", "10.0.0.1:5051");
  PutPeer(&body, DeriveNodeId("n2"), 1, "n2", "10.0.0.2:5051");
  ExpectCorrupt(WithCrc(body), "trailing bytes");

  // raft_id_len / addr_len outside their ranges.
  body = PeersHeader(1, 42, 1);
  PutPeer(&body, DeriveNodeId(""), 0, "", "10.0.0.1:5051");
  ExpectCorrupt(WithCrc(body), "raft_id_len 0");
  body = PeersHeader(1, 42, 1);
  PutPeer(&body, DeriveNodeId(std::string(65, 'a')), 0, std::string(65, 'a'), "h:1");
  ExpectCorrupt(WithCrc(body), "raft_id_len 65");
  body = PeersHeader(1, 42, 1);
  PutPeer(&body, DeriveNodeId("n1"), 0, "n1", "");
  ExpectCorrupt(WithCrc(body), "addr_len 0");
  body = PeersHeader(1, 42, 1);
  PutPeer(&body, DeriveNodeId("n1"), 0, "n1", std::string(256, 'h'));
  ExpectCorrupt(WithCrc(body), "addr_len 256");

  // Peers out of node_id order (n2 sorts after n1).
  body = PeersHeader(1, 42, 2);
  PutPeer(&body, DeriveNodeId("n2"), 0, "n2", "10.0.0.2:5051");
  PutPeer(&body, DeriveNodeId("n1"), 0, "n1", "10.0.0.1:5051");
  ExpectCorrupt(WithCrc(body), "ascending");
}

std::vector<Server> ThreeVoters() {
  return {Peer("n1", "10.0.0.1:5051"), Peer("n2", "10.0.0.2:5051"), Peer("n3", "10.0.0.3:5051")};
}

TEST(BootstrapRecordTest, RoundTrip) {
  BootstrapRecord record{3, ThreeVoters(), {}};
  const std::string encoded = EncodeBootstrapRecord(record);
  EXPECT_EQ(encoded.substr(0, 8), "TSRBOOT1");
  absl::StatusOr<BootstrapRecord> decoded = DecodeBootstrapRecord(encoded);
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  EXPECT_EQ(decoded->bootstrap_index, 3u);
  EXPECT_EQ(decoded->list_hash, ListHash(ThreeVoters()));
  ASSERT_EQ(decoded->voters.size(), 3u);
  for (size_t i = 1; i < decoded->voters.size(); ++i) {
    EXPECT_LT(decoded->voters[i - 1].node_id, decoded->voters[i].node_id);
  }
  // Layout: magic ‖ index ‖ hash ‖ the peers' per-peer bytes (as in the peers record) ‖ crc.
  const std::string peers_record = EncodePeersRecord(PeersRecord{0, ThreeVoters()});
  const std::string peer_bytes = peers_record.substr(22, peers_record.size() - 22 - 4);
  EXPECT_EQ(encoded.size(), 8 + 8 + 16 + peer_bytes.size() + 4);
  EXPECT_EQ(encoded.substr(32, peer_bytes.size()), peer_bytes);
  EXPECT_EQ(encoded.substr(8, 8), std::string("\0\0\0\0\0\0\0\x03", 8));
  const ListHashBytes hash = ListHash(ThreeVoters());
  EXPECT_EQ(encoded.substr(16, 16), std::string(reinterpret_cast<const char*>(hash.data()), 16));

  // Single-node bootstrap list.
  decoded = DecodeBootstrapRecord(EncodeBootstrapRecord({1, {Peer("n1", "h:1")}, {}}));
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  EXPECT_EQ(decoded->voters, std::vector<Server>{Peer("n1", "h:1")});
}

TEST(BootstrapRecordTest, ListHashIsOrderIndependentAndSensitive) {
  std::vector<Server> voters = ThreeVoters();
  const ListHashBytes hash = ListHash(voters);
  std::swap(voters[0], voters[2]);
  EXPECT_EQ(ListHash(voters), hash);
  // Any change of id, address or membership changes the hash.
  voters[0].address = "10.0.0.3:5052";
  EXPECT_NE(ListHash(voters), hash);
  EXPECT_NE(ListHash({Peer("n1", "10.0.0.1:5051"), Peer("n2", "10.0.0.2:5051")}), hash);
  EXPECT_NE(ListHash({Peer("n1", "10.0.0.1:5051"), Peer("n2", "10.0.0.2:5051"),
                      Peer("n4", "10.0.0.3:5051")}),
            hash);
  EXPECT_EQ(ListHashHex(hash).size(), 32u);
  EXPECT_EQ(ListHashHex(ListHashBytes{0x00, 0x01, 0xab, 0xff}), "0001abff000000000000000000000000");
}

TEST(BootstrapRecordTest, HashIsBlake2b128OfThePeerBytes) {
  // BLAKE2b-128 of the empty input (RFC 7693 parameters, outlen 16).
  EXPECT_EQ(ListHashHex(ListHash({})), "cae66941d9efbd404e4d88758ea67670");
  // Pinned from an independent implementation (Python hashlib.blake2b, digest_size=16) over
  // the per-peer encodings of n1..n3 sorted by node_id.
  EXPECT_EQ(ListHashHex(ListHash(ThreeVoters())), "a0bc21d15faeea9af7e834ef6fcd1646");
}

TEST(BootstrapRecordTest, CorruptionRejected) {
  const std::string good = EncodeBootstrapRecord({3, ThreeVoters(), {}});
  auto expect_corrupt = [](std::string_view bytes, std::string_view reason) {
    absl::StatusOr<BootstrapRecord> decoded = DecodeBootstrapRecord(bytes);
    ASSERT_FALSE(decoded.ok());
    EXPECT_EQ(GetConfigErrc(decoded.status()), ConfigErrc::kPeersRecordCorrupt);
    EXPECT_NE(decoded.status().message().find("bootstrap record"), absl::string_view::npos);
    EXPECT_NE(decoded.status().message().find(absl::string_view(reason.data(), reason.size())),
              absl::string_view::npos)
        << decoded.status();
  };
  std::string bad = good;
  bad.back() ^= 1;
  expect_corrupt(bad, "crc32c mismatch");
  bad = good;
  bad[3] = 'X';
  expect_corrupt(bad, "wrong magic");
  expect_corrupt(good.substr(0, 30), "too short");

  // A hash that does not match the list, with a valid CRC.
  bad = good.substr(0, good.size() - 4);
  bad[16] ^= 1;
  expect_corrupt(WithCrc(bad), "list_hash");

  // A learner entry.
  std::string body("TSRBOOT1");
  PutBe(&body, 3, 8);
  body.append(16, '\0');
  PutPeer(&body, DeriveNodeId("n1"), 1, "n1", "10.0.0.1:5051");
  expect_corrupt(WithCrc(body), "learner");

  // A truncated peer.
  body = good.substr(0, good.size() - 4 - 3);
  expect_corrupt(WithCrc(body), "overruns");

  // No voters at all.
  body = "TSRBOOT1";
  PutBe(&body, 3, 8);
  body.append(16, '\0');
  expect_corrupt(WithCrc(body), "empty");
}

}  // namespace
}  // namespace tessera::shard
