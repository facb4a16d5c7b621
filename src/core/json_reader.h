// A small, strict JSON reader (RFC 8259) for configuration files: preprocessing specs,
// reports read back by tools and tests. No extensions: no comments, no trailing commas, no
// NaN/Infinity, no duplicate keys. Errors name the line and column of the offending character.
// Every value remembers where it starts, so callers can report semantic errors
// ("mean[2] at 4:17 must be a number") as precisely as syntax errors.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "qrt/status.h"

namespace qrt {

class JsonValue {
 public:
  enum class Kind { kNull, kBool, kNumber, kString, kArray, kObject };

  JsonValue() = default;

  Kind kind() const { return kind_; }
  bool isNull() const { return kind_ == Kind::kNull; }
  bool isBool() const { return kind_ == Kind::kBool; }
  bool isNumber() const { return kind_ == Kind::kNumber; }
  bool isString() const { return kind_ == Kind::kString; }
  bool isArray() const { return kind_ == Kind::kArray; }
  bool isObject() const { return kind_ == Kind::kObject; }

  // Accessors assume the kind was checked; the wrong kind gives false / 0 / "" / empty.
  bool asBool() const { return bool_; }
  double asNumber() const { return number_; }
  const std::string& asString() const { return string_; }
  const std::vector<JsonValue>& items() const { return items_; }
  // Object members in file order.
  const std::vector<std::pair<std::string, JsonValue>>& members() const { return members_; }
  // The member named `key`, or nullptr (also for non-objects).
  const JsonValue* find(const std::string& key) const;

  // Where the value starts in the text (1-based), and "line:column" for messages.
  int line() const { return line_; }
  int column() const { return column_; }
  std::string where() const { return std::to_string(line_) + ":" + std::to_string(column_); }

  // "null", "boolean", "number", "string", "array", "object".
  static const char* kindName(Kind k);

 private:
  friend class JsonParser;
  Kind kind_ = Kind::kNull;
  bool bool_ = false;
  double number_ = 0;
  std::string string_;
  std::vector<JsonValue> items_;
  std::vector<std::pair<std::string, JsonValue>> members_;
  int line_ = 1, column_ = 1;
};

// Parses one JSON document (surrounding whitespace allowed, nothing else). The error message is
// "line L, column C: <what was expected>"; callers prefix the file name.
Result<JsonValue> parseJson(const std::string& text);

}  // namespace qrt
