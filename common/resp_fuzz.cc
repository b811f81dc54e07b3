// libFuzzer target of the RESP codec: input bytes are fed to the request parser whole and in
// random pieces (same commands, same error, views inside the buffer, sticky errors), and drive
// writer→reader round trips of derived values in both protocols.
#include <fuzzer/FuzzedDataProvider.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <iterator>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "common/resp.h"

namespace tessera::common::resp {
namespace {

constexpr size_t kMaxStream = 8192;
constexpr int kMaxDepth = 4;
constexpr size_t kMaxElements = 5;
constexpr uint64_t kMaxPieces[] = {1, 3, 16, 256, 8192};

using Argv = std::vector<std::string>;
using T = Value::Type;

[[noreturn]] void HarnessFatal(const char* what, std::string_view detail = {}) {
  std::fprintf(stderr, "resp fuzz harness: %s %.*s\n", what, static_cast<int>(detail.size()),
               detail.data());
  std::abort();
}

void Check(bool ok, const char* what, std::string_view detail = {}) {
  if (!ok) HarnessFatal(what, detail);
}

uint64_t SplitMix64(uint64_t* state) {
  uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

struct Outcome {
  std::vector<Argv> commands;
  bool failed = false;
  std::string error;
  std::string left;  // unconsumed bytes at the end
};

bool Within(std::string_view part, std::span<const char> region) {
  return part.data() >= region.data() && part.data() + part.size() <= region.data() + region.size();
}

// One Parse call and the invariants that hold after every call.
RequestParser::Status ParseChecked(RequestParser* parser, std::span<char> input, Outcome* out) {
  const bool failed_before = parser->failed();
  const std::string error_before = parser->error();
  const RequestParser::Status status = parser->Parse(input);
  Check(parser->consumed() <= input.size(), "consumed beyond the input");
  if (failed_before) {
    Check(status == RequestParser::Status::kError, "error not sticky");
    Check(parser->error() == error_before, "error text changed");
    Check(parser->consumed() == 0 && parser->argv().empty(), "failed parser produced output");
  }
  switch (status) {
    case RequestParser::Status::kCommand: {
      const std::span<const char> region = input.first(parser->consumed());
      Check(!parser->argv().empty(), "empty command returned");
      Check(Within(parser->raw_command(), region), "raw command outside the consumed bytes");
      Check(parser->raw_command().data() + parser->raw_command().size() ==
                input.data() + parser->consumed(),
            "raw command does not end at consumed()");
      for (const std::string_view arg : parser->argv()) {
        Check(Within(arg, parser->raw_command()), "argument outside its command", arg);
      }
      out->commands.emplace_back(parser->argv().begin(), parser->argv().end());
      Check(parser->bulk_bytes_missing() == 0, "bulk bytes missing after a command");
      break;
    }
    case RequestParser::Status::kNeedMore:
      Check(parser->argv().empty(), "argv after need-more");
      break;
    case RequestParser::Status::kError:
      Check(parser->failed() && !parser->error().empty(), "error without text");
      Check(parser->error().find_first_of("\r\n") == std::string::npos, "error text not one line");
      Check(parser->error().rfind("ERR Protocol error: ", 0) == 0, "not a protocol error",
            parser->error());
      out->failed = true;
      out->error = parser->error();
      break;
  }
  return status;
}

// The whole stream in one buffer, commands taken with subspans and nothing dropped.
Outcome ParseWhole(std::string stream, const Limits& limits) {
  RequestParser parser(limits);
  Outcome out;
  std::span<char> rest(stream);
  for (;;) {
    const RequestParser::Status status = ParseChecked(&parser, rest, &out);
    rest = rest.subspan(parser.consumed());
    if (status == RequestParser::Status::kError) {
      ParseChecked(&parser, rest, &out);  // sticky
      return out;
    }
    if (status == RequestParser::Status::kNeedMore) break;
  }
  out.left = std::string(rest.data(), rest.size());
  return out;
}

// The stream in random pieces into a buffer that drops consumed bytes, like a connection.
Outcome ParseChunked(std::string_view stream, const Limits& limits, uint64_t seed) {
  RequestParser parser(limits);
  Outcome out;
  std::string buffer;
  const uint64_t max_piece = kMaxPieces[seed % std::size(kMaxPieces)];
  size_t off = 0;
  while (off < stream.size()) {
    const size_t piece = 1 + SplitMix64(&seed) % max_piece;
    buffer.append(stream.substr(off, piece));
    off += std::min(piece, stream.size() - off);
    for (;;) {
      const RequestParser::Status status = ParseChecked(&parser, buffer, &out);
      if (status == RequestParser::Status::kError) return out;
      Check(parser.bulk_bytes_missing() <= limits.max_bulk_length + 2, "missing bulk bytes");
      buffer.erase(0, parser.consumed());
      if (status == RequestParser::Status::kNeedMore) break;
    }
  }
  out.left = buffer;
  return out;
}

std::string OneLine(std::string s) {
  for (char& c : s) {
    if (c == '\r' || c == '\n') c = ' ';
  }
  return s;
}

Value Generate(FuzzedDataProvider* fdp, int depth) {
  const int kinds = depth >= kMaxDepth ? 11 : 15;
  switch (fdp->ConsumeIntegralInRange<int>(0, kinds - 1)) {
    case 0:
      return Value::String(T::kSimpleString, OneLine(fdp->ConsumeRandomLengthString(16)));
    case 1:
      return Value::String(T::kError, OneLine(fdp->ConsumeRandomLengthString(16)));
    case 2:
      return Value::Integer(fdp->ConsumeIntegral<int64_t>());
    case 3:
      return Value::String(T::kBulk, fdp->ConsumeRandomLengthString(32));
    case 4:
      return Value::String(T::kNullBulk, "");
    case 5:
      return Value::String(T::kNullArray, "");
    case 6:
      return Value::String(T::kNull, "");
    case 7: {
      // Any bit pattern: infinities, NaNs, subnormals, negative zero.
      const uint64_t bits = fdp->ConsumeIntegral<uint64_t>();
      double d;
      static_assert(sizeof(d) == sizeof(bits));
      __builtin_memcpy(&d, &bits, sizeof(d));
      return Value::Double(d);
    }
    case 8:
      return Value::Bool(fdp->ConsumeBool());
    case 9: {
      std::string digits = fdp->ConsumeBool() ? "-" : "";
      const size_t n = fdp->ConsumeIntegralInRange<size_t>(1, 40);
      for (size_t i = 0; i < n; ++i) digits.push_back('0' + fdp->ConsumeIntegralInRange(0, 9));
      return Value::String(T::kBigNumber, digits);
    }
    case 10: {
      std::string format = fdp->ConsumeBytesAsString(3);
      format.resize(3, ' ');
      return Value::Verbatim(fdp->ConsumeRandomLengthString(32), format);
    }
    default: {
      static constexpr T kAggregates[] = {T::kArray, T::kMap, T::kSet, T::kPush};
      const T type = kAggregates[fdp->ConsumeIntegralInRange<size_t>(0, 3)];
      size_t n = fdp->ConsumeIntegralInRange<size_t>(0, kMaxElements);
      if (type == T::kMap) n *= 2;
      std::vector<Value> elements;
      for (size_t i = 0; i < n; ++i) elements.push_back(Generate(fdp, depth + 1));
      return Value::Aggregate(type, std::move(elements));
    }
  }
}

// What a client of `protocol` reads back after a server wrote `v`.
Value AsSent(const Value& v, Protocol protocol) {
  Value out = v;
  for (Value& e : out.elements) e = AsSent(e, protocol);
  if (protocol == Protocol::kResp3) {
    if (v.type == T::kNullBulk || v.type == T::kNullArray) return Value::String(T::kNull, "");
    return out;
  }
  switch (v.type) {
    case T::kNull:
      return Value::String(T::kNullBulk, "");
    case T::kDouble:
    case T::kBigNumber:
    case T::kVerbatim:
      return Value::String(T::kBulk, v.str);
    case T::kBool:
      return Value::Integer(v.boolean ? 1 : 0);
    case T::kMap:
    case T::kSet:
    case T::kPush:
      out.type = T::kArray;
      return out;
    default:
      return out;
  }
}

std::string Write(const Value& v, Protocol protocol) {
  std::string bytes;
  ReplyWriter writer(&bytes, protocol);
  WriteValue(v, &writer);
  return bytes;
}

void RoundTrip(const Value& v) {
  for (const Protocol protocol : {Protocol::kResp2, Protocol::kResp3}) {
    const std::string bytes = Write(v, protocol);
    Value read;
    const absl::StatusOr<size_t> taken = ReadReply(bytes, &read);
    Check(taken.ok(), "reader rejected writer output", bytes);
    Check(*taken == bytes.size(), "reader did not take the whole reply", bytes);
    Check(read == AsSent(v, protocol), "round trip changed the value", DescribeValue(read));
    if (!bytes.empty()) {
      const absl::StatusOr<size_t> prefix =
          ReadReply(std::string_view(bytes).substr(0, bytes.size() - 1), &read);
      Check(prefix.ok() && *prefix == 0, "a proper prefix was not incomplete", bytes);
    }
  }
}

// Whatever the reader accepts, writing it and reading it back is stable after one round.
void ReadArbitrary(std::string_view bytes) {
  Value first;
  const absl::StatusOr<size_t> taken = ReadReply(bytes, &first);
  if (!taken.ok() || *taken == 0) return;
  Check(*taken <= bytes.size(), "reader took more than it was given");
  for (const Protocol protocol : {Protocol::kResp2, Protocol::kResp3}) {
    const std::string once = Write(first, protocol);
    Value second;
    const absl::StatusOr<size_t> again = ReadReply(once, &second);
    Check(again.ok() && *again == once.size(), "reader rejected re-written reply", once);
    Check(Write(second, protocol) == once, "writer output is not a fixed point", once);
  }
}

}  // namespace
}  // namespace tessera::common::resp

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace tessera::common::resp;
  FuzzedDataProvider fdp(data, size);
  // The configuration comes from the input's last bytes, the stream from its front.
  const uint8_t config = fdp.ConsumeIntegral<uint8_t>();
  const uint64_t seed = fdp.ConsumeIntegral<uint64_t>();
  Limits limits;
  if (config & 1) {  // small limits, so inputs of a few bytes reach every limit
    limits.max_inline_length = 1 + (config >> 1) % 24;
    limits.max_bulk_length = (config >> 3) % 12;
    limits.max_multibulk_length = (config >> 5) % 6;
  }
  const std::string stream = fdp.ConsumeRandomLengthString(kMaxStream);

  const Outcome whole = ParseWhole(stream, limits);
  const Outcome chunked = ParseChunked(stream, limits, seed);
  Check(whole.commands == chunked.commands, "commands depend on read sizes");
  Check(whole.failed == chunked.failed && whole.error == chunked.error,
        "error depends on read sizes", whole.error + " | " + chunked.error);
  if (!whole.failed) Check(whole.left == chunked.left, "leftover depends on read sizes");
  Check(CheckQueryBufferLimit(whole.left.size(), limits).ok() ==
            (whole.left.size() <= limits.max_query_buffer_length),
        "query buffer limit");

  // Values derived from the same bytes, and the bytes read as a reply.
  FuzzedDataProvider values(reinterpret_cast<const uint8_t*>(stream.data()), stream.size());
  for (int i = 0; i < 4 && values.remaining_bytes() > 0; ++i) RoundTrip(Generate(&values, 0));
  ReadArbitrary(stream);

  const long double ld = static_cast<long double>(static_cast<int64_t>(seed)) / 1000.0L;
  Check(!FormatHumanLongDouble(ld).empty(), "empty long double text");
  return 0;
}
