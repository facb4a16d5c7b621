// qrt public API: error values.
//
// Fallible functions return a Status or a Result<T>; nothing in qrt throws across this API.
// A message names the thing at fault (file, node, tensor) in one line.
#pragma once

#include <cassert>
#include <string>
#include <utility>
#include <variant>

namespace qrt {

enum class StatusCode {
  kOk = 0,
  kInvalidArgument,  // the caller passed something wrong (shape, name, flag)
  kNotFound,         // a file, tensor or name that does not exist
  kUnsupported,      // a valid input qrt cannot handle (op, dtype, attribute)
  kCorrupt,          // a file that is truncated, altered or malformed
  kIOError,          // the operating system refused (disk full, permission)
  kInternal,         // a bug in qrt
};

const char* statusCodeName(StatusCode code);

class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(StatusCode code, std::string message) : code_(code), message_(std::move(message)) {}

  static Status Ok() { return {}; }

  bool ok() const { return code_ == StatusCode::kOk; }
  StatusCode code() const { return code_; }
  const std::string& message() const { return message_; }
  // "<code>: <message>", or "ok".
  std::string toString() const;

  // Returns a copy whose message is "<prefix>: <message>" (adds context while propagating).
  Status withContext(const std::string& prefix) const;

  // Explicitly ignore a status (documents intent; avoids nodiscard warnings).
  void ignore() const {}

 private:
  StatusCode code_ = StatusCode::kOk;
  std::string message_;
};

// A value or the Status that explains why there is none.
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}                       // NOLINT(implicit)
  Result(Status status) : v_(std::move(status)) { assert(!std::get<Status>(v_).ok()); }  // NOLINT

  bool ok() const { return std::holds_alternative<T>(v_); }
  Status status() const { return ok() ? Status::Ok() : std::get<Status>(v_); }

  T& value() & { return std::get<T>(v_); }
  const T& value() const& { return std::get<T>(v_); }
  T&& value() && { return std::get<T>(std::move(v_)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

 private:
  std::variant<T, Status> v_;
};

}  // namespace qrt
