// data::Reply rendered as RESP2 or RESP3 bytes for one client (HELLO picks the protocol),
// through the common RESP writer.
#pragma once

#include <string>

#include "common/resp.h"
#include "shard/data/reply.h"

namespace tessera::shard::data {

class RespReply final : public Reply {
 public:
  // `protocol` is 2 or 3; bytes are appended to `out`, which must outlive this.
  RespReply(int protocol, std::string* out)
      : writer_(out,
                protocol >= 3 ? common::resp::Protocol::kResp3 : common::resp::Protocol::kResp2) {}

  void SimpleString(std::string_view s) override { writer_.SimpleString(s); }
  void Error(std::string_view text) override { writer_.Error(text); }
  void Integer(int64_t v) override { writer_.Integer(v); }
  void Bulk(std::string_view s) override { writer_.Bulk(s); }
  void Null() override { writer_.Null(); }
  void NullArray() override { writer_.NullArray(); }
  void ArrayHeader(size_t n) override { writer_.ArrayHeader(n); }
  void MapHeader(size_t n) override { writer_.MapHeader(n); }
  void SetHeader(size_t n) override { writer_.SetHeader(n); }
  void Double(double v) override { writer_.Double(v); }
  void Verbatim(std::string_view text) { writer_.Verbatim(text); }
  int protocol() const override {
    return writer_.protocol() == common::resp::Protocol::kResp3 ? 3 : 2;
  }
  // HELLO switches the protocol for its own reply onwards.
  void set_protocol(int protocol) {
    writer_.set_protocol(protocol >= 3 ? common::resp::Protocol::kResp3
                                       : common::resp::Protocol::kResp2);
  }

 private:
  common::resp::ReplyWriter writer_;
};

}  // namespace tessera::shard::data
