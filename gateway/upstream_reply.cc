// hiredis reply-object functions that append each value's RESP2 encoding to the reply being
// read instead of allocating a redisReply per value.
#include "gateway/upstream_reply.h"

#include <hiredis/read.h>

#include <cassert>

#include "absl/strings/str_cat.h"

namespace tessera::gateway {
namespace {

// Every value of a reply returns the root object: hiredis keeps the root as r->reply and
// stores an aggregate's object in its task, so a nested value finds the root up the chain.
UpstreamReply* RootOf(const redisReadTask* task) {
  while (task->parent != nullptr) task = task->parent;
  return static_cast<UpstreamReply*>(task->obj);
}

// Starts the root (task without parent) or finds it, and records a top-level element start.
UpstreamReply* Begin(const redisReadTask* task, UpstreamReply** fresh) {
  *fresh = nullptr;
  if (task->parent == nullptr) {
    *fresh = new UpstreamReply();
    return *fresh;
  }
  UpstreamReply* root = RootOf(task);
  if (task->parent->parent == nullptr) root->elements.push_back(root->bytes.size());
  return root;
}

void* CreateString(const redisReadTask* task, char* str, size_t len) {
  UpstreamReply* fresh;
  UpstreamReply* r = Begin(task, &fresh);
  switch (task->type) {
    case REDIS_REPLY_ERROR:
      absl::StrAppend(&r->bytes, "-", absl::string_view(str, len), "\r\n");
      break;
    case REDIS_REPLY_STATUS:
      absl::StrAppend(&r->bytes, "+", absl::string_view(str, len), "\r\n");
      break;
    default:
      absl::StrAppend(&r->bytes, "$", len, "\r\n", absl::string_view(str, len), "\r\n");
      break;
  }
  if (fresh != nullptr) {
    fresh->head.type = task->type;
    if (task->type == REDIS_REPLY_ERROR || task->type == REDIS_REPLY_STATUS) {
      // bytes stays unchanged from here on: "-" + text + CRLF.
      fresh->head.str = fresh->bytes.data() + 1;
      fresh->head.len = len;
    }
  }
  return r;
}

void* CreateArray(const redisReadTask* task, int elements) {
  UpstreamReply* fresh;
  UpstreamReply* r = Begin(task, &fresh);
  absl::StrAppend(&r->bytes, "*", elements, "\r\n");
  if (fresh != nullptr) {
    fresh->head.type = REDIS_REPLY_ARRAY;
    fresh->head.elements = static_cast<size_t>(elements);
    fresh->elements.reserve(static_cast<size_t>(elements));
  }
  return r;
}

void* CreateInteger(const redisReadTask* task, long long value) {
  UpstreamReply* fresh;
  UpstreamReply* r = Begin(task, &fresh);
  absl::StrAppend(&r->bytes, ":", value, "\r\n");
  if (fresh != nullptr) {
    fresh->head.type = REDIS_REPLY_INTEGER;
    fresh->head.integer = value;
  }
  return r;
}

void* CreateNil(const redisReadTask* task) {
  UpstreamReply* fresh;
  UpstreamReply* r = Begin(task, &fresh);
  // RESP2 knows two nulls; hiredis reports both as nil. Which one it was is the task type.
  r->bytes.append(task->type == REDIS_REPLY_ARRAY ? "*-1\r\n" : "$-1\r\n");
  if (fresh != nullptr) fresh->head.type = REDIS_REPLY_NIL;
  return r;
}

// hiredis frees only root objects (after the callback, or a half-read reply on error); a
// callback that adopted the reply owns it from then on.
void FreeObject(void* obj) {
  auto* reply = static_cast<UpstreamReply*>(obj);
  if (!reply->adopted) delete reply;
}

redisReplyObjectFunctions kFunctions = {CreateString, CreateArray, CreateInteger, CreateNil,
                                        FreeObject};

}  // namespace

std::string_view UpstreamReply::Element(size_t i) const {
  assert(i < elements.size());
  const size_t begin = elements[i];
  const size_t end = i + 1 < elements.size() ? elements[i + 1] : bytes.size();
  return std::string_view(bytes).substr(begin, end - begin);
}

void UseUpstreamReplies(redisReader* reader) { reader->fn = &kFunctions; }

std::unique_ptr<UpstreamReply> MakeErrorReply(std::string_view text) {
  auto r = std::make_unique<UpstreamReply>();
  absl::StrAppend(&r->bytes, "-", absl::string_view(text.data(), text.size()), "\r\n");
  r->head.type = REDIS_REPLY_ERROR;
  r->head.str = r->bytes.data() + 1;
  r->head.len = text.size();
  return r;
}

}  // namespace tessera::gateway
