// stringmatchlen from Redis 7.0's util.c, written for string_view patterns and text that are not
// NUL-terminated.
#include "common/glob.h"

#include <cstddef>

namespace tessera::common {
namespace {

// Redis 7.0 gives up on a glob nesting deeper '*' than this (abusive patterns).
constexpr int kMaxGlobNesting = 1000;

// tolower() in the C locale, on the signed char values stringmatchlen works with.
int LowerAscii(int c) { return c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c; }

// One stringmatchlen call. Redis reads the pattern's NUL terminator in a few places; At() returns
// '\0' past the end to behave the same on a string_view.
class GlobMatcher {
 public:
  GlobMatcher(std::string_view pattern, bool nocase) : pattern_(pattern), nocase_(nocase) {}

  bool Match(size_t p, std::string_view text, int nesting, bool* give_up) const {
    if (nesting > kMaxGlobNesting) return false;
    size_t t = 0;
    const size_t n = pattern_.size();
    while (p < n && t < text.size()) {
      switch (pattern_[p]) {
        case '*': {
          while (p + 1 < n && pattern_[p + 1] == '*') ++p;
          if (p + 1 == n) return true;
          for (; t < text.size(); ++t) {
            if (Match(p + 1, text.substr(t), nesting + 1, give_up)) return true;
            // No suffix of the text matched the rest of the pattern: a longer match for
            // this '*' (or an earlier one) cannot help.
            if (*give_up) return false;
          }
          *give_up = true;
          return false;
        }
        case '?':
          ++t;
          break;
        case '[': {
          ++p;
          const bool negate = At(p) == '^';
          if (negate) ++p;
          const int c = static_cast<signed char>(text[t]);
          bool matched = false;
          for (;;) {
            if (At(p) == '\\' && n - p >= 2) {
              ++p;
              if (pattern_[p] == text[t]) matched = true;
            } else if (At(p) == ']') {
              break;
            } else if (p == n) {
              --p;  // an unclosed class ends with the pattern
              break;
            } else if (n - p >= 3 && pattern_[p + 1] == '-') {
              int lo = static_cast<signed char>(pattern_[p]);
              int hi = static_cast<signed char>(pattern_[p + 2]);
              if (lo > hi) std::swap(lo, hi);
              int ch = c;
              if (nocase_) {
                lo = LowerAscii(lo);
                hi = LowerAscii(hi);
                ch = LowerAscii(ch);
              }
              p += 2;
              if (ch >= lo && ch <= hi) matched = true;
            } else if (SameChar(pattern_[p], text[t])) {
              matched = true;
            }
            ++p;
          }
          if (negate) matched = !matched;
          if (!matched) return false;
          ++t;
          break;
        }
        case '\\':
          if (n - p >= 2) ++p;
          [[fallthrough]];
        default:
          if (!SameChar(pattern_[p], text[t])) return false;
          ++t;
          break;
      }
      ++p;
      if (t == text.size()) {
        while (p < n && pattern_[p] == '*') ++p;
        break;
      }
    }
    return p == n && t == text.size();
  }

 private:
  char At(size_t p) const { return p < pattern_.size() ? pattern_[p] : '\0'; }
  bool SameChar(char a, char b) const {
    if (!nocase_) return a == b;
    return LowerAscii(static_cast<signed char>(a)) == LowerAscii(static_cast<signed char>(b));
  }

  std::string_view pattern_;
  bool nocase_;
};

}  // namespace

bool GlobMatch(std::string_view pattern, std::string_view text, bool nocase) {
  bool give_up = false;
  return GlobMatcher(pattern, nocase).Match(0, text, 0, &give_up);
}

}  // namespace tessera::common
