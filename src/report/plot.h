#pragma once
// Plots through gnuplot (Debian's gnuplot-nox) driven over a pipe: the caller writes a
// gnuplot program, we add the SVG terminal and the output file and render it atomically.
#include <string>

namespace mue {

// True when a `gnuplot` executable is on PATH.
bool gnuplot_available();

// Renders `program` (gnuplot commands and inline '-' data, no `set terminal`/`set output`)
// into an SVG at `path`: written to a temporary file and renamed, so a failed render
// leaves no partial plot. False when gnuplot is missing or rejects the program.
bool render_svg(const std::string& program, const std::string& path, int width = 900,
                int height = 520);

// `s` as a single-quoted gnuplot string (quotes doubled).
std::string gnuplot_quote(const std::string& s);

} // namespace mue
