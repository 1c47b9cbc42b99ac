// Regression tests of what the input fuzzer (tests/test_fuzz.cpp, issue 18) found: each case
// is the smallest input of one finding, and says what muE did before the fix.
#include <doctest/doctest.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <limits>
#include <string>

#include "helpers.h"
#include "report/transfer_report.h"
#include "spec/model_spec.h"
#include "spec/target_spec.h"
#include "util/error.h"
#include "util/fs.h"
#include "util/json.h"

using namespace mue;
using mue::test::failure_of;
namespace fs = std::filesystem;

namespace {

// A file in a folder of its own that is removed with it.
struct TempDir {
  fs::path path;
  explicit TempDir(const std::string& name)
      : path(fs::temp_directory_path() /
             ("mue-inputs-" + name + "-" + std::to_string(::getpid()))) {
    fs::remove_all(path);
    fs::create_directories(path);
  }
  ~TempDir() { fs::remove_all(path); }
  std::string write(const std::string& name, const std::string& text) const {
    const std::string f = (path / name).string();
    write_file_atomic(f, text);
    return f;
  }
};

const char* kReference = R"({
  "model": {"vocab": 256, "d_model": 64, "n_layers": 2, "n_heads": 4, "seq_len": 32,
            "ffn": {"kind": "dense", "d_ff": 64}},
  "train": {"batch_size": 8, "steps": 20, "data": {"kind": "synthetic"}},
  "hparams": {"lr": LR, "wd": 0.1, "init_std": 0.02}})";

std::string reference_with_lr(const std::string& lr) {
  std::string s = kReference;
  s.replace(s.find("LR"), 2, lr);
  return s;
}

} // namespace

TEST_CASE("a number past the range of a double is bad input with line and column") {
  // Was: nlohmann's out_of_range.406 escaped parse_json_strict, "internal error", exit 3.
  for (const char* n : {"1e400", "-1e309", "1.8e308"}) {
    const auto f =
        failure_of([&] { parse_json_strict(std::string("{\n \"a\": ") + n + "}", "f"); });
    CHECK(f.failed);
    CHECK(f.pointer == "");
    CHECK(f.reason.find("line 2") != std::string::npos);
    CHECK(f.reason.find("number overflow") != std::string::npos);
  }
  CHECK(parse_json_strict("[1.7976931348623157e308, 1e-400]", "f")[0].get<double>() > 1e308);
}

TEST_CASE("nesting deeper than kMaxJsonDepth is bad input, not a stack overflow") {
  // Was: a value nested 100,000 deep parsed, and a recursive copy of it crashed (SIGSEGV).
  auto nested = [](std::size_t d) { return std::string(d, '[') + std::string(d, ']'); };
  CHECK_NOTHROW(parse_json_strict(nested(kMaxJsonDepth), "f"));
  const auto f = failure_of([&] { parse_json_strict(nested(kMaxJsonDepth + 1), "f"); });
  CHECK(f.failed);
  CHECK(f.reason.find("nested deeper than 256 levels") != std::string::npos);
  CHECK(f.pointer.size() == 2 * kMaxJsonDepth); // "/0" per level: where it went too deep
  CHECK(failure_of([&] { parse_json_strict(nested(1000000), "f"); }).failed);
  std::string objects;
  for (int i = 0; i < 300; ++i)
    objects += "{\"a\":";
  objects += "1" + std::string(300, '}');
  CHECK(failure_of([&] { parse_json_strict(objects, "f"); }).pointer.rfind("/a/a/a", 0) == 0);
}

TEST_CASE("an array of 200,000 objects parses in linear time") {
  // Was: nlohmann's callback parser scans the parent at the end of each object, quadratic in
  // the siblings: 100,000 objects took 4-6 s per read, a million would take hours.
  std::string text = "[";
  for (int i = 0; i < 200000; ++i)
    text += i ? ",{}" : "{}";
  text += "]";
  const auto t0 = std::chrono::steady_clock::now();
  CHECK(parse_json_strict(text, "f").size() == 200000);
  CHECK(std::chrono::steady_clock::now() - t0 < std::chrono::seconds(10));
  // The duplicate-key check still names the key, through arrays and escapes.
  const auto f =
      failure_of([] { parse_json_strict(R"([{"x": 1}, {"a/b": {"c~": 1, "c~": 2}}])", "f.json"); });
  CHECK(f.pointer == "/1/a~1b/c~0");
}

TEST_CASE("a transfer reference whose schema is not a string is bad input") {
  // Was: load_reference called j.value("schema", "") on a number: json::type_error, exit 3.
  TempDir d("schema");
  for (const char* schema : {"7", "null", "[\"mue.sweep/1\"]", "{}"}) {
    std::string text = reference_with_lr("0.001");
    text.insert(1, std::string("\"schema\": ") + schema + ",");
    const std::string f = d.write("ref.json", text);
    const auto fail = failure_of([&] { load_reference(f); });
    CHECK(fail.failed);
    CHECK(fail.pointer == "/schema");
  }
}

TEST_CASE("a transfer whose values overflow to infinity is bad input at the target") {
  // Was: a reference lr of 1e308 times a width ratio gave inf, written as null in
  // transfer.json with exit 0; explain and verify then refused the report.
  TempDir d("overflow");
  const std::string targets = d.write(
      "targets.json", R"({"targets": [{"name": "wide", "model": {"d_model": 128, "n_heads": 8}},
                                      {"name": "narrow", "model": {"d_model": 32, "n_heads": 2}}]})");
  const TargetsSpec t = parse_targets_spec(read_json_file(targets), Where{targets, ""});
  const LoadedReference ok = load_reference(d.write("ok.json", reference_with_lr("0.001")));
  CHECK(run_transfer(ok, t, targets).results.size() == 2);
  const LoadedReference big = load_reference(d.write("big.json", reference_with_lr("1e308")));
  const auto f = failure_of([&] { run_transfer(big, t, targets); });
  CHECK(f.failed);
  CHECK(f.pointer.rfind("/targets/", 0) == 0);
  CHECK(f.reason.find("not a finite number") != std::string::npos);
}

TEST_CASE("moe_layers and has_dense_layers are O(1) and agree with the layer rule") {
  // Was: both looped over n_layers; at n_layers = 2^31 - 1 a transfer took 22 s.
  for (int k = 0; k < 5; ++k)
    for (int e = 1; e < 5; ++e)
      for (int n = 0; n < 12; ++n) {
        ModelSpec m;
        m.n_layers = n;
        m.ffn.kind = FfnKind::kMoe;
        m.ffn.first_k_dense = k;
        m.ffn.moe_every = e;
        int moe = 0;
        bool dense = false;
        for (int i = 0; i < n; ++i) {
          moe += m.ffn.moe_layer(i);
          dense = dense || !m.ffn.moe_layer(i);
        }
        CHECK(m.moe_layers() == moe);
        CHECK(m.ffn.has_dense_layers(n) == dense);
      }
  ModelSpec m;
  m.n_layers = std::numeric_limits<int>::max();
  m.ffn.kind = FfnKind::kMoe;
  m.ffn.first_k_dense = 3;
  m.ffn.moe_every = 2;
  const auto t0 = std::chrono::steady_clock::now();
  CHECK(m.moe_layers() == (std::numeric_limits<int>::max() - 3) / 2);
  CHECK(m.ffn.has_dense_layers(m.n_layers));
  CHECK(std::chrono::steady_clock::now() - t0 < std::chrono::milliseconds(100));
  m.ffn.kind = FfnKind::kDense;
  CHECK(m.moe_layers() == 0);
  CHECK_FALSE(m.ffn.has_dense_layers(m.n_layers));
}

TEST_CASE("explain of a report whose target or its name has the wrong type is bad input") {
  // Was: explain read t.value("name", ""): json::type_error on a number target or name, exit 3.
  TempDir d("explain");
  const std::string targets =
      d.write("targets.json", R"({"targets": [{"name": "narrow", "model": {"d_model": 32,
                                                                       "n_heads": 2}}]})");
  const TargetsSpec t = parse_targets_spec(read_json_file(targets), Where{targets, ""});
  const LoadedReference ref = load_reference(d.write("ref.json", reference_with_lr("0.001")));
  const Json report = parse_json_strict(report_text(run_transfer(ref, t, targets)), "r.json");
  CHECK(explain(report, "r.json", "", "").find("target narrow") != std::string::npos);
  Json bad = report;
  bad["targets"][0]["name"] = 7;
  auto f = failure_of([&] { explain(bad, "r.json", "", ""); });
  CHECK(f.pointer == "/targets/0/name");
  bad["targets"][0] = 5;
  f = failure_of([&] { explain(bad, "r.json", "", ""); });
  CHECK(f.pointer == "/targets/0/name");
  CHECK(f.reason == "required field is missing");
}
