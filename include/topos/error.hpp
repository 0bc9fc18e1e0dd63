// topos/error.hpp - the exceptions topos throws for input a user can get wrong.
//
// Every message is one line that names the offending input and says what was
// expected, so a command-line tool can print e.what() verbatim.
#pragma once

#include <stdexcept>
#include <string>

namespace topos {

/// Base of every error topos reports for bad input or an unusable environment.
class error : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

/// A topology source could not be loaded: malformed synthetic description,
/// missing or invalid XML file, unknown TOPOS_TOPOLOGY spec.
class topology_error : public error {
public:
    using error::error;
};

/// A places list (OMP_PLACES grammar) is malformed or names CPUs that are not
/// on the machine or not in the process's allowed set.
class places_error : public error {
public:
    using error::error;
};

/// A configuration value (bind policy, thread count, TOPOS_* variable) is invalid.
class config_error : public error {
public:
    using error::error;
};

/// A NUMA node id or PU index that the topology does not have.
class node_error : public error {
public:
    using error::error;
};

/// An index past the end (node_array::at, block, node_of_index), or parallel
/// loop bounds their common type cannot hold (a negative bound with an
/// unsigned one). Not a std::out_of_range: deriving from both would make
/// std::exception an ambiguous base, which a `catch (const std::exception&)`
/// does not catch.
class index_error : public error {
public:
    using error::error;
};

} // namespace topos
