#include "report/html_report.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include "spec/schemas.h"
#include "util/error.h"
#include "util/json.h"
#include "util/version.h"

namespace mue {
namespace {
namespace fs = std::filesystem;

std::string num(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.4g", v);
  return buf;
}

// A JSON value as table text: numbers to 4 significant digits, strings escaped.
std::string cell(const Json& j) {
  if (j.is_null()) return "–";
  if (j.is_number()) return num(j.get<double>());
  if (j.is_string()) return html_escape(j.get<std::string>());
  if (j.is_boolean()) return j.get<bool>() ? "yes" : "no";
  return html_escape(j.dump());
}

std::string base64(const std::string& in) {
  static const char* t = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  std::size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    const unsigned v = (static_cast<unsigned char>(in[i]) << 16) |
                       (static_cast<unsigned char>(in[i + 1]) << 8) |
                       static_cast<unsigned char>(in[i + 2]);
    out += {t[v >> 18], t[(v >> 12) & 63], t[(v >> 6) & 63], t[v & 63]};
  }
  if (i + 1 == in.size()) {
    const unsigned v = static_cast<unsigned char>(in[i]) << 16;
    out += {t[v >> 18], t[(v >> 12) & 63], '=', '='};
  } else if (i + 2 == in.size()) {
    const unsigned v =
        (static_cast<unsigned char>(in[i]) << 16) | (static_cast<unsigned char>(in[i + 1]) << 8);
    out += {t[v >> 18], t[(v >> 12) & 63], t[(v >> 6) & 63], '='};
  }
  return out;
}

// An SVG as an <img> with a data: URI: inline, and nothing inside it can run.
std::string svg_img(const std::string& svg, const std::string& alt) {
  return "<img class=\"plot\" alt=\"" + html_escape(alt) + "\" src=\"data:image/svg+xml;base64," +
         base64(svg) + "\">\n";
}

// The SVG files of `dir`, sorted by name (the page must not depend on directory order).
std::vector<fs::path> svgs_in(const fs::path& dir) {
  std::vector<fs::path> out;
  if (fs::is_directory(dir))
    for (const auto& e : fs::directory_iterator(dir))
      if (e.path().extension() == ".svg") out.push_back(e.path());
  std::sort(out.begin(), out.end());
  return out;
}

std::string svg_file_img(const fs::path& p, const std::string& alt) {
  std::ifstream in(p, std::ios::binary);
  if (!in) return "<p class=\"note\">(no plot: " + html_escape(p.string()) + ")</p>\n";
  std::ostringstream s;
  s << in.rdbuf();
  return svg_img(s.str(), alt);
}

Json read_report(const fs::path& file, const char* schema) {
  const Json j = read_json_file(file.string());
  if (!j.is_object() || j.value("schema", "") != schema)
    throw InputError(file.string(), "/schema", std::string("expected a ") + schema + " report");
  return j;
}

std::string table(const std::vector<std::string>& head,
                  const std::vector<std::vector<std::string>>& rows) {
  std::string h = "<table>\n<tr>";
  for (const auto& c : head)
    h += "<th>" + c + "</th>";
  h += "</tr>\n";
  for (const auto& r : rows) {
    h += "<tr>";
    for (const auto& c : r)
      h += "<td>" + c + "</td>";
    h += "</tr>\n";
  }
  return h + "</table>\n";
}

std::string environment_line(const Json& env) {
  std::string s;
  for (const char* k :
       {"muE", "torch", "device", "host", "cpu", "cores", "jobs", "threads_per_trial", "workers"})
    if (env.contains(k)) s += (s.empty() ? "" : " · ") + std::string(k) + " " + cell(env[k]);
  std::string h = "<p class=\"env\">" + s + "</p>\n";
  if (env.contains("command"))
    h += "<p class=\"env\">command: <code>" + cell(env["command"]) + "</code></p>\n";
  return h;
}

// A 2-D sweep as a heat map drawn here: one cell per (x, y) point coloured by its objective
// (darker = lower), cells without a usable trial grey with ×, the optimum ringed.
std::string heatmap_svg(const Json& points, const std::string& xk, const std::string& yk,
                        const Json& optimum) {
  std::vector<double> xs, ys;
  std::map<std::pair<double, double>, Json> at;
  double lo = INFINITY, hi = -INFINITY;
  for (const auto& p : points) {
    const double x = p.at("coords").at(xk).get<double>(), y = p.at("coords").at(yk).get<double>();
    xs.push_back(x);
    ys.push_back(y);
    at[{x, y}] = p.at("objective");
    if (p.at("objective").is_number()) {
      lo = std::min(lo, p["objective"].get<double>());
      hi = std::max(hi, p["objective"].get<double>());
    }
  }
  for (auto* v : {&xs, &ys}) {
    std::sort(v->begin(), v->end());
    v->erase(std::unique(v->begin(), v->end()), v->end());
  }
  const double cw = std::max(30.0, 560.0 / static_cast<double>(xs.size())), ch = 28, left = 90,
               top = 30;
  std::ostringstream s;
  s << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << left + cw * xs.size() + 20
    << "\" height=\"" << top + ch * ys.size() + 50
    << "\" font-family=\"sans-serif\" font-size=\"11\">\n<text x=\"" << left << "\" y=\"16\">"
    << html_escape("objective over " + xk + " × " + yk + " (darker is lower; " + num(lo) + " … " +
                   num(hi) + ")")
    << "</text>\n";
  for (std::size_t j = 0; j < ys.size(); ++j) {
    const double y = top + ch * static_cast<double>(ys.size() - 1 - j);
    s << "<text x=\"" << left - 6 << "\" y=\"" << y + ch / 2 + 4 << "\" text-anchor=\"end\">"
      << num(ys[j]) << "</text>\n";
    for (std::size_t i = 0; i < xs.size(); ++i) {
      const double x = left + cw * static_cast<double>(i);
      const auto it = at.find({xs[i], ys[j]});
      if (it == at.end()) continue;
      if (it->second.is_number()) {
        const double f = hi > lo ? (it->second.get<double>() - lo) / (hi - lo) : 0;
        const int g = static_cast<int>(40 + 200 * f);
        s << "<rect x=\"" << x << "\" y=\"" << y << "\" width=\"" << cw - 1 << "\" height=\""
          << ch - 1 << "\" fill=\"rgb(" << g / 2 << "," << g << "," << std::min(255, g + 40)
          << ")\"><title>" << num(it->second.get<double>()) << "</title></rect>\n";
      } else {
        s << "<rect x=\"" << x << "\" y=\"" << y << "\" width=\"" << cw - 1 << "\" height=\""
          << ch - 1 << "\" fill=\"#ccc\"/><text x=\"" << x + cw / 2 << "\" y=\"" << y + ch / 2 + 4
          << "\" text-anchor=\"middle\">×</text>\n";
      }
    }
  }
  for (std::size_t i = 0; i < xs.size(); ++i)
    s << "<text x=\"" << left + cw * (static_cast<double>(i) + 0.5) << "\" y=\""
      << top + ch * static_cast<double>(ys.size()) + 14 << "\" text-anchor=\"middle\">"
      << num(xs[i]) << "</text>\n";
  s << "<text x=\"" << left << "\" y=\"" << top + ch * static_cast<double>(ys.size()) + 34 << "\">"
    << html_escape(xk) << " →   (rows: " << html_escape(yk) << ")</text>\n";
  // The optimum: ring the cell nearest to it (in log2 when positive).
  if (optimum.contains(xk) && optimum.contains(yk)) {
    auto nearest = [](const std::vector<double>& v, double t) {
      std::size_t b = 0;
      auto d = [&](double a) {
        return a > 0 && t > 0 ? std::abs(std::log2(a / t)) : std::abs(a - t);
      };
      for (std::size_t k = 1; k < v.size(); ++k)
        if (d(v[k]) < d(v[b])) b = k;
      return b;
    };
    const std::size_t i = nearest(xs, optimum[xk].at("value").get<double>());
    const std::size_t j = nearest(ys, optimum[yk].at("value").get<double>());
    s << "<rect x=\"" << left + cw * static_cast<double>(i) << "\" y=\""
      << top + ch * static_cast<double>(ys.size() - 1 - j) << "\" width=\"" << cw - 1
      << "\" height=\"" << ch - 1 << "\" fill=\"none\" stroke=\"#e67e22\" stroke-width=\"3\"/>\n";
  }
  s << "</svg>\n";
  return s.str();
}

std::string sweep_section(const fs::path& dir) {
  const fs::path file = dir / "sweep.json";
  const Json j = read_report(file, kSweepReportSchema);
  const Json& spec = j.at("spec");
  std::string h = "<section class=\"sweep\">\n<h2>Sweep " + cell(spec.at("name")) + "</h2>\n";
  if (spec.contains("description")) h += "<p>" + cell(spec["description"]) + "</p>\n";
  h += "<p class=\"src\">" + html_escape(file.string()) + "</p>\n";
  h += environment_line(j.at("environment"));
  const Json& c = j.at("counts");
  double seconds = 0;
  std::size_t diverged = 0, failed = 0;
  for (const auto& p : j.at("points"))
    for (const auto& t : p.at("trials")) {
      seconds += t.value("wall_s", 0.0);
      const std::string st = t.at("status").get<std::string>();
      diverged += st == "diverged";
      failed += st == "failed" || st == "timeout";
    }
  h += table(
      {"planned", "ok", "diverged", "failed / timeout", "pruned", "missing", "trial seconds"},
      {{cell(c.at("planned")), cell(c.at("ok")), std::to_string(diverged), std::to_string(failed),
        cell(c.value("pruned", Json(0))), cell(c.at("missing")), num(seconds)}});
  const Json& fit = j.at("fit");
  std::vector<std::vector<std::string>> rows;
  for (const auto& [axis, a] : j.at("optimum").at("axes").items())
    rows.push_back({html_escape(axis), cell(a.at("value")),
                    "[" + cell(a.at("ci_low")) + ", " + cell(a.at("ci_high")) + "]",
                    a.at("at_edge").get<bool>() ? "at the edge: " + cell(a.at("message")) : ""});
  h += "<h3>Optimum (" + cell(fit.at("method")) + ", R² " + cell(fit.at("r2")) + ", " +
       cell(fit.at("used_points")) + " points)</h3>\n" +
       table({"axis", "optimum", "95% CI", "note"}, rows);
  if (j.contains("search")) {
    const Json& s = j["search"];
    h += "<p>Adaptive search: " + cell(s.at("trials")) + " of the grid's " +
         cell(s.at("grid_trials")) + " trials in " + std::to_string(s.at("rounds").size()) +
         " round(s), stopped: " + cell(s.at("stopped")) + ".</p>\n";
  }
  for (const auto& svg : svgs_in(dir / "plots"))
    h += svg_file_img(svg, "objective vs " + svg.stem().string());
  if (j.at("optimum").at("axes").size() == 2) {
    std::vector<std::string> keys;
    for (const auto& [k, v] : j["optimum"]["axes"].items())
      keys.push_back(k);
    // lr across when it is swept, the other axis down.
    if (keys[1] == "lr") std::swap(keys[0], keys[1]);
    h += svg_img(heatmap_svg(j.at("points"), keys[0], keys[1], j["optimum"]["axes"]),
                 "objective over " + keys[0] + " and " + keys[1]);
  }
  // Every point and its trials, folded.
  std::vector<std::vector<std::string>> pts;
  for (const auto& p : j.at("points")) {
    std::string coords, statuses;
    for (const auto& [k, v] : p.at("coords").items())
      coords += (coords.empty() ? "" : " ") + html_escape(k) + "=" + cell(v);
    for (const auto& t : p.at("trials"))
      statuses += (statuses.empty() ? "" : ", ") + cell(t.at("status")) +
                  (t.contains("error") ? " (" + cell(t["error"]) + ")" : "");
    pts.push_back({coords, cell(p.at("objective")), statuses});
  }
  h += "<details><summary>Every point (" + std::to_string(pts.size()) + ")</summary>\n" +
       table({"point", "objective", "trials"}, pts) + "</details>\n</section>\n";
  return h;
}

// A value of the transfer table ({"value", "base_reason", "trace"?}) with its trace folded.
std::string traced(const Json& v) {
  if (!v.is_object()) return cell(v);
  if (!v.contains("value")) { // a map such as diagnostics/sigma0_ratio: group -> number
    std::string h;
    for (const auto& [k, x] : v.items())
      h += (h.empty() ? "" : "<br>") + html_escape(k) + " " + cell(x);
    return h;
  }
  std::string h = cell(v.at("value"));
  std::string why = "<div>" + cell(v.value("base_reason", Json(""))) + "</div>";
  if (v.contains("trace"))
    for (const auto& t : v["trace"])
      why += "<div>× " + cell(t.at("factor")) + " <code>" + cell(t.at("rule")) + "</code> " +
             cell(t.value("reason", Json(""))) + "</div>";
  return "<details><summary>" + h + "</summary>" + why + "</details>";
}

std::string transfer_section(const fs::path& file) {
  const Json j = read_report(file, kTransferSchema);
  std::string h = "<section class=\"transfer\">\n<h2>Transfer</h2>\n<p class=\"src\">" +
                  html_escape(file.string()) + " · muE " + cell(j.value("muE_version", Json(""))) +
                  "</p>\n";
  for (const auto& w : j.value("warnings", Json::array()))
    h += "<p class=\"warn\">" + cell(w) + "</p>\n";
  for (const auto& t : j.at("targets")) {
    h += "<h3>" + cell(t.at("name")) + "</h3>\n";
    std::vector<std::vector<std::string>> rows;
    for (const auto& [g, v] : t.at("groups").items())
      rows.push_back({html_escape(g), traced(v.at("init_std")), traced(v.at("lr")),
                      traced(v.at("wd")), traced(v.at("multiplier")),
                      traced(v.value("eps", Json()))});
    h += table({"group", "init std", "lr", "wd", "multiplier", "Adam ε"}, rows);
    std::vector<std::vector<std::string>> sc;
    for (const auto& [k, v] : t.at("scalars").items())
      sc.push_back({html_escape(k), traced(v)});
    if (t.contains("diagnostics") && t["diagnostics"].is_object())
      for (const auto& [k, v] : t["diagnostics"].items())
        sc.push_back({html_escape(k), traced(v)});
    h += "<details><summary>Scalars and diagnostics (σ0 ratio among them)</summary>\n" +
         table({"name", "value"}, sc) + "</details>\n";
    for (const auto& w : t.value("warnings", Json::array()))
      h += "<p class=\"warn\">" + cell(w) + "</p>\n";
  }
  return h + "</section>\n";
}

// Drift and its CI per case against the ±tolerance band, drawn here.
std::string drift_chart(const Json& cases, double tol) {
  const double row = 28, left = 260, width = 420, top = 30;
  double lim = 2 * tol;
  for (const auto& c : cases)
    if (c.contains("drift_ci") && c["drift_ci"].is_array())
      for (const auto& v : c["drift_ci"])
        lim = std::max(lim, std::min(8.0, std::abs(v.get<double>()) * 1.1));
  auto x = [&](double d) { return left + (std::clamp(d, -lim, lim) + lim) / (2 * lim) * width; };
  const double height = top + row * static_cast<double>(cases.size()) + 30;
  std::ostringstream s;
  s << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << left + width + 40 << "\" height=\""
    << height << "\" font-family=\"sans-serif\" font-size=\"12\">\n"
    << "<rect x=\"" << x(-tol) << "\" y=\"" << top - 10 << "\" width=\"" << x(tol) - x(-tol)
    << "\" height=\"" << row * static_cast<double>(cases.size()) + 10
    << "\" fill=\"#e3f1e3\"/>\n<line x1=\"" << x(0) << "\" y1=\"" << top - 10 << "\" x2=\"" << x(0)
    << "\" y2=\"" << height - 30 << "\" stroke=\"#888\"/>\n";
  for (double d : {-lim, -tol, 0.0, tol, lim})
    s << "<text x=\"" << x(d) << "\" y=\"" << height - 12 << "\" text-anchor=\"middle\">" << num(d)
      << "</text>\n";
  s << "<text x=\"" << left + width / 2 << "\" y=\"14\" text-anchor=\"middle\">drift (log2) and "
    << "95% CI; band: ±" << num(tol) << "</text>\n";
  double y = top;
  for (const auto& c : cases) {
    const std::string verdict = c.at("verdict").get<std::string>();
    const char* colour = verdict == "pass" ? "#1e7b34" : verdict == "fail" ? "#c0392b" : "#b7791f";
    s << "<text x=\"" << left - 8 << "\" y=\"" << y + 4 << "\" text-anchor=\"end\">"
      << html_escape(c.at("target").get<std::string>() + " " + c.at("axis").get<std::string>())
      << "</text>\n";
    if (c.contains("drift") && c["drift"].is_number()) {
      const auto& ci = c.at("drift_ci");
      s << "<line x1=\"" << x(ci[0].get<double>()) << "\" y1=\"" << y << "\" x2=\""
        << x(ci[1].get<double>()) << "\" y2=\"" << y << "\" stroke=\"" << colour
        << "\" stroke-width=\"2\"/>\n<circle cx=\"" << x(c["drift"].get<double>()) << "\" cy=\""
        << y << "\" r=\"4\" fill=\"" << colour << "\"/>\n";
    } else {
      s << "<text x=\"" << x(0) << "\" y=\"" << y + 4 << "\" fill=\"" << colour
        << "\">no usable trial</text>\n";
    }
    y += row;
  }
  s << "</svg>\n";
  return s.str();
}

std::string verify_section(const fs::path& dir) {
  const fs::path file = dir / "verify.json";
  const Json j = read_report(file, kVerifySchema);
  const double tol = j.at("tolerance").get<double>();
  std::string h = "<section class=\"verify\">\n<h2>Verify: " + cell(j.at("verdict")) + "</h2>\n";
  h += "<p class=\"src\">" + html_escape(file.string()) + " · transfer " + cell(j.at("transfer")) +
       " · " + cell(j.at("points")) + " points " + cell(j.at("step")) + " log2 apart · tolerance " +
       num(tol) + " log2 · search " + cell(j.value("search", Json("grid"))) + " · " +
       num(j.at("wall_s").get<double>()) + " s</p>\n";
  h += environment_line(j.at("environment"));
  h += svg_img(drift_chart(j.at("cases"), tol), "drift per target");
  std::vector<std::vector<std::string>> rows;
  for (const auto& c : j.at("cases")) {
    std::string drift = "–";
    if (c.contains("drift") && c["drift"].is_number())
      drift = num(c["drift"].get<double>()) + " [" + cell(c.at("drift_ci")[0]) + ", " +
              cell(c.at("drift_ci")[1]) + "]";
    rows.push_back({cell(c.at("target")), cell(c.at("axis")), cell(c.at("bridged")),
                    cell(c.value("empirical", Json())), drift, cell(c.at("gap")),
                    "<span class=\"" + html_escape(c.at("verdict").get<std::string>()) + "\">" +
                        cell(c.at("verdict")) + "</span>",
                    cell(c.at("message"))});
  }
  h += table(
      {"target", "axis", "bridged", "empirical", "drift (log2) [95% CI]", "gap", "verdict", "why"},
      rows);
  for (const auto& svg : svgs_in(dir / "plots"))
    h += svg_file_img(svg, "objective vs value: " + svg.stem().string());
  return h + "</section>\n";
}

const char* kStyle = R"(body{font-family:sans-serif;max-width:1100px;margin:2em auto;color:#222}
h1{font-size:1.5em}h2{border-bottom:1px solid #ccc;padding-bottom:.2em}
table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ddd;padding:.25em .5em;
text-align:left;vertical-align:top}th{background:#f4f4f4}details summary{cursor:pointer}
.src,.env{color:#666;font-size:.85em}.warn{color:#b7791f}.pass{color:#1e7b34}
.fail{color:#c0392b}.inconclusive{color:#b7791f}img.plot{max-width:100%;display:block;margin:.5em 0}
code{background:#f4f4f4})";

} // namespace

std::string html_escape(const std::string& s) {
  std::string out;
  out.reserve(s.size());
  for (char ch : s)
    switch (ch) {
    case '&':
      out += "&amp;";
      break;
    case '<':
      out += "&lt;";
      break;
    case '>':
      out += "&gt;";
      break;
    case '"':
      out += "&quot;";
      break;
    case '\'':
      out += "&#39;";
      break;
    default:
      out += ch;
    }
  return out;
}

std::string render_html_report(const std::vector<ReportInput>& inputs) {
  std::string body, listed;
  for (const auto& in : inputs) {
    const fs::path p(in.path);
    try {
      if (fs::is_directory(p) && fs::exists(p / "sweep.json"))
        body += sweep_section(p);
      else if (fs::is_directory(p) && fs::exists(p / "verify.json"))
        body += verify_section(p);
      else if (fs::is_regular_file(p))
        body += transfer_section(p);
      else
        throw InputError(in.path, "",
                         "not a sweep directory (sweep.json), a verify directory (verify.json) "
                         "or a transfer report");
    } catch (const Json::exception& e) {
      throw InputError(in.path, "", std::string("an incomplete muE report: ") + e.what());
    }
    listed += "<li>" + html_escape(in.path) + "</li>";
  }
  return "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
         "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
         "img-src data:; style-src 'unsafe-inline'\">\n<title>muE report</title>\n<style>" +
         std::string(kStyle) + "</style>\n</head>\n<body>\n<h1>muE report</h1>\n<p class=\"env\">" +
         "written by muE " + html_escape(std::string(version()) + " (git " + git_hash() + ")") +
         " from:</p>\n<ul class=\"env\">" + listed + "</ul>\n" + body + "</body>\n</html>\n";
}

} // namespace mue
