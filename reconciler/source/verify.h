// Commit signature verification: a commit is applied only when it is signed by a trusted key.
//
// As Git verifies them: an SSH signature against an allowed-signers file (`ssh-keygen -Y
// find-principals`, then `-Y verify -n git`), an OpenPGP signature against a keyring of trusted
// public keys (`gpgv --keyring`: a key is trusted by being in the keyring). An unsigned commit,
// or one signed by any other key, is refused with the reason.
#pragma once

#include "source/git.h"

#include <string>

namespace meridian {

struct SignaturePolicy {
  std::string allowed_signers; //!< ssh allowed-signers file; empty: SSH signatures are not accepted
  std::string gpg_keyring;     //!< OpenPGP keyring (gpg --export); empty: OpenPGP signatures are not accepted
  bool enabled() const { return !allowed_signers.empty() || !gpg_keyring.empty(); }
};

//! Throws UserError (`<repo>@<commit>: commit signature: ...`) unless `commit` carries a good
//! signature by a key `policy` trusts. Does nothing when the policy is not enabled.
void verify_commit(const GitRepository& repository, const std::string& commit, const SignaturePolicy& policy);

} // namespace meridian
