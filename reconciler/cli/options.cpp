#include "cli/options.h"

#include "base/error.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>

namespace meridian {

Options::Options(const CommandSpec& spec, const std::vector<std::string>& args) {
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (arg == "--help" || arg == "-h") {
      help_ = true;
      continue;
    }
    if (arg.size() >= 2 && arg[0] == '-' && arg[1] != '-' && std::isalpha(static_cast<unsigned char>(arg[1]))) {
      const auto option = std::find_if(spec.options.begin(), spec.options.end(), [&](const OptionSpec& o) { return o.short_name == arg[1]; });
      if (option == spec.options.end())
        throw UserError(fmt::format("meridian {}: unknown option -{} (see meridian {} --help)", spec.name, arg[1], spec.name));
      if (option->value_name.empty()) {
        if (arg.size() > 2)
          throw UserError(fmt::format("meridian {}: -{} takes no value", spec.name, arg[1]));
        values_[option->name] = "true";
      } else if (arg.size() > 2) {
        values_[option->name] = arg.substr(arg[2] == '=' ? 3 : 2);
      } else if (i + 1 >= args.size()) {
        throw UserError(fmt::format("meridian {}: -{} needs a value ({})", spec.name, arg[1], option->value_name));
      } else {
        values_[option->name] = args[++i];
      }
      continue;
    }
    if (arg.size() < 3 || arg.substr(0, 2) != "--") {
      positional_.push_back(arg);
      continue;
    }
    const size_t equals = arg.find('=');
    const std::string name = arg.substr(2, equals == std::string::npos ? std::string::npos : equals - 2);
    const auto option = std::find_if(spec.options.begin(), spec.options.end(), [&](const OptionSpec& o) { return o.name == name; });
    if (option == spec.options.end())
      throw UserError(fmt::format("meridian {}: unknown option --{} (see meridian {} --help)", spec.name, name, spec.name));
    if (option->value_name.empty()) {
      if (equals != std::string::npos)
        throw UserError(fmt::format("meridian {}: --{} takes no value", spec.name, name));
      values_[name] = "true";
      continue;
    }
    if (equals != std::string::npos) {
      values_[name] = arg.substr(equals + 1);
      continue;
    }
    if (i + 1 >= args.size())
      throw UserError(fmt::format("meridian {}: --{} needs a value ({})", spec.name, name, option->value_name));
    values_[name] = args[++i];
  }
}

std::optional<std::string> Options::get(const std::string& name) const {
  const auto found = values_.find(name);
  if (found == values_.end())
    return std::nullopt;
  return found->second;
}

std::string Options::get_or(const std::string& name, const std::string& fallback) const {
  return get(name).value_or(fallback);
}

std::string format_help(const CommandSpec& spec) {
  std::string out = fmt::format("Usage: meridian {} {}\n\n{}\n", spec.name, spec.synopsis, spec.summary);
  if (!spec.options.empty()) {
    out += "\nOptions:\n";
    for (const OptionSpec& option : spec.options) {
      std::string left = option.value_name.empty() ? "--" + option.name : fmt::format("--{} {}", option.name, option.value_name);
      if (option.short_name != 0)
        left = fmt::format("-{}, {}", option.short_name, left);
      out += fmt::format("  {:<28} {}\n", left, option.help);
    }
    out += fmt::format("  {:<28} {}\n", "--help", "show this help");
  }
  if (!spec.details.empty())
    out += "\n" + spec.details + "\n";
  return out;
}

} // namespace meridian
