// epscope: what rank imbalance costs in expert-parallel dispatch/combine. Only this file turns
// exceptions into messages and exit codes: 2 for bad input, 1 for anything else.
#include <fmt/format.h>
#include <CLI/CLI.hpp>
#include <cstdio>
#include <iostream>

#include "commands.h"
#include "epscope/base/error.h"
#include "output.h"

int main(int argc, char** argv) {
  CLI::App app{"epscope: what rank imbalance costs in expert-parallel MoE dispatch/combine"};
  app.require_subcommand(0, 1);
  app.set_version_flag("--version", "epscope 0.1.0");
  CLI::App* estimate = epscope::cli::register_estimate(app);
  epscope::cli::register_plan(app);
  epscope::cli::register_simulate(app);
  epscope::cli::register_bench(app);
  epscope::cli::register_sweep(app);
  epscope::cli::register_report(app);
  epscope::cli::register_calibrate(app);
  try {
    // `epscope` alone runs the main job: estimate on the built-in default scenario.
    if (argc == 1) {
      const char* default_argv[] = {argv[0], "estimate"};
      app.parse(2, const_cast<char**>(default_argv));
    } else {
      app.parse(argc, argv);
    }
    if (app.get_subcommands().empty()) {
      std::cout << app.help();
      return 0;
    }
    (void)estimate;
    return 0;
  } catch (const epscope::cli::CommandDone& done) {
    return done.exit_code;
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    fmt::print(stderr, "epscope: error: {}\n", e.what());
    return 2;
  } catch (const epscope::InputError& e) {
    fmt::print(stderr, "epscope: error: {}\n", e.what());
    return 2;
  } catch (const epscope::RunFailure& e) {
    fmt::print(stderr, "epscope: run failed: {}\n", e.what());
    return 1;
  } catch (const std::exception& e) {
    fmt::print(stderr, "epscope: internal error: {}\n", e.what());
    return 1;
  }
}
