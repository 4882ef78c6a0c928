#include "bench/support/compare.h"

#include <algorithm>

namespace skyhive::bench {

double median(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    size_t n = v.size();
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

}  // namespace skyhive::bench
