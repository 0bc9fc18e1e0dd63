// topos/topos.hpp - everything public in one include.
#pragma once

#include <topos/algorithm.hpp>
#include <topos/allocator.hpp>
#include <topos/error.hpp>
#include <topos/memory.hpp>
#include <topos/next_touch.hpp>
#include <topos/node_array.hpp>
#include <topos/numa_lock.hpp>
#include <topos/observer.hpp>
#include <topos/parallel.hpp>
#include <topos/per_worker.hpp>
#include <topos/placement.hpp>
#include <topos/range.hpp>
#include <topos/replicated.hpp>
#include <topos/runtime.hpp>
#include <topos/share.hpp>
#include <topos/shm.hpp>
#include <topos/sync.hpp>
#include <topos/task_group.hpp>
#include <topos/topology.hpp>
#include <topos/version.hpp>
