// Shell completion scripts for `meridian completion bash|zsh|fish`, generated from the command
// table and each command's options (the same CommandSpecs that print --help), so they cannot
// drift from what the commands accept.
#pragma once

#include "cli/options.h"

#include <string>
#include <vector>

namespace meridian {

//! One word after `meridian`: its options, and subcommands (`sim get`) when it has some.
struct CompletionCommand {
  std::string name;
  std::string summary;
  std::vector<OptionSpec> options;
  std::vector<CompletionCommand> subcommands;
};

//! The completion script for `shell` (bash, zsh or fish); throws UserError for another shell.
//! `global` are the options accepted before or after any command (--log-format, --log-level).
std::string completion_script(const std::string& shell, const std::vector<CompletionCommand>& commands,
                              const std::vector<OptionSpec>& global);

} // namespace meridian
