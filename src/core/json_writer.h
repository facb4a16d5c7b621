// A minimal streaming JSON writer (objects, arrays, strings, numbers) for reports and `--json`.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

namespace qrt {

class JsonWriter {
 public:
  explicit JsonWriter(int indent = 2) : indent_(indent) {}

  JsonWriter& beginObject() { return open('{'); }
  JsonWriter& endObject() { return close('}'); }
  JsonWriter& beginArray() { return open('['); }
  JsonWriter& endArray() { return close(']'); }
  JsonWriter& key(const std::string& k) {
    separator();
    writeString(k);
    out_ += indent_ ? ": " : ":";
    after_key_ = true;
    return *this;
  }
  JsonWriter& value(const std::string& s) { separator(); writeString(s); return *this; }
  JsonWriter& value(const char* s) { return value(std::string(s)); }
  JsonWriter& value(bool b) { separator(); out_ += b ? "true" : "false"; return *this; }
  JsonWriter& value(int64_t v) { separator(); out_ += std::to_string(v); return *this; }
  JsonWriter& value(int v) { return value(static_cast<int64_t>(v)); }
  JsonWriter& value(size_t v) { return value(static_cast<int64_t>(v)); }
  JsonWriter& value(double v) {
    separator();
    if (!std::isfinite(v)) { out_ += "null"; return *this; }
    char buf[32];
    std::snprintf(buf, sizeof(buf), "%.9g", v);
    out_ += buf;
    return *this;
  }
  JsonWriter& value(float v) { return value(static_cast<double>(v)); }
  template <typename T>
  JsonWriter& array(const std::vector<T>& xs) {
    beginArray();
    bool saved = compact_;
    compact_ = true;
    for (const auto& x : xs) value(x);
    compact_ = saved;
    return endArray();
  }
  const std::string& str() const { return out_; }

 private:
  JsonWriter& open(char c) {
    separator();
    out_ += c;
    first_.push_back(true);
    return *this;
  }
  JsonWriter& close(char c) {
    bool empty = first_.back();
    first_.pop_back();
    if (!empty && !compact_) newline();
    out_ += c;
    return *this;
  }
  void separator() {
    if (after_key_) { after_key_ = false; return; }
    if (first_.empty()) return;
    if (!first_.back()) out_ += compact_ ? ", " : ",";
    first_.back() = false;
    if (!compact_) newline();
  }
  void newline() {
    if (!indent_) return;
    out_ += '\n';
    out_.append(first_.size() * indent_, ' ');
  }
  void writeString(const std::string& s) {
    out_ += '"';
    for (unsigned char c : s) {
      switch (c) {
        case '"': out_ += "\\\""; break;
        case '\\': out_ += "\\\\"; break;
        case '\n': out_ += "\\n"; break;
        case '\t': out_ += "\\t"; break;
        case '\r': out_ += "\\r"; break;
        default:
          if (c < 0x20) {
            char buf[8];
            std::snprintf(buf, sizeof(buf), "\\u%04x", c);
            out_ += buf;
          } else {
            out_ += static_cast<char>(c);
          }
      }
    }
    out_ += '"';
  }

  int indent_;
  std::string out_;
  std::vector<bool> first_;
  bool after_key_ = false;
  bool compact_ = false;
};

}  // namespace qrt
