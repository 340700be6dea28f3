// Command-line options: `--name value`, `--name=value`, boolean `--flag` and one-letter aliases
// (`-o yaml`, `-oyaml`), declared per command
// so that every command can print its own --help and reject what it does not know.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

namespace meridian {

struct OptionSpec {
  std::string name;        //!< without the leading dashes
  std::string value_name;  //!< empty for a boolean flag
  std::string help;
  char short_name = 0;     //!< one-letter alias (`-o yaml`, `-oyaml`), 0 for none
};

struct CommandSpec {
  std::string name;        //!< "validate", "sim get", ...
  std::string synopsis;    //!< one line after the name
  std::string summary;     //!< one sentence
  std::vector<OptionSpec> options;
  std::string details;     //!< free text printed after the options
};

class Options {
public:
  //! Parses `args` against `spec`; throws UserError on unknown or incomplete options.
  Options(const CommandSpec& spec, const std::vector<std::string>& args);

  bool help() const { return help_; }
  bool flag(const std::string& name) const { return values_.count(name) != 0; }
  std::optional<std::string> get(const std::string& name) const;
  std::string get_or(const std::string& name, const std::string& fallback) const;
  const std::vector<std::string>& positional() const { return positional_; }

private:
  std::map<std::string, std::string> values_;
  std::vector<std::string> positional_;
  bool help_ = false;
};

std::string format_help(const CommandSpec& spec);

} // namespace meridian
