// Tests of src/sweep: the journal (durable lines, torn last line, damaged journal, salvage,
// the spec guard), the worker protocol's files, units and the process layout.
#include <doctest/doctest.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>
#include <unistd.h>

#include "helpers.h"
#include "sweep/adaptive.h"
#include "sweep/engine.h"
#include "sweep/journal.h"
#include "sweep/launcher.h"
#include "sweep/plan.h"
#include "sweep/pruner.h"
#include "sweep/report.h"
#include "sweep/worker.h"
#include "util/error.h"
#include "util/fs.h"

using namespace mue;
namespace fs = std::filesystem;

namespace {

// A fresh directory under the temp dir, removed at scope exit.
struct TempDir {
  fs::path path;
  explicit TempDir(const std::string& name)
      : path(fs::temp_directory_path() / (name + "-" + std::to_string(::getpid()))) {
    fs::remove_all(path);
  }
  ~TempDir() { fs::remove_all(path); }
};

TrialSpec spec_with(double lr, int d_model = 32,
                    const char* ffn = R"({"kind": "dense", "d_ff": 32})") {
  TrialSpec t;
  t.config = parse_config(
      mue::test::parse(std::string(R"({
    "model": {"vocab": 64, "d_model": )") +
                       std::to_string(d_model) +
                       R"(, "n_layers": 1, "n_heads": 2, "seq_len": 8, "ffn": )" + ffn + R"(},
    "train": {"batch_size": 2, "steps": 4, "data": {"kind": "synthetic"}},
    "hparams": {"lr": )" +
                       std::to_string(lr) + R"(, "wd": 0.1, "init_std": 0.02}})"),
      Where{"t.json", ""});
  return t;
}

PlannedTrial planned(double lr) {
  PlannedTrial p;
  p.point = {lr};
  p.spec = spec_with(lr);
  return p;
}

TrialResult ok_result(const std::string& id, double objective) {
  TrialResult r;
  r.id = id;
  r.status = TrialStatus::kOk;
  r.objective = objective;
  r.final_val_loss = objective;
  return r;
}

} // namespace

TEST_CASE("journal: appended results read back, the last line per id wins") {
  TempDir tmp("mue-test-journal");
  const Journal j(tmp.path);
  CHECK(fs::is_directory(j.trials_dir()));
  CHECK(fs::is_directory(j.logs_dir()));
  j.append(ok_result("a", 2.0));
  TrialResult retry = ok_result("b", 0);
  retry.status = TrialStatus::kFailed;
  retry.objective.reset();
  retry.retry = true;
  j.append(retry);
  j.append(ok_result("b", 3.0));
  bool torn = true;
  const auto done = j.read(&torn);
  CHECK_FALSE(torn);
  REQUIRE(done.size() == 2);
  CHECK(*done.at("b").objective == 3.0);
  CHECK(finished(done, "a"));
  CHECK_FALSE(finished(done, "c"));
}

TEST_CASE("journal: a torn last line is ignored and reported, a damaged middle line is an error") {
  TempDir tmp("mue-test-torn");
  const Journal j(tmp.path);
  j.append(ok_result("a", 2.0));
  std::ofstream(j.journal_file(), std::ios::app) << "{\"schema\": \"mue.res";
  bool torn = false;
  CHECK(j.read(&torn).size() == 1);
  CHECK(torn);
  std::ofstream(j.journal_file(), std::ios::app) << "\n"
                                                 << to_json(ok_result("b", 1.0)).dump() << "\n";
  CHECK_THROWS_AS(j.read(), RuntimeError);
}

TEST_CASE("journal: a directory of another spec is refused unless force_new, which empties it") {
  TempDir tmp("mue-test-spec-guard");
  const Journal j = Journal::for_spec(tmp.path, "spec one\n", false, "one.json");
  j.append(ok_result("a", 2.0));
  CHECK(read_file(j.spec_file()) == "spec one\n");
  // The same spec again: the journal stays.
  CHECK(Journal::for_spec(tmp.path, "spec one\n", false, "one.json").read().size() == 1);
  const auto f =
      mue::test::failure_of([&] { Journal::for_spec(tmp.path, "spec two\n", false, "two.json"); });
  CHECK(f.failed);
  CHECK(f.reason.find("--force-new") != std::string::npos);
  const Journal fresh = Journal::for_spec(tmp.path, "spec two\n", true, "two.json");
  CHECK(fresh.read().empty());
  CHECK(read_file(fresh.spec_file()) == "spec two\n");
  // An existing directory without spec.json is not a sweep directory.
  TempDir other("mue-test-not-sweep");
  fs::create_directories(other.path);
  CHECK(mue::test::failure_of([&] { Journal::existing(other.path); }).failed);
}

TEST_CASE("journal: results left in trials/ by killed workers are salvaged once, packs included") {
  TempDir tmp("mue-test-salvage");
  const Journal j(tmp.path);
  const std::vector<PlannedTrial> plan{planned(1e-3), planned(2e-3), planned(4e-3), planned(8e-3)};
  const std::string a = plan[0].spec.id(), b = plan[1].spec.id(), c = plan[2].spec.id();
  // A single trial's result, and a pack of two.
  const Unit single = make_unit({plan[0].spec});
  write_file_atomic(j.unit_files(single.name).result, to_json(ok_result(a, 2.5)).dump());
  const Unit pack = make_unit({plan[1].spec, plan[2].spec});
  CHECK(pack.pack());
  CHECK(pack.name.rfind("pack-", 0) == 0);
  write_file_atomic(j.unit_files(pack.name).result,
                    to_json(PackResult{{ok_result(b, 2.4), ok_result(c, 2.6)}}).dump());
  // A result of a trial that is not in the plan, and a garbage one: ignored.
  write_file_atomic(j.unit_files("ffff").result, to_json(ok_result("ffff", 1.0)).dump());
  write_file_atomic(j.unit_files(plan[3].spec.id()).result, "{\"schema\": ");
  std::map<std::string, TrialResult> done;
  CHECK(j.salvage(plan, done) == 3);
  CHECK(done.size() == 3);
  CHECK(j.read().size() == 3);
  CHECK(j.salvage(plan, done) == 0); // already journaled
  CHECK(j.read().size() == 3);
}

TEST_CASE("a trial that left no result: the worker's own error line joins the reason") {
  TempDir tmp("mue-test-failure");
  fs::create_directories(tmp.path);
  const std::string log = (tmp.path / "t.log").string();
  const std::string why = "the trial process exited with status 3 without a valid result";
  write_file_atomic(log, "step 1\nmuE: error: cannot open data file '/x/c.txt': No such file or "
                         "directory\n");
  const TrialResult r = failure_result("abc", TrialStatus::kFailed, why, log);
  CHECK(r.error == why + ": cannot open data file '/x/c.txt': No such file or directory");
  CHECK(r.log_tail.find("step 1") != std::string::npos);
  write_file_atomic(log, "step 1\nAborted\n"); // nothing said: the reason stays as it is
  CHECK(failure_result("abc", TrialStatus::kFailed, why, log).error == why);
  CHECK(failure_result("abc", TrialStatus::kFailed, why, (tmp.path / "none.log").string()).error ==
        why);
}

TEST_CASE("worker protocol: pack, pack result and calibration files round-trip") {
  const TrialPack p{{spec_with(1e-3), spec_with(2e-3)}};
  const TrialPack back = parse_trial_pack(to_json(p), Where{"p.json", ""});
  REQUIRE(back.trials.size() == 2);
  CHECK(back.trials[1].id() == p.trials[1].id());
  CHECK(to_json(p)["schema"] == kPackSchema);
  CHECK(mue::test::failure_of([] {
          parse_trial_pack(mue::test::parse(R"({"schema": "mue.pack/1", "trials": []})"),
                           Where{"p.json", ""});
        }).pointer == "/trials");
  CHECK(mue::test::failure_of([] {
          parse_trial_pack(mue::test::parse(R"({"schema": "mue.result/1", "trials": [{}]})"),
                           Where{"p.json", ""});
        }).pointer == "/schema");

  const PackResult r{{ok_result("a", 1.5), ok_result("b", 2.5)}};
  const PackResult rb = parse_pack_result(to_json(r), Where{"r.json", ""});
  REQUIRE(rb.results.size() == 2);
  CHECK(*rb.results[1].objective == 2.5);

  const Calibration c{0.25, {{2, 0.4}, {4, 0.7}}};
  const Calibration cb = parse_calibration(to_json(c), Where{"c.json", ""});
  CHECK(cb.single_step_s == 0.25);
  REQUIRE(cb.pack_step_s.size() == 2);
  CHECK(cb.pack_step_s[1] == std::make_pair(4, 0.7));

  const auto args = worker_args("s.json", "r.json", true);
  CHECK(args == std::vector<std::string>{"-q", "trial", "--spec", "s.json", "--result", "r.json",
                                         "--pack"});
  CHECK(calibrate_args("s.json") ==
        std::vector<std::string>{"-q", "trial", "--calibrate", "--spec", "s.json"});
}

TEST_CASE("units: packs hold up to K trials of one pack key, MoE and other shapes run alone") {
  std::vector<PlannedTrial> plan{planned(1e-3), planned(2e-3), planned(4e-3)};
  PlannedTrial wide;
  wide.spec = spec_with(1e-3, 64);
  plan.push_back(wide);
  PlannedTrial moe;
  moe.spec = spec_with(1e-3, 32, R"({"kind": "moe", "n_experts": 4, "active": 2, "d_expert": 8})");
  plan.push_back(moe);
  CHECK(pack_key(plan[0].spec) == pack_key(plan[1].spec)); // lr is not in the key
  CHECK(pack_key(plan[0].spec) != pack_key(plan[3].spec)); // the width is
  CHECK(pack_key(plan[4].spec).empty());                   // MoE is never fused
  const std::vector<std::size_t> all{0, 1, 2, 3, 4};
  CHECK(make_units(plan, all, 1).size() == 5);
  const auto units = make_units(plan, all, 2);
  REQUIRE(units.size() == 4);
  CHECK(units[0] == std::vector<std::size_t>{0, 1});
  CHECK(units[1] == std::vector<std::size_t>{2});
  CHECK(units[2] == std::vector<std::size_t>{3});
  CHECK(units[3] == std::vector<std::size_t>{4});
}

TEST_CASE("layout: one job per core (CPU) or per GPU (CUDA), capped by the pending trials") {
  Layout l = choose_layout(0, 0, 18, "cpu", 0, 2);
  CHECK(l.jobs == 2);
  CHECK(l.threads == 1);
  CHECK(l.devices == std::vector<std::string>{"cpu"});
  l = choose_layout(0, 0, 1, "cpu", 0, 8);
  CHECK(l.jobs == 1);
  CHECK(l.threads == 8);
  l = choose_layout(0, 0, 10, "cuda", 4, 16);
  CHECK(l.jobs == 4);
  CHECK(l.threads == 4);
  CHECK(l.devices == std::vector<std::string>{"cuda:0", "cuda:1", "cuda:2", "cuda:3"});
  l = choose_layout(3, 2, 10, "cuda:1", 4, 16);
  CHECK(l.jobs == 3);
  CHECK(l.threads == 2);
  CHECK(l.devices == std::vector<std::string>{"cuda:1"});
}

TEST_CASE("--fuse accepts off, auto and K in [1, 64]") {
  for (const char* ok : {"off", "auto", "1", "4", "64"})
    CHECK_NOTHROW(check_fuse_flag(ok));
  for (const char* bad : {"", "0", "65", "x", "-1", "1000"})
    CHECK_THROWS_AS(check_fuse_flag(bad), UsageError);
}

TEST_CASE("journal: a torn tail is cut before the next append, so the journal stays readable") {
  TempDir tmp("mue-test-torn-append");
  const Journal j(tmp.path);
  CHECK_FALSE(j.drop_torn_tail()); // no journal yet
  j.append(ok_result("a", 2.0));
  CHECK_FALSE(j.drop_torn_tail()); // ends with a newline: nothing to cut
  std::ofstream(j.journal_file(), std::ios::app) << "{\"id\":\"abc";
  CHECK(j.drop_torn_tail());
  j.append(ok_result("b", 1.0));
  bool torn = true;
  const auto done = j.read(&torn);
  CHECK_FALSE(torn);
  CHECK(done.size() == 2);
}

TEST_CASE("sweep report: when every trial failed on the same error, the message gives it") {
  const SweepSpec s = parse_sweep_spec(mue::test::parse(R"({
    "name": "fails",
    "model": {"vocab": 64, "d_model": 32, "n_layers": 1, "n_heads": 2, "seq_len": 8,
              "ffn": {"kind": "dense", "d_ff": 32}},
    "train": {"batch_size": 2, "steps": 4, "data": {"kind": "synthetic"}},
    "hparams": {"wd": 0.1, "init_std": 0.02},
    "axes": {"lr": [0.001, 0.01]}})"),
                                       Where{"s.json", ""});
  const std::vector<PlannedTrial> plan = plan_sweep(s, "<test>");
  REQUIRE(plan.size() == 2);
  auto failed = [&](const std::string& error, TrialStatus st = TrialStatus::kFailed) {
    std::map<std::string, TrialResult> done;
    for (const auto& t : plan) {
      TrialResult r;
      r.id = t.spec.id();
      r.status = st;
      r.error = error;
      done[r.id] = r;
    }
    try {
      build_sweep_report(s, "s.json", plan, done, Json::object());
    } catch (const CheckFailedError& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  CHECK(failed("data split has 10 tokens, fewer than seq_len + 2 = 66\nmore") ==
        "no usable trial: 2 failed: data split has 10 tokens, fewer than seq_len + 2 = 66");
  // No recorded error (e.g. every trial diverged): the general advice stays.
  CHECK(failed("", TrialStatus::kDiverged).find("lower the learning-rate grid") !=
        std::string::npos);
}

// ---- Adaptive search (src/sweep/adaptive.h) on synthetic objectives with a known optimum.

namespace {

SweepSpec adaptive_spec(const std::string& axes, int seeds, const std::string& search) {
  return parse_sweep_spec(mue::test::parse(R"({
    "schema": "mue.sweep_spec/1", "name": "bowl",
    "model": {"vocab": 64, "d_model": 32, "n_layers": 1, "n_heads": 2, "seq_len": 16,
              "ffn": {"kind": "dense", "d_ff": 32}},
    "train": {"batch_size": 4, "steps": 10, "data": {"kind": "synthetic"}},
    "hparams": {"wd": 0.1, "init_std": 0.02},
    "axes": )" + axes + R"(, "seeds": )" + std::to_string(seeds) +
                                           R"(, "search": )" + search + "}"),
                          Where{"bowl.json", ""});
}

// Runs the search to the end, answering each pending trial with `objective(point, seed)`.
template <class F>
AdaptiveState run_search(const SweepSpec& s, F objective,
                         std::map<std::string, TrialResult>& done) {
  for (int calls = 0; calls < 100; ++calls) {
    const AdaptiveState st = adaptive_state(s, "bowl.json", done);
    if (st.finished) return st;
    REQUIRE_FALSE(st.pending.empty());
    for (const auto& t : st.plan) {
      if (done.count(t.spec.id())) continue;
      TrialResult r;
      r.id = t.spec.id();
      r.status = TrialStatus::kOk;
      r.objective = objective(t.point, t.seed);
      done[r.id] = r;
    }
  }
  FAIL("the search did not finish in 100 rounds");
  return {};
}

// A deterministic pseudo-noise in [-1, 1] from a point and a seed.
double noise(const std::vector<double>& p, std::uint64_t seed) {
  std::uint64_t h = 1469598103934665603ull ^ seed;
  for (double v : p) {
    std::uint64_t bits;
    std::memcpy(&bits, &v, sizeof bits);
    h = (h ^ bits) * 1099511628211ull;
  }
  return double(h % 20001) / 10000.0 - 1.0;
}

} // namespace

TEST_CASE("adaptive search: 1-D bowl, the CI covers the true optimum with a third of the grid") {
  // lr lattice 2^-14 .. 2^-1 every 0.25 log2: 53 points; the bowl's bottom at log2 lr = -6.3.
  const SweepSpec s = adaptive_spec(R"({"lr": {"log2_grid": [-14, -1, 0.25]}})", 2,
                                    R"({"kind": "adaptive", "target_ci_log2": 0.25})");
  const double truth = -6.3;
  std::map<std::string, TrialResult> done;
  const AdaptiveState st = run_search(
      s,
      [&](const std::vector<double>& p, std::uint64_t seed) {
        const double x = std::log2(p[0]) - truth;
        return 3.0 + 0.1 * x * x + 0.005 * noise(p, seed);
      },
      done);
  CHECK((st.stop_reason == "ci" || st.stop_reason == "lattice"));
  CHECK(st.grid_trials == 106);
  CHECK(st.plan.size() * 3 <= st.grid_trials);
  const FitResult fit = build_sweep_report(s, "bowl.json", st.plan, done, Json::object()).fit;
  CHECK(std::log2(fit.axes[0].ci_low) <= truth);
  CHECK(std::log2(fit.axes[0].ci_high) >= truth);
  CHECK(std::abs(std::log2(fit.axes[0].value) - truth) <= 0.25);
  // Every round's points are lattice points, none twice.
  std::set<std::string> ids;
  for (const auto& t : st.plan)
    CHECK(ids.insert(t.spec.id()).second);
  // Pure: the same results replay the same search (what resume and `muE fit` rely on).
  const AdaptiveState again = adaptive_state(s, "bowl.json", done);
  CHECK(again.finished);
  CHECK(again.plan.size() == st.plan.size());
  CHECK(again.rounds == st.rounds);
}

TEST_CASE("adaptive search: 2-D lr x init_std bowl converges inside the lattice") {
  const SweepSpec s = adaptive_spec(
      R"({"lr": {"log2_grid": [-12, -2, 0.25]}, "init_std": {"log2_grid": [-9, -3, 0.25]}})", 1,
      R"({"kind": "adaptive"})");
  std::map<std::string, TrialResult> done;
  const AdaptiveState st = run_search(
      s,
      [&](const std::vector<double>& p, std::uint64_t seed) {
        const double x = std::log2(p[0]) + 7.1, y = std::log2(p[1]) + 5.6;
        return 3.0 + 0.1 * x * x + 0.05 * y * y + 0.02 * x * y + 0.003 * noise(p, seed);
      },
      done);
  CHECK(st.finished);
  CHECK(st.plan.size() * 3 <= st.grid_trials); // 41 × 25 = 1025 grid trials
  const FitResult fit = build_sweep_report(s, "bowl.json", st.plan, done, Json::object()).fit;
  CHECK(std::abs(std::log2(fit.axes[0].value) + 7.1) <= 0.25);
  CHECK(std::abs(std::log2(fit.axes[1].value) + 5.6) <= 0.5);
}

TEST_CASE("adaptive search: the budget, a failed round and bad settings") {
  const SweepSpec s = adaptive_spec(R"({"lr": {"log2_grid": [-14, -1, 0.25]}})", 1,
                                    R"({"kind": "adaptive", "max_trials": 9})");
  std::map<std::string, TrialResult> done;
  const AdaptiveState st = run_search(
      s,
      [](const std::vector<double>& p, std::uint64_t) { return std::pow(std::log2(p[0]) + 5, 2); },
      done);
  CHECK(st.plan.size() <= 9);
  CHECK((st.stop_reason == "budget" || st.stop_reason == "ci"));
  // Every trial of the first round diverged: nothing to fit, the search stops.
  const SweepSpec s2 =
      adaptive_spec(R"({"lr": {"log2_grid": [-14, -1, 0.25]}})", 1, R"({"kind": "adaptive"})");
  std::map<std::string, TrialResult> bad;
  AdaptiveState first = adaptive_state(s2, "bowl.json", bad);
  for (const auto& t : first.plan) {
    TrialResult r;
    r.id = t.spec.id();
    r.status = TrialStatus::kDiverged;
    bad[r.id] = r;
  }
  const AdaptiveState stopped = adaptive_state(s2, "bowl.json", bad);
  CHECK(stopped.finished);
  CHECK(stopped.stop_reason == "no_usable");
  // A trial journaled with retry counts as pending.
  bad.begin()->second.retry = true;
  CHECK_FALSE(adaptive_state(s2, "bowl.json", bad).finished);
  for (const char* search :
       {R"({"kind": "random"})", R"({"kind": "adaptive", "coarse_step": 0})",
        R"({"kind": "adaptive", "max_trials": 0})", R"({"kind": "grid", "max_trials": 5})",
        R"({"kind": "adaptive", "target": 1})"})
    CHECK_THROWS_AS(adaptive_spec(R"({"lr": [0.001, 0.01]})", 1, search), InputError);
}

// ---- Pruning decisions (src/sweep/pruner.h).

TEST_CASE("median pruner: warm-up, enough finished trials, best so far against the median") {
  PrunerSpec p;
  p.kind = PrunerSpec::Kind::kMedian;
  p.warmup_evals = 1;
  p.min_trials = 3;
  const std::vector<EvalCurve> finished{
      {{10, 2.0}, {20, 1.5}}, {{10, 2.2}, {20, 1.7}}, {{10, 2.4}, {20, 1.9}}};
  // Within the warm-up: never.
  CHECK(prune_reason(p, {{10, 9.0}}, finished, {}).empty());
  // Above the median (1.7) at step 20: pruned, and the reason names the figures.
  const std::string why = prune_reason(p, {{10, 2.5}, {20, 1.8}}, finished, {});
  CHECK(why.find("median pruner: best validation loss 1.8 at step 20 is above the median 1.7 of "
                 "3 finished trials") != std::string::npos);
  // Its best so far (1.6 at step 10) is under the median: goes on.
  CHECK(prune_reason(p, {{10, 1.6}, {20, 1.8}}, finished, {}).empty());
  // Too few finished trials at that step: goes on.
  CHECK(prune_reason(p, {{10, 2.5}, {30, 9.0}}, finished, {}).empty());
  p.kind = PrunerSpec::Kind::kNone;
  CHECK(prune_reason(p, {{10, 2.5}, {20, 9.0}}, finished, {}).empty());
}

TEST_CASE("successive halving: only at rungs, keeps the best 1/eta of those that reached it") {
  PrunerSpec p;
  p.kind = PrunerSpec::Kind::kSuccessiveHalving;
  p.min_evals = 1;
  p.eta = 3;
  p.min_trials = 3;
  // Rungs at 1, 3, 9 evaluations. Six others reached step 10 (rung 0): keep the best 2 of 7.
  std::vector<EvalCurve> others;
  for (double v : {2.0, 2.1, 2.2, 2.3, 2.4, 2.5})
    others.push_back({{10, v}, {20, v - 0.1}, {30, v - 0.2}});
  CHECK(prune_reason(p, {{10, 1.9}}, {}, others).empty());
  CHECK(prune_reason(p, {{10, 2.05}}, {}, others).empty()); // second best of 7
  CHECK(prune_reason(p, {{10, 2.15}}, {}, others).find("not in the best 2 of 7") !=
        std::string::npos);
  // Two evaluations is not a rung.
  CHECK(prune_reason(p, {{10, 1.9}, {20, 9.0}}, {}, others).empty());
  // At the rung of 3 evaluations: compared at step 30.
  CHECK_FALSE(prune_reason(p, {{10, 1.9}, {20, 1.8}, {30, 2.9}}, {}, others).empty());
  // Fewer than min_trials reached the rung: promoted.
  CHECK(prune_reason(p, {{10, 9.0}}, {}, {{{10, 2.0}}}).empty());
}

TEST_CASE("progress files: evaluations read back, a torn last line skipped") {
  TempDir dir("mue-progress");
  fs::create_directories(dir.path);
  const std::string f = progress_file_for((dir.path / "x.result.json").string());
  CHECK(f == (dir.path / "x.result.json.progress").string());
  write_file_atomic(f, "10 3.5 3.25\n20 2.5 2.75 0.001\n30 1.5");
  const auto c = read_progress(f);
  REQUIRE(c.size() == 2);
  CHECK(c[1].step == 20);
  CHECK(c[1].train_loss == 2.5);
  CHECK(*c[1].val_loss == 2.75);
  CHECK(c[1].lr == 0.001);
  CHECK(c[0].lr == 0); // the lr is optional
  CHECK(eval_curve(c) == EvalCurve{{10, 3.25}, {20, 2.75}});
  CHECK(read_progress((dir.path / "missing").string()).empty());
}

TEST_CASE("pruner and search settings: parsed, checked, and kept in spec.json only when set") {
  const SweepSpec s = adaptive_spec(R"({"lr": [0.001, 0.01]})", 1, R"({"kind": "grid"})");
  const Json j = to_json(s);
  CHECK_FALSE(j.contains("search"));
  CHECK_FALSE(j.contains("pruner"));
  Json with = j;
  with["pruner"] = Json{{"kind", "successive_halving"}, {"eta", 2}, {"min_evals", 2}};
  const SweepSpec p = parse_sweep_spec(with, Where{"x.json", ""});
  CHECK(p.pruner.kind == PrunerSpec::Kind::kSuccessiveHalving);
  CHECK(p.pruner.eta == 2);
  CHECK(to_json(p)["pruner"]["min_evals"] == 2);
  for (const char* bad :
       {R"({"kind": "asha"})", R"({"kind": "median", "eta": 1})",
        R"({"kind": "median", "min_trials": 0})", R"({"kind": "median", "x": 1})"}) {
    Json b = j;
    b["pruner"] = mue::test::parse(bad);
    CHECK_THROWS_AS(parse_sweep_spec(b, Where{"x.json", ""}), InputError);
  }
}

TEST_CASE("omp_wait_policy: spin only when every trial's threads have their cores to themselves") {
  auto layout = [](int jobs, int threads) {
    Layout l;
    l.jobs = jobs;
    l.threads = threads;
    return l;
  };
  CHECK(std::string(omp_wait_policy(layout(1, 2), 2)) == "ACTIVE");  // one trial, all cores
  CHECK(std::string(omp_wait_policy(layout(2, 4), 8)) == "ACTIVE");  // 2 × 4 on 8 cores
  CHECK(std::string(omp_wait_policy(layout(2, 2), 2)) == "PASSIVE"); // oversubscribed
  CHECK(std::string(omp_wait_policy(layout(1, 4), 2)) == "PASSIVE"); // more threads than cores
  CHECK(std::string(omp_wait_policy(layout(2, 1), 2)) == "PASSIVE"); // one thread: no team
  CHECK(std::string(omp_wait_policy(layout(1, 1), 16)) == "PASSIVE");
}
