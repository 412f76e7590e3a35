# PGHA_SANITIZE=address,undefined builds everything with those sanitizers; UBSan findings abort
# so that a test run fails on them.
if(PGHA_SANITIZE)
  add_compile_options(-fsanitize=${PGHA_SANITIZE} -fno-omit-frame-pointer -fno-sanitize-recover=all)
  add_link_options(-fsanitize=${PGHA_SANITIZE})
endif()
