// Suspension for maintenance windows: a flag file in the state directory.
//
// `<state-dir>/suspended` exists while reconciliation is suspended; it holds one line, when and why.
// It is written atomically (a temporary file renamed over it), so the loop, `meridian suspend`
// and `POST /api/v1/suspend` can all change it and a reader never sees half a file. A flag in the
// state directory survives a restart, as a maintenance window should.
#pragma once

#include <optional>
#include <string>

namespace meridian {

struct Suspension {
  long long since = 0; //!< unix seconds
  std::string reason;
};

class SuspendFlag {
public:
  explicit SuspendFlag(std::string state_dir);

  //! Suspends (or updates the reason of an existing suspension).
  void suspend(const std::string& reason) const;
  //! Resumes; true when it was suspended.
  bool resume() const;
  //! The suspension, or nullopt when reconciliation runs.
  std::optional<Suspension> read() const;

  const std::string& path() const { return path_; }

private:
  std::string path_;
};

} // namespace meridian
