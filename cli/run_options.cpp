#include "cli/run_options.h"

#include <unistd.h>

#include <cstdio>
#include <iostream>
#include <regex>

#include "cli/backend_runtime.h"
#include "report/html_report.h"
#include "util/error.h"
#include "util/fs.h"

namespace mue::cli {

void add_run_options(CLI::App* sub, RunOptions& o) {
  sub->add_flag("--wait-lock", o.wait_lock,
                "When another muE uses DIR, wait for it instead of exiting 2");
  sub->add_option(
         "--jobs", o.jobs,
         "Trials run at once (0 = one per core, or one per GPU; threads split between them)")
      ->check(CLI::NonNegativeNumber);
  sub->add_flag("--no-report", o.no_report,
                "Do not write DIR/report.html (the page `muE report` makes of this run)");
  sub->add_option("--workers", o.workers,
                  "Local trial processes: warm (a server that loaded the trainer once forks a "
                  "fresh process per trial) or cold (exec a new muE trial each time)")
      ->check(CLI::IsMember({"warm", "cold"}))
      ->capture_default_str();
  sub->add_option("--launcher", o.launcher,
                  "Where trials run: local processes, or one Slurm array job")
      ->check(CLI::IsMember({"local", "slurm"}))
      ->capture_default_str();
  sub->add_option("--fuse", o.fuse,
                  "Fused trials: off, auto (calibrate a few steps, fuse when >= 5% cheaper) or a "
                  "pack size K")
      ->capture_default_str();
  auto form = [](const char* pattern, const char* what) {
    return CLI::Validator(
        [re = std::regex(pattern), w = std::string(what)](std::string& v) {
          return std::regex_match(v, re) ? std::string() : "'" + v + "' is not " + w;
        },
        what);
  };
  SlurmOptions& s = o.slurm;
  sub->add_option("--slurm-partition", s.partition, "Slurm: partition (sbatch --partition)")
      ->check(form("[A-Za-z0-9_.,-]+", "a partition name"));
  sub->add_option("--slurm-time", s.time,
                  "Slurm: time limit per task (default: trial timeout × pack size)")
      ->check(form("([0-9]+-)?[0-9]+(:[0-9]{1,2}){0,2}",
                   "a Slurm time: MIN, MIN:SS, H:MM:SS, D-H[:MM[:SS]]"));
  sub->add_option("--slurm-gres", s.gres, "Slurm: generic resources per task, e.g. gpu:1")
      ->check(form("[A-Za-z0-9_]+(:[A-Za-z0-9_.-]+)?(:[0-9]+)?(,[A-Za-z0-9_]+(:[A-Za-z0-9_.-]+)?(:["
                   "0-9]+)?)*",
                   "a gres list such as gpu:1 or gpu:a100:2"));
  sub->add_option("--slurm-cpus", s.cpus, "Slurm: CPUs per task (default: --threads)")
      ->check(CLI::NonNegativeNumber);
  sub->add_option("--slurm-mem", s.mem, "Slurm: memory per task, e.g. 8G")
      ->check(form("[0-9]+[KMGT]?", "a memory size such as 8G or 16000M"));
  sub->add_option("--slurm-extra", s.extra,
                  "Slurm: a raw sbatch flag (repeatable), e.g. --account=ml")
      ->check(form("--?[A-Za-z].*", "an sbatch flag starting with - or --"));
  sub->add_option(
         "--slurm-template", s.template_file,
         "Slurm: a file replacing the #SBATCH header ({job_name} {array} {log} {cpus} {time})")
      ->check(CLI::ExistingFile);
  sub->add_option("--slurm-muE", s.exe, "Slurm: the muE path the nodes run (default: this one)");
  sub->add_flag("--detach", s.detach, "Slurm: submit and exit; re-run the same command to collect");
}

void complete_run_options(RunOptions& o, const GlobalOptions& g) {
  char buf[4096];
  const ssize_t n = ::readlink("/proc/self/exe", buf, sizeof buf - 1);
  if (n <= 0) throw RuntimeError("cannot find the muE executable (/proc/self/exe)");
  o.exe = std::string(buf, static_cast<std::size_t>(n));
  const BackendRuntime info = backend_runtime(); // torch-free on a CPU-only build
  o.device = resolve_device(g.device, info);     // "auto" -> cuda or cpu
  o.cuda_devices = info.cuda_devices;
  o.backend_environment =
      Json{{"torch", info.torch_version}, {"cuda_available", info.cuda_available()}};
  o.threads = g.threads;
  o.quiet = g.quiet;
  o.live = !g.quiet && ::isatty(STDERR_FILENO);
}

void write_page(const std::vector<std::string>& inputs, const std::string& path,
                const GlobalOptions& g) {
  std::vector<ReportInput> in;
  for (const auto& p : inputs)
    in.push_back({p});
  try {
    write_file_atomic(path, render_html_report(in));
    if (!g.quiet) std::printf("wrote %s\n", path.c_str());
  } catch (const Error& e) { // the run's own reports are written; the page is a view of them
    std::cerr << "muE: warning: no " << path << ": " << e.what() << "\n";
  }
  std::fflush(stdout);
}

void print_sweep_outputs(const SweepOutputs& out, const GlobalOptions& g) {
  if (g.quiet) return;
  for (const auto& w : out.warnings)
    std::cerr << "muE: warning: " << w << "\n";
  std::printf("%s\nwrote %s\n", out.summary.c_str(), out.report_file.c_str());
  if (!out.plot_file.empty())
    std::printf("wrote %s\n", out.plot_file.c_str());
  else
    std::printf("no plot (gnuplot not found: apt-get install gnuplot-nox)\n");
  std::fflush(stdout);
}

} // namespace mue::cli
