// The RESP3 shapes of the commands whose RESP3 reply differs from RESP2 by more than nulls,
// and the reshaping itself (parse the RESP2 reply, retype, write RESP3).
#include "gateway/resp3.h"

#include <cstdlib>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"

namespace tessera::gateway {
namespace {

using common::resp::Value;
using T = Value::Type;

bool HasArg(routing::ArgvRef argv, std::string_view word) {
  for (size_t i = 1; i < argv.size(); ++i) {
    if (absl::EqualsIgnoreCase(absl::string_view(argv[i].data(), argv[i].size()),
                               absl::string_view(word.data(), word.size()))) {
      return true;
    }
  }
  return false;
}

// A RESP2 bulk holding a score, as RESP3's double (the text is what Redis formats).
Value ToDouble(const Value& v) {
  if (v.type != T::kBulk) return v;
  Value d = Value::String(T::kDouble, v.str);
  d.number = std::strtod(v.str.c_str(), nullptr);
  return d;
}

Value Pairs(const Value& flat, bool score) {
  if (flat.type != T::kArray) return flat;
  std::vector<Value> pairs;
  for (size_t i = 0; i + 1 < flat.elements.size(); i += 2) {
    pairs.push_back(Value::Aggregate(
        T::kArray,
        {flat.elements[i], score ? ToDouble(flat.elements[i + 1]) : flat.elements[i + 1]}));
  }
  return Value::Aggregate(T::kArray, std::move(pairs));
}

Value Reshape(Value v, Resp3Shape shape) {
  switch (shape) {
    case Resp3Shape::kAsIs:
      return v;
    case Resp3Shape::kMap:
      if (v.type == T::kArray) v.type = T::kMap;
      return v;
    case Resp3Shape::kSet:
      if (v.type == T::kArray) v.type = T::kSet;
      return v;
    case Resp3Shape::kDouble:
      return ToDouble(v);
    case Resp3Shape::kDoubleArray:
      for (Value& e : v.elements) e = ToDouble(e);
      return v;
    case Resp3Shape::kScorePairs:
      return Pairs(v, true);
    case Resp3Shape::kPairs:
      return Pairs(v, false);
    case Resp3Shape::kScoreLast:
      if (v.type == T::kArray && !v.elements.empty())
        v.elements.back() = ToDouble(v.elements.back());
      return v;
  }
  return v;
}

}  // namespace

Resp3Shape ShapeFor(const routing::CommandSpec& spec, routing::ArgvRef argv) {
  const std::string& name = spec.full_name;
  if (name == "hgetall" || name == "config|get") return Resp3Shape::kMap;
  if (name == "smembers" || name == "sinter" || name == "sunion" || name == "sdiff") {
    return Resp3Shape::kSet;
  }
  if (name == "spop") return argv.size() > 2 ? Resp3Shape::kSet : Resp3Shape::kAsIs;
  if (name == "zscore" || name == "zincrby") return Resp3Shape::kDouble;
  if (name == "zadd") return HasArg(argv, "incr") ? Resp3Shape::kDouble : Resp3Shape::kAsIs;
  if (name == "zmscore") return Resp3Shape::kDoubleArray;
  if (name == "zrange" || name == "zrangebyscore" || name == "zrevrangebyscore" ||
      name == "zrevrange" || name == "zrandmember") {
    return HasArg(argv, "withscores") ? Resp3Shape::kScorePairs : Resp3Shape::kAsIs;
  }
  if (name == "zpopmin" || name == "zpopmax") {
    return argv.size() > 2 ? Resp3Shape::kScorePairs : Resp3Shape::kScoreLast;
  }
  if (name == "bzpopmin" || name == "bzpopmax") return Resp3Shape::kScoreLast;
  if (name == "hrandfield")
    return HasArg(argv, "withvalues") ? Resp3Shape::kPairs : Resp3Shape::kAsIs;
  return Resp3Shape::kAsIs;
}

void RenderReply(std::string_view resp2, common::resp::Protocol protocol, Resp3Shape shape,
                 std::string* out) {
  const bool plain = !resp2.empty() && (resp2[0] == '+' || resp2[0] == '-' || resp2[0] == ':' ||
                                        (resp2[0] == '$' && resp2.size() > 1 && resp2[1] != '-'));
  if (protocol == common::resp::Protocol::kResp2 || (shape == Resp3Shape::kAsIs && plain)) {
    out->append(resp2);
    return;
  }
  Value v;
  absl::StatusOr<size_t> n = common::resp::ReadReply(resp2, &v);
  if (!n.ok() || *n != resp2.size()) {
    out->append(resp2);  // not one RESP2 reply: nothing to reshape safely
    return;
  }
  common::resp::ReplyWriter writer(out, common::resp::Protocol::kResp3);
  common::resp::WriteValue(Reshape(std::move(v), shape), &writer);
}

}  // namespace tessera::gateway
