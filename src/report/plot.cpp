#include "report/plot.h"

#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <sstream>

namespace mue {

bool gnuplot_available() {
  const char* path = std::getenv("PATH");
  std::stringstream dirs(path ? path : "/usr/bin:/bin");
  std::string dir;
  while (std::getline(dirs, dir, ':'))
    if (!dir.empty() && ::access((std::filesystem::path(dir) / "gnuplot").c_str(), X_OK) == 0)
      return true;
  return false;
}

std::string gnuplot_quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\'')
      out += "''";
    else if (c == '\n')
      out += ' ';
    else
      out += c;
  }
  return out + "'";
}

bool render_svg(const std::string& program, const std::string& path, int width, int height) {
  namespace fs = std::filesystem;
  if (!gnuplot_available()) return false;
  const std::string tmp = path + ".tmp." + std::to_string(::getpid()) + ".svg";
  // A gnuplot that dies early must not kill us with SIGPIPE while we write to it.
  struct sigaction ignore {
  }, previous{};
  ignore.sa_handler = SIG_IGN;
  ::sigaction(SIGPIPE, &ignore, &previous);
  bool ok = false;
  if (FILE* gp = ::popen("gnuplot 2>/dev/null", "w")) {
    std::fprintf(gp,
                 "set terminal svg size %d,%d dynamic noenhanced font 'sans,12'\nset output %s\n",
                 width, height, gnuplot_quote(tmp).c_str());
    const bool written = std::fwrite(program.data(), 1, program.size(), gp) == program.size();
    std::fprintf(gp, "\nunset output\n");
    ok = ::pclose(gp) == 0 && written;
  }
  ::sigaction(SIGPIPE, &previous, nullptr);
  std::error_code ec;
  ok = ok && fs::exists(tmp, ec) && fs::file_size(tmp, ec) > 0;
  if (ok) fs::rename(tmp, path, ec);
  if (!ok || ec) fs::remove(tmp, ec);
  return ok && !ec;
}

} // namespace mue
