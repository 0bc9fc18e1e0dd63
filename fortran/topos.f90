! fortran/topos.f90 - module topos: the C API of <topos/topos.h> for Fortran
! 2008, through iso_c_binding.
!
! Handles are type(c_ptr); every function returns an integer(c_int) status
! (TOPOS_OK = 0) and topos_last_error() says what was wrong. Loop bounds are
! integer(c_int64_t) and loop bodies are bind(c) procedures that receive a
! chunk [lo, hi) of 0-based indices and a type(c_ptr) context:
!
!   subroutine body(lo, hi, ctx) bind(c)
!     integer(c_int64_t), value :: lo, hi
!     type(c_ptr), value :: ctx
!
! Most procedures are the C functions themselves (same names, same
! arguments); those that take strings, optional settings or procedures are
! Fortran wrappers with the same names. topos_node_array_double and
! topos_alloc_double give a Fortran pointer array over memory placed on the
! requested NUMA nodes. The .mod file this compiles to is specific to the
! compiler (and its version) that built it.
module topos
  use, intrinsic :: iso_c_binding
  implicit none
  private

  ! ---- status codes (topos_status) ----
  integer(c_int), parameter, public :: TOPOS_OK = 0, TOPOS_E_INVALID_ARGUMENT = 1, TOPOS_E_BAD_HANDLE = 2, &
    TOPOS_E_NODE = 3, TOPOS_E_CONFIG = 4, TOPOS_E_PLACES = 5, TOPOS_E_TOPOLOGY = 6, TOPOS_E_INDEX = 7, &
    TOPOS_E_MEMORY = 8, TOPOS_E_NO_MEMORY = 9, TOPOS_E_SHM = 10, TOPOS_E_SYNC = 11, TOPOS_E_SYSTEM = 12, &
    TOPOS_E_INTERNAL = 13
  ! ---- reductions, memory policies, flags ----
  integer(c_int), parameter, public :: TOPOS_REDUCE_SUM = 0, TOPOS_REDUCE_MIN = 1, TOPOS_REDUCE_MAX = 2
  integer(c_int), parameter, public :: TOPOS_MEM_LOCAL = 0, TOPOS_MEM_ON_NODE = 1, TOPOS_MEM_PREFERRED = 2, &
    TOPOS_MEM_INTERLEAVE = 3, TOPOS_MEM_BIND = 4
  integer(c_int), parameter, public :: TOPOS_ALLOC_OWN_PAGES = 1, TOPOS_ALLOC_HUGE_PAGES = 2
  integer(c_int), parameter, public :: TOPOS_SEGMENT_REPLACE = 1, TOPOS_SEGMENT_REMOVE_ON_CLOSE = 2, &
    TOPOS_SEGMENT_READ_ONLY = 4
  integer(c_size_t), parameter, public :: TOPOS_MUTEX_BYTES = 64, TOPOS_SEMAPHORE_BYTES = 64, &
    TOPOS_BARRIER_BYTES = 192, TOPOS_SYNC_ALIGN = 16

  type, bind(c), public :: topos_runtime_stats
    integer(c_int64_t) :: tasks_run, caller_tasks_run, steals_local, steals_remote, steals_lost, &
      inbox_tasks, parks, iterations_on_data_node, iterations_off_data_node
    integer(c_int64_t) :: reserved(7)
  end type

  type, bind(c) :: runtime_options
    type(c_ptr) :: places = c_null_ptr
    type(c_ptr) :: bind = c_null_ptr
    integer(c_int) :: threads = 0
    type(c_ptr) :: topology = c_null_ptr
    integer(c_int64_t) :: reserved(4) = 0
  end type

  abstract interface
    subroutine topos_for_body(lo, hi, ctx) bind(c)
      import :: c_int64_t, c_ptr
      integer(c_int64_t), value :: lo, hi
      type(c_ptr), value :: ctx
    end subroutine
    function topos_reduce_double_body(lo, hi, ctx) bind(c) result(r)
      import :: c_int64_t, c_ptr, c_double
      integer(c_int64_t), value :: lo, hi
      type(c_ptr), value :: ctx
      real(c_double) :: r
    end function
    function topos_reduce_int64_body(lo, hi, ctx) bind(c) result(r)
      import :: c_int64_t, c_ptr
      integer(c_int64_t), value :: lo, hi
      type(c_ptr), value :: ctx
      integer(c_int64_t) :: r
    end function
    subroutine topos_task_fn(ctx) bind(c)
      import :: c_ptr
      type(c_ptr), value :: ctx
    end subroutine
  end interface
  public :: topos_for_body, topos_reduce_double_body, topos_reduce_int64_body, topos_task_fn

  ! ---- the C functions used as they are ----
  public :: topos_runtime_destroy, topos_runtime_thread_count, topos_this_worker_node, topos_this_worker_index, &
    topos_runtime_stats_get, topos_task_group_create, topos_task_group_destroy, topos_task_group_wait, &
    topos_alloc, topos_free, topos_page_nodes, topos_migrate, topos_page_size, topos_node_array_create, &
    topos_node_array_destroy, topos_node_array_data, topos_node_array_size, topos_node_array_node_of, &
    topos_node_array_block_count, topos_node_array_block, topos_node_count, topos_distance_matrix, &
    topos_node_pus, topos_segment_unlink, topos_segment_close, topos_segment_data, topos_segment_size, &
    topos_mutex_init, topos_mutex_attach, topos_mutex_destroy, topos_mutex_lock, topos_mutex_try_lock, &
    topos_mutex_unlock, topos_semaphore_init, topos_semaphore_attach, topos_semaphore_destroy, &
    topos_semaphore_post, topos_semaphore_wait, topos_semaphore_timed_wait, topos_semaphore_value, &
    topos_barrier_init, topos_barrier_attach, topos_barrier_destroy, topos_barrier_wait
  ! ---- Fortran wrappers ----
  public :: topos_last_error, topos_status_name, topos_version, topos_check, topos_runtime_create, &
    topos_parallel_for, topos_parallel_reduce_double, topos_parallel_reduce_int64, topos_parallel_for_array, &
    topos_task_group_run, topos_task_group_run_on_node, topos_segment_create, topos_segment_open, &
    topos_segment_remove, topos_node_array_double, topos_alloc_double, topos_free_double

  interface
    integer(c_int) function topos_runtime_destroy(rt) bind(c)
      import :: c_int, c_ptr
      type(c_ptr), value :: rt
    end function
    integer(c_int) function topos_runtime_thread_count(rt, out) bind(c)
      import :: c_int, c_ptr
      type(c_ptr), value :: rt
      integer(c_int), intent(out) :: out
    end function
    integer(c_int) function topos_this_worker_node(out) bind(c)
      import :: c_int
      integer(c_int), intent(out) :: out
    end function
    integer(c_int) function topos_this_worker_index(out) bind(c)
      import :: c_int
      integer(c_int), intent(out) :: out
    end function
    integer(c_int) function topos_runtime_stats_get(rt, out) bind(c)
      import :: c_int, c_ptr, topos_runtime_stats
      type(c_ptr), value :: rt
      type(topos_runtime_stats), intent(out) :: out
    end function
    integer(c_int) function topos_task_group_create(rt, out) bind(c)
      import :: c_int, c_ptr
      type(c_ptr), value :: rt
      type(c_ptr), intent(out) :: out
    end function
    integer(c_int) function topos_task_group_destroy(group) bind(c)
      import :: c_int, c_ptr
      type(c_ptr), value :: group
    end function
    integer(c_int) function topos_task_group_wait(group) bind(c)
      import :: c_int, c_ptr
      type(c_ptr), value :: group
    end function
    integer(c_int) function topos_alloc(bytes, kind, nodes, node_count, flags, out) bind(c)
      import :: c_int, c_ptr, c_size_t
      integer(c_size_t), value :: bytes
      integer(c_int), value :: kind
      integer(c_int), intent(in) :: nodes(*)
      integer(c_size_t), value :: node_count
      integer(c_int), value :: flags
      type(c_ptr), intent(out) :: out
    end function
    integer(c_int) function topos_free(p, bytes) bind(c)
      import :: c_int, c_ptr, c_size_t
      type(c_ptr), value :: p
      integer(c_size_t), value :: bytes
    end function
    integer(c_int) function topos_page_nodes(p, bytes, nodes, capacity, pages) bind(c)
      import :: c_int, c_ptr, c_size_t
      type(c_ptr), value :: p
      integer(c_size_t), value :: bytes
      integer(c_int), intent(out) :: nodes(*)
      integer(c_size_t), value :: capacity
      integer(c_size_t), intent(out) :: pages
    end function
    integer(c_int) function topos_migrate(p, bytes, node, moved) bind(c)
      import :: c_int, c_ptr, c_size_t
      type(c_ptr), value :: p
      integer(c_size_t), value :: bytes
      integer(c_int), value :: node
      integer(c_size_t), intent(out) :: moved
    end function
    integer(c_int) function topos_page_size(out) bind(c)
      import :: c_int, c_size_t
      integer(c_size_t), intent(out) :: out
    end function
    integer(c_int) function topos_node_array_create(count, elem_size, nodes, node_count, out) bind(c)
      import :: c_int, c_ptr, c_size_t
      integer(c_size_t), value :: count, elem_size
      integer(c_int), intent(in) :: nodes(*)
      integer(c_size_t), value :: node_count
      type(c_ptr), intent(out) :: out
    end function
    integer(c_int) function topos_node_array_destroy(array) bind(c)
      import :: c_int, c_ptr
      type(c_ptr), value :: array
    end function
    integer(c_int) function topos_node_array_data(array, out) bind(c)
      import :: c_int, c_ptr
      type(c_ptr), value :: array
      type(c_ptr), intent(out) :: out
    end function
    integer(c_int) function topos_node_array_size(array, out) bind(c)
      import :: c_int, c_ptr, c_size_t
      type(c_ptr), value :: array
      integer(c_size_t), intent(out) :: out
    end function
    integer(c_int) function topos_node_array_node_of(array, index, out) bind(c)
      import :: c_int, c_ptr, c_size_t
      type(c_ptr), value :: array
      integer(c_size_t), value :: index
      integer(c_int), intent(out) :: out
    end function
    integer(c_int) function topos_node_array_block_count(array, out) bind(c)
      import :: c_int, c_ptr, c_size_t
      type(c_ptr), value :: array
      integer(c_size_t), intent(out) :: out
    end function
    integer(c_int) function topos_node_array_block(array, i, node, begin, end) bind(c)
      import :: c_int, c_ptr, c_size_t
      type(c_ptr), value :: array
      integer(c_size_t), value :: i
      integer(c_int), intent(out) :: node
      integer(c_size_t), intent(out) :: begin, end
    end function
    integer(c_int) function topos_node_count(rt, out) bind(c)
      import :: c_int, c_ptr
      type(c_ptr), value :: rt
      integer(c_int), intent(out) :: out
    end function
    integer(c_int) function topos_distance_matrix(rt, out, capacity) bind(c)
      import :: c_int, c_ptr, c_size_t
      type(c_ptr), value :: rt
      integer(c_int), intent(out) :: out(*)
      integer(c_size_t), value :: capacity
    end function
    integer(c_int) function topos_node_pus(rt, node, pus, capacity, count) bind(c)
      import :: c_int, c_ptr, c_size_t
      type(c_ptr), value :: rt
      integer(c_int), value :: node
      integer(c_int), intent(out) :: pus(*)
      integer(c_size_t), value :: capacity
      integer(c_size_t), intent(out) :: count
    end function
    integer(c_int) function topos_segment_unlink(segment) bind(c)
      import :: c_int, c_ptr
      type(c_ptr), value :: segment
    end function
    integer(c_int) function topos_segment_close(segment) bind(c)
      import :: c_int, c_ptr
      type(c_ptr), value :: segment
    end function
    integer(c_int) function topos_segment_data(segment, out) bind(c)
      import :: c_int, c_ptr
      type(c_ptr), value :: segment
      type(c_ptr), intent(out) :: out
    end function
    integer(c_int) function topos_segment_size(segment, out) bind(c)
      import :: c_int, c_ptr, c_size_t
      type(c_ptr), value :: segment
      integer(c_size_t), intent(out) :: out
    end function
    integer(c_int) function topos_mutex_init(mem, bytes, out) bind(c)
      import :: c_int, c_ptr, c_size_t
      type(c_ptr), value :: mem
      integer(c_size_t), value :: bytes
      type(c_ptr), intent(out) :: out
    end function
    integer(c_int) function topos_mutex_attach(mem, out) bind(c)
      import :: c_int, c_ptr
      type(c_ptr), value :: mem
      type(c_ptr), intent(out) :: out
    end function
    integer(c_int) function topos_mutex_destroy(mutex) bind(c)
      import :: c_int, c_ptr
      type(c_ptr), value :: mutex
    end function
    integer(c_int) function topos_mutex_lock(mutex, owner_died) bind(c)
      import :: c_int, c_ptr
      type(c_ptr), value :: mutex
      integer(c_int), intent(out) :: owner_died
    end function
    integer(c_int) function topos_mutex_try_lock(mutex, acquired, owner_died) bind(c)
      import :: c_int, c_ptr
      type(c_ptr), value :: mutex
      integer(c_int), intent(out) :: acquired, owner_died
    end function
    integer(c_int) function topos_mutex_unlock(mutex) bind(c)
      import :: c_int, c_ptr
      type(c_ptr), value :: mutex
    end function
    integer(c_int) function topos_semaphore_init(mem, bytes, initial, out) bind(c)
      import :: c_int, c_ptr, c_size_t
      type(c_ptr), value :: mem
      integer(c_size_t), value :: bytes
      integer(c_int), value :: initial
      type(c_ptr), intent(out) :: out
    end function
    integer(c_int) function topos_semaphore_attach(mem, out) bind(c)
      import :: c_int, c_ptr
      type(c_ptr), value :: mem
      type(c_ptr), intent(out) :: out
    end function
    integer(c_int) function topos_semaphore_destroy(sem) bind(c)
      import :: c_int, c_ptr
      type(c_ptr), value :: sem
    end function
    integer(c_int) function topos_semaphore_post(sem) bind(c)
      import :: c_int, c_ptr
      type(c_ptr), value :: sem
    end function
    integer(c_int) function topos_semaphore_wait(sem) bind(c)
      import :: c_int, c_ptr
      type(c_ptr), value :: sem
    end function
    integer(c_int) function topos_semaphore_timed_wait(sem, timeout_ns, taken) bind(c)
      import :: c_int, c_ptr, c_int64_t
      type(c_ptr), value :: sem
      integer(c_int64_t), value :: timeout_ns
      integer(c_int), intent(out) :: taken
    end function
    integer(c_int) function topos_semaphore_value(sem, out) bind(c)
      import :: c_int, c_ptr
      type(c_ptr), value :: sem
      integer(c_int), intent(out) :: out
    end function
    integer(c_int) function topos_barrier_init(mem, bytes, participants, out) bind(c)
      import :: c_int, c_ptr, c_size_t
      type(c_ptr), value :: mem
      integer(c_size_t), value :: bytes
      integer(c_int), value :: participants
      type(c_ptr), intent(out) :: out
    end function
    integer(c_int) function topos_barrier_attach(mem, out) bind(c)
      import :: c_int, c_ptr
      type(c_ptr), value :: mem
      type(c_ptr), intent(out) :: out
    end function
    integer(c_int) function topos_barrier_destroy(barrier) bind(c)
      import :: c_int, c_ptr
      type(c_ptr), value :: barrier
    end function
    integer(c_int) function topos_barrier_wait(barrier, serial) bind(c)
      import :: c_int, c_ptr
      type(c_ptr), value :: barrier
      integer(c_int), intent(out) :: serial
    end function
  end interface

  ! ---- the C functions behind the wrappers ----
  interface
    type(c_ptr) function c_last_error() bind(c, name="topos_last_error")
      import :: c_ptr
    end function
    type(c_ptr) function c_status_name(status) bind(c, name="topos_status_name")
      import :: c_ptr, c_int
      integer(c_int), value :: status
    end function
    type(c_ptr) function c_version() bind(c, name="topos_version")
      import :: c_ptr
    end function
    integer(c_size_t) function c_strlen(s) bind(c, name="strlen")
      import :: c_size_t, c_ptr
      type(c_ptr), value :: s
    end function
    integer(c_int) function c_runtime_create(options, out) bind(c, name="topos_runtime_create")
      import :: c_int, c_ptr, runtime_options
      type(runtime_options), intent(in) :: options
      type(c_ptr), intent(out) :: out
    end function
    integer(c_int) function c_parallel_for(rt, begin, end, grain, body, ctx) bind(c, name="topos_parallel_for")
      import :: c_int, c_ptr, c_int64_t, c_funptr
      type(c_ptr), value :: rt
      integer(c_int64_t), value :: begin, end, grain
      type(c_funptr), value :: body
      type(c_ptr), value :: ctx
    end function
    integer(c_int) function c_parallel_for_array(rt, array, grain, body, ctx) bind(c, name="topos_parallel_for_array")
      import :: c_int, c_ptr, c_int64_t, c_funptr
      type(c_ptr), value :: rt, array
      integer(c_int64_t), value :: grain
      type(c_funptr), value :: body
      type(c_ptr), value :: ctx
    end function
    integer(c_int) function c_reduce_double(rt, begin, end, grain, op, chunk, ctx, result) &
        bind(c, name="topos_parallel_reduce_double")
      import :: c_int, c_ptr, c_int64_t, c_funptr, c_double
      type(c_ptr), value :: rt
      integer(c_int64_t), value :: begin, end, grain
      integer(c_int), value :: op
      type(c_funptr), value :: chunk
      type(c_ptr), value :: ctx
      real(c_double), intent(out) :: result
    end function
    integer(c_int) function c_reduce_int64(rt, begin, end, grain, op, chunk, ctx, result) &
        bind(c, name="topos_parallel_reduce_int64")
      import :: c_int, c_ptr, c_int64_t, c_funptr
      type(c_ptr), value :: rt
      integer(c_int64_t), value :: begin, end, grain
      integer(c_int), value :: op
      type(c_funptr), value :: chunk
      type(c_ptr), value :: ctx
      integer(c_int64_t), intent(out) :: result
    end function
    integer(c_int) function c_task_group_run(group, fn, ctx) bind(c, name="topos_task_group_run")
      import :: c_int, c_ptr, c_funptr
      type(c_ptr), value :: group
      type(c_funptr), value :: fn
      type(c_ptr), value :: ctx
    end function
    integer(c_int) function c_task_group_run_on_node(group, node, fn, ctx) bind(c, name="topos_task_group_run_on_node")
      import :: c_int, c_ptr, c_funptr
      type(c_ptr), value :: group
      integer(c_int), value :: node
      type(c_funptr), value :: fn
      type(c_ptr), value :: ctx
    end function
    integer(c_int) function c_segment_create(name, size, flags, out) bind(c, name="topos_segment_create")
      import :: c_int, c_ptr, c_size_t, c_char
      character(kind=c_char), intent(in) :: name(*)
      integer(c_size_t), value :: size
      integer(c_int), value :: flags
      type(c_ptr), intent(out) :: out
    end function
    integer(c_int) function c_segment_open(name, flags, out) bind(c, name="topos_segment_open")
      import :: c_int, c_ptr, c_char
      character(kind=c_char), intent(in) :: name(*)
      integer(c_int), value :: flags
      type(c_ptr), intent(out) :: out
    end function
    integer(c_int) function c_segment_remove(name) bind(c, name="topos_segment_remove")
      import :: c_int, c_char
      character(kind=c_char), intent(in) :: name(*)
    end function
  end interface

contains

  ! A NUL-terminated copy of s (trailing blanks dropped).
  pure function c_string(s) result(a)
    character(len=*), intent(in) :: s
    character(kind=c_char), allocatable :: a(:)
    integer :: i, n
    n = len_trim(s)
    allocate (a(n + 1))
    do i = 1, n
      a(i) = s(i:i)
    end do
    a(n + 1) = c_null_char
  end function

  ! A Fortran copy of a NUL-terminated C string.
  function f_string(p) result(s)
    type(c_ptr), intent(in) :: p
    character(len=:), allocatable :: s
    character(kind=c_char), pointer :: chars(:)
    integer :: i, n
    if (.not. c_associated(p)) then
      s = ''
      return
    end if
    n = int(c_strlen(p))
    call c_f_pointer(p, chars, [n])
    allocate (character(len=n) :: s)
    do i = 1, n
      s(i:i) = chars(i)
    end do
  end function

  !> The message of the calling thread's last failing call.
  function topos_last_error() result(s)
    character(len=:), allocatable :: s
    s = f_string(c_last_error())
  end function

  function topos_status_name(status) result(s)
    integer(c_int), intent(in) :: status
    character(len=:), allocatable :: s
    s = f_string(c_status_name(status))
  end function

  function topos_version() result(s)
    character(len=:), allocatable :: s
    s = f_string(c_version())
  end function

  !> Stops the program with the status and message unless status is TOPOS_OK.
  subroutine topos_check(status)
    integer(c_int), intent(in) :: status
    if (status /= TOPOS_OK) then
      write (*, '(a)') 'topos: ' // topos_status_name(status) // ': ' // topos_last_error()
      error stop 1
    end if
  end subroutine

  !> A runtime; unset arguments come from TOPOS_*, then OMP_* variables, then defaults.
  integer(c_int) function topos_runtime_create(rt, threads, places, bind, topology) result(status)
    type(c_ptr), intent(out) :: rt
    integer, intent(in), optional :: threads
    character(len=*), intent(in), optional :: places, bind, topology
    character(kind=c_char), allocatable, target :: c_places(:), c_bind(:), c_topology(:)
    type(runtime_options) :: o
    if (present(threads)) o%threads = int(threads, c_int)
    if (present(places)) then
      c_places = c_string(places)
      o%places = c_loc(c_places)
    end if
    if (present(bind)) then
      c_bind = c_string(bind)
      o%bind = c_loc(c_bind)
    end if
    if (present(topology)) then
      c_topology = c_string(topology)
      o%topology = c_loc(c_topology)
    end if
    status = c_runtime_create(o, rt)
  end function

  !> Calls body(lo, hi, ctx) on chunks of [begin, end) in parallel (grain 0: automatic).
  integer(c_int) function topos_parallel_for(rt, begin, end, grain, body, ctx) result(status)
    type(c_ptr), intent(in) :: rt
    integer(c_int64_t), intent(in) :: begin, end, grain
    procedure(topos_for_body) :: body
    type(c_ptr), intent(in) :: ctx
    status = c_parallel_for(rt, begin, end, grain, c_funloc(body), ctx)
  end function

  !> As topos_parallel_for over a node array's indices, each block's chunks on its node.
  integer(c_int) function topos_parallel_for_array(rt, array, grain, body, ctx) result(status)
    type(c_ptr), intent(in) :: rt, array
    integer(c_int64_t), intent(in) :: grain
    procedure(topos_for_body) :: body
    type(c_ptr), intent(in) :: ctx
    status = c_parallel_for_array(rt, array, grain, c_funloc(body), ctx)
  end function

  integer(c_int) function topos_parallel_reduce_double(rt, begin, end, grain, op, chunk, ctx, result) result(status)
    type(c_ptr), intent(in) :: rt
    integer(c_int64_t), intent(in) :: begin, end, grain
    integer(c_int), intent(in) :: op
    procedure(topos_reduce_double_body) :: chunk
    type(c_ptr), intent(in) :: ctx
    real(c_double), intent(out) :: result
    status = c_reduce_double(rt, begin, end, grain, op, c_funloc(chunk), ctx, result)
  end function

  integer(c_int) function topos_parallel_reduce_int64(rt, begin, end, grain, op, chunk, ctx, result) result(status)
    type(c_ptr), intent(in) :: rt
    integer(c_int64_t), intent(in) :: begin, end, grain
    integer(c_int), intent(in) :: op
    procedure(topos_reduce_int64_body) :: chunk
    type(c_ptr), intent(in) :: ctx
    integer(c_int64_t), intent(out) :: result
    status = c_reduce_int64(rt, begin, end, grain, op, c_funloc(chunk), ctx, result)
  end function

  integer(c_int) function topos_task_group_run(group, fn, ctx) result(status)
    type(c_ptr), intent(in) :: group
    procedure(topos_task_fn) :: fn
    type(c_ptr), intent(in) :: ctx
    status = c_task_group_run(group, c_funloc(fn), ctx)
  end function

  integer(c_int) function topos_task_group_run_on_node(group, node, fn, ctx) result(status)
    type(c_ptr), intent(in) :: group
    integer, intent(in) :: node
    procedure(topos_task_fn) :: fn
    type(c_ptr), intent(in) :: ctx
    status = c_task_group_run_on_node(group, int(node, c_int), c_funloc(fn), ctx)
  end function

  integer(c_int) function topos_segment_create(name, size, flags, segment) result(status)
    character(len=*), intent(in) :: name
    integer(c_size_t), intent(in) :: size
    integer, intent(in) :: flags
    type(c_ptr), intent(out) :: segment
    status = c_segment_create(c_string(name), size, int(flags, c_int), segment)
  end function

  integer(c_int) function topos_segment_open(name, flags, segment) result(status)
    character(len=*), intent(in) :: name
    integer, intent(in) :: flags
    type(c_ptr), intent(out) :: segment
    status = c_segment_open(c_string(name), int(flags, c_int), segment)
  end function

  integer(c_int) function topos_segment_remove(name) result(status)
    character(len=*), intent(in) :: name
    status = c_segment_remove(c_string(name))
  end function

  !> n zeroed reals, block-distributed over `nodes` (every node when absent),
  !> as x(1:n): element i (1-based) is C index i - 1. Free with topos_node_array_destroy(array).
  integer(c_int) function topos_node_array_double(array, n, x, nodes) result(status)
    type(c_ptr), intent(out) :: array
    integer(c_int64_t), intent(in) :: n
    real(c_double), pointer, intent(out) :: x(:)
    integer, intent(in), optional :: nodes(:)
    integer(c_int) :: none(1)
    type(c_ptr) :: data
    nullify (x)
    if (present(nodes)) then
      status = topos_node_array_create(int(n, c_size_t), c_sizeof(0.0_c_double), int(nodes, c_int), &
                                       size(nodes, kind=c_size_t), array)
    else
      none = 0
      status = topos_node_array_create(int(n, c_size_t), c_sizeof(0.0_c_double), none, 0_c_size_t, array)
    end if
    if (status /= TOPOS_OK) return
    status = topos_node_array_data(array, data)
    if (status /= TOPOS_OK) return
    call c_f_pointer(data, x, [n])
  end function

  !> n reals placed by policy `kind` over `nodes`, as x(1:n); free with topos_free_double.
  integer(c_int) function topos_alloc_double(x, n, kind, nodes, flags) result(status)
    real(c_double), pointer, intent(out) :: x(:)
    integer(c_int64_t), intent(in) :: n
    integer(c_int), intent(in) :: kind
    integer, intent(in), optional :: nodes(:)
    integer(c_int), intent(in), optional :: flags
    integer(c_int) :: none(1), f
    type(c_ptr) :: p
    nullify (x)
    f = 0
    if (present(flags)) f = flags
    if (present(nodes)) then
      status = topos_alloc(int(n, c_size_t) * c_sizeof(0.0_c_double), kind, int(nodes, c_int), &
                           size(nodes, kind=c_size_t), f, p)
    else
      none = 0
      status = topos_alloc(int(n, c_size_t) * c_sizeof(0.0_c_double), kind, none, 0_c_size_t, f, p)
    end if
    if (status /= TOPOS_OK) return
    call c_f_pointer(p, x, [n])
  end function

  !> Frees what topos_alloc_double gave, and nullifies x.
  integer(c_int) function topos_free_double(x) result(status)
    real(c_double), pointer, intent(inout) :: x(:)
    if (.not. associated(x)) then
      status = TOPOS_OK
      return
    end if
    status = topos_free(c_loc(x(1)), size(x, kind=c_size_t) * c_sizeof(0.0_c_double))
    nullify (x)
  end function

end module topos
