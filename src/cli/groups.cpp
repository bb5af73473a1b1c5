// streamll groups: XINFO GROUPS / XINFO CONSUMERS, readable.

#include <fmt/format.h>

#include <iostream>

#include "cli/commands.hpp"
#include "cli/common.hpp"
#include "cli/report_command.hpp"
#include "cli/report_json.hpp"

namespace streamll::cli {
namespace {

std::vector<OptionSpec> groups_specs() {
  std::vector<OptionSpec> specs = {
      {"no-consumers", "", "list the groups only"},
      {"json", "", "print JSON instead of a table"},
  };
  for (auto& s : connection_option_specs()) specs.push_back(std::move(s));
  return specs;
}

void usage(std::ostream& out, const std::vector<OptionSpec>& specs) {
  out << "usage: streamll groups [--json] [options]\n\n"
         "Lists the stream's consumer groups (lag, pending, last delivered id) and their\n"
         "consumers (pending, idle time). With --shard-url or --shard-count the groups of every\n"
         "shard are merged by name (pending and lag summed) and each shard's part is shown; a\n"
         "shard that cannot be read is named on stderr and the exit status is 2.\n\n"
      << format_options(specs);
}

std::string idle(std::int64_t ms) {
  if (ms < 1000) return fmt::format("{}ms", ms);
  if (ms < 60000) return fmt::format("{:.1f}s", static_cast<double>(ms) / 1000.0);
  if (ms < 3600000) return fmt::format("{}m{}s", ms / 60000, (ms % 60000) / 1000);
  return fmt::format("{}h{}m", ms / 3600000, (ms % 3600000) / 60000);
}

}  // namespace

int run_groups(int argc, char** argv, int first) {
  return run_report_command(
      {"groups", groups_specs, usage}, argc, argv, first,
      [](const Args& args, const Target& target, bool json) {
        const GroupsReport report = list_groups(target.source(), !args.flag("no-consumers"));
        const auto& groups = report.groups;
        const int code = report.complete() ? int(kOk) : int(kUnreachable);
        if (!report.complete())
          std::cerr << "streamll groups: incomplete: "
                    << describe_unavailable_shards(report.shards);
        if (json) {
          nlohmann::json out = nlohmann::json::array();
          for (const auto& g : groups) out.push_back(to_json(g));
          std::cout << out.dump(2) << "\n";
          return code;
        }
        if (groups.empty()) {
          std::cout << "Stream '" << target.stream << "' has no consumer groups.\n";
          return code;
        }
        std::cout << fmt::format("{:<24} {:>9} {:>9} {:>9} {:>10}  {}\n", "GROUP", "CONSUMERS",
                                 "PENDING", "LAG", "READ", "LAST DELIVERED");
        for (const auto& g : groups) {
          std::cout << fmt::format(
              "{:<24} {:>9} {:>9} {:>9} {:>10}  {}\n", g.name, g.consumers, g.pending,
              g.lag_exact ? std::to_string(g.lag) : std::string("?"),
              g.entries_read ? std::to_string(*g.entries_read) : std::string("-"),
              g.last_delivered_id);
          for (const auto& c : g.consumer_list) {
            std::cout << fmt::format("  {:<22} {:>9} {:>9}   idle {}\n", c.name, "", c.pending,
                                     idle(c.idle_ms));
          }
          for (const auto& s : g.shards) {
            std::cout << fmt::format("  [{}] {:<18} {:>9} {:>9} {:>9} {:>10}  {}\n", s.shard,
                                     s.stream, s.consumers, s.pending,
                                     s.lag_exact ? std::to_string(s.lag) : std::string("?"), "",
                                     s.last_delivered_id);
          }
        }
        return code;
      });
}

}  // namespace streamll::cli
