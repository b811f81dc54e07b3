// hiredis's reader with the gateway's reply functions: every reply type comes back as its
// RESP2 bytes with the root type, integer, error text and top-level element boundaries.
#include "gateway/upstream_reply.h"

#include <gtest/gtest.h>
#include <hiredis/read.h>

#include <memory>
#include <string>

namespace tessera::gateway {
namespace {

struct ReaderDeleter {
  void operator()(redisReader* r) const { redisReaderFree(r); }
};

class UpstreamReplyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    reader_.reset(redisReaderCreate());
    UseUpstreamReplies(reader_.get());
  }
  // Feeds `bytes` (in two pieces, to cross a read boundary) and takes one reply.
  std::unique_ptr<UpstreamReply> Read(const std::string& bytes) {
    const size_t half = bytes.size() / 2;
    EXPECT_EQ(redisReaderFeed(reader_.get(), bytes.data(), half), REDIS_OK);
    void* reply = nullptr;
    EXPECT_EQ(redisReaderGetReply(reader_.get(), &reply), REDIS_OK);
    if (reply != nullptr) {  // the first half was already a whole reply
      ADD_FAILURE() << "reply before all bytes arrived";
      return nullptr;
    }
    EXPECT_EQ(redisReaderFeed(reader_.get(), bytes.data() + half, bytes.size() - half), REDIS_OK);
    EXPECT_EQ(redisReaderGetReply(reader_.get(), &reply), REDIS_OK);
    return std::unique_ptr<UpstreamReply>(static_cast<UpstreamReply*>(reply));
  }

  std::unique_ptr<redisReader, ReaderDeleter> reader_;
};

TEST_F(UpstreamReplyTest, ScalarsKeepTheirBytes) {
  auto ok = Read("+OK\r\n");
  ASSERT_NE(ok, nullptr);
  EXPECT_EQ(ok->type(), REDIS_REPLY_STATUS);
  EXPECT_EQ(ok->bytes, "+OK\r\n");
  EXPECT_EQ(ok->text(), "OK");

  auto err = Read("-MOVED 12 127.0.0.1:7001\r\n");
  EXPECT_TRUE(err->is_error());
  EXPECT_EQ(err->text(), "MOVED 12 127.0.0.1:7001");

  auto n = Read(":-42\r\n");
  EXPECT_EQ(n->type(), REDIS_REPLY_INTEGER);
  EXPECT_EQ(n->integer(), -42);
  EXPECT_EQ(n->bytes, ":-42\r\n");

  auto bulk = Read("$5\r\nhe\r\no\r\n");
  EXPECT_EQ(bulk->type(), REDIS_REPLY_STRING);
  EXPECT_EQ(bulk->bytes, "$5\r\nhe\r\no\r\n");

  EXPECT_EQ(Read("$-1\r\n")->bytes, "$-1\r\n");
  EXPECT_EQ(Read("*-1\r\n")->bytes, "*-1\r\n");
  EXPECT_EQ(Read("*-1\r\n")->type(), REDIS_REPLY_NIL);
}

TEST_F(UpstreamReplyTest, ArraysRecordTopLevelElements) {
  const std::string bytes = "*3\r\n$1\r\na\r\n*2\r\n:1\r\n$-1\r\n*0\r\n";
  auto r = Read(bytes);
  ASSERT_NE(r, nullptr);
  EXPECT_EQ(r->type(), REDIS_REPLY_ARRAY);
  EXPECT_EQ(r->bytes, bytes);
  ASSERT_EQ(r->elements.size(), 3u);
  EXPECT_EQ(r->Element(0), "$1\r\na\r\n");
  EXPECT_EQ(r->Element(1), "*2\r\n:1\r\n$-1\r\n");
  EXPECT_EQ(r->Element(2), "*0\r\n");
}

TEST_F(UpstreamReplyTest, ErrorReplyMadeLocally) {
  auto r = MakeErrorReply("TRYAGAIN later");
  EXPECT_TRUE(r->is_error());
  EXPECT_EQ(r->bytes, "-TRYAGAIN later\r\n");
  EXPECT_EQ(r->text(), "TRYAGAIN later");
}

}  // namespace
}  // namespace tessera::gateway
