// A problem found in the desired state, pinned to the place a person has to edit.
#pragma once

#include "base/printable.h"

#include <string>
#include <tuple>

namespace meridian {

enum class Severity { error, warning };

struct Finding {
  std::string file;    //!< path in the repository
  int line = 0;        //!< 1-based; 0 when unknown
  std::string object;  //!< Kind/name, or Kind/namespace/name; empty for file-level problems
  std::string field;   //!< dotted path (spec.units[0].max); empty for object-level problems
  std::string message;
  Severity severity = Severity::error;

  //! `file:line: Kind/name: field: message` (parts that are empty are left out), printable: names
  //! taken from a repository never carry control characters to a terminal.
  std::string format() const { return printable(format_raw()); }

  std::string format_raw() const {
    std::string out = file;
    if (line > 0)
      out += ":" + std::to_string(line);
    out += ": ";
    if (severity == Severity::warning)
      out += "warning: ";
    if (!object.empty())
      out += object + ": ";
    if (!field.empty())
      out += field + ": ";
    return out + message;
  }

  friend bool operator<(const Finding& a, const Finding& b) {
    return std::tie(a.file, a.line, a.object, a.field, a.message) < std::tie(b.file, b.line, b.object, b.field, b.message);
  }
};

} // namespace meridian
