#pragma once
// A streaming JSON writer for large reports: appends compact JSON to a string
// without building a DOM (nlohmann's DOM costs an allocation per node).
#include <cstdint>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

#include "util/json.h"

namespace mue {

class JsonWriter {
public:
  explicit JsonWriter(std::string& out) : out_(out) {}
  // With a sink, the buffer is handed to it whenever flush() finds it past
  // `chunk` bytes, so a large report never sits in memory whole.
  JsonWriter(std::string& out, std::ostream& sink, std::size_t chunk = 1 << 20)
      : out_(out), sink_(&sink), chunk_(chunk) {}
  void flush(bool force = false);

  JsonWriter& begin_object();
  JsonWriter& end_object();
  JsonWriter& begin_array();
  JsonWriter& end_array();
  JsonWriter& key(std::string_view k);
  JsonWriter& value(double v); // shortest round-trip form; non-finite -> null
  JsonWriter& value(std::int64_t v);
  JsonWriter& value(int v) { return value(static_cast<std::int64_t>(v)); }
  JsonWriter& value(bool v);
  JsonWriter& value(std::string_view v);
  JsonWriter& value(const char* v) { return value(std::string_view(v)); }
  JsonWriter& null();
  JsonWriter& raw(std::string_view json); // an already serialized value
  // A newline before the next element, so long arrays read one element per line.
  JsonWriter& newline() {
    pending_newline_ = true;
    return *this;
  }

private:
  void separate();
  std::string& out_;
  std::ostream* sink_ = nullptr;
  std::size_t chunk_ = 0;
  std::vector<unsigned char> first_; // per open container: no element written yet
  bool after_key_ = false;
  bool pending_newline_ = false;
};

// The DOM form of any value that has a write_json overload: parsed from what the
// writer writes, so the writer stays the one definition of its JSON form.
template <class T> Json writer_to_json(const T& x) {
  std::string s;
  JsonWriter w(s);
  write_json(w, x);
  return Json::parse(s);
}

} // namespace mue
