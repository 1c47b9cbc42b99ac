#include "util/json.h"

#include <cmath>
#include <filesystem>
#include <limits>

#include "util/error.h"
#include "util/fs.h"

namespace mue {

void Where::fail(const std::string& reason) const {
  throw InputError(file, pointer, reason);
}

std::string pointer_append(const std::string& base, std::string_view key) {
  std::string out = base + "/";
  for (char c : key) {
    if (c == '~')
      out += "~0";
    else if (c == '/')
      out += "~1";
    else
      out += c;
  }
  return out;
}

std::string pointer_append(const std::string& base, std::size_t index) {
  return base + "/" + std::to_string(index);
}

std::string json_type_name(const Json& j) {
  switch (j.type()) {
  case Json::value_t::null:
    return "null";
  case Json::value_t::boolean:
    return "boolean";
  case Json::value_t::number_integer:
  case Json::value_t::number_unsigned:
    return "integer";
  case Json::value_t::number_float:
    return "number";
  case Json::value_t::string:
    return "string";
  case Json::value_t::array:
    return "array";
  case Json::value_t::object:
    return "object";
  default:
    return "value";
  }
}

namespace {

// Tracks the parser's position through nlohmann's callback events to reject
// duplicate keys (nlohmann would silently keep the last one). The JSON pointer is
// only built when a duplicate is found; objects are small, so keys are a vector.
class DuplicateKeyGuard {
public:
  explicit DuplicateKeyGuard(std::string file) : file_(std::move(file)) {}

  bool operator()(int /*depth*/, Json::parse_event_t event, Json& parsed) {
    switch (event) {
    case Json::parse_event_t::object_start:
      push(false);
      break;
    case Json::parse_event_t::array_start:
      push(true);
      break;
    case Json::parse_event_t::key: {
      Frame& f = frames_[depth_ - 1];
      const std::string& key = parsed.get_ref<const std::string&>();
      for (const auto& k : f.keys)
        if (k == key)
          throw InputError(file_, pointer_to(depth_ - 1) + "/" + escape(key),
                           "duplicate key '" + key + "' (each key may appear once)");
      f.keys.push_back(key);
      break;
    }
    case Json::parse_event_t::object_end:
    case Json::parse_event_t::array_end:
      --depth_;
      advance();
      break;
    case Json::parse_event_t::value:
      advance();
      break;
    }
    return true;
  }

private:
  struct Frame {
    bool is_array = false;
    std::size_t index = 0;         // arrays: the element being read
    std::vector<std::string> keys; // objects: keys so far (the last one is current)
  };
  // Frames are reused across siblings so their vectors keep their capacity.
  void push(bool is_array) {
    if (frames_.size() == depth_) frames_.emplace_back();
    Frame& f = frames_[depth_++];
    f.is_array = is_array;
    f.index = 0;
    f.keys.clear();
  }
  void advance() {
    if (depth_ > 0 && frames_[depth_ - 1].is_array) ++frames_[depth_ - 1].index;
  }
  static std::string escape(std::string_view key) { return pointer_append("", key).substr(1); }
  // The pointer of the container at frame `level`.
  std::string pointer_to(std::size_t level) const {
    std::string p;
    for (std::size_t i = 0; i < level; ++i) {
      const Frame& f = frames_[i];
      p += "/" + (f.is_array ? std::to_string(f.index) : escape(f.keys.back()));
    }
    return p;
  }
  std::string file_;
  std::vector<Frame> frames_;
  std::size_t depth_ = 0;
};

} // namespace

namespace {

std::string line_column(std::string_view text, std::size_t byte) {
  std::size_t line = 1, col = 1;
  for (std::size_t i = 0; i < byte && i < text.size(); ++i) {
    if (text[i] == '\n') {
      ++line;
      col = 1;
    } else {
      ++col;
    }
  }
  return "line " + std::to_string(line) + ", column " + std::to_string(col);
}

} // namespace

Json parse_json_strict(std::string_view text, const std::string& file) {
  try {
    DuplicateKeyGuard guard(file);
    // allow_exceptions=true, ignore_comments=false: comments are a parse error.
    return Json::parse(text.begin(), text.end(), std::ref(guard), true, false);
  } catch (const Json::parse_error& e) {
    // nlohmann's message starts with "[json.exception.parse_error.101] parse error at ...";
    // keep its explanation after the last ": " and say where in human terms.
    std::string what = e.what();
    std::size_t cut = what.rfind(": ");
    std::string why = cut == std::string::npos ? what : what.substr(cut + 2);
    std::size_t at = e.byte == 0 ? 0 : e.byte - 1;
    throw InputError(file, "",
                     "not valid JSON at " + line_column(text, at) + ": " + why +
                         " (muE reads strict JSON: no comments, no trailing commas)");
  }
}

Json read_json_file(const std::string& path) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (!fs::exists(path, ec)) throw InputError(path, "", "file does not exist");
  if (fs::is_directory(path, ec))
    throw InputError(path, "", "is a directory, expected a JSON file");
  std::string text;
  try {
    text = read_file(path);
  } catch (const RuntimeError& e) {
    throw InputError(path, "", e.what());
  }
  return parse_json_strict(text, path);
}

std::int64_t as_integer(const Json& v, const Where& w) {
  if (v.is_number_integer()) {
    if (v.is_number_unsigned() &&
        v.get<std::uint64_t>() >
            static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()))
      w.fail("integer is too large");
    return v.get<std::int64_t>();
  }
  if (v.is_number_float()) {
    double d = v.get<double>();
    // 1e6 or 128.0 are fine as long as they are whole numbers in range.
    if (std::floor(d) == d && std::fabs(d) < 9.0e15) return static_cast<std::int64_t>(d);
    w.fail("expected an integer, got " + v.dump());
  }
  w.fail("expected an integer, got " + json_type_name(v));
}

double as_number(const Json& v, const Where& w) {
  if (!v.is_number()) w.fail("expected a number, got " + json_type_name(v));
  double d = v.get<double>();
  if (!std::isfinite(d)) w.fail("number is not finite");
  return d;
}

std::string as_string(const Json& v, const Where& w) {
  if (!v.is_string()) w.fail("expected a string, got " + json_type_name(v));
  return v.get<std::string>();
}

const Json& as_array(const Json& v, const Where& w) {
  if (!v.is_array()) w.fail("expected an array, got " + json_type_name(v));
  return v;
}

void require_positive(double v, const Where& w) {
  if (!(v > 0)) w.fail("must be > 0, got " + Json(v).dump());
}
void require_non_negative(double v, const Where& w) {
  if (!(v >= 0)) w.fail("must be >= 0, got " + Json(v).dump());
}
void require_in_unit_open(double v, const Where& w) {
  if (!(v >= 0 && v < 1)) w.fail("must be in [0, 1), got " + Json(v).dump());
}
int to_int(std::int64_t v, const Where& w) {
  if (v > std::numeric_limits<int>::max() || v < std::numeric_limits<int>::min())
    w.fail("integer " + std::to_string(v) + " is out of range");
  return static_cast<int>(v);
}

std::size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<std::size_t> prev(b.size() + 1), cur(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j)
    prev[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      std::size_t sub = prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1);
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, sub});
    }
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

ObjectReader::ObjectReader(const Json& j, Where where) : j_(j), where_(std::move(where)) {
  if (!j_.is_object()) where_.fail("expected an object, got " + json_type_name(j_));
}

bool ObjectReader::has(std::string_view key) {
  mark_known(key);
  return j_.find(std::string(key)) != j_.end();
}

const Json& ObjectReader::raw(std::string_view key) {
  if (!has(key)) fail(key, "required field is missing");
  return j_.at(std::string(key));
}

void ObjectReader::fail(std::string_view key, const std::string& reason) const {
  where_.at(key).fail(reason);
}

std::int64_t ObjectReader::integer(std::string_view key) {
  return as_integer(raw(key), at(key));
}
std::optional<std::int64_t> ObjectReader::opt_integer(std::string_view key) {
  if (!has(key)) return std::nullopt;
  return integer(key);
}
double ObjectReader::number(std::string_view key) {
  return as_number(raw(key), at(key));
}
std::optional<double> ObjectReader::opt_number(std::string_view key) {
  if (!has(key)) return std::nullopt;
  return number(key);
}
std::string ObjectReader::string(std::string_view key) {
  return as_string(raw(key), at(key));
}
std::optional<std::string> ObjectReader::opt_string(std::string_view key) {
  if (!has(key)) return std::nullopt;
  return string(key);
}
bool ObjectReader::boolean(std::string_view key) {
  const Json& v = raw(key);
  if (!v.is_boolean()) fail(key, "expected true or false, got " + json_type_name(v));
  return v.get<bool>();
}
std::optional<bool> ObjectReader::opt_boolean(std::string_view key) {
  if (!has(key)) return std::nullopt;
  return boolean(key);
}

std::string ObjectReader::choice(std::string_view key, std::initializer_list<const char*> choices) {
  std::string v = string(key);
  std::string list;
  for (const char* c : choices) {
    if (v == c) return v;
    list += (list.empty() ? "" : ", ") + std::string("'") + c + "'";
  }
  fail(key, "'" + v + "' is not one of " + list);
}
std::optional<std::string> ObjectReader::opt_choice(std::string_view key,
                                                    std::initializer_list<const char*> choices) {
  if (!has(key)) return std::nullopt;
  return choice(key, choices);
}

ObjectReader ObjectReader::object(std::string_view key) {
  return ObjectReader(raw(key), at(key));
}

void ObjectReader::finish() const {
  for (auto it = j_.begin(); it != j_.end(); ++it) {
    if (known_.count(it.key())) continue;
    std::string best;
    std::size_t best_d = 3; // suggest only close matches
    std::string list;
    for (const auto& k : known_) {
      list += (list.empty() ? "" : ", ") + k;
      std::size_t d = edit_distance(it.key(), k);
      if (d < best_d) best_d = d, best = k;
    }
    std::string reason = "unknown key '" + it.key() + "'";
    if (!best.empty()) reason += " (did you mean '" + best + "'?)";
    reason += "; allowed here: " + list;
    fail(it.key(), reason);
  }
}

} // namespace mue
