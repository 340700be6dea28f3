// Errors users cause or can fix (bad input, an unreachable repository, a rejected request).
//
// Each carries one line of text in LLVM's style: lower-case, no trailing period, the place first
// (`fleet/pools.yaml:12: NodePool/gpu-p100: spec.desiredSize: must be >= 0, got -1`). The command
// line prints the message as it is and exits 1; nothing catches a UserError to hide it.
#pragma once

#include <stdexcept>
#include <string>

namespace meridian {

class UserError : public std::runtime_error {
public:
  using std::runtime_error::runtime_error;
};

//! A failure that may succeed when retried (network, a busy backend, a conflict).
class TransientError : public UserError {
public:
  using UserError::UserError;
};

} // namespace meridian
