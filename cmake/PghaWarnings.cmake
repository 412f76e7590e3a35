# Warnings for pgha's own targets only (never for dependencies): link `pgha_warnings`.
add_library(pgha_warnings INTERFACE)
target_compile_options(pgha_warnings INTERFACE
  $<$<COMPILE_LANG_AND_ID:CXX,GNU,Clang>:-Wall -Wextra -Wpedantic -Wconversion -Wshadow -Wsign-conversion>
  $<$<COMPILE_LANG_AND_ID:C,GNU,Clang>:-Wall -Wextra -Wpedantic -Wconversion -Wshadow>)
if(PGHA_WERROR)
  target_compile_options(pgha_warnings INTERFACE -Werror)
endif()
