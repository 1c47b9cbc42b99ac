// Tests of src/util: strict JSON, ObjectReader, atomic files, journal lines, hashing.
#include <doctest/doctest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "helpers.h"
#include "util/fs.h"
#include "util/hash.h"
#include "util/json.h"
#include "util/runtime.h"

using namespace mue;
using mue::test::failure_of;
namespace fs = std::filesystem;

namespace {
// A fresh directory per test, removed at the end.
struct TempDir {
  fs::path path;
  TempDir() {
    std::string tmpl = (fs::temp_directory_path() / "mue-test-XXXXXX").string();
    path = ::mkdtemp(tmpl.data());
  }
  ~TempDir() { fs::remove_all(path); }
  std::string file(const std::string& name) const { return (path / name).string(); }
  std::size_t entries() const {
    return static_cast<std::size_t>(std::distance(fs::directory_iterator(path), {}));
  }
};
} // namespace

TEST_CASE("strict JSON rejects comments, trailing commas and duplicate keys") {
  CHECK(failure_of([] { parse_json_strict("{\"a\": 1} // c", "f.json"); }).failed);
  CHECK(failure_of([] { parse_json_strict("/* c */ {\"a\": 1}", "f.json"); }).failed);
  CHECK(failure_of([] { parse_json_strict("{\"a\": 1,}", "f.json"); }).failed);
  auto f = failure_of([] { parse_json_strict("{\"a\": {\"b\": 1, \"b\": 2}}", "f.json"); });
  CHECK(f.pointer == "/a/b");
  CHECK(f.reason.find("duplicate key") != std::string::npos);
}

TEST_CASE("duplicate key pointer counts array elements, nested objects and escapes") {
  auto f = failure_of([] {
    parse_json_strict(R"({"t": [{"x": [1, {"y": 2}]}, {"n": 1, "a/b": 0, "a/b": 1}]})", "f.json");
  });
  CHECK(f.pointer == "/t/1/a~1b");
}

TEST_CASE("a syntax error names line and column") {
  auto f = failure_of([] { parse_json_strict("{\n  \"a\": 1\n  \"b\": 2\n}", "f.json"); });
  CHECK(f.pointer == "");
  CHECK(f.reason.find("line 3") != std::string::npos);
}

TEST_CASE("InputError message names file, pointer and reason") {
  InputError e("spec.json", "/model/ffn/active", "too many");
  CHECK(std::string(e.what()) == "spec.json: /model/ffn/active: too many");
  CHECK(e.exit_code() == ExitCode::kBadInput);
  CHECK(RuntimeError("x").exit_code() == ExitCode::kRuntime);
}

TEST_CASE("pointer escaping follows RFC 6901") {
  CHECK(pointer_append("", "a/b~c") == "/a~1b~0c");
  CHECK(pointer_append("/x", std::size_t{3}) == "/x/3");
}

TEST_CASE("ObjectReader: types, whole-number floats, unknown keys with a suggestion") {
  Json j = mue::test::parse(R"({"n": 128.0, "x": 1.5, "s": "hi", "b": true, "d_modle": 1})");
  ObjectReader r(j, Where{"f.json", "/m"});
  CHECK(r.integer("n") == 128);
  CHECK(failure_of([&] { r.integer("x"); }).pointer == "/m/x");
  CHECK(failure_of([&] { r.number("s"); }).reason == "expected a number, got string");
  CHECK(r.boolean("b"));
  CHECK(failure_of([&] {
          r.choice("s", {"a", "b"});
        }).reason.find("not one of") != std::string::npos);
  CHECK_FALSE(r.opt_number("d_model"));
  auto f = failure_of([&] { r.finish(); });
  CHECK(f.pointer == "/m/d_modle");
  CHECK(f.reason.find("did you mean 'd_model'") != std::string::npos);
}

TEST_CASE("ObjectReader: required field missing, and non-object input") {
  Json j = mue::test::parse(R"({"a": 1})");
  ObjectReader r(j, Where{"f.json", ""});
  CHECK(failure_of([&] { r.integer("b"); }).reason == "required field is missing");
  Json arr = mue::test::parse("[1]");
  CHECK(failure_of([&] { ObjectReader bad(arr, Where{"f.json", "/x"}); }).pointer == "/x");
}

TEST_CASE("integers: too large unsigned and out-of-int range are rejected") {
  Json big = mue::test::parse("18446744073709551615");
  CHECK(failure_of([&] { as_integer(big, Where{"f", "/v"}); }).failed);
  CHECK(failure_of([] { to_int(std::int64_t{1} << 40, Where{"f", "/v"}); }).failed);
}

TEST_CASE("read_json_file: missing file and directory are input errors naming the path") {
  TempDir d;
  auto f = failure_of([&] { read_json_file(d.file("nope.json")); });
  CHECK(f.reason == "file does not exist");
  CHECK(failure_of([&] { read_json_file(d.path.string()); }).failed);
}

TEST_CASE("write_file_atomic writes the content and leaves no temp file") {
  TempDir d;
  write_file_atomic(d.file("out.json"), std::string("{\"a\": 1}\n"));
  CHECK(read_file(d.file("out.json")) == "{\"a\": 1}\n");
  CHECK(d.entries() == 1);
}

TEST_CASE("write_file_atomic: a failure mid-write leaves the old file intact") {
  TempDir d;
  const std::string path = d.file("report.json");
  write_file_atomic(path, std::string("old content\n"));
  CHECK_THROWS_AS(write_file_atomic(path,
                                    [](std::ostream& out) {
                                      out << "new partial cont";
                                      out.flush();
                                      throw std::runtime_error("disk full (simulated)");
                                    }),
                  std::runtime_error);
  CHECK(read_file(path) == "old content\n");
  CHECK(d.entries() == 1); // the temp file is gone too
}

TEST_CASE("write_file_atomic: a failure on a new path creates nothing") {
  TempDir d;
  CHECK_THROWS(write_file_atomic(d.file("new.json"),
                                 [](std::ostream&) { throw std::runtime_error("boom"); }));
  CHECK(d.entries() == 0);
  // A directory that does not exist: an error, not a crash.
  CHECK_THROWS_AS(write_file_atomic(d.file("missing/dir/x.json"), std::string("x")), RuntimeError);
}

TEST_CASE("append_line_durable appends whole lines and refuses embedded newlines") {
  TempDir d;
  const std::string path = d.file("trials.jsonl");
  append_line_durable(path, "{\"id\": 1}");
  append_line_durable(path, "{\"id\": 2}");
  CHECK(read_file(path) == "{\"id\": 1}\n{\"id\": 2}\n");
  CHECK_THROWS_AS(append_line_durable(path, "a\nb"), RuntimeError);
  CHECK(read_file(path) == "{\"id\": 1}\n{\"id\": 2}\n");
}

TEST_CASE("fnv1a64 matches the published test vectors") {
  CHECK(fnv1a64("") == 0xcbf29ce484222325ULL);
  CHECK(fnv1a64("a") == 0xaf63dc4c8601ec8cULL);
  CHECK(fnv1a64("foobar") == 0x85944171f73967e8ULL);
  CHECK(hash_hex("a") == "af63dc4c8601ec8c");
}

TEST_CASE("edit_distance") {
  CHECK(edit_distance("d_modle", "d_model") == 2);
  CHECK(edit_distance("", "abc") == 3);
  CHECK(edit_distance("same", "same") == 0);
}

TEST_CASE("resolve_device: auto follows the GPUs, cuda without one is a usage error naming why") {
  // Built with CUDA, 0 GPUs visible (a CPU box with the PyPI torch): auto -> cpu.
  CHECK(mue::resolve_device("auto", true, 0, "2.15.0") == "cpu");
  CHECK(mue::resolve_device("cpu", true, 0, "2.15.0") == "cpu");
  CHECK(mue::resolve_device("auto", true, 2, "2.15.0") == "cuda");
  CHECK(mue::resolve_device("cuda:1", true, 2, "2.15.0") == "cuda:1");
  auto message = [](const char* dev, bool compiled, int n) {
    try {
      mue::resolve_device(dev, compiled, n, "2.15.0");
    } catch (const mue::UsageError& e) {
      return std::string(e.what());
    }
    return std::string("(no error)");
  };
  CHECK(message("cuda", true, 0).find("no CUDA device") != std::string::npos);
  CHECK(message("cuda:0", true, 0).find("no CUDA device") != std::string::npos);
  CHECK(message("cuda", false, 0).find("built without CUDA") != std::string::npos);
  // A device count without CUDA compiled in cannot make a GPU appear.
  CHECK(mue::resolve_device("auto", false, 3, "1.13.1") == "cpu");
  CHECK(message("cuda:2", true, 2).find("only 2 GPU(s) visible") != std::string::npos);
  CHECK(message("gpu", true, 2).find("expected auto, cpu, cuda or cuda:N") != std::string::npos);
}
