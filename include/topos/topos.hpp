// topos/topos.hpp - everything public in one include.
#pragma once

#include <topos/error.hpp>
#include <topos/placement.hpp>
#include <topos/topology.hpp>
#include <topos/version.hpp>
