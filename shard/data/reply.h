// How a command answers: protocol-neutral calls that the Redis listener turns into RESP2 or
// RESP3 for the client that asked (the leader's apply and read paths), or that are dropped
// (every other replica's apply).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace tessera::shard::data {

class Reply {
 public:
  virtual ~Reply() = default;
  virtual void SimpleString(std::string_view s) = 0;
  // `text` starts with the error code, e.g. "ERR syntax error", "WRONGTYPE Operation ...".
  virtual void Error(std::string_view text) = 0;
  virtual void Integer(int64_t v) = 0;
  virtual void Bulk(std::string_view s) = 0;
  virtual void Null() = 0;       // nil bulk (RESP2 $-1, RESP3 _)
  virtual void NullArray() = 0;  // nil multibulk (RESP2 *-1, RESP3 _)
  virtual void ArrayHeader(size_t n) = 0;
  virtual void MapHeader(size_t n) = 0;  // n key/value pairs (RESP2: flat array of 2n)
  virtual void SetHeader(size_t n) = 0;  // RESP2: array
  virtual void Double(double v) = 0;     // RESP3 double, RESP2 bulk string like Redis

  // The client's RESP version (2 or 3): Redis 7.0 nests some pairs only for RESP3 clients
  // (WITHSCORES, HRANDFIELD WITHVALUES).
  virtual int protocol() const { return 2; }

  void Ok() { SimpleString("OK"); }
};

// Discards everything: replicas other than the proposer apply without answering anyone.
class NullReply final : public Reply {
 public:
  void SimpleString(std::string_view) override {}
  void Error(std::string_view) override {}
  void Integer(int64_t) override {}
  void Bulk(std::string_view) override {}
  void Null() override {}
  void NullArray() override {}
  void ArrayHeader(size_t) override {}
  void MapHeader(size_t) override {}
  void SetHeader(size_t) override {}
  void Double(double) override {}
};

// Redis's shared error texts.
inline constexpr std::string_view kWrongTypeError =
    "WRONGTYPE Operation against a key holding the wrong kind of value";
inline constexpr std::string_view kSyntaxError = "ERR syntax error";
inline constexpr std::string_view kNotIntegerError = "ERR value is not an integer or out of range";
inline constexpr std::string_view kNotFloatError = "ERR value is not a valid float";

}  // namespace tessera::shard::data
