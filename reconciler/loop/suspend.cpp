#include "loop/suspend.h"

#include "base/error.h"

#include <fmt/format.h>

#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <unistd.h>

namespace meridian {

SuspendFlag::SuspendFlag(std::string state_dir) : path_(std::move(state_dir) + "/suspended") {}

void SuspendFlag::suspend(const std::string& reason) const {
  std::error_code ignored;
  std::filesystem::create_directories(std::filesystem::path(path_).parent_path(), ignored);
  std::string line = reason;
  for (char& c : line)
    if (c == '\n' || c == '\r')
      c = ' ';
  const std::string staging = fmt::format("{}.{}.partial", path_, getpid());
  {
    std::ofstream file(staging, std::ios::binary | std::ios::trunc);
    file << std::time(nullptr) << ' ' << line << '\n';
    file.flush();
    if (!file)
      throw UserError(fmt::format("{}: cannot write the suspend flag", path_));
  }
  if (std::rename(staging.c_str(), path_.c_str()) != 0) {
    std::remove(staging.c_str());
    throw UserError(fmt::format("{}: cannot write the suspend flag", path_));
  }
}

bool SuspendFlag::resume() const {
  std::error_code error;
  const bool removed = std::filesystem::remove(path_, error);
  if (error)
    throw UserError(fmt::format("{}: cannot remove the suspend flag: {}", path_, error.message()));
  return removed;
}

std::optional<Suspension> SuspendFlag::read() const {
  std::ifstream file(path_, std::ios::binary);
  if (!file)
    return std::nullopt;
  Suspension suspension;
  std::string line;
  std::getline(file, line);
  std::istringstream fields(line);
  fields >> suspension.since;
  std::getline(fields >> std::ws, suspension.reason);
  return suspension;
}

} // namespace meridian
