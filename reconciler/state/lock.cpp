#include "state/lock.h"

#include "base/error.h"
#include "base/printable.h"

#include <fmt/format.h>

#include <cerrno>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

namespace meridian {
namespace {

std::string host_name() {
  char name[256] = {};
  if (::gethostname(name, sizeof name - 1) != 0)
    return "unknown";
  return name;
}

std::string format_time(long long seconds) {
  char text[32] = "-";
  const std::time_t time = static_cast<std::time_t>(seconds);
  std::strftime(text, sizeof text, "%Y-%m-%d %H:%M:%S UTC", std::gmtime(&time));
  return text;
}

// The file holds one `key=value` line each: pid, host, since, command.
std::optional<LockHolder> parse_holder(const std::string& text) {
  LockHolder holder;
  std::istringstream lines(text);
  for (std::string line; std::getline(lines, line);) {
    const size_t equals = line.find('=');
    if (equals == std::string::npos)
      continue;
    const std::string key = line.substr(0, equals);
    const std::string value = line.substr(equals + 1);
    if (key == "pid")
      holder.pid = std::atoll(value.c_str());
    else if (key == "host")
      holder.host = value;
    else if (key == "since")
      holder.since = std::atoll(value.c_str());
    else if (key == "command")
      holder.command = value;
  }
  if (holder.pid == 0)
    return std::nullopt;
  return holder;
}

class FileLock : public StateLock {
public:
  FileLock(std::string state_dir, std::string command) : path_(std::move(state_dir) + "/lock"), command_(std::move(command)) {}
  ~FileLock() override { release(); }

  void acquire(std::chrono::milliseconds timeout) override {
    if (fd_ >= 0)
      return;
    std::error_code ignored;
    const std::filesystem::path directory = std::filesystem::path(path_).parent_path();
    if (!std::filesystem::exists(directory)) {
      std::filesystem::create_directories(directory, ignored);
      ::chmod(directory.c_str(), 0700);
    }
    const int fd = ::open(path_.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0)
      throw UserError(fmt::format("{}: cannot open the state lock: {}", path_, std::strerror(errno)));
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    auto pause = std::chrono::milliseconds(20);
    while (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
      if (errno != EWOULDBLOCK && errno != EINTR) {
        const int error = errno;
        ::close(fd);
        throw UserError(fmt::format("{}: cannot take the state lock: {}", path_, std::strerror(error)));
      }
      if (std::chrono::steady_clock::now() >= deadline) {
        ::close(fd);
        const auto held = holder();
        throw UserError(fmt::format("{}: the state directory is in use by {}; waited {}s (--lock-timeout)", path_,
                                    held ? held->describe() : std::string("another process"),
                                    std::chrono::duration_cast<std::chrono::seconds>(timeout).count()));
      }
      std::this_thread::sleep_for(pause);
      pause = std::min(pause * 2, std::chrono::milliseconds(500));
    }
    fd_ = fd;
    const std::string record = fmt::format("pid={}\nhost={}\nsince={}\ncommand={}\n", ::getpid(), host_name(),
                                           static_cast<long long>(std::time(nullptr)), command_);
    if (::ftruncate(fd_, 0) != 0 || ::pwrite(fd_, record.data(), record.size(), 0) != static_cast<ssize_t>(record.size()))
      throw UserError(fmt::format("{}: cannot record the lock's holder: {}", path_, std::strerror(errno)));
  }

  void release() override {
    if (fd_ < 0)
      return;
    [[maybe_unused]] const int cleared = ::ftruncate(fd_, 0); // if not, the next holder writes over it
    ::flock(fd_, LOCK_UN);
    ::close(fd_);
    fd_ = -1;
  }

  std::optional<LockHolder> holder() const override {
    std::ifstream in(path_);
    if (!in)
      return std::nullopt;
    std::stringstream text;
    text << in.rdbuf();
    return parse_holder(text.str());
  }

private:
  std::string path_;
  std::string command_;
  int fd_ = -1;
};

} // namespace

std::string LockHolder::describe() const {
  return printable(fmt::format("pid {} on {} ({}, since {})", pid, host.empty() ? "an unknown host" : host,
                               command.empty() ? "unknown command" : command, format_time(since)));
}

std::unique_ptr<StateLock> make_file_lock(const std::string& state_dir, std::string command) {
  return std::make_unique<FileLock>(state_dir, std::move(command));
}

} // namespace meridian
