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

// Builds the document from nlohmann's SAX events, rejecting duplicate keys (nlohmann would
// silently keep the last one) and nesting deeper than kMaxJsonDepth, and turning a syntax
// error or a number past the range of a double into an InputError with line and column.
// Its own builder rather than Json::parse with a callback: nlohmann's callback parser scans
// the parent container at the end of every object or array, quadratic in the number of
// siblings (100,000 objects in an array took seconds, a million hours).
class StrictBuilder {
public:
  StrictBuilder(std::string_view text, std::string file) : text_(text), file_(std::move(file)) {}
  Json& result() { return root_; }

  bool null() { return put(nullptr); }
  bool boolean(bool v) { return put(v); }
  bool number_integer(Json::number_integer_t v) { return put(v); }
  bool number_unsigned(Json::number_unsigned_t v) { return put(v); }
  bool number_float(Json::number_float_t v, const Json::string_t& /*as written*/) { return put(v); }
  bool string(Json::string_t& v) { return put(std::move(v)); }
  bool binary(Json::binary_t& v) { return put(Json::binary(std::move(v))); }
  bool start_object(std::size_t /*size*/) { return open(Json::object()); }
  bool start_array(std::size_t /*size*/) { return open(Json::array()); }
  bool end_object() { return close(); }
  bool end_array() { return close(); }
  bool key(Json::string_t& k) {
    if (open_.back()->contains(k))
      throw InputError(file_, pointer() + "/" + escape(k),
                       "duplicate key '" + k + "' (each key may appear once)");
    key_ = std::move(k);
    return true;
  }
  bool parse_error(std::size_t byte, const std::string& /*token*/, const Json::exception& e) {
    // nlohmann's message starts with "[json.exception.parse_error.101] parse error at ...";
    // keep its explanation after the last ": " (after "] " for a number out of range, 406).
    const std::string what = e.what();
    const bool overflow = e.id == 406;
    const std::size_t cut = overflow ? what.find("] ") : what.rfind(": ");
    const std::string why = cut == std::string::npos ? what : what.substr(cut + 2);
    throw InputError(file_, "",
                     "not valid JSON at " + line_column(text_, byte == 0 ? 0 : byte - 1) + ": " +
                         why +
                         (overflow ? " (a number must lie within ±1.8e308)"
                                   : " (muE reads strict JSON: no comments, no trailing commas)"));
  }

private:
  // Where a new value goes: the root, the end of the open array, or the open object's key.
  // Pointers to open containers stay valid: nothing is added to a container's parent while
  // the container is open.
  Json* place(Json&& v) {
    if (open_.empty()) {
      root_ = std::move(v);
      return &root_;
    }
    Json& top = *open_.back();
    if (top.is_array()) {
      auto& a = top.get_ref<Json::array_t&>();
      a.push_back(std::move(v));
      return &a.back();
    }
    Json& slot = top[key_];
    slot = std::move(v);
    return &slot;
  }
  bool put(Json&& v) {
    place(std::move(v));
    return true;
  }
  bool open(Json&& container) {
    if (open_.size() == kMaxJsonDepth)
      throw InputError(file_, pointer() + (open_.empty() ? "" : "/" + segment()),
                       "nested deeper than " + std::to_string(kMaxJsonDepth) +
                           " levels (muE files nest a few levels deep)");
    std::string seg = open_.empty() ? "" : segment();
    open_.push_back(place(std::move(container)));
    segments_.push_back(std::move(seg));
    return true;
  }
  bool close() {
    open_.pop_back();
    segments_.pop_back();
    return true;
  }
  static std::string escape(std::string_view key) { return pointer_append("", key).substr(1); }
  // The segment of the value about to be placed in the open container.
  std::string segment() const {
    const Json& top = *open_.back();
    return top.is_array() ? std::to_string(top.size()) : escape(key_);
  }
  // The pointer of the open container (built only for an error).
  std::string pointer() const {
    std::string p;
    for (std::size_t i = 1; i < segments_.size(); ++i)
      p += "/" + segments_[i];
    return p;
  }

  std::string_view text_;
  std::string file_;
  Json root_;
  std::vector<Json*> open_;
  std::vector<std::string> segments_; // per open container: its segment in its parent
  std::string key_;                   // the open object's current key
};

} // namespace

Json parse_json_strict(std::string_view text, const std::string& file) {
  StrictBuilder b(text, file);
  // strict=true: nothing after the document; ignore_comments=false: comments are errors.
  Json::sax_parse(text.begin(), text.end(), &b, Json::input_format_t::json, true, false);
  return std::move(b.result());
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
