#pragma once
// Shared test helpers: run a parse and report the JSON pointer it failed at.
#include <functional>
#include <string>

#include "util/error.h"
#include "util/json.h"

namespace mue::test {

struct Failure {
  std::string pointer;
  std::string reason;
  bool failed = false;
};

inline Failure failure_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const InputError& e) {
    return {e.pointer(), e.reason(), true};
  }
  return {};
}

inline Json parse(const std::string& text) {
  return parse_json_strict(text, "test.json");
}

} // namespace mue::test
