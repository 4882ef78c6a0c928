#pragma once

// Figures measured against a reference in the same run, the way the echo benchmarks print them.

#include <cstdio>
#include <string>
#include <vector>

namespace skyhive::bench {

// The median of `v` (the mean of the middle two for an even count); v must not be empty.
double median(std::vector<double> v);

// Runs `measure(port, slice_seconds)` against the reference and the server under test in `rounds`
// alternating slices of `seconds / rounds` each, so that load from elsewhere on the machine hits
// both alike, and prints one figure line:
//   <name> <unit>=<median of ours> ref=<median of the reference> ratio=<median of the ratios>
// Thread: any; it blocks for `seconds`.
template <class Measure>
void compare_alternating(const std::string& name, const char* unit, int ref_port, int our_port,
                         double seconds, Measure measure, int rounds = 5) {
    std::vector<double> refs, ours, ratios;
    for (int round = 0; round < rounds; ++round) {
        double r = measure(ref_port, seconds / rounds);
        double o = measure(our_port, seconds / rounds);
        refs.push_back(r);
        ours.push_back(o);
        ratios.push_back(o / r);
    }
    std::printf("%s %s=%.0f ref=%.0f ratio=%.2f\n", name.c_str(), unit, median(ours), median(refs),
                median(ratios));
    std::fflush(stdout);
}

}  // namespace skyhive::bench
