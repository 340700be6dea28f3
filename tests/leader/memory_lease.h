// A Lease kept in memory for the election tests: several candidates' locks share one record, and
// each lock remembers the version it read, so that updates are compare-and-swap as on an API server.
#pragma once

#include "leader/election.h"

#include <optional>
#include <string>

namespace leader_test {

struct MemoryLease {
  std::optional<meridian::LeaseRecord> record;
  long long version = 0;
  int writes = 0;
};

class MemoryLock final : public meridian::LeaseLock {
public:
  explicit MemoryLock(MemoryLease& lease, std::string name = "test") : lease_(lease), name_(std::move(name)) {}
  std::optional<meridian::LeaseRecord> get() override {
    read_version_ = lease_.version;
    return lease_.record;
  }
  bool create(const meridian::LeaseRecord& record) override {
    if (lease_.record)
      return false;
    lease_.record = record;
    read_version_ = ++lease_.version;
    ++lease_.writes;
    return true;
  }
  bool update(const meridian::LeaseRecord& record) override {
    if (!lease_.record || read_version_ != lease_.version)
      return false;
    lease_.record = record;
    read_version_ = ++lease_.version;
    ++lease_.writes;
    return true;
  }
  std::string describe() const override { return "default/" + name_; }

private:
  MemoryLease& lease_;
  std::string name_;
  long long read_version_ = -1;
};

} // namespace leader_test
