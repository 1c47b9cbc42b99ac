// The fuzzed input surface (issue 18): every shipped spec, target list, config and report,
// mutated thousands of ways from a seed, goes through what `muE validate`, `muE transfer` and
// `muE sweep --dry-run` do (and the readers of the transfer report and of Hugging Face
// configs: `muE explain`, `muE verify`, `muE import`). The only outcomes allowed are success
// (exit 0) and a clean input error (exit 2): no other exception, no crash, no sanitizer report,
// no hang past the per-case time limit, and no output file after an exit 2.
//
// In-process mode (the default; torch-free, so thousands of cases run in seconds): each case
// runs in a forked child with an alarm() watchdog; its stderr is kept and scanned for
// sanitizer reports. Process mode (--muE PATH): fewer cases, each through the real binary, its
// exit code compared with the in-process outcome of the same document.
//
//   test_fuzz [--cases N] [--seed S] [--jobs J] [--case-timeout SEC] [--failures DIR]
//   test_fuzz --muE build/cli/muE [--cases N] ...      end to end through the binary
//   test_fuzz --replay CASE_SEED                       one case again, its mutations printed
//   test_fuzz --file F [--no-fork]                     every consumer on one file, unmutated
//   test_fuzz --list-corpus                            the documents the cases start from
// Environment (overrides the arguments, for ctest): MUE_FUZZ_CASES, MUE_FUZZ_SEED,
// MUE_FUZZ_JOBS, MUE_FUZZ_CASE_TIMEOUT.
// Long mode (>= 10,000 cases; meant for the sanitizer build, ~40 min on 2 cores with 2 jobs;
// its time is printed at the end):
//   cmake --preset debug && cmake --build --preset debug --target test_fuzz
//   MUE_FUZZ_CASES=10000 MUE_FUZZ_JOBS=2 build-debug/tests/test_fuzz
// or through ctest: MUE_FUZZ_CASES=10000 ctest --preset debug -R 'fuzz: in-process'.
// A failing case is printed with its case seed and written, with what failed, to
// DIR/case-<seed>.json and .txt (DIR: --failures, default ./fuzz-failures). --replay SEED
// regenerates the case from the same source tree and build; the saved .json replays
// anywhere with --file.
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <limits>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "command/command.h"
#include "import/hf_config.h"
#include "report/transfer_report.h"
#include "spec/paths.h"
#include "spec/sweep_spec.h"
#include "spec/target_spec.h"
#include "spec/trial.h"
#include "spec/validate.h"
#include "sweep/plan.h"
#include "sweep/report.h"
#include "util/error.h"
#include "util/fs.h"
#include "util/json.h"

#ifndef MUE_SOURCE_DIR
#error "MUE_SOURCE_DIR must name the source tree"
#endif

namespace fs = std::filesystem;
using mue::Json;

namespace {

#if defined(__SANITIZE_ADDRESS__)
constexpr bool kSanitized = true;
#else
constexpr bool kSanitized = false;
#endif

const std::string kSource = MUE_SOURCE_DIR;
// The fixed partners of a mutated document in `transfer`: a good reference when the document
// plays the targets file, good targets when it plays the reference.
const std::string kGoodReference = kSource + "/sweeps/tiny-reference.json";
const std::string kGoodTargets = kSource + "/sweeps/moe-targets.json";

std::uint64_t splitmix(std::uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

std::string hex(std::uint64_t x) {
  char b[32];
  std::snprintf(b, sizeof b, "%016llx", static_cast<unsigned long long>(x));
  return b;
}

std::string first_line(const std::string& s, std::size_t max = 300) {
  std::string l = s.substr(0, s.find('\n'));
  return l.size() > max ? l.substr(0, max) + "..." : l;
}

// ---------------------------------------------------------------------------------------
// The corpus: every shipped input, plus a transfer report, a sweep report, a trial spec and a
// trial result generated here (torch-free: the sweep's results are made up).

struct SeedDoc {
  std::string name; // path in the source tree, or generated/...
  std::string text; // the bytes the mutations start from
  std::optional<Json> json;
  bool targets_role = false; // a targets file: `transfer` takes it as --targets
  // The command that reads such a file, for process mode: "sweep-dry-run", "transfer-targets",
  // "transfer-ref" or "validate".
  std::string consumer = "validate";
};

// Relative data and command paths mean "beside the file" (spec/paths.h). A mutated document
// lives elsewhere, so they are made absolute before mutating: otherwise every case of a spec
// with a relative data path would stop at its data file.
bool anchor_paths(Json& j, const fs::path& dir) {
  bool changed = false;
  if (j.is_object()) {
    for (auto it = j.begin(); it != j.end(); ++it) {
      if ((it.key() == "path" || it.key() == "val_path" || it.key() == "cwd") &&
          it.value().is_string()) {
        const std::string p = it.value().get<std::string>();
        if (!p.empty() && p[0] != '/') {
          it.value() = (dir / p).lexically_normal().string();
          changed = true;
        }
      } else {
        changed |= anchor_paths(it.value(), dir);
      }
    }
  } else if (j.is_array()) {
    for (auto& e : j)
      changed |= anchor_paths(e, dir);
  }
  return changed;
}

SeedDoc make_seed(const std::string& name, const std::string& text, const fs::path& dir) {
  SeedDoc d{name, text, std::nullopt, false, "validate"};
  try {
    Json j = mue::parse_json_strict(text, name);
    if (anchor_paths(j, dir)) d.text = j.dump(1) + "\n";
    const Json schema = j.is_object() ? j.value("schema", Json()) : Json();
    d.targets_role = j.is_object() && j.contains("targets") && !j.contains("schema")
                         ? true
                         : schema == "mue.targets/1";
    if (j.is_object() && (j.contains("axes") || schema == "mue.sweep_spec/1"))
      d.consumer = "sweep-dry-run";
    else if (d.targets_role)
      d.consumer = "transfer-targets";
    else if (j.is_object() && (schema == "mue.sweep/1" || schema == "mue.config/1" ||
                               (schema.is_null() && j.contains("model") && j.contains("train"))))
      d.consumer = "transfer-ref";
    d.json = std::move(j);
  } catch (const mue::InputError&) {
    // Not JSON (a bad fixture): only byte-level mutations apply.
  }
  return d;
}

// Fabricated results of the tiny sweep: a parabola in log2(lr) with its minimum inside.
Json generated_sweep_report(const std::string& spec_file) {
  const mue::SweepSpec s = mue::parse_sweep_spec(
      mue::read_spec(spec_file, mue::SpecKind::kSweepSpec), mue::Where{spec_file, ""});
  const std::vector<mue::PlannedTrial> plan = mue::plan_sweep(s, spec_file);
  std::map<std::string, mue::TrialResult> done;
  for (const auto& t : plan) {
    mue::TrialResult r;
    r.id = t.spec.id();
    r.status = mue::TrialStatus::kOk;
    const double x = std::log2(t.spec.config.hparams.lr) + 7.3;
    const double loss = 3.0 + 0.05 * x * x + 0.01 * std::log2(t.spec.config.hparams.init_std);
    r.objective = loss;
    r.final_val_loss = loss;
    for (int step = 50; step <= 200; step += 50)
      r.curve.push_back({step, loss + 0.1 * (200 - step) / 50.0, loss, 1e-3});
    r.tokens_per_s = 1e5;
    r.wall_s = 1;
    r.device = "cpu";
    done[r.id] = r;
  }
  return mue::build_sweep_report(s, spec_file, plan, done, Json{{"host", "fuzz"}}).json;
}

std::vector<SeedDoc> load_corpus(const fs::path& work) {
  std::vector<SeedDoc> out;
  std::vector<fs::path> files;
  auto glob = [&](const std::string& dir, bool recursive) {
    const fs::path d = fs::path(kSource) / dir;
    if (!fs::is_directory(d)) return;
    std::vector<fs::path> here;
    if (recursive) {
      for (const auto& e : fs::recursive_directory_iterator(d))
        if (e.is_regular_file() && e.path().extension() == ".json") here.push_back(e.path());
    } else {
      for (const auto& e : fs::directory_iterator(d))
        if (e.is_regular_file() && e.path().extension() == ".json") here.push_back(e.path());
    }
    std::sort(here.begin(), here.end());
    files.insert(files.end(), here.begin(), here.end());
  };
  glob("sweeps", false);
  glob("sweeps/examples", false);
  glob("sweeps/experiments", false);
  glob("examples", true);
  for (const char* d : {"good", "real", "verify", "transfer", "misc", "bad"})
    glob(std::string("tests/fixtures/") + d, false);
  for (const auto& f : files)
    out.push_back(
        make_seed(fs::relative(f, kSource).string(), mue::read_file(f.string()), f.parent_path()));

  // Reports muE writes, generated now so they match this build.
  const fs::path gen = work / "generated";
  fs::create_directories(gen);
  auto add_generated = [&](const std::string& name, const std::string& text) {
    mue::write_file_atomic((gen / name).string(), text);
    out.push_back(make_seed("generated/" + name, text, gen));
  };
  const mue::LoadedReference ref = mue::load_reference(kGoodReference);
  for (const char* t : {"moe-targets", "real-parts-targets"}) {
    const std::string tf = kSource + "/sweeps/" + t + ".json";
    const mue::TargetsSpec targets =
        mue::parse_targets_spec(mue::read_spec(tf, mue::SpecKind::kTargets), mue::Where{tf, ""});
    add_generated(std::string("transfer-") + t + ".json",
                  mue::report_text(mue::run_transfer(ref, targets, tf)));
  }
  const std::string tiny = kSource + "/sweeps/tiny-cpu.json";
  add_generated("sweep.json", generated_sweep_report(tiny).dump(1) + "\n");
  {
    const mue::SweepSpec s = mue::parse_sweep_spec(mue::read_spec(tiny, mue::SpecKind::kSweepSpec),
                                                   mue::Where{tiny, ""});
    const auto plan = mue::plan_sweep(s, tiny);
    add_generated("trial.json", mue::to_json(plan.front().spec).dump(1) + "\n");
    mue::TrialResult r;
    r.id = plan.front().spec.id();
    r.status = mue::TrialStatus::kOk;
    r.objective = r.final_val_loss = 3.25;
    r.curve = {{10, 4.0, 3.5, 1e-3}, {20, 3.3, 3.25, 5e-4}};
    r.expert_load = {{0.25, 0.25, 0.5, 0.0}};
    r.aux_loss = 0.01;
    add_generated("result.json", mue::to_json(r).dump(1) + "\n");
  }
  return out;
}

// ---------------------------------------------------------------------------------------
// Mutations. Structural ones edit the parsed document; raw tokens that a JSON library cannot
// hold (NaN, 1e400, a million brackets, a duplicate key) go in as sentinel strings replaced
// in the text. Byte-level ones (invalid UTF-8, truncation, stray bytes) edit the final text.

struct Pools {
  std::vector<std::string> keys;
  std::vector<Json> scalars;
  std::vector<std::string> strings;
  std::multimap<std::string, Json> by_key; // each key's values across the corpus
};

void collect_pools(const Json& j, Pools& p) {
  if (j.is_object()) {
    for (auto it = j.begin(); it != j.end(); ++it) {
      p.keys.push_back(it.key());
      if (!it.value().is_structured() || it.value().size() < 50)
        p.by_key.emplace(it.key(), it.value());
      collect_pools(it.value(), p);
    }
  } else if (j.is_array()) {
    for (const auto& e : j)
      collect_pools(e, p);
  } else {
    p.scalars.push_back(j);
    if (j.is_string()) p.strings.push_back(j.get<std::string>());
  }
}

class Mutator {
public:
  static constexpr std::size_t kMaxText = 32u << 20;

  Mutator(std::uint64_t seed, const Pools& pools) : rng_(seed), pools_(pools) {}

  std::uint64_t u(std::uint64_t n) { return n == 0 ? 0 : rng_() % n; }
  bool chance(double p) { return std::uniform_real_distribution<double>(0, 1)(rng_) < p; }
  template <class T> const T& pick(const std::vector<T>& v) { return v[u(v.size())]; }

  std::vector<std::string> log;

  // The mutated text of `d`; `mild` changes one value to another plausible one.
  std::string mutate(const SeedDoc& d, int structural, bool bytes, bool mild = false) {
    std::string text;
    if (d.json && structural > 0) {
      Json j = *d.json;
      for (int i = 0; i < structural; ++i)
        if (mild)
          mild_op(j);
        else
          structural_op(j);
      static const int indents[] = {-1, 1, 2};
      const int indent = indents[u(3)];
      // replace: a generator bug must not stop the run (invalid UTF-8 is a byte op below).
      text = j.dump(indent, ' ', false, Json::error_handler_t::replace);
      for (const auto& [sentinel, raw] : raw_)
        replace_all(text, Json(sentinel).dump(), raw);
      if (indent >= 0) text += "\n";
    } else {
      text = d.text;
    }
    if (bytes || !d.json) byte_op(text);
    if (text.size() > kMaxText) { // a bound on what a case costs, whatever the mutations did
      log.push_back("truncate @" + std::to_string(kMaxText));
      text.resize(kMaxText);
    }
    return text;
  }

private:
  std::mt19937_64 rng_;
  const Pools& pools_;
  std::vector<std::pair<std::string, std::string>> raw_;

  void flip_case(std::string& k) {
    if (k.empty()) return;
    char& c = k[u(k.size())];
    if (std::isalpha(static_cast<unsigned char>(c))) c ^= 0x20;
  }

  static void replace_all(std::string& s, const std::string& from, const std::string& to) {
    for (std::size_t at = s.find(from); at != std::string::npos; at = s.find(from, at + to.size()))
      s.replace(at, from.size(), to);
  }

  std::string sentinel(const std::string& raw) {
    std::string s = "@@muE-fuzz-" + std::to_string(raw_.size()) + "@@";
    raw_.emplace_back(s, raw);
    return s;
  }

  // Every node, as a JSON pointer (long arrays: their first 32 elements).
  static void nodes(const Json& j, const std::string& at, std::vector<std::string>& out) {
    out.push_back(at);
    if (j.is_object()) {
      for (auto it = j.begin(); it != j.end(); ++it)
        if (it.key().rfind("@@muE-fuzz-", 0) != 0)
          nodes(it.value(), mue::pointer_append(at, it.key()), out);
    } else if (j.is_array()) {
      for (std::size_t i = 0; i < j.size() && i < 32; ++i)
        nodes(j[i], mue::pointer_append(at, i), out);
    }
  }

  // A node that `want`s, its depth drawn first: a report has hundreds of leaves several levels
  // down, and a uniform draw would seldom change the shape above them.
  std::string pick_node(const Json& j, const std::function<bool(const Json&)>& want) {
    std::vector<std::string> all;
    nodes(j, "", all);
    std::map<std::size_t, std::vector<std::string>> by_depth;
    for (const auto& p : all)
      if (want(j.at(Json::json_pointer(p))))
        by_depth[static_cast<std::size_t>(std::count(p.begin(), p.end(), '/'))].push_back(p);
    if (by_depth.empty()) return "";
    auto level = by_depth.begin();
    std::advance(level, static_cast<long>(u(by_depth.size())));
    return pick(level->second);
  }

  static std::string key_of(const std::string& pointer) {
    const std::string last = pointer.substr(pointer.rfind('/') + 1);
    std::string k;
    for (std::size_t i = 0; i < last.size(); ++i) {
      if (last[i] == '~' && i + 1 < last.size()) {
        k += last[i + 1] == '1' ? '/' : '~';
        ++i;
      } else {
        k += last[i];
      }
    }
    return k;
  }

  Json special_number() {
    static const std::vector<Json> v = {
        0,
        -1,
        1,
        2,
        3,
        -2,
        1e308,
        -1e308,
        1e-308,
        5e-324,
        -0.0,
        0.5,
        -0.5,
        1.5,
        1e15,
        1e18,
        1e19,
        9.0e15,
        2147483647,
        2147483648ll,
        -2147483648ll,
        -2147483649ll,
        4294967296ll,
        9007199254740993ll,
        std::numeric_limits<std::int64_t>::max(),
        std::numeric_limits<std::int64_t>::min(),
        std::numeric_limits<std::uint64_t>::max(),
        std::uint64_t{9223372036854775808ull},
        65536,
        1000000,
        1000000000,
        0.999999,
        1.0000001,
        1e-12,
    };
    return pick(v);
  }

  std::string raw_number() {
    static const std::vector<std::string> v = {"NaN",
                                               "Infinity",
                                               "-Infinity",
                                               "nan",
                                               "inf",
                                               "1e309",
                                               "-1e309",
                                               "1e400",
                                               "-1e-400",
                                               "4.9e-324",
                                               "-0",
                                               "0e0",
                                               "1E+2",
                                               "0x10",
                                               "01",
                                               "+1",
                                               ".5",
                                               "1.",
                                               "1e",
                                               "--1",
                                               "1e+",
                                               "123456789012345678901234567890",
                                               "-123456789012345678901234567890",
                                               "18446744073709551616",
                                               "18446744073709551615",
                                               "-9223372036854775809",
                                               "9223372036854775808",
                                               "1e308",
                                               "-1e308",
                                               "1.7976931348623157e308",
                                               "2.2250738585072014e-308"};
    return pick(v);
  }

  std::string long_text(std::size_t n) {
    switch (u(5)) {
    case 0:
      return std::string(n, 'a');
    case 1: {
      std::string s;
      while (s.size() < n)
        s += "\xcf\x83"; // σ
      return s;
    }
    case 2:
      return std::string(n, '9');
    case 3: { // a corpus string with its first character repeated: "888...8e2a", "mmm...moe"
      const std::string base = pools_.strings.empty() ? "x" : pick(pools_.strings);
      const char c = base.empty() || (base[0] & 0x80) ? 'b' : base[0];
      return std::string(n, c) + base;
    }
    default: {
      std::string s;
      while (s.size() < n)
        s += "../";
      return s;
    }
    }
  }

  Json special_string() {
    static const std::vector<std::string> v = {"NaN",
                                               "Infinity",
                                               "-Infinity",
                                               "nan",
                                               "inf",
                                               "1e308",
                                               "-1",
                                               "0",
                                               "",
                                               " ",
                                               "true",
                                               "null",
                                               "../../../../etc/passwd",
                                               "/",
                                               ".",
                                               "..",
                                               "a/b",
                                               "a\\b",
                                               "\n",
                                               std::string("a\0b", 3),
                                               std::string("\0", 1),
                                               "\xe2\x80\xae",
                                               "\xf0\x9f\x98\x80",
                                               "\xef\xbb\xbf",
                                               "/dev/zero",
                                               "/dev/null",
                                               "/proc/self/mem",
                                               "/nonexistent/x.bin",
                                               "{trial_json}",
                                               "0e0a",
                                               "1e1a",
                                               "1000000000e1a",
                                               "999999999e999999999a",
                                               "8e2a999999999g",
                                               "8e2a0g",
                                               "8e2a0s",
                                               "8e9a",
                                               "0e0a0g0s",
                                               "-8e2a",
                                               "8e2a4g2s1s",
                                               "mue.config/1",
                                               "mue.sweep_spec/1",
                                               "mue.targets/1",
                                               "mue.trial/1",
                                               "mue.result/1",
                                               "mue.sweep/1",
                                               "mue.transfer/1",
                                               "mue.config/2"};
    if (chance(0.15)) {
      static const std::size_t sizes[] = {256, 4096, 65536, 1 << 20};
      return long_text(sizes[u(4)]);
    }
    if (chance(0.3) && !pools_.strings.empty()) return pick(pools_.strings);
    return pick(v);
  }

  Json other_type(const Json& was) {
    switch (u(10)) {
    case 0:
      return nullptr;
    case 1:
      return true;
    case 2:
      return false;
    case 3:
      return "x";
    case 4:
      return 7;
    case 5:
      return 0.25;
    case 6:
      return Json::array();
    case 7:
      return Json::object();
    case 8:
      return Json::array({was});
    default:
      return Json{{"value", was}};
    }
  }

  Json long_array(const Json& was) {
    static const std::size_t sizes[] = {1001, 10000, 100000};
    // At most ~8 MB of text: a file of 50 MB takes seconds to parse, eight times a case, and
    // says nothing more. An element holding a raw sentinel (a million brackets) is not
    // repeated: its size is only known in the text.
    const std::string elem = (was.is_array() && !was.empty() ? was[0] : was).dump();
    const bool raw = elem.find("@@muE-fuzz-") != std::string::npos;
    const std::size_t n =
        std::min(sizes[u(3)], std::max<std::size_t>(2, (8u << 20) / (elem.size() + 1)));
    Json a = Json::array();
    switch (raw ? 1 : u(3)) {
    case 0: // the same element over and over
      for (std::size_t i = 0; i < n; ++i)
        a.push_back(was.is_array() && !was.empty() ? was[0] : was);
      break;
    case 1: // distinct numbers (axis values, seeds)
      for (std::size_t i = 0; i < n; ++i)
        a.push_back(was.is_number_float() ? Json(1e-4 * static_cast<double>(i + 1)) : Json(i));
      break;
    default: // distinct names
      for (std::size_t i = 0; i < n; ++i) {
        Json e = was.is_array() && !was.empty() ? was[i % was.size()] : was;
        if (e.is_object() && e.contains("name")) e["name"] = "t" + std::to_string(i);
        a.push_back(std::move(e));
      }
    }
    return a;
  }

  std::string deep_nesting() {
    static const std::size_t depths[] = {64, 300, 1000, 10000, 100000, 1000000};
    const std::size_t d = depths[u(6)];
    std::string s;
    switch (u(3)) {
    case 0:
      s = std::string(d, '[') + "1" + std::string(d, ']');
      break;
    case 1:
      s.reserve(d * 6 + 2);
      for (std::size_t i = 0; i < d; ++i)
        s += "{\"a\":";
      s += "1" + std::string(d, '}');
      break;
    default:
      s.reserve(d * 12);
      for (std::size_t i = 0; i < d; ++i)
        s += i % 2 ? "{\"model\":" : "[";
      s += "{}";
      for (std::size_t i = d; i-- > 0;)
        s += i % 2 ? "}" : "]";
    }
    return s;
  }

  Json replacement(const std::string& at, const Json& was) {
    switch (u(12)) {
    case 0:
    case 1:
      log.back() += " number";
      return special_number();
    case 2:
      log.back() += " raw-number";
      return sentinel(raw_number());
    case 3:
    case 4:
      log.back() += " string";
      return special_string();
    case 5:
      log.back() += " type";
      return other_type(was);
    case 6:
      log.back() += " long-array";
      return long_array(was);
    case 7:
      log.back() += " deep-nesting";
      return sentinel(deep_nesting());
    case 8: { // a value this key has elsewhere in the corpus
      const auto [lo, hi] = pools_.by_key.equal_range(key_of(at));
      const auto n = static_cast<std::size_t>(std::distance(lo, hi));
      if (n > 0) {
        auto it = lo;
        std::advance(it, static_cast<long>(u(n)));
        log.back() += " corpus-value";
        return it->second;
      }
      [[fallthrough]];
    }
    case 9:
      log.back() += " corpus-scalar";
      return pools_.scalars.empty() ? Json(1) : pick(pools_.scalars);
    case 10: { // a number nudged: ×2, ÷2, +1, −1, negated
      if (was.is_number()) {
        const double x = was.get<double>();
        static const double f[] = {2, 0.5, -1, 10, 0.1, 1e6, 1e-6};
        log.back() += " scaled";
        if (was.is_number_integer()) { // ±1, saturating (no signed overflow at the ends)
          const bool up = chance(0.5);
          if (was.is_number_unsigned()) {
            const auto v = was.get<std::uint64_t>();
            return up ? (v == UINT64_MAX ? v : v + 1) : (v == 0 ? v : v - 1);
          }
          const auto v = was.get<std::int64_t>();
          return up ? (v == INT64_MAX ? v : v + 1) : (v == INT64_MIN ? v : v - 1);
        }
        return x * f[u(7)];
      }
      [[fallthrough]];
    }
    default:
      log.back() += " number";
      return special_number();
    }
  }

  // One value changed to another that could be right: the same key's value elsewhere in the
  // corpus, the number scaled, or a boundary number. More of these pass validation, so they
  // reach the transfer arithmetic and the sweep plan.
  void mild_op(Json& j) {
    const std::string p = pick_node(j, [](const Json& n) { return n.is_primitive(); });
    log.push_back("mild " + (p.empty() ? "/" : p));
    Json& v = j.at(Json::json_pointer(p));
    const auto [lo, hi] = pools_.by_key.equal_range(key_of(p));
    const auto n = static_cast<std::size_t>(std::distance(lo, hi));
    const std::uint64_t how = u(10);
    if (how < 5 && n > 0) {
      auto it = lo;
      std::advance(it, static_cast<long>(u(n)));
      log.back() += " corpus-value";
      v = it->second;
    } else if (how < 8 && v.is_number()) {
      static const double f[] = {2, 0.5, 4, 0.25, 1e3, 1e-3, -1, 1e300, 1e-300};
      log.back() += " scaled";
      const double x = v.get<double>() * f[u(9)];
      v = v.is_number_integer() && std::fabs(x) < 9e18 ? Json(static_cast<std::int64_t>(x))
                                                       : Json(x);
    } else {
      log.back() += " number";
      v = special_number();
    }
  }

  void structural_op(Json& j) {
    switch (u(10)) {
    case 0: { // drop a key
      const std::string p = pick_node(j, [](const Json& n) { return n.is_object() && !n.empty(); });
      if (p.empty()) break;
      Json& o = j.at(Json::json_pointer(p));
      auto it = o.begin();
      std::advance(it, static_cast<long>(u(o.size())));
      log.push_back("drop " + mue::pointer_append(p, it.key()));
      o.erase(it);
      return;
    }
    case 1: { // duplicate a key (same or another value)
      const std::string p = pick_node(j, [](const Json& n) { return n.is_object() && !n.empty(); });
      if (p.empty()) break;
      Json& o = j.at(Json::json_pointer(p));
      auto it = o.begin();
      std::advance(it, static_cast<long>(u(o.size())));
      log.push_back("duplicate " + mue::pointer_append(p, it.key()));
      const Json v = chance(0.5) ? it.value() : special_number();
      o[sentinel(Json(it.key()).dump())] = v;
      // The sentinel is a key: the text replacement turns "@@..@@" into "key".
      raw_.back().second = Json(it.key()).dump();
      return;
    }
    case 2: { // add a key: a known key in the wrong place, or a near miss
      const std::string p = pick_node(j, [](const Json& n) { return n.is_object(); });
      if (p.empty()) break;
      std::string k = pools_.keys.empty() ? "extra" : pick(pools_.keys);
      if (chance(0.3)) flip_case(k);
      log.push_back("add " + mue::pointer_append(p, k));
      j.at(Json::json_pointer(p))[k] = pools_.scalars.empty() ? Json(1) : pick(pools_.scalars);
      return;
    }
    case 3: { // rename a key
      const std::string p = pick_node(j, [](const Json& n) { return n.is_object() && !n.empty(); });
      if (p.empty()) break;
      Json& o = j.at(Json::json_pointer(p));
      auto it = o.begin();
      std::advance(it, static_cast<long>(u(o.size())));
      std::string k = it.key();
      const Json v = it.value();
      o.erase(it);
      if (chance(0.5))
        flip_case(k);
      else
        k = chance(0.5) ? std::string(70000, 'k') : k + "\xc3\xa9";
      log.push_back("rename " + mue::pointer_append(p, key_of(k).substr(0, 40)));
      o[k] = v;
      return;
    }
    case 4: { // array surgery
      const std::string p = pick_node(j, [](const Json& n) { return n.is_array(); });
      if (p.empty()) break;
      Json& a = j.at(Json::json_pointer(p));
      switch (u(4)) {
      case 0:
        log.push_back("clear " + p);
        a = Json::array();
        return;
      case 1:
        if (a.empty()) break;
        log.push_back("dup-element " + p);
        a.push_back(a[u(a.size())]);
        return;
      case 2:
        if (a.empty()) break;
        log.push_back("erase-element " + p);
        a.erase(a.begin() + static_cast<long>(u(a.size())));
        return;
      default:
        log.push_back("long-array " + p);
        a = long_array(a);
        return;
      }
      break;
    }
    case 5: { // a whole object emptied or replaced by a big one
      const std::string p = pick_node(j, [](const Json& n) { return n.is_object(); });
      if (p.empty()) break;
      Json& o = j.at(Json::json_pointer(p));
      if (chance(0.5)) {
        log.push_back("empty " + p);
        o = Json::object();
      } else {
        log.push_back("many-keys " + p);
        for (int i = 0; i < 5000; ++i)
          o["k" + std::to_string(i)] = i;
      }
      return;
    }
    default:
      break;
    }
    // Replace a value (numbers and strings more often: that is where the ranges are).
    const bool scalars = chance(0.7);
    std::string p = pick_node(j, [&](const Json& n) { return !scalars || n.is_primitive(); });
    log.push_back("set " + (p.empty() ? "/" : p));
    const Json was = j.at(Json::json_pointer(p));
    j.at(Json::json_pointer(p)) = replacement(p, was);
  }

  void byte_op(std::string& s) {
    static const std::vector<std::string> bad_utf8 = {
        "\xff",    "\xfe",         "\xc0\xaf",
        "\xc3",    "\xed\xa0\x80", "\xf4\x90\x80\x80",
        "\x80",    "\xe2\x82",     "\xf8\x88\x80\x80\x80",
        "\xc3\x28"};
    const std::size_t at = u(s.size() + 1);
    switch (u(8)) {
    case 0:
    case 1: { // invalid UTF-8, inside a string when there is one
      std::size_t q = s.find('"', at);
      const std::size_t where = q == std::string::npos ? at : q + 1;
      log.push_back("invalid-utf8 @" + std::to_string(where));
      s.insert(where, pick(bad_utf8));
      return;
    }
    case 2:
    case 3:
      log.push_back("truncate @" + std::to_string(at));
      s.resize(at);
      return;
    case 4:
      if (s.empty()) break;
      log.push_back("flip-byte @" + std::to_string(at % s.size()));
      s[at % s.size()] = static_cast<char>(u(256));
      return;
    case 5: {
      static const char* stray[] = {"{", "}", "[", "]", ",", ":", "\"", "\\", "\0", "/*x*/"};
      const char* x = stray[u(10)];
      log.push_back("insert-byte @" + std::to_string(at));
      s.insert(at, x[0] == 0 ? std::string(1, '\0') : std::string(x));
      return;
    }
    case 6:
      if (chance(0.5)) {
        log.push_back("bom");
        s.insert(0, "\xef\xbb\xbf");
      } else {
        log.push_back("empty-file");
        s.clear();
      }
      return;
    default:
      log.push_back("trailing-garbage");
      s += chance(0.5) ? "}" : "{\"x\": 1}";
      return;
    }
    log.push_back("truncate @" + std::to_string(at));
    s.resize(at);
  }
};

struct Case {
  std::uint64_t seed = 0;
  std::size_t index = 0;
  const SeedDoc* from = nullptr;
  std::string text;
  std::vector<std::string> log;
};

Case make_case(std::uint64_t case_seed, const std::vector<SeedDoc>& corpus, const Pools& pools,
               bool unmutated = false) {
  Mutator m(case_seed, pools);
  Case c;
  c.seed = case_seed;
  // The bad fixtures count once, the other documents three times.
  std::vector<std::size_t> weighted;
  // An unmutated case (process mode) starts from a good document: it should exit 0.
  for (std::size_t i = 0; i < corpus.size(); ++i)
    for (int k = corpus[i].name.find("fixtures/bad/") == std::string::npos ? 3 : !unmutated; k > 0;
         --k)
      weighted.push_back(i);
  c.from = &corpus[m.pick(weighted)];
  if (unmutated) {
    c.text = c.from->text;
    return c;
  }
  const bool mild = m.chance(0.45);
  const int structural = mild            ? 1 + static_cast<int>(m.chance(0.25))
                         : m.chance(0.9) ? 1 + static_cast<int>(m.u(3))
                                         : 0;
  const bool bytes = structural == 0 || (!mild && m.chance(0.15));
  c.text = m.mutate(*c.from, structural, bytes, mild);
  c.log = m.log;
  return c;
}

// ---------------------------------------------------------------------------------------
// What each command does, as library calls (cli/cmd_*.cpp), and the exit code it would end
// with: 0; 2 for InputError/UsageError; anything else (another mue::Error, a std::exception:
// cli/main.cpp's "internal error") is a failure.

struct Outcome {
  std::string consumer;
  int code = 0; // 0, 2, or the exit the CLI would give (1, 3)
  std::string message;
  double ms = 0;
};

std::vector<std::string> listing(const fs::path& dir) {
  std::vector<std::string> out;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(dir, ec);
       !ec && it != fs::recursive_directory_iterator(); it.increment(ec))
    out.push_back(it->path().string());
  std::sort(out.begin(), out.end());
  return out;
}

// `muE transfer --reference R --targets T --out OUT --emit-configs CFG` (cli/cmd_transfer.cpp),
// then what muE promises of its output: the report reads back (explain, verify) and every
// emitted config validates.
void transfer_like_cli(const std::string& reference, const std::string& targets,
                       const fs::path& out_dir) {
  const std::string out = (out_dir / "transfer.json").string();
  const std::string emit = (out_dir / "configs").string();
  const mue::LoadedReference ref = mue::load_reference(reference);
  const mue::TargetsSpec t = mue::parse_targets_spec(
      mue::read_spec(targets, mue::SpecKind::kTargets), mue::Where{targets, ""});
  const mue::TransferOutput o = mue::run_transfer(ref, t, targets);
  mue::check_target_data(o, targets);
  fs::create_directories(out_dir);
  mue::write_file_atomic(out, [&](std::ostream& os) { mue::write_report(os, o); });
  // Thousands of targets (a long-array mutation) are valid; writing a config each (an fsync
  // each) and explaining them all takes seconds and checks nothing more than 200 do.
  if (o.results.size() > 200) return;
  fs::create_directories(emit);
  for (const auto& r : o.results)
    mue::write_file_atomic((fs::path(emit) / (r.spec->name + ".json")).string(),
                           mue::to_json(mue::target_config(o, r)).dump(1) + "\n");
  std::ostringstream sink;
  sink << mue::transfer_table(o);
  mue::write_report(sink, o); // --json
  // What muE wrote must read back.
  try {
    const Json report = mue::read_json_file(out);
    sink << mue::explain(report, out, "", "");
    mue::read_transfer_report(report, out);
    for (const auto& r : o.results)
      mue::validate_file((fs::path(emit) / (r.spec->name + ".json")).string(),
                         mue::SpecKind::kConfig);
  } catch (const mue::InputError& e) {
    throw std::runtime_error(std::string("muE's own output does not read back: ") + e.what());
  }
}

// `muE sweep SPEC --dry-run` (cli/cmd_sweep.cpp).
void sweep_dry_run_like_cli(const std::string& spec) {
  const mue::SweepSpec s =
      mue::parse_sweep_spec(mue::read_spec(spec, mue::SpecKind::kSweepSpec), mue::Where{spec, ""});
  if (s.axes.size() > 3)
    mue::Where{spec, "/axes"}.fail("the fit handles 1 to 3 axes; this sweep has " +
                                   std::to_string(s.axes.size()));
  mue::check_command(s.backend, fs::absolute(spec).parent_path().string(), mue::Where{spec, ""});
  const std::vector<mue::PlannedTrial> plan = mue::plan_sweep(s, spec);
  mue::check_data_files(plan.front().spec.config.train, mue::Where{spec, "/train"}, "",
                        plan.front().spec.config.model.seq_len);
  std::ostringstream os;
  os << s.name << ": " << s.grid_points() << " grid points × " << s.seeds.size()
     << " seed(s) = " << plan.size() << " trials\n";
  for (const auto& ax : s.axes)
    os << "  " << ax.key << ": " << Json(ax.values).dump() << "\n";
  for (const auto& t : plan)
    os << "  " << t.spec.id() << "  " << mue::describe_trial(s, t) << "\n";
}

Outcome run_consumer(const std::string& name, const std::function<void()>& f) {
  Outcome o{name, 0, "", 0};
  const auto t0 = std::chrono::steady_clock::now();
  try {
    f();
  } catch (const mue::InputError& e) {
    o.code = 2;
    o.message = e.what();
  } catch (const mue::UsageError& e) {
    o.code = 2;
    o.message = e.what();
  } catch (const mue::Error& e) {
    o.code = static_cast<int>(e.exit_code());
    o.message = std::string("muE error with exit ") + std::to_string(o.code) + ": " + e.what();
  } catch (const std::exception& e) {
    o.code = 3;
    o.message = std::string("internal error (") + typeid(e).name() + "): " + e.what();
  }
  o.ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  return o;
}

const std::vector<std::string> kConsumers = {"validate",      "transfer-ref", "transfer-targets",
                                             "sweep-dry-run", "explain",      "verify-read",
                                             "import",        "import-proxy"};

// Runs every consumer (or only `only`) on `input` in `dir`; an exit 2 that left a file in
// `dir` becomes a failure.
std::vector<Outcome> run_consumers(const std::string& input, const fs::path& dir,
                                   const std::string& only = "") {
  std::vector<Outcome> out;
  for (const auto& name : kConsumers) {
    if (!only.empty() && name != only) continue;
    const fs::path out_dir = dir / ("out-" + name);
    const std::vector<std::string> before = listing(dir);
    Outcome o = run_consumer(name, [&] {
      if (name == "validate") {
        std::vector<std::string> warnings;
        mue::validate_file(input, std::nullopt, &warnings);
      } else if (name == "transfer-ref") {
        transfer_like_cli(input, kGoodTargets, out_dir);
      } else if (name == "transfer-targets") {
        transfer_like_cli(kGoodReference, input, out_dir);
      } else if (name == "sweep-dry-run") {
        sweep_dry_run_like_cli(input);
      } else if (name == "explain") {
        std::ostringstream os;
        os << mue::explain(mue::read_json_file(input), input, "", "");
      } else if (name == "verify-read") {
        mue::read_transfer_report(mue::read_json_file(input), input);
      } else if (name == "import") {
        std::vector<std::string> warnings;
        mue::import_targets({input}, {}, false, std::nullopt, &warnings);
      } else if (name == "import-proxy") {
        std::vector<std::string> warnings;
        mue::ProxyShape p;
        p.d_model = 64;
        p.n_layers = 2;
        mue::import_targets({input}, {"proxy"}, true, p, &warnings);
      }
    });
    if (o.code == 2 && listing(dir) != before) {
      o.code = 4;
      o.message = "exit 2 but files were written: " + o.message;
    }
    std::error_code ec;
    fs::remove_all(out_dir, ec);
    out.push_back(std::move(o));
  }
  return out;
}

// ---------------------------------------------------------------------------------------
// The harness: each case in a forked child with an alarm; the parent checks what came back.

struct Options {
  std::size_t cases = 300;
  std::uint64_t seed = 18;
  int jobs = 1;
  double case_timeout = kSanitized ? 120 : 20;
  fs::path failures = "fuzz-failures";
  std::string muE;
  std::optional<std::uint64_t> replay;
  std::string file;
  bool fork = true;
  bool list = false;
};

struct Tally {
  std::size_t tried = 0, passed = 0, failed = 0;
  std::size_t validate_ok = 0, validate_rejected = 0;
  std::map<std::string, std::pair<std::size_t, std::size_t>> per_consumer; // exit 0, exit 2
  std::vector<std::pair<double, std::string>> slowest;
};

bool sanitizer_report(const std::string& err) {
  return err.find("Sanitizer") != std::string::npos ||
         err.find("runtime error:") != std::string::npos;
}

std::string read_text(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  std::ostringstream s;
  s << f.rdbuf();
  return s.str();
}

void write_text(const fs::path& p, const std::string& s) {
  std::ofstream f(p, std::ios::binary);
  f << s;
}

// The child: runs the consumers, writes one line per consumer to `dir`/outcome.
[[noreturn]] void child(const fs::path& dir, double timeout, const std::string& only) {
  alarm(static_cast<unsigned>(std::ceil(timeout)));
  const int err = ::open((dir / "stderr").c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (err >= 0) ::dup2(err, 2);
  const int null = ::open("/dev/null", O_WRONLY);
  if (null >= 0) ::dup2(null, 1);
  // One line per consumer as it finishes: after a hang or a crash, the last line tells
  // which consumer was running.
  std::ofstream lines(dir / "outcome");
  for (const auto& name : kConsumers) {
    if (!only.empty() && name != only) continue;
    lines << name << '\t' << std::flush;
    for (const Outcome& o : run_consumers((dir / "input.json").string(), dir / "work", name))
      lines << o.code << '\t' << o.ms << '\t' << first_line(o.message, 2000) << std::endl;
  }
  lines.close();
  std::fflush(nullptr);
  std::exit(0); // normal exit: LeakSanitizer checks the child
}

struct Running {
  Case c;
  fs::path dir;
  std::chrono::steady_clock::time_point start;
};

std::string describe(const Case& c) {
  std::string s = "case seed " + hex(c.seed) + " from " + c.from->name + ":";
  for (const auto& l : c.log)
    s += " [" + l + "]";
  if (c.log.empty()) s += " [unmutated]";
  return s;
}

void record_failure(const Options& opt, const Case& c, const std::string& why) {
  std::error_code ec;
  fs::create_directories(opt.failures, ec);
  const fs::path base = opt.failures / ("case-" + hex(c.seed));
  write_text(base.string() + ".json", c.text);
  write_text(base.string() + ".txt",
             describe(c) + "\n" + why + "\nreplay: test_fuzz --replay " + hex(c.seed) + "\n");
  std::cout << "FAIL " << describe(c) << "\n  " << why << "\n  input: " << base.string()
            << ".json; replay: test_fuzz --replay " << hex(c.seed) << std::endl;
}

// Parses the child's outcome file; the failures it shows, if any.
std::vector<std::string> check_outcome(const Running& r, int status, double timeout, Tally& t,
                                       std::vector<Outcome>* outcomes = nullptr) {
  std::vector<std::string> fails;
  const std::string err = read_text(r.dir / "stderr");
  if (WIFSIGNALED(status)) {
    const int sig = WTERMSIG(status);
    fails.push_back(sig == SIGALRM || sig == SIGKILL
                        ? "hang: no answer within " + std::to_string(static_cast<int>(timeout)) +
                              " s"
                        : std::string("crash: signal ") + strsignal(sig));
  } else if (WEXITSTATUS(status) != 0) {
    fails.push_back("child exited " + std::to_string(WEXITSTATUS(status)) +
                    " (a sanitizer report or an abort)");
  }
  if (sanitizer_report(err)) fails.push_back("sanitizer report:\n" + err.substr(0, 4000));
  std::istringstream in(read_text(r.dir / "outcome"));
  std::string line;
  double total_ms = 0;
  while (std::getline(in, line)) {
    std::istringstream f(line);
    Outcome o;
    std::string code, ms;
    std::getline(f, o.consumer, '\t');
    if (f.peek() == std::char_traits<char>::eof()) { // it did not finish
      if (!fails.empty()) fails.front() += " (in " + o.consumer + ")";
      break;
    }
    std::getline(f, code, '\t');
    std::getline(f, ms, '\t');
    std::getline(f, o.message);
    o.code = std::atoi(code.c_str());
    o.ms = std::atof(ms.c_str());
    total_ms += o.ms;
    if (o.code == 0)
      ++t.per_consumer[o.consumer].first;
    else if (o.code == 2)
      ++t.per_consumer[o.consumer].second;
    else
      fails.push_back(o.consumer + ": exit " + std::to_string(o.code) + ": " + o.message);
    if (o.consumer == "validate") ++(o.code == 0 ? t.validate_ok : t.validate_rejected);
    if (outcomes) outcomes->push_back(o);
  }
  t.slowest.emplace_back(total_ms, describe(r.c));
  std::sort(t.slowest.rbegin(), t.slowest.rend());
  if (t.slowest.size() > 3) t.slowest.resize(3);
  return fails;
}

// Runs the cases with up to opt.jobs children at a time.
// Cases are made when they start (a case's text can be megabytes; a parent holding them all
// would make every fork slow).
using CaseMaker = std::function<Case(std::size_t)>;

void run_in_process(const Options& opt, const CaseMaker& make, const fs::path& work, Tally& t) {
  std::map<pid_t, Running> running;
  std::size_t next = 0;
  while (next < opt.cases || !running.empty()) {
    while (next < opt.cases && running.size() < static_cast<std::size_t>(opt.jobs)) {
      Running r{make(next), work / ("case-" + std::to_string(next)),
                std::chrono::steady_clock::now()};
      ++next;
      fs::create_directories(r.dir / "work");
      write_text(r.dir / "input.json", r.c.text);
      std::cout.flush();
      const pid_t pid = ::fork();
      if (pid < 0) {
        std::perror("fork");
        std::exit(1);
      }
      if (pid == 0) child(r.dir, opt.case_timeout, "");
      running.emplace(pid, std::move(r));
    }
    int status = 0;
    const pid_t pid = ::waitpid(-1, &status, WNOHANG);
    if (pid <= 0) {
      // The child's alarm is the watchdog; this is its backstop.
      for (auto& [p, r] : running)
        if (std::chrono::steady_clock::now() - r.start >
            std::chrono::duration<double>(opt.case_timeout + 10))
          ::kill(p, SIGKILL);
      ::usleep(1000);
      continue;
    }
    auto it = running.find(pid);
    if (it == running.end()) continue;
    const Running r = std::move(it->second);
    running.erase(it);
    ++t.tried;
    const std::vector<std::string> fails = check_outcome(r, status, opt.case_timeout, t);
    if (fails.empty()) {
      ++t.passed;
    } else {
      ++t.failed;
      std::string why;
      for (const auto& f : fails)
        why += (why.empty() ? "" : "\n  ") + f;
      record_failure(opt, r.c, why);
    }
    std::error_code ec;
    fs::remove_all(r.dir, ec);
  }
}

// ---------------------------------------------------------------------------------------
// Process mode: the same kind of cases through the real binary.

struct ProcessResult {
  int status = 0;
  bool timed_out = false;
  std::string err;
};

ProcessResult run_process(const std::vector<std::string>& argv, const fs::path& dir,
                          double timeout) {
  const pid_t pid = ::fork();
  if (pid == 0) {
    const int err = ::open((dir / "muE.stderr").c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    const int out = ::open((dir / "muE.stdout").c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    ::dup2(err, 2);
    ::dup2(out, 1);
    std::vector<char*> args;
    for (const auto& a : argv)
      args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    ::execv(args[0], args.data());
    std::perror("execv");
    std::_Exit(127);
  }
  ProcessResult r;
  const auto start = std::chrono::steady_clock::now();
  while (::waitpid(pid, &r.status, WNOHANG) == 0) {
    if (std::chrono::steady_clock::now() - start > std::chrono::duration<double>(timeout)) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, &r.status, 0);
      r.timed_out = true;
      break;
    }
    ::usleep(2000);
  }
  r.err = read_text(dir / "muE.stderr");
  return r;
}

void run_processes(const Options& opt, const CaseMaker& make, const fs::path& work, Tally& t) {
  const double timeout = opt.case_timeout + 30; // libtorch's start-up on a loaded machine
  for (std::size_t i = 0; i < opt.cases; ++i) {
    const Case c = make(i);
    const fs::path dir = work / ("proc-" + std::to_string(i));
    fs::create_directories(dir / "work");
    const std::string input = (dir / "input.json").string();
    write_text(input, c.text);
    const fs::path out = dir / "out";
    std::vector<std::string> argv = {opt.muE, "--quiet"};
    // Every third case `muE validate`, the others the command that reads such a document.
    const std::string consumer = i % 3 == 0 ? "validate" : c.from->consumer;
    if (consumer == "validate") {
      argv.insert(argv.end(), {"validate", input});
    } else if (consumer == "sweep-dry-run") {
      argv.insert(argv.end(), {"sweep", input, "--dry-run", "--out", (out / "sweep").string()});
    } else {
      const bool as_targets = consumer == "transfer-targets";
      argv.insert(argv.end(),
                  {"transfer", "--reference", as_targets ? kGoodReference : input, "--targets",
                   as_targets ? input : kGoodTargets, "--out", (out / "transfer.json").string(),
                   "--emit-configs", (out / "configs").string()});
    }
    // What the library says about the same document (a forked child, as in-process).
    Running r{c, dir, std::chrono::steady_clock::now()};
    std::cout.flush();
    const pid_t pid = ::fork();
    if (pid == 0) child(dir, opt.case_timeout, consumer);
    int status = 0;
    ::waitpid(pid, &status, 0);
    Tally scratch;
    std::vector<Outcome> expected;
    std::vector<std::string> fails = check_outcome(r, status, opt.case_timeout, scratch, &expected);

    const ProcessResult p = run_process(argv, dir, timeout);
    ++t.tried;
    int code = -1;
    if (p.timed_out)
      fails.push_back("muE hung: no exit within " + std::to_string(static_cast<int>(timeout)) +
                      " s");
    else if (WIFSIGNALED(p.status))
      fails.push_back(std::string("muE crashed: ") + strsignal(WTERMSIG(p.status)));
    else
      code = WEXITSTATUS(p.status);
    if (code != 0 && code != 2 && code != -1)
      fails.push_back("muE exited " + std::to_string(code) + ": " + first_line(p.err));
    if (sanitizer_report(p.err)) fails.push_back("sanitizer report:\n" + p.err.substr(0, 4000));
    if (!expected.empty() && code >= 0 && expected.front().code != code)
      fails.push_back("muE exited " + std::to_string(code) + " but the library gives " +
                      std::to_string(expected.front().code) + " (" +
                      first_line(expected.front().message) + "); muE said: " + first_line(p.err));
    if (code == 2 && fs::exists(out))
      fails.push_back("exit 2 but " + out.string() + " was written");
    if (code == 0 && consumer.rfind("transfer", 0) == 0 &&
        (!fs::exists(out / "transfer.json") || !fs::is_directory(out / "configs")))
      fails.push_back("exit 0 but no transfer.json or configs");
    if (consumer == "sweep-dry-run" && fs::exists(out / "sweep"))
      fails.push_back("sweep --dry-run wrote " + (out / "sweep").string());
    if (code == 2 && p.err.find("muE: error: ") == std::string::npos)
      fails.push_back("exit 2 without a 'muE: error:' line: " + first_line(p.err));
    if (code == 0) ++t.per_consumer["muE " + consumer].first;
    if (code == 2) ++t.per_consumer["muE " + consumer].second;
    if (fails.empty()) {
      ++t.passed;
    } else {
      ++t.failed;
      std::string why = "muE " + consumer + ":";
      for (const auto& f : fails)
        why += "\n  " + f;
      record_failure(opt, c, why);
    }
    std::error_code ec;
    fs::remove_all(dir, ec);
  }
}

// ---------------------------------------------------------------------------------------

std::uint64_t parse_seed(const std::string& s) {
  return std::stoull(s, nullptr, s.rfind("0x", 0) == 0 || s.size() == 16 ? 16 : 10);
}

void usage() {
  std::cout
      << "test_fuzz: seeded mutations of every shipped muE input through validate, transfer,\n"
         "sweep --dry-run, explain, verify's report reader and import. Allowed: exit 0 or a\n"
         "clean exit 2 with no output file; anything else (another error, a crash, a\n"
         "sanitizer report, a hang) fails the run and is saved for replay.\n"
         "  --cases N          cases to run (default 300; env MUE_FUZZ_CASES)\n"
         "  --seed S           base seed (default 18; env MUE_FUZZ_SEED); case i's seed derives\n"
         "                     from it and is printed on failure\n"
         "  --jobs J           cases at a time (default 1; env MUE_FUZZ_JOBS)\n"
         "  --case-timeout S   per-case time limit (default 20 s, 120 s under a sanitizer;\n"
         "                     env MUE_FUZZ_CASE_TIMEOUT)\n"
         "  --failures DIR     where failing inputs go (default ./fuzz-failures)\n"
         "  --muE PATH         process mode: each case through the real binary (validate,\n"
         "                     transfer --out --emit-configs, sweep --dry-run in turn)\n"
         "  --replay SEED      run one case again (its mutations printed, the input kept;\n"
         "                     the same source tree and build: the corpus and the generator\n"
         "                     make the case)\n"
         "  --file F           run every consumer on F as it is\n"
         "  --no-fork          with --file/--replay: in this process (for a debugger)\n"
         "  --list-corpus      print the documents the cases start from\n"
         "Long mode (sanitizer preset): MUE_FUZZ_CASES=10000 MUE_FUZZ_JOBS=2\n"
         "  build-debug/tests/test_fuzz (>= 10,000 cases; see the file's header).\n";
}

} // namespace

int main(int argc, char** argv) {
  Options opt;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::cerr << "test_fuzz: " << a << " needs a value\n";
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--cases")
      opt.cases = std::stoull(value());
    else if (a == "--seed")
      opt.seed = parse_seed(value());
    else if (a == "--jobs")
      opt.jobs = std::max(1, std::stoi(value()));
    else if (a == "--case-timeout")
      opt.case_timeout = std::stod(value());
    else if (a == "--failures")
      opt.failures = value();
    else if (a == "--muE")
      opt.muE = value();
    else if (a == "--replay")
      opt.replay = parse_seed(value());
    else if (a == "--file")
      opt.file = value();
    else if (a == "--no-fork")
      opt.fork = false;
    else if (a == "--list-corpus")
      opt.list = true;
    else if (a == "--help" || a == "-h") {
      usage();
      return 0;
    } else {
      std::cerr << "test_fuzz: unknown argument " << a << "\n";
      usage();
      return 2;
    }
  }
  if (const char* e = std::getenv("MUE_FUZZ_CASES")) opt.cases = std::stoull(e);
  if (const char* e = std::getenv("MUE_FUZZ_SEED")) opt.seed = parse_seed(e);
  if (const char* e = std::getenv("MUE_FUZZ_JOBS")) opt.jobs = std::max(1, std::atoi(e));
  if (const char* e = std::getenv("MUE_FUZZ_CASE_TIMEOUT")) opt.case_timeout = std::atof(e);

  char tmpl[] = "/tmp/mue-fuzz-XXXXXX";
  const char* made = ::mkdtemp(tmpl);
  if (!made) {
    std::perror("mkdtemp");
    return 1;
  }
  const fs::path work = made;
  const auto t0 = std::chrono::steady_clock::now();
  const std::vector<SeedDoc> corpus = load_corpus(work);
  Pools pools;
  for (const auto& d : corpus)
    if (d.json) collect_pools(*d.json, pools);

  if (opt.list) {
    for (const auto& d : corpus)
      std::cout << d.name << (d.json ? "" : " (not JSON: byte mutations only)") << "\n";
    fs::remove_all(work);
    return 0;
  }

  // One document, no mutation (or one replayed case), every consumer; printed.
  if (!opt.file.empty() || opt.replay) {
    Case c;
    SeedDoc given;
    if (opt.replay) {
      c = make_case(*opt.replay, corpus, pools);
      std::cout << describe(c) << "\n";
    } else {
      given = SeedDoc{opt.file, mue::read_file(opt.file), std::nullopt, false, "validate"};
      c.from = &given;
      c.text = given.text;
    }
    const fs::path dir = work / "case";
    fs::create_directories(dir / "work");
    write_text(dir / "input.json", c.text);
    if (opt.replay) {
      fs::create_directories(opt.failures);
      write_text(opt.failures / ("case-" + hex(c.seed) + ".json"), c.text);
      std::cout << "input: " << (opt.failures / ("case-" + hex(c.seed) + ".json")).string() << "\n";
    }
    int bad = 0;
    if (!opt.fork) {
      for (const Outcome& o : run_consumers((dir / "input.json").string(), dir / "work")) {
        std::cout << o.consumer << ": exit " << o.code << " (" << o.ms << " ms) "
                  << first_line(o.message) << "\n";
        bad += o.code != 0 && o.code != 2;
      }
    } else {
      Running r{c, dir, std::chrono::steady_clock::now()};
      const pid_t pid = ::fork();
      if (pid == 0) child(dir, opt.case_timeout, "");
      int status = 0;
      ::waitpid(pid, &status, 0);
      Tally t;
      std::vector<Outcome> outs;
      const auto fails = check_outcome(r, status, opt.case_timeout, t, &outs);
      for (const Outcome& o : outs)
        std::cout << o.consumer << ": exit " << o.code << " (" << o.ms << " ms) "
                  << first_line(o.message) << "\n";
      for (const auto& f : fails)
        std::cout << "FAIL " << f << "\n";
      bad = static_cast<int>(fails.size());
    }
    fs::remove_all(work);
    return bad ? 1 : 0;
  }

  // Case i's seed depends on the base seed and i only, so --cases N runs a prefix of N+1's.
  const std::uint64_t stream = opt.muE.empty() ? 0 : 0x70726f63ull; // process cases differ
  const CaseMaker make = [&](std::size_t i) {
    const std::uint64_t cs = splitmix(opt.seed ^ splitmix(i + stream));
    // Process mode: every fourth document unmutated, so exit 0 is exercised end to end too.
    Case c = make_case(cs, corpus, pools, !opt.muE.empty() && i % 4 == 0);
    c.index = i;
    return c;
  };

  Tally t;
  if (opt.muE.empty())
    run_in_process(opt, make, work, t);
  else
    run_processes(opt, make, work, t);
  const double total_s =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();

  std::cout << "fuzz" << (opt.muE.empty() ? " (in-process)" : " (muE processes)") << ": " << t.tried
            << " cases tried from " << corpus.size() << " documents, base seed " << opt.seed
            << (kSanitized ? ", sanitized build" : "") << "\n";
  for (const auto& [name, n] : t.per_consumer)
    std::cout << "  " << name << ": " << n.first << " exit 0, " << n.second << " exit 2\n";
  for (const auto& [ms, what] : t.slowest)
    std::cout << "  slowest: " << static_cast<long>(ms) << " ms, " << what.substr(0, 200) << "\n";
  std::cout << "fuzz: " << t.passed << " of " << t.tried << " cases passed, " << t.failed
            << " failed; " << total_s << " s\n";
  std::error_code ec;
  fs::remove_all(work, ec);
  return t.failed == 0 && t.tried == opt.cases ? 0 : 1;
}
