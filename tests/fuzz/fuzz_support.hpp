// tests/fuzz/fuzz_support.hpp - what the harnesses share: a check that stops
// the fuzzer (and the replay) with a message when an invariant fails.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <string>

namespace topos::fuzz {

/// Aborts, naming the broken invariant, when `ok` is false. libFuzzer saves
/// the input that got here as a crash.
inline void check(bool ok, const char* what, const std::string& detail = {}) {
    if (!ok) {
        std::fprintf(stderr, "fuzz: invariant broken: %s %s\n", what, detail.c_str());
        std::abort();
    }
}

} // namespace topos::fuzz
