// tests/test_pch.cpp - the one source of topos_test_pch, the target whose
// precompiled header (GoogleTest and topos's public headers, see
// tests/CMakeLists.txt) every GoogleTest program of tests/ reuses.
