! Fills an array spread over the NUMA nodes in parallel, then sums it.
! Build: gfortran $(pkg-config --cflags topos-fortran) node_array_sum.f90 $(pkg-config --libs topos-fortran)
module kernels
  use, intrinsic :: iso_c_binding
  implicit none
contains
  ! x(i) = i for the chunk [lo, hi) of 0-based indices; ctx is x(1).
  subroutine fill(lo, hi, ctx) bind(c)
    integer(c_int64_t), value :: lo, hi
    type(c_ptr), value :: ctx
    real(c_double), pointer :: x(:)
    integer(c_int64_t) :: i
    call c_f_pointer(ctx, x, [hi])
    do i = lo + 1, hi
      x(i) = real(i, c_double)
    end do
  end subroutine

  real(c_double) function total(lo, hi, ctx) bind(c)
    integer(c_int64_t), value :: lo, hi
    type(c_ptr), value :: ctx
    real(c_double), pointer :: x(:)
    call c_f_pointer(ctx, x, [hi])
    total = sum(x(lo + 1:hi))
  end function
end module kernels

program node_array_sum
  use topos
  use kernels
  implicit none
  integer(c_int64_t), parameter :: n = 2_c_int64_t**22
  type(c_ptr) :: rt, array
  real(c_double), pointer :: x(:)
  real(c_double) :: s, expected
  integer(c_int) :: nodes

  call topos_check(topos_runtime_create(rt))       ! TOPOS_* / OMP_* variables, else all cores
  call topos_check(topos_node_count(rt, nodes))
  call topos_check(topos_node_array_double(array, n, x)) ! x(1:n), one block per node
  call topos_check(topos_parallel_for_array(rt, array, 0_c_int64_t, fill, c_loc(x(1))))
  call topos_check(topos_parallel_reduce_double(rt, 0_c_int64_t, n, 0_c_int64_t, TOPOS_REDUCE_SUM, &
                                                total, c_loc(x(1)), s))
  expected = real(n, c_double) * real(n + 1, c_double) / 2
  print '(i0, a, f0.1, a, f0.1)', nodes, ' node(s): sum ', s, ', expected ', expected
  call topos_check(topos_node_array_destroy(array))
  call topos_check(topos_runtime_destroy(rt))
  if (s /= expected) error stop 1
end program node_array_sum
