// Internal helpers to propagate Status/Result (control flow only; never used for registration).
#pragma once

#include <sstream>
#include <string>

#include "qrt/status.h"

#define QRT_CONCAT_INNER(a, b) a##b
#define QRT_CONCAT(a, b) QRT_CONCAT_INNER(a, b)

#define QRT_RETURN_IF_ERROR(expr)          \
  do {                                     \
    ::qrt::Status _qrt_st = (expr);        \
    if (!_qrt_st.ok()) return _qrt_st;     \
  } while (0)

#define QRT_ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                              \
  if (!tmp.ok()) return tmp.status();             \
  lhs = std::move(tmp).value()

#define QRT_ASSIGN_OR_RETURN(lhs, expr) QRT_ASSIGN_OR_RETURN_IMPL(QRT_CONCAT(_qrt_r_, __LINE__), lhs, expr)

namespace qrt {

// Builds a message from streamable parts: strCat("node ", name, ": bad axis ", axis).
template <typename... Args>
std::string strCat(const Args&... args) {
  std::ostringstream os;
  (os << ... << args);
  return os.str();
}

template <typename... Args>
Status invalidArgument(const Args&... args) { return Status(StatusCode::kInvalidArgument, strCat(args...)); }
template <typename... Args>
Status unsupported(const Args&... args) { return Status(StatusCode::kUnsupported, strCat(args...)); }
template <typename... Args>
Status notFound(const Args&... args) { return Status(StatusCode::kNotFound, strCat(args...)); }
template <typename... Args>
Status corrupt(const Args&... args) { return Status(StatusCode::kCorrupt, strCat(args...)); }
template <typename... Args>
Status ioError(const Args&... args) { return Status(StatusCode::kIOError, strCat(args...)); }
template <typename... Args>
Status internalError(const Args&... args) { return Status(StatusCode::kInternal, strCat(args...)); }

}  // namespace qrt
