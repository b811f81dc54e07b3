// The RESP request parser of the shard's Redis listener (multibulk and inline requests, Redis's
// limits and error texts) and the RESP2 reply encoders. The full RESP2/3 codec lands in common/.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace tessera::shard {

struct RequestLimits {
  size_t max_bulk_length = size_t{512} << 20;  // proto-max-bulk-len
  int64_t max_multibulk_count = 1 << 20;
  size_t max_inline_size = size_t{64} << 10;  // also bounds a header line still without CRLF
};

// Incremental: Parse consumes whole lines and whole bulk payloads from the front of the input
// and keeps a multibulk command's finished arguments across calls, so consumed bytes are never
// read again. After an error the parser stays failed; the connection must be closed.
class RequestParser {
 public:
  enum class Result { kCommand, kNeedMore, kError };

  explicit RequestParser(RequestLimits limits = {}) : limits_(limits) {}

  // kCommand: `*argv` is one non-empty command. kNeedMore: every complete part was consumed.
  // kError: error() is the reply text, e.g. "ERR Protocol error: invalid bulk length".
  // `*consumed` is always set to the number of bytes of `input` to drop.
  Result Parse(std::string_view input, size_t* consumed, std::vector<std::string>* argv);

  const std::string& error() const { return error_; }

 private:
  Result Fail(std::string error);
  Result ParseInline(std::string_view input, size_t* pos, std::vector<std::string>* argv);

  const RequestLimits limits_;
  bool in_multibulk_ = false;
  int64_t multibulk_remaining_ = 0;
  int64_t bulk_length_ = -1;  // -1: the next `$` line has not been read
  std::vector<std::string> args_;
  std::string error_;
};

// Splits an inline request like Redis's sdssplitargs: spaces separate arguments; "double
// quotes" take \n \r \t \b \a \\ \" \xHH escapes; 'single quotes' take \'. False on unbalanced
// quotes or a closing quote not followed by a space.
bool SplitInlineArgs(std::string_view line, std::vector<std::string>* argv);

// Reply encoders (RESP2). Simple strings and errors have CR/LF replaced by spaces; an error's
// text starts with its code, e.g. "ERR syntax error".
void AppendSimpleString(std::string* out, std::string_view s);
void AppendError(std::string* out, std::string_view s);
void AppendInteger(std::string* out, int64_t v);
void AppendBulk(std::string* out, std::string_view s);
void AppendNullBulk(std::string* out);
void AppendArrayHeader(std::string* out, size_t count);

}  // namespace tessera::shard
