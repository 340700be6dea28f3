// StateLock: one process at a time plans and applies against a state directory.
//
// `apply` holds it from its plan to the end of its apply, `run` for as long as it runs: two of
// them on one state directory would otherwise both "succeed" and leave a mix of two commits live.
// A second process waits up to a timeout, then refuses and names the holder. The interface is
// what a Kubernetes Lease (replicas of `run` in a cluster) can implement too.
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>

namespace meridian {

//! Who holds a lock, as the holder recorded it.
struct LockHolder {
  long long pid = 0;
  std::string host;
  std::string command;
  long long since = 0; //!< unix seconds
  std::string describe() const;
};

class StateLock {
public:
  virtual ~StateLock() = default;
  //! Takes the lock, waiting up to `timeout` (0: not at all); a UserError naming the holder when
  //! it is still held then.
  virtual void acquire(std::chrono::milliseconds timeout) = 0;
  //! Gives it up (the destructor does too). Idempotent.
  virtual void release() = 0;
  //! The current holder, if the lock is held (by this or another process).
  virtual std::optional<LockHolder> holder() const = 0;
};

//! A StateLock on `<state-dir>/lock`: flock(2), which the kernel releases when the process dies
//! however it dies, and the holder's pid, host, command and start time written in the file.
//! `command` is what the holder says it is doing ("meridian apply").
std::unique_ptr<StateLock> make_file_lock(const std::string& state_dir, std::string command);

} // namespace meridian
