#include "core/json_reader.h"

#include <charconv>
#include <cstdio>
#include <cstring>

#include "core/status_macros.h"

namespace qrt {

const JsonValue* JsonValue::find(const std::string& key) const {
  for (const auto& [k, v] : members_)
    if (k == key) return &v;
  return nullptr;
}

const char* JsonValue::kindName(Kind k) {
  switch (k) {
    case Kind::kNull: return "null";
    case Kind::kBool: return "boolean";
    case Kind::kNumber: return "number";
    case Kind::kString: return "string";
    case Kind::kArray: return "array";
    case Kind::kObject: return "object";
  }
  return "?";
}

// Recursive descent over the text, tracking line and column for messages.
class JsonParser {
 public:
  explicit JsonParser(const std::string& text) : s_(text) {}

  Result<JsonValue> document() {
    skipSpace();
    JsonValue v;
    QRT_RETURN_IF_ERROR(value(&v, 0));
    skipSpace();
    if (pos_ != s_.size()) return error("unexpected '", printable(s_[pos_]), "' after the JSON value");
    return v;
  }

 private:
  // Deep enough for any real configuration; stops a hostile file from exhausting the stack.
  static constexpr int kMaxDepth = 256;

  template <typename... Args>
  Status error(const Args&... args) const {
    return corrupt("line ", line_, ", column ", column_, ": ", args...);
  }
  static std::string printable(char c) {
    unsigned char u = static_cast<unsigned char>(c);
    if (u >= 0x20 && u < 0x7f) return std::string(1, c);
    char buf[8];
    std::snprintf(buf, sizeof(buf), "\\x%02x", u);
    return buf;
  }
  Status unexpected(const char* expected) const {
    if (pos_ >= s_.size()) return error("unexpected end of text, expected ", expected);
    return error("unexpected '", printable(s_[pos_]), "', expected ", expected);
  }

  bool atEnd() const { return pos_ >= s_.size(); }
  char peek() const { return atEnd() ? '\0' : s_[pos_]; }
  void advance() {
    if (s_[pos_] == '\n') {
      ++line_;
      column_ = 1;
    } else {
      ++column_;
    }
    ++pos_;
  }
  void skipSpace() {
    while (!atEnd() && (s_[pos_] == ' ' || s_[pos_] == '\t' || s_[pos_] == '\n' || s_[pos_] == '\r')) advance();
  }

  Status value(JsonValue* out, int depth) {
    if (depth > kMaxDepth) return error("nesting deeper than ", kMaxDepth, " levels");
    out->line_ = line_;
    out->column_ = column_;
    switch (peek()) {
      case '{': return object(out, depth);
      case '[': return array(out, depth);
      case '"':
        out->kind_ = JsonValue::Kind::kString;
        return string(&out->string_);
      case 't': return literal("true", out, JsonValue::Kind::kBool, true);
      case 'f': return literal("false", out, JsonValue::Kind::kBool, false);
      case 'n': return literal("null", out, JsonValue::Kind::kNull, false);
      default:
        if (peek() == '-' || (peek() >= '0' && peek() <= '9')) return number(out);
        return unexpected("a value");
    }
  }

  Status literal(const char* word, JsonValue* out, JsonValue::Kind kind, bool b) {
    size_t n = std::strlen(word);
    if (s_.compare(pos_, n, word) != 0) return unexpected("a value");
    for (size_t i = 0; i < n; ++i) advance();
    out->kind_ = kind;
    out->bool_ = b;
    return Status::Ok();
  }

  Status object(JsonValue* out, int depth) {
    out->kind_ = JsonValue::Kind::kObject;
    advance();  // '{'
    skipSpace();
    if (peek() == '}') {
      advance();
      return Status::Ok();
    }
    while (true) {
      if (peek() != '"') return unexpected("a string key");
      int key_line = line_, key_column = column_;
      std::string key;
      QRT_RETURN_IF_ERROR(string(&key));
      if (out->find(key)) {
        line_ = key_line;
        column_ = key_column;
        return error("duplicate key \"", key, "\"");
      }
      skipSpace();
      if (peek() != ':') return unexpected("':'");
      advance();
      skipSpace();
      JsonValue v;
      QRT_RETURN_IF_ERROR(value(&v, depth + 1));
      out->members_.emplace_back(std::move(key), std::move(v));
      skipSpace();
      if (peek() == ',') {
        advance();
        skipSpace();
        continue;
      }
      if (peek() == '}') {
        advance();
        return Status::Ok();
      }
      return unexpected("',' or '}'");
    }
  }

  Status array(JsonValue* out, int depth) {
    out->kind_ = JsonValue::Kind::kArray;
    advance();  // '['
    skipSpace();
    if (peek() == ']') {
      advance();
      return Status::Ok();
    }
    while (true) {
      JsonValue v;
      QRT_RETURN_IF_ERROR(value(&v, depth + 1));
      out->items_.push_back(std::move(v));
      skipSpace();
      if (peek() == ',') {
        advance();
        skipSpace();
        continue;
      }
      if (peek() == ']') {
        advance();
        return Status::Ok();
      }
      return unexpected("',' or ']'");
    }
  }

  // -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?  checked here, converted by from_chars
  // (locale-independent, unlike strtod).
  Status number(JsonValue* out) {
    size_t start = pos_;
    auto digits = [&]() {
      size_t n = 0;
      while (peek() >= '0' && peek() <= '9') {
        advance();
        ++n;
      }
      return n;
    };
    if (peek() == '-') advance();
    if (peek() == '0') {
      advance();
      if (peek() >= '0' && peek() <= '9') return error("numbers may not have leading zeros");
    } else if (digits() == 0) {
      return unexpected("a digit");
    }
    if (peek() == '.') {
      advance();
      if (digits() == 0) return unexpected("a digit after '.'");
    }
    bool negative_exponent = false;
    if (peek() == 'e' || peek() == 'E') {
      advance();
      if (peek() == '+' || peek() == '-') {
        negative_exponent = peek() == '-';
        advance();
      }
      if (digits() == 0) return unexpected("a digit in the exponent");
    }
    double v = 0;
    auto [ptr, ec] = std::from_chars(s_.data() + start, s_.data() + pos_, v);
    if (ec == std::errc::result_out_of_range) {
      // Underflow reads as zero; overflow has no finite value and is refused.
      if (!negative_exponent) return error("number ", s_.substr(start, pos_ - start), " is out of range");
      v = 0;
    } else if (ec != std::errc() || ptr != s_.data() + pos_) {
      return error("malformed number ", s_.substr(start, pos_ - start));
    }
    out->kind_ = JsonValue::Kind::kNumber;
    out->number_ = v;
    return Status::Ok();
  }

  Status hex4(uint32_t* out) {
    uint32_t v = 0;
    for (int i = 0; i < 4; ++i) {
      char c = peek();
      int d = (c >= '0' && c <= '9') ? c - '0' : (c >= 'a' && c <= 'f') ? c - 'a' + 10 : (c >= 'A' && c <= 'F') ? c - 'A' + 10 : -1;
      if (d < 0) return unexpected("a hex digit in a \\u escape");
      v = v * 16 + static_cast<uint32_t>(d);
      advance();
    }
    *out = v;
    return Status::Ok();
  }

  static void appendUtf8(uint32_t cp, std::string* s) {
    if (cp < 0x80) {
      s->push_back(static_cast<char>(cp));
    } else if (cp < 0x800) {
      s->push_back(static_cast<char>(0xC0 | (cp >> 6)));
      s->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else if (cp < 0x10000) {
      s->push_back(static_cast<char>(0xE0 | (cp >> 12)));
      s->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
      s->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else {
      s->push_back(static_cast<char>(0xF0 | (cp >> 18)));
      s->push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
      s->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
      s->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    }
  }

  // "\uXXXX", possibly a surrogate pair; the backslash and 'u' are already consumed.
  Status unicodeEscape(std::string* s) {
    uint32_t cp = 0;
    QRT_RETURN_IF_ERROR(hex4(&cp));
    if (cp >= 0xDC00 && cp <= 0xDFFF) return error("unpaired low surrogate in a \\u escape");
    if (cp >= 0xD800 && cp <= 0xDBFF) {
      if (peek() != '\\') return error("high surrogate not followed by a low surrogate");
      advance();
      if (peek() != 'u') return error("high surrogate not followed by a low surrogate");
      advance();
      uint32_t lo = 0;
      QRT_RETURN_IF_ERROR(hex4(&lo));
      if (lo < 0xDC00 || lo > 0xDFFF) return error("high surrogate not followed by a low surrogate");
      cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
    }
    appendUtf8(cp, s);
    return Status::Ok();
  }

  // Copies one UTF-8 encoded character, checking its shape (lead byte, continuation bytes, no
  // overlong forms, no surrogates, at most U+10FFFF).
  Status utf8Char(std::string* s) {
    unsigned char c = static_cast<unsigned char>(s_[pos_]);
    int extra = c >= 0xF0 && c <= 0xF4 ? 3 : c >= 0xE0 ? 2 : c >= 0xC2 && c < 0xE0 ? 1 : -1;
    if (c >= 0xF5 || extra < 0) return error("invalid UTF-8 byte ", printable(s_[pos_]));
    if (pos_ + extra >= s_.size()) return error("truncated UTF-8 sequence");
    uint32_t cp = c & (0x3F >> extra);
    for (int i = 1; i <= extra; ++i) {
      unsigned char d = static_cast<unsigned char>(s_[pos_ + i]);
      if ((d & 0xC0) != 0x80) return error("invalid UTF-8 sequence");
      cp = (cp << 6) | (d & 0x3F);
    }
    static const uint32_t kMin[] = {0, 0x80, 0x800, 0x10000};
    if (cp < kMin[extra] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return error("invalid UTF-8 sequence");
    s->append(s_, pos_, extra + 1);
    pos_ += extra + 1;
    ++column_;
    return Status::Ok();
  }

  Status string(std::string* s) {
    advance();  // opening quote
    while (true) {
      if (atEnd()) return error("unterminated string");
      unsigned char c = static_cast<unsigned char>(s_[pos_]);
      if (c == '"') {
        advance();
        return Status::Ok();
      }
      if (c < 0x20) return error("control character ", printable(s_[pos_]), " in a string (escape it)");
      if (c >= 0x80) {
        QRT_RETURN_IF_ERROR(utf8Char(s));
        continue;
      }
      if (c != '\\') {
        s->push_back(static_cast<char>(c));
        advance();
        continue;
      }
      advance();
      char e = peek();
      if (atEnd()) return error("unterminated string");
      advance();
      switch (e) {
        case '"': s->push_back('"'); break;
        case '\\': s->push_back('\\'); break;
        case '/': s->push_back('/'); break;
        case 'b': s->push_back('\b'); break;
        case 'f': s->push_back('\f'); break;
        case 'n': s->push_back('\n'); break;
        case 'r': s->push_back('\r'); break;
        case 't': s->push_back('\t'); break;
        case 'u': QRT_RETURN_IF_ERROR(unicodeEscape(s)); break;
        default: return error("unknown escape '\\", printable(e), "' in a string");
      }
    }
  }

  const std::string& s_;
  size_t pos_ = 0;
  int line_ = 1, column_ = 1;
};

Result<JsonValue> parseJson(const std::string& text) { return JsonParser(text).document(); }

}  // namespace qrt
