#include "core/file_util.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>

#include "core/status_macros.h"

namespace qrt {

Result<std::vector<uint8_t>> readFileBytes(const std::string& path) {
  std::ifstream f(path, std::ios::binary | std::ios::ate);
  if (!f) {
    if (access(path.c_str(), F_OK) != 0) return notFound("file '", path, "' does not exist");
    return ioError("cannot open '", path, "': ", std::strerror(errno));
  }
  std::streamsize n = f.tellg();
  if (n < 0) return ioError("cannot read '", path, "' (is it a folder?)");
  std::vector<uint8_t> buf(static_cast<size_t>(n));
  f.seekg(0);
  if (n > 0 && !f.read(reinterpret_cast<char*>(buf.data()), n)) return ioError("cannot read '", path, "'");
  return buf;
}

Status writeFileAtomic(const std::string& path, const void* data, size_t size) {
  return writeFileAtomic(path, {{data, size}});
}

Status writeFileAtomic(const std::string& path, const std::vector<std::pair<const void*, size_t>>& pieces) {
  std::string tmp = path + ".tmp." + std::to_string(getpid());
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd < 0) return ioError("cannot write '", path, "': ", std::strerror(errno));
  auto fail = [&](const char* what) {
    int e = errno;
    ::close(fd);
    ::unlink(tmp.c_str());
    return ioError("cannot write '", path, "': ", what, ": ", std::strerror(e));
  };
  for (const auto& [p, n] : pieces) {
    const auto* c = static_cast<const uint8_t*>(p);
    size_t left = n;
    while (left > 0) {
      ssize_t w = ::write(fd, c, left);
      if (w < 0) {
        if (errno == EINTR) continue;
        return fail("write failed");
      }
      c += w;
      left -= static_cast<size_t>(w);
    }
  }
  if (::fsync(fd) != 0) return fail("fsync failed");
  if (::close(fd) != 0) {
    int e = errno;
    ::unlink(tmp.c_str());
    return ioError("cannot write '", path, "': close failed: ", std::strerror(e));
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    int e = errno;
    ::unlink(tmp.c_str());
    return ioError("cannot write '", path, "': rename failed: ", std::strerror(e));
  }
  return Status::Ok();
}

}  // namespace qrt
