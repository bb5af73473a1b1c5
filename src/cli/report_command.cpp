#include "cli/report_command.hpp"

#include <iostream>

namespace streamll::cli {

int run_report_command(const ReportCommand& command, int argc, char** argv, int first,
                       const std::function<int(const Args&, const Target&, bool json)>& body,
                       const std::function<int(int)>& map_code) {
  bool json = json_requested(argc, argv, first);  // usage errors in JSON too
  return guarded(
      command.name,
      [&] {
        const auto specs = command.specs();
        const Args args(specs, argc, argv, first);
        json = args.flag("json");
        if (args.help()) {
          command.usage(std::cout, specs);
          return int(kOk);
        }
        const Target target = resolve_target(args);
        configure_logging();
        return body(args, target, json);
      },
      &json, map_code);
}

}  // namespace streamll::cli
