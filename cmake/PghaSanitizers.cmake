# PGHA_SANITIZE=address,undefined builds everything with those sanitizers; UBSan findings abort
# so that a test run fails on them.
if(PGHA_SANITIZE)
  add_compile_options(-fsanitize=${PGHA_SANITIZE} -fno-omit-frame-pointer -fno-sanitize-recover=all)
  add_link_options(-fsanitize=${PGHA_SANITIZE})
  # GCC 12+ warns (-Wtsan) that ThreadSanitizer does not model atomic_thread_fence, which
  # boost.asio's headers use: the code that includes them (src/net) leaves that warning out,
  # so that -Werror does not stop on third-party code.
  if(PGHA_SANITIZE MATCHES "thread" AND CMAKE_CXX_COMPILER_ID STREQUAL "GNU"
     AND CMAKE_CXX_COMPILER_VERSION VERSION_GREATER_EQUAL 12)
    set(PGHA_ASIO_SANITIZE_OPTIONS -Wno-tsan)
  endif()
endif()
