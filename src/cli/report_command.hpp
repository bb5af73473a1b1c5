#pragma once
// The frame of the commands that read the stream and print a report (health, stats, groups):
// --json, --help, the connection options, streamll's log lines on stderr, and errors turned
// into exit codes, the same for each.

#include <functional>
#include <iosfwd>
#include <string>
#include <vector>

#include "cli/args.hpp"
#include "cli/common.hpp"

namespace streamll::cli {

struct ReportCommand {
  std::string name;  ///< "health": error messages start "streamll health: "
  /// The command's options, --json and the connection options among them.
  std::vector<OptionSpec> (*specs)();
  void (*usage)(std::ostream& out, const std::vector<OptionSpec>& specs);
};

/// Parses argv[first..] against command.specs() (prints command.usage() for --help, exit 0),
/// resolves the target, sends streamll's log lines to stderr, then returns
/// body(args, target, json), where json is whether --json was given. Everything runs in
/// guarded(): a failure is one line on stderr, and also JSON on stdout when --json was given
/// (known before parsing, so a usage error is JSON too). `map_code` as for guarded().
int run_report_command(const ReportCommand& command, int argc, char** argv, int first,
                       const std::function<int(const Args&, const Target&, bool json)>& body,
                       const std::function<int(int)>& map_code = nullptr);

}  // namespace streamll::cli
