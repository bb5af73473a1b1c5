// streamll consume: a consumer-group worker. Each event becomes one JSON line on stdout, or
// the input of a command (--exec); the entry is acknowledged once that succeeded.

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <iostream>
#include <stdexcept>
#include <thread>

#include "cli/commands.hpp"
#include "cli/common.hpp"
#include "cli/retry_backoff.hpp"
#include "streamll/redis/consumer.hpp"

extern char** environ;

namespace streamll::cli {
namespace {

std::vector<OptionSpec> consume_specs() {
  std::vector<OptionSpec> specs = {
      {"group", "GROUP", "consumer group to join (created from the stream's start when missing)"},
      {"consumer", "NAME", "this worker's name in the group (default: consume-<host>-<pid>)"},
      {"exec", "COMMAND",
       "run COMMAND (with /bin/sh -c) per event, the event JSON on its stdin; ack when it exits 0"},
      {"exec-timeout", "DURATION",
       "kill a COMMAND still running after this (default 60s; a killed one is not acked)"},
      {"count", "N", "exit after handling N events (failed ones included)"},
      {"no-follow", "", "exit once nothing is left to read"},
      {"claim-idle", "DURATION",
       "take over entries pending this long in dead consumers (default 60s; 0: never)"},
      {"bad-entries", "POLICY",
       "entries that are not events: ack (default, skip them) or leave (pending)"},
      {"dedupe", "N", "skip events whose event_id was among the last N handled (default 0: off)"},
      {"batch", "N", "entries per read (default 100)"},
      {"retry-delay", "DURATION",
       "pause after a failed event, doubling while failures go on (default 1s; 0: none)"},
      {"retry-max-delay", "DURATION",
       "longest such pause (default 10s or half --claim-idle; must be below --claim-idle)"},
  };
  for (auto& s : connection_option_specs()) specs.push_back(std::move(s));
  specs.push_back(token_stream_option_spec());
  return specs;
}

void usage(std::ostream& out, const std::vector<OptionSpec>& specs) {
  out << "usage: streamll consume --group GROUP [--consumer NAME] [--exec COMMAND] [options]\n\n"
         "Joins a consumer group and handles each event: prints it as one JSON line, or runs\n"
         "COMMAND with the JSON on stdin (environment: STREAMLL_ENTRY_ID, STREAMLL_EVENT_TYPE,\n"
         "STREAMLL_STREAM). An event is acknowledged only after that succeeded; a failed one "
         "stays\n"
         "pending and is retried after --claim-idle. After a failure the worker pauses before the\n"
         "next event (--retry-delay, doubling up to --retry-max-delay while failures go on), so a\n"
         "failing COMMAND is not run in a tight loop over its own re-deliveries. Failed events "
         "count\n"
         "toward --count; the exit status is 1 when any failed during the run, even if a retry\n"
         "succeeded later. Stops on SIGINT/SIGTERM after the\n"
         "current event (a pause is cut short).\n"
         "With --shard-url or --shard-count it joins the group on every shard and acknowledges "
         "each\n"
         "event on the shard it came from (STREAMLL_STREAM names that shard's stream).\n"
         "With --token-stream it joins the group on the token events' own stream too and\n"
         "acknowledges each event on the stream it came from.\n\n"
      << format_options(specs);
}

// Runs `command` with `input` on its stdin; true when it exited 0 within `timeout`.
void run_command(const std::string& command, const std::string& input, const ConsumedEvent& m,
                 std::chrono::milliseconds timeout) {
  // The input goes through an unlinked temp file rather than a pipe, so a command that never
  // reads its stdin cannot block us on a full pipe.
  std::FILE* file = std::tmpfile();
  if (!file) throw std::runtime_error("cannot create a temporary file for the command's input");
  std::fwrite(input.data(), 1, input.size(), file);
  std::fflush(file);
  std::rewind(file);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, ::fileno(file), 0);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t none;
  sigemptyset(&none);
  posix_spawnattr_setsigmask(&attr, &none);  // our blocked SIGINT/SIGTERM must not leak in
  sigset_t defaults;
  sigemptyset(&defaults);
  sigaddset(&defaults, SIGPIPE);
  posix_spawnattr_setsigdefault(&attr, &defaults);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  std::vector<std::string> env_storage;
  for (char** e = environ; *e; ++e) env_storage.emplace_back(*e);
  env_storage.push_back("STREAMLL_ENTRY_ID=" + m.entry_id);
  env_storage.push_back("STREAMLL_EVENT_TYPE=" + std::string(m.event.type_name()));
  env_storage.push_back("STREAMLL_STREAM=" + m.stream);
  std::vector<char*> envp;
  for (auto& e : env_storage) envp.push_back(e.data());
  envp.push_back(nullptr);
  const char* argv[] = {"/bin/sh", "-c", command.c_str(), nullptr};
  pid_t pid = -1;
  const int rc =
      ::posix_spawn(&pid, "/bin/sh", &actions, &attr, const_cast<char**>(argv), envp.data());
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  std::fclose(file);
  if (rc != 0) throw std::runtime_error("cannot start /bin/sh: error " + std::to_string(rc));
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  int status = 0;
  for (;;) {
    const pid_t done = ::waitpid(pid, &status, WNOHANG);
    if (done == pid) break;
    if (std::chrono::steady_clock::now() >= deadline) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, &status, 0);
      throw std::runtime_error("command still running after " + std::to_string(timeout.count()) +
                               " ms: killed");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return;
  if (WIFSIGNALED(status))
    throw std::runtime_error("command killed by signal " + std::to_string(WTERMSIG(status)));
  throw std::runtime_error("command exited with status " + std::to_string(WEXITSTATUS(status)));
}

}  // namespace

int run_consume(int argc, char** argv, int first) {
  return guarded("consume", [&] {
    const auto specs = consume_specs();
    const Args args(specs, argc, argv, first);
    if (args.help()) {
      usage(std::cout, specs);
      return int(kOk);
    }
    Target target = resolve_target(args);
    resolve_token_stream(args, target);
    ConsumerOptions options = target.consumer_options();
    options.group = args.value_or("group", "");
    if (options.group.empty()) throw UsageError("--group is required");
    options.consumer_name = args.value_or("consumer", default_consumer_name("consume"));
    if (auto v = args.duration_ms("claim-idle"))
      options.claim_min_idle = std::chrono::milliseconds(*v);
    if (auto v = args.unsigned_value("dedupe")) options.dedupe_window = *v;
    if (auto v = args.unsigned_value("batch")) options.batch_size = *v;
    if (auto v = args.value("bad-entries")) {
      if (*v == "ack")
        options.bad_entry_policy = BadEntryPolicy::ack_and_skip;
      else if (*v == "leave")
        options.bad_entry_policy = BadEntryPolicy::leave_pending;
      else
        throw UsageError("--bad-entries: '" + *v + "' is not ack or leave");
    }
    const auto exec = args.value("exec");
    const auto exec_timeout =
        std::chrono::milliseconds(args.duration_ms("exec-timeout").value_or(60000));
    const auto limit = args.unsigned_value("count");
    // Read no more than will be handled: the rest would sit pending until a restart.
    if (limit && *limit > 0 && *limit < options.batch_size) options.batch_size = *limit;
    const bool follow = !args.flag("no-follow");
    const auto as_ms =
        [](std::optional<std::int64_t> v) -> std::optional<std::chrono::milliseconds> {
      if (!v) return std::nullopt;
      return std::chrono::milliseconds(*v);
    };
    RetryBackoff backoff =
        consume_backoff(as_ms(args.duration_ms("retry-delay")),
                        as_ms(args.duration_ms("retry-max-delay")), options.claim_min_idle);
    InterruptiblePause pause;

    configure_logging();
    preflight(target, /*stream_must_exist=*/false);  // the group is created with MKSTREAM
    GroupConsumer consumer(options);
    std::uint64_t attempted = 0;
    std::string json;
    auto handle = [&](const ConsumedEvent& m) {
      json.clear();
      if (!append_json(m.event, json)) throw std::runtime_error("out of memory");
      if (exec) {
        json.push_back('\n');
        run_command(*exec, json, m, exec_timeout);
      } else {
        std::cout << json << '\n' << std::flush;
        if (!std::cout) {
          consumer.stop();
          throw std::runtime_error("stdout is closed");
        }
      }
    };
    consumer.on_any([&](const ConsumedEvent& m) {
      // A failed event counts toward --count too: a handler that always fails must not keep
      // the worker busy with its own re-deliveries forever.
      const bool last = limit && ++attempted >= *limit;
      try {
        handle(m);
      } catch (const std::exception& e) {
        // Said here, before the pause, so the operator sees the failure when it happens.
        std::cerr << "streamll consume: entry " << m.entry_id << " left pending: " << e.what()
                  << "\n";
        if (last) {
          consumer.stop();
        } else if (consumer.stopping()) {
          // Stopping anyway (stdout closed, a signal): nothing to hold back.
        } else if (const auto delay = backoff.failed(); delay.count() > 0) {
          // Pausing before giving the entry back holds back whatever comes next, this entry's
          // own re-delivery included.
          if (!pause.wait_for(delay)) consumer.stop();
        }
        throw;  // left pending and counted by the consumer
      }
      backoff.succeeded();
      if (last) consumer.stop();
    });
    SkippedEntryReporter skipped("consume");
    consumer.on_decode_failure(std::ref(skipped));
    // Failures are reported by the handler itself (above); registering keeps the consumer from
    // logging each one a second time.
    consumer.on_handler_error([](const ConsumedEvent&, const std::string&) {});
    {
      StopOnSignal signals([&consumer, &pause] {
        consumer.stop();
        pause.stop();
      });
      if (follow) {
        consumer.run();
      } else {
        drain(consumer);
      }
    }
    const ConsumerStats s = consumer.stats();
    std::cerr << "streamll consume: handled " << s.handled << ", acknowledged " << s.acked
              << ", failed " << s.handler_failures << " (left pending), not events "
              << s.undecodable.total() << ", duplicates " << s.duplicates << ", claimed "
              << s.claimed << "\n";
    if (const std::string note = describe_undecodable(s.undecodable); !note.empty()) {
      std::cerr << "streamll consume: " << note << "\n";
    }
    const auto shards = consumer.shard_stats();
    if (target.sharded()) {
      std::string per_shard;
      for (std::size_t i = 0; i < shards.size(); ++i) {
        per_shard += (i ? ", " : "") + std::to_string(i) + ": " + std::to_string(shards[i].handled);
      }
      std::cerr << "streamll consume: handled per shard: " << per_shard << "\n";
    }
    if (!report_disconnected_shards("consume", target, shards) && !follow) return int(kUnreachable);
    // A failed event is still pending: a script running `consume --count N` must see that.
    if (s.handler_failures > 0) return int(kAlert);
    return int(kOk);
  });
}

}  // namespace streamll::cli
